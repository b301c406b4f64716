/*
 * transfer.c - file contents in and out of the host: `receive` (a file
 * pushed by the coordinator, relayed by the previous host or copied from
 * one on this host; plain or compressed with zstd (zframe.h) and then
 * decompressed as it comes; hashed while it is written to a .part,
 * forwarded unchanged to the next host as it comes, and renamed into place
 * only when its SHA-256 matches), `snapshot-check` (a snapshot on this host
 * as the run's source), `send` (a file streamed to the coordinator),
 * `hash`, `read` (a small text file) and `db-info` (revision, consistent
 * index and term of a bbolt file).  The stream's bytes belong to
 * protocol.c's buffer; each op keeps one static I/O buffer; the relay's
 * sockets are relay_io.c's.
 */
#include "agent.h"

#include "fields.h"
#include "files.h"
#include "ops.h"
#include "relay_io.h"
#include "safepath.h"

#include "bbolt.h"
#include "err.h"
#include "sha256.h"
#include "snapfile.h"
#include "util.h"
#include "zframe.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

static const uint64_t RECV_SIZE_MAX = 1ULL << 40; /* 1 TiB */

/* Where a receive's bytes come from, and where they also go: the wire
 * stream (the file, or its zstd form) as it came, forwarded unchanged. */
struct recv_io {
  const char *source;        /* a file on this host, or NULL */
  json_t *listen, *forward;  /* relay objects, or NULL */
  bool from_stdin;           /* the coordinator's stream: consumed whatever happens */
  int sfd;                   /* the source file */
  struct relay_in in;
  struct relay_out out;
  bool in_open, out_open, forwarding;
  size_t in_pos, in_len;     /* the unread part of in.plain */
  bool in_last;              /* the predecessor's last record came */
  uint64_t next_event;       /* file bytes at which the next progress event goes */
};

static struct recv_io rio;

/* The bytes' origin and the next host, before any byte is read.  Only the
 * coordinator's stream must be consumed whatever happens; the others end. */
static int recv_open(struct agent *a, json_t *req, json_int_t size) {
  uint8_t key[EDR_RELAY_KEY];
  int rc = 0;
  if (rio.listen || rio.forward)
    rc = relay_key(a, req, key);
  if (!rc && rio.source) {
    struct stat st;
    int fd = open_regular(a, rio.source, &st);
    if (fd < 0)
      return fd;
    rio.sfd = fd;
    if ((uint64_t)st.st_size != (uint64_t)size)
      return agent_fail(a, EDR_EIO, "'%s' has %lld bytes now, %" JSON_INTEGER_FORMAT
                        " when it was checked: it changed; run again", rio.source,
                        (long long)st.st_size, size);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  if (!rc && rio.listen) {
    rc = relay_in_accept(a, rio.listen, key, &rio.in);
    rio.in_open = true;
  }
  if (!rc && rio.forward) {
    rc = relay_out_connect(a, rio.forward, key, &rio.out);
    rio.out_open = true;
    rio.forwarding = !rc;
  }
  return rc;
}

static void recv_io_close(void) {
  if (rio.in_open)
    relay_in_close(&rio.in);
  if (rio.out_open)
    relay_out_close(&rio.out);
  if (rio.sfd >= 0)
    close(rio.sfd);
  rio.sfd = -1;
  rio.in_open = rio.out_open = rio.forwarding = false;
}

/* One `receive` under way: where its bytes go and what they hash to. */
struct recv {
  struct agent *a;
  const char *path, *part, *pname;
  int fd, dfd;
  bool trailer;
  uint64_t size, image;     /* the file's bytes; those before the trailer */
  uint64_t got;             /* file bytes so far (decompressed, for "zstd") */
  unsigned char tail[32];
  struct edr_sha256 ctx;
  int rc;
  bool stopped;             /* an origin other than the coordinator's stream ended */
};

/* Another origin than the coordinator's stream stops at the first failure
 * (RC, or the one already recorded): nothing more is read from it. */
static ssize_t recv_stop(struct recv *r, int rc) {
  if (!r->rc)
    r->rc = rc;
  r->stopped = true;
  return 0;
}

/* Up to N bytes of the wire stream from the request's origin into BUF,
 * sent on to the next host before this one uses them: their count; 0 or
 * less at the end of the coordinator's stream, or 0 with R->stopped. */
static ssize_t wire_read(struct recv *r, unsigned char *buf, size_t n) {
  struct agent *a = r->a;
  ssize_t got;
  if (!rio.from_stdin && r->rc)
    return recv_stop(r, r->rc);
  if (rio.from_stdin) {
    got = agent_read(a, buf, n);
    if (got <= 0)
      return got;
  } else if (rio.source) {
    do
      got = read(rio.sfd, buf, n);
    while (got < 0 && errno == EINTR);
    if (got < 0)
      return recv_stop(r, agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s",
                                     rio.source, agent_errstr(errno)));
    if (got == 0)
      return recv_stop(r, agent_fail(a, EDR_EIO, "'%s' shrank while it was read",
                                     rio.source));
  } else {
    while (rio.in_pos == rio.in_len) {
      if (rio.in_last)
        return recv_stop(r, agent_fail(a, EDR_EPROTO, "the relay stream from %s ended before "
                                       "the snapshot did: refused", rio.in.peer));
      long k = relay_in_read(a, &rio.in, r->path ? r->path : "?", &rio.in_last);
      if (k < 0)
        return recv_stop(r, (int)k);
      rio.in_pos = 0;
      rio.in_len = (size_t)k;
    }
    got = (ssize_t)(rio.in_len - rio.in_pos < n ? rio.in_len - rio.in_pos : n);
    memcpy(buf, rio.in.plain + rio.in_pos, (size_t)got);
    rio.in_pos += (size_t)got;
  }
  if (rio.forwarding && !r->rc) {
    int rc = relay_out_write(a, &rio.out, buf, (size_t)got, false);
    if (rc) {
      r->rc = rc;
      rio.forwarding = false;
    }
  }
  if (!rio.from_stdin && agent_input_gone(a)) /* nobody would hear the reply */
    return recv_stop(r, agent_fail(a, EDR_ECONNLOST, "the coordinator's connection closed "
                                   "after %" PRIu64 " of %" PRIu64 " bytes for '%s': stopping",
                                   r->got, r->size, r->path));
  if (!rio.from_stdin && r->got >= rio.next_event) { /* keeps the coordinator's stall bound */
    agent_event(a, json_pack("{s:s, s:I}", "event", "progress", "bytes", (json_int_t)r->got));
    rio.next_event = r->got + (64ULL << 20);
  }
  return got;
}

/* The wire stream ended where the request's bytes did: the predecessor's
 * stream must end here too, and the next host's is ended. */
static void wire_end(struct recv *r, unsigned char *buf) {
  if (r->rc)
    return;
  if (rio.in_open && rio.in_pos == rio.in_len && !rio.in_last) {
    long k = relay_in_read(r->a, &rio.in, r->path, &rio.in_last);
    if (k < 0) {
      recv_stop(r, (int)k);
      return;
    }
    rio.in_pos = 0;
    rio.in_len = (size_t)k;
  }
  if (rio.in_open && (rio.in_pos != rio.in_len || !rio.in_last)) {
    recv_stop(r, agent_fail(r->a, EDR_EPROTO, "the relay stream from %s carries more bytes "
                            "than announced: refused", rio.in.peer));
    return;
  }
  if (rio.forwarding)
    r->rc = relay_out_write(r->a, &rio.out, buf, 0, true);
}

/* N bytes of the file: hashed (with a trailer, the image only, and the last
 * 32 bytes kept to compare: each byte is hashed once) and written to the
 * .part, unless writing failed before. */
static void recv_take(struct recv *r, const unsigned char *buf, size_t n) {
  uint64_t got = r->got, image = r->image;
  if (got < image)
    edr_sha256_update(&r->ctx, buf, (size_t)(got + n <= image ? n : image - got));
  for (uint64_t p = got > image ? got : image; p < got + n; p++)
    r->tail[p - image] = buf[p - got];
  r->got += n;
  for (size_t off = 0; r->fd >= 0 && off < n;) {
    ssize_t w = write(r->fd, buf + off, n - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = w < 0 ? errno : ENOSPC;
      if (!r->rc)
        r->rc = agent_fail(r->a, edr_from_errno(e), "cannot write '%s' after %" PRIu64
                           " bytes: %s", r->part, got + off, agent_errstr(e));
      close(r->fd);
      r->fd = -1;
      unlinkat(r->dfd, r->pname, 0);
      break;
    }
    off += (size_t)w;
  }
}

/* The stream ended before the request's bytes did: nothing more can be read
 * in step.  Another origin has already said why it stopped. */
static void recv_lost(struct recv *r, uint64_t got, const char *what) {
  if (r->stopped)
    return;
  r->a->fatal = true;
  r->rc = agent_fail(r->a, EDR_ECONNLOST, "stream ended after %" PRIu64 " of %" PRIu64
                     " %s for '%s'", got, r->size, what, r->path ? r->path : "?");
}

/* Consume exactly SIZE raw bytes whatever happened before. */
static void recv_plain(struct recv *r, unsigned char *buf, size_t cap) {
  while (r->got < r->size) {
    uint64_t left = r->size - r->got;
    ssize_t n = wire_read(r, buf, left < cap ? (size_t)left : cap);
    if (n <= 0) {
      recv_lost(r, r->got, "bytes");
      return;
    }
    recv_take(r, buf, (size_t)n);
  }
  wire_end(r, buf);
}

static bool read_full(struct recv *r, unsigned char *buf, size_t n) {
  for (size_t k = 0; k < n;) {
    ssize_t got = wire_read(r, buf + k, n - k);
    if (got <= 0)
      return false;
    k += (size_t)got;
  }
  return true;
}

/* The zstd form (zframe.h): chunk by chunk to the end marker, whatever the
 * decompressor says, so that a corrupt stream leaves the agent in step.
 * The file's bytes are what comes out; they must be exactly SIZE.
 * *WIRE: the bytes read off the stream. */
static void recv_zstd(struct recv *r, unsigned char *buf, size_t cap, uint64_t *wire) {
  static unsigned char out[RECV_BUF];
  ZSTD_DCtx *dz = ZSTD_createDCtx();
  bool bad = !dz; /* stop decompressing; keep reading */
  if (!dz && !r->rc)
    r->rc = agent_fail(r->a, EDR_ENOMEM, "cannot decompress '%s': out of memory", r->path);
  if (dz)
    ZSTD_DCtx_setParameter(dz, ZSTD_d_windowLogMax, ZF_WINDOW_LOG_MAX);
  size_t hint = 1; /* 0 once a frame ended exactly where the input did */
  for (;;) {
    unsigned char hdr[ZF_HDR];
    if (!read_full(r, hdr, sizeof hdr)) {
      recv_lost(r, *wire, "compressed bytes read");
      break;
    }
    *wire += ZF_HDR;
    uint32_t len = zf_get_len(hdr);
    if (len == 0)
      break;
    if (len > ZF_CHUNK_MAX) { /* cannot be skipped safely */
      r->a->fatal = rio.from_stdin;
      r->rc = agent_fail(r->a, EDR_EPROTO, "a compressed chunk of %" PRIu32 " bytes for "
                         "'%s' (at most %d): the stream is out of step", len,
                         r->path ? r->path : "?", ZF_CHUNK_MAX);
      r->stopped = !rio.from_stdin;
      break;
    }
    while (len) {
      ssize_t n = wire_read(r, buf, len < cap ? len : cap);
      if (n <= 0) {
        recv_lost(r, *wire, "compressed bytes read");
        goto out;
      }
      len -= (uint32_t)n;
      *wire += (uint64_t)n;
      ZSTD_inBuffer in = {buf, (size_t)n, 0};
      bool full = false;
      while (!bad && (in.pos < in.size || full)) {
        ZSTD_outBuffer o = {out, sizeof out, 0};
        size_t z = ZSTD_decompressStream(dz, &o, &in);
        if (ZSTD_isError(z) || r->got + o.pos > r->size) {
          bad = true;
          char why[80];
          snprintf(why, sizeof why, "%s", ZSTD_isError(z) ? ZSTD_getErrorName(z)
                                                          : "it decompresses to more than 'size'");
          for (char *c = why; *c; c++)
            *c = (char)tolower((unsigned char)*c);
          /* a corrupt stream outranks what it caused (a hash mismatch) */
          r->rc = agent_fail(r->a, EDR_ECORRUPT, "the compressed stream for '%s' is corrupt "
                             "(%s after %" PRIu64 " bytes of it): nothing was kept; run "
                             "again, or with --compress off", r->path ? r->path : "?", why,
                             *wire);
          break;
        }
        recv_take(r, out, o.pos);
        full = o.pos == o.size;
        hint = z;
      }
    }
  }
  if (!bad && !r->a->fatal && !r->stopped && (hint != 0 || r->got != r->size))
    r->rc = agent_fail(r->a, EDR_ECORRUPT, "the compressed stream for '%s' %s: nothing was "
                       "kept; run again, or with --compress off", r->path ? r->path : "?",
                       hint != 0 ? "ends inside a zstd frame"
                                 : "decompresses to fewer bytes than 'size'");
  if (!r->stopped && !r->a->fatal)
    wire_end(r, buf);
out:
  ZSTD_freeDCtx(dz);
}

int op_receive(struct agent *a, json_t *req, json_t *res) {
  json_int_t size = -1;
  const char *path = NULL, *want = NULL, *enc = NULL;
  static unsigned char buf[RECV_BUF];
  int rc;

  memset(&rio, 0, sizeof rio);
  rio.sfd = -1;
  rio.in.fd = rio.out.fd = -1;
  rio.listen = json_object_get(req, "listen");
  rio.forward = json_object_get(req, "forward");
  /* Without a trustworthy size and encoding the stream cannot be kept in step. */
  if ((rc = field_int(a, req, "size", false, 0, (json_int_t)RECV_SIZE_MAX, &size)) ||
      (rc = field_str(a, req, "encoding", true, &enc))) {
    a->fatal = true;
    return rc;
  }
  bool zstd = enc && !strcmp(enc, "zstd");
  if (enc && !zstd && strcmp(enc, "identity")) {
    a->fatal = true;
    return agent_fail(a, EDR_EINVAL, "field 'encoding' is '%.40s', expected 'zstd' or "
                      "'identity'", enc);
  }
  bool trailer = false;
  rc = field_file_path(a, req, "path", &path);
  if (!rc)
    rc = field_str(a, req, "sha256", false, &want);
  if (!rc)
    rc = field_bool(a, req, "trailer", &trailer);
  if (!rc)
    rc = field_path(a, req, "source", true, &rio.source);
  if (!rc && ((rio.listen && !json_is_object(rio.listen)) ||
              (rio.forward && !json_is_object(rio.forward))))
    rc = agent_fail(a, EDR_EINVAL, "fields 'listen' and 'forward' must be objects");
  if (!rc && rio.listen && rio.source)
    rc = agent_fail(a, EDR_EINVAL, "'listen' and 'source' both given: one origin only");
  rio.from_stdin = !rio.listen && !rio.source;
  if (!rc && zstd && rio.source)
    rc = agent_fail(a, EDR_EINVAL, "'source' with encoding 'zstd': a file on this host "
                    "goes as it is");
  if (!rc && trailer && (size < 32 || size % 512 != 32))
    rc = agent_fail(a, EDR_EINVAL, "'trailer' for a size of %" JSON_INTEGER_FORMAT
                    " bytes, which cannot have one", size);
  if (!rc && !field_is_sha256(want))
    rc = agent_fail(a, EDR_EINVAL, "field 'sha256' is '%.80s', expected 64 "
                    "lowercase hex digits", want);
  char part[PATH_MAX + 8] = "", name[NAME_MAX + 1], pname[NAME_MAX + 8] = "";
  int fd = -1, dfd = -1;
  bool created = false; /* only a .part we opened is ever unlinked */
  struct stat st;
  if (!rc && (dfd = safe_open_parent(a, path, name, true, NULL)) < 0)
    rc = dfd;
  if (!rc && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    rc = agent_fail(a, EDR_EEXIST, "'%s' already exists (%s), not overwriting it",
                    path, agent_kind_of(st.st_mode));
  if (!rc && strlen(name) + 5 > NAME_MAX)
    rc = agent_fail(a, EDR_EINVAL, "'%s': its last component is too long", path);
  if (!rc) {
    snprintf(part, sizeof(part), "%s.part", path);
    snprintf(pname, sizeof(pname), "%s.part", name);
    /* A new file, never one found there: a .part left by a cut-short push,
     * or one someone else made (a hard link to another file, a file they
     * own and can change after the hash), is unlinked first. */
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    fd = openat(dfd, pname, flags, 0600);
    if (fd < 0 && errno == EEXIST && unlinkat(dfd, pname, 0) == 0)
      fd = openat(dfd, pname, flags, 0600);
    if (fd < 0)
      rc = agent_fail(a, edr_from_errno(errno), "cannot create '%s': %s", part,
                      agent_errstr(errno));
    created = fd >= 0;
  }
  if (!rc)
    rc = recv_open(a, req, size);

  /* Consume the whole payload of the coordinator's stream whatever
   * happened above, hashing what came; another origin just ends. */
  struct recv r = {.a = a, .path = path, .part = part, .pname = pname, .fd = fd, .dfd = dfd,
                   .trailer = trailer, .size = (uint64_t)size, .rc = rc};
  r.image = trailer ? r.size - 32 : r.size;
  edr_sha256_init(&r.ctx);
  rio.next_event = 64ULL << 20;
  uint64_t wire = 0;
  if (zstd)
    recv_zstd(&r, buf, sizeof buf, &wire);
  else
    recv_plain(&r, buf, sizeof buf);
  recv_io_close();
  rc = r.rc;
  fd = r.fd;
  unsigned char md[32];
  char hex[65];
  edr_sha256_final(&r.ctx, md);
  edr_hex(md, 32, hex);
  json_object_set_new(res, "bytes", json_integer((json_int_t)r.got));
  json_object_set_new(res, "sha256", json_string(hex));
  if (zstd)
    json_object_set_new(res, "wire_bytes", json_integer((json_int_t)wire));

  if (fd >= 0 && !rc && fsync(fd) != 0)
    rc = agent_fail(a, edr_from_errno(errno), "cannot fsync '%s': %s", part,
                    agent_errstr(errno));
  if (fd >= 0 && close(fd) != 0 && !rc)
    rc = agent_fail(a, edr_from_errno(errno), "cannot close '%s': %s", part,
                    agent_errstr(errno));
  if (!rc && strcmp(hex, want) != 0)
    rc = agent_fail(a, EDR_EHASH, "sha-256 of '%s'%s is %s, expected %s", path,
                    trailer ? " (before its trailer)" : "", hex, want);
  if (!rc && trailer && memcmp(r.tail, md, 32) != 0)
    rc = agent_fail(a, EDR_EHASH, "the sha-256 trailer of '%s' does not match its contents",
                    path);
  if (!rc && rename_noreplace_at(dfd, pname, dfd, name) != 0)
    rc = agent_fail(a, edr_from_errno(errno), "cannot rename '%s' to '%s': %s", part,
                    path, agent_errstr(errno));
  if (rc) {
    if (created)
      unlinkat(dfd, pname, 0);
    if (dfd >= 0)
      close(dfd);
    return rc;
  }
  rc = safe_fsync_dir(dfd);
  close(dfd);
  if (rc)
    return agent_fail(a, rc, "cannot fsync the directory of '%s': %s", path,
                      edr_strerror(rc));
  return 0;
}

/* REQ's "path", a regular file (not a symlink) opened for reading: the
 * descriptor, or a negative code after agent_fail(). */
static int open_path_field(struct agent *a, json_t *req, const char **path, struct stat *st) {
  int rc = field_path(a, req, "path", false, path);
  return rc ? rc : open_regular(a, *path, st);
}

/* A snapshot file on this host as the run's source (--snapshot HOST:PATH,
 * --from-member): its size, the SHA-256 of its image and whether its
 * integrity trailer matches, and its revision. */
int op_snapshot_check(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  struct stat st;
  int rc, fd = open_path_field(a, req, &path, &st);
  if (fd < 0)
    return fd;
  close(fd);
  struct edr_snapfile sf;
  if ((rc = edr_snapfile_check(path, &sf)))
    return agent_fail(a, rc, "cannot read '%s': %s", path, edr_strerror(rc));
  int64_t rev = -1;
  bool corrupt = edr_bolt_revision(path, &rev) == EDR_ECORRUPT;
  json_object_set_new(res, "bytes", json_integer((json_int_t)sf.size));
  json_object_set_new(res, "bolt_corrupt", json_boolean(corrupt));
  json_object_set_new(res, "has_trailer", json_boolean(sf.has_trailer));
  json_object_set_new(res, "trailer_ok", json_boolean(sf.trailer_ok));
  json_object_set_new(res, "image_sha256", json_string(sf.image_sha256));
  json_object_set_new(res, "file_sha256", json_string(sf.file_sha256));
  json_object_set_new(res, "revision", json_integer(rev));
  return 0;
}

int op_db_info(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  int rc;
  if ((rc = field_path(a, req, "path", false, &path)))
    return rc;
  struct stat st;
  if (stat(path, &st) != 0)
    return agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path,
                      errno == ENOENT ? "it does not exist" : agent_errstr(errno));
  if (!S_ISREG(st.st_mode))
    return agent_fail(a, EDR_EINVAL, "'%s' is %s, expected a bbolt file", path,
                      agent_kind_of(st.st_mode));
  /* Only the meta bucket and the last key: cheap even for a big db. */
  struct edr_bolt *db = NULL;
  struct edr_error err = EDR_ERROR_INIT;
  if ((rc = edr_bolt_open(path, &db, &err))) {
    agent_fail(a, rc, "cannot read '%s' as a bbolt file: %s", path,
               err.msg.len ? err.msg.buf : edr_strerror(rc));
    edr_error_release(&err);
    return rc;
  }
  struct {
    bool has_ci, has_term;
    uint64_t ci, term;
  } m;
  rc = edr_bolt_meta_index(db, &m.has_ci, &m.ci, &m.has_term, &m.term);
  if (rc && rc != EDR_ENOENT) {
    const char *why = edr_bolt_errmsg(db);
    agent_fail(a, rc, "cannot read bucket 'meta' of '%s': %s", path,
               why[0] ? why : edr_strerror(rc));
  }
  edr_bolt_close(db);
  if (rc && rc != EDR_ENOENT)
    return rc;
  int64_t rev = 0;
  if ((rc = edr_bolt_revision(path, &rev)))
    return agent_fail(a, rc, "cannot read the revision of '%s': %s", path,
                      edr_strerror(rc));
  json_object_set_new(res, "revision", json_integer(rev));
  json_object_set_new(res, "consistent_index",
                      m.has_ci ? json_integer((json_int_t)m.ci) : json_null());
  json_object_set_new(res, "term", m.has_term ? json_integer((json_int_t)m.term)
                                              : json_null());
  return 0;
}

int op_hash(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  char hex[65];
  uint64_t bytes;
  struct stat st;
  int rc, fd = open_path_field(a, req, &path, &st);
  if (fd < 0)
    return fd;
  rc = sha256_fd(a, fd, path, hex, &bytes);
  close(fd);
  if (rc)
    return rc;
  json_object_set_new(res, "bytes", json_integer((json_int_t)bytes));
  json_object_set_new(res, "sha256", json_string(hex));
  return 0;
}

/* A small text file (a marker, a lock's holder) as a JSON string. */
int op_read(struct agent *a, json_t *req, json_t *res) {
  enum { READ_MAX = 64 * 1024 };
  const char *path;
  json_int_t max = READ_MAX;
  int rc;
  bool own = false;
  if ((rc = field_path(a, req, "path", false, &path)) ||
      (rc = field_int(a, req, "max_bytes", true, 0, READ_MAX, &max)) ||
      (rc = field_bool(a, req, "own", &own)))
    return rc;
  struct stat st;
  int fd = open_regular(a, path, &st);
  if (fd < 0)
    return fd;
  if (own && (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
    close(fd);
    return agent_fail(a, EDR_EACCES, "'%s' belongs to uid %lu with mode %04o: not a "
                      "file etcd-dr wrote; remove it and run again", path,
                      (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
  }
  static char buf[READ_MAX + 1];
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, (size_t)max + 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path,
                      agent_errstr(errno));
      break;
    }
    len += (size_t)r;
    if (r == 0 || len > (size_t)max)
      break;
  }
  close(fd);
  if (rc)
    return rc;
  if (len > (size_t)max)
    return agent_fail(a, EDR_ETOOBIG, "'%s' is larger than %" JSON_INTEGER_FORMAT
                      " bytes", path, max);
  unsigned char md[32];
  char hex[65];
  edr_sha256(buf, len, md);
  edr_hex(md, 32, hex);
  json_object_set_new(res, "bytes", json_integer((json_int_t)len));
  json_object_set_new(res, "sha256", json_string(hex));
  json_object_set_new(res, "text", agent_json_bytes(buf, len));
  return 0;
}

/* Stream a regular file to the coordinator: an event line
 * {"event":"data","bytes":SIZE}, exactly SIZE raw bytes, then the reply with
 * the SHA-256 of those bytes.  Once the event is out, SIZE bytes follow
 * whatever happens (zeros stand in for what could not be read, and the reply
 * is then an error), so the stream stays in step.  Memory: one buffer. */
int op_send(struct agent *a, json_t *req, json_t *res) {
  static unsigned char buf[RECV_BUF];
  const char *path;
  int rc;
  if ((rc = field_file_path(a, req, "path", &path)))
    return rc;
  struct stat st;
  int fd = open_regular(a, path, &st);
  if (fd < 0)
    return fd;
  if ((uint64_t)st.st_size > RECV_SIZE_MAX) {
    close(fd);
    return agent_fail(a, EDR_ETOOBIG, "'%s' is larger than 1 TiB", path);
  }
  struct edr_sha256 ctx;
  edr_sha256_init(&ctx);
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t size = (uint64_t)st.st_size, sent = 0, read_ok = 0;
  agent_event(a, json_pack("{s:s, s:I}", "event", "data", "bytes", (json_int_t)size));
  while (sent < size) {
    size_t want = size - sent < sizeof buf ? (size_t)(size - sent) : sizeof buf;
    ssize_t r = 0;
    if (!rc) {
      do
        r = read(fd, buf, want);
      while (r < 0 && errno == EINTR);
      if (r <= 0) {
        rc = r < 0 ? agent_fail(a, edr_from_errno(errno), "cannot read '%s' after %" PRIu64
                                " bytes: %s", path, sent, agent_errstr(errno))
                   : agent_fail(a, EDR_EIO, "'%s' shrank while being sent: %" PRIu64
                                " of %" PRIu64 " bytes", path, sent, size);
        r = 0;
      }
      read_ok += (uint64_t)r;
    }
    if (r == 0) { /* keep the stream in step: zeros for what is missing */
      memset(buf, 0, want);
      r = (ssize_t)want;
    }
    edr_sha256_update(&ctx, buf, (size_t)r);
    if (!agent_write_raw(a, buf, (size_t)r)) {
      if (!rc)
        rc = agent_fail(a, EDR_ECONNLOST, "the coordinator stopped reading '%s' after "
                        "%" PRIu64 " bytes", path, sent);
      break;
    }
    sent += (uint64_t)r;
  }
  close(fd);
  unsigned char md[32];
  char hex[65];
  edr_sha256_final(&ctx, md);
  edr_hex(md, 32, hex);
  json_object_set_new(res, "bytes", json_integer((json_int_t)sent));
  json_object_set_new(res, "bytes_read", json_integer((json_int_t)read_ok));
  json_object_set_new(res, "sha256", json_string(hex));
  return rc;
}
