/*
 * err.h - the one set of error codes used across etcd-dr.
 *
 * Every function that can fail returns 0 (or a non-negative count) on
 * success and one of the negative EDR_E* codes below on failure, in the
 * manner of libuv and OpenSSH.  edr_strerror() is the only place a code
 * becomes text; foreign codes (errno, libssh2) are translated to ours in
 * exactly one function each (edr_from_errno() here, ssh_err() in ssh.c).
 * The text is a short, lowercase phrase: callers add the subject and host.
 */
#ifndef EDR_ERR_H
#define EDR_ERR_H

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
  X(INTERNAL,     -34, "internal error")

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

#endif
