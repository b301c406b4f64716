/*
 * abort.c - cleanup when a run stops: before apply, remove what this run
 * staged on each host (and nothing else); after, release the host lock and
 * leave hosts as they are.  Queued requests are sent one by one; their
 * failures are only warned about.
 */
#include "engine.h"

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
  h->between = h->queue_what;
  eng_timer_arm(h, ENG_BETWEEN_STEPS_MS);
  eng_send_request(h, req, -1, 0, queue_next);
}

void eng_queue_run(struct host *h, const char *what, void (*done)(struct host *)) {
  h->queue_what = what;
  h->queue_done = done;
  queue_next(h, 0, NULL);
}

/* A fresh queue removing this run's staging dirs (and nothing else). */
void eng_queue_staging_removal(struct host *h) {
  json_decref(h->cleanup);
  h->cleanup = json_array();
  json_array_append_new(h->cleanup, json_pack("{s:s, s:s}", "op", "remove", "path",
                                              h->hp->staging));
  if (h->hp->wal_holder)
    json_array_append_new(h->cleanup, json_pack("{s:s, s:s}", "op", "remove", "path",
                                                h->hp->wal_holder));
}

/* Queue the removal of the run's staging, then the lock's release; the
 * connection closes after them. */
static void remove_staging_and_unlock(struct host *h) {
  eng_queue_staging_removal(h);
  json_array_append_new(h->cleanup, json_pack("{s:s, s:s, s:s, s:s}", "op", "unlock", "path",
                                              h->hp->lock_path, "run_id",
                                              h->run->plan->run_id, "token",
                                              eng_coordinator_token()));
  eng_queue_run(h, "cleanup", eng_start_close);
}

/* The host answered on the lost connection just before it ended (the agent
 * died or its channel closed, the session did not go silent): worth a new
 * connection.  A host cut off by the network is left to its agent, which
 * cleans up itself after its idle bound (docs/safety.md). */
static bool heard_lately(const struct host *h) {
  const struct run *r = h->run;
  if (!r->ops->last_heard)
    return true;
  uint64_t last = r->ops->last_heard(h->conn);
  return last && edr_now_ms() - last <= r->keepalive_ms;
}

/* Remove what this run staged on the host: nothing else is touched.  A
 * host whose lock this process never took has nothing staged by it (the
 * lock comes first), and the staging dir there, named after the run, may be
 * another coordinator's of the same run: it is left alone.  A host whose
 * connection was lost after the lock while the host still answered (its
 * agent killed) is opened again first (eng_reopen). */
void eng_abort_cleanup(struct host *h) {
  h->cleaned = true;
  if (h->locked && h->conn && !h->run->ops->usable(h->conn) && h->reopen == ENG_REOPEN_NONE &&
      heard_lately(h)) {
    h->reopen = ENG_REOPEN_CLOSING; /* ev_closed comes back to eng_reopen */
    eng_start_close(h);
    return;
  }
  if (!(h->conn && h->run->ops->usable(h->conn)) || !h->locked) {
    eng_start_close(h);
    return;
  }
  remove_staging_and_unlock(h);
}

/* The lock given back, once, where it was taken and the host can still be
 * asked; then the connection closes. */
static void unlock_and_close(struct host *h) {
  if (h->cleaned || !h->locked || !(h->conn && h->run->ops->usable(h->conn))) {
    eng_start_close(h);
    return;
  }
  h->cleaned = true;
  json_decref(h->cleanup);
  h->cleanup = json_array();
  json_array_append_new(h->cleanup, json_pack("{s:s, s:s, s:s, s:s}", "op", "unlock", "path",
                                              h->hp->lock_path, "run_id",
                                              h->run->plan->run_id, "token",
                                              eng_coordinator_token()));
  eng_queue_run(h, "releasing the host lock", eng_start_close);
}

/* A playbook stopped after changing hosts: they stay as they are (the
 * summary says where), but the lock goes, since no resume will take it
 * over.  A restore keeps its lock pinned for resume and rollback. */
void eng_abort_release(struct host *h) {
  if (!edr_plan_kinds[h->run->plan->kind].unlock_on_abort)
    eng_start_close(h);
  else
    unlock_and_close(h);
}

/* Nothing was staged on a host left out (it has no step of its own): only
 * its lock goes, if it holds it and can still be asked; a lost agent ends
 * itself and its unpinned lock with it (docs/safety.md). */
void eng_leave(struct host *h) { unlock_and_close(h); }

/* ---- the cleanup of a host whose connection was lost ----------------------- */

/* The lost connection is closed: a new session and a new agent for the
 * cleanup.  Every failure from here on is only warned about (host.c). */
void eng_reopen(struct host *h) {
  struct run *r = h->run;
  h->reopen = ENG_REOPEN_ON;
  h->lost_conn = h->conn;
  h->conn = r->ops->open(&r->loop, &h->target, &eng_conn_events, h);
  if (!h->conn) {
    edr_warn("%s: out of memory: this run's staging %s stays on the host", h->m->name,
             h->hp->staging);
    h->closed = true;
    eng_check_barrier(r);
    return;
  }
  eng_info(r, "%s: the connection was lost; connecting again to remove this run's staging",
           h->m->name);
  h->between = "connecting again to remove the run's staging";
  h->busy = true;
  eng_timer_arm(h, ENG_BETWEEN_STEPS_MS);
  r->ops->connect(h->conn);
}

/* The lock, taken again: still this process's (or free), so what is named
 * after the run is this run's; else it stays. */
static void on_relocked(struct host *h, int status, json_t *reply) {
  if (status) {
    edr_warn("%s: this run's staging %s stays: the host lock is not this process's any more "
             "(%s)", h->m->name, h->hp->staging,
             json_string_value(json_object_get(json_object_get(reply, "error"), "message")));
    eng_start_close(h);
    return;
  }
  remove_staging_and_unlock(h);
}

static void on_rehello(struct host *h, int status, json_t *reply) {
  json_t *req = status ? NULL : edr_plan_lock_request(h->run->plan, h->hp, true);
  if (!req) {
    eng_host_fail(h, status ? status : EDR_ENOMEM, "the agent refused to start: %s",
                  status ? json_string_value(json_object_get(json_object_get(reply, "error"),
                                                             "message")) : "out of memory");
    return;
  }
  eng_steps[EDR_STEP_LOCK].adjust(h, req);
  json_object_set_new(req, "break", json_false()); /* never another's lock */
  h->between = "taking the host lock again";
  eng_timer_arm(h, ENG_BETWEEN_STEPS_MS);
  eng_send_request(h, req, -1, 0, on_relocked);
}

void eng_reopen_connected(struct host *h) {
  json_t *hello = eng_hello(h);
  if (!hello) {
    eng_host_fail(h, EDR_ENOMEM, "cannot encode a request");
    return;
  }
  h->on_reply = on_rehello;
  h->between = "starting the agent again";
  h->busy = true;
  eng_timer_arm(h, ENG_BETWEEN_STEPS_MS);
  h->run->ops->start_agent(h->conn, hello);
}
