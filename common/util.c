/*
 * util.c - small helpers shared by the coordinator and the agent.
 */
#include "util.h"

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
