/*
 * httpchunk.h - HTTP/1.1's chunked transfer coding undone as the body
 * arrives, in pieces cut anywhere, with memory that does not grow: the
 * agent's etcd-snapshot op (agent/etcdsnap.c) reads etcd's snapshot stream
 * this way, straight from the socket into the stream decoder
 * (snapstream.h).  The body's bytes go to a callback as they come; a size
 * line is held in a small fixed buffer, never the data.
 *
 * The caller owns struct edr_dechunk (no allocation: init only); the
 * callback's data is borrowed for the call.
 */
#ifndef EDR_HTTPCHUNK_H
#define EDR_HTTPCHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the decoded body goes: 0 to go on, or a negative EDR_E* code that
 * stops the decoder (edr_dechunk_feed returns it). */
typedef int (*edr_dechunk_out)(void *arg, const char *data, size_t len);

/* The longest size line (hex digits and extensions) accepted. */
#define EDR_DECHUNK_MAX_LINE 256

struct edr_dechunk {
  edr_dechunk_out out;
  void *arg;                /* borrowed */
  int state;                /* the decoder's */
  uint64_t left;            /* data bytes still to come in this chunk */
  char line[EDR_DECHUNK_MAX_LINE + 1];
  size_t llen;
  int status;               /* the first failure, sticky; 0 while all is well */
};

void edr_dechunk_init(struct edr_dechunk *d, edr_dechunk_out out, void *arg);
/* Feed LEN bytes of the coded body.  Returns 0, EDR_EHTTP (not chunked
 * coding: a size that is not hex, a line over EDR_DECHUNK_MAX_LINE, no
 * CRLF after a chunk's data, a chunk over 2^40 bytes) or the callback's
 * code; sticky.  Bytes after the last chunk and its trailer are ignored. */
int edr_dechunk_feed(struct edr_dechunk *d, const char *data, size_t len);
/* The last (zero) chunk and the trailer's empty line have come: the body
 * is whole.  False for a body cut short. */
bool edr_dechunk_done(const struct edr_dechunk *d);

#endif
