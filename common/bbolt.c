/*
 * bbolt.c - a read-only bbolt reader that trusts nothing in the file.
 *
 * Layout (little-endian, as bbolt writes it): pages of meta.pageSize
 * bytes, each with a 16-byte header {id u64, flags u16, count u16, overflow
 * u32}; pages 0 and 1 are meta pages; a B+tree of branch and leaf pages per
 * bucket; a bucket is a leaf entry flagged 1 whose value starts {root u64,
 * sequence u64}, root 0 meaning the bucket's only leaf page follows inline.
 *
 * Why pread and not mmap: a mapping of the whole file lets resident memory
 * grow with the file as pages are touched; one buffer per tree level keeps
 * it at a few pages whatever the size.  Why a bitmap: a hostile file can
 * point two branches at one page, or a page at its ancestor; refusing any
 * page reached twice ends cycles and bounds the work at one read per page.
 *
 * The CRC-32C is crc32c.c's; what etcd keeps in the file (revision,
 * members, live keys) is bbolt_etcd.c's.
 */
#include "bbolt.h"

#include "bytes.h"
#include "err.h"
#include "snapfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
  PAGE_HDR = 16,
  ELEM_SIZE = 16,
  FLAG_BRANCH = 0x01,
  FLAG_LEAF = 0x02,
  FLAG_META = 0x04,
  FLAG_FREELIST = 0x10,
  ELEM_BUCKET = 0x01,
  BUCKET_HDR = 16, /* {root u64, sequence u64} before an inline page */
  META_SIZE = 64,
  META_MAGIC = 0xED0CDAED,
  META_VERSION = 2,
  MIN_PAGE = 512,
  MAX_PAGE = 1 << 16,
};

struct level {
  uint8_t *buf;
  size_t cap;
};

struct edr_bolt {
  int fd;
  struct edr_bolt_info info;
  uint32_t ps;
  uint64_t npages; /* chosen meta's pgid */
  uint64_t root;
  uint8_t *seen;  /* pages reached in this walk */
  uint8_t *freed; /* pages listed in the freelist (check only) */
  struct level lv[EDR_BOLT_MAX_DEPTH];
  size_t buffered; /* sum of the level buffers' sizes */
  struct edr_str err; /* the problems found, one a line */
};

/* A key bound: keys below a branch element lie in [lo, hi). */
struct bound {
  const uint8_t *k;
  size_t len;
  bool set;
};

/* How a walk treats buckets. */
struct walk {
  edr_bolt_visit_fn fn;
  void *arg;
  const uint8_t *only; /* enter only this top-level bucket (foreach) */
  size_t only_len;
  bool found;
  bool enter_all;   /* enter nested buckets too (check) */
  bool last_only;   /* follow only the last element (revision) */
  bool check_freed; /* pages must not be in the freelist */
};


/* Record a problem (appended: check may find a meta problem and then a
 * structural one).  Always returns EDR_ECORRUPT. */
__attribute__((format(printf, 2, 3))) static int fail(struct edr_bolt *db,
                                                      const char *fmt, ...) {
  if (db->err.len)
    edr_str_append(&db->err, "\n");
  va_list ap;
  va_start(ap, fmt);
  edr_str_vappendf(&db->err, fmt, ap);
  va_end(ap);
  return EDR_ECORRUPT;
}

/* A failure to open, said in ERR when the caller passed one.  Returns CODE. */
__attribute__((format(printf, 3, 4))) static int open_fail(struct edr_error *err, int code,
                                                           const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    edr_error_vset(err, code, fmt, ap);
    va_end(ap);
  }
  return code;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, (uint8_t *)buf + done, len - done,
                      (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return edr_from_errno(errno);
    if (n == 0)
      return EDR_EIO; /* shorter than fstat said: the file changed */
    done += (size_t)n;
  }
  return 0;
}

static int grow(struct level *l, size_t want) {
  if (l->cap >= want)
    return 0;
  uint8_t *b = realloc(l->buf, want);
  if (!b)
    return EDR_ENOMEM;
  l->buf = b;
  l->cap = want;
  return 0;
}

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  size_t n = al < bl ? al : bl;
  int c = n ? memcmp(a, b, n) : 0;
  if (c)
    return c;
  return al < bl ? -1 : al > bl;
}

/* ---- meta pages --------------------------------------------------------- */

static bool pow2(uint32_t v) { return v && !(v & (v - 1)); }

/* Parse the meta page at index IDX whose bytes (at least PAGE_HDR +
 * META_SIZE) are at P; fill *m, with m->problem saying why it is invalid. */
static void parse_meta(const uint8_t *p, int idx, uint64_t off,
                       struct edr_bolt_meta *m) {
  const uint8_t *b = p + PAGE_HDR;
  memset(m, 0, sizeof(*m));
  uint32_t magic = le32(b), version = le32(b + 4);
  m->page_size = le32(b + 8);
  m->flags = le32(b + 12);
  m->root = le64(b + 16);
  m->freelist = le64(b + 32);
  m->pgid = le64(b + 40);
  m->txid = le64(b + 48);
  m->checksum = le64(b + 56);
  uint64_t sum = fnv1a64(b, 56);
  const char *pre = idx ? "meta page 1" : "meta page 0";
  if (magic != META_MAGIC)
    snprintf(m->problem, sizeof(m->problem),
             "%s at offset %" PRIu64 ": magic 0x%08" PRIx32
             " is not bbolt's 0xed0cdaed",
             pre, off, magic);
  else if (version != META_VERSION)
    snprintf(m->problem, sizeof(m->problem),
             "%s at offset %" PRIu64 ": version %" PRIu32 " is not 2", pre,
             off, version);
  else if (sum != m->checksum)
    snprintf(m->problem, sizeof(m->problem),
             "%s at offset %" PRIu64 ": checksum 0x%016" PRIx64
             " does not match its content (0x%016" PRIx64 ")",
             pre, off, m->checksum, sum);
  else if (!(le16(p + 8) & FLAG_META))
    snprintf(m->problem, sizeof(m->problem),
             "%s at offset %" PRIu64 ": page flags 0x%04x are not a meta page's",
             pre, off, le16(p + 8));
  else if (!pow2(m->page_size) || m->page_size < MIN_PAGE ||
           m->page_size > MAX_PAGE)
    snprintf(m->problem, sizeof(m->problem),
             "%s at offset %" PRIu64 ": page size %" PRIu32
             " is not a power of two between 512 and 65536",
             pre, off, m->page_size);
  else
    m->valid = true;
}

static int open_metas(struct edr_bolt *db, struct edr_error *err) {
  struct edr_bolt_info *in = &db->info;
  uint8_t pg[PAGE_HDR + META_SIZE];
  int rc;

  if (in->image_size < PAGE_HDR + META_SIZE)
    return open_fail(err, EDR_ECORRUPT,
                     "file of %" PRIu64 " bytes is too short for a bbolt meta page",
                     in->file_size);
  if ((rc = pread_full(db->fd, pg, sizeof(pg), 0)) < 0)
    return rc;
  parse_meta(pg, 0, 0, &in->meta[0]);

  /* Where page 1 starts depends on the page size, which meta 0 gives when
   * valid; bbolt falls back to the OS page size, we also try the others. */
  uint32_t tries[] = {4096, 512, 1024, 2048, 8192, 16384, 32768, 65536};
  size_t ntries = sizeof(tries) / sizeof(tries[0]);
  if (in->meta[0].valid) {
    tries[0] = in->meta[0].page_size;
    ntries = 1;
  }
  struct edr_bolt_meta m1 = {0};
  for (size_t i = 0; i < ntries; i++) {
    uint64_t off = tries[i];
    if (off + sizeof(pg) > in->image_size)
      continue;
    if ((rc = pread_full(db->fd, pg, sizeof(pg), off)) < 0)
      return rc;
    parse_meta(pg, 1, off, &m1);
    if (m1.valid && m1.page_size != tries[i]) {
      snprintf(m1.problem, sizeof(m1.problem),
               "meta page 1 at offset %" PRIu64 ": page size %" PRIu32
               " differs from the %" PRIu32 " it was found at",
               off, m1.page_size, tries[i]);
      m1.valid = false;
    }
    if (m1.valid || i == 0)
      in->meta[1] = m1;
    if (m1.valid)
      break;
  }
  if (!in->meta[0].valid && !in->meta[1].valid && !in->meta[1].problem[0])
    snprintf(in->meta[1].problem, sizeof(in->meta[1].problem),
             "meta page 1: not found at any page size");

  int use = -1;
  if (in->meta[0].valid)
    use = 0;
  if (in->meta[1].valid && (use < 0 || in->meta[1].txid > in->meta[0].txid))
    use = 1;
  if (use < 0)
    return open_fail(err, EDR_ECORRUPT, "no valid meta page: %s; %s", in->meta[0].problem,
                     in->meta[1].problem);
  const struct edr_bolt_meta *m = &in->meta[use];
  in->meta_used = use;
  in->page_size = db->ps = m->page_size;
  db->npages = m->pgid;
  db->root = m->root;
  if (m->pgid < 2 || m->pgid > EDR_BOLT_MAX_PAGES ||
      m->pgid > in->image_size / m->page_size)
    return open_fail(err, EDR_ECORRUPT,
                     "meta page %d: %" PRIu64 " pages of %" PRIu32
                     " bytes do not fit in the %" PRIu64 " bytes of data in the file%s",
                     use, m->pgid, m->page_size, in->image_size,
                     m->pgid > 1 ? " (truncated?)" : "");
  if (m->root < 2 || m->root >= m->pgid)
    return open_fail(err, EDR_ECORRUPT,
                     "meta page %d: root page %" PRIu64 " is outside 2..%" PRIu64, use,
                     m->root, m->pgid - 1);
  return 0;
}

int edr_bolt_open_fd(int fd, struct edr_bolt **out, struct edr_error *err) {
  struct stat st;
  int rc;

  *out = NULL;
  if (err)
    edr_error_clear(err);
  struct edr_bolt *db = calloc(1, sizeof(*db));
  if (!db)
    return EDR_ENOMEM;
  edr_str_init(&db->err);
  db->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (db->fd < 0) {
    rc = edr_from_errno(errno);
    free(db);
    return rc;
  }
  if (fstat(db->fd, &st) != 0) {
    rc = edr_from_errno(errno);
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = open_fail(err, EDR_EINVAL, "not a regular file");
    goto fail;
  }
  db->info.file_size = (uint64_t)st.st_size;
  db->info.has_trailer = db->info.file_size % EDR_SNAP_ALIGN == EDR_SNAP_TRAILER;
  db->info.image_size =
      db->info.file_size - (db->info.has_trailer ? EDR_SNAP_TRAILER : 0);
  if ((rc = open_metas(db, err)) < 0)
    goto fail;
  *out = db;
  return 0;
fail:
  if (err && !err->code)  /* an I/O failure: the code's own words */
    err->code = rc;
  edr_bolt_close(db);
  return rc;
}

int edr_bolt_open(const char *path, struct edr_bolt **out, struct edr_error *err) {
  *out = NULL;
  /* O_NONBLOCK: a FIFO in its place must not hang the reader (the agent
   * probes files the etcd user controls); edr_bolt_open_fd refuses it. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int rc = edr_from_errno(errno);
    return open_fail(err, rc, "cannot be opened: %s", edr_strerror(rc));
  }
  int rc = edr_bolt_open_fd(fd, out, err);
  close(fd);
  return rc;
}

void edr_bolt_close(struct edr_bolt *db) {
  if (!db)
    return;
  if (db->fd >= 0)
    close(db->fd);
  for (int i = 0; i < EDR_BOLT_MAX_DEPTH; i++)
    free(db->lv[i].buf);
  free(db->seen);
  free(db->freed);
  edr_str_release(&db->err);
  free(db);
}

const struct edr_bolt_info *edr_bolt_info(const struct edr_bolt *db) {
  return &db->info;
}

const char *edr_bolt_errmsg(const struct edr_bolt *db) { return db->err.buf; }

/* ---- pages -------------------------------------------------------------- */

static bool bit(const uint8_t *m, uint64_t i) { return m[i >> 3] >> (i & 7) & 1; }
static void setbit(uint8_t *m, uint64_t i) { m[i >> 3] |= (uint8_t)(1 << (i & 7)); }

static int begin_walk(struct edr_bolt *db) {
  size_t n = (size_t)((db->npages + 7) / 8);
  edr_str_reset(&db->err);
  if (!db->seen && !(db->seen = malloc(n)))
    return EDR_ENOMEM;
  memset(db->seen, 0, n);
  setbit(db->seen, 0);
  setbit(db->seen, 1);
  return 0;
}

/* Read page ID, reached from page FROM, with its overflow into the buffer
 * of tree level LVL; *p is the page, *span its length in bytes. */
static int read_page(struct edr_bolt *db, const struct walk *w, uint64_t id,
                     uint64_t from, int lvl, const uint8_t **p, size_t *span) {
  uint32_t ps = db->ps;
  if (lvl >= EDR_BOLT_MAX_DEPTH)
    return fail(db,
                "page %" PRIu64 " (reached from page %" PRIu64
                "): buckets and trees nest deeper than %d levels",
                id, from, EDR_BOLT_MAX_DEPTH);
  if (id < 2 || id >= db->npages)
    return fail(db,
                "page %" PRIu64 " (reached from page %" PRIu64
                "): id is outside 2..%" PRIu64 " (meta.pgid %" PRIu64 ")",
                id, from, db->npages - 1, db->npages);
  uint64_t off = id * ps;
  struct level *l = &db->lv[lvl];
  int rc;
  if (l->cap < ps)
    db->buffered += ps - l->cap;
  if ((rc = grow(l, ps)) < 0 || (rc = pread_full(db->fd, l->buf, ps, off)) < 0)
    return rc;
  uint64_t hid = le64(l->buf);
  uint32_t overflow = le32(l->buf + 12);
  if (hid != id)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 " (reached from page %" PRIu64
                "): its header says page %" PRIu64,
                id, off, from, hid);
  if (overflow >= db->npages - id)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 ": overflow %" PRIu32
                " runs past the end of the data (%" PRIu64 " pages)",
                id, off, overflow, db->npages);
  uint64_t len = ((uint64_t)overflow + 1) * ps;
  if (len > EDR_BOLT_MAX_SPAN)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 ": overflow %" PRIu32
                " makes a page of %" PRIu64
                " bytes, more than this reader's limit of %u MiB",
                id, off, overflow, len, EDR_BOLT_MAX_SPAN >> 20);
  for (uint64_t i = id; i <= id + overflow; i++) {
    if (bit(db->seen, i))
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64 " (reached from page %" PRIu64
                  "): page %" PRIu64 " reached twice (shared page or cycle)",
                  id, off, from, i);
    if (w->check_freed && bit(db->freed, i))
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64 " (reached from page %" PRIu64
                  "): page %" PRIu64 " is in use and also in the freelist",
                  id, off, from, i);
    setbit(db->seen, i);
  }
  if (overflow) {
    /* Each level may hold a big page; a path of them must not add up to
     * more than EDR_BOLT_MAX_BUFFERS. */
    if (len > l->cap && db->buffered - l->cap + len > EDR_BOLT_MAX_BUFFERS)
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64
                  ": big pages along one path need more than %u MiB",
                  id, off, EDR_BOLT_MAX_BUFFERS >> 20);
    if (len > l->cap)
      db->buffered += len - l->cap;
    if ((rc = grow(l, (size_t)len)) < 0 ||
        (rc = pread_full(db->fd, l->buf + ps, (size_t)len - ps, off + ps)) < 0)
      return rc;
  }
  *p = l->buf;
  *span = (size_t)len;
  return 0;
}

static int walk_tree(struct edr_bolt *db, struct walk *w, uint64_t id,
                     uint64_t from, int lvl, int depth, struct bound lo,
                     struct bound hi);

/* Check that KEY sits in [lo, hi) and after PREV. */
static int check_order(struct edr_bolt *db, uint64_t id, uint64_t eoff,
                       unsigned i, const uint8_t *k, size_t kl,
                       const struct bound *prev, const struct bound *lo,
                       const struct bound *hi) {
  if (prev->set && keycmp(prev->k, prev->len, k, kl) >= 0)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64
                ": key %u is not greater than key %u (keys out of order)",
                id, eoff, i, i - 1);
  if (lo->set && keycmp(k, kl, lo->k, lo->len) < 0)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64
                ": key %u sorts before its branch key in the parent page",
                id, eoff, i);
  if (hi->set && keycmp(k, kl, hi->k, hi->len) >= 0)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64
                ": key %u does not sort before the next branch key in the "
                "parent page",
                id, eoff, i);
  return 0;
}

/* Enter the bucket whose value is VAL (VLEN bytes, at file offset VOFF, in
 * page ID held at tree level LVL). */
static int enter_bucket(struct edr_bolt *db, struct walk *w, uint64_t id,
                        uint64_t voff, const uint8_t *val, size_t vlen,
                        int lvl, int depth);

/* Visit the elements of a leaf page P of SPAN bytes. */
static int visit_leaf(struct edr_bolt *db, struct walk *w, uint64_t id,
                      uint64_t off, const uint8_t *p, size_t span, int lvl,
                      int depth, struct bound lo, struct bound hi) {
  unsigned count = le16(p + 10);
  if ((uint64_t)PAGE_HDR + (uint64_t)count * ELEM_SIZE > span)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 ": %u elements do not fit "
                "in its %zu bytes",
                id, off, count, span);
  struct bound prev = {0};
  unsigned first = w->last_only && depth > 0 && count ? count - 1 : 0;
  for (unsigned i = first; i < count; i++) {
    size_t ea = PAGE_HDR + (size_t)i * ELEM_SIZE;
    uint32_t flags = le32(p + ea), pos = le32(p + ea + 4);
    uint32_t ksz = le32(p + ea + 8), vsz = le32(p + ea + 12);
    uint64_t ko = (uint64_t)ea + pos;
    if (ko > span || ksz > span - ko || vsz > span - ko - ksz)
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64 ": leaf element %u "
                  "(key at %" PRIu64 ", %" PRIu32 "+%" PRIu32
                  " bytes) runs past the page's %zu bytes",
                  id, off + ea, i, ko, ksz, vsz, span);
    const uint8_t *k = p + ko, *v = k + ksz;
    int rc = check_order(db, id, off + ea, i, k, ksz, &prev, &lo, &hi);
    if (rc < 0)
      return rc;
    prev = (struct bound){k, ksz, true};
    bool is_bucket = flags & ELEM_BUCKET;
    if (depth == 0 && !is_bucket)
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64 ": top-level entry %u "
                  "is not a bucket",
                  id, off + ea, i);
    if (is_bucket && vsz < BUCKET_HDR)
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64 ": bucket entry %u has "
                  "a value of %" PRIu32 " bytes, less than a bucket header",
                  id, off + ea, i, vsz);
    bool enter = depth == 0 ? !w->only || (ksz == w->only_len &&
                                           !memcmp(k, w->only, ksz))
                            : w->enter_all;
    if (w->fn && (depth > 0 ? !w->only || depth == 1 : !w->only)) {
      struct edr_bolt_kv kv = {k, ksz, is_bucket ? NULL : v, is_bucket ? 0 : vsz,
                               is_bucket, depth, id, off + ko};
      if ((rc = w->fn(w->arg, &kv)) != 0)
        return rc;
    }
    if (is_bucket && enter) {
      if (depth == 0)
        w->found = true;
      rc = enter_bucket(db, w, id, off + ko + ksz, v, vsz, lvl, depth + 1);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

static int enter_bucket(struct edr_bolt *db, struct walk *w, uint64_t id,
                        uint64_t voff, const uint8_t *val, size_t vlen,
                        int lvl, int depth) {
  uint64_t root = le64(val);
  if (root != 0)
    return walk_tree(db, w, root, id, lvl + 1, depth, (struct bound){0},
                     (struct bound){0});
  /* Inline bucket: a leaf page inside the value, no overflow of its own. */
  const uint8_t *p = val + BUCKET_HDR;
  size_t span = vlen - BUCKET_HDR;
  uint64_t off = voff + BUCKET_HDR;
  if (lvl + 1 >= EDR_BOLT_MAX_DEPTH)
    return fail(db, "page %" PRIu64 ": buckets nest deeper than %d levels", id,
                EDR_BOLT_MAX_DEPTH);
  if (span < PAGE_HDR)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 ": inline bucket of %zu "
                "bytes is shorter than a page header",
                id, off, span);
  if (le16(p + 8) != FLAG_LEAF)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 ": inline bucket page has "
                "flags 0x%04x, not a leaf's",
                id, off, le16(p + 8));
  return visit_leaf(db, w, id, off, p, span, lvl + 1, depth, (struct bound){0},
                    (struct bound){0});
}

static int walk_tree(struct edr_bolt *db, struct walk *w, uint64_t id,
                     uint64_t from, int lvl, int depth, struct bound lo,
                     struct bound hi) {
  const uint8_t *p;
  size_t span;
  int rc = read_page(db, w, id, from, lvl, &p, &span);
  if (rc != 0)
    return rc;
  uint64_t off = id * db->ps;
  uint16_t flags = le16(p + 8);
  if (flags == FLAG_LEAF)
    return visit_leaf(db, w, id, off, p, span, lvl, depth, lo, hi);
  if (flags != FLAG_BRANCH)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 " (reached from page %" PRIu64
                "): flags 0x%04x are neither a branch's nor a leaf's",
                id, off, from, flags);
  unsigned count = le16(p + 10);
  if (count == 0)
    return fail(db, "page %" PRIu64 " at offset %" PRIu64 ": empty branch page",
                id, off);
  if ((uint64_t)PAGE_HDR + (uint64_t)count * ELEM_SIZE > span)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 ": %u elements do not fit "
                "in its %zu bytes",
                id, off, count, span);
  /* Check every key first: child i's upper bound is key i+1. */
  struct bound prev = {0};
  for (unsigned i = 0; i < count; i++) {
    size_t ea = PAGE_HDR + (size_t)i * ELEM_SIZE;
    uint32_t pos = le32(p + ea), ksz = le32(p + ea + 4);
    uint64_t ko = (uint64_t)ea + pos;
    if (ko > span || ksz > span - ko)
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64 ": branch element %u "
                  "(key at %" PRIu64 ", %" PRIu32
                  " bytes) runs past the page's %zu bytes",
                  id, off + ea, i, ko, ksz, span);
    /* The first key of the leftmost child may precede the branch's lower
     * bound only if bbolt let it; it does not, so check it like the rest. */
    if ((rc = check_order(db, id, off + ea, i, p + ko, ksz, &prev, &lo, &hi)) < 0)
      return rc;
    prev = (struct bound){p + ko, ksz, true};
  }
  for (unsigned i = w->last_only && depth > 0 ? count - 1 : 0; i < count; i++) {
    size_t ea = PAGE_HDR + (size_t)i * ELEM_SIZE;
    const uint8_t *k = p + ea + le32(p + ea);
    struct bound clo = {k, le32(p + ea + 4), true}, chi = hi;
    if (i + 1 < count) {
      size_t na = ea + ELEM_SIZE;
      chi = (struct bound){p + na + le32(p + na), le32(p + na + 4), true};
    }
    if ((rc = walk_tree(db, w, le64(p + ea + 8), id, lvl + 1, depth, clo, chi)) != 0)
      return rc;
  }
  return 0;
}

/* ---- public walks ------------------------------------------------------- */

int edr_bolt_walk(struct edr_bolt *db, edr_bolt_visit_fn fn, void *arg) {
  struct walk w = {.fn = fn, .arg = arg};
  int rc = begin_walk(db);
  if (rc < 0)
    return rc;
  /* Tree order is not file order: ask the kernel to read it all ahead. */
  posix_fadvise(db->fd, 0, 0, POSIX_FADV_WILLNEED);
  return walk_tree(db, &w, db->root, 0, 0, 0, (struct bound){0},
                   (struct bound){0});
}

static int bucket_walk(struct edr_bolt *db, const void *name, size_t nlen,
                       edr_bolt_visit_fn fn, void *arg, bool last_only) {
  struct walk w = {.fn = fn, .arg = arg, .only = name, .only_len = nlen,
                   .last_only = last_only};
  int rc = begin_walk(db);
  if (rc < 0)
    return rc;
  rc = walk_tree(db, &w, db->root, 0, 0, 0, (struct bound){0},
                 (struct bound){0});
  if (rc != 0)
    return rc;
  return w.found ? 0 : EDR_ENOENT;
}

int edr_bolt_foreach(struct edr_bolt *db, const void *name, size_t nlen,
                     edr_bolt_visit_fn fn, void *arg) {
  return bucket_walk(db, name, nlen, fn, arg, false);
}

static int freelist_load(struct edr_bolt *db, struct walk *w) {
  const struct edr_bolt_meta *m = &db->info.meta[db->info.meta_used];
  size_t n = (size_t)((db->npages + 7) / 8);
  if (m->freelist == EDR_BOLT_NO_FREELIST)
    return 0;
  if (!db->freed && !(db->freed = malloc(n)))
    return EDR_ENOMEM;
  memset(db->freed, 0, n);
  const uint8_t *p;
  size_t span;
  int rc = read_page(db, w, m->freelist, db->info.meta_used, 0, &p, &span);
  if (rc != 0)
    return rc;
  uint64_t off = m->freelist * db->ps;
  if (le16(p + 8) != FLAG_FREELIST)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64
                ": meta's freelist page has flags 0x%04x, not a freelist's",
                m->freelist, off, le16(p + 8));
  uint64_t count = le16(p + 10), at = PAGE_HDR;
  if (count == 0xFFFF) { /* the real count is the first element */
    if (span < PAGE_HDR + 8)
      return fail(db, "page %" PRIu64 ": freelist count missing", m->freelist);
    count = le64(p + PAGE_HDR);
    at += 8;
  }
  if (count > (span - at) / 8)
    return fail(db,
                "page %" PRIu64 " at offset %" PRIu64 ": freelist of %" PRIu64
                " ids does not fit in its %zu bytes",
                m->freelist, off, count, span);
  for (uint64_t i = 0; i < count; i++) {
    uint64_t fid = le64(p + at + i * 8);
    if (fid < 2 || fid >= db->npages)
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64 ": free page id %" PRIu64
                  " is outside 2..%" PRIu64,
                  m->freelist, off + at + i * 8, fid, db->npages - 1);
    if (bit(db->freed, fid) || bit(db->seen, fid))
      return fail(db,
                  "page %" PRIu64 " at offset %" PRIu64 ": free page %" PRIu64
                  " is listed twice or is the freelist itself",
                  m->freelist, off + at + i * 8, fid);
    setbit(db->freed, fid);
  }
  w->check_freed = true;
  return 0;
}

int edr_bolt_check(struct edr_bolt *db) {
  struct walk w = {.enter_all = true};
  int rc = begin_walk(db);
  if (rc < 0)
    return rc;
  int bad = 0;
  for (int i = 0; i < 2; i++)
    if (!db->info.meta[i].valid)
      bad = fail(db, "%s (bbolt would use meta page %d)",
                 db->info.meta[i].problem, db->info.meta_used);
  if ((rc = freelist_load(db, &w)) != 0)
    return rc;
  if ((rc = walk_tree(db, &w, db->root, db->info.meta_used, 0, 0,
                      (struct bound){0}, (struct bound){0})) != 0)
    return rc;
  if (w.check_freed)
    for (uint64_t i = 2; i < db->npages; i++)
      if (!bit(db->seen, i) && !bit(db->freed, i))
        return fail(db,
                    "page %" PRIu64 " at offset %" PRIu64
                    ": neither reachable nor in the freelist (leaked page)",
                    i, i * db->ps);
  return bad;
}

/* ---- revision ----------------------------------------------------------- */

static int last_key(void *arg, const struct edr_bolt_kv *kv) {
  int64_t *rev = arg;
  if (kv->klen < 8)
    return EDR_ECORRUPT;
  *rev = (int64_t)be64(kv->key);
  return 0;
}

int edr_bolt_revision_db(struct edr_bolt *db, int64_t *rev) {
  *rev = 0;
  int rc = bucket_walk(db, "key", 3, last_key, rev, true);
  if (rc == EDR_ECORRUPT && !db->err.len)
    fail(db, "bucket 'key': its last key is shorter than a revision");
  if (rc < 0)
    *rev = 0;
  return rc == EDR_ENOENT ? 0 : rc;
}

int edr_bolt_revision(const char *path, int64_t *rev) {
  struct edr_bolt *db;
  *rev = 0;
  int rc = edr_bolt_open(path, &db, NULL);
  if (rc < 0)
    return rc;
  rc = edr_bolt_revision_db(db, rev);
  edr_bolt_close(db);
  return rc;
}
