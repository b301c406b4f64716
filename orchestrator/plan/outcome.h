/*
 * outcome.h - how a run of a plan ended: the exit statuses
 * (docs/exit-codes.md) and the result of every host, step and gate.
 *
 * The engine fills these (engine/executor.h's edr_execute); the journal,
 * the report and the commands read them.  They live beside the plan because
 * they are indexed like it (one host result per plan host, one step result
 * per plan step, one gate result per stage) and so that every layer that
 * reads them can, without depending on the engine.
 *
 * Ownership: a struct edr_run_result owns its strings, arrays and JSON
 * results; edr_run_result_release releases them (not the struct itself).
 */
#ifndef EDR_OUTCOME_H
#define EDR_OUTCOME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum edr_exit {
  EDR_EXIT_OK = 0,
  EDR_EXIT_INTERNAL = 1,     /* a bug or an unexpected local failure */
  EDR_EXIT_USAGE = 2,        /* bad arguments or an invalid spec; nothing contacted */
  EDR_EXIT_SNAPSHOT = 3,     /* the snapshot was rejected; nothing contacted */
  EDR_EXIT_PREFLIGHT = 4,    /* a host failed a check; no host was changed */
  EDR_EXIT_APPLY = 5,        /* failed after hosts were changed; see the report */
  EDR_EXIT_UNHEALTHY = 6,    /* restored, but the cluster did not become healthy */
  EDR_EXIT_DECLINED = 7,     /* the operator said no at a confirmation */
  EDR_EXIT_QUORUM_LOST = 8,  /* status: fewer than a majority of members healthy */
  EDR_EXIT_INTERRUPTED = 130,
};

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
  char *message;               /* first failure in words, or NULL; for a host
                                  left out, why */
  bool left_out;               /* an optional host (plan.h) that failed its check:
                                  the run went on without it */
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
  /* How the snapshot was pushed: {"mode", "chosen": "zstd"|"off", "reason",
   * the sample's figures, and once sent "raw_bytes", "wire_bytes",
   * "ratio"}; NULL when no snapshot was pushed.  Owned. */
  json_t *compression;
  const char *leader;          /* the running cluster's leader as found before
                                * apply (stopped after the others if apply
                                * ran); NULL when fewer than two members ran
                                * or none answered (borrowed from the plan) */
};

void edr_run_result_release(struct edr_run_result *res);

#endif
