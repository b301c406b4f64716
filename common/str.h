/*
 * str.h - the one growable string of etcd-dr, shared by the coordinator and
 * the agent, in the manner of git's strbuf.
 *
 * A struct edr_str owns its buffer.  BUF is never NULL and always
 * NUL-terminated, so s.buf can be printed at any time; an initialised
 * string that never grew points at a shared empty string and owns nothing.
 * edr_str_release() frees the contents and leaves an empty string that may
 * be used again; edr_str_detach() hands the buffer to the caller.
 *
 * The appending functions return 0, or EDR_ENOMEM when the buffer could not
 * grow; the string then keeps what it held before the call.  What they
 * append must not point into S itself (growing moves the buffer).
 */
#ifndef EDR_STR_H
#define EDR_STR_H

#include <stdarg.h>
#include <stddef.h>

struct edr_str {
  char *buf;     /* the text, NUL-terminated; never NULL */
  size_t len;    /* bytes before the NUL */
  size_t alloc;  /* bytes allocated at BUF; 0: BUF is the shared empty string */
};

/* What an unallocated string points at; never written. */
extern char edr_str_empty_[1];
#define EDR_STR_INIT { .buf = edr_str_empty_, .len = 0, .alloc = 0 }

void edr_str_init(struct edr_str *s);
/* Frees the contents; S is empty and usable again. */
void edr_str_release(struct edr_str *s);
/* Empties S and keeps its buffer for reuse. */
void edr_str_reset(struct edr_str *s);
/* Room for EXTRA more bytes (and the NUL) without another allocation. */
int edr_str_grow(struct edr_str *s, size_t extra);

int edr_str_append(struct edr_str *s, const char *text);
int edr_str_appendn(struct edr_str *s, const char *text, size_t n);
int edr_str_appendf(struct edr_str *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int edr_str_vappendf(struct edr_str *s, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* edr_str_reset() then edr_str_appendf(). */
int edr_str_setf(struct edr_str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Cuts S to its first N bytes (N <= len). */
void edr_str_truncate(struct edr_str *s, size_t n);

/* The buffer, malloc'd and now the caller's (to free()); S is left empty.
 * NULL only on allocation failure (an S that never grew is copied). */
char *edr_str_detach(struct edr_str *s);

#endif
