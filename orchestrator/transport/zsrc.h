/*
 * zsrc.h - a local file compressed once with zstd for every host it is
 * pushed to, in the chunked form the agent's `receive` takes
 * (common/zframe.h), and the measurement that says whether compressing
 * pays at all.
 *
 * The compressed stream goes to an unlinked temporary file as the pushes
 * need it: a push that wants bytes past what is there compresses the next
 * chunk (ZF_CHUNK_IN bytes of the file) on the caller's thread, and every
 * push reads the same stream at its own offset.  So the file is compressed
 * once, at the pace of the fastest push, and memory stays at one chunk's
 * buffers however big the file is.  A zsrc owns its descriptors and its
 * zstd context; pushes borrow it for the run.  Not thread-safe: one loop.
 */
#ifndef EDR_ZSRC_H
#define EDR_ZSRC_H

#include "err.h"  /* struct edr_error */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* zstd's level for pushes: the fastest, since the link it saves must not
 * wait on the coordinator's CPU. */
enum { EDR_ZSTD_LEVEL = 1, EDR_ZPROBE_BYTES = 8 * 1024 * 1024 };

struct edr_zsrc;

/* Compress PATH (SIZE bytes, as checked by the caller) on demand.  0 and
 * *OUT (free with edr_zsrc_free), or a negative EDR_E* code with ERR
 * saying why. */
int edr_zsrc_open(const char *path, uint64_t size, struct edr_zsrc **out,
                  struct edr_error *err);
/* Up to LEN bytes of the compressed stream from OFF into BUF, compressing
 * more when OFF is past what is there.  The count (> 0), 0 at the end of
 * the stream, or a negative EDR_E* code (the file could not be read, or
 * changed size: EDR_EIO). */
long edr_zsrc_read(struct edr_zsrc *z, uint64_t off, void *buf, size_t len);
/* How many of the file's bytes the compressed stream up to OFF stands for
 * (progress in the file's terms). */
uint64_t edr_zsrc_raw_at(const struct edr_zsrc *z, uint64_t off);
/* The file's bytes compressed so far, the stream's bytes for them, and
 * whether the stream is complete. */
void edr_zsrc_totals(const struct edr_zsrc *z, uint64_t *raw, uint64_t *wire, bool *done);
void edr_zsrc_free(struct edr_zsrc *z);

/* What compressing the start of a file showed. */
struct edr_zprobe {
  uint64_t sampled;         /* bytes of the file compressed */
  double ratio;             /* compressed / sampled, framing included */
  double bytes_per_s;       /* compression speed on this machine */
};

/* Compress the first EDR_ZPROBE_BYTES of PATH (less if it is smaller) at
 * EDR_ZSTD_LEVEL, timed.  0, or a negative EDR_E* code. */
int edr_zsrc_probe(const char *path, struct edr_zprobe *out);

/* Whether compressing SIZE bytes pays when each host's share of the
 * coordinator's link moves LINK_BPS bytes a second (0: unknown).  Pays
 * only when the sample shrank to at most 85% and compressing the whole
 * file (not counting any overlap with sending) plus sending what is left
 * takes at most 80% of sending it plain: so a fast link or data that does
 * not compress is never slower than without.  WHY gets the figures. */
bool edr_zsrc_pays(uint64_t size, const struct edr_zprobe *p, double link_bps, char *why,
                   size_t whylen);

#endif
