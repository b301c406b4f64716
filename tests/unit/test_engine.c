/*
 * test_engine.c - the engine (edr_execute) on the plans the commands build
 * (restore, rollback, plan --check, snapshot save --via ssh, the shipped
 * replace-member playbook), against fake hosts (fake_agent.h): no root, no
 * network, no lab.  A host failing, hanging or lost at each step of each
 * plan; runs that go well (the barrier, the relay's route, a snapshot on a
 * host); resuming a run; the leader stopped last.  Every run is checked for
 * what must always hold (run(), t_engine.h).  Then each test checks what an
 * operator would: the exit status (docs/exit-codes.md), each host's outcome
 * and failure, and which requests reached which host.  Gates, interrupts,
 * timeouts and retries are test_engine_gates.c's.
 */
#include "t_engine.h"

/* ---- a host failing at each step ----------------------------------------- */

static const char *const act_names[] = {"ok", "fail", "hang", "lose"};

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

/* The trace's entry where host H's step J answered with a failure, or -1. */
static long failed_reply(size_t h, size_t j) {
  for (size_t i = 0; i < fake_trace_len(); i++) {
    const struct fake_entry *e = fake_trace(i);
    if (e->ev == FAKE_REPLY && e->host == (long)h && e->step == (long)j && e->status)
      return (long)i;
  }
  return -1;
}

/* Optional host H (plan.h: it only joined so that its member can be asked
 * through it) fails its check step J (ACT): it is left out, said in its
 * result, and the run goes on without it; nothing more is sent to it, no
 * lock of its is pinned or given back, and every other host does all its
 * steps. */
static void left_out_at(const struct edr_plan *p, size_t h, size_t j, enum fake_act act,
                        int code) {
  const struct edr_host_plan *hp = &p->hosts[h];
  const char *name = hp->member->name;
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  int t0 = t_fail;
  int rc = run(p, &o, &res);
  long at = failed_reply(h, j);
  CHECK(at >= 0);
  CHECK(rc == EDR_EXIT_OK);
  CHECK(res.hosts[h].left_out);
  CHECK(res.hosts[h].status == 0);
  CHECK(res.hosts[h].outcome == EDR_HOST_UNTOUCHED);
  CHECK(res.hosts[h].steps[j].finished && res.hosts[h].steps[j].status == code);
  if (act == FAKE_FAIL)
    CHECK_CONTAINS(res.hosts[h].message, "scripted failure");
  for (size_t i = (size_t)(at + 1); at >= 0 && i < fake_trace_len(); i++)
    if (fake_trace(i)->host == (long)h && fake_trace(i)->ev == FAKE_REQ) {
      fprintf(stderr, "sent to %s after it was left out: %s\n", name, fake_trace(i)->text);
      CHECK(!"nothing is sent to a host left out");
    }
  CHECK(fake_find("%s > hold-lock", name) < 0);
  CHECK(fake_find("%s > unlock", name) < 0);
  for (size_t x = 0; x < p->n_hosts; x++) {
    if (x == h)
      continue;
    CHECK(!res.hosts[x].left_out && res.hosts[x].status == 0);
    CHECK(res.hosts[x].steps_done == p->hosts[x].n_steps);
  }
  for (size_t k = 0; k < p->n_stages; k++)
    if (p->stages[k].gate != EDR_GATE_NONE)
      CHECK(res.gates[k].finished && res.gates[k].status == 0);
  if (t_fail != t0) {
    fprintf(stderr, "-- %s: optional %s fails at step %zu (%s), %s; exit %d; trace:\n",
            p->playbook, name, j + 1, edr_step_kinds[hp->steps[j].kind].name, act_names[act],
            rc);
    fake_dump();
  }
  edr_run_result_release(&res);
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
  if (hp->optional && p->stages[s->stage].phase == EDR_PHASE_CHECK) {
    left_out_at(p, h, j, act, code);
    return;
  }
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  int t0 = t_fail;
  int rc = run(p, &o, &res);

  long at = failed_reply(h, j);  /* the failure as the engine saw it */
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
    char unlock[64], unlock_step[64];
    snprintf(unlock, sizeof unlock, "%s > op:unlock", xn);
    snprintf(unlock_step, sizeof unlock_step, "%s > unlock", xn);
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
      /* a host that only joined to be asked may have given its lock back
       * by its own cleanup step before the failing host's failed */
      if (p->kind == EDR_PLAN_RUN && locked)
        CHECK(requested_after(at, x, unlock) ||
              (phase == EDR_PHASE_CLEANUP && requested_after(-1, x, unlock_step)));
      else
        CHECK(!requested_after(at, x, unlock));
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

/* replace-member m2 under auto: m1 and m3 only join so that the quorum
 * wait can ask their members through them.  m1's SSH port refused: the
 * run goes on without m1 and replaces m2; m2's refused: the run is refused
 * in the check as before, every host as it was. */
static void test_optional_connect(const struct edr_plan *p) {
  size_t m1 = host_of(p, "m1"), m2 = host_of(p, "m2");
  CHECK(p->hosts[m1].optional && !p->hosts[m2].optional);
  struct edr_run_result res;
  const char *refused = "cannot connect to 10.0.0.1 port 22: connection refused";
  int rc = run_rule(p, (struct fake_rule){.host = "m1", .what = "connect", .act = FAKE_FAIL,
                                          .code = EDR_ECONNREFUSED, .msg = refused}, &res);
  CHECK(rc == EDR_EXIT_OK);
  CHECK(res.hosts[m1].left_out && res.hosts[m1].outcome == EDR_HOST_UNTOUCHED);
  CHECK_CONTAINS(res.hosts[m1].message, refused);
  CHECK(fake_count("m1 > ") == 1 && fake_find("m1 > connect") >= 0);  /* nothing after */
  CHECK(res.hosts[m2].outcome == EDR_HOST_RESTORED);
  CHECK(replied_ok("m2", "start") && replied_ok("m3", "unlock"));
  edr_run_result_release(&res);

  rc = run_rule(p, (struct fake_rule){.host = "m2", .what = "connect", .act = FAKE_FAIL,
                                      .code = EDR_ECONNREFUSED, .msg = refused}, &res);
  CHECK(rc == EDR_EXIT_PREFLIGHT);
  CHECK(!res.hosts[m2].left_out && res.hosts[m2].status == EDR_ECONNREFUSED);
  CHECK(!res.hosts[m1].left_out && res.hosts[m1].status == 0);
  for (size_t x = 0; x < p->n_hosts; x++)
    CHECK(res.hosts[x].outcome == EDR_HOST_UNTOUCHED);
  CHECK(fake_find("m2 > stop") < 0);
  for (size_t x = 0; x < p->n_hosts; x++)  /* a lock taken is given back */
    CHECK(!replied_ok(p->hosts[x].member->name, "lock") ||
          fake_find("%s > op:unlock", p->hosts[x].member->name) >= 0);
  edr_run_result_release(&res);
}

/* An optional host whose lock another run holds is not left out: that run
 * may be changing the cluster, so this one is refused before any change. */
static void test_optional_lock_busy(const struct edr_plan *p) {
  size_t m1 = host_of(p, "m1"), m2 = host_of(p, "m2");
  CHECK(p->hosts[m1].optional);
  struct edr_run_result res;
  const char *held = "lock '/var/lib/etcd/.etcd-dr-lock' is held by run 20261205-000000-abcd";
  int rc = run_rule(p, (struct fake_rule){.host = "m1", .what = "lock", .act = FAKE_FAIL,
                                          .code = EDR_EBUSY, .msg = held}, &res);
  CHECK(rc == EDR_EXIT_PREFLIGHT);
  CHECK(!res.hosts[m1].left_out && res.hosts[m1].status == EDR_EBUSY);
  CHECK_CONTAINS(res.hosts[m1].message, held);
  for (size_t x = 0; x < p->n_hosts; x++)
    CHECK(res.hosts[x].outcome == EDR_HOST_UNTOUCHED);
  CHECK(fake_find("m2 > stop") < 0 && res.hosts[m2].outcome == EDR_HOST_UNTOUCHED);
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

/* The index of the push-snapshot step in P's hosts' plans. */
static size_t push_step(const struct edr_plan *p) {
  size_t ps = 0;
  while (ps < p->hosts[0].n_steps && p->hosts[0].steps[ps].kind != EDR_STEP_PUSH_SNAPSHOT)
    ps++;
  return ps;
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
  size_t ps = push_step(p);
  CHECK(res.hosts[0].steps[ps].bytes == 5);  /* pushed from here */
  CHECK(res.hosts[1].steps[ps].bytes == 0);  /* relayed */
  CHECK(res.hosts[2].steps[ps].bytes == 5);
  edr_run_result_release(&res);
  /* --compress auto shares the link the three agents' pushes measured (at
   * once, a second each) among the hosts pushed from here: m1, and m3 that
   * m2 cannot reach (m2 gets the bytes from m1); the reason says the agent's
   * push was shared by more hosts */
  struct edr_plan z = *p;
  z.compress = EDR_COMPRESS_AUTO;
  z.compress_sample = (struct edr_compress_sample){.sampled = 1 << 20, .ratio = 0.5,
                                                   .bytes_per_s = 500e6};
  static const struct { double m2, want; } weighed[] = {{1e6, 75.5}, {40e6, 95.0}};
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

/* --compress auto without the relay: the snapshot goes from here to all
 * three at once.  The agents' pushes ran one after another (handshakes that
 * end at different times), each alone on the link at 10 MB/s: each host's
 * share is a third of that, not what one push reached alone.  Then a host
 * behind a slower path: m2's push shared its first 100 ms with m1's, so its
 * 0.15 MB went in 200 ms of its own, 0.75 MB/s, under half a third of the
 * link (2.15 MB in 350 ms), and bounds the share; with 0.25 MB (1.25 MB/s,
 * more than half of 2.14) it is not told apart from the link. */
static void test_compress_link_shared(const struct edr_plan *p) {
  struct edr_plan z = *p;
  z.compress = EDR_COMPRESS_AUTO;
  z.compress_sample = (struct edr_compress_sample){.sampled = 1 << 20, .ratio = 0.5,
                                                   .bytes_per_s = 500e6};
  static const struct {
    unsigned m2_start, m2_end;
    uint64_t m2_bytes;
    double want_share, want_total;
    const char *slowest;
  } cases[] = {{100, 200, 1000000, 10.0 / 3, 10.0, ")"},
               {0, 250, 150000, 0.75, 2.15 / 0.35, "; the path to m2 is slower)"},
               {0, 250, 250000, 2.25 / 0.35 / 3, 2.25 / 0.35, ")"}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    struct edr_exec_opts o = {0};
    struct edr_run_result res;
    fake_reset(&z);
    fake_push_window(0, 0, 100, 1000000);
    fake_push_window(1, cases[k].m2_start, cases[k].m2_end, cases[k].m2_bytes);
    fake_push_window(2, 300, 400, 1000000);
    CHECK(run(&z, &o, &res) == EDR_EXIT_OK);
    double link = json_real_value(json_object_get(res.compression, "link_mb_per_s"));
    if (link < cases[k].want_share - 1e-6 || link > cases[k].want_share + 1e-6)
      fprintf(stderr, "case %zu: compress auto weighed a share of %.3f MB/s, want %.3f\n", k,
              link, cases[k].want_share);
    CHECK(link > cases[k].want_share - 1e-6 && link < cases[k].want_share + 1e-6);
    char in_all[160];
    snprintf(in_all, sizeof in_all, "the agent went to 3 hosts at %.1f MB/s in all; the "
             "snapshot goes from here to 3 at once%s", cases[k].want_total, cases[k].slowest);
    CHECK_CONTAINS(json_string_value(json_object_get(res.compression, "reason")), in_all);
    edr_run_result_release(&res);
  }
}

/* m3 cannot listen on its relay port (another process holds it): its
 * relay-listen says so before m2's relay-check is sent, so m2 does not
 * knock on it (no "forward": the request is no longer the plan's as is) and
 * m3 does not listen; m3 gets a direct push, and the run says why. */
static void test_relay_port_taken(const struct edr_plan *p) {
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  fake_reset(p);
  fake_rule((struct fake_rule){.host = "m3", .what = "op:relay-listen",
                               .result_json = "{\"listening\":false,\"error\":\"cannot listen on "
                                              "port 20001: address already in use\"}"});
  fake_rule((struct fake_rule){.host = "m2", .what = "op:relay-listen",
                               .result_json = "{\"listening\":true}"});
  fake_rule((struct fake_rule){.host = "m2", .what = "op:relay-check",
                               .result_json = "{\"listen\":{\"heard\":true}}"});
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  CHECK(fake_find("m3 > op:relay-listen") >= 0 && fake_find("m2 > op:relay-listen") >= 0);
  CHECK(fake_find("m1 > op:relay-listen") < 0);               /* the head listens to nobody */
  CHECK(fake_find("m2 > op:relay-check") > fake_find("m3 > op:relay-listen"));  /* no forward */
  CHECK(fake_find("m2 > relay-check") < 0);
  CHECK(fake_find("m3 > op:relay-check") >= 0);                 /* no listen */
  CHECK(fake_find("m1 > relay-check") > fake_find("m2 > op:relay-listen"));  /* m1 waited */
  CHECK(fake_find("m3 > push-snapshot") < 0 && fake_find("m3 > op:receive") >= 0);
  size_t ps = push_step(p);
  CHECK(res.hosts[1].steps[ps].bytes == 0);  /* m2 relayed from m1 */
  CHECK(res.hosts[2].steps[ps].bytes == 5);  /* m3 pushed from here */
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

/* The others' SLOW steps take a while: the leader's stop must still wait
 * for them.  SLOW "stop", or "check-stopped": a stop that only asks for it
 * (kubeadm's: the manifest moved away) and the wait until etcd has exited,
 * which the leader's stop waits for too. */
static void test_leader_last(const struct edr_plan *p, long k, const char *slow) {
  fake_reset(p);
  fake_leader(k);
  for (size_t x = 0; x < p->n_hosts; x++)
    if ((long)x != k)
      fake_rule((struct fake_rule){.host = p->hosts[x].member->name, .what = slow,
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
      long other = fake_find("%s < %s ok", p->hosts[x].member->name, slow);
      CHECK(other >= 0 && other < leader_stop);
    }
  edr_run_result_release(&res);
}

/* The lookup found no leader while members run: the run says so, and
 * that they stop in parallel (the order rests on it). */
static void test_leader_lost(const struct edr_plan *p) {
  fake_reset(p);
  fake_leader(-1);
  char path[] = "/tmp/edr-test-engine-XXXXXX";
  int fd = mkstemp(path), saved = dup(2);
  CHECK(fd >= 0 && saved >= 0);
  fflush(stderr);
  dup2(fd, 2);
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  int rc = run(p, &o, &res);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  CHECK(rc == EDR_EXIT_OK);
  CHECK(res.leader == NULL);
  char said[8192] = "";
  ssize_t n = pread(fd, said, sizeof said - 1, 0);
  said[n > 0 ? n : 0] = '\0';
  CHECK_CONTAINS(said, "the leader of the running cluster could not be found: the members "
                       "stop in parallel");
  close(fd);
  unlink(path);
  edr_run_result_release(&res);
}

/* The lookup refuses m2 (its member cannot be checked the way the run
 * asks it): the run fails m2 with the lookup's words before any stop, on
 * any host, whether the hosts went on meanwhile (DELAY) or not. */
static void test_leader_refused(const struct edr_plan *p, unsigned delay_ms) {
  fake_reset(p);
  fake_leader(0);
  fake_leader_delay(delay_ms);
  fake_leader_refuse(1);
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_PREFLIGHT);
  for (size_t i = 0; i < p->n_hosts; i++) {
    CHECK(fake_find("%s > stop", p->hosts[i].member->name) < 0);
    CHECK(res.hosts[i].outcome == EDR_HOST_UNTOUCHED);
  }
  CHECK(res.hosts[1].status == EDR_ETIMEDOUT);
  CHECK_CONTAINS(res.hosts[1].message, "its client URL gives no answer from here");
  edr_run_result_release(&res);
}

/* A probe that found the member's etcd stopped. */
static const char probe_stopped[] =
    "{\"tool\": {\"kind\": \"etcdutl\", \"version\": \"3.5.16\", \"path\": \"/usr/bin/etcdutl\","
    " \"flags\": [\"--skip-hash-check\", \"--wal-dir\"]}, \"data_dir\": {\"exists\": true,"
    " \"has_member\": true, \"uid\": 0, \"gid\": 0, \"mode\": \"0700\"},"
    " \"free_bytes\": 1099511627776, \"free_path\": \"/\", \"etcd_running\": false,"
    " \"staging_exists\": false, \"ports\": []}";

/* The lookup is told what each host's own probe found (it weighs a member
 * refused from here against it, cmd/gates.c): m3's etcd stopped, the
 * others running. */
static void test_leader_told_running(const struct edr_plan *p) {
  fake_reset(p);
  fake_leader(0);
  fake_rule((struct fake_rule){.host = "m3", .what = "probe", .result_json = probe_stopped});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  CHECK(fake_leader_saw_running(0) == 1 && fake_leader_saw_running(1) == 1);
  CHECK(fake_leader_saw_running(2) == 0);
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
  fake_rule((struct fake_rule){.host = "m2", .what = "probe", .result_json = probe_stopped});
  fake_rule((struct fake_rule){.host = "m3", .what = "probe", .result_json = probe_stopped});
  struct edr_exec_opts o = {0};
  struct edr_run_result res;
  CHECK(run(p, &o, &res) == EDR_EXIT_OK);
  CHECK(res.leader == NULL);
  edr_run_result_release(&res);
}

int main(void) {
  struct edr_plan *restore = NULL, *rollback = NULL;
  if (t_engine_setup(&restore, &rollback))
    return 1;
  if (restore && rollback) {
    static const char *const fail_hosts[] = {"m1", "m3", NULL};
    test_restore_ok(restore);
    test_barrier(restore);
    test_start_refused(restore);
    test_fail_everywhere(restore, fail_hosts);
    test_fail_everywhere(rollback, fail_hosts);
    test_resume_apply(restore);
    test_resume_prepare(restore);
    test_resume_install(restore, true);
    test_resume_install(restore, false);
    test_leader_last(restore, 0, "stop");
    test_leader_last(restore, 2, "stop");
    test_leader_last(restore, 1, "check-stopped");
    test_leader_lost(restore);
    test_leader_kept_running(restore);
    test_leader_refused(restore, 0);
    test_leader_refused(restore, 50);
    test_leader_not_asked(restore);
    test_leader_told_running(restore);
    test_leader_slow_abort(restore);
    test_leader_interrupted(restore);
    test_compress_link_shared(restore);
  }
  with_restore(EDR_TRANSFER_AUTO, NULL, test_relay_route);
  with_restore(EDR_TRANSFER_AUTO, NULL, test_relay_port_taken);
  with_restore(EDR_TRANSFER_AUTO, "/backups/snap.db", test_snapshot_on_host);

  /* plan --check, and snapshot save --via ssh (one host of the plan, as
   * cmd/snapshot_ssh.c runs it) */
  struct edr_plan *check = build(EDR_PLAN_CHECK);
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
    test_optional_connect(replace);
    test_optional_lock_busy(replace);
    test_fail_everywhere(replace, fail_hosts);
  }
  edr_plan_free(replace);

  t_engine_teardown("test_engine", restore, rollback);
  return t_done("test_engine");
}
