/*
 * test_bbolt.c - the bbolt reader on tiny images built by hand, one sound
 * and many broken: every break must come back as EDR_ECORRUPT with a
 * message naming the page, never a crash.  `test_bbolt --write-image FILE`
 * writes the sound image for tests/snapshot/corrupt.sh to mangle.
 */
#include "bbolt.h"
#include "crc32c.h"
#include "err.h"
#include "snapfile.h"
#include "t.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

enum { PS = 4096, NPAGES = 10 };

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void putbe64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t fnv(const uint8_t *p, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* Bitwise CRC-32C: the reference the fast one must agree with. */
static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++)
      crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

static void hdr(uint8_t *p, uint64_t id, uint16_t flags, uint16_t count,
                uint32_t overflow) {
  put64(p, id);
  put16(p + 8, flags);
  put16(p + 10, count);
  put32(p + 12, overflow);
}

static void meta(uint8_t *img, uint64_t id, uint64_t root, uint64_t freelist,
                 uint64_t pgid, uint64_t txid) {
  uint8_t *p = img + id * PS, *m = p + 16;
  hdr(p, id, 0x04, 0, 0);
  put32(m, 0xED0CDAED);
  put32(m + 4, 2);
  put32(m + 8, PS);
  put64(m + 16, root);
  put64(m + 32, freelist);
  put64(m + 40, pgid);
  put64(m + 48, txid);
  put64(m + 56, fnv(m, 56));
}

struct ent {
  const uint8_t *k;
  size_t kl;
  const uint8_t *v;
  size_t vl;
  uint32_t flags; /* leaf: 1 = bucket; branch: child page id */
};

/* A leaf (or, with branch, a branch) page at P holding N entries; returns
 * the bytes used. */
static size_t page(uint8_t *p, uint64_t id, bool branch, const struct ent *e,
                   int n, uint32_t overflow) {
  hdr(p, id, branch ? 0x01 : 0x02, (uint16_t)n, overflow);
  size_t data = 16 + 16 * (size_t)n;
  for (int i = 0; i < n; i++) {
    uint8_t *el = p + 16 + 16 * i;
    size_t pos = data - (16 + 16 * (size_t)i);
    if (branch) {
      put32(el, (uint32_t)pos);
      put32(el + 4, (uint32_t)e[i].kl);
      put64(el + 8, e[i].flags);
    } else {
      put32(el, e[i].flags);
      put32(el + 4, (uint32_t)pos);
      put32(el + 8, (uint32_t)e[i].kl);
      put32(el + 12, (uint32_t)e[i].vl);
    }
    memcpy(p + data, e[i].k, e[i].kl);
    data += e[i].kl;
    if (!branch) {
      memcpy(p + data, e[i].v, e[i].vl);
      data += e[i].vl;
    }
  }
  return data;
}

static uint8_t rev[5][18];
static uint8_t kvs[5][9100];
static size_t kvlen[5];

/* {main}_{0} and a 't' that only a tombstone's 18-byte key includes. */
static void mkrev(uint8_t *r, uint64_t main) {
  putbe64(r, main);
  r[8] = '_';
  putbe64(r + 9, 0);
  r[17] = 't';
}

/* protobuf mvccpb.KeyValue {key=1, mod_revision=3, value=5}. */
static size_t mkkv(uint8_t *o, const char *key, size_t vlen, uint8_t mod) {
  size_t n = 0, kl = strlen(key);
  o[n++] = 0x0a;
  o[n++] = (uint8_t)kl;
  memcpy(o + n, key, kl);
  n += kl;
  o[n++] = 0x18;
  o[n++] = mod;
  if (vlen) {
    o[n++] = 0x2a;
    o[n++] = (uint8_t)(0x80 | (vlen & 0x7f));
    o[n++] = (uint8_t)(vlen >> 7);
    memset(o + n, 'v', vlen);
    n += vlen;
  }
  return n;
}

static const char member_key[] = "8e9e05c52164694d";
static const char member_val[] =
    "{\"id\":10276657743932975437,\"peerURLs\":[\"http://localhost:2380\"],"
    "\"name\":\"default\"}";
static uint8_t metabuf[512], membuf[512];
static size_t metalen, memlen;
static uint8_t ci[8], cr[17];

/* The sound image: meta 0 (txid 4) and 1 (txid 3); root leaf page 2 with
 * buckets key (tree at page 4), members and meta (inline); freelist page 3
 * listing page 9; branch page 4 -> leaves 5 and 6 (6 spans 6..8). */
static uint8_t *build(void) {
  uint8_t *img = calloc(NPAGES, PS);
  meta(img, 0, 2, 3, NPAGES, 4);
  meta(img, 1, 2, 3, NPAGES, 3);
  /* key bucket */
  for (int i = 0; i < 4; i++)
    mkrev(rev[i], (uint64_t)i + 1);
  kvlen[0] = mkkv(kvs[0], "a", 1, 1);
  kvlen[1] = mkkv(kvs[1], "b", 1, 2);
  kvlen[2] = mkkv(kvs[2], "a", 9000, 3); /* overflows one page */
  kvlen[3] = mkkv(kvs[3], "b", 0, 4);    /* tombstone of b */
  struct ent l1[] = {{rev[0], 17, kvs[0], kvlen[0], 0},
                     {rev[1], 17, kvs[1], kvlen[1], 0}};
  struct ent l2[] = {{rev[2], 17, kvs[2], kvlen[2], 0},
                     {rev[3], 18, kvs[3], kvlen[3], 0}};
  page(img + 5 * PS, 5, false, l1, 2, 0);
  page(img + 6 * PS, 6, false, l2, 2, 2);
  struct ent br[] = {{rev[0], 17, NULL, 0, 5}, {rev[2], 17, NULL, 0, 6}};
  page(img + 4 * PS, 4, true, br, 2, 0);
  /* inline buckets: {root 0, seq 0} then a leaf page */
  putbe64(ci, 42);
  putbe64(cr, 2);
  cr[8] = '_';
  struct ent me[] = {{(const uint8_t *)"consistent_index", 16, ci, 8, 0},
                     {(const uint8_t *)"finishedCompactRev", 18, cr, 17, 0},
                     {(const uint8_t *)"scheduledCompactRev", 19, cr, 17, 0}};
  memset(metabuf, 0, 16);
  metalen = 16 + page(metabuf + 16, 0, false, me, 3, 0);
  struct ent mb[] = {{(const uint8_t *)member_key, 16,
                      (const uint8_t *)member_val, strlen(member_val), 0}};
  memset(membuf, 0, 16);
  memlen = 16 + page(membuf + 16, 0, false, mb, 1, 0);
  uint8_t keyb[16] = {0};
  put64(keyb, 4);
  struct ent root[] = {{(const uint8_t *)"key", 3, keyb, 16, 1},
                       {(const uint8_t *)"members", 7, membuf, memlen, 1},
                       {(const uint8_t *)"meta", 4, metabuf, metalen, 1}};
  page(img + 2 * PS, 2, false, root, 3, 0);
  /* freelist: page 9 */
  hdr(img + 3 * PS, 3, 0x10, 1, 0);
  put64(img + 3 * PS + 16, 9);
  return img;
}

static void remeta(uint8_t *img, int id) {
  uint8_t *m = img + id * PS + 16;
  put64(m + 56, fnv(m, 56));
}

/* Open an image held in memory (through a memfd, as a file would be). */
static int open_img(const uint8_t *img, size_t len, struct edr_bolt **db,
                    char *msg, size_t msglen) {
  int fd = memfd_create("bbolt", 0);
  if (fd < 0 || write(fd, img, len) != (ssize_t)len)
    return EDR_EIO;
  struct edr_error err = EDR_ERROR_INIT;
  int rc = edr_bolt_open_fd(fd, db, &err);
  if (msg)
    snprintf(msg, msglen, "%s", err.msg.buf);
  edr_error_release(&err);
  close(fd);
  return rc;
}

/* Check IMG (LEN bytes): expect the open to fail with a message containing
 * WANT, or (when it opens) edr_bolt_check and edr_etcd_status to fail and
 * check's message to contain WANT. */
static void expect_corrupt(const char *what, uint8_t *img, size_t len,
                           const char *want) {
  struct edr_bolt *db = NULL;
  char msg[512] = "";
  int rc = open_img(img, len, &db, msg, sizeof(msg));
  if (rc < 0) {
    CHECK(rc == EDR_ECORRUPT);
    CHECK_CONTAINS(msg, want);
    return;
  }
  rc = edr_bolt_check(db);
  CHECK(rc == EDR_ECORRUPT);
  CHECK_CONTAINS(edr_bolt_errmsg(db), want);
  if (rc != EDR_ECORRUPT)
    fprintf(stderr, "  (case: %s)\n", what);
  edr_bolt_close(db);
}

struct seen {
  char log[512];
  int n;
};

static int record(void *arg, const struct edr_bolt_kv *kv) {
  struct seen *s = arg;
  size_t used = strlen(s->log);
  snprintf(s->log + used, sizeof(s->log) - used, "%d:%.*s%s ", kv->depth,
           (int)(kv->klen > 8 ? 3 : kv->klen),
           kv->klen >= 17 && kv->key[8] == '_' ? "rev" : (const char *)kv->key,
           kv->is_bucket ? "/" : "");
  s->n++;
  return 0;
}

static void test_sound(void) {
  uint8_t *img = build();
  struct edr_bolt *db;
  char msg[256];
  CHECK(open_img(img, NPAGES * PS, &db, msg, sizeof(msg)) == 0);
  const struct edr_bolt_info *in = edr_bolt_info(db);
  CHECK(in->meta_used == 0 && in->page_size == PS && in->meta[1].valid);
  CHECK(!in->has_trailer && in->image_size == NPAGES * PS);
  CHECK(edr_bolt_check(db) == 0);
  CHECK_STR(edr_bolt_errmsg(db), "");

  struct seen s = {0};
  CHECK(edr_bolt_walk(db, record, &s) == 0);
  CHECK_STR(s.log, "0:key/ 1:rev 1:rev 1:rev 1:rev 0:members/ 1:8e9 "
                   "0:meta/ 1:con 1:fin 1:sch ");
  memset(&s, 0, sizeof(s));
  CHECK(edr_bolt_foreach(db, "meta", 4, record, &s) == 0 && s.n == 3);
  CHECK(edr_bolt_foreach(db, "nope", 4, record, &s) == EDR_ENOENT);
  int64_t r = 0;
  CHECK(edr_bolt_revision_db(db, &r) == 0 && r == 4);

  struct edr_etcd_status st;
  CHECK(edr_etcd_status(db, &st) == 0);
  CHECK(st.revision == 4);
  CHECK(st.total_keys == 8);
  CHECK(st.total_size == NPAGES * PS);
  CHECK(st.live_keys == 1); /* a live, b deleted */
  CHECK(st.has_consistent_index && st.consistent_index == 42);
  CHECK(st.finished_compact == 2 && st.scheduled_compact == 2);
  CHECK(json_array_size(st.members) == 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(st.members, 0), "id")),
            member_key);
  CHECK_STR(json_string_value(json_object_get(json_array_get(st.members, 0), "name")),
            "default");
  /* etcd's hash: bucket name, then each key and value, buckets in order. */
  uint32_t h = crc_ref(0, (const uint8_t *)"key", 3);
  for (int i = 0; i < 4; i++) {
    h = crc_ref(h, rev[i], i == 3 ? 18 : 17);
    h = crc_ref(h, kvs[i], kvlen[i]);
  }
  h = crc_ref(h, (const uint8_t *)"members", 7);
  h = crc_ref(h, (const uint8_t *)member_key, 16);
  h = crc_ref(h, (const uint8_t *)member_val, strlen(member_val));
  h = crc_ref(h, (const uint8_t *)"meta", 4);
  h = crc_ref(h, (const uint8_t *)"consistent_index", 16);
  h = crc_ref(h, ci, 8);
  h = crc_ref(h, (const uint8_t *)"finishedCompactRev", 18);
  h = crc_ref(h, cr, 17);
  h = crc_ref(h, (const uint8_t *)"scheduledCompactRev", 19);
  h = crc_ref(h, cr, 17);
  CHECK(st.hash == h);
  edr_etcd_status_release(&st);

  /* The same live count when the table may hold one key per pass. */
  edr_bolt_set_live_limit(4);
  CHECK(edr_etcd_status(db, &st) == 0);
  CHECK(st.live_keys == 1 && st.hash == h && st.total_keys == 8);
  edr_etcd_status_release(&st);
  edr_bolt_set_live_limit(1 << 20);
  edr_bolt_close(db);

  /* With a trailer-sized tail the image is still found. */
  uint8_t *t = calloc(1, NPAGES * PS + 32);
  memcpy(t, img, NPAGES * PS);
  CHECK(open_img(t, NPAGES * PS + 32, &db, msg, sizeof(msg)) == 0);
  CHECK(edr_bolt_info(db)->has_trailer);
  edr_bolt_close(db);
  free(t);
  free(img);
}

static void test_meta(void) {
  uint8_t *img = build();
  struct edr_bolt *db;
  char msg[512];
  img[16 + 50] ^= 1; /* txid of meta 0: checksum now wrong */
  CHECK(open_img(img, NPAGES * PS, &db, msg, sizeof(msg)) == 0);
  CHECK(edr_bolt_info(db)->meta_used == 1);
  CHECK(edr_bolt_check(db) == EDR_ECORRUPT);
  CHECK_CONTAINS(edr_bolt_errmsg(db), "meta page 0 at offset 0: checksum");
  edr_bolt_close(db);
  img[PS + 16] ^= 1; /* magic of meta 1 */
  CHECK(open_img(img, NPAGES * PS, &db, msg, sizeof(msg)) == EDR_ECORRUPT);
  CHECK_CONTAINS(msg, "no valid meta page");
  CHECK_CONTAINS(msg, "meta page 1 at offset 4096: magic");
  free(img);

  img = build(); /* meta 1 newer: chosen */
  put64(img + PS + 16 + 48, 9);
  remeta(img, 1);
  CHECK(open_img(img, NPAGES * PS, &db, msg, sizeof(msg)) == 0);
  CHECK(edr_bolt_info(db)->meta_used == 1);
  edr_bolt_close(db);
  free(img);

  img = build(); /* version 1 */
  put32(img + 16 + 4, 1);
  remeta(img, 0);
  expect_corrupt("version", img, NPAGES * PS, "meta page 0 at offset 0: version 1");
  free(img);

  img = build(); /* file shorter than meta.pgid pages */
  expect_corrupt("truncated", img, 7 * PS, "do not fit");
  expect_corrupt("tiny", img, 40, "too short");
  free(img);

  img = build(); /* root outside */
  put64(img + 16 + 16, 77);
  remeta(img, 0);
  put64(img + PS + 16 + 16, 77);
  remeta(img, 1);
  expect_corrupt("root", img, NPAGES * PS, "root page 77");
  free(img);
}

static void test_pages(void) {
  uint8_t *img = build();
  put64(img + 4 * PS + 16 + 16 + 8, 4); /* branch's 2nd child: itself */
  expect_corrupt("cycle", img, NPAGES * PS, "reached twice");
  free(img);

  img = build();
  put64(img + 4 * PS + 16 + 8, 1000); /* child out of range */
  expect_corrupt("range", img, NPAGES * PS, "page 1000 (reached from page 4): id is outside 2..9");
  free(img);

  img = build();
  put64(img + 4 * PS + 16 + 8, 1); /* child is a meta page */
  expect_corrupt("meta child", img, NPAGES * PS, "outside 2..9");
  free(img);

  img = build();
  put32(img + 6 * PS + 12, 0xFFFFFFF0u); /* huge overflow */
  expect_corrupt("overflow", img, NPAGES * PS,
                 "page 6 at offset 24576: overflow 4294967280 runs past the end");
  free(img);

  img = build();
  put32(img + 6 * PS + 12, 1); /* overflow too short: value runs off */
  expect_corrupt("short overflow", img, NPAGES * PS, "runs past the page's");
  free(img);

  img = build();
  put64(img + 5 * PS, 7); /* header id lies */
  expect_corrupt("id", img, NPAGES * PS, "its header says page 7");
  free(img);

  img = build();
  put16(img + 5 * PS + 8, 0x10); /* leaf claims to be a freelist */
  expect_corrupt("type", img, NPAGES * PS, "neither a branch's nor a leaf's");
  free(img);

  img = build();
  put16(img + 5 * PS + 10, 300); /* count beyond the page */
  expect_corrupt("count", img, NPAGES * PS, "300 elements do not fit");
  free(img);

  img = build();
  put16(img + 4 * PS + 10, 0); /* empty branch */
  expect_corrupt("empty", img, NPAGES * PS, "empty branch page");
  free(img);

  img = build();
  put32(img + 5 * PS + 16 + 4, 0xFFFFFFF0u); /* key pos far away */
  expect_corrupt("pos", img, NPAGES * PS, "leaf element 0");
  free(img);

  img = build(); /* leaf 5's keys in the wrong order */
  struct ent rv[] = {{rev[1], 17, kvs[1], kvlen[1], 0},
                     {rev[0], 17, kvs[0], kvlen[0], 0}};
  page(img + 5 * PS, 5, false, rv, 2, 0);
  expect_corrupt("order", img, NPAGES * PS, "keys out of order");
  free(img);

  img = build(); /* branch key above its child's first key */
  struct ent br[] = {{rev[0], 17, NULL, 0, 5}, {rev[3], 17, NULL, 0, 6}};
  page(img + 4 * PS, 4, true, br, 2, 0);
  expect_corrupt("lo", img, NPAGES * PS, "sorts before its branch key");
  free(img);

  img = build(); /* leaf 5 holds a key that belongs to leaf 6 */
  struct ent hi[] = {{rev[0], 17, kvs[0], kvlen[0], 0},
                     {rev[2], 17, kvs[1], kvlen[1], 0}};
  page(img + 5 * PS, 5, false, hi, 2, 0);
  expect_corrupt("hi", img, NPAGES * PS, "does not sort before the next branch key");
  free(img);

  img = build(); /* "key" is not flagged as a bucket */
  put32(img + 2 * PS + 16, 0);
  expect_corrupt("not bucket", img, NPAGES * PS, "top-level entry 0 is not a bucket");
  free(img);

  img = build(); /* inline bucket value too short */
  put32(img + 2 * PS + 16 + 16 + 12, 10);
  expect_corrupt("inline", img, NPAGES * PS, "less than a bucket header");
  free(img);

  img = build(); /* freelist lists a page in use */
  put64(img + 3 * PS + 16, 5);
  expect_corrupt("freed in use", img, NPAGES * PS, "in use and also in the freelist");
  free(img);

  img = build(); /* freelist forgets page 9 */
  put16(img + 3 * PS + 10, 0);
  expect_corrupt("leak", img, NPAGES * PS, "page 9 at offset 36864: neither reachable");
  free(img);

  img = build(); /* freelist names a page past the end */
  put64(img + 3 * PS + 16, 500);
  expect_corrupt("free range", img, NPAGES * PS, "free page id 500");
  free(img);
}

/* A chain of 70 one-element branch pages: deeper than the reader goes. */
static void test_depth(void) {
  enum { N = 75 };
  uint8_t *img = calloc(N, PS);
  uint8_t *m = img + 16;
  for (int id = 0; id < 2; id++) {
    m = img + id * PS + 16;
    hdr(img + id * PS, (uint64_t)id, 0x04, 0, 0);
    put32(m, 0xED0CDAED);
    put32(m + 4, 2);
    put32(m + 8, PS);
    put64(m + 16, 2);
    put64(m + 32, UINT64_MAX);
    put64(m + 40, N);
    put64(m + 48, (uint64_t)(2 - id));
    put64(m + 56, fnv(m, 56));
  }
  for (uint64_t id = 2; id < 72; id++) {
    struct ent e = {(const uint8_t *)"k", 1, NULL, 0, (uint32_t)(id + 1)};
    page(img + id * PS, id, true, &e, 1, 0);
  }
  page(img + 72 * PS, 72, false, NULL, 0, 0);
  struct edr_bolt *db;
  char msg[256];
  CHECK(open_img(img, N * PS, &db, msg, sizeof(msg)) == 0);
  CHECK(edr_bolt_check(db) == EDR_ECORRUPT);
  CHECK_CONTAINS(edr_bolt_errmsg(db), "deeper than 64 levels");
  struct edr_etcd_status st;
  CHECK(edr_etcd_status(db, &st) == EDR_ECORRUPT);
  edr_etcd_status_release(&st);
  edr_bolt_close(db);
  free(img);
}

static void test_crc(void) {
  CHECK(edr_crc32c(0, "123456789", 9) == 0xE3069283u);
  uint8_t buf[10007];
  for (size_t i = 0; i < sizeof(buf); i++)
    buf[i] = (uint8_t)(i * 131 + (i >> 7));
  uint32_t a = 0, b = crc_ref(0, buf, sizeof(buf));
  for (size_t off = 0; off < sizeof(buf); off += 333)
    a = edr_crc32c(a, buf + off, off + 333 < sizeof(buf) ? 333 : sizeof(buf) - off);
  CHECK(a == b);

  /* The interleaved hardware path (three blocks of 8192 or 256 bytes,
   * joined by shift tables) and the table path against the bitwise
   * reference: lengths around every block boundary, odd start addresses,
   * and a running sum carried in. */
  enum { BIG = 3 * 8192 * 2 + 777 };
  static uint8_t big[BIG + 8];
  for (size_t i = 0; i < sizeof(big); i++)
    big[i] = (uint8_t)(i * 2654435761u >> 13);
  static const size_t lens[] = {0,    1,    7,    8,     255,   256,   767,
                                768,  769,  1000,  24575, 24576, 24577, 24576 + 768,
                                49152, BIG};
  for (int sw = 0; sw < 2; sw++) {
    edr_crc32c_force_sw(sw);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
      for (size_t start = 0; start < 4; start += 3) {
        uint32_t want = crc_ref(0x1234567u, big + start, lens[i]);
        uint32_t got = edr_crc32c(0x1234567u, big + start, lens[i]);
        if (got != want)
          fprintf(stderr, "crc32c %s len %zu start %zu: %08x, want %08x\n",
                  sw ? "table" : "default", lens[i], start, got, want);
        CHECK(got == want);
      }
  }
  edr_crc32c_force_sw(false);
}

static int write_file(const char *path, const uint8_t *img, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(img, 1, len, f) != len)
    return -1;
  return fclose(f);
}

static void test_revision(void) {
  char path[] = "/tmp/test_bbolt.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  uint8_t *img = build();
  CHECK(write_file(path, img, NPAGES * PS) == 0);
  int64_t r = -1;
  CHECK(edr_bolt_revision(path, &r) == 0 && r == 4);
  CHECK(write_file(path, img, 100) == 0);
  CHECK(edr_bolt_revision(path, &r) == EDR_ECORRUPT && r == 0);
  CHECK(edr_bolt_revision("/nonexistent/db", &r) == EDR_ENOENT);
  unlink(path);
  free(img);
}

/* snapfile: the image digest, the trailer verdict and the whole-file
 * digest (continued from the image's state, not hashed again) against
 * one-shot digests of the same bytes. */
static void sha_hex(const uint8_t *p, size_t n, char out[65]) {
  unsigned char md[32];
  CHECK(EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) == 1);
  edr_hex(md, 32, out);
}

static void test_snapfile(void) {
  enum { IMG = 3 * 512 * 1024 }; /* several of snapfile's 1 MiB reads */
  uint8_t *f = malloc(IMG + 32);
  CHECK(f != NULL);
  if (!f)
    return;
  for (size_t i = 0; i < IMG; i++)
    f[i] = (uint8_t)(i * 2654435761u >> 11);
  unsigned char md[32];
  EVP_Digest(f, IMG, md, NULL, EVP_sha256(), NULL);
  memcpy(f + IMG, md, 32);
  char want_img[65], want_file[65], path[] = "/tmp/test_snapfile.XXXXXX";
  sha_hex(f, IMG, want_img);
  sha_hex(f, IMG + 32, want_file);
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);

  struct edr_snapfile sf;
  CHECK(write_file(path, f, IMG + 32) == 0);
  CHECK(edr_snapfile_check(path, &sf) == 0);
  CHECK(sf.size == IMG + 32 && sf.has_trailer && sf.trailer_ok);
  CHECK(!strcmp(sf.image_sha256, want_img));
  CHECK(!strcmp(sf.trailer_sha256, want_img));
  CHECK(!strcmp(sf.file_sha256, want_file));

  f[IMG + 31] ^= 1; /* a wrong trailer: found, and the file digest follows */
  sha_hex(f, IMG + 32, want_file);
  CHECK(write_file(path, f, IMG + 32) == 0);
  CHECK(edr_snapfile_check(path, &sf) == 0);
  CHECK(sf.has_trailer && !sf.trailer_ok);
  CHECK(!strcmp(sf.image_sha256, want_img));
  CHECK(!strcmp(sf.file_sha256, want_file));

  /* No trailer (size % 512 != 32): the image is the whole file. */
  sha_hex(f, IMG + 31, want_file);
  CHECK(write_file(path, f, IMG + 31) == 0);
  CHECK(edr_snapfile_check(path, &sf) == 0);
  CHECK(!sf.has_trailer && !sf.trailer_ok && !sf.trailer_sha256[0]);
  CHECK(!strcmp(sf.image_sha256, want_file));
  CHECK(!strcmp(sf.file_sha256, want_file));

  CHECK(edr_snapfile_check("/nonexistent/snap.db", &sf) == EDR_ENOENT);
  CHECK(edr_snapfile_check("/tmp", &sf) == EDR_EINVAL);
  unlink(path);
  free(f);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--write-image")) {
    uint8_t *img = build();
    int rc = write_file(argv[2], img, NPAGES * PS);
    free(img);
    return rc ? 1 : 0;
  }
  test_sound();
  test_meta();
  test_pages();
  test_depth();
  test_crc();
  test_revision();
  test_snapfile();
  return t_done("test_bbolt");
}
