/*
 * discover.h - reaching one member's host to learn the cluster's spec
 * (cmd_discover.c): `etcd-dr discover HOST` and the `--discover HOST` of
 * status, plan and restore.  Strings in a request are borrowed.
 */
#ifndef EDR_DISCOVER_H
#define EDR_DISCOVER_H

#include "spec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct edr_discover_req {
  const char *host;                 /* one member's host */
  const char *unit, *env_file, *config_file, *container, *data_dir;  /* the manifest: ov */
  const char *const *member_hosts;  /* "NAME=HOST" */
  size_t n_member_hosts;
  const struct edr_spec_overrides *ov;  /* the SSH settings to reach HOST with */
  bool accept_new_hostkeys;
  bool spec_file_out;               /* the spec is printed: copy the SSH settings into it */
  FILE *show_from;                  /* edr_discover_load: where each value's origin is
                                       printed (NULL: stderr, and only with -v) */
};

/* Reach R->host and make the spec.  On success returns 0 with *SPEC (the
 * spec as JSON) and *FROM (where each value came from, discover_spec.h),
 * both new; otherwise an exit status (outcome.h) after saying why. */
int edr_discover(const struct edr_discover_req *r, json_t **spec, json_t **from);

/* edr_discover(), then load the spec as a cluster file with R->ov: *OUT is
 * the caller's.  Warnings are printed; where each value came from is
 * printed to R->show_from (or with -v to stderr).  Returns 0 or an exit
 * status. */
int edr_discover_load(const struct edr_discover_req *r, struct edr_spec **out);

#endif
