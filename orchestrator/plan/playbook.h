/*
 * playbook.h - runbooks as JSON playbooks (docs/playbooks.md), compiled
 * into the same struct edr_plan that `etcd-dr restore` executes.
 *
 * Loading validates the whole playbook (kinds, fields, variables, targets)
 * against the cluster spec before anything runs; every error names the
 * step and the field.  Compiling resolves every variable, so the plan that
 * `etcd-dr run --dry-run` prints is exactly what runs.
 *
 * Ownership: an edr_playbook owns its JSON and strings; it borrows the spec
 * given to edr_playbook_load, which must outlive it and any plan compiled
 * from it.
 */
#ifndef EDR_PLAYBOOK_H
#define EDR_PLAYBOOK_H

#include "plan.h"
#include "spec.h"

#include <stdbool.h>
#include <stddef.h>

struct edr_playbook;

/* Load PATH (or, when TEXT is not NULL, the JSON in TEXT, PATH naming it in
 * messages) and check it against SPEC with VARS ("NAME=VALUE", n_vars of
 * them, from --var).  Returns 0 and sets *out, or EDR_EINVAL (or another
 * negative EDR_E* code) with one message in ERR (the caller's, err.h)
 * naming the file, the step and the field. */
int edr_playbook_load(const char *path, const char *text, const struct edr_spec *spec,
                      const char *const *vars, size_t n_vars,
                      struct edr_playbook **out, struct edr_error *err);
void edr_playbook_free(struct edr_playbook *pb);

const char *edr_playbook_name(const struct edr_playbook *pb);
/* Whether a step pushes or restores a snapshot (then --snapshot is needed). */
bool edr_playbook_needs_snapshot(const struct edr_playbook *pb);

/* Compile into a plan (kind EDR_PLAN_RUN).  O carries the snapshot, run id,
 * timeouts and lock options as for a restore.  Same error contract. */
int edr_playbook_compile(const struct edr_playbook *pb, const struct edr_plan_opts *o,
                         struct edr_plan **out, struct edr_error *err);

#endif
