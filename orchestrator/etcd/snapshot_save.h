/*
 * snapshot_save.h - `etcd-dr snapshot save`: take a snapshot of a live
 * member from this machine, over the member's client URL, and write it
 * exactly as `etcdctl snapshot save` does (the bbolt image, then 32 bytes of
 * SHA-256 over it), atomically and verified.
 *
 * The member is asked through etcd's JSON gateway: POST
 * /v3/maintenance/snapshot with `{}` answers one JSON message a line,
 * `{"result":{"remaining_bytes":"N","blob":"<base64>"}}`, and the last blob
 * is the SHA-256 of the others (seen on etcd 3.4.23 and 3.5.16; see
 * docs/snapshot.md).  The stream is decoded as it arrives and written to
 * FILE.part; memory does not grow with the snapshot.  Only then, after
 * fsync and a check of the trailer, does FILE.part become FILE.
 *
 * With --via ssh (or --via auto when no client URL answers from here) the
 * snapshot is taken on the member's host by the agent there, from the
 * member's client URL, and streamed back (the command layer's
 * snapshot_ssh.c, lent as edr_save_opts.fetch_ssh); the same FILE.part,
 * fsync, trailer check and rename finish it.
 */
#ifndef EDR_SNAPSHOT_SAVE_H
#define EDR_SNAPSHOT_SAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "err.h"
#include "http.h"  /* struct edr_tls */
#include "snapstream.h"
#include "spec.h"

/* ---- the save ------------------------------------------------------------- */

struct edr_save_opts;
struct edr_etcd_user;

/* --via ssh for member index MEMBER of SPEC: the snapshot is taken on the
 * member's host and its bytes go to SINK(SINK_ARG, ...) as they arrive.
 * Returns 0 with AGENT_SHA256 (hex, of every byte sent) set, or a negative
 * EDR_E* code set in ERR saying which step failed and why; the host keeps
 * nothing.  The command layer's edr_snapshot_fetch_ssh is the one used. */
typedef int (*edr_snapshot_fetch_fn)(const struct edr_spec *spec, size_t member,
                                     const struct edr_save_opts *o,
                                     edr_snapstream_sink sink, void *sink_arg,
                                     char agent_sha256[65], struct edr_error *err);

enum edr_save_via {
  EDR_VIA_DIRECT,           /* this machine asks the client URL (the default) */
  EDR_VIA_SSH,              /* the member's host takes it, the agent streams it back */
  EDR_VIA_AUTO,             /* direct, else through the hosts whose URL did not answer */
};

struct edr_save_opts {      /* every string borrowed for the call */
  const char *out;          /* -o FILE, or NULL with dir */
  const char *dir;          /* --dir DIR: DIR/snapshot-YYYYMMDD-HHMMSSZ.db */
  const char *member;       /* NULL: the first member whose /health is true */
  const char *endpoint;     /* a client URL; then the spec is not used */
  struct edr_tls tls;
  const struct edr_etcd_user *user;  /* authenticate as (auth.h), or NULL;
                                        --via ssh: the host's agent gets it
                                        in its take-snapshot request */
  uint64_t timeout_ms;      /* connect and /health; 0: 5000 */
  uint64_t stall_timeout_ms;  /* no byte for this long fails; 0: 30000 */
  uint64_t deadline_ms;     /* the whole transfer's bound; 0: one hour */
  enum edr_save_via via;
  bool accept_new_hostkeys;  /* --via ssh: record unknown host keys */
  edr_snapshot_fetch_fn fetch_ssh;  /* --via ssh and auto's fallback; NULL:
                                       they fail (EDR_EINTERNAL) */
};

struct edr_save_result {
  char path[4096];          /* the file written */
  char source[1200];        /* "member 'm1' (http://...)" or "endpoint '...'" */
  const char *via;          /* "http" or "ssh" (static) */
  uint64_t size;            /* bytes, trailer included */
  int64_t revision;         /* etcd's revision in the image */
  char sha256[65];          /* hex SHA-256 of the whole file (sha256sum's) */
  struct edr_error err;     /* on failure: the code and the message, naming
                               the member or URL and the reason */
};

/* Frees what RES holds (its message); the caller's after every save. */
void edr_save_result_release(struct edr_save_result *res);

/* Take the snapshot.  SPEC may be NULL when o->endpoint is set.  Returns 0
 * with RES filled, or a negative EDR_E* code with res->err set; then no
 * FILE.part is left and an existing FILE is untouched.  SIGINT and SIGTERM
 * are caught while it runs (EDR_ECANCELED, the .part removed). */
int edr_snapshot_save(const struct edr_spec *spec,
                      const struct edr_save_opts *o,
                      struct edr_save_result *res);

/* The same on the caller's LOOP (a run's gate), direct only (o->via
 * EDR_VIA_DIRECT: through the hosts would be a run inside the run): no
 * signal is caught, edr_snapshot_save_cancel() ends it.  Returns 0 and CB
 * runs exactly once, from the loop and never from inside this call, with
 * 0 (RES filled) or a negative EDR_E* code (res->err set; EDR_ECANCELED
 * after a cancel); or returns a negative code (res->err set) and CB never
 * runs.  SPEC, O and RES are borrowed until CB.  *OUT (may be NULL) is
 * valid until CB. */
struct edr_snapshot_save_call;
typedef void (*edr_save_cb)(void *arg, int status);
int edr_snapshot_save_start(uv_loop_t *loop, const struct edr_spec *spec,
                            const struct edr_save_opts *o, struct edr_save_result *res,
                            edr_save_cb cb, void *arg,
                            struct edr_snapshot_save_call **out);
void edr_snapshot_save_cancel(struct edr_snapshot_save_call *c);

/* Whether NAME is exactly "snapshot-YYYYMMDD-HHMMSSZ.db" (digits only):
 * the only names --keep ever removes. */
bool edr_snapshot_name_ok(const char *name);

/* Remove the oldest files of DIR whose names pass edr_snapshot_name_ok
 * (regular files only, never symlinks) so that KEEP remain, never KEEP_PATH
 * (the one just saved, whatever the clock did).  Prints "removed 'PATH'"
 * on stdout for each.  Returns 0 or a negative EDR_E* code set in ERR. */
int edr_snapshot_prune(const char *dir, unsigned keep, const char *keep_path,
                       struct edr_error *err);

#endif
