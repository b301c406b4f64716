/*
 * cmd_restore.c - `etcd-dr restore`: check everything that can be checked
 * locally (arguments, spec, snapshot integrity), build the plan, execute it
 * on every host, and say where each host stands.
 */
#include "bbolt.h"
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "err.h"
#include "executor.h"
#include "journal.h"
#include "log.h"
#include "plan.h"
#include "report.h"
#include "snapfile.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: etcd-dr restore (--cluster FILE | --initial-cluster SPEC) --snapshot FILE\n"
    "       etcd-dr restore (--cluster FILE | --initial-cluster SPEC) --from-member MEMBER\n"
    "                       [OPTIONS]\n"
    "\n"
    "Restore every member of the cluster from FILE over SSH: verify the snapshot,\n"
    "reach and check every host, stage the snapshot and the restored data on\n"
    "every host, and only then stop etcd, move each old member dir aside (kept),\n"
    "install the restored one and start etcd; then wait until the cluster is\n"
    "healthy and serves the snapshot's revision.  'etcd-dr plan' prints the steps.\n"
    "\n"
    "  --snapshot FILE          from 'etcdctl snapshot save' or 'etcd-dr snapshot\n"
    "                           save' (this or --from-member is required);\n"
    "                           MEMBER:PATH: a file on that member's host, checked\n"
    "                           there; the relay starts there\n"
    "  --from-member MEMBER     MEMBER's own member/snap/db as the snapshot (etcd\n"
    "                           stopped there; no sha-256 trailer: needs\n"
    "                           --skip-hash-check)\n"
    "  --skip-hash-check        accept a snapshot without a sha-256 trailer (a copied\n"
    "                           member/snap/db)\n"
    "  --transfer MODE          auto (default): relay the snapshot from host to host,\n"
    "                           each host its predecessor cannot reach pushed directly;\n"
    "                           relay: every host relayed or the check fails; direct:\n"
    "                           one copy per host from this machine\n"
    "  --accept-new-host-keys   record unknown host keys in known_hosts (changed\n"
    "                           keys are always refused)\n"
    "  --health-timeout SECS    how long to wait for a healthy cluster (default 120)\n"
    "  --bump-revision N|auto   add N to every revision (with --mark-compacted, so\n"
    "                           watchers such as Kubernetes' see no revision twice);\n"
    "                           auto: clear the highest revision of the old data on\n"
    "                           any host, plus a margin.  Needs etcd 3.4.27+/3.5.10+\n"
    "  --break-lock             take host locks held by another run (after checking\n"
    "                           that run is really gone)\n"
    "  --run-id ID              use this run id (default: new, from the clock)\n"
    "  --resume RUN             continue run RUN where it stopped (coordinator killed,\n"
    "                           connection lost): same arguments, read from the run's\n"
    "                           journal; finished steps are not redone\n"
    "  --yes                    do not ask before the first step that changes a host\n"
    "                           (asked only on a terminal; without one, required)\n"
    "  --report FILE            also write the run's report (JSON) to FILE; it is always\n"
    "                           written to the run's directory in the state dir\n"
    "  --agent FILE             the etcd-dr-agent to push (default: $ETCD_DR_AGENT,\n"
    "                           else the one installed next to etcd-dr)\n"
    "  -q, --quiet              errors and the summary only\n"
    "  -v, --verbose            more detail (-vv: every state change)\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 restored and healthy; 1 internal error; 2 bad arguments or\n"
    "spec, or no terminal and no --yes; 3 snapshot rejected; 4 a host failed a check (no host changed); 5 failed\n"
    "after hosts were changed; 6 restored but not healthy in time; 7 not confirmed;\n"
    "130 interrupted.\n"
    "See docs/exit-codes.md.\n"
    "\n";

enum { O_SNAPSHOT = 1, O_SKIP_HASH, O_ACCEPT_NEW, O_HEALTH_TIMEOUT, O_RUN_ID, O_AGENT,
       O_BUMP, O_BREAK_LOCK, O_RESUME, O_REPORT, O_YES, O_TRANSFER, O_FROM_MEMBER };

/* From a run's journal: did apply start anywhere, which steps each host
 * finished.  New reference. */
static json_t *resume_state(json_t *events) {
  static const char *const apply_steps[] = {"hold-lock", "stop", "check-stopped", "move-aside",
                                            "move-aside-wal", "install", "install-wal",
                                            "ownership", "ownership-wal", "start"};
  json_t *hosts = json_object();
  bool apply = false, finished = false;
  size_t i;
  json_t *e;
  json_array_foreach(events, i, e) {
    const char *ev = json_string_value(json_object_get(e, "event"));
    const char *step = json_string_value(json_object_get(e, "step"));
    const char *host = json_string_value(json_object_get(e, "host"));
    if (ev && !strcmp(ev, "end") && json_integer_value(json_object_get(e, "exit_code")) == 0)
      finished = true;
    if (!ev || !step || !host)
      continue;
    for (size_t k = 0; k < sizeof apply_steps / sizeof apply_steps[0]; k++)
      if (!strcmp(step, apply_steps[k]))
        apply = true;
    if (!strcmp(ev, "done")) {
      json_t *a = json_object_get(hosts, host);
      if (!a)
        json_object_set_new(hosts, host, a = json_array());
      json_array_append(a, json_object_get(e, "index"));
    }
  }
  return json_pack("{s:b, s:b, s:o}", "apply_started", apply, "finished", finished, "hosts",
                   hosts);
}

static int restore_main(int argc, char **argv, json_t *resume);

/* --resume RUN: the run's own arguments, its id, and what its journal says. */
static int resume_run(const char *run, int argc, char **argv) {
  char err[1024];
  int guard, rc;
  /* say so before anything else when the run is going on elsewhere (the
   * lock itself is taken again, and held, with the journal) */
  if ((rc = edr_journal_guard(run, &guard, err, sizeof err))) {
    edr_err("cannot resume: %s", err);
    return rc == EDR_EAGAIN ? EDR_EXIT_PREFLIGHT : EDR_EXIT_INTERNAL;
  }
  if (guard >= 0)
    close(guard);
  json_t *j = edr_journal_load(run, err, sizeof err);
  if (!j) {
    edr_err("cannot resume: %s", err);
    return EDR_EXIT_USAGE;
  }
  json_t *cmd = json_object_get(json_object_get(j, "command"), "argv");
  size_t n = json_array_size(cmd);
  char **nargv = calloc(n + (size_t)argc + 4, sizeof(char *));
  int nargc = 0;
  if (!nargv || n == 0) {
    edr_err("cannot resume: run %s has no recorded arguments", run);
    free(nargv);
    json_decref(j);
    return EDR_EXIT_USAGE;
  }
  for (size_t i = 0; i < n; i++)
    nargv[nargc++] = (char *)json_string_value(json_array_get(cmd, i));
  nargv[nargc++] = "--run-id";
  nargv[nargc++] = (char *)run;
  for (int i = 1; i < argc; i++) /* -q, -v, --report given now */
    nargv[nargc++] = argv[i];
  json_t *rs = resume_state(json_object_get(j, "events"));
  json_object_set(rs, "snapshot_sha256",
                  json_object_get(json_object_get(j, "command"), "snapshot_sha256"));
  int code;
  if (json_is_true(json_object_get(rs, "finished"))) {
    edr_info("run %s finished already: nothing to resume", run);
    code = 0;
  } else {
    edr_info("resuming run %s (%s)", run,
             json_is_true(json_object_get(rs, "apply_started"))
                 ? "apply had started: finished steps are skipped"
                 : "it had not changed any host: prepare starts again");
    optind = 1;
    code = restore_main(nargc, nargv, rs);
  }
  json_decref(rs);
  free(nargv);
  json_decref(j);
  return code;
}

int cmd_restore(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--resume") || !strncmp(argv[i], "--resume=", 9)) {
      const char *run = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[i + 1] : NULL);
      if (!run) {
        edr_err("--resume needs the run id");
        return EDR_EXIT_USAGE;
      }
      /* only -q, -v and --report may come with it: the rest is the run's */
      char *keep[8];
      int nk = 0;
      keep[nk++] = argv[0];
      for (int k = 1; k < argc; k++) {
        if (k == i || (k == i + 1 && argv[i][8] != '='))
          continue;
        if (nk < 7 && (!strcmp(argv[k], "-q") || !strcmp(argv[k], "-v") ||
                       !strcmp(argv[k], "-vv") || !strcmp(argv[k], "--yes") ||
                       !strncmp(argv[k], "--report", 8))) {
          keep[nk++] = argv[k];
          if (!strcmp(argv[k], "--report") && k + 1 < argc && nk < 7)
            keep[nk++] = argv[++k];
          continue;
        }
        edr_err("with --resume, give only -q, -v, --yes or --report: the other arguments are "
                "the run's own ('%s')", argv[k]);
        return EDR_EXIT_USAGE;
      }
      return resume_run(run, nk, keep);
    }
  return restore_main(argc, argv, NULL);
}

struct restore_ctx {
  struct edr_plan_opts *po;
  const char *from_member;
  struct edr_exec_opts *eo;
  const char **report_file;
};

static int restore_option(void *arg, int opt, const char *val) {
  struct restore_ctx *c = arg;
  switch (opt) {
  case O_SNAPSHOT: c->po->snapshot = val; return 0;
  case O_SKIP_HASH: c->po->skip_hash_check = true; return 0;
  case O_ACCEPT_NEW: c->eo->accept_new_hostkeys = true; return 0;
  case O_RUN_ID: c->po->run_id = val; return 0;
  case O_AGENT: c->eo->agent_path = val; return 0;
  case O_BREAK_LOCK: c->po->break_lock = true; return 0;
  case O_REPORT: *c->report_file = val; return 0;
  case O_YES: c->eo->assume_yes = true; return 0;
  case O_TRANSFER: return edr_cli_transfer(val, c->po);
  case O_FROM_MEMBER: c->from_member = val; return 0;
  case O_HEALTH_TIMEOUT:
    return edr_cli_seconds("--health-timeout", val, 86400, &c->po->health_timeout_ms);
  case O_BUMP: {
    char *end = NULL;
    long long v = strcmp(val, "auto") ? strtoll(val, &end, 10) : -1;
    if (v == 0 || (v > 0 && *end) || v < -1 || v > 1000000000000000LL) {
      edr_err("--bump-revision: '%s' is not a positive number or 'auto'", val);
      return EDR_EXIT_USAGE;
    }
    c->po->bump_revision = v;
    return 0;
  }
  }
  return EDR_EXIT_USAGE;
}

static int restore_main(int argc, char **argv, json_t *resume) {
  static const struct option own[] = {
    {"snapshot", required_argument, NULL, O_SNAPSHOT},
    {"skip-hash-check", no_argument, NULL, O_SKIP_HASH},
    {"accept-new-host-keys", no_argument, NULL, O_ACCEPT_NEW},
    {"health-timeout", required_argument, NULL, O_HEALTH_TIMEOUT},
    {"run-id", required_argument, NULL, O_RUN_ID},
    {"agent", required_argument, NULL, O_AGENT},
    {"bump-revision", required_argument, NULL, O_BUMP},
    {"break-lock", no_argument, NULL, O_BREAK_LOCK},
    {"report", required_argument, NULL, O_REPORT},
    {"yes", no_argument, NULL, O_YES},
    {"transfer", required_argument, NULL, O_TRANSFER},
    {"from-member", required_argument, NULL, O_FROM_MEMBER},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  struct edr_cli_spec cs;
  struct edr_plan_opts po = {.snapshot_revision = -1, .health_timeout_ms = 120000};
  struct edr_exec_opts eo = {.stall_timeout_ms = 60000};
  struct edr_snapfile sf;
  struct edr_spec *spec = NULL;
  struct edr_plan *plan = NULL;
  const char *report_file = NULL;
  char err[1024];
  int rc;

  eo.resume = resume;
  struct restore_ctx ctx = {.po = &po, .eo = &eo, .report_file = &report_file};
  if ((rc = edr_cli_parse(argc, argv, own, "qvh", usage_text, &cs, restore_option, &ctx)))
    return rc < 0 ? 0 : rc;
  if (optind < argc) {
    edr_err("unexpected argument '%s'", argv[optind]);
    return EDR_EXIT_USAGE;
  }
  if (!po.snapshot && !ctx.from_member) {
    edr_err("--snapshot FILE or --from-member MEMBER is required");
    return EDR_EXIT_USAGE;
  }
  if ((rc = edr_cli_load_spec(&cs, &spec)))
    return rc;
  bool on_host = false;
  if ((rc = edr_snapshot_on_host(spec, &po, ctx.from_member, &on_host))) {
    edr_spec_free(spec);
    return rc;
  }
  if ((rc = edr_check_local_files(spec, eo.accept_new_hostkeys)) ||
      (rc = edr_cli_require_yes("restore", eo.assume_yes))) {
    edr_spec_free(spec);
    return rc;
  }

  /* The snapshot is verified here, before any host is contacted. */
  if ((!on_host && (rc = edr_check_snapshot(&po, &sf))) || (rc = edr_check_tool(spec, &po))) {
    edr_spec_free(spec);
    return rc;
  }

  if ((rc = edr_plan_build(spec, &po, &plan, err, sizeof err))) {
    edr_err("%s", err);
    edr_spec_free(spec);
    return EDR_EXIT_INTERNAL;
  }
  if (edr_verbosity >= 0) {
    char hb[32];
    edr_human_bytes(plan->snapshot_size, hb, sizeof hb);
    if (on_host)
      fprintf(stderr, "etcd-dr: run %s: restoring %zu members from '%s' (on that host)\n",
              plan->run_id, plan->n_hosts, plan->snapshot);
    else {
      fprintf(stderr, "etcd-dr: run %s: restoring %zu members from '%s' (%s", plan->run_id,
              plan->n_hosts, plan->snapshot, hb);
      if (plan->snapshot_revision >= 0)
        fprintf(stderr, ", revision %lld", (long long)plan->snapshot_revision);
      fprintf(stderr, ")\n");
    }
    if (on_host && plan->from_member)
      edr_warn("the snapshot is %s's own member/snap/db: it has no sha-256 trailer, so "
               "only its sha-256 taken in the check phase proves each copy (--skip-hash-check)",
               plan->hosts[plan->snapshot_host].member->name);
    if (edr_verbosity >= 1)
      edr_plan_print(plan, stderr);
  }

  plan->confirm = true; /* without --yes (then on a terminal) */
  int code = edr_run_plan(plan, &eo, argc, argv, resume, report_file);
  edr_plan_free(plan);
  edr_spec_free(spec);
  return code;
}
