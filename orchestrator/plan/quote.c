/*
 * quote.c - POSIX shell quoting for display (see quote.h).
 */
#include "quote.h"

#include <stdlib.h>
#include <string.h>

static int safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || strchr("_@%+=:,./-", c);
}

char *edr_shell_quote(const char *s) {
  size_t n = strlen(s), quotes = 0, i;
  int plain = n > 0;
  for (i = 0; i < n; i++) {
    if (!safe(s[i]))
      plain = 0;
    if (s[i] == '\'')
      quotes++;
  }
  if (plain)
    return strdup(s);
  char *out = malloc(n + quotes * 3 + 3), *o = out;
  if (!out)
    return NULL;
  *o++ = '\'';
  for (i = 0; i < n; i++) {
    if (s[i] == '\'') {
      memcpy(o, "'\\''", 4);
      o += 4;
    } else {
      *o++ = s[i];
    }
  }
  *o++ = '\'';
  *o = '\0';
  return out;
}

char *edr_quote_argv(char *const *argv) {
  size_t len = 1, used = 0;
  char *out = malloc(len);
  if (!out)
    return NULL;
  out[0] = '\0';
  for (size_t i = 0; argv[i]; i++) {
    char *q = edr_shell_quote(argv[i]);
    if (!q) {
      free(out);
      return NULL;
    }
    size_t ql = strlen(q);
    char *nout = realloc(out, used + ql + 2);
    if (!nout) {
      free(q);
      free(out);
      return NULL;
    }
    out = nout;
    if (i)
      out[used++] = ' ';
    memcpy(out + used, q, ql + 1);
    used += ql;
    free(q);
  }
  return out;
}
