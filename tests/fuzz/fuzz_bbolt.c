/*
 * fuzz_bbolt.c - libFuzzer target for the bbolt reader: whatever the bytes,
 * opening, checking, walking and computing etcd's status must end in 0 or
 * a negative EDR_E* code, never a crash, a sanitizer report or a leak.
 * The input becomes a file (a memfd) because the reader reads with pread.
 */
#include "bbolt.h"
#include "err.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int count_kv(void *arg, const struct edr_bolt_kv *kv) {
  size_t *n = arg;
  /* Touch every byte handed out: ASan checks they lie in the buffers. */
  for (size_t i = 0; i < kv->klen; i++)
    *n += kv->key[i];
  for (size_t i = 0; kv->val && i < kv->vlen; i++)
    *n += kv->val[i];
  return 0;
}

/* The meta checksum stops mutations at the door; for inputs whose last
 * byte is odd, make the meta pages' checksums right so the fuzzer explores
 * the tree behind them. */
static void fix_meta(uint8_t *d, size_t size) {
  size_t ps = (size_t)d[24] | (size_t)d[25] << 8 | (size_t)d[26] << 16;
  size_t offs[] = {16, ps + 16, 4096 + 16};
  for (size_t i = 0; i < 3; i++) {
    if (offs[i] < 16 || offs[i] + 64 > size)
      continue;
    uint8_t *m = d + offs[i];
    uint64_t h = UINT64_C(14695981039346656037);
    for (int j = 0; j < 56; j++)
      h = (h ^ m[j]) * UINT64_C(1099511628211);
    for (int j = 0; j < 8; j++)
      m[56 + j] = (uint8_t)(h >> (8 * j));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  if (fd < 0 && (fd = memfd_create("fuzz", 0)) < 0)
    abort();
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    abort();
  memcpy(copy, data, size);
  if (size >= 80 && (data[size - 1] & 1))
    fix_meta(copy, size);
  if (ftruncate(fd, 0) != 0 ||
      (size && pwrite(fd, copy, size, 0) != (ssize_t)size))
    abort();
  free(copy);
  struct edr_bolt *db;
  struct edr_error err = EDR_ERROR_INIT;
  int rc = edr_bolt_open_fd(fd, &db, &err);
  bool said = err.msg.len > 0;
  edr_error_release(&err);
  if (rc < 0) {
    if (db != NULL || !said)
      abort(); /* a failed open says why and returns nothing */
    return 0;
  }
  size_t n = 0;
  rc = edr_bolt_check(db);
  if (rc > 0 || (rc == EDR_ECORRUPT && !edr_bolt_errmsg(db)[0]))
    abort();
  edr_bolt_walk(db, count_kv, &n);
  edr_bolt_foreach(db, "key", 3, count_kv, &n);
  struct edr_etcd_status st;
  if (edr_etcd_status(db, &st) > 0)
    abort();
  edr_etcd_status_release(&st);
  edr_bolt_close(db);
  return 0;
}
