/*
 * resolve.c - this machine's look-ups for the agents, which resolve no
 * names (resolve.h): a client URL's host name to the address the agent
 * connects to.  getaddrinfo blocks, so this runs before the run's loop,
 * once per name: by snapshot save --via ssh for its one member, by the
 * runs (cmd/driver.c, rollback) and status for each member they may ask
 * through its host.
 */
#include "resolve.h"

#include "log.h"
#include "valid.h"

#include <netdb.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>

int edr_url_addr(const char *url, char addr[INET6_ADDRSTRLEN], const char *hint,
                 struct edr_error *err) {
  char scheme[8], host[256];
  int port;
  addr[0] = '\0';
  if (!edr_parse_url(url, scheme, sizeof scheme, host, sizeof host, &port) ||
      host[0] == '[' || !strcasecmp(host, "localhost") || edr_ip_literal(host))
    return 0;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int g = getaddrinfo(host, NULL, &hints, &res);
  if (g == 0 && res)
    g = getnameinfo(res->ai_addr, res->ai_addrlen, addr, INET6_ADDRSTRLEN, NULL, 0,
                    NI_NUMERICHOST);
  if (res)
    freeaddrinfo(res);
  if (g) {
    addr[0] = '\0';
    return edr_error_set(err, EDR_ERESOLVE,
                         "cannot resolve '%s' (the host of client URL %s) here: %s; the "
                         "agent on the member's host resolves no names, so this machine does: "
                         "%s", host, url, gai_strerror(g), hint);
  }
  return 0;
}

int edr_route_resolve(struct edr_plan *p, size_t i, struct edr_error *err) {
  struct edr_health_route *r = p->health_routes ? &p->health_routes[i] : NULL;
  const struct edr_member *m = p->hosts[i].member;
  if (!r || !edr_health_route_through_host(p, i))
    return 0;
  struct edr_error e = EDR_ERROR_INIT;
  int rc = edr_url_addr(m->client_urls.v[0], r->addr,
                        "put an IP address in the spec's client_urls, or use --health-via here",
                        &e);
  if (rc && r->via_host) {
    edr_error_set(err, rc, "member '%s' on host %s is asked through its host (%s), but %s",
                  m->name, m->ssh_host, r->why, edr_error_text(&e));
  } else if (rc) {
    r->unresolved = true;
    edr_error_set(err, rc, "member '%s' on host %s: %s", m->name, m->ssh_host,
                  edr_error_text(&e));
  }
  edr_error_release(&e);
  return rc;
}

int edr_routes_resolve(struct edr_plan *p, struct edr_error *err) {
  for (size_t i = 0; p->health_routes && i < p->n_hosts; i++) {
    const struct edr_health_route *r = &p->health_routes[i];
    const struct edr_member *m = p->hosts[i].member;
    struct edr_error e = EDR_ERROR_INIT;
    int rc = edr_route_resolve(p, i, &e);
    if (rc && !r->unresolved) {
      edr_error_set(err, rc, "%s", edr_error_text(&e));
      edr_error_release(&e);
      return rc;
    }
    if (rc)
      edr_warn("%s; it is asked from here only", edr_error_text(&e));
    else if (r->addr[0])
      edr_info("%s: its client URL %s is at %s (resolved here, for its host's agent)", m->name,
               m->client_urls.v[0], r->addr);
    edr_error_release(&e);
  }
  return 0;
}
