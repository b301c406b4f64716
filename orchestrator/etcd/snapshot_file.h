/*
 * snapshot_file.h - the file a snapshot save writes, private to etcd/: the
 * save (snapshot_save.c) owns struct out_file and its buffer; these
 * functions fill, check and finish it.  --keep and the name check are
 * public, in snapshot_save.h.
 */
#ifndef EDR_SNAPSHOT_FILE_H
#define EDR_SNAPSHOT_FILE_H

#include "err.h"
#include "snapshot_save.h"

#include <stddef.h>

/* The write buffer between the stream and FILE.part. */
#define SAVE_WBUF_SIZE (256u << 10)

struct out_file {
  int fd;
  const char *part;            /* borrowed path, for messages */
  unsigned char *buf;          /* SAVE_WBUF_SIZE bytes, the save's */
  size_t len;
};

/* An edr_snapstream_sink (ARG: the out_file): buffered writes to FILE.part. */
int save_out_sink(void *arg, const unsigned char *p, size_t n, struct edr_error *err);
/* What the buffer holds, to the file.  0 or a code set in ERR. */
int save_out_flush(struct out_file *f, struct edr_error *err);
/* Empty the .part for another try. */
int save_out_reset(struct out_file *f);

/* The destination: -o FILE, or a new timestamped name in --dir; *FINAL,
 * *PART (FINAL.part) and *DIR are malloc'd, the caller's to free (also
 * after a failure).  0 or a code set in ERR. */
int save_make_paths(const struct edr_save_opts *o, char **final, char **part, char **dir,
                    struct edr_error *err);

/* FILE.part (OUT, closed here), checked and synced, becomes FINAL in DIR;
 * RES gets its size, sha-256, revision and path, or its err.  WHO names
 * the source in messages; WANT_SHA256 (through the agent: the sha-256 the
 * host says it sent) must then equal the file's, or NULL.  Touches nothing
 * but OUT and RES (it runs on libuv's thread pool). */
int save_finish_file(struct out_file *out, struct edr_save_result *res, const char *part,
                     const char *final, const char *dir, const char *who,
                     const char *want_sha256);

#endif
