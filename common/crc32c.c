/*
 * crc32c.c - CRC-32C (Castagnoli), the checksum etcd's snapshot status
 * reports as its hash: a table-driven portable path and, on x86-64 with
 * SSE4.2, the crc32 instruction on three streams at once.
 */
#include "crc32c.h"

#include "bytes.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* Everything below works on the raw register (no pre/post inversion), where
 * the update is linear: raw(s, A || B) = shift_|B|(raw(s, A)) ^ raw(0, B),
 * shift_n being "feed n zero bytes".  The hardware path uses that to run
 * three independent crc32 streams over three consecutive blocks at once:
 * the instruction's latency is 3 cycles and its throughput 1, so one stream
 * leaves two thirds of the unit idle.  Blocks are joined with a table for
 * shift_B (4 lookups).  The tables are built once, under pthread_once. */

enum { CRC_BLOCK_LONG = 8192, CRC_BLOCK_SHORT = 256 };

static uint32_t crc_table[8][256];
static uint32_t crc_shift_long[4][256], crc_shift_short[4][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n) {
  while (n >= 8) {
    uint64_t v = le64(p) ^ c;
    c = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
        crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
        crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
        crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n--)
    c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

/* T[k][b] = shift_n(b << 8k): shift_n of any register is then the XOR of
 * four lookups, one per byte. */
static void crc_shift_build(uint32_t t[4][256], size_t n) {
  static const uint8_t zeros[CRC_BLOCK_LONG];
  uint32_t basis[32];
  for (int i = 0; i < 32; i++)
    basis[i] = crc_sw(UINT32_C(1) << i, zeros, n);
  for (int k = 0; k < 4; k++)
    for (uint32_t b = 0; b < 256; b++) {
      uint32_t v = 0;
      for (int i = 0; i < 8; i++)
        if (b >> i & 1)
          v ^= basis[8 * k + i];
      t[k][b] = v;
    }
}

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int j = 0; j < 8; j++)
      c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] =
          (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
  crc_shift_build(crc_shift_long, CRC_BLOCK_LONG);
  crc_shift_build(crc_shift_short, CRC_BLOCK_SHORT);
}

#if defined(__x86_64__)
/* The other architectures (the aarch64 agent) take the software path only. */
static uint32_t crc_shift(const uint32_t t[4][256], uint32_t c) {
  return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^
         t[3][c >> 24];
}

/* Three blocks of B bytes (B a multiple of 8) from P, continuing C. */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw3(uint32_t c, const uint8_t *p, size_t b, const uint32_t t[4][256]) {
  uint64_t c0 = c, c1 = 0, c2 = 0;
  for (size_t i = 0; i < b; i += 8) {
    uint64_t v0, v1, v2;
    memcpy(&v0, p + i, 8);
    memcpy(&v1, p + b + i, 8);
    memcpy(&v2, p + 2 * b + i, 8);
    c0 = _mm_crc32_u64(c0, v0);
    c1 = _mm_crc32_u64(c1, v1);
    c2 = _mm_crc32_u64(c2, v2);
  }
  c = crc_shift(t, (uint32_t)c0) ^ (uint32_t)c1;
  return crc_shift(t, c) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c,
                                                         const uint8_t *p,
                                                         size_t n) {
  for (; n >= 3 * CRC_BLOCK_LONG; p += 3 * CRC_BLOCK_LONG, n -= 3 * CRC_BLOCK_LONG)
    c = crc_hw3(c, p, CRC_BLOCK_LONG, crc_shift_long);
  for (; n >= 3 * CRC_BLOCK_SHORT; p += 3 * CRC_BLOCK_SHORT, n -= 3 * CRC_BLOCK_SHORT)
    c = crc_hw3(c, p, CRC_BLOCK_SHORT, crc_shift_short);
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    n -= 8;
  }
  c = (uint32_t)c64;
  while (n--)
    c = _mm_crc32_u8(c, *p++);
  return c;
}
#endif

/* Which path: 1 hardware, 0 software, -1 not decided (the first call
 * decides; edr_crc32c_force_sw() is for the tests). */
static int crc_use_hw = -1;

void edr_crc32c_force_sw(bool sw) { crc_use_hw = sw ? 0 : -1; }

uint32_t edr_crc32c(uint32_t crc, const void *buf, size_t len) {
  uint32_t c = ~crc;
  pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
  int hw = __atomic_load_n(&crc_use_hw, __ATOMIC_RELAXED);
  if (hw < 0) {
    hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    __atomic_store_n(&crc_use_hw, hw, __ATOMIC_RELAXED);
  }
  if (hw)
    return ~crc_hw(c, buf, len);
#endif
  return ~crc_sw(c, buf, len);
}
