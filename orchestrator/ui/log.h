/*
 * log.h - what etcd-dr tells the person running it.
 *
 * Everything goes to stderr (stdout is kept for a command's result, such as
 * `plan --format json`).  Messages are lowercase, name the subject in
 * quotes and, where a next step is known, say it.  edr_verbosity is set once
 * from -q / -v.
 */
#ifndef EDR_LOG_H
#define EDR_LOG_H

extern int edr_verbosity;   /* -1 quiet, 0 normal, 1 verbose, 2 debug */

/* Called around every message when set (progress.c takes its live block
 * off the screen meanwhile). */
extern void (*edr_log_before)(void);
extern void (*edr_log_after)(void);

void edr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void edr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void edr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void edr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
