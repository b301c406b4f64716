/*
 * route.c - how the snapshot reaches the hosts (docs/transfer.md): the
 * relay's order (the host holding the snapshot first, then the spec's
 * order), each host's predecessor and successor, the port, the check-phase
 * steps that prove each link and check a snapshot already on a host, and
 * the relay's fields of each push.  The plan owns all of it; the run adds
 * its key and turns a host its predecessor cannot reach into a direct push
 * (engine/steps.c), before anything is sent.
 */
#include "plan.h"

#include "err.h"
#include "util.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const edr_transfer_names[3] = {
  [EDR_TRANSFER_AUTO] = "auto",
  [EDR_TRANSFER_RELAY] = "relay",
  [EDR_TRANSFER_DIRECT] = "direct",
};

static int port_of(const struct edr_plan *p, const struct edr_host_plan *h) {
  return h->member->relay_port ? h->member->relay_port : p->relay_port;
}

enum { RELAY_PORT_BASE = 20000, RELAY_PORT_SPAN = 10000 };

/* The run's relay port, from its id so that a run and its resume agree:
 * 20000-29999, below Linux's ephemeral range (32768-60999 by default),
 * where a host's own outgoing connections (etcd's peers, ssh) take local
 * ports and a listener would find its port in use, and below Kubernetes'
 * NodePorts (30000-32767). */
static int run_port(const char *run_id) {
  uint32_t x = 2166136261u;
  for (const char *c = run_id; *c; c++)
    x = (x ^ (uint8_t)*c) * 16777619u;
  return RELAY_PORT_BASE + (int)(x % RELAY_PORT_SPAN);
}

int edr_plan_route(struct edr_plan *p, const struct edr_plan_opts *o, struct edr_error *err) {
  p->transfer = o->transfer;
  p->snapshot_host = -1;
  p->from_member = o->from_member;
  p->relay_port = run_port(p->run_id);
  for (size_t i = 0; i < p->n_hosts; i++)
    p->hosts[i].relay_prev = p->hosts[i].relay_next = -1;
  if (o->snapshot_member) {
    for (size_t i = 0; i < p->n_hosts; i++)
      if (!strcmp(p->hosts[i].member->name, o->snapshot_member))
        p->snapshot_host = (long)i;
    if (p->snapshot_host < 0)
      return edr_error_set(err, EDR_EINVAL,
                           "the snapshot is on '%s', which is not a member of the cluster",
                           o->snapshot_member);
    if (!(p->snapshot_remote = strdup(o->snapshot_remote)))
      return edr_error_set(err, EDR_ENOMEM, "cannot build the plan: %s",
                           edr_strerror(EDR_ENOMEM));
  }
  if (p->kind != EDR_PLAN_RESTORE)
    return 0;
  /* A snapshot on a host must leave it through the relay: never direct. */
  bool relay = p->snapshot_host >= 0 ||
               (p->transfer != EDR_TRANSFER_DIRECT && p->n_hosts >= 2);
  if (!relay)
    return 0;
  long prev = p->snapshot_host;
  for (size_t i = 0; i < p->n_hosts; i++) {
    struct edr_host_plan *h = &p->hosts[i];
    if ((long)i == p->snapshot_host)
      continue;
    /* a name the static agent cannot resolve (it does no name lookups:
     * no NSS, no DNS client): nobody can connect to that host, so it gets
     * a direct push (it still forwards to the next); the plan says why */
    if (!edr_ip_literal(h->member->relay_address)) {
      if (p->snapshot_host >= 0 || p->transfer == EDR_TRANSFER_RELAY)
        return edr_error_set(err, EDR_EINVAL,
                             "member '%s': relay_address '%s' is not an IP address, and "
                             "the %s: set relay_address in the spec", h->member->name,
                             h->member->relay_address, p->snapshot_host >= 0
                                 ? "snapshot is on a host, so every host needs the relay"
                                 : "transfer is --transfer relay");
      h->relay_named = true;
      prev = (long)i;
      continue;
    }
    if (prev >= 0) {
      h->relay_prev = prev;
      p->hosts[prev].relay_next = (long)i;
      p->relay = true;
    }
    prev = (long)i;
  }
  return 0;
}

int edr_plan_route_checks(struct edr_plan *p, struct edr_host_plan *h) {
  long me = (long)(h - p->hosts);
  if (p->snapshot_host == me) {
    if (!edr_plan_add_step(h, h->phase_stage[EDR_PHASE_CHECK], EDR_STEP_CHECK_SNAPSHOT,
                           json_pack("{s:s, s:s}", "op", "snapshot-check", "path",
                                     p->snapshot_remote),
                           NULL, "check the snapshot %s on this host (read only): size, "
                           "sha-256, %s", p->snapshot_remote,
                           p->from_member ? "its revision (the member's own db: no "
                                            "integrity trailer; etcd must be stopped here)"
                                          : "its integrity trailer"))
      return EDR_ENOMEM;
  }
  if (h->relay_prev < 0 && h->relay_next < 0)
    return 0;
  /* wait_ms: the request's timeout_ms is the step's (plan.c), a bound on the
   * whole op, not the wait for the previous host */
  json_t *req = json_pack("{s:s, s:I}", "op", "relay-check", "wait_ms", (json_int_t)10000);
  char what[600] = "";
  size_t n = 0;
  if (req && h->relay_prev >= 0) {
    json_object_set_new(req, "listen", json_pack("{s:i}", "port", port_of(p, h)));
    n += (size_t)snprintf(what + n, sizeof what - n, "listen on port %d until %s's agent "
                          "connects (at most 10 s)", port_of(p, h),
                          p->hosts[h->relay_prev].member->name);
  }
  if (req && h->relay_next >= 0) {
    const struct edr_host_plan *nx = &p->hosts[h->relay_next];
    json_object_set_new(req, "forward",
                        json_pack("{s:s, s:i, s:s}", "addr", nx->member->relay_address,
                                  "port", port_of(p, nx), "host", nx->member->name));
    snprintf(what + n, sizeof what - n, "%sconnect to %s at %s port %d", n ? "; " : "",
             nx->member->name, nx->member->relay_address, port_of(p, nx));
  }
  if (!req || !edr_plan_add_step(h, h->phase_stage[EDR_PHASE_CHECK], EDR_STEP_RELAY_CHECK,
                                 req, NULL, "relay check with the run's key: %s", what))
    return EDR_ENOMEM;
  return 0;
}

int edr_plan_route_push(const struct edr_plan *p, const struct edr_host_plan *h,
                        json_t *req) {
  long me = (long)(h - p->hosts);
  int rc = 0;
  if (p->snapshot_host == me)
    rc |= json_object_set_new(req, "source", json_string(p->snapshot_remote));
  if (h->relay_prev >= 0)
    rc |= json_object_set_new(req, "listen", json_pack("{s:i}", "port", port_of(p, h)));
  if (h->relay_next >= 0) {
    const struct edr_host_plan *nx = &p->hosts[h->relay_next];
    rc |= json_object_set_new(req, "forward",
                              json_pack("{s:s, s:i, s:s}", "addr", nx->member->relay_address,
                                        "port", port_of(p, nx), "host", nx->member->name));
  }
  return rc ? EDR_ENOMEM : 0;
}

void edr_plan_route_from(const struct edr_plan *p, const struct edr_host_plan *h, bool brief,
                         char *buf, size_t len) {
  long me = (long)(h - p->hosts);
  const char *prev = h->relay_prev >= 0 ? p->hosts[h->relay_prev].member->name : "";
  if (p->snapshot_host == me)
    snprintf(buf, len, "copied from %s on this host", p->snapshot_remote);
  else if (h->relay_prev >= 0 && brief)
    snprintf(buf, len, "relayed from %s", prev);
  else if (h->relay_prev >= 0)
    snprintf(buf, len, "relayed from %s to port %d (a direct push if %s cannot reach it)",
             prev, port_of(p, h), prev);
  else if (h->relay_named && brief)
    snprintf(buf, len, "pushed from this machine (relay_address '%s' is a host name)",
             h->member->relay_address);
  else if (h->relay_named)
    snprintf(buf, len, "pushed from this machine: its relay_address '%s' (from its peer URL) "
             "is a host name, and the agent does no name lookups; set relay_address to its IP "
             "address in the spec to relay it", h->member->relay_address);
  else
    snprintf(buf, len, "pushed from this machine");
  if (h->relay_next >= 0) {
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, ", forwarded to %s", p->hosts[h->relay_next].member->name);
  }
}

void edr_plan_route_print(const struct edr_plan *p, FILE *out) {
  if (p->kind != EDR_PLAN_RESTORE)
    return;
  fprintf(out, "  transfer:          %s%s\n", edr_transfer_names[p->transfer],
          p->relay ? ": relay between hosts, AES-256-GCM with a key made for the run"
                   : ": every host from this machine");
  bool named = false;
  for (size_t i = 0; i < p->n_hosts; i++)
    named |= p->hosts[i].relay_named;
  if (!p->relay && !named)
    return;
  for (size_t i = 0; i < p->n_hosts; i++) {
    char from[400];
    edr_plan_route_from(p, &p->hosts[i], false, from, sizeof from);
    fprintf(out, "    %-16s %s\n", p->hosts[i].member->name, from);
  }
}
