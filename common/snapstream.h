/*
 * snapstream.h - etcd's snapshot stream as its JSON gateway sends it, decoded
 * as it arrives: POST /v3/maintenance/snapshot answers one JSON message a
 * line, {"result":{"remaining_bytes":"N","blob":"<base64>"}}, and the last
 * blob is the SHA-256 of the others (docs/snapshot.md).  The decoder hands
 * the decoded bytes to a sink and keeps memory flat whatever the size.
 * Two readers share it: the coordinator's direct save (etcd/snapshot_save.c)
 * and the agent's etcd-snapshot op (agent/etcdsnap.c, --via ssh).
 *
 * The caller owns struct edr_snapstream (init, then release); the decoder
 * owns every field in it.
 */
#ifndef EDR_SNAPSTREAM_H
#define EDR_SNAPSTREAM_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

/* Where decoded bytes go.  Returns 0, or a negative EDR_E* code set in
 * ERR with why, naming the file; the stream then stops. */
typedef int (*edr_snapstream_sink)(void *arg, const unsigned char *buf,
                                   size_t len, struct edr_error *err);

/* The longest line (one message) accepted: etcd sends 32 KiB blobs, about
 * 44 KB of JSON; this leaves room and still bounds memory. */
#define EDR_SNAPSTREAM_MAX_LINE (2u << 20)

/* A decoder fed with the body as it arrives, in pieces cut anywhere.  All
 * fields are the decoder's; read bytes, expected and err. */
struct edr_snapstream {
  edr_snapstream_sink sink;
  void *sink_arg;          /* borrowed */
  char *line;              /* an incomplete line, owned */
  size_t len, cap;
  void *b64;               /* OpenSSL's EVP_ENCODE_CTX, owned */
  uint64_t bytes;          /* decoded bytes handed to the sink */
  uint64_t messages;       /* lines that were messages */
  uint64_t expected;       /* file size the first message announces
                              (its blob + remaining_bytes + 32); 0 unknown */
  struct edr_error err;    /* the first failure, sticky; code 0 while all is well */
};

/* Returns 0 or EDR_ENOMEM.  SINK and ARG are borrowed until release. */
int edr_snapstream_init(struct edr_snapstream *s, edr_snapstream_sink sink,
                        void *arg);
/* Feed LEN bytes of the body.  Returns 0 or the (sticky) negative status:
 * a line that is not JSON, an "error" message from etcd (its text in err),
 * bad base64, a line over EDR_SNAPSTREAM_MAX_LINE, or the sink's failure. */
int edr_snapstream_feed(struct edr_snapstream *s, const char *data,
                        size_t len);
/* The body ended cleanly: decode a last unterminated line, then check that
 * something arrived and that its size is the one announced.  Returns 0 or
 * a negative status (err says why). */
int edr_snapstream_end(struct edr_snapstream *s);
void edr_snapstream_release(struct edr_snapstream *s);

#endif
