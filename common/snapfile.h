/*
 * snapfile.h - the snapshot file as a whole: its SHA-256 integrity trailer.
 *
 * `etcdctl snapshot save` appends 32 bytes of SHA-256 over the bbolt image
 * that precedes them; a file "has a hash" when size % 512 == 32.  One pass
 * over the file yields both that check and the SHA-256 of the whole file,
 * which is what the agent verifies after the push (so no byte is hashed
 * twice on the coordinator).
 */
#ifndef EDR_SNAPFILE_H
#define EDR_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The trailer: a SHA-256 digest after the image, whose size is a multiple
 * of EDR_SNAP_ALIGN (bbolt pages), so a file with one has size % 512 == 32. */
enum { EDR_SNAP_TRAILER = 32, EDR_SNAP_ALIGN = 512 };

struct edr_snapfile {
  uint64_t size;            /* bytes in the file, trailer included */
  bool has_trailer;         /* size % 512 == 32 */
  bool trailer_ok;          /* trailer present and equal to the image's digest */
  char file_sha256[65];     /* hex SHA-256 of every byte of the file */
  char image_sha256[65];    /* hex SHA-256 of the bytes before the trailer */
  char trailer_sha256[65];  /* hex of the trailer as stored ("" if none) */
};

/* Read PATH once and fill *out, hashing each byte once (the whole-file
 * digest continues a copy of the image's state with the trailer).  For a
 * file without a trailer the image is the whole file.  Returns 0 (whatever
 * the trailer says) or a negative EDR_E* code when the file cannot be read. */
int edr_snapfile_check(const char *path, struct edr_snapfile *out);

/* Hex-encode LEN bytes of IN into OUT (2*LEN+1 bytes). */
void edr_hex(const unsigned char *in, size_t len, char *out);

#endif
