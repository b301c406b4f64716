/*
 * err.h - the one set of error codes used across etcd-dr.
 *
 * Every function that can fail returns 0 (or a non-negative count) on
 * success and one of the negative EDR_E* codes below on failure, in the
 * manner of libuv and OpenSSH.  edr_strerror() is the only place a code
 * becomes text; foreign codes (errno, libssh2) are translated to ours in
 * exactly one function each (edr_from_errno() here, ssh_err() in ssh.c).
 * The text is a short, lowercase phrase: callers add the subject and host.
 *
 * struct edr_error is the one way a failure travels with its message: a
 * code and a growable message (str.h), filled by the function that failed
 * and owned by the caller that passed it in.
 */
#ifndef EDR_ERR_H
#define EDR_ERR_H

#include "str.h"

#define EDR_ERRNO_MAP(X)                                                       \
  X(NOMEM,        -1,  "out of memory")                                        \
  X(INVAL,        -2,  "invalid argument")                                     \
  X(IO,           -3,  "input/output error")                                   \
  X(NOENT,        -4,  "no such file or directory")                            \
  X(EXIST,        -5,  "already exists")                                       \
  X(ACCES,        -6,  "permission denied")                                    \
  X(NOSPC,        -7,  "not enough free disk space")                           \
  X(TIMEDOUT,     -8,  "timed out")                                            \
  X(AGAIN,        -9,  "try again")                                            \
  X(CANCELED,     -10, "canceled")                                             \
  X(CONNREFUSED,  -11, "connection refused")                                   \
  X(HOSTUNREACH,  -12, "host unreachable")                                     \
  X(RESOLVE,      -13, "cannot resolve host name")                             \
  X(CONNLOST,     -14, "connection lost")                                      \
  X(SSH,          -15, "ssh protocol error")                                   \
  X(HOSTKEY_UNKNOWN,  -16, "host key not in known_hosts")                      \
  X(HOSTKEY_MISMATCH, -17, "host key does not match known_hosts")              \
  X(AUTH,         -18, "ssh authentication failed")                            \
  X(SUDO,         -19, "sudo -n refused (a password would be needed)")         \
  X(ARCH,         -20, "unsupported host architecture")                        \
  X(PROTO,        -21, "agent protocol error")                                 \
  X(HASH,         -22, "sha-256 mismatch")                                     \
  X(NOHASH,       -23, "snapshot has no sha-256 trailer")                      \
  X(CORRUPT,      -24, "file is corrupt")                                      \
  X(TOOL,         -25, "no usable restore tool")                               \
  X(UNSUPPORTED,  -26, "not supported by this etcd version")                   \
  X(REMOTE,       -27, "remote command failed")                                \
  X(BUSY,         -28, "etcd still running")                                   \
  X(UNHEALTHY,    -29, "cluster not healthy")                                  \
  X(MOUNTPOINT,   -30, "path is a mount point")                                \
  X(TOOBIG,       -31, "value too large")                                      \
  X(HTTP,         -32, "http request failed")                                  \
  X(TLS,          -33, "tls error")                                            \
  X(INTERNAL,     -34, "internal error")                                       \
  X(ETCDAUTH,     -35, "etcd authentication failed")

enum edr_err {
  EDR_OK = 0,
#define X(name, code, text) EDR_E##name = (code),
  EDR_ERRNO_MAP(X)
#undef X
};

/* Text for an EDR_E* code; a static string, never NULL. */
const char *edr_strerror(int err);
/* Symbolic name ("EDR_EHASH") for logs and JSON; static, never NULL. */
const char *edr_err_name(int err);
/* Translate an errno value (positive) to an EDR_E* code. */
int edr_from_errno(int errnum);

/* A failure and what to tell the operator about it.  CODE is 0 (no
 * failure) or an EDR_E* code; MSG the whole message, lowercase, naming the
 * subject and the host, or empty when the code's own text says it all.
 * The caller owns it: EDR_ERROR_INIT or edr_error_init() before use,
 * edr_error_release() after. */
struct edr_error {
  int code;
  struct edr_str msg;
};
#define EDR_ERROR_INIT { .code = 0, .msg = EDR_STR_INIT }

void edr_error_init(struct edr_error *e);
/* Frees the message; E holds no failure and is usable again. */
void edr_error_release(struct edr_error *e);
/* No failure (keeps the message's buffer). */
void edr_error_clear(struct edr_error *e);
/* Records CODE (negative) with a message from FMT, replacing what E held.
 * Returns CODE, for `return edr_error_set(err, EDR_EIO, ...)`.  When the
 * message cannot be allocated E keeps the code and edr_error_text() falls
 * back on edr_strerror(). */
int edr_error_set(struct edr_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int edr_error_vset(struct edr_error *e, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Puts FMT's text before the message (the context a caller adds: the
 * host, the file).  Returns E's code. */
int edr_error_prefix(struct edr_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The message; edr_strerror(code) when there is none; "" when E holds no
 * failure.  Borrowed from E, valid until E changes. */
const char *edr_error_text(const struct edr_error *e);

#endif
