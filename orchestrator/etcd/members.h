/*
 * members.h - the membership of a running cluster: list, add and remove
 * members through etcd's JSON gateway (POST /v3/cluster/member/list, /add,
 * /remove; etcd 3.4 and 3.5 both serve /v3/).
 *
 * Used by the playbook steps member-add and member-remove, which run on the
 * coordinator between two barriers, so every call here is synchronous: it
 * runs its own private libuv loop with an edr_http client (http.h) and
 * returns when etcd has answered.  Each HTTP request is bounded by
 * TIMEOUT_MS (0: http.h's default, 10 s); a call makes at most one list and
 * one change request per URL it tries.
 *
 * URLS are client URLs ("http://10.0.0.1:2379"), tried in order: a URL that
 * cannot be reached (refused, timed out, TLS failure...) is passed over for
 * the next; an answer from etcd, even a refusal, is final for a change
 * (another member would refuse it for the same reason).
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

#include "http.h"  /* struct edr_tls */
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

/* Ask the first of URLS (n_urls client URLs, tried in order) that answers.
 * On success *OUT is filled (the caller releases it); on failure it is
 * left empty (releasing it is harmless). */
int edr_members_list(const char *const *urls, size_t n_urls,
                     const struct edr_tls *tls, uint64_t timeout_ms,
                     struct edr_member_list *out, char *err, size_t errlen);

/* Free what a list owns and leave it empty; L may be NULL. */
void edr_member_list_release(struct edr_member_list *l);

/* member add PEER_URLS (n_peer of them, at least one), as a voting member.
 * *ALREADY = true (and ID_OUT set) when a member with exactly those peer
 * URLs exists: nothing is added.  Else the new member's id in ID_OUT. */
int edr_members_add(const char *const *urls, size_t n_urls,
                    const struct edr_tls *tls, uint64_t timeout_ms,
                    const char *const *peer_urls, size_t n_peer,
                    char id_out[17], bool *already, char *err, size_t errlen);

/* member remove: the member named NAME (NULL or "": none), else the one with
 * one of PEER_URLS.  *ABSENT = true when none is a member: nothing removed. */
int edr_members_remove(const char *const *urls, size_t n_urls,
                       const struct edr_tls *tls, uint64_t timeout_ms,
                       const char *name, const char *const *peer_urls,
                       size_t n_peer, bool *absent, char *err, size_t errlen);

#endif
