/*
 * httpchunk.c - the chunked transfer decoder (httpchunk.h): a state per
 * place in the coding (size line, data, the CRLF after the data, trailer
 * lines), lines collected in the fixed buffer, data passed through as it
 * comes.
 */
#include "httpchunk.h"

#include "err.h"

#include <string.h>

enum {
  DC_SIZE,     /* the size line: hex digits, then ";ext" or blanks */
  DC_DATA,     /* d->left bytes of data */
  DC_DATA_END, /* the empty line (CRLF) after the data */
  DC_TRAILER,  /* header lines after the last chunk, until an empty one */
  DC_DONE,
};

/* Chunks are at most this long: a size beyond it is not etcd's (nor any
 * server's worth following). */
#define DC_MAX_CHUNK (1ULL << 40)

void edr_dechunk_init(struct edr_dechunk *d, edr_dechunk_out out, void *arg) {
  memset(d, 0, sizeof *d);
  d->out = out;
  d->arg = arg;
  d->state = DC_SIZE;
}

bool edr_dechunk_done(const struct edr_dechunk *d) { return d->state == DC_DONE && !d->status; }

static int dc_fail(struct edr_dechunk *d, int status) {
  d->status = status;
  return status;
}

/* A whole line (without its LF; a CR before it removed) in the state it
 * ends. */
static int dc_line(struct edr_dechunk *d) {
  char *l = d->line;
  size_t n = d->llen;
  if (n && l[n - 1] == '\r')
    n--;
  l[n] = '\0';
  d->llen = 0;
  switch (d->state) {
  case DC_SIZE: {
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n; i++) {
      char c = l[i];
      int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (x < 0)
        break;
      if (v > DC_MAX_CHUNK >> 4)
        return dc_fail(d, EDR_EHTTP);
      v = v << 4 | (uint64_t)x;
    }
    if (i == 0 || v > DC_MAX_CHUNK || (i < n && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
      return dc_fail(d, EDR_EHTTP);
    d->left = v;
    d->state = v ? DC_DATA : DC_TRAILER;
    return 0;
  }
  case DC_DATA_END:
    if (n)
      return dc_fail(d, EDR_EHTTP);
    d->state = DC_SIZE;
    return 0;
  case DC_TRAILER:
    if (!n)
      d->state = DC_DONE;
    return 0;
  default:
    return dc_fail(d, EDR_EHTTP);
  }
}

int edr_dechunk_feed(struct edr_dechunk *d, const char *data, size_t len) {
  while (len && !d->status && d->state != DC_DONE) {
    if (d->state == DC_DATA) {
      size_t take = d->left < len ? (size_t)d->left : len;
      int rc = d->out(d->arg, data, take);
      if (rc)
        return dc_fail(d, rc);
      d->left -= take;
      data += take;
      len -= take;
      if (!d->left)
        d->state = DC_DATA_END;
      continue;
    }
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) : len;
    if (take > EDR_DECHUNK_MAX_LINE - d->llen)
      return dc_fail(d, EDR_EHTTP);
    memcpy(d->line + d->llen, data, take);
    d->llen += take;
    data += take;
    len -= take;
    if (nl) {
      data++;
      len--;
      if (dc_line(d))
        return d->status;
    }
  }
  return d->status;
}
