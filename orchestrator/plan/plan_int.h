/*
 * plan_int.h - what plan.c lends the files that build the other kinds of
 * host plan (plan_rollback.c, plan_snapshot.c, plan_discover.c), private
 * to the plan folder: adding a step at its phase's stage, the host's
 * etcdctl argv, and the small helpers their steps are made of.  Each
 * builder appends to the host plan it is given; the plan owns every step.
 */
#ifndef EDR_PLAN_INT_H
#define EDR_PLAN_INT_H

#include "plan.h"

#include <jansson.h>

/* Append a step of KIND at the stage of its phase (H->phase_stage): 0, or
 * EDR_ENOMEM. */
int plan_add_step(struct edr_host_plan *h, enum edr_step_kind kind,
                  json_t *request, char *const *argv, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The read-only probe of H's data dir for plans that restore nothing
 * (rollback, snapshot save): a new reference, or NULL. */
json_t *plan_probe_dir_request(const struct edr_host_plan *h);
/* The step that releases the host lock at the end of the run. */
int plan_add_unlock(const struct edr_plan *p, struct edr_host_plan *h);

/* SV as a JSON array of strings: a new reference. */
json_t *plan_strv_json(const struct edr_strv *sv);
/* Free SV's strings and vector (not SV itself). */
void plan_strv_release(struct edr_strv *sv);

/* The host plans of the other kinds, one per file. */
int plan_rollback_host(struct edr_plan *p, struct edr_host_plan *h);
int plan_snapshot_host(struct edr_plan *p, struct edr_host_plan *h);
int plan_discover_host(const struct edr_plan_opts *o, struct edr_host_plan *h);

#endif
