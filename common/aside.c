/*
 * aside.c - the name rule of moved-aside dirs and the prune keep policy
 * (aside.h).
 */
#include "aside.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char aside_infix[] = ".etcd-dr-";
static const char restored_suffix[] = "-restored";

static bool digits(const char *s, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool edr_run_id_ok(const char *run, int64_t *when) {
  int y, mo, d, h, mi, s;
  if (strlen(run) != EDR_RUN_ID_LEN || run[8] != '-' || run[15] != '-')
    return false;
  if (!digits(run, 4, &y) || !digits(run + 4, 2, &mo) || !digits(run + 6, 2, &d) ||
      !digits(run + 9, 2, &h) || !digits(run + 11, 2, &mi) || !digits(run + 13, 2, &s))
    return false;
  for (int i = 16; i < EDR_RUN_ID_LEN; i++)
    if (!((run[i] >= '0' && run[i] <= '9') || (run[i] >= 'a' && run[i] <= 'f')))
      return false;
  if (y < 2000 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
    return false;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                  .tm_min = mi, .tm_sec = s};
  time_t t = timegm(&tm);
  if (t == (time_t)-1 || tm.tm_mday != d) /* 31 February is not a date */
    return false;
  if (when)
    *when = (int64_t)t;
  return true;
}

bool edr_aside_name(const char *name, const char *prefix, char *run_id, bool *restored,
                    int64_t *when) {
  size_t pl = strlen(prefix), il = sizeof aside_infix - 1, sl = sizeof restored_suffix - 1;
  size_t nl = strlen(name);
  if (pl == 0 || strncmp(name, prefix, pl) || strncmp(name + pl, aside_infix, il))
    return false;
  const char *rest = name + pl + il;
  size_t rl = nl - pl - il;
  bool r = false;
  if (rl == EDR_RUN_ID_LEN + sl && !strcmp(rest + EDR_RUN_ID_LEN, restored_suffix))
    r = true;
  else if (rl != EDR_RUN_ID_LEN)
    return false;
  char id[EDR_RUN_ID_LEN + 1];
  memcpy(id, rest, EDR_RUN_ID_LEN);
  id[EDR_RUN_ID_LEN] = '\0';
  if (!edr_run_id_ok(id, when))
    return false;
  if (run_id)
    memcpy(run_id, id, sizeof id);
  if (restored)
    *restored = r;
  return true;
}

static int newest_first(const void *a, const void *b) {
  const struct edr_prune_run *x = a, *y = b;
  if (x->when != y->when)
    return x->when > y->when ? -1 : 1;
  return -strcmp(x->run_id, y->run_id);
}

void edr_prune_select(struct edr_prune_run *runs, size_t n,
                      const struct edr_prune_policy *policy, int64_t now) {
  long keep = policy->keep < 0 ? 1 : policy->keep;
  qsort(runs, n, sizeof *runs, newest_first);
  for (size_t i = 0; i < n; i++) {
    struct edr_prune_run *r = &runs[i];
    r->remove = false;
    if (r->protect)
      r->why_kept = r->protect;
    else if ((long)i < keep)
      r->why_kept = i == 0 ? "the newest run" : "one of the newest --keep runs";
    else if (policy->older_than_s >= 0 && now - r->when < policy->older_than_s)
      r->why_kept = "newer than --older-than";
    else
      r->remove = true, r->why_kept = NULL;
  }
}

int edr_parse_age(const char *text, int64_t *seconds) {
  static const struct {
    char unit;
    int64_t s;
  } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
  char *end;
  if (!text || text[0] < '0' || text[0] > '9')
    return EDR_EINVAL;
  long long v = strtoll(text, &end, 10);
  if (end[0] == '\0' || end[1] != '\0' || v < 0 || v > 100LL * 365 * 86400)
    return EDR_EINVAL;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (units[i].unit == end[0]) {
      *seconds = (int64_t)v * units[i].s;
      return 0;
    }
  return EDR_EINVAL;
}

void edr_human_age(int64_t s, char *out, size_t outlen) {
  static const struct {
    int64_t s;
    char unit;
  } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  if (s < 0)
    s = 0;
  size_t i = 0;
  while (i + 1 < sizeof units / sizeof units[0] && s < units[i].s)
    i++;
  long long big = (long long)(s / units[i].s);
  long long small = i + 1 < sizeof units / sizeof units[0] && i < 2
                        ? (long long)(s % units[i].s / units[i + 1].s) : 0;
  if (small)
    snprintf(out, outlen, "%lld%c %lld%c", big, units[i].unit, small, units[i + 1].unit);
  else
    snprintf(out, outlen, "%lld%c", big, units[i].unit);
}
