/*
 * alive.c - noticing a host that is gone, and keeping its agent from
 * thinking the same of us (docs/safety.md "Lost connections").
 *
 * A host cut off by a firewall sends nothing back and no reset either: TCP
 * would retry for many minutes.  Every keepalive_ms the loop looks at each
 * host.  One with a request under way gets an SSH keepalive (sshd answers it
 * even while the agent is busy); one waiting between steps (at a barrier,
 * during a gate) gets a `ping` to its agent, which also keeps that agent
 * from ending itself (docs/agent-protocol.md "When the coordinator is
 * gone").  A host from which nothing at all came back for dead_ms while a
 * request waited is lost.  Only a transport that can tell when it last
 * heard from the host takes part (a test's fake does not).
 */
#include "engine.h"

#include "err.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

/* An interval from the environment (tests shorten them), else DFLT. */
static uint64_t env_ms(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  char *end;
  unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
  return v && *v && !*end && n >= 100 ? (uint64_t)n : dflt;
}

void eng_alive_init(struct run *r) {
  r->keepalive_ms = env_ms("ETCD_DR_KEEPALIVE_MS", 10000);
  r->dead_ms = 4 * r->keepalive_ms > 5000 ? 4 * r->keepalive_ms : 5000;
  r->agent_idle_ms = env_ms("ETCD_DR_AGENT_IDLE_MS", 300000);
  if (r->agent_idle_ms < 3 * r->keepalive_ms)
    r->agent_idle_ms = 3 * r->keepalive_ms;
}

static void on_ping(struct host *h, int status, json_t *reply) {
  h->pinging = false;
  h->between = NULL;
  if (status)
    edr_debug("[%s] heartbeat: %s", h->m->name,
              json_string_value(json_object_get(json_object_get(reply, "error"), "message")));
  eng_advance(h); /* whatever came up meanwhile: a barrier opened, the run stops */
}

static void ping(struct host *h) {
  struct edr_agent_request ar = {.req = json_pack("{s:s}", "op", "ping"), .payload_fd = -1};
  if (!ar.req)
    return;
  h->pinging = true;
  h->between = "a heartbeat";
  h->on_reply = on_ping;
  assert(!h->busy); /* one operation at a time (agent_conn.h) */
  h->busy = true;
  h->req_start = edr_now_ms();
  h->run->ops->request(h->conn, &ar);
}

static void alive_cb(uv_timer_t *t) {
  struct run *r = t->data;
  uint64_t now = edr_now_ms();
  /* The loop stood still (an operator's answer on the terminal): silence
   * meanwhile says nothing about the hosts. */
  uint64_t floor = now - r->alive_last > 2 * r->keepalive_ms ? now : 0;
  r->alive_last = now;
  for (size_t i = 0; i < r->n; i++) {
    struct host *h = &r->hosts[i];
    if (!h->conn || h->failed || h->closing || h->closed || !r->ops->usable(h->conn))
      continue;
    if (h->busy) {
      if (floor && h->req_start < floor)
        h->req_start = floor;
      uint64_t heard = r->ops->last_heard(h->conn);
      uint64_t last = heard > h->req_start ? heard : h->req_start;
      if (now - last < r->dead_ms) {
        r->ops->keepalive(h->conn);
        continue;
      }
      eng_host_lost(h, EDR_ECONNLOST, "connection to %s lost: nothing came back for %llus%s "
                    "(network to the host down, or the host hung?)", h->m->ssh_host,
                    (unsigned long long)((now - last) / 1000),
                    h->pinging ? " while it waited for the other hosts" : "");
    } else if (!h->in_step) {
      ping(h);
    }
  }
}

void eng_alive_start(struct run *r) {
  r->alive_last = edr_now_ms();
  uv_timer_init(&r->loop, &r->alive_timer);
  r->alive_timer.data = r;
  if (!r->ops->last_heard || !r->ops->keepalive)
    return; /* a transport that cannot tell */
  uv_timer_start(&r->alive_timer, alive_cb, r->keepalive_ms, r->keepalive_ms);
  uv_unref((uv_handle_t *)&r->alive_timer); /* never what keeps the loop running */
}
