/*
 * relay.h - the framing of the snapshot stream between two hosts' agents
 * (the relay, docs/transfer.md): AES-256-GCM records with a per-record
 * counter, on a key made for the run and handed to each agent over its own
 * SSH session.  Pure functions on buffers; the agent does the I/O.
 *
 * A stream opens with a hello in clear (8 bytes of magic, 16 random bytes
 * of salt); the stream's own key is HMAC-SHA256(run key, label || salt), so
 * no two streams of a run share a key and nonce.  Then records: a 4-byte
 * big-endian header (bit 31: the last record; bits 0-23: the length, at
 * most EDR_RELAY_REC_MAX), the ciphertext, a 16-byte tag.  The nonce is the
 * record's number, counted by both ends and never sent: a record replayed,
 * reordered or dropped fails its tag.  The header is authenticated data.  A
 * stream that ends before a record flagged last is truncated.
 *
 * Owns: struct edr_relay holds its GCM context (edr_relay_release frees
 * it).  The agent's static build (EDR_RELAY_AESNI) uses libcrypto's AES-NI
 * block and counter functions where the CPU has them; everywhere else the
 * exported AES_encrypt.  Both give the same bytes.  Not EVP: see sha256.h.
 */
#ifndef EDR_RELAY_H
#define EDR_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/aes.h>
#include <openssl/modes.h>

enum {
  EDR_RELAY_KEY = 32,
  EDR_RELAY_SALT = 16,
  EDR_RELAY_HELLO = 24,          /* magic + salt */
  EDR_RELAY_HDR = 4,
  EDR_RELAY_TAG = 16,
  EDR_RELAY_REC_MAX = 256 * 1024,
  EDR_RELAY_OVERHEAD = EDR_RELAY_HDR + EDR_RELAY_TAG,
};

struct edr_relay {
  AES_KEY aes;
  GCM128_CONTEXT *gcm;
  ctr128_f ctr;                  /* NULL: GCM's own counter on the block */
  uint64_t counter;              /* records sealed or opened so far */
  bool ended;                    /* the last record was sealed or opened */
};

/* A new run key, from the kernel's random source: 0 or EDR_EIO. */
int edr_relay_key_new(uint8_t key[EDR_RELAY_KEY]);
/* KEY as 64 lowercase hex digits into HEX[65]. */
void edr_relay_key_hex(const uint8_t key[EDR_RELAY_KEY], char hex[65]);
/* 64 hex digits into KEY: 0 or EDR_EINVAL. */
int edr_relay_key_parse(const char *hex, uint8_t key[EDR_RELAY_KEY]);

/* The sender's hello with a fresh salt into OUT: 0 or EDR_EIO. */
int edr_relay_hello(uint8_t out[EDR_RELAY_HELLO]);
/* Either end, from the run key and the stream's hello: 0, EDR_EPROTO (not a
 * relay hello) or EDR_ENOMEM.  R is initialised only on 0. */
int edr_relay_init(struct edr_relay *r, const uint8_t key[EDR_RELAY_KEY],
                   const uint8_t hello[EDR_RELAY_HELLO]);
void edr_relay_release(struct edr_relay *r);

/* Seals LEN (<= EDR_RELAY_REC_MAX) bytes of IN as the next record into OUT
 * (LEN + EDR_RELAY_OVERHEAD bytes); LAST ends the stream.  Returns the
 * record's size, or 0 after the last record. */
size_t edr_relay_seal(struct edr_relay *r, const void *in, size_t len, bool last,
                      uint8_t *out);
/* The ciphertext length and last flag of the record whose header is HDR:
 * 0, or EDR_EPROTO (too long, or the stream already ended). */
int edr_relay_header(const struct edr_relay *r, const uint8_t hdr[EDR_RELAY_HDR],
                     size_t *len, bool *last);
/* Opens the next record REC (header, LEN bytes of ciphertext, tag) into OUT
 * (LEN bytes): 0, or EDR_EHASH when it is not the next record of this
 * stream as sealed (tampered, replayed, reordered, another key). */
int edr_relay_open(struct edr_relay *r, const uint8_t *rec, size_t len, uint8_t *out);

#endif
