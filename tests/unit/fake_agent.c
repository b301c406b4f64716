/*
 * fake_agent.c - the engine's hosts and gates, scripted (fake_agent.h).
 *
 * Each connection knows its host by the target's member name and each
 * request's step by comparing it with that host's plan: same "op", the
 * same value for every field the plan wrote (the engine fills in the lock
 * holder and argv[0] of a restore, so those are left out).  A request that
 * matches no step is the engine's own (abort cleanup, marker, start check)
 * and is traced as "op:NAME".
 */
#include "fake_agent.h"

#include "err.h"
#include "log.h"
#include "snapfile.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_TRACE = 8192, MAX_RULES = 64, MAX_COUNTS = 512, TIME_DIVISOR = 100000 };

static const struct edr_plan *plan;
enum { MAX_HOSTS = 16 };
static unsigned opened[MAX_HOSTS];  /* connections opened per host */
static struct edr_push_window push_windows[MAX_HOSTS];
static struct fake_entry trace[MAX_TRACE];
static size_t n_trace;
static struct fake_rule rules[MAX_RULES];
static bool rule_used[MAX_RULES];
static size_t n_rules;
static struct { long host; char what[64]; unsigned n; } counts[MAX_COUNTS];
static size_t n_counts;
static unsigned violations;

static struct {
  enum fake_act acts[EDR_GATE__COUNT][8];
  size_t n[EDR_GATE__COUNT];
  unsigned attempts[EDR_GATE__COUNT];
  bool interrupt, interrupted;
  long leader;
  long leader_refuse;
  unsigned leader_delay_ms;
  bool leader_started;
  bool etcd_running[MAX_HOSTS];  /* edr_leader_etcd_running, as the lookup saw it */
  uv_timer_t timer;
  bool timer_init;
  struct edr_gate *g;
  int status;
  unsigned asks_out;         /* FAKE_ASK: questions not answered yet */
} gates;

static void add(enum fake_ev ev, long host, long step, long stage, int status,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void add(enum fake_ev ev, long host, long step, long stage, int status,
                const char *fmt, ...) {
  if (n_trace == MAX_TRACE) {
    fprintf(stderr, "fake_agent: trace full\n");
    violations++;
    return;
  }
  struct fake_entry *e = &trace[n_trace++];
  *e = (struct fake_entry){.ev = ev, .host = host, .step = step, .stage = stage,
                           .status = status};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->text, sizeof e->text, fmt, ap);
  va_end(ap);
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fake_agent: contract broken: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  violations++;
}

void fake_reset(const struct edr_plan *p) {
  plan = p;
  memset(opened, 0, sizeof opened);
  memset(push_windows, 0, sizeof push_windows);
  n_trace = n_rules = n_counts = 0;
  violations = 0;
  memset(&gates, 0, sizeof gates);
  gates.leader = -1;
  gates.leader_refuse = -1;
}

void fake_rule(struct fake_rule r) {
  if (n_rules < MAX_RULES) {
    rule_used[n_rules] = false;
    rules[n_rules++] = r;
  }
  else
    violation("too many rules");
}

void fake_gate_script(enum edr_gate_kind kind, const enum fake_act *acts, size_t n) {
  if (n > 8)
    n = 8;
  memcpy(gates.acts[kind], acts, n * sizeof *acts);
  gates.n[kind] = n;
}

void fake_gate_interrupt(bool on) { gates.interrupt = on; }
void fake_leader(long host) { gates.leader = host; }
void fake_leader_delay(unsigned delay_ms) { gates.leader_delay_ms = delay_ms; }
void fake_leader_refuse(long host) { gates.leader_refuse = host; }
int fake_leader_saw_running(long host) {
  if (!gates.leader_started || host < 0 || host >= MAX_HOSTS)
    return -1;
  return gates.etcd_running[host];
}
void fake_push_window(long host, unsigned start_ms, unsigned end_ms, uint64_t bytes) {
  if (host >= 0 && host < MAX_HOSTS)
    push_windows[host] = (struct edr_push_window){
        (uint64_t)start_ms * 1000000, (uint64_t)end_ms * 1000000, bytes};
}
void fake_push_rate(long host, double bytes_per_s) {
  fake_push_window(host, 1000, 2000, (uint64_t)bytes_per_s);
}

size_t fake_trace_len(void) { return n_trace; }
const struct fake_entry *fake_trace(size_t i) { return i < n_trace ? &trace[i] : NULL; }
unsigned fake_violations(void) { return violations; }

unsigned fake_unused_rules(void) {
  unsigned n = 0;
  for (size_t i = 0; i < n_rules; i++)
    if (!rule_used[i] && !rules[i].maybe_unused) {
      fprintf(stderr, "fake_agent: no request matched the rule for %s '%s'\n", rules[i].host,
              rules[i].what);
      n++;
    }
  return n;
}

void fake_dump(void) {
  for (size_t i = 0; i < n_trace; i++)
    fprintf(stderr, "  %4zu %s\n", i, trace[i].text);
}

static long find(bool last, const char *fmt, va_list ap) {
  char want[256];
  vsnprintf(want, sizeof want, fmt, ap);
  long found = -1;
  for (size_t i = 0; i < n_trace; i++)
    if (!strcmp(trace[i].text, want)) {
      found = (long)i;
      if (!last)
        break;
    }
  return found;
}

long fake_find(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  long i = find(false, fmt, ap);
  va_end(ap);
  return i;
}

long fake_find_last(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  long i = find(true, fmt, ap);
  va_end(ap);
  return i;
}

size_t fake_count(const char *fmt, ...) {
  char want[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(want, sizeof want, fmt, ap);
  va_end(ap);
  size_t n = 0;
  for (size_t i = 0; i < n_trace; i++)
    n += !strncmp(trace[i].text, want, strlen(want));
  return n;
}

/* The rule for the Nth time HOST is asked WHAT, or NULL (answer ok). */
static const struct fake_rule *rule_for(long host, const char *what) {
  size_t k;
  for (k = 0; k < n_counts; k++)
    if (counts[k].host == host && !strcmp(counts[k].what, what))
      break;
  if (k == n_counts) {
    if (n_counts == MAX_COUNTS) {
      violation("too many distinct requests");
      return NULL;
    }
    counts[n_counts].host = host;
    snprintf(counts[n_counts].what, sizeof counts[n_counts].what, "%s", what);
    counts[n_counts++].n = 0;
  }
  unsigned nth = ++counts[k].n;
  const char *name = plan->hosts[host].member->name;
  for (size_t i = 0; i < n_rules; i++)
    if (!strcmp(rules[i].host, name) && !strcmp(rules[i].what, what) &&
        (!rules[i].nth || rules[i].nth == nth)) {
      rule_used[i] = true;
      return &rules[i];
    }
  return NULL;
}

/* ---- the connection ------------------------------------------------------ */

enum pending { P_NONE, P_CONNECTED, P_REPLY, P_FAILED, P_CLOSED };

struct edr_agent_conn {
  uv_loop_t *loop;
  const struct edr_agent_target *t;
  const struct edr_agent_events *ev;
  void *arg;
  long host;
  char sha256[65];
  bool busy, agent_up, lost, closing, closed;
  bool again;                /* the host's connection opened again (the abort's
                                cleanup): its requests belong to no stage */
  uv_timer_t deliver, deadline;
  uv_idle_t now;             /* an answer without delay: on the loop's next turn */
  enum pending pending;
  int status;
  json_t *reply;
  uint64_t payload;
  long step;                 /* what is under way, for the trace */
  char what[64];
  size_t cursor;             /* the plan step matched last */
};

static const char *host_name(const struct edr_agent_conn *c) {
  return plan->hosts[c->host].member->name;
}

static long stage_of(const struct edr_agent_conn *c, long step) {
  return step >= 0 && !c->again ? (long)plan->hosts[c->host].steps[step].stage : -1;
}

static long step_of_kind(const struct edr_agent_conn *c, enum edr_step_kind kind) {
  const struct edr_host_plan *hp = &plan->hosts[c->host];
  for (size_t j = 0; j < hp->n_steps; j++)
    if (hp->steps[j].kind == kind)
      return (long)j;
  return -1;
}

/* Does REQ carry what the plan's request P says?  SKIP0: argv[0] is the
 * engine's to choose (a restore's tool, found by the probe). */
static bool same_request(json_t *p, json_t *req, bool skip0) {
  const char *k;
  json_t *v;
  json_object_foreach(p, k, v) {
    if (!strcmp(k, "holder"))
      continue;
    json_t *got = json_object_get(req, k);
    if (!strcmp(k, "argv")) {
      if (json_array_size(got) < json_array_size(v))
        return false;
      for (size_t i = skip0 ? 1 : 0; i < json_array_size(v); i++)
        if (!json_equal(json_array_get(v, i), json_array_get(got, i)))
          return false;
      continue;
    }
    if (!got || !json_equal(v, got))
      return false;
  }
  return true;
}

static long match_step(struct edr_agent_conn *c, json_t *req) {
  const struct edr_host_plan *hp = &plan->hosts[c->host];
  for (size_t pass = 0; pass < 2; pass++)
    for (size_t j = pass ? 0 : c->cursor; j < (pass ? c->cursor : hp->n_steps); j++)
      if (hp->steps[j].request &&
          same_request(hp->steps[j].request, req, hp->steps[j].kind == EDR_STEP_RESTORE)) {
        c->cursor = j;
        return (long)j;
      }
  return -1;
}

static json_t *default_result(const struct edr_agent_conn *c, long step, const char *op) {
  if (step >= 0) {
    switch (plan->hosts[c->host].steps[step].kind) {
    case EDR_STEP_PROBE:
      return json_pack(
          "{s:{s:s, s:s, s:s, s:[s,s,s,s]}, s:{s:b, s:b, s:i, s:i, s:s, s:i, s:i},"
          " s:I, s:s, s:b, s:b, s:[]}",
          "tool", "kind", "etcdutl", "version", "3.5.16", "path", "/usr/local/bin/etcdutl",
          "flags", "--skip-hash-check", "--wal-dir", "--bump-revision", "--mark-compacted",
          "data_dir", "exists", 1, "has_member", 1, "uid", 0, "gid", 0, "mode", "0700",
          "revision", 100, "db_bytes", 4096,
          "free_bytes", (json_int_t)1 << 40, "free_path", "/var/lib/etcd",
          "etcd_running", 1, "staging_exists", 0, "ports");
    case EDR_STEP_FIND_OLD:
      return json_pack("{s:b}", "exists", 1);
    default:
      return json_object();
    }
  }
  if (!strcmp(op, "read"))
    return json_pack("{s:s}", "text", "");
  if (!strcmp(op, "stat"))
    return json_pack("{s:b}", "exists", 1);
  return json_object();
}

static void deliver_cb(uv_timer_t *t);
static void deliver_now(struct edr_agent_conn *c);

/* Answer what is under way after DELAY_MS, as RULE says. */
static void answer(struct edr_agent_conn *c, const struct fake_rule *rule, json_t *result) {
  enum fake_act act = rule ? rule->act : FAKE_OK;
  if (rule && rule->interrupt)
    raise(SIGINT); /* libuv's handler: the run sees it on its next turn */
  c->pending = P_NONE;
  switch (act) {
  case FAKE_OK:
    c->status = 0;
    if (rule && rule->result_json) {
      json_decref(result);
      result = json_loads(rule->result_json, 0, NULL);
      if (!result)
        violation("%s: result_json of '%s' is not JSON", host_name(c), c->what);
    }
    c->reply = json_pack("{s:b, s:o}", "ok", 1, "result", result ? result : json_object());
    c->pending = !strcmp(c->what, "connect") ? P_CONNECTED : P_REPLY;
    break;
  case FAKE_FAIL:
    json_decref(result);
    c->status = rule->code;
    if (!strcmp(c->what, "connect") || !strcmp(c->what, "push-agent")) {
      c->reply = json_pack("{s:s}", "message", rule->msg);
      c->pending = P_FAILED;
      break;
    }
    c->reply = json_pack("{s:b, s:{s:s, s:i, s:s}, s:{}}", "ok", 0, "error", "code",
                         edr_err_name(rule->code), "errno", rule->code, "message", rule->msg,
                         "result");
    c->pending = P_REPLY;
    break;
  case FAKE_HANG:
    json_decref(result);
    return; /* the deadline (arm) ends it */
  case FAKE_ASK: /* a gate's act, never a request's */
  case FAKE_LOSE:
    json_decref(result);
    c->status = EDR_ECONNLOST;
    c->reply = json_pack("{s:s}", "message", "connection lost (fake)");
    c->pending = P_FAILED;
    c->lost = true;
    break;
  }
  if (rule && rule->delay_ms)
    uv_timer_start(&c->deliver, deliver_cb, rule->delay_ms, 0);
  else
    deliver_now(c);
}

static void deliver(struct edr_agent_conn *c) {
  enum pending p = c->pending;
  json_t *reply = c->reply;
  c->pending = P_NONE;
  c->reply = NULL;
  const char *name = host_name(c);
  long stage = stage_of(c, c->step);
  switch (p) {
  case P_NONE:
    break;
  case P_CONNECTED:
    c->busy = false;
    add(FAKE_REPLY, c->host, c->step, stage, 0, "%s < connect ok", name);
    c->ev->hostkey(c->arg, "SHA256:fake", "ssh-ed25519", false);
    c->ev->connected(c->arg);
    break;
  case P_REPLY:
    c->busy = false;
    if (!strcmp(c->what, "push-agent") && !c->status)
      c->agent_up = true;
    if (c->payload)
      c->ev->bytes(c->arg, c->payload, c->payload);
    add(FAKE_REPLY, c->host, c->step, stage, c->status, "%s < %s %s", name, c->what,
        c->status ? "failed" : "ok");
    c->ev->reply(c->arg, c->status, reply);
    break;
  case P_FAILED:
    c->busy = false;
    add(FAKE_REPLY, c->host, c->step, stage, c->status, "%s < %s %s", name, c->what,
        c->lost ? "lost" : "failed");
    c->ev->failed(c->arg, c->status, json_string_value(json_object_get(reply, "message")),
                  c->lost);
    break;
  case P_CLOSED:
    c->closing = false;
    c->closed = true;
    c->ev->closed(c->arg);
    break;
  }
  json_decref(reply);
}

static void deliver_cb(uv_timer_t *t) { deliver(t->data); }

static void idle_cb(uv_idle_t *i) {
  uv_idle_stop(i);
  deliver(i->data);
}

/* Not a zero timer: libuv runs a timer started from a timer's callback in
 * the same pass, so a chain of answers would never let the loop see a
 * signal, as a real connection always does. */
static void deliver_now(struct edr_agent_conn *c) { uv_idle_start(&c->now, idle_cb); }

static void deadline_cb(uv_timer_t *t) {
  struct edr_agent_conn *c = t->data;
  if (!c->busy || c->pending != P_NONE || c->closing || c->closed)
    return;
  add(FAKE_REPLY, c->host, c->step, stage_of(c, c->step), EDR_ETIMEDOUT, "%s ! %s timeout",
      host_name(c), c->what);
  c->ev->timeout(c->arg);
}

static struct edr_agent_conn *fake_open(uv_loop_t *loop, const struct edr_agent_target *t,
                                        const struct edr_agent_events *ev, void *arg) {
  struct edr_agent_conn *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->loop = loop;
  c->t = t;
  c->ev = ev;
  c->arg = arg;
  c->host = c->step = -1;
  for (size_t i = 0; i < plan->n_hosts; i++)
    if (!strcmp(plan->hosts[i].member->name, t->name))
      c->host = (long)i;
  if (c->host < 0) {
    violation("a connection for '%s', which is not in the plan", t->name);
    free(c);
    return NULL;
  }
  if (c->host < MAX_HOSTS && opened[c->host]++) {
    c->again = true;
    add(FAKE_REOPEN, c->host, -1, -1, 0, "%s open again", t->name);
  }
  struct edr_snapfile sf;
  const char *agent = t->agents[EDR_ARCH_X86_64].path ? t->agents[EDR_ARCH_X86_64].path
                                                      : t->agents[EDR_ARCH_AARCH64].path;
  if (agent && edr_snapfile_check(agent, &sf) == 0)
    memcpy(c->sha256, sf.file_sha256, sizeof c->sha256);
  uv_timer_init(loop, &c->deliver);
  uv_timer_init(loop, &c->deadline);
  uv_idle_init(loop, &c->now);
  c->deliver.data = c->deadline.data = c->now.data = c;
  return c;
}

/* The checks every operation shares; false when it must not go on. */
static bool may_start(struct edr_agent_conn *c, const char *what) {
  if (c->closing || c->closed) {
    violation("%s: %s after close()", host_name(c), what);
    return false;
  }
  if (c->busy)
    violation("%s: %s while '%s' is under way", host_name(c), what, c->what);
  if (c->lost)
    violation("%s: %s after the connection was lost or dropped", host_name(c), what);
  return true;
}

static void fake_connect(struct edr_agent_conn *c) {
  if (!may_start(c, "connect"))
    return;
  c->busy = true;
  c->payload = 0;
  c->step = c->again ? -1 : step_of_kind(c, EDR_STEP_CONNECT);
  snprintf(c->what, sizeof c->what, "connect");
  add(FAKE_REQ, c->host, c->step, stage_of(c, c->step), 0, "%s > connect", host_name(c));
  answer(c, rule_for(c->host, "connect"), NULL);
}

static void fake_start_agent(struct edr_agent_conn *c, json_t *hello) {
  json_decref(hello);
  if (!may_start(c, "start_agent"))
    return;
  c->busy = true;
  c->payload = 0;
  c->step = c->again ? -1 : step_of_kind(c, EDR_STEP_PUSH_AGENT);
  snprintf(c->what, sizeof c->what, "push-agent");
  add(FAKE_REQ, c->host, c->step, stage_of(c, c->step), 0, "%s > push-agent", host_name(c));
  answer(c, rule_for(c->host, "push-agent"),
         json_pack("{s:s, s:i}", "sha256", c->sha256, "uid", 0));
}

static void fake_request(struct edr_agent_conn *c, struct edr_agent_request *r) {
  json_t *req = r->req;
  if (r->payload_fd >= 0)
    close(r->payload_fd);
  if (!may_start(c, "request")) {
    json_decref(req);
    return;
  }
  if (!c->agent_up)
    violation("%s: a request before the agent started", host_name(c));
  const char *op = json_string_value(json_object_get(req, "op"));
  long j = match_step(c, req);
  c->busy = true;
  c->payload = r->payload_fd >= 0 ? r->payload_size : 0;
  c->step = c->again ? -1 : j;  /* the cleanup's lock is no step of the plan */
  if (j >= 0) {
    snprintf(c->what, sizeof c->what, "%s",
             edr_step_kinds[plan->hosts[c->host].steps[j].kind].name);
    add(FAKE_REQ, c->host, c->step, stage_of(c, j), 0, "%s > %s", host_name(c), c->what);
  } else {
    snprintf(c->what, sizeof c->what, "op:%s", op ? op : "?");
    const char *arg = json_string_value(json_object_get(req, "path"));
    const char *line = json_string_value(json_object_get(req, "line"));
    if (!strcmp(c->what, "op:mark"))
      add(FAKE_REQ, c->host, -1, -1, 0, "%s > op:mark %s", host_name(c), line ? line : "");
    else if (!strcmp(c->what, "op:remove"))
      add(FAKE_REQ, c->host, -1, -1, 0, "%s > op:remove %s", host_name(c), arg ? arg : "");
    else
      add(FAKE_REQ, c->host, -1, -1, 0, "%s > %s", host_name(c), c->what);
  }
  answer(c, rule_for(c->host, c->what), default_result(c, j, op ? op : ""));
  json_decref(req);
}

static void fake_arm(struct edr_agent_conn *c, uint64_t ms) {
  uv_timer_start(&c->deadline, deadline_cb, ms / TIME_DIVISOR + 1, 0);
}

static void fake_idle(struct edr_agent_conn *c) {
  uv_timer_stop(&c->deadline);
  if (c->pending != P_CLOSED) {
    uv_timer_stop(&c->deliver);
    uv_idle_stop(&c->now);
    c->pending = P_NONE;
    json_decref(c->reply);
    c->reply = NULL;
  }
  c->busy = false;
}

static void fake_drop(struct edr_agent_conn *c) { c->lost = true; }

static void fake_close(struct edr_agent_conn *c) {
  if (c->closing || c->closed)
    return; /* repeated calls are ignored (agent_conn.h) */
  uv_timer_stop(&c->deadline);
  json_decref(c->reply);
  c->reply = NULL;
  c->busy = false;
  c->closing = true;
  add(FAKE_CLOSE, c->host, -1, -1, 0, "%s close", host_name(c));
  uv_timer_stop(&c->deliver);
  c->pending = P_CLOSED;
  deliver_now(c);
}

static bool fake_usable(const struct edr_agent_conn *c) {
  return c->agent_up && !c->lost && !c->closing && !c->closed;
}

static const char *fake_stderr_last(struct edr_agent_conn *c) {
  (void)c;
  return "";
}

static uint64_t fake_fetched(const struct edr_agent_conn *c, const struct edr_error **err) {
  static const struct edr_error none = EDR_ERROR_INIT;
  (void)c;
  *err = &none;
  return 0;
}

static bool fake_push_window_of(const struct edr_agent_conn *c, struct edr_push_window *out) {
  if (c->host < 0 || c->host >= MAX_HOSTS || !push_windows[c->host].end_ns)
    return false;
  *out = push_windows[c->host];
  return true;
}

static void fake_free(struct edr_agent_conn *c) {
  if (!c)
    return;
  if (!c->closed)
    violation("%s: freed without being closed", host_name(c));
  json_decref(c->reply);
  free(c);
}

const struct edr_agent_ops fake_agent_ops = {
  .open = fake_open,
  .connect = fake_connect,
  .start_agent = fake_start_agent,
  .request = fake_request,
  .arm = fake_arm,
  .idle = fake_idle,
  .drop = fake_drop,
  .close = fake_close,
  .usable = fake_usable,
  .stderr_last = fake_stderr_last,
  .fetched = fake_fetched,
  .free = fake_free,
  .push_window = fake_push_window_of,
};

/* ---- gates --------------------------------------------------------------- */

static long gate_stage(const struct edr_gate *g) { return (long)(g->stage - plan->stages); }

static void gate_cb(uv_timer_t *t) {
  (void)t;
  struct edr_gate *g = gates.g;
  int status = gates.status;
  gates.g = NULL;
  const char *name = edr_gate_names[g->stage->gate];
  add(FAKE_GATE_DONE, -1, -1, gate_stage(g), status, "gate %s done %s", name,
      status ? edr_err_name(status) : "ok");
  if (!status)
    edr_gate_done(g, 0, NULL);
  else if (status == EDR_ECANCELED)
    edr_gate_done(g, status, "%s: cancelled", name);
  else
    edr_gate_done(g, status, "%s: failed (fake)", name);
}

/* FAKE_ASK: each answer; the gate ends when the last one is in. */
static void gate_answer(void *arg, int status, json_t *reply) {
  long host = (long)(intptr_t)arg;
  add(FAKE_GATE_DONE, host, -1, gate_stage(gates.g), status, "gate ask %s %s",
      plan->hosts[host].member->name, status ? edr_err_name(status) : "ok");
  if (status && !gates.status)
    gates.status = EDR_EUNHEALTHY;
  (void)reply;
  if (--gates.asks_out == 0)
    uv_timer_start(&gates.timer, gate_cb, 0, 0);
}

static void gate_start(struct edr_gate *g) {
  enum edr_gate_kind kind = g->stage->gate;
  const char *name = edr_gate_names[kind];
  unsigned a = gates.attempts[kind]++;
  enum fake_act act = gates.n[kind] ? gates.acts[kind][a < gates.n[kind] ? a : gates.n[kind] - 1]
                                    : FAKE_OK;
  if (gates.g)
    violation("gate %s started while gate %s runs", name, edr_gate_names[gates.g->stage->gate]);
  add(FAKE_GATE_START, -1, -1, gate_stage(g), 0, "gate %s start", name);
  if (!gates.timer_init) {
    uv_timer_init(g->loop, &gates.timer);
    gates.timer_init = true;
  }
  gates.g = g;
  if (gates.interrupt && !gates.interrupted) {
    gates.interrupted = true;
    raise(SIGINT);
  }
  switch (act) {
  case FAKE_OK:
    edr_str_setf(&g->note, "%s passed (fake)", name);
    gates.status = 0;
    break;
  case FAKE_HANG:
    return; /* until gate_cancel */
  case FAKE_ASK:
    gates.status = 0;
    edr_str_setf(&g->note, "%s asked the agents (fake)", name);
    gates.asks_out = (unsigned)plan->n_hosts;
    for (size_t i = 0; i < plan->n_hosts; i++) {
      json_t *q = json_pack("{s:s, s:s, s:s, s:s}", "op", "etcd-http", "url",
                            plan->hosts[i].member->client_urls.v[0], "method", "GET", "path",
                            "/health");
      if (edr_gate_ask(g, i, q, 1000, gate_answer, (void *)(intptr_t)i))
        violation("edr_gate_ask failed");
    }
    return;
  default:
    gates.status = EDR_EUNHEALTHY;
    if (kind == EDR_GATE_HEALTH) {
      g->unhealthy = true;
      edr_str_setf(&g->problem, "not healthy (fake)");
    }
    break;
  }
  uv_timer_start(&gates.timer, gate_cb, 1, 0);
}

static void gate_cancel(struct edr_gate *g) {
  add(FAKE_GATE_CANCEL, -1, -1, gate_stage(g), 0, "gate %s cancel",
      edr_gate_names[g->stage->gate]);
  if (gates.g != g) {
    violation("cancel of a gate that is not running");
    return;
  }
  gates.status = EDR_ECANCELED;
  uv_timer_start(&gates.timer, gate_cb, 0, 0);
}

/* The leader lookup, asynchronous as the engine wants it: it answers
 * fake_leader()'s index after fake_leader_delay()'s milliseconds (on the
 * loop's next turn when 0), or -1 at once when cancelled. */
struct fake_leader_call {
  uv_timer_t timer;
  struct edr_leader_ask *ask;
};

static void leader_closed(uv_handle_t *hd) { free(hd->data); }

static void leader_finish(struct fake_leader_call *c, long leader) {
  struct edr_leader_ask *a = c->ask;
  a->impl = NULL;
  c->timer.data = c;
  uv_close((uv_handle_t *)&c->timer, leader_closed);
  edr_leader_done(a, leader);
}

static void leader_cb(uv_timer_t *t) {
  struct fake_leader_call *c = t->data;
  if (gates.leader_refuse >= 0)
    edr_leader_refuse(c->ask, (size_t)gates.leader_refuse, EDR_ETIMEDOUT,
                      "its client URL gives no answer from here");
  leader_finish(c, gates.leader);
}

static void fake_leader_start(struct edr_leader_ask *a) {
  struct fake_leader_call *c = calloc(1, sizeof(*c));
  if (!c) {
    violation("out of memory in the fake leader lookup");
    return;
  }
  c->ask = a;
  a->impl = c;
  gates.leader_started = true;
  for (size_t i = 0; i < a->plan->n_hosts && i < MAX_HOSTS; i++)
    gates.etcd_running[i] = edr_leader_etcd_running(a, i);
  uv_timer_init(a->loop, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, leader_cb, gates.leader_delay_ms, 0);
}

static void fake_leader_cancel(struct edr_leader_ask *a) {
  if (a->impl)
    leader_finish(a->impl, -1);
}

static const struct edr_leader_ops fake_leader_ops = {.start = fake_leader_start,
                                                      .cancel = fake_leader_cancel};

static const struct edr_gate_ops fake_gate_ops = {.start = gate_start, .cancel = gate_cancel};

const struct edr_exec_gates fake_gates = {
  .kinds = {
    [EDR_GATE_HEALTH] = &fake_gate_ops,
    [EDR_GATE_WAIT_HEALTHY] = &fake_gate_ops,
    [EDR_GATE_MEMBER_ADD] = &fake_gate_ops,
    [EDR_GATE_MEMBER_REMOVE] = &fake_gate_ops,
    [EDR_GATE_SNAPSHOT_SAVE] = &fake_gate_ops,
  },
  .leader = &fake_leader_ops,
};

int fake_setup(char *dir_template) {
  if (!getenv("TEST_ENGINE_VERBOSE"))
    edr_verbosity = -1;
  setenv("ETCD_DR_PROGRESS", "json", 1);
  return mkdtemp(dir_template) ? 0 : -1;
}
