/*
 * auth.c - etcd's users and tokens (auth.h, docs/auth.md): the user named
 * by --user, ETCDCTL_USER and ETCDCTL_PASSWORD as etcdctl reads them, the
 * authenticate request's body and the token in its answer.  This file
 * owns the copies of the name and password it makes and wipes the
 * password (and any body holding it) before freeing it.
 */
#include "auth.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"  /* edr_gw_str */

void edr_etcd_wipe_free(char *s) {
  if (!s)
    return;
  volatile char *p = s;
  while (*p)
    *p++ = '\0';
  free(s);
}

void edr_etcd_user_release(struct edr_etcd_user *u) {
  free(u->name);
  edr_etcd_wipe_free(u->password);
  u->name = u->password = NULL;
}

int edr_etcd_user_get(const char *opt_user, struct edr_etcd_user *u, struct edr_error *err) {
  const char *env_user = getenv("ETCDCTL_USER"), *env_pw = getenv("ETCDCTL_PASSWORD");
  const char *colon = env_user ? strchr(env_user, ':') : NULL;
  u->name = u->password = NULL;
  if (opt_user && strchr(opt_user, ':'))
    return edr_error_set(err, EDR_EINVAL, "--user takes a user name only: put the password "
                         "in ETCDCTL_PASSWORD, never on a command line");
  if (opt_user && !*opt_user)
    return edr_error_set(err, EDR_EINVAL, "--user: empty user name");
  if (!opt_user && (!env_user || !*env_user))
    return 0;  /* no user: nothing to authenticate as */
  u->name = opt_user ? strdup(opt_user)
                     : strndup(env_user, colon ? (size_t)(colon - env_user) : strlen(env_user));
  if (env_pw && *env_pw)
    u->password = strdup(env_pw);
  else if (colon)
    u->password = strdup(colon + 1);
  else {
    int rc = edr_error_set(err, EDR_EINVAL, "%s '%s' has no password: set ETCDCTL_PASSWORD "
                           "(or ETCDCTL_USER=%s:PASSWORD)", opt_user ? "--user" : "ETCDCTL_USER",
                           u->name ? u->name : "", u->name ? u->name : "USER");
    edr_etcd_user_release(u);
    return rc;
  }
  if (!u->name || !u->password || !*u->name) {
    bool empty = u->name && !*u->name;
    edr_etcd_user_release(u);
    return empty ? edr_error_set(err, EDR_EINVAL, "ETCDCTL_USER: empty user name")
                 : edr_error_set(err, EDR_ENOMEM, "out of memory");
  }
  return 0;
}

char *edr_etcd_auth_body(const struct edr_etcd_user *u) {
  json_t *j = json_pack("{s:s, s:s}", "name", u->name, "password", u->password);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  /* jansson's copy of the password is zeroed as the object goes (jsonwipe.h) */
  json_decref(j);
  return s;
}

void edr_etcd_auth_body_free(char *body) { edr_etcd_wipe_free(body); }

int edr_etcd_auth_token(const char *who, const struct edr_etcd_user *u, long code,
                        const char *body, char **token, struct edr_error *err) {
  json_t *j = json_loads(body ? body : "", 0, NULL);
  const char *t = edr_gw_str(j, "token");
  *token = NULL;
  if (code == 200 && *t) {
    *token = strdup(t);
    json_decref(j);
    return *token ? 0 : edr_error_set(err, EDR_ENOMEM, "out of memory");
  }
  const char *m = edr_gw_str(j, "message");
  if (!*m)
    m = edr_gw_str(j, "error");
  int rc = edr_error_set(err, EDR_EETCDAUTH, "%s: authentication as '%s' failed: %s (check "
                         "ETCDCTL_USER, or --user and ETCDCTL_PASSWORD)", who, u->name,
                         *m ? m : code ? "no token in the answer" : "no answer");
  json_decref(j);
  return rc;
}

const char *edr_etcd_auth_hint(const char *answer, const struct edr_etcd_user *u) {
  if (u && u->name)
    return "";
  if (answer && (strstr(answer, "user name is empty") || strstr(answer, "invalid auth token") ||
                 strstr(answer, "permission denied")))
    return " (authentication is enabled: set ETCDCTL_USER, or --user with ETCDCTL_PASSWORD)";
  return "";
}
