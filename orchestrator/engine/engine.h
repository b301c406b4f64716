/*
 * engine.h - what the engine's files share (private to engine/): the run,
 * one host's state in it, and the functions one file calls in another.
 *
 * run.c owns the run (edr_execute, signals, the exit status); stages.c the
 * stages, their barrier and gates; host.c one host's steps and its
 * connection's events; steps.c what each step kind means (a table);
 * probe.c the judgement of the probe's facts;
 * abort.c the cleanup after a failure; resume.c what a resumed run skips;
 * leader.c the leader-last stop order.  Every function here runs on the
 * run's loop thread; nothing in the engine runs anywhere else.
 */
#ifndef EDR_ENGINE_H
#define EDR_ENGINE_H

#include "agent_conn.h"
#include "executor.h"
#include "gate.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* The bound of a request between steps (the stat before a start, reading
 * the marker, a queued cleanup request): small, local work on the host. */
#define ENG_BETWEEN_STEPS_MS 30000
/* etcd preallocates its first WAL file at this size. */
#define ENG_WAL_PREALLOC_BYTES (64ull << 20)

struct run;
struct host;
struct edr_progress;
typedef void (*reply_fn)(struct host *h, int status, json_t *reply);

struct host {
  struct run *run;
  const struct edr_host_plan *hp;
  const struct edr_member *m;
  struct edr_host_result *res;
  struct edr_agent_conn *conn;   /* through run->ops */
  struct edr_agent_target target;  /* what conn borrows */
  enum edr_agent_variant variant;  /* the agent build it gets (run.c) */
  const struct edr_agent_file *agent[EDR_ARCH__COUNT];  /* that build, per
                                    architecture, borrowed from run->agents */
  bool busy;                 /* a connection operation is under way */
  bool closing, closed;      /* the connection is ending, or ended */
  size_t step;               /* index into hp->steps */
  bool in_step;              /* a step is under way */
  bool failed;               /* this host failed; it does nothing more */
  bool left_out;             /* an optional host (plan.h) that failed its check:
                                it closes and the run goes on without it */
  bool cleaned;              /* abort cleanup was done or is under way */
  uint64_t step_start;
  uint64_t armed_ms;         /* the deadline last armed (a timeout's words) */
  uint64_t req_start;        /* when the request in flight was sent (alive.c) */
  bool pinging;              /* that request is a heartbeat (alive.c) */
  bool lock_retaken;         /* the lock's dead holder was judged once */
  const char *between;       /* what the request in flight does when it is no
                                step's (a queue, the marker), for a timeout */
  reply_fn on_reply;         /* for the request in flight */

  json_t *probe;             /* the probe's result, for later steps */
  bool locked;               /* this run holds the host lock */
  bool nothing_moved;        /* rollback: the restore never moved this member */
  bool wal_not_moved;        /* rollback: ... nor its wal dir */
  bool restaged;             /* resume: the old staging was removed */
  bool start_checked;        /* the restored member was seen before the start */
  bool marker_read;          /* resume: the host's own marker was read */
  bool waiting_leader;       /* the leader: its stop waits for the others' */
  char *refused;             /* the leader lookup's edr_leader_refuse: why this
                                host fails at the next barrier, or NULL */
  int refused_code;
  bool waiting_ask;          /* want_ask said later: edr_exec_ask_again wakes it */
  unsigned attempts;         /* failed tries of the current step */
  uv_timer_t retry_timer;    /* the delay before trying it again */
  json_t *marker_done;       /* resume: step indices the host's marker has */
  bool relay_heard;          /* relay-check: the previous host reached this one */
  bool relay_listen_said;    /* relay-listen answered: its port is had, or why not */
  char relay_bind_error[300];  /* relay-listen: why this host cannot listen on its
                                  relay port ("": it can, or it was not asked) */
  bool waiting_relay;        /* relay-check waits for the next host's relay-listen
                                (eng_relay_wait; woken by eng_wake_relay) */
  bool relay_direct;         /* push-snapshot: from this machine, not the relay */
  struct eng_ask *asks;      /* a gate's questions to send (ask.c) */
  struct eng_ask *ask_inflight;  /* the one under way */
  /* abort.c: a host lost while this run held its lock is opened again to
   * remove the staging; the lost connection is kept until the run is freed */
  enum { ENG_REOPEN_NONE, ENG_REOPEN_CLOSING, ENG_REOPEN_ON } reopen;
  struct edr_agent_conn *lost_conn;
  json_t *cleanup;           /* queued requests still to send (queue_run) */
  const char *queue_what;    /* what the queue does, for warnings */
  void (*queue_done)(struct host *h);
};

/* What opts->on_loop gets: a handle on the run (executor.h). */
struct edr_exec_run {
  struct run *run;
};

struct run {
  uv_loop_t loop;
  struct edr_exec_run handle;
  struct edr_progress *progress;  /* the operator's display, the run's own */
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
  struct edr_gate gate;      /* the stage's gate while it runs (gate.h) */
  const struct edr_gate_ops *gate_ops;  /* its implementation, or NULL */
  bool declined;             /* the operator said no at a confirmation */
  bool decided;              /* opts->decide was called */
  unsigned gate_attempts;
  uint64_t gate_start_ms;
  struct edr_str gate_note;  /* what the gate did, for the report */
  uv_timer_t gate_timer;     /* pause, and the delay between gate retries */
  bool aborting;
  bool launched;             /* every host was given its first step */
  bool stop_requested;       /* a gate failed or the operator declined */
  bool interrupted;
  uint64_t started_ms;
  int64_t bump;              /* --bump-revision used, 0 for none */
  long leader_host;          /* index of the running cluster's leader, -1 */
  struct edr_leader_ask leader_ask;  /* the lookup (gate.h) */
  bool leader_asked;         /* it was started (or not needed) */
  bool leader_pending;       /* it runs on the loop: no stage after the next starts */
  bool leader_blocks;        /* ... and the next stage waits for it too */
  bool leader_starting;      /* inside its start(): done() must not re-enter */
  uv_signal_t sigint, sigterm;
  const struct edr_agent_ops *ops;   /* the hosts' connections */
  struct edr_agents agents;  /* one per architecture (agents.c) */
  /* the relay (steps.c, docs/transfer.md): the run's key, handed to each
   * agent in its requests and nowhere else; a snapshot on a host as its
   * check-snapshot step found it */
  char relay_key[65];
  bool route_said;           /* the route after the checks was printed */
  uint64_t snap_size;
  char snap_sha256[65];
  bool snap_trailer;
  int64_t snap_revision;     /* the plan's, or the check-snapshot step's; -1 unknown */
  /* liveness (alive.c; docs/safety.md "Lost connections") */
  uv_timer_t alive_timer;
  uint64_t keepalive_ms;     /* keepalive and heartbeat interval */
  uint64_t dead_ms;          /* nothing back for this long: the host is lost */
  uint64_t agent_idle_ms;    /* an agent hearing nothing this long ends itself */
  uint64_t alive_last;       /* the previous tick (a blocked loop resyncs) */
  /* a gate's questions whose host failed, answered from the loop (ask.c) */
  uv_timer_t ask_timer;
  struct eng_ask *ask_failed;
  /* the snapshot's push (compress.c) */
  bool z_decided;            /* decided once, at the first push */
  struct edr_zsrc *zsrc;     /* the compressed stream every push reads, or NULL */
};

/* What a step kind means to the engine (steps.c); an empty row sends the
 * plan's request and succeeds on "ok". */
enum eng_unmoved { ENG_SKIP_NEVER, ENG_SKIP_ALWAYS, ENG_SKIP_IF_RUNNING };
struct eng_step_kind {
  /* Starts the step itself (connect, push the agent); NULL: the request. */
  void (*start)(struct host *h);
  /* Adjusts a copy of the plan's request with what the run found. */
  void (*adjust)(struct host *h, json_t *req);
  /* The local file whose bytes follow the request (a push); NULL: none
   * this time (the bytes come from elsewhere). */
  const char *(*payload)(const struct host *h);
  bool reads_extend;         /* a slow reply: every read re-arms the stall timer */
  bool whole_reply;          /* the whole reply is the result, even a failure */
  bool stderr_in_failure;    /* a failure quotes the command's last stderr lines */
  /* Judges a reply that said ok: 0, or it failed the host (nonzero). */
  int (*check)(struct host *h, json_t *result);
  /* The progress line's detail when the step is done. */
  void (*summary)(const struct host *h, json_t *result, char *buf, size_t len);
  /* Rollback of a member the restore never moved: skip this step? */
  enum eng_unmoved unmoved;
  bool wal;                  /* moves the wal dir: skipped too when only the wal
                                was never moved (wal_not_moved) */
  bool connects;             /* the connection itself: a timeout names the port */
  bool takes_lock;           /* EDR_EBUSY may be a dead run's lock (stale_lock.h) */
  bool asked_first;          /* the command says whether and when it runs (want_ask) */
  bool starts_etcd;          /* first make sure the data dir holds a member */
  bool stops_etcd;           /* the leader's waits for the others' (leader.c) */
  bool ends_stop;            /* waits until etcd has exited: the leader's stop
                                waits for the others' too (a kubeadm stop only
                                moves the manifest; this step sees etcd gone) */
  bool needs_tool;           /* restores: the probe judges the restore tool */
  bool moves_member;         /* moves the member dir aside */
  bool installs_member;      /* puts the restored member in place: resumed after it
                                was cut short, it is done if moves_member was */
};
extern const struct eng_step_kind eng_steps[EDR_STEP__COUNT];
/* Part of stopping etcd: the leader's stop waits until the others' are
 * finished (leader.c). */
static inline bool eng_step_stopping(enum edr_step_kind k) {
  return eng_steps[k].stops_etcd || eng_steps[k].ends_stop;
}

/* This coordinator process's lock token (steps.c): random, made once, kept
 * for the process's life; a host lock names it as "token" in its holder
 * and `unlock` gives it back, so the agent keeps two coordinators of one
 * run apart. */
enum { EDR_LOCK_TOKEN_BYTES = 16 };
const char *eng_coordinator_token(void);

/* The host's current step succeeded with RESULT (borrowed; may be NULL). */
void eng_step_ok(struct host *h, json_t *result);

/* The connection's events (host.c): every host's connection reports here. */
extern const struct edr_agent_events eng_conn_events;

/* Liveness: the intervals (from the environment) before the hosts are
 * opened, and the tick once the loop runs (alive.c). */
void eng_alive_init(struct run *r);
void eng_alive_start(struct run *r);
/* The host's connection is lost: nothing more can be said to it, and it
 * fails with CODE and FMT's message. */
void eng_host_lost(struct host *h, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A gate's questions to the agents (ask.c): the run's timer before any
 * host starts; send the host's next question when its connection is free
 * (true: one went out); fail every question of a host that failed, from
 * the loop; free what is left after the loop ended. */
void eng_ask_init(struct run *r);
bool eng_ask_pump(struct host *h);
void eng_ask_fail_all(struct host *h, int status);
void eng_ask_release(struct run *r);

void eng_abort_cleanup(struct host *h);
/* The lost connection closed (REOPEN_CLOSING): open a new one for the
 * cleanup; connected, its agent is started and the cleanup sent (abort.c). */
void eng_reopen(struct host *h);
void eng_reopen_connected(struct host *h);
/* The agent's hello request for H (steps.c), or NULL when out of memory. */
json_t *eng_hello(const struct host *h);
void eng_abort_release(struct host *h);
/* A host left out of the run: its lock (if it took it) given back, then
 * its connection closed (abort.c). */
void eng_leave(struct host *h);
void eng_advance(struct host *h);
void eng_check_barrier(struct run *r);
/* Room on the host for a restore from a snapshot of SNAPSHOT_SIZE bytes,
 * from its probe's facts: 0, or EDR_ENOSPC set in ERR. */
int eng_check_room(json_t *probe, uint64_t snapshot_size, struct edr_error *err);
/* The probe's facts R judged: 0, or a failure set in ERR (its code returned). */
int eng_check_probe(struct host *h, json_t *r, struct edr_error *err);
void eng_conn_idle(struct host *h);
void eng_find_leader(struct run *r);
/* An info line of the run (log.h's edr_info), unless opts->quiet. */
void eng_info(const struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void eng_cancel_leader(struct run *r);
/* Fail the hosts the leader lookup refused (edr_leader_refuse), every host
 * being between steps; true when it did (the abort has started). */
bool eng_leader_refusals(struct run *r);
void eng_gate_finish(struct run *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool eng_has_flag(json_t *tool, const char *flag);
void eng_host_fail(struct host *h, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool eng_host_idle(const struct host *h);
void eng_on_marker(struct host *h, int status, json_t *reply);
void eng_on_start_check(struct host *h, int status, json_t *reply);
bool eng_others_stopped(const struct run *r, const struct host *leader);
void eng_queue_run(struct host *h, const char *what, void (*done)(struct host *));
void eng_queue_staging_removal(struct host *h);
void eng_resume_after_restage(struct host *h);
bool eng_resume_skip(struct host *h, const struct edr_step *s);
/* How the snapshot goes to H (compress.c): NULL plain, else the run's
 * compressed stream (borrowed).  Decided at the first push of the run, from
 * --compress, the sample of the file and the agents' push rates; the
 * decision goes to the run result.  eng_compress_end() adds what was sent
 * and frees the stream, after the loop. */
struct edr_zsrc *eng_push_zsrc(struct host *h);
void eng_compress_end(struct run *r);
/* eng_send_request with the payload from Z's compressed stream (borrowed)
 * instead of FD; SIZE is the file's. */
void eng_send_push(struct host *h, json_t *req, int payload_fd, struct edr_zsrc *z,
                   uint64_t payload_size, reply_fn fn);
void eng_send_request(struct host *h, json_t *req, int payload_fd, uint64_t payload_size,
                         reply_fn fn);
void eng_start_close(struct host *h);
const char *eng_step_name(const struct host *h);
void eng_timer_arm(struct host *h, uint64_t ms);
void eng_wake_leader(struct run *r);
/* Before H's relay-check (steps.c): true when H must wait, for its own
 * relay-listen (sent now) or for the next host's (H parked).  A port the
 * next host cannot have is known before H knocks on it, so H does not
 * spend its check's wait there. */
bool eng_relay_wait(struct host *h);
/* Hosts parked by eng_relay_wait go on when what they waited for is known
 * (or the host they waited for failed). */
void eng_wake_relay(struct run *r);

#endif
