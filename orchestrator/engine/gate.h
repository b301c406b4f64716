/*
 * gate.h - how the engine runs work it does not know by name: the gates
 * between stages that talk to etcd (health, wait-healthy, member-add and
 * -remove, snapshot-save) and the lookup of the running cluster's leader.
 *
 * The command layer owns the implementations (cmd/gates.c) and lends a
 * table of them to edr_execute through edr_exec_opts.gates; the engine owns
 * the call record (struct edr_gate) and keeps the gate's retries, journal
 * entries, progress lines and exit policy.  The engine's own gates (confirm,
 * pause) need no table.
 *
 * The contract is asynchronous: start() returns at once or after doing the
 * work, and calls edr_gate_done() exactly once, from the run's loop thread
 * (possibly before start() returns), and touches G no more after it: the
 * engine may start the next stage's gate in it.  cancel() asks a running gate to end
 * soon (the operator interrupted); it still calls edr_gate_done(), with
 * EDR_ECANCELED or its result.  A gate that blocks inside start() cannot be
 * cancelled: today member-add/-remove, snapshot-save and wait-healthy's
 * first status ask do, on private loops (ARCHITECTURE.md).
 */
#ifndef EDR_GATE_H
#define EDR_GATE_H

#include "plan.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct edr_gate;

struct edr_gate_ops {
  void (*start)(struct edr_gate *g);
  void (*cancel)(struct edr_gate *g);   /* NULL: the gate cannot be cut short */
};

/* What the command layer lends the engine.  Every member may be NULL: a
 * stage whose gate has no implementation fails (EDR_ENOTSUP), and without
 * find_leader no member is stopped last. */
struct edr_exec_gates {
  const struct edr_gate_ops *kinds[EDR_GATE__COUNT];
  /* The index in PLAN->hosts of the running cluster's leader, or -1 when
   * none answered.  It blocks (bounded by its own timeouts) and may run on
   * libuv's thread pool: it only reads the plan, which nobody changes. */
  long (*find_leader)(const struct edr_plan *plan);
};

/* One run of a gate.  The engine fills the first block (borrowed for the
 * gate's life); the gate may keep its own state in impl and sets the rest
 * before edr_gate_done(). */
struct edr_gate {
  uv_loop_t *loop;               /* the run's loop */
  const struct edr_plan *plan;
  const struct edr_stage *stage;
  int64_t bump;                  /* --bump-revision in use (0: none) */
  void *engine;                  /* the engine's own; gates never look */

  void *impl;                    /* the gate's own, freed by it before done */
  char note[1024];               /* on success: what was done, for the report */
  /* The restore's health gate: when the wait ended, how long it took, and
   * the last reason for waiting (the run's message if it failed). */
  bool unhealthy;
  uint64_t health_ms;
  char problem[512];
};

/* The gate finished: STATUS 0 (G->note says what was done) or a negative
 * EDR_E* code with FMT saying why.  Once per start(); from the loop thread. */
void edr_gate_done(struct edr_gate *g, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A gate has a line on the operator's display while it waits (health). */
void edr_gate_waiting(struct edr_gate *g, const char *line);

#endif
