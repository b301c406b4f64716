/*
 * gates.c - the gates that talk to etcd, and the leader lookup, lent to the
 * engine through engine/gate.h (edr_etcd_gates, declared in driver.h).
 *
 * The engine runs the stages; when a stage's gate is one of these it calls
 * start() here and waits for edr_gate_done().  This file owns the etcd side
 * of each: which members to ask, with which TLS files (ETCDCTL_CACERT,
 * ETCDCTL_CERT, ETCDCTL_KEY, as etcdctl reads them), what revision to wait
 * for, and the line the report keeps.  The health waits run on the run's
 * loop and can be cancelled; member-add/-remove, snapshot-save and
 * wait-healthy's first status ask still block inside start() on private
 * loops (ARCHITECTURE.md says what is meant instead).
 */
#include "commands.h"
#include "driver.h"

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

static void env_tls(struct edr_tls *t) {
  t->cacert = getenv("ETCDCTL_CACERT");
  t->cert = getenv("ETCDCTL_CERT");
  t->key = getenv("ETCDCTL_KEY");
}

/* ---- health and wait-healthy: a cancelable wait on the run's loop -------- */

struct health_gate {
  struct edr_health_member *members;   /* borrowed by the wait */
  struct edr_health_wait *wait;        /* while it runs */
  int64_t min_rev;
  uint64_t start_ms;
};

static void health_cb(void *arg, bool done, int status, const struct edr_health_report *rep) {
  struct edr_gate *g = arg;
  struct health_gate *hg = g->impl;
  const struct edr_stage *st = g->stage;
  if (!done) {
    /* one line each time the reason for waiting changes */
    if (rep->problem[0] && strcmp(rep->problem, g->problem)) {
      char line[600];
      snprintf(line, sizeof line, "waiting: %s", rep->problem);
      edr_gate_waiting(g, line);
      snprintf(g->problem, sizeof g->problem, "%s", rep->problem);
    }
    return;
  }
  hg->wait = NULL;
  g->health_ms = edr_now_ms() - hg->start_ms;
  snprintf(g->problem, sizeof g->problem, "%s", rep ? rep->problem : "");
  int64_t min_rev = hg->min_rev;
  free(hg->members);
  free(hg);
  g->impl = NULL;
  if (status == 0) {
    if (st->gate == EDR_GATE_HEALTH)
      snprintf(g->note, sizeof g->note, "healthy in %.2fs: %zu members, one cluster, "
               "revision >= %lld", (double)g->health_ms / 1000.0, g->plan->n_hosts,
               (long long)min_rev);
    else
      snprintf(g->note, sizeof g->note, "%s: healthy in %.2fs: %zu member%s, one cluster, "
               "revision >= %lld", st->name, (double)g->health_ms / 1000.0,
               st->n_members, st->n_members == 1 ? "" : "s", (long long)min_rev);
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

/* Wait until the members of IDX (indices into the plan's hosts; all when
 * NULL) are healthy, one cluster of exactly them, at revision >= MIN_REV. */
static void start_health(struct edr_gate *g, const size_t *idx, size_t n, int64_t min_rev,
                         uint64_t timeout_ms, bool others_allowed) {
  const struct edr_plan *p = g->plan;
  struct health_gate *hg = calloc(1, sizeof(*hg));
  struct edr_health_member *hm = calloc(n ? n : 1, sizeof(*hm));
  if (!hg || !hm) {
    free(hg);
    free(hm);
    edr_gate_done(g, EDR_ENOMEM, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const struct edr_member *m = p->hosts[idx ? idx[i] : i].member;
    hm[i].name = m->name;
    hm[i].client_url = m->client_urls.v[0];
    hm[i].peer_urls = (const char *const *)m->peer_urls.v;
    hm[i].n_peer_urls = m->peer_urls.n;
  }
  struct edr_health_opts ho = {
    .min_revision = min_rev,
    .timeout_ms = timeout_ms,
    .interval_ms = 100,
    .others_allowed = others_allowed,
  };
  env_tls(&ho.tls);
  hg->members = hm;
  hg->min_rev = min_rev;
  hg->start_ms = edr_now_ms();
  g->problem[0] = '\0';
  g->impl = hg;
  int rc = edr_health_wait_start_cancelable(g->loop, hm, n, &ho, health_cb, g, &hg->wait);
  if (rc) {
    free(hm);
    free(hg);
    g->impl = NULL;
    edr_gate_done(g, rc, "cannot wait for health: %s", edr_strerror(rc));
  }
}

static void health_cancel(struct edr_gate *g) {
  struct health_gate *hg = g->impl;
  if (hg && hg->wait)
    edr_health_wait_cancel(hg->wait);
}

/* The restore's (and rollback's) verify: every member, at the snapshot's
 * revision (bumped) or, for a rollback, any. */
static void gate_health(struct edr_gate *g) {
  const struct edr_plan *p = g->plan;
  edr_info("every member started; waiting for the cluster to become healthy");
  start_health(g, NULL, p->n_hosts,
               p->kind == EDR_PLAN_ROLLBACK
                   ? 1 : (p->snapshot_revision > 0 ? p->snapshot_revision : 1) + g->bump,
               g->stage->timeout_ms ? g->stage->timeout_ms : p->health_timeout_ms, false);
}

/* wait-healthy: the revision to reach is, by default, the highest one a
 * target member serves now (so a member that just joined has caught up). */
static void gate_wait_healthy(struct edr_gate *g) {
  const struct edr_stage *st = g->stage;
  int64_t min = st->min_revision;
  if (min == -2)
    min = g->plan->snapshot_revision > 0 ? g->plan->snapshot_revision + g->bump : 1;
  if (min == -1) {
    min = 1;
    struct edr_status_row *rows = calloc(st->n_members, sizeof(*rows));
    if (!rows) {
      edr_gate_done(g, EDR_ENOMEM, "out of memory");
      return;
    }
    for (size_t i = 0; i < st->n_members; i++) {
      const struct edr_member *m = g->plan->hosts[st->members[i]].member;
      edr_status_row_init(&rows[i], m->name, m->client_urls.v[0]);
    }
    struct edr_status_fetch_opts o = {.timeout_ms = 2000};
    env_tls(&o.tls);
    if (edr_status_fetch(rows, st->n_members, &o) == 0)
      for (size_t i = 0; i < st->n_members; i++)
        if (rows[i].have_status && rows[i].revision > min)
          min = rows[i].revision;
    edr_status_rows_release(rows, st->n_members);
    free(rows);
  }
  start_health(g, st->members, st->n_members, min,
               st->timeout_ms ? st->timeout_ms : g->plan->health_timeout_ms,
               st->others_allowed);
}

/* ---- member-add and member-remove ---------------------------------------- */

/* The client URLs of every member but EXCEPT, in spec order. */
static const char **other_urls(const struct edr_plan *p, size_t except, size_t *n) {
  const char **v = calloc(p->n_hosts + 1, sizeof(char *));
  *n = 0;
  for (size_t i = 0; v && i < p->n_hosts; i++)
    if (i != except)
      v[(*n)++] = p->hosts[i].member->client_urls.v[0];
  return v;
}

static void gate_members(struct edr_gate *g) {
  const struct edr_stage *st = g->stage;
  size_t target = st->n_members ? st->members[0] : 0, n = 0;
  const struct edr_member *m = g->plan->hosts[target].member;
  const char **urls = other_urls(g->plan, target, &n);
  struct edr_tls tls = {0};
  char err[1024] = "", id[17] = "";
  bool already = false;
  int rc;
  env_tls(&tls);
  if (!urls) {
    edr_gate_done(g, EDR_ENOMEM, "out of memory");
    return;
  }
  uint64_t to = st->timeout_ms ? st->timeout_ms : 10000;
  if (st->gate == EDR_GATE_MEMBER_ADD)
    rc = edr_members_add(urls, n, &tls, to, (const char *const *)m->peer_urls.v,
                         m->peer_urls.n, id, &already, err, sizeof err);
  else
    rc = edr_members_remove(urls, n, &tls, to, m->name, (const char *const *)m->peer_urls.v,
                            m->peer_urls.n, &already, err, sizeof err);
  free(urls);
  if (rc) {
    edr_gate_done(g, rc, "%s %s: %s", edr_gate_names[st->gate], m->name, err);
    return;
  }
  if (st->gate == EDR_GATE_MEMBER_ADD)
    snprintf(g->note, sizeof g->note, "%s: %s %s as member %s", st->name,
             already ? "already a member:" : "added", m->name, id);
  else
    snprintf(g->note, sizeof g->note, "%s: %s %s", st->name, m->name,
             already ? "was not a member (nothing to remove)" : "removed from the cluster");
  edr_gate_done(g, 0, NULL);
}

/* ---- snapshot-save ----------------------------------------------------- */

static void gate_snapshot(struct edr_gate *g) {
  const struct edr_stage *st = g->stage;
  struct edr_save_opts so = {.out = st->output, .dir = st->dir,
                             .fetch_ssh = edr_snapshot_fetch_ssh};
  struct edr_save_result *res = calloc(1, sizeof(*res));
  if (!res) {
    edr_gate_done(g, EDR_ENOMEM, "out of memory");
    return;
  }
  env_tls(&so.tls);
  if (st->n_members == 1)
    so.member = g->plan->hosts[st->members[0]].member->name;
  int rc = edr_snapshot_save(g->plan->spec, &so, res);
  if (!rc && st->dir && st->keep) {
    char msg[1024];
    rc = edr_snapshot_prune(st->dir, st->keep, res->path, msg, sizeof msg);
    if (rc)
      snprintf(res->msg, sizeof res->msg, "%s", msg);
  }
  if (rc) {
    edr_gate_done(g, rc, "snapshot: %s", res->msg);
  } else {
    char line[6000];
    char hb[32];
    edr_human_bytes(res->size, hb, sizeof hb);
    snprintf(line, sizeof line, "%s: saved %s (%s, revision %lld) from %s", st->name, res->path,
             hb, (long long)res->revision, res->source);
    snprintf(g->note, sizeof g->note, "%.1000s", line);
    edr_gate_done(g, 0, NULL);
  }
  free(res);
}

/* ---- the leader ------------------------------------------------------------ */

/* Only /v3/maintenance/status is asked: a member answers it from its own
 * state, with or without quorum (asking /health and the alarms too made the
 * ask wait out its 1.5 s timeout after a lost quorum). */
static long find_leader(const struct edr_plan *p) {
  struct edr_status_row *rows = calloc(p->n_hosts, sizeof(*rows));
  long leader = -1;
  if (!rows)
    return -1;
  for (size_t i = 0; i < p->n_hosts; i++)
    edr_status_row_init(&rows[i], p->hosts[i].member->name,
                        p->hosts[i].member->client_urls.v[0]);
  struct edr_status_fetch_opts o = {.timeout_ms = 1500, .status_only = true};
  env_tls(&o.tls);
  if (edr_status_fetch(rows, p->n_hosts, &o) == 0)
    for (size_t i = 0; i < p->n_hosts; i++)
      if (rows[i].have_status && rows[i].leader && rows[i].leader == rows[i].member_id)
        leader = (long)i;
  edr_status_rows_release(rows, p->n_hosts);
  free(rows);
  return leader;
}

static const struct edr_gate_ops health_ops = {.start = gate_health, .cancel = health_cancel};
static const struct edr_gate_ops wait_healthy_ops = {.start = gate_wait_healthy,
                                                     .cancel = health_cancel};
static const struct edr_gate_ops members_ops = {.start = gate_members};
static const struct edr_gate_ops snapshot_ops = {.start = gate_snapshot};

const struct edr_exec_gates edr_etcd_gates = {
  .kinds = {
    [EDR_GATE_HEALTH] = &health_ops,
    [EDR_GATE_WAIT_HEALTHY] = &wait_healthy_ops,
    [EDR_GATE_MEMBER_ADD] = &members_ops,
    [EDR_GATE_MEMBER_REMOVE] = &members_ops,
    [EDR_GATE_SNAPSHOT_SAVE] = &snapshot_ops,
  },
  .find_leader = find_leader,
};
