/*
 * sha256.c - thin wrappers over OpenSSL's SHA256_* (see sha256.h for why
 * not EVP).
 */
#include "sha256.h"

void edr_sha256_init(struct edr_sha256 *s) { SHA256_Init(&s->c); }

void edr_sha256_update(struct edr_sha256 *s, const void *p, size_t n) {
  SHA256_Update(&s->c, p, n);
}

void edr_sha256_final(struct edr_sha256 *s, unsigned char md[32]) {
  SHA256_Final(md, &s->c);
}

void edr_sha256(const void *p, size_t n, unsigned char md[32]) {
  struct edr_sha256 s;
  edr_sha256_init(&s);
  edr_sha256_update(&s, p, n);
  edr_sha256_final(&s, md);
}
