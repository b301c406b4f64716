/*
 * crc32c.h - CRC-32C (Castagnoli), as Go's hash/crc32 with that table
 * computes it (crc32c.c).  Thread-safe.
 */
#ifndef EDR_CRC32C_H
#define EDR_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli) running sum, as Go's crc32.Update with that table:
 * start with 0, feed pieces in order. */
uint32_t edr_crc32c(uint32_t crc, const void *buf, size_t len);
/* For tests: true makes edr_crc32c() use the portable table code even where
 * the CPU has SSE4.2, so both paths can be compared; false goes back. */
void edr_crc32c_force_sw(bool sw);

#endif
