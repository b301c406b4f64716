/*
 * snapshot_save.c - `etcd-dr snapshot save`: a snapshot of a live member,
 * taken from this machine over the member's client URL through etcd's JSON
 * gateway, streamed to FILE.part, checked, then renamed to FILE.
 *
 * Two phases on one libuv loop (http.h): first GET /health on every
 * candidate URL at once, to pick the member (the first healthy one in the
 * spec's order, or the one named); then POST /v3/maintenance/snapshot,
 * whose body is decoded line by line (edr_snapstream) into a small write
 * buffer, so memory stays flat whatever the snapshot's size.  The file is
 * finished after the HTTP phase (snapshot_file.c): fsync, the SHA-256
 * trailer, the revision, rename, fsync of the directory.
 *
 * One implementation, two front doors: edr_snapshot_save_start() runs on
 * the caller's loop (the run's, for the snapshot-save gate) and finishes
 * the file on libuv's thread pool; edr_snapshot_save() runs the same phases
 * on a loop of its own with SIGINT and SIGTERM caught, then, for --via ssh
 * or auto's fallback, goes through the hosts (an edr_execute of its own,
 * after that loop has ended, never inside it).  Every failure path
 * removes the .part and leaves an existing FILE as it was.
 */
#include "snapshot_save.h"

#include "auth.h"
#include "snapshot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_STALL_MS 30000
#define DEFAULT_DEADLINE_MS (3600u * 1000u)

/* ---- the loop: pick a member, then stream ---------------------------------- */

struct save;

struct candidate {
  struct save *sv;
  const char *name;            /* NULL for --endpoint */
  size_t member;               /* index in the spec */
  char url[1024];              /* the client URL, no trailing slash */
  int status;                  /* of GET /health */
  long code;
  bool healthy, answered;
  struct edr_str err;          /* what /health answered, when not healthy */
};

struct save {
  uv_loop_t *loop;             /* the caller's, or own_loop */
  uv_loop_t own_loop;          /* edr_snapshot_save's */
  struct edr_http *http;
  uv_signal_t sigint, sigterm;
  uv_timer_t deadline;         /* the whole transfer's bound (--deadline), started
                                  with the snapshot's request; deadline_on: inited */
  bool signals_on, interrupted, finished, deadline_on;
  const struct edr_save_opts *o;
  struct candidate *c;
  size_t n, pending;
  struct candidate *chosen;
  bool fallback;               /* --via auto: nobody answered; go through the hosts */
  bool space_checked;          /* the announced size was compared with free space */
  struct edr_snapstream st;
  struct out_file out;
  long code;                   /* of the snapshot request */
  char *token;                 /* etcd's auth token for o->user, or NULL */
  char errbody[1024];          /* the start of a non-200 answer */
  size_t errlen;
  int status;                  /* the outcome; EDR_EAGAIN while running */
  struct edr_save_result *res;
  /* The file (save_prepare, save_release). */
  char *final, *part, *dir;
  bool own_part, stream_ready;
  /* On the caller's loop (edr_snapshot_save_start): the file is finished on
   * libuv's thread pool (it reads the whole file back: seconds for a large
   * one), touching only this struct's file and result; then CB. */
  bool async;
  uv_work_t work;
  edr_save_cb cb;
  void *cb_arg;
};

static void http_closed(void *arg);

static void loop_done(struct save *sv) {
  if (sv->finished)
    return;
  sv->finished = true;
  if (sv->deadline_on) { /* before the client: closed by the time it calls back */
    uv_close((uv_handle_t *)&sv->deadline, NULL);
    sv->deadline_on = false;
  }
  if (sv->http)
    edr_http_close(sv->http, http_closed, sv);
  sv->http = NULL;
  if (sv->signals_on) {
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
    sv->signals_on = false;
  }
}

static void describe(const struct candidate *c, char *out, size_t len) {
  if (c->name)
    snprintf(out, len, "member '%s' (%s)", c->name, c->url);
  else
    snprintf(out, len, "endpoint '%s'", c->url);
}

static void fail(struct save *sv, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct save *sv, int status, const char *fmt, ...) {
  if (sv->status == EDR_EAGAIN || sv->status == 0) {
    va_list ap;
    va_start(ap, fmt);
    edr_error_vset(&sv->res->err, status, fmt, ap);
    va_end(ap);
    sv->status = status;
  }
  loop_done(sv);
}

static void on_snapshot_data_done(void *arg, int status, long code,
                                  const char *body, size_t len,
                                  const char *errtext);

static int on_snapshot_data(void *arg, long code, const char *data,
                            size_t len) {
  struct save *sv = arg;
  sv->code = code;
  if (code != 200) {  /* an error answer: keep its start for the message */
    size_t room = sizeof sv->errbody - 1 - sv->errlen;
    size_t k = len < room ? len : room;
    memcpy(sv->errbody + sv->errlen, data, k);
    sv->errlen += k;
    sv->errbody[sv->errlen] = '\0';
    return 0;
  }
  int rc = edr_snapstream_feed(&sv->st, data, len);
  struct statvfs vfs;
  if (!rc && sv->st.expected && !sv->space_checked) {
    /* the announced size, once: a file that cannot fit fails now, not when
     * the disk is full */
    sv->space_checked = true;
    uint64_t avail = fstatvfs(sv->out.fd, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize
                                                     : UINT64_MAX;
    if (sv->st.expected > avail + sv->st.bytes) {
      char a[32], b[32];
      edr_human_bytes(sv->st.expected, a, sizeof a);
      edr_human_bytes(avail + sv->st.bytes, b, sizeof b);
      rc = edr_error_set(&sv->st.err, EDR_ENOSPC, "it announced %s and only %s is free "
                         "for '%s'", a, b, sv->out.part);
    }
  }
  return rc;
}

static uint64_t stall_ms(const struct edr_save_opts *o) {
  return o->stall_timeout_ms ? o->stall_timeout_ms : DEFAULT_STALL_MS;
}

static uint64_t deadline_ms(const struct edr_save_opts *o) {
  return o->deadline_ms ? o->deadline_ms : DEFAULT_DEADLINE_MS;
}

/* "12.3 MB of 50.0 MB" for a failure's message. */
static void progress(const struct save *sv, char *out, size_t len) {
  char a[32], b[32];
  edr_human_bytes(sv->st.bytes, a, sizeof a);
  if (sv->st.expected) {
    edr_human_bytes(sv->st.expected, b, sizeof b);
    snprintf(out, len, " after %s of %s", a, b);
  } else {
    snprintf(out, len, " after %s", a);
  }
}

static void on_snapshot_data_done(void *arg, int status, long code,
                                  const char *body, size_t len,
                                  const char *errtext) {
  struct save *sv = arg;
  char who[1100], prog[80];
  (void)body;
  (void)len;
  describe(sv->chosen, who, sizeof who);
  progress(sv, prog, sizeof prog);
  if (sv->interrupted) {
    fail(sv, EDR_ECANCELED, "snapshot from %s interrupted%s", who, prog);
    return;
  }
  if (status != 0) {
    if (sv->st.err.code)
      fail(sv, sv->st.err.code, "snapshot from %s failed%s: %s", who, prog,
           edr_error_text(&sv->st.err));
    else if (status == EDR_ETIMEDOUT && sv->st.bytes > 0)
      fail(sv, status, "snapshot from %s failed%s: no data for %" PRIu64
           " s (is the member stopped or overloaded?)", who, prog,
           (stall_ms(sv->o) + 999) / 1000);
    else
      fail(sv, status, "snapshot from %s failed%s: %s (%s)", who, prog,
           edr_strerror(status), errtext);
    return;
  }
  if (code != 200) {
    const char *m = NULL;
    json_t *j = json_loads(sv->errbody, 0, NULL);
    if (json_is_object(j)) {
      /* a unary error {"message"}, or a stream's {"error": {"message"}} */
      json_t *e = json_object_get(j, "error");
      m = json_string_value(json_object_get(j, "message"));
      if (!m)
        m = json_is_object(e) ? json_string_value(json_object_get(e, "message"))
                              : json_string_value(e);
    }
    size_t el = sv->errlen;
    while (el > 0 && (sv->errbody[el - 1] == '\n' || sv->errbody[el - 1] == '\r'))
      sv->errbody[--el] = '\0';
    const char *said = m ? m : sv->errbody[0] ? sv->errbody : "(empty answer)";
    fail(sv, EDR_EHTTP, "snapshot from %s refused: http %ld: %.300s%s", who, code, said,
         edr_etcd_auth_hint(said, sv->o->user));
    json_decref(j);
    return;
  }
  if (edr_snapstream_end(&sv->st) < 0) {
    fail(sv, sv->st.err.code, "snapshot from %s failed%s: %s", who, prog,
         edr_error_text(&sv->st.err));
    return;
  }
  struct edr_error why = EDR_ERROR_INIT;
  int rc = sv->out.len ? save_out_flush(&sv->out, &why) : 0;
  if (rc < 0)
    fail(sv, rc, "snapshot from %s: %s", who, edr_error_text(&why));
  edr_error_release(&why);
  if (rc < 0)
    return;
  sv->status = 0;
  snprintf(sv->res->source, sizeof sv->res->source, "%s", who);
  loop_done(sv);
}

/* A member that keeps sending without announcing a size, or trickles just
 * fast enough to never stall, is stopped here. */
static void on_deadline(uv_timer_t *t) {
  struct save *sv = t->data;
  char who[1100], prog[80];
  describe(sv->chosen, who, sizeof who);
  progress(sv, prog, sizeof prog);
  fail(sv, EDR_ETIMEDOUT, "snapshot from %s took longer than %" PRIu64 " s in all%s "
       "(--deadline; is the link that slow, or is it not etcd?)", who,
       deadline_ms(sv->o) / 1000, prog);
}

static void request_snapshot(struct save *sv);

/* The answer to POST /v3/auth/authenticate: the token, then the snapshot. */
static void on_token(void *arg, int status, long code, const char *body, size_t len,
                     const char *errtext) {
  struct save *sv = arg;
  char who[1100];
  (void)len;
  describe(sv->chosen, who, sizeof who);
  if (sv->interrupted) {
    fail(sv, EDR_ECANCELED, "snapshot from %s interrupted", who);
    return;
  }
  if (status) {
    fail(sv, status, "%s: authentication as '%s': %s (%s)", who, sv->o->user->name,
         edr_strerror(status), errtext);
    return;
  }
  struct edr_error why = EDR_ERROR_INIT;
  if (edr_etcd_auth_token(who, sv->o->user, code, body, &sv->token, &why) < 0)
    fail(sv, why.code, "%s", edr_error_text(&why));
  else
    request_snapshot(sv);
  edr_error_release(&why);
}

/* With a user, a token first: etcd serves a snapshot only to an
 * authenticated root when authentication is enabled (docs/auth.md). */
static void start_snapshot(struct save *sv, struct candidate *c) {
  sv->chosen = c;
  if (!sv->o->user || !sv->o->user->name) {
    request_snapshot(sv);
    return;
  }
  char url[1100], who[1100];
  describe(c, who, sizeof who);
  snprintf(url, sizeof url, "%s/v3/auth/authenticate", c->url);
  char *body = edr_etcd_auth_body(sv->o->user);
  struct edr_http_req q = {
    .method = "POST", .url = url, .body = body, .tls = &sv->o->tls,
    .timeout_ms = sv->o->timeout_ms ? sv->o->timeout_ms : DEFAULT_TIMEOUT_MS,
  };
  int rc = body ? edr_http_request(sv->http, &q, on_token, sv) : EDR_ENOMEM;
  edr_etcd_auth_body_free(body);
  if (rc < 0)
    fail(sv, rc, "%s: authentication: %s", who, edr_strerror(rc));
}

static void request_snapshot(struct save *sv) {
  struct candidate *c = sv->chosen;
  char url[1100], who[1100];
  describe(c, who, sizeof who);
  snprintf(url, sizeof url, "%s/v3/maintenance/snapshot", c->url);
  struct edr_http_req q = {
    .method = "POST", .url = url, .body = "{}", .tls = &sv->o->tls,
    .connect_timeout_ms = sv->o->timeout_ms ? sv->o->timeout_ms
                                            : DEFAULT_TIMEOUT_MS,
    .on_data = on_snapshot_data, .stall_timeout_ms = stall_ms(sv->o),
    .authorization = sv->token,
  };
  edr_info("taking a snapshot from %s", who);
  uv_timer_start(&sv->deadline, on_deadline, deadline_ms(sv->o), 0);
  int rc = edr_http_request(sv->http, &q, on_snapshot_data_done, sv);
  if (rc < 0)
    fail(sv, rc, "snapshot from %s: %s", who, edr_strerror(rc));
}

/* Every /health has answered: choose. */
static void choose(struct save *sv) {
  bool by_name = sv->o->member || sv->o->endpoint;
  for (size_t i = 0; i < sv->n; i++) {
    struct candidate *c = &sv->c[i];
    /* A named member is used when it answers at all: with quorum lost its
     * /health is false, yet it still serves its own data. */
    if (by_name ? c->answered : c->healthy) {
      if (by_name && !c->healthy) {
        char who[1100];
        describe(c, who, sizeof who);
        if (c->code == 200 || c->code == 503)
          edr_warn("%s answers but is not healthy (no quorum, or an "
                   "alarm); its data may be behind the cluster's", who);
        else
          edr_warn("%s answered /health with http %ld: is it an etcd "
                   "client URL?", who, c->code);
      }
      start_snapshot(sv, c);
      return;
    }
  }
  /* --via auto: a member whose URL gave no answer from here may well be
   * up; its host is asked next (edr_snapshot_save). */
  bool unanswered = false;
  for (size_t i = 0; i < sv->n; i++)
    unanswered |= !sv->c[i].answered && sv->c[i].name;
  if (sv->o->via == EDR_VIA_AUTO && unanswered) {
    sv->fallback = true;
    sv->status = 0;
    loop_done(sv);
    return;
  }
  /* Nobody to ask: say what each one answered. */
  struct edr_str m = EDR_STR_INIT;
  edr_str_append(&m, by_name ? "cannot reach" : "no healthy member to take the snapshot from:");
  for (size_t i = 0; i < sv->n; i++) {
    char who[1100];
    describe(&sv->c[i], who, sizeof who);
    edr_str_appendf(&m, "%s %s: %s", i ? ";" : "", who, sv->c[i].err.buf);
  }
  if (!by_name)
    edr_str_append(&m, " (the coordinator must reach a client URL; --member NAME takes it "
                   "from a member that answers but is unhealthy)");
  fail(sv, sv->c[0].status ? sv->c[0].status : EDR_EUNHEALTHY, "%s", m.buf);
  edr_str_release(&m);
}


static void on_health(void *arg, int status, long code, const char *body,
                      size_t len, const char *errtext) {
  struct candidate *c = arg;
  struct save *sv = c->sv;
  c->status = status;
  c->code = code;
  if (status == 0) {
    c->answered = true;
    json_t *j = json_loads(body, 0, NULL);
    const char *h = json_string_value(json_object_get(j, "health"));
    c->healthy = code == 200 && h && !strcmp(h, "true");
    int bl = (int)(len < 200 ? len : 200);
    while (bl > 0 && (body[bl - 1] == '\n' || body[bl - 1] == '\r'))
      bl--;
    if (!c->healthy)
      edr_str_setf(&c->err, "/health answered http %ld %.*s", code, bl, body);
    json_decref(j);
  } else {
    edr_str_setf(&c->err, "%s (%s)", edr_strerror(status), errtext);
  }
  if (--sv->pending > 0)
    return;
  if (sv->interrupted || sv->finished)
    fail(sv, EDR_ECANCELED, "snapshot save interrupted before it began");
  else
    choose(sv);
}

static void cancel(struct save *sv) {
  if (sv->finished)
    return;
  sv->interrupted = true;
  if (!sv->chosen)
    fail(sv, EDR_ECANCELED, "snapshot save interrupted before it began");
  else
    loop_done(sv);  /* the snapshot's callback says how far it got */
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  cancel(h->data);
}

/* Ask every candidate's /health on sv->loop; choose() then takes the
 * snapshot.  Returns 0, or a negative EDR_E* code (sv->status and res->err
 * set) when nothing could start. */
static int http_start(struct save *sv) {
  sv->http = edr_http_new(sv->loop);
  if (!sv->http) {
    fail(sv, EDR_ENOMEM, "cannot start libcurl");
    return EDR_ENOMEM;
  }
  uv_timer_init(sv->loop, &sv->deadline);
  sv->deadline.data = sv;
  sv->deadline_on = true;
  uint64_t t = sv->o->timeout_ms ? sv->o->timeout_ms : DEFAULT_TIMEOUT_MS;
  sv->pending = sv->n;
  for (size_t i = 0; i < sv->n && !sv->finished; i++) {
    char url[1100];
    snprintf(url, sizeof url, "%s/health", sv->c[i].url);
    struct edr_http_req q = {.url = url, .tls = &sv->o->tls, .timeout_ms = t};
    int rc = edr_http_request(sv->http, &q, on_health, &sv->c[i]);
    if (rc < 0) {
      char who[1100];
      describe(&sv->c[i], who, sizeof who);
      fail(sv, rc, "%s: %s", who, edr_strerror(rc));
    }
  }
  return 0;
}

/* edr_snapshot_save: both phases on a loop of its own, with SIGINT and
 * SIGTERM caught; sv->status and res->err say how it went. */
static void run_loop(struct save *sv) {
  sv->loop = &sv->own_loop;
  if (uv_loop_init(sv->loop) != 0) {
    fail(sv, EDR_ENOMEM, "cannot start an event loop");
    return;
  }
  if (http_start(sv) == 0 && !sv->finished) {
    uv_signal_init(sv->loop, &sv->sigint);
    uv_signal_init(sv->loop, &sv->sigterm);
    sv->sigint.data = sv->sigterm.data = sv;
    uv_signal_start(&sv->sigint, on_signal, SIGINT);
    uv_signal_start(&sv->sigterm, on_signal, SIGTERM);
    sv->signals_on = true;
  }
  uv_run(sv->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(sv->loop) != 0)
    edr_debug("snapshot save: event loop closed with handles open");
}

/* ---- the targets ------------------------------------------------------------ */

static int add_candidate(struct save *sv, const char *name, size_t member,
                         const char *url) {
  struct candidate *c = realloc(sv->c, (sv->n + 1) * sizeof *c);
  if (!c)
    return EDR_ENOMEM;
  sv->c = c;
  c = &sv->c[sv->n++];
  memset(c, 0, sizeof *c);
  edr_str_init(&c->err);
  c->sv = sv;
  c->name = name;
  c->member = member;
  snprintf(c->url, sizeof c->url, "%s", url);
  size_t l = strlen(c->url);
  while (l > 0 && c->url[l - 1] == '/')
    c->url[--l] = '\0';
  return 0;
}

static int pick_targets(struct save *sv, const struct edr_spec *spec, struct edr_error *err) {
  const struct edr_save_opts *o = sv->o;
  if (o->endpoint) {
    if (strncmp(o->endpoint, "http://", 7) && strncmp(o->endpoint, "https://", 8))
      return edr_error_set(err, EDR_EINVAL, "--endpoint '%s' is not an http:// or https:// URL",
                           o->endpoint);
    if (add_candidate(sv, NULL, 0, o->endpoint) < 0)
      return edr_error_set(err, EDR_ENOMEM, "out of memory");
    return 0;
  }
  if (!spec || spec->n_members == 0)
    return edr_error_set(err, EDR_EINVAL, "no member to take the snapshot from");
  for (size_t i = 0; i < spec->n_members; i++) {
    const struct edr_member *m = &spec->members[i];
    if (o->member && strcmp(o->member, m->name))
      continue;
    for (size_t k = 0; k < m->client_urls.n; k++) {
      if (add_candidate(sv, m->name, i, m->client_urls.v[k]) < 0)
        return edr_error_set(err, EDR_ENOMEM, "out of memory");
    }
  }
  if (sv->n == 0) {
    edr_error_set(err, EDR_EINVAL, "no member '%s' in '%s' (members:", o->member, spec->source);
    for (size_t i = 0; i < spec->n_members; i++)
      edr_str_appendf(&err->msg, " %s", spec->members[i].name);
    edr_str_append(&err->msg, ")");
    return err->code;
  }
  return 0;
}

/* --via ssh, or --via auto after no URL answered: each candidate member in
 * the spec's order (with auto, only those whose URL gave no answer), until
 * one host hands over a snapshot.  Every failure is said, naming the host. */
static int save_through_hosts(struct save *sv, const struct edr_spec *spec, char *who,
                              size_t wholen, char agent_sha[65]) {
  struct edr_save_result *res = sv->res;
  struct edr_str tried = EDR_STR_INIT;
  struct edr_error why = EDR_ERROR_INIT;
  int rc = EDR_EINVAL;
  if (!spec)
    return edr_error_set(&res->err, EDR_EINVAL, "--via ssh needs a cluster spec: it goes "
                         "through a member's host, not an --endpoint URL");
  if (sv->fallback)
    edr_warn("no client URL answered from here; asking through the hosts");
  for (size_t i = 0; i < sv->n; i++) {
    struct candidate *c = &sv->c[i];
    bool seen = false;
    for (size_t k = 0; k < i; k++)
      seen |= sv->c[k].member == c->member;
    if (seen || (sv->fallback && c->answered))
      continue;
    const struct edr_member *m = &spec->members[c->member];
    if ((rc = save_out_reset(&sv->out)) < 0) {
      edr_error_set(&res->err, rc, "cannot truncate '%s': %s", sv->out.part, edr_strerror(rc));
      goto out;
    }
    snprintf(who, wholen, "member '%s' through its host %s (its agent asked %s)",
             m->name, m->ssh_host, m->client_urls.v[0]);
    edr_error_clear(&why);
    if (sv->o->fetch_ssh)
      rc = sv->o->fetch_ssh(spec, c->member, sv->o, save_out_sink, &sv->out, agent_sha, &why);
    else
      rc = edr_error_set(&why, EDR_EINTERNAL, "%s: no way through the hosts was given (an "
                         "etcd-dr bug)", edr_strerror(EDR_EINTERNAL));
    if (rc == 0 && sv->out.len)
      rc = save_out_flush(&sv->out, &why);
    if (rc == 0) {
      snprintf(res->source, sizeof res->source, "%.*s", (int)sizeof res->source - 1, who);
      goto out;
    }
    edr_str_appendf(&tried, "%smember '%s' on host %s: %s", tried.len ? "; " : "", m->name,
                    m->ssh_host, why.code ? edr_error_text(&why) : edr_strerror(rc));
    if (rc == EDR_ECANCELED)
      break;
  }
  rc = rc < 0 ? rc : EDR_EREMOTE;
  edr_error_set(&res->err, rc, "snapshot through the hosts failed: %s", tried.buf);
out:
  edr_str_release(&tried);
  edr_error_release(&why);
  return rc;
}

/* The targets, the paths and FILE.part, open, locked and empty. */
static int save_prepare(struct save *sv, const struct edr_spec *spec) {
  struct edr_save_result *res = sv->res;
  const struct edr_save_opts *o = sv->o;
  int rc;
  memset(res, 0, sizeof *res);
  edr_error_init(&res->err);
  res->revision = -1;
  sv->status = EDR_EAGAIN;
  sv->out.fd = -1;
  if ((rc = pick_targets(sv, spec, &res->err)) < 0)
    return rc;
  if ((rc = save_make_paths(o, &sv->final, &sv->part, &sv->dir, &res->err)) < 0)
    return rc;
  /* Opened without O_EXCL so a .part left by a killed run does not block
   * the next one; the lock keeps two saves to one FILE apart. */
  sv->out.fd = open(sv->part, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (sv->out.fd < 0) {
    rc = edr_from_errno(errno);
    return edr_error_set(&res->err, rc, "cannot create '%s': %s", sv->part,
                         edr_strerror(rc));
  }
  if (flock(sv->out.fd, LOCK_EX | LOCK_NB) < 0)
    return edr_error_set(&res->err, EDR_EBUSY, "'%s' is being written by another "
                         "snapshot save", sv->part);
  sv->own_part = true;
  if (ftruncate(sv->out.fd, 0) < 0) {
    rc = edr_from_errno(errno);
    return edr_error_set(&res->err, rc, "cannot truncate '%s': %s", sv->part,
                         edr_strerror(rc));
  }
  sv->out.part = sv->part;
  sv->out.buf = malloc(SAVE_WBUF_SIZE);
  if (!sv->out.buf || edr_snapstream_init(&sv->st, save_out_sink, &sv->out) < 0)
    return edr_error_set(&res->err, EDR_ENOMEM, "out of memory");
  sv->stream_ready = true;
  return 0;
}

/* After the HTTP phase (over the URL) or the hosts' (AGENT_SHA set): the
 * file checked, synced and renamed.  Only the file and the result. */
static int save_finish(struct save *sv, const char *agent_sha) {
  char who[1300];
  if (agent_sha)
    snprintf(who, sizeof who, "%s", sv->res->source);
  else
    describe(sv->chosen, who, sizeof who);
  sv->res->via = agent_sha ? "ssh" : "http";
  int rc = save_finish_file(&sv->out, sv->res, sv->part, sv->final, sv->dir, who, agent_sha);
  if (rc < 0 && sv->res->path[0])
    sv->own_part = false;  /* renamed: FILE is the new snapshot, keep it */
  return rc;
}

/* Whatever happened, nothing of the save is left open; with RC < 0 no
 * FILE.part either. */
static void save_release(struct save *sv, int rc) {
  if (sv->out.fd >= 0)
    close(sv->out.fd);
  sv->out.fd = -1;
  if (rc < 0 && sv->own_part && unlink(sv->part) < 0 && errno != ENOENT)
    edr_warn("cannot remove '%s': %s", sv->part, strerror(errno));
  if (sv->stream_ready)
    edr_snapstream_release(&sv->st);
  free(sv->out.buf);
  for (size_t i = 0; i < sv->n; i++)
    edr_str_release(&sv->c[i].err);
  free(sv->c);
  free(sv->token);
  sv->token = NULL;
  free(sv->final);
  free(sv->part);
  free(sv->dir);
}

/* ---- on the caller's loop --------------------------------------------------- */

struct edr_snapshot_save_call {
  struct save sv;
};

static void finish_work(uv_work_t *w) {
  struct save *sv = w->data;
  sv->status = save_finish(sv, NULL);
}

static void finish_after(uv_work_t *w, int status) {
  struct save *sv = w->data;
  if (status < 0 && sv->status == 0) {  /* the pool never ran it */
    sv->status = edr_error_set(&sv->res->err, EDR_EINTERNAL, "cannot finish the snapshot: %s",
                               uv_strerror(status));
  }
  int rc = sv->status;
  edr_save_cb cb = sv->cb;
  void *arg = sv->cb_arg;
  save_release(sv, rc);
  free((char *)sv - offsetof(struct edr_snapshot_save_call, sv));
  cb(arg, rc);
}

/* The HTTP phase is over (its client closed). */
static void http_closed(void *arg) {
  struct save *sv = arg;
  if (!sv->async)
    return;  /* edr_snapshot_save goes on after its loop */
  sv->work.data = sv;
  if (sv->status < 0 || uv_queue_work(sv->loop, &sv->work, finish_work, finish_after) < 0)
    finish_after(&sv->work, sv->status < 0 ? 0 : UV_ENOMEM);
}

int edr_snapshot_save_start(uv_loop_t *loop, const struct edr_spec *spec,
                            const struct edr_save_opts *o, struct edr_save_result *res,
                            edr_save_cb cb, void *arg, struct edr_snapshot_save_call **out) {
  struct edr_snapshot_save_call *call = calloc(1, sizeof(*call));
  if (out)
    *out = NULL;
  if (!call) {
    edr_error_init(&res->err);
    return edr_error_set(&res->err, EDR_ENOMEM, "out of memory");
  }
  struct save *sv = &call->sv;
  *sv = (struct save){.o = o, .res = res, .loop = loop, .async = true, .cb = cb,
                      .cb_arg = arg};
  int rc = save_prepare(sv, spec);
  if (rc == 0 && o->via != EDR_VIA_DIRECT)
    rc = edr_error_set(&res->err, EDR_EINTERNAL, "a snapshot through the hosts (--via ssh or "
                       "auto) cannot be taken inside a run (an etcd-dr bug)");
  if (rc == 0)
    rc = http_start(sv);  /* its failure: the client never was */
  if (rc < 0) {
    save_release(sv, rc);
    free(call);
    return rc;
  }
  if (out)
    *out = call;
  return 0;
}

void edr_snapshot_save_cancel(struct edr_snapshot_save_call *call) {
  cancel(&call->sv);
}

/* ---- on a loop of its own ------------------------------------------------------ */

int edr_snapshot_save(const struct edr_spec *spec,
                      const struct edr_save_opts *o,
                      struct edr_save_result *res) {
  struct save sv = {.o = o, .res = res};
  int rc = save_prepare(&sv, spec);
  if (rc == 0 && o->via != EDR_VIA_SSH) {
    run_loop(&sv);
    rc = sv.status;
  }
  char who[1300], agent_sha[65] = "";
  if (rc == 0 && (o->via == EDR_VIA_SSH || sv.fallback)) {
    rc = save_through_hosts(&sv, spec, who, sizeof who, agent_sha);
  }
  if (rc == 0)
    rc = save_finish(&sv, agent_sha[0] ? agent_sha : NULL);
  save_release(&sv, rc);
  return rc;
}

void edr_save_result_release(struct edr_save_result *res) {
  edr_error_release(&res->err);
}
