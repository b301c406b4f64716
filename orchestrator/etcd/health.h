/*
 * health.h - wait, on the coordinator's event loop, until a restored cluster
 * is healthy, is one cluster with exactly the expected members, and serves
 * at least the snapshot's revision.
 *
 * Talks to each member's client URL over HTTP(S) with etcd's JSON gateway
 * (etcd 3.4 and 3.5 serve it on the client port): GET /health, POST
 * /v3/maintenance/status, POST /v3/cluster/member/list.  Built on http.h (libcurl driven by libuv).
 * A member whose client URL this machine cannot reach, or that accepts no
 * certificate this machine has, is asked the same questions through the
 * caller's edr_health_asker (the agent on its host): the answers are judged
 * by the same code whichever way they came.
 */
#ifndef EDR_HEALTH_H
#define EDR_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"  /* struct edr_tls: CA, client cert and key, borrowed */

struct edr_health_member {  /* borrowed from the caller for the whole wait */
  const char *name;
  const char *client_url;          /* e.g. "http://10.0.0.1:2379" */
  const char *const *peer_urls;    /* expected peer URLs, n_peer_urls long */
  size_t n_peer_urls;
  /* Added for the route through the hosts: ask this member through
   * edr_health_opts.via instead of from here.  Read as each request goes
   * out, so the caller may set it during the wait (a member it moves to
   * its host): the requests after that go the new way. */
  bool via_host;
};

/* One request to member M's client URL made elsewhere (its host's agent):
 * METHOD, PATH and BODY as the wait would send them itself.  CB gets what
 * edr_http_request's callback would (status 0 with the HTTP code and body,
 * or a negative EDR_E* code with the reason in errtext), once, from the
 * loop and never inside the call.  Returns 0, or a negative code and CB
 * never runs. */
struct edr_health_asker {
  int (*request)(void *arg, const struct edr_health_member *m, const char *method,
                 const char *path, const char *body, uint64_t timeout_ms, edr_http_cb cb,
                 void *cb_arg);
  void *arg;
};

struct edr_health_opts {
  int64_t min_revision;     /* each member's header.revision must be >= */
  uint64_t timeout_ms;      /* give up after this long (EDR_ETIMEDOUT),
                               reporting the last whole round */
  uint64_t interval_ms;     /* between rounds; 100 is a good value */
  struct edr_tls tls;
  /* Added after the first version; 0 picks the default. */
  uint64_t request_timeout_ms;  /* per request (connect included); a round
                                   lasts at most this long; 0: 2000 */
  /* Added for playbooks: the member list may also hold members not waited
   * for (lost or stopped ones), as long as the waited-for members are a
   * majority of it; false: exactly the waited-for members. */
  bool others_allowed;
  /* Added for the route through the hosts: how members with via_host set
   * are asked (borrowed until the done=true call).  Their requests still
   * under way when the wait ends are waited for (each is bounded by
   * request_timeout_ms) before the wait frees itself. */
  struct edr_health_asker via;
};

/* What was last seen of one member.  Strings are owned by the report. */
struct edr_health_seen {
  const char *name;
  bool reachable, healthy;
  char member_id[17], cluster_id[17];  /* hex, "" when unknown */
  int64_t revision;                    /* -1 when unknown */
  bool is_leader;
  char error[256];                     /* why not healthy, "" when healthy */
  /* Added after the first version.  error is a whole sentence that names
   * the member (and its URL when it could not be reached), e.g.
   * "m2 (http://10.0.0.2:2379): connection refused" or
   * "m2: revision 12 < 40 expected": print it as is. */
  int status;                /* 0, or the EDR_E* of the last failed request */
  uint64_t raft_term, raft_index;      /* 0 when unknown */
  char version[32];                    /* etcd server version, "" unknown */
  bool via_host;                       /* asked through its host */
};

struct edr_health_report {
  size_t n;
  struct edr_health_seen *members;     /* n entries, in the caller's order */
  bool one_cluster;          /* same cluster_id everywhere */
  bool members_match;        /* member list == expected names + peer URLs */
  char problem[512];         /* the first reason the wait is not over, "" */
  uint64_t elapsed_ms;
  unsigned rounds;           /* rounds judged so far (this report's) */
  /* Added after the first version: why one_cluster or members_match is
   * false ("" when both hold), even when problem names a member instead;
   * e.g. "member list has 'm4' which is not in the spec". */
  char cluster_error[512];
};

/* Called after every round with done=false (for progress), and once with
 * done=true and status 0 (all conditions hold) or a negative EDR_E* code
 * (EDR_ETIMEDOUT with the last report).  The report is valid only during
 * the call.  A round on a LAN takes milliseconds, so progress comes about
 * every interval_ms: print a line only when rep->problem changes.
 * one_cluster compares the members that answered; problem gives per-member
 * reasons (in the caller's order) before cluster_error. */
typedef void (*edr_health_cb)(void *arg, bool done, int status,
                              const struct edr_health_report *rep);

struct edr_health_wait;  /* opaque; freed by the library after done=true */

/* Start waiting.  Returns 0 and calls CB later, or a negative EDR_E* code
 * (and never calls CB).  M, its strings and OPTS' strings are borrowed
 * until the done=true call.  The first round starts at once; timeout_ms 0
 * means a single round decides.  After done=true the wait closes its libuv
 * handles: let the loop run on (uv_run returns by itself) to free them.
 * Members that refuse connections (not started yet) are retried every
 * round until the timeout. */
int edr_health_wait_start(uv_loop_t *loop, const struct edr_health_member *m,
                          size_t n, const struct edr_health_opts *opts,
                          edr_health_cb cb, void *arg);

/* Added after the first version, for Ctrl-C and a failed sibling step:
 * the same, and *OUT is set to the wait, borrowed: valid until CB runs
 * with done=true, and no longer. */
int edr_health_wait_start_cancelable(uv_loop_t *loop,
                                     const struct edr_health_member *m,
                                     size_t n,
                                     const struct edr_health_opts *opts,
                                     edr_health_cb cb, void *arg,
                                     struct edr_health_wait **out);

/* End the wait now: CB runs before this returns, with done=true,
 * EDR_ECANCELED and the last whole round's report.  Also allowed from
 * inside CB's progress calls. */
void edr_health_wait_cancel(struct edr_health_wait *w);

/* etcd's JSON gateway writes 64-bit integers as strings and omits zero
 * and empty fields: KEY of OBJ as a number (0 when absent) or a string
 * ("" when absent, borrowed from OBJ).  Shared with status.c. */
#include <jansson.h>
uint64_t edr_gw_u64(json_t *obj, const char *key);
const char *edr_gw_str(json_t *obj, const char *key);
/* Whether two URLs name the same endpoint as etcd compares peer URLs:
 * case-insensitive, trailing slashes ignored.  Shared with members.c. */
bool edr_url_eq(const char *a, const char *b);

#endif
