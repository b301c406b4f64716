/* cmd_restore.c - placeholder, being written. */
typedef int edr_placeholder_cmd_restore;
