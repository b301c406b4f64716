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
 * Ownership: edr_execute borrows the plan; the result it fills is released
 * with edr_run_result_free.
 */
#ifndef EDR_EXECUTOR_H
#define EDR_EXECUTOR_H

#include "plan.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct edr_journal;
struct edr_run_result;

/* Where the bytes of an agent's `send` go (snapshot save --via ssh), as they
 * arrive.  Returns 0, or a negative EDR_E* code after writing why into
 * MSG[MSGLEN]; the rest of the stream is then read and dropped (so the agent
 * stays in step) and the step fails with that message. */
typedef int (*edr_exec_sink)(void *arg, const unsigned char *buf, size_t len,
                             char *msg, size_t msglen);

struct edr_exec_opts {
  bool accept_new_hostkeys;    /* record unknown host keys (never changed ones) */
  struct edr_journal *journal; /* borrowed; every step start/end goes there */
  /* Resuming a run: {"apply_started": bool, "hosts": {NAME: [done step
   * indices]}} from its journal (borrowed), or NULL. */
  json_t *resume;
  const char *agent_path;      /* local etcd-dr-agent; NULL: next to etcd-dr */
  uint64_t stall_timeout_ms;   /* a push with no progress this long fails */
  bool assume_yes;             /* --yes: never ask for a confirmation */
  edr_exec_sink fetch_sink;    /* fetch-snapshot's bytes; NULL: dropped */
  void *fetch_arg;             /* borrowed, passed to fetch_sink */
  /* Asked (from the loop's thread, before the step starts) whether an
   * ask-etcd step of host HOST (index in the plan) runs; false skips it.
   * It may block: status waits there for its HTTP answers.  NULL: all run. */
  bool (*want_ask)(void *arg, size_t host);
  void *want_ask_arg;
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

/* Whether a person can be asked: standard input and error are terminals. */
bool edr_exec_interactive(void);

enum edr_host_outcome {
  EDR_HOST_UNTOUCHED,   /* nothing changed on the host */
  EDR_HOST_RESTORED,    /* every step done */
  EDR_HOST_PARTIAL,     /* changed, then stopped or failed mid-apply */
};

struct edr_step_result {
  int status;                  /* 0, or the EDR_E* code it failed with */
  bool started, finished;
  uint64_t duration_ms;
  uint64_t bytes;              /* pushed */
  char *message;               /* the failure in words, or NULL */
  json_t *result;              /* the agent's result object, or NULL */
};

struct edr_host_result {
  const char *member;          /* borrowed from the plan */
  enum edr_host_outcome outcome;
  int status;                  /* first failure, or 0 */
  char *message;               /* first failure in words, or NULL */
  size_t steps_done;           /* steps finished successfully */
  struct edr_step_result *steps;   /* one per plan step */
  size_t n_steps;
  char hostkey_fp[80];
};

struct edr_gate_result {       /* a stage's coordinator work (plan.h's gates) */
  bool started, finished;
  int status;
  unsigned retries;            /* failed attempts tried again */
  uint64_t duration_ms;
  char *message;               /* what was done, or why it failed */
};

struct edr_run_result {
  int exit_code;               /* as docs/exit-codes.md */
  size_t n_stages;
  struct edr_gate_result *gates;   /* one per plan stage */
  char *message;               /* what went wrong for the run, or NULL */
  size_t n_hosts;
  struct edr_host_result *hosts;
  uint64_t duration_ms;
  uint64_t health_ms;          /* time spent waiting for health */
  const char *leader;          /* the running cluster's leader as found before
                                * apply (stopped after the others if apply
                                * ran); NULL when fewer than two members ran
                                * or none answered (borrowed from the plan) */
};

/* Run PLAN.  Always fills *res (even on failure) and returns its exit code. */
int edr_execute(const struct edr_plan *plan, const struct edr_exec_opts *o,
                struct edr_run_result *res);
void edr_run_result_free(struct edr_run_result *res);

/* Where the agent binary is: $ETCD_DR_AGENT, else beside this executable,
 * else ../libexec/etcd-dr/.  Caller frees; NULL when not found. */
char *edr_find_agent(void);

#endif
