/*
 * status.c - the facts behind `etcd-dr status`: ask every member's client
 * URL for /health, /version, its maintenance status and the alarm list, all
 * at once on the caller's libuv loop (or, for a command on its own, a loop
 * it runs), parse what comes back (etcd 3.4 and 3.5 JSON; the same
 * parser reads what a member's host asked it, cmd_status.c), and judge
 * the cluster as a whole.  The command itself (options, SSH,
 * printing) is cmd_status.c.
 */
#include "status.h"

#include "outcome.h"

#include "health.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "err.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 2000

void edr_status_row_init(struct edr_status_row *r, const char *name,
                         const char *client_url) {
  memset(r, 0, sizeof(*r));
  r->name = name;
  r->client_url = client_url;
  r->etcd_running = -1;
  r->health = -1;
  r->revision = r->db_size = r->db_size_in_use = -1;
  r->db_revision = r->db_consistent_index = -1;
}

long edr_status_freshest(const struct edr_status_row *rows, size_t n) {
  long best = -1;
  for (size_t i = 0; i < n; i++) {
    const struct edr_status_row *r = &rows[i];
    if (r->db_revision < 0)
      continue;
    if (best < 0 || r->db_revision > rows[best].db_revision ||
        (r->db_revision == rows[best].db_revision &&
         r->db_consistent_index > rows[best].db_consistent_index))
      best = (long)i;
  }
  return best;
}

void edr_status_rows_release(struct edr_status_row *rows, size_t n) {
  for (size_t i = 0; i < n; i++) {
    json_decref(rows[i].alarm_list);
    rows[i].alarm_list = NULL;
  }
}

/* ---- parsing ------------------------------------------------------------ */


/* gRPC gateway errors: {"error": "...", "message": "...", "code": N}. */
static const char *gateway_error(json_t *j) {
  const char *m = edr_gw_str(j, "message");
  return *m ? m : edr_gw_str(j, "error");
}

void edr_status_parse_health(struct edr_status_row *row, long code, const char *body) {
  json_t *j = json_loads(body, 0, NULL);
  const char *h = edr_gw_str(j, "health"), *reason = edr_gw_str(j, "reason");
  row->reachable = true;
  if (!strcmp(h, "true") && code == 200) {
    row->health = 1;
  } else if (*h) {
    row->health = 0;
    if (*reason)  /* 3.5 */
      snprintf(row->health_reason, sizeof row->health_reason, "%s", reason);
    else
      snprintf(row->health_reason, sizeof row->health_reason, "HTTP %ld, no reason given",
               code);
  } else {
    row->health = 0;
    snprintf(row->health_reason, sizeof row->health_reason,
             "/health answered HTTP %ld without a health field", code);
  }
  json_decref(j);
}

void edr_status_parse_version(struct edr_status_row *row, long code, const char *body) {
  json_t *j = json_loads(body, 0, NULL);
  row->reachable = true;
  if (code == 200) {
    if (!row->version[0])
      snprintf(row->version, sizeof row->version, "%s", edr_gw_str(j, "etcdserver"));
    snprintf(row->cluster_version, sizeof row->cluster_version, "%s",
             edr_gw_str(j, "etcdcluster"));
  }
  json_decref(j);
}

static void add_error(struct edr_status_row *row, const char *text) {
  size_t off = strlen(row->errors);
  if (off + 3 >= sizeof row->errors)
    return;
  snprintf(row->errors + off, sizeof row->errors - off, "%s%s", off ? "; " : "", text);
}

void edr_status_parse_status(struct edr_status_row *row, long code, const char *body) {
  json_t *j = json_loads(body, 0, NULL);
  json_t *hdr = json_object_get(j, "header");
  row->reachable = true;
  if (code != 200 || !json_is_object(hdr)) {
    char why[200];
    const char *msg = gateway_error(j);
    snprintf(why, sizeof why, "status answered HTTP %ld%s%s", code, *msg ? ": " : "", msg);
    add_error(row, why);
    json_decref(j);
    return;
  }
  row->have_status = true;
  row->member_id = edr_gw_u64(hdr, "member_id");
  row->cluster_id = edr_gw_u64(hdr, "cluster_id");
  row->revision = (int64_t)edr_gw_u64(hdr, "revision");
  row->leader = edr_gw_u64(j, "leader");
  row->raft_term = edr_gw_u64(j, "raftTerm");
  row->raft_index = edr_gw_u64(j, "raftIndex");
  row->raft_applied_index = edr_gw_u64(j, "raftAppliedIndex");
  row->db_size = (int64_t)edr_gw_u64(j, "dbSize");
  row->db_size_in_use = json_object_get(j, "dbSizeInUse") ? (int64_t)edr_gw_u64(j, "dbSizeInUse")
                                                          : -1;
  row->is_learner = json_is_true(json_object_get(j, "isLearner"));
  if (*edr_gw_str(j, "version"))
    snprintf(row->version, sizeof row->version, "%s", edr_gw_str(j, "version"));
  size_t k;
  json_t *e;
  json_array_foreach(json_object_get(j, "errors"), k, e) {
    if (json_is_string(e)) {
      /* "memberID:123 alarm:NOSPACE " - trailing blanks are etcd's */
      char t[160];
      snprintf(t, sizeof t, "%s", json_string_value(e));
      for (size_t l = strlen(t); l && t[l - 1] == ' '; l--)
        t[l - 1] = '\0';
      add_error(row, t);
    }
  }
  json_decref(j);
}

/* 3.4 answers a GET with no alarm as "{}"; 3.5 with a header only. */
void edr_status_parse_alarms(struct edr_status_row *row, long code, const char *body) {
  json_t *j = json_loads(body, 0, NULL);
  row->reachable = true;
  if (code == 200 && json_is_object(j)) {
    json_t *a = json_object_get(j, "alarms");
    json_decref(row->alarm_list);
    row->alarm_list = json_is_array(a) ? json_incref(a) : json_array();
  } else {
    char why[200];
    const char *msg = gateway_error(j);
    snprintf(why, sizeof why, "alarm list answered HTTP %ld%s%s", code, *msg ? ": " : "",
             msg);
    add_error(row, why);
  }
  json_decref(j);
}

void edr_status_parse_answer(struct edr_status_row *row, enum edr_etcd_query q, long code,
                             const char *body) {
  switch (q) {
  case EDR_QUERY_HEALTH: edr_status_parse_health(row, code, body); break;
  case EDR_QUERY_VERSION: edr_status_parse_version(row, code, body); break;
  case EDR_QUERY_STATUS: edr_status_parse_status(row, code, body); break;
  case EDR_QUERY_ALARM: edr_status_parse_alarms(row, code, body); break;
  case EDR_QUERY__COUNT: break;
  }
}

bool edr_status_needs_agent(const struct edr_status_row *r) {
  if (r->route != EDR_STATUS_AUTO)
    return r->route == EDR_STATUS_HOST;
  return !r->reachable && (r->http_status == EDR_ECONNREFUSED || r->http_status == EDR_ETIMEDOUT ||
                           r->http_status == EDR_EHOSTUNREACH || r->http_status == EDR_ERESOLVE ||
                           (r->http_status == EDR_ETLS && r->host_tls));
}

static void add_alarm(char *list, size_t len, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = list; (p = strstr(p, name)); p += nl)
    if ((p == list || p[-1] == ',') && (p[nl] == ',' || p[nl] == '\0'))
      return;  /* already there */
  size_t off = strlen(list);
  if (off + nl + 2 > len)
    return;
  snprintf(list + off, len - off, "%s%s", off ? "," : "", name);
}

static void add_alarm_list(char *list, size_t len, const char *names) {
  char t[64];
  snprintf(t, sizeof t, "%s", names);
  for (char *save = NULL, *a = strtok_r(t, ",", &save); a; a = strtok_r(NULL, ",", &save))
    add_alarm(list, len, a);
}

void edr_status_resolve_alarms(struct edr_status_row *rows, size_t n, char *other,
                               size_t otherlen) {
  bool known = false;
  size_t off = 0;
  other[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    rows[i].alarms[0] = '\0';
    known |= rows[i].alarm_list != NULL;
  }
  for (size_t i = 0; i < n; i++) {
    size_t k;
    json_t *e;
    json_array_foreach(rows[i].alarm_list, k, e) {
      const char *name = edr_gw_str(e, "alarm");
      uint64_t id = edr_gw_u64(e, "memberID");
      if (!*name || !strcmp(name, "NONE"))
        continue;
      bool found = false;
      for (size_t r = 0; r < n; r++) {
        if (rows[r].have_status && rows[r].member_id == id) {
          add_alarm(rows[r].alarms, sizeof rows[r].alarms, name);
          found = true;
        }
      }
      if (!found && off + 1 < otherlen) {
        char me[64];
        snprintf(me, sizeof me, "%" PRIx64 " %s", id, name);
        if (!strstr(other, me)) {
          int w = snprintf(other + off, otherlen - off, "%salarm on member %s",
                           off ? "; " : "", me);
          if (w > 0)
            off = (size_t)w + off < otherlen ? off + (size_t)w : otherlen - 1;
        }
      }
    }
  }
  /* etcd fails /health on every member while any alarm is raised; 3.5
   * says "ALARM NOSPACE", 3.4 gives no reason.  Say it for 3.4 too, so the
   * judge does not count an alarm as a lost member. */
  char all[64] = "";
  for (size_t i = 0; i < n; i++) {
    rows[i].alarms_known = known;
    if (rows[i].alarms[0])
      add_alarm_list(all, sizeof all, rows[i].alarms);
  }
  for (size_t i = 0; i < n && (all[0] || other[0]); i++) {
    struct edr_status_row *r = &rows[i];
    if (r->health == 0 && r->have_status && r->leader && !strncmp(r->health_reason, "HTTP ", 5))
      snprintf(r->health_reason, sizeof r->health_reason,
               "ALARM %s (assumed: etcd 3.4's /health gives no reason)",
               all[0] ? all : "raised");
  }
}

/* ---- asking the members ------------------------------------------------- */

struct rq {
  struct edr_status_fetch *f;
  size_t i;
  enum edr_etcd_query q;
};

struct edr_status_fetch {
  struct edr_status_row *rows;   /* borrowed */
  struct rq *rq;                 /* n * EDR_QUERY__COUNT */
  struct edr_http *http;
  size_t pending;
  bool closing;
  int status;
  edr_status_fetch_cb cb;
  void *arg;
};

static void on_closed(void *arg) {
  struct edr_status_fetch *f = arg;
  edr_status_fetch_cb cb = f->cb;
  void *cb_arg = f->arg;
  int status = f->status;
  free(f->rq);
  free(f);
  cb(cb_arg, status);
}

/* Every request ended (or the fetch was cancelled): close the client; CB
 * runs from its close callback, so always from the loop. */
static void finish(struct edr_status_fetch *f) {
  if (f->closing)
    return;
  f->closing = true;
  edr_http_close(f->http, on_closed, f);
}

static void on_answer(void *arg, int status, long code, const char *body, size_t len,
                      const char *errtext) {
  (void)len;
  struct rq *rq = arg;
  struct edr_status_fetch *f = rq->f;
  struct edr_status_row *row = &f->rows[rq->i];
  f->pending--;
  if (status < 0) {
    if (!row->http_status) {
      /* the first failure says it all when nothing answered; when the
       * member answered other requests, which one failed matters */
      row->http_status = status;
      bool detail = status != EDR_ECONNREFUSED && status != EDR_ETIMEDOUT && errtext &&
                    *errtext;
      snprintf(row->http_error, sizeof row->http_error, "%s%s%s", edr_strerror(status),
               detail ? ": " : "", detail ? errtext : "");
      snprintf(row->http_failed, sizeof row->http_failed, "%s", edr_etcd_queries[rq->q].path);
    }
    if (rq->q == EDR_QUERY_HEALTH)
      row->health_err = status;
  } else {
    edr_status_parse_answer(row, rq->q, code, body);
  }
  if (f->pending == 0)
    finish(f);
}

int edr_status_fetch_start(uv_loop_t *loop, struct edr_status_row *rows, size_t n,
                           const struct edr_status_fetch_opts *o, edr_status_fetch_cb cb,
                           void *arg, struct edr_status_fetch **out) {
  struct edr_status_fetch *f = calloc(1, sizeof(*f));
  if (out)
    *out = NULL;
  if (!f)
    return EDR_ENOMEM;
  *f = (struct edr_status_fetch){.rows = rows, .cb = cb, .arg = arg};
  f->rq = calloc(n * EDR_QUERY__COUNT + 1, sizeof(*f->rq));
  f->http = f->rq ? edr_http_new(loop) : NULL;
  if (!f->http) {
    free(f->rq);
    free(f);
    return EDR_ENOMEM;
  }
  uint64_t tmo = o && o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
  for (size_t i = 0; i < n && !f->status; i++) {
    if (rows[i].route == EDR_STATUS_HOST)
      continue;  /* asked only through its host */
    const char *base = rows[i].client_url;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
      bl--;
    for (int k = 0; k < EDR_QUERY__COUNT; k++) {
      const struct edr_etcd_query_def *d = &edr_etcd_queries[k];
      if (o && o->status_only && k != EDR_QUERY_STATUS)
        continue;
      char *url = edr_asprintf("%.*s%s", (int)bl, base, d->path);
      if (!url) {
        f->status = EDR_ENOMEM;
        break;
      }
      struct rq *rq = &f->rq[i * EDR_QUERY__COUNT + (size_t)k];
      *rq = (struct rq){.f = f, .i = i, .q = (enum edr_etcd_query)k};
      struct edr_http_req q = {
        .method = d->method,
        .url = url,
        .body = d->body,
        .tls = o ? &o->tls : NULL,
        .timeout_ms = tmo,
        .max_body = 1 << 20,
      };
      int r = edr_http_request(f->http, &q, on_answer, rq);
      free(url);
      if (r == 0) {
        f->pending++;
      } else if (!rows[i].http_status) {
        rows[i].http_status = r;
        snprintf(rows[i].http_error, sizeof rows[i].http_error, "%s", edr_strerror(r));
      }
    }
  }
  if (out)
    *out = f;
  if (f->pending == 0 || f->status)
    finish(f);  /* nothing asked, or out of memory: CB from the close */
  return 0;
}

void edr_status_fetch_cancel(struct edr_status_fetch *f) {
  if (!f->status)
    f->status = EDR_ECANCELED;
  finish(f);
}

struct sync_fetch {
  bool done;
  int status;
};

static void sync_done(void *arg, int status) {
  struct sync_fetch *s = arg;
  s->done = true;
  s->status = status;
}

int edr_status_fetch(struct edr_status_row *rows, size_t n,
                     const struct edr_status_fetch_opts *o) {
  uv_loop_t loop;
  struct sync_fetch s = {0};
  if (uv_loop_init(&loop))
    return EDR_EINTERNAL;
  int rc = edr_status_fetch_start(&loop, rows, n, o, sync_done, &s, NULL);
  if (rc == 0) {
    while (!s.done && uv_run(&loop, UV_RUN_ONCE))
      ;
    rc = s.done ? s.status : EDR_EINTERNAL;
  }
  uv_run(&loop, UV_RUN_DEFAULT);  /* the client's handles close */
  uv_loop_close(&loop);
  return rc;
}

/* ---- judging ------------------------------------------------------------ */

/* Counted toward quorum: /health true, or false only because an alarm is
 * raised (the member still has a leader and serves reads). */
static bool row_healthy(const struct edr_status_row *r) {
  return r->have_status &&
         (r->health == 1 ||
          (r->health == 0 && r->leader && !strncmp(r->health_reason, "ALARM", 5)));
}

static void add_why(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_why(char *why, size_t len, const char *fmt, ...) {
  size_t off = strlen(why);
  if (off + 3 >= len)
    return;
  if (off) {
    snprintf(why + off, len - off, "; ");
    off += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why + off, len - off, fmt, ap);
  va_end(ap);
}

/* Nothing is known of ROW's member: it answered nothing, here or through
 * its host, and neither did its host say etcd is stopped there (the probe
 * over SSH) nor, without SSH, did its client URL refuse the connection
 * (the host is up, nothing listens).  It may well be serving. */
bool edr_status_row_unreached(const struct edr_status_row *r) {
  if (r->reachable)
    return false;
  if (r->ssh == EDR_SSH_OK && r->etcd_running >= 0)
    return r->etcd_running == 1;
  return r->http_status != EDR_ECONNREFUSED;
}

void edr_status_judge(const struct edr_status_row *rows, size_t n,
                      struct edr_status_verdict *out) {
  memset(out, 0, sizeof(*out));
  out->total = n;
  out->quorum = n / 2 + 1;
  out->one_cluster = true;

  /* The main cluster: the cluster ID with the most healthy members (ties:
   * the first seen, in spec order). */
  uint64_t main_id = 0;
  size_t best = 0;
  bool any_status = false;
  for (size_t i = 0; i < n; i++) {
    if (!rows[i].have_status)
      continue;
    size_t c = 0;
    for (size_t j = 0; j < n; j++)
      c += row_healthy(&rows[j]) && rows[j].cluster_id == rows[i].cluster_id;
    if (!any_status || c > best) {
      best = c;
      main_id = rows[i].cluster_id;
    }
    any_status = true;
  }
  for (size_t i = 0; i < n; i++)
    if (rows[i].have_status && rows[i].cluster_id != main_id)
      out->one_cluster = false;
  out->healthy = best;

  /* Leaders: members of the main cluster that say they lead, and whether
   * every member of it names the same leader. */
  uint64_t named = 0;
  bool agree = true;
  for (size_t i = 0; i < n; i++) {
    const struct edr_status_row *r = &rows[i];
    if (!r->have_status || r->cluster_id != main_id)
      continue;
    if (r->leader && r->leader == r->member_id) {
      out->leaders++;
      out->leader_name = r->name;
    }
    if (row_healthy(r)) {
      if (!named)
        named = r->leader;
      else if (r->leader != named)
        agree = false;
    }
  }
  if (out->leaders != 1)
    out->leader_name = NULL;

  for (size_t i = 0; i < n; i++) {
    const struct edr_status_row *r = &rows[i];
    if (row_healthy(r) && r->cluster_id == main_id && r->health == 1)
      continue;
    if (row_healthy(r) && r->cluster_id == main_id)
      ; /* /health false for an alarm: the alarm is named below */
    else if (!r->reachable)
      add_why(out->why, sizeof out->why, "%s unreachable", r->name);
    else if (r->health < 0 && r->health_err)
      add_why(out->why, sizeof out->why, "%s /health %s", r->name,
              edr_strerror(r->health_err));
    else if (r->health == 0)
      add_why(out->why, sizeof out->why, "%s not healthy (%s)", r->name, r->health_reason);
    else if (!r->have_status)
      add_why(out->why, sizeof out->why, "%s gave no status", r->name);
    else if (r->cluster_id != main_id)
      add_why(out->why, sizeof out->why,
              "%s is in another cluster (%" PRIx64 ", not %" PRIx64 ")", r->name,
              r->cluster_id, main_id);
    else
      add_why(out->why, sizeof out->why, "%s health unknown", r->name);
  }
  if (out->healthy && out->leaders == 0)
    add_why(out->why, sizeof out->why, "no member says it is the leader");
  else if (out->leaders > 1)
    add_why(out->why, sizeof out->why, "%zu members say they are the leader", out->leaders);
  else if (!agree)
    add_why(out->why, sizeof out->why, "members name different leaders");
  char all[64] = "";
  for (size_t i = 0; i < n; i++) {
    if (rows[i].alarms[0]) {
      add_alarm_list(all, sizeof all, rows[i].alarms);
      add_why(out->why, sizeof out->why, "alarm %s on %s", rows[i].alarms, rows[i].name);
    }
  }
  bool alarms = all[0] != '\0';

  if (out->healthy == n && n > 0 && out->one_cluster && out->leaders == 1 && agree &&
      !alarms) {
    out->verdict = EDR_VERDICT_HEALTHY;
    snprintf(out->line, sizeof out->line, "healthy");
  } else if (out->healthy >= out->quorum) {
    out->verdict = EDR_VERDICT_DEGRADED;
    snprintf(out->line, sizeof out->line, "degraded, quorum held (%zu of %zu healthy%s%s)",
             out->healthy, n, alarms ? "; alarm " : "", all);
  } else {
    /* Members that refused our TLS may be perfectly healthy: saying "quorum
     * lost" (and suggesting a restore) would be wrong and dangerous. */
    size_t tls = 0;
    for (size_t i = 0; i < n; i++) {
      if (!row_healthy(&rows[i]) && rows[i].health_err == EDR_ETLS)
        tls++;
      out->unreached += edr_status_row_unreached(&rows[i]);
    }
    /* Likewise members that could not be reached at all (a VPN down, a
     * firewall): quorum is lost only if it would be even were they healthy. */
    if (tls) {
      out->verdict = EDR_VERDICT_UNKNOWN;
      snprintf(out->line, sizeof out->line,
               "UNKNOWN: %zu of %zu members refused this client's TLS (check --cacert, "
               "--cert, --key or ETCDCTL_*)", tls, n);
    } else if (n > 0 && out->healthy + out->unreached >= out->quorum) {
      out->verdict = EDR_VERDICT_UNKNOWN;
      if (out->unreached == n)
        snprintf(out->line, sizeof out->line,
                 "UNKNOWN: no member could be reached (check the network or VPN between "
                 "this machine and the hosts)");
      else
        snprintf(out->line, sizeof out->line,
                 "UNKNOWN: %zu of %zu healthy, %zu could not be reached and may be serving "
                 "(check the network or VPN to them)", out->healthy, n, out->unreached);
    } else {
      out->verdict = EDR_VERDICT_QUORUM_LOST;
      snprintf(out->line, sizeof out->line, "QUORUM LOST (%zu of %zu healthy)", out->healthy,
               n);
    }
  }
}

int edr_status_exit_code(enum edr_verdict v) {
  switch (v) {
  case EDR_VERDICT_HEALTHY: return EDR_EXIT_OK;
  case EDR_VERDICT_DEGRADED: return EDR_EXIT_UNHEALTHY;
  case EDR_VERDICT_QUORUM_LOST: return EDR_EXIT_QUORUM_LOST;
  case EDR_VERDICT_UNKNOWN: return EDR_EXIT_PREFLIGHT;
  }
  return EDR_EXIT_INTERNAL;
}

const char *edr_verdict_name(enum edr_verdict v) {
  switch (v) {
  case EDR_VERDICT_HEALTHY: return "healthy";
  case EDR_VERDICT_DEGRADED: return "degraded";
  case EDR_VERDICT_QUORUM_LOST: return "quorum-lost";
  case EDR_VERDICT_UNKNOWN: return "unknown";
  }
  return "quorum-lost";
}
