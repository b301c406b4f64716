/*
 * test_engine_gates.c - the engine (edr_execute) between and around steps,
 * against fake hosts and gates (fake_agent.h): no root, no network, no lab.
 * Gates retried, failing, cancelled and soft; the health gate failing or
 * cancelled and asking the agents; SIGINT in prepare and apply; a cleanup
 * that hangs and a push that stalls (bounded in time); a rollback where
 * nothing moved; status asking each member; a step's retries.  Every run is
 * checked for what must always hold (run(), t_engine.h), then for the exit
 * status (docs/exit-codes.md), each host's outcome and which requests
 * reached which host.  Failures at each step are test_engine.c's.
 */
#include "t_engine.h"

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

/* status: a member that does not answer its own host's agent is a fact
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
  CHECK(ask >= 0 && fake_count("m2 > ask") == EDR_QUERY__COUNT &&
        fake_count("m1 > ask") == EDR_QUERY__COUNT);
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
  struct edr_plan *restore = NULL, *rollback = NULL;
  if (t_engine_setup(&restore, &rollback))
    return 1;
  if (restore && rollback) {
    test_rollback_nothing_moved(rollback);
    test_health_fails(restore);
    test_gate_asks_agents(restore);
    test_health_cancelled(restore);
    test_interrupt_in_prepare(restore);
    test_interrupt_in_apply(restore);
    test_cleanup_hangs(restore);
    test_push_stalls(restore);
  }

  /* plan --check that also asks each member (status) */
  struct edr_plan *status = build_ask(EDR_PLAN_CHECK, true);
  CHECK(status != NULL);
  if (status)
    test_status_asks(status);
  edr_plan_free(status);

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

  t_engine_teardown("test_engine_gates", restore, rollback);
  return t_done("test_engine_gates");
}
