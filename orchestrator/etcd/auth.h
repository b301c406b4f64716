/*
 * auth.h - etcd's users (docs/auth.md): who to authenticate as, taken from
 * --user and etcdctl's ETCDCTL_USER / ETCDCTL_PASSWORD, and the token etcd
 * gives for them (POST /v3/auth/authenticate), sent as the Authorization
 * header where etcd wants one (the snapshot, membership changes; not
 * /health, the status or the member list).
 *
 * Ownership: struct edr_etcd_user owns copies of the name and the
 * password; edr_etcd_user_release() wipes the password before freeing it.
 * The password is never put in a message, a plan, a journal or a command
 * line: only in the authenticate request's body.
 */
#ifndef EDR_ETCD_AUTH_H
#define EDR_ETCD_AUTH_H

#include <stddef.h>

#include "err.h"

struct edr_etcd_user {
  char *name;                /* NULL: no user (authentication not asked for) */
  char *password;
};

/* The user from OPT_USER (--user NAME, NULL when not given), else
 * ETCDCTL_USER ("name:password", or "name" with ETCDCTL_PASSWORD); the
 * password from ETCDCTL_PASSWORD, else after ETCDCTL_USER's first colon.
 * Returns 0 (U->name NULL when no user is named) or EDR_EINVAL with ERR
 * saying what to set (a NAME:PASSWORD given to --user, a user without a
 * password), or EDR_ENOMEM.  The password is never quoted. */
int edr_etcd_user_get(const char *opt_user, struct edr_etcd_user *u, struct edr_error *err);
void edr_etcd_user_release(struct edr_etcd_user *u);

/* Zero S (a password, or a string holding one) and free it; NULL is fine. */
void edr_etcd_wipe_free(char *s);

/* The body of POST /v3/auth/authenticate for U (new, NULL when out of
 * memory); free it with edr_etcd_auth_body_free(), which wipes it. */
char *edr_etcd_auth_body(const struct edr_etcd_user *u);
void edr_etcd_auth_body_free(char *body);

/* Read the answer (HTTP CODE, BODY) to that request made to WHO (the
 * member, for the message): 0 and *TOKEN (new) or EDR_EETCDAUTH with ERR
 * saying etcd's reason, the user and what to check. */
int edr_etcd_auth_token(const char *who, const struct edr_etcd_user *u, long code,
                        const char *body, char **token, struct edr_error *err);

/* What to add to an answer that says authentication is needed and no user
 * was given ("" otherwise): " (authentication is enabled: ...)". */
const char *edr_etcd_auth_hint(const char *answer, const struct edr_etcd_user *u);

#endif
