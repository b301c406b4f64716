/*
 * protocol.c - the agent's side of the JSON-lines protocol: read one
 * request per line from stdin, dispatch it through the op table (ops.c),
 * write any events and then one final reply per request on stdout; and the
 * helpers every op uses to say what happened (agent_fail, the lowercased
 * strerror, UTF-8-safe strings).  The stream and the reply buffer belong to
 * struct agent; nothing here touches a file.  See docs/agent-protocol.md.
 */
#include "agent.h"

#include "err.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Wait until stdin has something (data or EOF).  False when idle_ms passed
 * first: the coordinator is taken for gone, and stdin counts as ended. */
static bool wait_input(struct agent *a) {
  if (a->idle_ms <= 0)
    return true;
  struct pollfd p = {.fd = a->in_fd, .events = POLLIN};
  int left = a->idle_ms > INT_MAX ? INT_MAX : (int)a->idle_ms;
  for (;;) {
    int r = poll(&p, 1, left);
    if (r != 0 && !(r < 0 && errno == EINTR))
      return true; /* readable, hung up, or an error the read will see */
    if (r == 0) {
      fprintf(stderr, "etcd-dr-agent: nothing from the coordinator for %lld ms: taking "
                      "it for gone; ending as at eof\n", a->idle_ms);
      a->idle_expired = a->in_eof = true;
      return false;
    }
  }
}

ssize_t agent_read(struct agent *a, void *buf, size_t n) {
  if (a->in_pos < a->in_end) {
    size_t k = a->in_end - a->in_pos;
    if (k > n)
      k = n;
    memcpy(buf, a->in_buf + a->in_pos, k);
    a->in_pos += k;
    return (ssize_t)k;
  }
  if (a->in_eof || !wait_input(a))
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

bool agent_input_gone(struct agent *a) {
  struct pollfd p = {.fd = a->in_fd, .events = POLLIN | POLLRDHUP};
  if (a->in_eof)
    return true;
  if (poll(&p, 1, 0) != 1)
    return false;
  return (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

int agent_fail(struct agent *a, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  /* the reply carries the op's own code; a code that is not a failure
   * still leaves a message */
  edr_error_vset(&a->err, code < 0 ? code : EDR_EINTERNAL, fmt, ap);
  va_end(ap);
  if (a->err.msg.len >= AGENT_MSG_MAX)
    edr_str_truncate(&a->err.msg, AGENT_MSG_MAX - 1);
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
    msg = json_pack("{s:o, s:b, s:{s:s, s:i, s:s}, s:o}", "id", id_or_null(a),
                    "ok", 0, "error", "code", edr_err_name(rc), "errno", rc,
                    "message", a->err.msg.len ? a->err.msg.buf : edr_strerror(rc),
                    "result", res ? res : json_null());
  }
  send_json(a, msg);
}

long agent_read_line(struct agent *a, char *line) {
  size_t len = 0;
  bool too_long = false;
  for (;;) {
    if (a->in_pos == a->in_end) {
      if (a->in_eof)
        return -1;
      a->in_pos = a->in_end = 0;
      if (!wait_input(a))
        return -1;
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
  edr_error_clear(&a->err);

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

/* ---- message helpers ---------------------------------------------------- */

/* strerror(), lowercased for our messages; a few rotating buffers so that
 * one message may hold two. */
const char *agent_lower(const char *t) {
  static char bufs[4][128];
  static unsigned next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof(bufs[0]), "%s", t ? t : "?");
  for (char *c = b; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  return b;
}

const char *agent_errstr(int e) { return agent_lower(strerror(e)); }

void agent_mode_str(mode_t m, char out[8]) {
  snprintf(out, 8, "0%03o", (unsigned)(m & 07777));
}

const char *agent_kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISREG(m)) return "a regular file";
  if (S_ISLNK(m)) return "a symlink";
  return "a special file";
}

/* Strings from commands may be any bytes: keep valid UTF-8, replace the
 * rest (and nul) with '?', so that JSON can carry them. */
json_t *agent_json_bytes(const char *s, size_t n) {
  char *o = malloc(n + 1);
  if (!o)
    return json_null();
  size_t j = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
               : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && c != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; k++)
      ok = ((unsigned char)s[i + k] >> 6) == 2;
    if (ok && len > 1) { /* overlong forms and surrogates: jansson rejects */
      unsigned char c1 = (unsigned char)s[i + 1];
      ok = !(c == 0xC0 || c == 0xC1 || (c == 0xE0 && c1 < 0xA0) ||
             (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
             (c == 0xF4 && c1 >= 0x90) || c > 0xF4);
    }
    if (!ok) {
      o[j++] = '?';
      i++;
      continue;
    }
    memcpy(o + j, s + i, len);
    j += len;
    i += len;
  }
  json_t *v = json_stringn(o, j);
  free(o);
  return v ? v : json_null();
}

int agent_serve(struct agent *a) {
  char *line = malloc(AGENT_LINE_MAX + 1);
  if (!line)
    return EDR_ENOMEM;
  for (;;) {
    long n = agent_read_line(a, line);
    if (n == -1)
      break;
    if (n < 0) {
      a->id = NULL;
      reply(a, agent_fail(a, EDR_ETOOBIG,
                          "request line longer than %d bytes", AGENT_LINE_MAX),
            NULL);
      continue;
    }
    if (n == 0)
      continue; /* an empty line is not a request */
    if (serve(a, line, (size_t)n))
      break;
  }
  free(line);
  return 0;
}
