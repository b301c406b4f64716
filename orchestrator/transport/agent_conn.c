/*
 * agent_conn.c - edr_agent_ssh_ops: one host's SSH session and its agent,
 * as a state machine on the run's libuv loop (agent_conn.h).
 *
 * A connection moves through states; each state is one small function
 * that does as much as it can without blocking and returns EDR_EAGAIN when
 * libssh2 must wait for the socket.  conn_set_state() is the only place a
 * state changes (and logs it, at -vv).  connect() is resolve -> connect ->
 * handshake -> host key -> auth; start_agent() is the bootstrap channel
 * (it prints the host's architecture; the agent built for it is pushed into
 * a new temporary directory) and the agent's channel, whose states are in
 * agent_boot.c (agent_conn_int.h: the struct and helpers both use);
 * every request is REQ_SEND -> REQ_WAIT.  A failure becomes the `failed`
 * event, never an exit().  This file owns the socket, the channels, the
 * request in flight and the deadline timer; the engine owns what the
 * requests mean.
 */
#include "agent_conn.h"
#include "agent_conn_int.h"

#include "err.h"
#include "proxy.h"
#include "ssh.h"
#include "util.h"
#include "zsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const state_names[C__COUNT] = {
  [C_IDLE] = "idle", [C_RESOLVING] = "resolving", [C_CONNECTING] = "connecting",
  [C_HANDSHAKE] = "handshake", [C_AUTH] = "auth", [C_BOOT_EXEC] = "boot-exec",
  [C_BOOT_ARCH] = "boot-arch", [C_BOOT_SEND] = "boot-send", [C_BOOT_READ] = "boot-read",
  [C_BOOT_CLOSE] = "boot-close", [C_AGENT_EXEC] = "agent-exec",
  [C_REQ_SEND] = "req-send", [C_REQ_WAIT] = "req-wait",
  [C_CLOSE_AGENT] = "close-agent", [C_CLOSED] = "closed",
};

static void drive(struct edr_agent_conn *c);
static void poll_cb(uv_poll_t *p, int status, int events);
static void timer_cb(uv_timer_t *t);

/* ---- small helpers ------------------------------------------------------ */

void conn_logf(struct edr_agent_conn *c, enum edr_agent_log level, const char *fmt, ...) {
  struct edr_str line = EDR_STR_INIT;
  va_list ap;
  va_start(ap, fmt);
  edr_str_vappendf(&line, fmt, ap);
  va_end(ap);
  c->ev->log(c->arg, level, line.buf);
  edr_str_release(&line);
}

void conn_set_state(struct edr_agent_conn *c, enum cstate s) {
  if (c->state != s)
    conn_logf(c, EDR_AGENT_LOG_DEBUG, "[%s] %s -> %s", c->t->name, state_names[c->state],
              state_names[s]);
  c->state = s;
}

static void poll_update(struct edr_agent_conn *c, int want) {
  if (c->ssh.fd < 0)
    return;
  if (!c->poll_inited) {
    if (uv_poll_init_socket(c->loop, &c->poll, c->ssh.fd))
      return;
    c->poll.data = c;
    c->poll_inited = true;
  }
  int ev = 0;
  if (want & EDR_SSH_WANT_READ)
    ev |= UV_READABLE;
  if (want & EDR_SSH_WANT_WRITE)
    ev |= UV_WRITABLE;
  uv_poll_start(&c->poll, ev, poll_cb);
  c->poll_active = true;
}

static void poll_stop(struct edr_agent_conn *c) {
  if (c->poll_inited && c->poll_active) {
    uv_poll_stop(&c->poll);
    c->poll_active = false;
  }
}

/* Drop the connection: the poll handle goes before its socket. */
static void conn_teardown(struct edr_agent_conn *c) {
  if (c->poll_inited) {
    uv_close((uv_handle_t *)&c->poll, NULL);
    c->poll_inited = false;
    c->poll_active = false;
  }
  edr_chan_release(&c->boot);
  edr_chan_release(&c->agent);
  edr_ssh_release(&c->ssh);
  edr_proxy_stop(&c->proxy); /* after its socket closed: it sees EOF first */
  c->conn_ok = false;
}

/* " (through 'ssh -J ...': what it said)" for a failure behind a proxy,
 * appended to OUT. */
static void via_proxy(struct edr_agent_conn *c, struct edr_str *out) {
  if (c->proxy.err_fd < 0 && !c->proxy.said[0])
    return;
  const char *said = edr_proxy_said(&c->proxy);
  edr_str_appendf(out, " (through %s%s%s%s)", c->t->proxy_jump ? "jump host " : "proxy command",
                  c->t->proxy_jump ? c->t->proxy_jump : "", *said ? ": " : "", said);
}

void conn_timer_arm(struct edr_agent_conn *c, uint64_t ms) {
  uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* The request's encoded line may hold a secret (etcd's password in an
 * authenticate body, docs/auth.md): zeroed before it is freed. */
static void req_free(struct edr_agent_conn *c) {
  if (c->req)
    OPENSSL_cleanse(c->req, c->req_len);
  free(c->req);
  c->req = NULL;
}

/* Forget what was under way: the deadline, the request and its payload. */
static void conn_idle(struct edr_agent_conn *c) {
  uv_timer_stop(&c->timer);
  poll_stop(c);
  req_free(c);
  if (c->payload_fd >= 0) {
    close(c->payload_fd);
    c->payload_fd = -1;
  }
  c->zsrc = NULL;
  if (c->state != C_CLOSED && c->state != C_CLOSE_AGENT)
    conn_set_state(c, C_IDLE);
}

/* What was under way failed; LOST: nothing more can be said to this host. */
void conn_fail(struct edr_agent_conn *c, int code, bool lost, const char *fmt, ...) {
  if (lost)
    c->conn_ok = false;
  va_list ap;
  va_start(ap, fmt);
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  conn_idle(c);
  c->ev->failed(c->arg, code, msg ? msg : "out of memory", lost);
  free(msg);
}

/* ---- states: connect ---------------------------------------------------- */

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct edr_agent_conn *c = req->data;
  if (c->state != C_RESOLVING) { /* failed or timed out meanwhile */
    uv_freeaddrinfo(res);
    return;
  }
  if (status) {
    conn_fail(c, EDR_ERESOLVE, true, "%s", uv_strerror(status));
    return;
  }
  c->ai = res;
  int rc = edr_ssh_connect_start(&c->ssh, res->ai_addr, (unsigned)res->ai_addrlen);
  if (rc && rc != EDR_EAGAIN) {
    conn_fail(c, rc, true, "cannot connect to %s port %d: %s", c->t->ssh_host, c->t->ssh_port,
              c->ssh.error.msg.buf);
    return;
  }
  conn_set_state(c, rc == 0 ? C_HANDSHAKE : C_CONNECTING);
  if (rc == EDR_EAGAIN)
    poll_update(c, EDR_SSH_WANT_WRITE);
  else
    drive(c);
}

static int st_connecting(struct edr_agent_conn *c) {
  int rc = edr_ssh_connect_done(&c->ssh);
  if (rc == EDR_EAGAIN) {
    poll_update(c, EDR_SSH_WANT_WRITE);
    return EDR_EAGAIN;
  }
  if (rc) {
    conn_fail(c, rc, true, "cannot connect to %s port %d: %s (is sshd running and reachable "
              "from here?)", c->t->ssh_host, c->t->ssh_port, edr_strerror(rc));
    return rc;
  }
  conn_set_state(c, C_HANDSHAKE);
  return 0;
}

static int st_handshake(struct edr_agent_conn *c) {
  int rc = edr_ssh_handshake(&c->ssh, c->t->ssh_host, c->t->ssh_port, c->t->known_hosts);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc == 0)
    rc = edr_ssh_check_hostkey(&c->ssh, c->t->ssh_host, c->t->ssh_port, c->t->known_hosts,
                               c->t->accept_new_hostkeys);
  if (rc) {
    struct edr_str via = EDR_STR_INIT;
    via_proxy(c, &via);
    conn_fail(c, rc, true, "%s%s", c->ssh.error.msg.buf, via.buf);
    edr_str_release(&via);
    return rc;
  }
  c->ev->hostkey(c->arg, c->ssh.hostkey_fp, c->ssh.hostkey_type, c->ssh.hostkey_recorded);
  conn_set_state(c, C_AUTH);
  return 0;
}

static int st_auth(struct edr_agent_conn *c) {
  c->ssh.identities_only = c->t->identities_only;
  int rc = edr_ssh_auth(&c->ssh, c->t->ssh_user, c->t->identity_file);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    conn_fail(c, rc, true, "%s", c->ssh.error.msg.buf);
    return rc;
  }
  conn_set_state(c, C_IDLE);
  uv_timer_stop(&c->timer);
  c->ev->connected(c->arg);
  return 0;
}

/* ---- channel I/O ------------------------------------------------------- */

/* Drain a channel's stderr into the tail buffer. */
void conn_drain_stderr(struct edr_agent_conn *c, struct edr_chan *ch) {
  char tmp[4096];
  long n;
  while ((n = edr_chan_read(&c->ssh, ch, 1, tmp, sizeof tmp)) > 0) {
    size_t k = (size_t)n;
    if (k >= sizeof c->errtail) {
      memcpy(c->errtail, tmp + k - (sizeof c->errtail - 1), sizeof c->errtail - 1);
      c->errtail_len = sizeof c->errtail - 1;
    } else {
      if (c->errtail_len + k >= sizeof c->errtail) {
        size_t drop = c->errtail_len + k - (sizeof c->errtail - 1);
        memmove(c->errtail, c->errtail + drop, c->errtail_len - drop);
        c->errtail_len -= drop;
      }
      memcpy(c->errtail + c->errtail_len, tmp, k);
      c->errtail_len += k;
    }
    c->errtail[c->errtail_len] = '\0';
  }
}

/* The last line of stderr, trimmed, for messages. */
const char *conn_stderr_last(struct edr_agent_conn *c) {
  char *e = c->errtail;
  size_t n = c->errtail_len;
  while (n && (e[n - 1] == '\n' || e[n - 1] == '\r' || e[n - 1] == ' '))
    e[--n] = '\0';
  char *nl = strrchr(e, '\n');
  return nl ? nl + 1 : e;
}

/* Send bytes from FD, or from Z's compressed stream when Z is set, through
 * channel CH; returns 0 when all SIZE (all of Z's stream) were sent.
 * Progress is in the file's bytes either way. */
int conn_push_fd(struct edr_agent_conn *c, struct edr_chan *ch, int fd, struct edr_zsrc *z,
                 uint64_t size, uint64_t *sent) {
  for (;;) {
    if (c->buf_off == c->buf_len) {
      long n;
      if (z) {
        if ((n = edr_zsrc_read(z, *sent, c->buf, PUSH_BUF)) == 0)
          return 0;
        if (n < 0)
          return (int)n;
      } else {
        if (*sent >= size)
          return 0;
        size_t want = size - *sent < PUSH_BUF ? (size_t)(size - *sent) : PUSH_BUF;
        n = pread(fd, c->buf, want, (off_t)*sent);
        if (n <= 0)
          return n == 0 ? EDR_EIO : edr_from_errno(errno);
      }
      c->buf_len = (size_t)n;
      c->buf_off = 0;
    }
    long w = edr_chan_write(&c->ssh, ch, c->buf + c->buf_off, c->buf_len - c->buf_off);
    if (w == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (w < 0)
      return (int)w;
    c->buf_off += (size_t)w;
    *sent += (uint64_t)w;
    if (c->state == C_REQ_SEND)
      c->ev->bytes(c->arg, z ? edr_zsrc_raw_at(z, *sent) : *sent, size);
    if (c->buf_off == c->buf_len)
      c->buf_off = c->buf_len = 0;
    if (c->t->stall_timeout_ms && c->state == C_REQ_SEND)
      conn_timer_arm(c, c->t->stall_timeout_ms);
  }
}

/* ---- states: one request to the agent --------------------------------- */

void conn_send_request(struct edr_agent_conn *c, struct edr_agent_request *r) {
  c->want_id = ++c->next_id;
  json_object_set_new(r->req, "id", json_integer(c->want_id));
  char *s = json_dumps(r->req, JSON_COMPACT);
  json_decref(r->req);
  req_free(c);
  c->req = s ? edr_asprintf("%s\n", s) : NULL;
  if (s)
    OPENSSL_cleanse(s, strlen(s));
  free(s);
  if (!c->req) {
    if (r->payload_fd >= 0)
      close(r->payload_fd);
    conn_fail(c, EDR_ENOMEM, false, "cannot encode a request");
    return;
  }
  c->req_len = strlen(c->req);
  c->req_sent = 0;
  c->payload_fd = r->payload_fd;
  c->zsrc = r->zsrc;
  c->payload_size = r->payload_size;
  c->payload_sent = 0;
  c->reads_extend = r->reads_extend;
  c->buf_len = c->buf_off = 0;
  c->line_len = 0;
  c->fetch_left = c->fetch_got = 0;
  edr_error_clear(&c->fetch_err);
  conn_set_state(c, C_REQ_SEND);
  drive(c);
}

/* N bytes of a send's payload: to the fetch sink until it fails, then
 * dropped (the stream must stay in step). */
static void fetch_bytes(struct edr_agent_conn *c, const char *p, size_t n) {
  const struct edr_agent_target *t = c->t;
  if (!c->fetch_err.code && t->fetch_sink) {
    int rc = t->fetch_sink(t->fetch_arg, (const unsigned char *)p, n, &c->fetch_err);
    if (rc < 0 && c->fetch_err.code != rc)  /* a sink that set no message */
      edr_error_set(&c->fetch_err, rc, "%s", edr_strerror(rc));
  }
  c->fetch_left -= n;
  c->fetch_got += n;
  c->ev->bytes(c->arg, c->fetch_got, c->fetch_got + c->fetch_left);
  if (t->stall_timeout_ms)
    conn_timer_arm(c, t->stall_timeout_ms);
}

/* The raw bytes after a data event never pass the line parser: what is
 * buffered goes first, then the channel is read straight into the push
 * buffer (idle while fetching).  Returns 0 once all came, or what
 * edr_chan_read says. */
static int read_payload(struct edr_agent_conn *c) {
  while (c->fetch_left) {
    if (c->line_len) {
      size_t n = c->line_len < c->fetch_left ? c->line_len : (size_t)c->fetch_left;
      fetch_bytes(c, c->line, n);
      memmove(c->line, c->line + n, c->line_len - n);
      c->line_len -= n;
      continue;
    }
    conn_drain_stderr(c, &c->agent);
    size_t want = c->fetch_left < PUSH_BUF ? (size_t)c->fetch_left : PUSH_BUF;
    long n = edr_chan_read(&c->ssh, &c->agent, 0, c->buf, want);
    if (n == EDR_EAGAIN || n < 0)
      return (int)n;
    if (n == 0)
      return EDR_ECONNLOST;
    fetch_bytes(c, c->buf, (size_t)n);
  }
  return 0;
}

/* Read agent stdout; returns 1 with *out set when the final reply came. */
static int read_reply(struct edr_agent_conn *c, json_t **out) {
  *out = NULL;
  for (;;) {
    if (c->fetch_left) {
      int rc = read_payload(c);
      if (rc)
        return rc;
    }
    conn_drain_stderr(c, &c->agent);
    if (c->line_cap - c->line_len < 4096) {
      size_t cap = c->line_cap ? c->line_cap * 2 : 16384;
      if (cap > LINE_MAX_LEN + 8192)
        return EDR_EPROTO;
      char *nl = realloc(c->line, cap);
      if (!nl)
        return EDR_ENOMEM;
      c->line = nl;
      c->line_cap = cap;
    }
    long n = edr_chan_read(&c->ssh, &c->agent, 0, c->line + c->line_len,
                           c->line_cap - c->line_len - 1);
    if (n == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (n < 0)
      return (int)n;
    if (n == 0)
      return EDR_ECONNLOST;
    c->line_len += (size_t)n;
    if (c->t->stall_timeout_ms && c->reads_extend)
      conn_timer_arm(c, c->t->stall_timeout_ms);
    char *nl;
    while ((nl = memchr(c->line, '\n', c->line_len))) {
      *nl = '\0';
      json_error_t je;
      json_t *j = json_loads(c->line, 0, &je);
      size_t used = (size_t)(nl + 1 - c->line);
      memmove(c->line, nl + 1, c->line_len - used);
      c->line_len -= used;
      if (!j) {
        edr_str_setf(&c->proto_err, "not JSON: '%.120s'", c->line);
        return EDR_EPROTO;
      }
      if (json_object_get(j, "ok")) {
        if (json_integer_value(json_object_get(j, "id")) != c->want_id) {
          edr_str_setf(&c->proto_err, "a reply to request %lld while waiting for %d",
                       (long long)json_integer_value(json_object_get(j, "id")), c->want_id);
          json_decref(j);
          return EDR_EPROTO;
        }
        *out = j;
        return 1;
      }
      const char *ev = json_string_value(json_object_get(j, "event"));
      if (ev && !strcmp(ev, "data") && json_integer_value(json_object_get(j, "id")) == c->want_id) {
        json_int_t size = json_integer_value(json_object_get(j, "bytes"));
        json_decref(j);
        if (size < 0) {
          edr_str_setf(&c->proto_err, "a data event without a byte count");
          return EDR_EPROTO;
        }
        uint64_t max = c->t->fetch_max_bytes;
        if (max && (uint64_t)size > max) {
          char a[32], b[32];
          edr_human_bytes((uint64_t)size, a, sizeof a);
          edr_human_bytes(max, b, sizeof b);
          edr_str_setf(&c->proto_err, "the snapshot does not fit here: the agent announced "
                       "%s, more than the %s this machine takes (free space where the "
                       "snapshot goes)", a, b);
          return EDR_ENOSPC;
        }
        c->fetch_left = (uint64_t)size;
        c->fetch_got = 0;
        c->ev->fetch_begin(c->arg, (uint64_t)size);
        int rc = c->fetch_left ? read_payload(c) : 0;
        if (rc)
          return rc;
        continue;
      }
      const char *msg = json_string_value(json_object_get(j, "message"));
      if (msg)
        conn_logf(c, EDR_AGENT_LOG_DEBUG, "[%s] agent: %s", c->t->name, msg);
      json_decref(j);
    }
  }
}

static int st_req_send(struct edr_agent_conn *c) {
  while (c->req_sent < c->req_len) {
    conn_drain_stderr(c, &c->agent);
    long w = edr_chan_write(&c->ssh, &c->agent, c->req + c->req_sent, c->req_len - c->req_sent);
    if (w == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (w < 0)
      goto lost;
    c->req_sent += (size_t)w;
  }
  if (c->payload_fd >= 0 || c->zsrc) {
    int rc = conn_push_fd(c, &c->agent, c->payload_fd, c->zsrc, c->payload_size, &c->payload_sent);
    /* The agent reads every byte before it answers, even after an error,
     * so there is no reply to read until the payload is through. */
    if (rc == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (rc) {
      if (rc == EDR_EIO || rc == EDR_ENOENT) {
        conn_fail(c, rc, false, "cannot read the local file being pushed: %s", edr_strerror(rc));
        return rc;
      }
      if (c->zsrc && (rc == EDR_ENOSPC || rc == EDR_ENOMEM || rc == EDR_EINTERNAL)) {
        conn_fail(c, rc, false, "cannot compress the file being pushed on this machine: %s "
                  "(free space in $TMPDIR, else /var/tmp; or use --compress off)",
                  edr_strerror(rc));
        return rc;
      }
      goto lost;
    }
    if (c->payload_fd >= 0)
      close(c->payload_fd);
    c->payload_fd = -1;
    c->zsrc = NULL;
  }
  conn_set_state(c, C_REQ_WAIT);
  return 0;
lost:
  conn_drain_stderr(c, &c->agent);
  conn_fail(c, EDR_ECONNLOST, true, "connection to the agent lost while sending: %s%s%s",
            c->ssh.error.msg.buf, c->errtail_len ? "; agent stderr: " : "",
            c->errtail_len ? conn_stderr_last(c) : "");
  return EDR_ECONNLOST;
}

static int st_req_wait(struct edr_agent_conn *c) {
  json_t *reply = NULL;
  int rc = read_reply(c, &reply);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc != 1) {
    conn_drain_stderr(c, &c->agent);
    if (rc == EDR_ECONNLOST && c->t->sudo && strstr(c->errtail, "sudo"))
      conn_fail(c, EDR_ESUDO, true, "sudo -n refused to run the agent as root: %s (allow "
                "'%s' passwordless sudo, or connect as root with ssh_user and sudo: false)",
                conn_stderr_last(c), c->t->ssh_user);
    else if (rc == EDR_EPROTO)
      conn_fail(c, rc, true, "the agent broke the protocol: %s", c->proto_err.buf);
    else if (rc == EDR_ENOSPC) /* an announced fetch larger than the room here */
      conn_fail(c, rc, true, "%s", c->proto_err.buf);
    else
      conn_fail(c, rc, true, "the agent stopped answering (%s)%s%s", edr_strerror(rc),
                c->errtail_len ? "; its stderr: " : "", c->errtail_len ? conn_stderr_last(c) : "");
    return rc;
  }
  conn_set_state(c, C_IDLE);
  uv_timer_stop(&c->timer);
  req_free(c);
  bool ok = json_is_true(json_object_get(reply, "ok"));
  int status = 0;
  if (!ok) {
    json_int_t e = json_integer_value(json_object_get(json_object_get(reply, "error"), "errno"));
    status = e < 0 ? (int)e : EDR_EREMOTE;
  }
  c->ev->reply(c->arg, status, reply);
  json_decref(reply);
  return 0;
}

/* ---- closing ------------------------------------------------------------- */

static void closed(struct edr_agent_conn *c) {
  conn_set_state(c, C_CLOSED);
  uv_timer_stop(&c->timer);
  conn_teardown(c);
  c->ev->closed(c->arg);
}

static int st_close_agent(struct edr_agent_conn *c) {
  if (c->agent.ch) {
    int rc = edr_chan_send_eof(&c->ssh, &c->agent);
    if (rc == EDR_EAGAIN)
      return rc;
    /* The agent exits at EOF after removing its directory: wait for that. */
    char tmp[4096];
    long n;
    while (rc == 0 && (n = edr_chan_read(&c->ssh, &c->agent, 0, tmp, sizeof tmp)) != 0) {
      conn_drain_stderr(c, &c->agent);
      if (n == EDR_EAGAIN)
        return EDR_EAGAIN;
      if (n < 0)
        break;
    }
    int exit_status;
    const char *sig;
    if (rc == 0 && edr_chan_close(&c->ssh, &c->agent, &exit_status, &sig) == EDR_EAGAIN)
      return EDR_EAGAIN;
    edr_chan_release(&c->agent);
  }
  closed(c);
  return 0;
}

/* ---- the driver ---------------------------------------------------------- */

typedef int (*state_fn)(struct edr_agent_conn *c);
static const state_fn state_fns[C__COUNT] = {
  [C_CONNECTING] = st_connecting, [C_HANDSHAKE] = st_handshake, [C_AUTH] = st_auth,
  [C_BOOT_EXEC] = st_boot_exec,   [C_BOOT_ARCH] = st_boot_arch,
  [C_BOOT_SEND] = st_boot_send,
  [C_BOOT_READ] = st_boot_read,   [C_BOOT_CLOSE] = st_boot_close,
  [C_AGENT_EXEC] = st_agent_exec, [C_REQ_SEND] = st_req_send,
  [C_REQ_WAIT] = st_req_wait,     [C_CLOSE_AGENT] = st_close_agent,
};

/* Run the current state until it must wait; each state function changes
 * the state (through conn_set_state) when it is done. */
static void drive(struct edr_agent_conn *c) {
  for (;;) {
    state_fn fn = state_fns[c->state];
    if (!fn) {
      if (c->state != C_RESOLVING && c->state != C_CONNECTING)
        poll_stop(c);
      return;
    }
    enum cstate before = c->state;
    int rc = fn(c);
    if (rc == EDR_EAGAIN) {
      poll_update(c, c->state == C_CONNECTING ? EDR_SSH_WANT_WRITE : edr_ssh_wants(&c->ssh));
      return;
    }
    if (rc < 0 || c->state == before)
      return;
  }
}

static void poll_cb(uv_poll_t *p, int status, int events) {
  struct edr_agent_conn *c = p->data;
  (void)events;
  (void)status; /* errors surface from the next call on the socket */
  drive(c);
}

static void timer_cb(uv_timer_t *t) {
  struct edr_agent_conn *c = t->data;
  if (c->state == C_CLOSE_AGENT) { /* teardown is bounded too */
    c->agent_up = false;
    closed(c);
    return;
  }
  c->ev->timeout(c->arg);
}

/* ---- the operations -------------------------------------------------------- */

static struct edr_agent_conn *ssh_open(uv_loop_t *loop, const struct edr_agent_target *t,
                                      const struct edr_agent_events *ev, void *arg) {
  struct edr_agent_conn *c = calloc(1, sizeof(*c));
  if (!c || !(c->buf = malloc(PUSH_BUF))) {
    free(c);
    return NULL;
  }
  c->loop = loop;
  c->t = t;
  c->ev = ev;
  c->arg = arg;
  c->agent_fd = c->payload_fd = -1;
  edr_error_init(&c->fetch_err);
  edr_str_init(&c->proto_err);
  c->arch = -1;
  edr_ssh_init(&c->ssh);
  c->ssh.keepalive_s = t->keepalive_s;
  edr_proxy_init(&c->proxy);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  return c;
}

/* Through a jump host or a proxy command: its socket pair is the socket. */
static void proxy_connect(struct edr_agent_conn *c) {
  const struct edr_agent_target *t = c->t;
  struct edr_proxy_target pt = {
    .jump = t->proxy_jump, .command = t->proxy_command, .host = t->ssh_host,
    .user = t->ssh_user, .port = t->ssh_port, .identity_file = t->identity_file,
    .known_hosts = t->known_hosts, .accept_new_hostkeys = t->accept_new_hostkeys,
    .ssh_config = t->ssh_config,
  };
  struct edr_error err = EDR_ERROR_INIT;
  int fd = edr_proxy_start(&pt, &c->proxy, &err);
  if (fd < 0)
    conn_fail(c, fd, true, "%s", edr_error_text(&err));
  edr_error_release(&err);
  if (fd < 0)
    return;
  c->ssh.fd = fd;
  conn_set_state(c, C_HANDSHAKE);
  drive(c);
}

static void ssh_connect(struct edr_agent_conn *c) {
  if (c->t->proxy_jump || c->t->proxy_command) {
    proxy_connect(c);
    return;
  }
  char port[8];
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  snprintf(port, sizeof port, "%d", c->t->ssh_port);
  conn_set_state(c, C_RESOLVING);
  c->gai.data = c;
  int rc = uv_getaddrinfo(c->loop, &c->gai, gai_cb, c->t->ssh_host, port, &hints);
  if (rc)
    conn_fail(c, EDR_ERESOLVE, true, "%s", uv_strerror(rc));
}

static void ssh_start_agent(struct edr_agent_conn *c, json_t *hello) {
  json_decref(c->hello);
  c->hello = hello;
  conn_set_state(c, C_BOOT_EXEC);
  drive(c);
}

static void ssh_request(struct edr_agent_conn *c, struct edr_agent_request *r) {
  conn_send_request(c, r);
}

static void ssh_arm(struct edr_agent_conn *c, uint64_t ms) { conn_timer_arm(c, ms); }

static void ssh_idle(struct edr_agent_conn *c) { conn_idle(c); }

static void ssh_drop(struct edr_agent_conn *c) { c->conn_ok = false; }

static void ssh_close(struct edr_agent_conn *c) {
  if (c->state == C_CLOSED || c->state == C_CLOSE_AGENT)
    return;
  if (!c->agent_up || !c->conn_ok || c->ssh.fd < 0) {
    closed(c);
    return;
  }
  conn_set_state(c, C_CLOSE_AGENT);
  conn_timer_arm(c, CLOSE_TIMEOUT_MS);
  drive(c);
}

static bool ssh_usable(const struct edr_agent_conn *c) { return c->conn_ok && c->agent_up; }

static const char *ssh_stderr_last(struct edr_agent_conn *c) {
  return c->errtail_len ? conn_stderr_last(c) : "";
}

static uint64_t ssh_fetched(const struct edr_agent_conn *c, const struct edr_error **err) {
  *err = &c->fetch_err;
  return c->fetch_got;
}

static uint64_t ssh_last_heard(const struct edr_agent_conn *c) { return c->ssh.last_rx_ms; }

static bool ssh_push_window(const struct edr_agent_conn *c, struct edr_push_window *out) {
  if (!c->boot_t1)
    return false;
  *out = (struct edr_push_window){c->boot_t0, c->boot_t1, c->agent_sent};
  return true;
}

static bool ssh_pushed(const struct edr_agent_conn *c, struct edr_agent_pushed *out) {
  if (!c->agent_up || c->arch < 0)
    return false;
  *out = (struct edr_agent_pushed){.arch = c->arch, .gzip = c->agent_gz,
                                   .bytes = c->agent_sent};
  return true;
}

static void ssh_keepalive(struct edr_agent_conn *c) {
  if (c->conn_ok && c->ssh.session)
    edr_ssh_keepalive(&c->ssh);
}

static void ssh_free(struct edr_agent_conn *c) {
  if (!c)
    return;
  edr_chan_release(&c->boot);
  edr_chan_release(&c->agent);
  edr_ssh_release(&c->ssh);
  edr_proxy_stop(&c->proxy);
  if (c->ai)
    uv_freeaddrinfo(c->ai);
  free(c->buf);
  req_free(c);
  free(c->line);
  json_decref(c->hello);
  edr_error_release(&c->fetch_err);
  edr_str_release(&c->proto_err);
  if (c->agent_fd >= 0)
    close(c->agent_fd);
  if (c->payload_fd >= 0)
    close(c->payload_fd);
  free(c);
}

static int ssh_unlock(const struct edr_agent_target *t, struct edr_error *err) {
  return edr_ssh_unlock_keys(t->identity_file, err);
}

const struct edr_agent_ops edr_agent_ssh_ops = {
  .unlock = ssh_unlock,
  .open = ssh_open,
  .connect = ssh_connect,
  .start_agent = ssh_start_agent,
  .request = ssh_request,
  .arm = ssh_arm,
  .idle = ssh_idle,
  .drop = ssh_drop,
  .close = ssh_close,
  .usable = ssh_usable,
  .stderr_last = ssh_stderr_last,
  .fetched = ssh_fetched,
  .free = ssh_free,
  .last_heard = ssh_last_heard,
  .keepalive = ssh_keepalive,
  .push_window = ssh_push_window,
  .pushed = ssh_pushed,
};
