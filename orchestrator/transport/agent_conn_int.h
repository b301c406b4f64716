/*
 * agent_conn_int.h - what agent_conn.c and agent_boot.c share, private to
 * them: the connection's states and its struct, the helpers every state
 * uses, and the bootstrap's states (agent_boot.c) that the driver in
 * agent_conn.c runs.  agent_conn.c owns the connection; agent_boot.c only
 * moves it through the bootstrap and the agent's start.
 */
#ifndef EDR_AGENT_CONN_INT_H
#define EDR_AGENT_CONN_INT_H

#include "agent_conn.h"

#include "proxy.h"
#include "ssh.h"
#include "str.h"

#include <jansson.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct edr_zsrc;

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
  bool agent_gz;             /* the agent goes gzip'd (the bootstrap said "gzip") */
  uint64_t agent_size;       /* the bytes pushed: the .gz's or the agent's size */
  uint64_t agent_sent;
  uint64_t boot_t0;          /* uv_hrtime() of the agent push's start */
  uint64_t boot_t1;          /* ... and of the host's answer that all arrived;
                                0: not measured */
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

/* Log at LEVEL through the events (the host's name is the caller's). */
void conn_logf(struct edr_agent_conn *c, enum edr_agent_log level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The only place a state changes (and logs it, at -vv). */
void conn_set_state(struct edr_agent_conn *c, enum cstate s);
/* Arm the deadline: MS from now the `timeout` event fires. */
void conn_timer_arm(struct edr_agent_conn *c, uint64_t ms);
/* What was under way failed; LOST: nothing more can be said to this host. */
void conn_fail(struct edr_agent_conn *c, int code, bool lost, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Drain a channel's stderr into the tail buffer. */
void conn_drain_stderr(struct edr_agent_conn *c, struct edr_chan *ch);
/* The last line of stderr, trimmed, for messages. */
const char *conn_stderr_last(struct edr_agent_conn *c);
/* Send bytes from FD, or from Z's compressed stream when Z is set, through
 * channel CH; 0 when all SIZE (all of Z's stream) were sent. */
int conn_push_fd(struct edr_agent_conn *c, struct edr_chan *ch, int fd, struct edr_zsrc *z,
                 uint64_t size, uint64_t *sent);
/* Send request R (its JSON and payload become the connection's). */
void conn_send_request(struct edr_agent_conn *c, struct edr_agent_request *r);

/* The bootstrap's states (agent_boot.c): each returns 0 when it moved the
 * state on, EDR_EAGAIN when libssh2 must wait, or a failure it reported. */
int st_boot_exec(struct edr_agent_conn *c);
int st_boot_arch(struct edr_agent_conn *c);
int st_boot_send(struct edr_agent_conn *c);
int st_boot_read(struct edr_agent_conn *c);
int st_boot_close(struct edr_agent_conn *c);
int st_agent_exec(struct edr_agent_conn *c);

/* The bootstrap command for T's agents into OUT (agent_boot.c); its unit
 * test runs it with a local /bin/sh. */
void edr_boot_script(const struct edr_agent_target *t, char *out, size_t len);

#endif
