/*
 * host.c - one host through its steps: start a step (the request it sends,
 * adjusted with what the probe found), judge the reply, retry or fail it,
 * go on, wait at a barrier or close; and the connection's events that
 * drive it (agent_conn.h).  A failure becomes the host's result and the
 * run's barrier decides what happens next (stages.c).
 */
#include "engine.h"

#include "err.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "snapfile.h"
#include "stale_lock.h"
#include "util.h"

#include <assert.h>
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

static void next_step(struct host *h);
static void start_step(struct host *h);

/* ---- small helpers ------------------------------------------------------ */

static size_t host_index(const struct host *h) {
  assert(h >= h->run->hosts && h < h->run->hosts + h->run->n);
  return (size_t)(h - h->run->hosts);
}


static const struct edr_step *cur_step(const struct host *h) {
  return h->step < h->hp->n_steps ? &h->hp->steps[h->step] : NULL;
}

const char *eng_step_name(const struct host *h) {
  const struct edr_step *s = cur_step(h);
  return s ? edr_step_kinds[s->kind].name : "close";
}

/* Between steps: nothing under way on the connection, which is open. */
bool eng_host_idle(const struct host *h) { return !h->busy && !h->closing && !h->closed; }

/* Nothing under way on the connection any more (a step or a queued request
 * ended); a closing connection stays closing. */
void eng_conn_idle(struct host *h) {
  h->busy = false;
  if (h->conn)
    h->run->ops->idle(h->conn);
}

void eng_timer_arm(struct host *h, uint64_t ms) {
  h->armed_ms = ms;
  if (h->conn)
    h->run->ops->arm(h->conn, ms);
}

/* Send REQ (stolen) to the agent, with SIZE bytes of FD after it (or -1);
 * FN gets the reply. */
void eng_send_request(struct host *h, json_t *req, int payload_fd, uint64_t payload_size,
                         reply_fn fn) {
  eng_send_push(h, req, payload_fd, NULL, payload_size, fn);
}

void eng_send_push(struct host *h, json_t *req, int payload_fd, struct edr_zsrc *z,
                   uint64_t payload_size, reply_fn fn) {
  const struct edr_step *s = cur_step(h);
  struct edr_agent_request ar = {
    .req = req, .payload_fd = payload_fd, .payload_size = payload_size, .zsrc = z,
    /* a snapshot's push is slow to answer: every read is progress */
    .reads_extend = s && eng_steps[s->kind].reads_extend,
  };
  /* one operation at a time on a connection that is open (agent_conn.h) */
  assert(!h->busy && h->conn && !h->closing && !h->closed);
  h->on_reply = fn;
  h->busy = true;
  h->req_start = edr_now_ms();
  h->run->ops->request(h->conn, &ar);
}

/* An optional host (plan.h) failing while the check runs (before its
 * barrier, where the leader lookup starts) is left out instead of failing
 * the run; so is any later failure of its own leaving (its unlock, its
 * close).  A failure of it found after the check (the lookup's refusal)
 * fails it as any host's, and so does its lock held by another run
 * (CODE EDR_EBUSY): that run may be changing the cluster right now, and
 * two runs at once is what the lock is there to prevent. */
static bool leaves_out(const struct host *h, int code) {
  const struct run *r = h->run;
  if (h->failed || r->leader_asked)
    return false;
  if (code == EDR_EBUSY && !h->left_out)
    return false;
  return h->left_out ||
         (h->hp->optional && r->stage == 0 && !r->aborting && !r->interrupted);
}

/* Record the host's failure.  CODE/fmt describe it for the operator. */
static void vhost_fail(struct host *h, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vhost_fail(struct host *h, int code, const char *fmt, va_list ap) {
  struct edr_str text = EDR_STR_INIT;
  edr_str_vappendf(&text, fmt, ap);
  const char *msg = text.buf;
  struct edr_step_result *sr = h->step < h->hp->n_steps ? &h->res->steps[h->step] : NULL;
  bool in_a_step = sr && sr->started && !sr->finished; /* else between steps */
  if (in_a_step) {
    edr_progress_step(h->run->progress, host_index(h),
                      edr_step_kinds[h->hp->steps[h->step].kind].name, "failed",
                      edr_now_ms() - h->step_start, 0, msg);
    edr_journal_step(h->run->opts->journal, h->m->name, h->step,
                     edr_step_kinds[h->hp->steps[h->step].kind].name, "failed", code, msg);
    sr->finished = true;
    sr->status = code;
    sr->duration_ms = edr_now_ms() - h->step_start;
    free(sr->message);
    sr->message = strdup(msg);
  }
  bool leave = leaves_out(h, code);
  if (leave && !h->left_out) {
    h->left_out = h->res->left_out = true;
    h->res->message = strdup(msg);
    edr_warn("%s (%s): %s; it has no step in this run, so it is left out and its member is "
             "asked from here", h->m->name, h->m->ssh_host, msg);
    json_t *f = json_pack("{s:s, s:s}", "member", h->m->name, "message", msg);
    edr_journal_event(h->run->opts->journal, "left-out", f);
    json_decref(f);
  } else if (leave && h->locked) {  /* leaving: its unlock */
    edr_warn("%s (%s): left out: %s; its host lock goes when its agent ends by itself",
             h->m->name, h->m->ssh_host, msg);
  } else if (leave) {
    edr_debug("%s (%s): left out: %s", h->m->name, h->m->ssh_host, msg);
  } else if (!h->failed) {
    h->failed = true;
    h->res->status = code;
    h->res->message = strdup(msg);
    const struct edr_step *cs = cur_step(h);
    const struct edr_stage *st = cs && edr_plan_kinds[h->run->plan->kind].operator_stages
                                     ? &h->run->plan->stages[cs->stage] : NULL;
    if (!in_a_step)  /* MSG says what was under way */
      edr_err("%s (%s): %s", h->m->name, h->m->ssh_host, msg);
    else if (st)  /* a playbook's step: its name first, as the operator wrote it */
      edr_err("%s (%s): %s (%s): %s%s%s", h->m->name, h->m->ssh_host, st->name, eng_step_name(h),
              msg, st->note ? "\n  " : "", st->note ? st->note : "");
    else
      edr_err("%s (%s): %s: %s", h->m->name, h->m->ssh_host, eng_step_name(h), msg);
  }
  else if (h->reopen == ENG_REOPEN_ON)  /* the cleanup after a lost connection */
    edr_warn("%s (%s): this run's staging %s and its lock stay on the host: %s; a resume "
             "of the run removes them, or remove them by hand", h->m->name, h->m->ssh_host,
             h->hp->staging, msg);
  edr_str_release(&text);
  h->in_step = false;
  eng_ask_fail_all(h, code);
  eng_conn_idle(h);
  eng_wake_relay(h->run);  /* a host waiting for this one's relay-listen */
  if (leave)
    eng_advance(h);  /* it leaves: unlock, close */
  eng_check_barrier(h->run);
}

void eng_host_fail(struct host *h, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vhost_fail(h, code, fmt, ap);
  va_end(ap);
}

/* A connection-level failure: nothing more can be said to this host. */
void eng_host_lost(struct host *h, int code, const char *fmt, ...) {
  if (h->conn)
    h->run->ops->drop(h->conn);
  va_list ap;
  va_start(ap, fmt);
  vhost_fail(h, code, fmt, ap);
  va_end(ap);
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
  assert(h->busy); /* the answer to connect() */
  h->busy = false;
  if (h->reopen == ENG_REOPEN_ON) /* opened again for the cleanup (abort.c) */
    eng_reopen_connected(h);
  else
    eng_step_ok(h, NULL);
}

static void ev_reply(void *arg, int status, json_t *reply) {
  struct host *h = arg;
  assert(h->busy && h->on_reply); /* the answer to the operation under way */
  h->busy = false;
  h->on_reply(h, status, reply);
}

static void ev_failed(void *arg, int code, const char *msg, bool lost) {
  struct host *h = arg;
  h->busy = false;
  if (lost)
    eng_host_lost(h, code, "%s", msg);
  else
    eng_host_fail(h, code, "%s", msg);
}

/* The deadline of what was under way passed: say what that was and the
 * bound that was armed for it (a step's, a push's stall timeout, or the
 * bound of a request between steps). */
static void ev_timeout(void *arg) {
  struct host *h = arg;
  const struct edr_step *s = cur_step(h);
  const char *tail = h->run->ops->stderr_last(h->conn);
  unsigned long long secs = h->armed_ms / 1000;
  const char *what = h->in_step ? NULL : h->between ? h->between : "a request between steps";
  if (s && eng_steps[s->kind].connects && h->in_step)
    eng_host_lost(h, EDR_ETIMEDOUT, "no ssh connection to %s port %d within %llus (host "
                  "down, or the port filtered?)", h->m->ssh_host, h->m->ssh_port, secs);
  else if (s && h->in_step && h->armed_ms == h->run->opts->stall_timeout_ms &&
           eng_steps[s->kind].payload)  /* a push: the stall timeout */
    eng_host_lost(h, EDR_ETIMEDOUT, "no progress for %llus%s%s", secs,
                  *tail ? "; stderr: " : "", tail);
  else
    eng_host_lost(h, EDR_ETIMEDOUT, "%s%sno answer within %llus%s%s", what ? what : "",
                  what ? ": " : "", secs, *tail ? "; stderr: " : "", tail);
}

static void ev_closed(void *arg) {
  struct host *h = arg;
  assert(h->closing && !h->closed); /* only after close(), once */
  h->busy = h->closing = false;
  if (h->reopen == ENG_REOPEN_CLOSING) { /* lost with the lock held: open it again */
    eng_reopen(h);
    return;
  }
  h->closed = true;
  eng_ask_fail_all(h, EDR_ECONNLOST); /* a gate's questions it can no longer answer */
  eng_check_barrier(h->run);
}

static void ev_bytes(void *arg, uint64_t done, uint64_t total) {
  struct host *h = arg;
  edr_progress_bytes(h->run->progress, host_index(h), done, total);
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

const struct edr_agent_events eng_conn_events = {
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

void eng_start_close(struct host *h) {
  if (h->closed || h->closing)
    return;
  h->busy = false;
  if (!h->conn) { /* never opened (out of memory) */
    h->closed = true;
    eng_check_barrier(h->run);
    return;
  }
  h->closing = true;
  h->run->ops->close(h->conn);
}

/* ---- steps --------------------------------------------------------------- */

void eng_step_ok(struct host *h, json_t *result) {
  assert(h->step < h->hp->n_steps);
  struct edr_step_result *sr = &h->res->steps[h->step];
  sr->finished = true;
  sr->status = 0;
  sr->duration_ms = edr_now_ms() - h->step_start;
  if (result)
    sr->result = json_incref(result);
  h->res->steps_done++;
  h->in_step = false;
  eng_conn_idle(h);
  const struct edr_step *s = cur_step(h);
  edr_journal_step(h->run->opts->journal, h->m->name, h->step, edr_step_kinds[s->kind].name,
                   "done", 0, NULL);
  {
    char extra[160] = "";
    if (result && eng_steps[s->kind].summary)
      eng_steps[s->kind].summary(h, result, extra, sizeof extra);
    if (sr->bytes && sr->duration_ms) {
      char hb[32];
      edr_human_bytes(sr->bytes, hb, sizeof hb);
      snprintf(extra, sizeof extra, "%s at %.0f MB/s", hb,
               (double)sr->bytes / 1e3 / (double)sr->duration_ms);
    }
    edr_progress_step(h->run->progress, host_index(h), edr_step_kinds[s->kind].name, "done", sr->duration_ms,
                      sr->bytes, extra[0] ? extra : NULL);
  }
  if (edr_plan_kinds[h->run->plan->kind].marks_apply_steps &&
      edr_step_kinds[s->kind].phase == EDR_PHASE_APPLY) {
    /* The host keeps its own record of what was done to it. */
    char line[64];
    snprintf(line, sizeof line, "%zu %s", h->step, edr_step_kinds[s->kind].name);
    json_decref(h->cleanup);
    h->cleanup = json_array();
    json_array_append_new(h->cleanup, json_pack("{s:s, s:s, s:s}", "op", "mark", "path",
                                                h->hp->marker, "line", line));
    eng_queue_run(h, "marking the step done on the host", next_step);
    return;
  }
  next_step(h);
}

static void next_step(struct host *h) {
  bool was_stop = cur_step(h) && eng_step_stopping(cur_step(h)->kind);
  h->busy = false;
  h->step++;
  h->attempts = 0;
  h->start_checked = false;
  eng_advance(h);
  if (was_stop)
    eng_wake_leader(h->run);
}


static void retry_cb(uv_timer_t *t) {
  struct host *h = t->data;
  if (h->run->aborting || h->run->interrupted) {
    eng_host_fail(h, EDR_ECANCELED, "not tried again: the run is stopping");
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
  eng_conn_idle(h);
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
  edr_progress_step(h->run->progress, host_index(h), name, "failed", sr->duration_ms, 0, msg);
  h->in_step = false;
  next_step(h);
  return true;
}

static void on_step_reply(struct host *h, int status, json_t *reply) {
  const struct edr_step *s = cur_step(h);
  json_t *r = json_object_get(reply, "result");
  if (eng_steps[s->kind].whole_reply) { /* a fact about the member: the whole reply */
    eng_step_ok(h, reply);
    return;
  }
  if (status) {
    const char *m = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
    struct edr_str extra = EDR_STR_INIT;
    if (eng_steps[s->kind].stderr_in_failure) {
      const char *tail = json_string_value(json_object_get(r, "stderr_tail"));
      if (tail && *tail) {
        const char *t = tail + strlen(tail);
        while (t > tail && (t[-1] == '\n' || t[-1] == ' '))
          t--;
        const char *b = t;
        for (int lines = 0; b > tail && lines < 3; b--)
          if (b[-1] == '\n' && ++lines == 3)
            break;
        edr_str_appendf(&extra, "; stderr: %.*s", (int)(t - b), b);
      }
    }
    if (status == EDR_EBUSY && eng_steps[s->kind].takes_lock && !h->lock_retaken) {
      /* held by a run that is provably dead: take it, or say what to run */
      struct edr_str advice = EDR_STR_INIT;
      h->lock_retaken = true;
      enum edr_stale v = edr_stale_lock(json_object_get(r, "holder"), h->run->plan->run_id,
                                        h->run->opts->spec_args, &advice);
      json_t *req = v == EDR_STALE_TAKE ? json_deep_copy(s->request) : NULL;
      if (req) {
        edr_warn("%s: %s", h->m->name, advice.buf);
        edr_str_release(&advice);
        edr_str_release(&extra);
        eng_steps[s->kind].adjust(h, req);
        json_object_set_new(req, "break", json_true());
        eng_timer_arm(h, s->timeout_ms);
        eng_send_request(h, req, -1, 0, on_step_reply);
        return;
      }
      if (v == EDR_STALE_REFUSE)  /* the advice replaces the stderr */
        edr_str_setf(&extra, "; %s", advice.buf);
      edr_str_release(&advice);
    }
    struct edr_str full = EDR_STR_INIT;
    edr_str_appendf(&full, "%s%s", m ? m : edr_strerror(status), extra.buf);
    edr_str_release(&extra);
    bool soft = step_soft_fail(h, status, full.buf);
    if (!soft && r)
      h->res->steps[h->step].result = json_incref(r);
    if (!soft)
      eng_host_fail(h, status, "%s", full.buf);
    edr_str_release(&full);
    return;
  }
  if (eng_steps[s->kind].check && eng_steps[s->kind].check(h, r))
    return; /* the check failed the host */
  eng_step_ok(h, r);
}

#ifdef EDR_FAILPOINTS
/* Test builds only (cmake -DEDR_FAILPOINTS=ON, as scripts/test.sh builds
 * them): EDR_FAILPOINTS="STEP@MEMBER,..." fails that step on that member
 * before its request is sent, so that tests can walk a failure through
 * every step.  Other builds have no such hook. */
static bool failpoint(struct host *h, const struct edr_step *s) {
  const char *fp = getenv("EDR_FAILPOINTS");
  char want[300];
  int wl = snprintf(want, sizeof want, "%s@%s", edr_step_kinds[s->kind].name, h->m->name);
  for (const char *p = fp ? fp : ""; *p;) {
    size_t l = strcspn(p, ",");
    if (wl > 0 && l == (size_t)wl && !strncmp(p, want, l)) {
      eng_host_fail(h, EDR_EINTERNAL, "failpoint %s (EDR_FAILPOINTS)", want);
      return true;
    }
    p += l + (p[l] == ',');
  }
  return false;
}
#endif

static void start_step(struct host *h) {
  const struct edr_step *s = cur_step(h);
  /* the barrier: no step of a stage the run has not entered; and a failed
   * host does nothing more */
  assert(s && s->stage <= h->run->stage && !h->failed && !h->closing && !h->closed);
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
  edr_progress_step(h->run->progress, host_index(h), edr_step_kinds[s->kind].name, "start", 0, 0, NULL);
  eng_timer_arm(h, s->timeout_ms);
  edr_debug("[%s] step %zu %s", h->m->name, h->step + 1, edr_step_kinds[s->kind].name);
#ifdef EDR_FAILPOINTS
  if (failpoint(h, s))
    return; /* the step never ran: the host's outcome stays */
#endif
  if (edr_step_kinds[s->kind].destructive)
    h->res->outcome = EDR_HOST_PARTIAL;
  if (eng_steps[s->kind].start) {
    eng_steps[s->kind].start(h);
    return;
  }
  json_t *req = json_deep_copy(s->request);
  if (req && eng_steps[s->kind].adjust)
    eng_steps[s->kind].adjust(h, req);
  if (!req) {
    eng_host_fail(h, EDR_ENOMEM, "cannot build the request");
    return;
  }
  int frc = h->run->opts->fill ? h->run->opts->fill(h->run->opts->hook_arg, host_index(h),
                                                    h->step, req) : 0;
  if (frc) {
    json_decref(req);
    eng_host_fail(h, frc, "cannot build the request: %s", edr_strerror(frc));
    return;
  }
  int fd = -1;
  uint64_t size = 0;
  const char *local = eng_steps[s->kind].payload ? eng_steps[s->kind].payload(h) : NULL;
  if (local) {
    fd = open(local, O_RDONLY | O_CLOEXEC);
    size = (uint64_t)json_integer_value(json_object_get(req, "size"));
    if (fd < 0) {
      json_decref(req);
      eng_host_fail(h, edr_from_errno(errno), "cannot open '%s': %s", local, strerror(errno));
      return;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    sr->bytes = size;
    if (h->run->opts->stall_timeout_ms)
      eng_timer_arm(h, h->run->opts->stall_timeout_ms);
  }
  /* One encoding for the run: a host the relay feeds gets the same
   * compressed bytes its predecessor got, and decompresses them itself.  A
   * snapshot on a host goes as it is there. */
  struct edr_zsrc *z = s->kind == EDR_STEP_PUSH_SNAPSHOT && h->run->plan->snapshot_host < 0
                           ? eng_push_zsrc(h) : NULL;
  if (z) {
    json_object_set_new(req, "encoding", json_string("zstd"));
    if (fd >= 0)
      close(fd);
    fd = -1;
  }
  eng_send_push(h, req, fd, local ? z : NULL, size, on_step_reply);
}

/* After a step: go on, wait at a barrier, or stop. */
void eng_advance(struct host *h) {
  struct run *r = h->run;
  /* A phase change inside eng_check_barrier() can reach a host that an outer
   * loop is about to eng_advance too: never start a step twice. */
  if (h->in_step || !eng_host_idle(h))
    return;
  h->waiting_relay = false;  /* eng_relay_wait parks it again if it must */
  if (h->left_out && !h->failed) {
    eng_leave(h);
    return;
  }
  if (eng_ask_pump(h))  /* a gate's question first: the host is between steps */
    return;
  const struct edr_step *s = cur_step(h);
  if (r->aborting || h->failed) {  /* failed: only with keep_going */
    /* Changed, and every step done although another host failed meanwhile:
     * this host is where the plan wanted it, not stopped half-way. */
    if (!s && !h->failed && h->res->outcome == EDR_HOST_PARTIAL)
      h->res->outcome = EDR_HOST_RESTORED;
    if (r->phase <= EDR_PHASE_PREPARE && !h->cleaned)
      eng_abort_cleanup(h);
    else
      eng_abort_release(h);
    return;
  }
  if (!s) {
    if (edr_plan_kinds[r->plan->kind].changes_hosts && h->hp->n_steps)
      h->res->outcome = EDR_HOST_RESTORED;
    eng_start_close(h);
    return;
  }
  if (s->stage > r->stage) {
    h->busy = false;
    eng_check_barrier(r);
    return;
  }
  if (eng_steps[s->kind].asked_first && r->opts->want_ask) {
    enum edr_ask a = r->opts->want_ask(r->opts->want_ask_arg, host_index(h));
    h->waiting_ask = a == EDR_ASK_LATER;
    if (h->waiting_ask)
      return; /* edr_exec_ask_again() comes back */
    if (a == EDR_ASK_SKIP) {
      h->res->steps[h->step].started = h->res->steps[h->step].finished = true;
      h->step++; /* not needed: counts as neither done nor failed */
      eng_advance(h);
      return;
    }
  }
  if (eng_steps[s->kind].starts_etcd && !h->start_checked && !s->allow_empty_start) {
    /* Never start etcd on a data dir without a member: it would bootstrap a
     * new, empty cluster.  One stat before the start. */
    h->start_checked = true;
    char *db = edr_path_join(h->m->data_dir, "member/snap/db");
    json_t *req = db ? json_pack("{s:s, s:s}", "op", "stat", "path", db) : NULL;
    free(db);
    if (!req) {
      eng_host_fail(h, EDR_ENOMEM, "out of memory");
      return;
    }
    h->in_step = true; /* part of the start step, for the barrier */
    h->step_start = edr_now_ms();
    eng_timer_arm(h, ENG_BETWEEN_STEPS_MS);
    eng_send_request(h, req, -1, 0, eng_on_start_check);
    return;
  }
  if (r->opts->resume && !h->marker_read && edr_step_kinds[s->kind].phase == EDR_PHASE_APPLY &&
      edr_plan_kinds[r->plan->kind].marks_apply_steps) {
    h->marker_read = true;
    json_t *req = json_pack("{s:s, s:s, s:b}", "op", "read", "path", h->hp->marker,
                            "own", 1);
    h->between = "reading the run's marker on the host";
    eng_timer_arm(h, ENG_BETWEEN_STEPS_MS);
    eng_send_request(h, req, -1, 0, eng_on_marker);
    return;
  }
  if (r->opts->resume && eng_resume_skip(h, s)) {
    struct edr_step_result *sr = &h->res->steps[h->step];
    sr->started = sr->finished = true;
    h->res->steps_done++;
    if (edr_step_kinds[s->kind].destructive)
      h->res->outcome = EDR_HOST_PARTIAL;
    h->step++;
    eng_advance(h);
    if (eng_step_stopping(s->kind))
      eng_wake_leader(r);
    return;
  }
  if (r->opts->resume && !h->restaged && edr_step_kinds[s->kind].phase == EDR_PHASE_PREPARE &&
      !json_is_true(json_object_get(r->opts->resume, "apply_started"))) {
    /* prepare is redone from scratch: first remove what it staged before */
    h->restaged = true;
    eng_queue_staging_removal(h);
    eng_queue_run(h, "removing the old staging", eng_resume_after_restage);
    return;
  }
  if (s->kind == EDR_STEP_RELAY_CHECK && eng_relay_wait(h))
    return;
  if (eng_steps[s->kind].stops_etcd && r->leader_host >= 0 && h == &r->hosts[r->leader_host] &&
      !eng_others_stopped(r, h)) {
    h->waiting_leader = true; /* woken by eng_wake_leader() */
    return;
  }
  /* Rollback: what the restore never moved stays as it is. */
  if ((h->wal_not_moved && eng_steps[s->kind].wal) ||
      (h->nothing_moved &&
       (eng_steps[s->kind].unmoved == ENG_SKIP_ALWAYS ||
        (eng_steps[s->kind].unmoved == ENG_SKIP_IF_RUNNING &&
         json_is_true(json_object_get(h->probe, "etcd_running")))))) {
    h->res->steps[h->step].started = h->res->steps[h->step].finished = true;
    h->step++; /* skipped: counts as neither done nor failed */
    eng_advance(h);
    if (eng_step_stopping(s->kind))
      eng_wake_leader(r); /* a leader waiting for this stop goes on */
    return;
  }
  start_step(h);
}
