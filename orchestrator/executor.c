/*
 * executor.c - one libuv loop, one state machine per host (executor.h).
 *
 * A host moves through states; each state is one small function that does
 * as much as it can without blocking and returns EDR_EAGAIN when libssh2
 * must wait for the socket.  set_state() is the only place a state changes
 * (and logs it at -vv).  Steps of the plan map onto states: "connect" is
 * resolve -> connect -> handshake -> host key -> auth; "push-agent" is the
 * bootstrap channel and the agent's hello; every other step is one request
 * to the agent and its reply.  A failure inside the loop becomes that host's
 * result, never an exit().
 */
#include "executor.h"

#include "cli.h"
#include "err.h"
#include "health.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "snapfile.h"
#include "members.h"
#include "snapshot_save.h"
#include "ssh.h"
#include "status.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define BOOT_SCRIPT                                                            \
  "/bin/sh -c 'case \"$(uname -m)\" in x86_64|amd64) ;; *) echo "              \
  "\"etcd-dr: unsupported architecture: $(uname -m)\" >&2; exit 97;; esac; "   \
  "umask 077; d=$(mktemp -d \"${TMPDIR:-/tmp}/etcd-dr.XXXXXXXX\") || exit 98; " \
  "cat > \"$d/etcd-dr-agent\" && chmod 700 \"$d/etcd-dr-agent\" && echo \"$d\"'"

enum { PUSH_BUF = 256 * 1024, LINE_MAX_LEN = 1 << 20 };

enum hstate {
  H_IDLE,        /* between steps: at a barrier, or finished */
  H_RESOLVING,
  H_CONNECTING,
  H_HANDSHAKE,
  H_AUTH,
  H_BOOT_EXEC,
  H_BOOT_SEND,
  H_BOOT_READ,
  H_BOOT_CLOSE,
  H_AGENT_EXEC,
  H_REQ_SEND,
  H_REQ_WAIT,
  H_CLOSE_AGENT,
  H_CLOSED,
  H__COUNT
};

static const char *const state_names[H__COUNT] = {
  [H_IDLE] = "idle", [H_RESOLVING] = "resolving", [H_CONNECTING] = "connecting",
  [H_HANDSHAKE] = "handshake", [H_AUTH] = "auth", [H_BOOT_EXEC] = "boot-exec",
  [H_BOOT_SEND] = "boot-send", [H_BOOT_READ] = "boot-read",
  [H_BOOT_CLOSE] = "boot-close", [H_AGENT_EXEC] = "agent-exec",
  [H_REQ_SEND] = "req-send", [H_REQ_WAIT] = "req-wait",
  [H_CLOSE_AGENT] = "close-agent", [H_CLOSED] = "closed",
};

struct run;
struct host;
typedef void (*reply_fn)(struct host *h, int status, json_t *reply);

struct host {
  struct run *run;
  const struct edr_host_plan *hp;
  const struct edr_member *m;
  struct edr_host_result *res;
  enum hstate state;
  size_t step;               /* index into hp->steps */
  bool in_step;              /* a step is under way */
  bool failed;               /* this host failed; it does nothing more */
  bool conn_ok;              /* the agent can still be talked to */
  bool agent_up;
  bool cleaned;              /* abort cleanup was done or is under way */
  uint64_t step_start;

  uv_poll_t poll;
  bool poll_active, poll_inited;
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  struct addrinfo *ai;

  struct edr_ssh ssh;
  struct edr_chan boot, agent;

  /* bootstrap */
  int agent_fd;
  uint64_t agent_sent;
  char boot_out[512];
  size_t boot_out_len;
  char agent_dir[520];

  /* one request in flight */
  char *req;                 /* the request line, with its \n */
  size_t req_len, req_sent;
  int payload_fd;
  uint64_t payload_size, payload_sent;
  char *buf;                 /* PUSH_BUF bytes for the payload */
  size_t buf_len, buf_off;
  reply_fn on_reply;
  int next_id, want_id;
  char *line;                /* agent stdout being assembled */
  size_t line_len, line_cap;
  uint64_t fetch_left, fetch_got;  /* a send's raw payload still to come, and so far */
  int fetch_status;          /* the fetch sink's first failure */
  char fetch_msg[512];
  char errtail[2048];        /* agent stderr, last bytes */
  char proto_err[200];       /* what broke the protocol */
  size_t errtail_len;

  json_t *probe;             /* the probe's result, for later steps */
  bool locked;               /* this run holds the host lock */
  bool nothing_moved;        /* rollback: the restore never moved this member */
  bool restaged;             /* resume: the old staging was removed */
  bool start_checked;        /* the restored member was seen before the start */
  bool marker_read;          /* resume: the host's own marker was read */
  bool waiting_leader;       /* the leader: its stop waits for the others' */
  unsigned attempts;         /* failed tries of the current step */
  uv_timer_t retry_timer;    /* the delay before trying it again */
  json_t *marker_done;       /* resume: step indices the host's marker has */
  json_t *cleanup;           /* queued requests still to send (queue_run) */
  const char *queue_what;    /* what the queue does, for warnings */
  void (*queue_done)(struct host *h);
};

struct run {
  uv_loop_t loop;
  const struct edr_plan *plan;
  const struct edr_exec_opts *opts;
  struct edr_run_result *res;
  struct host *hosts;
  size_t n;
  enum edr_phase phase;      /* the furthest phase reached (what stopping means) */
  size_t stage;              /* the latest stage hosts may enter */
  size_t first_destructive;  /* the stage confirmed before, if plan->confirm */
  bool gate_running, gate_done;
  bool gate_failed;          /* a gate failed: the run stops */
  bool health_gate_failed;   /* ... and it was the restore's health */
  bool declined;             /* the operator said no at a confirmation */
  bool decided;              /* opts->decide was called */
  unsigned gate_attempts;
  uint64_t gate_start_ms;
  char gate_note[1024];      /* what the gate did, for the report */
  uv_timer_t gate_timer;     /* pause, and the delay between gate retries */
  bool aborting;
  bool launched;             /* every host was given its first step */
  bool stop_requested;       /* a gate failed or the operator declined */
  bool interrupted;
  char health_problem[512];
  uint64_t started_ms, health_start_ms;
  int64_t bump;              /* --bump-revision used, 0 for none */
  long leader_host;          /* index of the running cluster's leader, -1 */
  bool leader_pending;       /* find_leader()'s ask is still running on the
                                thread pool: no stage after the next starts */
  uv_signal_t sigint, sigterm;
  struct edr_health_member *health_members;   /* borrowed by the wait */
  int64_t health_min_rev;
  struct edr_health_wait *health_wait;        /* while it runs */
  char *agent_path;
  char agent_sha256[65];
  uint64_t agent_size;
};

static void drive(struct host *h);
static void advance(struct host *h);
static void check_barrier(struct run *r);
static void start_close(struct host *h);
static bool resume_skip(struct host *h, const struct edr_step *s);
static void resume_after_restage(struct host *h);
static void queue_staging_removal(struct host *h);
static void next_step(struct host *h);
static void queue_run(struct host *h, const char *what, void (*done)(struct host *));
static void on_marker(struct host *h, int status, json_t *reply);
static void wake_leader(struct run *r);
static bool others_stopped(const struct run *r, const struct host *leader);
static void on_start_check(struct host *h, int status, json_t *reply);

/* ---- small helpers ------------------------------------------------------ */

static size_t host_index(const struct host *h) { return (size_t)(h - h->run->hosts); }

bool edr_exec_interactive(void) { return isatty(STDIN_FILENO) && isatty(STDERR_FILENO); }

static void set_state(struct host *h, enum hstate s) {
  if (h->state != s)
    edr_debug("[%s] %s -> %s", h->m->name, state_names[h->state], state_names[s]);
  h->state = s;
}

static const struct edr_step *cur_step(const struct host *h) {
  return h->step < h->hp->n_steps ? &h->hp->steps[h->step] : NULL;
}

static const char *step_name(const struct host *h) {
  const struct edr_step *s = cur_step(h);
  return s ? edr_step_kinds[s->kind].name : "close";
}

static void poll_cb(uv_poll_t *p, int status, int events);

static void poll_update(struct host *h, int want) {
  if (h->ssh.fd < 0)
    return;
  if (!h->poll_inited) {
    if (uv_poll_init_socket(&h->run->loop, &h->poll, h->ssh.fd))
      return;
    h->poll.data = h;
    h->poll_inited = true;
  }
  int ev = 0;
  if (want & EDR_SSH_WANT_READ)
    ev |= UV_READABLE;
  if (want & EDR_SSH_WANT_WRITE)
    ev |= UV_WRITABLE;
  uv_poll_start(&h->poll, ev, poll_cb);
  h->poll_active = true;
}

static void poll_stop(struct host *h) {
  if (h->poll_inited && h->poll_active) {
    uv_poll_stop(&h->poll);
    h->poll_active = false;
  }
}

static void timer_cb(uv_timer_t *t);

/* Drop the connection: the poll handle goes before its socket. */
static void conn_teardown(struct host *h) {
  if (h->poll_inited) {
    uv_close((uv_handle_t *)&h->poll, NULL);
    h->poll_inited = false;
    h->poll_active = false;
  }
  edr_chan_free(&h->boot);
  edr_chan_free(&h->agent);
  edr_ssh_free(&h->ssh);
  h->conn_ok = false;
}

static void timer_arm(struct host *h, uint64_t ms) {
  uv_timer_start(&h->timer, timer_cb, ms, 0);
}

/* Record the host's failure.  CODE/fmt describe it for the operator. */
static void host_fail(struct host *h, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void host_fail(struct host *h, int code, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct edr_step_result *sr = h->step < h->hp->n_steps ? &h->res->steps[h->step] : NULL;
  if (sr && sr->started && !sr->finished) {
    edr_progress_step(host_index(h), edr_step_kinds[h->hp->steps[h->step].kind].name, "failed",
                      edr_now_ms() - h->step_start, 0, msg);
    edr_journal_step(h->run->opts->journal, h->m->name, h->step,
                     edr_step_kinds[h->hp->steps[h->step].kind].name, "failed", code, msg);
    sr->finished = true;
    sr->status = code;
    sr->duration_ms = edr_now_ms() - h->step_start;
    free(sr->message);
    sr->message = strdup(msg);
  }
  if (!h->failed) {
    h->failed = true;
    h->res->status = code;
    h->res->message = strdup(msg);
    const struct edr_step *cs = cur_step(h);
    const struct edr_stage *st = cs && h->run->plan->kind == EDR_PLAN_RUN
                                     ? &h->run->plan->stages[cs->stage] : NULL;
    if (st)  /* a playbook's step: its name first, as the operator wrote it */
      edr_err("%s (%s): %s (%s): %s%s%s", h->m->name, h->m->ssh_host, st->name, step_name(h),
              msg, st->note ? "\n  " : "", st->note ? st->note : "");
    else
      edr_err("%s (%s): %s: %s", h->m->name, h->m->ssh_host, step_name(h), msg);
  }
  h->in_step = false;
  uv_timer_stop(&h->timer);
  poll_stop(h);
  free(h->req);
  h->req = NULL;
  if (h->payload_fd >= 0) {
    close(h->payload_fd);
    h->payload_fd = -1;
  }
  set_state(h, H_IDLE);
  check_barrier(h->run);
}

/* A connection-level failure: nothing more can be said to this host. */
static void host_lost(struct host *h, int code, const char *what) {
  h->conn_ok = false;
  host_fail(h, code, "%s", what);
}

/* ---- states: connect ---------------------------------------------------- */

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct host *h = req->data;
  if (h->state != H_RESOLVING) { /* failed or timed out meanwhile */
    uv_freeaddrinfo(res);
    return;
  }
  if (status) {
    host_lost(h, EDR_ERESOLVE, uv_strerror(status));
    return;
  }
  h->ai = res;
  int rc = edr_ssh_connect_start(&h->ssh, res->ai_addr, (unsigned)res->ai_addrlen);
  if (rc && rc != EDR_EAGAIN) {
    char msg[600];
    snprintf(msg, sizeof msg, "cannot connect to %s port %d: %s", h->m->ssh_host,
             h->m->ssh_port, h->ssh.error);
    host_lost(h, rc, msg);
    return;
  }
  set_state(h, rc == 0 ? H_HANDSHAKE : H_CONNECTING);
  if (rc == EDR_EAGAIN)
    poll_update(h, EDR_SSH_WANT_WRITE);
  else
    drive(h);
}

static int st_connecting(struct host *h) {
  int rc = edr_ssh_connect_done(&h->ssh);
  if (rc == EDR_EAGAIN) {
    poll_update(h, EDR_SSH_WANT_WRITE);
    return EDR_EAGAIN;
  }
  if (rc) {
    char msg[700];
    snprintf(msg, sizeof msg, "cannot connect to %s port %d: %s (is sshd running "
             "and reachable from here?)", h->m->ssh_host, h->m->ssh_port,
             edr_strerror(rc));
    host_lost(h, rc, msg);
    return rc;
  }
  set_state(h, H_HANDSHAKE);
  return 0;
}

static int st_handshake(struct host *h) {
  int rc = edr_ssh_handshake(&h->ssh, h->m->ssh_host, h->m->ssh_port, h->m->known_hosts);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc == 0)
    rc = edr_ssh_check_hostkey(&h->ssh, h->m->ssh_host, h->m->ssh_port,
                               h->m->known_hosts, h->run->opts->accept_new_hostkeys);
  if (rc) {
    host_lost(h, rc, h->ssh.error);
    return rc;
  }
  snprintf(h->res->hostkey_fp, sizeof h->res->hostkey_fp, "%s", h->ssh.hostkey_fp);
  if (h->ssh.hostkey_recorded)
    edr_warn("%s: recorded new %s host key %s for '%s' in '%s'", h->m->name,
             h->ssh.hostkey_type, h->ssh.hostkey_fp, h->m->ssh_host, h->m->known_hosts);
  set_state(h, H_AUTH);
  return 0;
}

static void step_ok(struct host *h, json_t *result);

static int st_auth(struct host *h) {
  int rc = edr_ssh_auth(&h->ssh, h->m->ssh_user, h->m->identity_file);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    host_lost(h, rc, h->ssh.error);
    return rc;
  }
  set_state(h, H_IDLE);
  step_ok(h, NULL);
  return 0;
}

/* ---- states: bootstrap and agent start -------------------------------- */

static int st_boot_exec(struct host *h) {
  int rc = edr_chan_exec(&h->ssh, &h->boot, BOOT_SCRIPT);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    host_lost(h, rc, h->ssh.error);
    return rc;
  }
  h->agent_fd = open(h->run->agent_path, O_RDONLY | O_CLOEXEC);
  if (h->agent_fd < 0) {
    host_lost(h, edr_from_errno(errno), "cannot open the agent binary");
    return EDR_EIO;
  }
  h->agent_sent = 0;
  h->buf_len = h->buf_off = 0;
  set_state(h, H_BOOT_SEND);
  return 0;
}

/* Drain a channel's stderr into the host's tail buffer. */
static void drain_stderr(struct host *h, struct edr_chan *c) {
  char tmp[4096];
  long n;
  while ((n = edr_chan_read(&h->ssh, c, 1, tmp, sizeof tmp)) > 0) {
    size_t k = (size_t)n;
    if (k >= sizeof h->errtail) {
      memcpy(h->errtail, tmp + k - (sizeof h->errtail - 1), sizeof h->errtail - 1);
      h->errtail_len = sizeof h->errtail - 1;
    } else {
      if (h->errtail_len + k >= sizeof h->errtail) {
        size_t drop = h->errtail_len + k - (sizeof h->errtail - 1);
        memmove(h->errtail, h->errtail + drop, h->errtail_len - drop);
        h->errtail_len -= drop;
      }
      memcpy(h->errtail + h->errtail_len, tmp, k);
      h->errtail_len += k;
    }
    h->errtail[h->errtail_len] = '\0';
  }
}

/* The last line of stderr, trimmed, for messages. */
static const char *stderr_last(struct host *h) {
  char *e = h->errtail;
  size_t n = h->errtail_len;
  while (n && (e[n - 1] == '\n' || e[n - 1] == '\r' || e[n - 1] == ' '))
    e[--n] = '\0';
  char *nl = strrchr(e, '\n');
  return nl ? nl + 1 : e;
}

/* Send bytes from FD through channel C; returns 0 when all SIZE were sent. */
static int push_fd(struct host *h, struct edr_chan *c, int fd, uint64_t size,
                   uint64_t *sent) {
  for (;;) {
    if (h->buf_off == h->buf_len) {
      if (*sent >= size)
        return 0;
      size_t want = size - *sent < PUSH_BUF ? (size_t)(size - *sent) : PUSH_BUF;
      ssize_t n = pread(fd, h->buf, want, (off_t)*sent);
      if (n <= 0)
        return n == 0 ? EDR_EIO : edr_from_errno(errno);
      h->buf_len = (size_t)n;
      h->buf_off = 0;
    }
    long w = edr_chan_write(&h->ssh, c, h->buf + h->buf_off, h->buf_len - h->buf_off);
    if (w == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (w < 0)
      return (int)w;
    h->buf_off += (size_t)w;
    *sent += (uint64_t)w;
    if (h->state == H_REQ_SEND)
      edr_progress_bytes(host_index(h), *sent, size);
    if (h->buf_off == h->buf_len)
      h->buf_off = h->buf_len = 0;
    if (h->run->opts->stall_timeout_ms && h->state == H_REQ_SEND)
      timer_arm(h, h->run->opts->stall_timeout_ms);
  }
}

static int st_boot_send(struct host *h) {
  drain_stderr(h, &h->boot);
  int rc = push_fd(h, &h->boot, h->agent_fd, h->run->agent_size, &h->agent_sent);
  if (rc) {
    /* The bootstrap may have ended before taking the agent (another
     * architecture): then nobody reads the rest and the window stays shut.
     * Its stderr and exit status say so before any EOF does. */
    drain_stderr(h, &h->boot);
    /* stderr can trail the exit status: wait for the words */
    if (strstr(h->errtail, "unsupported architecture")) {
      close(h->agent_fd);
      h->agent_fd = -1;
      host_fail(h, EDR_EARCH, "%s; etcd-dr-agent is built for x86-64 Linux only",
                stderr_last(h));
      return EDR_EARCH;
    }
    if (libssh2_channel_eof(h->boot.ch)) {
      close(h->agent_fd);
      h->agent_fd = -1;
      set_state(h, H_BOOT_READ);
      return 0;
    }
  }
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc == 0)
    rc = edr_chan_send_eof(&h->ssh, &h->boot);
  if (rc == EDR_EAGAIN)
    return rc;
  close(h->agent_fd);
  h->agent_fd = -1;
  if (rc) {
    host_lost(h, rc, h->ssh.error[0] ? h->ssh.error : "cannot push the agent");
    return rc;
  }
  set_state(h, H_BOOT_READ);
  return 0;
}

static int st_boot_read(struct host *h) {
  for (;;) {
    drain_stderr(h, &h->boot);
    char tmp[256];
    long n = edr_chan_read(&h->ssh, &h->boot, 0, tmp, sizeof tmp);
    if (n == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (n < 0) {
      host_lost(h, (int)n, h->ssh.error);
      return (int)n;
    }
    if (n == 0)
      break;
    size_t k = (size_t)n;
    if (h->boot_out_len + k < sizeof h->boot_out) {
      memcpy(h->boot_out + h->boot_out_len, tmp, k);
      h->boot_out_len += k;
      h->boot_out[h->boot_out_len] = '\0';
    }
  }
  set_state(h, H_BOOT_CLOSE);
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
  for (const char *c = d; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9') || strchr("/._-", *c)))
      return false;
  return !strstr(d, "/../") && !strstr(d, "/./");
}

static int st_boot_close(struct host *h) {
  int exit_status;
  const char *sig;
  int rc = edr_chan_close(&h->ssh, &h->boot, &exit_status, &sig);
  if (rc == EDR_EAGAIN)
    return rc;
  drain_stderr(h, &h->boot);
  edr_chan_free(&h->boot);
  if (rc) {
    host_lost(h, rc, h->ssh.error);
    return rc;
  }
  if (exit_status == 97) {
    host_fail(h, EDR_EARCH, "%s; etcd-dr-agent is built for x86-64 Linux only",
              stderr_last(h));
    return EDR_EARCH;
  }
  char *nl = strchr(h->boot_out, '\n');
  if (nl)
    *nl = '\0';
  if (exit_status != 0 || sig || !valid_agent_dir(h->boot_out)) {
    host_fail(h, EDR_EREMOTE, "could not place the agent in a temporary directory "
              "(exit %d%s%s): %s", exit_status, sig ? ", signal " : "", sig ? sig : "",
              h->errtail_len ? stderr_last(h) : "no output");
    return EDR_EREMOTE;
  }
  snprintf(h->agent_dir, sizeof h->agent_dir, "%s", h->boot_out);
  h->errtail_len = 0;
  h->errtail[0] = '\0';
  set_state(h, H_AGENT_EXEC);
  return 0;
}

static void send_request(struct host *h, json_t *req, int payload_fd,
                         uint64_t payload_size, reply_fn fn);
static void on_hello(struct host *h, int status, json_t *reply);

static int st_agent_exec(struct host *h) {
  char cmd[1400];
  /* If the agent cannot start (sudo -n refused), nothing else would remove
   * its directory; the agent removes it itself when it ran.  The directory
   * passed valid_agent_dir(): no quote can occur in it. */
  snprintf(cmd, sizeof cmd, "/bin/sh -c '%s%s/etcd-dr-agent; rc=$?; rm -rf %s; exit $rc'",
           h->m->sudo ? "sudo -n " : "", h->agent_dir, h->agent_dir);
  int rc = edr_chan_exec(&h->ssh, &h->agent, cmd);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    host_lost(h, rc, h->ssh.error);
    return rc;
  }
  h->conn_ok = true;
  h->agent_up = true;
  json_t *req = json_pack("{s:s, s:s, s:s}", "op", "hello", "run_id",
                          h->run->plan->run_id, "host", h->m->name);
  send_request(h, req, -1, 0, on_hello);
  return 0;
}

/* ---- states: one request to the agent --------------------------------- */

static void send_request(struct host *h, json_t *req, int payload_fd,
                         uint64_t payload_size, reply_fn fn) {
  h->want_id = ++h->next_id;
  json_object_set_new(req, "id", json_integer(h->want_id));
  char *s = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (!s) {
    if (payload_fd >= 0)
      close(payload_fd);
    host_fail(h, EDR_ENOMEM, "cannot encode a request");
    return;
  }
  free(h->req);
  h->req = edr_asprintf("%s\n", s);
  free(s);
  if (!h->req) {
    if (payload_fd >= 0)
      close(payload_fd);
    host_fail(h, EDR_ENOMEM, "cannot encode a request");
    return;
  }
  h->req_len = strlen(h->req);
  h->req_sent = 0;
  h->payload_fd = payload_fd;
  h->payload_size = payload_size;
  h->payload_sent = 0;
  h->buf_len = h->buf_off = 0;
  h->line_len = 0;
  h->fetch_left = h->fetch_got = 0;
  h->fetch_status = 0;
  h->on_reply = fn;
  set_state(h, H_REQ_SEND);
  drive(h);
}

/* N bytes of a send's payload: to the fetch sink until it fails, then
 * dropped (the stream must stay in step). */
static void fetch_bytes(struct host *h, const char *p, size_t n) {
  const struct edr_exec_opts *o = h->run->opts;
  if (!h->fetch_status && o->fetch_sink) {
    int rc = o->fetch_sink(o->fetch_arg, (const unsigned char *)p, n, h->fetch_msg,
                           sizeof h->fetch_msg);
    if (rc < 0)
      h->fetch_status = rc;
  }
  h->fetch_left -= n;
  h->fetch_got += n;
  edr_progress_bytes(host_index(h), h->fetch_got, h->fetch_got + h->fetch_left);
  if (o->stall_timeout_ms)
    timer_arm(h, o->stall_timeout_ms);
}

/* The raw bytes after a data event never pass the line parser: what is
 * buffered goes first, then the channel is read straight into the push
 * buffer (idle while fetching).  Returns 0 once all came, or what
 * edr_chan_read says. */
static int read_payload(struct host *h) {
  while (h->fetch_left) {
    if (h->line_len) {
      size_t n = h->line_len < h->fetch_left ? h->line_len : (size_t)h->fetch_left;
      fetch_bytes(h, h->line, n);
      memmove(h->line, h->line + n, h->line_len - n);
      h->line_len -= n;
      continue;
    }
    drain_stderr(h, &h->agent);
    size_t want = h->fetch_left < PUSH_BUF ? (size_t)h->fetch_left : PUSH_BUF;
    long n = edr_chan_read(&h->ssh, &h->agent, 0, h->buf, want);
    if (n == EDR_EAGAIN || n < 0)
      return (int)n;
    if (n == 0)
      return EDR_ECONNLOST;
    fetch_bytes(h, h->buf, (size_t)n);
  }
  return 0;
}

/* Read agent stdout; returns 1 with *out set when the final reply came. */
static int read_reply(struct host *h, json_t **out) {
  *out = NULL;
  for (;;) {
    if (h->fetch_left) {
      int rc = read_payload(h);
      if (rc)
        return rc;
    }
    drain_stderr(h, &h->agent);
    if (h->line_cap - h->line_len < 4096) {
      size_t cap = h->line_cap ? h->line_cap * 2 : 16384;
      if (cap > LINE_MAX_LEN + 8192)
        return EDR_EPROTO;
      char *nl = realloc(h->line, cap);
      if (!nl)
        return EDR_ENOMEM;
      h->line = nl;
      h->line_cap = cap;
    }
    long n = edr_chan_read(&h->ssh, &h->agent, 0, h->line + h->line_len,
                           h->line_cap - h->line_len - 1);
    if (n == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (n < 0)
      return (int)n;
    if (n == 0)
      return EDR_ECONNLOST;
    h->line_len += (size_t)n;
    if (h->run->opts->stall_timeout_ms && cur_step(h) &&
        cur_step(h)->kind == EDR_STEP_PUSH_SNAPSHOT)
      timer_arm(h, h->run->opts->stall_timeout_ms);
    char *nl;
    while ((nl = memchr(h->line, '\n', h->line_len))) {
      *nl = '\0';
      json_error_t je;
      json_t *j = json_loads(h->line, 0, &je);
      size_t used = (size_t)(nl + 1 - h->line);
      memmove(h->line, nl + 1, h->line_len - used);
      h->line_len -= used;
      if (!j) {
        snprintf(h->proto_err, sizeof h->proto_err, "not JSON: '%.120s'", h->line);
        return EDR_EPROTO;
      }
      if (json_object_get(j, "ok")) {
        if (json_integer_value(json_object_get(j, "id")) != h->want_id) {
          snprintf(h->proto_err, sizeof h->proto_err, "a reply to request %lld while "
                   "waiting for %d", (long long)json_integer_value(json_object_get(j, "id")),
                   h->want_id);
          json_decref(j);
          return EDR_EPROTO;
        }
        *out = j;
        return 1;
      }
      const char *ev = json_string_value(json_object_get(j, "event"));
      if (ev && !strcmp(ev, "data") && json_integer_value(json_object_get(j, "id")) == h->want_id) {
        json_int_t size = json_integer_value(json_object_get(j, "bytes"));
        json_decref(j);
        if (size < 0) {
          snprintf(h->proto_err, sizeof h->proto_err, "a data event without a byte count");
          return EDR_EPROTO;
        }
        h->fetch_left = (uint64_t)size;
        h->fetch_got = 0;
        if (cur_step(h))
          h->res->steps[h->step].bytes = (uint64_t)size;
        int rc = h->fetch_left ? read_payload(h) : 0;
        if (rc)
          return rc;
        continue;
      }
      const char *msg = json_string_value(json_object_get(j, "message"));
      if (msg)
        edr_debug("[%s] agent: %s", h->m->name, msg);
      json_decref(j);
    }
  }
}

static int st_req_send(struct host *h) {
  while (h->req_sent < h->req_len) {
    drain_stderr(h, &h->agent);
    long w = edr_chan_write(&h->ssh, &h->agent, h->req + h->req_sent, h->req_len - h->req_sent);
    if (w == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (w < 0)
      goto lost;
    h->req_sent += (size_t)w;
  }
  if (h->payload_fd >= 0) {
    int rc = push_fd(h, &h->agent, h->payload_fd, h->payload_size, &h->payload_sent);
    /* The agent reads every byte before it answers, even after an error,
     * so there is no reply to read until the payload is through. */
    if (rc == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (rc) {
      if (rc == EDR_EIO || rc == EDR_ENOENT) {
        host_fail(h, rc, "cannot read the local file being pushed: %s", edr_strerror(rc));
        return rc;
      }
      goto lost;
    }
    close(h->payload_fd);
    h->payload_fd = -1;
  }
  set_state(h, H_REQ_WAIT);
  return 0;
lost:;
  char msg[800];
  drain_stderr(h, &h->agent);
  snprintf(msg, sizeof msg, "connection to the agent lost while sending: %s%s%s",
           h->ssh.error, h->errtail_len ? "; agent stderr: " : "",
           h->errtail_len ? stderr_last(h) : "");
  host_lost(h, EDR_ECONNLOST, msg);
  return EDR_ECONNLOST;
}

static int st_req_wait(struct host *h) {
  json_t *reply = NULL;
  int rc = read_reply(h, &reply);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc != 1) {
    char msg[1200];
    drain_stderr(h, &h->agent);
    if (rc == EDR_ECONNLOST && h->m->sudo && strstr(h->errtail, "sudo"))
      snprintf(msg, sizeof msg, "sudo -n refused to run the agent as root: %s (allow "
               "'%s' passwordless sudo, or connect as root with ssh_user and sudo: false)",
               stderr_last(h), h->m->ssh_user);
    else if (rc == EDR_EPROTO)
      snprintf(msg, sizeof msg, "the agent broke the protocol: %s", h->proto_err);
    else
      snprintf(msg, sizeof msg, "the agent stopped answering (%s)%s%s", edr_strerror(rc),
               h->errtail_len ? "; its stderr: " : "", h->errtail_len ? stderr_last(h) : "");
    host_lost(h, rc == EDR_ECONNLOST && h->m->sudo && strstr(h->errtail, "sudo")
                     ? EDR_ESUDO : rc, msg);
    return rc;
  }
  set_state(h, H_IDLE);
  uv_timer_stop(&h->timer);
  free(h->req);
  h->req = NULL;
  bool ok = json_is_true(json_object_get(reply, "ok"));
  int status = 0;
  if (!ok) {
    json_int_t e = json_integer_value(json_object_get(json_object_get(reply, "error"), "errno"));
    status = e < 0 ? (int)e : EDR_EREMOTE;
  }
  h->on_reply(h, status, reply);
  json_decref(reply);
  return 0;
}

/* ---- closing ------------------------------------------------------------- */

static int st_close_agent(struct host *h) {
  if (h->agent.ch) {
    int rc = edr_chan_send_eof(&h->ssh, &h->agent);
    if (rc == EDR_EAGAIN)
      return rc;
    /* The agent exits at EOF after removing its directory: wait for that. */
    char tmp[4096];
    long n;
    while (rc == 0 && (n = edr_chan_read(&h->ssh, &h->agent, 0, tmp, sizeof tmp)) != 0) {
      drain_stderr(h, &h->agent);
      if (n == EDR_EAGAIN)
        return EDR_EAGAIN;
      if (n < 0)
        break;
    }
    int exit_status;
    const char *sig;
    if (rc == 0 && edr_chan_close(&h->ssh, &h->agent, &exit_status, &sig) == EDR_EAGAIN)
      return EDR_EAGAIN;
    edr_chan_free(&h->agent);
  }
  set_state(h, H_CLOSED);
  uv_timer_stop(&h->timer);
  conn_teardown(h);
  check_barrier(h->run);
  return 0;
}

static void start_close(struct host *h) {
  if (h->state == H_CLOSED || h->state == H_CLOSE_AGENT)
    return;
  if (!h->agent_up || !h->conn_ok || h->ssh.fd < 0) {
    set_state(h, H_CLOSED);
    uv_timer_stop(&h->timer);
    conn_teardown(h);
    check_barrier(h->run);
    return;
  }
  set_state(h, H_CLOSE_AGENT);
  timer_arm(h, 10000);
  drive(h);
}

/* ---- the driver ---------------------------------------------------------- */

typedef int (*state_fn)(struct host *h);
static const state_fn state_fns[H__COUNT] = {
  [H_CONNECTING] = st_connecting, [H_HANDSHAKE] = st_handshake, [H_AUTH] = st_auth,
  [H_BOOT_EXEC] = st_boot_exec,   [H_BOOT_SEND] = st_boot_send,
  [H_BOOT_READ] = st_boot_read,   [H_BOOT_CLOSE] = st_boot_close,
  [H_AGENT_EXEC] = st_agent_exec, [H_REQ_SEND] = st_req_send,
  [H_REQ_WAIT] = st_req_wait,     [H_CLOSE_AGENT] = st_close_agent,
};

/* Run the current state until it must wait; each state function changes
 * the state (through set_state) when it is done. */
static void drive(struct host *h) {
  for (;;) {
    state_fn fn = state_fns[h->state];
    if (!fn) {
      if (h->state != H_RESOLVING && h->state != H_CONNECTING)
        poll_stop(h);
      return;
    }
    enum hstate before = h->state;
    int rc = fn(h);
    if (rc == EDR_EAGAIN) {
      poll_update(h, h->state == H_CONNECTING ? EDR_SSH_WANT_WRITE : edr_ssh_wants(&h->ssh));
      return;
    }
    if (rc < 0 || h->state == before)
      return;
  }
}

static void poll_cb(uv_poll_t *p, int status, int events) {
  struct host *h = p->data;
  (void)events;
  (void)status; /* errors surface from the next call on the socket */
  drive(h);
}

static void timer_cb(uv_timer_t *t) {
  struct host *h = t->data;
  if (h->state == H_CLOSE_AGENT) { /* teardown is bounded too */
    h->agent_up = false;
    set_state(h, H_CLOSED);
    conn_teardown(h);
    check_barrier(h->run);
    return;
  }
  const struct edr_step *s = cur_step(h);
  char msg[600];
  if (s && s->kind == EDR_STEP_CONNECT)
    snprintf(msg, sizeof msg, "no ssh connection to %s port %d within %llus (host down, "
             "or the port filtered?)", h->m->ssh_host, h->m->ssh_port,
             (unsigned long long)(s->timeout_ms / 1000));
  else
    snprintf(msg, sizeof msg, "no answer within %llus%s%s",
             (unsigned long long)((s ? s->timeout_ms : 0) / 1000),
             h->errtail_len ? "; stderr: " : "", h->errtail_len ? stderr_last(h) : "");
  host_lost(h, EDR_ETIMEDOUT, msg);
}

/* ---- steps --------------------------------------------------------------- */

static void step_ok(struct host *h, json_t *result) {
  struct edr_step_result *sr = &h->res->steps[h->step];
  sr->finished = true;
  sr->status = 0;
  sr->duration_ms = edr_now_ms() - h->step_start;
  if (result)
    sr->result = json_incref(result);
  h->res->steps_done++;
  h->in_step = false;
  uv_timer_stop(&h->timer);
  const struct edr_step *s = cur_step(h);
  edr_journal_step(h->run->opts->journal, h->m->name, h->step, edr_step_kinds[s->kind].name,
                   "done", 0, NULL);
  {
    char extra[160] = "";
    if (result && s->kind == EDR_STEP_PROBE) {
      json_t *tool = json_object_get(result, "tool");
      char hf[32];
      edr_human_bytes((uint64_t)json_integer_value(json_object_get(result, "free_bytes")), hf,
                      sizeof hf);
      snprintf(extra, sizeof extra, "%s %s, %s free, etcd %s",
               h->hp->host_tool ? "pushed" : json_string_value(json_object_get(tool, "kind")),
               h->hp->host_tool ? "tool" : json_string_value(json_object_get(tool, "version")),
               hf,
               json_is_true(json_object_get(result, "etcd_running")) ? "running" : "stopped");
    }
    if (sr->bytes && sr->duration_ms) {
      char hb[32];
      edr_human_bytes(sr->bytes, hb, sizeof hb);
      snprintf(extra, sizeof extra, "%s at %.0f MB/s", hb,
               (double)sr->bytes / 1e3 / (double)sr->duration_ms);
    }
    edr_progress_step(host_index(h), edr_step_kinds[s->kind].name, "done", sr->duration_ms,
                      sr->bytes, extra[0] ? extra : NULL);
  }
  if (h->run->plan->kind == EDR_PLAN_RESTORE && edr_step_kinds[s->kind].phase == EDR_PHASE_APPLY) {
    /* The host keeps its own record of what was done to it. */
    char line[64];
    snprintf(line, sizeof line, "%zu %s", h->step, edr_step_kinds[s->kind].name);
    json_decref(h->cleanup);
    h->cleanup = json_array();
    json_array_append_new(h->cleanup, json_pack("{s:s, s:s, s:s}", "op", "mark", "path",
                                                h->hp->marker, "line", line));
    queue_run(h, "marking the step done on the host", next_step);
    return;
  }
  next_step(h);
}

static void next_step(struct host *h) {
  bool was_stop = cur_step(h) && cur_step(h)->kind == EDR_STEP_STOP;
  set_state(h, H_IDLE);
  h->step++;
  h->attempts = 0;
  h->start_checked = false;
  advance(h);
  if (was_stop)
    wake_leader(h->run);
}

static void on_hello(struct host *h, int status, json_t *reply) {
  json_t *r = json_object_get(reply, "result");
  if (status) {
    host_fail(h, status, "the agent refused to start: %s",
              json_string_value(json_object_get(json_object_get(reply, "error"), "message")));
    return;
  }
  const char *sha = json_string_value(json_object_get(r, "sha256"));
  if (!sha || strcmp(sha, h->run->agent_sha256)) {
    host_fail(h, EDR_EHASH, "the agent on the host has sha-256 %s, expected %s: the "
              "push was damaged", sha ? sha : "(none)", h->run->agent_sha256);
    return;
  }
  json_int_t uid = json_integer_value(json_object_get(r, "uid"));
  if (uid != 0)
    edr_warn("%s: the agent runs as uid %lld, not root: it may lack permission on %s "
             "(set sudo: true?)", h->m->name, (long long)uid, h->m->data_dir);
  step_ok(h, r);
}

/* The restore needs: the snapshot copy, the restored db (about the
 * snapshot's size) and etcd's preallocated 64 MB WAL, plus 10%. */
static uint64_t space_needed(const struct edr_plan *p) {
  uint64_t need = 2 * p->snapshot_size + (64ull << 20);
  return need + need / 10;
}

static bool has_flag(json_t *tool, const char *flag) {
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(tool, "flags"), i, f)
    if (json_string_value(f) && !strcmp(json_string_value(f), flag))
      return true;
  return false;
}

/* snapshot save --via ssh: the snapshot is about as large as etcd's db and
 * lands on the same disk; etcd must not be the one that runs out. */
static int check_snapshot_probe(struct host *h, json_t *r, char *msg, size_t len) {
  json_t *db = json_object_get(json_object_get(r, "data_dir"), "db_bytes");
  json_t *fr = json_object_get(r, "free_bytes");
  if (json_is_true(json_object_get(r, "staging_exists"))) {
    snprintf(msg, len, "staging directory '%s' already exists", h->hp->staging);
    return EDR_EEXIST;
  }
  if (json_is_integer(db) && json_is_integer(fr)) {
    uint64_t dbb = (uint64_t)json_integer_value(db);
    uint64_t need = dbb + dbb / 10 + (64ull << 20);
    if ((uint64_t)json_integer_value(fr) < need) {
      char hn[32], hd[32], hf[32];
      edr_human_bytes(need, hn, sizeof hn);
      edr_human_bytes(dbb, hd, sizeof hd);
      edr_human_bytes((uint64_t)json_integer_value(fr), hf, sizeof hf);
      snprintf(msg, len, "not enough free disk space on '%s' for a snapshot next to "
               "etcd's data: %s needed (the db is %s, plus room so etcd itself does not "
               "run out), %s free; take it with --via direct, or free space",
               json_string_value(json_object_get(r, "free_path")), hn, hd, hf);
      return EDR_ENOSPC;
    }
  }
  return 0;
}

/* Judge the probe's facts: this is where "ready" is decided. */
static int check_probe(struct host *h, json_t *r, char *msg, size_t len) {
  const struct edr_plan *p = h->run->plan;
  json_t *tool = json_object_get(r, "tool");
  json_t *dd = json_object_get(r, "data_dir");
  if (p->kind == EDR_PLAN_ROLLBACK)
    return 0; /* no tool needed; find-old checks what matters */
  if (p->kind == EDR_PLAN_SNAPSHOT)
    return check_snapshot_probe(h, r, msg, len);
  if (p->kind == EDR_PLAN_RUN) {
    bool restores = false;
    for (size_t k = 0; k < h->hp->n_steps; k++)
      restores |= h->hp->steps[k].kind == EDR_STEP_RESTORE;
    if (!restores)
      return 0; /* each playbook step checks what it needs when it runs */
  }
  if (p->bump_revision && !h->hp->host_tool && json_is_object(tool) &&
      (!has_flag(tool, "--bump-revision") || !has_flag(tool, "--mark-compacted"))) {
    snprintf(msg, len, "%s %s on the host cannot --bump-revision with --mark-compacted "
             "(they came in etcd 3.4.27 and 3.5.10); use a newer tool (restore_tool_push) "
             "or restore without a bump",
             json_string_value(json_object_get(tool, "kind")),
             json_string_value(json_object_get(tool, "version")));
    return EDR_EUNSUPPORTED;
  }
  if (h->hp->host_tool) {
    /* the tool is pushed next; a restore it cannot do fails in staging */
  } else if (!json_is_object(tool)) {
    const char *te = json_string_value(json_object_get(r, "tool_error"));
    snprintf(msg, len, "no usable restore tool: %s (install etcdutl or etcdctl, or set "
             "restore_tool / restore_tool_push)", te ? te : "none found");
    return EDR_ETOOL;
  }
  if (!h->hp->host_tool && h->m->wal_dir && !has_flag(tool, "--wal-dir")) {
    snprintf(msg, len, "restore tool '%s' does not support --wal-dir",
             json_string_value(json_object_get(tool, "path")));
    return EDR_EUNSUPPORTED;
  }
  if (!h->hp->host_tool && p->skip_hash_check && !has_flag(tool, "--skip-hash-check")) {
    snprintf(msg, len, "restore tool '%s' does not support --skip-hash-check",
             json_string_value(json_object_get(tool, "path")));
    return EDR_EUNSUPPORTED;
  }
  if (json_is_true(json_object_get(r, "staging_exists")) && !h->run->opts->resume) {
    snprintf(msg, len, "staging directory '%s' already exists (left by an earlier run "
             "with the same id?)", h->hp->staging);
    return EDR_EEXIST;
  }
  if (!json_is_true(json_object_get(dd, "exists")) && !h->m->data_dir_owner) {
    snprintf(msg, len, "data dir '%s' does not exist and the spec sets no "
             "data_dir_owner: set it (for example \"etcd:etcd\") so that the restored "
             "data belongs to the user etcd runs as", h->m->data_dir);
    return EDR_ENOENT;
  }
  size_t pi;
  json_t *pf;
  json_array_foreach(json_object_get(r, "ports"), pi, pf) {
    const char *comm = json_string_value(json_object_get(pf, "comm"));
    if (json_is_true(json_object_get(pf, "listening")) && comm && *comm &&
        strcmp(comm, "etcd")) {
      snprintf(msg, len, "port %lld is in use by '%s' (pid %lld): etcd could not listen "
               "there after the restore; stop that process first",
               (long long)json_integer_value(json_object_get(pf, "port")), comm,
               (long long)json_integer_value(json_object_get(pf, "pid")));
      return EDR_EBUSY;
    }
  }
  json_int_t free_b = json_integer_value(json_object_get(r, "free_bytes"));
  uint64_t need = space_needed(p);
  if (free_b >= 0 && (uint64_t)free_b < need) {
    char hn[32], hf[32];
    edr_human_bytes(need, hn, sizeof hn);
    edr_human_bytes((uint64_t)free_b, hf, sizeof hf);
    snprintf(msg, len, "not enough free disk space on '%s': %s needed (the snapshot copy, "
             "the restored data and a 64 MB WAL; the old data is kept), %s free",
             json_string_value(json_object_get(r, "free_path")), hn, hf);
    return EDR_ENOSPC;
  }
  return 0;
}

static void start_step(struct host *h);

static void retry_cb(uv_timer_t *t) {
  struct host *h = t->data;
  if (h->run->aborting || h->run->interrupted) {
    host_fail(h, EDR_ECANCELED, "not tried again: the run is stopping");
    return;
  }
  start_step(h);
}

/* A failed step with retries left runs again after its delay; one whose
 * playbook says on_failure continue is recorded as failed and the host goes
 * on.  Returns true when it took care of the failure. */
static bool step_soft_fail(struct host *h, int status, const char *msg) {
  const struct edr_step *s = cur_step(h);
  struct run *r = h->run;
  if (r->aborting || r->interrupted || !s || (!s->retries && !s->continue_on_failure))
    return false;
  const char *name = edr_step_kinds[s->kind].name;
  uv_timer_stop(&h->timer);
  if (h->attempts < s->retries) {
    h->attempts++;
    edr_warn("%s: %s failed: %s; trying again in %.1fs (%u of %u)", h->m->name, name, msg,
             (double)s->retry_delay_ms / 1000.0, h->attempts, s->retries);
    edr_journal_step(r->opts->journal, h->m->name, h->step, name, "retry", status, msg);
    set_state(h, H_IDLE); /* in_step stays: the barrier waits for the retry */
    uv_timer_start(&h->retry_timer, retry_cb, s->retry_delay_ms, 0);
    return true;
  }
  if (!s->continue_on_failure)
    return false;
  struct edr_step_result *sr = &h->res->steps[h->step];
  sr->finished = true;
  sr->status = status;
  sr->duration_ms = edr_now_ms() - h->step_start;
  free(sr->message);
  sr->message = strdup(msg);
  edr_warn("%s: %s failed: %s; going on (on_failure: continue)", h->m->name, name, msg);
  edr_journal_step(r->opts->journal, h->m->name, h->step, name, "failed", status, msg);
  edr_progress_step(host_index(h), name, "failed", sr->duration_ms, 0, msg);
  h->in_step = false;
  next_step(h);
  return true;
}

static void on_step_reply(struct host *h, int status, json_t *reply) {
  const struct edr_step *s = cur_step(h);
  json_t *r = json_object_get(reply, "result");
  if (s->kind == EDR_STEP_ASK) { /* a fact about the member: the whole reply */
    step_ok(h, reply);
    return;
  }
  if (status) {
    const char *m = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
    char extra[1200] = "";
    if (s->kind == EDR_STEP_RESTORE || s->kind == EDR_STEP_STOP || s->kind == EDR_STEP_START ||
        s->kind == EDR_STEP_TAKE_SNAPSHOT || s->kind == EDR_STEP_MEMBER_UP) {
      const char *tail = json_string_value(json_object_get(r, "stderr_tail"));
      if (tail && *tail) {
        const char *t = tail + strlen(tail);
        while (t > tail && (t[-1] == '\n' || t[-1] == ' '))
          t--;
        const char *b = t;
        for (int lines = 0; b > tail && lines < 3; b--)
          if (b[-1] == '\n' && ++lines == 3)
            break;
        snprintf(extra, sizeof extra, "; stderr: %.*s", (int)(t - b), b);
      }
    }
    char full[2400];
    snprintf(full, sizeof full, "%s%s", m ? m : edr_strerror(status), extra);
    if (step_soft_fail(h, status, full))
      return;
    if (r)
      h->res->steps[h->step].result = json_incref(r);
    host_fail(h, status, "%s", full);
    return;
  }
  if (s->kind == EDR_STEP_FETCH_SNAPSHOT &&
      (h->fetch_status || (uint64_t)json_integer_value(json_object_get(r, "bytes")) !=
                              h->fetch_got)) {
    h->res->steps[h->step].result = json_incref(r);
    if (h->fetch_status)
      host_fail(h, h->fetch_status, "%s", h->fetch_msg);
    else
      host_fail(h, EDR_ECONNLOST, "%llu bytes arrived, the agent says it sent %lld",
                (unsigned long long)h->fetch_got,
                (long long)json_integer_value(json_object_get(r, "bytes")));
    return;
  }
  if (s->kind == EDR_STEP_LOCK)
    h->locked = true;
  if (s->kind == EDR_STEP_UNLOCK)
    h->locked = false;
  if (s->kind == EDR_STEP_FIND_OLD && !json_is_true(json_object_get(r, "exists"))) {
    json_t *dd = json_object_get(h->probe, "data_dir");
    if (!json_is_true(json_object_get(dd, "has_member"))) {
      host_fail(h, EDR_ENOENT, "nothing to roll back to: neither '%s' nor a member dir in "
                "'%s' exists (was the data dir empty before run %s?)", h->hp->member_aside,
                h->m->data_dir, h->run->plan->run_id);
      return;
    }
    /* The restore stopped before moving this member: its data is in place.
     * Moving it now would put the good data aside: only restart etcd. */
    h->nothing_moved = true;
    edr_info("%s: run %s never moved its member dir: its data is in place; %s",
             h->m->name, h->run->plan->run_id,
             json_is_true(json_object_get(h->probe, "etcd_running"))
                 ? "etcd runs: nothing to do" : "only starting etcd");
  }
  if (s->kind == EDR_STEP_PROBE) {
    char msg[1024];
    int rc = check_probe(h, r, msg, sizeof msg);
    json_decref(h->probe);
    h->probe = json_incref(r);
    if (rc) {
      h->res->steps[h->step].result = json_incref(r);
      host_fail(h, rc, "%s", msg);
      return;
    }
  }
  step_ok(h, r);
}

/* The request for step S, adjusted with what the probe found. */
static json_t *step_request(struct host *h, const struct edr_step *s) {
  json_t *req = json_deep_copy(s->request);
  if (!req)
    return NULL;
  if (s->kind == EDR_STEP_LOCK || s->kind == EDR_STEP_HOLD_LOCK) {
    char host[256] = "?", since[40];
    time_t now = time(NULL);
    struct tm tm;
    gethostname(host, sizeof host - 1);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    const char *user = getenv("SUDO_USER");
    if (!user || !*user)
      user = getenv("USER");
    json_t *holder = json_object_get(req, "holder");
    json_object_set_new(holder, "user", json_string(user && *user ? user : "?"));
    json_object_set_new(holder, "host", json_string(host));
    json_object_set_new(holder, "pid", json_integer(getpid()));
    json_object_set_new(holder, "since", json_string(since));
  }
  if (s->kind == EDR_STEP_RESTORE && h->run->plan->bump_revision < 0 && h->run->bump > 0) {
    json_t *argv = json_object_get(req, "argv");
    char n[32];
    snprintf(n, sizeof n, "%lld", (long long)h->run->bump);
    json_array_append_new(argv, json_string("--bump-revision"));
    json_array_append_new(argv, json_string(n));
    json_array_append_new(argv, json_string("--mark-compacted"));
  }
  if (s->kind == EDR_STEP_RESTORE) {
    json_t *tool = json_object_get(h->probe, "tool");
    json_t *argv = json_object_get(req, "argv");
    const char *path = json_string_value(json_object_get(tool, "path"));
    const char *kind = json_string_value(json_object_get(tool, "kind"));
    if (path && !h->hp->host_tool)
      json_array_set_new(argv, 0, json_string(path));
    if (!h->hp->host_tool && kind && !strcmp(kind, "etcdctl"))
      json_object_set_new(req, "env", json_pack("{s:s}", "ETCDCTL_API", "3"));
    /* plan.c adds --skip-hash-check after the agent's own check; a tool that
     * does not know it hashes the file itself (the probe refused it already
     * where the operator asked for the flag). */
    if (!h->hp->host_tool && json_is_object(tool) && !has_flag(tool, "--skip-hash-check"))
      for (size_t i = json_array_size(argv); i-- > 1;)
        if (!strcmp(json_string_value(json_array_get(argv, i)), "--skip-hash-check"))
          json_array_remove(argv, i);
  }
  if ((s->kind == EDR_STEP_OWNERSHIP || s->kind == EDR_STEP_OWNERSHIP_WAL) &&
      !json_object_get(req, "owner")) {
    json_t *dd = json_object_get(h->probe, "data_dir");
    if (json_is_true(json_object_get(dd, "exists"))) {
      json_object_set(req, "uid", json_object_get(dd, "uid"));
      json_object_set(req, "gid", json_object_get(dd, "gid"));
    }
  }
  if ((s->kind == EDR_STEP_OWNERSHIP || s->kind == EDR_STEP_OWNERSHIP_WAL) &&
      !json_object_get(req, "mode")) {
    json_t *dd = json_object_get(h->probe, "data_dir");
    const char *mode = json_string_value(json_object_get(dd, "mode"));
    json_object_set_new(req, "mode", json_string(json_is_true(json_object_get(dd, "exists"))
                                                     && mode ? mode : "0700"));
  }
  return req;
}

static void start_step(struct host *h) {
  const struct edr_step *s = cur_step(h);
  if (h->res->steps[h->step].result) { /* a retry */
    json_decref(h->res->steps[h->step].result);
    h->res->steps[h->step].result = NULL;
  }
  struct edr_step_result *sr = &h->res->steps[h->step];
  h->in_step = true;
  h->step_start = edr_now_ms();
  sr->started = true;
  edr_journal_step(h->run->opts->journal, h->m->name, h->step, edr_step_kinds[s->kind].name,
                   "start", 0, NULL);
  edr_progress_step(host_index(h), edr_step_kinds[s->kind].name, "start", 0, 0, NULL);
  timer_arm(h, s->timeout_ms);
  edr_debug("[%s] step %zu %s", h->m->name, h->step + 1, edr_step_kinds[s->kind].name);
  if (edr_step_kinds[s->kind].destructive)
    h->res->outcome = EDR_HOST_PARTIAL;
  switch (s->kind) {
  case EDR_STEP_CONNECT: {
    char port[8];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    snprintf(port, sizeof port, "%d", h->m->ssh_port);
    set_state(h, H_RESOLVING);
    h->gai.data = h;
    int rc = uv_getaddrinfo(&h->run->loop, &h->gai, gai_cb, h->m->ssh_host, port, &hints);
    if (rc)
      host_lost(h, EDR_ERESOLVE, uv_strerror(rc));
    return;
  }
  case EDR_STEP_PUSH_AGENT:
    set_state(h, H_BOOT_EXEC);
    drive(h);
    return;
  default:
    break;
  }
  json_t *req = step_request(h, s);
  if (!req) {
    host_fail(h, EDR_ENOMEM, "cannot build the request");
    return;
  }
  int frc = h->run->opts->fill ? h->run->opts->fill(h->run->opts->hook_arg, host_index(h),
                                                    h->step, req) : 0;
  if (frc) {
    json_decref(req);
    host_fail(h, frc, "cannot build the request: %s", edr_strerror(frc));
    return;
  }
  int fd = -1;
  uint64_t size = 0;
  if (s->kind == EDR_STEP_PUSH_SNAPSHOT || s->kind == EDR_STEP_PUSH_TOOL) {
    const char *local = s->kind == EDR_STEP_PUSH_SNAPSHOT ? h->run->plan->snapshot
                                                           : h->m->restore_tool_push;
    fd = open(local, O_RDONLY | O_CLOEXEC);
    size = (uint64_t)json_integer_value(json_object_get(req, "size"));
    if (fd < 0) {
      json_decref(req);
      host_fail(h, edr_from_errno(errno), "cannot open '%s': %s", local, strerror(errno));
      return;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    sr->bytes = size;
    if (h->run->opts->stall_timeout_ms)
      timer_arm(h, h->run->opts->stall_timeout_ms);
  }
  send_request(h, req, fd, size, on_step_reply);
}

/* ---- abort cleanup (prepare phase failed somewhere) --------------------- */

/* Send the requests queued in h->cleanup one by one (a failure is only
 * warned about: they remove etcd-dr's own leftovers), then call
 * h->queue_done. */
static void queue_next(struct host *h, int status, json_t *reply) {
  if (status)
    edr_warn("%s: %s: %s", h->m->name, h->queue_what,
             json_string_value(json_object_get(json_object_get(reply, "error"), "message")));
  if (json_array_size(h->cleanup) == 0) {
    h->queue_done(h);
    return;
  }
  json_t *req = json_incref(json_array_get(h->cleanup, 0));
  json_array_remove(h->cleanup, 0);
  timer_arm(h, 30000);
  send_request(h, req, -1, 0, queue_next);
}

static void queue_run(struct host *h, const char *what, void (*done)(struct host *)) {
  h->queue_what = what;
  h->queue_done = done;
  queue_next(h, 0, NULL);
}

static void resume_after_restage(struct host *h) {
  set_state(h, H_IDLE);
  advance(h);
}

/* A fresh queue removing this run's staging dirs (and nothing else). */
static void queue_staging_removal(struct host *h) {
  json_decref(h->cleanup);
  h->cleanup = json_array();
  json_array_append_new(h->cleanup, json_pack("{s:s, s:s}", "op", "remove", "path",
                                              h->hp->staging));
  if (h->hp->wal_staging)
    json_array_append_new(h->cleanup, json_pack("{s:s, s:s}", "op", "remove", "path",
                                                h->hp->wal_staging));
}

/* Remove what this run staged on the host: nothing else is touched. */
static void abort_cleanup(struct host *h) {
  h->cleaned = true;
  if (!h->conn_ok || !h->agent_up) {
    start_close(h);
    return;
  }
  queue_staging_removal(h);
  if (h->locked)
    json_array_append_new(h->cleanup, json_pack("{s:s, s:s, s:s}", "op", "unlock", "path",
                                                h->hp->lock_path, "run_id",
                                                h->run->plan->run_id));
  queue_run(h, "cleanup", start_close);
}

/* A playbook stopped after changing hosts: they stay as they are (the
 * summary says where), but the lock goes, since no resume will take it
 * over.  A restore keeps its lock pinned for resume and rollback. */
static void abort_release(struct host *h) {
  if (h->run->plan->kind != EDR_PLAN_RUN || h->cleaned || !h->locked || !h->conn_ok ||
      !h->agent_up) {
    start_close(h);
    return;
  }
  h->cleaned = true;
  json_decref(h->cleanup);
  h->cleanup = json_array();
  json_array_append_new(h->cleanup, json_pack("{s:s, s:s, s:s}", "op", "unlock", "path",
                                              h->hp->lock_path, "run_id",
                                              h->run->plan->run_id));
  queue_run(h, "releasing the host lock", start_close);
}

static void on_start_check(struct host *h, int status, json_t *reply) {
  json_t *r = json_object_get(reply, "result");
  h->in_step = false;
  uv_timer_stop(&h->timer);
  if (status || !json_is_true(json_object_get(r, "exists"))) {
    h->res->steps[h->step].started = true;
    host_fail(h, status ? status : EDR_ENOENT,
              "refusing to start etcd: '%s/member/snap/db' is not there, and etcd on an "
              "empty data dir would bootstrap a new empty cluster", h->m->data_dir);
    return;
  }
  set_state(h, H_IDLE);
  advance(h);
}

/* Resume: the host's marker lists "INDEX KIND" of each apply step done to
 * it; a missing marker means none. */
static void on_marker(struct host *h, int status, json_t *reply) {
  const char *text = status ? NULL
                            : json_string_value(json_object_get(json_object_get(reply, "result"),
                                                                "text"));
  json_decref(h->marker_done);
  h->marker_done = json_array();
  for (const char *p = text; p && *p;) {
    char *end;
    long idx = strtol(p, &end, 10);
    if (end != p)
      json_array_append_new(h->marker_done, json_integer(idx));
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  uv_timer_stop(&h->timer);
  set_state(h, H_IDLE);
  advance(h);
}

/* Resume: is step S (the host's current one) done already?  Checks always
 * run again; prepare is skipped once apply had started anywhere (every host
 * had finished it: the barrier); an apply step is skipped when the journal
 * says it finished, or, for an install cut short, when the probe shows the
 * member dir back in place (the rename happened, its journal line did not). */
/* Is step K of host H recorded as done, by the journal or by the host? */
static bool step_done(const struct host *h, size_t k) {
  json_t *rs = h->run->opts->resume;
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(json_object_get(rs, "hosts"), h->m->name), i, v)
    if ((size_t)json_integer_value(v) == k)
      return true;
  json_array_foreach(h->marker_done, i, v)
    if ((size_t)json_integer_value(v) == k)
      return true;
  return false;
}

static bool resume_skip(struct host *h, const struct edr_step *s) {
  json_t *rs = h->run->opts->resume;
  enum edr_phase ph = edr_step_kinds[s->kind].phase;
  if (ph == EDR_PHASE_CHECK)
    return false;
  if (ph == EDR_PHASE_PREPARE)
    return json_is_true(json_object_get(rs, "apply_started"));
  if (step_done(h, h->step))
    return true;
  /* An install cut short: only if this host's move-aside is recorded done
   * can a member dir in place be the restored one. */
  if (s->kind == EDR_STEP_INSTALL && h->run->plan->kind == EDR_PLAN_RESTORE &&
      json_is_true(json_object_get(json_object_get(h->probe, "data_dir"), "has_member")))
    for (size_t k = 0; k < h->step; k++)
      if (h->hp->steps[k].kind == EDR_STEP_MOVE_ASIDE && step_done(h, k))
        return true;
  return false;
}

/* After a step: go on, wait at a barrier, or stop. */
static void advance(struct host *h) {
  struct run *r = h->run;
  /* A phase change inside check_barrier() can reach a host that an outer
   * loop is about to advance too: never start a step twice. */
  if (h->in_step || h->state != H_IDLE)
    return;
  if (r->aborting) {
    if (r->phase <= EDR_PHASE_PREPARE && !h->cleaned)
      abort_cleanup(h);
    else
      abort_release(h);
    return;
  }
  const struct edr_step *s = cur_step(h);
  if (!s) {
    if (r->plan->kind != EDR_PLAN_CHECK && h->hp->n_steps) /* a check changes nothing */
      h->res->outcome = EDR_HOST_RESTORED;
    start_close(h);
    return;
  }
  if (s->stage > r->stage) {
    set_state(h, H_IDLE);
    check_barrier(r);
    return;
  }
  if (s->kind == EDR_STEP_ASK && r->opts->want_ask &&
      !r->opts->want_ask(r->opts->want_ask_arg, host_index(h))) {
    h->res->steps[h->step].started = h->res->steps[h->step].finished = true;
    h->step++; /* not needed: counts as neither done nor failed */
    advance(h);
    return;
  }
  if (s->kind == EDR_STEP_START && !h->start_checked && !s->allow_empty_start) {
    /* Never start etcd on a data dir without a member: it would bootstrap a
     * new, empty cluster.  One stat before the start. */
    h->start_checked = true;
    char *db = edr_path_join(h->m->data_dir, "member/snap/db");
    json_t *req = db ? json_pack("{s:s, s:s}", "op", "stat", "path", db) : NULL;
    free(db);
    if (!req) {
      host_fail(h, EDR_ENOMEM, "out of memory");
      return;
    }
    h->in_step = true; /* part of the start step, for the barrier */
    h->step_start = edr_now_ms();
    timer_arm(h, 30000);
    send_request(h, req, -1, 0, on_start_check);
    return;
  }
  if (r->opts->resume && !h->marker_read && edr_step_kinds[s->kind].phase == EDR_PHASE_APPLY &&
      r->plan->kind == EDR_PLAN_RESTORE) {
    h->marker_read = true;
    json_t *req = json_pack("{s:s, s:s}", "op", "read", "path", h->hp->marker);
    timer_arm(h, 30000);
    send_request(h, req, -1, 0, on_marker);
    return;
  }
  if (r->opts->resume && resume_skip(h, s)) {
    struct edr_step_result *sr = &h->res->steps[h->step];
    sr->started = sr->finished = true;
    h->res->steps_done++;
    if (edr_step_kinds[s->kind].destructive)
      h->res->outcome = EDR_HOST_PARTIAL;
    h->step++;
    advance(h);
    if (s->kind == EDR_STEP_STOP)
      wake_leader(r);
    return;
  }
  if (r->opts->resume && !h->restaged && edr_step_kinds[s->kind].phase == EDR_PHASE_PREPARE &&
      !json_is_true(json_object_get(r->opts->resume, "apply_started"))) {
    /* prepare is redone from scratch: first remove what it staged before */
    h->restaged = true;
    queue_staging_removal(h);
    queue_run(h, "removing the old staging", resume_after_restage);
    return;
  }
  if (s->kind == EDR_STEP_STOP && r->leader_host >= 0 && h == &r->hosts[r->leader_host] &&
      !others_stopped(r, h)) {
    h->waiting_leader = true; /* woken by wake_leader() */
    return;
  }
  if (h->nothing_moved &&
      (s->kind == EDR_STEP_MOVE_ASIDE || s->kind == EDR_STEP_MOVE_ASIDE_WAL ||
       s->kind == EDR_STEP_INSTALL || s->kind == EDR_STEP_INSTALL_WAL ||
       ((s->kind == EDR_STEP_STOP || s->kind == EDR_STEP_CHECK_STOPPED ||
         s->kind == EDR_STEP_START) &&
        json_is_true(json_object_get(h->probe, "etcd_running"))))) {
    h->res->steps[h->step].started = h->res->steps[h->step].finished = true;
    h->step++; /* skipped: counts as neither done nor failed */
    advance(h);
    if (s->kind == EDR_STEP_STOP)
      wake_leader(r); /* a leader waiting for this stop goes on */
    return;
  }
  start_step(h);
}

/* ---- the run ------------------------------------------------------------- */

static void gate_finish(struct run *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void health_cb(void *arg, bool done, int status, const struct edr_health_report *rep) {
  struct run *r = arg;
  if (!done) {
    /* one line each time the reason for waiting changes */
    if (rep->problem[0] && strcmp(rep->problem, r->health_problem)) {
      char line[600];
      snprintf(line, sizeof line, "waiting: %s", rep->problem);
      edr_progress_gate(edr_gate_names[r->plan->stages[r->stage].gate], "waiting", line);
      snprintf(r->health_problem, sizeof r->health_problem, "%s", rep->problem);
    }
    return;
  }
  r->health_wait = NULL;
  r->res->health_ms = edr_now_ms() - r->health_start_ms;
  snprintf(r->health_problem, sizeof r->health_problem, "%s", rep ? rep->problem : "");
  const struct edr_stage *st = &r->plan->stages[r->stage];
  if (status == 0) {
    char line[300];
    if (st->gate == EDR_GATE_HEALTH)
      snprintf(line, sizeof line, "healthy in %.2fs: %zu members, one cluster, revision >= %lld",
               (double)r->res->health_ms / 1000.0, r->n,
               (long long)(r->plan->kind == EDR_PLAN_ROLLBACK ? 1
                           : (r->plan->snapshot_revision > 0 ? r->plan->snapshot_revision : 1) +
                                 r->bump));
    else
      snprintf(line, sizeof line, "%s: healthy in %.2fs: %zu member%s, one cluster, "
               "revision >= %lld", st->name, (double)r->res->health_ms / 1000.0,
               st->n_members, st->n_members == 1 ? "" : "s", (long long)r->health_min_rev);
    snprintf(r->gate_note, sizeof r->gate_note, "%s", line);
    gate_finish(r, 0, NULL);
  } else {
    if (st->gate == EDR_GATE_HEALTH)
      r->health_gate_failed = true;
    gate_finish(r, status, "the cluster did not become healthy within %llus: %s",
                (unsigned long long)((st->timeout_ms ? st->timeout_ms
                                                      : r->plan->health_timeout_ms) / 1000),
                rep && rep->problem[0] ? rep->problem : edr_strerror(status));
  }
}

/* Wait until the members of IDX (indices into the plan's hosts; all when
 * NULL) are healthy, one cluster of exactly them, at revision >= MIN_REV. */
static void start_health(struct run *r, const size_t *idx, size_t n, int64_t min_rev,
                         uint64_t timeout_ms, bool others_allowed) {
  const struct edr_plan *p = r->plan;
  free(r->health_members);
  struct edr_health_member *hm = r->health_members = calloc(n ? n : 1, sizeof(*hm));
  if (!hm) {
    gate_finish(r, EDR_ENOMEM, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const struct edr_member *m = p->hosts[idx ? idx[i] : i].member;
    hm[i].name = m->name;
    hm[i].client_url = m->client_urls.v[0];
    hm[i].peer_urls = (const char *const *)m->peer_urls.v;
    hm[i].n_peer_urls = m->peer_urls.n;
  }
  struct edr_health_opts ho = {
    .min_revision = min_rev,
    .timeout_ms = timeout_ms,
    .interval_ms = 100,
    .others_allowed = others_allowed,
  };
  r->health_min_rev = min_rev;
  ho.tls.cacert = getenv("ETCDCTL_CACERT");
  ho.tls.cert = getenv("ETCDCTL_CERT");
  ho.tls.key = getenv("ETCDCTL_KEY");
  r->health_problem[0] = '\0';
  r->health_start_ms = edr_now_ms();
  int rc = edr_health_wait_start_cancelable(&r->loop, hm, n, &ho, health_cb, r,
                                            &r->health_wait);
  if (rc)
    gate_finish(r, rc, "cannot wait for health: %s", edr_strerror(rc));
}

/* --bump-revision auto: clear the highest revision any host's old data
 * reached, with a margin for what its WAL held beyond the db.  Every member
 * must get the same bump.  Returns non-zero (after failing the run) when it
 * cannot be computed. */
static int compute_bump(struct run *r) {
  const struct edr_plan *p = r->plan;
  r->bump = p->bump_revision > 0 ? p->bump_revision : 0;
  if (p->bump_revision >= 0 || (p->kind != EDR_PLAN_RESTORE && p->kind != EDR_PLAN_RUN))
    return 0;
  int64_t high = -1;
  for (size_t i = 0; i < r->n; i++) {
    json_t *rev = json_object_get(json_object_get(r->hosts[i].probe, "data_dir"), "revision");
    if (json_is_integer(rev) && json_integer_value(rev) > high)
      high = json_integer_value(rev);
  }
  if (high < 0) {
    host_fail(&r->hosts[0], EDR_EINVAL, "--bump-revision auto: no host has old data to "
              "read a revision from; give the bump as a number");
    return EDR_EINVAL;
  }
  int64_t snap = p->snapshot_revision > 0 ? p->snapshot_revision : 0;
  int64_t margin = high / 10 > 1000 ? high / 10 : 1000;
  r->bump = (high > snap ? high - snap : 0) + margin;
  edr_info("--bump-revision auto: highest old revision %lld, snapshot revision %lld: "
           "bumping by %lld", (long long)high, (long long)snap, (long long)r->bump);
  return 0;
}

static bool host_settled(const struct host *h) {
  return h->state == H_CLOSED || (h->state == H_IDLE && !h->in_step && !h->waiting_leader);
}

/* Stopping every member of a running cluster at once makes etcd's leader
 * try to hand leadership to members that are going away (~7 s stall, see
 * docs/BENCHMARKS.md).  So when two or more members run, find the leader
 * (over HTTP, bounded) and stop it last.  Started at the check barrier.
 * Only /v3/maintenance/status is asked: a member answers it from its own
 * state, with or without quorum (asking /health and the alarms too made
 * the ask wait out its 1.5 s timeout after a lost quorum).  It can still
 * take that long (a member that accepts and does not answer), so when the next
 * stage stops nothing and has no gate (a restore's prepare), it runs on
 * libuv's thread pool while the hosts go on; check_barrier() then waits
 * for it before any later stage, and leader_done() calls it again.  The
 * job owns its rows; it only reads the spec, which nobody changes. */
struct leader_job {
  uv_work_t work;
  struct run *r;
  struct edr_status_row *rows;
  size_t n;
  struct edr_status_fetch_opts o;
  long leader;
};

static void leader_ask(struct leader_job *j) {
  j->leader = -1;
  if (edr_status_fetch(j->rows, j->n, &j->o) == 0)
    for (size_t i = 0; i < j->n; i++)
      if (j->rows[i].have_status && j->rows[i].leader &&
          j->rows[i].leader == j->rows[i].member_id)
        j->leader = (long)i;
}

static void leader_work(uv_work_t *w) { leader_ask(w->data); }

static void leader_apply(struct leader_job *j) {
  struct run *r = j->r;
  r->leader_host = j->leader;
  const char *name = r->leader_host >= 0 ? r->hosts[r->leader_host].m->name : NULL;
  r->res->leader = name;
  json_t *f = json_pack("{s:s?}", "member", name);
  edr_journal_event(r->opts->journal, "leader", f); /* what the stop order rests on */
  json_decref(f);
  if (name && !r->aborting) /* nothing is stopped in an abort */
    edr_info("%s leads the running cluster: it stops last, after the others", name);
  edr_status_rows_release(j->rows, j->n);
  free(j->rows);
  free(j);
}

static void leader_done(uv_work_t *w, int status) {
  struct leader_job *j = w->data;
  struct run *r = j->r;
  if (status != 0)
    j->leader = -1;
  leader_apply(j);
  r->leader_pending = false;
  check_barrier(r);
}

static bool stage_has_stop(const struct run *r, size_t k) {
  for (size_t i = 0; i < r->n; i++)
    for (size_t j = 0; j < r->hosts[i].hp->n_steps; j++)
      if (r->hosts[i].hp->steps[j].stage == k &&
          r->hosts[i].hp->steps[j].kind == EDR_STEP_STOP)
        return true;
  return false;
}

static void find_leader(struct run *r) {
  size_t running = 0;
  r->leader_host = -1;
  if (r->plan->kind == EDR_PLAN_CHECK || r->plan->kind == EDR_PLAN_SNAPSHOT)
    return; /* nothing is stopped */
  for (size_t i = 0; i < r->n; i++)
    running += json_is_true(json_object_get(r->hosts[i].probe, "etcd_running"));
  if (running < 2)
    return;
  struct leader_job *j = calloc(1, sizeof(*j));
  if (!j || !(j->rows = calloc(r->n, sizeof(*j->rows)))) {
    free(j);
    return;
  }
  j->r = r;
  j->n = r->n;
  j->work.data = j;
  for (size_t i = 0; i < r->n; i++)
    edr_status_row_init(&j->rows[i], r->hosts[i].m->name, r->hosts[i].m->client_urls.v[0]);
  j->o = (struct edr_status_fetch_opts){.timeout_ms = 1500, .status_only = true};
  j->o.tls.cacert = getenv("ETCDCTL_CACERT");
  j->o.tls.cert = getenv("ETCDCTL_CERT");
  j->o.tls.key = getenv("ETCDCTL_KEY");
  size_t next = r->stage + 1;
  bool later = next < r->plan->n_stages && r->plan->stages[next].gate == EDR_GATE_NONE &&
               !stage_has_stop(r, next);
  if (later && uv_queue_work(&r->loop, &j->work, leader_work, leader_done) == 0) {
    r->leader_pending = true;
    return;
  }
  leader_ask(j); /* the next stage needs the answer: ask now */
  leader_apply(j);
}

/* Has every other host that is still going finished its stop? */
static bool others_stopped(const struct run *r, const struct host *leader) {
  for (size_t i = 0; i < r->n; i++) {
    const struct host *o = &r->hosts[i];
    if (o == leader || o->failed || o->state == H_CLOSED)
      continue;
    for (size_t k = 0; k < o->hp->n_steps; k++)
      if (o->hp->steps[k].kind == EDR_STEP_STOP && !o->res->steps[k].finished)
        return false;
  }
  return true;
}

static void wake_leader(struct run *r) {
  if (r->leader_host < 0)
    return;
  struct host *l = &r->hosts[r->leader_host];
  if (l->waiting_leader && (r->aborting || others_stopped(r, l))) {
    l->waiting_leader = false;
    advance(l);
  }
}

/* ---- stages and gates ---------------------------------------------------- */

static void enter_stage(struct run *r, size_t k) {
  const struct edr_plan *p = r->plan;
  const struct edr_stage *st = &p->stages[k];
  r->stage = k;
  r->gate_note[0] = '\0';
  r->gate_done = r->gate_failed = false;
  r->gate_attempts = 0;
  if (st->phase > r->phase)
    r->phase = st->phase;
  bool steps = st->gate != EDR_GATE_NONE;
  for (size_t i = 0; i < r->n && !steps; i++)
    for (size_t j = 0; j < r->hosts[i].hp->n_steps; j++)
      steps |= r->hosts[i].hp->steps[j].stage == k;
  if (p->kind == EDR_PLAN_RUN && steps)
    edr_info("step %s%s%s", st->name, st->title ? ": " : "", st->title ? st->title : "");
  else if (p->kind != EDR_PLAN_RUN && st->phase == EDR_PHASE_APPLY)
    edr_info("every host is prepared; applying (stop etcd, swap member dirs, start)");
  /* A host with nothing to do in this stage goes idle at once: the barrier
   * must not be judged before every host was given its step. */
  r->launched = false;
  for (size_t i = 0; i < r->n; i++)
    advance(&r->hosts[i]);
  r->launched = true;
  check_barrier(r); /* also a stage where no host has a step */
}

/* Ask the operator on the terminal.  Returns true to go on; false after
 * declining (the run is then stopping). */
static bool confirm(struct run *r, const char *message) {
  edr_progress_hide();
  fputc('\n', stderr);
  if (!message) {
    if (!r->opts->decide) /* else decide() has said what will be done */
      edr_plan_print(r->plan, stderr);
    fprintf(stderr, "\nEvery check passed and nothing has been changed yet. The next step "
                    "(%s) changes the hosts.\n", r->plan->stages[r->first_destructive].name);
  } else {
    fprintf(stderr, "%s\n", message);
  }
  fprintf(stderr, "Type \"yes\" to go on, anything else to stop: ");
  fflush(stderr);
  char line[64] = "";
  FILE *tty = fopen("/dev/tty", "r");
  bool yes = tty && fgets(line, sizeof line, tty) && !strcmp(line, "yes\n");
  if (tty)
    fclose(tty);
  edr_progress_show();
  json_t *f = json_pack("{s:s}", "before", r->plan->stages[r->stage + (message ? 0 : 1)].name);
  edr_journal_event(r->opts->journal, yes ? "confirmed" : "declined", f);
  json_decref(f);
  if (yes)
    return true;
  edr_err("not confirmed: stopping%s", r->phase <= EDR_PHASE_PREPARE
                                           ? "; no host has been changed" : "");
  r->declined = true;
  r->stop_requested = true;
  check_barrier(r);
  return false;
}

static void gate_timer_cb(uv_timer_t *t);
static void start_gate(struct run *r);

/* Gates go into the journal as run-level events (never as a host's steps,
 * which resume reads). */
static void journal_gate(struct run *r, const char *event, int status, const char *msg) {
  const struct edr_stage *st = &r->plan->stages[r->stage];
  struct edr_gate_result *g = r->res->gates ? &r->res->gates[r->stage] : NULL;
  if (g && !strcmp(event, "start") && !g->started) {
    g->started = true;
    r->gate_start_ms = edr_now_ms();
  } else if (g && !strcmp(event, "retry")) {
    g->retries++;
  } else if (g && strcmp(event, "start")) {
    g->finished = true;
    g->status = status;
    g->duration_ms = edr_now_ms() - r->gate_start_ms;
    free(g->message);
    g->message = msg ? strdup(msg) : (r->gate_note[0] ? strdup(r->gate_note) : NULL);
  }
  json_t *f = json_pack("{s:I, s:s, s:s, s:s, s:i, s:s?}", "stage", (json_int_t)r->stage,
                        "name", st->name, "gate", edr_gate_names[st->gate], "state", event,
                        "status", status, "message", msg);
  edr_journal_event(r->opts->journal, "gate", f);
  json_decref(f);
}

static void gate_finish(struct run *r, int status, const char *fmt, ...) {
  const struct edr_stage *st = &r->plan->stages[r->stage];
  char msg[1024] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
  }
  r->gate_running = false;
  if (status && status != EDR_ECANCELED && r->gate_attempts < st->retries && !r->interrupted) {
    r->gate_attempts++;
    edr_warn("%s (%s) failed: %s; trying again in %.1fs (%u of %u)", st->name,
             edr_gate_names[st->gate], msg, (double)st->retry_delay_ms / 1000.0,
             r->gate_attempts, st->retries);
    journal_gate(r, "retry", status, msg);
    r->gate_running = true;
    uv_timer_start(&r->gate_timer, gate_timer_cb, st->retry_delay_ms, 0);
    return;
  }
  journal_gate(r, status ? "failed" : "done", status, status ? msg : NULL);
  if (status && st->continue_on_failure && status != EDR_ECANCELED) {
    edr_warn("%s (%s) failed: %s; going on (on_failure: continue)", st->name,
             edr_gate_names[st->gate], msg);
    status = 0;
  }
  r->gate_done = true;
  if (!status)
    edr_progress_gate(edr_gate_names[st->gate], "done",
                      r->gate_note[0] ? r->gate_note : st->name);
  if (status) {
    if (r->plan->kind == EDR_PLAN_RUN)
      edr_err("%s: %s%s%s", st->name, msg, st->note ? "\n  " : "", st->note ? st->note : "");
    else
      edr_err("%s", msg);
    edr_progress_gate(edr_gate_names[st->gate], "failed", msg);
    r->gate_failed = true;
    free(r->res->message);
    r->res->message = strdup(msg);
    r->stop_requested = true;
  }
  check_barrier(r);
}

/* The client URLs of every member but EXCEPT (or all), in spec order. */
static const char **other_urls(const struct run *r, size_t except, size_t *n) {
  const char **v = calloc(r->n + 1, sizeof(char *));
  *n = 0;
  for (size_t i = 0; v && i < r->n; i++)
    if (i != except)
      v[(*n)++] = r->plan->hosts[i].member->client_urls.v[0];
  return v;
}

static void env_tls(struct edr_tls *t) {
  t->cacert = getenv("ETCDCTL_CACERT");
  t->cert = getenv("ETCDCTL_CERT");
  t->key = getenv("ETCDCTL_KEY");
}

static void gate_members(struct run *r, const struct edr_stage *st) {
  size_t target = st->n_members ? st->members[0] : 0, n = 0;
  const struct edr_member *m = r->plan->hosts[target].member;
  const char **urls = other_urls(r, target, &n);
  struct edr_tls tls = {0};
  char err[1024] = "", id[17] = "";
  bool already = false;
  int rc;
  env_tls(&tls);
  if (!urls) {
    gate_finish(r, EDR_ENOMEM, "out of memory");
    return;
  }
  uint64_t to = st->timeout_ms ? st->timeout_ms : 10000;
  if (st->gate == EDR_GATE_MEMBER_ADD)
    rc = edr_members_add(urls, n, &tls, to, (const char *const *)m->peer_urls.v,
                         m->peer_urls.n, id, &already, err, sizeof err);
  else
    rc = edr_members_remove(urls, n, &tls, to, m->name, (const char *const *)m->peer_urls.v,
                            m->peer_urls.n, &already, err, sizeof err);
  free(urls);
  if (rc) {
    gate_finish(r, rc, "%s %s: %s", edr_gate_names[st->gate], m->name, err);
    return;
  }
  if (st->gate == EDR_GATE_MEMBER_ADD)
    snprintf(r->gate_note, sizeof r->gate_note, "%s: %s %s as member %s", st->name,
             already ? "already a member:" : "added", m->name, id);
  else
    snprintf(r->gate_note, sizeof r->gate_note, "%s: %s %s", st->name, m->name,
             already ? "was not a member (nothing to remove)" : "removed from the cluster");
  gate_finish(r, 0, NULL);
}

static void gate_snapshot(struct run *r, const struct edr_stage *st) {
  struct edr_save_opts so = {.out = st->output, .dir = st->dir};
  struct edr_save_result *res = calloc(1, sizeof(*res));
  if (!res) {
    gate_finish(r, EDR_ENOMEM, "out of memory");
    return;
  }
  env_tls(&so.tls);
  if (st->n_members == 1)
    so.member = r->plan->hosts[st->members[0]].member->name;
  int rc = edr_snapshot_save(r->plan->spec, &so, res);
  if (!rc && st->dir && st->keep) {
    char msg[1024];
    rc = edr_snapshot_prune(st->dir, st->keep, res->path, msg, sizeof msg);
    if (rc)
      snprintf(res->msg, sizeof res->msg, "%s", msg);
  }
  if (rc) {
    gate_finish(r, rc, "snapshot: %s", res->msg);
  } else {
    char line[6000];
    char hb[32];
    edr_human_bytes(res->size, hb, sizeof hb);
    snprintf(line, sizeof line, "%s: saved %s (%s, revision %lld) from %s", st->name, res->path,
             hb, (long long)res->revision, res->source);
    snprintf(r->gate_note, sizeof r->gate_note, "%.1000s", line);
    gate_finish(r, 0, NULL);
  }
  free(res);
}

/* wait-healthy: the revision to reach is, by default, the highest one a
 * target member serves now (so a member that just joined has caught up). */
static void gate_wait_healthy(struct run *r, const struct edr_stage *st) {
  int64_t min = st->min_revision;
  if (min == -2)
    min = r->plan->snapshot_revision > 0 ? r->plan->snapshot_revision + r->bump : 1;
  if (min == -1) {
    min = 1;
    struct edr_status_row *rows = calloc(st->n_members, sizeof(*rows));
    if (!rows) {
      gate_finish(r, EDR_ENOMEM, "out of memory");
      return;
    }
    for (size_t i = 0; i < st->n_members; i++) {
      const struct edr_member *m = r->plan->hosts[st->members[i]].member;
      edr_status_row_init(&rows[i], m->name, m->client_urls.v[0]);
    }
    struct edr_status_fetch_opts o = {.timeout_ms = 2000};
    env_tls(&o.tls);
    if (edr_status_fetch(rows, st->n_members, &o) == 0)
      for (size_t i = 0; i < st->n_members; i++)
        if (rows[i].have_status && rows[i].revision > min)
          min = rows[i].revision;
    edr_status_rows_release(rows, st->n_members);
    free(rows);
  }
  start_health(r, st->members, st->n_members, min,
               st->timeout_ms ? st->timeout_ms : r->plan->health_timeout_ms,
               st->others_allowed);
}

static void gate_timer_cb(uv_timer_t *t) {
  struct run *r = t->data;
  const struct edr_stage *st = &r->plan->stages[r->stage];
  r->gate_running = false;
  if (st->gate == EDR_GATE_PAUSE) { /* the pause is over (a pause never fails) */
    gate_finish(r, r->interrupted ? EDR_ECANCELED : 0, r->interrupted ? "interrupted" : NULL);
    return;
  }
  start_gate(r); /* a retry */
}

static void start_gate(struct run *r) {
  const struct edr_stage *st = &r->plan->stages[r->stage];
  r->gate_running = true;
  journal_gate(r, "start", 0, NULL);
  {
    char line[600];
    snprintf(line, sizeof line, "%s: %s", st->name, st->title ? st->title
                                                  : edr_gate_names[st->gate]);
    if (st->gate != EDR_GATE_CONFIRM)
      edr_progress_gate(edr_gate_names[st->gate], "start", line);
  }
  switch (st->gate) {
  case EDR_GATE_HEALTH:
    edr_info("every member started; waiting for the cluster to become healthy");
    start_health(r, NULL, r->n,
                 r->plan->kind == EDR_PLAN_ROLLBACK
                     ? 1 : (r->plan->snapshot_revision > 0 ? r->plan->snapshot_revision : 1) +
                               r->bump,
                 st->timeout_ms ? st->timeout_ms : r->plan->health_timeout_ms, false);
    return;
  case EDR_GATE_WAIT_HEALTHY:
    gate_wait_healthy(r, st);
    return;
  case EDR_GATE_MEMBER_ADD:
  case EDR_GATE_MEMBER_REMOVE:
    gate_members(r, st);
    return;
  case EDR_GATE_SNAPSHOT_SAVE:
    gate_snapshot(r, st);
    return;
  case EDR_GATE_CONFIRM:
    r->gate_running = false;
    if (!r->opts->assume_yes && edr_exec_interactive() && !confirm(r, st->message))
      return;
    if (r->opts->assume_yes || !edr_exec_interactive())
      edr_info("%s: %s: going on without asking (%s)", st->name,
               st->message ? st->message : "confirm",
               r->opts->assume_yes ? "--yes" : "not on a terminal");
    snprintf(r->gate_note, sizeof r->gate_note, "%s", r->opts->assume_yes ? "--yes"
             : edr_exec_interactive() ? "confirmed by the operator" : "not on a terminal");
    gate_finish(r, 0, NULL);
    return;
  case EDR_GATE_PAUSE:
    edr_progress_gate("pause", "waiting", st->title ? st->title : "pause");
    uv_timer_start(&r->gate_timer, gate_timer_cb, st->pause_ms, 0);
    return;
  case EDR_GATE_NONE:
  case EDR_GATE__COUNT:
    break;
  }
  gate_finish(r, 0, NULL);
}

/* Called whenever a host stops moving: decide what the run does next. */
static void check_barrier(struct run *r) {
  bool any_failed = false, all_settled = true;
  if (!r->launched)
    return; /* a host without steps closed before the others started theirs */
  for (size_t i = 0; i < r->n; i++) {
    any_failed |= r->hosts[i].failed;
    all_settled &= host_settled(&r->hosts[i]);
  }
  if ((any_failed || r->interrupted || r->stop_requested) && !r->aborting) {
    r->aborting = true;
    wake_leader(r);
    if (r->phase <= EDR_PHASE_PREPARE)
      edr_info("stopping: no host has been changed; removing what was staged");
    else if (r->phase == EDR_PHASE_APPLY)
      edr_info("stopping every host at its next step boundary");
    for (size_t i = 0; i < r->n; i++) {
      struct host *h = &r->hosts[i];
      if (h->state == H_IDLE && !h->in_step)
        advance(h); /* a failed or waiting host: clean up or close */
    }
    return;
  }
  if (r->aborting) {
    for (size_t i = 0; i < r->n; i++) {
      struct host *h = &r->hosts[i];
      if (h->state == H_IDLE && !h->in_step && h->failed && !h->cleaned &&
          r->phase <= EDR_PHASE_PREPARE)
        abort_cleanup(h);
      else if (h->state == H_IDLE && !h->in_step && h->failed)
        abort_release(h);
    }
    return;
  }
  if (!all_settled || r->gate_running)
    return;
  if (r->leader_pending)
    return; /* leader_done() comes back here */
  const struct edr_stage *st = &r->plan->stages[r->stage];
  if (st->gate != EDR_GATE_NONE && !r->gate_done) {
    start_gate(r);
    return;
  }
  if (r->stage + 1 >= r->plan->n_stages)
    return; /* the run is over: every host closes after its last step */
  if (r->stage == 0) {
    find_leader(r);
    if (compute_bump(r))
      return; /* the host_fail inside has started the abort */
  }
  bool ask = r->plan->confirm;
  if (r->stage + 1 == r->first_destructive && r->opts->decide && !r->decided) {
    r->decided = true;
    edr_progress_hide(); /* decide() prints: not into the live block */
    ask = r->opts->decide(r->opts->hook_arg, r->res) && ask;
    edr_progress_show();
  }
  if (ask && !r->opts->assume_yes && edr_exec_interactive() &&
      r->stage + 1 == r->first_destructive && !confirm(r, NULL))
    return;
  enter_stage(r, r->stage + 1);
}

static void on_signal(uv_signal_t *s, int signum) {
  struct run *r = s->data;
  if (r->interrupted) {
    edr_err("interrupted twice: exiting now; hosts may be mid-step");
    _exit(EDR_EXIT_INTERRUPTED);
  }
  edr_err("interrupted (signal %d): stopping at the next safe point; interrupt again "
          "to exit at once", signum);
  r->interrupted = true;
  if (r->health_wait)
    edr_health_wait_cancel(r->health_wait);
  if (r->gate_running && r->plan->stages[r->stage].gate == EDR_GATE_PAUSE) {
    uv_timer_stop(&r->gate_timer);
    r->gate_running = false;
    gate_finish(r, EDR_ECANCELED, "interrupted");
    return;
  }
  check_barrier(r);
}

static void walk_close(uv_handle_t *hd, void *arg) {
  (void)arg;
  if (!uv_is_closing(hd))
    uv_close(hd, NULL);
}

/* The local agent: its size and sha-256 (the host checks what it received). */
static int agent_info(struct run *r) {
  struct edr_snapfile sf;
  int rc = edr_snapfile_check(r->agent_path, &sf);
  if (rc)
    return rc;
  memcpy(r->agent_sha256, sf.file_sha256, sizeof r->agent_sha256);
  r->agent_size = sf.size;
  return 0;
}

char *edr_find_agent(void) {
  const char *env = getenv("ETCD_DR_AGENT");
  if (env && *env)
    return access(env, R_OK) == 0 ? strdup(env) : NULL;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return NULL;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash)
    return NULL;
  *slash = '\0';
  static const char *const rel[] = {"/etcd-dr-agent", "/../libexec/etcd-dr/etcd-dr-agent"};
  for (size_t i = 0; i < 2; i++) {
    char *p = edr_asprintf("%s%s", self, rel[i]);
    if (p && access(p, R_OK) == 0)
      return p;
    free(p);
  }
  return NULL;
}

int edr_execute(const struct edr_plan *plan, const struct edr_exec_opts *o,
                struct edr_run_result *res) {
  struct run r = {.plan = plan, .opts = o, .res = res, .n = plan->n_hosts, .leader_host = -1};
  memset(res, 0, sizeof(*res));
  res->n_hosts = plan->n_hosts;
  res->hosts = calloc(plan->n_hosts, sizeof(*res->hosts));
  r.hosts = calloc(plan->n_hosts, sizeof(*r.hosts));
  r.started_ms = edr_now_ms();
  if (!res->hosts || !r.hosts) {
    free(r.hosts);
    res->exit_code = EDR_EXIT_INTERNAL;
    res->message = strdup("out of memory");
    return res->exit_code;
  }
  res->gates = calloc(plan->n_stages ? plan->n_stages : 1, sizeof(*res->gates));
  res->n_stages = res->gates ? plan->n_stages : 0;
  for (size_t i = 0; i < r.n; i++) {
    res->hosts[i].member = plan->hosts[i].member->name;
    res->hosts[i].steps = calloc(plan->hosts[i].n_steps, sizeof(struct edr_step_result));
    res->hosts[i].n_steps = plan->hosts[i].n_steps;
  }
  r.agent_path = o->agent_path ? strdup(o->agent_path) : edr_find_agent();
  int rc = r.agent_path ? agent_info(&r) : EDR_ENOENT;
  if (rc) {
    res->exit_code = EDR_EXIT_INTERNAL;
    res->message = edr_asprintf("cannot find or read etcd-dr-agent%s%s (set ETCD_DR_AGENT "
                                "to its path)", r.agent_path ? " at " : "",
                                r.agent_path ? r.agent_path : "");
    free(r.agent_path);
    free(r.hosts);
    return res->exit_code;
  }
  uv_loop_init(&r.loop);
  uv_signal_init(&r.loop, &r.sigint);
  uv_signal_init(&r.loop, &r.sigterm);
  r.sigint.data = r.sigterm.data = &r;
  uv_signal_start(&r.sigint, on_signal, SIGINT);
  uv_signal_start(&r.sigterm, on_signal, SIGTERM);
  /* Signals must not keep the loop alive once every host is done. */
  uv_unref((uv_handle_t *)&r.sigint);
  uv_unref((uv_handle_t *)&r.sigterm);
  uv_timer_init(&r.loop, &r.gate_timer);
  r.gate_timer.data = &r;
  r.first_destructive = edr_plan_first_destructive(plan);
  for (size_t i = 0; i < r.n; i++) {
    struct host *h = &r.hosts[i];
    h->run = &r;
    h->hp = &plan->hosts[i];
    h->m = h->hp->member;
    h->res = &res->hosts[i];
    h->agent_fd = h->payload_fd = -1;
    edr_ssh_init(&h->ssh);
    uv_timer_init(&r.loop, &h->timer);
    h->timer.data = h;
    uv_timer_init(&r.loop, &h->retry_timer);
    h->retry_timer.data = h;
    h->buf = malloc(PUSH_BUF);
    if (!h->buf || !h->res->steps) {
      host_fail(h, EDR_ENOMEM, "out of memory");
      continue;
    }
  }
  const char **names = calloc(r.n, sizeof(char *));
  for (size_t i = 0; names && i < r.n; i++)
    names[i] = plan->hosts[i].member->name;
  if (names)
    edr_progress_begin(&r.loop, r.n, names);
  for (size_t i = 0; i < r.n; i++)
    if (!r.hosts[i].failed)
      advance(&r.hosts[i]);
  r.launched = true;
  check_barrier(&r); /* hosts may all be idle already (no steps, or failed) */
  uv_run(&r.loop, UV_RUN_DEFAULT);
  edr_progress_end();
  free(names);

  /* Everything has settled.  A host that is neither closed nor failed was
   * left waiting by a bug: never report such a run as a success. */
  for (size_t i = 0; i < r.n; i++) {
    struct host *h = &r.hosts[i];
    if (h->state != H_CLOSED && !h->failed) {
      h->failed = true;
      h->res->status = EDR_EINTERNAL;
      free(h->res->message);
      h->res->message = edr_asprintf("the run stalled at step %zu (%s): an etcd-dr bug; "
                                     "the summary says where the host stands", h->step + 1,
                                     step_name(h));
      edr_err("%s: %s", h->m->name, h->res->message ? h->res->message : "stalled");
    }
  }
  bool any_failed = false, any_changed = false;
  for (size_t i = 0; i < r.n; i++) {
    any_failed |= r.hosts[i].failed;
    any_changed |= res->hosts[i].outcome != EDR_HOST_UNTOUCHED;
  }
  if (r.declined)
    res->exit_code = EDR_EXIT_DECLINED;
  else if (r.interrupted) /* whatever else happened: the summary says where hosts stand */
    res->exit_code = EDR_EXIT_INTERRUPTED;
  else if (r.health_gate_failed && !any_failed)
    res->exit_code = EDR_EXIT_UNHEALTHY;
  else if (any_failed || r.gate_failed)
    res->exit_code = any_changed ? EDR_EXIT_APPLY : EDR_EXIT_PREFLIGHT;
  else
    res->exit_code = 0;
  if (r.health_gate_failed) {
    free(res->message);
    res->message = strdup(r.health_problem[0] ? r.health_problem : "cluster not healthy");
  }
  res->duration_ms = edr_now_ms() - r.started_ms;

  for (size_t i = 0; i < r.n; i++) {
    struct host *h = &r.hosts[i];
    edr_ssh_free(&h->ssh);
    if (h->ai)
      uv_freeaddrinfo(h->ai);
    free(h->buf);
    free(h->req);
    free(h->line);
    json_decref(h->probe);
    json_decref(h->cleanup);
    json_decref(h->marker_done);
    if (h->agent_fd >= 0)
      close(h->agent_fd);
    if (h->payload_fd >= 0)
      close(h->payload_fd);
  }
  uv_walk(&r.loop, walk_close, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  uv_loop_close(&r.loop);
  free(r.health_members);
  free(r.hosts);
  free(r.agent_path);
  return res->exit_code;
}

void edr_run_result_free(struct edr_run_result *res) {
  for (size_t i = 0; i < res->n_hosts; i++) {
    struct edr_host_result *hr = &res->hosts[i];
    for (size_t j = 0; hr->steps && j < hr->n_steps; j++) {
      free(hr->steps[j].message);
      json_decref(hr->steps[j].result);
    }
    free(hr->steps);
    free(hr->message);
  }
  free(res->hosts);
  for (size_t k = 0; k < res->n_stages; k++)
    free(res->gates[k].message);
  free(res->gates);
  free(res->message);
  memset(res, 0, sizeof(*res));
}
