/*
 * util.h - small helpers shared by the coordinator and the agent.
 */
#ifndef EDR_UTIL_H
#define EDR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Monotonic milliseconds. */
uint64_t edr_now_ms(void);

/* malloc'd printf; NULL only on allocation failure.  Caller frees. */
char *edr_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "a/b" joined with one slash; caller frees. */
char *edr_path_join(const char *a, const char *b);

/* Human size: "75.0 MB" style with SI units, like etcd's humanize.Bytes. */
void edr_human_bytes(uint64_t n, char *out, size_t outlen);

/* Text from outside (a snapshot's member entries, a host's reply) made
 * safe to print: a terminal shows it and obeys none of it.  Valid UTF-8 is
 * kept; control characters (C0, DEL, C1; newline and tab too unless
 * EDR_ESC_KEEP_NL), the bidirectional overrides and isolates (U+202A..E,
 * U+2066..9) and bytes that are not UTF-8 are written as \xNN, byte by
 * byte. */
enum { EDR_ESC_KEEP_NL = 1 };
/* LEN bytes of S to F. */
void edr_fput_escaped(FILE *f, const char *s, size_t len, int flags);
/* The string S (NULL: "") into OUT, truncated to OUTLEN (>= 1) at a whole
 * escape and NUL-terminated.  Returns OUT. */
char *edr_escape(char *out, size_t outlen, const char *s, int flags);

/* Now, UTC, to the millisecond: "2026-11-21T18:15:51.123Z" (len >= 32). */
void edr_iso_now(char *out, size_t len);

/* Edits (insert, delete, substitute, swap two neighbours) between A and B,
 * ignoring case; stops counting at 99. */
unsigned edr_edit_distance(const char *a, const char *b);

/* The one of CANDS (N strings, borrowed) closest to WORD, for a "did you
 * mean" hint: within a third of WORD's length (at least 2 edits), and only
 * if no other candidate is as close.  NULL when none. */
const char *edr_did_you_mean(const char *word, const char *const *cands, size_t n);

/* A duration as etcdctl's flags take it: "90s", "2m", "1h30m", "500ms",
 * "1.5s" (units ms, s, m, h, d), or a bare number counting BARE_MS each.
 * Into *MS.  Returns 0 or EDR_EINVAL. */
int edr_parse_duration(const char *text, uint64_t bare_ms, uint64_t *ms);
/* MS as the largest whole units: "2m", "1h30m", "500ms". */
void edr_format_duration(uint64_t ms, char *out, size_t outlen);

#endif
