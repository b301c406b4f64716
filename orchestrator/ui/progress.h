/*
 * progress.h - what the operator sees while a run acts.
 *
 * On a terminal: one live line per host with its current step, and while
 * pushing a bar with the rate and the time left, redrawn in place; messages
 * print above that block.  Not on a terminal: JSON lines on stdout, one
 * event per step start and end (for scripts and log collectors), while
 * stderr keeps the errors and the summary.  -q shows neither; -v on a
 * terminal also keeps a line per finished step.  ETCD_DR_PROGRESS=tty|json
 * overrides the choice.
 *
 * All calls are from the event loop's thread.  Strings are borrowed.
 *
 * The block is one per process (a singleton), not an object of the run:
 * `etcd-dr status` breaks the rule above by running one executor per host
 * on threads, each calling in here.  It becomes the run's own object once
 * status is one run on one loop (ARCHITECTURE.md, the concurrency model).
 */
#ifndef EDR_PROGRESS_H
#define EDR_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Start showing progress for N hosts named NAMES (borrowed for the run). */
void edr_progress_begin(uv_loop_t *loop, size_t n, const char *const *names);
/* EVENT is "start", "done" or "failed"; DETAIL may be NULL. */
void edr_progress_step(size_t host, const char *step, const char *event,
                       uint64_t duration_ms, uint64_t bytes, const char *detail);
/* Bytes of a push sent so far. */
void edr_progress_bytes(size_t host, uint64_t sent, uint64_t total);
/* A cluster-wide line ("waiting for the cluster: ..."); shown in the block
 * on a terminal, as an event otherwise. */
void edr_progress_cluster(const char *event, const char *text);
/* The same for a stage's coordinator work (a playbook's wait-healthy,
 * member-add, ...): STEP names it in the JSON lines ({"host": "cluster",
 * "step": STEP, "event": "start"|"waiting"|"done"|"failed", "detail": ...}). */
void edr_progress_gate(const char *step, const char *event, const char *text);
void edr_progress_end(void);

/* For log.c: take the live block off the screen before a message is
 * printed, and put it back after. */
void edr_progress_hide(void);
void edr_progress_show(void);

#endif
