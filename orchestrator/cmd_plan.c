/* cmd_plan.c - placeholder, being written. */
typedef int edr_placeholder_cmd_plan;
