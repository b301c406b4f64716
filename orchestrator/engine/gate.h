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
 * The contract is asynchronous: start() begins the work on the run's loop
 * (struct edr_gate's loop) and returns at once; the gate calls
 * edr_gate_done() exactly once, from that loop (possibly before start()
 * returns, when it fails at once), and touches G no more after it: the
 * engine may start the next stage's gate in it.  A gate never blocks and
 * never runs a loop of its own.  cancel() asks a running gate to end soon
 * (the operator interrupted): it ends the gate's requests in flight and the
 * gate still calls edr_gate_done(), with EDR_ECANCELED or its result.
 */
#ifndef EDR_GATE_H
#define EDR_GATE_H

#include "plan.h"
#include "str.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct edr_gate;
struct edr_leader_ops;

struct edr_gate_ops {
  void (*start)(struct edr_gate *g);
  void (*cancel)(struct edr_gate *g);   /* NULL: the gate cannot be cut short */
};

/* What the command layer lends the engine.  Every member may be NULL: a
 * stage whose gate has no implementation fails (EDR_ENOTSUP), and without
 * a leader lookup no member is stopped last. */
struct edr_exec_gates {
  const struct edr_gate_ops *kinds[EDR_GATE__COUNT];
  /* The lookup of the running cluster's leader, asynchronous as a gate:
   * start() asks on the run's loop and calls edr_leader_done() once. */
  const struct edr_leader_ops *leader;
};

/* One lookup of the leader.  The engine fills loop, plan and engine; the
 * lookup keeps its own state in impl. */
struct edr_leader_ask {
  uv_loop_t *loop;               /* the run's loop */
  const struct edr_plan *plan;
  void *engine;                  /* the engine's own; lookups never look */
  void *impl;
};

struct edr_leader_ops {
  void (*start)(struct edr_leader_ask *a);
  void (*cancel)(struct edr_leader_ask *a);   /* ends it soon: done(-1) follows */
};

/* The lookup ended: LEADER is the index in plan->hosts of the member that
 * leads, or -1 when none answered or it was cancelled.  Once per start();
 * from the loop. */
void edr_leader_done(struct edr_leader_ask *a, long leader);
/* The lookup found that HOST's member cannot be checked the way the run
 * asks it (MSG says why and what to do): the run fails that host with CODE
 * once every host is between steps, before anything is stopped.  Before
 * edr_leader_done(); a second call for the same host is ignored. */
void edr_leader_refuse(struct edr_leader_ask *a, size_t host, int code, const char *msg);

/* One run of a gate.  The engine fills the first block (borrowed for the
 * gate's life); the gate may keep its own state in impl and sets the rest
 * before edr_gate_done().  The engine owns the strings and frees them. */
struct edr_gate {
  uv_loop_t *loop;               /* the run's loop */
  const struct edr_plan *plan;
  const struct edr_stage *stage;
  int64_t bump;                  /* --bump-revision in use (0: none) */
  int64_t snapshot_revision;     /* the plan's, or as the host holding the
                                    snapshot read it in the check; <= 0: unknown */
  void *engine;                  /* the engine's own; gates never look */

  void *impl;                    /* the gate's own, freed by it before done */
  struct edr_str note;           /* on success: what was done, for the report */
  /* The restore's health gate: when the wait ended, how long it took, and
   * the last reason for waiting (the run's message if it failed). */
  bool unhealthy;
  uint64_t health_ms;
  struct edr_str problem;
};

/* The gate finished: STATUS 0 (G->note says what was done) or a negative
 * EDR_E* code with FMT saying why.  Once per start(); from the loop thread. */
void edr_gate_done(struct edr_gate *g, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A question to the agent of HOST (an index in plan->hosts) while the gate
 * runs: REQ (stolen) goes out when that host's connection is free between
 * steps, and FN gets the reply once, from the loop (never inside this
 * call): STATUS 0 and REPLY (borrowed) when the agent said ok, else its
 * error code with REPLY (its "error" says why) or a transport failure with
 * REPLY NULL.  The agent bounds its own work by TIMEOUT_MS; the connection
 * gives up a while after.  Returns 0, or EDR_ENOMEM (and FN never runs).
 * The health wait, member-add and -remove ask a member's client URL from
 * a member's own host this way (etcd-http, docs/agent-protocol.md). */
typedef void (*edr_gate_reply_fn)(void *arg, int status, json_t *reply);
int edr_gate_ask(struct edr_gate *g, size_t host, json_t *req, uint64_t timeout_ms,
                 edr_gate_reply_fn fn, void *arg);
/* Whether HOST's agent is connected and can be asked now. */
bool edr_gate_can_ask(const struct edr_gate *g, size_t host);
/* Why HOST, an optional host (plan.h), was left out of the run (its
 * check failed: borrowed, the run's), or NULL when it was not. */
const char *edr_gate_left_out(const struct edr_gate *g, size_t host);
/* The same for the leader lookup while it runs: member-add and -remove
 * and the lookup ask through a member's host what this machine cannot ask
 * (cmd/gates.c). */
int edr_leader_ask_host(struct edr_leader_ask *a, size_t host, json_t *req,
                        uint64_t timeout_ms, edr_gate_reply_fn fn, void *arg);
bool edr_leader_can_ask(const struct edr_leader_ask *a, size_t host);
/* Whether HOST's probe (its check, before the lookup) found its etcd
 * running: what the host itself says, for the lookup to weigh what this
 * machine sees of the member's client URL against. */
bool edr_leader_etcd_running(const struct edr_leader_ask *a, size_t host);

/* A gate has a line on the operator's display while it waits (health). */
void edr_gate_waiting(struct edr_gate *g, const char *line);

#endif
