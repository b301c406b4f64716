/*
 * resolve.h - the addresses this machine looks up for the agents.  The
 * static agent resolves no names (no NSS): a member's client URL whose host
 * is a name (https://etcd1.example.com:2379) is asked through the host at
 * the address this machine's resolver gives for it, sent as the etcd-http
 * or etcd-snapshot request's "addr" (docs/agent-protocol.md); the agent
 * still verifies TLS against the name.  Each name is looked up once per
 * run, before the run asks anything through a host, and never while a plan
 * is built (`plan` and the tests make no DNS queries).
 *
 * Ownership: the caller owns every buffer; edr_routes_resolve writes into
 * the plan's routes (plan->health_routes, plan.h), which the plan owns.
 */
#ifndef EDR_ETCD_RESOLVE_H
#define EDR_ETCD_RESOLVE_H

#include <netinet/in.h>
#include <stddef.h>

#include "err.h"
#include "plan.h"

/* The address the agent connects to for URL: "" in ADDR when its host is
 * an IP address or "localhost" (the agent takes those itself), else the
 * first address this machine's resolver gives for the name.  0, or
 * EDR_ERESOLVE with ERR naming the name, the URL and the resolver's reason,
 * then HINT (what to do; the caller names the member). */
int edr_url_addr(const char *url, char addr[INET6_ADDRSTRLEN], const char *hint,
                 struct edr_error *err);

/* Resolve member I's client URL for its route (plan->health_routes[I])
 * when P may ask it through its host (edr_health_route_through_host): the
 * address goes in the route's addr, which the requests through the host
 * carry as "addr".  0 when resolved or when there is nothing to resolve.
 * A name that does not resolve is EDR_ERESOLVE with ERR naming the member,
 * its host, the name, the URL, the resolver's reason and what to do; a
 * route auto only may move there (look) is then marked unresolved (it
 * stays here, edr_health_route_seen), one fixed through the host
 * (via_host) cannot be asked at all. */
int edr_route_resolve(struct edr_plan *p, size_t i, struct edr_error *err);

/* edr_route_resolve for every member, saying each address it found (an
 * info line) and each member kept here (a warning); stops at the first
 * member fixed through its host whose name does not resolve. */
int edr_routes_resolve(struct edr_plan *p, struct edr_error *err);

#endif
