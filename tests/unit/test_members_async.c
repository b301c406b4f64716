/*
 * test_members_async.c - member add/remove as one operation on the
 * caller's loop (etcd/members.c's edr_members_start), what a run's gate
 * uses: the callback runs once and never from inside the start, a bad
 * request is answered the same way, and a cancel ends a request etcd never
 * answers long before its timeout.  No etcd: a loopback port that accepts
 * and never answers stands for a hung member (the real gateway is
 * e2e_members_*'s).
 */
#include "members.h"
#include "err.h"
#include "t.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct outcome {
  struct edr_members_call *call;
  unsigned calls;
  int status;
  char err[2048];
  uint64_t done_ms;
};

static void done(void *arg, struct edr_members_result *res) {
  struct outcome *o = arg;
  o->calls++;
  o->status = res->err.code;
  snprintf(o->err, sizeof o->err, "%s", edr_error_text(&res->err));
  o->done_ms = edr_now_ms();
}

static void cancel_call(void *c) { edr_members_cancel(c); }

static void test_bad_request(void) {
  uv_loop_t loop;
  CHECK(uv_loop_init(&loop) == 0);
  const char *peer[] = {"http://10.0.0.9:2380"};
  struct edr_members_req q = {.op = EDR_MEMBERS_ADD, .peer_urls = peer, .n_peer = 1};
  struct outcome o = {0};
  CHECK(edr_members_start(&loop, &q, done, &o, NULL) == 0);
  CHECK(o.calls == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(o.calls == 1);
  CHECK(o.status == EDR_EINVAL);
  CHECK_STR(o.err, "cannot add a member: no client URL to ask");
  CHECK(uv_loop_close(&loop) == 0);
}

static void test_cancel(void) {
  int port;
  int srv = t_silent_listener(&port);
  CHECK(srv >= 0);
  uv_loop_t loop;
  CHECK(uv_loop_init(&loop) == 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  const char *urls[] = {url};
  const char *peer[] = {"http://10.0.0.9:2380"};
  struct edr_members_req q = {.op = EDR_MEMBERS_ADD, .urls = urls, .n_urls = 1,
                              .timeout_ms = 5000, .peer_urls = peer, .n_peer = 1};
  struct outcome o = {0};
  uint64_t t0 = edr_now_ms();
  CHECK(edr_members_start(&loop, &q, done, &o, &o.call) == 0);
  struct t_later t;
  t_later(&loop, &t, 100, cancel_call, o.call);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(o.calls == 1);
  CHECK(o.status == EDR_ECANCELED);
  CHECK_STR(o.err, "member add of 'http://10.0.0.9:2380' cancelled");
  CHECK(o.done_ms - t0 < 2000);
  CHECK(uv_loop_close(&loop) == 0);
  close(srv);
}

int main(void) {
  test_bad_request();
  test_cancel();
  return t_done("test_members_async");
}
