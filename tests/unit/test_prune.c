/*
 * test_prune.c - the prune's pure pieces: the strict name rule of the dirs
 * a run moves aside (common/aside.c), the keep policy, ages, and the
 * decision per host from an agent's listing (orchestrator/prune.c).
 */
#include "aside.h"
#include "plan.h"
#include "prune.h"

#include "t.h"

#include <stdlib.h>

static const char R1[] = "20261201-101010-aaaa", R2[] = "20261202-101010-bbbb",
                  R3[] = "20261203-101010-cccc";

static void test_run_id(void) {
  int64_t when = 0;
  CHECK(edr_run_id_ok(R1, &when));
  CHECK(when == 1796119810); /* 2026-12-01T10:10:10Z */
  CHECK(edr_run_id_ok("20240229-235959-0f9e", NULL)); /* a leap day */
  CHECK(!edr_run_id_ok("20261231-235960-0f9e", NULL));
  CHECK(!edr_run_id_ok("20250229-000000-0000", NULL)); /* no 29 February in 2025 */
  CHECK(!edr_run_id_ok("20261301-000000-0000", NULL));
  CHECK(!edr_run_id_ok("20261201-240000-0000", NULL));
  CHECK(!edr_run_id_ok("20261201-101010-AAAA", NULL)); /* etcd-dr writes lowercase hex */
  CHECK(!edr_run_id_ok("20261201-101010-aaag", NULL));
  CHECK(!edr_run_id_ok("20261201-101010-aaaaa", NULL));
  CHECK(!edr_run_id_ok("20261201_101010-aaaa", NULL));
  CHECK(!edr_run_id_ok("notarun", NULL));
  CHECK(!edr_run_id_ok("", NULL));
}

static void test_name_rule(void) {
  char run[EDR_RUN_ID_LEN + 1] = "";
  bool restored = true;
  CHECK(edr_aside_name("member.etcd-dr-20261201-101010-aaaa", "member", run, &restored, NULL));
  CHECK_STR(run, R1);
  CHECK(!restored);
  CHECK(edr_aside_name("member.etcd-dr-20261201-101010-aaaa-restored", "member", run,
                       &restored, NULL));
  CHECK(restored);
  CHECK(edr_aside_name("wal.etcd-dr-20261201-101010-aaaa", "wal", NULL, NULL, NULL));
  /* what a prune must never take for a run's dir */
  static const char *const never[] = {
    "member", "member.etcd-dr-", "member.etcd-dr-notarun",
    "member.etcd-dr-20261201-101010-aaaa-restoredx",
    "member.etcd-dr-20261201-101010-aaaa-",
    "member.etcd-dr-20261201-101010-aaaa/..",
    "member.etcd-dr-20261201-101010-aaaa-restored-restored",
    "member.etcd-dr-R1", "xmember.etcd-dr-20261201-101010-aaaa",
    ".etcd-dr-20261201-101010-aaaa", ".etcd-dr-20261201-101010-aaaa.done", ".etcd-dr-lock",
    "member.etcd-dr-20261201-101010-aaaa.done", "snap.etcd-dr-20261201-101010-aaaa",
    "member.etcd-dr-20261201-101010-aaaa-wal",
  };
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
    bool m = edr_aside_name(never[i], "member", NULL, NULL, NULL);
    if (m)
      fprintf(stderr, "matched: %s\n", never[i]);
    CHECK(!m);
  }
  CHECK(!edr_aside_name("wal.etcd-dr-20261201-101010-aaaa", "member", NULL, NULL, NULL));
  CHECK(!edr_aside_name("member.etcd-dr-20261201-101010-aaaa", "wal", NULL, NULL, NULL));
  CHECK(!edr_aside_name("member.etcd-dr-20261201-101010-aaaa", "", NULL, NULL, NULL));
}

static void select_runs(struct edr_prune_run *r, long keep, int64_t older, int64_t now) {
  struct edr_prune_policy p = {.keep = keep, .older_than_s = older};
  edr_prune_select(r, 3, &p, now);
}

static void reset(struct edr_prune_run r[3]) {
  const char *ids[3] = {R2, R1, R3}; /* not in order: the policy sorts */
  for (int i = 0; i < 3; i++) {
    memset(&r[i], 0, sizeof r[i]);
    snprintf(r[i].run_id, sizeof r[i].run_id, "%s", ids[i]);
    edr_run_id_ok(ids[i], &r[i].when);
  }
}

static void test_policy(void) {
  struct edr_prune_run r[3];
  int64_t now = 1796119810 + 10 * 86400; /* R1 is 10 days old, R3 8 */
  reset(r);
  select_runs(r, 1, -1, now);
  CHECK_STR(r[0].run_id, R3); /* newest first */
  CHECK(!r[0].remove && r[1].remove && r[2].remove);
  reset(r);
  select_runs(r, -1, -1, now); /* not given: the newest stays */
  CHECK(!r[0].remove && r[1].remove && r[2].remove);
  reset(r);
  select_runs(r, 2, -1, now);
  CHECK(!r[0].remove && !r[1].remove && r[2].remove);
  reset(r);
  select_runs(r, 0, -1, now); /* asked for: the newest too */
  CHECK(r[0].remove && r[1].remove && r[2].remove);
  reset(r);
  select_runs(r, 5, -1, now);
  CHECK(!r[0].remove && !r[1].remove && !r[2].remove);
  /* --older-than 9d1h: only R1 (10 days; R2 is 9 days old) */
  reset(r);
  select_runs(r, 0, 9 * 86400 + 3600, now);
  CHECK(!r[0].remove && !r[1].remove && r[2].remove);
  CHECK_STR(r[2].run_id, R1);
  CHECK_STR(r[1].why_kept, "newer than --older-than");
  /* --older-than alone keeps the newest however old */
  reset(r);
  select_runs(r, -1, 86400, now);
  CHECK(!r[0].remove && r[1].remove && r[2].remove);
  CHECK_STR(r[0].why_kept, "the newest run");
  /* a protected run stays whatever the policy says, and still counts as one
   * of the newest */
  reset(r);
  r[1].protect = "unfinished: its marker is on the host"; /* R1 */
  select_runs(r, 0, -1, now);
  CHECK(r[0].remove && r[1].remove);
  CHECK(!r[2].remove);
  CHECK_STR(r[2].why_kept, "unfinished: its marker is on the host");
}

static void test_age(void) {
  int64_t s = 0;
  CHECK(edr_parse_age("30d", &s) == 0 && s == 30 * 86400);
  CHECK(edr_parse_age("12h", &s) == 0 && s == 12 * 3600);
  CHECK(edr_parse_age("90m", &s) == 0 && s == 90 * 60);
  CHECK(edr_parse_age("2w", &s) == 0 && s == 14 * 86400);
  CHECK(edr_parse_age("0s", &s) == 0 && s == 0);
  CHECK(edr_parse_age("30", &s) != 0);   /* a unit is required */
  CHECK(edr_parse_age("30dd", &s) != 0);
  CHECK(edr_parse_age("-1d", &s) != 0);
  CHECK(edr_parse_age("d", &s) != 0);
  CHECK(edr_parse_age("3y", &s) != 0);
  char b[32];
  edr_human_age(3 * 86400 + 4 * 3600 + 5, b, sizeof b);
  CHECK_STR(b, "3d 4h");
  edr_human_age(125, b, sizeof b);
  CHECK_STR(b, "2m");
  edr_human_age(30 * 86400, b, sizeof b);
  CHECK_STR(b, "30d");
  edr_human_age(12 * 3600 + 40 * 60, b, sizeof b);
  CHECK_STR(b, "12h 40m");
  edr_human_age(59, b, sizeof b);
  CHECK_STR(b, "59s");
}

static json_t *entry(const char *run, const char *name, const char *kind, bool trash,
                     json_int_t bytes) {
  return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:I}", "run_id", run, "name", name,
                   "path", name, "kind", kind, "trash", trash, "other_fs", 0, "bytes", bytes,
                   "files", (json_int_t)1);
}

static void test_decide(void) {
  struct edr_prune_policy pol = {.keep = 1, .older_than_s = -1};
  json_t *l = json_pack("{s:I, s:[o,o,o,o,o], s:[s], s:[s], s:[], s:n}", "now",
                        (json_int_t)1796119810 + 86400, "entries",
                        entry(R1, "member.etcd-dr-R1", "dir", false, 100),
                        entry(R1, "wal.etcd-dr-R1", "dir", false, 50),
                        entry(R2, "member.etcd-dr-R2", "symlink", false, 0),
                        entry(R3, "member.etcd-dr-R3", "dir", false, 7),
                        entry("20261130-101010-dddd", ".etcd-dr-pruning-member.etcd-dr-R0",
                              "dir", true, 3),
                        "ignored", "member.etcd-dr-notarun", "markers",
                        "20261130-101010-dddd", "staging", "lock_run");
  json_t *d = edr_prune_decide(&pol, l);
  CHECK(d != NULL);
  json_t *rm = json_object_get(d, "remove");
  /* R3 newest: kept.  R2 has only a symlink: nothing to remove.  R1 goes
   * (both its dirs).  R0 was being pruned but its marker is there: kept. */
  CHECK(json_array_size(rm) == 1);
  CHECK_STR(json_string_value(json_array_get(rm, 0)), R1);
  CHECK(json_integer_value(json_object_get(d, "bytes")) == 150);
  json_t *runs = json_object_get(d, "runs");
  CHECK(json_array_size(runs) == 4);
  CHECK_STR(json_string_value(json_object_get(json_array_get(runs, 0), "run_id")), R3);
  CHECK_STR(json_string_value(json_object_get(json_array_get(runs, 1), "why")),
            "nothing of it can be removed");
  CHECK(json_array_size(json_object_get(json_array_get(runs, 1), "left")) == 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(runs, 3), "why")),
            "unfinished: its marker is on the host");
  json_decref(d);

  /* without the marker, the cut-short prune of R0 is finished whatever
   * the policy: keep 5 would keep it otherwise */
  json_array_clear(json_object_get(l, "markers"));
  pol.keep = 5;
  d = edr_prune_decide(&pol, l);
  rm = json_object_get(d, "remove");
  CHECK(json_array_size(rm) == 1);
  CHECK_STR(json_string_value(json_array_get(rm, 0)), "20261130-101010-dddd");
  json_decref(d);

  /* the run that holds the lock (a restore under way) stays */
  json_object_set_new(l, "lock_run", json_string(R1));
  pol.keep = 0;
  d = edr_prune_decide(&pol, l);
  rm = json_object_get(d, "remove");
  CHECK(json_array_size(rm) == 2); /* R3 and R0; not R1, not R2 (a symlink) */
  for (size_t i = 0; i < json_array_size(rm); i++)
    CHECK(strcmp(json_string_value(json_array_get(rm, i)), R1) != 0);
  json_decref(d);
  CHECK(edr_prune_decide(&pol, json_object_get(l, "now")) == NULL);
  json_decref(l);
}

int main(void) {
  test_run_id();
  test_name_rule();
  test_policy();
  test_age();
  test_decide();
  return t_done("test_prune");
}
