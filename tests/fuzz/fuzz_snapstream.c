/*
 * fuzz_snapstream.c - libFuzzer target for what the agent's etcd-snapshot
 * op reads from a member's client URL (agent/etcdsnap.c): the body, chunk
 * coded, through the chunked decoder (common/httpchunk.c) into the
 * snapshot stream decoder (common/snapstream.c), in pieces whose size the
 * first byte picks; and the same bytes straight into the stream decoder,
 * as the coordinator's direct save feeds it.  A member (or what claims to
 * be one) is untrusted: nothing may crash, leak, read out of bounds or
 * hand the sink more than the first message announced.
 */
#include "err.h"
#include "httpchunk.h"
#include "snapstream.h"

#include <stdint.h>
#include <stdlib.h>

struct count {
  uint64_t bytes;
};

static int sink(void *arg, const unsigned char *p, size_t n, struct edr_error *err) {
  struct count *c = arg;
  c->bytes += n;
  return 0;
}

static int to_stream(void *arg, const char *data, size_t len) {
  return edr_snapstream_feed(arg, data, len);
}

static void run(const char *t, size_t n, size_t piece, int chunked) {
  struct count c = {0};
  struct edr_snapstream ss;
  struct edr_dechunk d;
  if (edr_snapstream_init(&ss, sink, &c))
    return;
  edr_dechunk_init(&d, to_stream, &ss);
  int rc = 0;
  for (size_t off = 0; off < n && !rc; off += piece) {
    size_t k = piece < n - off ? piece : n - off;
    rc = chunked ? edr_dechunk_feed(&d, t + off, k) : edr_snapstream_feed(&ss, t + off, k);
  }
  if (!rc && (!chunked || edr_dechunk_done(&d)))
    rc = edr_snapstream_end(&ss);
  if (ss.expected && c.bytes > ss.expected)
    abort();  /* more than announced reached the sink */
  (void)edr_error_text(&ss.err);
  edr_snapstream_release(&ss);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t piece = (size_t)data[0] % 64 + 1;
  const char *t = (const char *)data + 1;
  run(t, size - 1, piece, 1);
  run(t, size - 1, size, 1);
  run(t, size - 1, piece, 0);
  return 0;
}
