/*
 * http.c - libcurl's multi-socket interface driven by a libuv loop, so the
 * coordinator can poll etcd members over HTTP(S) while its SSH sessions run
 * on the same loop.
 *
 * curl tells us which sockets to watch (socket_cb) and when to wake it up
 * (timer_cb); libuv tells curl when a socket is ready (on_poll) or the time
 * has come (on_timer).  Finished transfers are collected in dispatch().
 * Every libuv handle is freed only in its close callback; the client itself
 * is freed when the last of its handles has closed (see on_handle_closed).
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BODY (8u << 20)

/* One socket curl asked us to watch.  Lives in h->socks until it is
 * closed; freed in on_poll_closed. */
struct sock {
  uv_poll_t poll;
  curl_socket_t fd;
  int events;       /* what curl last asked for (UV_READABLE...) */
  bool closing;     /* uv_close() called */
  struct edr_http *h;
  struct sock *next, *prev;
};

/* One request in flight.  Lives in h->reqs until finish() frees it. */
struct req {
  struct edr_http *h;
  CURL *easy;
  struct curl_slist *headers;
  edr_http_cb cb;
  void *arg;
  char *buf;
  size_t len, cap, max;
  bool toobig;
  edr_http_data_cb on_data;   /* streaming: the body goes here, not to buf */
  int stopped;                /* on_data's negative code, 0 while it goes on */
  char errbuf[CURL_ERROR_SIZE];
  struct req *next, *prev;
};

struct edr_http {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  struct req *reqs;
  struct sock *socks;
  unsigned open_handles;   /* the timer + polls whose close cb has not run */
  unsigned dispatching;    /* > 0 while user callbacks may run */
  bool closing;            /* edr_http_close() was called */
  bool torn_down;          /* teardown() ran; free when open_handles == 0 */
  void (*close_cb)(void *);
  void *close_arg;
};

int edr_http_from_curl(int curlcode, long os_errno, bool tls) {
  switch ((CURLcode)curlcode) {
  case CURLE_OK:
    return 0;
  case CURLE_OUT_OF_MEMORY:
    return EDR_ENOMEM;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_BAD_FUNCTION_ARGUMENT:
    return EDR_EINVAL;
  case CURLE_COULDNT_RESOLVE_HOST:
    return EDR_ERESOLVE;
  case CURLE_COULDNT_CONNECT:
    /* curl says "couldn't connect" for refused and unreachable alike; the
     * errno of the failed connect() tells them apart. */
    if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
      return EDR_EHOSTUNREACH;
    if (os_errno == ETIMEDOUT)
      return EDR_ETIMEDOUT;
    return EDR_ECONNREFUSED;
  case CURLE_OPERATION_TIMEDOUT:
    return EDR_ETIMEDOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_USE_SSL_FAILED:
    return EDR_ETLS;
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
    /* Over TLS a failed read with no OS error is OpenSSL's: typically the
     * server's alert after it rejected (or missed) our client certificate,
     * which TLS 1.3 reports only after the handshake. */
    if (tls && os_errno == 0)
      return EDR_ETLS;
    return EDR_ECONNLOST;
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
    return EDR_ECONNLOST;
  case CURLE_FILESIZE_EXCEEDED:
  case CURLE_WRITE_ERROR:
    return EDR_ETOOBIG;
  case CURLE_ABORTED_BY_CALLBACK:
    return EDR_ECANCELED;
  default:
    return EDR_EHTTP;
  }
}

static void on_handle_closed(uv_handle_t *handle);

static void release_if_done(struct edr_http *h) {
  if (!h->torn_down || h->open_handles > 0)
    return;
  void (*cb)(void *) = h->close_cb;
  void *arg = h->close_arg;
  free(h);
  curl_global_cleanup();  /* matches curl_global_init in edr_http_new */
  if (cb)
    cb(arg);
}

static void on_handle_closed(uv_handle_t *handle) {
  struct edr_http *h = handle->data;
  h->open_handles--;
  release_if_done(h);
}

static void on_poll_closed(uv_handle_t *handle) {
  struct sock *s = handle->data;
  struct edr_http *h = s->h;
  free(s);
  h->open_handles--;
  release_if_done(h);
}

static void sock_close(struct sock *s) {
  struct edr_http *h = s->h;
  if (s->prev)
    s->prev->next = s->next;
  else
    h->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->closing = true;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}

static void dispatch(struct edr_http *h);
static void teardown(struct edr_http *h);

static void on_poll(uv_poll_t *p, int status, int events) {
  struct sock *s = p->data;
  struct edr_http *h = s->h;
  int flags = 0, running;
  if (status < 0) {
    /* libuv reports a socket error (a reset, a TLS peer's close) as
     * UV_EBADF and stops the handle.  CURL_CSELECT_ERR would make curl say
     * only "select/poll returned error"; letting it read and write finds
     * the real cause (e.g. the server's TLS alert).  Watch again below in
     * case curl still wants the socket. */
    flags = s->events & UV_READABLE ? CURL_CSELECT_IN : 0;
    flags |= s->events & UV_WRITABLE ? CURL_CSELECT_OUT : 0;
  } else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  /* S may be closed inside this call (CURL_POLL_REMOVE); it stays valid
   * until its close callback. */
  curl_multi_socket_action(h->multi, s->fd, flags, &running);
  if (status < 0 && !s->closing && !uv_is_active((uv_handle_t *)p))
    uv_poll_start(p, s->events, on_poll);
  dispatch(h);
}

static void on_timer(uv_timer_t *t) {
  struct edr_http *h = t->data;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  dispatch(h);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching one socket. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
  struct edr_http *h = userp;
  struct sock *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    /* curl forgets the assignment itself after this call. */
    if (s)
      sock_close(s);
    return 0;
  }
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s)
      return -1;
    if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->fd = fd;
    s->h = h;
    s->poll.data = s;
    s->next = h->socks;
    if (h->socks)
      h->socks->prev = s;
    h->socks = s;
    h->open_handles++;
    curl_multi_assign(h->multi, fd, s);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    events |= UV_WRITABLE;
  s->events = events;
  return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: curl must not be called back from inside itself,
 * so even a timeout of 0 goes through the loop. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  struct edr_http *h = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&h->timer);
  else
    uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
  struct req *r = userdata;
  size_t n = size * nmemb;
  if (r->on_data) {
    long code = 0;
    if (n == 0)
      return 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    int rc = r->on_data(r->arg, code, ptr, n);
    if (rc < 0) {
      r->stopped = rc;
      return 0;  /* CURLE_WRITE_ERROR; dispatch() reports r->stopped */
    }
    return n;
  }
  if (n > r->max - r->len) {
    r->toobig = true;
    return 0;  /* makes curl stop with CURLE_WRITE_ERROR */
  }
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + n + 1)
      cap *= 2;
    char *b = realloc(r->buf, cap);
    if (!b)
      return 0;
    r->buf = b;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, ptr, n);
  r->len += n;
  r->buf[r->len] = '\0';
  return n;
}

static void req_free(struct req *r) {
  if (r->easy)
    curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  free(r->buf);
  free(r);
}

/* Unlink R, tell its owner, free it. */
static void finish(struct req *r, int status, long code, const char *errtext) {
  struct edr_http *h = r->h;
  if (r->prev)
    r->prev->next = r->next;
  else
    h->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  if (h->multi)
    curl_multi_remove_handle(h->multi, r->easy);
  h->dispatching++;
  if (status == 0)
    r->cb(r->arg, 0, code, r->buf ? r->buf : "", r->len, "");
  else
    r->cb(r->arg, status, code, "", 0, errtext);
  h->dispatching--;
  req_free(r);
}

/* curl's own words, plus what to check where they do not say it, into OUT. */
static void describe_failure(struct req *r, CURLcode rc, int status, bool tls,
                             struct edr_str *out) {
  const char *what = r->stopped ? "stopped by the data callback"
                     : r->toobig ? "response body too large"
                     : r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
  char shorter[CURL_ERROR_SIZE];
  const char *reason = strstr(what, "SSL routines::");
  const char *colon = strchr(what, ':');
  if (reason && colon && colon < reason) {
    /* "OpenSSL SSL_read: OpenSSL/3.0.19: error:0A000412:SSL routines::sslv3
     * alert bad certificate, errno 0" -> "OpenSSL SSL_read: sslv3 alert bad
     * certificate": the codes help nobody at 3 a.m. */
    reason += strlen("SSL routines::");
    size_t rl = strcspn(reason, ",");
    snprintf(shorter, sizeof shorter, "%.*s: %.*s", (int)(colon - what), what,
             (int)rl, reason);
    what = shorter;
  }
  const char *hint = "";
  if (status == EDR_ETLS && (strstr(what, "alert bad certificate") ||
                             strstr(what, "alert certificate required") ||
                             strstr(what, "alert unknown ca")))
    hint = " (the server rejected our client certificate, or got none: "
           "check the cert and key)";
  else if (rc == CURLE_PEER_FAILED_VERIFICATION)
    hint = " (check the CA file)";
  else if (rc == CURLE_GOT_NOTHING && !tls)
    hint = " (does the member expect https?)";
  edr_str_appendf(out, "%s%s", what, hint);
}

/* Hand every finished transfer to its callback.  A callback may call
 * edr_http_close(); the teardown then waits until we are out of here. */
static void dispatch(struct edr_http *h) {
  CURLMsg *msg;
  int left;
  h->dispatching++;
  while (!h->closing && (msg = curl_multi_info_read(h->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    CURL *easy = msg->easy_handle;
    CURLcode rc = msg->data.result;  /* MSG dies with remove_handle */
    struct req *r = NULL;
    long code = 0, oserr = 0;
    char *scheme = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr);
    curl_easy_getinfo(easy, CURLINFO_SCHEME, &scheme);
    bool tls = scheme && strcasecmp(scheme, "https") == 0;
    int status = r->stopped  ? r->stopped
                 : r->toobig ? EDR_ETOOBIG
                             : edr_http_from_curl(rc, oserr, tls);
    struct edr_str text = EDR_STR_INIT;
    if (status != 0)
      describe_failure(r, rc, status, tls, &text);
    finish(r, status, code, text.buf);
    edr_str_release(&text);
  }
  h->dispatching--;
  if (h->closing && !h->dispatching && !h->torn_down)
    teardown(h);
}

struct edr_http *edr_http_new(uv_loop_t *loop) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return NULL;
  struct edr_http *h = calloc(1, sizeof *h);
  if (!h)
    goto fail;
  h->loop = loop;
  h->multi = curl_multi_init();
  if (!h->multi)
    goto fail;
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  uv_timer_init(loop, &h->timer);
  h->timer.data = h;
  h->open_handles = 1;
  return h;
fail:
  free(h);
  curl_global_cleanup();
  return NULL;
}

static bool set(const char *s) { return s && *s; }

int edr_http_request(struct edr_http *h, const struct edr_http_req *q,
                     edr_http_cb cb, void *arg) {
  if (!h || !q || !set(q->url) || !cb)
    return EDR_EINVAL;
  /* etcd's token goes as is: a line break in it would add a header */
  if (q->authorization && strpbrk(q->authorization, "\r\n"))
    return EDR_EINVAL;
  if (h->closing)
    return EDR_ECANCELED;
  struct req *r = calloc(1, sizeof *r);
  if (!r)
    return EDR_ENOMEM;
  r->h = h;
  r->cb = cb;
  r->arg = arg;
  r->max = q->max_body ? q->max_body : DEFAULT_MAX_BODY;
  r->on_data = q->on_data;
  r->easy = curl_easy_init();
  if (!r->easy)
    goto nomem;
  /* A streamed body (a snapshot) may take as long as it takes, so there
   * timeout 0 means no limit (CURLOPT_TIMEOUT_MS 0); the stall limit is
   * what catches a member that stops sending. */
  uint64_t timeout = q->timeout_ms        ? q->timeout_ms
                     : q->on_data         ? 0
                                          : DEFAULT_TIMEOUT_MS;
  uint64_t ctimeout = q->connect_timeout_ms ? q->connect_timeout_ms
                      : timeout             ? timeout
                                            : DEFAULT_TIMEOUT_MS;
  if (timeout && ctimeout > timeout)
    ctimeout = timeout;

  CURL *e = r->easy;
  CURLcode rc = CURLE_OK;
  /* Accumulate setopt results: any failure is a bad argument or no memory,
   * and one check at the end reads better than twenty. */
#define OPT(o, v) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, o, v); } while (0)
  OPT(CURLOPT_URL, q->url);
  OPT(CURLOPT_PRIVATE, r);
  OPT(CURLOPT_WRITEFUNCTION, write_cb);
  OPT(CURLOPT_WRITEDATA, r);
  OPT(CURLOPT_ERRORBUFFER, r->errbuf);
  OPT(CURLOPT_NOSIGNAL, 1L);
  OPT(CURLOPT_PROXY, "");
  OPT(CURLOPT_NOPROXY, "*");
  OPT(CURLOPT_PROTOCOLS_STR, "http,https");
  OPT(CURLOPT_TIMEOUT_MS, (long)timeout);
  OPT(CURLOPT_CONNECTTIMEOUT_MS, (long)ctimeout);
  if (q->stall_timeout_ms) {
    /* Under 1 byte/s for that many seconds: curl's only idle limit. */
    OPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
    OPT(CURLOPT_LOW_SPEED_TIME, (long)((q->stall_timeout_ms + 999) / 1000));
  }
  /* HTTP/1.1 even over TLS: etcd's gateway speaks it everywhere, and
   * ALPN-negotiated h2 would only add a code path to go wrong. */
  OPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  if (q->body) {
    size_t n = q->body_len ? q->body_len : strlen(q->body);
    OPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    OPT(CURLOPT_COPYPOSTFIELDS, q->body);
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!r->headers)
      goto nomem;
  }
  if (q->authorization) {
    char *line = edr_asprintf("Authorization: %s", q->authorization);
    struct curl_slist *l = line ? curl_slist_append(r->headers, line) : NULL;
    free(line);
    if (!l)
      goto nomem;
    r->headers = l;
  }
  if (r->headers)
    OPT(CURLOPT_HTTPHEADER, r->headers);
  if (set(q->method) && strcmp(q->method, q->body ? "POST" : "GET") != 0)
    OPT(CURLOPT_CUSTOMREQUEST, q->method);
  if (q->tls) {
    if (set(q->tls->cacert))
      OPT(CURLOPT_CAINFO, q->tls->cacert);
    if (set(q->tls->cert))
      OPT(CURLOPT_SSLCERT, q->tls->cert);
    if (set(q->tls->key))
      OPT(CURLOPT_SSLKEY, q->tls->key);
  }
#undef OPT
  if (rc != CURLE_OK) {
    req_free(r);
    return rc == CURLE_OUT_OF_MEMORY ? EDR_ENOMEM : EDR_EINVAL;
  }
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
    req_free(r);
    return EDR_ENOMEM;
  }
  r->next = h->reqs;
  if (h->reqs)
    h->reqs->prev = r;
  h->reqs = r;
  return 0;
nomem:
  req_free(r);
  return EDR_ENOMEM;
}

static void teardown(struct edr_http *h) {
  h->torn_down = true;
  while (h->reqs)
    finish(h->reqs, EDR_ECANCELED, 0, "canceled");
  /* Closes cached connections; curl reports each socket as removed. */
  curl_multi_cleanup(h->multi);
  h->multi = NULL;
  while (h->socks)
    sock_close(h->socks);
  uv_timer_stop(&h->timer);
  uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

void edr_http_close(struct edr_http *h, void (*close_cb)(void *), void *arg) {
  if (!h || h->closing)
    return;
  h->closing = true;
  h->close_cb = close_cb;
  h->close_arg = arg;
  if (!h->dispatching)
    teardown(h);
}
