/*
 * executor.h - carry out a restore plan on every host at once.
 *
 * One libuv loop drives one state machine per host (one SSH connection
 * each) through the plan's steps.  Phases are barriers: no host starts the
 * destructive apply phase until every host finished prepare, and cleanup
 * waits until the whole cluster is healthy.  A failure in prepare removes
 * what was staged and leaves every host as it was; a failure in apply stops
 * the other hosts at their next step boundary and says where each stands.
 *
 * Ownership: edr_execute borrows the plan; the result it fills (outcome.h)
 * is released with edr_run_result_release.
 */
#ifndef EDR_EXECUTOR_H
#define EDR_EXECUTOR_H

#include "agent_conn.h"
#include "outcome.h"
#include "plan.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct edr_journal;
struct edr_exec_gates;
struct edr_exec_run;  /* a run under way, lent to opts->on_loop */

enum edr_ask { EDR_ASK_SKIP, EDR_ASK_RUN, EDR_ASK_LATER };

/* Where the bytes of an agent's `send` go (snapshot save --via ssh), as they
 * arrive (agent_conn.h's edr_agent_sink); a failure fails the step with
 * the sink's message. */
typedef edr_agent_sink edr_exec_sink;

struct edr_exec_opts {
  bool accept_new_hostkeys;    /* record unknown host keys (never changed ones) */
  struct edr_journal *journal; /* borrowed; every step start/end goes there */
  /* Resuming a run: {"apply_started": bool, "hosts": {NAME: [done step
   * indices]}, "snapshot_remote_sha256": the sha-256 a snapshot on a host
   * had when the run checked it} from its journal (borrowed), or NULL. */
  json_t *resume;
  const char *agent_path;      /* local etcd-dr-agent for its architecture (the
                                  others' still next to etcd-dr); NULL: all
                                  next to etcd-dr (edr_agents_find) */
  uint64_t stall_timeout_ms;   /* a push with no progress this long fails */
  bool assume_yes;             /* --yes: never ask for a confirmation */
  edr_exec_sink fetch_sink;    /* fetch-snapshot's bytes; NULL: dropped */
  void *fetch_arg;             /* borrowed, passed to fetch_sink */
  uint64_t fetch_max_bytes;    /* a larger announced fetch fails; 0: no bound */
  /* Asked (on the run's loop, before the step starts) whether an ask-etcd
   * step of host HOST (index in the plan) runs: EDR_ASK_LATER parks the
   * host until the caller calls edr_exec_ask_again() (status waits there
   * for its HTTP answers, asked on the same loop).  It must not block.
   * NULL: all run. */
  enum edr_ask (*want_ask)(void *arg, size_t host);
  void *want_ask_arg;
  /* Called once, on the run's loop before any host starts, with the loop
   * and the run: the caller may start its own asynchronous work there
   * (status's HTTP asks) and must end it before the loop can end.  Gets
   * want_ask_arg.  NULL: nothing. */
  void (*on_loop)(void *arg, uv_loop_t *loop, struct edr_exec_run *run);
  /* Each host on its own: a host's failure ends that host only (its
   * staging removed, its connection closed) and the others go on; the
   * result says per host how it went.  Only for a plan that changes
   * nothing (EDR_PLAN_CHECK: status); any other plan is refused. */
  bool keep_going;
  /* No progress display and no info lines of the run: the caller's
   * stdout carries its result and the run is a detail (snapshot save
   * --via ssh off a terminal).  Errors and warnings still show. */
  bool quiet;
  /* The gates that talk to etcd and the leader lookup (gate.h), borrowed;
   * NULL: such a gate fails and no member is stopped last. */
  const struct edr_exec_gates *gates;
  /* The hosts' connections (agent_conn.h), borrowed; NULL: SSH
   * (edr_agent_ssh_ops).  A test lends a fake agent here. */
  const struct edr_agent_ops *agent_ops;
  /* The spec options as typed (--cluster ...), borrowed, for the commands
   * a message tells the operator to run; NULL: "--cluster FILE". */
  const char *spec_args;
  /* For a command whose later steps depend on what the hosts returned
   * (prune).  decide: called once, when every host finished the stages
   * before the first one that changes a host (RES holds their results); it
   * prints what will be done, shown in place of the plan when asking for
   * confirmation, and returns false when nothing will change (nothing is
   * then asked).  fill: called with the request of each agent step before
   * it is sent (HOST and STEP index the plan) and may change it; returns 0
   * or a negative EDR_E* code that fails the step. */
  bool (*decide)(void *arg, const struct edr_run_result *res);
  int (*fill)(void *arg, size_t host, size_t step, json_t *req);
  void *hook_arg;
};

/* The answers of want_ask may have changed: hosts it parked ask again.
 * From the run's loop only. */
void edr_exec_ask_again(struct edr_exec_run *run);

/* Whether a person can be asked: standard input and error are terminals. */
bool edr_exec_interactive(void);

/* Run PLAN.  Always fills *res (even on failure) and returns its exit code. */
int edr_execute(const struct edr_plan *plan, const struct edr_exec_opts *o,
                struct edr_run_result *res);

/* One local agent binary (agents.c). */
struct edr_agent_file {
  char *path;                        /* owned; NULL: none */
  uint64_t size;
  char sha256[65];                   /* what the agent's hello must say */
  char *gz_path;                     /* owned: PATH.gz, its gzip as the build made
                                        it; NULL: none usable, it goes raw */
  uint64_t gz_size;
};

/* The local agents, one per architecture and build (agents.c). */
struct edr_agents {
  struct edr_agent_file bin[EDR_ARCH__COUNT][EDR_AGENT__VARIANTS];
};

/* Find the agents: GIVEN (--agent; NULL: $ETCD_DR_AGENT) as the one
 * agent for the architecture its ELF header names (in the FULL slot), and
 * each architecture's edr_archs[].file[] of each build beside this
 * executable, else in ../libexec/etcd-dr/, for the others; each with its
 * FILE.gz when that is there, not older than FILE and ends with FILE's
 * length (gzip's trailer).  0 when at least one
 * was found; else a negative EDR_E* code with ERR (the caller's) saying
 * what is missing.  edr_agents_release frees the paths. */
int edr_agents_find(struct edr_agents *ag, const char *given, struct edr_error *err);
void edr_agents_release(struct edr_agents *ag);
/* The first architecture that has an agent, -1 when none. */
int edr_agents_first(const struct edr_agents *ag);
/* Architecture A's agent of build WANT, else its other build (borrowed
 * from AG); NULL when A has none. */
const struct edr_agent_file *edr_agents_pick(const struct edr_agents *ag, int a,
                                             enum edr_agent_variant want);

#endif
