/*
 * snapshot_file.c - the file a snapshot save writes (snapshot_file.h):
 * FILE.part filled through a write buffer, then synced, checked (the
 * SHA-256 trailer, the revision) and renamed to FILE with its directory
 * synced; the destination's name; and --keep, which removes the oldest
 * saves of a directory.
 */
#include "snapshot_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bbolt.h"
#include "err.h"
#include "snapfile.h"
#include "util.h"

/* ---- the file being written ------------------------------------------------- */

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return edr_from_errno(errno);
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int save_out_flush(struct out_file *f, struct edr_error *err) {
  int rc = write_all(f->fd, f->buf, f->len);
  f->len = 0;
  if (rc < 0)
    edr_error_set(err, rc, "cannot write '%s': %s", f->part, edr_strerror(rc));
  return rc;
}

int save_out_sink(void *arg, const unsigned char *p, size_t n, struct edr_error *err) {
  struct out_file *f = arg;
  while (n > 0) {
    size_t k = SAVE_WBUF_SIZE - f->len < n ? SAVE_WBUF_SIZE - f->len : n;
    assert(f->len + k <= SAVE_WBUF_SIZE);
    memcpy(f->buf + f->len, p, k);
    f->len += k;
    p += k;
    n -= k;
    if (f->len == SAVE_WBUF_SIZE) {
      int rc = save_out_flush(f, err);
      if (rc < 0)
        return rc;
    }
  }
  return 0;
}

bool edr_snapshot_name_ok(const char *name) {
  static const char pat[] = "snapshot-DDDDDDDD-DDDDDDZ.db";
  if (strlen(name) != sizeof pat - 1)
    return false;
  for (size_t i = 0; pat[i]; i++)
    if (pat[i] == 'D' ? name[i] < '0' || name[i] > '9' : name[i] != pat[i])
      return false;
  return true;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return edr_from_errno(errno);
  int rc = fsync(fd) < 0 ? edr_from_errno(errno) : 0;
  close(fd);
  return rc;
}

int save_finish_file(struct out_file *out, struct edr_save_result *res, const char *part,
                     const char *final, const char *dir, const char *who,
                     const char *want_sha256) {
  struct edr_snapfile sf;
  int rc;
  if (fsync(out->fd) < 0) {
    rc = edr_from_errno(errno);
    return edr_error_set(&res->err, rc, "snapshot from %s: cannot sync '%s': %s",
                         who, part, edr_strerror(rc));
  }
  rc = close(out->fd) < 0 ? edr_from_errno(errno) : 0;
  out->fd = -1;
  if (rc < 0)
    return edr_error_set(&res->err, rc, "snapshot from %s: cannot write '%s': "
                         "%s", who, part, edr_strerror(rc));
  if ((rc = edr_snapfile_check(part, &sf)) < 0) {
    return edr_error_set(&res->err, rc, "snapshot from %s: cannot read back "
                         "'%s': %s", who, part, edr_strerror(rc));
  }
  if (want_sha256 && strcmp(want_sha256, sf.file_sha256))
    return edr_error_set(&res->err, EDR_EHASH, "snapshot from %s: the %" PRIu64 " bytes "
                         "received have sha-256 %s, the host sent %s: damaged on the way",
                         who, sf.size, sf.file_sha256, want_sha256);
  if (!sf.has_trailer) {
    return edr_error_set(&res->err, EDR_ENOHASH, "snapshot from %s: %" PRIu64 " bytes "
                         "arrived with no sha-256 trailer (size %% %d is %" PRIu64 ", not %d)",
                         who, sf.size, EDR_SNAP_ALIGN, sf.size % EDR_SNAP_ALIGN, EDR_SNAP_TRAILER);
  }
  if (!sf.trailer_ok)
    return edr_error_set(&res->err, EDR_EHASH, "snapshot from %s: the sha-256 "
                         "trailer does not match the %" PRIu64 " bytes before it: the "
                         "snapshot is damaged", who, sf.size - EDR_SNAP_TRAILER);
  if ((rc = edr_bolt_revision(part, &res->revision)) < 0) {
    return edr_error_set(&res->err, rc, "snapshot from %s: its trailer is "
                         "right but its revision cannot be read: %s", who,
                         edr_strerror(rc));
  }
  if (rename(part, final) < 0) {
    rc = edr_from_errno(errno);
    return edr_error_set(&res->err, rc, "snapshot from %s: cannot rename "
                         "'%s' to '%s': %s", who, part, final, edr_strerror(rc));
  }
  res->size = sf.size;
  memcpy(res->sha256, sf.file_sha256, sizeof res->sha256);
  snprintf(res->path, sizeof res->path, "%s", final);
  if ((rc = fsync_dir(dir)) < 0)
    return edr_error_set(&res->err, rc, "'%s' is written, but its directory "
                         "'%s' cannot be synced (a crash may lose it): %s", final, dir,
                         edr_strerror(rc));
  return 0;
}

int save_make_paths(const struct edr_save_opts *o, char **final, char **part,
                    char **dir, struct edr_error *err) {
  struct stat st;
  if (o->dir) {
    char name[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(name, sizeof name, "snapshot-%Y%m%d-%H%M%SZ.db", &tm);
    if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
      int rc = edr_from_errno(errno);
      return edr_error_set(err, rc, "cannot create '%s': %s", o->dir, edr_strerror(rc));
    }
    *dir = strdup(o->dir);
    *final = edr_path_join(o->dir, name);
  } else {
    const char *slash = strrchr(o->out, '/');
    *dir = slash == o->out ? strdup("/")
           : slash         ? edr_asprintf("%.*s", (int)(slash - o->out), o->out)
                           : strdup(".");
    *final = strdup(o->out);
  }
  *part = *final ? edr_asprintf("%s.part", *final) : NULL;
  if (!*dir || !*final || !*part)
    return edr_error_set(err, EDR_ENOMEM, "out of memory");
  if (stat(*final, &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return edr_error_set(err, EDR_EINVAL, "'%s' is a directory", *final);
    if (o->dir)  /* two saves in one second: never replace one */
      return edr_error_set(err, EDR_EEXIST, "'%s' already exists", *final);
  }
  return 0;
}

int save_out_reset(struct out_file *f) {
  f->len = 0;
  if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0)
    return edr_from_errno(errno);
  return 0;
}

/* ---- --keep: the oldest saves removed ------------------------------------------ */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int edr_snapshot_prune(const char *dir, unsigned keep, const char *keep_path,
                       struct edr_error *err) {
  DIR *dp = opendir(dir);
  if (!dp) {
    int rc = edr_from_errno(errno);
    return edr_error_set(err, rc, "cannot list '%s': %s", dir, edr_strerror(rc));
  }
  const char *keep_name = strrchr(keep_path, '/');
  keep_name = keep_name ? keep_name + 1 : keep_path;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(dp))) {
    struct stat st;
    if (!edr_snapshot_name_ok(de->d_name) || !strcmp(de->d_name, keep_name))
      continue;
    if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(st.st_mode))
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **v = realloc(names, cap * sizeof *v);
      if (!v) {
        rc = EDR_ENOMEM;
        break;
      }
      names = v;
    }
    if (!(names[n] = strdup(de->d_name))) {
      rc = EDR_ENOMEM;
      break;
    }
    n++;
  }
  if (rc < 0)
    edr_error_set(err, rc, "out of memory");
  /* The names sort by time; the one just saved counts as one kept. */
  if (n > 1)
    qsort(names, n, sizeof *names, cmp_names);
  size_t others = keep > 0 ? keep - 1 : 0;
  for (size_t i = 0; rc == 0 && i + others < n; i++) {
    char *p = edr_path_join(dir, names[i]);
    if (!p || unlinkat(dirfd(dp), names[i], 0) < 0) {
      rc = edr_error_set(err, p ? edr_from_errno(errno) : EDR_ENOMEM, "cannot remove '%s': %s",
                         p ? p : names[i], edr_strerror(p ? edr_from_errno(errno) : EDR_ENOMEM));
    } else {
      printf("removed '%s'\n", p);
    }
    free(p);
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  closedir(dp);
  return rc;
}
