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
#include "options.h"
#include "plan.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct edr_usage usage = {
  .head =
    "usage: etcd-dr rollback RUN (--cluster FILE | --initial-cluster SPEC) [OPTIONS]\n"
    "\n"
    "Undo restore run RUN on every host: check every host is reachable and still\n"
    "has the member dir RUN moved aside (DATA_DIR/member.etcd-dr-RUN), then stop\n"
    "etcd, move the restored member dir aside to DATA_DIR/member.etcd-dr-RUN-restored\n"
    "(kept), put the old one back, start etcd and wait until the cluster is healthy.\n"
    "With the kubeadm preset, kube-apiserver is parked while etcd is down, as\n"
    "restore does.  Give the same cluster options as the restore.\n"
    "\n",
  .foot =
    "Exit status as for restore (docs/exit-codes.md): 0 rolled back and healthy;\n"
    "1 internal error; 2 bad arguments or spec, or no terminal and no --yes; 4 a\n"
    "host failed a check (nothing changed); 5 failed part way; 6 not healthy in\n"
    "time; 7 not confirmed; 130 interrupted.\n",
};

int cmd_rollback(int argc, char **argv) {
  struct edr_args a;
  struct edr_spec *spec = NULL;
  struct edr_plan *plan = NULL;
  int rc;

  edr_args_init(&a, EDR_CMD_ROLLBACK);
  a.po.kind = EDR_PLAN_ROLLBACK;
  a.po.command = "rollback";
  a.po.health_timeout_ms = 120000;
  if ((rc = edr_args_parse(&a, argc, argv, 1, &usage)))
    return rc < 0 ? 0 : rc;
  struct edr_plan_opts po = a.po;
  struct edr_exec_opts eo = a.eo;
  if (optind != argc - 1) {
    edr_err(optind >= argc ? "name the run to roll back: etcd-dr rollback RUN ..."
                           : "unexpected argument '%s'", argv[optind + 1 < argc ? optind + 1 : optind]);
    return EDR_EXIT_USAGE;
  }
  po.run_id = argv[optind];
  if ((rc = edr_cli_load_spec(&a.cs, &spec)))
    return rc;
  if ((rc = edr_cli_require_yes("rollback", eo.assume_yes))) {
    edr_spec_free(spec);
    return rc;
  }
  /* not while a coordinator on this machine still runs or resumes RUN */
  int guard;
  struct edr_error gerr = EDR_ERROR_INIT;
  if ((rc = edr_journal_guard(po.run_id, &guard, &gerr))) {
    edr_err("cannot roll back: %s", edr_error_text(&gerr));
    edr_error_release(&gerr);
    edr_spec_free(spec);
    return rc == EDR_EAGAIN ? EDR_EXIT_PREFLIGHT : EDR_EXIT_INTERNAL;
  }
  if ((rc = edr_build_plan(spec, &po, &plan))) {
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
  if ((rc = edr_run_resolve(plan))) {
    edr_plan_free(plan);
    edr_spec_free(spec);
    if (guard >= 0)
      close(guard);
    return rc;
  }
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
