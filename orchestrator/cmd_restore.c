/* cmd_restore.c - placeholder */
#include "commands.h"
int cmd_restore(int argc, char **argv) { (void)argc; (void)argv; return 1; }
