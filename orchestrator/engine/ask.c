/*
 * ask.c - a gate's questions to the hosts' agents (gate.h edr_gate_ask,
 * and the leader lookup's edr_leader_ask_host): the health wait, member-add
 * and -remove and the leader lookup asking a member's client URL from a
 * member's own host.
 * Each host keeps a queue of them; the next one goes out whenever the
 * host's connection is free between steps (after a heartbeat, or at once),
 * one at a time, as every request does (agent_conn.h).  A question whose
 * host failed, closed or could not be asked gets its failure from the
 * loop, never inside the call that asked it.  The gate owns the callback's
 * argument; this file owns the queued requests until they are sent.
 */
#include "engine.h"

#include "err.h"
#include "util.h"

#include <stdlib.h>

struct eng_ask {
  struct eng_ask *next;
  json_t *req;               /* owned until sent */
  uint64_t timeout_ms;
  edr_gate_reply_fn fn;
  void *arg;
  int status;                /* a failure to deliver from the loop */
};

/* The agent ends its own request within the timeout; the connection's
 * deadline only catches an agent that hangs. */
#define ASK_MARGIN_MS 15000

static void failed_cb(uv_timer_t *t) {
  struct run *r = t->data;
  while (r->ask_failed) {
    struct eng_ask *a = r->ask_failed;
    r->ask_failed = a->next;
    a->fn(a->arg, a->status, NULL);
    json_decref(a->req);
    free(a);
  }
}

static void fail_later(struct run *r, struct eng_ask *a, int status) {
  a->status = status;
  a->next = NULL;
  struct eng_ask **p = &r->ask_failed;
  while (*p)
    p = &(*p)->next;
  *p = a;
  if (!uv_is_active((uv_handle_t *)&r->ask_timer))
    uv_timer_start(&r->ask_timer, failed_cb, 0, 0);
}

void eng_ask_init(struct run *r) {
  uv_timer_init(&r->loop, &r->ask_timer);
  r->ask_timer.data = r;
}

static bool can_ask(const struct host *h) {
  return h->conn && !h->failed && !h->left_out && !h->closing && !h->closed &&
         h->run->ops->usable(h->conn);
}

void eng_ask_fail_all(struct host *h, int status) {
  struct eng_ask *a = h->ask_inflight;
  h->ask_inflight = NULL;
  if (a)
    fail_later(h->run, a, status);
  while (h->asks) {
    a = h->asks;
    h->asks = a->next;
    fail_later(h->run, a, status);
  }
}

static void on_ask_reply(struct host *h, int status, json_t *reply) {
  struct eng_ask *a = h->ask_inflight;
  h->ask_inflight = NULL;
  h->between = NULL;
  eng_conn_idle(h);
  if (a) {
    a->fn(a->arg, status, reply);
    free(a);
  }
  eng_advance(h);
}

bool eng_ask_pump(struct host *h) {
  if (!h->asks || h->ask_inflight || h->in_step || !eng_host_idle(h))
    return false;
  if (!can_ask(h)) {
    eng_ask_fail_all(h, EDR_ECONNLOST);
    return false;
  }
  struct eng_ask *a = h->asks;
  h->asks = a->next;
  h->ask_inflight = a;
  json_t *req = a->req;
  a->req = NULL;
  h->between = "a question to etcd through the agent";
  eng_timer_arm(h, a->timeout_ms + ASK_MARGIN_MS);
  eng_send_request(h, req, -1, 0, on_ask_reply);
  return true;
}

void eng_ask_release(struct run *r) {
  for (size_t i = 0; i < r->n; i++) {
    struct host *h = &r->hosts[i];
    while (h->asks) {
      struct eng_ask *a = h->asks;
      h->asks = a->next;
      json_decref(a->req);
      free(a);
    }
    free(h->ask_inflight);
    h->ask_inflight = NULL;
  }
  while (r->ask_failed) {
    struct eng_ask *a = r->ask_failed;
    r->ask_failed = a->next;
    json_decref(a->req);
    free(a);
  }
}

static bool run_can_ask(const struct run *r, size_t host) {
  return host < r->n && can_ask(&r->hosts[host]);
}

bool edr_gate_can_ask(const struct edr_gate *g, size_t host) {
  return run_can_ask(g->engine, host);
}

bool edr_leader_can_ask(const struct edr_leader_ask *a, size_t host) {
  return run_can_ask(a->engine, host);
}

const char *edr_gate_left_out(const struct edr_gate *g, size_t host) {
  const struct run *r = g->engine;
  if (host >= r->n || !r->hosts[host].left_out)
    return NULL;
  return r->hosts[host].res->message ? r->hosts[host].res->message : "";
}

static int run_ask(struct run *r, size_t host, json_t *req, uint64_t timeout_ms,
                   edr_gate_reply_fn fn, void *arg) {
  struct eng_ask *a = calloc(1, sizeof *a);
  if (!a) {
    json_decref(req);
    return EDR_ENOMEM;
  }
  *a = (struct eng_ask){.req = req, .timeout_ms = timeout_ms, .fn = fn, .arg = arg};
  if (host >= r->n || !req) {
    fail_later(r, a, req ? EDR_EINVAL : EDR_ENOMEM);
    return 0;
  }
  struct host *h = &r->hosts[host];
  if (!can_ask(h)) {
    fail_later(r, a, EDR_ECONNLOST);
    return 0;
  }
  struct eng_ask **p = &h->asks;
  while (*p)
    p = &(*p)->next;
  *p = a;
  eng_ask_pump(h);
  return 0;
}

int edr_gate_ask(struct edr_gate *g, size_t host, json_t *req, uint64_t timeout_ms,
                 edr_gate_reply_fn fn, void *arg) {
  return run_ask(g->engine, host, req, timeout_ms, fn, arg);
}

int edr_leader_ask_host(struct edr_leader_ask *a, size_t host, json_t *req,
                        uint64_t timeout_ms, edr_gate_reply_fn fn, void *arg) {
  return run_ask(a->engine, host, req, timeout_ms, fn, arg);
}
