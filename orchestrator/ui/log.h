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

/* -1 quiet, 0 normal, 1 verbose, 2 debug.  Set while the command reads
 * its options, before any loop or run starts; read-only after. */
extern int edr_verbosity;

/* Called around every message when set, with ARG: a run's progress block
 * on a terminal (progress.c) takes itself off the screen meanwhile.  Set
 * and cleared by that block, from its run's loop thread; NULL: none. */
void edr_log_set_hooks(void (*before)(void *), void (*after)(void *), void *arg);

void edr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void edr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void edr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void edr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
