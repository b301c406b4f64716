/*
 * agent.c - etcd-dr-agent's main loop: read one JSON request per line from
 * stdin, dispatch it through the op table in ops.c, write one final reply
 * (after any log events) per request on stdout.  At EOF between requests it
 * removes its own directory and exits 0.  See docs/agent-protocol.md.
 */
#include "agent.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t agent_read(struct agent *a, void *buf, size_t n) {
  if (a->in_pos < a->in_end) {
    size_t k = a->in_end - a->in_pos;
    if (k > n)
      k = n;
    memcpy(buf, a->in_buf + a->in_pos, k);
    a->in_pos += k;
    return (ssize_t)k;
  }
  if (a->in_eof)
    return 0;
  for (;;) {
    ssize_t r = read(a->in_fd, buf, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0)
      a->in_eof = true;
    return r;
  }
}

int agent_fail(struct agent *a, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
  va_end(ap);
  return code;
}

/* Write all of BUF; a dead stdout is remembered, never fatal by itself. */
static void out_write(struct agent *a, const char *buf, size_t len) {
  while (len > 0 && !a->out_dead) {
    ssize_t w = write(a->out_fd, buf, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      a->out_dead = true;
      return;
    }
    buf += w;
    len -= (size_t)w;
  }
}

/* Send MSG (stolen) as one line. */
static void send_json(struct agent *a, json_t *msg) {
  char *s = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(msg);
  if (!s) {
    static const char oom[] =
        "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"EDR_ENOMEM\","
        "\"errno\":-1,\"message\":\"out of memory while writing a reply\"}}\n";
    out_write(a, oom, sizeof(oom) - 1);
    return;
  }
  size_t len = strlen(s);
  s[len] = '\n'; /* json_dumps' terminator becomes the newline */
  out_write(a, s, len + 1);
  free(s);
}

static json_t *id_or_null(struct agent *a) {
  return a->id ? json_incref(a->id) : json_null();
}

void agent_event(struct agent *a, json_t *fields) {
  if (!fields)
    return;
  json_object_set_new(fields, "id", id_or_null(a));
  send_json(a, fields);
}

bool agent_write_raw(struct agent *a, const void *buf, size_t len) {
  out_write(a, buf, len);
  return !a->out_dead;
}

void agent_log(struct agent *a, const char *fmt, ...) {
  char buf[AGENT_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  send_json(a, json_pack("{s:o, s:s, s:s}", "id", id_or_null(a), "event", "log",
                         "message", buf));
}

static void reply(struct agent *a, int rc, json_t *res) {
  json_t *msg;
  if (rc == 0) {
    msg = json_pack("{s:o, s:b, s:o}", "id", id_or_null(a), "ok", 1, "result",
                    res ? res : json_object());
  } else {
    if (!a->msg[0])
      snprintf(a->msg, sizeof(a->msg), "%s", edr_strerror(rc));
    msg = json_pack("{s:o, s:b, s:{s:s, s:i, s:s}, s:o}", "id", id_or_null(a),
                    "ok", 0, "error", "code", edr_err_name(rc), "errno", rc,
                    "message", a->msg, "result", res ? res : json_null());
  }
  send_json(a, msg);
}

/* Read one line into LINE (AGENT_LINE_MAX + 1 bytes).  Returns its length,
 * -1 at EOF (a partial last line counts as EOF), or EDR_ETOOBIG after
 * skipping the rest of an overlong line. */
static long read_line(struct agent *a, char *line) {
  size_t len = 0;
  bool too_long = false;
  for (;;) {
    if (a->in_pos == a->in_end) {
      if (a->in_eof)
        return -1;
      a->in_pos = a->in_end = 0;
      ssize_t r;
      do
        r = read(a->in_fd, a->in_buf, sizeof(a->in_buf));
      while (r < 0 && errno == EINTR);
      if (r <= 0) {
        a->in_eof = true;
        return -1;
      }
      a->in_end = (size_t)r;
    }
    unsigned char *start = a->in_buf + a->in_pos;
    size_t avail = a->in_end - a->in_pos;
    unsigned char *nl = memchr(start, '\n', avail);
    size_t take = nl ? (size_t)(nl - start) : avail;
    if (!too_long && len + take > AGENT_LINE_MAX)
      too_long = true;
    if (!too_long)
      memcpy(line + len, start, take);
    len += take;
    a->in_pos += take + (nl ? 1 : 0);
    if (nl) {
      if (too_long)
        return EDR_ETOOBIG;
      line[len] = '\0';
      return (long)len;
    }
  }
}

static const struct agent_op *find_op(const char *name) {
  for (const struct agent_op *op = agent_ops; op->name; op++)
    if (strcmp(op->name, name) == 0)
      return op;
  return NULL;
}

/* Serve one request line.  Returns true when the agent must exit. */
static bool serve(struct agent *a, const char *line, size_t len) {
  json_error_t jerr;
  a->id = NULL;
  a->msg[0] = '\0';

  json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!req) {
    reply(a, agent_fail(a, EDR_EPROTO, "request is not json: %s at column %d",
                        jerr.text, jerr.column),
          NULL);
    return false;
  }
  if (!json_is_object(req)) {
    reply(a, agent_fail(a, EDR_EPROTO, "request is not a json object"), NULL);
    json_decref(req);
    return false;
  }
  a->id = json_object_get(req, "id");
  json_t *jop = json_object_get(req, "op");
  const struct agent_op *op = NULL;
  int rc;
  json_t *res = NULL;
  if (!json_is_string(jop)) {
    rc = agent_fail(a, EDR_EPROTO, "request has no 'op' string");
  } else if (!(op = find_op(json_string_value(jop)))) {
    rc = agent_fail(a, EDR_EPROTO, "unknown op '%.100s'", json_string_value(jop));
  } else {
    res = json_object();
    rc = res ? op->run(a, req, res) : EDR_ENOMEM;
  }
  reply(a, rc, res);
  a->id = NULL;
  json_decref(req);
  return a->fatal || (op && op->bye && rc == 0);
}

/* Remove the directory holding our binary, if it is one that the bootstrap
 * made (its name starts with "etcd-dr."): never anything else. */
static void remove_own_dir(struct agent *a) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0)
    return;
  exe[n] = '\0';
  char *dir = dirname(exe);
  char *slash = strrchr(dir, '/');
  if (!slash || strncmp(slash + 1, "etcd-dr.", 8) != 0 || strcmp(dir, "/") == 0)
    return;
  bool removed;
  a->id = NULL;
  if (agent_remove_tree(a, dir, &removed) != 0)
    fprintf(stderr, "etcd-dr-agent: %s\n", a->msg);
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fprintf(stderr, "etcd-dr-agent %s: speaks JSON lines on stdin/stdout; "
                    "see docs/agent-protocol.md\n", EDR_VERSION);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  /* A parent may have left SIGCHLD ignored, which would make waitpid()
   * lose the exit status of `run`'s children. */
  signal(SIGCHLD, SIG_DFL);
  /* No OpenSSL initialisation: SHA-256 goes through SHA256_* (sha256.h),
   * which never reads openssl.cnf nor loads a provider or engine. */

  /* sshd hands the snapshot over through a pipe, 64 kB by default: a
   * bigger one lets sshd and the agent each move more per wake-up
   * (docs/BENCHMARKS.md, "Push to one host").  Not a pipe, or the limit
   * (/proc/sys/fs/pipe-max-size) is lower: it stays as it is. */
  (void)fcntl(0, F_SETPIPE_SZ, 1 << 20);

  static struct agent a; /* big buffers: not on the stack */
  a.in_fd = 0;
  a.out_fd = 1;
  char *line = malloc(AGENT_LINE_MAX + 1);
  if (!line)
    return 1;
  for (;;) {
    long n = read_line(&a, line);
    if (n == -1)
      break;
    if (n < 0) {
      a.id = NULL;
      reply(&a, agent_fail(&a, EDR_ETOOBIG,
                           "request line longer than %d bytes", AGENT_LINE_MAX),
            NULL);
      continue;
    }
    if (n == 0)
      continue; /* an empty line is not a request */
    if (serve(&a, line, (size_t)n))
      break;
  }
  free(line);
  agent_release_auto_lock(&a);
  agent_remove_at_exit(&a);
  agent_remove_made_dirs(&a);
  remove_own_dir(&a);
  return a.fatal ? 1 : 0;
}
