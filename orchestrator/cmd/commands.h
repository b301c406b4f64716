/*
 * commands.h - the subcommands of etcd-dr.  Each takes the arguments after
 * its own name (argv[0] is the subcommand) and returns the process exit
 * status documented in docs/exit-codes.md.
 */
#ifndef EDR_COMMANDS_H
#define EDR_COMMANDS_H

#include <stddef.h>

int cmd_plan(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_status(int argc, char **argv);     /* 0 healthy, 1 degraded, 3 quorum lost */
int cmd_snapshot(int argc, char **argv);   /* status | verify | save */
/* `etcd-dr snapshot save ...`: ARGV[0] is "snapshot", ARGV[1] "save".
 * Exit status 0 saved, 1 failed, 2 usage, 130 interrupted. */
int cmd_snapshot_save(int argc, char **argv);
int cmd_run(int argc, char **argv);        /* a playbook */
int cmd_prune(int argc, char **argv);      /* old runs' moved-aside dirs */
int cmd_discover(int argc, char **argv);   /* a cluster spec read off one host */
/* `etcd-dr completion bash|zsh` (ARGV[0] "completion"): the script, from
 * the option table and the N top-level COMMANDS main.c lends, on stdout
 * (completion.c). */
int edr_completion(int argc, char **argv, const char *const *commands, size_t n);

#endif
