/*
 * resume.c - what a resumed run skips: steps the journal or the host's own
 * marker record as done, re-staging after a restart, and the check that
 * the restored member is there before etcd is started on it.
 */
#include "engine.h"

#include "err.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "snapfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void eng_resume_after_restage(struct host *h) {
  h->busy = false;
  eng_advance(h);
}

void eng_on_start_check(struct host *h, int status, json_t *reply) {
  json_t *r = json_object_get(reply, "result");
  h->in_step = false;
  eng_conn_idle(h);
  if (status || !json_is_true(json_object_get(r, "exists"))) {
    h->res->steps[h->step].started = true;
    eng_host_fail(h, status ? status : EDR_ENOENT,
              "refusing to start etcd: '%s/member/snap/db' is not there, and etcd on an "
              "empty data dir would bootstrap a new empty cluster", h->m->data_dir);
    return;
  }
  h->busy = false;
  eng_advance(h);
}

/* Resume: the host's marker lists "INDEX KIND" of each apply step done to
 * it; a missing marker means none. */
void eng_on_marker(struct host *h, int status, json_t *reply) {
  const char *text = status ? NULL
                            : json_string_value(json_object_get(json_object_get(reply, "result"),
                                                                "text"));
  json_decref(h->marker_done);
  h->marker_done = json_array();
  for (const char *p = text; p && *p;) {
    char *end;
    long idx = strtol(p, &end, 10);
    if (end != p)
      json_array_append_new(h->marker_done, json_integer(idx));
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  eng_conn_idle(h);
  h->busy = false;
  eng_advance(h);
}

/* Resume: is step S (the host's current one) done already?  Checks always
 * run again; prepare is skipped once apply had started anywhere (every host
 * had finished it: the barrier); an apply step is skipped when the journal
 * says it finished, or, for an install cut short, when the probe shows the
 * member dir back in place (the rename happened, its journal line did not). */
/* Is step K of host H recorded as done, by the journal or by the host? */
static bool step_done(const struct host *h, size_t k) {
  json_t *rs = h->run->opts->resume;
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(json_object_get(rs, "hosts"), h->m->name), i, v)
    if ((size_t)json_integer_value(v) == k)
      return true;
  json_array_foreach(h->marker_done, i, v)
    if ((size_t)json_integer_value(v) == k)
      return true;
  return false;
}

bool eng_resume_skip(struct host *h, const struct edr_step *s) {
  json_t *rs = h->run->opts->resume;
  enum edr_phase ph = edr_step_kinds[s->kind].phase;
  if (ph == EDR_PHASE_CHECK)
    return false;
  if (ph == EDR_PHASE_PREPARE)
    return json_is_true(json_object_get(rs, "apply_started"));
  if (step_done(h, h->step))
    return true;
  /* An install cut short: only if this host's move-aside is recorded done
   * can a member dir in place be the restored one. */
  if (eng_steps[s->kind].installs_member &&
      edr_plan_kinds[h->run->plan->kind].marks_apply_steps &&
      json_is_true(json_object_get(json_object_get(h->probe, "data_dir"), "has_member")))
    for (size_t k = 0; k < h->step; k++)
      if (eng_steps[h->hp->steps[k].kind].moves_member && step_done(h, k))
        return true;
  return false;
}
