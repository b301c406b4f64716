/*
 * sha256.h - SHA-256 for the agent and the snapshot file checks, on
 * OpenSSL's SHA256_* functions rather than EVP.
 *
 * Why not EVP: the agent is linked statically and pushed to every host at
 * the start of every run.  EVP_sha256() drags OpenSSL 3's provider machinery
 * and every algorithm of the default provider into the binary (a static
 * test program: 4.35 MB with EVP_Digest, 0.71 MB with SHA256_*), and those
 * bytes cross every host's SSH connection before anything else can happen.
 * SHA256_* runs the same assembly (SHA-NI where the CPU has it).  It is
 * deprecated in OpenSSL 3.0 but still built and exported; should it go,
 * this file is the one place to change.
 *
 * The state is a plain struct: copying it (struct assignment) forks the
 * digest, as snapfile.c does to get the whole-file digest from the
 * image's.  Nothing here allocates or fails.
 */
#ifndef EDR_SHA256_H
#define EDR_SHA256_H

#include <stddef.h>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

struct edr_sha256 {
  SHA256_CTX c;
};

void edr_sha256_init(struct edr_sha256 *s);
void edr_sha256_update(struct edr_sha256 *s, const void *p, size_t n);
/* Write the 32-byte digest to MD; S is spent (init it again to reuse). */
void edr_sha256_final(struct edr_sha256 *s, unsigned char md[32]);
/* One-shot digest of P..P+N. */
void edr_sha256(const void *p, size_t n, unsigned char md[32]);

#endif
