/* snapshot_cmd.c - placeholder, being written. */
typedef int edr_placeholder_snapshot_cmd;
