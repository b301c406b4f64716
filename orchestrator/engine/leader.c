/*
 * leader.c - leader-last: when two or more members run, the running
 * cluster's leader is found (gate.h's leader lookup) and its stop waits for
 * the others', so etcd does not try to hand leadership to members that are
 * going away.
 */
#include "engine.h"

#include "err.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "snapfile.h"
#include "util.h"

#include <assert.h>
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

/* Stopping every member of a running cluster at once makes etcd's leader
 * try to hand leadership to members that are going away (~7 s stall, see
 * docs/BENCHMARKS.md).  So when two or more members run, find the leader
 * (the gates' leader lookup, bounded, asynchronous on the run's loop) and
 * stop it last.  Started at the check barrier.  The ask can take a while (a
 * member that accepts and does not answer), so when the next stage stops
 * nothing and has no gate (a restore's prepare), the hosts go on meanwhile;
 * eng_check_barrier() then waits for it before any later stage, and
 * edr_leader_done() calls it again. */
/* Whether any step of H's plan stops its etcd. */
static bool host_stops(const struct host *h) {
  for (size_t j = 0; j < h->hp->n_steps; j++)
    if (eng_steps[h->hp->steps[j].kind].stops_etcd)
      return true;
  return false;
}

/* The order said in words: a member change stops one member or none, and
 * "last, after the others" is only true when others stop too. */
static void say_leader(struct run *r, const char *name) {
  size_t others = 0;
  for (size_t i = 0; i < r->n; i++)
    others += (long)i != r->leader_host && host_stops(&r->hosts[i]);
  if (!host_stops(&r->hosts[r->leader_host]))
    eng_info(r, "%s leads the running cluster; this run does not stop it", name);
  else if (!others)
    eng_info(r, "%s leads the running cluster; it is the only member this run stops", name);
  else
    eng_info(r, "%s leads the running cluster: it stops last, after the others", name);
}

static void leader_apply(struct run *r, long leader) {
  assert(leader >= -1 && leader < (long)r->n);
  r->leader_host = leader;
  const char *name = r->leader_host >= 0 ? r->hosts[r->leader_host].m->name : NULL;
  r->res->leader = name;
  json_t *f = json_pack("{s:s?}", "member", name);
  edr_journal_event(r->opts->journal, "leader", f); /* what the stop order rests on */
  json_decref(f);
  bool refused = false; /* edr_leader_refuse: the run stops before any stop */
  for (size_t i = 0; i < r->n; i++)
    refused |= r->hosts[i].refused != NULL;
  if (r->aborting || refused) /* nothing is stopped: no order to say */
    return;
  if (name)
    say_leader(r, name);
  else /* said, never silent: the order rests on it */
    edr_warn("the leader of the running cluster could not be found: the members stop in "
             "parallel");
}

void edr_leader_done(struct edr_leader_ask *a, long leader) {
  struct run *r = a->engine;
  assert(a == &r->leader_ask && r->leader_pending); /* once per start() (gate.h) */
  leader_apply(r, leader);
  r->leader_pending = r->leader_blocks = false;
  if (!r->leader_starting)
    eng_check_barrier(r);
}

void edr_leader_refuse(struct edr_leader_ask *a, size_t host, int code, const char *msg) {
  struct run *r = a->engine;
  assert(a == &r->leader_ask && r->leader_pending && host < r->n);
  struct host *h = &r->hosts[host];
  if (!h->refused) {
    h->refused = strdup(msg ? msg : edr_strerror(code));
    h->refused_code = code < 0 ? code : EDR_EINTERNAL;
  }
}

bool eng_leader_refusals(struct run *r) {
  bool failed = false;
  r->launched = false; /* no barrier until every refused host has failed */
  for (size_t i = 0; i < r->n; i++) {
    struct host *h = &r->hosts[i];
    char *why = h->refused;
    h->refused = NULL;
    if (why && !h->failed) {
      eng_host_fail(h, h->refused_code, "%s", why);
      failed = true;
    }
    free(why);
  }
  r->launched = true;
  if (failed)
    eng_check_barrier(r);
  return failed;
}

bool edr_leader_etcd_running(const struct edr_leader_ask *a, size_t host) {
  const struct run *r = a->engine;
  return host < r->n && json_is_true(json_object_get(r->hosts[host].probe, "etcd_running"));
}

static bool stage_has_stop(const struct run *r, size_t k) {
  for (size_t i = 0; i < r->n; i++)
    for (size_t j = 0; j < r->hosts[i].hp->n_steps; j++)
      if (r->hosts[i].hp->steps[j].stage == k &&
          eng_steps[r->hosts[i].hp->steps[j].kind].stops_etcd)
        return true;
  return false;
}

void eng_find_leader(struct run *r) {
  size_t running = 0;
  r->leader_asked = true;
  r->leader_host = -1;
  if (!edr_plan_kinds[r->plan->kind].leader_last)
    return; /* nothing is stopped */
  if (!r->opts->gates || !r->opts->gates->leader)
    return; /* nobody to ask: the stop order stays the plan's */
  for (size_t i = 0; i < r->n; i++)
    running += json_is_true(json_object_get(r->hosts[i].probe, "etcd_running"));
  if (running < 2)
    return;
  size_t next = r->stage + 1;
  bool later = next < r->plan->n_stages && r->plan->stages[next].gate == EDR_GATE_NONE &&
               !stage_has_stop(r, next);
  r->leader_ask = (struct edr_leader_ask){.loop = &r->loop, .plan = r->plan, .engine = r};
  r->leader_pending = true;
  r->leader_blocks = !later; /* the next stage needs the answer */
  r->leader_starting = true;
  r->opts->gates->leader->start(&r->leader_ask);
  r->leader_starting = false;
}

/* The run is stopping: nothing will be stopped, the answer is not needed. */
void eng_cancel_leader(struct run *r) {
  if (r->leader_pending && r->opts->gates->leader->cancel)
    r->opts->gates->leader->cancel(&r->leader_ask);
}

/* Has every other host that is still going finished its stop in the
 * leader's stage: the stop step and the wait until etcd has exited
 * (eng_step_stopping), which on kubeadm is where etcd really goes? */
bool eng_others_stopped(const struct run *r, const struct host *leader) {
  size_t stage = leader->step < leader->hp->n_steps ? leader->hp->steps[leader->step].stage
                                                   : SIZE_MAX;
  for (size_t i = 0; i < r->n; i++) {
    const struct host *o = &r->hosts[i];
    if (o == leader || o->failed || o->closed)
      continue;
    for (size_t k = 0; k < o->hp->n_steps; k++)
      if (o->hp->steps[k].stage == stage && eng_step_stopping(o->hp->steps[k].kind) &&
          !o->res->steps[k].finished)
        return false;
  }
  return true;
}

void eng_wake_leader(struct run *r) {
  if (r->leader_host < 0)
    return;
  struct host *l = &r->hosts[r->leader_host];
  if (l->waiting_leader && (r->aborting || eng_others_stopped(r, l))) {
    l->waiting_leader = false;
    eng_advance(l);
  }
}
