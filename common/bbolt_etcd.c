/*
 * bbolt_etcd.c - etcd's figures read from a bbolt file in one walk
 * (bbolt.h's edr_etcd_status): what `etcdctl snapshot status` prints (hash,
 * revision, total keys and size) and what etcd-dr adds (live keys, the
 * consistent index and term, compaction marks, the members).  Only the
 * reader's public walks are used.
 */
#include "bbolt.h"

#include "bytes.h"
#include "crc32c.h"
#include "err.h"
#include "util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t live_max_slots = 1 << 20; /* 8 MiB of key hashes per pass */

void edr_bolt_set_live_limit(size_t slots) {
  live_max_slots = slots >= 4 ? slots : 4;
}
enum { MEMBERS_MAX = 256 };

/* Distinct live keys, without keeping the keys: a 63-bit hash of each user
 * key plus a live bit, in an open-addressing table.  When the table would
 * pass live_max_slots, the key space is split by hash into parts counted
 * one pass each, so memory stays bounded whatever the number of keys. */
struct live {
  uint64_t *slot; /* 0 empty, else hash | live << 63; hash never 0 */
  size_t cap, used;
  unsigned part, parts;
  bool overflow, undecodable;
};

static uint64_t keyhash(const uint8_t *k, size_t n) {
  uint64_t h = fnv1a64(k, n);
  h ^= h >> 33; /* fnv1a's low bits are weak; mix before slotting */
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  h &= ~(UINT64_C(1) << 63);
  return h ? h : 1;
}

static int live_put(struct live *lv, uint64_t h, bool alive) {
  if ((h >> 40) % lv->parts != lv->part)
    return 0;
  if ((lv->used + 1) * 2 > lv->cap) {
    size_t ncap = lv->cap ? lv->cap * 2
                          : (1024 < live_max_slots ? 1024 : live_max_slots);
    if (ncap > live_max_slots) {
      lv->overflow = true;
      return 0;
    }
    uint64_t *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
      return EDR_ENOMEM;
    for (size_t i = 0; i < lv->cap; i++)
      if (lv->slot[i]) {
        size_t j = (size_t)(lv->slot[i] & (ncap - 1));
        while (ns[j])
          j = (j + 1) & (ncap - 1);
        ns[j] = lv->slot[i];
      }
    free(lv->slot);
    lv->slot = ns;
    lv->cap = ncap;
  }
  size_t j = (size_t)(h & (lv->cap - 1));
  uint64_t mask = ~(UINT64_C(1) << 63);
  while (lv->slot[j] && (lv->slot[j] & mask) != h)
    j = (j + 1) & (lv->cap - 1);
  if (!lv->slot[j])
    lv->used++;
  lv->slot[j] = h | (uint64_t)alive << 63;
  return 0;
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (int s = 0; s < 64 && *p < end; s += 7) {
    uint8_t b = *(*p)++;
    *v |= (uint64_t)(b & 0x7f) << s;
    if (!(b & 0x80))
      return true;
  }
  return false;
}

/* The key (field 1) of a protobuf mvccpb.KeyValue. */
static bool kv_userkey(const uint8_t *p, size_t n, const uint8_t **k,
                       size_t *kl) {
  const uint8_t *end = p + n;
  while (p < end) {
    uint64_t tag, len;
    if (!varint(&p, end, &tag))
      return false;
    switch (tag & 7) {
    case 0:
      if (!varint(&p, end, &len))
        return false;
      break;
    case 1:
      if (end - p < 8)
        return false;
      p += 8;
      break;
    case 2:
      if (!varint(&p, end, &len) || len > (uint64_t)(end - p))
        return false;
      if (tag >> 3 == 1) {
        *k = p;
        *kl = (size_t)len;
        return true;
      }
      p += len;
      break;
    case 5:
      if (end - p < 4)
        return false;
      p += 4;
      break;
    default:
      return false;
    }
  }
  return false;
}

static int live_entry(struct live *lv, const struct edr_bolt_kv *kv) {
  const uint8_t *k;
  size_t kl;
  if (!kv->val || !kv_userkey(kv->val, kv->vlen, &k, &kl)) {
    lv->undecodable = true;
    return 0;
  }
  bool tomb = kv->klen == 18 && kv->key[17] == 't';
  return live_put(lv, keyhash(k, kl), !tomb);
}

static int64_t live_count(const struct live *lv) {
  int64_t n = 0;
  for (size_t i = 0; i < lv->cap; i++)
    n += (int64_t)(lv->slot[i] >> 63);
  return n;
}

static int live_pass(void *arg, const struct edr_bolt_kv *kv) {
  return live_entry(arg, kv);
}

enum bucket_kind { B_OTHER, B_KEY, B_META, B_MEMBERS };

struct status_walk {
  struct edr_etcd_status *st;
  enum bucket_kind kind;
  uint32_t crc;
  struct live live;
  uint64_t key_entries;
};

static const struct {
  const char *name;
  enum bucket_kind kind;
} bucket_kinds[] = {
    {"key", B_KEY},
    {"meta", B_META},
    {"members", B_MEMBERS},
};

static bool is(const struct edr_bolt_kv *kv, const char *s) {
  return kv->klen == strlen(s) && !memcmp(kv->key, s, kv->klen);
}

static void meta_entry(struct edr_etcd_status *st, const struct edr_bolt_kv *kv) {
  if (!kv->val || kv->vlen < 8)
    return;
  if (is(kv, "consistent_index")) {
    st->has_consistent_index = true;
    st->consistent_index = be64(kv->val);
  } else if (is(kv, "term")) {
    st->has_term = true;
    st->term = be64(kv->val);
  } else if (is(kv, "scheduledCompactRev")) {
    st->has_scheduled_compact = true;
    st->scheduled_compact = (int64_t)be64(kv->val);
  } else if (is(kv, "finishedCompactRev")) {
    st->has_finished_compact = true;
    st->finished_compact = (int64_t)be64(kv->val);
  }
}

static void member_entry(json_t *members, uint64_t *skipped,
                         const struct edr_bolt_kv *kv) {
  if (!kv->val || json_array_size(members) >= MEMBERS_MAX ||
      kv->klen > 32) {
    (*skipped)++;
    return;
  }
  /* Member ids are uint64 and overflow jansson's integers: take the id from
   * the key (its hex form) and decode numbers as reals so parsing works. */
  json_error_t jerr;
  json_t *v = json_loadb((const char *)kv->val, kv->vlen,
                         JSON_DECODE_INT_AS_REAL,
                         &jerr);
  if (!json_is_object(v)) {
    json_decref(v);
    (*skipped)++;
    return;
  }
  json_t *m = json_object();
  /* a key that is not UTF-8 (a crafted file) keeps its bytes, escaped */
  json_t *id = json_stringn((const char *)kv->key, kv->klen);
  if (!id) {
    char raw[33], esc[4 * 32 + 1];
    memcpy(raw, kv->key, kv->klen);
    raw[kv->klen] = '\0';
    id = json_string(edr_escape(esc, sizeof esc, raw, 0));
  }
  json_object_set_new(m, "id", id);
  json_t *name = json_object_get(v, "name");
  json_object_set_new(m, "name",
                      json_string(json_is_string(name) ? json_string_value(name)
                                                       : ""));
  static const char *const lists[] = {"peerURLs", "clientURLs"};
  for (size_t i = 0; i < 2; i++) {
    json_t *a = json_object_get(v, lists[i]), *out = json_array();
    size_t j;
    json_t *u;
    json_array_foreach(a, j, u) if (json_is_string(u))
        json_array_append(out, u);
    json_object_set_new(m, lists[i], out);
  }
  json_object_set_new(m, "isLearner",
                      json_boolean(json_is_true(json_object_get(v, "isLearner"))));
  json_array_append_new(members, m);
  json_decref(v);
}

struct members_walk {
  json_t *members;
  uint64_t skipped;
};

static int members_visit(void *arg, const struct edr_bolt_kv *kv) {
  struct members_walk *w = arg;
  member_entry(w->members, &w->skipped, kv);
  return 0;
}

int edr_bolt_members(struct edr_bolt *db, json_t **out, uint64_t *skipped) {
  struct members_walk w = {.members = json_array()};
  *out = NULL;
  if (!w.members)
    return EDR_ENOMEM;
  int rc = edr_bolt_foreach(db, "members", 7, members_visit, &w);
  if (rc) {
    json_decref(w.members);
    return rc > 0 ? EDR_EINTERNAL : rc;
  }
  *out = w.members;
  if (skipped)
    *skipped = w.skipped;
  return 0;
}

static int meta_visit(void *arg, const struct edr_bolt_kv *kv) {
  meta_entry(arg, kv);
  return 0;
}

int edr_bolt_meta_index(struct edr_bolt *db, bool *has_ci, uint64_t *ci, bool *has_term,
                        uint64_t *term) {
  struct edr_etcd_status st = {0};
  int rc = edr_bolt_foreach(db, "meta", 4, meta_visit, &st);
  *has_ci = st.has_consistent_index;
  *ci = st.consistent_index;
  *has_term = st.has_term;
  *term = st.term;
  return rc > 0 ? EDR_EINTERNAL : rc;
}

static int status_visit(void *arg, const struct edr_bolt_kv *kv) {
  struct status_walk *s = arg;
  struct edr_etcd_status *st = s->st;
  s->crc = edr_crc32c(s->crc, kv->key, kv->klen);
  if (kv->depth == 0) {
    s->kind = B_OTHER;
    for (size_t i = 0; i < sizeof(bucket_kinds) / sizeof(bucket_kinds[0]); i++)
      if (is(kv, bucket_kinds[i].name))
        s->kind = bucket_kinds[i].kind;
    return 0;
  }
  if (kv->val)
    s->crc = edr_crc32c(s->crc, kv->val, kv->vlen);
  st->total_keys++;
  switch (s->kind) {
  case B_KEY:
    /* etcd reads bytes 0..7 as the main revision of any key here. */
    if (kv->klen >= 8)
      st->revision = (int64_t)be64(kv->key);
    s->key_entries++;
    return live_entry(&s->live, kv);
  case B_META:
    meta_entry(st, kv);
    return 0;
  case B_MEMBERS:
    member_entry(st->members, &st->members_skipped, kv);
    return 0;
  case B_OTHER:
    return 0;
  }
  return 0;
}

int edr_etcd_status(struct edr_bolt *db, struct edr_etcd_status *st) {
  memset(st, 0, sizeof(*st));
  st->members = json_array();
  if (!st->members)
    return EDR_ENOMEM;
  struct status_walk s = {.st = st, .live = {.parts = 1}};
  const struct edr_bolt_info *in = edr_bolt_info(db);
  st->total_size = in->meta[in->meta_used].pgid * in->meta[in->meta_used].page_size;
  int rc = edr_bolt_walk(db, status_visit, &s);
  st->hash = s.crc;
  st->live_keys = live_count(&s.live);
  bool undecodable = s.live.undecodable;
  /* Too many keys for one table: count by parts of the hash space, one
   * pass over bucket "key" each, doubling the parts until each fits. */
  for (unsigned parts = 2; rc == 0 && s.live.overflow && parts <= 1u << 20;
       parts *= 2) {
    int64_t sum = 0;
    s.live.overflow = false;
    for (unsigned part = 0; part < parts && rc == 0 && !s.live.overflow;
         part++) {
      free(s.live.slot);
      s.live = (struct live){.part = part, .parts = parts};
      rc = edr_bolt_foreach(db, "key", 3, live_pass, &s.live);
      sum += live_count(&s.live);
    }
    st->live_keys = sum;
  }
  if (undecodable || s.live.overflow)
    st->live_keys = -1;
  free(s.live.slot);
  return rc > 0 ? EDR_EINTERNAL : rc;
}

void edr_etcd_status_release(struct edr_etcd_status *st) {
  json_decref(st->members);
  st->members = NULL;
}
