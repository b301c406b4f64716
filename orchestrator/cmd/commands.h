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
/* `etcd-dr snapshot save ...`: ARGV[0] is "snapshot", ARGV[1] "save".
 * Exit status 0 saved, 1 failed, 2 usage, 130 interrupted. */
int cmd_snapshot_save(int argc, char **argv);
int cmd_run(int argc, char **argv);        /* a playbook */

/* Shared by restore and run (cmd_restore.c). */
#include "executor.h"
#include "plan.h"
#include "snapfile.h"
#include "spec.h"
#include "gate.h"
#include "snapshot_save.h"
#include <jansson.h>
int edr_check_local_files(const struct edr_spec *spec, bool accept_new);
int edr_check_snapshot(struct edr_plan_opts *po, struct edr_snapfile *sf);
int edr_check_tool(const struct edr_spec *spec, struct edr_plan_opts *po);
int edr_run_plan(struct edr_plan *plan, struct edr_exec_opts *eo, int argc, char **argv,
                 json_t *resume, const char *report_file);

/* The gates that talk to etcd and the leader lookup (gates.c), for every
 * run that changes hosts. */
extern const struct edr_exec_gates edr_etcd_gates;

/* --via ssh: a one-host executor run of a snapshot plan (snapshot_ssh.c);
 * see edr_snapshot_fetch_fn in snapshot_save.h. */
int edr_snapshot_fetch_ssh(const struct edr_spec *spec, size_t member,
                           const struct edr_save_opts *o, edr_snapstream_sink sink,
                           void *sink_arg, char agent_sha256[65], char *msg,
                           size_t msglen);

#endif
