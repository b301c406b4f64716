/*
 * util.c - small helpers shared by the coordinator and the agent.
 */
#include "util.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t edr_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

char *edr_asprintf(const char *fmt, ...) {
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

char *edr_path_join(const char *a, const char *b) {
  size_t la = strlen(a);
  while (la > 1 && a[la - 1] == '/')
    la--;
  while (*b == '/')
    b++;
  return edr_asprintf("%.*s/%s", (int)la, a, b);
}

void edr_human_bytes(uint64_t n, char *out, size_t outlen) {
  static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = (double)n;
  int u = 0;
  while (v >= 1000 && u < 5) {
    v /= 1000;
    u++;
  }
  if (u == 0)
    snprintf(out, outlen, "%llu B", (unsigned long long)n);
  else
    snprintf(out, outlen, "%.1f %s", v, units[u]);
}

void edr_iso_now(char *out, size_t len) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t k = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + k, len - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

unsigned edr_edit_distance(const char *a, const char *b) {
  enum { MAXLEN = 64, CAP = 99 };
  size_t n = strlen(a), m = strlen(b);
  if (n > MAXLEN || m > MAXLEN)
    return CAP;
  /* Optimal string alignment: three rows of the Damerau-Levenshtein table. */
  unsigned rows[3][MAXLEN + 1];
  unsigned *pp = rows[0], *p = rows[1], *c = rows[2];
  for (size_t j = 0; j <= m; j++)
    p[j] = (unsigned)j;
  for (size_t i = 1; i <= n; i++) {
    c[0] = (unsigned)i;
    for (size_t j = 1; j <= m; j++) {
      int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
      unsigned v = p[j - 1] + (ai != bj);
      if (p[j] + 1 < v)
        v = p[j] + 1;
      if (c[j - 1] + 1 < v)
        v = c[j - 1] + 1;
      if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
          tolower((unsigned char)a[i - 2]) == bj && pp[j - 2] + 1 < v)
        v = pp[j - 2] + 1;
      c[j] = v;
    }
    unsigned *t = pp;
    pp = p;
    p = c;
    c = t;
  }
  return p[m] < CAP ? p[m] : CAP;
}

const char *edr_did_you_mean(const char *word, const char *const *cands, size_t n) {
  size_t len = strlen(word);
  unsigned limit = len / 3 > 2 ? (unsigned)(len / 3) : 2, best = limit + 1;
  const char *pick = NULL;
  bool tie = false;
  for (size_t i = 0; i < n; i++) {
    unsigned d = edr_edit_distance(word, cands[i]);
    if (d < best) {
      best = d;
      pick = cands[i];
      tie = false;
    } else if (d == best && pick && strcmp(pick, cands[i])) {
      tie = true;
    }
  }
  return pick && !tie && strcmp(pick, word) ? pick : NULL;
}
