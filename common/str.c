/*
 * str.c - the growable string (str.h): a buffer that S owns, grown by
 * doubling, always NUL-terminated.
 */
#include "str.h"

#include "err.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char edr_str_empty_[1];

/* The first allocation: room for a short message without a second one. */
enum { STR_MIN_ALLOC = 64 };

void edr_str_init(struct edr_str *s) {
  *s = (struct edr_str)EDR_STR_INIT;
}

void edr_str_release(struct edr_str *s) {
  if (s->alloc)
    free(s->buf);
  edr_str_init(s);
}

void edr_str_reset(struct edr_str *s) {
  edr_str_truncate(s, 0);
}

void edr_str_truncate(struct edr_str *s, size_t n) {
  assert(n <= s->len);
  if (!s->alloc) /* the shared empty string is never written */
    return;
  s->len = n;
  s->buf[n] = '\0';
}

int edr_str_grow(struct edr_str *s, size_t extra) {
  if (extra > SIZE_MAX - s->len - 1)
    return EDR_ENOMEM;
  size_t need = s->len + extra + 1;
  if (need <= s->alloc)
    return 0;
  size_t alloc = s->alloc ? s->alloc : STR_MIN_ALLOC;
  while (alloc < need)
    alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
  char *buf = realloc(s->alloc ? s->buf : NULL, alloc);
  if (!buf)
    return EDR_ENOMEM;
  if (!s->alloc)
    buf[0] = '\0';
  s->buf = buf;
  s->alloc = alloc;
  return 0;
}

int edr_str_appendn(struct edr_str *s, const char *text, size_t n) {
  int rc = edr_str_grow(s, n);
  if (rc)
    return rc;
  memcpy(s->buf + s->len, text, n);
  s->len += n;
  s->buf[s->len] = '\0';
  return 0;
}

int edr_str_append(struct edr_str *s, const char *text) {
  return edr_str_appendn(s, text, strlen(text));
}

int edr_str_vappendf(struct edr_str *s, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  char probe[1];
  int n = vsnprintf(probe, sizeof probe, fmt, again);
  va_end(again);
  if (n < 0)
    return EDR_EINVAL;
  int rc = edr_str_grow(s, (size_t)n);
  if (rc)
    return rc;
  vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
  s->len += (size_t)n;
  assert(s->len < s->alloc && s->buf[s->len] == '\0');
  return 0;
}

int edr_str_appendf(struct edr_str *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = edr_str_vappendf(s, fmt, ap);
  va_end(ap);
  return rc;
}

int edr_str_setf(struct edr_str *s, const char *fmt, ...) {
  edr_str_reset(s);
  va_list ap;
  va_start(ap, fmt);
  int rc = edr_str_vappendf(s, fmt, ap);
  va_end(ap);
  return rc;
}

char *edr_str_detach(struct edr_str *s) {
  char *buf = s->alloc ? s->buf : strdup("");
  edr_str_init(s);
  return buf;
}
