/*
 * t.h - the smallest test harness that does the job: CHECK() records a
 * failure with file and line and goes on; t_done() prints the closing line
 * ("N passed, N failed") and returns the exit status for main().
 */
#ifndef EDR_T_H
#define EDR_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      t_pass++;                                                                \
    } else {                                                                   \
      t_fail++;                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_STR(got, want)                                                   \
  do {                                                                         \
    const char *g_ = (got), *w_ = (want);                                      \
    if (g_ && w_ && strcmp(g_, w_) == 0) {                                     \
      t_pass++;                                                                \
    } else {                                                                   \
      t_fail++;                                                                \
      fprintf(stderr, "%s:%d: got '%s', want '%s'\n", __FILE__, __LINE__,      \
              g_ ? g_ : "(null)", w_ ? w_ : "(null)");                         \
    }                                                                          \
  } while (0)

#define CHECK_CONTAINS(hay, needle)                                            \
  do {                                                                         \
    const char *h_ = (hay), *n_ = (needle);                                    \
    if (h_ && strstr(h_, n_)) {                                                \
      t_pass++;                                                                \
    } else {                                                                   \
      t_fail++;                                                                \
      fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__,        \
              __LINE__, h_ ? h_ : "(null)", n_);                               \
    }                                                                          \
  } while (0)

/* A loopback port where the kernel completes TCP handshakes and nobody
 * ever reads or answers (a hung server).  Returns the listening socket
 * (close it when done) and sets *PORT; -1 on failure. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
static inline int t_silent_listener(int *port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  *port = 0; /* set on every path: callers print it before checking the socket */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 16) ||
      getsockname(fd, (struct sockaddr *)&sa, &len)) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

/* Call FN(ARG) once, MS from now, on LOOP: a cancel in the middle of an
 * operation.  L is the caller's, alive until the loop has run on. */
#include <uv.h>
struct t_later {
  uv_timer_t timer;
  void (*fn)(void *arg);
  void *arg;
};
static inline void t_later_fire(uv_timer_t *t) {
  struct t_later *l = t->data;
  l->fn(l->arg);
  uv_close((uv_handle_t *)t, NULL);
}
static inline void t_later(uv_loop_t *loop, struct t_later *l, uint64_t ms,
                           void (*fn)(void *arg), void *arg) {
  l->fn = fn;
  l->arg = arg;
  uv_timer_init(loop, &l->timer);
  l->timer.data = l;
  uv_timer_start(&l->timer, t_later_fire, ms, 0);
}

static inline int t_done(const char *name) {
  printf("%s: %d passed, %d failed\n", name, t_pass, t_fail);
  return t_fail ? 1 : 0;
}

#endif
