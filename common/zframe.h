/*
 * zframe.h - the compressed form of a pushed file ("encoding": "zstd" in a
 * `receive`, docs/agent-protocol.md), shared by the coordinator that writes
 * it (orchestrator/transport/zsrc.c) and the agent that reads it
 * (agent/transfer.c).
 *
 * The payload is a sequence of chunks, each a 4-byte big-endian length L
 * and L bytes, ended by a chunk of length 0.  The bytes of all chunks
 * together are one zstd stream (one or more frames) that decompresses to
 * exactly the request's "size" bytes; chunk boundaries carry no meaning for
 * zstd.  The framing is what keeps the agent in step with the stream when
 * the zstd data is corrupt: it reads chunk by chunk to the end marker
 * whatever the decompressor said.  A length above ZF_CHUNK_MAX cannot be
 * skipped safely and ends the stream.  Nothing here is owned.
 */
#ifndef EDR_ZFRAME_H
#define EDR_ZFRAME_H

#include <stdint.h>

enum {
  ZF_HDR = 4,                       /* the length before each chunk */
  ZF_CHUNK_IN = 1024 * 1024,        /* the coordinator compresses this much per chunk */
  ZF_CHUNK_MAX = 4 * 1024 * 1024,   /* no chunk is longer */
  ZF_WINDOW_LOG_MAX = 24,           /* the agent decodes windows up to 16 MiB */
};

static inline void zf_put_len(unsigned char *p, uint32_t n) {
  p[0] = (unsigned char)(n >> 24);
  p[1] = (unsigned char)(n >> 16);
  p[2] = (unsigned char)(n >> 8);
  p[3] = (unsigned char)n;
}

static inline uint32_t zf_get_len(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
