/*
 * test_engine_fake.c - the engine run with a fake agent connection
 * (edr_exec_opts.agent_ops, transport/agent_conn.h): no SSH, no root, no
 * lab.  It shows the seam works end to end and is the place for the
 * engine's tests: a host failing at a step, what the run's result and exit
 * status say, and that every host's connection is closed at the end.
 *
 * The fake answers each operation from the loop (a zero timer), as the
 * real connection does: connect succeeds or fails as the scenario says,
 * start_agent answers the hello with the agent's real sha-256, and every
 * request gets the scenario's reply for its "op".
 */
#include "executor.h"
#include "outcome.h"
#include "plan.h"
#include "spec.h"
#include "snapfile.h"
#include "err.h"
#include "t.h"
#include "t_plan.h"

#include <stdlib.h>
#include <string.h>

static char err[1024];

struct scenario {
  int connect_status;          /* 0, or what connect fails with */
  const char *connect_host;    /* ... on this host only; NULL: every host */
  const char *fail_op;         /* the op whose reply says ok:false */
  int fail_errno;
  char agent_sha256[65];
  unsigned opened, closed, requests;
};
static struct scenario sc;

struct edr_agent_conn {
  uv_timer_t timer;
  const struct edr_agent_events *ev;
  void *arg;
  enum { F_NONE, F_CONNECT, F_HELLO, F_REQUEST, F_CLOSE } pending;
  json_t *req;
  bool dropped;
  const char *name;            /* the host's member name */
};

static void fire(uv_timer_t *t) {
  struct edr_agent_conn *c = t->data;
  int what = c->pending;
  c->pending = F_NONE;
  if (what == F_CONNECT) {
    c->ev->hostkey(c->arg, "SHA256:fake", "ssh-ed25519", false);
    if (sc.connect_status && (!sc.connect_host || !strcmp(sc.connect_host, c->name)))
      c->ev->failed(c->arg, sc.connect_status, "fake: ssh authentication failed", true);
    else
      c->ev->connected(c->arg);
  } else if (what == F_HELLO) {
    json_t *reply = json_pack("{s:b, s:{s:s, s:i}}", "ok", 1, "result", "sha256",
                              sc.agent_sha256, "uid", 0);
    c->ev->reply(c->arg, 0, reply);
    json_decref(reply);
  } else if (what == F_REQUEST) {
    const char *op = json_string_value(json_object_get(c->req, "op"));
    bool fail = sc.fail_op && op && !strcmp(op, sc.fail_op);
    bool probe = op && !strcmp(op, "probe");
    json_t *reply = fail ? json_pack("{s:b, s:{s:i, s:s}}", "ok", 0, "error", "errno",
                                     sc.fail_errno, "message", "fake: refused")
                    : probe ? json_pack("{s:b, s:{s:{s:s, s:s, s:s, s:[]}, s:{s:b}, s:I}}",
                                        "ok", 1, "result", "tool", "kind", "etcdutl",
                                        "version", "3.5.16", "path", "/usr/bin/etcdutl",
                                        "flags", "data_dir", "exists", 1, "free_bytes",
                                        (json_int_t)1 << 40)
                            : json_pack("{s:b, s:{}}", "ok", 1, "result");
    json_decref(c->req);
    c->req = NULL;
    c->ev->reply(c->arg, fail ? sc.fail_errno : 0, reply);
    json_decref(reply);
  } else if (what == F_CLOSE) {
    sc.closed++;
    c->ev->closed(c->arg);
  }
}

static void later(struct edr_agent_conn *c, int what) {
  c->pending = what;
  uv_timer_start(&c->timer, fire, 0, 0);
}

static struct edr_agent_conn *f_open(uv_loop_t *loop, const struct edr_agent_target *t,
                                     const struct edr_agent_events *ev, void *arg) {
  struct edr_agent_conn *c = calloc(1, sizeof(*c));
  c->ev = ev;
  c->arg = arg;
  c->name = t->name;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  sc.opened++;
  return c;
}
static void f_connect(struct edr_agent_conn *c) { later(c, F_CONNECT); }
static void f_start_agent(struct edr_agent_conn *c, json_t *hello) {
  json_decref(hello);
  later(c, F_HELLO);
}
static void f_request(struct edr_agent_conn *c, struct edr_agent_request *r) {
  if (r->payload_fd >= 0)
    close(r->payload_fd);
  c->req = r->req;
  sc.requests++;
  later(c, F_REQUEST);
}
static void f_arm(struct edr_agent_conn *c, uint64_t ms) {}
static void f_idle(struct edr_agent_conn *c) {}
static void f_drop(struct edr_agent_conn *c) { c->dropped = true; }
static void f_close(struct edr_agent_conn *c) { later(c, F_CLOSE); }
static bool f_usable(const struct edr_agent_conn *c) { return !c->dropped; }
static const char *f_stderr_last(struct edr_agent_conn *c) { return ""; }
static uint64_t f_fetched(const struct edr_agent_conn *c, const struct edr_error **out) {
  static const struct edr_error none = EDR_ERROR_INIT;
  *out = &none;
  return 0;
}
static void f_free(struct edr_agent_conn *c) {
  if (c)
    json_decref(c->req);
  free(c);
}

static const struct edr_agent_ops fake_ops = {
  .open = f_open, .connect = f_connect, .start_agent = f_start_agent,
  .request = f_request, .arm = f_arm, .idle = f_idle, .drop = f_drop,
  .close = f_close, .usable = f_usable, .stderr_last = f_stderr_last,
  .fetched = f_fetched, .free = f_free,
};

/* A read-only check plan of 3 members (connect, push-agent, probe, ...),
 * run with EO's policy and hooks (its agent fields are filled here). */
static int run_check_with(struct edr_run_result *res, const char *agent, bool ask_etcd,
                          struct edr_exec_opts eo) {
  struct edr_spec *s = NULL;
  CHECK(t_spec_from_initial_cluster(
            "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380",
            NULL, &s, err, sizeof err) == 0);
  struct edr_plan_opts po = {.check_only = true, .snapshot_revision = -1,
                             .run_id = "20260101-000000-fake", .ask_etcd = ask_etcd};
  struct edr_plan *p = NULL;
  CHECK(t_plan_build(s, &po, &p, err, sizeof err) == 0);
  eo.agent_path = agent;
  eo.agent_ops = &fake_ops;
  eo.assume_yes = true;
  int code = p ? edr_execute(p, &eo, res) : -1;
  edr_plan_free(p);
  edr_spec_free(s);
  return code;
}

static int run_check(struct edr_run_result *res, const char *agent) {
  return run_check_with(res, agent, false, (struct edr_exec_opts){0});
}

/* status's way of asking (edr_exec_opts.on_loop, want_ask): the answers
 * come in on the run's loop after a while; until then a host reaching an
 * ask-etcd step is parked.  Then only m1 is asked through its host. */
struct asking {
  uv_timer_t timer;
  struct edr_exec_run *run;
  bool in;
  unsigned later, asked, skipped;
};

static void answers_in(uv_timer_t *t) {
  struct asking *a = t->data;
  a->in = true;
  uv_close((uv_handle_t *)t, NULL);
  edr_exec_ask_again(a->run);
}

static void on_loop(void *arg, uv_loop_t *loop, struct edr_exec_run *run) {
  struct asking *a = arg;
  a->run = run;
  uv_timer_init(loop, &a->timer);
  a->timer.data = a;
  uv_timer_start(&a->timer, answers_in, 50, 0);
}

static enum edr_ask want_ask(void *arg, size_t host) {
  struct asking *a = arg;
  if (!a->in) {
    a->later++;
    return EDR_ASK_LATER;
  }
  if (host == 0) {
    a->asked++;
    return EDR_ASK_RUN;
  }
  a->skipped++;
  return EDR_ASK_SKIP;
}

int main(int argc, char **argv) {
  /* Any readable file stands for the agent binary: the engine only hashes it. */
  const char *agent = argv[0];
  struct edr_snapfile sf;
  CHECK(edr_snapfile_check(agent, &sf) == 0);
  memcpy(sc.agent_sha256, sf.file_sha256, sizeof sc.agent_sha256);

  /* Every host fails to authenticate: nothing changed, exit 4, each host
   * says why, every connection opened is closed. */
  struct edr_run_result res;
  sc.connect_status = EDR_EAUTH;
  int code = run_check(&res, agent);
  CHECK(code == EDR_EXIT_PREFLIGHT);
  CHECK(res.n_hosts == 3);
  for (size_t i = 0; i < res.n_hosts; i++) {
    CHECK(res.hosts[i].status == EDR_EAUTH);
    CHECK(res.hosts[i].outcome == EDR_HOST_UNTOUCHED);
    CHECK(res.hosts[i].steps_done == 0);
    CHECK_CONTAINS(res.hosts[i].message, "fake: ssh authentication failed");
    CHECK_STR(res.hosts[i].hostkey_fp, "SHA256:fake");
  }
  CHECK(sc.opened == 3 && sc.closed == 3);
  edr_run_result_release(&res);

  /* Connected and the agent started, then the probe is refused on every
   * host: two steps done each, the probe failed with the agent's errno. */
  sc = (struct scenario){.fail_op = "probe", .fail_errno = EDR_EIO};
  memcpy(sc.agent_sha256, sf.file_sha256, sizeof sc.agent_sha256);
  code = run_check(&res, agent);
  CHECK(code == EDR_EXIT_PREFLIGHT);
  for (size_t i = 0; i < res.n_hosts; i++) {
    CHECK(res.hosts[i].status == EDR_EIO);
    CHECK(res.hosts[i].steps_done == 2);
    CHECK(res.hosts[i].steps[2].started && res.hosts[i].steps[2].status == EDR_EIO);
    CHECK_CONTAINS(res.hosts[i].message, "fake: refused");
  }
  CHECK(sc.requests >= 3);
  CHECK(sc.opened == 3 && sc.closed == 3);
  edr_run_result_release(&res);

  /* Keep-going (status): m2 cannot be reached; m1 and m3 still do every
   * check, and each host's result says how it went. */
  sc = (struct scenario){.connect_status = EDR_EAUTH, .connect_host = "m2"};
  memcpy(sc.agent_sha256, sf.file_sha256, sizeof sc.agent_sha256);
  code = run_check_with(&res, agent, false, (struct edr_exec_opts){.keep_going = true});
  CHECK(code == EDR_EXIT_PREFLIGHT);
  CHECK(res.hosts[1].status == EDR_EAUTH && res.hosts[1].steps_done == 0);
  for (size_t i = 0; i < res.n_hosts; i += 2) {
    CHECK(res.hosts[i].status == 0);
    CHECK(res.hosts[i].steps_done == res.hosts[i].n_steps);
  }
  CHECK(sc.opened == 3 && sc.closed == 3);
  edr_run_result_release(&res);

  /* Without it, the same failure stops the others before their last step. */
  sc = (struct scenario){.connect_status = EDR_EAUTH, .connect_host = "m2"};
  memcpy(sc.agent_sha256, sf.file_sha256, sizeof sc.agent_sha256);
  code = run_check(&res, agent);
  CHECK(code == EDR_EXIT_PREFLIGHT);
  CHECK(res.hosts[0].steps_done < res.hosts[0].n_steps);
  edr_run_result_release(&res);

  /* Parked at the ask-etcd steps until the answers are in, on one loop. */
  sc = (struct scenario){0};
  memcpy(sc.agent_sha256, sf.file_sha256, sizeof sc.agent_sha256);
  struct asking a = {0};
  code = run_check_with(&res, agent, true,
                        (struct edr_exec_opts){.keep_going = true, .on_loop = on_loop,
                                               .want_ask = want_ask, .want_ask_arg = &a});
  CHECK(code == 0);
  CHECK(a.later >= 1);
  CHECK(a.asked >= 1 && a.skipped >= 2);
  for (size_t i = 0; i < res.n_hosts; i++)
    CHECK(res.hosts[i].status == 0);
  CHECK(sc.opened == 3 && sc.closed == 3);
  edr_run_result_release(&res);
  return t_done("test_engine_fake");
}
