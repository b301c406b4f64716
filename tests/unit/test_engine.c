/*
 * test_engine.c - the engine (edr_execute) on real plans, against fake
 * hosts and gates (fake_agent.h): no root, no network, no lab.
 *
 * Plans are built by the plan layer from a spec written here, as the
 * commands build them.  Every run is checked for what must always hold:
 * the connection's contract kept, the stage barrier (no host sends a
 * request of stage k+1 before every host answered its steps of stage k and
 * stage k's gate passed), every host closed once.  Then each test checks
 * what an operator would: the exit status (docs/exit-codes.md), each
 * host's outcome and failure, and which requests reached which host.
 *
 * Ownership: the spec, the plans and the temporary files are this file's;
 * main() removes the files.
 */
#include "executor.h"
#include "fake_agent.h"
#include "gate.h"
#include "log.h"
#include "plan.h"
#include "playbook.h"
#include "spec.h"
#include "t.h"
#include "t_plan.h"

#include "err.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN_ID "20260101-000000-abcd"

static char dir[] = "/tmp/edr-engine-XXXXXX";
static char snap_path[256], tool_path[256], agent_path[256];
static struct edr_spec *spec;
static char err[1024];

/* ---- fixtures ------------------------------------------------------------ */

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fputs(text, f);
  return fclose(f);
}

/* Three members; m3 has a wal dir and a pushed restore tool, so that every
 * step kind of a restore appears in one plan. */
static int make_spec(void) {
  char text[2048];
  snprintf(text, sizeof text,
           "{\"cluster_name\": \"t\", \"ssh_user\": \"ops\", \"sudo\": true,"
           " \"data_dir\": \"/var/lib/etcd\", \"data_dir_owner\": \"etcd:etcd\","
           " \"stop_command\": [\"stop-etcd\"], \"start_command\": [\"start-etcd\"],"
           " \"env_file\": \"/etc/default/etcd\","
           " \"members\": ["
           "  {\"name\": \"m1\", \"peer_urls\": [\"http://10.0.0.1:2380\"],"
           "   \"client_urls\": [\"http://10.0.0.1:2379\"]},"
           "  {\"name\": \"m2\", \"peer_urls\": [\"http://10.0.0.2:2380\"],"
           "   \"client_urls\": [\"http://10.0.0.2:2379\"]},"
           "  {\"name\": \"m3\", \"peer_urls\": [\"http://10.0.0.3:2380\"],"
           "   \"client_urls\": [\"http://10.0.0.3:2379\"],"
           "   \"data_dir\": \"/data/etcd\", \"wal_dir\": \"/wal/etcd\","
           "   \"restore_tool_push\": \"%s\"}]}",
           tool_path);
  int rc = t_spec_from_json(NULL, text, NULL, &spec, err, sizeof err);
  if (rc)
    fprintf(stderr, "spec: %s\n", err);
  return rc;
}

static enum edr_transfer build_transfer = EDR_TRANSFER_DIRECT; /* the relay's tests change it */
static const char *build_on_host;  /* the snapshot on m1's host at this path */

/* KIND's plan; ASK_ETCD: a check plan that also asks each member (status). */
static struct edr_plan *build_ask(enum edr_plan_kind kind, bool ask_etcd) {
  struct edr_plan_opts o = {.kind = kind, .ask_etcd = ask_etcd, .snapshot = snap_path,
                            .snapshot_size = 5, .snapshot_sha256 = "ab", .snapshot_has_hash = true,
                            .snapshot_revision = 42, .run_id = RUN_ID,
                            .transfer = build_transfer,
                            .snapshot_member = build_on_host ? "m1" : NULL,
                            .snapshot_remote = build_on_host,
                            .tool_sha256 = "cd", .tool_size = 5,
                            .command = kind == EDR_PLAN_ROLLBACK   ? "rollback"
                                       : kind == EDR_PLAN_SNAPSHOT ? "snapshot save"
                                                                   : "restore"};
  struct edr_plan *p = NULL;
  if (t_plan_build(spec, &o, &p, err, sizeof err)) {
    fprintf(stderr, "plan: %s\n", err);
    return NULL;
  }
  return p;
}

static struct edr_plan *build(enum edr_plan_kind kind) { return build_ask(kind, false); }

/* TEST on a restore plan with TRANSFER, the snapshot on m1's host at
 * ON_HOST (or NULL: here). */
static void with_restore(enum edr_transfer transfer, const char *on_host,
                         void (*test)(const struct edr_plan *p)) {
  build_transfer = transfer;
  build_on_host = on_host;
  struct edr_plan *p = build(EDR_PLAN_RESTORE);
  build_transfer = EDR_TRANSFER_DIRECT;
  build_on_host = NULL;
  CHECK(p != NULL);
  if (p)
    test(p);
  edr_plan_free(p);
}

static struct edr_playbook *loaded_pb;  /* a compiled plan borrows it */

static struct edr_plan *build_playbook(const char *text, const char *var) {
  struct edr_playbook *pb = NULL;
  const char *vars[1] = {var};
  if (t_playbook_load("test.json", text, spec, vars, var ? 1 : 0, &pb, err, sizeof err)) {
    fprintf(stderr, "playbook: %s\n", err);
    return NULL;
  }
  struct edr_plan_opts o = {.kind = EDR_PLAN_RUN, .snapshot = snap_path, .snapshot_size = 5,
                            .snapshot_sha256 = "ab", .snapshot_revision = 42,
                            .run_id = RUN_ID, .command = "run"};
  struct edr_plan *p = NULL;
  if (t_playbook_compile(pb, &o, &p, err, sizeof err)) {
    fprintf(stderr, "playbook: %s\n", err);
    edr_playbook_free(pb);
    return NULL;
  }
  edr_playbook_free(loaded_pb);
  loaded_pb = pb;
  return p;
}

static size_t host_of(const struct edr_plan *p, const char *name) {
  for (size_t i = 0; i < p->n_hosts; i++)
    if (!strcmp(p->hosts[i].member->name, name))
      return i;
  return (size_t)-1;
}

static long step_index(const struct edr_plan *p, size_t host, enum edr_step_kind kind) {
  for (size_t j = 0; j < p->hosts[host].n_steps; j++)
    if (p->hosts[host].steps[j].kind == kind)
      return (long)j;
  return -1;
}

/* ---- what holds for every run -------------------------------------------- */

/* No request of stage S while a step of an earlier stage still had to
 * answer; no gate of stage S starts before its steps answered; no request
 * of a later stage before the gate of S passed. */
static void check_barrier(void) {
  size_t n = fake_trace_len();
  for (size_t i = 0; i < n; i++) {
    const struct fake_entry *a = fake_trace(i);
    if (a->stage < 0 || (a->ev != FAKE_REQ && a->ev != FAKE_GATE_START))
      continue;
    for (size_t k = i + 1; k < n; k++) {
      const struct fake_entry *b = fake_trace(k);
      bool bad = b->stage >= 0 &&
                 ((a->ev == FAKE_REQ && b->ev == FAKE_REPLY && b->stage < a->stage) ||
                  (a->ev == FAKE_REQ && b->ev == FAKE_GATE_DONE && b->stage < a->stage) ||
                  (a->ev == FAKE_GATE_START && b->ev == FAKE_REPLY && b->stage == a->stage));
      if (bad) {
        fprintf(stderr, "barrier crossed: [%zu] '%s' before [%zu] '%s'\n", i, a->text, k,
                b->text);
        CHECK(!"the stage barrier holds");
      }
    }
  }
}

static unsigned n_runs;

static int run(const struct edr_plan *p, struct edr_exec_opts *o, struct edr_run_result *res) {
  n_runs++;
  o->agent_ops = &fake_agent_ops;
  if (!o->gates)
    o->gates = &fake_gates;
  o->agent_path = agent_path;
  o->assume_yes = true;
  int rc = edr_execute(p, o, res);
  CHECK(fake_violations() == 0);
  CHECK(fake_unused_rules() == 0);
  CHECK(rc == res->exit_code);
  check_barrier();
  for (size_t i = 0; i < p->n_hosts; i++) {
    const char *name = p->hosts[i].member->name;
    /* a host lost with the lock held is opened again for the cleanup */
    size_t again = fake_count("%s open again", name);
    if (fake_count("%s close", name) != 1 + again) {
      fprintf(stderr, "%s closed %zu times, opened again %zu times\n", name,
              fake_count("%s close", name), again);
      CHECK(!"every connection is closed once");
    }
  }
  return rc;
}

/* Run P with one scripted rule R. */
static int run_rule(const struct edr_plan *p, struct fake_rule r, struct edr_run_result *res) {
  fake_reset(p);
  fake_rule(r);
  struct edr_exec_opts o = {0};
  return run(p, &o, res);
}

/* ---- a host failing at each step ----------------------------------------- */

static const char *const act_names[] = {"ok", "fail", "hang", "lose"};

static bool replied_ok(const char *host, const char *what) {
  return fake_find("%s < %s ok", host, what) >= 0;
}

static bool was_lost(size_t host) {
  for (size_t i = 0; i < fake_trace_len(); i++) {
    const struct fake_entry *e = fake_trace(i);
    if (e->host == (long)host && e->ev == FAKE_REPLY &&
        (strstr(e->text, " lost") || strstr(e->text, " timeout")))
      return true;
  }
  return false;
}

static bool requested_after(long from, size_t host, const char *text) {
  for (size_t i = (size_t)from + 1; i < fake_trace_len(); i++) {
    const struct fake_entry *e = fake_trace(i);
    if (e->host == (long)host && e->ev == FAKE_REQ && !strcmp(e->text, text))
      return true;
  }
  return false;
}

/* Host H fails its step J (ACT); check where every host stands after. */
static void fail_at(const struct edr_plan *p, size_t h, size_t j, enum fake_act act) {
  const struct edr_host_plan *hp = &p->hosts[h];
  const struct edr_step *s = &hp->steps[j];
  const char *name = hp->member->name, *kind = edr_step_kinds[s->kind].name;
  unsigned nth = 1;
  for (size_t k = 0; k < j; k++)
    nth += hp->steps[k].kind == s->kind;
  int code = act == FAKE_FAIL ? EDR_EREMOTE : act == FAKE_LOSE ? EDR_ECONNLOST : EDR_ETIMEDOUT;
  fake_reset(p);
  fake_rule((struct fake_rule){.host = name, .what = kind, .nth = nth, .act = act,
                               .code = code, .msg = "scripted failure"});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  int t0 = t_fail;
  int rc = run(p, &o, &res);

  /* the failure as the engine saw it */
  long at = -1;
  for (size_t i = 0; i < fake_trace_len() && at < 0; i++) {
    const struct fake_entry *e = fake_trace(i);
    if (e->ev == FAKE_REPLY && e->host == (long)h && e->step == (long)j && e->status)
      at = (long)i;
  }
  CHECK(at >= 0);
  enum edr_phase phase = EDR_PHASE_CHECK;
  for (size_t k = 0; k <= s->stage; k++)
    if (p->stages[k].phase > phase)
      phase = p->stages[k].phase;
  bool changed = false;
  for (size_t i = 0; i < fake_trace_len(); i++) {
    const struct fake_entry *e = fake_trace(i);
    changed |= e->ev == FAKE_REQ && e->step >= 0 &&
               edr_step_kinds[p->hosts[e->host].steps[e->step].kind].destructive;
  }

  /* the exit status and the failing host's result */
  CHECK(rc == (changed ? EDR_EXIT_APPLY : EDR_EXIT_PREFLIGHT));
  CHECK(res.hosts[h].status == code);
  CHECK(res.hosts[h].steps[j].started && res.hosts[h].steps[j].finished);
  CHECK(res.hosts[h].steps[j].status == code);
  if (act == FAKE_FAIL)
    CHECK_CONTAINS(res.hosts[h].message, "scripted failure");
  if (act == FAKE_HANG)
    CHECK_CONTAINS(res.hosts[h].message, s->kind == EDR_STEP_CONNECT ? "no ssh connection"
                                                                      : "no answer within");

  /* every host stopped at its next step boundary */
  for (size_t i = (size_t)(at + 1); at >= 0 && i < fake_trace_len(); i++) {
    const struct fake_entry *e = fake_trace(i);
    if (e->ev == FAKE_REQ && e->step >= 0) {
      fprintf(stderr, "a step after the failure: [%zu] %s\n", i, e->text);
      CHECK(!"no host starts a step after a failure");
    }
  }

  for (size_t x = 0; x < p->n_hosts; x++) {
    const struct edr_host_plan *xp = &p->hosts[x];
    const char *xn = xp->member->name;
    long closed = fake_find("%s close", xn);
    bool up = replied_ok(xn, "push-agent") && !was_lost(x) && !(closed >= 0 && closed < at);
    bool locked = replied_ok(xn, "lock");
    bool destroyed = false;
    for (size_t i = 0; i < fake_trace_len(); i++) {
      const struct fake_entry *e = fake_trace(i);
      destroyed |= e->ev == FAKE_REQ && e->host == (long)x && e->step >= 0 &&
                   edr_step_kinds[xp->steps[e->step].kind].destructive;
    }
    /* the per-host outcome: done when every step was, if that changed the
     * host or came before the failure (a check changes nothing) */
    long last = -1;
    for (size_t i = 0; i < fake_trace_len(); i++)
      if (fake_trace(i)->host == (long)x && fake_trace(i)->ev == FAKE_REPLY &&
          fake_trace(i)->step >= 0)
        last = (long)i;
    bool done = p->kind != EDR_PLAN_CHECK && xp->n_steps &&
                res.hosts[x].steps_done == xp->n_steps && (destroyed || last < at);
    enum edr_host_outcome want = done        ? EDR_HOST_RESTORED
                                 : destroyed ? EDR_HOST_PARTIAL
                                             : EDR_HOST_UNTOUCHED;
    CHECK(res.hosts[x].outcome == want);
    if (res.hosts[x].outcome != want)
      fprintf(stderr, "%s: outcome %d, want %d (%zu of %zu steps done)\n", xn,
              res.hosts[x].outcome, want, res.hosts[x].steps_done, xp->n_steps);
    if (x != h)
      CHECK(res.hosts[x].status == 0);
    /* abort cleanup: before apply, what was staged goes and so does the
     * lock, on a host whose lock this run took (elsewhere a staging dir of
     * the run is another coordinator's); after it, a restore keeps both
     * (resume, rollback), a playbook gives the lock back */
    char rm[600], wrm[600];
    snprintf(rm, sizeof rm, "%s > op:remove %s", xn, xp->staging);
    snprintf(wrm, sizeof wrm, "%s > op:remove %s", xn, xp->wal_holder ? xp->wal_holder : "");
    char unlock[64];
    snprintf(unlock, sizeof unlock, "%s > op:unlock", xn);
    /* lost after its lock, before apply: a new connection takes the lock
     * again, then removes the staging and gives the lock back */
    long again = fake_find("%s open again", xn);
    if (!up && locked && was_lost(x) && phase <= EDR_PHASE_PREPARE) {
      long relocked = -1;
      for (size_t i = (size_t)again + 1; again >= 0 && i < fake_trace_len() && relocked < 0; i++)
        if (fake_trace(i)->host == (long)x && fake_trace(i)->ev == FAKE_REQ &&
            strstr(fake_trace(i)->text, "lock") && !strstr(fake_trace(i)->text, "unlock"))
          relocked = (long)i;
      CHECK(again > at);
      CHECK(relocked > again);
      CHECK(requested_after(relocked, x, rm));
      if (xp->wal_holder)
        CHECK(requested_after(relocked, x, wrm));
      CHECK(requested_after(relocked, x, unlock));
    } else if (!up) { /* never started, lost, or done and closed before the failure */
      CHECK(again < 0);
      for (size_t i = (size_t)(at + 1); at >= 0 && i < fake_trace_len(); i++)
        if (fake_trace(i)->host == (long)x && fake_trace(i)->ev == FAKE_REQ)
          CHECK(!"nothing is sent to a host whose connection is gone");
    } else if (phase <= EDR_PHASE_PREPARE) {
      CHECK(requested_after(at, x, rm) == locked);
      if (xp->wal_holder)
        CHECK(requested_after(at, x, wrm) == locked);
      CHECK(requested_after(at, x, unlock) == locked);
    } else {
      CHECK(!requested_after(at, x, rm));
      CHECK(!requested_after(at, x, wrm));
      CHECK(requested_after(at, x, unlock) == (p->kind == EDR_PLAN_RUN && locked));
    }
  }
  if (t_fail != t0) {
    fprintf(stderr, "-- %s (plan kind %d): %s fails at step %zu (%s), %s; exit %d; trace:\n",
            p->kind == EDR_PLAN_RUN ? p->playbook : p->command, p->kind, name, j + 1, kind,
            act_names[act], rc);
    fake_dump();
  }
  edr_run_result_release(&res);
}

static void test_fail_everywhere(const struct edr_plan *p, const char *const *hosts) {
  static const enum fake_act acts[] = {FAKE_FAIL, FAKE_LOSE, FAKE_HANG};
  for (const char *const *hn = hosts; *hn; hn++) {
    size_t h = host_of(p, *hn);
    for (size_t j = 0; j < p->hosts[h].n_steps; j++)
      for (size_t a = 0; a < sizeof acts / sizeof *acts; a++)
        fail_at(p, h, j, acts[a]);
  }
}

/* ---- runs that go well ---------------------------------------------------- */

static void test_restore_ok(const struct edr_plan *p) {
  fake_reset(p);
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  for (size_t x = 0; x < p->n_hosts; x++) {
    CHECK(res.hosts[x].outcome == EDR_HOST_RESTORED);
    CHECK(res.hosts[x].steps_done == p->hosts[x].n_steps);
    /* the host's own record of each apply step */
    CHECK(fake_count("%s > op:mark ", p->hosts[x].member->name) > 0);
    CHECK(fake_find("%s > op:stat", p->hosts[x].member->name) <
          fake_find("%s > start", p->hosts[x].member->name));
  }
  CHECK(fake_count("gate health start") == 1);
  CHECK(fake_count("> op:remove") == 0 && fake_count("> op:unlock") == 0);
  edr_run_result_release(&res);
}

/* A slow host holds every other at the barrier. */
static void test_barrier(const struct edr_plan *p) {
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m3", .what = "restore", .delay_ms = 40});
  fake_rule((struct fake_rule){.host = "m1", .what = "start", .delay_ms = 30});
  fake_rule((struct fake_rule){.host = "m2", .what = "probe", .delay_ms = 20});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  long slow_restore = fake_find("m3 < restore ok");
  for (size_t x = 0; x < p->n_hosts; x++) {
    const char *xn = p->hosts[x].member->name;
    CHECK(fake_find("%s > hold-lock", xn) > slow_restore);
    CHECK(fake_find("%s > push-snapshot", xn) > fake_find("m2 < probe ok"));
    CHECK(fake_find("%s > cleanup", xn) > fake_find("gate health done ok"));
  }
  CHECK(fake_find("gate health start") > fake_find("m1 < start ok"));
  edr_run_result_release(&res);
}

/* The relay (docs/transfer.md): m2 heard m1 in the check, m3 did not hear
 * m2.  Every check is done before any push; m1 is pushed from here and
 * forwards to m2 (its request as planned, with the run's key); m2 listens
 * and forwards to nobody; m3 is pushed from here (no listen). */
static void test_relay_route(const struct edr_plan *p) {
  CHECK(p->relay && p->hosts[1].relay_prev == 0 && p->hosts[2].relay_prev == 1);
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m2", .what = "relay-check",
                               .result_json = "{\"listen\":{\"heard\":true,\"peer\":\"10.0.0.1\"}}"});
  fake_rule((struct fake_rule){.host = "m3", .what = "relay-check",
                               .result_json = "{\"listen\":{\"heard\":false,\"error\":\"nothing\"}}"});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  long first_push = fake_find("m1 > push-snapshot");
  CHECK(first_push >= 0);
  for (size_t x = 0; x < p->n_hosts; x++)
    CHECK(fake_find("%s > relay-check", p->hosts[x].member->name) < first_push);
  CHECK(fake_find("m2 > push-snapshot") < 0 && fake_find("m2 > op:receive") >= 0);
  CHECK(fake_find("m3 > push-snapshot") < 0 && fake_find("m3 > op:receive") >= 0);
  size_t ps = 0;
  while (ps < p->hosts[0].n_steps && p->hosts[0].steps[ps].kind != EDR_STEP_PUSH_SNAPSHOT)
    ps++;
  CHECK(res.hosts[0].steps[ps].bytes == 5);  /* pushed from here */
  CHECK(res.hosts[1].steps[ps].bytes == 0);  /* relayed */
  CHECK(res.hosts[2].steps[ps].bytes == 5);
  edr_run_result_release(&res);
  /* --compress auto weighs the links of the hosts pushed from here (m1, and
   * m3 that m2 cannot reach), not m2's, which gets the bytes from m1; the
   * reason says the agent's push was shared by more hosts */
  struct edr_plan z = *p;
  z.compress = EDR_COMPRESS_AUTO;
  z.compress_sample = (struct edr_compress_sample){.sampled = 1 << 20, .ratio = 0.5,
                                                   .bytes_per_s = 500e6};
  static const struct { double m2, want; } weighed[] = {{1e6, 50.0}, {40e6, 50.0}};
  for (size_t k = 0; k < sizeof weighed / sizeof weighed[0]; k++) {
    fake_reset(&z);
    fake_push_rate(0, 100e6);
    fake_push_rate(1, weighed[k].m2);
    fake_push_rate(2, 50e6);
    fake_rule((struct fake_rule){.host = "m2", .what = "relay-check",
                                 .result_json = "{\"listen\":{\"heard\":true,\"peer\":\"10.0.0.1\"}}"});
    fake_rule((struct fake_rule){.host = "m3", .what = "relay-check",
                                 .result_json = "{\"listen\":{\"heard\":false,\"error\":\"nothing\"}}"});
    CHECK(run(&z, &o, &res) == EDR_EXIT_OK);
    double link = json_real_value(json_object_get(res.compression, "link_mb_per_s"));
    if (link < weighed[k].want - 1e-6 || link > weighed[k].want + 1e-6)
      fprintf(stderr, "compress auto weighed a link of %.1f MB/s, want %.1f\n", link,
              weighed[k].want);
    CHECK(link > weighed[k].want - 1e-6 && link < weighed[k].want + 1e-6);
    CHECK_CONTAINS(json_string_value(json_object_get(res.compression, "reason")),
                   "the snapshot goes from here to 2");
    edr_run_result_release(&res);
  }
  /* --transfer relay: m3 unreachable fails the check; nothing is pushed */
  struct edr_plan strict = *p;
  strict.transfer = EDR_TRANSFER_RELAY;
  fake_reset(&strict);
  fake_rule((struct fake_rule){.host = "m3", .what = "relay-check",
                               .result_json = "{\"listen\":{\"heard\":false,\"error\":\"nothing\"}}"});
  fake_rule((struct fake_rule){.host = "m2", .what = "relay-check", .maybe_unused = true,
                               .result_json = "{\"listen\":{\"heard\":true}}"});
  CHECK(run(&strict, &o, &res) == EDR_EXIT_PREFLIGHT);
  CHECK(res.hosts[2].status == EDR_EHOSTUNREACH);
  CHECK(fake_count("m1 > push-snapshot") == 0 && fake_count("m3 > op:receive") == 0);
  edr_run_result_release(&res);
}

/* Every host after the first heard its predecessor in the check. */
static void heard_all(const struct edr_plan *p) {
  for (size_t x = 1; x < p->n_hosts; x++)
    fake_rule((struct fake_rule){.host = p->hosts[x].member->name, .what = "relay-check",
                                 .result_json = "{\"listen\":{\"heard\":true}}"});
}

/* A snapshot on m1's host: the check reads it there.  A host without room
 * for it is refused once its size is known, every host that lacks it says
 * so, and nothing is pushed; on a resume, a file whose sha-256 is not the
 * one the journal recorded is refused. */
static void test_snapshot_on_host(const struct edr_plan *p) {
  static const char huge[] =
      "{\"bytes\": 1099511627776, \"has_trailer\": true, \"trailer_ok\": true, \"revision\": 7,"
      " \"image_sha256\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
      " \"file_sha256\": \"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"}";
  CHECK(p->snapshot_host == 0 && p->relay);
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m1", .what = "check-snapshot", .result_json = huge});
  heard_all(p);
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_PREFLIGHT);
  for (size_t x = 0; x < p->n_hosts; x++) {
    const char *xn = p->hosts[x].member->name;
    CHECK(res.hosts[x].status == EDR_ENOSPC);
    CHECK_CONTAINS(res.hosts[x].message, "not enough free disk space");
    CHECK(res.hosts[x].outcome == EDR_HOST_UNTOUCHED);
    CHECK(fake_find("%s > push-snapshot", xn) < 0 && fake_find("%s > op:receive", xn) < 0);
    CHECK(fake_find("%s > op:unlock", xn) >= 0);
  }
  edr_run_result_release(&res);

  static const char small[] =
      "{\"bytes\": 1000, \"has_trailer\": true, \"trailer_ok\": true, \"revision\": 7,"
      " \"image_sha256\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
      " \"file_sha256\": \"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"}";
  json_t *rs = json_pack("{s:b, s:{}, s:s}", "apply_started", 0, "hosts",
                         "snapshot_remote_sha256",
                         "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m1", .what = "check-snapshot", .result_json = small});
  fake_rule((struct fake_rule){.host = "m2", .what = "relay-check", .maybe_unused = true,
                               .result_json = "{\"listen\":{\"heard\":true}}"});
  fake_rule((struct fake_rule){.host = "m3", .what = "relay-check", .maybe_unused = true,
                               .result_json = "{\"listen\":{\"heard\":true}}"});
  o.resume = rs;
  CHECK(run(p, &o, &res) == EDR_EXIT_PREFLIGHT);
  CHECK(res.hosts[0].status == EDR_EHASH);
  CHECK_CONTAINS(res.hosts[0].message, "changed since run");
  CHECK(fake_count("m1 > push-snapshot") == 0);
  edr_run_result_release(&res);
  json_decref(rs);
}

/* A start refused: the data dir has no member/snap/db. */
static void test_start_refused(const struct edr_plan *p) {
  struct edr_run_result res;
  struct fake_rule r = {.host = "m2", .what = "op:stat", .result_json = "{\"exists\": false}"};
  CHECK(run_rule(p, r, &res) == EDR_EXIT_APPLY);
  CHECK(fake_find("m2 > start") < 0);
  CHECK_CONTAINS(res.hosts[1].message, "refusing to start etcd");
  CHECK(res.hosts[1].outcome == EDR_HOST_PARTIAL);
  edr_run_result_release(&res);
}

/* ---- resume ---------------------------------------------------------------- */

static json_t *resume_doc(const struct edr_plan *p, bool apply_started,
                          const char *host, const enum edr_step_kind *done, size_t n_done) {
  json_t *hosts = json_object();
  if (host) {
    json_t *a = json_array();
    for (size_t i = 0; i < n_done; i++)
      json_array_append_new(a, json_integer(step_index(p, host_of(p, host), done[i])));
    json_object_set_new(hosts, host, a);
  }
  return json_pack("{s:b, s:o}", "apply_started", apply_started, "hosts", hosts);
}

/* Apply had started: prepare is not redone; the steps the journal (m1) or
 * the host's own marker (m2) lists are skipped; checks always run again. */
static void test_resume_apply(const struct edr_plan *p) {
  static const enum edr_step_kind m1_done[] = {EDR_STEP_HOLD_LOCK, EDR_STEP_STOP};
  fake_reset(p);
  char marker[128];
  snprintf(marker, sizeof marker, "{\"text\": \"%ld hold-lock\\n%ld stop\\n\"}",
           step_index(p, 1, EDR_STEP_HOLD_LOCK), step_index(p, 1, EDR_STEP_STOP));
  fake_rule((struct fake_rule){.host = "m2", .what = "op:read", .result_json = marker});
  json_t *rs = resume_doc(p, true, "m1", m1_done, 2);
  struct edr_exec_opts o = {.resume = rs};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  for (size_t x = 0; x < p->n_hosts; x++) {
    const char *xn = p->hosts[x].member->name;
    CHECK(fake_find("%s > probe", xn) >= 0);
    CHECK(fake_find("%s > lock", xn) >= 0);
    CHECK(fake_find("%s > push-snapshot", xn) < 0);
    CHECK(fake_find("%s > restore", xn) < 0);
    long read = fake_find("%s > op:read", xn);
    CHECK(read >= 0);
    CHECK(read < fake_find("%s > %s", xn, x == 2 ? "hold-lock" : "check-stopped"));
    CHECK(res.hosts[x].steps_done == p->hosts[x].n_steps);
    CHECK(res.hosts[x].outcome == EDR_HOST_RESTORED);
  }
  CHECK(fake_find("m1 > hold-lock") < 0 && fake_find("m1 > stop") < 0);
  CHECK(fake_find("m2 > hold-lock") < 0 && fake_find("m2 > stop") < 0);
  CHECK(fake_find("m3 > stop") >= 0);
  json_decref(rs);
  edr_run_result_release(&res);
}

/* Apply had not started: prepare is redone from scratch, after removing
 * what the first attempt staged. */
static void test_resume_prepare(const struct edr_plan *p) {
  fake_reset(p);
  json_t *rs = resume_doc(p, false, NULL, NULL, 0);
  struct edr_exec_opts o = {.resume = rs};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  for (size_t x = 0; x < p->n_hosts; x++) {
    const char *xn = p->hosts[x].member->name;
    long rm = fake_find("%s > op:remove %s", xn, p->hosts[x].staging);
    CHECK(rm >= 0);
    CHECK(rm < fake_find("%s > push-snapshot", xn));
    CHECK(fake_find("%s > restore", xn) >= 0);
  }
  json_decref(rs);
  edr_run_result_release(&res);
}

/* An install cut short: the journal has m1's move-aside but not its
 * install.  A member dir in place is then the restored one (skip); none in
 * place means the rename did not happen (do it). */
static void test_resume_install(const struct edr_plan *p, bool in_place) {
  static const enum edr_step_kind done[] = {EDR_STEP_HOLD_LOCK, EDR_STEP_STOP,
                                            EDR_STEP_CHECK_STOPPED, EDR_STEP_MOVE_ASIDE};
  fake_reset(p);
  if (!in_place)
    fake_rule((struct fake_rule){
        .host = "m1", .what = "probe",
        .result_json = "{\"tool\": {\"kind\": \"etcdutl\", \"version\": \"3.5.16\","
                       " \"path\": \"/usr/bin/etcdutl\", \"flags\": [\"--skip-hash-check\"]},"
                       " \"data_dir\": {\"exists\": true, \"has_member\": false, \"uid\": 0,"
                       " \"gid\": 0, \"mode\": \"0700\"}, \"free_bytes\": 1099511627776,"
                       " \"free_path\": \"/var/lib/etcd\", \"etcd_running\": false,"
                       " \"staging_exists\": true, \"ports\": []}"});
  json_t *rs = resume_doc(p, true, "m1", done, 4);
  struct edr_exec_opts o = {.resume = rs};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  CHECK((fake_find("m1 > install") >= 0) == !in_place);
  CHECK(fake_find("m1 > ownership") >= 0);
  CHECK(fake_find("m2 > install") >= 0);
  json_decref(rs);
  edr_run_result_release(&res);
}

/* ---- the leader stops last ------------------------------------------------- */

static void test_leader_last(const struct edr_plan *p, long k) {
  fake_reset(p);
  fake_leader(k);
  /* the others' stops are slow: the leader must still wait for them */
  for (size_t x = 0; x < p->n_hosts; x++)
    if ((long)x != k)
      fake_rule((struct fake_rule){.host = p->hosts[x].member->name, .what = "stop",
                                   .delay_ms = 10 + 10 * x});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  const char *ln = p->hosts[k].member->name;
  CHECK_STR(res.leader, ln);
  long leader_stop = fake_find("%s > stop", ln);
  CHECK(leader_stop >= 0);
  for (size_t x = 0; x < p->n_hosts; x++)
    if ((long)x != k) {
      long other = fake_find("%s < stop ok", p->hosts[x].member->name);
      CHECK(other >= 0 && other < leader_stop);
    }
  edr_run_result_release(&res);
}

/* Another member's stop fails: the leader is never stopped. */
static void test_leader_kept_running(const struct edr_plan *p) {
  fake_reset(p);
  fake_leader(0);
  fake_rule((struct fake_rule){.host = "m2", .what = "stop", .act = FAKE_FAIL,
                               .code = EDR_EREMOTE, .msg = "unit failed to stop"});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_APPLY);
  CHECK(fake_find("m1 > stop") < 0);
  CHECK(res.hosts[0].outcome == EDR_HOST_UNTOUCHED);
  CHECK(res.hosts[1].outcome == EDR_HOST_PARTIAL);
  CHECK_CONTAINS(res.hosts[1].message, "unit failed to stop");
  edr_run_result_release(&res);
}

/* The leader is still being asked when a host fails in prepare: the run
 * cancels the ask (no leader recorded), stops nothing and gives the locks
 * back. */
static void test_leader_slow_abort(const struct edr_plan *p) {
  fake_reset(p);
  fake_leader(2);
  fake_leader_delay(60);
  fake_rule((struct fake_rule){.host = "m1", .what = "push-snapshot", .act = FAKE_FAIL,
                               .code = EDR_EHASH, .msg = "sha-256 differs"});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_PREFLIGHT);
  CHECK(res.leader == NULL);
  CHECK(fake_count("> stop") == 0 && fake_count("> hold-lock") == 0);
  for (size_t x = 0; x < p->n_hosts; x++)
    CHECK(fake_find("%s > op:unlock", p->hosts[x].member->name) >= 0);
  edr_run_result_release(&res);
}

/* Interrupted while the others stop: the leader, still waiting for its
 * turn, is never stopped. */
static void test_leader_interrupted(const struct edr_plan *p) {
  fake_reset(p);
  fake_leader(0);
  fake_rule((struct fake_rule){.host = "m2", .what = "stop", .interrupt = true, .delay_ms = 20});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_INTERRUPTED);
  CHECK(fake_find("m1 > stop") < 0);
  CHECK(fake_find("m2 < stop ok") >= 0 && fake_find("m2 > check-stopped") < 0);
  CHECK(res.hosts[0].outcome == EDR_HOST_UNTOUCHED && res.hosts[1].outcome == EDR_HOST_PARTIAL);
  edr_run_result_release(&res);
}

/* Fewer than two members run: there is no leader to keep for last. */
static void test_leader_not_asked(const struct edr_plan *p) {
  fake_reset(p);
  fake_leader(0);
  static const char stopped[] =
      "{\"tool\": {\"kind\": \"etcdutl\", \"version\": \"3.5.16\", \"path\": \"/usr/bin/etcdutl\","
      " \"flags\": [\"--skip-hash-check\", \"--wal-dir\"]}, \"data_dir\": {\"exists\": true,"
      " \"has_member\": true, \"uid\": 0, \"gid\": 0, \"mode\": \"0700\"},"
      " \"free_bytes\": 1099511627776, \"free_path\": \"/\", \"etcd_running\": false,"
      " \"staging_exists\": false, \"ports\": []}";
  fake_rule((struct fake_rule){.host = "m2", .what = "probe", .result_json = stopped});
  fake_rule((struct fake_rule){.host = "m3", .what = "probe", .result_json = stopped});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  CHECK(res.leader == NULL);
  edr_run_result_release(&res);
}

/* ---- gates ------------------------------------------------------------------ */

static const char gates_pb[] =
    "{\"playbook\": 1, \"name\": \"gates\", \"description\": \"a gate, then a stop\","
    " \"steps\": ["
    "  {\"name\": \"wait\", \"kind\": \"wait-healthy\", \"target\": \"all\","
    "   \"retries\": 2, \"retry_delay\": 0},"
    "  {\"name\": \"stop\", \"kind\": \"stop\", \"target\": \"m1\"}]}";

static size_t stage_named(const struct edr_plan *p, const char *name) {
  for (size_t k = 0; k < p->n_stages; k++)
    if (!strcmp(p->stages[k].name, name))
      return k;
  return 0;
}

/* Run P with the gates of KIND failing FAILS times, then doing THEN on
 * every later attempt; INTERRUPT: SIGINT once a gate started. */
static int run_gate(const struct edr_plan *p, enum edr_gate_kind kind, unsigned fails,
                    enum fake_act then, bool interrupt, struct edr_run_result *res) {
  enum fake_act acts[8];
  size_t n = 0;
  while (n < fails && n < 7)
    acts[n++] = FAKE_FAIL;
  acts[n++] = then;
  fake_reset(p);
  fake_gate_script(kind, acts, n);
  fake_gate_interrupt(interrupt);
  struct edr_exec_opts o = {0};
  return run(p, &o, res);
}

/* Fails twice, passes the third time: the run goes on. */
static void test_gate_retried(const struct edr_plan *p) {
  struct edr_run_result res;
  CHECK(run_gate(p, EDR_GATE_WAIT_HEALTHY, 2, FAKE_OK, false, &res) == EDR_EXIT_OK);
  CHECK(fake_count("gate wait-healthy start") == 3);
  CHECK(fake_find("m1 > stop") > fake_find("gate wait-healthy done ok"));
  size_t k = stage_named(p, "wait");
  CHECK(res.gates[k].finished && res.gates[k].status == 0 && res.gates[k].retries == 2);
  edr_run_result_release(&res);
}

/* Fails every time: after its retries the run stops; nothing was changed,
 * the locks are given back. */
static void test_gate_fails(const struct edr_plan *p) {
  struct edr_run_result res;
  CHECK(run_gate(p, EDR_GATE_WAIT_HEALTHY, 0, FAKE_FAIL, false, &res) == EDR_EXIT_PREFLIGHT);
  CHECK(fake_count("gate wait-healthy start") == 3);
  CHECK(fake_find("m1 > stop") < 0);
  for (size_t x = 0; x < p->n_hosts; x++) {
    CHECK(res.hosts[x].outcome == EDR_HOST_UNTOUCHED);
    CHECK((fake_find("%s > op:unlock", p->hosts[x].member->name) >= 0) ==
          replied_ok(p->hosts[x].member->name, "lock"));
  }
  CHECK(replied_ok("m1", "lock"));
  size_t k = stage_named(p, "wait");
  CHECK(res.gates[k].finished && res.gates[k].status == EDR_EUNHEALTHY &&
        res.gates[k].retries == 2);
  CHECK_CONTAINS(res.message, "failed (fake)");
  edr_run_result_release(&res);
}

/* Never finishes; the operator interrupts: the gate is cancelled, not
 * tried again, and the run ends 130 with nothing changed. */
static void test_gate_cancelled(const struct edr_plan *p) {
  struct edr_run_result res;
  uint64_t t0 = edr_now_ms();
  CHECK(run_gate(p, EDR_GATE_WAIT_HEALTHY, 0, FAKE_HANG, true, &res) == EDR_EXIT_INTERRUPTED);
  CHECK(edr_now_ms() - t0 < 5000);
  CHECK(fake_count("gate wait-healthy start") == 1);
  CHECK(fake_find("gate wait-healthy cancel") >= 0);
  CHECK(fake_find("gate wait-healthy done EDR_ECANCELED") > fake_find("gate wait-healthy cancel"));
  CHECK(fake_find("m1 > stop") < 0);
  for (size_t x = 0; x < p->n_hosts; x++)
    CHECK(res.hosts[x].outcome == EDR_HOST_UNTOUCHED);
  edr_run_result_release(&res);
}

/* A gate whose failure is only warned about, then a pause: the run goes
 * on; the gate's result keeps its failure. */
static const char soft_gate_pb[] =
    "{\"playbook\": 1, \"name\": \"soft-gate\", \"description\": \"a gate may fail\","
    " \"steps\": ["
    "  {\"name\": \"wait\", \"kind\": \"wait-healthy\", \"target\": \"all\","
    "   \"on_failure\": \"continue\"},"
    "  {\"name\": \"breathe\", \"kind\": \"pause\", \"seconds\": 0},"
    "  {\"name\": \"stop\", \"kind\": \"stop\", \"target\": \"m1\"}]}";

static void test_gate_soft(const struct edr_plan *p) {
  struct edr_run_result res;
  CHECK(run_gate(p, EDR_GATE_WAIT_HEALTHY, 0, FAKE_FAIL, false, &res) == EDR_EXIT_OK);
  CHECK(fake_count("gate wait-healthy start") == 1);
  CHECK(fake_find("m1 > stop") > fake_find("gate wait-healthy done EDR_EUNHEALTHY"));
  size_t k = stage_named(p, "wait");
  CHECK(res.gates[k].finished && res.gates[k].status == EDR_EUNHEALTHY);
  size_t b = stage_named(p, "breathe");
  CHECK(res.gates[b].finished && res.gates[b].status == 0);
  edr_run_result_release(&res);
}

/* The restore's health gate fails: exit 6, the cleanup stage never runs
 * (the staged copy and the lock stay for rollback). */
static void test_health_fails(const struct edr_plan *p) {
  struct edr_run_result res;
  CHECK(run_gate(p, EDR_GATE_HEALTH, 0, FAKE_FAIL, false, &res) == EDR_EXIT_UNHEALTHY);
  CHECK(fake_count("gate health start") == 1);
  CHECK(fake_count("m1 > cleanup") == 0 && fake_count("> op:remove") == 0);
  CHECK_STR(res.message, "not healthy (fake)");
  edr_run_result_release(&res);
}

/* The restore's health wait is interrupted: cancelled, exit 130. */
static void test_health_cancelled(const struct edr_plan *p) {
  struct edr_run_result res;
  CHECK(run_gate(p, EDR_GATE_HEALTH, 0, FAKE_HANG, true, &res) == EDR_EXIT_INTERRUPTED);
  CHECK(fake_find("gate health cancel") >= 0);
  CHECK(fake_count("> cleanup") == 0);
  edr_run_result_release(&res);
}

/* The health gate asks every member's agent (edr_gate_ask, the route
 * through the hosts): each host gets the question between its steps, the
 * answers reach the gate, and the run goes on to the cleanup.  A host
 * whose connection is lost meanwhile fails its question, and the gate. */
static void test_gate_asks_agents(const struct edr_plan *p) {
  struct edr_run_result res;
  CHECK(run_gate(p, EDR_GATE_HEALTH, 0, FAKE_ASK, false, &res) == EDR_EXIT_OK);
  for (size_t x = 0; x < p->n_hosts; x++) {
    const char *m = p->hosts[x].member->name;
    long q = fake_find("%s > op:etcd-http", m);
    CHECK(q > fake_find("gate health start"));
    CHECK(fake_find("gate ask %s ok", m) > q);
    CHECK(fake_find("%s > cleanup", m) > fake_find("gate health done ok"));
  }
  CHECK(fake_violations() == 0);
  edr_run_result_release(&res);

  enum fake_act ask = FAKE_ASK;
  fake_reset(p);
  fake_gate_script(EDR_GATE_HEALTH, &ask, 1);
  fake_rule((struct fake_rule){.host = "m2", .what = "op:etcd-http", .act = FAKE_LOSE});
  struct edr_exec_opts o = {0};
  CHECK(run(p, &o, &res) != EDR_EXIT_OK);
  CHECK(fake_find("gate ask m2 EDR_ECONNLOST") >= 0);
  CHECK(fake_find("gate ask m1 ok") >= 0);
  CHECK(fake_find("gate health done EDR_EUNHEALTHY") >= 0);
  CHECK(fake_violations() == 0);
  edr_run_result_release(&res);
}

/* Interrupted while a host pushes: every host stops at the next step
 * boundary, and what prepare staged is removed. */
static void test_interrupt_in_prepare(const struct edr_plan *p) {
  struct edr_run_result res;
  struct fake_rule r = {.host = "m2", .what = "push-snapshot", .interrupt = true, .delay_ms = 20};
  CHECK(run_rule(p, r, &res) == EDR_EXIT_INTERRUPTED);
  CHECK(fake_count("m2 > restore") == 0);
  for (size_t x = 0; x < p->n_hosts; x++) {
    CHECK(fake_find("%s > op:remove %s", p->hosts[x].member->name, p->hosts[x].staging) >= 0);
    CHECK(fake_find("%s > op:unlock", p->hosts[x].member->name) >= 0);
    CHECK(fake_find("%s > hold-lock", p->hosts[x].member->name) < 0);
    CHECK(res.hosts[x].outcome == EDR_HOST_UNTOUCHED);
  }
  edr_run_result_release(&res);
}

/* Interrupted while hosts apply: each stops at its next step boundary;
 * nothing staged is removed and the locks stay (resume, rollback). */
static void test_interrupt_in_apply(const struct edr_plan *p) {
  struct edr_run_result res;
  struct fake_rule r = {.host = "m1", .what = "move-aside", .interrupt = true, .delay_ms = 20};
  CHECK(run_rule(p, r, &res) == EDR_EXIT_INTERRUPTED);
  long sig = fake_find("m1 > move-aside");
  for (size_t x = 0; x < p->n_hosts; x++) {
    const char *xn = p->hosts[x].member->name;
    CHECK(fake_find("%s > start", xn) < 0);
    CHECK(fake_count("%s > op:remove", xn) == 0 && fake_count("%s > op:unlock", xn) == 0);
    CHECK(res.hosts[x].outcome == EDR_HOST_PARTIAL);
    CHECK(res.hosts[x].status == 0);
  }
  /* m1's move-aside answered after the signal and was recorded done */
  CHECK(sig >= 0 && fake_find("m1 < move-aside ok") > sig);
  CHECK(res.hosts[0].steps[step_index(p, 0, EDR_STEP_MOVE_ASIDE)].finished);
  CHECK(fake_find("m1 > install") < 0);
  CHECK(fake_count("gate health") == 0);
  edr_run_result_release(&res);
}

/* The abort cleanup of a host never answers: the run still ends, with
 * the failure that started it, and the host's message says which request
 * went unanswered and after how long (not its next step's bound). */
static void test_cleanup_hangs(const struct edr_plan *p) {
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m1", .what = "lock", .act = FAKE_FAIL,
                               .code = EDR_EBUSY, .msg = "locked by run 1"});
  fake_rule((struct fake_rule){.host = "m2", .what = "op:remove", .act = FAKE_HANG});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  uint64_t t0 = edr_now_ms();
  CHECK(run(p, &o, &res) == EDR_EXIT_PREFLIGHT);
  CHECK(edr_now_ms() - t0 < 5000);
  CHECK_CONTAINS(res.hosts[0].message, "locked by run 1");
  CHECK(fake_find("m2 ! op:remove timeout") >= 0);
  CHECK(res.hosts[1].status == EDR_ETIMEDOUT);
  CHECK_CONTAINS(res.hosts[1].message, "cleanup: no answer within 30s");
  CHECK(!res.hosts[1].steps[step_index(p, 1, EDR_STEP_PUSH_SNAPSHOT)].started);
  CHECK(res.hosts[1].outcome == EDR_HOST_UNTOUCHED);
  edr_run_result_release(&res);
}

/* A push that stops making progress fails after the stall timeout, and
 * says so (not the step's hour). */
static void test_push_stalls(const struct edr_plan *p) {
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m2", .what = "push-snapshot", .act = FAKE_HANG});
  struct edr_exec_opts o = {.stall_timeout_ms = 60000};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_PREFLIGHT);
  CHECK(res.hosts[1].status == EDR_ETIMEDOUT);
  CHECK_CONTAINS(res.hosts[1].message, "no progress for 60s");
  CHECK(fake_find("m1 > op:remove %s", p->hosts[0].staging) >= 0);
  edr_run_result_release(&res);
}

/* Rollback of a member the restore never moved (find-old: nothing aside,
 * the member dir in place, etcd running): its data is left alone. */
static void test_rollback_nothing_moved(const struct edr_plan *p) {
  struct edr_run_result res;
  struct fake_rule r = {.host = "m2", .what = "find-old", .result_json = "{\"exists\": false}"};
  CHECK(run_rule(p, r, &res) == EDR_EXIT_OK);
  static const char *const skipped[] = {"stop", "check-stopped", "move-aside", "install",
                                        "start"};
  for (size_t i = 0; i < sizeof skipped / sizeof *skipped; i++) {
    CHECK(fake_find("m2 > %s", skipped[i]) < 0);
    CHECK(fake_find("m1 > %s", skipped[i]) >= 0);
  }
  CHECK(res.hosts[1].status == 0);
  edr_run_result_release(&res);
}

/* status: a member that does not answer its own host's etcdctl is a fact
 * about the member, not a failed host; want_ask skips a host's asks. */
static enum edr_ask want_ask(void *arg, size_t host) {
  (void)arg;
  return host != 2 ? EDR_ASK_RUN : EDR_ASK_SKIP;
}

static void test_status_asks(const struct edr_plan *p) {
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m2", .what = "ask-etcd", .act = FAKE_FAIL,
                               .code = EDR_EREMOTE, .msg = "context deadline exceeded"});
  struct edr_exec_opts o = {.want_ask = want_ask};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  long ask = step_index(p, 1, EDR_STEP_ASK);
  CHECK(ask >= 0 && fake_count("m2 > ask") == 3 && fake_count("m1 > ask") == 3);
  CHECK(fake_count("m3 > ask") == 0);
  if (ask >= 0) {
    const struct edr_step_result *sr = &res.hosts[1].steps[ask];
    CHECK(sr->finished && sr->status == 0);
    CHECK(json_is_false(json_object_get(sr->result, "ok")));
    CHECK(res.hosts[2].steps[ask].started && res.hosts[2].steps[ask].finished);
  }
  for (size_t x = 0; x < p->n_hosts; x++)
    CHECK(res.hosts[x].status == 0 && res.hosts[x].outcome == EDR_HOST_UNTOUCHED);
  edr_run_result_release(&res);
}

/* A host step with retries, and one whose failure is only warned about. */
static const char retry_pb[] =
    "{\"playbook\": 1, \"name\": \"retry\", \"description\": \"retries and on_failure\","
    " \"steps\": ["
    "  {\"name\": \"try\", \"kind\": \"exec\", \"target\": \"m1\", \"argv\": [\"/bin/try\"],"
    "   \"retries\": 2, \"retry_delay\": 0},"
    "  {\"name\": \"soft\", \"kind\": \"exec\", \"target\": \"m2\", \"argv\": [\"/bin/soft\"],"
    "   \"on_failure\": \"continue\"},"
    "  {\"name\": \"after\", \"kind\": \"exec\", \"target\": \"m1\", \"argv\": [\"/bin/after\"]}]}";

static void test_step_retries(const struct edr_plan *p, unsigned fails, bool interrupt) {
  fake_reset(p);
  for (unsigned i = 1; i <= fails; i++)
    fake_rule((struct fake_rule){.host = "m1", .what = "exec", .nth = i, .act = FAKE_FAIL,
                                 .code = EDR_EREMOTE, .msg = "exit status 1",
                                 .interrupt = interrupt && i == 1, .maybe_unused = true});
  fake_rule((struct fake_rule){.host = "m2", .what = "exec", .act = FAKE_FAIL,
                               .code = EDR_EREMOTE, .msg = "exit status 1",
                               .maybe_unused = true});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  int rc = run(p, &o, &res);
  long try = step_index(p, 0, EDR_STEP_EXEC);
  if (interrupt) { /* no retry once the operator interrupted */
    CHECK(rc == EDR_EXIT_INTERRUPTED);
    CHECK(fake_count("m1 > exec") == 1 && fake_count("m2 > exec") == 0);
  } else if (fails <= 2) { /* within its retries */
    CHECK(rc == EDR_EXIT_OK);
    CHECK(fake_count("m1 > exec") == fails + 2);
    CHECK(res.hosts[0].steps[try].status == 0);
    /* on_failure continue: recorded as failed, the run goes on */
    long soft = step_index(p, 1, EDR_STEP_EXEC);
    CHECK(res.hosts[1].steps[soft].finished && res.hosts[1].steps[soft].status == EDR_EREMOTE);
    CHECK(res.hosts[1].status == 0);
    CHECK(fake_find_last("m1 > exec") > fake_find("m2 < exec failed")); /* after */
  } else {
    CHECK(rc == EDR_EXIT_APPLY);
    CHECK(fake_count("m1 > exec") == 3 && fake_count("m2 > exec") == 0);
    CHECK(res.hosts[0].status == EDR_EREMOTE);
    CHECK_CONTAINS(res.hosts[0].message, "exit status 1");
  }
  edr_run_result_release(&res);
}

int main(void) {
  if (fake_setup(dir))
    return 1;
  snprintf(snap_path, sizeof snap_path, "%s/snap.db", dir);
  snprintf(tool_path, sizeof tool_path, "%s/etcdutl", dir);
  snprintf(agent_path, sizeof agent_path, "%s/etcd-dr-agent", dir);
  if (write_file(snap_path, "snap\n") || write_file(tool_path, "tool\n") ||
      write_file(agent_path, "agent\n") || make_spec())
    return 1;
  uint64_t t0 = edr_now_ms();

  struct edr_plan *restore = build(EDR_PLAN_RESTORE);
  struct edr_plan *rollback = build(EDR_PLAN_ROLLBACK);
  CHECK(restore && rollback);
  if (restore && rollback) {
    static const char *const fail_hosts[] = {"m1", "m3", NULL};
    test_restore_ok(restore);
    test_barrier(restore);
    test_start_refused(restore);
    test_fail_everywhere(restore, fail_hosts);
    test_fail_everywhere(rollback, fail_hosts);
    test_rollback_nothing_moved(rollback);
    test_resume_apply(restore);
    test_resume_prepare(restore);
    test_resume_install(restore, true);
    test_resume_install(restore, false);
    test_leader_last(restore, 0);
    test_leader_last(restore, 2);
    test_leader_kept_running(restore);
    test_leader_not_asked(restore);
    test_leader_slow_abort(restore);
    test_leader_interrupted(restore);
    test_health_fails(restore);
    test_gate_asks_agents(restore);
    test_health_cancelled(restore);
    test_interrupt_in_prepare(restore);
    test_interrupt_in_apply(restore);
    test_cleanup_hangs(restore);
    test_push_stalls(restore);
  }
  with_restore(EDR_TRANSFER_AUTO, NULL, test_relay_route);
  with_restore(EDR_TRANSFER_AUTO, "/backups/snap.db", test_snapshot_on_host);

  /* plan --check, and snapshot save --via ssh (one host of the plan, as
   * cmd/snapshot_ssh.c runs it) */
  struct edr_plan *check = build(EDR_PLAN_CHECK), *status = build_ask(EDR_PLAN_CHECK, true);
  CHECK(status != NULL);
  if (status)
    test_status_asks(status);
  edr_plan_free(status);
  struct edr_plan *snap = build(EDR_PLAN_SNAPSHOT);
  CHECK(check && snap);
  if (check && snap) {
    static const char *const check_hosts[] = {"m1", "m3", NULL}, *const one[] = {"m2", NULL};
    test_fail_everywhere(check, check_hosts);
    struct edr_plan m2 = *snap;
    m2.hosts = &snap->hosts[1];
    m2.n_hosts = 1;
    test_fail_everywhere(&m2, one);
  }
  edr_plan_free(check);
  edr_plan_free(snap);

  struct edr_plan *gates = build_playbook(gates_pb, NULL);
  CHECK(gates != NULL);
  if (gates) {
    test_gate_retried(gates);
    test_gate_fails(gates);
    test_gate_cancelled(gates);
  }
  edr_plan_free(gates);

  struct edr_plan *soft = build_playbook(soft_gate_pb, NULL);
  CHECK(soft != NULL);
  if (soft)
    test_gate_soft(soft);
  edr_plan_free(soft);

  struct edr_plan *retry = build_playbook(retry_pb, NULL);
  CHECK(retry != NULL);
  if (retry) {
    test_step_retries(retry, 0, false);
    test_step_retries(retry, 2, false);
    test_step_retries(retry, 3, false);
    test_step_retries(retry, 3, true);
  }
  edr_plan_free(retry);

  char path[600];
  snprintf(path, sizeof path, "%s/replace-member.json", EDR_PLAYBOOK_DIR);
  FILE *f = fopen(path, "r");
  char text[8192] = "";
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  text[n] = '\0';
  if (f)
    fclose(f);
  struct edr_plan *replace = build_playbook(text, "member=m2");
  CHECK(replace != NULL);
  if (replace) {
    static const char *const fail_hosts[] = {"m1", "m2", NULL};
    test_fail_everywhere(replace, fail_hosts);
  }
  edr_plan_free(replace);

  edr_plan_free(restore);
  edr_plan_free(rollback);
  edr_playbook_free(loaded_pb);
  edr_spec_free(spec);
  unlink(snap_path);
  unlink(tool_path);
  unlink(agent_path);
  rmdir(dir);
  printf("test_engine: %u runs in %llu ms\n", n_runs, (unsigned long long)(edr_now_ms() - t0));
  return t_done("test_engine");
}
