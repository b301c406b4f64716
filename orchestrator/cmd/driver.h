/*
 * driver.h - what the commands share beyond the option parsing (cli.h):
 * the run driver of restore and run (driver.c: the local checks, the
 * run, its journal, report and summary), the gates lent to the engine
 * (gates.c) and snapshot save's way through the hosts (snapshot_ssh.c).
 */
#ifndef EDR_DRIVER_H
#define EDR_DRIVER_H

#include "executor.h"
#include "plan.h"
#include "snapfile.h"
#include "spec.h"
#include "gate.h"
#include "snapshot_save.h"
#include <jansson.h>

int edr_check_local_files(const struct edr_spec *spec, bool accept_new);
int edr_check_snapshot(struct edr_plan_opts *po, struct edr_snapfile *sf);
/* How well the start of PO->snapshot compresses (transport/zsrc.h), into
 * PO->compress_sample: for the plan and for --compress auto; nothing with
 * --compress off or when it cannot be read (the push says why later). */
void edr_sample_compress(struct edr_plan_opts *po);
int edr_check_tool(struct edr_spec *spec, struct edr_plan_opts *po);
/* edr_plan_build for a command: on a refusal its message is said here and
 * its error code returned (the command picks the exit status). */
int edr_build_plan(const struct edr_spec *spec, const struct edr_plan_opts *po,
                   struct edr_plan **out);
/* The snapshot on a member's host: --snapshot HOST:PATH (HOST a member's
 * name, PATH absolute) or --from-member NAME (FROM_MEMBER, else NULL).  Sets
 * PO's snapshot fields and *ON_HOST; 0, or an exit status after saying
 * why.  PO->snapshot is then "HOST:PATH", for messages. */
int edr_snapshot_on_host(const struct edr_spec *spec, struct edr_plan_opts *po,
                         const char *from_member, bool *on_host);
/* Before a run asks or changes anything: look up here the client URL
 * host names its members may be asked at through their hosts (the agents
 * resolve none; etcd/resolve.h).  0, or EDR_EXIT_PREFLIGHT after saying
 * which member's name does not resolve and what to do. */
int edr_run_resolve(struct edr_plan *plan);
/* REPORT_STDOUT (-w json): the run's report on stdout too.  Calls
 * edr_run_resolve first. */
int edr_run_plan(struct edr_plan *plan, struct edr_exec_opts *eo, int argc, char **argv,
                 json_t *resume, const char *report_file, bool report_stdout);

/* The gates that talk to etcd and the leader lookup (gates.c), for every
 * run that changes hosts. */
extern const struct edr_exec_gates edr_etcd_gates;
/* run --user NAME (borrowed, for the whole run; NULL: ETCDCTL_USER): the
 * etcd user the member changes and the snapshot gate authenticate as. */
void edr_etcd_gates_user(const char *opt_user);

/* --via ssh: a one-host executor run of a snapshot plan (snapshot_ssh.c);
 * see edr_snapshot_fetch_fn in snapshot_save.h. */
int edr_snapshot_fetch_ssh(const struct edr_spec *spec, size_t member,
                           const struct edr_save_opts *o, edr_snapstream_sink sink,
                           void *sink_arg, char agent_sha256[65], struct edr_error *err);

#endif
