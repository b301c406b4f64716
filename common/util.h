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

#endif
