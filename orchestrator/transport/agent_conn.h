/*
 * agent_conn.h - one host's connection to its etcd-dr-agent, behind a table
 * of operations the engine calls (struct edr_agent_ops) and a table of
 * events it gets back (struct edr_agent_events).
 *
 * The real one (edr_agent_ssh_ops, agent_conn.c) is one SSH session per
 * host driven by the run's libuv loop: resolve, connect, handshake, host
 * key, authenticate; push the static agent through a bootstrap channel and
 * start it (with sudo -n when asked); then one JSON request line at a time,
 * with an optional payload after it, and its reply line (with the raw bytes
 * of a `send` in between: docs/agent-protocol.md).  A unit test can lend
 * the engine another table (a fake agent) through edr_exec_opts.agent_ops.
 *
 * What the connection owns: the socket, the channels, the request in
 * flight (its line, its payload fd) and one deadline timer.  What it does
 * not know: plans and steps.  The engine builds every request (hello
 * included), judges every reply, and words the failures it decides; the
 * connection words the failures of the transport itself.
 *
 * Every operation and every event runs on the loop's thread.  At most one
 * operation is under way at a time; each ends in exactly one event
 * (connected, reply, failed; closed for close) unless idle() abandons it.
 * After `failed` with LOST set the connection can carry no more requests;
 * close() then only tears down.
 */
#ifndef EDR_AGENT_CONN_H
#define EDR_AGENT_CONN_H

#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct edr_agent_conn;
struct edr_zsrc;

/* Where a `send`'s raw bytes go as they arrive.  Returns 0, or a negative
 * EDR_E* code set in ERR with why (edr_error_set); the rest of the stream
 * is then read and dropped (so the agent stays in step) and the connection
 * remembers the failure (edr_agent_ops.fetched). */
typedef int (*edr_agent_sink)(void *arg, const unsigned char *buf, size_t len,
                              struct edr_error *err);

/* The architectures an agent is built for (edr_archs, agent_boot.c): the
 * bootstrap asks the host's `uname -m` and pushes that architecture's agent. */
enum edr_arch { EDR_ARCH_X86_64, EDR_ARCH_AARCH64, EDR_ARCH__COUNT };

/* The agent's two builds from the same sources (agent/CMakeLists.txt):
 * FULL answers etcd-http over TLS (libssl); NOTLS, without libssl, is a
 * quarter of its size and what a host gets unless the run may ask an https
 * URL through its agent (engine/run.c). */
enum edr_agent_variant { EDR_AGENT_FULL, EDR_AGENT_NOTLS, EDR_AGENT__VARIANTS };
extern const char *const edr_agent_variant_names[EDR_AGENT__VARIANTS];

struct edr_arch_desc {
  const char *name;             /* "x86_64": what the bootstrap prints */
  const char *human;            /* "x86-64", for messages */
  const char *uname;            /* the `uname -m` values, a sh case pattern */
  unsigned elf_machine;         /* the agent binary's e_machine */
  const char *file[EDR_AGENT__VARIANTS];  /* each build's file name next to etcd-dr */
  const char *how;              /* how to get that agent, for messages */
};
extern const struct edr_arch_desc edr_archs[EDR_ARCH__COUNT];

/* The architecture whose `uname -m` value (or name) is MACHINE, or -1. */
int edr_arch_of_uname(const char *machine);

struct edr_agent_bin {          /* one architecture's local agent */
  const char *path;             /* NULL: none for that architecture */
  uint64_t size;
  const char *gz_path;          /* its gzip (`gzip -9 -n`), pushed to a host that
                                   has gzip; NULL: the agent goes raw */
  uint64_t gz_size;
};

struct edr_agent_target {       /* every string borrowed for the conn's life */
  const char *name;             /* the member, for messages */
  const char *ssh_host, *ssh_user, *identity_file, *known_hosts;
  const char *proxy_jump, *proxy_command;   /* proxy.h; NULL: a direct connection */
  const char *ssh_config;       /* the jump hosts' ssh_config: a file, "none", NULL:
                                   ~/.ssh/config */
  bool identities_only;         /* no ssh-agent keys */
  int ssh_port;
  bool sudo;                    /* start the agent with sudo -n */
  bool accept_new_hostkeys;     /* record unknown keys (never changed ones) */
  struct edr_agent_bin agents[EDR_ARCH__COUNT];   /* the one for the host's
                                                     architecture is pushed */
  uint64_t stall_timeout_ms;    /* pushing or fetching: no progress this long
                                   fails (0: only the deadline) */
  edr_agent_sink fetch_sink;    /* NULL: a `send`'s bytes are dropped */
  void *fetch_arg;
  uint64_t fetch_max_bytes;     /* a larger announced `send` fails; 0: no bound */
  unsigned keepalive_s;         /* SSH keepalives at most this often (0: none) */
};

enum edr_agent_log { EDR_AGENT_LOG_DEBUG, EDR_AGENT_LOG_WARN };

struct edr_agent_events {       /* the engine's; ARG is the one given to open */
  /* The host key was checked (FP, TYPE: for the report; RECORDED: it was
   * new and written to known_hosts). */
  void (*hostkey)(void *arg, const char *fp, const char *type, bool recorded);
  void (*connected)(void *arg);                  /* authenticated */
  /* The reply to the request in flight (the agent's hello after
   * start_agent).  STATUS 0 when "ok" is true, else the agent's errno (a
   * negative EDR_E* code) or EDR_EREMOTE.  REPLY is borrowed. */
  void (*reply)(void *arg, int status, json_t *reply);
  /* What was under way failed: CODE and MSG (worded for the operator).
   * LOST: nothing more can be said to this host. */
  void (*failed)(void *arg, int code, const char *msg, bool lost);
  /* The deadline passed (arm()); the engine words it and calls idle() or
   * close().  Not sent while closing: close() is bounded by itself. */
  void (*timeout)(void *arg);
  void (*closed)(void *arg);                     /* after close() */
  /* A payload's (or a fetch's) bytes so far and in all. */
  void (*bytes)(void *arg, uint64_t done, uint64_t total);
  /* A `send` announced SIZE bytes of raw data. */
  void (*fetch_begin)(void *arg, uint64_t size);
  void (*log)(void *arg, enum edr_agent_log level, const char *line);
};

struct edr_agent_pushed {       /* how the agent went to a host */
  int arch;                     /* enum edr_arch */
  bool gzip;                    /* its gzip, unpacked by the host's gzip */
  uint64_t bytes;               /* what crossed the link */
};

struct edr_push_window {        /* the agent's push to one host, measured */
  uint64_t start_ns, end_ns;    /* uv_hrtime(): first byte out, all arrived */
  uint64_t bytes;               /* what crossed the link */
};

struct edr_agent_request {
  json_t *req;                  /* stolen; "id" is added */
  int payload_fd;               /* -1, or SIZE bytes sent after the line; the
                                   conn closes it */
  uint64_t payload_size;
  /* Borrowed, or NULL: the payload is this compressed stream (zsrc.h)
   * instead of payload_fd's bytes (then -1); payload_size is still the
   * file's size, for progress. */
  struct edr_zsrc *zsrc;
  bool reads_extend;            /* every read re-arms the stall timeout */
};

struct edr_agent_ops {
  /* Before the run contacts any host, on the caller's thread (may be NULL):
   * make T's credentials usable, i.e. ask an encrypted key's passphrase on
   * the terminal, once per key file (ssh.h edr_ssh_unlock_keys).  0;
   * EDR_ECANCELED when the operator interrupted the prompt; another code;
   * each set in ERR with why and what to do. */
  int (*unlock)(const struct edr_agent_target *t, struct edr_error *err);
  /* A new connection (nothing is done yet), or NULL when out of memory.
   * T, EV and LOOP are borrowed for its life. */
  struct edr_agent_conn *(*open)(uv_loop_t *loop, const struct edr_agent_target *t,
                                 const struct edr_agent_events *ev, void *arg);
  /* Resolve, connect, handshake, check the host key, authenticate:
   * hostkey, then connected or failed. */
  void (*connect)(struct edr_agent_conn *c);
  /* Ask the host's `uname -m`, push the agent for that architecture and
   * start it, then send HELLO (stolen): reply or failed (EDR_EARCH, with
   * nothing placed on the host, when no agent here is for its architecture). */
  void (*start_agent)(struct edr_agent_conn *c, json_t *hello);
  /* Send R: reply or failed. */
  void (*request)(struct edr_agent_conn *c, struct edr_agent_request *r);
  /* (Re)start the deadline of what is under way. */
  void (*arm)(struct edr_agent_conn *c, uint64_t ms);
  /* Abandon what is under way (stop the deadline, drop the request and its
   * payload); no event comes for it. */
  void (*idle)(struct edr_agent_conn *c);
  /* Give up on the connection (the engine decided it is lost): no more
   * requests; close() then only tears down. */
  void (*drop)(struct edr_agent_conn *c);
  /* End the agent (EOF, wait for it to remove its directory and exit,
   * bounded) and the session: closed.  Repeated calls are ignored. */
  void (*close)(struct edr_agent_conn *c);
  /* The agent can be sent requests. */
  bool (*usable)(const struct edr_agent_conn *c);
  /* The last line of the agent's stderr (for messages), "" when none. */
  const char *(*stderr_last)(struct edr_agent_conn *c);
  /* The last `send`: bytes that arrived, and the sink's failure in *ERR
   * (borrowed from C; its code 0 when the sink took every byte). */
  uint64_t (*fetched)(const struct edr_agent_conn *c, const struct edr_error **err);
  /* After the loop ended and every handle on it was closed: free the rest. */
  void (*free)(struct edr_agent_conn *c);
  /* Liveness (optional, NULL in a fake): when bytes last came from the host
   * (edr_now_ms; 0 before any), and send a keepalive the server answers
   * even while the agent is busy (at most every keepalive_s). */
  uint64_t (*last_heard)(const struct edr_agent_conn *c);
  void (*keepalive)(struct edr_agent_conn *c);
  /* Optional (NULL in a fake): when the agent's own push ran (uv_hrtime,
   * from the first byte out to the host's answer that all had arrived) and
   * the bytes that crossed the link; false when not measured.  The engine
   * weighs the link from every host's window together (engine/compress.c). */
  bool (*push_window)(const struct edr_agent_conn *c, struct edr_push_window *out);
  /* Optional (NULL in a fake): how the agent went to the host, once it
   * runs; false before. */
  bool (*pushed)(const struct edr_agent_conn *c, struct edr_agent_pushed *out);
};

extern const struct edr_agent_ops edr_agent_ssh_ops;

#endif
