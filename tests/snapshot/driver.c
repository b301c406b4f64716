/*
 * driver.c - `edr-snapshot VERB ...`: cmd_snapshot() on its own, so the
 * snapshot tests and the fuzz corpus run the shipped command code without
 * needing the rest of etcd-dr to build.  `etcd-dr snapshot ...` is the same
 * function behind main.c's table.
 */
#include "commands.h"

int main(int argc, char **argv) {
  argv[0] = "snapshot";
  return cmd_snapshot(argc, argv);
}
