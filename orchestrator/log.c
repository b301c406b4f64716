/* log.c - placeholder, being written. */
typedef int edr_placeholder_log;
