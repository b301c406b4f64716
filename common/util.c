/*
 * util.c - small helpers shared by the coordinator and the agent.
 */
#include "util.h"

#include "err.h"

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

/* Length of the valid UTF-8 sequence at P (LEFT bytes there), 0 if none. */
static size_t utf8_len(const unsigned char *p, size_t left) {
  unsigned char c = p[0];
  size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
           : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (!n || n > left)
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  /* overlong forms, surrogates, beyond U+10FFFF */
  if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
      (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
    return 0;
  return n;
}

/* The next piece of S (LEFT bytes) as it is to be printed, into OUT (at
 * least 17 bytes); *USED says how many bytes of S it stands for. */
static size_t escape_one(const unsigned char *s, size_t left, int flags, char *out,
                         size_t *used) {
  size_t n = utf8_len(s, left);
  bool ctl = n == 1 && (s[0] < 0x20 || s[0] == 0x7f) &&
             !((flags & EDR_ESC_KEEP_NL) && (s[0] == '\n' || s[0] == '\t'));
  bool c1 = n == 2 && s[0] == 0xc2 && s[1] < 0xa0;
  bool bidi = n == 3 && s[0] == 0xe2 && ((s[1] == 0x80 && s[2] >= 0xaa && s[2] <= 0xae) ||
                                         (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9));
  if (!n)
    n = 1;
  *used = n;
  if (!ctl && !c1 && !bidi && utf8_len(s, left)) {
    memcpy(out, s, n);
    return n;
  }
  for (size_t i = 0; i < n; i++)
    snprintf(out + 4 * i, 5, "\\x%02x", s[i]);
  return 4 * n;
}

void edr_fput_escaped(FILE *f, const char *s, size_t len, int flags) {
  const unsigned char *p = (const unsigned char *)s;
  char piece[17];
  while (len) {
    size_t used, k = escape_one(p, len, flags, piece, &used);
    fwrite(piece, 1, k, f);
    p += used;
    len -= used;
  }
}

char *edr_escape(char *out, size_t outlen, const char *s, int flags) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t len = strlen((const char *)p), o = 0;
  char piece[17];
  while (len) {
    size_t used, k = escape_one(p, len, flags, piece, &used);
    if (o + k >= outlen)
      break;
    memcpy(out + o, piece, k);
    o += k;
    p += used;
    len -= used;
  }
  out[o] = '\0';
  return out;
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

static const struct {
  const char *name;
  uint64_t ms;
} duration_units[] = {
  {.name = "d", .ms = 86400000}, {.name = "h", .ms = 3600000}, {.name = "m", .ms = 60000},
  {.name = "s", .ms = 1000},     {.name = "ms", .ms = 1},
};

int edr_parse_duration(const char *text, uint64_t bare_ms, uint64_t *ms) {
  const char *p = text;
  uint64_t total = 0;
  bool any = false;
  *ms = 0;
  while (*p) {
    if (!isdigit((unsigned char)*p) && *p != '.')
      return EDR_EINVAL;
    char *end;
    double v = strtod(p, &end);
    if (end == p || v < 0 || v > 1e12)
      return EDR_EINVAL;
    size_t ulen = strspn(end, "abcdefghijklmnopqrstuvwxyz");
    uint64_t unit = 0;
    if (ulen == 0 && !*end && !any)
      unit = bare_ms;
    for (size_t i = 0; ulen && i < sizeof duration_units / sizeof duration_units[0]; i++)
      if (strlen(duration_units[i].name) == ulen && !strncmp(end, duration_units[i].name, ulen))
        unit = duration_units[i].ms;
    if (!unit)
      return EDR_EINVAL;
    total += (uint64_t)(v * (double)unit + 0.5);
    any = true;
    p = end + ulen;
  }
  if (!any)
    return EDR_EINVAL;
  *ms = total;
  return 0;
}

void edr_format_duration(uint64_t ms, char *out, size_t outlen) {
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 1; i < sizeof duration_units / sizeof duration_units[0]; i++) {
    uint64_t n = ms / duration_units[i].ms;
    if (!n || len >= outlen)
      continue;
    len += (size_t)snprintf(out + len, outlen - len, "%llu%s", (unsigned long long)n,
                            duration_units[i].name);
    ms -= n * duration_units[i].ms;
  }
  if (!len)
    snprintf(out, outlen, "0s");
}
