/*
 * stages.c - stages, their barrier and gates.  No host starts a step of
 * stage k+1 before every host finished stage k and the stage's gate passed
 * (the engine's own: confirm, pause; the rest through gate.h); a failure
 * anywhere stops every host at its next step boundary.  check_barrier() is
 * called whenever a host stops moving and decides what the run does next.
 */
#include "engine.h"

#include "err.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "prompt.h"
#include "snapfile.h"
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

/* ---- the run ------------------------------------------------------------- */

void eng_gate_finish(struct run *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --bump-revision auto: clear the highest revision any host's old data
 * reached, with a margin for what its WAL held beyond the db.  Every member
 * must get the same bump.  Returns non-zero (after failing the run) when it
 * cannot be computed. */
static int compute_bump(struct run *r) {
  const struct edr_plan *p = r->plan;
  r->bump = p->bump_revision > 0 ? p->bump_revision : 0;
  if (p->bump_revision >= 0 || !edr_plan_kinds[p->kind].auto_bump)
    return 0;
  int64_t high = -1;
  for (size_t i = 0; i < r->n; i++) {
    json_t *rev = json_object_get(json_object_get(r->hosts[i].probe, "data_dir"), "revision");
    if (json_is_integer(rev) && json_integer_value(rev) > high)
      high = json_integer_value(rev);
  }
  if (high < 0) {
    eng_host_fail(&r->hosts[0], EDR_EINVAL, "--bump-revision auto: no host has old data to "
              "read a revision from; give the bump as a number");
    return EDR_EINVAL;
  }
  int64_t snap = r->snap_revision > 0 ? r->snap_revision : 0;
  int64_t margin = high / 10 > 1000 ? high / 10 : 1000;
  r->bump = (high > snap ? high - snap : 0) + margin;
  eng_info(r, "--bump-revision auto: highest old revision %lld, snapshot revision %lld: "
           "bumping by %lld", (long long)high, (long long)snap, (long long)r->bump);
  return 0;
}

/* A snapshot on a host: its size was unknown when the probes were judged;
 * now the check phase read it, every restoring host must have room for it,
 * as for a snapshot from here.  Every host short of room fails (said each),
 * then the run stops once.  Returns non-zero when one did. */
static int check_room_on_host_snapshot(struct run *r) {
  if (r->plan->snapshot_host < 0 || !edr_plan_kinds[r->plan->kind].changes_hosts)
    return 0;
  int failed = 0;
  r->launched = false; /* no barrier until every host was judged */
  for (size_t i = 0; i < r->n; i++) {
    struct host *h = &r->hosts[i];
    struct edr_error err = EDR_ERROR_INIT;
    int rc = h->failed || !h->probe ? 0 : eng_check_room(h->probe, r->snap_size, &err);
    if (rc) {
      eng_host_fail(h, rc, "%s (the snapshot %s is %llu bytes)", edr_error_text(&err),
                    r->plan->snapshot, (unsigned long long)r->snap_size);
      failed = rc;
    }
    edr_error_release(&err);
  }
  r->launched = true;
  if (failed)
    eng_check_barrier(r);
  return failed;
}

static bool host_settled(const struct host *h) {
  return h->closed || (eng_host_idle(h) && !h->in_step && !h->waiting_leader && !h->waiting_ask &&
                       !h->waiting_relay);
}

void edr_exec_ask_again(struct edr_exec_run *run) {
  struct run *r = run->run;
  for (size_t i = 0; i < r->n; i++) {
    struct host *h = &r->hosts[i];
    if (h->waiting_ask) {
      h->waiting_ask = false;
      eng_advance(h);
    }
  }
}

/* ---- stages and gates ---------------------------------------------------- */

static void enter_stage(struct run *r, size_t k) {
  const struct edr_plan *p = r->plan;
  assert(k == r->stage + 1 && k < p->n_stages && !r->aborting);
  const struct edr_stage *st = &p->stages[k];
  r->stage = k;
  edr_str_reset(&r->gate_note);
  r->gate_done = r->gate_failed = false;
  r->gate_attempts = 0;
  if (st->phase > r->phase)
    r->phase = st->phase;
  bool steps = st->gate != EDR_GATE_NONE;
  for (size_t i = 0; i < r->n && !steps; i++)
    for (size_t j = 0; j < r->hosts[i].hp->n_steps; j++)
      steps |= r->hosts[i].hp->steps[j].stage == k;
  bool named = edr_plan_kinds[p->kind].operator_stages;
  if (named && steps)
    eng_info(r, "step %s%s%s", st->name, st->title ? ": " : "", st->title ? st->title : "");
  else if (!named && st->phase == EDR_PHASE_APPLY)
    eng_info(r, "every host is prepared; applying (stop etcd, swap member dirs, start)");
  /* A host with nothing to do in this stage goes idle at once: the barrier
   * must not be judged before every host was given its step. */
  r->launched = false;
  for (size_t i = 0; i < r->n; i++)
    eng_advance(&r->hosts[i]);
  r->launched = true;
  eng_check_barrier(r); /* also a stage where no host has a step */
}

/* Ask the operator on the terminal.  Returns true to go on; false after
 * declining (the run is then stopping). */
static bool confirm(struct run *r, const char *message) {
  edr_progress_hide(r->progress);
  fputc('\n', stderr);
  if (!message) {
    if (!r->opts->decide) /* else decide() has said what will be done */
      edr_plan_print(r->plan, stderr);
    fprintf(stderr, "\nEvery check passed and nothing has been changed yet. The next step "
                    "(%s) changes the hosts.\n", r->plan->stages[r->first_destructive].name);
  } else {
    fprintf(stderr, "%s\n", message);
  }
  uint64_t asked = edr_now_ms();
  bool yes = edr_exec_interactive() && edr_prompt_yes(); /* no terminal: nobody to say yes */
  edr_progress_show(r->progress);
  /* The loop stood still meanwhile: no heartbeat reached the agents, which
   * end after agent_idle_ms (alive.c). */
  if (yes && edr_now_ms() - asked + r->keepalive_ms >= r->agent_idle_ms) {
    edr_err("the answer came after %llus, when the agents on the hosts have ended (they "
            "wait %llus): run the command again and answer sooner",
            (unsigned long long)((edr_now_ms() - asked) / 1000),
            (unsigned long long)(r->agent_idle_ms / 1000));
    yes = false;
  }
  json_t *f = json_pack("{s:s}", "before", r->plan->stages[r->stage + (message ? 0 : 1)].name);
  edr_journal_event(r->opts->journal, yes ? "confirmed" : "declined", f);
  json_decref(f);
  if (yes)
    return true;
  edr_err("not confirmed: stopping%s", r->phase <= EDR_PHASE_PREPARE
                                           ? "; no host has been changed" : "");
  r->declined = true;
  r->stop_requested = true;
  eng_check_barrier(r);
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
    g->message = msg ? strdup(msg) : r->gate_note.len ? strdup(r->gate_note.buf) : NULL;
  }
  json_t *f = json_pack("{s:I, s:s, s:s, s:s, s:i, s:s?}", "stage", (json_int_t)r->stage,
                        "name", st->name, "gate", edr_gate_names[st->gate], "state", event,
                        "status", status, "message", msg);
  edr_journal_event(r->opts->journal, "gate", f);
  json_decref(f);
}

/* The stage's gate ended: retry it, or record it and go on or stop. */
static void vgate_finish(struct run *r, int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vgate_finish(struct run *r, int status, const char *fmt, va_list ap) {
  const struct edr_stage *st = &r->plan->stages[r->stage];
  struct edr_str text = EDR_STR_INIT;
  if (fmt)
    edr_str_vappendf(&text, fmt, ap);
  const char *msg = text.buf;
  r->gate_running = false;
  if (status && status != EDR_ECANCELED && r->gate_attempts < st->retries && !r->interrupted) {
    r->gate_attempts++;
    edr_warn("%s (%s) failed: %s; trying again in %.1fs (%u of %u)", st->name,
             edr_gate_names[st->gate], msg, (double)st->retry_delay_ms / 1000.0,
             r->gate_attempts, st->retries);
    journal_gate(r, "retry", status, msg);
    r->gate_running = true;
    uv_timer_start(&r->gate_timer, gate_timer_cb, st->retry_delay_ms, 0);
    edr_str_release(&text);
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
    edr_progress_gate(r->progress, edr_gate_names[st->gate], "done",
                      r->gate_note.len ? r->gate_note.buf : st->name);
  if (status) {
    if (edr_plan_kinds[r->plan->kind].operator_stages)
      edr_err("%s: %s%s%s", st->name, msg, st->note ? "\n  " : "", st->note ? st->note : "");
    else
      edr_err("%s", msg);
    edr_progress_gate(r->progress, edr_gate_names[st->gate], "failed", msg);
    r->gate_failed = true;
    free(r->res->message);
    r->res->message = strdup(msg);
    r->stop_requested = true;
  }
  edr_str_release(&text);
  eng_check_barrier(r);
}

void eng_gate_finish(struct run *r, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vgate_finish(r, status, fmt, ap);
  va_end(ap);
}

/* A gate of the command layer's finished (gate.h). */
void edr_gate_done(struct edr_gate *g, int status, const char *fmt, ...) {
  struct run *r = g->engine;
  assert(g == &r->gate && r->gate_ops && r->gate_running); /* once per start() */
  r->gate_ops = NULL;
  if (g->health_ms)
    r->res->health_ms = g->health_ms;
  if (g->unhealthy)
    r->health_gate_failed = true;
  if (!status)
    edr_str_setf(&r->gate_note, "%s", g->note.buf);
  va_list ap;
  va_start(ap, fmt);
  vgate_finish(r, status, fmt, ap);
  va_end(ap);
}

void edr_gate_waiting(struct edr_gate *g, const char *line) {
  struct run *r = g->engine;
  edr_progress_gate(r->progress, edr_gate_names[g->stage->gate], "waiting", line);
}

static void gate_timer_cb(uv_timer_t *t) {
  struct run *r = t->data;
  const struct edr_stage *st = &r->plan->stages[r->stage];
  r->gate_running = false;
  if (st->gate == EDR_GATE_PAUSE) { /* the pause is over (a pause never fails) */
    eng_gate_finish(r, r->interrupted ? EDR_ECANCELED : 0, r->interrupted ? "interrupted" : NULL);
    return;
  }
  start_gate(r); /* a retry */
}

static void start_gate(struct run *r) {
  const struct edr_stage *st = &r->plan->stages[r->stage];
  assert(!r->gate_running && !r->gate_done); /* one gate at a time, once per stage */
  r->gate_running = true;
  journal_gate(r, "start", 0, NULL);
  {
    char line[600];
    snprintf(line, sizeof line, "%s: %s", st->name, st->title ? st->title
                                                  : edr_gate_names[st->gate]);
    if (st->gate != EDR_GATE_CONFIRM)
      edr_progress_gate(r->progress, edr_gate_names[st->gate], "start", line);
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
      eng_gate_finish(r, EDR_EINTERNAL, "%s: no implementation of this gate was given "
                  "(an etcd-dr bug)", edr_gate_names[st->gate]);
      return;
    }
    /* a new call record; its strings' buffers are kept (the engine's) */
    edr_str_reset(&r->gate.note);
    edr_str_reset(&r->gate.problem);
    r->gate = (struct edr_gate){.loop = &r->loop, .plan = r->plan, .stage = st,
                                .bump = r->bump, .snapshot_revision = r->snap_revision,
                                .engine = r, .note = r->gate.note,
                                .problem = r->gate.problem};
    r->gate_ops->start(&r->gate);
    return;
  case EDR_GATE_CONFIRM:
    r->gate_running = false;
    if (!r->opts->assume_yes && !confirm(r, st->message))
      return;
    if (r->opts->assume_yes)
      eng_info(r, "%s: %s: going on without asking (--yes)", st->name,
               st->message ? st->message : "confirm");
    edr_str_setf(&r->gate_note, "%s", r->opts->assume_yes ? "--yes" : "confirmed by the operator");
    eng_gate_finish(r, 0, NULL);
    return;
  case EDR_GATE_PAUSE:
    edr_progress_gate(r->progress, "pause", "waiting", st->title ? st->title : "pause");
    uv_timer_start(&r->gate_timer, gate_timer_cb, st->pause_ms, 0);
    return;
  case EDR_GATE_NONE:
  case EDR_GATE__COUNT:
    break;
  }
  eng_gate_finish(r, 0, NULL);
}

/* Called whenever a host stops moving: decide what the run does next. */
void eng_check_barrier(struct run *r) {
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
      if (h->failed && eng_host_idle(h) && !h->in_step)
        eng_advance(h);
      all_settled &= host_settled(h);
    }
  }
  if ((any_failed || r->interrupted || r->stop_requested) && !r->aborting) {
    r->aborting = true;
    eng_cancel_leader(r);
    eng_wake_leader(r);
    if (r->phase <= EDR_PHASE_PREPARE)
      eng_info(r, "stopping: no host has been changed; removing what was staged");
    else if (r->phase == EDR_PHASE_APPLY)
      eng_info(r, "stopping every host at its next step boundary");
    for (size_t i = 0; i < r->n; i++) {
      struct host *h = &r->hosts[i];
      if (eng_host_idle(h) && !h->in_step)
        eng_advance(h); /* a failed or waiting host: clean up or close */
    }
    return;
  }
  if (r->aborting) {
    for (size_t i = 0; i < r->n; i++) {
      struct host *h = &r->hosts[i];
      if (eng_host_idle(h) && !h->in_step && h->failed && !h->cleaned &&
          r->phase <= EDR_PHASE_PREPARE)
        eng_abort_cleanup(h);
      else if (eng_host_idle(h) && !h->in_step && h->failed)
        eng_abort_release(h);
    }
    return;
  }
  if (!all_settled || r->gate_running)
    return;
  if (r->leader_pending)
    return; /* leader.c's edr_leader_done() comes back here */
  if (eng_leader_refusals(r))
    return; /* the eng_host_fail inside has started the abort */
  const struct edr_stage *st = &r->plan->stages[r->stage];
  if (st->gate != EDR_GATE_NONE && !r->gate_done) {
    start_gate(r);
    return;
  }
  if (r->stage + 1 >= r->plan->n_stages)
    return; /* the run is over: every host closes after its last step */
  bool going = false;
  for (size_t i = 0; i < r->n; i++)
    going |= !r->hosts[i].failed;
  if (!going)
    return; /* keep-going, and every host failed: nothing is left to run */
  if (r->stage == 0) {
    if (!r->leader_asked) {
      eng_find_leader(r);
      if (r->leader_pending && r->leader_blocks)
        return; /* edr_leader_done() comes back here */
    }
    if (check_room_on_host_snapshot(r) || compute_bump(r))
      return; /* the eng_host_fail inside has started the abort */
  }
  bool ask = r->plan->confirm;
  if (r->stage + 1 == r->first_destructive && r->opts->decide && !r->decided) {
    r->decided = true;
    edr_progress_hide(r->progress); /* decide() prints: not into the live block */
    ask = r->opts->decide(r->opts->hook_arg, r->res) && ask;
    edr_progress_show(r->progress);
  }
  if (ask && !r->opts->assume_yes &&
      r->stage + 1 == r->first_destructive && !confirm(r, NULL))
    return;
  enter_stage(r, r->stage + 1);
}
