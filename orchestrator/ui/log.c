/*
 * log.c - messages to stderr, prefixed with the program name.  A message
 * often quotes a host's reply, so it is printed escaped (util.h): no
 * control character but newline and tab reaches the terminal.
 */
#include "log.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int edr_verbosity;
static void (*log_before)(void *);
static void (*log_after)(void *);
static void *log_hook_arg;

void edr_log_set_hooks(void (*before)(void *), void (*after)(void *), void *arg) {
  log_before = before;
  log_after = after;
  log_hook_arg = arg;
}

static void emit(const char *prefix, const char *fmt, va_list ap) {
  char buf[4096];
  vsnprintf(buf, sizeof buf, fmt, ap);
  if (log_before)
    log_before(log_hook_arg); /* above a live progress block, never through it */
  fprintf(stderr, "etcd-dr: %s", prefix);
  edr_fput_escaped(stderr, buf, strlen(buf), EDR_ESC_KEEP_NL);
  fputc('\n', stderr);
  if (log_after)
    log_after(log_hook_arg);
}

void edr_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit("error: ", fmt, ap);
  va_end(ap);
}

void edr_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit("warning: ", fmt, ap);
  va_end(ap);
}

void edr_info(const char *fmt, ...) {
  if (edr_verbosity < 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  emit("", fmt, ap);
  va_end(ap);
}

void edr_debug(const char *fmt, ...) {
  if (edr_verbosity < 2)
    return;
  va_list ap;
  va_start(ap, fmt);
  emit("debug: ", fmt, ap);
  va_end(ap);
}
