/*
 * snapstream.c - the decoder of etcd's snapshot stream (snapstream.h): lines
 * cut anywhere are joined, the usual line is decoded in place without a
 * JSON tree, base64 goes to the sink a piece at a time, and the size the
 * first message announces bounds what is accepted.
 */
#include "snapstream.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "snapfile.h"

static int ss_fail(struct edr_snapstream *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ss_fail(struct edr_snapstream *s, int status, const char *fmt, ...) {
  if (s->err.code)
    return s->err.code;
  va_list ap;
  va_start(ap, fmt);
  edr_error_vset(&s->err, status, fmt, ap);
  va_end(ap);
  return status;
}

int edr_snapstream_init(struct edr_snapstream *s, edr_snapstream_sink sink,
                        void *arg) {
  memset(s, 0, sizeof *s);
  edr_error_init(&s->err);
  s->sink = sink;
  s->sink_arg = arg;
  s->b64 = EVP_ENCODE_CTX_new();
  return s->b64 ? 0 : EDR_ENOMEM;
}

void edr_snapstream_release(struct edr_snapstream *s) {
  free(s->line);
  s->line = NULL;
  s->len = s->cap = 0;
  if (s->b64)
    EVP_ENCODE_CTX_free(s->b64);
  s->b64 = NULL;
  edr_error_release(&s->err);
}

static int ss_sink(struct edr_snapstream *s, const unsigned char *p, size_t n) {
  if (n == 0)
    return 0;
  /* The first message announced the size: a member that sends more is not
   * etcd (or is broken), and would fill this machine's disk. */
  if (s->expected && s->bytes + n > s->expected)
    return ss_fail(s, EDR_ETOOBIG, "the stream goes on past the %" PRIu64 " bytes "
                   "its first message announced", s->expected);
  int rc = s->sink(s->sink_arg, p, n, &s->err);
  if (rc < 0) {
    if (s->err.code != rc)  /* a sink that set no message */
      edr_error_set(&s->err, rc, "%s", edr_strerror(rc));
    return rc;
  }
  s->bytes += n;
  return 0;
}

/* Decode one base64 blob straight to the sink, a piece at a time: OpenSSL's
 * decoder keeps its state between pieces, so no buffer as large as the
 * blob is needed. */
enum {
  B64_PIECE = 4000,         /* base64 characters decoded per call */
  B64_BUFFERED = 80,        /* what OpenSSL's decoder may hold back between calls */
  SS_LINE_MIN_CAP = 65536,  /* the first buffer for a line cut in pieces */
  SS_MIN_IMAGE = 1024,      /* fewer bytes of bbolt image cannot be a snapshot */
};

static int ss_blob(struct edr_snapstream *s, const char *b64, size_t n) {
  EVP_ENCODE_CTX *ctx = s->b64;
  unsigned char out[4096];
  int outl;
  static_assert((B64_PIECE + B64_BUFFERED) / 4 * 3 <= sizeof out,
                "a decoded piece fits the buffer");
  EVP_DecodeInit(ctx);
  for (size_t off = 0; off < n;) {
    size_t piece = n - off < B64_PIECE ? n - off : B64_PIECE;
    if (EVP_DecodeUpdate(ctx, out, &outl, (const unsigned char *)b64 + off,
                         (int)piece) < 0)
      return ss_fail(s, EDR_EHTTP, "message %" PRIu64 " has a blob that is "
                     "not base64", s->messages);
    off += piece;
    assert(outl >= 0 && (size_t)outl <= sizeof out);
    if (ss_sink(s, out, (size_t)outl))
      return s->err.code;
  }
  if (EVP_DecodeFinal(ctx, out, &outl) < 0)
    return ss_fail(s, EDR_EHTTP, "message %" PRIu64 " has a truncated "
                   "base64 blob", s->messages);
  return ss_sink(s, out, (size_t)outl);
}

/* An integer the gateway sends as a string ("1593344") or a number. */
static uint64_t json_u64(json_t *v) {
  if (json_is_integer(v))
    return json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
  if (json_is_string(v))
    return strtoull(json_string_value(v), NULL, 10);
  return 0;
}

/* The line etcd 3.4 and 3.5 send, exactly:
 *   {"result":{"remaining_bytes":"N","blob":"BASE64"}}   (remaining_bytes
 * omitted when 0), decoded in place without building a JSON tree: jansson
 * would copy and check every one of the snapshot's bytes.  Returns false,
 * having done nothing, for any other shape; ss_line then parses it. */
static bool ss_fast_line(struct edr_snapstream *s, const char *p, size_t n,
                         int *rc) {
  static const char head[] = "{\"result\":{", rem[] = "\"remaining_bytes\":\"",
                    blob[] = "\"blob\":\"", tail[] = "\"}}";
  const char *end = p + n, *q = p, *digits = NULL;
#define EAT(lit) (end - q >= (ptrdiff_t)sizeof lit - 1 && \
                  !memcmp(q, lit, sizeof lit - 1) && (q += sizeof lit - 1))
  if (!EAT(head))
    return false;
  if (EAT(rem)) {
    digits = q;
    while (q < end && *q >= '0' && *q <= '9')
      q++;
    if (q == digits || !EAT("\","))
      return false;
  }
  if (!EAT(blob))
    return false;
#undef EAT
  const char *b = q;
  if (end - b < (ptrdiff_t)sizeof tail - 1 ||
      memcmp(end - (sizeof tail - 1), tail, sizeof tail - 1) != 0)
    return false;
  size_t bl = (size_t)(end - (sizeof tail - 1) - b);
  if (memchr(b, '"', bl) || memchr(b, '\\', bl))
    return false;
  uint64_t before = s->bytes;
  s->messages++;
  *rc = bl ? ss_blob(s, b, bl) : 0;
  if (!*rc && s->messages == 1)
    s->expected = (s->bytes - before) +
                  (digits ? strtoull(digits, NULL, 10) : 0) + EDR_SNAP_TRAILER;
  return true;
}

static int ss_line(struct edr_snapstream *s, const char *p, size_t n) {
  while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  if (n == 0)
    return 0;
  int rc = 0;
  if (ss_fast_line(s, p, n, &rc))
    return rc;
  json_error_t je;
  json_t *j = json_loadb(p, n, 0, &je);
  if (!json_is_object(j)) {
    json_decref(j);
    return ss_fail(s, EDR_EHTTP, "the answer is not etcd's snapshot stream "
                   "(line %" PRIu64 " is not a JSON object: %s)",
                   s->messages + 1, je.text);
  }
  json_t *err = json_object_get(j, "error");
  json_t *res = json_object_get(j, "result");
  if (json_is_object(err)) {
    const char *m = json_string_value(json_object_get(err, "message"));
    rc = ss_fail(s, EDR_EREMOTE, "etcd ended the stream with an error: %s "
                 "(grpc code %" JSON_INTEGER_FORMAT ")",
                 m ? m : "(no message)",
                 json_integer_value(json_object_get(err, "grpc_code")));
  } else if (!json_is_object(res)) {
    rc = ss_fail(s, EDR_EHTTP, "the answer is not etcd's snapshot stream "
                 "(message %" PRIu64 " has no \"result\")", s->messages + 1);
  } else {
    json_t *blob = json_object_get(res, "blob");  /* absent when empty */
    s->messages++;
    if (blob && !json_is_string(blob)) {
      rc = ss_fail(s, EDR_EHTTP, "message %" PRIu64 ": \"blob\" is not a "
                   "string", s->messages);
    } else {
      size_t bl = blob ? json_string_length(blob) : 0;
      uint64_t before = s->bytes;
      if (bl)
        rc = ss_blob(s, json_string_value(blob), bl);
      /* The first message says how much follows it: with its own blob and
       * the 32-byte digest sent last, that is the file's size. */
      if (!rc && s->messages == 1)
        s->expected = (s->bytes - before) +
                      json_u64(json_object_get(res, "remaining_bytes")) + EDR_SNAP_TRAILER;
    }
  }
  json_decref(j);
  return rc;
}

int edr_snapstream_feed(struct edr_snapstream *s, const char *data,
                        size_t len) {
  while (len > 0 && !s->err.code) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) : len;
    if (s->len == 0 && nl) {
      ss_line(s, data, take);  /* a whole line in place: no copy */
    } else {
      if (take > EDR_SNAPSTREAM_MAX_LINE - s->len)
        return ss_fail(s, EDR_ETOOBIG, "a message of the stream is longer "
                       "than %u bytes", EDR_SNAPSTREAM_MAX_LINE);
      if (s->len + take > s->cap) {
        size_t cap = s->cap ? s->cap : SS_LINE_MIN_CAP;
        while (cap < s->len + take)
          cap *= 2;
        char *b = realloc(s->line, cap);
        if (!b)
          return ss_fail(s, EDR_ENOMEM, "out of memory");
        s->line = b;
        s->cap = cap;
      }
      assert(s->len + take <= s->cap);
      memcpy(s->line + s->len, data, take);
      s->len += take;
      if (nl) {
        ss_line(s, s->line, s->len);
        s->len = 0;
      }
    }
    take += nl ? 1 : 0;
    data += take;
    len -= take;
  }
  return s->err.code;
}

int edr_snapstream_end(struct edr_snapstream *s) {
  if (s->err.code)
    return s->err.code;
  if (s->len) {
    ss_line(s, s->line, s->len);
    s->len = 0;
    if (s->err.code)
      return s->err.code;
  }
  if (s->messages == 0)
    return ss_fail(s, EDR_EHTTP, "the member sent no snapshot data");
  if (s->bytes < EDR_SNAP_TRAILER + SS_MIN_IMAGE)
    return ss_fail(s, EDR_ECORRUPT, "the stream held only %" PRIu64
                   " bytes: too short for a snapshot", s->bytes);
  if (s->expected && s->bytes != s->expected)
    return ss_fail(s, EDR_ECONNLOST, "the stream ended after %" PRIu64
                   " of %" PRIu64 " bytes", s->bytes, s->expected);
  return 0;
}
