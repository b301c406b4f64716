/*
 * commands.h - the subcommands of etcd-dr.  Each takes the arguments after
 * its own name (argv[0] is the subcommand) and returns the process exit
 * status documented in docs/exit-codes.md.
 */
#ifndef EDR_COMMANDS_H
#define EDR_COMMANDS_H

int cmd_plan(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_status(int argc, char **argv);     /* 0 healthy, 1 degraded, 3 quorum lost */
int cmd_snapshot(int argc, char **argv);   /* status | verify | save */
int cmd_run(int argc, char **argv);        /* a playbook */
int cmd_prune(int argc, char **argv);      /* old runs' moved-aside dirs */

/* Shared by restore and run (cmd_restore.c). */
#include "executor.h"
#include "plan.h"
#include "snapfile.h"
#include "spec.h"
#include <jansson.h>
int edr_check_local_files(const struct edr_spec *spec, bool accept_new);
int edr_check_snapshot(struct edr_plan_opts *po, struct edr_snapfile *sf);
int edr_check_tool(const struct edr_spec *spec, struct edr_plan_opts *po);
int edr_run_plan(struct edr_plan *plan, struct edr_exec_opts *eo, int argc, char **argv,
                 json_t *resume, const char *report_file);

#endif
