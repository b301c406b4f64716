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
 * The display is an object owned by the run that shows it (the engine's
 * run.c: begin before its loop runs, end after): nothing here is global,
 * so two runs never share a block.  All calls are from that run's loop
 * thread.  Strings are borrowed.  Every call accepts a NULL display (out
 * of memory at begin) and does nothing.
 */
#ifndef EDR_PROGRESS_H
#define EDR_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

struct edr_progress;  /* opaque */

/* Start showing progress for N hosts named NAMES (borrowed for the run).
 * NULL only when out of memory.  LOOP drives the terminal's redraws. */
struct edr_progress *edr_progress_begin(uv_loop_t *loop, size_t n, const char *const *names);
/* EVENT is "start", "done" or "failed"; DETAIL may be NULL. */
void edr_progress_step(struct edr_progress *p, size_t host, const char *step,
                       const char *event, uint64_t duration_ms, uint64_t bytes,
                       const char *detail);
/* Bytes of a push sent so far. */
void edr_progress_bytes(struct edr_progress *p, size_t host, uint64_t sent, uint64_t total);
/* A cluster-wide line ("waiting for the cluster: ..."); shown in the block
 * on a terminal, as an event otherwise. */
void edr_progress_cluster(struct edr_progress *p, const char *event, const char *text);
/* The same for a stage's coordinator work (a playbook's wait-healthy,
 * member-add, ...): STEP names it in the JSON lines ({"host": "cluster",
 * "step": STEP, "event": "start"|"waiting"|"done"|"failed", "detail": ...}). */
void edr_progress_gate(struct edr_progress *p, const char *step, const char *event,
                       const char *text);
/* Stop showing it and free P (its timer closes on the loop: run the loop
 * once more, as the engine does when it closes its handles). */
void edr_progress_end(struct edr_progress *p);

/* Where the JSON lines go: stdout unless a command keeps stdout for one
 * document of its own (`plan --check --format json` sends them to stderr).
 * F is borrowed; set before the run. */
void edr_progress_events_to(FILE *f);

/* Take the live block off the screen before a message is printed, and
 * put it back after (log.c's hooks). */
void edr_progress_hide(struct edr_progress *p);
void edr_progress_show(struct edr_progress *p);

#endif
