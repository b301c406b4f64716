/*
 * test_engine_prune.c - prune's plan through the engine (edr_execute)
 * against fake hosts (fake_agent.h): no root, no network, no lab.
 *
 * Checks the engine's side of `etcd-dr prune`: its decide hook runs once,
 * after every host listed and before any prune request; the fill hook puts
 * each host's own choice into that host's prune request and nowhere else;
 * a host whose listing fails stops the run before anything is removed on
 * any host (exit 4, locks released); the dry run (no hooks: the command
 * decides after it) takes no lock and sends no prune.  The decision itself is prune.c's, as the command uses it.
 *
 * Ownership: the spec, the plans and the temporary files are this file's.
 */
#include "executor.h"
#include "fake_agent.h"
#include "log.h"
#include "plan.h"
#include "prune.h"
#include "spec.h"
#include "t.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN_ID "20270101-000000-abcd"
static char dir[] = "/tmp/edr-engine-prune-XXXXXX";
static char agent_path[256];
static struct edr_spec *spec;

/* m1 has three runs; m2 one; m3 two, its older one unfinished (marker). */
static const char *const listings[] = {
  "{\"now\": 1800000000, \"entries\": ["
  " {\"run_id\": \"20261201-101010-aaaa\", \"name\": \"member.etcd-dr-20261201-101010-aaaa\","
  "  \"path\": \"/var/lib/etcd/member.etcd-dr-20261201-101010-aaaa\", \"kind\": \"dir\","
  "  \"trash\": false, \"other_fs\": false, \"bytes\": 10, \"files\": 1},"
  " {\"run_id\": \"20261202-101010-bbbb\", \"name\": \"member.etcd-dr-20261202-101010-bbbb\","
  "  \"path\": \"/var/lib/etcd/member.etcd-dr-20261202-101010-bbbb\", \"kind\": \"dir\","
  "  \"trash\": false, \"other_fs\": false, \"bytes\": 20, \"files\": 1},"
  " {\"run_id\": \"20261203-101010-cccc\", \"name\": \"member.etcd-dr-20261203-101010-cccc\","
  "  \"path\": \"/var/lib/etcd/member.etcd-dr-20261203-101010-cccc\", \"kind\": \"dir\","
  "  \"trash\": false, \"other_fs\": false, \"bytes\": 30, \"files\": 1}],"
  " \"ignored\": [], \"markers\": [], \"staging\": [], \"lock_run\": \"" RUN_ID "\"}",
  "{\"now\": 1800000000, \"entries\": ["
  " {\"run_id\": \"20261203-101010-cccc\", \"name\": \"member.etcd-dr-20261203-101010-cccc\","
  "  \"path\": \"/var/lib/etcd/member.etcd-dr-20261203-101010-cccc\", \"kind\": \"dir\","
  "  \"trash\": false, \"other_fs\": false, \"bytes\": 30, \"files\": 1}],"
  " \"ignored\": [], \"markers\": [], \"staging\": [], \"lock_run\": \"" RUN_ID "\"}",
  "{\"now\": 1800000000, \"entries\": ["
  " {\"run_id\": \"20261201-101010-aaaa\", \"name\": \"member.etcd-dr-20261201-101010-aaaa\","
  "  \"path\": \"/data/etcd/member.etcd-dr-20261201-101010-aaaa\", \"kind\": \"dir\","
  "  \"trash\": false, \"other_fs\": false, \"bytes\": 10, \"files\": 1},"
  " {\"run_id\": \"20261203-101010-cccc\", \"name\": \"member.etcd-dr-20261203-101010-cccc\","
  "  \"path\": \"/data/etcd/member.etcd-dr-20261203-101010-cccc\", \"kind\": \"dir\","
  "  \"trash\": false, \"other_fs\": false, \"bytes\": 30, \"files\": 1}],"
  " \"ignored\": [], \"markers\": [\"20261201-101010-aaaa\"], \"staging\": [],"
  " \"lock_run\": \"" RUN_ID "\"}",
};

/* What cmd_prune.c's hooks do, with a record of when they ran. */
struct hooks {
  const struct edr_plan *plan;
  json_t *decisions[3];
  json_t *sent[3];           /* the runs each host's prune request carried */
  unsigned decided;
  size_t listed_at_decide, pruned_at_decide;
};

static bool on_decide(void *arg, const struct edr_run_result *res) {
  struct hooks *k = arg;
  k->decided++;
  k->listed_at_decide = fake_count("m1 < list-aside ok") + fake_count("m2 < list-aside ok") +
                        fake_count("m3 < list-aside ok");
  k->pruned_at_decide = fake_count("m1 > prune") + fake_count("m2 > prune") +
                        fake_count("m3 > prune");
  size_t n = 0;
  for (size_t i = 0; i < k->plan->n_hosts; i++) {
    const struct edr_host_plan *hp = &k->plan->hosts[i];
    for (size_t j = 0; j < hp->n_steps; j++)
      if (hp->steps[j].kind == EDR_STEP_LIST_ASIDE && res->hosts[i].steps[j].result)
        k->decisions[i] = edr_prune_decide(&k->plan->prune, res->hosts[i].steps[j].result);
    n += json_array_size(json_object_get(k->decisions[i], "remove"));
  }
  return n > 0;
}

static int on_fill(void *arg, size_t host, size_t step, json_t *req) {
  struct hooks *k = arg;
  if (k->plan->hosts[host].steps[step].kind != EDR_STEP_PRUNE)
    return 0;
  json_t *runs = json_copy(json_object_get(k->decisions[host], "remove"));
  k->sent[host] = json_incref(runs);
  return json_object_set_new(req, "runs", runs ? runs : json_array()) ? EDR_ENOMEM : 0;
}

static void hooks_release(struct hooks *k) {
  for (int i = 0; i < 3; i++) {
    json_decref(k->decisions[i]);
    json_decref(k->sent[i]);
  }
}

static struct edr_plan *build(bool dry) {
  struct edr_plan_opts o = {.kind = EDR_PLAN_PRUNE, .command = "prune", .run_id = RUN_ID,
                            .snapshot_revision = -1, .check_only = dry,
                            .prune = {.keep = 1, .older_than_s = -1}};
  struct edr_plan *p = NULL;
  struct edr_error err = EDR_ERROR_INIT;
  if (edr_plan_build(spec, &o, &p, &err))
    fprintf(stderr, "plan: %s\n", edr_error_text(&err));
  edr_error_release(&err);
  return p;
}

/* Run P as the command does: with the hooks for --remove, without for the
 * dry run (which decides after the run). */
static int run(const struct edr_plan *p, struct hooks *k, struct edr_run_result *res) {
  struct edr_exec_opts o = {.agent_ops = &fake_agent_ops, .gates = &fake_gates,
                            .agent_path = agent_path, .assume_yes = true};
  if (!p->check_only) {
    o.decide = on_decide;
    o.fill = on_fill;
    o.hook_arg = k;
  }
  k->plan = p;
  for (int i = 0; i < 3; i++)
    fake_rule((struct fake_rule){.host = p->hosts[i].member->name, .what = "list-aside",
                                 .result_json = listings[i], .maybe_unused = true});
  int rc = edr_execute(p, &o, res);
  CHECK(fake_violations() == 0);
  CHECK(rc == res->exit_code);
  for (size_t i = 0; i < p->n_hosts; i++)
    CHECK(fake_count("%s close", p->hosts[i].member->name) == 1);
  return rc;
}

static bool sent_is(json_t *runs, const char *a, const char *b) {
  size_t n = json_array_size(runs);
  return n == (size_t)(a ? 1 : 0) + (b ? 1 : 0) &&
         (!a || !strcmp(json_string_value(json_array_get(runs, 0)), a)) &&
         (!b || !strcmp(json_string_value(json_array_get(runs, 1)), b));
}

static void test_remove(const struct edr_plan *p) {
  struct hooks k = {0};
  struct edr_run_result res;
  fake_reset(p);
  CHECK(run(p, &k, &res) == EDR_EXIT_OK);
  CHECK(k.decided == 1);
  CHECK(k.listed_at_decide == 3); /* after every host listed */
  CHECK(k.pruned_at_decide == 0); /* before any prune */
  /* each host's own choice: m1 its two older runs, m2 nothing, m3 nothing
   * (its older run is unfinished) */
  CHECK(sent_is(k.sent[0], "20261202-101010-bbbb", "20261201-101010-aaaa"));
  CHECK(sent_is(k.sent[1], NULL, NULL));
  CHECK(sent_is(k.sent[2], NULL, NULL));
  for (size_t i = 0; i < 3; i++) {
    const char *m = p->hosts[i].member->name;
    CHECK(fake_find("%s > lock", m) < fake_find("%s > list-aside", m));
    CHECK(fake_find("%s > prune", m) < fake_find("%s > unlock", m));
    CHECK(res.hosts[i].outcome == EDR_HOST_RESTORED);
  }
  hooks_release(&k);
  edr_run_result_release(&res);
}

static void test_listing_fails(const struct edr_plan *p) {
  struct hooks k = {0};
  struct edr_run_result res;
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m2", .what = "list-aside", .act = FAKE_FAIL,
                               .code = EDR_EACCES, .msg = "cannot open directory"});
  CHECK(run(p, &k, &res) == EDR_EXIT_PREFLIGHT);
  CHECK(k.decided == 0);
  CHECK(fake_count("m1 > prune") + fake_count("m2 > prune") + fake_count("m3 > prune") == 0);
  CHECK(fake_count("m1 > op:unlock") == 1 && fake_count("m3 > op:unlock") == 1);
  CHECK(res.hosts[1].status == EDR_EACCES);
  hooks_release(&k);
  edr_run_result_release(&res);
}

static void test_dry(const struct edr_plan *p) {
  struct hooks k = {0};
  struct edr_run_result res;
  fake_reset(p);
  CHECK(run(p, &k, &res) == EDR_EXIT_OK);
  CHECK(fake_count("m1 > lock") == 0 && fake_count("m1 > prune") == 0);
  CHECK(fake_count("m1 > unlock") == 0 && fake_count("m1 > op:unlock") == 0);
  CHECK(fake_count("m1 > list-aside") == 1 && fake_count("m3 > list-aside") == 1);
  for (size_t i = 0; i < 3; i++)
    CHECK(res.hosts[i].outcome != EDR_HOST_PARTIAL);
  hooks_release(&k);
  edr_run_result_release(&res);
}

int main(void) {
  if (fake_setup(dir))
    return 1;
  snprintf(agent_path, sizeof agent_path, "%s/etcd-dr-agent", dir);
  FILE *f = fopen(agent_path, "w");
  if (!f || fputs("agent\n", f) < 0 || fclose(f))
    return 1;
  struct edr_error err = EDR_ERROR_INIT;
  static const char text[] =
      "{\"ssh_user\": \"ops\", \"members\": ["
      " {\"name\": \"m1\", \"peer_urls\": [\"http://10.0.0.1:2380\"]},"
      " {\"name\": \"m2\", \"peer_urls\": [\"http://10.0.0.2:2380\"]},"
      " {\"name\": \"m3\", \"peer_urls\": [\"http://10.0.0.3:2380\"],"
      "  \"data_dir\": \"/data/etcd\", \"wal_dir\": \"/wal/etcd\"}]}";
  if (edr_spec_from_json(NULL, text, NULL, &spec, &err)) {
    fprintf(stderr, "spec: %s\n", edr_error_text(&err));
    edr_error_release(&err);
    return 1;
  }
  struct edr_plan *rm = build(false), *dry = build(true);
  CHECK(rm && dry);
  if (rm && dry) {
    CHECK(rm->kind == EDR_PLAN_PRUNE && dry->kind == EDR_PLAN_PRUNE);
    test_remove(rm);
    test_listing_fails(rm);
    test_dry(dry);
  }
  edr_plan_free(rm);
  edr_plan_free(dry);
  edr_spec_free(spec);
  unlink(agent_path);
  rmdir(dir);
  return t_done("test_engine_prune");
}
