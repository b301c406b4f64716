/*
 * test_zsrc.c - the coordinator's side of compressed pushes
 * (transport/zsrc.h): the chunked stream two pushes read at their own pace
 * decompresses (with libzstd itself, as the agent does) to the file, byte
 * for byte; the sample and the decision: data that does not compress, or a
 * fast or unmeasured link, is sent plain.  The agent's side, corrupt
 * streams included, is tests/agent/agent_test.py receive_zstd.
 */
#include "t.h"

#include "err.h"
#include "zframe.h"
#include "zsrc.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

static char dir[] = "/tmp/edr-test-zsrc.XXXXXX";

static void write_file(const char *path, const unsigned char *buf, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0 && write(fd, buf, n) == (ssize_t)n);
  close(fd);
}

/* Text a bit like Kubernetes objects: repeated field names, varying values. */
static unsigned char *text_like(size_t n) {
  unsigned char *b = malloc(n);
  size_t k = 0;
  unsigned x = 12345;
  while (k < n) {
    char line[200];
    x = x * 1103515245u + 12345u;
    int l = snprintf(line, sizeof line, "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-%u\","
                     "\"namespace\":\"ns-%u\",\"uid\":\"%08x\"}}\n", x % 100000, x % 7, x);
    for (int i = 0; i < l && k < n; i++)
      b[k++] = (unsigned char)line[i];
  }
  return b;
}

static unsigned char *random_bytes(size_t n) {
  unsigned char *b = malloc(n);
  int fd = open("/dev/urandom", O_RDONLY);
  CHECK(fd >= 0 && read(fd, b, n) == (ssize_t)n);
  close(fd);
  return b;
}

/* The whole stream of Z, read by two readers in turns with uneven reads
 * (as two pushes are), both checked to see the same bytes; returns it. */
static unsigned char *read_stream(struct edr_zsrc *z, size_t *len) {
  size_t cap = 1 << 20, n1 = 0, n2 = 0;
  unsigned char *s1 = malloc(cap), *s2 = malloc(cap);
  bool end1 = false, end2 = false;
  for (int turn = 0; !end1 || !end2; turn++) {
    bool first = (turn % 3 != 2 && !end1) || end2;
    size_t *n = first ? &n1 : &n2;
    unsigned char **s = first ? &s1 : &s2;
    if (*n + 300000 > cap) {
      cap *= 2;
      s1 = realloc(s1, cap);
      s2 = realloc(s2, cap);
    }
    long r = edr_zsrc_read(z, *n, *s + *n, first ? 300000 : 7777);
    CHECK(r >= 0);
    if (r <= 0)
      *(first ? &end1 : &end2) = true;
    else
      *n += (size_t)r;
  }
  CHECK(n1 == n2 && memcmp(s1, s2, n1) == 0);
  free(s2);
  *len = n1;
  return s1;
}

/* Parse the framing and decompress the lot; returns the bytes (or NULL if
 * the stream is malformed) and their count. */
static unsigned char *unframe(const unsigned char *s, size_t len, size_t *out_len) {
  ZSTD_DCtx *d = ZSTD_createDCtx();
  size_t cap = 1 << 20, n = 0, pos = 0, last = 1;
  unsigned char *out = malloc(cap);
  for (;;) {
    if (pos + ZF_HDR > len)
      goto bad;
    uint32_t l = zf_get_len(s + pos);
    pos += ZF_HDR;
    if (l == 0)
      break;
    if (l > ZF_CHUNK_MAX || pos + l > len)
      goto bad;
    ZSTD_inBuffer in = {s + pos, l, 0};
    while (in.pos < in.size) {
      if (cap - n < 65536)
        out = realloc(out, cap *= 2);
      ZSTD_outBuffer o = {out + n, cap - n, 0};
      last = ZSTD_decompressStream(d, &o, &in);
      if (ZSTD_isError(last))
        goto bad;
      n += o.pos;
    }
    pos += l;
  }
  if (pos != len || last != 0)
    goto bad;
  ZSTD_freeDCtx(d);
  *out_len = n;
  return out;
bad:
  ZSTD_freeDCtx(d);
  free(out);
  return NULL;
}

static void round_trip(const char *name, const unsigned char *data, size_t size,
                       double max_ratio) {
  char path[256];
  struct edr_error err = EDR_ERROR_INIT;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  write_file(path, data, size);
  struct edr_zsrc *z = NULL;
  CHECK(edr_zsrc_open(path, size, &z, &err) == 0 && z);
  edr_error_release(&err);
  if (!z)
    return;
  size_t len = 0, got = 0;
  unsigned char *s = read_stream(z, &len);
  unsigned char *back = unframe(s, len, &got);
  CHECK(back != NULL);
  CHECK(got == size && (size == 0 || (back && memcmp(back, data, size) == 0)));
  uint64_t raw, wire;
  bool done;
  edr_zsrc_totals(z, &raw, &wire, &done);
  CHECK(done && raw == size && wire == len);
  CHECK(edr_zsrc_raw_at(z, len) == size && edr_zsrc_raw_at(z, 0) == 0);
  CHECK(size == 0 || (double)len <= max_ratio * (double)size);
  /* read past the end, and again from the start: the same stream */
  unsigned char tmp[16];
  CHECK(edr_zsrc_read(z, len, tmp, sizeof tmp) == 0);
  CHECK(len < 16 || (edr_zsrc_read(z, 0, tmp, sizeof tmp) == 16 && !memcmp(tmp, s, 16)));
  edr_zsrc_free(z);
  free(s);
  free(back);
}

int main(void) {
  if (!mkdtemp(dir))
    return 1;
  setenv("TMPDIR", dir, 1);

  /* Round trips: several chunks and a part one; empty; exactly one chunk. */
  size_t big = 3 * ZF_CHUNK_IN + 12345;
  unsigned char *text = text_like(big);
  round_trip("text", text, big, 0.5);
  round_trip("empty", text, 0, 1.0);
  round_trip("one-chunk", text, ZF_CHUNK_IN, 0.5);
  unsigned char *rnd = random_bytes(big);
  round_trip("random", rnd, big, 1.01); /* stored blocks: hardly larger */

  /* The sample and the decision. */
  char path[256], why[512];
  struct edr_zprobe p;
  snprintf(path, sizeof path, "%s/text", dir);
  CHECK(edr_zsrc_probe(path, &p) == 0);
  CHECK(p.sampled == big && p.ratio < 0.5 && p.bytes_per_s > 1e6);
  uint64_t size = 76ull << 20;
  /* a slow link (a 200 Mbit/s link shared by 3 hosts): pays */
  CHECK(edr_zsrc_pays(size, &p, 25e6 / 3, why, sizeof why));
  CHECK_CONTAINS(why, "compressed against");
  /* a link much faster than compressing: sent plain */
  struct edr_zprobe fast = p;
  fast.bytes_per_s = 300e6;
  CHECK(!edr_zsrc_pays(size, &fast, 2e9, why, sizeof why));
  /* not measured: plain */
  CHECK(!edr_zsrc_pays(size, &p, 0, why, sizeof why));
  CHECK_CONTAINS(why, "unknown");
  /* incompressible: plain, however slow the link */
  snprintf(path, sizeof path, "%s/random", dir);
  CHECK(edr_zsrc_probe(path, &p) == 0);
  CHECK(p.sampled == EDR_ZPROBE_BYTES || p.sampled == big);
  CHECK(p.ratio > 0.95);
  CHECK(!edr_zsrc_pays(size, &p, 1e6, why, sizeof why));
  CHECK_CONTAINS(why, "too little to gain");

  /* A file that shrank after it was checked: an error, not a short stream. */
  struct edr_error err = EDR_ERROR_INIT;
  snprintf(path, sizeof path, "%s/text", dir);
  struct edr_zsrc *z = NULL;
  CHECK(edr_zsrc_open(path, big, &z, &err) == 0);
  CHECK(truncate(path, ZF_CHUNK_IN + 10) == 0);
  unsigned char buf[65536];
  long r = 0;
  uint64_t off = 0;
  while ((r = edr_zsrc_read(z, off, buf, sizeof buf)) > 0)
    off += (uint64_t)r;
  CHECK(r == EDR_EIO);
  edr_zsrc_free(z);
  /* A missing file, and a TMPDIR that cannot hold the stream. */
  CHECK(edr_zsrc_open("/nonexistent/snap.db", 1, &z, &err) == EDR_ENOENT);
  CHECK_CONTAINS(edr_error_text(&err), "/nonexistent/snap.db");
  setenv("TMPDIR", "/nonexistent", 1);
  CHECK(edr_zsrc_open(path, ZF_CHUNK_IN + 10, &z, &err) < 0);
  CHECK_CONTAINS(edr_error_text(&err), "--compress off");
  edr_error_release(&err);

  free(text);
  free(rnd);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return t_done("test_zsrc");
}
