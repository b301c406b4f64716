/* plan.c - placeholder, being written. */
typedef int edr_placeholder_plan;
