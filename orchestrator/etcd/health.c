/*
 * health.c - the last step of a restore: poll the restarted members until
 * the cluster is healthy, is one cluster with exactly the expected members,
 * and serves at least the snapshot's revision; or say, in words an operator
 * can act on, why it is not.
 *
 * The wait runs in rounds on the caller's loop.  A round asks every member
 * GET /health and POST /v3/maintenance/status, and the first member whose
 * status answers POST /v3/cluster/member/list (the next one if that fails).
 * When the last answer of a round is in, the round is judged: done, or a
 * progress report and the next round after interval_ms.  Members that are
 * not up yet simply fail a round; only the deadline ends the wait.  A
 * member marked via_host is asked through opts.via (its host's agent)
 * instead of libcurl; its answers land in on_answer all the same.
 */
#include "health.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "util.h"

#define DEFAULT_REQUEST_TIMEOUT_MS 2000
#define DEFAULT_INTERVAL_MS 100

enum kind { K_HEALTH, K_STATUS, K_LIST };

struct rq {  /* the callback argument of one request */
  struct edr_health_wait *w;
  size_t i;
  enum kind kind;
  bool via;                   /* sent through opts.via */
};

/* What one member said in the current round. */
struct mstate {
  struct rq rq[3];            /* indexed by enum kind */
  int health_err;             /* EDR_E* of the /health request, 0 */
  char health_text[200];      /* why /health is not "true", "" */
  bool health_answered, health_ok;
  int status_err;
  char status_text[200];
  bool status_answered, status_ok;
  uint64_t member_id, cluster_id, leader, raft_term, raft_index;
  int64_t revision;
  char version[32];
  bool list_tried;
};

struct edr_health_wait {
  uv_loop_t *loop;
  struct edr_http *http;
  uv_timer_t timer;                   /* the next round */
  uv_timer_t deadline;                /* timeout_ms after the start */
  const struct edr_health_member *m;  /* borrowed, n long */
  size_t n;
  struct edr_health_opts o;
  edr_health_cb cb;
  void *arg;
  uint64_t start, round_start;
  unsigned rounds, judged, pending, closing;
  unsigned via_pending;               /* requests under way through via */
  bool done;
  struct mstate *ms;                  /* n */
  struct edr_health_seen *seen;       /* n */
  json_t *list;                       /* this round's members array */
  bool list_inflight;
  char list_text[256];                /* why no member list, "" */
  struct edr_health_report rep;
};

static void start_round(struct edr_health_wait *w);

/* ---- small helpers ---------------------------------------------------- */

uint64_t edr_gw_u64(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (json_is_string(v))
    return strtoull(json_string_value(v), NULL, 10);
  if (json_is_integer(v))
    return (uint64_t)json_integer_value(v);
  return 0;
}

const char *edr_gw_str(json_t *obj, const char *key) {
  const char *s = json_string_value(json_object_get(obj, key));
  return s ? s : "";
}

/* A transport failure as a person reads it: the code's text, plus curl's
 * detail where the code alone does not say what to fix (TLS above all). */
static void describe(char *out, size_t len, int err, const char *detail) {
  if (err == EDR_ECONNREFUSED || err == EDR_ETIMEDOUT || !detail || !*detail)
    snprintf(out, len, "%s", edr_strerror(err));
  else
    snprintf(out, len, "%s: %s", edr_strerror(err), detail);
}

bool edr_url_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  while (la && a[la - 1] == '/')
    la--;
  while (lb && b[lb - 1] == '/')
    lb--;
  return la == lb && strncasecmp(a, b, la) == 0;
}

/* ---- requests ----------------------------------------------------------- */

static void on_answer(void *arg, int status, long code, const char *body,
                      size_t len, const char *errtext);

static int send_req(struct edr_health_wait *w, size_t i, enum kind k) {
  static const char *const path[] = {
    [K_HEALTH] = "/health",
    [K_STATUS] = "/v3/maintenance/status",
    [K_LIST] = "/v3/cluster/member/list",
  };
  const char *base = w->m[i].client_url;
  size_t bl = strlen(base);
  while (bl && base[bl - 1] == '/')
    bl--;
  char *url = edr_asprintf("%.*s%s", (int)bl, base, path[k]);
  if (!url)
    return EDR_ENOMEM;

  /* Not cut short by the deadline: a request that times out only because
   * the wait is ending would hide the real reason.  The deadline timer
   * ends the wait on time with the last whole round's report instead. */
  uint64_t per = w->o.request_timeout_ms ? w->o.request_timeout_ms
                                         : DEFAULT_REQUEST_TIMEOUT_MS;
  struct edr_http_req q = {
    .method = k == K_HEALTH ? "GET" : "POST",
    .url = url,
    .body = k == K_HEALTH ? NULL : "{}",
    .tls = &w->o.tls,
    .timeout_ms = per,
  };
  struct rq *rq = &w->ms[i].rq[k];
  rq->w = w;
  rq->i = i;
  rq->kind = k;
  rq->via = w->m[i].via_host;
  int rc;
  if (rq->via) {
    rc = w->o.via.request ? w->o.via.request(w->o.via.arg, &w->m[i], q.method, path[k],
                                             q.body, per, on_answer, rq)
                          : EDR_EINVAL;
    if (rc == 0)
      w->via_pending++;
  } else {
    rc = edr_http_request(w->http, &q, on_answer, rq);
  }
  free(url);
  if (rc == 0)
    w->pending++;
  return rc;
}

/* The member list goes to the first member whose status answered; if that
 * request fails, to the next such member. */
static void send_list(struct edr_health_wait *w) {
  if (w->list || w->list_inflight)
    return;
  for (size_t i = 0; i < w->n; i++) {
    struct mstate *s = &w->ms[i];
    if (!s->status_ok || s->list_tried)
      continue;
    s->list_tried = true;
    if (send_req(w, i, K_LIST) == 0) {
      w->list_inflight = true;
      return;
    }
  }
}

static void got_health(struct edr_health_wait *w, struct mstate *s, long code,
                       const char *body) {
  json_t *j = json_loads(body, 0, NULL);
  const char *h = edr_gw_str(j, "health"), *reason = edr_gw_str(j, "reason");
  if (code == 200 && strcmp(h, "true") == 0)
    s->health_ok = true;
  else if (*h)
    snprintf(s->health_text, sizeof s->health_text, "health %s%s%s", h,
             *reason ? ": " : "", reason);
  else
    snprintf(s->health_text, sizeof s->health_text,
             "/health answered HTTP %ld without a health field", code);
  json_decref(j);
}

static void got_status(struct edr_health_wait *w, struct mstate *s, long code,
                       const char *body) {
  json_t *j = json_loads(body, 0, NULL);
  json_t *hdr = json_object_get(j, "header");
  if (code != 200 || !json_is_object(hdr)) {
    const char *msg = edr_gw_str(j, "error");
    if (!*msg)
      msg = edr_gw_str(j, "message");
    snprintf(s->status_text, sizeof s->status_text,
             "status request answered HTTP %ld%s%s", code, *msg ? ": " : "",
             msg);
    json_decref(j);
    return;
  }
  s->status_ok = true;
  s->member_id = edr_gw_u64(hdr, "member_id");
  s->cluster_id = edr_gw_u64(hdr, "cluster_id");
  s->revision = (int64_t)edr_gw_u64(hdr, "revision");
  s->leader = edr_gw_u64(j, "leader");
  s->raft_term = edr_gw_u64(j, "raftTerm");
  s->raft_index = edr_gw_u64(j, "raftIndex");
  snprintf(s->version, sizeof s->version, "%s", edr_gw_str(j, "version"));
  json_decref(j);
  send_list(w);
}

static void got_list(struct edr_health_wait *w, size_t i, int status,
                     long code, const char *body, const char *errtext) {
  w->list_inflight = false;
  json_t *j = status == 0 ? json_loads(body, 0, NULL) : NULL;
  json_t *members = json_object_get(j, "members");
  if (status == 0 && code == 200 && json_is_array(members)) {
    w->list = json_incref(members);
    w->list_text[0] = '\0';
  } else {
    char why[200];
    if (status < 0)
      describe(why, sizeof why, status, errtext);
    else
      snprintf(why, sizeof why, "HTTP %ld", code);
    snprintf(w->list_text, sizeof w->list_text,
             "no member list: %s (%s) answered %s", w->m[i].name,
             w->m[i].client_url, why);
  }
  json_decref(j);
  if (!w->list)
    send_list(w);
}

static void end_round(struct edr_health_wait *w);

static void on_closed_one(struct edr_health_wait *w);

static void on_answer(void *arg, int status, long code, const char *body,
                      size_t len, const char *errtext) {
  struct rq *rq = arg;
  struct edr_health_wait *w = rq->w;
  struct mstate *s = &w->ms[rq->i];
  w->pending--;
  if (rq->via)
    w->via_pending--;
  if (w->done) {  /* requests canceled while the wait closes; M is gone */
    if (rq->via)
      on_closed_one(w);  /* the wait lives until the last of them */
    return;
  }
  switch (rq->kind) {
  case K_HEALTH:
    s->health_answered = status == 0;
    if (status < 0) {
      s->health_err = status;
      describe(s->health_text, sizeof s->health_text, status, errtext);
    } else {
      got_health(w, s, code, body);
    }
    break;
  case K_STATUS:
    s->status_answered = status == 0;
    if (status < 0) {
      s->status_err = status;
      describe(s->status_text, sizeof s->status_text, status, errtext);
    } else {
      got_status(w, s, code, body);
    }
    break;
  case K_LIST:
    got_list(w, rq->i, status, code, body, errtext);
    break;
  }
  if (w->pending == 0)
    end_round(w);
}

/* ---- judging a round ---------------------------------------------------- */

static json_t *list_find_id(json_t *list, uint64_t id) {
  size_t k;
  json_t *e;
  json_array_foreach(list, k, e) {
    if (edr_gw_u64(e, "ID") == id)
      return e;
  }
  return NULL;
}

static const struct edr_health_member *spec_find(struct edr_health_wait *w,
                                                 const char *name) {
  for (size_t i = 0; i < w->n; i++)
    if (strcmp(w->m[i].name, name) == 0)
      return &w->m[i];
  return NULL;
}

/* "'a', 'b'" into OUT, for messages. */
static void join_urls(char *out, size_t len, json_t *arr,
                      const char *const *urls, size_t n) {
  size_t off = 0;
  out[0] = '\0';
  size_t cnt = arr ? json_array_size(arr) : n;
  for (size_t k = 0; k < cnt && off < len; k++) {
    const char *u = arr ? json_string_value(json_array_get(arr, k)) : urls[k];
    int r = snprintf(out + off, len - off, "%s'%s'", k ? ", " : "",
                     u ? u : "?");
    if (r < 0)
      break;
    off += (size_t)r;
  }
  if (cnt == 0)
    snprintf(out, len, "none");
}

/* Same URLs in any order; each expected URL found once. */
static bool peers_match(json_t *arr, const struct edr_health_member *m) {
  if (json_array_size(arr) != m->n_peer_urls)
    return false;
  for (size_t a = 0; a < m->n_peer_urls; a++) {
    size_t found = 0;
    for (size_t b = 0; b < json_array_size(arr); b++) {
      const char *u = json_string_value(json_array_get(arr, b));
      if (u && edr_url_eq(u, m->peer_urls[a]))
        found++;
    }
    size_t want = 0;
    for (size_t c = 0; c < m->n_peer_urls; c++)
      want += edr_url_eq(m->peer_urls[c], m->peer_urls[a]);
    if (found != want)
      return false;
  }
  return true;
}

/* The member list against the spec; first discrepancy into OUT. */
static bool check_list(struct edr_health_wait *w, char *out, size_t len) {
  if (!w->list) {
    snprintf(out, len, "%s",
             w->list_text[0] ? w->list_text
                             : "no member answered, so no member list yet");
    return false;
  }
  size_t k;
  json_t *e;
  char got[200], want[200];
  size_t others = 0;
  json_array_foreach(w->list, k, e) {
    const char *name = edr_gw_str(e, "name");
    json_t *peers = json_object_get(e, "peerURLs");
    if (w->o.others_allowed && (!*name || !spec_find(w, name))) {
      others++; /* a member not waited for: lost, stopped or not started */
      continue;
    }
    if (!*name) {
      join_urls(got, sizeof got, peers, NULL, 0);
      snprintf(out, len,
               "member list has an unstarted member %" PRIx64
               " with peer URLs %s which is not in the spec",
               edr_gw_u64(e, "ID"), got);
      return false;
    }
    const struct edr_health_member *m = spec_find(w, name);
    if (!m) {
      snprintf(out, len, "member list has '%s' which is not in the spec",
               name);
      return false;
    }
    for (size_t k2 = 0; k2 < k; k2++) {
      if (strcmp(edr_gw_str(json_array_get(w->list, k2), "name"), name) == 0) {
        snprintf(out, len, "member list has '%s' twice", name);
        return false;
      }
    }
    if (!peers_match(peers, m)) {
      join_urls(got, sizeof got, peers, NULL, 0);
      join_urls(want, sizeof want, NULL, m->peer_urls, m->n_peer_urls);
      snprintf(out, len,
               "member list has '%s' with peer URLs %s but the spec expects %s",
               name, got, want);
      return false;
    }
    if (json_is_true(json_object_get(e, "isLearner"))) {
      snprintf(out, len, "member list has '%s' as a learner, not a voter",
               name);
      return false;
    }
  }
  for (size_t i = 0; i < w->n; i++) {
    bool found = false;
    json_array_foreach(w->list, k, e) {
      if (strcmp(edr_gw_str(e, "name"), w->m[i].name) == 0)
        found = true;
    }
    if (!found) {
      snprintf(out, len, "member list lacks '%s' which the spec expects",
               w->m[i].name);
      return false;
    }
  }
  if (others && w->n <= json_array_size(w->list) / 2) {
    snprintf(out, len, "only %zu of the cluster's %zu members are among those waited for: "
             "no quorum without the others", w->n, json_array_size(w->list));
    return false;
  }
  return true;
}

/* Fill w->rep from this round; true when every condition holds. */
static bool judge(struct edr_health_wait *w) {
  struct edr_health_report *rep = &w->rep;
  char cluster[512] = "";
  bool all_ok = true;

  /* One cluster: every member that answered names the same cluster. */
  rep->one_cluster = true;
  const struct mstate *first = NULL;
  size_t first_i = 0;
  for (size_t i = 0; i < w->n; i++) {
    const struct mstate *s = &w->ms[i];
    if (!s->status_ok)
      continue;
    if (!first) {
      first = s;
      first_i = i;
    } else if (s->cluster_id != first->cluster_id && rep->one_cluster) {
      rep->one_cluster = false;
      snprintf(cluster, sizeof cluster,
               "not one cluster: '%s' is in cluster %" PRIx64
               " but '%s' in cluster %" PRIx64,
               w->m[first_i].name, first->cluster_id, w->m[i].name,
               s->cluster_id);
    }
  }
  char listwhy[512] = "";
  rep->members_match = check_list(w, listwhy, sizeof listwhy);
  if (!cluster[0] && !rep->members_match)
    snprintf(cluster, sizeof cluster, "%s", listwhy);
  snprintf(rep->cluster_error, sizeof rep->cluster_error, "%s", cluster);

  rep->problem[0] = '\0';
  for (size_t i = 0; i < w->n; i++) {
    const struct mstate *s = &w->ms[i];
    const struct edr_health_member *m = &w->m[i];
    struct edr_health_seen *v = &w->seen[i];
    v->name = m->name;
    v->via_host = m->via_host;
    v->reachable = s->health_answered || s->status_answered;
    v->status = s->health_err ? s->health_err : s->status_err;
    v->member_id[0] = v->cluster_id[0] = '\0';
    v->revision = -1;
    v->is_leader = false;
    v->raft_term = v->raft_index = 0;
    v->version[0] = '\0';
    if (s->status_ok) {
      snprintf(v->member_id, sizeof v->member_id, "%" PRIx64, s->member_id);
      snprintf(v->cluster_id, sizeof v->cluster_id, "%" PRIx64,
               s->cluster_id);
      v->revision = s->revision;
      v->is_leader = s->leader && s->leader == s->member_id;
      v->raft_term = s->raft_term;
      v->raft_index = s->raft_index;
      snprintf(v->version, sizeof v->version, "%s", s->version);
    }

    char *e = v->error;
    size_t el = sizeof v->error;
    json_t *me = s->status_ok && w->list ? list_find_id(w->list, s->member_id)
                                         : NULL;
    const char *as = me ? edr_gw_str(me, "name") : NULL;
    e[0] = '\0';
    if (!v->reachable)
      snprintf(e, el, "%s (%s%s): %s", m->name, m->client_url,
               m->via_host ? ", asked on its host" : "",
               s->health_text[0]   ? s->health_text
               : s->status_text[0] ? s->status_text
                                   : "no answer yet");
    else if (!s->health_ok)
      snprintf(e, el, "%s: %s%s", m->name, s->health_err ? "/health: " : "",
               s->health_text);
    else if (!s->status_ok)
      snprintf(e, el, "%s: %s%s", m->name,
               s->status_err ? "status request: " : "", s->status_text);
    else if (s->revision < w->o.min_revision)
      snprintf(e, el, "%s: revision %" PRId64 " < %" PRId64 " expected",
               m->name, s->revision, w->o.min_revision);
    /* Who a URL answers as means something only within one cluster; with
     * two, cluster_error says the real thing. */
    else if (rep->one_cluster && w->list && !me)
      snprintf(e, el,
               "%s (%s): answers as member %" PRIx64
               " which is not in the member list",
               m->name, m->client_url, s->member_id);
    else if (rep->one_cluster && as && strcmp(as, m->name) != 0)
      snprintf(e, el, "%s (%s): answers as member '%s'", m->name,
               m->client_url, as);
    v->healthy = e[0] == '\0';
    if (!v->healthy) {
      all_ok = false;
      if (!rep->problem[0])
        snprintf(rep->problem, sizeof rep->problem, "%s", e);
    }
  }
  if (!rep->problem[0])
    snprintf(rep->problem, sizeof rep->problem, "%s", cluster);
  return all_ok && rep->one_cluster && rep->members_match;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void wait_free(struct edr_health_wait *w) {
  json_decref(w->list);
  free(w->ms);
  free(w->seen);
  free(w);
}

static void on_closed_one(struct edr_health_wait *w) {
  if (--w->closing == 0)
    wait_free(w);
}

static void on_http_closed(void *arg) { on_closed_one(arg); }

static void on_timer_closed(uv_handle_t *h) { on_closed_one(h->data); }

static void finish(struct edr_health_wait *w, int status) {
  w->done = true;
  w->rep.elapsed_ms = edr_now_ms() - w->start;
  w->cb(w->arg, true, status, &w->rep);
  w->closing = 3 + w->via_pending;
  uv_close((uv_handle_t *)&w->timer, on_timer_closed);
  uv_close((uv_handle_t *)&w->deadline, on_timer_closed);
  /* Cancels what is still in flight; on_answer ignores it (w->done). */
  edr_http_close(w->http, on_http_closed, w);
}

static void on_timer(uv_timer_t *t) { start_round(t->data); }

/* Time is up.  Report the last whole round: a round cut short says less.
 * Only when not one round has ended is the partial one judged, with "no
 * answer yet" for the members still silent. */
static void on_deadline(uv_timer_t *t) {
  struct edr_health_wait *w = t->data;
  /* libuv's timers run on its cached loop time, which may lag ours. */
  uint64_t ran = edr_now_ms() - w->start;
  if (ran < w->o.timeout_ms) {
    uv_timer_start(t, on_deadline, w->o.timeout_ms - ran, 0);
    return;
  }
  if (!w->judged)
    judge(w);
  finish(w, EDR_ETIMEDOUT);
}

static void end_round(struct edr_health_wait *w) {
  uint64_t now = edr_now_ms();
  bool ok = judge(w);
  w->judged++;
  w->rep.elapsed_ms = now - w->start;
  w->rep.rounds = w->judged;
  if (ok) {
    finish(w, 0);
    return;
  }
  if (!w->o.timeout_ms) {  /* one round decides */
    finish(w, EDR_ETIMEDOUT);
    return;
  }
  w->cb(w->arg, false, 0, &w->rep);
  if (w->done)  /* canceled from the callback */
    return;
  uint64_t next = w->round_start + w->o.interval_ms;
  uv_timer_start(&w->timer, on_timer, next > now ? next - now : 0, 0);
}

static void start_round(struct edr_health_wait *w) {
  w->rounds++;
  w->round_start = edr_now_ms();
  memset(w->ms, 0, w->n * sizeof *w->ms);
  json_decref(w->list);
  w->list = NULL;
  w->list_inflight = false;
  w->list_text[0] = '\0';
  for (size_t i = 0; i < w->n; i++) {
    for (enum kind k = K_HEALTH; k <= K_STATUS; k++) {
      int rc = send_req(w, i, k);
      if (rc < 0) {
        /* Only memory can fail here; the round judges it like any error. */
        struct mstate *s = &w->ms[i];
        char *t = k == K_HEALTH ? s->health_text : s->status_text;
        *(k == K_HEALTH ? &s->health_err : &s->status_err) = rc;
        snprintf(t, sizeof s->health_text, "%s", edr_strerror(rc));
      }
    }
  }
  if (w->pending == 0)  /* nothing could be sent: judge at once */
    end_round(w);
}

void edr_health_wait_cancel(struct edr_health_wait *w) {
  if (!w || w->done)
    return;
  if (!w->judged)
    judge(w);
  finish(w, EDR_ECANCELED);
}

int edr_health_wait_start(uv_loop_t *loop, const struct edr_health_member *m,
                          size_t n, const struct edr_health_opts *opts,
                          edr_health_cb cb, void *arg) {
  return edr_health_wait_start_cancelable(loop, m, n, opts, cb, arg, NULL);
}

int edr_health_wait_start_cancelable(uv_loop_t *loop,
                                     const struct edr_health_member *m,
                                     size_t n,
                                     const struct edr_health_opts *opts,
                                     edr_health_cb cb, void *arg,
                                     struct edr_health_wait **out) {
  if (out)
    *out = NULL;
  if (!loop || !m || n == 0 || !opts || !cb || opts->min_revision < 0)
    return EDR_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!m[i].name || !*m[i].name || !m[i].client_url || !*m[i].client_url ||
        (m[i].n_peer_urls && !m[i].peer_urls))
      return EDR_EINVAL;
  struct edr_health_wait *w = calloc(1, sizeof *w);
  if (!w)
    return EDR_ENOMEM;
  w->ms = calloc(n, sizeof *w->ms);
  w->seen = calloc(n, sizeof *w->seen);
  w->http = edr_http_new(loop);
  if (!w->ms || !w->seen || !w->http) {
    if (w->http)  /* nothing in flight: closes without a callback to us */
      edr_http_close(w->http, NULL, NULL);
    wait_free(w);
    return EDR_ENOMEM;
  }
  w->loop = loop;
  w->m = m;
  w->n = n;
  w->o = *opts;
  if (!w->o.interval_ms)
    w->o.interval_ms = DEFAULT_INTERVAL_MS;
  w->cb = cb;
  w->arg = arg;
  w->rep.n = n;
  w->rep.members = w->seen;
  uv_timer_init(loop, &w->timer);
  w->timer.data = w;
  uv_timer_init(loop, &w->deadline);
  w->deadline.data = w;
  w->start = edr_now_ms();
  /* First round from the loop, so CB never runs inside this call. */
  uv_timer_start(&w->timer, on_timer, 0, 0);
  if (w->o.timeout_ms)
    uv_timer_start(&w->deadline, on_deadline, w->o.timeout_ms, 0);
  if (out)
    *out = w;
  return 0;
}
