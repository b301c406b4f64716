/*
 * err.c - text and names for the EDR_E* codes, and the errno translation.
 */
#include "err.h"

#include <errno.h>

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
