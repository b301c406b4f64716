/*
 * etcdask.c - the `etcd-http` op: one HTTP(S) request to the member's own
 * client URL, made from its host with the host's certificates, for a
 * coordinator that cannot reach that URL or has no certificate the member
 * accepts (docs/agent-protocol.md).  The coordinator's health wait asks
 * GET /health, POST /v3/maintenance/status and POST /v3/cluster/member/list
 * this way and judges the answers exactly as it judges its own.
 *
 * HTTP/1.1 with "Connection: close", over a socket bounded by the
 * request's timeout (connect included), through TLS for https (etcdtls.h:
 * OpenSSL in the full agent, none in etcd-dr-agent-notls, which refuses an
 * https URL before it connects) with the CA, client certificate and key
 * named in the request (paths on this host).  Names are not resolved (a
 * static binary has no NSS): the URL's host is an IP address or
 * "localhost", or the request's "addr" is the IP address the coordinator
 * resolved the name to (TLS still verifies the name).  This file owns the socket and the TLS session of one
 * request; the reply is {"code": N, "body": "..."}.  An "authorization"
 * field (etcd's auth token, docs/auth.md) goes out as the Authorization
 * header.  The connection and the bounded request are etcdask.h's, shared
 * with the etcd-snapshot op (etcdsnap.c), which streams its answer.
 */
#include "etcdask.h"
#include "etcdtls.h"
#include "fields.h"
#include "ops.h"
#include "relay_io.h"

#include "err.h"
#include "httpchunk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BODY_MAX = 1 << 20 };

uint64_t etcd_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int left_ms(const struct etcd_conn *c) {
  uint64_t now = etcd_mono_ms();
  return now < c->deadline ? (int)(c->deadline - now) : 0;
}

/* "https://10.0.0.1:2379/" into its parts: TLS, the host (brackets
 * removed) and the port; 0 or EDR_EINVAL. */
static int parse_url(const char *url, bool *tls, char *host, size_t hlen, int *port) {
  const char *p;
  if (!strncasecmp(url, "https://", 8)) {
    *tls = true;
    p = url + 8;
  } else if (!strncasecmp(url, "http://", 7)) {
    *tls = false;
    p = url + 7;
  } else {
    return EDR_EINVAL;
  }
  const char *end = p + strcspn(p, "/");
  const char *colon;
  if (*p == '[') {
    const char *rb = memchr(p, ']', (size_t)(end - p));
    if (!rb)
      return EDR_EINVAL;
    if ((size_t)(rb - p - 1) >= hlen)
      return EDR_EINVAL;
    memcpy(host, p + 1, (size_t)(rb - p - 1));
    host[rb - p - 1] = '\0';
    colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memchr(p, ':', (size_t)(end - p));
    const char *he = colon ? colon : end;
    if (he == p || (size_t)(he - p) >= hlen)
      return EDR_EINVAL;
    memcpy(host, p, (size_t)(he - p));
    host[he - p] = '\0';
  }
  *port = *tls ? 443 : 80;
  if (colon) {
    char *e;
    long v = strtol(colon + 1, &e, 10);
    if (e != end || v < 1 || v > 65535)
      return EDR_EINVAL;
    *port = (int)v;
  }
  return 0;
}

static int dial(struct agent *a, struct etcd_conn *c, const char *url, const char *addr,
                const char *host, int port) {
  struct sockaddr_storage sa;
  socklen_t salen;
  if (addr && !agent_ip_addr(addr, port, &sa, &salen))
    return agent_fail(a, EDR_EINVAL, "%s: addr '%s' is not an IP address", url, addr);
  const char *ip = strcasecmp(host, "localhost") ? host : "127.0.0.1";
  if (!addr && !agent_ip_addr(ip, port, &sa, &salen))
    return agent_fail(a, EDR_ERESOLVE, "%s: the agent resolves no host names: give the "
                      "member's client URL with an IP address", url);
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "socket: %s", agent_errstr(errno));
  c->fd = fd;
  if (connect(fd, (struct sockaddr *)&sa, salen) != 0) {
    if (errno != EINPROGRESS)
      return agent_fail(a, edr_from_errno(errno), "%s: %s", url, agent_errstr(errno));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;
    do
      n = poll(&p, 1, left_ms(c));
    while (n < 0 && errno == EINTR);
    if (n == 0)
      return agent_fail(a, EDR_ETIMEDOUT, "%s: no connection within the timeout", url);
    int err = 0;
    socklen_t el = sizeof err;
    if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
      err = errno;
    if (err)
      return agent_fail(a, edr_from_errno(err), "%s: %s", url, agent_errstr(err));
  }
  return 0;
}

int etcd_wait_fd(int fd, uint64_t deadline, bool out) {
  struct pollfd p = {.fd = fd, .events = out ? POLLOUT : POLLIN};
  int n;
  do {
    uint64_t now = etcd_mono_ms();
    n = poll(&p, 1, now < deadline ? (int)(deadline - now) : 0);
  } while (n < 0 && errno == EINTR);
  return n > 0 ? 0 : n == 0 ? EDR_ETIMEDOUT : edr_from_errno(errno);
}

static int wait_fd(struct etcd_conn *c, bool out) { return etcd_wait_fd(c->fd, c->deadline, out); }

/* Write all of BUF: 0 or a code. */
static int put(struct etcd_conn *c, const char *buf, size_t len) {
  while (len) {
    ssize_t n;
    if (c->tls) {
      n = etcd_tls_write(c->tls, buf, len);
      if (n < 0)
        return (int)n;
    } else {
      n = send(c->fd, buf, len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno != EAGAIN)
          return edr_from_errno(errno);
        int w = wait_fd(c, true);
        if (w)
          return w;
        continue;
      }
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Read some bytes: the count, 0 at the end, or a negative code. */
long etcd_conn_get(struct etcd_conn *c, char *buf, size_t len) {
  for (;;) {
    if (c->tls) {
      return etcd_tls_read(c->tls, buf, len);
    } else {
      ssize_t n = recv(c->fd, buf, len, 0);
      if (n >= 0)
        return n;
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        return edr_from_errno(errno);
      int w = wait_fd(c, false);
      if (w)
        return w;
    }
  }
}

/* The value of header NAME in the head HEAD (NUL-terminated), or NULL. */
const char *etcd_header(const char *head, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
    const char *l = p + 2;
    if (!strncasecmp(l, name, nl) && l[nl] == ':') {
      const char *v = l + nl + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      *vlen = strcspn(v, "\r\n");
      return v;
    }
  }
  return NULL;
}

/* Chunked coding undone in place: each piece of data moves down to the
 * end of what was decoded before it (never past where it came from). */
struct inplace {
  char *base;
  size_t out;
};

static int inplace_out(void *arg, const char *data, size_t len) {
  struct inplace *ip = arg;
  memmove(ip->base + ip->out, data, len);
  ip->out += len;
  return 0;
}

int etcd_conn_open(struct agent *a, struct etcd_conn *c, const struct etcd_req *r) {
  bool tls;
  char host[256];
  int port;
  c->fd = -1;
  c->tls = NULL;
  c->deadline = etcd_mono_ms() + r->timeout_ms;
  if (parse_url(r->url, &tls, host, sizeof host, &port))
    return agent_fail(a, EDR_EINVAL, "'%s' is not an http:// or https:// URL", r->url);
  if (tls && etcd_tls_missing)
    return agent_fail(a, EDR_ETLS, "%s: %s", r->url, etcd_tls_missing);
  int rc;
  if ((rc = dial(a, c, r->url, r->addr, host, port)))
    return rc;
  if (tls && (rc = etcd_tls_start(a, &c->tls, c->fd, c->deadline, r->url, host, r->cacert,
                                  r->cert, r->key)))
    return rc;
  size_t blen = r->body ? strlen(r->body) : 0;
  bool v6 = strchr(host, ':') != NULL;
  char head[2048];
  int hl = snprintf(head, sizeof head,
                    "%s %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nAccept: application/json\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                    "%s%s%sConnection: close\r\n\r\n",
                    r->method, r->path, v6 ? "[" : "", host, v6 ? "]" : "", port, blen,
                    r->auth ? "Authorization: " : "", r->auth ? r->auth : "",
                    r->auth ? "\r\n" : "");
  if (hl < 0 || (size_t)hl >= sizeof head)
    return agent_fail(a, EDR_EINVAL, "request line too long");
  if ((rc = put(c, head, (size_t)hl)) || (r->body && (rc = put(c, r->body, blen))))
    return agent_fail(a, rc, "%s: sending %s: %s", r->url, r->path, edr_strerror(rc));
  return 0;
}

void etcd_conn_set_deadline(struct etcd_conn *c, uint64_t deadline) {
  c->deadline = deadline;
  if (c->tls)
    etcd_tls_set_deadline(c->tls, deadline);
}

void etcd_conn_close(struct etcd_conn *c) {
  etcd_tls_free(c->tls);
  c->tls = NULL;
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
}

int etcd_conn_read_error(struct agent *a, struct etcd_conn *c, const struct etcd_req *r,
                         long n) {
  char why[256];
  return agent_fail(a, (int)n, "%s: reading the answer to %s: %s", r->url, r->path,
                    n == EDR_ETLS ? etcd_tls_reason(c->tls, why, sizeof why)
                                  : edr_strerror((int)n));
}

int etcd_request(struct agent *a, const struct etcd_req *r, int *code, char **buf,
                 const char **body, size_t *body_len) {
  struct etcd_conn c;
  int rc;
  *buf = NULL;
  if ((rc = etcd_conn_open(a, &c, r)))
    goto out;
  size_t cap = ETCD_HEAD_MAX + BODY_MAX, got = 0;
  char *b = *buf = malloc(cap + 1);
  if (!b) {
    rc = agent_fail(a, EDR_ENOMEM, "out of memory");
    goto out;
  }
  for (;;) {
    if (got == cap) {
      rc = agent_fail(a, EDR_ETOOBIG, "%s: answer to %s larger than %zu bytes", r->url,
                      r->path, cap);
      goto out;
    }
    long n = etcd_conn_get(&c, b + got, cap - got);
    if (n == 0)
      break;
    if (n < 0) {
      rc = etcd_conn_read_error(a, &c, r, n);
      goto out;
    }
    got += (size_t)n;
    b[got] = '\0';
    /* a whole answer with a length is enough: no need to wait for the close */
    char *eoh = strstr(b, "\r\n\r\n");
    size_t vl;
    const char *cl = eoh ? etcd_header(b, "Content-Length", &vl) : NULL;
    if (cl && cl < eoh && got - (size_t)(eoh + 4 - b) >= strtoull(cl, NULL, 10))
      break;
  }
  b[got] = '\0';
  char *eoh = strstr(b, "\r\n\r\n");
  if (!eoh || sscanf(b, "HTTP/%*d.%*d %d", code) != 1) {
    rc = agent_fail(a, EDR_EHTTP, "%s: the answer to %s is not HTTP", r->url, r->path);
    goto out;
  }
  *eoh = '\0';
  char *bd = eoh + 4;
  size_t bl = got - (size_t)(bd - b);
  size_t vl;
  const char *te = etcd_header(b, "Transfer-Encoding", &vl);
  if (te && vl >= 7 && !strncasecmp(te, "chunked", 7)) {
    struct inplace ip = {.base = bd};
    struct edr_dechunk d;
    edr_dechunk_init(&d, inplace_out, &ip);
    if (edr_dechunk_feed(&d, bd, bl) || !edr_dechunk_done(&d)) {
      rc = agent_fail(a, EDR_EHTTP, "%s: the answer to %s has broken chunks", r->url, r->path);
      goto out;
    }
    bl = ip.out;
  }
  const char *cl = etcd_header(b, "Content-Length", &vl);
  if (cl && strtoull(cl, NULL, 10) < bl)
    bl = (size_t)strtoull(cl, NULL, 10);
  bd[bl] = '\0';
  *body = bd;
  *body_len = bl;
  rc = 0;
out:
  etcd_conn_close(&c);
  if (rc) {
    free(*buf);
    *buf = NULL;
  }
  return rc;
}

int op_etcd_http(struct agent *a, json_t *req, json_t *res) {
  struct etcd_req r = {0};
  json_int_t timeout = 2000;
  int rc;
  if ((rc = field_str(a, req, "url", false, &r.url)) ||
      (rc = field_str(a, req, "addr", true, &r.addr)) ||
      (rc = field_str(a, req, "method", false, &r.method)) ||
      (rc = field_str(a, req, "path", false, &r.path)) ||
      (rc = field_str(a, req, "body", true, &r.body)) ||
      (rc = field_path(a, req, "cacert", true, &r.cacert)) ||
      (rc = field_path(a, req, "cert", true, &r.cert)) ||
      (rc = field_path(a, req, "key", true, &r.key)) ||
      (rc = field_str(a, req, "authorization", true, &r.auth)) ||
      (rc = field_int(a, req, "timeout_ms", true, 1, 600000, &timeout)))
    return rc;
  if (strcmp(r.method, "GET") && strcmp(r.method, "POST"))
    return agent_fail(a, EDR_EINVAL, "method '%s': only GET and POST are asked", r.method);
  if (r.path[0] != '/' || strpbrk(r.path, " \r\n"))
    return agent_fail(a, EDR_EINVAL, "path '%s' is not an absolute request path", r.path);
  /* etcd's token goes as is; never quoted back (it stands for a password) */
  if (r.auth && (!*r.auth || strpbrk(r.auth, "\r\n")))
    return agent_fail(a, EDR_EINVAL, "authorization is empty or holds a line break");
  r.timeout_ms = (uint64_t)timeout;
  int code = 0;
  char *buf;
  const char *body;
  size_t bl;
  if ((rc = etcd_request(a, &r, &code, &buf, &body, &bl)))
    return rc;
  json_object_set_new(res, "code", json_integer(code));
  json_object_set_new(res, "body", agent_json_bytes(body, bl));
  free(buf);
  return 0;
}
