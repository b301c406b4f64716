/*
 * err.c - text and names for the EDR_E* codes, the errno translation, and
 * the error carrier (struct edr_error).
 */
#include "err.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>

const char *edr_strerror(int err) {
  switch (err) {
  case 0: return "success";
#define X(name, code, text) case code: return text;
    EDR_ERRNO_MAP(X)
#undef X
  }
  return "unknown error";
}

const char *edr_err_name(int err) {
  switch (err) {
  case 0: return "EDR_OK";
#define X(name, code, text) case code: return "EDR_E" #name;
    EDR_ERRNO_MAP(X)
#undef X
  }
  return "EDR_EUNKNOWN";
}

int edr_from_errno(int errnum) {
  switch (errnum) {
  case 0: return 0;
  case ENOMEM: return EDR_ENOMEM;
  case EINVAL: return EDR_EINVAL;
  case ENOENT: case ENOTDIR: return EDR_ENOENT;
  case EEXIST: case ENOTEMPTY: return EDR_EEXIST;
  case EACCES: case EPERM: case EROFS: return EDR_EACCES;
  case ENOSPC: case EDQUOT: return EDR_ENOSPC;
  case ETIMEDOUT: return EDR_ETIMEDOUT;
  case EAGAIN: return EDR_EAGAIN;
  case ECANCELED: return EDR_ECANCELED;
  case ECONNREFUSED: return EDR_ECONNREFUSED;
  case EHOSTUNREACH: case ENETUNREACH: return EDR_EHOSTUNREACH;
  case ECONNRESET: case EPIPE: case ENOTCONN: return EDR_ECONNLOST;
  case EBUSY: return EDR_EBUSY;
  case E2BIG: case EFBIG: case EOVERFLOW: return EDR_ETOOBIG;
  default: return EDR_EIO;
  }
}

void edr_error_init(struct edr_error *e) {
  e->code = 0;
  edr_str_init(&e->msg);
}

void edr_error_release(struct edr_error *e) {
  edr_str_release(&e->msg);
  e->code = 0;
}

void edr_error_clear(struct edr_error *e) {
  edr_str_reset(&e->msg);
  e->code = 0;
}

int edr_error_vset(struct edr_error *e, int code, const char *fmt, va_list ap) {
  assert(code < 0); /* a failure has a negative EDR_E* code (above) */
  e->code = code;
  edr_str_reset(&e->msg);
  if (edr_str_vappendf(&e->msg, fmt, ap))
    edr_str_reset(&e->msg);
  return code;
}

int edr_error_set(struct edr_error *e, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  edr_error_vset(e, code, fmt, ap);
  va_end(ap);
  return code;
}

int edr_error_prefix(struct edr_error *e, const char *fmt, ...) {
  struct edr_str s = EDR_STR_INIT;
  va_list ap;
  va_start(ap, fmt);
  int rc = edr_str_vappendf(&s, fmt, ap);
  va_end(ap);
  if (!rc)
    rc = edr_str_append(&s, edr_error_text(e));
  if (!rc) {
    edr_str_release(&e->msg);
    e->msg = s;
  } else {
    edr_str_release(&s);
  }
  return e->code;
}

const char *edr_error_text(const struct edr_error *e) {
  if (e->msg.len)
    return e->msg.buf;
  return e->code ? edr_strerror(e->code) : "";
}
