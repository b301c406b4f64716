/*
 * cmd_run.c - `etcd-dr run PLAYBOOK`: load and check the playbook against
 * the cluster spec, compile it into a plan, and either print that plan
 * (--dry-run, no connection) or execute it like a restore (docs/playbooks.md).
 */
#include "auth.h"
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "err.h"
#include "executor.h"
#include "log.h"
#include "options.h"
#include "plan.h"
#include "playbook.h"
#include "playbooks.h"
#include "snapfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct edr_usage usage = {
  .head =
    "usage: etcd-dr run PLAYBOOK (--cluster FILE | --initial-cluster SPEC)\n"
    "                   [--var NAME=VALUE]... [OPTIONS]\n"
    "       etcd-dr run --list\n"
    "\n"
    "Run a playbook (docs/playbooks.md) through the same plan and executor as\n"
    "'etcd-dr restore': every host a step touches is checked first (connect, host\n"
    "key, agent, probe, host lock); each step is a barrier.  PLAYBOOK is a file\n"
    "(with a '/' or ending in .json) or the name of a shipped one: restore,\n"
    "restore-kubernetes, rebuild-from-one, replace-member, snapshot-rotate\n"
    "(--list says where each is).\n"
    "\n",
  .foot =
    "Exit status: as 'etcd-dr restore' (0 done; 1 internal error; 2 bad arguments,\n"
    "spec or playbook, or no terminal and no --yes; 3 snapshot rejected; 4 a host\n"
    "failed a check, nothing changed; 5 failed after hosts were changed; 6 not\n"
    "healthy in time; 7 not confirmed; 130 interrupted).  See docs/exit-codes.md.\n",
};

int cmd_run(int argc, char **argv) {
  struct edr_args a;
  struct edr_spec *spec = NULL;
  struct edr_playbook *pb = NULL;
  struct edr_plan *plan = NULL;
  struct edr_snapfile sf;
  int rc;

  edr_args_init(&a, EDR_CMD_RUN);
  a.po.health_timeout_ms = 120000;
  if ((rc = edr_args_parse(&a, argc, argv, 1, &usage)))
    return rc < 0 ? 0 : rc;
  if ((rc = edr_args_write_out(&a, EDR_OUT_TABLE | EDR_OUT_JSON |
                                       (a.list ? EDR_OUT_SIMPLE : 0))))
    return rc;
  if (a.list) {
    if (optind < argc) {
      edr_err("unexpected argument '%s' (--list takes none)", argv[optind]);
      return EDR_EXIT_USAGE;
    }
    return edr_playbook_list(stdout, a.write_out == EDR_OUT_SIMPLE);
  }
  struct edr_plan_opts po = a.po;
  struct edr_exec_opts eo = a.eo;
  /* etcd's user, checked before any host is asked (docs/auth.md) */
  struct edr_etcd_user user;
  struct edr_error uerr = EDR_ERROR_INIT;
  if ((rc = edr_etcd_user_get(a.user, &user, &uerr)) < 0) {
    edr_err("run: %s", edr_error_text(&uerr));
    edr_error_release(&uerr);
    return rc == EDR_EINVAL ? EDR_EXIT_USAGE : EDR_EXIT_INTERNAL;
  }
  edr_etcd_user_release(&user);
  edr_error_release(&uerr);
  edr_etcd_gates_user(a.user);
  if (optind >= argc) {
    edr_err("which playbook? usage: etcd-dr run PLAYBOOK --cluster FILE (see --help)");
    return EDR_EXIT_USAGE;
  }
  if (optind + 1 < argc) {
    edr_err("unexpected argument '%s' (one playbook per run)", argv[optind + 1]);
    return EDR_EXIT_USAGE;
  }
  char *path = edr_playbook_find(argv[optind]);
  if (!path) {
    edr_err("no playbook named '%s': 'etcd-dr run --list' shows the shipped ones and "
            "where they are; a playbook file is named by its path", argv[optind]);
    return EDR_EXIT_USAGE;
  }
  if ((rc = edr_cli_load_spec(&a.cs, &spec))) {
    free(path);
    return rc;
  }
  struct edr_error perr = EDR_ERROR_INIT;
  if ((rc = edr_playbook_load(path, NULL, spec, a.vars, a.n_vars, &pb, &perr))) {
    edr_err("%s", edr_error_text(&perr));
    edr_error_release(&perr);
    edr_spec_free(spec);
    free(path);
    return rc == EDR_ENOMEM ? EDR_EXIT_INTERNAL : EDR_EXIT_USAGE;
  }
  rc = 0;
  if (edr_playbook_needs_snapshot(pb) && !po.snapshot) {
    edr_err("playbook %s pushes or restores a snapshot: give it with --snapshot FILE", path);
    rc = EDR_EXIT_USAGE;
  } else if (!edr_playbook_needs_snapshot(pb) && po.snapshot) {
    edr_err("playbook %s uses no snapshot: --snapshot is not for it", path);
    rc = EDR_EXIT_USAGE;
  }
  if (!rc && !a.dry_run)
    rc = edr_check_local_files(spec, eo.accept_new_hostkeys);
  if (!rc && !a.dry_run)
    rc = edr_cli_require_yes("run", eo.assume_yes);
  /* a dry run reads the snapshot too: the plan shows its size and hash */
  if (!rc && po.snapshot)
    rc = edr_check_snapshot(&po, &sf);
  if (!rc)
    edr_check_tool(spec, &po);
  if (!rc && (rc = edr_playbook_compile(pb, &po, &plan, &perr))) {
    edr_err("%s", edr_error_text(&perr));
    edr_error_release(&perr);
    rc = rc == EDR_EINVAL ? EDR_EXIT_USAGE : EDR_EXIT_INTERNAL;
  }
  if (rc)
    goto out;
  if (a.dry_run) {
    if (a.write_out == EDR_OUT_JSON) {
      json_t *j = edr_plan_to_json(plan);
      json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
      fputc('\n', stdout);
      json_decref(j);
    } else {
      edr_plan_print(plan, stdout);
    }
    rc = 0;
    goto out;
  }
  if (edr_verbosity >= 0)
    fprintf(stderr, "etcd-dr: run %s: playbook %s (%zu steps) on %zu members\n", plan->run_id,
            edr_playbook_name(pb), plan->n_stages, plan->n_hosts);
  if (edr_verbosity >= 1)
    edr_plan_print(plan, stderr);
  plan->confirm = true; /* without --yes (then on a terminal) */
  rc = edr_run_plan(plan, &eo, argc, argv, NULL, a.report_file, a.write_out == EDR_OUT_JSON);
out:
  edr_plan_free(plan);
  edr_playbook_free(pb);
  edr_spec_free(spec);
  free(path);
  return rc;
}
