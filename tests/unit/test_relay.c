/*
 * test_relay.c - the relay stream's records (common/relay.h): what one
 * end seals the other opens, and a record tampered with, truncated,
 * replayed, reordered or sealed under another key is refused.  The bytes
 * are checked against OpenSSL's EVP AES-256-GCM so the framing is the
 * cipher it says it is.
 */
#include "err.h"
#include "relay.h"
#include "t.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { N = 3 };
static const size_t LENS[N] = {1000, EDR_RELAY_REC_MAX, 0};

struct stream {
  uint8_t hello[EDR_RELAY_HELLO];
  uint8_t *rec[N];
  size_t size[N];
};

static void seal_stream(const uint8_t key[32], const uint8_t *data, struct stream *s) {
  struct edr_relay tx;
  CHECK(edr_relay_hello(s->hello) == 0);
  CHECK(edr_relay_init(&tx, key, s->hello) == 0);
  size_t off = 0;
  for (int i = 0; i < N; i++) {
    s->rec[i] = malloc(LENS[i] + EDR_RELAY_OVERHEAD);
    s->size[i] = edr_relay_seal(&tx, data + off, LENS[i], i == N - 1, s->rec[i]);
    CHECK(s->size[i] == LENS[i] + EDR_RELAY_OVERHEAD);
    off += LENS[i];
  }
  uint8_t extra[64];
  CHECK(edr_relay_seal(&tx, data, 1, false, extra) == 0); /* nothing after the last */
  edr_relay_release(&tx);
}

static void stream_release(struct stream *s) {
  for (int i = 0; i < N; i++)
    free(s->rec[i]);
}

/* Opens record I of S with RX: the header's verdict, then the tag's. */
static int open_one(struct edr_relay *rx, const struct stream *s, int i, uint8_t *out) {
  size_t len;
  bool last;
  int rc = edr_relay_header(rx, s->rec[i], &len, &last);
  if (rc)
    return rc;
  if (len + EDR_RELAY_OVERHEAD != s->size[i])
    return EDR_EPROTO;
  return edr_relay_open(rx, s->rec[i], len, out);
}

static void test_round_trip(const uint8_t key[32], const uint8_t *data) {
  struct stream s;
  seal_stream(key, data, &s);
  struct edr_relay rx;
  CHECK(edr_relay_init(&rx, key, s.hello) == 0);
  static uint8_t out[EDR_RELAY_REC_MAX];
  size_t off = 0;
  for (int i = 0; i < N; i++) {
    CHECK(open_one(&rx, &s, i, out) == 0);
    CHECK(memcmp(out, data + off, LENS[i]) == 0);
    CHECK(rx.ended == (i == N - 1));
    off += LENS[i];
  }
  /* after the last record nothing more is taken */
  CHECK(open_one(&rx, &s, 0, out) == EDR_EPROTO);
  edr_relay_release(&rx);
  stream_release(&s);
}

/* The first record is AES-256-GCM under HMAC-SHA256(key, label || salt),
 * nonce 0, the header as additional data. */
static void test_is_aes_gcm(const uint8_t key[32], const uint8_t *data) {
  struct stream s;
  seal_stream(key, data, &s);
  static const char label[] = "etcd-dr relay stream";
  uint8_t msg[sizeof label + EDR_RELAY_SALT], k[32], iv[12] = {0}, tag[16];
  memcpy(msg, label, sizeof label);
  memcpy(msg + sizeof label, s.hello + 8, EDR_RELAY_SALT);
  unsigned klen = 0;
  HMAC(EVP_sha256(), key, 32, msg, sizeof msg, k, &klen);
  CHECK(klen == 32);
  uint8_t *ct = malloc(LENS[0]);
  int l = 0;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  CHECK(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, k, iv) == 1);
  CHECK(EVP_EncryptUpdate(c, NULL, &l, s.rec[0], EDR_RELAY_HDR) == 1);
  CHECK(EVP_EncryptUpdate(c, ct, &l, data, (int)LENS[0]) == 1);
  CHECK(EVP_EncryptFinal_ex(c, ct + l, &l) == 1);
  CHECK(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
  EVP_CIPHER_CTX_free(c);
  CHECK(memcmp(ct, s.rec[0] + EDR_RELAY_HDR, LENS[0]) == 0);
  CHECK(memcmp(tag, s.rec[0] + EDR_RELAY_HDR + LENS[0], 16) == 0);
  free(ct);
  stream_release(&s);
}

/* A byte flipped anywhere in a record: header, ciphertext or tag. */
static void test_tamper(const uint8_t key[32], const uint8_t *data) {
  struct stream s;
  seal_stream(key, data, &s);
  static uint8_t out[EDR_RELAY_REC_MAX];
  const size_t where[] = {3, EDR_RELAY_HDR, EDR_RELAY_HDR + 500, s.size[0] - 1};
  for (size_t w = 0; w < sizeof where / sizeof *where; w++) {
    struct edr_relay rx;
    CHECK(edr_relay_init(&rx, key, s.hello) == 0);
    s.rec[0][where[w]] ^= 0x01;
    int rc = open_one(&rx, &s, 0, out);
    CHECK(rc == EDR_EHASH || (w == 0 && rc == EDR_EPROTO));
    s.rec[0][where[w]] ^= 0x01;
    CHECK(open_one(&rx, &s, 0, out) == 0); /* a refused record counts for nothing */
    edr_relay_release(&rx);
  }
  /* the last flag taken off the final record: the tag covers the header */
  struct edr_relay rx;
  CHECK(edr_relay_init(&rx, key, s.hello) == 0);
  CHECK(open_one(&rx, &s, 0, out) == 0);
  CHECK(open_one(&rx, &s, 1, out) == 0);
  s.rec[2][0] &= 0x7f;
  CHECK(open_one(&rx, &s, 2, out) == EDR_EHASH);
  CHECK(!rx.ended);
  edr_relay_release(&rx);
  /* another run's key, and a hello that is not one */
  uint8_t other[32];
  memcpy(other, key, 32);
  other[31] ^= 0x80;
  CHECK(edr_relay_init(&rx, other, s.hello) == 0);
  CHECK(open_one(&rx, &s, 0, out) == EDR_EHASH);
  edr_relay_release(&rx);
  s.hello[0] = 'X';
  CHECK(edr_relay_init(&rx, key, s.hello) == EDR_EPROTO);
  stream_release(&s);
}

/* Records replayed, reordered, dropped, or the stream cut short. */
static void test_order(const uint8_t key[32], const uint8_t *data) {
  struct stream s;
  seal_stream(key, data, &s);
  static uint8_t out[EDR_RELAY_REC_MAX];
  struct edr_relay rx;
  CHECK(edr_relay_init(&rx, key, s.hello) == 0); /* replay */
  CHECK(open_one(&rx, &s, 0, out) == 0);
  CHECK(open_one(&rx, &s, 0, out) == EDR_EHASH);
  edr_relay_release(&rx);
  CHECK(edr_relay_init(&rx, key, s.hello) == 0); /* reorder */
  CHECK(open_one(&rx, &s, 1, out) == EDR_EHASH);
  edr_relay_release(&rx);
  CHECK(edr_relay_init(&rx, key, s.hello) == 0); /* a record dropped */
  CHECK(open_one(&rx, &s, 0, out) == 0);
  CHECK(open_one(&rx, &s, 2, out) == EDR_EHASH);
  edr_relay_release(&rx);
  CHECK(edr_relay_init(&rx, key, s.hello) == 0); /* truncated: no last record */
  CHECK(open_one(&rx, &s, 0, out) == 0);
  CHECK(open_one(&rx, &s, 1, out) == 0);
  CHECK(!rx.ended);
  edr_relay_release(&rx);
  /* a record of another stream of the same run (another salt) */
  struct stream t;
  seal_stream(key, data, &t);
  CHECK(memcmp(s.hello, t.hello, EDR_RELAY_HELLO) != 0);
  CHECK(edr_relay_init(&rx, key, s.hello) == 0);
  CHECK(open_one(&rx, &t, 0, out) == EDR_EHASH);
  edr_relay_release(&rx);
  stream_release(&t);
  /* a header announcing more than a record may hold */
  CHECK(edr_relay_init(&rx, key, s.hello) == 0);
  uint8_t big[4] = {0x00, 0x04, 0x00, 0x01};
  size_t len;
  bool last;
  CHECK(edr_relay_header(&rx, big, &len, &last) == EDR_EPROTO);
  edr_relay_release(&rx);
  stream_release(&s);
}

static void test_key_text(void) {
  uint8_t k[32], back[32];
  char hex[65];
  CHECK(edr_relay_key_new(k) == 0);
  edr_relay_key_hex(k, hex);
  CHECK(strlen(hex) == 64);
  CHECK(edr_relay_key_parse(hex, back) == 0 && memcmp(k, back, 32) == 0);
  hex[10] = 'G';
  CHECK(edr_relay_key_parse(hex, back) == EDR_EINVAL);
  CHECK(edr_relay_key_parse("abcd", back) == EDR_EINVAL);
  CHECK(edr_relay_key_parse(NULL, back) == EDR_EINVAL);
}

int main(void) {
  uint8_t key[32];
  size_t total = 0;
  for (int i = 0; i < N; i++)
    total += LENS[i];
  uint8_t *data = malloc(total);
  for (size_t i = 0; i < total; i++)
    data[i] = (uint8_t)(i * 131 + (i >> 9));
  CHECK(edr_relay_key_new(key) == 0);
  test_round_trip(key, data);
  test_is_aes_gcm(key, data);
  test_tamper(key, data);
  test_order(key, data);
  test_key_text();
  free(data);
  return t_done("test_relay");
}
