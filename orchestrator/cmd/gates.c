/*
 * gates.c - the gates that talk to etcd, and the leader lookup, lent to the
 * engine through engine/gate.h (edr_etcd_gates, declared in driver.h).
 *
 * The engine runs the stages; when a stage's gate is one of these it calls
 * start() here and waits for edr_gate_done().  This file owns the etcd side
 * of each: which members to ask, with which TLS files (ETCDCTL_CACERT,
 * ETCDCTL_CERT, ETCDCTL_KEY, as etcdctl reads them) and, for the member
 * changes and the snapshot, which etcd user (ETCDCTL_USER, ETCDCTL_PASSWORD:
 * docs/auth.md), what revision to wait
 * for, and the line the report keeps.  Every gate, and the leader lookup,
 * runs on the run's loop (struct edr_gate's loop) and can be cancelled:
 * none blocks, none runs a loop of its own.  The health waits, member-add
 * and -remove and the leader lookup ask each member the way its route says
 * (plan->health_routes, plan/health_route.c): from here, or through the
 * agent on its host (via_send: edr_gate_ask or edr_leader_ask_host, the
 * agent's etcd-http op with the spec's etcdctl_cacert/_cert/_key and the
 * address resolved here for a client URL that names its host), and
 * judge the answers with the same code either way; a member auto still
 * has to look at is looked at from here once, by the leader lookup before
 * anything stops or else when the wait starts.  One auto keeps here because
 * it refused the connection from here (a stopped etcd, or a firewall that
 * rejects) is asked through its host once there is reason to doubt that:
 * the lookup finds it refused although its host's probe found etcd running,
 * or the wait finds it still refused RECHECK_MS in; an answer there moves
 * it to its host (plan/health_route.c says why).  A member the lookup finds
 * it can never check from here (asked from here, and no route or a refused
 * TLS) stops the run there, before any stop (edr_leader_refuse).
 */
#include "commands.h"
#include "driver.h"

#include "auth.h"
#include "err.h"
#include "gate.h"
#include "health.h"
#include "log.h"
#include "members.h"
#include "snapshot_save.h"
#include "status.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *gates_user;   /* run --user NAME, or NULL */

void edr_etcd_gates_user(const char *opt_user) { gates_user = opt_user; }

static void env_tls(struct edr_tls *t) {
  t->cacert = getenv("ETCDCTL_CACERT");
  t->cert = getenv("ETCDCTL_CERT");
  t->key = getenv("ETCDCTL_KEY");
}

/* Status rows for the members IDX (indices into P's hosts; all when NULL). */
static struct edr_status_row *member_rows(const struct edr_plan *p, const size_t *idx,
                                          size_t n) {
  struct edr_status_row *rows = calloc(n ? n : 1, sizeof(*rows));
  for (size_t i = 0; rows && i < n; i++) {
    const struct edr_member *m = p->hosts[idx ? idx[i] : i].member;
    edr_status_row_init(&rows[i], m->name, m->client_urls.v[0]);
  }
  return rows;
}

/* Ask ROWS' members on LOOP with etcdctl's TLS files; CB follows from the
 * loop.  A negative code (and *FETCH NULL) when the ask cannot start. */
static int ask_status(uv_loop_t *loop, struct edr_status_row *rows, size_t n,
                      struct edr_status_fetch_opts *o, edr_status_fetch_cb cb, void *arg,
                      struct edr_status_fetch **fetch) {
  env_tls(&o->tls);
  return edr_status_fetch_start(loop, rows, n, o, cb, arg, fetch);
}

/* ---- health and wait-healthy: a cancelable wait on the run's loop -------- */

struct health_gate {
  struct edr_status_row *rows;         /* wait-healthy's first ask */
  struct edr_status_fetch *fetch;      /* while that ask runs */
  struct edr_health_member *members;   /* borrowed by the wait */
  size_t *host_of;                     /* members[i]'s index in plan->hosts */
  struct edr_health_wait *wait;        /* while it runs */
  int64_t min_rev;
  uint64_t start_ms;
  size_t via_hosts;                    /* members asked through their host */
  struct recheck **rechecks;           /* members[i]'s ask on its host under
                                          way (recheck_refused), or NULL */
  uint64_t *refused_ms;                /* members[i]: since when every round
                                          from here was refused, 0: not */
  bool current;                        /* this wait is the round that reads the
                                          revision "current" means */
  bool said;                           /* the routes were printed */
  /* the wait to start once the routes are looked at */
  const size_t *idx;
  size_t n;
  uint64_t timeout_ms;
  bool others_allowed;
};

/* One ask on a member's host of a member refused from here (recheck_refused). */
struct recheck {
  struct edr_gate *g;
  struct health_gate *hg;              /* NULL once the wait ended */
  size_t i;                            /* in hg->members */
  uint64_t after_ms;                   /* into the wait when it was asked */
};

/* Record what the members' client URLs said from here (ROWS, members IDX
 * of the plan) in the routes auto still looks at. */
static void routes_seen(const struct edr_plan *p, const size_t *idx, size_t n,
                        const struct edr_status_row *rows) {
  for (size_t i = 0; p->health_routes && i < n; i++) {
    size_t h = idx ? idx[i] : i;
    const struct edr_status_row *r = &rows[i];
    edr_health_route_seen(&p->health_routes[h], p->hosts[h].member,
                          r->reachable ? 0 : r->http_status, r->http_error);
  }
}

static void begin_wait(struct edr_gate *g);

/* The wait's members and what is kept per member, freed when a wait ends;
 * an ask on a host still under way is let go (its answer is dropped). */
static void wait_members_free(struct health_gate *hg) {
  for (size_t i = 0; hg->rechecks && i < hg->n; i++)
    if (hg->rechecks[i])
      hg->rechecks[i]->hg = NULL;
  free(hg->members);
  free(hg->host_of);
  free(hg->rechecks);
  free(hg->refused_ms);
  hg->members = NULL;
  hg->host_of = NULL;
  hg->rechecks = NULL;
  hg->refused_ms = NULL;
}

/* ---- asking a member's client URL through a host's agent ----------------- */

/* Whose questions they are: a gate's or the leader lookup's (gate.h). */
struct asker {
  struct edr_gate *g;
  struct edr_leader_ask *la;
};

static const struct edr_plan *asker_plan(const struct asker *k) {
  return k->g ? k->g->plan : k->la->plan;
}

struct via_rq {
  edr_http_cb cb;
  void *cb_arg;
  char who[300];
};

static void via_reply(void *arg, int status, json_t *reply) {
  struct via_rq *v = arg;
  json_t *res = json_object_get(reply, "result");
  if (status == 0) {
    const char *body = json_string_value(json_object_get(res, "body"));
    v->cb(v->cb_arg, 0, (long)json_integer_value(json_object_get(res, "code")),
          body ? body : "", body ? strlen(body) : 0, NULL);
  } else {
    const char *msg = json_string_value(
        json_object_get(json_object_get(reply, "error"), "message"));
    char why[600];
    snprintf(why, sizeof why, "%s: %s", v->who, msg ? msg : edr_strerror(status));
    v->cb(v->cb_arg, status, 0, NULL, 0, why);
  }
  free(v);
}

/* One request to the client URL URL made by the agent on the plan's host
 * HOST with that host's certificates (the agent's etcd-http op), with
 * etcd's token AUTH (NULL: none); CB as edr_http's, once, from the loop.
 * The one way every question here goes through a host: the health wait,
 * member-add and -remove (and their authentication, whose BODY holds the
 * password: it goes in this request over the host's SSH session only and
 * is never logged or journaled), the leader. */
static int via_send(const struct asker *k, size_t host, const char *url, const char *method,
                    const char *path, const char *body, const char *auth, uint64_t timeout_ms,
                    edr_http_cb cb, void *cb_arg) {
  const struct edr_plan *p = asker_plan(k);
  const struct edr_member *m = p->hosts[host].member;
  /* the agent resolves no names (etcd/resolve.h) */
  const char *addr = edr_health_route_addr(p, host, url);
  struct via_rq *v = calloc(1, sizeof *v);
  json_t *req = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I}",
                          "op", "etcd-http", "url", url, "addr", addr, "method", method,
                          "path", path, "body", body, "cacert", m->etcdctl_cacert, "cert",
                          m->etcdctl_cert, "key", m->etcdctl_key, "authorization", auth,
                          "timeout_ms", (json_int_t)timeout_ms);
  if (!v || !req) {
    free(v);
    json_decref(req);
    return EDR_ENOMEM;
  }
  *v = (struct via_rq){.cb = cb, .cb_arg = cb_arg};
  snprintf(v->who, sizeof v->who, "%s's agent", m->ssh_host);
  int rc = k->g ? edr_gate_ask(k->g, host, req, timeout_ms, via_reply, v)
                : edr_leader_ask_host(k->la, host, req, timeout_ms, via_reply, v);
  if (rc)
    free(v);
  return rc;
}

static int via_request(void *arg, const struct edr_health_member *hm, const char *method,
                       const char *path, const char *body, uint64_t timeout_ms,
                       edr_http_cb cb, void *cb_arg) {
  struct edr_gate *g = arg;
  struct health_gate *hg = g->impl;
  struct asker k = {.g = g};
  return via_send(&k, hg->host_of[hm - hg->members], hm->client_url, method, path, body, NULL,
                  timeout_ms, cb, cb_arg);
}

/* A member auto keeps here because its client URL refused the connection
 * from here (plan/health_route.c: a stopped etcd, or a firewall that
 * rejects) and that every round of the wait still refuses this long is
 * asked once through its host: an HTTP answer there moves it to its host
 * for the rest of the run; none keeps it here (its etcd is not up yet) and
 * it is asked there again when refused as long again.  etcd listens on its
 * client port within about a second of its start (the lab; kubeadm's
 * static pod once its container runs), so 5 s of refusals after every
 * member started is past a normal start, far under the wait's bound (2 min
 * by default, --health-timeout), and costs its host one question per 5 s
 * at most. */
#define RECHECK_MS 5000

static void recheck_reply(void *arg, int status, long code, const char *body, size_t len,
                          const char *errtext) {
  (void)code, (void)body, (void)len, (void)errtext;
  struct recheck *k = arg;
  struct health_gate *hg = k->hg;
  if (hg) {
    const struct edr_plan *p = k->g->plan;
    size_t h = hg->host_of[k->i];
    hg->rechecks[k->i] = NULL;
    hg->refused_ms[k->i] = 0;  /* not answered: asked again after as long again */
    if (status == 0 && edr_health_route_refused_here(&p->health_routes[h])) {
      edr_health_route_answered_on_host(&p->health_routes[h]);
      hg->members[k->i].via_host = true;  /* the wait's next rounds ask its host */
      hg->via_hosts++;
      char how[400];
      edr_health_route_say(p, h, how, sizeof how);
      edr_info("%s: still refused from here %llus into the wait, answered on its host: "
               "health checked %s", p->hosts[h].member->name,
               (unsigned long long)(k->after_ms / 1000), how);
    }
  }
  free(k);
}

/* After a round (REP): ask on its host a member refused from here for
 * RECHECK_MS, as above. */
static void recheck_refused(struct edr_gate *g, const struct edr_health_report *rep) {
  struct health_gate *hg = g->impl;
  const struct edr_plan *p = g->plan;
  uint64_t now = edr_now_ms();
  for (size_t i = 0; !hg->current && p->health_routes && i < rep->n && i < hg->n; i++) {
    size_t h = hg->host_of[i];
    const struct edr_health_seen *v = &rep->members[i];
    if (hg->members[i].via_host || v->reachable || v->status != EDR_ECONNREFUSED ||
        !edr_health_route_refused_here(&p->health_routes[h])) {
      hg->refused_ms[i] = 0;
      continue;
    }
    if (!hg->refused_ms[i])
      hg->refused_ms[i] = now;
    if (hg->rechecks[i] || now - hg->refused_ms[i] < RECHECK_MS || !edr_gate_can_ask(g, h))
      continue;
    struct recheck *k = calloc(1, sizeof *k);
    if (!k)
      continue;  /* asked again after the next round */
    *k = (struct recheck){.g = g, .hg = hg, .i = i, .after_ms = now - hg->start_ms};
    struct asker a = {.g = g};
    if (via_send(&a, h, hg->members[i].client_url, "GET", "/health", NULL, NULL, 2000,
                 recheck_reply, k))
      free(k);
    else
      hg->rechecks[i] = k;
  }
}

static void health_cb(void *arg, bool done, int status, const struct edr_health_report *rep) {
  struct edr_gate *g = arg;
  struct health_gate *hg = g->impl;
  const struct edr_stage *st = g->stage;
  if (!done) {
    recheck_refused(g, rep);
    /* one line each time the reason for waiting changes */
    if (rep->problem[0] && strcmp(rep->problem, g->problem.buf)) {
      char line[600];
      snprintf(line, sizeof line, "waiting: %s", rep->problem);
      edr_gate_waiting(g, line);
      edr_str_setf(&g->problem, "%s", rep->problem);
    }
    return;
  }
  hg->wait = NULL;
  if (hg->current && status != EDR_ECANCELED) {
    /* the round that reads the revision to wait for */
    int64_t min = 1;
    for (size_t i = 0; rep && i < rep->n; i++)
      if (rep->members[i].revision > min)
        min = rep->members[i].revision;
    wait_members_free(hg);
    hg->current = false;
    hg->min_rev = min;
    begin_wait(g);
    return;
  }
  g->health_ms = edr_now_ms() - hg->start_ms;
  edr_str_setf(&g->problem, "%s", rep ? rep->problem : "");
  int64_t min_rev = hg->min_rev;
  char how[160];
  if (!hg->via_hosts)
    snprintf(how, sizeof how, "checked from here");
  else if (hg->via_hosts == hg->n)
    snprintf(how, sizeof how, "checked through the hosts' agents");
  else
    snprintf(how, sizeof how, "checked through the hosts' agents for %zu of them",
             hg->via_hosts);
  wait_members_free(hg);
  free(hg);
  g->impl = NULL;
  if (status == 0) {
    if (st->gate == EDR_GATE_HEALTH)
      edr_str_setf(&g->note, "healthy in %.2fs: %zu members, one cluster, revision >= %lld; %s",
                   (double)g->health_ms / 1000.0, g->plan->n_hosts, (long long)min_rev, how);
    else
      edr_str_setf(&g->note, "%s: healthy in %.2fs: %zu member%s, one cluster, revision >= %lld; "
                   "%s", st->name, (double)g->health_ms / 1000.0, st->n_members,
                   st->n_members == 1 ? "" : "s", (long long)min_rev, how);
    edr_gate_done(g, 0, NULL);
  } else {
    if (st->gate == EDR_GATE_HEALTH)
      g->unhealthy = true;
    edr_gate_done(g, status, "the cluster did not become healthy within %llus: %s",
                  (unsigned long long)((st->timeout_ms ? st->timeout_ms
                                                       : g->plan->health_timeout_ms) / 1000),
                  rep && rep->problem[0] ? rep->problem : edr_strerror(status));
  }
}

static void looked(void *arg, int status) {
  struct edr_gate *g = arg;
  struct health_gate *hg = g->impl;
  hg->fetch = NULL;
  if (status == 0)
    routes_seen(g->plan, hg->idx, hg->n, hg->rows);
  edr_status_rows_release(hg->rows, hg->n);
  free(hg->rows);
  hg->rows = NULL;
  if (status == EDR_ECANCELED) {
    free(hg);
    g->impl = NULL;
    edr_gate_done(g, status, "interrupted before the wait began");
    return;
  }
  begin_wait(g);
}

/* Wait until the members of IDX (indices into the plan's hosts; all when
 * NULL) are healthy, one cluster of exactly them, at revision >= MIN_REV.
 * Members auto has not looked at yet are looked at from here first. */
static void start_health(struct edr_gate *g, const size_t *idx, size_t n, int64_t min_rev,
                         uint64_t timeout_ms, bool others_allowed) {
  const struct edr_plan *p = g->plan;
  struct health_gate *hg = g->impl ? g->impl : calloc(1, sizeof(*hg));
  if (!hg) {
    edr_gate_done(g, EDR_ENOMEM, "out of memory");
    return;
  }
  hg->idx = idx;
  hg->n = n;
  hg->min_rev = min_rev;
  hg->timeout_ms = timeout_ms;
  hg->others_allowed = others_allowed;
  g->impl = hg;
  bool look = false;
  for (size_t i = 0; p->health_routes && i < n; i++)
    look |= p->health_routes[idx ? idx[i] : i].look;
  if (!look) {
    begin_wait(g);
    return;
  }
  struct edr_status_fetch_opts o = {.timeout_ms = 1500, .status_only = true};
  if (!(hg->rows = member_rows(p, idx, n)) ||
      ask_status(g->loop, hg->rows, n, &o, looked, g, &hg->fetch) < 0) {
    free(hg->rows);
    hg->rows = NULL;
    begin_wait(g);  /* the routes stay as the plan said */
  }
}

/* Member HOST is asked through its host (auto moved it there: its client
 * URL gave no answer from here) and that host was left out of the run (its
 * check failed): the wait cannot ask it either way and fails now, naming
 * both, rather than wait out its bound. */
static void cannot_ask(struct edr_gate *g, size_t host) {
  const struct edr_plan *p = g->plan;
  const struct edr_member *m = p->hosts[host].member;
  const char *left = edr_gate_left_out(g, host);
  free(g->impl);
  g->impl = NULL;
  edr_gate_done(g, EDR_EHOSTUNREACH,
                "%s cannot be asked: its client URL %s cannot be asked from here (%s), and "
                "its host %s could not be checked, so it was left out of the run (%s); let "
                "this machine reach %s or the host's SSH port, and run again", m->name,
                m->client_urls.v[0], p->health_routes[host].why, m->ssh_host,
                left && *left ? left : "its check failed", m->client_urls.v[0]);
}

static void begin_wait(struct edr_gate *g) {
  const struct edr_plan *p = g->plan;
  struct health_gate *hg = g->impl;
  size_t n = hg->n;
  struct edr_health_member *hm = hg->members = calloc(n ? n : 1, sizeof(*hm));
  size_t *host_of = hg->host_of = calloc(n ? n : 1, sizeof(*host_of));
  hg->rechecks = calloc(n ? n : 1, sizeof(*hg->rechecks));
  hg->refused_ms = calloc(n ? n : 1, sizeof(*hg->refused_ms));
  if (!hm || !host_of || !hg->rechecks || !hg->refused_ms) {
    wait_members_free(hg);
    free(hg);
    g->impl = NULL;
    edr_gate_done(g, EDR_ENOMEM, "out of memory");
    return;
  }
  hg->via_hosts = 0;
  for (size_t i = 0; i < n; i++) {
    size_t h = hg->idx ? hg->idx[i] : i;
    if (p->health_routes && p->health_routes[h].via_host && edr_gate_left_out(g, h)) {
      wait_members_free(hg);
      cannot_ask(g, h);
      return;
    }
  }
  for (size_t i = 0; i < n; i++) {
    size_t h = hg->idx ? hg->idx[i] : i;
    const struct edr_member *m = p->hosts[h].member;
    host_of[i] = h;
    hm[i].name = m->name;
    hm[i].client_url = m->client_urls.v[0];
    hm[i].peer_urls = (const char *const *)m->peer_urls.v;
    hm[i].n_peer_urls = m->peer_urls.n;
    hm[i].via_host = p->health_routes && p->health_routes[h].via_host;
    if (hm[i].via_host && !edr_gate_can_ask(g, h)) {
      hm[i].via_host = false;
      edr_warn("%s: its host's agent is not connected: its health is asked from here", m->name);
    }
    hg->via_hosts += hm[i].via_host;
    char how[400];
    edr_health_route_say(p, h, how, sizeof how);
    if (!hg->said)
      edr_info("%s: health checked %s", m->name,
               hm[i].via_host || !p->health_routes ? how : "from here");
  }
  hg->said = true;
  hg->current = hg->min_rev == -1;
  struct edr_health_opts ho = {
    .min_revision = hg->current ? 0 : hg->min_rev,
    .timeout_ms = hg->current ? 0 : hg->timeout_ms,  /* 0: one round decides */
    .interval_ms = 100,
    .others_allowed = hg->others_allowed,
    .via = {.request = via_request, .arg = g},
  };
  env_tls(&ho.tls);
  hg->start_ms = edr_now_ms();
  edr_str_reset(&g->problem);
  int rc = edr_health_wait_start_cancelable(g->loop, hm, n, &ho, health_cb, g, &hg->wait);
  if (rc) {
    wait_members_free(hg);
    free(hg);
    g->impl = NULL;
    edr_gate_done(g, rc, "cannot wait for health: %s", edr_strerror(rc));
  }
}

static void health_cancel(struct edr_gate *g) {
  struct health_gate *hg = g->impl;
  if (hg && hg->fetch)
    edr_status_fetch_cancel(hg->fetch);
  else if (hg && hg->wait)
    edr_health_wait_cancel(hg->wait);
}

/* The restore's (and rollback's) verify: every member, at the snapshot's
 * revision (bumped) or, for a rollback, any. */
static void gate_health(struct edr_gate *g) {
  const struct edr_plan *p = g->plan;
  edr_info("every member started; waiting for the cluster to become healthy");
  start_health(g, NULL, p->n_hosts,
               p->kind == EDR_PLAN_ROLLBACK
                   ? 1 : (g->snapshot_revision > 0 ? g->snapshot_revision : 1) + g->bump,
               g->stage->timeout_ms ? g->stage->timeout_ms : p->health_timeout_ms, false);
}

/* wait-healthy: the revision to reach is, by default (MIN -1), the highest
 * one a target member serves now (so a member that just joined has caught
 * up), asked first by one round of the same wait, each member by its
 * route. */
static void wait_healthy_go(struct edr_gate *g, int64_t min) {
  const struct edr_stage *st = g->stage;
  start_health(g, st->members, st->n_members, min,
               st->timeout_ms ? st->timeout_ms : g->plan->health_timeout_ms,
               st->others_allowed);
}

static void gate_wait_healthy(struct edr_gate *g) {
  int64_t min = g->stage->min_revision;
  if (min == -2)
    min = g->snapshot_revision > 0 ? g->snapshot_revision + g->bump : 1;
  wait_healthy_go(g, min);  /* -1: "current", asked by one round first */
}

/* ---- member-add and member-remove ---------------------------------------- */

struct members_gate {
  const char **urls;
  size_t *host_of;                     /* urls[i]'s index in plan->hosts */
  bool *via;                           /* urls[i] asked through its host */
  bool *fallback;                      /* ... when here has no way to it */
  struct edr_tls tls;
  struct edr_etcd_user user;           /* ETCDCTL_USER, for auth (docs/auth.md) */
  struct edr_members_call *call;       /* while it runs */
};

static void members_gate_free(struct members_gate *mg) {
  if (mg) {
    free(mg->urls);
    free(mg->host_of);
    free(mg->via);
    free(mg->fallback);
    edr_etcd_user_release(&mg->user);
  }
  free(mg);
}

static void members_done(void *arg, struct edr_members_result *res) {
  struct edr_gate *g = arg;
  struct members_gate *mg = g->impl;
  const struct edr_stage *st = g->stage;
  const struct edr_member *m = g->plan->hosts[st->n_members ? st->members[0] : 0].member;
  members_gate_free(mg);
  g->impl = NULL;
  if (res->err.code) {
    edr_gate_done(g, res->err.code, "%s %s: %s", edr_gate_names[st->gate], m->name,
                  edr_error_text(&res->err));
    return;
  }
  if (st->gate == EDR_GATE_MEMBER_ADD)
    edr_str_setf(&g->note, "%s: %s %s as member %s", st->name,
                 res->already ? "already a member:" : "added", m->name, res->id);
  else
    edr_str_setf(&g->note, "%s: %s %s", st->name, m->name,
                 res->already ? "was not a member (nothing to remove)"
                              : "removed from the cluster");
  edr_gate_done(g, 0, NULL);
}

static int members_via(void *arg, size_t url, const char *method, const char *path,
                       const char *body, const char *auth, uint64_t timeout_ms, edr_http_cb cb,
                       void *cb_arg) {
  struct edr_gate *g = arg;
  struct members_gate *mg = g->impl;
  struct asker k = {.g = g};
  return via_send(&k, mg->host_of[url], mg->urls[url], method, path, body, auth, timeout_ms, cb,
                  cb_arg);
}

/* Each other member's client URL, asked the way its health is (its route,
 * plan/health_route.c): through its host's agent when the route says so
 * and the agent can be asked, else from here.  Said once in the log. */
static int members_routes(struct edr_gate *g, struct members_gate *mg, size_t target,
                          size_t *n) {
  const struct edr_plan *p = g->plan;
  mg->urls = calloc(p->n_hosts + 1, sizeof *mg->urls);
  mg->host_of = calloc(p->n_hosts + 1, sizeof *mg->host_of);
  mg->via = calloc(p->n_hosts + 1, sizeof *mg->via);
  mg->fallback = calloc(p->n_hosts + 1, sizeof *mg->fallback);
  if (!mg->urls || !mg->host_of || !mg->via || !mg->fallback)
    return EDR_ENOMEM;
  struct edr_str say = EDR_STR_INIT;
  *n = 0;
  for (size_t i = 0; i < p->n_hosts; i++) {
    if (i == target)
      continue;
    const struct edr_member *m = p->hosts[i].member;
    bool via = p->health_routes && p->health_routes[i].via_host;
    if (via && !edr_gate_can_ask(g, i)) {
      via = false;
      const char *left = edr_gate_left_out(g, i);
      if (left)
        edr_warn("%s: its host was left out of the run (%s): it is asked from here", m->name,
                 left);
      else
        edr_warn("%s: its host's agent is not connected: it is asked from here", m->name);
    }
    mg->urls[*n] = m->client_urls.v[0];
    mg->host_of[*n] = i;
    mg->fallback[*n] = !via && p->health_routes && p->health_routes[i].look &&
                       edr_gate_can_ask(g, i);
    mg->via[(*n)++] = via;
    char how[400];
    edr_health_route_say(p, i, how, sizeof how);
    edr_str_appendf(&say, "%s%s %s", say.len ? "; " : "", m->name,
                    via || mg->fallback[*n - 1] || !p->health_routes ? how : "from here");
  }
  edr_info("%s %s: asks %s (in turn, until one answers)", edr_gate_names[g->stage->gate],
           p->hosts[target].member->name, say.len ? say.buf : "no other member");
  edr_str_release(&say);
  return 0;
}

static void gate_members(struct edr_gate *g) {
  const struct edr_stage *st = g->stage;
  size_t target = st->n_members ? st->members[0] : 0, n = 0;
  const struct edr_member *m = g->plan->hosts[target].member;
  struct members_gate *mg = calloc(1, sizeof(*mg));
  g->impl = mg;
  if (!mg || members_routes(g, mg, target, &n) < 0) {
    members_gate_free(mg);
    g->impl = NULL;
    edr_gate_done(g, EDR_ENOMEM, "out of memory");
    return;
  }
  env_tls(&mg->tls);
  struct edr_error uerr = EDR_ERROR_INIT;
  if (edr_etcd_user_get(gates_user, &mg->user, &uerr) < 0) {
    members_gate_free(mg);
    g->impl = NULL;
    edr_gate_done(g, uerr.code, "%s %s: %s", edr_gate_names[st->gate], m->name,
                  edr_error_text(&uerr));
    edr_error_release(&uerr);
    return;
  }
  struct edr_members_req q = {
    .op = st->gate == EDR_GATE_MEMBER_ADD ? EDR_MEMBERS_ADD : EDR_MEMBERS_REMOVE,
    .urls = mg->urls, .n_urls = n, .tls = &mg->tls,
    .timeout_ms = st->timeout_ms ? st->timeout_ms : 10000,
    .name = st->gate == EDR_GATE_MEMBER_REMOVE ? m->name : NULL,
    .peer_urls = (const char *const *)m->peer_urls.v, .n_peer = m->peer_urls.n,
    .via_url = mg->via, .via_fallback = mg->fallback,
    .via = {.request = members_via, .arg = g},
    .user = &mg->user,
  };
  int rc = edr_members_start(g->loop, &q, members_done, g, &mg->call);
  if (rc) {
    members_gate_free(mg);
    g->impl = NULL;
    edr_gate_done(g, rc, "%s %s: %s", edr_gate_names[st->gate], m->name, edr_strerror(rc));
  }
}

static void members_cancel(struct edr_gate *g) {
  struct members_gate *mg = g->impl;
  if (mg && mg->call)
    edr_members_cancel(mg->call);
}

/* ---- snapshot-save ----------------------------------------------------- */

struct snapshot_gate {
  struct edr_save_opts so;
  struct edr_etcd_user user;           /* ETCDCTL_USER, for auth (docs/auth.md) */
  struct edr_save_result res;
  struct edr_snapshot_save_call *call;  /* while it runs */
};

static void snapshot_done(void *arg, int rc) {
  struct edr_gate *g = arg;
  struct snapshot_gate *sg = g->impl;
  const struct edr_stage *st = g->stage;
  struct edr_save_result *res = &sg->res;
  sg->call = NULL;
  g->impl = NULL;  /* edr_gate_done may start the gate again */
  if (!rc && st->dir && st->keep)
    rc = edr_snapshot_prune(st->dir, st->keep, res->path, &res->err);
  if (rc) {
    edr_gate_done(g, rc, "snapshot: %s", edr_error_text(&res->err));
  } else {
    char hb[32];
    edr_human_bytes(res->size, hb, sizeof hb);
    edr_str_setf(&g->note, "%s: saved %s (%s, revision %lld) from %s", st->name, res->path, hb,
                 (long long)res->revision, res->source);
    edr_gate_done(g, 0, NULL);
  }
  edr_save_result_release(res);
  edr_etcd_user_release(&sg->user);
  free(sg);
}

static void gate_snapshot(struct edr_gate *g) {
  const struct edr_stage *st = g->stage;
  struct snapshot_gate *sg = calloc(1, sizeof(*sg));
  if (!sg) {
    edr_gate_done(g, EDR_ENOMEM, "out of memory");
    return;
  }
  sg->so = (struct edr_save_opts){.out = st->output, .dir = st->dir, .user = &sg->user};
  env_tls(&sg->so.tls);
  struct edr_error uerr = EDR_ERROR_INIT;
  if (edr_etcd_user_get(gates_user, &sg->user, &uerr) < 0) {
    free(sg);
    edr_gate_done(g, uerr.code, "snapshot: %s", edr_error_text(&uerr));
    edr_error_release(&uerr);
    return;
  }
  if (st->n_members == 1)
    sg->so.member = g->plan->hosts[st->members[0]].member->name;
  g->impl = sg;
  int rc = edr_snapshot_save_start(g->loop, g->plan->spec, &sg->so, &sg->res, snapshot_done, g,
                                   &sg->call);
  if (rc) {
    g->impl = NULL;
    edr_gate_done(g, rc, "snapshot: %s", edr_error_text(&sg->res.err));
    edr_save_result_release(&sg->res);
    edr_etcd_user_release(&sg->user);
    free(sg);
  }
}

static void snapshot_cancel(struct edr_gate *g) {
  struct snapshot_gate *sg = g->impl;
  if (sg && sg->call)
    edr_snapshot_save_cancel(sg->call);
}

/* ---- the leader ------------------------------------------------------------ */

/* Only /v3/maintenance/status is asked: a member answers it from its own
 * state, with or without quorum (asking /health and the alarms too made the
 * ask wait out its 1.5 s timeout after a lost quorum).  Each member is asked
 * by its route: from here, or through its host's agent (via_send); a
 * member auto still looks at is asked from here, and again through its
 * host when its client URL gives no answer or refuses this machine's TLS,
 * or refuses the connection although its host's probe found etcd running.
 * Both ways' answers are read by edr_status_parse_status, the parser
 * `status` uses.  On the run's loop, like the gates. */
#define LEADER_ASK_MS 1500

struct leader_lookup;

struct leader_member {
  struct leader_lookup *ll;
  size_t host;
  bool via;                            /* this ask goes through the host */
  bool doubt;                          /* ... because here was refused while
                                          its host's probe found etcd running */
  bool answered;                       /* its status in ll->rows */
  char why[400];                       /* why it did not answer */
};

struct leader_lookup {
  struct edr_leader_ask *a;
  size_t a_n;                          /* the plan's hosts */
  struct edr_http *http;               /* from here; closed at the end */
  struct edr_tls tls;
  struct leader_member *m;             /* one per plan host */
  struct edr_status_row *rows;         /* what each status said */
  size_t pending;                      /* asks under way, both ways */
  size_t via_pending;                  /* of them through a host */
  long leader;
  bool ending;                         /* closing: done follows */
  bool done;                           /* edr_leader_done called */
};

static void leader_free_maybe(struct leader_lookup *ll) {
  if (ll->done && !ll->via_pending) {
    edr_status_rows_release(ll->rows, ll->a_n);
    free(ll->rows);
    free(ll->m);
    free(ll);
  }
}

static void leader_closed(void *arg) {
  struct leader_lookup *ll = arg;
  struct edr_leader_ask *a = ll->a;
  ll->http = NULL;
  ll->done = true;
  a->impl = NULL;
  long leader = ll->leader;
  leader_free_maybe(ll);
  edr_leader_done(a, leader);
}

static void leader_end(struct leader_lookup *ll) {
  if (ll->ending)
    return;
  ll->ending = true;
  edr_http_close(ll->http, leader_closed, ll);
}

/* Every ask answered (or not): the member that says it leads. */
static void leader_judge(struct leader_lookup *ll) {
  const struct edr_plan *p = ll->a->plan;
  struct edr_str why = EDR_STR_INIT;
  size_t via = 0;
  ll->leader = -1;
  for (size_t i = 0; i < p->n_hosts; i++) {
    const struct leader_member *lm = &ll->m[i];
    via += lm->via;
    const struct edr_status_row *row = &ll->rows[i];
    if (lm->answered && row->leader && row->leader == row->member_id)
      ll->leader = (long)i;
    else if (!lm->answered)
      edr_str_appendf(&why, "%s%s", why.len ? "; " : "", lm->why);
    else if (!row->leader)  /* etcd has none: no quorum, or an election */
      edr_str_appendf(&why, "%s%s (%s%s) knows no leader", why.len ? "; " : "",
                      p->hosts[i].member->name, p->hosts[i].member->client_urls.v[0],
                      lm->via ? ", asked on its host" : "");
  }
  if (ll->leader < 0)
    edr_warn("leader lookup: no member said it leads%s%s", why.len ? ": " : "",
             why.len ? why.buf : "");
  else
    edr_info("the leader lookup asked %s", !via ? "every member from here"
                                           : via == p->n_hosts
                                               ? "every member through its host's agent"
                                               : "some members through their hosts' agents");
  edr_str_release(&why);
  leader_end(ll);
}

static void leader_send(struct leader_member *lm);

/* Member HOST is asked from here and its client URL said STATUS (ERRTEXT)
 * from here, before anything stops: its health after the restart could not
 * be checked, so the run stops now, saying why and what to do. */
static void leader_dead_end(struct leader_lookup *ll, size_t host, int status,
                            const char *errtext) {
  const struct edr_plan *p = ll->a->plan;
  const struct edr_member *m = p->hosts[host].member;
  bool tls = status == EDR_ETLS;
  bool unresolved = p->health_routes && p->health_routes[host].unresolved;
  char msg[1200];
  snprintf(msg, sizeof msg,
           "its client URL %s %s from here (%s), and its health is asked from here (%s): "
           "it could not be checked once etcd is started again, so nothing is stopped; %s",
           m->client_urls.v[0], tls ? "refuses this machine's TLS" : "gives no answer",
           errtext && *errtext ? errtext : edr_strerror(status),
           p->health_via == EDR_HEALTH_VIA_HERE ? "--health-via here"
           : unresolved ? "its host name does not resolve here, and its host's agent resolves none"
                        : "its host has no client certificate to ask with",
           unresolved ? "put its IP address in the spec's client_urls"
           : tls ? "set ETCDCTL_CACERT, ETCDCTL_CERT and ETCDCTL_KEY to files it accepts, or give "
                 "its host etcdctl_cacert, etcdctl_cert and etcdctl_key in the spec and leave "
                 "--health-via at auto"
               : "leave --health-via at auto (or give hosts), which asks it through its host's "
                 "agent, or let this machine reach it");
  edr_leader_refuse(ll->a, host, status, msg);
}

static void leader_answer(struct leader_member *lm, bool via, int status, long code,
                          const char *body, const char *errtext) {
  struct leader_lookup *ll = lm->ll;
  const struct edr_plan *p = ll->a->plan;
  const struct edr_member *m = p->hosts[lm->host].member;
  ll->pending--;
  if (ll->ending)
    return;
  struct edr_status_row *row = &ll->rows[lm->host];
  if (status == 0)  /* the same parser as `status`'s, whichever way it came */
    edr_status_parse_status(row, code, body);
  lm->answered = status == 0 && row->have_status;
  if (!lm->answered)
    snprintf(lm->why, sizeof lm->why, "%s (%s%s): %s", m->name, m->client_urls.v[0],
             via ? ", asked on its host" : "",
             status == 0 ? row->errors : errtext && *errtext ? errtext : edr_strerror(status));
  struct edr_health_route *r = p->health_routes ? &p->health_routes[lm->host] : NULL;
  if (!via && r && r->look) {  /* before anything stops: the route auto looks at */
    edr_health_route_seen(r, m, status < 0 ? status : 0, errtext);
    /* refused from here, yet its host says etcd runs: a firewall that
     * rejects, or etcd stopping just now; its host tells them apart */
    lm->doubt = edr_health_route_refused_here(r) && edr_leader_etcd_running(ll->a, lm->host);
    if (!lm->answered && (r->via_host || lm->doubt) && edr_leader_can_ask(ll->a, lm->host)) {
      lm->via = true;
      leader_send(lm);
      return;
    }
  }
  if (via && lm->doubt && r && status == 0) {
    edr_health_route_answered_on_host(r);
    edr_info("%s: refused from here although %s's probe found etcd running, and answered on "
             "its host: its health is asked through its host", m->name, m->ssh_host);
  }
  if (!via && edr_health_route_dead_end(r, status < 0 ? status : 0))
    leader_dead_end(ll, lm->host, status, errtext);
  if (!ll->pending)
    leader_judge(ll);
}

static void leader_here_cb(void *arg, int status, long code, const char *body, size_t len,
                           const char *errtext) {
  (void)len;
  leader_answer(arg, false, status, code, body, errtext);
}

static void leader_via_cb(void *arg, int status, long code, const char *body, size_t len,
                          const char *errtext) {
  (void)len;
  struct leader_member *lm = arg;
  struct leader_lookup *ll = lm->ll;
  ll->via_pending--;
  if (ll->done) {
    leader_free_maybe(ll);
    return;
  }
  leader_answer(lm, true, status, code, body, errtext);
}

static void leader_send(struct leader_member *lm) {
  struct leader_lookup *ll = lm->ll;
  const struct edr_member *m = ll->a->plan->hosts[lm->host].member;
  const char *path = "/v3/maintenance/status";
  int rc;
  ll->pending++;
  if (lm->via) {
    struct asker k = {.la = ll->a};
    ll->via_pending++;
    rc = via_send(&k, lm->host, m->client_urls.v[0], "POST", path, "{}", NULL, LEADER_ASK_MS,
                  leader_via_cb, lm);
    if (rc)
      ll->via_pending--;
  } else {
    char *url = edr_asprintf("%s%s", m->client_urls.v[0], path);
    struct edr_http_req q = {.method = "POST", .url = url, .body = "{}", .tls = &ll->tls,
                             .timeout_ms = LEADER_ASK_MS};
    rc = url ? edr_http_request(ll->http, &q, leader_here_cb, lm) : EDR_ENOMEM;
    free(url);
  }
  if (rc) {
    ll->pending--;
    snprintf(lm->why, sizeof lm->why, "%s: %s", m->name, edr_strerror(rc));
  }
}

static void leader_start(struct edr_leader_ask *a) {
  const struct edr_plan *p = a->plan;
  struct leader_lookup *ll = calloc(1, sizeof(*ll));
  if (ll) {
    ll->m = calloc(p->n_hosts ? p->n_hosts : 1, sizeof *ll->m);
    ll->rows = calloc(p->n_hosts ? p->n_hosts : 1, sizeof *ll->rows);
  }
  if (!ll || !ll->m || !ll->rows || !(ll->http = edr_http_new(a->loop))) {
    if (ll) {
      free(ll->m);
      free(ll->rows);
    }
    free(ll);
    edr_warn("the leader lookup cannot start: %s", edr_strerror(EDR_ENOMEM));
    edr_leader_done(a, -1);
    return;
  }
  ll->a = a;
  ll->a_n = p->n_hosts;
  ll->leader = -1;
  for (size_t i = 0; i < p->n_hosts; i++)
    edr_status_row_init(&ll->rows[i], p->hosts[i].member->name,
                        p->hosts[i].member->client_urls.v[0]);
  env_tls(&ll->tls);
  a->impl = ll;
  for (size_t i = 0; i < p->n_hosts; i++) {
    const struct edr_health_route *r = p->health_routes ? &p->health_routes[i] : NULL;
    ll->m[i] = (struct leader_member){.ll = ll, .host = i};
    ll->m[i].via = r && r->via_host && edr_leader_can_ask(a, i);
    leader_send(&ll->m[i]);
  }
  if (!ll->pending)
    leader_judge(ll);
}

static void leader_cancel(struct edr_leader_ask *a) {
  struct leader_lookup *ll = a->impl;
  if (ll)
    leader_end(ll);
}

static const struct edr_leader_ops leader_ops = {.start = leader_start,
                                                 .cancel = leader_cancel};

static const struct edr_gate_ops health_ops = {.start = gate_health, .cancel = health_cancel};
static const struct edr_gate_ops wait_healthy_ops = {.start = gate_wait_healthy,
                                                     .cancel = health_cancel};
static const struct edr_gate_ops members_ops = {.start = gate_members,
                                                .cancel = members_cancel};
static const struct edr_gate_ops snapshot_ops = {.start = gate_snapshot,
                                                 .cancel = snapshot_cancel};

const struct edr_exec_gates edr_etcd_gates = {
  .kinds = {
    [EDR_GATE_HEALTH] = &health_ops,
    [EDR_GATE_WAIT_HEALTHY] = &wait_healthy_ops,
    [EDR_GATE_MEMBER_ADD] = &members_ops,
    [EDR_GATE_MEMBER_REMOVE] = &members_ops,
    [EDR_GATE_SNAPSHOT_SAVE] = &snapshot_ops,
  },
  .leader = &leader_ops,
};
