/*
 * zsrc.c - a file compressed once, on demand, for every push (zsrc.h).
 *
 * The stream lives in an unlinked temporary file under $TMPDIR (else
 * /var/tmp, which is on disk where /tmp may be memory).  Each chunk is
 * compressed with ZSTD_e_flush so the agent can decompress it as soon as
 * it arrives; the last one ends the frame (with zstd's checksum) and is
 * followed by the end marker.  A table of chunk ends maps the stream's
 * offsets back to the file's for progress.
 */
#include "zsrc.h"

#include "array.h"
#include "err.h"
#include "util.h"
#include "zframe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

struct zchunk_end {
  uint64_t wire, raw;
};

struct edr_zsrc {
  int src, tmp;              /* the file; the compressed stream */
  uint64_t size;             /* the file's bytes */
  uint64_t raw, wire;        /* compressed so far: file bytes, stream bytes */
  bool done;
  ZSTD_CCtx *cctx;
  unsigned char *in, *out;   /* one chunk of each */
  size_t out_cap;
  struct zchunk_end *ends;   /* one per chunk, in order */
  size_t n_ends, cap_ends;
};

static ZSTD_CCtx *new_cctx(void) {
  ZSTD_CCtx *c = ZSTD_createCCtx();
  if (c && (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, EDR_ZSTD_LEVEL)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)))) {
    ZSTD_freeCCtx(c);
    c = NULL;
  }
  return c;
}

/* The unlinked file the stream goes to. */
static int open_tmp(struct edr_error *err) {
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir)
    dir = "/var/tmp";
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/etcd-dr-zstd.XXXXXX", dir);
  fd = mkostemp(tmpl, O_CLOEXEC);
  if (fd < 0) {
    int rc = edr_from_errno(errno);
    return edr_error_set(err, rc, "cannot create a temporary file in '%s' for the compressed "
                         "snapshot: %s (set TMPDIR, or use --compress off)", dir,
                         edr_strerror(rc));
  }
  unlink(tmpl);
  return fd;
}

void edr_zsrc_free(struct edr_zsrc *z) {
  if (!z)
    return;
  if (z->src >= 0)
    close(z->src);
  if (z->tmp >= 0)
    close(z->tmp);
  ZSTD_freeCCtx(z->cctx);
  free(z->in);
  free(z->out);
  free(z->ends);
  free(z);
}

int edr_zsrc_open(const char *path, uint64_t size, struct edr_zsrc **out,
                  struct edr_error *err) {
  *out = NULL;
  struct edr_zsrc *z = calloc(1, sizeof *z);
  if (!z)
    return edr_error_set(err, EDR_ENOMEM, "cannot set up zstd: out of memory");
  z->src = z->tmp = -1;
  z->size = size;
  z->out_cap = ZF_HDR + ZSTD_compressBound(ZF_CHUNK_IN) + 64 * 1024 + ZF_HDR;
  if (!(z->cctx = new_cctx()) || !(z->in = malloc(ZF_CHUNK_IN)) ||
      !(z->out = malloc(z->out_cap))) {
    edr_zsrc_free(z);
    return edr_error_set(err, EDR_ENOMEM, "cannot set up zstd: out of memory");
  }
  ZSTD_CCtx_setPledgedSrcSize(z->cctx, size);
  if ((z->src = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
    int rc = edr_from_errno(errno);
    edr_zsrc_free(z);
    return edr_error_set(err, rc, "cannot open '%s': %s", path, edr_strerror(rc));
  }
  posix_fadvise(z->src, 0, 0, POSIX_FADV_SEQUENTIAL);
  int fd = open_tmp(err);
  if (fd < 0) {
    edr_zsrc_free(z);
    return fd;
  }
  z->tmp = fd;
  *out = z;
  return 0;
}

static int pread_full(int fd, unsigned char *buf, size_t n, uint64_t off) {
  for (size_t k = 0; k < n;) {
    ssize_t r = pread(fd, buf + k, n - k, (off_t)(off + k));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? edr_from_errno(errno) : EDR_EIO; /* shrank */
    k += (size_t)r;
  }
  return 0;
}

static int pwrite_full(int fd, const unsigned char *buf, size_t n, uint64_t off) {
  for (size_t k = 0; k < n;) {
    ssize_t w = pwrite(fd, buf + k, n - k, (off_t)(off + k));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? edr_from_errno(errno) : EDR_ENOSPC;
    k += (size_t)w;
  }
  return 0;
}

/* Compress the next chunk of the file and append it to the stream. */
static int compress_chunk(struct edr_zsrc *z) {
  size_t n = z->size - z->raw < ZF_CHUNK_IN ? (size_t)(z->size - z->raw) : ZF_CHUNK_IN;
  int rc = pread_full(z->src, z->in, n, z->raw);
  if (rc)
    return rc;
  bool last = z->raw + n == z->size;
  ZSTD_inBuffer in = {z->in, n, 0};
  ZSTD_outBuffer ob = {z->out, z->out_cap - ZF_HDR, ZF_HDR};
  size_t left;
  do {
    left = ZSTD_compressStream2(z->cctx, &ob, &in, last ? ZSTD_e_end : ZSTD_e_flush);
    if (ZSTD_isError(left))
      return EDR_EINTERNAL;
  } while (left && ob.pos < ob.size);
  if (left)
    return EDR_EINTERNAL; /* the bound was wrong */
  /* a zero length is the end marker: an empty chunk is left out */
  size_t len = ob.pos - ZF_HDR, total = len ? ob.pos : 0;
  if (len)
    zf_put_len(z->out, (uint32_t)len);
  if (last) {
    memset(z->out + total, 0, ZF_HDR);
    total += ZF_HDR;
  }
  if ((rc = pwrite_full(z->tmp, z->out, total, z->wire)))
    return rc;
  struct zchunk_end *e = edr_array_grow(z->ends, z->n_ends, &z->cap_ends, sizeof *e, 64);
  if (!e)
    return EDR_ENOMEM;
  z->ends = e;
  z->raw += n;
  z->wire += total;
  z->ends[z->n_ends++] = (struct zchunk_end){.wire = z->wire, .raw = z->raw};
  z->done = last;
  return 0;
}

long edr_zsrc_read(struct edr_zsrc *z, uint64_t off, void *buf, size_t len) {
  while (off >= z->wire && !z->done) {
    int rc = compress_chunk(z);
    if (rc)
      return rc;
  }
  if (off >= z->wire)
    return 0;
  size_t n = z->wire - off < len ? (size_t)(z->wire - off) : len;
  int rc = pread_full(z->tmp, buf, n, off);
  return rc ? rc : (long)n;
}

uint64_t edr_zsrc_raw_at(const struct edr_zsrc *z, uint64_t off) {
  /* the last chunk ending at or before OFF (chunks are few: 1 MiB each) */
  size_t lo = 0, hi = z->n_ends;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (z->ends[mid].wire <= off)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo ? z->ends[lo - 1].raw : 0;
}

void edr_zsrc_totals(const struct edr_zsrc *z, uint64_t *raw, uint64_t *wire, bool *done) {
  *raw = z->raw;
  *wire = z->wire;
  *done = z->done;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int edr_zsrc_probe(const char *path, struct edr_zprobe *out) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return edr_from_errno(errno);
  ZSTD_CCtx *c = new_cctx();
  size_t cap = ZSTD_CStreamOutSize();
  unsigned char *in = malloc(ZF_CHUNK_IN), *ob = malloc(cap);
  int rc = c && in && ob ? 0 : EDR_ENOMEM;
  uint64_t raw = 0, wire = 0;
  double t0 = now_s();
  while (!rc) {
    size_t want = EDR_ZPROBE_BYTES - raw < ZF_CHUNK_IN ? (size_t)(EDR_ZPROBE_BYTES - raw)
                                                       : ZF_CHUNK_IN;
    ssize_t n = want ? read(fd, in, want) : 0;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = edr_from_errno(errno);
      break;
    }
    bool last = n == 0;
    ZSTD_inBuffer ib = {in, (size_t)n, 0};
    size_t left;
    do {
      ZSTD_outBuffer o = {ob, cap, 0};
      left = ZSTD_compressStream2(c, &o, &ib, last ? ZSTD_e_end : ZSTD_e_flush);
      if (ZSTD_isError(left)) {
        rc = EDR_EINTERNAL;
        break;
      }
      wire += o.pos;
    } while (left || ib.pos < ib.size);
    raw += (uint64_t)n;
    wire += ZF_HDR;
    if (last)
      break;
  }
  double dt = now_s() - t0;
  close(fd);
  ZSTD_freeCCtx(c);
  free(in);
  free(ob);
  if (rc)
    return rc;
  out->sampled = raw;
  out->ratio = raw ? (double)wire / (double)raw : 1.0;
  out->bytes_per_s = dt > 1e-6 ? (double)raw / dt : 1e12;
  return 0;
}

bool edr_zsrc_pays(uint64_t size, const struct edr_zprobe *p, double link_bps, char *why,
                   size_t whylen) {
  char sampled[32];
  edr_human_bytes(p->sampled, sampled, sizeof sampled);
  int k = snprintf(why, whylen, "zstd -%d made the first %s %.0f%% of their size at %.0f MB/s",
                   EDR_ZSTD_LEVEL, sampled, p->ratio * 100.0, p->bytes_per_s / 1e6);
  size_t used = k > 0 && (size_t)k < whylen ? (size_t)k : 0;
  if (p->ratio > 0.85 || p->sampled == 0) {
    snprintf(why + used, whylen - used, ": too little to gain");
    return false;
  }
  if (link_bps <= 0) {
    snprintf(why + used, whylen - used, "; the link's speed is unknown: sending plain");
    return false;
  }
  double s = (double)size;
  double plain = s / link_bps;
  double packed = s / p->bytes_per_s + s * p->ratio / link_bps;
  bool pays = packed <= 0.8 * plain;
  snprintf(why + used, whylen - used, "; each host's share of the link is about %.1f MB/s: "
           "%.1f s compressed against %.1f s plain", link_bps / 1e6, packed,
           plain);
  return pays;
}
