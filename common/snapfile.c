/*
 * snapfile.c - one streaming pass that checks a snapshot's SHA-256 trailer
 * and hashes the whole file, with a fixed 1 MiB buffer whatever the size;
 * every byte is hashed once.
 */
#include "snapfile.h"

#include "err.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void edr_hex(const unsigned char *in, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}

int edr_snapfile_check(const char *path, struct edr_snapfile *out) {
  enum { BUF = 1 << 20 };
  unsigned char *buf = NULL, trailer[32], md[32];
  struct edr_sha256 image, whole;
  struct stat st;
  int fd, rc = 0;

  memset(out, 0, sizeof(*out));
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return edr_from_errno(errno);
  if (fstat(fd, &st) != 0) {
    rc = edr_from_errno(errno);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = EDR_EINVAL;
    goto out;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  out->size = (uint64_t)st.st_size;
  out->has_trailer = out->size >= EDR_SNAP_TRAILER &&
                     out->size % EDR_SNAP_ALIGN == EDR_SNAP_TRAILER;
  uint64_t image_len = out->has_trailer ? out->size - EDR_SNAP_TRAILER : out->size;

  buf = malloc(BUF);
  if (!buf) {
    rc = EDR_ENOMEM;
    goto out;
  }
  edr_sha256_init(&image);

  uint64_t off = 0;
  for (;;) {
    ssize_t n = read(fd, buf, BUF);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      rc = edr_from_errno(errno);
      goto out;
    }
    if (n == 0)
      break;
    /* Split this chunk into image bytes and trailer bytes. */
    uint64_t end = off + (uint64_t)n;
    if (off < image_len) {
      uint64_t take = (end < image_len ? end : image_len) - off;
      edr_sha256_update(&image, buf, take);
    }
    for (uint64_t p = off > image_len ? off : image_len; p < end; p++)
      if (p - image_len < 32)
        trailer[p - image_len] = buf[p - off];
    off = end;
  }
  if (off != out->size) { /* the file changed under us */
    rc = EDR_EIO;
    goto out;
  }
  /* The whole file is the image plus the trailer: continue a copy of the
   * image's state with those 32 bytes instead of hashing everything again. */
  whole = image;
  if (out->has_trailer)
    edr_sha256_update(&whole, trailer, 32);
  edr_sha256_final(&whole, md);
  edr_hex(md, 32, out->file_sha256);
  edr_sha256_final(&image, md);
  edr_hex(md, 32, out->image_sha256);
  if (out->has_trailer) {
    edr_hex(trailer, 32, out->trailer_sha256);
    out->trailer_ok = memcmp(trailer, md, 32) == 0;
  }
out:
  free(buf);
  close(fd);
  return rc;
}
