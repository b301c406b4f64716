/*
 * members.c - list, add and remove members of a running cluster through
 * etcd's JSON gateway, for the playbook steps member-add and member-remove.
 *
 * Each public call owns one private libuv loop and one edr_http client for
 * its whole duration; a request's completion callback stops the loop, so
 * the call reads like blocking code while libcurl stays on its event-driven
 * path.  A change is always preceded by a list from the same member: that
 * list decides whether there is anything to do (idempotence) and, for a
 * remove, which member id to remove.  When a change's answer is lost and a
 * later member says the change is already there ("Peer URLs already exists",
 * "member not found"), the call lists again and reports what it finds.
 */
#include "members.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "err.h"
#include "health.h"  /* edr_gw_u64, edr_gw_str, edr_url_eq */
#include "util.h"

/* ---- one synchronous gateway request ------------------------------------ */

struct gw {  /* the private loop and client of one public call */
  uv_loop_t loop;
  struct edr_http *http;
  const struct edr_tls *tls;
  uint64_t timeout_ms;
};

struct answer {
  uv_loop_t *loop;
  bool done;
  int status;
  long code;
  char *body;
  char errtext[256];
};

static void on_answer(void *arg, int status, long code, const char *body,
                      size_t len, const char *errtext) {
  struct answer *a = arg;
  a->done = true;
  a->status = status;
  a->code = code;
  a->body = malloc(len + 1);
  if (a->body) {
    memcpy(a->body, body, len);
    a->body[len] = '\0';
  } else if (status == 0) {
    a->status = EDR_ENOMEM;
  }
  snprintf(a->errtext, sizeof a->errtext, "%s", errtext ? errtext : "");
  uv_stop(a->loop);
}

static int gw_open(struct gw *g, const struct edr_tls *tls,
                   uint64_t timeout_ms) {
  memset(g, 0, sizeof *g);
  if (uv_loop_init(&g->loop) != 0)
    return EDR_ENOMEM;
  g->http = edr_http_new(&g->loop);
  if (!g->http) {
    uv_loop_close(&g->loop);
    return EDR_ENOMEM;
  }
  g->tls = tls;
  g->timeout_ms = timeout_ms;
  return 0;
}

static void gw_close(struct gw *g) {
  if (!g->http)
    return;
  edr_http_close(g->http, NULL, NULL);
  g->http = NULL;
  uv_run(&g->loop, UV_RUN_DEFAULT);  /* until the client's handles closed */
  uv_loop_close(&g->loop);
}

/* Map a gateway error answer to our codes.  The gateway sends
 * {"error": "...", "message": "...", "code": N} (3.4) or {"code": N,
 * "message": "..."} (3.5), N a gRPC status code. */
static int gw_err_code(long grpc, const char *msg) {
  if (strstr(msg, "not enough started members") ||
      strstr(msg, "unhealthy cluster"))
    return EDR_EUNHEALTHY;
  switch (grpc) {
  case 3:  /* InvalidArgument */
    return EDR_EINVAL;
  case 5:  /* NotFound */
    return EDR_ENOENT;
  case 6:  /* AlreadyExists */
  case 9:  /* FailedPrecondition: "Peer URLs already exists" */
    return EDR_EEXIST;
  case 4:  /* DeadlineExceeded */
  case 14: /* Unavailable: no leader, request timed out, ... */
    return EDR_EUNHEALTHY;
  default:
    return EDR_EHTTP;
  }
}

/* POST BODY to BASE+PATH.  Returns 0 with *OUT the parsed JSON object (new
 * reference), or a negative code with WHY saying what went wrong, without
 * the URL (the caller names it).  *ANSWERED says whether etcd itself
 * answered (an HTTP response arrived) as opposed to a transport failure. */
static int gw_post(struct gw *g, const char *base, const char *path,
                   const char *body, json_t **out, bool *answered, char *why,
                   size_t whylen) {
  *out = NULL;
  *answered = false;
  why[0] = '\0';
  size_t bl = strlen(base);
  while (bl && base[bl - 1] == '/')
    bl--;
  char *url = edr_asprintf("%.*s%s", (int)bl, base, path);
  if (!url) {
    snprintf(why, whylen, "%s", edr_strerror(EDR_ENOMEM));
    return EDR_ENOMEM;
  }
  struct answer a = {.loop = &g->loop};
  struct edr_http_req q = {
    .method = "POST",
    .url = url,
    .body = body,
    .tls = g->tls,
    .timeout_ms = g->timeout_ms,
  };
  int rc = edr_http_request(g->http, &q, on_answer, &a);
  free(url);
  if (rc < 0) {
    snprintf(why, whylen, "%s", edr_strerror(rc));
    return rc;
  }
  while (!a.done)
    uv_run(&g->loop, UV_RUN_DEFAULT);
  if (a.status < 0) {
    if (a.errtext[0] && a.status != EDR_ECONNREFUSED &&
        a.status != EDR_ETIMEDOUT)
      snprintf(why, whylen, "%s (%s)", edr_strerror(a.status), a.errtext);
    else
      snprintf(why, whylen, "%s", edr_strerror(a.status));
    free(a.body);
    return a.status;
  }
  *answered = true;
  json_t *j = json_loads(a.body, 0, NULL);
  if (a.code != 200) {
    const char *msg = j ? edr_gw_str(j, "message") : "";
    if (!*msg && j)
      msg = edr_gw_str(j, "error");
    if (*msg) {
      snprintf(why, whylen, "%s", msg);
      rc = gw_err_code((long)edr_gw_u64(j, "code"), msg);
    } else {
      snprintf(why, whylen, "HTTP %ld: %.120s", a.code, a.body);
      rc = EDR_EHTTP;
    }
    json_decref(j);
    free(a.body);
    return rc;
  }
  if (!json_is_object(j)) {
    snprintf(why, whylen, "the answer is not etcd's gateway JSON: %.120s",
             a.body);
    json_decref(j);
    free(a.body);
    return EDR_EHTTP;
  }
  free(a.body);
  *out = j;
  return 0;
}

/* ---- member lists ---------------------------------------------------------- */

static int strv_add(struct edr_strv *sv, const char *s) {
  char **v = realloc(sv->v, (sv->n + 2) * sizeof *v);
  if (!v)
    return EDR_ENOMEM;
  sv->v = v;
  if (!(v[sv->n] = strdup(s)))
    return EDR_ENOMEM;
  v[++sv->n] = NULL;
  return 0;
}

static void strv_release(struct edr_strv *sv) {
  for (size_t i = 0; i < sv->n; i++)
    free(sv->v[i]);
  free(sv->v);
  sv->v = NULL;
  sv->n = 0;
}

static int strv_from_json(struct edr_strv *sv, json_t *arr) {
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    if (json_is_string(e) && strv_add(sv, json_string_value(e)) < 0)
      return EDR_ENOMEM;
  }
  return 0;
}

void edr_member_list_release(struct edr_member_list *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    strv_release(&l->v[i].peer_urls);
    strv_release(&l->v[i].client_urls);
  }
  free(l->v);
  free(l->asked);
  memset(l, 0, sizeof *l);
}

static int parse_list(json_t *j, struct edr_member_list *out) {
  json_t *ms = json_object_get(j, "members");
  if (!json_is_array(ms))
    return EDR_EHTTP;
  snprintf(out->cluster_id, sizeof out->cluster_id, "%" PRIx64,
           edr_gw_u64(json_object_get(j, "header"), "cluster_id"));
  out->v = calloc(json_array_size(ms) + 1, sizeof *out->v);
  if (!out->v)
    return EDR_ENOMEM;
  size_t i;
  json_t *e;
  json_array_foreach(ms, i, e) {
    struct edr_member_info *m = &out->v[out->n++];
    snprintf(m->id, sizeof m->id, "%" PRIx64, edr_gw_u64(e, "ID"));
    m->is_learner = json_is_true(json_object_get(e, "isLearner"));
    if (!(m->name = strdup(edr_gw_str(e, "name"))) ||
        strv_from_json(&m->peer_urls, json_object_get(e, "peerURLs")) < 0 ||
        strv_from_json(&m->client_urls, json_object_get(e, "clientURLs")) < 0)
      return EDR_ENOMEM;
  }
  return 0;
}

/* Append "; " + TEXT to a message being built, silently cut at its end. */
static void append(char *buf, size_t len, const char *text) {
  size_t used = strlen(buf);
  if (used + 1 < len)
    snprintf(buf + used, len - used, "%s%s", used ? "; " : "", text);
}

/* The list from the first of URLS that answers with one; *AT its index.
 * WHY collects each URL's reason when none does. */
static int list_with(struct gw *g, const char *const *urls, size_t n_urls,
                     struct edr_member_list *out, size_t *at, char *why,
                     size_t whylen) {
  int last = EDR_EINVAL;
  why[0] = '\0';
  for (size_t i = 0; i < n_urls; i++) {
    char one[400], r[300];
    json_t *j;
    bool answered;
    int rc = gw_post(g, urls[i], "/v3/cluster/member/list", "{}", &j,
                     &answered, r, sizeof r);
    if (rc == 0) {
      rc = parse_list(j, out);
      json_decref(j);
      if (rc == 0 && !(out->asked = strdup(urls[i])))
        rc = EDR_ENOMEM;
      if (rc == 0) {
        *at = i;
        return 0;
      }
      edr_member_list_release(out);
      if (rc == EDR_ENOMEM)
        snprintf(r, sizeof r, "%s", edr_strerror(rc));
      else
        snprintf(r, sizeof r, "the answer has no member list");
    }
    last = rc;
    snprintf(one, sizeof one, "%s: %s", urls[i], r);
    append(why, whylen, one);
  }
  return last;
}

int edr_members_list(const char *const *urls, size_t n_urls,
                     const struct edr_tls *tls, uint64_t timeout_ms,
                     struct edr_member_list *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!urls || n_urls == 0) {
    snprintf(err, errlen, "cannot list members: no client URL to ask");
    return EDR_EINVAL;
  }
  struct gw g;
  int rc = gw_open(&g, tls, timeout_ms);
  if (rc < 0) {
    snprintf(err, errlen, "cannot list members: %s", edr_strerror(rc));
    return rc;
  }
  char why[1024];
  size_t at;
  rc = list_with(&g, urls, n_urls, out, &at, why, sizeof why);
  gw_close(&g);
  if (rc < 0)
    snprintf(err, errlen, "cannot list members: no member answered (%s)", why);
  return rc;
}

/* ---- matching ----------------------------------------------------------------- */

static bool has_url(const struct edr_strv *sv, const char *u) {
  for (size_t i = 0; i < sv->n; i++)
    if (edr_url_eq(sv->v[i], u))
      return true;
  return false;
}

/* Exactly those peer URLs, in any order. */
static bool same_peers(const struct edr_member_info *m,
                       const char *const *peer, size_t n_peer) {
  size_t distinct = 0;
  for (size_t i = 0; i < n_peer; i++) {
    if (!has_url(&m->peer_urls, peer[i]))
      return false;
    bool dup = false;
    for (size_t k = 0; k < i && !dup; k++)
      dup = edr_url_eq(peer[k], peer[i]);
    distinct += !dup;
  }
  return distinct == m->peer_urls.n;
}

static const struct edr_member_info *
find_by_peers(const struct edr_member_list *l, const char *const *peer,
              size_t n_peer, bool exact) {
  for (size_t i = 0; i < l->n; i++) {
    if (exact && same_peers(&l->v[i], peer, n_peer))
      return &l->v[i];
    for (size_t k = 0; !exact && k < n_peer; k++)
      if (has_url(&l->v[i].peer_urls, peer[k]))
        return &l->v[i];
  }
  return NULL;
}

/* What an operator can do about a refusal etcd explains. */
static const char *hint(const char *why) {
  if (strstr(why, "not enough started members"))
    return ": a member added earlier has never started; start it (or remove "
           "it) first";
  if (strstr(why, "unhealthy cluster"))
    return ": the member asked has not been connected to every peer for "
           "the last 5 s; start the members that are down, or wait, and "
           "retry";
  if (strstr(why, "Peer URLs already exists"))
    return ": another member uses that peer URL; remove it first";
  return "";
}

/* POST a change to the first of URLS[from..] that answers.  *BY is the URL
 * that answered; NULL when none did (WHY then has each one's reason). */
static int change(struct gw *g, const char *const *urls, size_t n_urls,
                  size_t from, const char *path, const char *body,
                  json_t **out, const char **by, char *why, size_t whylen) {
  int rc = EDR_EINVAL;
  why[0] = '\0';
  *by = NULL;
  for (size_t i = from; i < n_urls; i++) {
    bool answered;
    char r[300];
    rc = gw_post(g, urls[i], path, body, out, &answered, r, sizeof r);
    if (rc == 0 || answered) {
      *by = urls[i];
      snprintf(why, whylen, "%s", r);
      return rc;
    }
    char one[400];
    snprintf(one, sizeof one, "%s: %s", urls[i], r);
    append(why, whylen, one);
  }
  return rc;
}

static int check_urls(const char *what, const char *const *urls,
                      size_t n_urls, char *err, size_t errlen) {
  if (!urls || n_urls == 0) {
    snprintf(err, errlen, "cannot %s: no client URL to ask", what);
    return EDR_EINVAL;
  }
  return 0;
}

/* ---- add ----------------------------------------------------------------------- */

int edr_members_add(const char *const *urls, size_t n_urls,
                    const struct edr_tls *tls, uint64_t timeout_ms,
                    const char *const *peer_urls, size_t n_peer,
                    char id_out[17], bool *already, char *err, size_t errlen) {
  id_out[0] = '\0';
  *already = false;
  int rc = check_urls("add a member", urls, n_urls, err, errlen);
  if (rc < 0)
    return rc;
  if (!peer_urls || n_peer == 0) {
    snprintf(err, errlen, "cannot add a member: no peer URL given");
    return EDR_EINVAL;
  }
  const char *shown = peer_urls[0];  /* the member as messages name it */

  json_t *body = json_object(), *arr = json_array();
  json_object_set_new(body, "peerURLs", arr);
  for (size_t i = 0; i < n_peer; i++)
    json_array_append_new(arr, json_string(peer_urls[i]));
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text) {
    snprintf(err, errlen, "cannot add member '%s': %s", shown,
             edr_strerror(EDR_ENOMEM));
    return EDR_ENOMEM;
  }

  struct gw g;
  struct edr_member_list l = {0};
  char why[1024];
  size_t at = 0;
  if ((rc = gw_open(&g, tls, timeout_ms)) < 0) {
    snprintf(err, errlen, "cannot add member '%s': %s", shown,
             edr_strerror(rc));
    free(text);
    return rc;
  }
  rc = list_with(&g, urls, n_urls, &l, &at, why, sizeof why);
  if (rc < 0) {
    snprintf(err, errlen,
             "cannot add member '%s': no member answered the member list "
             "(%s)", shown, why);
    goto out;
  }
  const struct edr_member_info *m = find_by_peers(&l, peer_urls, n_peer, true);
  if (m) {
    snprintf(id_out, 17, "%s", m->id);
    *already = true;
    goto out;
  }

  json_t *j = NULL;
  const char *by;
  rc = change(&g, urls, n_urls, at, "/v3/cluster/member/add", text, &j, &by,
              why, sizeof why);
  if (rc == 0) {
    uint64_t id = edr_gw_u64(json_object_get(j, "member"), "ID");
    json_decref(j);
    if (!id) {
      rc = EDR_EHTTP;
      snprintf(err, errlen,
               "member add of '%s' by %s: the answer names no new member",
               shown, by);
      goto out;
    }
    snprintf(id_out, 17, "%" PRIx64, id);
    goto out;
  }
  if (rc == EDR_EEXIST) {
    /* Maybe our own add, whose answer an earlier URL lost. */
    struct edr_member_list again = {0};
    char w2[512];
    size_t at2;
    if (list_with(&g, urls + at, n_urls - at, &again, &at2, w2,
                  sizeof w2) == 0 &&
        (m = find_by_peers(&again, peer_urls, n_peer, true))) {
      snprintf(id_out, 17, "%s", m->id);
      *already = true;
      rc = 0;
      edr_member_list_release(&again);
      goto out;
    }
    edr_member_list_release(&again);
  }
  if (!by)
    snprintf(err, errlen, "member add of '%s' got no answer (%s); it is safe "
             "to retry", shown, why);
  else
    snprintf(err, errlen, "member add of '%s' refused by %s: %s%s", shown,
             by, why, hint(why));
out:
  gw_close(&g);
  edr_member_list_release(&l);
  free(text);
  return rc;
}

/* ---- remove --------------------------------------------------------------------- */

int edr_members_remove(const char *const *urls, size_t n_urls,
                       const struct edr_tls *tls, uint64_t timeout_ms,
                       const char *name, const char *const *peer_urls,
                       size_t n_peer, bool *absent, char *err,
                       size_t errlen) {
  *absent = false;
  int rc = check_urls("remove a member", urls, n_urls, err, errlen);
  if (rc < 0)
    return rc;
  if (name && !*name)
    name = NULL;
  if (!name && (!peer_urls || n_peer == 0)) {
    snprintf(err, errlen, "cannot remove a member: no name and no peer URL "
             "given");
    return EDR_EINVAL;
  }
  const char *shown = name ? name : peer_urls[0];

  struct gw g;
  struct edr_member_list l = {0};
  char why[1024];
  size_t at = 0;
  if ((rc = gw_open(&g, tls, timeout_ms)) < 0) {
    snprintf(err, errlen, "cannot remove member '%s': %s", shown,
             edr_strerror(rc));
    return rc;
  }
  rc = list_with(&g, urls, n_urls, &l, &at, why, sizeof why);
  if (rc < 0) {
    snprintf(err, errlen,
             "cannot remove member '%s': no member answered the member list "
             "(%s)", shown, why);
    goto out;
  }
  const struct edr_member_info *m = NULL;
  for (size_t i = 0; name && i < l.n; i++) {
    if (strcmp(l.v[i].name, name) != 0)
      continue;
    if (m) {
      rc = EDR_EINVAL;
      snprintf(err, errlen,
               "cannot remove member '%s': %s lists two members of that name "
               "(ids %s and %s); remove the right one with etcdctl", name,
               l.asked, m->id, l.v[i].id);
      goto out;
    }
    m = &l.v[i];
  }
  if (!m && n_peer)
    m = find_by_peers(&l, peer_urls, n_peer, false);
  if (!m) {
    *absent = true;
    goto out;
  }

  char id[17], body[64];
  snprintf(id, sizeof id, "%s", m->id);
  snprintf(body, sizeof body, "{\"ID\":\"%" PRIu64 "\"}",
           (uint64_t)strtoull(id, NULL, 16));
  json_t *j = NULL;
  const char *by;
  rc = change(&g, urls, n_urls, at, "/v3/cluster/member/remove", body, &j,
              &by, why, sizeof why);
  json_decref(j);
  if (rc == EDR_ENOENT) {
    /* Gone since the list: maybe our own remove, whose answer was lost. */
    *absent = true;
    rc = 0;
  }
  if (rc < 0 && !by)
    snprintf(err, errlen, "member remove of '%s' (id %s) got no answer (%s); it "
             "is safe to retry", shown, id, why);
  else if (rc < 0)
    snprintf(err, errlen, "member remove of '%s' (id %s) refused by %s: %s%s",
             shown, id, by, why, hint(why));
out:
  gw_close(&g);
  edr_member_list_release(&l);
  return rc;
}
