/*
 * test_httpchunk.c - the chunked transfer decoder (common/httpchunk.h) the
 * agent reads etcd's snapshot stream with, alone and in front of the
 * stream decoder (common/snapstream.h) as the agent's etcd-snapshot op
 * uses them: a body coded in chunks of every size and fed in pieces cut
 * anywhere gives back exactly the bytes; sizes with extensions, upper
 * case hex and a trailer pass; a size that is not hex, an overlong size
 * line, data without its CRLF and a body cut short are refused or seen
 * as not done; a chunked snapshot stream with etcd's error line, a 3.6
 * style "header" field, and one cut in the middle.
 */
#include "err.h"
#include "httpchunk.h"
#include "snapstream.h"
#include "t.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
  char *p;
  size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static int to_buf(void *arg, const char *data, size_t len) {
  buf_add(arg, data, len);
  return 0;
}

/* BODY coded in chunks of SIZES (cycled), with a trailer when TRAILER. */
static void chunk_code(struct buf *out, const char *body, size_t n, const size_t *sizes,
                       size_t nsizes, int upper, int trailer) {
  size_t k = 0;
  for (size_t off = 0; off < n; k++) {
    size_t c = sizes[k % nsizes];
    if (c > n - off)
      c = n - off;
    char line[64];
    int l = snprintf(line, sizeof line, upper ? "%zX%s\r\n" : "%zx%s\r\n", c,
                     k % 3 == 1 ? ";ext=1" : "");
    buf_add(out, line, (size_t)l);
    buf_add(out, body + off, c);
    buf_add(out, "\r\n", 2);
    off += c;
  }
  buf_add(out, "0\r\n", 3);
  if (trailer)
    buf_add(out, "X-Trailer: yes\r\n", 16);
  buf_add(out, "\r\n", 2);
}

/* Decode CODED fed in pieces of PIECE bytes: the status, the body in OUT. */
static int decode(const struct buf *coded, size_t piece, struct buf *out, int *done) {
  struct edr_dechunk d;
  edr_dechunk_init(&d, to_buf, out);
  int rc = 0;
  for (size_t off = 0; off < coded->len && !rc; off += piece)
    rc = edr_dechunk_feed(&d, coded->p + off,
                          piece < coded->len - off ? piece : coded->len - off);
  *done = edr_dechunk_done(&d);
  return rc;
}

static void test_round_trip(void) {
  char body[70000];
  for (size_t i = 0; i < sizeof body; i++)
    body[i] = (char)(i * 7 + (i >> 8));  /* CR, LF and NUL bytes among them */
  const size_t sizes[][3] = {{1, 2, 3}, {4096, 17, 60000}, {70000, 1, 1}, {255, 256, 257}};
  const size_t pieces[] = {1, 2, 3, 7, 1000, 65536, 1 << 20};
  for (size_t s = 0; s < 4; s++)
    for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
      struct buf coded = {0}, out = {0};
      chunk_code(&coded, body, sizeof body, sizes[s], 3, (int)(s & 1), (int)(p & 1));
      int done = 0;
      CHECK(decode(&coded, pieces[p], &out, &done) == 0);
      CHECK(done);
      CHECK(out.len == sizeof body && !memcmp(out.p, body, sizeof body));
      free(coded.p);
      free(out.p);
    }
}

static int refused(const char *coded, int *done) {
  struct buf in = {0}, out = {0};
  buf_add(&in, coded, strlen(coded));
  int rc = decode(&in, 1, &out, done);
  free(in.p);
  free(out.p);
  return rc;
}

static void test_refused(void) {
  int done;
  CHECK(refused("zz\r\nabc\r\n0\r\n\r\n", &done) == EDR_EHTTP);
  CHECK(refused("\r\n", &done) == EDR_EHTTP);                    /* no size */
  CHECK(refused("3x\r\nabc\r\n", &done) == EDR_EHTTP);           /* junk after it */
  CHECK(refused("3\r\nabcd\r\n0\r\n\r\n", &done) == EDR_EHTTP);  /* data without CRLF */
  CHECK(refused("fffffffffffffffffff\r\n", &done) == EDR_EHTTP); /* over 2^40 */
  CHECK(refused("10000000001\r\n", &done) == EDR_EHTTP);         /* 2^40 + 1 */
  char longline[600];
  memset(longline, '0', sizeof longline - 3);
  memcpy(longline + sizeof longline - 3, "\r\n", 3);
  CHECK(refused(longline, &done) == EDR_EHTTP);
  /* cut short: no error, but not done */
  CHECK(refused("3\r\nabc\r\n", &done) == 0 && !done);
  CHECK(refused("3\r\nab", &done) == 0 && !done);
  CHECK(refused("3\r\nabc\r\n0\r\n", &done) == 0 && !done);
  /* bare LF line ends are taken too; bytes after the end are ignored */
  CHECK(refused("3\nabc\n0\n\nGARBAGE", &done) == 0 && done);
}

static int failing_out(void *arg, const char *data, size_t len) { return EDR_ENOSPC; }

static void test_callback_stops(void) {
  struct edr_dechunk d;
  edr_dechunk_init(&d, failing_out, NULL);
  CHECK(edr_dechunk_feed(&d, "3\r\nabc\r\n", 8) == EDR_ENOSPC);
  CHECK(edr_dechunk_feed(&d, "0\r\n\r\n", 5) == EDR_ENOSPC);  /* sticky */
  CHECK(!edr_dechunk_done(&d));
}

/* ---- in front of the stream decoder, as the agent reads ----------------- */

static int mem_sink(void *arg, const unsigned char *p, size_t n, struct edr_error *err) {
  buf_add(arg, p, n);
  return 0;
}

static int to_stream(void *arg, const char *data, size_t len) {
  return edr_snapstream_feed(arg, data, len);
}

/* etcd's lines for IMAGE (N bytes) with 32 KiB blobs; HEADER adds 3.6's
 * "header" object to the first message. */
static void etcd_lines(struct buf *out, const unsigned char *image, size_t n, int header) {
  unsigned char sha[32];
  SHA256(image, n, sha);
  char *b64 = malloc(32768 / 3 * 4 + 64);
  for (size_t off = 0; off <= n;) {
    size_t c = n - off < 32768 ? n - off : 32768;
    const unsigned char *p = off < n ? image + off : sha;
    if (off == n)
      c = 32;
    int bl = EVP_EncodeBlock((unsigned char *)b64, p, (int)c);
    size_t rem = off < n ? n - off - c : 0;
    char head[200];
    int hl = snprintf(head, sizeof head, "{%s\"result\":{%s", "",
                      header && off == 0 ? "\"header\":{\"cluster_id\":\"1\",\"revision\":\"5\"},"
                                         : "");
    buf_add(out, head, (size_t)hl);
    if (rem) {
      hl = snprintf(head, sizeof head, "\"remaining_bytes\":\"%zu\",", rem);
      buf_add(out, head, (size_t)hl);
    }
    buf_add(out, "\"blob\":\"", 8);
    buf_add(out, b64, (size_t)bl);
    buf_add(out, "\"}}\n", 4);
    off += off < n ? c : 1;
  }
  free(b64);
}

static int stream_through(const struct buf *coded, size_t piece, struct buf *file,
                          struct edr_snapstream *ss) {
  struct edr_dechunk d;
  edr_snapstream_init(ss, mem_sink, file);
  edr_dechunk_init(&d, to_stream, ss);
  int rc = 0;
  for (size_t off = 0; off < coded->len && !rc; off += piece)
    rc = edr_dechunk_feed(&d, coded->p + off,
                          piece < coded->len - off ? piece : coded->len - off);
  if (!rc && !edr_dechunk_done(&d))
    return 1;  /* cut short */
  return rc ? rc : edr_snapstream_end(ss);
}

static void test_snapshot_stream(void) {
  size_t n = 100000;
  unsigned char *image = malloc(n);
  for (size_t i = 0; i < n; i++)
    image[i] = (unsigned char)(i * 31 + 7);
  unsigned char sha[32];
  SHA256(image, n, sha);
  const size_t sizes[] = {8192, 3000, 1};
  for (int header = 0; header < 2; header++) {
    struct buf lines = {0}, coded = {0}, file = {0};
    etcd_lines(&lines, image, n, header);
    chunk_code(&coded, lines.p, lines.len, sizes, 3, 0, 0);
    struct edr_snapstream ss;
    CHECK(stream_through(&coded, 777, &file, &ss) == 0);
    CHECK(file.len == n + 32 && !memcmp(file.p, image, n) && !memcmp(file.p + n, sha, 32));
    edr_snapstream_release(&ss);
    /* cut in the middle of the body: not done, and the stream is short */
    struct buf cut = {.p = coded.p, .len = coded.len / 2};
    struct buf f2 = {0};
    CHECK(stream_through(&cut, 4096, &f2, &ss) == 1);
    CHECK(edr_snapstream_end(&ss) == EDR_ECONNLOST || ss.err.code);
    edr_snapstream_release(&ss);
    free(lines.p);
    free(coded.p);
    free(file.p);
    free(f2.p);
  }
  /* etcd's error line after some data */
  struct buf lines = {0}, coded = {0}, file = {0};
  etcd_lines(&lines, image, 40000, 0);
  lines.len = (size_t)(strchr(lines.p, '\n') - lines.p) + 1;  /* the first message */
  const char *e = "{\"error\":{\"grpc_code\":2,\"http_code\":500,\"message\":\"etcdserver: "
                  "mvcc: database space exceeded\",\"http_status\":\"Internal Server Error\"}}\n";
  buf_add(&lines, e, strlen(e));
  chunk_code(&coded, lines.p, lines.len, sizes, 3, 1, 0);
  struct edr_snapstream ss;
  CHECK(stream_through(&coded, 100, &file, &ss) == EDR_EREMOTE);
  CHECK_CONTAINS(edr_error_text(&ss.err), "database space exceeded");
  edr_snapstream_release(&ss);
  free(lines.p);
  free(coded.p);
  free(file.p);
  free(image);
}

int main(void) {
  test_round_trip();
  test_refused();
  test_callback_stops();
  test_snapshot_stream();
  return t_done("test_httpchunk");
}
