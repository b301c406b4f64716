/*
 * pb.h - what the playbook files share (private to plan/): the kinds of
 * steps a playbook has, a loaded playbook, and the compiler's context.
 * playbook.c loads and checks a playbook; pb_compile.c resolves variables
 * and fields and drives the two passes; pb_emit.c turns one step into plan
 * steps or a stage's gate.
 */
#ifndef EDR_PB_H
#define EDR_PB_H

#include "playbook.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pb_kind {
  PB_STOP, PB_START, PB_MOVE_ASIDE, PB_MOVE_BACK, PB_PUSH, PB_RESTORE, PB_WAIT_HEALTHY,
  PB_EXEC, PB_SET_ENV, PB_RESET_ENV, PB_MEMBER_ADD, PB_MEMBER_REMOVE, PB_SNAPSHOT_SAVE,
  PB_CONFIRM, PB_PAUSE, PB__COUNT
};

enum pb_where { ON_HOSTS, ON_CLUSTER, NO_TARGET };

struct pb_kind_info {
  const char *name;
  enum pb_where where;
  bool one_target;           /* exactly one member */
  const char *const fields[5];   /* the kind's own fields */
};

extern const struct pb_kind_info pb_kinds[PB__COUNT];

struct edr_playbook {
  char *path;
  const struct edr_spec *spec;
  json_t *root;
  json_t *vars;              /* name -> value, resolved */
  bool needs_snapshot;
  unsigned restores;         /* restore steps seen while loading */
};

#define CLEANUP_STAGE SIZE_MAX  /* fixed up once the last stage exists */

struct cctx {
  const struct edr_playbook *pb;
  struct edr_plan *p;
  const struct edr_plan_opts *o;
  struct edr_error *err;     /* the caller's: why the playbook was refused */
  bool pass1;
  bool *involved;            /* per host: some step runs there */
  bool *needed;              /* per host: a step of its own, or a gate that asks
                                through it for sure: never optional (plan.h) */
  bool *pushed;              /* per host: something was staged */
  bool *restored;
  bool has_restore;
  size_t prepare_stage;      /* the restore's staging (pass 2) */
  bool held;                 /* the lock was pinned */
  long target;               /* the host a per-host step is built for, -1 */
  long each;                 /* the current member of an each block, -1 */
  const bool *iter;          /* the each block's members */
  const char *block;         /* the each block's name */
  const char *step;          /* the step being compiled */
  json_t *cur;               /* its JSON (borrowed) */
  int depth;                 /* variables expanding variables */
};

int pb_cfail(struct cctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int pb_compile_steps(struct cctx *c, json_t *steps, bool in_block);
int pb_emit_gate(struct cctx *c, json_t *st, int k, const bool *set);
int pb_emit_host(struct cctx *c, json_t *st, int k, long stage, long i);
int pb_emit_restore(struct cctx *c, json_t *st);
bool pb_env_name_ok(const char *s);
struct edr_step *pb_host_step(struct cctx *c, json_t *st, long stage, long host,
                                  enum edr_step_kind kind, json_t *req, char *const *argv,
                                  const char *title);
/* S (just added to HOST, or NULL) with ST's timeout, retries and
 * on_failure; returns S. */
struct edr_step *pb_step_opts(struct cctx *c, json_t *st, long host, struct edr_step *s);
int pb_kind_of(const char *name);
const struct edr_member *pb_mem(const struct cctx *c, long i);
const char *pb_member_list(struct cctx *c, const bool *set, char *buf, size_t len);
long pb_new_stage(struct cctx *c, const char *name, enum edr_phase phase,
                      const char *title);
char *pb_path_field(struct cctx *c, json_t *st, const char *key, const char *dflt, int *rc);
bool pb_plain_text(const char *s);
json_t *pb_run_req(const struct edr_strv *argv, json_t *env);
char *pb_sfield(struct cctx *c, json_t *st, const char *key, int *rc);
char *pb_subst(struct cctx *c, const char *field, const char *in);
int pb_targets(struct cctx *c, json_t *st, const char *dflt, bool *set);
uint64_t pb_ms_field(json_t *st, const char *key, uint64_t dflt);
/* The fields that are durations (timeout, retry_delay, seconds,
 * health_timeout), NULL-terminated. */
extern const char *const pb_duration_fields[];
/* A duration field's value V into *MS: a number of seconds, or a string as
 * the command line's durations ("90s", "2m", "1h30m", "500ms"; a bare
 * number counts seconds); at most 1000000 s.  0 or EDR_EINVAL. */
int pb_duration(json_t *v, uint64_t *ms);

#endif
