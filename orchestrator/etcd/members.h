/*
 * members.h - the membership of a running cluster: list, add and remove
 * members through etcd's JSON gateway (POST /v3/cluster/member/list, /add,
 * /remove; etcd 3.4 and 3.5 both serve /v3/).
 *
 * Used by the playbook steps member-add and member-remove, gates that run on
 * the coordinator's loop between two barriers: edr_members_start() runs one
 * operation on the caller's libuv loop with an edr_http client (http.h)
 * and calls back when etcd has answered; it can be cancelled.  The
 * synchronous calls below are the same operation on a loop of their own,
 * for a caller on no loop (never call them from a loop's callback).
 * Each HTTP request is bounded by
 * TIMEOUT_MS (0: http.h's default, 10 s); a call makes at most one list and
 * one change request per URL it tries, and with a user one authentication
 * before the change, asked the same way as the change.
 *
 * URLS are client URLs ("http://10.0.0.1:2379"), tried in order: a URL that
 * cannot be reached (refused, timed out, TLS failure...) is passed over for
 * the next; an answer from etcd, even a refusal, is final for a change
 * (another member would refuse it for the same reason).
 *
 * Each URL is asked from here with the call's TLS files or, where
 * req->via_url says so, through the caller's edr_members_asker (the agent
 * on that member's host, with the host's certificates: cmd/gates.c); a
 * URL that gives no answer that way is passed over the same.
 *
 * Idempotent, so a step can be retried after a lost answer: add does nothing
 * when a member with exactly those peer URLs exists, remove does nothing
 * when no member has that name or one of those peer URLs.
 *
 * Errors: 0 or a negative EDR_E* code (err.h), and one sentence in
 * err[errlen] that names the URL asked and the reason, e.g. "member add of
 * 'http://10.0.0.2:2380' refused by http://10.0.0.1:2379: etcdserver:
 * re-configuration failed due to not enough started members".  Codes:
 * EDR_EUNHEALTHY (etcd refused: not enough started members, unhealthy
 * cluster, no leader, request timed out), EDR_EEXIST (a peer URL is taken by
 * another member), EDR_EINVAL (bad arguments or URLs etcd calls invalid),
 * EDR_EHTTP (any other refusal or an answer that is not the gateway's
 * JSON), or the transport error of the last URL tried (EDR_ECONNREFUSED,
 * EDR_ETIMEDOUT, EDR_ETLS...) when none answered.
 *
 * Ownership: every argument is borrowed for the call.  An edr_member_list
 * filled by edr_members_list() owns all its strings and arrays until
 * edr_member_list_release().
 */
#ifndef EDR_MEMBERS_H
#define EDR_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "err.h"
#include "http.h"  /* struct edr_tls */

struct edr_etcd_user;
#include "spec.h"  /* struct edr_strv */

struct edr_member_info {
  char id[17];                   /* hex, as etcdctl prints it (no padding) */
  char *name;                    /* "" for an added member not started yet */
  struct edr_strv peer_urls, client_urls;  /* client_urls empty likewise */
  bool is_learner;
};

struct edr_member_list {
  struct edr_member_info *v;     /* n, in the order etcd gave them */
  size_t n;
  char cluster_id[17];           /* hex */
  char *asked;                   /* the URL that answered */
};

/* ---- on the caller's loop ------------------------------------------------- */

enum edr_members_op { EDR_MEMBERS_LIST, EDR_MEMBERS_ADD, EDR_MEMBERS_REMOVE };

/* One request to client URL number URL of the call made elsewhere (the
 * agent on that member's host): METHOD, PATH, BODY and AUTHORIZATION
 * (etcd's token, NULL: none) as the call would send them itself, all
 * borrowed for the call only.  BODY may hold the user's password (the
 * authentication): the asker sends it over the host's SSH session only;
 * the caller wipes BODY once the asker returns.  CB gets what
 * edr_http_request's callback would, once, from the loop and never inside
 * the call.  Returns 0, or a negative code and CB never runs.  The
 * answers are judged by the same code whichever way they came. */
struct edr_members_asker {
  int (*request)(void *arg, size_t url, const char *method, const char *path,
                 const char *body, const char *authorization, uint64_t timeout_ms,
                 edr_http_cb cb, void *cb_arg);
  void *arg;
};

struct edr_members_req {         /* every pointer borrowed until the callback */
  enum edr_members_op op;
  const char *const *urls;       /* client URLs, tried in order */
  size_t n_urls;
  const struct edr_tls *tls;
  uint64_t timeout_ms;           /* per request; 0: http.h's default */
  const char *name;              /* remove: the member's name (NULL or "": none) */
  const char *const *peer_urls;  /* add: the new member's; remove: one of them */
  size_t n_peer;
  /* etcd's user (auth.h) for a cluster with authentication enabled: a
   * change is sent with a token of the member it goes to, asked of that
   * member the same way as the change (from here or through VIA); NULL:
   * none */
  const struct edr_etcd_user *user;
  /* Which URLs are asked through VIA instead of from here (n_urls long;
   * NULL: all from here).  A call whose requests through VIA are still
   * under way when it ends waits for their answers (the asker bounds each)
   * before it frees itself; CB is not delayed. */
  const bool *via_url;
  /* Which URLs asked from here are asked again through VIA when here
   * gives no route to them or a TLS failure (n_urls long; NULL: none): a
   * member whose route is not known yet (plan/health_route.c's auto). */
  const bool *via_fallback;
  struct edr_members_asker via;
};

struct edr_members_result {
  struct edr_error err;          /* code 0, or a negative EDR_E* code as above
                                    (EDR_ECANCELED after edr_members_cancel)
                                    with why, one sentence; the call's */
  char id[17];                   /* add: the member's id */
  bool already;                  /* add: already a member; remove: was none */
  struct edr_member_list list;   /* list: the list; released after the
                                    callback unless it moves it out (and
                                    zeroes it) */
};

typedef void (*edr_members_cb)(void *arg, struct edr_members_result *res);

struct edr_members_call;         /* opaque; freed after the callback */

/* Start REQ on LOOP.  Returns 0 and CB runs exactly once, from the loop and
 * never from inside this call (bad arguments come that way too); or
 * EDR_ENOMEM and CB never runs.  *OUT (may be NULL) is valid until CB. */
int edr_members_start(uv_loop_t *loop, const struct edr_members_req *req,
                      edr_members_cb cb, void *arg, struct edr_members_call **out);

/* End the call now: the request in flight is dropped and CB follows from
 * the loop with EDR_ECANCELED.  A change etcd received may still be made:
 * the operations are idempotent, retry to learn. */
void edr_members_cancel(struct edr_members_call *c);

/* ---- the same, for a caller on no loop -------------------------------------- */

/* Ask the first of URLS (n_urls client URLs, tried in order) that answers.
 * On success *OUT is filled (the caller releases it); on failure it is
 * left empty (releasing it is harmless). */
int edr_members_list(const char *const *urls, size_t n_urls,
                     const struct edr_tls *tls, uint64_t timeout_ms,
                     struct edr_member_list *out, struct edr_error *err);

/* Free what a list owns and leave it empty; L may be NULL. */
void edr_member_list_release(struct edr_member_list *l);

/* member add PEER_URLS (n_peer of them, at least one), as a voting member.
 * *ALREADY = true (and ID_OUT set) when a member with exactly those peer
 * URLs exists: nothing is added.  Else the new member's id in ID_OUT. */
int edr_members_add(const char *const *urls, size_t n_urls,
                    const struct edr_tls *tls, uint64_t timeout_ms,
                    const char *const *peer_urls, size_t n_peer,
                    char id_out[17], bool *already, struct edr_error *err);

/* member remove: the member named NAME (NULL or "": none), else the one with
 * one of PEER_URLS.  *ABSENT = true when none is a member: nothing removed. */
int edr_members_remove(const char *const *urls, size_t n_urls,
                       const struct edr_tls *tls, uint64_t timeout_ms,
                       const char *name, const char *const *peer_urls,
                       size_t n_peer, bool *absent, struct edr_error *err);

/* Frees what RES holds (the call does, after its callback). */
void edr_members_result_release(struct edr_members_result *res);

#endif
