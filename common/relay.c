/*
 * relay.c - the relay stream's records (relay.h): key and hello, the
 * stream key derived with HMAC-SHA256 on sha256.h, AES-256-GCM on
 * libcrypto's modes.h.  Nothing here does I/O but reading the kernel's
 * random source.
 */
#include "relay.h"

#include "err.h"
#include "sha256.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static const uint8_t MAGIC[8] = {'E', 'D', 'R', 'R', 'L', 'Y', '1', '\n'};
static const char LABEL[] = "etcd-dr relay stream";

#ifdef EDR_RELAY_AESNI
#include <cpuid.h>
/* libcrypto.a's AES-NI entry points: global in the static archive, not
 * exported by the shared library (the coordinator never frames). */
int aesni_set_encrypt_key(const unsigned char *user, int bits, AES_KEY *key);
void aesni_encrypt(const unsigned char *in, unsigned char *out, const AES_KEY *key);
void aesni_ctr32_encrypt_blocks(const unsigned char *in, unsigned char *out, size_t blocks,
                                const void *key, const unsigned char *ivec);

static bool cpu_has_aesni(void) {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_AES) && (c & bit_PCLMUL);
}
#endif

static int fill_random(uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return EDR_EIO;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

int edr_relay_key_new(uint8_t key[EDR_RELAY_KEY]) { return fill_random(key, EDR_RELAY_KEY); }

void edr_relay_key_hex(const uint8_t key[EDR_RELAY_KEY], char hex[65]) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < EDR_RELAY_KEY; i++) {
    hex[2 * i] = digits[key[i] >> 4];
    hex[2 * i + 1] = digits[key[i] & 15];
  }
  hex[64] = '\0';
}

static int nibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int edr_relay_key_parse(const char *hex, uint8_t key[EDR_RELAY_KEY]) {
  if (!hex || strlen(hex) != 2 * EDR_RELAY_KEY)
    return EDR_EINVAL;
  for (size_t i = 0; i < EDR_RELAY_KEY; i++) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return EDR_EINVAL;
    key[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

int edr_relay_hello(uint8_t out[EDR_RELAY_HELLO]) {
  memcpy(out, MAGIC, sizeof MAGIC);
  return fill_random(out + sizeof MAGIC, EDR_RELAY_SALT);
}

static void hmac_sha256(const uint8_t key[32], const void *msg, size_t len, uint8_t out[32]) {
  uint8_t pad[64];
  struct edr_sha256 s;
  memset(pad, 0x36, sizeof pad);
  for (int i = 0; i < 32; i++)
    pad[i] ^= key[i];
  edr_sha256_init(&s);
  edr_sha256_update(&s, pad, sizeof pad);
  edr_sha256_update(&s, msg, len);
  edr_sha256_final(&s, out);
  memset(pad, 0x5c, sizeof pad);
  for (int i = 0; i < 32; i++)
    pad[i] ^= key[i];
  edr_sha256_init(&s);
  edr_sha256_update(&s, pad, sizeof pad);
  edr_sha256_update(&s, out, 32);
  edr_sha256_final(&s, out);
}

int edr_relay_init(struct edr_relay *r, const uint8_t key[EDR_RELAY_KEY],
                   const uint8_t hello[EDR_RELAY_HELLO]) {
  if (memcmp(hello, MAGIC, sizeof MAGIC) != 0)
    return EDR_EPROTO;
  uint8_t msg[sizeof LABEL + EDR_RELAY_SALT], k[32];
  memcpy(msg, LABEL, sizeof LABEL);
  memcpy(msg + sizeof LABEL, hello + sizeof MAGIC, EDR_RELAY_SALT);
  hmac_sha256(key, msg, sizeof msg, k);
  memset(r, 0, sizeof *r);
  block128_f block = (block128_f)AES_encrypt;
#ifdef EDR_RELAY_AESNI
  if (cpu_has_aesni()) {
    aesni_set_encrypt_key(k, 256, &r->aes);
    block = (block128_f)aesni_encrypt;
    r->ctr = (ctr128_f)aesni_ctr32_encrypt_blocks;
  } else
#endif
    AES_set_encrypt_key(k, 256, &r->aes);
  memset(k, 0, sizeof k);
  r->gcm = CRYPTO_gcm128_new(&r->aes, block);
  return r->gcm ? 0 : EDR_ENOMEM;
}

void edr_relay_release(struct edr_relay *r) {
  if (r->gcm)
    CRYPTO_gcm128_release(r->gcm);
  memset(r, 0, sizeof *r);
}

/* The record's nonce: four zero bytes and its number, big-endian. */
static void start_record(struct edr_relay *r, const uint8_t hdr[EDR_RELAY_HDR]) {
  uint8_t iv[12] = {0};
  for (int i = 0; i < 8; i++)
    iv[4 + i] = (uint8_t)(r->counter >> (56 - 8 * i));
  CRYPTO_gcm128_setiv(r->gcm, iv, sizeof iv);
  CRYPTO_gcm128_aad(r->gcm, hdr, EDR_RELAY_HDR);
}

size_t edr_relay_seal(struct edr_relay *r, const void *in, size_t len, bool last,
                      uint8_t *out) {
  if (r->ended || len > EDR_RELAY_REC_MAX)
    return 0;
  uint32_t h = (uint32_t)len | (last ? 1u << 31 : 0);
  out[0] = (uint8_t)(h >> 24);
  out[1] = (uint8_t)(h >> 16);
  out[2] = (uint8_t)(h >> 8);
  out[3] = (uint8_t)h;
  start_record(r, out);
  if (r->ctr)
    CRYPTO_gcm128_encrypt_ctr32(r->gcm, in, out + EDR_RELAY_HDR, len, r->ctr);
  else
    CRYPTO_gcm128_encrypt(r->gcm, in, out + EDR_RELAY_HDR, len);
  CRYPTO_gcm128_tag(r->gcm, out + EDR_RELAY_HDR + len, EDR_RELAY_TAG);
  r->counter++;
  r->ended = last;
  return len + EDR_RELAY_OVERHEAD;
}

int edr_relay_header(const struct edr_relay *r, const uint8_t hdr[EDR_RELAY_HDR],
                     size_t *len, bool *last) {
  uint32_t h = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  *last = h >> 31;
  *len = h & 0xffffff;
  if (r->ended || (h & 0x7f000000) || *len > EDR_RELAY_REC_MAX)
    return EDR_EPROTO;
  return 0;
}

int edr_relay_open(struct edr_relay *r, const uint8_t *rec, size_t len, uint8_t *out) {
  start_record(r, rec);
  if (r->ctr)
    CRYPTO_gcm128_decrypt_ctr32(r->gcm, rec + EDR_RELAY_HDR, out, len, r->ctr);
  else
    CRYPTO_gcm128_decrypt(r->gcm, rec + EDR_RELAY_HDR, out, len);
  if (CRYPTO_gcm128_finish(r->gcm, rec + EDR_RELAY_HDR + len, EDR_RELAY_TAG) != 0) {
    memset(out, 0, len);
    return EDR_EHASH;
  }
  r->counter++;
  r->ended = rec[0] >> 7;
  return 0;
}
