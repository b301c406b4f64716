/*
 * test_snapshot_save.c - the pure parts of `etcd-dr snapshot save`: the
 * decoder of etcd's gateway stream fed in pieces cut anywhere (one byte,
 * odd sizes, all at once) and each of its failures, the exact name pattern
 * that --keep may remove, and the pruning itself in a temporary directory
 * next to files it must leave alone.  The real thing against etcd is in
 * tests/snapshot_save/.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "snapshot_save.h"
#include "t.h"
#include "util.h"

#include <uv.h>

/* ---- a sink into memory ------------------------------------------------- */

struct mem {
  unsigned char *p;
  size_t len, cap;
  int fail_after;  /* > 0: fail on that call */
  int calls;
};

static int mem_sink(void *arg, const unsigned char *buf, size_t len, struct edr_error *err) {
  struct mem *m = arg;
  if (m->fail_after && ++m->calls >= m->fail_after)
    return edr_error_set(err, EDR_ENOSPC, "cannot write 'x.part': no space left");
  if (m->len + len > m->cap) {
    m->cap = (m->len + len) * 2;
    m->p = realloc(m->p, m->cap);
  }
  memcpy(m->p + m->len, buf, len);
  m->len += len;
  return 0;
}

/* What etcd sends: IMAGE in 32 KiB blobs, each line announcing what
 * remains, then the SHA-256 of IMAGE as the last blob.  STYLE 0 is etcd's
 * exact text (the decoder's fast path); 1 the same JSON with spaces and
 * the keys the other way round (the general path). */
static char *make_stream(const unsigned char *image, size_t n, size_t *outlen,
                         unsigned char *file /* n + 32 */, int style) {
  size_t cap = n * 2 + 4096, len = 0;
  char *s = malloc(cap);
  unsigned char sha[32];
  SHA256(image, n, sha);
  memcpy(file, image, n);
  memcpy(file + n, sha, 32);
  for (size_t off = 0; off <= n;) {
    const unsigned char *blob = off < n ? image + off : sha;
    size_t bl = off < n ? (n - off < 32768 ? n - off : 32768) : 32;
    size_t rem = off < n ? n - off - bl : 0;
    char *b64 = malloc(bl / 3 * 4 + 8);
    EVP_EncodeBlock((unsigned char *)b64, blob, (int)bl);
    if (rem && style == 1)
      len += (size_t)sprintf(s + len, "{\"result\": {\"blob\": \"%s\", "
                             "\"remaining_bytes\": \"%zu\"}}\r\n", b64, rem);
    else if (rem)
      len += (size_t)sprintf(s + len, "{\"result\":{\"remaining_bytes\":\"%zu\","
                             "\"blob\":\"%s\"}}\n", rem, b64);
    else
      len += (size_t)sprintf(s + len, "{\"result\":{\"blob\":\"%s\"}}\n", b64);
    free(b64);
    off += off < n ? bl : 1;
  }
  *outlen = len;
  return s;
}

static void test_roundtrip(void) {
  size_t n = 100 * 1024 + 4096, slen;
  unsigned char *image = malloc(n), *file = malloc(n + 32);
  for (size_t i = 0; i < n; i++)
    image[i] = (unsigned char)(i * 2654435761u >> 13);
  char *streams[2];
  size_t slens[2];
  for (int style = 0; style < 2; style++)
    streams[style] = make_stream(image, n, &slens[style], file, style);
  char *stream = streams[0];
  slen = slens[0];
  static const size_t pieces[] = {1, 7, 4096, 65536, (size_t)-1};
  for (size_t k = 0; k < 2 * sizeof pieces / sizeof *pieces; k++) {
    const char *stream_k = streams[k % 2];
    size_t slen_k = slens[k % 2], piece = pieces[k / 2];
    struct mem m = {0};
    struct edr_snapstream st;
    CHECK(edr_snapstream_init(&st, mem_sink, &m) == 0);
    int rc = 0;
    for (size_t off = 0; off < slen_k && rc == 0;) {
      size_t p = slen_k - off < piece ? slen_k - off : piece;
      rc = edr_snapstream_feed(&st, stream_k + off, p);
      off += p;
    }
    CHECK(rc == 0);
    CHECK(edr_snapstream_end(&st) == 0);
    CHECK(st.expected == n + 32);
    CHECK(st.bytes == n + 32);
    CHECK(m.len == n + 32 && memcmp(m.p, file, n + 32) == 0);
    CHECK(st.messages == n / 32768 + 2);
    edr_snapstream_release(&st);
    free(m.p);
  }

  /* Cut short at a line boundary: the announced size is not reached. */
  struct mem m = {0};
  struct edr_snapstream st;
  edr_snapstream_init(&st, mem_sink, &m);
  const char *second = strchr(stream, '\n') + 1;
  CHECK(edr_snapstream_feed(&st, stream, (size_t)(second - stream)) == 0);
  CHECK(edr_snapstream_end(&st) == EDR_ECONNLOST);
  CHECK_CONTAINS(edr_error_text(&st.err), "ended after 32768 of");
  edr_snapstream_release(&st);
  free(m.p);

  /* The sink fails (a full disk): the stream stops with its message. */
  struct mem m2 = {.fail_after = 2};
  edr_snapstream_init(&st, mem_sink, &m2);
  CHECK(edr_snapstream_feed(&st, stream, slen) == EDR_ENOSPC);
  CHECK_CONTAINS(edr_error_text(&st.err), "no space left");
  CHECK(edr_snapstream_feed(&st, "{}\n", 3) == EDR_ENOSPC);  /* sticky */
  edr_snapstream_release(&st);
  free(m2.p);

  /* No trailing newline on the last line: still decoded at the end. */
  struct mem m3 = {0};
  edr_snapstream_init(&st, mem_sink, &m3);
  CHECK(edr_snapstream_feed(&st, stream, slen - 1) == 0);
  CHECK(edr_snapstream_end(&st) == 0);
  CHECK(m3.len == n + 32);
  edr_snapstream_release(&st);
  free(m3.p);

  free(streams[0]);
  free(streams[1]);
  free(image);
  free(file);
}

/* Feed TEXT in one piece then end; returns the status. */
static int feed_text(const char *text, char *msg, size_t msglen) {
  struct mem m = {0};
  struct edr_snapstream st;
  edr_snapstream_init(&st, mem_sink, &m);
  int rc = edr_snapstream_feed(&st, text, strlen(text));
  if (rc == 0)
    rc = edr_snapstream_end(&st);
  snprintf(msg, msglen, "%s", edr_error_text(&st.err));
  edr_snapstream_release(&st);
  free(m.p);
  return rc;
}

static void test_failures(void) {
  char msg[512];
  CHECK(feed_text("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
                  "\"etcdserver: request timed out\"}}\n", msg, sizeof msg) ==
        EDR_EREMOTE);
  CHECK_CONTAINS(msg, "etcdserver: request timed out");
  CHECK(feed_text("{\"result\":{\"blob\":\"AAAA\"}}\n{\"error\":{\"message\":"
                  "\"boom\"}}\n", msg, sizeof msg) == EDR_EREMOTE);
  CHECK(feed_text("<html>404 page not found</html>\n", msg, sizeof msg) ==
        EDR_EHTTP);
  CHECK_CONTAINS(msg, "not etcd's snapshot stream");
  CHECK(feed_text("{\"kvs\":[]}\n", msg, sizeof msg) == EDR_EHTTP);
  CHECK(feed_text("{\"result\":{\"blob\":\"A*==\"}}\n", msg, sizeof msg) ==
        EDR_EHTTP);
  CHECK_CONTAINS(msg, "base64");
  CHECK(feed_text("{\"result\":{\"blob\":\"QUJD\"}}\n", msg, sizeof msg) ==
        EDR_ECORRUPT);  /* 3 bytes: no snapshot */
  CHECK(feed_text("", msg, sizeof msg) == EDR_EHTTP);
  CHECK_CONTAINS(msg, "no snapshot data");
  CHECK(feed_text("\n\r\n", msg, sizeof msg) == EDR_EHTTP);

  /* A line that never ends is refused at the limit, not buffered on. */
  size_t big = EDR_SNAPSTREAM_MAX_LINE + 10;
  char *p = malloc(big + 1);
  memset(p, 'A', big);
  p[big] = '\0';
  CHECK(feed_text(p, msg, sizeof msg) == EDR_ETOOBIG);
  free(p);
}

static void test_names(void) {
  CHECK(edr_snapshot_name_ok("snapshot-20261121-181100Z.db"));
  CHECK(!edr_snapshot_name_ok("snapshot-20261121-181100Z.db.part"));
  CHECK(!edr_snapshot_name_ok("snapshot-20261121-181100.db"));
  CHECK(!edr_snapshot_name_ok("snapshot-2026112a-181100Z.db"));
  CHECK(!edr_snapshot_name_ok("xsnapshot-20261121-181100Z.db"));
  CHECK(!edr_snapshot_name_ok("snapshot-20261121-181100Z.dbx"));
  CHECK(!edr_snapshot_name_ok("snapshot-20261121-181100z.db"));
  CHECK(!edr_snapshot_name_ok(""));
}

static void touch(const char *dir, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (f) {
    fputs("x", f);
    fclose(f);
  }
}

static int exists(const char *dir, const char *name) {
  char p[512];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return lstat(p, &st) == 0;
}

static void test_prune(void) {
  char dir[] = "/tmp/edr-save-unit.XXXXXX", p[512];
  struct edr_error err = EDR_ERROR_INIT;
  if (!mkdtemp(dir)) {
    CHECK(!"mkdtemp");
    return;
  }
  const char *snaps[] = {"snapshot-20260101-000000Z.db",
                         "snapshot-20260102-000000Z.db",
                         "snapshot-20260103-000000Z.db",
                         "snapshot-20260104-000000Z.db"};
  for (int i = 0; i < 4; i++)
    touch(dir, snaps[i]);
  touch(dir, "notes.txt");
  touch(dir, "snapshot-20250101-000000Z.db.part");
  touch(dir, "snapshot-2025.db");
  snprintf(p, sizeof p, "%s/snapshot-20000101-000000Z.db", dir);
  CHECK(symlink("/etc/hostname", p) == 0);  /* matches, but not a file */
  snprintf(p, sizeof p, "%s/snapshot-20000102-000000Z.db", dir);
  CHECK(mkdir(p, 0700) == 0);

  snprintf(p, sizeof p, "%s/%s", dir, snaps[3]);
  fflush(stdout);
  CHECK(edr_snapshot_prune(dir, 2, p, &err) == 0);
  CHECK(!exists(dir, snaps[0]) && !exists(dir, snaps[1]));
  CHECK(exists(dir, snaps[2]) && exists(dir, snaps[3]));
  CHECK(exists(dir, "notes.txt"));
  CHECK(exists(dir, "snapshot-20250101-000000Z.db.part"));
  CHECK(exists(dir, "snapshot-2025.db"));
  CHECK(exists(dir, "snapshot-20000101-000000Z.db"));
  CHECK(exists(dir, "snapshot-20000102-000000Z.db"));

  /* The clock went back: the file just saved sorts first, and stays. */
  touch(dir, "snapshot-19990101-000000Z.db");
  snprintf(p, sizeof p, "%s/snapshot-19990101-000000Z.db", dir);
  CHECK(edr_snapshot_prune(dir, 1, p, &err) == 0);
  CHECK(exists(dir, "snapshot-19990101-000000Z.db"));
  CHECK(!exists(dir, snaps[2]) && !exists(dir, snaps[3]));

  CHECK(edr_snapshot_prune("/nonexistent-edr", 1, "x", &err) == EDR_ENOENT);
  CHECK_CONTAINS(edr_error_text(&err), "/nonexistent-edr");
  edr_error_release(&err);

  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

/* The snapshot-save gate's way: on the caller's loop, cancelled while the
 * member (a port that never answers) has not answered /health: the
 * callback runs once, from the loop, with EDR_ECANCELED long before the
 * 5 s timeout, and no FILE.part is left. */
struct save_case {
  struct edr_snapshot_save_call *call;
  unsigned calls;
  int status;
};

static void save_done(void *arg, int status) {
  struct save_case *c = arg;
  c->calls++;
  c->status = status;
}

static void cancel_save(void *c) { edr_snapshot_save_cancel(c); }

static void test_async_cancel(void) {
  char dir[] = "/tmp/edr-save-unit.XXXXXX", out[512], url[64];
  int port, srv = t_silent_listener(&port);
  uv_loop_t loop;
  if (!mkdtemp(dir) || srv < 0 || uv_loop_init(&loop)) {
    CHECK(!"setup");
    return;
  }
  snprintf(out, sizeof out, "%s/s.db", dir);
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  struct edr_save_opts so = {.out = out, .endpoint = url};
  struct edr_save_result res;
  struct save_case c = {0};
  CHECK(edr_snapshot_save_start(&loop, NULL, &so, &res, save_done, &c, &c.call) == 0);
  CHECK(c.calls == 0);
  CHECK(exists(dir, "s.db.part"));
  struct t_later t;
  uint64_t t0 = edr_now_ms();
  t_later(&loop, &t, 100, cancel_save, c.call);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(c.calls == 1);
  CHECK(c.status == EDR_ECANCELED);
  CHECK_STR(edr_error_text(&res.err), "snapshot save interrupted before it began");
  edr_save_result_release(&res);
  CHECK(edr_now_ms() - t0 < 2000);
  CHECK(!exists(dir, "s.db.part") && !exists(dir, "s.db"));
  CHECK(uv_loop_close(&loop) == 0);
  close(srv);
  rmdir(dir);
}

int main(void) {
  test_async_cancel();
  test_roundtrip();
  test_failures();
  test_names();
  test_prune();
  return t_done("test_snapshot_save");
}
