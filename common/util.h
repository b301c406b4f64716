/*
 * util.h - small helpers shared by the coordinator and the agent.
 */
#ifndef EDR_UTIL_H
#define EDR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds. */
uint64_t edr_now_ms(void);

/* malloc'd printf; NULL only on allocation failure.  Caller frees. */
char *edr_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "a/b" joined with one slash; caller frees. */
char *edr_path_join(const char *a, const char *b);

/* Human size: "75.0 MB" style with SI units, like etcd's humanize.Bytes. */
void edr_human_bytes(uint64_t n, char *out, size_t outlen);

/* Now, UTC, to the millisecond: "2026-11-21T18:15:51.123Z" (len >= 32). */
void edr_iso_now(char *out, size_t len);

/* Edits (insert, delete, substitute, swap two neighbours) between A and B,
 * ignoring case; stops counting at 99. */
unsigned edr_edit_distance(const char *a, const char *b);

/* The one of CANDS (N strings, borrowed) closest to WORD, for a "did you
 * mean" hint: within a third of WORD's length (at least 2 edits), and only
 * if no other candidate is as close.  NULL when none. */
const char *edr_did_you_mean(const char *word, const char *const *cands, size_t n);

#endif
