/*
 * agent_conn.c - edr_agent_ssh_ops: one host's SSH session and its agent,
 * as a state machine on the run's libuv loop (agent_conn.h).
 *
 * A connection moves through states; each state is one small function
 * that does as much as it can without blocking and returns EDR_EAGAIN when
 * libssh2 must wait for the socket.  set_state() is the only place a state
 * changes (and logs it, at -vv).  connect() is resolve -> connect ->
 * handshake -> host key -> auth; start_agent() is the bootstrap channel
 * (it prints the host's architecture; the agent built for it is pushed into
 * a new temporary directory) and the agent's channel;
 * every request is REQ_SEND -> REQ_WAIT.  A failure becomes the `failed`
 * event, never an exit().  This file owns the socket, the channels, the
 * request in flight and the deadline timer; the engine owns what the
 * requests mean.
 */
#include "agent_conn.h"

#include "err.h"
#include "proxy.h"
#include "ssh.h"
#include "util.h"
#include "zsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The bootstrap: print the architecture (one of those with an agent here,
 * else exit BOOT_EXIT_ARCH before placing anything), then take the agent on
 * stdin into a new temporary directory and print that directory. */
#define BOOT_HEAD "/bin/sh -c 'm=$(uname -m); case \"$m\" in "
#define BOOT_TAIL                                                              \
  "*) echo \"etcd-dr: unsupported architecture: $m\" >&2; exit 97;; esac; "     \
  "umask 077; d=$(mktemp -d \"${TMPDIR:-/tmp}/etcd-dr.XXXXXXXX\") || exit 98; " \
  "cat > \"$d/etcd-dr-agent\" && chmod 700 \"$d/etcd-dr-agent\" && echo \"$d\"'"

/* The bootstrap's exit status when no agent here is for the host (BOOT_TAIL). */
enum { BOOT_EXIT_ARCH = 97 };

const struct edr_arch_desc edr_archs[EDR_ARCH__COUNT] = {
  [EDR_ARCH_X86_64] = {.name = "x86_64", .human = "x86-64", .uname = "x86_64|amd64",
                       .elf_machine = 62 /* EM_X86_64 */, .file = "etcd-dr-agent",
                       .how = "cmake builds it with etcd-dr on an x86-64 machine"},
  [EDR_ARCH_AARCH64] = {.name = "aarch64", .human = "aarch64", .uname = "aarch64|arm64",
                        .elf_machine = 183 /* EM_AARCH64 */,
                        .file = "etcd-dr-agent-aarch64",
                        .how = "build it with Debian's cross toolchain: scripts/deps.sh "
                               "installs it, then cmake builds etcd-dr-agent-aarch64"},
};

int edr_arch_of_uname(const char *machine) {
  size_t n = strlen(machine);
  for (int a = 0; a < EDR_ARCH__COUNT; a++)
    for (const char *p = edr_archs[a].uname; p;) {
      const char *bar = strchr(p, '|');
      size_t len = bar ? (size_t)(bar - p) : strlen(p);
      if (len == n && !memcmp(p, machine, n))
        return a;
      p = bar ? bar + 1 : NULL;
    }
  return -1;
}

enum { PUSH_BUF = 256 * 1024, LINE_MAX_LEN = 1 << 20, CLOSE_TIMEOUT_MS = 10000 };

enum cstate {
  C_IDLE,        /* nothing under way */
  C_RESOLVING,
  C_CONNECTING,
  C_HANDSHAKE,
  C_AUTH,
  C_BOOT_EXEC,
  C_BOOT_ARCH,   /* the bootstrap's first line: the host's architecture */
  C_BOOT_SEND,
  C_BOOT_READ,
  C_BOOT_CLOSE,
  C_AGENT_EXEC,
  C_REQ_SEND,
  C_REQ_WAIT,
  C_CLOSE_AGENT,
  C_CLOSED,
  C__COUNT
};

static const char *const state_names[C__COUNT] = {
  [C_IDLE] = "idle", [C_RESOLVING] = "resolving", [C_CONNECTING] = "connecting",
  [C_HANDSHAKE] = "handshake", [C_AUTH] = "auth", [C_BOOT_EXEC] = "boot-exec",
  [C_BOOT_ARCH] = "boot-arch", [C_BOOT_SEND] = "boot-send", [C_BOOT_READ] = "boot-read",
  [C_BOOT_CLOSE] = "boot-close", [C_AGENT_EXEC] = "agent-exec",
  [C_REQ_SEND] = "req-send", [C_REQ_WAIT] = "req-wait",
  [C_CLOSE_AGENT] = "close-agent", [C_CLOSED] = "closed",
};

struct edr_agent_conn {
  uv_loop_t *loop;
  const struct edr_agent_target *t;
  const struct edr_agent_events *ev;
  void *arg;
  enum cstate state;
  bool conn_ok;              /* the agent can still be talked to */
  bool agent_up;

  uv_poll_t poll;
  bool poll_active, poll_inited;
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  struct addrinfo *ai;

  struct edr_ssh ssh;
  struct edr_chan boot, agent;
  struct edr_proxy proxy;    /* proxy_jump / proxy_command, when the target has one */

  /* bootstrap */
  int arch;                  /* the host's (enum edr_arch), -1 before the bootstrap says */
  int agent_fd;
  uint64_t agent_sent;
  uint64_t boot_t0;          /* uv_hrtime() of the agent push's start */
  double push_rate;          /* bytes/s of the agent push, 0: not measured */
  char boot_out[512];
  size_t boot_out_len;
  char agent_dir[520];
  json_t *hello;             /* sent once the agent runs */

  /* one request in flight */
  char *req;                 /* the request line, with its \n */
  size_t req_len, req_sent;
  int payload_fd;
  struct edr_zsrc *zsrc;     /* borrowed: the payload, compressed (zsrc.h) */
  uint64_t payload_size, payload_sent;
  bool reads_extend;
  char *buf;                 /* PUSH_BUF bytes for the payload */
  size_t buf_len, buf_off;
  int next_id, want_id;
  char *line;                /* agent stdout being assembled */
  size_t line_len, line_cap;
  uint64_t fetch_left, fetch_got;  /* a send's raw payload still to come, and so far */
  struct edr_error fetch_err;  /* the fetch sink's first failure */
  char errtail[2048];        /* agent stderr, last bytes */
  struct edr_str proto_err;  /* what broke the protocol */
  size_t errtail_len;
};

static void drive(struct edr_agent_conn *c);
static void poll_cb(uv_poll_t *p, int status, int events);
static void timer_cb(uv_timer_t *t);

/* ---- small helpers ------------------------------------------------------ */

static void logf_(struct edr_agent_conn *c, enum edr_agent_log level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(struct edr_agent_conn *c, enum edr_agent_log level, const char *fmt, ...) {
  struct edr_str line = EDR_STR_INIT;
  va_list ap;
  va_start(ap, fmt);
  edr_str_vappendf(&line, fmt, ap);
  va_end(ap);
  c->ev->log(c->arg, level, line.buf);
  edr_str_release(&line);
}

static void set_state(struct edr_agent_conn *c, enum cstate s) {
  if (c->state != s)
    logf_(c, EDR_AGENT_LOG_DEBUG, "[%s] %s -> %s", c->t->name, state_names[c->state],
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

static void timer_arm(struct edr_agent_conn *c, uint64_t ms) {
  uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* Forget what was under way: the deadline, the request and its payload. */
static void conn_idle(struct edr_agent_conn *c) {
  uv_timer_stop(&c->timer);
  poll_stop(c);
  free(c->req);
  c->req = NULL;
  if (c->payload_fd >= 0) {
    close(c->payload_fd);
    c->payload_fd = -1;
  }
  c->zsrc = NULL;
  if (c->state != C_CLOSED && c->state != C_CLOSE_AGENT)
    set_state(c, C_IDLE);
}

/* What was under way failed; LOST: nothing more can be said to this host. */
static void fail(struct edr_agent_conn *c, int code, bool lost, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct edr_agent_conn *c, int code, bool lost, const char *fmt, ...) {
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
    fail(c, EDR_ERESOLVE, true, "%s", uv_strerror(status));
    return;
  }
  c->ai = res;
  int rc = edr_ssh_connect_start(&c->ssh, res->ai_addr, (unsigned)res->ai_addrlen);
  if (rc && rc != EDR_EAGAIN) {
    fail(c, rc, true, "cannot connect to %s port %d: %s", c->t->ssh_host, c->t->ssh_port,
         c->ssh.error.msg.buf);
    return;
  }
  set_state(c, rc == 0 ? C_HANDSHAKE : C_CONNECTING);
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
    fail(c, rc, true, "cannot connect to %s port %d: %s (is sshd running and reachable "
         "from here?)", c->t->ssh_host, c->t->ssh_port, edr_strerror(rc));
    return rc;
  }
  set_state(c, C_HANDSHAKE);
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
    fail(c, rc, true, "%s%s", c->ssh.error.msg.buf, via.buf);
    edr_str_release(&via);
    return rc;
  }
  c->ev->hostkey(c->arg, c->ssh.hostkey_fp, c->ssh.hostkey_type, c->ssh.hostkey_recorded);
  set_state(c, C_AUTH);
  return 0;
}

static int st_auth(struct edr_agent_conn *c) {
  c->ssh.identities_only = c->t->identities_only;
  int rc = edr_ssh_auth(&c->ssh, c->t->ssh_user, c->t->identity_file);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    fail(c, rc, true, "%s", c->ssh.error.msg.buf);
    return rc;
  }
  set_state(c, C_IDLE);
  uv_timer_stop(&c->timer);
  c->ev->connected(c->arg);
  return 0;
}

/* ---- states: bootstrap and agent start -------------------------------- */

static void drain_stderr(struct edr_agent_conn *c, struct edr_chan *ch);

/* The bootstrap for the architectures that have an agent here: one case
 * branch each, printing the architecture's name. */
static void boot_script(const struct edr_agent_target *t, char *out, size_t len) {
  size_t n = (size_t)snprintf(out, len, "%s", BOOT_HEAD);
  for (int a = 0; a < EDR_ARCH__COUNT && n < len; a++)
    if (t->agents[a].path)
      n += (size_t)snprintf(out + n, len - n, "%s) echo %s;; ", edr_archs[a].uname,
                            edr_archs[a].name);
  if (n < len)
    snprintf(out + n, len - n, "%s", BOOT_TAIL);
}

static int st_boot_exec(struct edr_agent_conn *c) {
  char script[1024];
  boot_script(c->t, script, sizeof script);
  int rc = edr_chan_exec(&c->ssh, &c->boot, script);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    fail(c, rc, true, "%s", c->ssh.error.msg.buf);
    return rc;
  }
  c->arch = -1;
  c->boot_out_len = 0;
  c->boot_out[0] = '\0';
  set_state(c, C_BOOT_ARCH);
  return 0;
}

/* The first line the bootstrap prints: the architecture whose agent it
 * waits for.  When it ends instead (exit BOOT_EXIT_ARCH), st_boot_close
 * words it. */
static int st_boot_arch(struct edr_agent_conn *c) {
  char *nl;
  while (!(nl = memchr(c->boot_out, '\n', c->boot_out_len))) {
    drain_stderr(c, &c->boot);
    if (c->boot_out_len + 1 >= sizeof c->boot_out) {
      fail(c, EDR_EPROTO, true, "the bootstrap printed no architecture: %.60s", c->boot_out);
      return EDR_EPROTO;
    }
    long n = edr_chan_read(&c->ssh, &c->boot, 0, c->boot_out + c->boot_out_len,
                           sizeof c->boot_out - 1 - c->boot_out_len);
    if (n == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (n < 0) {
      fail(c, (int)n, true, "%s", c->ssh.error.msg.buf);
      return (int)n;
    }
    if (n == 0) { /* it ended: no agent for this architecture, or it failed */
      set_state(c, C_BOOT_CLOSE);
      return 0;
    }
    c->boot_out_len += (size_t)n;
    c->boot_out[c->boot_out_len] = '\0';
  }
  *nl = '\0';
  int a = edr_arch_of_uname(c->boot_out);
  if (a < 0 || !c->t->agents[a].path) {
    fail(c, EDR_EPROTO, true, "the bootstrap printed '%.60s', not an architecture with an "
         "agent here", c->boot_out);
    return EDR_EPROTO;
  }
  c->arch = a;
  logf_(c, EDR_AGENT_LOG_DEBUG, "[%s] the host is %s: pushing %s", c->t->name,
        edr_archs[a].name, c->t->agents[a].path);
  /* what follows the line is the directory, printed after the push */
  size_t rest = c->boot_out_len - (size_t)(nl + 1 - c->boot_out);
  memmove(c->boot_out, nl + 1, rest + 1);
  c->boot_out_len = rest;
  c->agent_fd = open(c->t->agents[a].path, O_RDONLY | O_CLOEXEC);
  if (c->agent_fd < 0) {
    fail(c, edr_from_errno(errno), true, "cannot open the agent binary '%s'",
         c->t->agents[a].path);
    return EDR_EIO;
  }
  c->agent_sent = 0;
  c->buf_len = c->buf_off = 0;
  set_state(c, C_BOOT_SEND);
  return 0;
}

/* Drain a channel's stderr into the tail buffer. */
static void drain_stderr(struct edr_agent_conn *c, struct edr_chan *ch) {
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
static const char *stderr_last(struct edr_agent_conn *c) {
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
static int push_fd(struct edr_agent_conn *c, struct edr_chan *ch, int fd, struct edr_zsrc *z,
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
      timer_arm(c, c->t->stall_timeout_ms);
  }
}

static int st_boot_send(struct edr_agent_conn *c) {
  drain_stderr(c, &c->boot);
  if (!c->boot_t0)
    c->boot_t0 = uv_hrtime();
  int rc = push_fd(c, &c->boot, c->agent_fd, NULL, c->t->agents[c->arch].size, &c->agent_sent);
  if (rc) {
    /* The bootstrap may have ended before taking the agent (mktemp failed):
     * then nobody reads the rest and the window stays shut.  Its stderr and
     * exit status say why (st_boot_close). */
    drain_stderr(c, &c->boot);
    if (libssh2_channel_eof(c->boot.ch)) {
      close(c->agent_fd);
      c->agent_fd = -1;
      set_state(c, C_BOOT_READ);
      return 0;
    }
  }
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc == 0)
    rc = edr_chan_send_eof(&c->ssh, &c->boot);
  if (rc == EDR_EAGAIN)
    return rc;
  close(c->agent_fd);
  c->agent_fd = -1;
  if (rc) {
    fail(c, rc, true, "%s", c->ssh.error.msg.len ? c->ssh.error.msg.buf : "cannot push the agent");
    return rc;
  }
  set_state(c, C_BOOT_READ);
  return 0;
}

static int st_boot_read(struct edr_agent_conn *c) {
  for (;;) {
    drain_stderr(c, &c->boot);
    char tmp[256];
    long n = edr_chan_read(&c->ssh, &c->boot, 0, tmp, sizeof tmp);
    if (n == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (n < 0) {
      fail(c, (int)n, true, "%s", c->ssh.error.msg.buf);
      return (int)n;
    }
    if (n == 0) {
      /* the host has all of the agent: what its share of the link carried */
      uint64_t ns = uv_hrtime() - c->boot_t0;
      if (c->boot_t0 && c->agent_sent == c->t->agents[c->arch].size && ns > 0)
        c->push_rate = (double)c->agent_sent * 1e9 / (double)ns;
      break;
    }
    size_t k = (size_t)n;
    if (c->boot_out_len + k < sizeof c->boot_out) {
      memcpy(c->boot_out + c->boot_out_len, tmp, k);
      c->boot_out_len += k;
      c->boot_out[c->boot_out_len] = '\0';
    }
  }
  set_state(c, C_BOOT_CLOSE);
  return 0;
}

/* The directory the bootstrap printed, checked strictly: it goes into the
 * command that starts the agent. */
static bool valid_agent_dir(const char *d) {
  size_t n = strlen(d);
  const char *base = strrchr(d, '/');
  if (n < 16 || n > 250 || d[0] != '/' || !base || strncmp(base, "/etcd-dr.", 9) ||
      strlen(base + 9) != 8)
    return false;
  for (const char *p = d; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || strchr("/._-", *p)))
      return false;
  return !strstr(d, "/../") && !strstr(d, "/./");
}

/* The bootstrap found no agent here for the host's architecture: name the
 * architecture, and the missing agent when etcd-dr knows how to build one. */
static void fail_arch(struct edr_agent_conn *c) {
  const char *said = stderr_last(c), *key = "architecture: ";
  const char *m = strstr(said, key);
  m = m ? m + strlen(key) : "unknown";
  int a = edr_arch_of_uname(m);
  if (a >= 0) {
    fail(c, EDR_EARCH, false, "the host is %s and there is no %s agent here (%s next to "
         "etcd-dr, or --agent FILE); %s", m, edr_archs[a].human, edr_archs[a].file,
         edr_archs[a].how);
    return;
  }
  char have[200];
  size_t n = 0;
  have[0] = '\0';
  for (int k = 0; k < EDR_ARCH__COUNT; k++)
    if (c->t->agents[k].path && n < sizeof have)
      n += (size_t)snprintf(have + n, sizeof have - n, "%s%s", n ? " and " : "",
                            edr_archs[k].human);
  fail(c, EDR_EARCH, false, "the host's architecture is %s; etcd-dr-agent is built for %s "
       "Linux only", m, have);
}

static int st_boot_close(struct edr_agent_conn *c) {
  int exit_status;
  const char *sig;
  int rc = edr_chan_close(&c->ssh, &c->boot, &exit_status, &sig);
  if (rc == EDR_EAGAIN)
    return rc;
  drain_stderr(c, &c->boot);
  edr_chan_release(&c->boot);
  if (rc) {
    fail(c, rc, true, "%s", c->ssh.error.msg.buf);
    return rc;
  }
  if (exit_status == BOOT_EXIT_ARCH) {
    fail_arch(c);
    return EDR_EARCH;
  }
  char *nl = strchr(c->boot_out, '\n');
  if (nl)
    *nl = '\0';
  if (exit_status != 0 || sig || !valid_agent_dir(c->boot_out)) {
    fail(c, EDR_EREMOTE, false, "could not place the agent in a temporary directory "
         "(exit %d%s%s): %s", exit_status, sig ? ", signal " : "", sig ? sig : "",
         c->errtail_len ? stderr_last(c) : "no output");
    return EDR_EREMOTE;
  }
  snprintf(c->agent_dir, sizeof c->agent_dir, "%s", c->boot_out);
  c->errtail_len = 0;
  c->errtail[0] = '\0';
  set_state(c, C_AGENT_EXEC);
  return 0;
}

static void send_request(struct edr_agent_conn *c, struct edr_agent_request *r);

static int st_agent_exec(struct edr_agent_conn *c) {
  char cmd[1400];
  /* If the agent cannot start (sudo -n refused), nothing else would remove
   * its directory; the agent removes it itself when it ran.  The directory
   * passed valid_agent_dir(): no quote can occur in it. */
  snprintf(cmd, sizeof cmd, "/bin/sh -c '%s%s/etcd-dr-agent; rc=$?; rm -rf %s; exit $rc'",
           c->t->sudo ? "sudo -n " : "", c->agent_dir, c->agent_dir);
  int rc = edr_chan_exec(&c->ssh, &c->agent, cmd);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    fail(c, rc, true, "%s", c->ssh.error.msg.buf);
    return rc;
  }
  c->conn_ok = true;
  c->agent_up = true;
  struct edr_agent_request r = {.req = c->hello, .payload_fd = -1};
  c->hello = NULL;
  send_request(c, &r);
  return 0;
}

/* ---- states: one request to the agent --------------------------------- */

static void send_request(struct edr_agent_conn *c, struct edr_agent_request *r) {
  c->want_id = ++c->next_id;
  json_object_set_new(r->req, "id", json_integer(c->want_id));
  char *s = json_dumps(r->req, JSON_COMPACT);
  json_decref(r->req);
  free(c->req);
  c->req = s ? edr_asprintf("%s\n", s) : NULL;
  free(s);
  if (!c->req) {
    if (r->payload_fd >= 0)
      close(r->payload_fd);
    fail(c, EDR_ENOMEM, false, "cannot encode a request");
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
  set_state(c, C_REQ_SEND);
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
    timer_arm(c, t->stall_timeout_ms);
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
    drain_stderr(c, &c->agent);
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
    drain_stderr(c, &c->agent);
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
      timer_arm(c, c->t->stall_timeout_ms);
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
        logf_(c, EDR_AGENT_LOG_DEBUG, "[%s] agent: %s", c->t->name, msg);
      json_decref(j);
    }
  }
}

static int st_req_send(struct edr_agent_conn *c) {
  while (c->req_sent < c->req_len) {
    drain_stderr(c, &c->agent);
    long w = edr_chan_write(&c->ssh, &c->agent, c->req + c->req_sent, c->req_len - c->req_sent);
    if (w == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (w < 0)
      goto lost;
    c->req_sent += (size_t)w;
  }
  if (c->payload_fd >= 0 || c->zsrc) {
    int rc = push_fd(c, &c->agent, c->payload_fd, c->zsrc, c->payload_size, &c->payload_sent);
    /* The agent reads every byte before it answers, even after an error,
     * so there is no reply to read until the payload is through. */
    if (rc == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (rc) {
      if (rc == EDR_EIO || rc == EDR_ENOENT) {
        fail(c, rc, false, "cannot read the local file being pushed: %s", edr_strerror(rc));
        return rc;
      }
      if (c->zsrc && (rc == EDR_ENOSPC || rc == EDR_ENOMEM || rc == EDR_EINTERNAL)) {
        fail(c, rc, false, "cannot compress the file being pushed on this machine: %s "
             "(free space in $TMPDIR, else /var/tmp; or use --compress off)", edr_strerror(rc));
        return rc;
      }
      goto lost;
    }
    if (c->payload_fd >= 0)
      close(c->payload_fd);
    c->payload_fd = -1;
    c->zsrc = NULL;
  }
  set_state(c, C_REQ_WAIT);
  return 0;
lost:
  drain_stderr(c, &c->agent);
  fail(c, EDR_ECONNLOST, true, "connection to the agent lost while sending: %s%s%s",
       c->ssh.error.msg.buf, c->errtail_len ? "; agent stderr: " : "",
       c->errtail_len ? stderr_last(c) : "");
  return EDR_ECONNLOST;
}

static int st_req_wait(struct edr_agent_conn *c) {
  json_t *reply = NULL;
  int rc = read_reply(c, &reply);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc != 1) {
    drain_stderr(c, &c->agent);
    if (rc == EDR_ECONNLOST && c->t->sudo && strstr(c->errtail, "sudo"))
      fail(c, EDR_ESUDO, true, "sudo -n refused to run the agent as root: %s (allow "
           "'%s' passwordless sudo, or connect as root with ssh_user and sudo: false)",
           stderr_last(c), c->t->ssh_user);
    else if (rc == EDR_EPROTO)
      fail(c, rc, true, "the agent broke the protocol: %s", c->proto_err.buf);
    else if (rc == EDR_ENOSPC) /* an announced fetch larger than the room here */
      fail(c, rc, true, "%s", c->proto_err.buf);
    else
      fail(c, rc, true, "the agent stopped answering (%s)%s%s", edr_strerror(rc),
           c->errtail_len ? "; its stderr: " : "", c->errtail_len ? stderr_last(c) : "");
    return rc;
  }
  set_state(c, C_IDLE);
  uv_timer_stop(&c->timer);
  free(c->req);
  c->req = NULL;
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
  set_state(c, C_CLOSED);
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
      drain_stderr(c, &c->agent);
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
 * the state (through set_state) when it is done. */
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
    fail(c, fd, true, "%s", edr_error_text(&err));
  edr_error_release(&err);
  if (fd < 0)
    return;
  c->ssh.fd = fd;
  set_state(c, C_HANDSHAKE);
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
  set_state(c, C_RESOLVING);
  c->gai.data = c;
  int rc = uv_getaddrinfo(c->loop, &c->gai, gai_cb, c->t->ssh_host, port, &hints);
  if (rc)
    fail(c, EDR_ERESOLVE, true, "%s", uv_strerror(rc));
}

static void ssh_start_agent(struct edr_agent_conn *c, json_t *hello) {
  json_decref(c->hello);
  c->hello = hello;
  set_state(c, C_BOOT_EXEC);
  drive(c);
}

static void ssh_request(struct edr_agent_conn *c, struct edr_agent_request *r) {
  send_request(c, r);
}

static void ssh_arm(struct edr_agent_conn *c, uint64_t ms) { timer_arm(c, ms); }

static void ssh_idle(struct edr_agent_conn *c) { conn_idle(c); }

static void ssh_drop(struct edr_agent_conn *c) { c->conn_ok = false; }

static void ssh_close(struct edr_agent_conn *c) {
  if (c->state == C_CLOSED || c->state == C_CLOSE_AGENT)
    return;
  if (!c->agent_up || !c->conn_ok || c->ssh.fd < 0) {
    closed(c);
    return;
  }
  set_state(c, C_CLOSE_AGENT);
  timer_arm(c, CLOSE_TIMEOUT_MS);
  drive(c);
}

static bool ssh_usable(const struct edr_agent_conn *c) { return c->conn_ok && c->agent_up; }

static const char *ssh_stderr_last(struct edr_agent_conn *c) {
  return c->errtail_len ? stderr_last(c) : "";
}

static uint64_t ssh_fetched(const struct edr_agent_conn *c, const struct edr_error **err) {
  *err = &c->fetch_err;
  return c->fetch_got;
}

static uint64_t ssh_last_heard(const struct edr_agent_conn *c) { return c->ssh.last_rx_ms; }

static double ssh_push_rate(const struct edr_agent_conn *c) { return c->push_rate; }

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
  free(c->req);
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
  .push_rate = ssh_push_rate,
};
