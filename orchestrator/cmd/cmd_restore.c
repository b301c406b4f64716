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
#include "options.h"
#include "plan.h"
#include "report.h"
#include "snapfile.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct edr_usage usage = {
  .head =
    "usage: etcd-dr restore (--cluster FILE | --initial-cluster SPEC) --snapshot FILE\n"
    "       etcd-dr restore (--cluster FILE | --initial-cluster SPEC) --from-member MEMBER\n"
    "       (--discover HOST in place of --cluster: the spec read off one member's host)\n"
    "                       [OPTIONS]\n"
    "\n"
    "Restore every member of the cluster from FILE over SSH: verify the snapshot,\n"
    "reach and check every host, stage the snapshot and the restored data on\n"
    "every host, and only then stop etcd, move each old member dir aside (kept),\n"
    "install the restored one and start etcd; then wait until the cluster is\n"
    "healthy and serves the snapshot's revision.  'etcd-dr plan' prints the steps.\n"
    "\n",
  .foot =
    "Exit status: 0 restored and healthy; 1 internal error; 2 bad arguments or\n"
    "spec, or no terminal and no --yes; 3 snapshot rejected; 4 a host failed a\n"
    "check (no host changed); 5 failed after hosts were changed; 6 restored but\n"
    "not healthy in time; 7 not confirmed; 130 interrupted.\n"
    "See docs/exit-codes.md.\n",
};

/* From a run's journal: did apply start anywhere, which steps each host
 * finished, the sha-256 of a snapshot on a host as the check read it.  New
 * reference. */
static json_t *resume_state(json_t *events) {
  static const char *const apply_steps[] = {"hold-lock", "stop", "check-stopped", "move-aside",
                                            "move-aside-wal", "install", "install-wal",
                                            "ownership", "ownership-wal", "start"};
  json_t *hosts = json_object();
  bool apply = false, finished = false;
  const char *remote_sha = NULL;
  size_t i;
  json_t *e;
  json_array_foreach(events, i, e) {
    const char *ev = json_string_value(json_object_get(e, "event"));
    const char *step = json_string_value(json_object_get(e, "step"));
    const char *host = json_string_value(json_object_get(e, "host"));
    if (ev && !strcmp(ev, "end") && json_integer_value(json_object_get(e, "exit_code")) == 0)
      finished = true;
    if (ev && !strcmp(ev, "snapshot") && json_string_value(json_object_get(e, "sha256")))
      remote_sha = json_string_value(json_object_get(e, "sha256"));
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
  json_t *rs = json_pack("{s:b, s:b, s:o}", "apply_started", apply, "finished", finished,
                         "hosts", hosts);
  if (rs && remote_sha)
    json_object_set_new(rs, "snapshot_remote_sha256", json_string(remote_sha));
  return rs;
}

static int restore_main(int argc, char **argv, json_t *resume);

/* --resume RUN: the run's own arguments, its id, and what its journal says. */
static int resume_run(const char *run, int argc, char **argv) {
  struct edr_error err = EDR_ERROR_INIT;
  int guard, rc;
  /* say so before anything else when the run is going on elsewhere (the
   * lock itself is taken again, and held, with the journal) */
  if ((rc = edr_journal_guard(run, &guard, &err))) {
    edr_err("cannot resume: %s", edr_error_text(&err));
    edr_error_release(&err);
    return rc == EDR_EAGAIN ? EDR_EXIT_PREFLIGHT : EDR_EXIT_INTERNAL;
  }
  if (guard >= 0)
    close(guard);
  json_t *j = edr_journal_load(run, &err);
  if (!j) {
    edr_err("cannot resume: %s", edr_error_text(&err));
    edr_error_release(&err);
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
      /* only -q, -v, --yes, --report and -w may come with it: the rest is the run's */
      char *keep[8];
      int nk = 0;
      keep[nk++] = argv[0];
      for (int k = 1; k < argc; k++) {
        if (k == i || (k == i + 1 && argv[i][8] != '='))
          continue;
        bool valued = !strcmp(argv[k], "--report") || !strcmp(argv[k], "-w") ||
                      !strcmp(argv[k], "--write-out");
        if (nk < 7 && (valued || !strcmp(argv[k], "-q") || !strcmp(argv[k], "-v") ||
                       !strcmp(argv[k], "-vv") || !strcmp(argv[k], "--yes") ||
                       !strncmp(argv[k], "--report=", 9) ||
                       !strncmp(argv[k], "--write-out=", 12))) {
          keep[nk++] = argv[k];
          if (valued && k + 1 < argc && nk < 7)
            keep[nk++] = argv[++k];
          continue;
        }
        edr_err("with --resume, give only -q, -v, --yes, --report or -w: the other arguments "
                "are the run's own ('%s')", argv[k]);
        return EDR_EXIT_USAGE;
      }
      return resume_run(run, nk, keep);
    }
  return restore_main(argc, argv, NULL);
}

static int restore_main(int argc, char **argv, json_t *resume) {
  struct edr_args a;
  struct edr_snapfile sf;
  struct edr_spec *spec = NULL;
  struct edr_plan *plan = NULL;
  int rc;

  edr_args_init(&a, EDR_CMD_RESTORE);
  a.po.health_timeout_ms = 120000;
  a.eo.resume = resume;
  if ((rc = edr_args_parse(&a, argc, argv, 1, &usage)))
    return rc < 0 ? 0 : rc;
  if ((rc = edr_args_write_out(&a, EDR_OUT_TABLE | EDR_OUT_JSON)))
    return rc;
  struct edr_plan_opts po = a.po;
  struct edr_exec_opts eo = a.eo;
  if (optind < argc) {
    edr_err("unexpected argument '%s'", argv[optind]);
    return EDR_EXIT_USAGE;
  }
  if (!po.snapshot && !a.from_member) {
    edr_err("--snapshot FILE or --from-member MEMBER is required");
    return EDR_EXIT_USAGE;
  }
  if ((rc = edr_cli_load_spec(&a.cs, &spec)))
    return rc;
  bool on_host = false;
  if ((rc = edr_snapshot_on_host(spec, &po, a.from_member, &on_host))) {
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

  if ((rc = edr_build_plan(spec, &po, &plan))) {
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
  int code = edr_run_plan(plan, &eo, argc, argv, resume, a.report_file,
                          a.write_out == EDR_OUT_JSON);
  edr_plan_free(plan);
  edr_spec_free(spec);
  return code;
}
