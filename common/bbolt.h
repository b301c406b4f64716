/*
 * bbolt.h - read-only, bounds-checked reader for bbolt files: etcd's backend
 * database (member/snap/db) and the body of a snapshot.  The coordinator
 * uses it for `etcd-dr snapshot status|verify`, the agent on hosts (for
 * instance to read the revision of an old data dir).
 *
 * The file is hostile input.  Every offset is checked against the page and
 * the file, every page id against meta.pgid, no page is read twice in one
 * walk (a bitmap of pages, 1 bit per page), B+tree and bucket nesting depth
 * is capped at EDR_BOLT_MAX_DEPTH, and no buffer is sized by a number from
 * the file without a cap (a page with its overflow may span at most
 * EDR_BOLT_MAX_SPAN bytes, all buffers together EDR_BOLT_MAX_BUFFERS).
 * Pages are read with pread() into one buffer
 * per tree level, so memory does not grow with the file: it is a few pages
 * plus the page bitmap (file size / 32768 bytes).
 *
 * Errors are negative EDR_E* codes (err.h).  A structural problem is
 * EDR_ECORRUPT and edr_bolt_errmsg() then says what and where, e.g.
 * "page 12 at offset 49152: overflow 4000 runs past the end of the data
 * (500 pages)".
 */
#ifndef EDR_BBOLT_H
#define EDR_BBOLT_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EDR_BOLT_MAX_DEPTH 64                 /* tree levels + bucket nesting */
#define EDR_BOLT_MAX_SPAN (64u << 20)         /* one page with its overflow */
#define EDR_BOLT_MAX_BUFFERS (256u << 20)     /* all level buffers together */
#define EDR_BOLT_MAX_PAGES (UINT64_C(1) << 32) /* bitmap of at most 512 MiB */
#define EDR_BOLT_NO_FREELIST UINT64_MAX       /* meta.freelist when not synced */

struct edr_bolt; /* opaque; one open file */

/* One meta page as found in the file.  `problem` is "" when the page is
 * valid (magic, version 2, page flag, checksum) and otherwise says why not. */
struct edr_bolt_meta {
  bool valid;
  char problem[160];
  uint32_t page_size;
  uint32_t flags;
  uint64_t root;     /* page of the root bucket's tree */
  uint64_t freelist; /* EDR_BOLT_NO_FREELIST when etcd did not sync it */
  uint64_t pgid;     /* high-water mark: pages in use, TOTAL SIZE / page */
  uint64_t txid;
  uint64_t checksum;
};

/* What edr_bolt_open() learnt about the file.  Borrowed from the handle. */
struct edr_bolt_info {
  uint64_t file_size;  /* bytes on disk */
  uint64_t image_size; /* file_size without a SHA-256 trailer (size%512==32) */
  bool has_trailer;
  uint32_t page_size;
  int meta_used;                 /* 0 or 1: the valid meta with higher txid */
  struct edr_bolt_meta meta[2];  /* both, as found */
};

/* One entry handed to a visitor.  key/val point into the reader's buffers
 * and are valid only during the call.  For a nested bucket is_bucket is
 * true and val is NULL (as in bbolt's ForEach).  depth is 0 for a top-level
 * bucket name (edr_bolt_walk), 1 for an entry of a top-level bucket, and
 * deeper for entries of nested buckets (edr_bolt_check only).
 * page/offset say where the element is (offset in the file; for an inline
 * bucket, the page holding its parent value). */
struct edr_bolt_kv {
  const uint8_t *key;
  size_t klen;
  const uint8_t *val;
  size_t vlen;
  bool is_bucket;
  int depth;
  uint64_t page;
  uint64_t offset;
};

/* Return 0 to go on; any other value stops the walk and is returned. */
typedef int (*edr_bolt_visit_fn)(void *arg, const struct edr_bolt_kv *kv);

/* Open PATH read-only and choose its meta page.  On success *out is a new
 * handle the caller closes with edr_bolt_close().  On failure *out is NULL,
 * the code is returned and, when ERR is not NULL, set there with a
 * lowercase sentence about the cause; it does not repeat the path, the
 * caller names the file.  EDR_ECORRUPT when neither meta page is valid or
 * the file is shorter than meta.pgid pages. */
int edr_bolt_open(const char *path, struct edr_bolt **out, struct edr_error *err);
/* The same over an open descriptor (dup'ed: the caller keeps FD). */
int edr_bolt_open_fd(int fd, struct edr_bolt **out, struct edr_error *err);
/* Close DB (NULL is fine). */
void edr_bolt_close(struct edr_bolt *db);

/* Borrowed; valid until edr_bolt_close(). */
const struct edr_bolt_info *edr_bolt_info(const struct edr_bolt *db);
/* Text of the last EDR_ECORRUPT (or I/O) failure on DB; "" if none. */
const char *edr_bolt_errmsg(const struct edr_bolt *db);

/* Every top-level bucket in byte order: its name (depth 0, is_bucket) and
 * then each of its entries in byte order (depth 1); nested buckets are
 * reported but not entered.  This is the order etcd hashes in. */
int edr_bolt_walk(struct edr_bolt *db, edr_bolt_visit_fn fn, void *arg);

/* The entries (depth 1) of the top-level bucket NAME in byte order.
 * EDR_ENOENT when there is no such bucket. */
int edr_bolt_foreach(struct edr_bolt *db, const void *name, size_t nlen,
                     edr_bolt_visit_fn fn, void *arg);

/* Full consistency check, like bbolt's tx.Check(): both meta pages valid,
 * every reachable page (nested buckets too) in bounds, of the right type,
 * referenced once, keys strictly ordered within pages and within the
 * bounds set by their branch; the freelist (when stored) in bounds, not
 * overlapping reachable pages, and with it every page accounted for.
 * 0 when sound, EDR_ECORRUPT with edr_bolt_errmsg() otherwise. */
int edr_bolt_check(struct edr_bolt *db);

/* The etcd revision stored in the bbolt file at PATH: the main part of the
 * last key of bucket "key".  Sets *rev to 0 for a file with no keys.
 * Returns 0 or a negative EDR_E* code (EDR_ECORRUPT for a bad file). */
int edr_bolt_revision(const char *path, int64_t *rev);
/* The same on an open DB; on EDR_ECORRUPT edr_bolt_errmsg() says where.
 * Reads the root tree and one path down bucket "key": a few pages. */
int edr_bolt_revision_db(struct edr_bolt *db, int64_t *rev);

/* ---- etcd's figures, read from the file (one walk) ---------------------- */

/* What `etcdctl snapshot status` prints and what etcd-dr adds to it.
 * Filled by edr_etcd_status(); release with edr_etcd_status_release(). */
struct edr_etcd_status {
  uint32_t hash;           /* HASH: CRC-32C of bucket names, keys, values */
  int64_t revision;        /* REVISION: main of the last key of "key" */
  uint64_t total_keys;     /* TOTAL KEYS (3.4/3.5): entries of all buckets */
  uint64_t total_size;     /* TOTAL SIZE: meta.pgid * page size */
  int64_t live_keys;       /* distinct keys whose latest entry is no tombstone;
                              -1 if a value of "key" could not be decoded
                              (or, absurdly many keys, 2^20 passes not enough) */
  bool has_consistent_index;
  uint64_t consistent_index;
  bool has_term;           /* 3.5+ stores the raft term next to the index */
  uint64_t term;
  bool has_scheduled_compact, has_finished_compact;
  int64_t scheduled_compact; /* meta "scheduledCompactRev" */
  int64_t finished_compact;  /* meta "finishedCompactRev" */
  /* Members from bucket "members": a new reference owned by this struct;
   * an array of {"id": "hex", "name": "...", "peerURLs": [...],
   * "clientURLs": [...], "isLearner": bool}, at most 256 entries. */
  json_t *members;
  uint64_t members_skipped;  /* entries beyond the cap or not JSON */
};

/* Compute *st from DB.  0 or a negative EDR_E* code (edr_bolt_errmsg()). */
int edr_etcd_status(struct edr_bolt *db, struct edr_etcd_status *st);
/* For tests: the live-key table's slot limit per pass (default 1 << 20,
 * 8 MiB; at least 4), to exercise the multi-pass count on small files. */
void edr_bolt_set_live_limit(size_t slots);

/* Free what *st owns; st itself is the caller's. */
void edr_etcd_status_release(struct edr_etcd_status *st);

/* The members recorded in bucket "members" of DB, as edr_etcd_status()
 * lists them (same objects, same cap), without walking the rest of the
 * file: *out is a new array (the caller's), *skipped (may be NULL) counts
 * entries beyond the cap or not JSON.  EDR_ENOENT when there is no such
 * bucket; on failure *out is NULL. */
int edr_bolt_members(struct edr_bolt *db, json_t **out, uint64_t *skipped);

/* etcd's raft position in DB's bucket "meta": consistent_index and (3.5+)
 * term, each with whether it is there.  Reads that bucket only.  0, or a
 * negative EDR_E* code (EDR_ENOENT: no bucket "meta"). */
int edr_bolt_meta_index(struct edr_bolt *db, bool *has_ci, uint64_t *ci, bool *has_term,
                        uint64_t *term);

#endif
