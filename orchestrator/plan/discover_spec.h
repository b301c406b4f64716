/*
 * discover_spec.h - a cluster spec (docs/spec.md) made from what the agent's
 * `discover` op found on one member's host (docs/agent-protocol.md): how
 * etcd is started there and the membership in that member's own db.  Each
 * value keeps where it came from, for `etcd-dr discover`'s side table and
 * its YAML comments.  Pure: no I/O but the printing to a given FILE.
 *
 * What cannot be derived is refused, never guessed: a member whose peer URL
 * names no host this machine could reach (loopback, a wildcard, malformed)
 * needs --member-host NAME=HOST, and a member the db knows by id only needs
 * a name from the member's --initial-cluster.
 */
#ifndef EDR_DISCOVER_SPEC_H
#define EDR_DISCOVER_SPEC_H

#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct edr_discover_in {
  const char *host;                  /* the host discover reached */
  const char *const *member_hosts;   /* "NAME=HOST" (--member-host), borrowed */
  size_t n_member_hosts;
  /* SSH settings from the command line, copied into the spec when given
   * (NULL / -1: not given). */
  const char *ssh_user, *identity_file, *known_hosts, *proxy_jump;
  int ssh_port, sudo;
  bool own_commands; /* --stop-command or --start-command given: no preset */
};

/* From FACTS (the discover reply, borrowed) make *SPEC (a new JSON object in
 * docs/spec.md's form) and *FROM (a new array of {"field", "value", "from"},
 * field as "data_dir" or "members[1].peer_urls"; warnings as field
 * "warning").  Returns 0, or EDR_EINVAL with ERR saying what could not be
 * derived and what to give; then *SPEC and *FROM are NULL.  The texts in
 * *FROM are escaped (util.h's edr_escape): safe to print. */
int edr_discover_spec(json_t *facts, const struct edr_discover_in *in, json_t **spec,
                      json_t **from, struct edr_error *err);

/* Where FIELD's value came from (the first entry for FIELD; "warning" gives
 * the first warning), borrowed from FROM, or NULL. */
const char *edr_discover_from(json_t *from, const char *field);
/* "FIELD  VALUE  FROM" lines, aligned, to OUT (the side table). */
void edr_discover_print_from(json_t *from, FILE *out);
/* SPEC as YAML with a "# from ..." comment after each value. */
void edr_discover_print_yaml(json_t *spec, json_t *from, FILE *out);

#endif
