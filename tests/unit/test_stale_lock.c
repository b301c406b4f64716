/*
 * test_stale_lock.c - the judgement of a host lock's holder (stale_lock.h):
 * only a holder on this machine whose pid is gone is judged, and its journal
 * in the state dir decides between taking the lock and saying what to run;
 * a lock of the run itself from another coordinator process is taken only
 * when that process is gone from this machine.
 */
#include "t.h"

#include "stale_lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char state[64];

/* A pid that existed and is gone. */
static long dead_pid(void) {
  pid_t p = fork();
  if (p == 0)
    _exit(0);
  waitpid(p, NULL, 0);
  return (long)p;
}

static json_t *holder(const char *run, const char *host, long pid) {
  return json_pack("{s:s, s:s, s:I, s:s}", "run_id", run, "host", host, "pid",
                   (json_int_t)pid, "command", "restore");
}

/* A journal for RUN whose events started STEPS (NULL-terminated). */
static void journal(const char *run, const char *const *steps) {
  char path[256];
  snprintf(path, sizeof path, "%s/runs", state);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/runs/%s", state, run);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/runs/%s/command.json", state, run);
  FILE *f = fopen(path, "w");
  fputs("{\"argv\": []}\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/runs/%s/journal.jsonl", state, run);
  f = fopen(path, "w");
  for (size_t i = 0; steps[i]; i++)
    fprintf(f, "{\"host\":\"m1\",\"index\":%zu,\"step\":\"%s\",\"event\":\"start\"}\n", i,
            steps[i]);
  fclose(f);
}

int main(void) {
  char me[256] = "";
  struct edr_str advice = EDR_STR_INIT;
  gethostname(me, sizeof me - 1);
  snprintf(state, sizeof state, "/tmp/edr-stale-XXXXXX");
  if (!mkdtemp(state))
    return 1;
  setenv("ETCD_DR_STATE_DIR", state, 1);
  static const char *const prepared[] = {"lock", "probe", "push-snapshot", "restore", NULL};
  static const char *const changed[] = {"lock", "push-snapshot", "hold-lock", "stop", NULL};
  journal("20260101-000000-prep", prepared);
  journal("20260101-000000-chgd", changed);

  json_t *h = holder("20260101-000000-prep", me, dead_pid());
  CHECK(edr_stale_lock(h, "20260101-000000-mine", "--cluster c.json", &advice) == EDR_STALE_TAKE);
  CHECK_CONTAINS(advice.buf, "never changed a host: taking its lock");
  json_decref(h);

  h = holder("20260101-000000-chgd", me, dead_pid());
  CHECK(edr_stale_lock(h, "20260101-000000-mine", "--cluster c.json", &advice) == EDR_STALE_REFUSE);
  CHECK_CONTAINS(advice.buf, "etcd-dr rollback 20260101-000000-chgd --cluster c.json");
  CHECK_CONTAINS(advice.buf, "etcd-dr restore --resume 20260101-000000-chgd");
  json_decref(h);

  h = holder("20260101-000000-none", me, dead_pid());
  CHECK(edr_stale_lock(h, "20260101-000000-mine", "--cluster c.json", &advice) == EDR_STALE_REFUSE);
  CHECK_CONTAINS(advice.buf, "--break-lock");
  CHECK_CONTAINS(advice.buf, "left no journal here");
  json_decref(h);

  /* another run alive (this process's parent) or on another machine: not judged */
  h = holder("20260101-000000-prep", me, (long)getppid());
  CHECK(edr_stale_lock(h, "20260101-000000-mine", "--cluster c.json", &advice) == EDR_STALE_NO);
  json_decref(h);
  h = holder("20260101-000000-prep", "some-other-machine.example", dead_pid());
  CHECK(edr_stale_lock(h, "20260101-000000-mine", "--cluster c.json", &advice) == EDR_STALE_NO);
  json_decref(h);

  /* the same run, taken by another coordinator process: succeeded only when
   * that process is gone from this machine */
  h = holder("20260101-000000-prep", me, dead_pid());
  CHECK(edr_stale_lock(h, "20260101-000000-prep", NULL, &advice) == EDR_STALE_TAKE);
  CHECK_CONTAINS(advice.buf, "run 20260101-000000-prep's earlier coordinator (pid ");
  CHECK_CONTAINS(advice.buf, " on this machine) is gone: taking over its lock");
  json_decref(h);
  h = holder("20260101-000000-prep", me, (long)getppid());
  CHECK(edr_stale_lock(h, "20260101-000000-prep", NULL, &advice) == EDR_STALE_REFUSE);
  CHECK_CONTAINS(advice.buf, "another coordinator drives run 20260101-000000-prep: pid ");
  CHECK_CONTAINS(advice.buf, " on this machine, still running (restore, since ?)");
  CHECK_CONTAINS(advice.buf, "--break-lock");
  json_decref(h);
  h = holder("20260101-000000-prep", "some-other-machine.example", dead_pid());
  CHECK(edr_stale_lock(h, "20260101-000000-prep", NULL, &advice) == EDR_STALE_REFUSE);
  CHECK_CONTAINS(advice.buf, " on some-other-machine.example (restore, since ?); two at once "
                         "would undo each other's steps");
  CHECK_CONTAINS(advice.buf, "take the lock with\n  etcd-dr ");
  json_decref(h);

  edr_str_release(&advice);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
  if (system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", state);
  return t_done("test_stale_lock");
}
