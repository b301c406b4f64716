/*
 * plan.h - the restore plan: every action on every host, in order.
 *
 * A spec (and later a playbook) compiles into one edr_plan.  `etcd-dr plan`
 * prints it, `etcd-dr restore` executes it step by step, and the report
 * records it, so what is printed is what runs.  A step that the agent
 * performs carries the exact JSON request sent to the agent; a step that
 * runs a command carries its exact argv.
 *
 * The restore is arranged so that the destructive window is small: the
 * snapshot is pushed, verified and restored into a staging directory inside
 * the data dir (same file system) while etcd may still be running; only
 * when every host got that far does any host stop etcd, rename the old
 * member dir aside (kept, never deleted), rename the staged member into
 * place, fix owner and mode, and start etcd.
 *
 * Ownership: the plan owns every string, step and JSON request in it; it
 * borrows the spec, which must outlive it.
 */
#ifndef EDR_PLAN_H
#define EDR_PLAN_H

#include "spec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum edr_phase {
  EDR_PHASE_CHECK,     /* reads only, and takes the host lock */
  EDR_PHASE_PREPARE,   /* stages; changes nothing etcd uses */
  EDR_PHASE_APPLY,     /* stops etcd and swaps data dirs: destructive */
  EDR_PHASE_CLEANUP,   /* after the cluster is healthy */
  EDR_PHASE__COUNT
};

enum edr_step_kind {
  EDR_STEP_CONNECT,
  EDR_STEP_PUSH_AGENT,
  EDR_STEP_PROBE,
  EDR_STEP_LOCK,
  EDR_STEP_FIND_OLD,
  EDR_STEP_PUSH_TOOL,
  EDR_STEP_TOOL_MODE,
  EDR_STEP_PUSH_SNAPSHOT,
  EDR_STEP_RESTORE,
  EDR_STEP_HOLD_LOCK,
  EDR_STEP_STOP,
  EDR_STEP_CHECK_STOPPED,
  EDR_STEP_MOVE_ASIDE,
  EDR_STEP_MOVE_ASIDE_WAL,
  EDR_STEP_INSTALL,
  EDR_STEP_INSTALL_WAL,
  EDR_STEP_OWNERSHIP,
  EDR_STEP_OWNERSHIP_WAL,
  EDR_STEP_START,
  EDR_STEP_CLEANUP,
  EDR_STEP_UNLOCK,
  /* snapshot save --via ssh (EDR_PLAN_SNAPSHOT) */
  EDR_STEP_MEMBER_UP,        /* the host's etcdctl gets the member's status, bounded:
                                snapshot save has no timeout of its own */
  EDR_STEP_STAGE_DIR,        /* mkdir DATA/.etcd-dr-RUN, removed when the agent exits */
  EDR_STEP_TAKE_SNAPSHOT,    /* the host's etcdctl snapshot save into it */
  EDR_STEP_FETCH_SNAPSHOT,   /* send: streamed back to the executor's fetch sink */
  EDR_STEP_UNSTAGE,          /* remove the staging directory */
  /* status: the host's etcdctl asks its member (plan opts ask_etcd) */
  EDR_STEP_ASK,              /* a failure is a fact about the member, not the host's:
                                its result is the agent's whole reply */
  EDR_STEP__COUNT
};

struct edr_step_kind_info {
  const char *name;          /* "push-snapshot": stable, used in JSON and logs */
  enum edr_phase phase;
  bool destructive;          /* changes what etcd runs on */
  bool on_agent;             /* a request to the agent (else coordinator work) */
  uint64_t timeout_ms;       /* default bound for the whole step */
};

/* The table of step kinds, indexed by enum edr_step_kind. */
extern const struct edr_step_kind_info edr_step_kinds[EDR_STEP__COUNT];
extern const char *const edr_phase_names[EDR_PHASE__COUNT];

struct edr_step {
  enum edr_step_kind kind;
  char *title;               /* one line for a person */
  char *command;             /* the argv shell-quoted, for steps that run one */
  char **argv;               /* that argv, NULL-terminated, owned; or NULL */
  json_t *request;           /* agent request (with "op", without "id"); owned */
  uint64_t timeout_ms;
};

struct edr_host_plan {
  const struct edr_member *member;   /* borrowed from the spec */
  char *staging;             /* DATA/.etcd-dr-RUN: everything staged goes here */
  char *host_snapshot;       /* STAGING/snapshot.db */
  char *restore_dir;         /* STAGING/data: --data-dir of the restore */
  char *wal_staging;         /* WALPARENT/.etcd-dr-RUN-wal, or NULL */
  char *member_aside;        /* DATA/member.etcd-dr-RUN: the old member, kept */
  char *wal_aside;           /* WAL.etcd-dr-RUN, or NULL */
  char *host_tool;           /* pushed restore tool's path on the host, or NULL */
  char *lock_path;           /* DATA/.etcd-dr-lock */
  char *marker;              /* DATA/.etcd-dr-RUN.done: apply steps done here */
  char *failed_aside;        /* rollback: where the restored member goes */
  struct edr_step *steps;
  size_t n_steps;
};

enum edr_plan_kind {
  EDR_PLAN_RESTORE,          /* restore every member from a snapshot */
  EDR_PLAN_CHECK,            /* only the read-only checks (plan --check) */
  EDR_PLAN_ROLLBACK,         /* put back the member dirs a restore moved aside */
  EDR_PLAN_SNAPSHOT,         /* take a snapshot on each host, stream it back; every
                                step is in the check phase: nothing etcd uses is
                                changed, and a failure removes the staging */
};

struct edr_plan_opts {
  enum edr_plan_kind kind;
  const char *snapshot;      /* local path */
  uint64_t snapshot_size;
  const char *snapshot_sha256;   /* hex SHA-256 of the image (the file less its trailer) */
  bool snapshot_has_hash;    /* has the integrity trailer */
  bool skip_hash_check;      /* pass --skip-hash-check to the restore */
  int64_t snapshot_revision; /* the cluster must serve at least this; -1 unknown */
  const char *run_id;        /* NULL: new, from the clock */
  uint64_t health_timeout_ms;
  const char *tool_sha256;   /* of spec's restore_tool_push file, if any */
  uint64_t tool_size;
  bool check_only;           /* same as kind EDR_PLAN_CHECK */
  int64_t bump_revision;     /* 0 none, -1 auto (from the old data), else N */
  bool break_lock;           /* take a host lock held by another run */
  const char *command;       /* "restore", "rollback": recorded in the lock */
  bool ask_etcd;             /* check plan (status): then ask the member with the
                                host's etcdctl: endpoint status, health, alarms */
};

struct edr_plan {
  char run_id[40];
  char *token;               /* --initial-cluster-token */
  char *initial_cluster;     /* name=url,... as passed to every restore */
  const struct edr_spec *spec;
  char *snapshot;
  uint64_t snapshot_size;
  char *snapshot_sha256;
  bool snapshot_has_hash, skip_hash_check;
  int64_t snapshot_revision;
  uint64_t health_timeout_ms;
  bool check_only;
  enum edr_plan_kind kind;
  int64_t bump_revision;     /* 0 none, -1 auto, else N */
  bool break_lock;
  char *command;
  struct edr_host_plan *hosts;   /* one per member, in spec order */
  size_t n_hosts;
};

/* Build the plan.  Returns 0 and sets *out, or a negative EDR_E* code with
 * a message in err.  Opens no connection and reads no file. */
int edr_plan_build(const struct edr_spec *spec, const struct edr_plan_opts *o,
                   struct edr_plan **out, char *err, size_t errlen);
void edr_plan_free(struct edr_plan *plan);

/* A new run id "YYYYMMDD-HHMMSS-xxxx" (UTC, random suffix) into buf[40]. */
void edr_new_run_id(char *buf, size_t len);

void edr_plan_print(const struct edr_plan *plan, FILE *out);
/* The plan as JSON; a new reference. */
json_t *edr_plan_to_json(const struct edr_plan *plan);

#endif
