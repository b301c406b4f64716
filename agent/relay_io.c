/*
 * relay_io.c - the relay between hosts on the agent's side (relay_io.h): one
 * listening socket per transfer, closed as soon as the predecessor is in;
 * a forwarding connection tried again until the successor listens; the
 * records of common/relay.h on both; and `relay-check`, the check phase's
 * proof that the predecessor reaches this host's port with this run's key,
 * whose listening socket `relay-listen` opens first and keeps (one at a
 * time, this file's): a port that another process holds is said at once,
 * and the coordinator does not send the predecessor to knock on it.
 * Addresses are numeric (a static agent resolves no names).  Sockets are
 * blocking with a send and receive bound, so a peer that hangs ends the op.
 */
#include "relay_io.h"

#include "fields.h"

#include "err.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const json_int_t IDLE_MS = 15000;     /* no byte from a peer for this long */

/* relay-listen's socket, until relay-check takes it (or the agent ends). */
static int kept_fd = -1;
static json_int_t kept_port;
static const char CHECK_TEXT[] = "etcd-dr relay check";

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_timeouts(int fd, json_int_t ms) {
  struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* N bytes or fewer at EOF; -1 with errno on an error (EAGAIN: timed out). */
static ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int send_full(int fd, const void *buf, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = send(fd, (const uint8_t *)buf + off, n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    off += (size_t)w;
  }
  return 0;
}

static const char *sock_errstr(int e) {
  return e == EAGAIN || e == EWOULDBLOCK ? "nothing came for too long" : agent_errstr(e);
}

int relay_key(struct agent *a, json_t *req, uint8_t key[EDR_RELAY_KEY]) {
  const char *hex = NULL;
  int rc = field_str(a, req, "key", false, &hex);
  if (!rc && edr_relay_key_parse(hex, key))
    rc = agent_fail(a, EDR_EINVAL, "field 'key' is not 64 lowercase hex digits");
  return rc;
}

/* A listening socket on PORT, every address (IPv6 with IPv4 mapped, or
 * IPv4 alone where the host has no IPv6). */
static int listen_on(struct agent *a, json_int_t port) {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1, zero = 0;
  if (fd >= 0) {
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                              .sin6_addr = in6addr_any};
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 4) == 0)
      return fd;
    if (errno == EADDRINUSE || errno == EACCES) {
      int e = errno;
      close(fd);
      return agent_fail(a, edr_from_errno(e), "cannot listen on port %lld: %s (another "
                        "program uses it? set relay_port in the spec)", (long long)port,
                        agent_errstr(e));
    }
    close(fd);
  }
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot make a socket: %s",
                      agent_errstr(errno));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_ANY)};
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0) {
    int e = errno;
    close(fd);
    return agent_fail(a, edr_from_errno(e), "cannot listen on port %lld: %s (another "
                      "program uses it? set relay_port in the spec)", (long long)port,
                      agent_errstr(e));
  }
  return fd;
}

static void peer_name(int fd, char *buf, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET)
      inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    else if (ss.ss_family == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
  }
  if (!strncmp(host, "::ffff:", 7))
    memmove(host, host + 7, strlen(host + 7) + 1);
  snprintf(buf, len, "%s", host);
}

/* One connection on LFD within DEADLINE (now_ms()); the fd or a code.
 * Waiting ends too when the coordinator is gone. */
static int accept_until(struct agent *a, int lfd, uint64_t deadline, json_int_t port) {
  for (bool last = false; !last;) {
    uint64_t now = now_ms();
    last = now >= deadline; /* a connection already in the backlog still counts */
    if (agent_input_gone(a))
      return agent_fail(a, EDR_ECONNLOST, "the coordinator's connection closed while port "
                        "%lld waited for the previous host: stopping", (long long)port);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    uint64_t left = last ? 0 : deadline - now;
    int n = poll(&p, 1, left < 500 ? (int)left : 500);
    if (n < 0 && errno != EINTR)
      return agent_fail(a, edr_from_errno(errno), "poll: %s", agent_errstr(errno));
    if (n <= 0)
      continue;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
      return fd;
    if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
      return agent_fail(a, edr_from_errno(errno), "accept: %s", agent_errstr(errno));
  }
  return agent_fail(a, EDR_ETIMEDOUT, "nothing connected to port %lld in time: the previous "
                    "host in the relay did not start, or cannot reach this one",
                    (long long)port);
}

int relay_in_accept(struct agent *a, json_t *listen, const uint8_t key[EDR_RELAY_KEY],
                    struct relay_in *in) {
  json_int_t port = 0, timeout = 60000, idle = IDLE_MS;
  int rc;
  in->fd = -1;
  in->ready = false;
  if ((rc = field_int(a, listen, "port", false, 1, 65535, &port)) ||
      (rc = field_int(a, listen, "timeout_ms", true, 100, 3600000, &timeout)) ||
      (rc = field_int(a, listen, "idle_ms", true, 100, 3600000, &idle)))
    return rc;
  int lfd = listen_on(a, port);
  if (lfd < 0)
    return lfd;
  int fd = accept_until(a, lfd, now_ms() + (uint64_t)timeout, port);
  close(lfd); /* nothing listens longer than it must */
  if (fd < 0)
    return fd;
  in->fd = fd;
  set_timeouts(fd, idle);
  peer_name(fd, in->peer, sizeof in->peer);
  uint8_t hello[EDR_RELAY_HELLO];
  ssize_t r = read_full(fd, hello, sizeof hello);
  if (r != (ssize_t)sizeof hello)
    return agent_fail(a, EDR_ECONNLOST, "the relay stream from %s ended before its hello: %s",
                      in->peer, r < 0 ? sock_errstr(errno) : "connection closed");
  rc = edr_relay_init(&in->st, key, hello);
  if (rc == EDR_EPROTO)
    return agent_fail(a, EDR_EPROTO, "%s connected to port %lld but did not speak etcd-dr's "
                      "relay: refused", in->peer, (long long)port);
  if (rc)
    return agent_fail(a, rc, "%s", edr_strerror(rc));
  in->ready = true;
  return 0;
}

long relay_in_read(struct agent *a, struct relay_in *in, const char *what, bool *last) {
  size_t len;
  ssize_t r = read_full(in->fd, in->rec, EDR_RELAY_HDR);
  if (r != EDR_RELAY_HDR)
    return agent_fail(a, EDR_ECONNLOST, "the relay stream of %s from %s ended before its last "
                      "record (the previous host stopped?): %s", what, in->peer,
                      r < 0 ? sock_errstr(errno) : "connection closed");
  if (edr_relay_header(&in->st, in->rec, &len, last))
    return agent_fail(a, EDR_EPROTO, "a record of the relay stream of %s from %s has a bad "
                      "header: the stream was changed on the way; refused", what, in->peer);
  r = read_full(in->fd, in->rec + EDR_RELAY_HDR, len + EDR_RELAY_TAG);
  if (r != (ssize_t)(len + EDR_RELAY_TAG))
    return agent_fail(a, EDR_ECONNLOST, "the relay stream of %s from %s ended inside a "
                      "record: %s", what, in->peer,
                      r < 0 ? sock_errstr(errno) : "connection closed");
  if (edr_relay_open(&in->st, in->rec, len, in->plain))
    return agent_fail(a, EDR_EHASH, "record %llu of the relay stream of '%s' from %s failed "
                      "its authentication: the stream was changed on the way, or is not "
                      "this run's; refused", (unsigned long long)in->st.counter + 1, what,
                      in->peer);
  return (long)len;
}

/* One end of a link: its socket and cipher state, each once. */
static void link_close(int *fd, struct edr_relay *st, bool *ready) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
  if (*ready)
    edr_relay_release(st);
  *ready = false;
}

void relay_in_close(struct relay_in *in) { link_close(&in->fd, &in->st, &in->ready); }

bool agent_ip_addr(const char *addr, int port, struct sockaddr_storage *sa, socklen_t *len) {
  struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
  memset(sa, 0, sizeof *sa);
  if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof *s4;
  } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *len = sizeof *s6;
  } else {
    return false;
  }
  return true;
}

/* One connect attempt to SA bounded by MS, cut short when the
 * coordinator's connection (IN_FD) closes; the fd, or -1 with errno. */
static int connect_once(const struct sockaddr_storage *sa, socklen_t salen, int ms,
                        int in_fd) {
  int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  if (connect(fd, (const struct sockaddr *)sa, salen) == 0)
    goto ok;
  if (errno != EINPROGRESS)
    goto fail;
  /* POLLRDHUP, not POLLIN: the coordinator's pending bytes do not wake it */
  struct pollfd p[2] = {{.fd = fd, .events = POLLOUT}, {.fd = in_fd, .events = POLLRDHUP}};
  int n;
  do
    n = poll(p, 2, ms);
  while (n < 0 && errno == EINTR);
  if (n == 0) {
    errno = ETIMEDOUT;
    goto fail;
  }
  if (!p[0].revents) {
    errno = ECONNABORTED; /* the caller sees agent_input_gone() */
    goto fail;
  }
  int err = 0;
  socklen_t el = sizeof err;
  if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
    goto fail;
  if (err) {
    errno = err;
    goto fail;
  }
ok:;
  /* blocking from here on, bounded by the socket's timeouts */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
    goto fail;
  return fd;
fail:;
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

int relay_out_connect(struct agent *a, json_t *forward, const uint8_t key[EDR_RELAY_KEY],
                      struct relay_out *out) {
  const char *addr = NULL, *host = NULL;
  json_int_t port = 0, timeout = 30000, idle = IDLE_MS;
  int rc;
  out->fd = -1;
  out->ready = false;
  out->sent = 0;
  if ((rc = field_str(a, forward, "addr", false, &addr)) ||
      (rc = field_str(a, forward, "host", true, &host)) ||
      (rc = field_int(a, forward, "port", false, 1, 65535, &port)) ||
      (rc = field_int(a, forward, "timeout_ms", true, 100, 3600000, &timeout)) ||
      (rc = field_int(a, forward, "idle_ms", true, 100, 3600000, &idle)))
    return rc;
  snprintf(out->to, sizeof out->to, "%s (%s port %lld)", host ? host : addr, addr,
           (long long)port);
  struct sockaddr_storage sa;
  socklen_t salen;
  if (!agent_ip_addr(addr, (int)port, &sa, &salen))
    return agent_fail(a, EDR_EINVAL, "relay address '%s' is not an IPv4 or IPv6 address",
                      addr);
  uint64_t deadline = now_ms() + (uint64_t)timeout;
  int fd = -1, e = 0;
  for (;;) {
    /* a coordinator gone means nobody would hear the reply, and the lock
     * and staging stay on this host for as long as this loop runs */
    if (agent_input_gone(a))
      return agent_fail(a, EDR_ECONNLOST, "the coordinator's connection closed while "
                        "connecting to %s: stopping", out->to);
    uint64_t now = now_ms();
    int left = now < deadline ? (int)(deadline - now) : 0;
    fd = connect_once(&sa, salen, left < 3000 ? left : 3000, a->in_fd);
    if (fd >= 0)
      break;
    e = errno;
    now = now_ms();
    if (now + 200 >= deadline)
      break;
    usleep(200 * 1000); /* the next host's listener may not be up yet */
  }
  if (fd < 0)
    return agent_fail(a, edr_from_errno(e), "cannot connect to %s: %s", out->to,
                      agent_errstr(e));
  out->fd = fd;
  set_timeouts(fd, idle);
  uint8_t hello[EDR_RELAY_HELLO];
  if ((rc = edr_relay_hello(hello)))
    return agent_fail(a, rc, "no random bytes for the relay's salt: %s", edr_strerror(rc));
  if ((rc = edr_relay_init(&out->st, key, hello)))
    return agent_fail(a, rc, "%s", edr_strerror(rc));
  out->ready = true;
  if (send_full(fd, hello, sizeof hello))
    return agent_fail(a, EDR_ECONNLOST, "cannot send to %s: %s", out->to, sock_errstr(errno));
  return 0;
}

int relay_out_write(struct agent *a, struct relay_out *out, const void *buf, size_t n,
                    bool last) {
  const uint8_t *p = buf;
  do {
    size_t k = n < EDR_RELAY_REC_MAX ? n : EDR_RELAY_REC_MAX;
    size_t size = edr_relay_seal(&out->st, p, k, last && k == n, out->rec);
    if (!size)
      return agent_fail(a, EDR_EINTERNAL, "relay stream to %s: a record after the last",
                        out->to);
    if (send_full(out->fd, out->rec, size))
      return agent_fail(a, EDR_ECONNLOST, "the relay stream to %s broke after %llu bytes: "
                        "%s (the next host stopped?)", out->to,
                        (unsigned long long)out->sent, sock_errstr(errno));
    out->sent += size;
    p += k;
    n -= k;
  } while (n);
  return 0;
}

void relay_out_close(struct relay_out *out) { link_close(&out->fd, &out->st, &out->ready); }

/* relay-listen: listen on the relay port now and keep the socket for the
 * relay-check on that port.  A port that cannot be had is the result, not
 * a failure: the coordinator then sends this host the snapshot itself. */
int op_relay_listen(struct agent *a, json_t *req, json_t *res) {
  json_int_t port;
  int rc = field_int(a, req, "port", false, 1, 65535, &port);
  if (rc)
    return rc;
  if (kept_fd >= 0)
    close(kept_fd);
  kept_fd = listen_on(a, port);
  kept_port = port;
  if (kept_fd < 0) {
    kept_fd = -1;
    json_object_set_new(res, "listening", json_false());
    json_object_set_new(res, "error", json_string(a->err.msg.buf));
    edr_error_clear(&a->err);
    return 0;
  }
  json_object_set_new(res, "listening", json_true());
  return 0;
}

/* relay-check: this host's listener up first (a connection completes in its
 * backlog before anyone accepts), then the successor reached with one
 * sealed record, then the predecessor's record awaited.  Whether each side
 * worked is the result, not a failure: the coordinator decides the route. */
int op_relay_check(struct agent *a, json_t *req, json_t *res) {
  static struct relay_in in;
  static struct relay_out out;
  uint8_t key[EDR_RELAY_KEY];
  json_t *listen = json_object_get(req, "listen"), *forward = json_object_get(req, "forward");
  json_int_t port = 0, timeout = 10000;
  int rc;
  if ((rc = relay_key(a, req, key)) ||
      (rc = field_int(a, req, "wait_ms", true, 100, 600000, &timeout)))
    return rc;
  if (listen && !json_is_object(listen))
    return agent_fail(a, EDR_EINVAL, "field 'listen' is not an object");
  if (forward && !json_is_object(forward))
    return agent_fail(a, EDR_EINVAL, "field 'forward' is not an object");
  uint64_t deadline = now_ms() + (uint64_t)timeout;
  int lfd = -1;
  if (listen) {
    if ((rc = field_int(a, listen, "port", false, 1, 65535, &port)))
      return rc;
    lfd = kept_fd >= 0 && kept_port == port ? kept_fd : listen_on(a, port);
    if (lfd == kept_fd)
      kept_fd = -1;
    if (lfd < 0) {
      json_object_set_new(res, "listen", json_pack("{s:b, s:s}", "heard", 0, "error", a->err.msg.buf));
      lfd = -1;
    }
  }
  if (forward) {
    json_t *f = json_deep_copy(forward);
    json_object_set_new(f, "timeout_ms", json_integer(timeout));
    rc = relay_out_connect(a, f, key, &out);
    json_decref(f);
    if (!rc)
      rc = relay_out_write(a, &out, CHECK_TEXT, sizeof CHECK_TEXT - 1, true);
    json_object_set_new(res, "forward", rc ? json_pack("{s:b, s:s}", "reached", 0, "error", a->err.msg.buf)
                                           : json_pack("{s:b}", "reached", 1));
    relay_out_close(&out);
  }
  if (lfd >= 0) {
    int fd = accept_until(a, lfd, deadline, port);
    close(lfd);
    bool heard = false;
    in.fd = fd;
    in.ready = false;
    if (fd >= 0) {
      set_timeouts(fd, 5000);
      peer_name(fd, in.peer, sizeof in.peer);
      uint8_t hello[EDR_RELAY_HELLO];
      bool last = false;
      long n = -1;
      if (read_full(fd, hello, sizeof hello) == (ssize_t)sizeof hello &&
          edr_relay_init(&in.st, key, hello) == 0) {
        in.ready = true;
        n = relay_in_read(a, &in, "the check", &last);
      } else
        agent_fail(a, EDR_EPROTO, "%s connected to port %lld but did not speak etcd-dr's "
                   "relay", in.peer, (long long)port);
      heard = n == (long)sizeof CHECK_TEXT - 1 && last &&
              !memcmp(in.plain, CHECK_TEXT, sizeof CHECK_TEXT - 1);
    }
    json_object_set_new(res, "listen", heard ? json_pack("{s:b, s:s}", "heard", 1, "peer", in.peer)
                                             : json_pack("{s:b, s:s}", "heard", 0, "error", a->err.msg.buf));
    relay_in_close(&in);
  }
  edr_error_clear(&a->err);
  return 0;
}
