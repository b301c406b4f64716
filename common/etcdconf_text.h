/*
 * etcdconf_text.h - the text helpers etcdconf.c's parsers share with
 * etcdconf_manifest.c: a capped growable string, bounded line reading, YAML
 * scalars and a bounded word list.  Private to those two files.  Strings
 * are the caller's: free(b.p), edr_conf_words_release().
 */
#ifndef EDR_ETCDCONF_TEXT_H
#define EDR_ETCDCONF_TEXT_H

#include "etcdconf.h"

#include <stdbool.h>
#include <stddef.h>

struct edr_conf_buf {        /* at most EDR_CONF_VALUE_MAX - 1 bytes, nul-ended */
  char *p;
  size_t len, cap;
};
void edr_conf_buf_put(struct edr_conf_buf *b, char ch);
const char *edr_conf_buf_str(struct edr_conf_buf *b);   /* "" when empty */

/* The next line of TEXT[*pos, len) without its newline, as a new string
 * (bounded); with JOIN, a line ending in a backslash goes on with the next
 * (systemd).  NULL at the end.  *lineno is the number of the line it began
 * on; *next_no counts lines (start it at 1). */
char *edr_conf_next_line(const char *text, size_t len, size_t *pos, bool join, int *lineno,
                         int *next_no);

/* A plain or quoted YAML scalar from S (a comment cut, trimmed) into OUT. */
void edr_conf_yaml_scalar(const char *s, struct edr_conf_buf *out);

/* Words of a command line.  BARE[i]: the word was an unquoted $NAME. */
struct edr_conf_words {
  char *v[EDR_CONF_MAX_ARGS];
  bool bare[EDR_CONF_MAX_ARGS];
  int n;
};
void edr_conf_words_add(struct edr_conf_words *w, const char *s, bool bare);
void edr_conf_words_release(struct edr_conf_words *w);

#endif
