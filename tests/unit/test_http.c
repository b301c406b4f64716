/*
 * test_http.c - the async HTTP layer alone, on loopback: a closed port is
 * refused quickly, a listener that never answers times out at timeout_ms,
 * and a tiny HTTP server on the same loop checks bodies, codes, the size
 * limit, connection reuse and closing with requests in flight.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "err.h"
#include "http.h"
#include "t.h"
#include "util.h"

/* ---- a tiny HTTP/1.1 server on the test's loop -------------------------- */

struct conn {
  uv_tcp_t tcp;
  char buf[8192];
  size_t len;
};

static unsigned srv_accepts;  /* connections accepted: shows reuse */

static void conn_closed(uv_handle_t *h) { free(h->data); }

static void on_written(uv_write_t *wr, int status) {
  free(wr->data);
  free(wr);
}

static void reply(struct conn *c, int code, const char *body, size_t n) {
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n", code, n);
  char *out = malloc((size_t)hl + n);
  memcpy(out, head, (size_t)hl);
  memcpy(out + hl, body, n);
  uv_write_t *wr = malloc(sizeof *wr);
  wr->data = out;
  uv_buf_t b = uv_buf_init(out, (unsigned)(hl + (int)n));
  uv_write(wr, (uv_stream_t *)&c->tcp, &b, 1, on_written);
}

/* Answer each complete request in C->buf; keep the connection open. */
static void serve(struct conn *c) {
  for (;;) {
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
      return;
    size_t clen = 0;
    char *cl = strcasestr(c->buf, "content-length:");
    if (cl && cl < end)
      clen = strtoul(cl + 15, NULL, 10);
    size_t total = (size_t)(end + 4 - c->buf) + clen;
    if (c->len < total)
      return;
    char method[16] = "", path[256] = "";
    sscanf(c->buf, "%15s %255s", method, path);
    if (strcmp(path, "/ok") == 0) {
      reply(c, 200, "{\"a\":1}", 7);
    } else if (strcmp(path, "/echo") == 0) {
      char tmp[1024];
      int n = snprintf(tmp, sizeof tmp, "%s %.*s", method, (int)clen, end + 4);
      reply(c, 200, tmp, (size_t)n);
    } else if (strcmp(path, "/503") == 0) {
      reply(c, 503, "{\"health\":\"false\"}", 18);
    } else if (strcmp(path, "/big") == 0) {
      static char big[100000];
      memset(big, 'x', sizeof big);
      reply(c, 200, big, sizeof big);
    } /* "/hang": never answered */
    memmove(c->buf, c->buf + total, c->len - total);
    c->len -= total;
  }
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  struct conn *c = h->data;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct conn *c = s->data;
  if (n < 0) {
    uv_close((uv_handle_t *)s, conn_closed);
    return;
  }
  c->len += (size_t)n;
  serve(c);
}

static void on_conn(uv_stream_t *srv, int status) {
  struct conn *c = calloc(1, sizeof *c);
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0) {
    srv_accepts++;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  } else {
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
  }
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, h->data ? conn_closed : NULL);
}

/* ---- helpers ------------------------------------------------------------ */

/* A port nobody listens on (right now). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  return ntohs(a.sin_port);
}

struct result {
  bool called;
  int status;
  long code;
  char body[256];
  size_t len;
  char err[CURL_ERROR_SIZE];
  uint64_t at;
};

static void on_result(void *arg, int status, long code, const char *body,
                      size_t len, const char *errtext) {
  struct result *r = arg;
  CHECK(!r->called);  /* exactly once */
  r->called = true;
  r->status = status;
  r->code = code;
  snprintf(r->body, sizeof r->body, "%s", body);
  r->len = len;
  snprintf(r->err, sizeof r->err, "%s", errtext);
  r->at = edr_now_ms();
}

static bool closed;
static void on_closed(void *arg) { closed = true; }

static struct edr_http *closer_h;
static struct result *late;

static void on_result_then_close(void *arg, int status, long code,
                                 const char *body, size_t len,
                                 const char *errtext) {
  on_result(arg, status, code, body, len, errtext);
  edr_http_close(closer_h, on_closed, NULL);
  late = (struct result *)arg + 2;
  late->status = edr_http_request(closer_h,
                                  &(struct edr_http_req){.url = "http://x/"},
                                  on_result, late);
}

/* Run one request to completion on a fresh client. */
static uint64_t run_one(uv_loop_t *loop, const struct edr_http_req *q,
                        struct result *r) {
  struct edr_http *h = edr_http_new(loop);
  memset(r, 0, sizeof *r);
  uint64_t t0 = edr_now_ms();
  CHECK(edr_http_request(h, q, on_result, r) == 0);
  while (!r->called && uv_run(loop, UV_RUN_ONCE))
    ;
  closed = false;
  edr_http_close(h, on_closed, NULL);
  while (!closed && uv_run(loop, UV_RUN_ONCE))
    ;
  CHECK(closed);
  return r->at - t0;
}

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct result r;
  char url[128];

  /* The one translation function. */
  CHECK(edr_http_from_curl(CURLE_OK, 0, false) == 0);
  CHECK(edr_http_from_curl(CURLE_COULDNT_CONNECT, 111, false) == EDR_ECONNREFUSED);
  CHECK(edr_http_from_curl(CURLE_COULDNT_CONNECT, 113, false) == EDR_EHOSTUNREACH);
  CHECK(edr_http_from_curl(CURLE_OPERATION_TIMEDOUT, 0, false) == EDR_ETIMEDOUT);
  CHECK(edr_http_from_curl(CURLE_PEER_FAILED_VERIFICATION, 0, false) == EDR_ETLS);
  CHECK(edr_http_from_curl(CURLE_COULDNT_RESOLVE_HOST, 0, false) == EDR_ERESOLVE);
  CHECK(edr_http_from_curl(CURLE_RECV_ERROR, 0, true) == EDR_ETLS);
  CHECK(edr_http_from_curl(CURLE_RECV_ERROR, 104, true) == EDR_ECONNLOST);
  CHECK(edr_http_from_curl(CURLE_RECV_ERROR, 0, false) == EDR_ECONNLOST);

  /* Bad arguments are refused at once, without a callback. */
  struct edr_http *h = edr_http_new(&loop);
  CHECK(edr_http_request(h, &(struct edr_http_req){0}, on_result, &r) ==
        EDR_EINVAL);
  closed = false;
  edr_http_close(h, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(closed);

  /* A closed port: refused, quickly. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/health", free_port());
  uint64_t ms = run_one(&loop, &(struct edr_http_req){.url = url}, &r);
  CHECK(r.status == EDR_ECONNREFUSED);
  CHECK(r.code == 0);
  CHECK(r.err[0] != '\0');
  CHECK(ms < 1000);
  printf("closed port: %s after %" PRIu64 " ms (%s)\n",
         edr_err_name(r.status), ms, r.err);

  /* A listener that accepts (the kernel completes the handshake) but never
   * answers: the total timeout ends it. */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(listen(lfd, 8) == 0);
  getsockname(lfd, (struct sockaddr *)&a, &al);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/health", ntohs(a.sin_port));
  ms = run_one(&loop, &(struct edr_http_req){.url = url, .timeout_ms = 500},
               &r);
  CHECK(r.status == EDR_ETIMEDOUT);
  CHECK(ms >= 450 && ms < 1500);
  printf("silent listener: %s after %" PRIu64 " ms (%s)\n",
         edr_err_name(r.status), ms, r.err);
  close(lfd);

  /* Our own server for the rest. */
  uv_tcp_t srv;
  uv_tcp_init(&loop, &srv);
  srv.data = NULL;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  CHECK(uv_tcp_bind(&srv, (struct sockaddr *)&sa, 0) == 0);
  CHECK(uv_listen((uv_stream_t *)&srv, 16, on_conn) == 0);
  int sal = sizeof sa;
  uv_tcp_getsockname(&srv, (struct sockaddr *)&sa, &sal);
  int port = ntohs(sa.sin_port);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", port);
  run_one(&loop, &(struct edr_http_req){.url = url}, &r);
  CHECK(r.status == 0);
  CHECK(r.code == 200);
  CHECK_STR(r.body, "{\"a\":1}");
  CHECK(r.len == 7);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", port);
  run_one(&loop,
          &(struct edr_http_req){.method = "POST", .url = url, .body = "{}"},
          &r);
  CHECK(r.status == 0);
  CHECK_STR(r.body, "POST {}");
  run_one(&loop,
          &(struct edr_http_req){.method = "PUT", .url = url, .body = "[1]"},
          &r);
  CHECK_STR(r.body, "PUT [1]");

  /* A 503 is an answer, not a transport failure. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/503", port);
  run_one(&loop, &(struct edr_http_req){.url = url}, &r);
  CHECK(r.status == 0);
  CHECK(r.code == 503);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/big", port);
  run_one(&loop, &(struct edr_http_req){.url = url, .max_body = 1000}, &r);
  CHECK(r.status == EDR_ETOOBIG);
  run_one(&loop, &(struct edr_http_req){.url = url}, &r);
  CHECK(r.status == 0);
  CHECK(r.len == 100000);

  /* Many requests on one client, some in parallel, reuse connections; then
   * closing with requests in flight cancels them, each exactly once. */
  h = edr_http_new(&loop);
  unsigned before = srv_accepts;
  struct result rs[10];
  memset(rs, 0, sizeof rs);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", port);
  for (int round = 0; round < 3; round++) {
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < 4; i++)
      CHECK(edr_http_request(h, &(struct edr_http_req){.url = url}, on_result,
                             &rs[i]) == 0);
    for (int i = 0; i < 4; i++)
      while (!rs[i].called && uv_run(&loop, UV_RUN_ONCE))
        ;
    for (int i = 0; i < 4; i++)
      CHECK(rs[i].status == 0 && rs[i].code == 200);
  }
  printf("12 requests used %u connections\n", srv_accepts - before);
  CHECK(srv_accepts - before <= 4);

  memset(rs, 0, sizeof rs);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hang", port);
  for (int i = 0; i < 3; i++)
    CHECK(edr_http_request(h, &(struct edr_http_req){.url = url}, on_result,
                           &rs[i]) == 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_run(&loop, UV_RUN_NOWAIT);
  closed = false;
  edr_http_close(h, on_closed, NULL);
  for (int i = 0; i < 3; i++)
    CHECK(rs[i].called && rs[i].status == EDR_ECANCELED);
  while (!closed && uv_run(&loop, UV_RUN_ONCE))
    ;
  CHECK(closed);

  /* Closing from inside a callback, with another request in flight: the
   * other one is canceled after the callback returns, then H is freed. */
  h = edr_http_new(&loop);
  memset(rs, 0, sizeof rs);
  closer_h = h;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hang", port);
  CHECK(edr_http_request(h, &(struct edr_http_req){.url = url}, on_result,
                         &rs[1]) == 0);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", port);
  CHECK(edr_http_request(h, &(struct edr_http_req){.url = url},
                         on_result_then_close, &rs[0]) == 0);
  closed = false;
  while (!closed && uv_run(&loop, UV_RUN_ONCE))
    ;
  CHECK(closed);
  CHECK(rs[0].called && rs[0].status == 0 && rs[0].code == 200);
  CHECK(rs[1].called && rs[1].status == EDR_ECANCELED);
  CHECK(rs[2].status == EDR_ECANCELED);  /* a request after close: refused */

  uv_walk(&loop, close_walk, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return t_done("test_http");
}
