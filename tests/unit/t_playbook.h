/*
 * t_playbook.h - what the playbook tests share (test_playbook.c,
 * test_playbook_compile.c): the three-member specs they load playbooks
 * against, the build helpers (FAILS, OK and friends: load and compile a
 * playbook written with ' for ", see j()), helpers over compiled plans, and
 * CHECK_SHAPE, the shape every compiled playbook must have.  The specs are
 * made by t_playbook_setup() and freed by t_playbook_teardown(); plans the
 * helpers return are the caller's.
 */
#ifndef EDR_T_PLAYBOOK_H
#define EDR_T_PLAYBOOK_H

#include "err.h"
#include "plan.h"
#include "playbook.h"
#include "spec.h"
#include "t.h"
#include "t_plan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define RUN "20260101-000000-abcd"

static char err[2048];

static struct edr_spec *spec;        /* m1..m3, every member with an env_file */
static struct edr_spec *spec_noenv;  /* m3 has no env_file */

static const struct edr_plan_opts opts = {.run_id = RUN, .snapshot_revision = -1,
                                          .health_timeout_ms = 90000};
static const struct edr_plan_opts opts_snap = {
    .run_id = RUN, .snapshot = "/tmp/snap.db", .snapshot_size = 1000,
    .snapshot_sha256 = "ab", .snapshot_revision = 42, .health_timeout_ms = 90000};

/* TEXT with every ' turned into " (a new string the caller frees). */
static inline char *j(const char *text) {
  char *s = strdup(text);
  for (char *q = s; q && *q; q++)
    if (*q == '\'')
      *q = '"';
  return s;
}

/* Load TEXT (as is) against SP with VARS and compile it with O.  Returns the
 * first non-zero code (err says why) or 0 with *out set. */
static inline int build_raw(const struct edr_spec *sp, const char *text, const char *const *vars,
                            size_t nv, const struct edr_plan_opts *o, struct edr_plan **out) {
  struct edr_playbook *pb = NULL;
  *out = NULL;
  err[0] = '\0';
  int rc = t_playbook_load("t.json", text, sp, vars, nv, &pb, err, sizeof err);
  if (rc) {
    CHECK(pb == NULL);
    return rc;
  }
  rc = t_playbook_compile(pb, o, out, err, sizeof err);
  if (rc)
    CHECK(*out == NULL);
  /* the plan must not borrow from the playbook: ASan sees any use after this */
  edr_playbook_free(pb);
  return rc;
}

static inline int build(const struct edr_spec *sp, const char *text, const char *const *vars,
                        size_t nv, const struct edr_plan_opts *o, struct edr_plan **out) {
  char *t = j(text);
  int rc = build_raw(sp, t, vars, nv, o, out);
  free(t);
  return rc;
}

/* A playbook named t with these steps (a JSON list's contents, ' for "). */
#define STEPS(s) "{'playbook': 1, 'name': 't', 'steps': [" s "]}"
#define VARS_STEPS(v, s) "{'playbook': 1, 'name': 't', 'vars': {" v "}, 'steps': [" s "]}"

/* fails_at(line, ...): fails_in() with the calling file. */
#define fails_at(...) fails_in(__FILE__, __VA_ARGS__)

static inline void fails_in(const char *file, int line, const struct edr_spec *sp,
                            const char *text, bool raw, const char *const *vars, size_t nv,
                            const char *const *subs) {
  struct edr_plan *p = NULL;
  int rc = raw ? build_raw(sp, text, vars, nv, &opts_snap, &p)
               : build(sp, text, vars, nv, &opts_snap, &p);
  if (rc == EDR_EINVAL) {
    t_pass++;
  } else {
    t_fail++;
    fprintf(stderr, "%s:%d: want EDR_EINVAL, got %d (%s)\n", file, line, rc, err);
  }
  for (; *subs; subs++) {
    if (rc && strstr(err, *subs)) {
      t_pass++;
    } else {
      t_fail++;
      fprintf(stderr, "%s:%d: error '%s' does not contain '%s'\n", file, line, err, *subs);
    }
  }
  edr_plan_free(p);
}

#define SUBS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* FAILS(text, "substring", ...): loading or compiling fails with EDR_EINVAL
 * and the message contains every substring. */
#define FAILS(text, ...) fails_at(__LINE__, spec, text, false, NULL, 0, SUBS(__VA_ARGS__))
#define FAILS_RAW(text, ...) fails_at(__LINE__, spec, text, true, NULL, 0, SUBS(__VA_ARGS__))
#define FAILS_VARS(text, vars, ...)                                                         \
  fails_at(__LINE__, spec, text, false, vars, sizeof(vars) / sizeof(*(vars)), SUBS(__VA_ARGS__))

/* ok_at(line, ...): ok_in() with the calling file. */
#define ok_at(...) ok_in(__FILE__, __VA_ARGS__)

static inline struct edr_plan *ok_in(const char *file, int line, const struct edr_spec *sp,
                                     const char *text, const char *const *vars, size_t nv,
                                     const struct edr_plan_opts *o) {
  struct edr_plan *p = NULL;
  int rc = build(sp, text, vars, nv, o, &p);
  if (rc == 0 && p) {
    t_pass++;
  } else {
    t_fail++;
    fprintf(stderr, "%s:%d: want a plan, got %d (%s)\n", file, line, rc, err);
  }
  return p;
}
#define OK(text) ok_at(__LINE__, spec, text, NULL, 0, &opts)
#define OK_SNAP(text) ok_at(__LINE__, spec, text, NULL, 0, &opts_snap)
#define OK_VARS(text, vars) ok_at(__LINE__, spec, text, vars, sizeof(vars) / sizeof(*(vars)), &opts)

/* ---- helpers over plans ---------------------------------------------------- */

static inline long stage_named(const struct edr_plan *p, const char *name) {
  for (size_t k = 0; k < p->n_stages; k++)
    if (!strcmp(p->stages[k].name, name))
      return (long)k;
  return -1;
}

static inline size_t count_kind(const struct edr_host_plan *h, enum edr_step_kind k) {
  size_t n = 0;
  for (size_t i = 0; i < h->n_steps; i++)
    n += h->steps[i].kind == k;
  return n;
}

/* The first step of kind K of H in STAGE (any stage when STAGE < 0). */
static inline const struct edr_step *step_in(const struct edr_host_plan *h, enum edr_step_kind k,
                                             long stage) {
  for (size_t i = 0; i < h->n_steps; i++)
    if (h->steps[i].kind == k && (stage < 0 || h->steps[i].stage == (size_t)stage))
      return &h->steps[i];
  return NULL;
}

static inline long index_of(const struct edr_host_plan *h, const struct edr_step *s) {
  return s ? (long)(s - h->steps) : -1;
}

static inline size_t steps_in_stage(const struct edr_host_plan *h, size_t stage) {
  size_t n = 0;
  for (size_t i = 0; i < h->n_steps; i++)
    n += h->steps[i].stage == stage;
  return n;
}

static inline const char *req_str(const struct edr_step *s, const char *key) {
  return s ? json_string_value(json_object_get(s->request, key)) : NULL;
}

static inline bool members_are(const struct edr_stage *st, const size_t *want, size_t n) {
  if (st->n_members != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (st->members[i] != want[i])
      return false;
  return true;
}

/* What every compiled playbook must look like, INVOLVED saying which hosts
 * some step runs on (from the test's own reading of the playbook). */
/* check_shape_at(line, ...): check_shape_in() with the calling file. */
#define check_shape_at(...) check_shape_in(__FILE__, __VA_ARGS__)

static inline void check_shape_in(const char *file, int line, const struct edr_plan *p,
                                  const bool *involved) {
  int before = t_fail;
  CHECK(p->kind == EDR_PLAN_RUN);
  CHECK(p->n_stages >= 2);
  if (p->n_stages < 2)
    return;
  size_t last = p->n_stages - 1;
  CHECK_STR(p->stages[0].name, "check");
  CHECK(p->stages[0].phase == EDR_PHASE_CHECK);
  CHECK_STR(p->stages[last].name, "cleanup");
  CHECK(p->stages[last].phase == EDR_PHASE_CLEANUP);
  size_t fd = edr_plan_first_destructive(p);
  for (size_t i = 0; i < p->n_hosts; i++) {
    const struct edr_host_plan *h = &p->hosts[i];
    if (!involved[i]) {
      CHECK(h->n_steps == 0);
      continue;
    }
    CHECK(h->n_steps >= 5);
    if (h->n_steps < 5)
      continue;
    static const enum edr_step_kind check[] = {EDR_STEP_CONNECT, EDR_STEP_PUSH_AGENT,
                                               EDR_STEP_PROBE, EDR_STEP_LOCK};
    for (size_t j = 0; j < 4; j++)
      CHECK(h->steps[j].kind == check[j] && h->steps[j].stage == 0);
    CHECK(steps_in_stage(h, 0) == 4);
    CHECK(h->steps[h->n_steps - 1].kind == EDR_STEP_UNLOCK);
    CHECK(h->steps[h->n_steps - 1].stage == last);
    CHECK(count_kind(h, EDR_STEP_UNLOCK) == 1);
    bool sorted = true, in_range = true;
    for (size_t j = 0; j < h->n_steps; j++) {
      in_range &= h->steps[j].stage < p->n_stages;
      if (j)
        sorted &= h->steps[j - 1].stage <= h->steps[j].stage;
    }
    CHECK(sorted);
    CHECK(in_range);
    /* the lock is pinned once, at the first stage that changes anything,
     * before any destructive step of that host */
    if (fd < p->n_stages) {
      CHECK(count_kind(h, EDR_STEP_HOLD_LOCK) == 1);
      const struct edr_step *hl = step_in(h, EDR_STEP_HOLD_LOCK, -1);
      CHECK(hl && hl->stage == fd);
      for (size_t j = 0; hl && j < h->n_steps; j++)
        if (edr_step_kinds[h->steps[j].kind].destructive)
          CHECK(index_of(h, hl) < (long)j);
    } else {
      CHECK(count_kind(h, EDR_STEP_HOLD_LOCK) == 0);
    }
  }
  if (t_fail != before)
    fprintf(stderr, "%s:%d: (the plan checked above)\n", file, line);
}
#define CHECK_SHAPE(p, ...) check_shape_at(__LINE__, p, (const bool[]){__VA_ARGS__})

/* Load the specs (m1..m3; spec_noenv's m3 without an env_file).  Returns 0,
 * or -1 with the reason on stderr. */
static inline int t_playbook_setup(void) {
  static const char *const cluster =
      "{'ssh_user': 'ops', 'env_file': '/etc/default/etcd', 'members': ["
      " {'name': 'm1', 'peer_urls': ['http://10.0.0.1:2380']},"
      " {'name': 'm2', 'peer_urls': ['http://10.0.0.2:2380']},"
      " {'name': 'm3', 'peer_urls': ['http://10.0.0.3:2380']}]}";
  static const char *const cluster_noenv =
      "{'ssh_user': 'ops', 'members': ["
      " {'name': 'm1', 'peer_urls': ['http://10.0.0.1:2380'], 'env_file': '/etc/default/etcd'},"
      " {'name': 'm2', 'peer_urls': ['http://10.0.0.2:2380'], 'env_file': '/etc/etcd.env'},"
      " {'name': 'm3', 'peer_urls': ['http://10.0.0.3:2380']}]}";
  char *t = j(cluster), *t2 = j(cluster_noenv);
  CHECK(t_spec_from_json(NULL, t, NULL, &spec, err, sizeof err) == 0);
  CHECK(t_spec_from_json(NULL, t2, NULL, &spec_noenv, err, sizeof err) == 0);
  free(t);
  free(t2);
  if (!spec || !spec_noenv) {
    fprintf(stderr, "spec: %s\n", err);
    return -1;
  }
  CHECK(spec->n_members == 3 && spec->members[2].env_file &&
        !strcmp(spec->members[2].env_file, "/etc/default/etcd"));
  CHECK(spec_noenv->members[2].env_file == NULL);
  return 0;
}

static inline void t_playbook_teardown(void) {
  edr_spec_free(spec);
  edr_spec_free(spec_noenv);
}

#endif
