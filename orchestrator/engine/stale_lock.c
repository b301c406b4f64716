/*
 * stale_lock.c - a host lock whose holder is provably dead (stale_lock.h).
 */
#include "stale_lock.h"

#include "journal.h"
#include "plan.h"
#include "quote.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* This process's own command line as etcd-dr ARGS, quoted (from
 * /proc/self/cmdline).  Caller frees; NULL when unknown. */
static char *own_command(void) {
  FILE *f = fopen("/proc/self/cmdline", "r");
  char buf[8192];
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = '\0';
  char *argv[256];
  int argc = 0;
  for (size_t i = 0; i < n && argc < 255; i += strlen(buf + i) + 1)
    argv[argc++] = buf + i;
  argv[argc] = NULL;
  if (argc == 0)
    return NULL;
  argv[0] = "etcd-dr";
  return edr_quote_argv(argv);
}

/* Whether the journal's events show a step that changes a host started. */
static bool changed_hosts(json_t *events) {
  size_t i;
  json_t *e;
  json_array_foreach(events, i, e) {
    const char *ev = json_string_value(json_object_get(e, "event"));
    const char *step = json_string_value(json_object_get(e, "step"));
    if (!ev || !step || strcmp(ev, "start"))
      continue;
    for (size_t k = 0; k < EDR_STEP__COUNT; k++)
      if (edr_step_kinds[k].name && !strcmp(edr_step_kinds[k].name, step) &&
          edr_step_kinds[k].destructive)
        return true;
  }
  return false;
}

/* The lock is of our own run, but another coordinator process took it: one
 * that is gone from this machine (the run was cut short; this process holds
 * the run's journal lock, so no live etcd-dr here drives it) is succeeded;
 * any other may still be working on the hosts, and two coordinators on one
 * run would undo each other's steps. */
static enum edr_stale same_run(json_t *holder, const char *run, const char *host,
                               json_int_t pid, const char *me, struct edr_str *advice) {
  const char *cmd = json_string_value(json_object_get(holder, "command"));
  const char *since = json_string_value(json_object_get(holder, "since"));
  bool here = host && !strcmp(host, me);
  if (here && pid > 0 && pid != getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
    edr_str_appendf(advice, "run %s's earlier coordinator (pid %lld on this machine) is gone: "
             "taking over its lock", run, (long long)pid);
    return EDR_STALE_TAKE;
  }
  char *again = own_command();
  edr_str_appendf(advice, "another coordinator drives run %s: pid %lld on %s%s (%s, since %s); "
           "two at once would undo each other's steps.  Let it finish; if it is gone "
           "for good (that machine down, the process killed), take the lock with\n  %s "
           "--break-lock", run, (long long)pid, here ? "this machine" : host ? host : "?",
           here ? ", still running" : "", cmd ? cmd : "?", since ? since : "?",
           again ? again : "etcd-dr ...");
  free(again);
  return EDR_STALE_REFUSE;
}

enum edr_stale edr_stale_lock(json_t *holder, const char *our_run, const char *spec_args,
                              struct edr_str *advice) {
  const char *run = json_string_value(json_object_get(holder, "run_id"));
  const char *host = json_string_value(json_object_get(holder, "host"));
  json_int_t pid = json_integer_value(json_object_get(holder, "pid"));
  const char *cmd = json_string_value(json_object_get(holder, "command"));
  char me[256] = "";
  edr_str_reset(advice);
  gethostname(me, sizeof me - 1);
  if (run && our_run && !strcmp(run, our_run))
    return same_run(holder, run, host, pid, me, advice);
  if (!run || !host || strcmp(host, me) || pid <= 0 || pid == getpid() ||
      kill((pid_t)pid, 0) == 0 || errno != ESRCH)
    return EDR_STALE_NO;
  struct edr_error err = EDR_ERROR_INIT; /* why there is no journal: not said here */
  json_t *j = edr_journal_load(run, &err);
  edr_error_release(&err);
  if (j && !changed_hosts(json_object_get(j, "events"))) {
    edr_str_appendf(advice, "run %s (pid %lld on this machine) is gone and its journal in "
             "'%s' shows it never changed a host: taking its lock", run, (long long)pid,
             json_string_value(json_object_get(j, "dir")));
    json_decref(j);
    return EDR_STALE_TAKE;
  }
  if (j && cmd && !strcmp(cmd, "restore")) {
    edr_str_appendf(advice, "run %s (pid %lld on this machine) is gone after it changed "
             "hosts (its journal: '%s'); put the old data back with\n  etcd-dr rollback %s "
             "%s\nor finish it with\n  etcd-dr restore --resume %s",
             run, (long long)pid, json_string_value(json_object_get(j, "dir")), run,
             spec_args ? spec_args : "--cluster FILE", run);
    json_decref(j);
    return EDR_STALE_REFUSE;
  }
  char *again = own_command();
  edr_str_appendf(advice, "run %s (pid %lld on this machine) is gone%s; look at the "
           "host, then take the lock with\n  %s --break-lock", run, (long long)pid,
           j ? " after it changed hosts" : " and left no journal here saying what it did",
           again ? again : "etcd-dr ...");
  free(again);
  json_decref(j);
  return EDR_STALE_REFUSE;
}
