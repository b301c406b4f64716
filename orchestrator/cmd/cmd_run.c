/*
 * cmd_run.c - `etcd-dr run PLAYBOOK`: load and check the playbook against
 * the cluster spec, compile it into a plan, and either print that plan
 * (--dry-run, no connection) or execute it like a restore (docs/playbooks.md).
 */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "err.h"
#include "executor.h"
#include "log.h"
#include "plan.h"
#include "playbook.h"
#include "snapfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: etcd-dr run PLAYBOOK (--cluster FILE | --initial-cluster SPEC)\n"
    "                   [--var NAME=VALUE]... [OPTIONS]\n"
    "\n"
    "Run a playbook (docs/playbooks.md; playbooks/ has restore, restore-kubernetes,\n"
    "rebuild-from-one, replace-member and snapshot-rotate) through the same plan\n"
    "and executor as 'etcd-dr restore': every host a step touches is checked first\n"
    "(connect, host key, agent, probe, host lock); each step is a barrier.\n"
    "\n"
    "  --var NAME=VALUE         set a variable the playbook declares (repeatable)\n"
    "  --snapshot FILE          the snapshot, for playbooks that push or restore one\n"
    "  --skip-hash-check        accept a snapshot without a sha-256 trailer\n"
    "  --dry-run                print the fully resolved plan and exit; no connection\n"
    "  --format text|json       how --dry-run prints the plan (default text)\n"
    "  --yes                    do not ask before the first step that changes a host,\n"
    "                           nor at confirm steps (asked only on a terminal;\n"
    "                           without one, required unless --dry-run)\n"
    "  --accept-new-host-keys   record unknown host keys in known_hosts (changed\n"
    "                           keys are always refused)\n"
    "  --health-timeout SECS    default bound of restore and wait-healthy steps\n"
    "                           (default 120)\n"
    "  --break-lock             take host locks held by another run\n"
    "  --run-id ID              use this run id (default: new, from the clock)\n"
    "  --report FILE            also write the run's report (JSON) to FILE\n"
    "  --agent FILE             the etcd-dr-agent to push\n"
    "  -q, --quiet              errors and the summary only\n"
    "  -v, --verbose            more detail (-vv: every state change)\n"
    "  -h, --help\n"
    "\n"
    "Exit status: as 'etcd-dr restore' (0 done; 2 bad arguments, spec or playbook,\n"
    "or no terminal and no --yes; 3 snapshot rejected; 4 a host failed a check,\n"
    "nothing changed; 5 failed after hosts were changed; 6 not healthy in time;\n"
    "7 not confirmed; 130 interrupted).\n"
    "\n";

enum { O_VAR = 1, O_SNAPSHOT, O_SKIP_HASH, O_DRY_RUN, O_FORMAT, O_YES, O_ACCEPT_NEW,
       O_HEALTH_TIMEOUT, O_BREAK_LOCK, O_RUN_ID, O_REPORT, O_AGENT };

struct run_ctx {
  struct edr_plan_opts *po;
  struct edr_exec_opts *eo;
  const char **vars;
  size_t n_vars;
  bool dry_run;
  const char *format;
  const char *report_file;
};

static int run_option(void *arg, int opt, const char *val) {
  struct run_ctx *c = arg;
  switch (opt) {
  case O_VAR:
    if (c->n_vars >= 64) {
      edr_err("--var: at most 64");
      return EDR_EXIT_USAGE;
    }
    c->vars[c->n_vars++] = val;
    return 0;
  case O_SNAPSHOT: c->po->snapshot = val; return 0;
  case O_SKIP_HASH: c->po->skip_hash_check = true; return 0;
  case O_DRY_RUN: c->dry_run = true; return 0;
  case O_FORMAT:
    if (strcmp(val, "text") && strcmp(val, "json")) {
      edr_err("--format: '%s' is not text or json", val);
      return EDR_EXIT_USAGE;
    }
    c->format = val;
    return 0;
  case O_YES: c->eo->assume_yes = true; return 0;
  case O_ACCEPT_NEW: c->eo->accept_new_hostkeys = true; return 0;
  case O_HEALTH_TIMEOUT:
    return edr_cli_seconds("--health-timeout", val, 86400, &c->po->health_timeout_ms);
  case O_BREAK_LOCK: c->po->break_lock = true; return 0;
  case O_RUN_ID: c->po->run_id = val; return 0;
  case O_REPORT: c->report_file = val; return 0;
  case O_AGENT: c->eo->agent_path = val; return 0;
  }
  return EDR_EXIT_USAGE;
}

int cmd_run(int argc, char **argv) {
  static const struct option own[] = {
    {"var", required_argument, NULL, O_VAR},
    {"snapshot", required_argument, NULL, O_SNAPSHOT},
    {"skip-hash-check", no_argument, NULL, O_SKIP_HASH},
    {"dry-run", no_argument, NULL, O_DRY_RUN},
    {"format", required_argument, NULL, O_FORMAT},
    {"yes", no_argument, NULL, O_YES},
    {"accept-new-host-keys", no_argument, NULL, O_ACCEPT_NEW},
    {"health-timeout", required_argument, NULL, O_HEALTH_TIMEOUT},
    {"break-lock", no_argument, NULL, O_BREAK_LOCK},
    {"run-id", required_argument, NULL, O_RUN_ID},
    {"report", required_argument, NULL, O_REPORT},
    {"agent", required_argument, NULL, O_AGENT},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  struct edr_cli_spec cs;
  struct edr_plan_opts po = {.snapshot_revision = -1, .health_timeout_ms = 120000};
  struct edr_exec_opts eo = {.stall_timeout_ms = 60000};
  const char *vars[64];
  struct run_ctx ctx = {.po = &po, .eo = &eo, .vars = vars, .format = "text"};
  struct edr_spec *spec = NULL;
  struct edr_playbook *pb = NULL;
  struct edr_plan *plan = NULL;
  struct edr_snapfile sf;
  char err[1500];
  int rc;

  if ((rc = edr_cli_parse(argc, argv, own, "qvh", usage_text, &cs, run_option, &ctx)))
    return rc < 0 ? 0 : rc;
  if (optind >= argc) {
    edr_err("which playbook? usage: etcd-dr run PLAYBOOK --cluster FILE (see --help)");
    return EDR_EXIT_USAGE;
  }
  const char *path = argv[optind];
  if (optind + 1 < argc) {
    edr_err("unexpected argument '%s' (one playbook per run)", argv[optind + 1]);
    return EDR_EXIT_USAGE;
  }
  cs.accept_new_hostkeys = eo.accept_new_hostkeys; /* --discover reaches a host first */
  if ((rc = edr_cli_load_spec(&cs, &spec)))
    return rc;
  if ((rc = edr_playbook_load(path, NULL, spec, vars, ctx.n_vars, &pb, err, sizeof err))) {
    edr_err("%s", err);
    edr_spec_free(spec);
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
  if (!rc && !ctx.dry_run)
    rc = edr_check_local_files(spec, eo.accept_new_hostkeys);
  if (!rc && !ctx.dry_run)
    rc = edr_cli_require_yes("run", eo.assume_yes);
  /* a dry run reads the snapshot too: the plan shows its size and hash */
  if (!rc && po.snapshot)
    rc = edr_check_snapshot(&po, &sf);
  if (!rc)
    edr_check_tool(spec, &po);
  if (!rc && (rc = edr_playbook_compile(pb, &po, &plan, err, sizeof err))) {
    edr_err("%s", err);
    rc = rc == EDR_EINVAL ? EDR_EXIT_USAGE : EDR_EXIT_INTERNAL;
  }
  if (rc)
    goto out;
  if (ctx.dry_run) {
    if (!strcmp(ctx.format, "json")) {
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
  rc = edr_run_plan(plan, &eo, argc, argv, NULL, ctx.report_file);
out:
  edr_plan_free(plan);
  edr_playbook_free(pb);
  edr_spec_free(spec);
  return rc;
}
