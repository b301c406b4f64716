/*
 * health_route.c - how the health wait asks each member (--health-via):
 * from this machine, or through the agent on the member's host with the
 * host's certificates (the spec's etcdctl_cacert/_cert/_key, the kubeadm
 * preset's defaults).  The plan decides what it can from the spec and this
 * machine's TLS files; in auto, a member still asked from here is looked at
 * once from here before the run stops anything (cmd/gates.c), and moved to
 * its host when its client URL gives no answer or refuses this machine's
 * TLS, or refuses the connection from here while it answers on its host
 * (a firewall that rejects).  The plan owns the routes (plan->health_routes); the run updates
 * them in place and the report prints them.  The questions status asks,
 * which go the same two ways, are here too (edr_etcd_queries).  The routes
 * also say which hosts may be asked an https URL through their agent (or
 * take a snapshot from one), and so get the agent built with TLS
 * (engine/run.c); every other host gets the
 * one without.
 */
#include "plan.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* status, not the health wait: the health wait asks member/list too,
 * and reads its own rounds (etcd/health.c) */
const struct edr_etcd_query_def edr_etcd_queries[EDR_QUERY__COUNT] = {
  [EDR_QUERY_STATUS] = {.path = "/v3/maintenance/status", .method = "POST", .body = "{}"},
  [EDR_QUERY_HEALTH] = {.path = "/health", .method = "GET"},
  [EDR_QUERY_VERSION] = {.path = "/version", .method = "GET"},
  [EDR_QUERY_ALARM] = {.path = "/v3/maintenance/alarm", .method = "POST",
                       .body = "{\"action\":\"GET\"}"},
};

enum edr_etcd_query edr_etcd_query_of(const char *path) {
  int q = 0;
  while (q < EDR_QUERY__COUNT && (!path || strcmp(path, edr_etcd_queries[q].path)))
    q++;
  return (enum edr_etcd_query)q;
}

const char *const edr_health_via_names[] = {
  [EDR_HEALTH_VIA_AUTO] = "auto",
  [EDR_HEALTH_VIA_HERE] = "here",
  [EDR_HEALTH_VIA_HOSTS] = "hosts",
};

static void route(struct edr_health_route *r, bool host, bool look, const char *why) {
  r->via_host = host;
  r->look = look;
  snprintf(r->why, sizeof r->why, "%s", why);
}

int edr_health_routes_decide(struct edr_plan *p, enum edr_health_via via, bool cert_here) {
  free(p->health_routes);
  p->health_via = via;
  p->health_routes = calloc(p->n_hosts ? p->n_hosts : 1, sizeof *p->health_routes);
  if (!p->health_routes)
    return EDR_ENOMEM;
  for (size_t i = 0; i < p->n_hosts; i++) {
    const struct edr_member *m = p->hosts[i].member;
    struct edr_health_route *r = &p->health_routes[i];
    const char *url = m->client_urls.n ? m->client_urls.v[0] : "";
    if (via == EDR_HEALTH_VIA_HERE)
      route(r, false, false, "--health-via here");
    else if (via == EDR_HEALTH_VIA_HOSTS)
      route(r, true, false, "--health-via hosts");
    else if (!strncasecmp(url, "https://", 8) && !cert_here && m->etcdctl_cert)
      route(r, true, false, "no client certificate here (ETCDCTL_CERT unset); the host has "
            "etcdctl_cert");
    else
      route(r, false, true, "its client URL is looked at from here before anything stops");
  }
  return 0;
}

/* What a client URL said from here that no later ask from here gets past. */
static bool no_route(int status) {
  return status == EDR_ETIMEDOUT || status == EDR_EHOSTUNREACH || status == EDR_ERESOLVE;
}

void edr_health_route_seen(struct edr_health_route *r, const struct edr_member *m,
                           int status, const char *detail) {
  if (!r->look)
    return;
  r->look = false;
  r->refused = status == EDR_ECONNREFUSED;
  bool tls = status == EDR_ETLS;
  bool move = no_route(status) || (tls && (m->etcdctl_cert || m->etcdctl_cacert));
  if (move && r->unresolved) {
    /* the agent, which resolves no names, has no address to ask either */
    snprintf(r->why, sizeof r->why, "%s from here: %s; not through its host: its client "
             "URL's host name does not resolve here, and the agent resolves none",
             tls ? "tls refused" : "no answer", detail && *detail ? detail : edr_strerror(status));
  } else if (move) {
    r->via_host = true;
    snprintf(r->why, sizeof r->why, "%s from here: %s", tls ? "tls refused" : "no answer",
             detail && *detail ? detail : edr_strerror(status));
  } else {
    snprintf(r->why, sizeof r->why, "%s%s",
             !status                       ? "its client URL answered"
             : status == EDR_ECONNREFUSED ? "its client URL refused the connection from here: "
                                            "etcd not running, or a firewall that rejects"
                                           : "its client URL said: ",
             status && status != EDR_ECONNREFUSED
                 ? (detail && *detail ? detail : edr_strerror(status)) : "");
  }
}

bool edr_health_route_refused_here(const struct edr_health_route *r) {
  return r && r->refused && !r->via_host && !r->look && !r->unresolved;
}

void edr_health_route_answered_on_host(struct edr_health_route *r) {
  r->via_host = true;
  r->refused = false;
  snprintf(r->why, sizeof r->why, "refused from here, answered on its host: something "
           "between this machine and it rejects connections");
}

const char *edr_health_route_addr(const struct edr_plan *p, size_t i, const char *url) {
  const struct edr_health_route *r = p->health_routes ? &p->health_routes[i] : NULL;
  const struct edr_member *m = p->hosts[i].member;
  return r && r->addr[0] && url && m->client_urls.n && !strcmp(url, m->client_urls.v[0])
             ? r->addr : NULL;
}

bool edr_health_route_dead_end(const struct edr_health_route *r, int status) {
  return r && !r->via_host && !r->look && (no_route(status) || status == EDR_ETLS);
}

/* Whether P asks member I the way its health is asked (cmd/gates.c): a
 * health gate that covers it, a member change of another member, or the
 * leader lookup before the first stop. */
static bool asked_like_health(const struct edr_plan *p, size_t i) {
  bool stops = false;
  for (size_t h = 0; h < p->n_hosts; h++)
    for (size_t k = 0; k < p->hosts[h].n_steps; k++)
      stops |= p->hosts[h].steps[k].kind == EDR_STEP_STOP;
  if (edr_plan_kinds[p->kind].leader_last && p->n_hosts >= 2 && stops)
    return true;  /* the leader lookup before the first stop: every member */
  for (size_t s = 0; s < p->n_stages; s++) {
    const struct edr_stage *st = &p->stages[s];
    if (st->gate == EDR_GATE_HEALTH)  /* every member */
      return true;
    for (size_t k = 0; st->gate == EDR_GATE_WAIT_HEALTHY && k < st->n_members; k++)
      if (st->members[k] == i)
        return true;
    if ((st->gate == EDR_GATE_MEMBER_ADD || st->gate == EDR_GATE_MEMBER_REMOVE) &&
        (!st->n_members || st->members[0] != i))
      return true;  /* a member change asks the other members */
  }
  return false;
}

/* Whether route R may go through the host. */
static bool may_use_host(const struct edr_health_route *r) {
  return r && (r->via_host || r->look);
}

bool edr_health_route_through_host(const struct edr_plan *p, size_t i) {
  const struct edr_member *m = p->hosts[i].member;
  if (!p->health_routes || !may_use_host(&p->health_routes[i]) || !m->client_urls.n)
    return false;
  for (size_t k = 0; k < p->hosts[i].n_steps; k++)
    if (p->hosts[i].steps[k].kind == EDR_STEP_ASK)  /* status's (plan.c) */
      return true;
  return asked_like_health(p, i);
}

bool edr_health_route_tls_on_host(const struct edr_plan *p, size_t i) {
  const struct edr_member *m = p->hosts[i].member;
  const struct edr_health_route *r = p->health_routes ? &p->health_routes[i] : NULL;
  /* status's ask-etcd steps (plan.c) and snapshot save --via ssh's
   * take-snapshot (plan_snapshot.c) ask the URL in their request */
  for (size_t k = 0; k < p->hosts[i].n_steps; k++) {
    const struct edr_step *s = &p->hosts[i].steps[k];
    const char *url = s->kind == EDR_STEP_ASK || s->kind == EDR_STEP_TAKE_SNAPSHOT
                        ? json_string_value(json_object_get(s->request, "url")) : NULL;
    if (url && !strncasecmp(url, "https://", 8))
      return true;
  }
  return may_use_host(r) && m->client_urls.n &&
         !strncasecmp(m->client_urls.v[0], "https://", 8) && asked_like_health(p, i);
}

void edr_health_route_say(const struct edr_plan *p, size_t i, char *out, size_t len) {
  const struct edr_member *m = p->hosts[i].member;
  const struct edr_health_route *r = p->health_routes ? &p->health_routes[i] : NULL;
  char at[INET6_ADDRSTRLEN + 40] = "";  /* where its host's agent connects */
  if (r && r->addr[0])
    snprintf(at, sizeof at, "its client URL at %s, resolved here", r->addr);
  if (!r)
    snprintf(out, len, "from here");
  else if (r->via_host)
    snprintf(out, len, "through %s's agent, with its certificates (%s%s%s)", m->ssh_host,
             r->why, at[0] ? "; " : "", at);
  else if (r->look && r->unresolved)
    snprintf(out, len, "from here (its client URL's host name does not resolve here, and "
             "%s's agent resolves none)", m->ssh_host);
  else if (r->look)
    snprintf(out, len, "from here, or through %s's agent if its client URL gives no answer "
             "from here before anything stops, or refuses connections from here while it "
             "answers on its host%s%s%s", m->ssh_host, at[0] ? " (" : "", at,
             at[0] ? ")" : "");
  else
    snprintf(out, len, "from here (%s)", r->why);
}
