/*
 * cmd_rollback.c - `etcd-dr rollback RUN`: put back, on every host, the
 * member dir that restore run RUN moved aside, keeping the restored one
 * aside in turn.  Nothing is deleted.  The paths follow from the spec and
 * the run id alone, so a rollback needs no state from the restore.
 */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "err.h"
#include "executor.h"
#include "journal.h"
#include "log.h"
#include "plan.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: etcd-dr rollback RUN (--cluster FILE | --initial-cluster SPEC) [OPTIONS]\n"
    "\n"
    "Undo restore run RUN on every host: check every host is reachable and still\n"
    "has the member dir RUN moved aside (DATA_DIR/member.etcd-dr-RUN), then stop\n"
    "etcd, move the restored member dir aside to DATA_DIR/member.etcd-dr-RUN-restored\n"
    "(kept), put the old one back, start etcd and wait until the cluster is healthy.\n"
    "Give the same cluster options as the restore.\n"
    "\n"
    "  --health-timeout SECS    how long to wait for a healthy cluster (default 120)\n"
    "  --break-lock             take host locks held by another run\n"
    "  --accept-new-host-keys   record unknown host keys in known_hosts\n"
    "  --agent FILE             the etcd-dr-agent to push (default: $ETCD_DR_AGENT,\n"
    "                           else the one installed next to etcd-dr)\n"
    "  --yes                    do not ask before the first step that changes a host\n"
    "                           (asked only on a terminal; without one, required)\n"
    "  -q, --quiet              errors and the summary only\n"
    "  -v, --verbose            more detail\n"
    "  -h, --help\n"
    "\n"
    "Exit status as for restore (docs/exit-codes.md): 0 rolled back and healthy;\n"
    "1 internal error; 2 bad arguments or spec, or no terminal and no --yes; 4 a\n"
    "host failed a check (nothing changed); 5 failed part way; 6 not healthy in\n"
    "time; 7 not confirmed; 130 interrupted.\n"
    "\n";

enum { O_HEALTH_TIMEOUT = 1, O_BREAK_LOCK, O_ACCEPT_NEW, O_AGENT, O_YES };

struct rb_ctx {
  struct edr_plan_opts *po;
  struct edr_exec_opts *eo;
};

static int rb_option(void *arg, int opt, const char *val) {
  struct rb_ctx *c = arg;
  switch (opt) {
  case O_BREAK_LOCK: c->po->break_lock = true; return 0;
  case O_ACCEPT_NEW: c->eo->accept_new_hostkeys = true; return 0;
  case O_AGENT: c->eo->agent_path = val; return 0;
  case O_YES: c->eo->assume_yes = true; return 0;
  case O_HEALTH_TIMEOUT:
    return edr_cli_seconds("--health-timeout", val, 86400, &c->po->health_timeout_ms);
  }
  return EDR_EXIT_USAGE;
}

int cmd_rollback(int argc, char **argv) {
  static const struct option own[] = {
    {"health-timeout", required_argument, NULL, O_HEALTH_TIMEOUT},
    {"break-lock", no_argument, NULL, O_BREAK_LOCK},
    {"accept-new-host-keys", no_argument, NULL, O_ACCEPT_NEW},
    {"agent", required_argument, NULL, O_AGENT},
    {"yes", no_argument, NULL, O_YES},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  struct edr_cli_spec cs;
  struct edr_plan_opts po = {.kind = EDR_PLAN_ROLLBACK, .command = "rollback",
                             .snapshot_revision = -1, .health_timeout_ms = 120000};
  struct edr_exec_opts eo = {.stall_timeout_ms = 60000};
  struct edr_spec *spec = NULL;
  struct edr_plan *plan = NULL;
  char err[1024];
  int rc;

  struct rb_ctx ctx = {.po = &po, .eo = &eo};
  if ((rc = edr_cli_parse(argc, argv, own, "qvh", usage_text, &cs, rb_option, &ctx)))
    return rc < 0 ? 0 : rc;
  if (optind != argc - 1) {
    edr_err(optind >= argc ? "name the run to roll back: etcd-dr rollback RUN ..."
                           : "unexpected argument '%s'", argv[optind + 1 < argc ? optind + 1 : optind]);
    return EDR_EXIT_USAGE;
  }
  po.run_id = argv[optind];
  if ((rc = edr_cli_load_spec(&cs, &spec)))
    return rc;
  if ((rc = edr_cli_require_yes("rollback", eo.assume_yes))) {
    edr_spec_free(spec);
    return rc;
  }
  /* not while a coordinator on this machine still runs or resumes RUN */
  int guard;
  if ((rc = edr_journal_guard(po.run_id, &guard, err, sizeof err))) {
    edr_err("cannot roll back: %s", err);
    edr_spec_free(spec);
    return rc == EDR_EAGAIN ? EDR_EXIT_PREFLIGHT : EDR_EXIT_INTERNAL;
  }
  if ((rc = edr_plan_build(spec, &po, &plan, err, sizeof err))) {
    edr_err("%s", err);
    edr_spec_free(spec);
    if (guard >= 0)
      close(guard);
    return rc == EDR_EINVAL ? EDR_EXIT_USAGE : EDR_EXIT_INTERNAL;
  }
  if (edr_verbosity >= 0)
    fprintf(stderr, "etcd-dr: rolling back run %s on %zu members\n", plan->run_id,
            plan->n_hosts);
  if (edr_verbosity >= 1)
    edr_plan_print(plan, stderr);
  struct edr_run_result res;
  char *spec_args = edr_spec_args(argc, argv);
  plan->confirm = true; /* without --yes (then on a terminal) */
  eo.gates = &edr_etcd_gates;
  eo.spec_args = spec_args;
  int code = edr_execute(plan, &eo, &res);
  if (res.message && res.exit_code == EDR_EXIT_INTERNAL)
    edr_err("%s", res.message);
  edr_print_summary(plan, &res, spec_args ? spec_args : "(your cluster options)");
  free(spec_args);
  edr_run_result_release(&res);
  edr_plan_free(plan);
  edr_spec_free(spec);
  if (guard >= 0)
    close(guard);
  return code;
}
