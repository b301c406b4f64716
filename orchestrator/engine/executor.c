/*
 * executor.c - one libuv loop, one agent connection per host (executor.h).
 *
 * Steps of the plan map onto the connection's operations (transport's
 * agent_conn.h): "connect" is connect(), "push-agent" is start_agent() and
 * the agent's hello; every other step is one request to the agent and its
 * reply.  The connection reports back through events (conn_events below);
 * a failure inside the loop becomes that host's result, never an exit().
 */
#include "executor.h"
#include "gate.h"

#include "err.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "snapfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

struct run;
struct host;
typedef void (*reply_fn)(struct host *h, int status, json_t *reply);

struct host {
  struct run *run;
  const struct edr_host_plan *hp;
  const struct edr_member *m;
  struct edr_host_result *res;
  struct edr_agent_conn *conn;   /* through run->ops */
  struct edr_agent_target target;  /* what conn borrows */
  bool busy;                 /* a connection operation is under way */
  bool closing, closed;      /* the connection is ending, or ended */
  size_t step;               /* index into hp->steps */
  bool in_step;              /* a step is under way */
  bool failed;               /* this host failed; it does nothing more */
  bool cleaned;              /* abort cleanup was done or is under way */
  uint64_t step_start;
  reply_fn on_reply;         /* for the request in flight */

  json_t *probe;             /* the probe's result, for later steps */
  bool locked;               /* this run holds the host lock */
  bool nothing_moved;        /* rollback: the restore never moved this member */
  bool restaged;             /* resume: the old staging was removed */
  bool start_checked;        /* the restored member was seen before the start */
  bool marker_read;          /* resume: the host's own marker was read */
  bool waiting_leader;       /* the leader: its stop waits for the others' */
  bool waiting_ask;          /* want_ask said later: edr_exec_ask_again wakes it */
  unsigned attempts;         /* failed tries of the current step */
  uv_timer_t retry_timer;    /* the delay before trying it again */
  json_t *marker_done;       /* resume: step indices the host's marker has */
  json_t *cleanup;           /* queued requests still to send (queue_run) */
  const char *queue_what;    /* what the queue does, for warnings */
  void (*queue_done)(struct host *h);
};

struct edr_exec_run {
  struct run *run;
};

struct run {
  uv_loop_t loop;
  struct edr_exec_run handle;  /* what opts->on_loop gets */
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
  unsigned gate_attempts;
  uint64_t gate_start_ms;
  char gate_note[1024];      /* what the gate did, for the report */
  uv_timer_t gate_timer;     /* pause, and the delay between gate retries */
  bool aborting;
  bool launched;             /* every host was given its first step */
  bool stop_requested;       /* a gate failed or the operator declined */
  bool interrupted;
  uint64_t started_ms;
  int64_t bump;              /* --bump-revision used, 0 for none */
  long leader_host;          /* index of the running cluster's leader, -1 */
  bool leader_pending;       /* find_leader()'s ask is still running on the
                                thread pool: no stage after the next starts */
  uv_work_t leader_work;
  long leader_found;         /* the ask's answer, written by the worker */
  uv_signal_t sigint, sigterm;
  const struct edr_agent_ops *ops;   /* the hosts' connections */
  char *agent_path;
  char agent_sha256[65];
  uint64_t agent_size;
};

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
static void step_ok(struct host *h, json_t *result);

/* ---- small helpers ------------------------------------------------------ */

static size_t host_index(const struct host *h) { return (size_t)(h - h->run->hosts); }

bool edr_exec_interactive(void) { return isatty(STDIN_FILENO) && isatty(STDERR_FILENO); }

static const struct edr_step *cur_step(const struct host *h) {
  return h->step < h->hp->n_steps ? &h->hp->steps[h->step] : NULL;
}

static const char *step_name(const struct host *h) {
  const struct edr_step *s = cur_step(h);
  return s ? edr_step_kinds[s->kind].name : "close";
}

/* Between steps: nothing under way on the connection, which is open. */
static bool host_idle(const struct host *h) { return !h->busy && !h->closing && !h->closed; }

/* Nothing under way on the connection any more (a step or a queued request
 * ended); a closing connection stays closing. */
static void conn_idle(struct host *h) {
  h->busy = false;
  if (h->conn)
    h->run->ops->idle(h->conn);
}

static void timer_arm(struct host *h, uint64_t ms) {
  if (h->conn)
    h->run->ops->arm(h->conn, ms);
}

/* Send REQ (stolen) to the agent, with SIZE bytes of FD after it (or -1);
 * FN gets the reply. */
static void send_request(struct host *h, json_t *req, int payload_fd, uint64_t payload_size,
                         reply_fn fn) {
  const struct edr_step *s = cur_step(h);
  struct edr_agent_request ar = {
    .req = req, .payload_fd = payload_fd, .payload_size = payload_size,
    /* a snapshot's push is slow to answer: every read is progress */
    .reads_extend = s && s->kind == EDR_STEP_PUSH_SNAPSHOT,
  };
  h->on_reply = fn;
  h->busy = true;
  h->run->ops->request(h->conn, &ar);
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
  conn_idle(h);
  check_barrier(h->run);
}

/* A connection-level failure: nothing more can be said to this host. */
static void host_lost(struct host *h, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void host_lost(struct host *h, int code, const char *fmt, ...) {
  if (h->conn)
    h->run->ops->drop(h->conn);
  va_list ap;
  va_start(ap, fmt);
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  host_fail(h, code, "%s", msg ? msg : "out of memory");
  free(msg);
}


/* ---- the connection's events (transport's agent_conn.h) ------------------ */

static void ev_hostkey(void *arg, const char *fp, const char *type, bool recorded) {
  struct host *h = arg;
  snprintf(h->res->hostkey_fp, sizeof h->res->hostkey_fp, "%s", fp);
  if (recorded)
    edr_warn("%s: recorded new %s host key %s for '%s' in '%s'", h->m->name, type, fp,
             h->m->ssh_host, h->m->known_hosts);
}

static void ev_connected(void *arg) {
  struct host *h = arg;
  h->busy = false;
  step_ok(h, NULL);
}

static void ev_reply(void *arg, int status, json_t *reply) {
  struct host *h = arg;
  h->busy = false;
  h->on_reply(h, status, reply);
}

static void ev_failed(void *arg, int code, const char *msg, bool lost) {
  struct host *h = arg;
  h->busy = false;
  if (lost)
    host_lost(h, code, "%s", msg);
  else
    host_fail(h, code, "%s", msg);
}

static void ev_timeout(void *arg) {
  struct host *h = arg;
  const struct edr_step *s = cur_step(h);
  const char *tail = h->run->ops->stderr_last(h->conn);
  if (s && s->kind == EDR_STEP_CONNECT)
    host_lost(h, EDR_ETIMEDOUT, "no ssh connection to %s port %d within %llus (host down, "
              "or the port filtered?)", h->m->ssh_host, h->m->ssh_port,
              (unsigned long long)(s->timeout_ms / 1000));
  else
    host_lost(h, EDR_ETIMEDOUT, "no answer within %llus%s%s",
              (unsigned long long)((s ? s->timeout_ms : 0) / 1000),
              *tail ? "; stderr: " : "", tail);
}

static void ev_closed(void *arg) {
  struct host *h = arg;
  h->busy = h->closing = false;
  h->closed = true;
  check_barrier(h->run);
}

static void ev_bytes(void *arg, uint64_t done, uint64_t total) {
  struct host *h = arg;
  edr_progress_bytes(host_index(h), done, total);
}

static void ev_fetch_begin(void *arg, uint64_t size) {
  struct host *h = arg;
  if (cur_step(h))
    h->res->steps[h->step].bytes = size;
}

static void ev_log(void *arg, enum edr_agent_log level, const char *line) {
  (void)arg;
  if (level == EDR_AGENT_LOG_WARN)
    edr_warn("%s", line);
  else
    edr_debug("%s", line);
}

static const struct edr_agent_events conn_events = {
  .hostkey = ev_hostkey,
  .connected = ev_connected,
  .reply = ev_reply,
  .failed = ev_failed,
  .timeout = ev_timeout,
  .closed = ev_closed,
  .bytes = ev_bytes,
  .fetch_begin = ev_fetch_begin,
  .log = ev_log,
};

static void start_close(struct host *h) {
  if (h->closed || h->closing)
    return;
  h->busy = false;
  if (!h->conn) { /* never opened (out of memory) */
    h->closed = true;
    check_barrier(h->run);
    return;
  }
  h->closing = true;
  h->run->ops->close(h->conn);
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
  conn_idle(h);
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
  h->busy = false;
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
  conn_idle(h);
  if (h->attempts < s->retries) {
    h->attempts++;
    edr_warn("%s: %s failed: %s; trying again in %.1fs (%u of %u)", h->m->name, name, msg,
             (double)s->retry_delay_ms / 1000.0, h->attempts, s->retries);
    edr_journal_step(r->opts->journal, h->m->name, h->step, name, "retry", status, msg);
    h->busy = false; /* in_step stays: the barrier waits for the retry */
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
  int fetch_status = 0;
  const char *fetch_msg = "";
  uint64_t fetch_got = s->kind == EDR_STEP_FETCH_SNAPSHOT
                           ? h->run->ops->fetched(h->conn, &fetch_status, &fetch_msg) : 0;
  if (s->kind == EDR_STEP_FETCH_SNAPSHOT &&
      (fetch_status || (uint64_t)json_integer_value(json_object_get(r, "bytes")) != fetch_got)) {
    h->res->steps[h->step].result = json_incref(r);
    if (fetch_status)
      host_fail(h, fetch_status, "%s", fetch_msg);
    else
      host_fail(h, EDR_ECONNLOST, "%llu bytes arrived, the agent says it sent %lld",
                (unsigned long long)fetch_got,
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
  case EDR_STEP_CONNECT:
    h->busy = true;
    h->run->ops->connect(h->conn);
    return;
  case EDR_STEP_PUSH_AGENT: {
    json_t *hello = json_pack("{s:s, s:s, s:s}", "op", "hello", "run_id",
                              h->run->plan->run_id, "host", h->m->name);
    if (!hello) {
      host_fail(h, EDR_ENOMEM, "cannot encode a request");
      return;
    }
    h->on_reply = on_hello;
    h->busy = true;
    h->run->ops->start_agent(h->conn, hello);
    return;
  }
  default:
    break;
  }
  json_t *req = step_request(h, s);
  if (!req) {
    host_fail(h, EDR_ENOMEM, "cannot build the request");
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
  h->busy = false;
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
  if (!(h->conn && h->run->ops->usable(h->conn))) {
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
  if (h->run->plan->kind != EDR_PLAN_RUN || h->cleaned || !h->locked ||
      !(h->conn && h->run->ops->usable(h->conn))) {
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
  conn_idle(h);
  if (status || !json_is_true(json_object_get(r, "exists"))) {
    h->res->steps[h->step].started = true;
    host_fail(h, status ? status : EDR_ENOENT,
              "refusing to start etcd: '%s/member/snap/db' is not there, and etcd on an "
              "empty data dir would bootstrap a new empty cluster", h->m->data_dir);
    return;
  }
  h->busy = false;
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
  conn_idle(h);
  h->busy = false;
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
  if (h->in_step || !host_idle(h))
    return;
  if (r->aborting || h->failed) {  /* failed: only with keep_going */
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
    h->busy = false;
    check_barrier(r);
    return;
  }
  if (s->kind == EDR_STEP_ASK && r->opts->want_ask) {
    enum edr_ask a = r->opts->want_ask(r->opts->want_ask_arg, host_index(h));
    h->waiting_ask = a == EDR_ASK_LATER;
    if (h->waiting_ask)
      return; /* edr_exec_ask_again() comes back */
    if (a == EDR_ASK_SKIP) {
      h->res->steps[h->step].started = h->res->steps[h->step].finished = true;
      h->step++; /* not needed: counts as neither done nor failed */
      advance(h);
      return;
    }
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
  return h->closed || (host_idle(h) && !h->in_step && !h->waiting_leader && !h->waiting_ask);
}

void edr_exec_ask_again(struct edr_exec_run *run) {
  struct run *r = run->run;
  for (size_t i = 0; i < r->n; i++) {
    struct host *h = &r->hosts[i];
    if (h->waiting_ask) {
      h->waiting_ask = false;
      advance(h);
    }
  }
}

/* Stopping every member of a running cluster at once makes etcd's leader
 * try to hand leadership to members that are going away (~7 s stall, see
 * docs/BENCHMARKS.md).  So when two or more members run, find the leader
 * (the gates' find_leader, bounded) and stop it last.  Started at the check
 * barrier.  The ask can take a while (a member that accepts and does not
 * answer), so when the next stage stops nothing and has no gate (a
 * restore's prepare), it runs on libuv's thread pool while the hosts go on;
 * check_barrier() then waits for it before any later stage, and
 * leader_done() calls it again. */
static void leader_work(uv_work_t *w) {
  struct run *r = w->data;
  r->leader_found = r->opts->gates->find_leader(r->plan);
}

static void leader_apply(struct run *r) {
  r->leader_host = r->leader_found;
  const char *name = r->leader_host >= 0 ? r->hosts[r->leader_host].m->name : NULL;
  r->res->leader = name;
  json_t *f = json_pack("{s:s?}", "member", name);
  edr_journal_event(r->opts->journal, "leader", f); /* what the stop order rests on */
  json_decref(f);
  if (name && !r->aborting) /* nothing is stopped in an abort */
    edr_info("%s leads the running cluster: it stops last, after the others", name);
}

static void leader_done(uv_work_t *w, int status) {
  struct run *r = w->data;
  if (status != 0)
    r->leader_found = -1;
  leader_apply(r);
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
  if (!r->opts->gates || !r->opts->gates->find_leader)
    return; /* nobody to ask: the stop order stays the plan's */
  for (size_t i = 0; i < r->n; i++)
    running += json_is_true(json_object_get(r->hosts[i].probe, "etcd_running"));
  if (running < 2)
    return;
  size_t next = r->stage + 1;
  bool later = next < r->plan->n_stages && r->plan->stages[next].gate == EDR_GATE_NONE &&
               !stage_has_stop(r, next);
  r->leader_work.data = r;
  if (later && uv_queue_work(&r->loop, &r->leader_work, leader_work, leader_done) == 0) {
    r->leader_pending = true;
    return;
  }
  leader_work(&r->leader_work); /* the next stage needs the answer: ask now */
  leader_apply(r);
}

/* Has every other host that is still going finished its stop? */
static bool others_stopped(const struct run *r, const struct host *leader) {
  for (size_t i = 0; i < r->n; i++) {
    const struct host *o = &r->hosts[i];
    if (o == leader || o->failed || o->closed)
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

/* A gate of the command layer's finished (gate.h). */
void edr_gate_done(struct edr_gate *g, int status, const char *fmt, ...) {
  struct run *r = g->engine;
  char msg[1024] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
  }
  r->gate_ops = NULL;
  if (g->health_ms)
    r->res->health_ms = g->health_ms;
  if (g->unhealthy)
    r->health_gate_failed = true;
  if (!status)
    snprintf(r->gate_note, sizeof r->gate_note, "%s", g->note);
  if (fmt)
    gate_finish(r, status, "%s", msg);
  else
    gate_finish(r, status, NULL);
}

void edr_gate_waiting(struct edr_gate *g, const char *line) {
  edr_progress_gate(edr_gate_names[g->stage->gate], "waiting", line);
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
  case EDR_GATE_WAIT_HEALTHY:
  case EDR_GATE_MEMBER_ADD:
  case EDR_GATE_MEMBER_REMOVE:
  case EDR_GATE_SNAPSHOT_SAVE:
    /* the command layer's, through gate.h */
    r->gate_ops = r->opts->gates ? r->opts->gates->kinds[st->gate] : NULL;
    if (!r->gate_ops || !r->gate_ops->start) {
      gate_finish(r, EDR_EINTERNAL, "%s: no implementation of this gate was given "
                  "(an etcd-dr bug)", edr_gate_names[st->gate]);
      return;
    }
    r->gate = (struct edr_gate){.loop = &r->loop, .plan = r->plan, .stage = st,
                                .bump = r->bump, .engine = r};
    r->gate_ops->start(&r->gate);
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
  if (r->opts->keep_going && any_failed && !r->aborting) {
    /* each host on its own: a failed one cleans up and closes */
    any_failed = false;
    for (size_t i = 0; i < r->n; i++) {
      struct host *h = &r->hosts[i];
      if (h->failed && host_idle(h) && !h->in_step)
        advance(h);
      all_settled &= host_settled(h);
    }
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
      if (host_idle(h) && !h->in_step)
        advance(h); /* a failed or waiting host: clean up or close */
    }
    return;
  }
  if (r->aborting) {
    for (size_t i = 0; i < r->n; i++) {
      struct host *h = &r->hosts[i];
      if (host_idle(h) && !h->in_step && h->failed && !h->cleaned &&
          r->phase <= EDR_PHASE_PREPARE)
        abort_cleanup(h);
      else if (host_idle(h) && !h->in_step && h->failed)
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
  if (r->plan->confirm && !r->opts->assume_yes && edr_exec_interactive() &&
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
  if (r->gate_running && r->gate_ops && r->gate_ops->cancel)
    r->gate_ops->cancel(&r->gate);
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
  struct run r = {.plan = plan, .opts = o, .res = res, .n = plan->n_hosts, .leader_host = -1,
                  .ops = o->agent_ops ? o->agent_ops : &edr_agent_ssh_ops};
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
  if (o->keep_going && plan->kind != EDR_PLAN_CHECK) {
    free(r.hosts);
    res->exit_code = EDR_EXIT_INTERNAL;
    res->message = strdup("keep-going is only for a plan that changes nothing (an etcd-dr "
                          "bug)");
    return res->exit_code;
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
    h->target = (struct edr_agent_target){
      .name = h->m->name, .ssh_host = h->m->ssh_host, .ssh_user = h->m->ssh_user,
      .identity_file = h->m->identity_file, .known_hosts = h->m->known_hosts,
      .ssh_port = h->m->ssh_port, .sudo = h->m->sudo,
      .accept_new_hostkeys = o->accept_new_hostkeys, .agent_path = r.agent_path,
      .agent_size = r.agent_size, .stall_timeout_ms = o->stall_timeout_ms,
      .fetch_sink = o->fetch_sink, .fetch_arg = o->fetch_arg,
    };
    uv_timer_init(&r.loop, &h->retry_timer);
    h->retry_timer.data = h;
    h->conn = r.ops->open(&r.loop, &h->target, &conn_events, h);
    if (!h->conn || !h->res->steps) {
      host_fail(h, EDR_ENOMEM, "out of memory");
      continue;
    }
  }
  const char **names = calloc(r.n, sizeof(char *));
  for (size_t i = 0; names && i < r.n; i++)
    names[i] = plan->hosts[i].member->name;
  if (names)
    edr_progress_begin(&r.loop, r.n, names);
  r.handle.run = &r;
  if (o->on_loop)
    o->on_loop(o->want_ask_arg, &r.loop, &r.handle);
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
    if (!h->closed && !h->failed) {
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
    res->message = strdup(r.gate.problem[0] ? r.gate.problem : "cluster not healthy");
  }
  res->duration_ms = edr_now_ms() - r.started_ms;

  for (size_t i = 0; i < r.n; i++) {
    struct host *h = &r.hosts[i];
    json_decref(h->probe);
    json_decref(h->cleanup);
    json_decref(h->marker_done);
  }
  uv_walk(&r.loop, walk_close, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < r.n; i++)
    r.ops->free(r.hosts[i].conn);
  uv_loop_close(&r.loop);
  free(r.hosts);
  free(r.agent_path);
  return res->exit_code;
}
