/*
 * cmd_prune.c - `etcd-dr prune`: remove the member (and wal) dirs that old
 * runs moved aside, by a keep policy.  A dry run by default: every host
 * lists what it has and the table says what would go, nothing is removed
 * and no lock taken.  With --remove the same listing runs under the host
 * lock, the table is shown (and, on a terminal, confirmed), and the agents
 * remove exactly the runs listed.  The plan (plan_prune.c) and executor
 * are restore's; the decision per host is prune.c's.
 */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "err.h"
#include "executor.h"
#include "log.h"
#include "options.h"
#include "plan.h"
#include "progress.h"
#include "prune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct edr_usage usage = {
  .head =
    "usage: etcd-dr prune (--cluster FILE | --initial-cluster SPEC)\n"
    "                     (--keep N | --older-than AGE) [--remove [--yes]] [OPTIONS]\n"
    "\n"
    "Every restore keeps the member dir it replaced as DATA_DIR/member.etcd-dr-RUN\n"
    "(and WAL_DIR.etcd-dr-RUN), every rollback the data it replaced as the same name\n"
    "with -restored; prune removes those of old runs.  By default it is a dry run:\n"
    "each host lists what it has, and a table shows every run with its dirs, sizes\n"
    "and age and whether it would go.  Nothing is removed without --remove.\n"
    "\n"
    "Never removed: a run whose marker (.etcd-dr-RUN.done) or staging dir is on the\n"
    "host or that holds the host lock (unfinished: resume or rollback needs it);\n"
    "the newest run unless --keep 0; any name but member.etcd-dr-RUN[-restored] and\n"
    "WAL_DIR.etcd-dr-RUN[-restored] with RUN as etcd-dr makes run ids\n"
    "(YYYYMMDD-HHMMSS-xxxx); symlinks; dirs on another file system.\n"
    "\n",
  .foot =
    "Exit status: 0 listed (dry run) or pruned; 1 internal error; 2 bad arguments\n"
    "or spec, or --remove without a terminal and without --yes; 4 a host failed a\n"
    "check (nothing removed); 5 failed while removing (see the summary); 7 not\n"
    "confirmed; 130 interrupted.  See docs/exit-codes.md.\n",
};

struct prune_ctx {
  bool remove;
  /* during the run */
  const struct edr_plan *plan;
  json_t **decisions;        /* one per host, or NULL */
};

static json_t *host_listing(const struct edr_plan *p, const struct edr_run_result *res,
                            size_t host) {
  const struct edr_host_plan *hp = &p->hosts[host];
  for (size_t j = 0; j < hp->n_steps && j < res->hosts[host].n_steps; j++)
    if (hp->steps[j].kind == EDR_STEP_LIST_ASIDE)
      return res->hosts[host].steps[j].result;
  return NULL;
}

/* Decide and print every host that listed; returns how many runs go. */
static size_t decide_all(struct prune_ctx *c, const struct edr_run_result *res, FILE *out) {
  size_t n = 0;
  for (size_t i = 0; i < c->plan->n_hosts; i++) {
    json_t *l = host_listing(c->plan, res, i);
    json_decref(c->decisions[i]);
    c->decisions[i] = l ? edr_prune_decide(&c->plan->prune, l) : NULL;
    if (!c->decisions[i])
      continue;
    const struct edr_member *m = c->plan->hosts[i].member;
    if (out)
      edr_prune_print_host(out, m->name, m->ssh_host, c->decisions[i], !c->remove);
    n += json_array_size(json_object_get(c->decisions[i], "remove"));
  }
  return n;
}

/* The dry run's -w json: {"dry_run": true, "hosts": [{"member", "host",
 * "decision"}]}, a host that did not list with a null decision.  Returns
 * 0 or -1 when stdout failed. */
static int print_json(const struct prune_ctx *c) {
  json_t *hosts = json_array();
  for (size_t i = 0; i < c->plan->n_hosts; i++) {
    const struct edr_member *m = c->plan->hosts[i].member;
    json_array_append_new(hosts, json_pack("{s:s, s:s, s:O}", "member", m->name, "host",
                                           m->ssh_host, "decision",
                                           c->decisions[i] ? c->decisions[i] : json_null()));
  }
  json_t *j = json_pack("{s:b, s:o}", "dry_run", 1, "hosts", hosts);
  int rc = !j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ||
                   fputc('\n', stdout) == EOF || fflush(stdout) ? -1 : 0;
  json_decref(j);
  return rc;
}

/* executor hooks (executor.h) */
static bool on_decide(void *arg, const struct edr_run_result *res) {
  struct prune_ctx *c = arg;
  size_t n = decide_all(c, res, stderr);
  if (n == 0)
    edr_info("nothing to remove on any host");
  return n > 0;
}

static int on_fill(void *arg, size_t host, size_t step, json_t *req) {
  struct prune_ctx *c = arg;
  if (c->plan->hosts[host].steps[step].kind != EDR_STEP_PRUNE)
    return 0;
  json_t *runs = json_object_get(c->decisions[host], "remove");
  return json_object_set_new(req, "runs", runs ? json_copy(runs) : json_array())
             ? EDR_ENOMEM : 0;
}

int cmd_prune(int argc, char **argv) {
  struct edr_args a;
  struct edr_spec *spec = NULL;
  struct edr_plan *plan = NULL;
  int rc;

  edr_args_init(&a, EDR_CMD_PRUNE);
  a.po.kind = EDR_PLAN_PRUNE;
  a.po.command = "prune";
  a.po.prune.keep = -1;
  a.po.prune.older_than_s = -1;
  if ((rc = edr_args_parse(&a, argc, argv, 1, &usage)))
    return rc < 0 ? 0 : rc;
  if ((rc = edr_args_write_out(&a, EDR_OUT_TABLE | EDR_OUT_JSON)))
    return rc;
  struct edr_plan_opts po = a.po;
  struct edr_exec_opts eo = a.eo;
  struct prune_ctx ctx = {.remove = a.remove};
  if (optind < argc) {
    edr_err("unexpected argument '%s'", argv[optind]);
    return EDR_EXIT_USAGE;
  }
  if (!a.keep_given && po.prune.older_than_s < 0) {
    edr_err("say what to keep: --keep N (the newest N runs on each host) and/or "
            "--older-than AGE (remove only runs at least that old)");
    return EDR_EXIT_USAGE;
  }
  if ((eo.assume_yes || a.report_file) && !ctx.remove) {
    edr_err("%s only with --remove: without it prune is a dry run that removes nothing",
            eo.assume_yes ? "--yes" : "--report");
    return EDR_EXIT_USAGE;
  }
  if ((rc = edr_cli_load_spec(&a.cs, &spec)))
    return rc;
  if ((rc = edr_check_local_files(spec, eo.accept_new_hostkeys)) ||
      (ctx.remove && (rc = edr_cli_require_yes("prune --remove", eo.assume_yes)))) {
    edr_spec_free(spec);
    return rc;
  }
  po.check_only = !ctx.remove;
  if ((rc = edr_build_plan(spec, &po, &plan))) {
    edr_spec_free(spec);
    return rc == EDR_EINVAL ? EDR_EXIT_USAGE : EDR_EXIT_INTERNAL;
  }
  plan->confirm = ctx.remove; /* asked before removing, without --yes; a dry run
                                 changes nothing and asks nothing */
  ctx.plan = plan;
  ctx.decisions = calloc(plan->n_hosts, sizeof(json_t *));
  if (!ctx.decisions) {
    edr_plan_free(plan);
    edr_spec_free(spec);
    return EDR_EXIT_INTERNAL;
  }
  if (edr_verbosity >= 1)
    edr_plan_print(plan, stderr);
  int code;
  if (!ctx.remove) {
    /* the dry run: lists only; no lock, no journal (as plan --check) */
    struct edr_run_result res;
    bool json = a.write_out == EDR_OUT_JSON;
    if (json)
      edr_progress_events_to(stderr); /* stdout: the one document */
    code = edr_execute(plan, &eo, &res);
    edr_progress_events_to(NULL);
    if (res.message && res.exit_code == EDR_EXIT_INTERNAL)
      edr_err("%s", res.message);
    size_t n = decide_all(&ctx, &res, json ? NULL : stdout);
    if (json && print_json(&ctx) && !code)
      code = EDR_EXIT_INTERNAL;
    else if (!json)
      printf("\ndry run: nothing was removed%s\n",
             n ? "; run the same command with --remove to remove what is marked REMOVE"
               : "");
    edr_run_result_release(&res);
  } else {
    eo.decide = on_decide;
    eo.fill = on_fill;
    eo.hook_arg = &ctx;
    code = edr_run_plan(plan, &eo, argc, argv, NULL, a.report_file,
                        a.write_out == EDR_OUT_JSON);
  }
  for (size_t i = 0; i < plan->n_hosts; i++)
    json_decref(ctx.decisions[i]);
  free(ctx.decisions);
  edr_plan_free(plan);
  edr_spec_free(spec);
  return code;
}
