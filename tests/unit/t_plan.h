/*
 * t_plan.h - the spec, plan and playbook builders (and the spec discover
 * makes) for tests that check their messages as text: each calls the
 * builder with a struct edr_error and, on a refusal, copies its message
 * into the test's ERR[ERRLEN] (left as it was on success).  What is built
 * is the caller's, as with the builder.
 */
#ifndef EDR_T_PLAN_H
#define EDR_T_PLAN_H

#include "discover_spec.h"
#include "err.h"
#include "plan.h"
#include "playbook.h"
#include "spec.h"

#include <stdio.h>

static inline int t_take_error(int rc, struct edr_error *e, char *err, size_t errlen) {
  if (rc)
    snprintf(err, errlen, "%s", edr_error_text(e));
  edr_error_release(e);
  return rc;
}

static inline int t_spec_from_json(const char *path, const char *text,
                                   const struct edr_spec_overrides *ov, struct edr_spec **out,
                                   char *err, size_t errlen) {
  struct edr_error e = EDR_ERROR_INIT;
  return t_take_error(edr_spec_from_json(path, text, ov, out, &e), &e, err, errlen);
}

static inline int t_spec_from_initial_cluster(const char *s,
                                              const struct edr_spec_overrides *ov,
                                              struct edr_spec **out, char *err,
                                              size_t errlen) {
  struct edr_error e = EDR_ERROR_INIT;
  return t_take_error(edr_spec_from_initial_cluster(s, ov, out, &e), &e, err, errlen);
}

static inline int t_discover_spec(json_t *facts, const struct edr_discover_in *in,
                                  json_t **spec, json_t **from, char *err, size_t errlen) {
  struct edr_error e = EDR_ERROR_INIT;
  return t_take_error(edr_discover_spec(facts, in, spec, from, &e), &e, err, errlen);
}

static inline int t_plan_build(const struct edr_spec *sp, const struct edr_plan_opts *o,
                               struct edr_plan **out, char *err, size_t errlen) {
  struct edr_error e = EDR_ERROR_INIT;
  return t_take_error(edr_plan_build(sp, o, out, &e), &e, err, errlen);
}

/* The restore of three members m1, m2, m3 (peer URLs at 10.0.0.1-3,
 * snapshot revision 42), or with CHECK_ONLY the check plan (ASK: status's,
 * with the ask-etcd steps).  Sets *S; both are the caller's.  NULL (and *S
 * NULL) on a refusal, its message in ERR. */
static inline struct edr_plan *t_plan3(struct edr_spec **s, bool check_only, bool ask,
                                       char *err, size_t errlen) {
  struct edr_plan *p = NULL;
  *s = NULL;
  if (t_spec_from_initial_cluster(
          "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380", NULL, s,
          err, errlen))
    return NULL;
  struct edr_plan_opts o = {.snapshot = "/tmp/snap.db", .snapshot_size = 1000,
                            .snapshot_sha256 = "ab", .snapshot_revision = 42,
                            .run_id = "20260101-000000-abcd", .check_only = check_only,
                            .ask_etcd = ask};
  if (t_plan_build(*s, &o, &p, err, errlen)) {
    edr_spec_free(*s);
    *s = NULL;
  }
  return p;
}

static inline int t_playbook_load(const char *path, const char *text,
                                  const struct edr_spec *sp, const char *const *vars,
                                  size_t nv, struct edr_playbook **pb, char *err,
                                  size_t errlen) {
  struct edr_error e = EDR_ERROR_INIT;
  return t_take_error(edr_playbook_load(path, text, sp, vars, nv, pb, &e), &e, err, errlen);
}

static inline int t_playbook_compile(const struct edr_playbook *pb,
                                     const struct edr_plan_opts *o, struct edr_plan **out,
                                     char *err, size_t errlen) {
  struct edr_error e = EDR_ERROR_INIT;
  return t_take_error(edr_playbook_compile(pb, o, out, &e), &e, err, errlen);
}

#endif
