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
#include "plan.h"
#include "prune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
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
    "\n"
    "  --keep N                 keep the newest N runs on each host (default 1);\n"
    "                           0 lets the newest go too (then it cannot be rolled back)\n"
    "  --older-than AGE         remove only runs at least AGE old (the time in the run\n"
    "                           id): 30d, 12h, 90m, 2w\n"
    "  --remove                 remove what the table marks REMOVE, under the host lock\n"
    "  --yes                    with --remove: do not ask (asked only on a terminal;\n"
    "                           without one, required)\n"
    "  --report FILE            with --remove: also write the run's report to FILE\n"
    "  --accept-new-host-keys   record unknown host keys in known_hosts\n"
    "  --agent FILE             the etcd-dr-agent to push (default: $ETCD_DR_AGENT,\n"
    "                           else the one installed next to etcd-dr)\n"
    "  -q, --quiet              errors and the summary only\n"
    "  -v, --verbose            more detail (the plan's steps)\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 listed (dry run) or pruned; 1 internal error; 2 bad arguments\n"
    "or spec, or --remove without a terminal and without --yes; 4 a host failed a\n"
    "check (nothing removed); 5 failed while removing (see the summary); 7 not\n"
    "confirmed; 130 interrupted.  See docs/exit-codes.md.\n"
    "\n";

enum { O_KEEP = 1, O_OLDER, O_REMOVE, O_YES, O_REPORT, O_ACCEPT_NEW, O_AGENT };

struct prune_ctx {
  struct edr_plan_opts *po;
  struct edr_exec_opts *eo;
  bool remove, keep_given;
  const char *report_file;
  /* during the run */
  const struct edr_plan *plan;
  json_t **decisions;        /* one per host, or NULL */
};

static int prune_option(void *arg, int opt, const char *val) {
  struct prune_ctx *c = arg;
  switch (opt) {
  case O_KEEP: {
    char *end;
    long v = strtol(val, &end, 10);
    if (!*val || *end || v < 0 || v > 1000000) {
      edr_err("--keep: '%s' is not a number of runs (0 or more)", val);
      return EDR_EXIT_USAGE;
    }
    c->po->prune.keep = v;
    c->keep_given = true;
    return 0;
  }
  case O_OLDER:
    if (edr_parse_age(val, &c->po->prune.older_than_s)) {
      edr_err("--older-than: '%s' is not an age such as 30d, 12h, 90m, 45s or 2w", val);
      return EDR_EXIT_USAGE;
    }
    return 0;
  case O_REMOVE: c->remove = true; return 0;
  case O_YES: c->eo->assume_yes = true; return 0;
  case O_REPORT: c->report_file = val; return 0;
  case O_ACCEPT_NEW: c->eo->accept_new_hostkeys = true; return 0;
  case O_AGENT: c->eo->agent_path = val; return 0;
  }
  return EDR_EXIT_USAGE;
}

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
    edr_prune_print_host(out, m->name, m->ssh_host, c->decisions[i], !c->remove);
    n += json_array_size(json_object_get(c->decisions[i], "remove"));
  }
  return n;
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
  static const struct option own[] = {
    {"keep", required_argument, NULL, O_KEEP},
    {"older-than", required_argument, NULL, O_OLDER},
    {"remove", no_argument, NULL, O_REMOVE},
    {"yes", no_argument, NULL, O_YES},
    {"report", required_argument, NULL, O_REPORT},
    {"accept-new-host-keys", no_argument, NULL, O_ACCEPT_NEW},
    {"agent", required_argument, NULL, O_AGENT},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  struct edr_cli_spec cs;
  struct edr_plan_opts po = {.kind = EDR_PLAN_PRUNE, .command = "prune",
                             .snapshot_revision = -1,
                             .prune = {.keep = -1, .older_than_s = -1}};
  struct edr_exec_opts eo = {.stall_timeout_ms = 60000};
  struct edr_spec *spec = NULL;
  struct edr_plan *plan = NULL;
  struct prune_ctx ctx = {.po = &po, .eo = &eo};
  char err[1024];
  int rc;

  if ((rc = edr_cli_parse(argc, argv, own, "qvh", usage_text, &cs, prune_option, &ctx)))
    return rc < 0 ? 0 : rc;
  if (optind < argc) {
    edr_err("unexpected argument '%s'", argv[optind]);
    return EDR_EXIT_USAGE;
  }
  if (!ctx.keep_given && po.prune.older_than_s < 0) {
    edr_err("say what to keep: --keep N (the newest N runs on each host) and/or "
            "--older-than AGE (remove only runs at least that old)");
    return EDR_EXIT_USAGE;
  }
  if ((eo.assume_yes || ctx.report_file) && !ctx.remove) {
    edr_err("%s only with --remove: without it prune is a dry run that removes nothing",
            eo.assume_yes ? "--yes" : "--report");
    return EDR_EXIT_USAGE;
  }
  if ((rc = edr_cli_load_spec(&cs, &spec)))
    return rc;
  if ((rc = edr_check_local_files(spec, eo.accept_new_hostkeys)) ||
      (ctx.remove && (rc = edr_cli_require_yes("prune --remove", eo.assume_yes)))) {
    edr_spec_free(spec);
    return rc;
  }
  po.check_only = !ctx.remove;
  if ((rc = edr_plan_build(spec, &po, &plan, err, sizeof err))) {
    edr_err("%s", err);
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
    code = edr_execute(plan, &eo, &res);
    if (res.message && res.exit_code == EDR_EXIT_INTERNAL)
      edr_err("%s", res.message);
    size_t n = decide_all(&ctx, &res, stdout);
    printf("\ndry run: nothing was removed%s\n",
           n ? "; run the same command with --remove to remove what is marked REMOVE" : "");
    edr_run_result_release(&res);
  } else {
    eo.decide = on_decide;
    eo.fill = on_fill;
    eo.hook_arg = &ctx;
    code = edr_run_plan(plan, &eo, argc, argv, NULL, ctx.report_file);
  }
  for (size_t i = 0; i < plan->n_hosts; i++)
    json_decref(ctx.decisions[i]);
  free(ctx.decisions);
  edr_plan_free(plan);
  edr_spec_free(spec);
  return code;
}
