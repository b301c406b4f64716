/*
 * bytes.h - integers read from a byte buffer in a fixed byte order, and
 * FNV-1a over bytes, for the code that parses files (bbolt.c,
 * bbolt_etcd.c) and checksums them (crc32c.c).  Private to common/.
 */
#ifndef EDR_BYTES_H
#define EDR_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le64(const uint8_t *p) {
  return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}
static inline uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

/* FNV-1a, 64 bits (bbolt's meta checksum uses it). */
static inline uint64_t fnv1a64(const uint8_t *p, size_t n) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= UINT64_C(1099511628211);
  }
  return h;
}

#endif
