/*
 * prune.h - what `etcd-dr prune` decides on each host from the agent's
 * listing (list-aside), and the words it prints: the table of runs with
 * their dirs, sizes, ages and what happens to each, and the summary after
 * a removal.  The keep policy itself is common/aside.h's.
 *
 * Ownership: every json_t returned is a new reference; LISTING arguments
 * are borrowed.
 */
#ifndef EDR_PRUNE_H
#define EDR_PRUNE_H

#include "aside.h"
#include "outcome.h"
#include "plan.h"

#include <jansson.h>
#include <stdio.h>

/* The decision for one host from LISTING (list-aside's result):
 * {"runs": [{"run_id", "when", "age_s", "remove", "why", "bytes",
 *            "entries": [...], "left": [...]}] newest first,
 *  "remove": [run ids], "bytes": bytes to free, "ignored": [names],
 *  "lock_run": RUN or null}.
 * A run is protected while its marker, its staging dir
 * or the host lock is on the host; a run with a dir a cut-short prune left
 * (.etcd-dr-pruning-NAME) goes unless protected, whatever the policy.
 * Returns NULL when LISTING is not a listing. */
json_t *edr_prune_decide(const struct edr_prune_policy *policy, json_t *listing);

/* Print DECISION of member NAME (its host HOST) as a table. */
void edr_prune_print_host(FILE *out, const char *name, const char *host, json_t *decision,
                          bool dry_run);

/* After a prune ran: what was removed, kept and left on each host. */
void edr_prune_summary(const struct edr_plan *p, const struct edr_run_result *res, FILE *out);

#endif
