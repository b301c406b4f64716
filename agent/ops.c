/* ops.c - placeholder */
typedef int edr_placeholder_ops;
