/*
 * test_health_unit.c - the health wait without etcd, on loopback: bad
 * arguments, members that refuse connections, a member that accepts but
 * never answers (the wait still ends at timeout_ms, though a request would
 * wait longer), timeout_ms 0 (one round decides), and canceling.  And the
 * route through the hosts (edr_health_asker): answers that come that way
 * are judged as the wait's own, a member really unhealthy stays so, and a
 * wait that ends with questions still out lives until they are answered.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "health.h"
#include "t.h"
#include "util.h"

static struct edr_health_wait *canceled;

struct outcome {
  int done, progress, status, cancel_after;
  unsigned rounds;
  uint64_t elapsed;
  char problem[512], error[256];
};

static void on_health(void *arg, bool done, int status,
                      const struct edr_health_report *rep) {
  struct outcome *o = arg;
  if (!done) {
    if (++o->progress == o->cancel_after)
      edr_health_wait_cancel(canceled);
    return;
  }
  o->done++;
  o->status = status;
  o->rounds = rep->rounds;
  o->elapsed = rep->elapsed_ms;
  snprintf(o->problem, sizeof o->problem, "%s", rep->problem);
  snprintf(o->error, sizeof o->error, "%s", rep->members[0].error);
}

static void cancel_it(uv_timer_t *t) { edr_health_wait_cancel(canceled); }

/* Bound and listening, never accepting: connects succeed, nothing answers. */
static int listener(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  listen(fd, 16);
  getsockname(fd, (struct sockaddr *)&a, &l);
  *port = ntohs(a.sin_port);
  return fd;
}

/* ---- a fake host agent: answers each question 5 ms later ---------------- */

struct fake_q {
  uv_timer_t t;
  edr_http_cb cb;
  void *arg;
  long code;
  char body[512];
};

static int m2_healthy;   /* whether m2's host answers /health true */
static unsigned asked, answered;
static uv_loop_t *fake_loop;

static void fake_closed(uv_handle_t *h) { free(h->data); }

static void fake_answer(uv_timer_t *t) {
  struct fake_q *q = t->data;
  answered++;
  q->cb(q->arg, 0, q->code, q->body, strlen(q->body), NULL);
  uv_close((uv_handle_t *)&q->t, fake_closed);
}

static int fake_request(void *arg, const struct edr_health_member *m, const char *method,
                        const char *path, const char *body, uint64_t timeout_ms,
                        edr_http_cb cb, void *cb_arg) {
  (void)arg, (void)method, (void)body, (void)timeout_ms;
  struct fake_q *q = calloc(1, sizeof *q);
  q->cb = cb;
  q->arg = cb_arg;
  q->code = 200;
  bool m1 = strcmp(m->name, "m1") == 0;
  if (!strcmp(path, "/health"))
    snprintf(q->body, sizeof q->body, "%s", m1 || m2_healthy
                                                  ? "{\"health\":\"true\"}"
                                                  : "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}");
  else if (!strcmp(path, "/v3/maintenance/status"))
    snprintf(q->body, sizeof q->body,
             "{\"header\":{\"cluster_id\":\"7\",\"member_id\":\"%d\",\"revision\":\"40\"},"
             "\"leader\":\"10\",\"version\":\"3.5.9\"}", m1 ? 10 : 11);
  else
    snprintf(q->body, sizeof q->body,
             "{\"members\":[{\"ID\":\"10\",\"name\":\"m1\",\"peerURLs\":[\"https://10.0.0.1:2380\"]},"
             "{\"ID\":\"11\",\"name\":\"m2\",\"peerURLs\":[\"https://10.0.0.2:2380\"]}]}");
  asked++;
  uv_timer_init(fake_loop, &q->t);
  q->t.data = q;
  uv_timer_start(&q->t, fake_answer, 5, 0);
  return 0;
}

static void run(uv_loop_t *loop, const struct edr_health_member *m, size_t n,
                const struct edr_health_opts *o, struct outcome *out) {
  memset(out, 0, sizeof *out);
  CHECK(edr_health_wait_start(loop, m, n, o, on_health, out) == 0);
  CHECK(out->done == 0);  /* never from inside the start call */
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(out->done == 1);
  printf("%s after %" PRIu64 " ms, %u rounds: %s\n", edr_err_name(out->status),
         out->elapsed, out->rounds, out->problem);
}

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct outcome o;
  const char *peer[] = {"http://127.0.0.1:1"};
  struct edr_health_opts opts = {.timeout_ms = 400, .interval_ms = 50};

  CHECK(edr_health_wait_start(&loop, NULL, 0, &opts, on_health, &o) ==
        EDR_EINVAL);
  struct edr_health_member bad = {.name = "m1"};
  CHECK(edr_health_wait_start(&loop, &bad, 1, &opts, on_health, &o) ==
        EDR_EINVAL);

  /* Refused: retried every round until the timeout. */
  int lp, lfd = listener(&lp);
  close(lfd);  /* now nobody listens on lp */
  char url[64], want[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", lp);
  struct edr_health_member m = {.name = "m1", .client_url = url,
                                .peer_urls = peer, .n_peer_urls = 1};
  run(&loop, &m, 1, &opts, &o);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(o.rounds >= 4);
  CHECK(o.progress >= 3);
  CHECK(o.elapsed >= 400 && o.elapsed < 1000);
  snprintf(want, sizeof want, "m1 (%s): connection refused", url);
  CHECK_STR(o.problem, want);
  CHECK_STR(o.error, want);

  /* timeout_ms 0: one round, no progress call. */
  opts.timeout_ms = 0;
  run(&loop, &m, 1, &opts, &o);
  CHECK(o.status == EDR_ETIMEDOUT && o.rounds == 1 && o.progress == 0);

  /* Silent: the deadline ends the wait on time, with "no answer yet". */
  lfd = listener(&lp);
  snprintf(url, sizeof url, "http://127.0.0.1:%d", lp);
  opts.timeout_ms = 300;
  opts.request_timeout_ms = 5000;
  run(&loop, &m, 1, &opts, &o);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(o.elapsed >= 300 && o.elapsed < 800);
  snprintf(want, sizeof want, "m1 (%s): no answer yet", url);
  CHECK_STR(o.problem, want);

  /* Silent with a short request timeout: rounds end, the reason shows. */
  opts.timeout_ms = 700;
  opts.request_timeout_ms = 200;
  run(&loop, &m, 1, &opts, &o);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(o.rounds >= 2);
  snprintf(want, sizeof want, "m1 (%s): timed out", url);
  CHECK_STR(o.problem, want);
  close(lfd);

  /* Canceled from a timer, and from inside a progress call. */
  lfd = listener(&lp);
  close(lfd);
  snprintf(url, sizeof url, "http://127.0.0.1:%d", lp);
  opts = (struct edr_health_opts){.timeout_ms = 10000, .interval_ms = 50};
  memset(&o, 0, sizeof o);
  CHECK(edr_health_wait_start_cancelable(&loop, &m, 1, &opts, on_health, &o,
                                         &canceled) == 0);
  CHECK(canceled != NULL);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, cancel_it, 200, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(o.done == 1 && o.status == EDR_ECANCELED);
  CHECK(o.elapsed >= 190 && o.elapsed < 600);
  snprintf(want, sizeof want, "m1 (%s): connection refused", url);
  CHECK_STR(o.problem, want);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);

  memset(&o, 0, sizeof o);
  o.cancel_after = 3;
  CHECK(edr_health_wait_start_cancelable(&loop, &m, 1, &opts, on_health, &o,
                                         &canceled) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(o.done == 1 && o.status == EDR_ECANCELED && o.progress == 3);

  /* Through the hosts: m2 not healthy there is not healthy here. */
  fake_loop = &loop;
  const char *p1[] = {"https://10.0.0.1:2380"}, *p2[] = {"https://10.0.0.2:2380"};
  struct edr_health_member two[] = {
    {.name = "m1", .client_url = "https://10.0.0.1:2379", .peer_urls = p1, .n_peer_urls = 1,
     .via_host = true},
    {.name = "m2", .client_url = "https://10.0.0.2:2379", .peer_urls = p2, .n_peer_urls = 1,
     .via_host = true},
  };
  opts = (struct edr_health_opts){.timeout_ms = 300, .interval_ms = 50, .min_revision = 40,
                                  .via = {.request = fake_request}};
  run(&loop, two, 2, &opts, &o);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK_STR(o.problem, "m2: health false: RAFT NO LEADER");
  CHECK(asked == answered && asked > 0);

  /* ... and healthy once it is, judged alike (revision, one cluster, the list). */
  m2_healthy = 1;
  run(&loop, two, 2, &opts, &o);
  CHECK(o.status == 0);
  CHECK(asked == answered);
  opts.min_revision = 41;
  run(&loop, two, 2, &opts, &o);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK_STR(o.problem, "m1: revision 40 < 41 expected");

  /* Canceled with questions out: the wait outlives them (ASan would see). */
  opts = (struct edr_health_opts){.timeout_ms = 10000, .interval_ms = 50,
                                  .via = {.request = fake_request}};
  m2_healthy = 0;
  memset(&o, 0, sizeof o);
  CHECK(edr_health_wait_start_cancelable(&loop, two, 2, &opts, on_health, &o, &canceled) == 0);
  uv_timer_t t2;
  uv_timer_init(&loop, &t2);
  uv_timer_start(&t2, cancel_it, 2, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(o.done == 1 && o.status == EDR_ECANCELED);
  CHECK(asked == answered);
  uv_close((uv_handle_t *)&t2, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);

  CHECK(uv_loop_close(&loop) == 0);
  return t_done("test_health_unit");
}
