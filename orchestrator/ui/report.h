/*
 * report.h - what a run tells the operator at its end: a per-host summary
 * and, where the run did not finish, the exact next command.
 */
#ifndef EDR_REPORT_H
#define EDR_REPORT_H

#include "outcome.h"
#include "plan.h"

/* SPEC_ARGS: the cluster options as the operator gave them, shell-quoted,
 * for the next command to type. */
void edr_print_summary(const struct edr_plan *p, const struct edr_run_result *res,
                       const char *spec_args);

/* The run's report as JSON (docs/report.md): who ran what, from where,
 * when, on which snapshot, the plan, and per host per step what happened.
 * STARTED/ENDED are unix seconds.  New reference. */
json_t *edr_report_json(const struct edr_plan *p, const struct edr_run_result *res,
                        long long started, long long ended);

#endif
