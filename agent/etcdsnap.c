/*
 * etcdsnap.c - the `etcd-snapshot` op: a snapshot of the member taken from
 * its own host without any etcd tool there (`snapshot save --via ssh`,
 * docs/snapshot.md).  The agent POSTs /v3/maintenance/snapshot to the
 * member's client URL with the host's certificates (etcdask.h), reads the
 * gateway's answer as it comes (chunked coding undone by httpchunk.h, the
 * JSON lines decoded by snapstream.h, one line at a time with a cap) and
 * writes the bytes to PATH.part through one 256 KiB buffer, fsyncs, and
 * renames it to PATH: what `etcdctl snapshot save` writes, the image and
 * the server's SHA-256 of it.  The coordinator's `send` brings it back.
 *
 * With a user, the agent first asks the same member for a token (POST
 * /v3/auth/authenticate: a simple token is good on the member that issued
 * it only); the password comes in the request over the SSH session and
 * goes nowhere but that request's body; the token stays in this process.
 * This file owns the connection, the file and the token of one request.
 */
#include "etcdask.h"
#include "fields.h"
#include "ops.h"
#include "safepath.h"

#include "err.h"
#include "httpchunk.h"
#include "snapstream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
  SNAP_WBUF = 256 * 1024,   /* the write buffer */
  SNAP_RBUF = 64 * 1024,    /* one read from the socket */
  SNAP_ERR_BODY = 64 * 1024 /* of an answer that is not the stream: enough for etcd's message */
};

/* Where the decoded bytes go: PATH.part, through the buffer. */
struct snap_file {
  struct agent *a;
  const char *part;         /* for messages */
  int fd;
  char *buf;
  size_t n;
  uint64_t written;
};

static int snap_flush(struct snap_file *f, struct edr_error *err) {
  size_t off = 0;
  while (off < f->n) {
    ssize_t w = write(f->fd, f->buf + off, f->n - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return edr_error_set(err, edr_from_errno(errno), "cannot write '%s': %s", f->part,
                           agent_errstr(errno));
    off += (size_t)w;
  }
  f->written += f->n;
  f->n = 0;
  return 0;
}

static int snap_sink(void *arg, const unsigned char *p, size_t len, struct edr_error *err) {
  struct snap_file *f = arg;
  while (len) {
    size_t take = SNAP_WBUF - f->n < len ? SNAP_WBUF - f->n : len;
    memcpy(f->buf + f->n, p, take);
    f->n += take;
    p += take;
    len -= take;
    int rc = f->n == SNAP_WBUF ? snap_flush(f, err) : 0;
    if (rc)
      return rc;
  }
  return 0;
}

/* The dechunked body goes to the stream decoder. */
static int to_stream(void *arg, const char *data, size_t len) {
  return edr_snapstream_feed(arg, data, len);
}

/* An answer that is not the stream (an HTTP error): its bounded body. */
struct err_body {
  char text[SNAP_ERR_BODY + 1];
  size_t len;
};

static int to_err_body(void *arg, const char *data, size_t len) {
  struct err_body *e = arg;
  size_t take = SNAP_ERR_BODY - e->len < len ? SNAP_ERR_BODY - e->len : len;
  memcpy(e->text + e->len, data, take);
  e->len += take;
  return 0;
}

/* etcd's words in an error answer: "message", else "error", else the text. */
static void etcd_reason(const char *body, size_t len, char *out, size_t olen) {
  json_t *j = json_loadb(body, len, 0, NULL);
  const char *m = json_string_value(json_object_get(j, "message"));
  if (!m)
    m = json_string_value(json_object_get(j, "error"));
  if (!m && json_is_object(json_object_get(j, "error")))
    m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  if (m)
    snprintf(out, olen, "%s", m);
  else
    snprintf(out, olen, "%.*s", (int)strcspn(body, "\r\n"), len ? body : "(no body)");
  json_decref(j);
}

/* The token of USER at the member (POST /v3/auth/authenticate from here):
 * 0 and *TOKEN (new), or EDR_EETCDAUTH with etcd's reason. */
static int authenticate(struct agent *a, const struct etcd_req *base, const char *user,
                        const char *password, char **token) {
  struct etcd_req r = *base;
  json_t *jb = json_pack("{s:s, s:s}", "name", user, "password", password);
  char *body = jb ? json_dumps(jb, JSON_COMPACT) : NULL;
  json_decref(jb);
  *token = NULL;
  if (!body)
    return agent_fail(a, EDR_ENOMEM, "out of memory");
  r.method = "POST";
  r.path = "/v3/auth/authenticate";
  r.body = body;
  r.auth = NULL;
  int code = 0, rc;
  char *buf = NULL;
  const char *ans;
  size_t alen;
  rc = etcd_request(a, &r, &code, &buf, &ans, &alen);
  explicit_bzero(body, strlen(body));
  free(body);
  if (rc)
    return rc;
  json_t *j = json_loadb(ans, alen, 0, NULL);
  const char *t = json_string_value(json_object_get(j, "token"));
  if (code == 200 && t && *t && !strpbrk(t, "\r\n")) {
    *token = strdup(t);
    rc = *token ? 0 : agent_fail(a, EDR_ENOMEM, "out of memory");
  } else {
    char why[512];
    etcd_reason(ans, alen, why, sizeof why);
    rc = agent_fail(a, EDR_EETCDAUTH, "%s: authentication as '%s' failed: %s", base->url,
                    user, code == 200 ? "no token in the answer" : why);
  }
  json_decref(j);
  free(buf);
  return rc;
}

/* The answer's head, read into HEAD (ETCD_HEAD_MAX + 1 bytes): its length
 * (the bytes after it, *GOT in all, are the body's start) or a code. */
static long read_head(struct agent *a, struct etcd_conn *c, const struct etcd_req *r,
                      char *head, size_t *got) {
  *got = 0;
  for (;;) {
    head[*got] = '\0';
    char *eoh = strstr(head, "\r\n\r\n");
    if (eoh)
      return eoh + 4 - head;
    if (*got == ETCD_HEAD_MAX)
      return agent_fail(a, EDR_EHTTP, "%s: the answer's head is longer than %d bytes",
                        r->url, ETCD_HEAD_MAX);
    long n = etcd_conn_get(c, head + *got, ETCD_HEAD_MAX - *got);
    if (n == EDR_ETIMEDOUT)
      return agent_fail(a, EDR_ETIMEDOUT, "%s: no answer to %s within the stall timeout "
                        "(is the member stopped or overloaded?)", r->url, r->path);
    if (n == 0)
      return agent_fail(a, EDR_ECONNLOST, "%s: the connection closed before an answer to %s",
                        r->url, r->path);
    if (n < 0)
      return etcd_conn_read_error(a, c, r, n);
    *got += (size_t)n;
  }
}

/* The body's coding: chunked (DC set up), a length, or to the close. */
struct body_reader {
  bool chunked;
  struct edr_dechunk dc;
  uint64_t length;          /* with Content-Length; else UINT64_MAX */
  uint64_t seen;
  int (*plain)(void *arg, const char *data, size_t len);
  void *arg;
};

static int body_feed(struct body_reader *b, const char *data, size_t len) {
  if (b->chunked)
    return edr_dechunk_feed(&b->dc, data, len);
  if (len > b->length - b->seen)
    len = (size_t)(b->length - b->seen);
  b->seen += len;
  return len ? b->plain(b->arg, data, len) : 0;
}

static bool body_done(const struct body_reader *b) {
  return b->chunked ? edr_dechunk_done(&b->dc) : b->seen == b->length;
}

int op_etcd_snapshot(struct agent *a, json_t *req, json_t *res) {
  struct etcd_req r = {.method = "POST", .path = "/v3/maintenance/snapshot", .body = "{}"};
  const char *path, *user = NULL, *password = NULL;
  json_int_t timeout = 10000, idle = 30000, total = 0;  /* total: the step's timeout_ms */
  int rc;
  if ((rc = field_str(a, req, "url", false, &r.url)) ||
      (rc = field_str(a, req, "addr", true, &r.addr)) ||
      (rc = field_file_path(a, req, "path", &path)) ||
      (rc = field_path(a, req, "cacert", true, &r.cacert)) ||
      (rc = field_path(a, req, "cert", true, &r.cert)) ||
      (rc = field_path(a, req, "key", true, &r.key)) ||
      (rc = field_str(a, req, "user", true, &user)) ||
      (rc = field_str(a, req, "password", true, &password)) ||
      (rc = field_int(a, req, "connect_timeout_ms", true, 1, 600000, &timeout)) ||
      (rc = field_int(a, req, "idle_timeout_ms", true, 1, 24LL * 3600 * 1000, &idle)) ||
      (rc = field_int(a, req, "timeout_ms", true, 0, 7LL * 24 * 3600 * 1000, &total)))
    return rc;
  if (!user != !password || (user && !*user))
    return agent_fail(a, EDR_EINVAL, "fields 'user' and 'password' go together, the user "
                      "not empty");
  r.timeout_ms = (uint64_t)timeout;
  /* A TLS file the spec names must be there, even for an http:// URL
   * (where it is not used): a spec that names a missing one is wrong, and
   * etcdctl refuses it the same way. */
  const char *const tls_files[][2] = {{r.cacert, "CA certificate"},
                                      {r.cert, "client certificate"},
                                      {r.key, "client key"}};
  for (size_t i = 0; i < 3; i++)
    if (tls_files[i][0] && access(tls_files[i][0], R_OK) != 0)
      return agent_fail(a, EDR_ETLS, "cannot read the %s '%s': %s", tls_files[i][1],
                        tls_files[i][0], agent_errstr(errno));
  uint64_t start = etcd_mono_ms();
  uint64_t end = total ? start + (uint64_t)total : UINT64_MAX;

  char name[NAME_MAX + 1], part[PATH_MAX + 8] = "", pname[NAME_MAX + 8] = "";
  char *token = NULL, *head = NULL;
  int dfd = -1;
  bool created = false;
  struct snap_file f = {.a = a, .part = part, .fd = -1};
  struct edr_snapstream ss;
  bool ss_live = false;
  struct etcd_conn c = {.fd = -1};
  struct err_body *eb = NULL;

  if ((dfd = safe_open_parent(a, path, name, false, NULL)) < 0) {
    rc = dfd;
    goto out;
  }
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    rc = agent_fail(a, EDR_EEXIST, "'%s' already exists (%s), not overwriting it", path,
                    agent_kind_of(st.st_mode));
    goto out;
  }
  if (strlen(name) + 5 > NAME_MAX) {
    rc = agent_fail(a, EDR_EINVAL, "'%s': its last component is too long", path);
    goto out;
  }
  snprintf(part, sizeof part, "%s.part", path);
  snprintf(pname, sizeof pname, "%s.part", name);
  if (user && (rc = authenticate(a, &r, user, password, &token)))
    goto out;
  r.auth = token;

  int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  f.fd = openat(dfd, pname, flags, 0600);
  if (f.fd < 0 && errno == EEXIST && unlinkat(dfd, pname, 0) == 0)
    f.fd = openat(dfd, pname, flags, 0600);
  if (f.fd < 0) {
    rc = agent_fail(a, edr_from_errno(errno), "cannot create '%s': %s", part,
                    agent_errstr(errno));
    goto out;
  }
  created = true;
  f.buf = malloc(SNAP_WBUF);
  head = malloc((size_t)SNAP_RBUF > (size_t)ETCD_HEAD_MAX ? (size_t)SNAP_RBUF + 1
                                                         : (size_t)ETCD_HEAD_MAX + 1);
  if (!f.buf || !head || edr_snapstream_init(&ss, snap_sink, &f)) {
    rc = agent_fail(a, EDR_ENOMEM, "out of memory");
    goto out;
  }
  ss_live = true;

  if ((rc = etcd_conn_open(a, &c, &r)))
    goto out;
  /* etcd answers once its snapshot has begun: the head comes within the
   * idle bound, as every later byte must */
  uint64_t hd = etcd_mono_ms() + (uint64_t)idle;
  etcd_conn_set_deadline(&c, hd < end ? hd : end);
  size_t got;
  long hl = read_head(a, &c, &r, head, &got);
  if (hl < 0) {
    rc = (int)hl;
    goto out;
  }
  int code = 0;
  if (sscanf(head, "HTTP/%*d.%*d %d", &code) != 1) {
    rc = agent_fail(a, EDR_EHTTP, "%s: the answer to %s is not HTTP", r.url, r.path);
    goto out;
  }
  head[hl - 2] = '\0';  /* the head alone, for its headers */
  struct body_reader b = {.length = UINT64_MAX};
  size_t vl;
  const char *te = etcd_header(head, "Transfer-Encoding", &vl);
  const char *cl = etcd_header(head, "Content-Length", &vl);
  b.chunked = te && vl >= 7 && !strncasecmp(te, "chunked", 7);
  if (!b.chunked && cl)
    b.length = strtoull(cl, NULL, 10);
  if (code != 200 && !(eb = calloc(1, sizeof *eb))) {
    rc = agent_fail(a, EDR_ENOMEM, "out of memory");
    goto out;
  }
  b.plain = code == 200 ? to_stream : to_err_body;
  b.arg = code == 200 ? (void *)&ss : (void *)eb;
  edr_dechunk_init(&b.dc, b.plain, b.arg);

  /* The body: what came with the head, then a read at a time, each bounded
   * by the idle limit (and the whole by the deadline). */
  size_t off = (size_t)hl;
  int frc = body_feed(&b, head + off, got - off);
  bool ended = false;
  while (!frc && !body_done(&b)) {
    uint64_t now = etcd_mono_ms();
    if (now >= end) {
      rc = agent_fail(a, EDR_ETIMEDOUT, "%s: the snapshot took longer than %" PRId64 " ms "
                      "(after %" PRIu64 " bytes)", r.url, (int64_t)total, ss.bytes);
      goto out;
    }
    uint64_t dl = now + (uint64_t)idle;
    etcd_conn_set_deadline(&c, dl < end ? dl : end);
    long n = etcd_conn_get(&c, head, SNAP_RBUF);
    if (n == 0) {
      ended = true;
      break;
    }
    if (n == EDR_ETIMEDOUT) {
      rc = agent_fail(a, EDR_ETIMEDOUT, "%s: no data for %" PRId64 " ms after %" PRIu64
                      " bytes of the snapshot (is the member stopped or overloaded?)", r.url,
                      (int64_t)idle, ss.bytes);
      goto out;
    }
    if (n < 0) {
      rc = etcd_conn_read_error(a, &c, &r, n);
      goto out;
    }
    frc = body_feed(&b, head, (size_t)n);
  }
  if (code != 200) {
    char why[600];
    etcd_reason(eb->text, eb->len, why, sizeof why);
    rc = agent_fail(a, code == 401 || strstr(why, "user name is empty") ? EDR_EETCDAUTH
                                                                        : EDR_EREMOTE,
                    "%s refused the snapshot: http %d: %s", r.url, code, why);
    goto out;
  }
  if (frc == EDR_EHTTP && b.chunked && b.dc.status == EDR_EHTTP && !ss.err.code) {
    rc = agent_fail(a, EDR_EHTTP, "%s: the snapshot's answer has broken chunks", r.url);
    goto out;
  }
  if (!frc && ended && !body_done(&b) && (b.chunked || b.length != UINT64_MAX)) {
    rc = agent_fail(a, EDR_ECONNLOST, "%s: the stream ended early, after %" PRIu64 " of %"
                    PRIu64 " bytes of the snapshot", r.url, ss.bytes, ss.expected);
    goto out;
  }
  if (!frc)
    frc = edr_snapstream_end(&ss);
  if (frc) {
    rc = agent_fail(a, frc, "%s: %s", r.url, edr_error_text(&ss.err));
    goto out;
  }
  struct edr_error werr = EDR_ERROR_INIT;
  if ((rc = snap_flush(&f, &werr))) {
    rc = agent_fail(a, rc, "%s", edr_error_text(&werr));
    edr_error_release(&werr);
    goto out;
  }
  edr_error_release(&werr);
  if (fsync(f.fd) != 0 || close(f.fd) != 0) {
    f.fd = -1;
    rc = agent_fail(a, edr_from_errno(errno), "cannot write '%s': %s", part,
                    agent_errstr(errno));
    goto out;
  }
  f.fd = -1;
  if (renameat(dfd, pname, dfd, name) != 0) {
    rc = agent_fail(a, edr_from_errno(errno), "cannot rename '%s' to '%s': %s", part, path,
                    agent_errstr(errno));
    goto out;
  }
  created = false;
  if ((rc = safe_fsync_dir(dfd))) {
    rc = agent_fail(a, rc, "cannot fsync the directory of '%s': %s", path, edr_strerror(rc));
    goto out;
  }
  json_object_set_new(res, "bytes", json_integer((json_int_t)f.written));
  json_object_set_new(res, "messages", json_integer((json_int_t)ss.messages));
  json_object_set_new(res, "duration_ms", json_integer((json_int_t)(etcd_mono_ms() - start)));
  rc = 0;
out:
  if (rc)
    json_object_set_new(res, "bytes", json_integer(ss_live ? (json_int_t)ss.bytes : 0));
  etcd_conn_close(&c);
  if (f.fd >= 0)
    close(f.fd);
  if (created)
    unlinkat(dfd, pname, 0);
  if (dfd >= 0)
    close(dfd);
  if (ss_live)
    edr_snapstream_release(&ss);
  if (token) {
    explicit_bzero(token, strlen(token));
    free(token);
  }
  free(eb);
  free(head);
  free(f.buf);
  return rc;
}
