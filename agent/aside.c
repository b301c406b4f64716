/*
 * aside.c - the agent's list-aside and prune-aside ops (etcd-dr prune):
 * what earlier runs left moved aside in the data dir and next to the wal
 * dir, and removing the dirs of the runs the coordinator chose.
 *
 * The data dir belongs to the user etcd runs as, who may put anything in
 * it.  So the data dir (and the wal dir's parent) are opened once through
 * safepath.h's walk, and everything inside them is reached through that
 * directory fd with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW:
 * a symlink named like a run's dir is listed as one and never followed or
 * removed, nor is a dir on another file system (a mount point).  Only names
 * that pass the strict rule of common/aside.h are candidates.  A dir is
 * first renamed to .etcd-dr-pruning-NAME and only then removed, so a prune
 * cut short never leaves a half-removed member dir under a name a rollback
 * would put back; the next list reports such leftovers as trash and the
 * next prune removes them.
 */
#include "agent.h"
#include "fields.h"
#include "files.h"
#include "ops.h"
#include "safepath.h"

#include "aside.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char trash_prefix[] = ".etcd-dr-pruning-";
static const char lock_name[] = ".etcd-dr-lock";

enum {
  LOCK_READ_MAX = 4096,       /* a lock file is one short JSON line */
  USAGE_DEPTH_MAX = 256,
  USAGE_ENTRIES_MAX = 10000000,
};

/* The directories a run's dirs live in: the data dir ("member" prefix) and,
 * with a wal_dir, its parent (the wal dir's own name as the prefix). */
struct aside_dir {
  const char *kind;           /* "data" or "wal" */
  char path[PATH_MAX];
  char prefix[NAME_MAX + 1];
  int fd;
  dev_t dev;
};

static void dirs_close(struct aside_dir *d, int n) {
  for (int i = 0; i < n; i++)
    if (d[i].fd >= 0)
      close(d[i].fd);
}

/* Open the data dir and the wal dir's parent.  Returns the count (1 or 2)
 * or a negative EDR_E* code. */
static int dirs_open(struct agent *a, json_t *req, struct aside_dir d[2]) {
  const char *data, *wal;
  int rc;
  if ((rc = field_path(a, req, "data_dir", false, &data)) ||
      (rc = field_path(a, req, "wal_dir", true, &wal)))
    return rc;
  int n = 0;
  d[n] = (struct aside_dir){.kind = "data", .fd = -1};
  snprintf(d[n].path, sizeof d[n].path, "%s", data);
  snprintf(d[n].prefix, sizeof d[n].prefix, "member");
  n++;
  if (wal) {
    const char *slash = strrchr(wal, '/');
    if (!slash[1] || strlen(slash + 1) > NAME_MAX)
      return agent_fail(a, EDR_EINVAL, "wal_dir '%s' has no last component", wal);
    d[n] = (struct aside_dir){.kind = "wal", .fd = -1};
    snprintf(d[n].path, sizeof d[n].path, "%.*s", slash == wal ? 1 : (int)(slash - wal), wal);
    snprintf(d[n].prefix, sizeof d[n].prefix, "%s", slash + 1);
    n++;
  }
  for (int i = 0; i < n; i++) {
    struct stat st;
    d[i].fd = safe_open_dir(a, d[i].path, strlen(d[i].path), false);
    if (d[i].fd < 0) {
      rc = d[i].fd;
      dirs_close(d, n);
      return rc;
    }
    if (fstat(d[i].fd, &st) != 0) {
      int e = errno;
      dirs_close(d, n);
      return agent_fail(a, edr_from_errno(e), "cannot stat directory '%s': %s", d[i].path,
                        agent_errstr(e));
    }
    d[i].dev = st.st_dev;
  }
  return n;
}

/* Disk usage (allocated bytes) and count of files (not directories) of
 * NAME in DIRFD, without following symlinks or leaving device DEV; SEEN
 * bounds the walk. */
static void usage_at(int dirfd, const char *name, dev_t dev, int depth, uint64_t *bytes,
                     uint64_t *files, uint64_t *seen) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_dev != dev)
    return;
  *bytes += (uint64_t)st.st_blocks * 512;
  (*seen)++;
  if (!S_ISDIR(st.st_mode)) {
    (*files)++;
    return;
  }
  if (depth > USAGE_DEPTH_MAX || *seen > USAGE_ENTRIES_MAX)
    return;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
  if (!dir) {
    if (fd >= 0)
      close(fd);
    return;
  }
  struct dirent *de;
  while ((de = readdir(dir)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      usage_at(fd, de->d_name, dev, depth + 1, bytes, files, seen);
  closedir(dir);
}

/* The run id in the data dir's lock file, into RUN (empty: no lock).
 * Opened without following a symlink or waiting on a FIFO, read bounded. */
static void lock_run(int datafd, char *run, size_t runlen) {
  run[0] = '\0';
  int fd = openat(datafd, lock_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0)
    return;
  char buf[LOCK_READ_MAX + 1];
  ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, buf, LOCK_READ_MAX) : -1;
  close(fd);
  if (n <= 0) {
    snprintf(run, runlen, "?"); /* there, but unreadable: held by someone */
    return;
  }
  json_error_t je;
  json_t *j = json_loadb(buf, (size_t)n, JSON_DISABLE_EOF_CHECK, &je);
  const char *r = json_string_value(json_object_get(j, "run_id"));
  snprintf(run, runlen, "%s", r ? r : "?");
  json_decref(j);
}

static const char *kind_name(mode_t m) {
  return S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : S_ISREG(m) ? "file" : "other";
}

/* One entry of a listing: what NAME in D is. */
static json_t *entry_json(const struct aside_dir *d, const char *name, const char *run,
                          bool restored, bool trash) {
  struct stat st;
  if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return NULL;
  uint64_t bytes = 0, files = 0, seen = 0;
  bool other_fs = st.st_dev != d->dev;
  if (S_ISDIR(st.st_mode) && !other_fs)
    usage_at(d->fd, name, d->dev, 0, &bytes, &files, &seen);
  char path[PATH_MAX + NAME_MAX + 2];
  snprintf(path, sizeof path, "%s%s%s", d->path, strcmp(d->path, "/") ? "/" : "", name);
  return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:b, s:I, s:I, s:I}", "name", name,
                   "path", path, "dir", d->kind, "run_id", run, "restored", restored,
                   "trash", trash, "kind", kind_name(st.st_mode), "other_fs", other_fs,
                   "bytes", (json_int_t)bytes, "files", (json_int_t)files, "mtime",
                   (json_int_t)st.st_mtime);
}

/* list-aside: every run's moved-aside dir in the data dir and next to the
 * wal dir, names that look like one but are not (left alone), and which
 * runs still have a marker, a staging dir or the lock on this host. */
int op_list_aside(struct agent *a, json_t *req, json_t *res) {
  struct aside_dir d[2];
  int n = dirs_open(a, req, d);
  if (n < 0)
    return n;
  json_t *entries = json_array(), *ignored = json_array(), *markers = json_array(),
         *staging = json_array();
  for (int i = 0; i < n; i++) {
    int fd = dup(d[i].fd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
      int e = errno;
      if (fd >= 0)
        close(fd);
      dirs_close(d, n);
      json_decref(entries), json_decref(ignored), json_decref(markers), json_decref(staging);
      return agent_fail(a, edr_from_errno(e), "cannot read directory '%s': %s", d[i].path,
                        agent_errstr(e));
    }
    rewinddir(dir);
    size_t pl = strlen(d[i].prefix);
    struct dirent *de;
    while ((de = readdir(dir))) {
      const char *name = de->d_name;
      char run[EDR_RUN_ID_LEN + 1];
      bool restored = false, trash = !strncmp(name, trash_prefix, sizeof trash_prefix - 1);
      const char *inner = trash ? name + sizeof trash_prefix - 1 : name;
      if (edr_aside_name(inner, d[i].prefix, run, &restored, NULL)) {
        json_array_append_new(entries, entry_json(&d[i], name, run, restored, trash));
        continue;
      }
      if (!strncmp(inner, d[i].prefix, pl) && !strncmp(inner + pl, ".etcd-dr-", 9)) {
        json_array_append_new(ignored, json_string(name)); /* not a run's: left alone */
        continue;
      }
      if (strcmp(d[i].kind, "data") || strncmp(name, ".etcd-dr-", 9))
        continue;
      size_t l = strlen(name);
      char id[EDR_RUN_ID_LEN + 1] = "";
      if (l == 9 + EDR_RUN_ID_LEN + 5 && !strcmp(name + l - 5, ".done")) {
        memcpy(id, name + 9, EDR_RUN_ID_LEN);
        if (edr_run_id_ok(id, NULL))
          json_array_append_new(markers, json_string(id));
      } else if (l == 9 + EDR_RUN_ID_LEN && edr_run_id_ok(name + 9, NULL)) {
        json_array_append_new(staging, json_string(name + 9));
      }
    }
    closedir(dir);
  }
  char lr[256];
  lock_run(d[0].fd, lr, sizeof lr);
  dirs_close(d, n);
  json_object_set_new(res, "now", json_integer((json_int_t)time(NULL)));
  json_object_set_new(res, "entries", entries);
  json_object_set_new(res, "ignored", ignored);
  json_object_set_new(res, "markers", markers);
  json_object_set_new(res, "staging", staging);
  json_object_set_new(res, "lock_run", lr[0] ? json_string(lr) : json_null());
  return 0;
}

/* Remove NAME in D if it is a real directory on D's file system: first
 * renamed to the trash name, then removed.  Appends what happened to
 * REMOVED or LEFT. */
static int remove_one(struct agent *a, const struct aside_dir *d, const char *name,
                      bool is_trash, json_t *removed, json_t *left) {
  char path[PATH_MAX + NAME_MAX + 2], trash[2 * NAME_MAX];
  snprintf(path, sizeof path, "%s%s%s", d->path, strcmp(d->path, "/") ? "/" : "", name);
  struct stat st;
  if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0 : agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s",
                                             path, agent_errstr(errno));
  const char *why = !S_ISDIR(st.st_mode) ? (S_ISLNK(st.st_mode) ? "a symlink, not a directory"
                                                                 : "not a directory")
                    : st.st_dev != d->dev ? "on another file system (a mount point)"
                                          : NULL;
  if (why) {
    json_array_append_new(left, json_pack("{s:s, s:s}", "path", path, "why", why));
    return 0;
  }
  uint64_t bytes = 0, files = 0, seen = 0;
  usage_at(d->fd, name, d->dev, 0, &bytes, &files, &seen);
  const char *victim = name;
  if (!is_trash) {
    if (snprintf(trash, sizeof trash, "%s%s", trash_prefix, name) >= (int)sizeof trash)
      return agent_fail(a, EDR_EINVAL, "'%s': name too long", path);
    if (rename_noreplace_at(d->fd, name, d->fd, trash) != 0)
      return agent_fail(a, edr_from_errno(errno), "cannot rename '%s' to '%s': %s", path,
                        trash, agent_errstr(errno));
    safe_fsync_dir(d->fd);
    victim = trash;
  }
  char vpath[PATH_MAX + 3 * NAME_MAX];
  snprintf(vpath, sizeof vpath, "%s%s%s", d->path, strcmp(d->path, "/") ? "/" : "", victim);
  int rc = agent_remove_at(a, d->fd, victim, vpath);
  safe_fsync_dir(d->fd);
  if (rc)
    return rc;
  json_array_append_new(removed, json_pack("{s:s, s:I, s:I}", "path", path, "bytes",
                                           (json_int_t)bytes, "files", (json_int_t)files));
  return 0;
}

static bool exists_at(int dirfd, const char *name) {
  struct stat st;
  return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* prune-aside: remove the moved-aside dirs of each run in "runs", under the
 * host lock of run "lock_run" (the prune's own).  A run whose marker or
 * staging dir is on the host is refused (kept), whatever was asked. */
int op_prune_aside(struct agent *a, json_t *req, json_t *res) {
  const char *me = json_string_value(json_object_get(req, "lock_run"));
  json_t *runs = json_object_get(req, "runs");
  if (!me || !json_is_array(runs))
    return agent_fail(a, EDR_EINVAL, "fields 'lock_run' (a string) and 'runs' (an array of "
                      "run ids) are required");
  size_t i;
  json_t *v;
  json_array_foreach(runs, i, v) {
    const char *r = json_string_value(v);
    if (!r || !edr_run_id_ok(r, NULL))
      return agent_fail(a, EDR_EINVAL, "refusing to prune run '%s': not a run id etcd-dr "
                        "makes (such as 20261204-101010-ab12)", r ? r : "?");
  }
  struct aside_dir d[2];
  int n = dirs_open(a, req, d);
  if (n < 0)
    return n;
  char held[256];
  lock_run(d[0].fd, held, sizeof held);
  if (strcmp(held, me)) {
    dirs_close(d, n);
    return agent_fail(a, EDR_EBUSY, "refusing to prune: the host lock '%s/%s' is %s%s, not "
                      "this prune's (%s)", d[0].path, lock_name, held[0] ? "held by run " : "not held",
                      held, me);
  }
  json_t *removed = json_array(), *left = json_array(), *kept = json_array();
  int rc = 0;
  json_array_foreach(runs, i, v) {
    const char *r = json_string_value(v);
    char marker[64], staging[64];
    snprintf(marker, sizeof marker, ".etcd-dr-%s.done", r);
    snprintf(staging, sizeof staging, ".etcd-dr-%s", r);
    const char *why = exists_at(d[0].fd, marker)    ? "its marker is on the host"
                      : exists_at(d[0].fd, staging) ? "its staging dir is on the host"
                                                    : NULL;
    if (why) {
      json_array_append_new(kept, json_pack("{s:s, s:s}", "run_id", r, "why", why));
      continue;
    }
    for (int k = 0; !rc && k < n; k++)
      for (int restored = 0; !rc && restored < 2; restored++) {
        char name[2 * NAME_MAX], trash[3 * NAME_MAX];
        snprintf(name, sizeof name, "%s.etcd-dr-%s%s", d[k].prefix, r,
                 restored ? "-restored" : "");
        snprintf(trash, sizeof trash, "%s%s", trash_prefix, name);
        if (strlen(trash) > NAME_MAX || !edr_aside_name(name, d[k].prefix, NULL, NULL, NULL))
          continue; /* a prefix so long the name does not fit */
        rc = remove_one(a, &d[k], trash, true, removed, left);
        if (!rc)
          rc = remove_one(a, &d[k], name, false, removed, left);
      }
    if (rc)
      break;
  }
  dirs_close(d, n);
  json_object_set_new(res, "removed", removed);
  json_object_set_new(res, "left", left);
  json_object_set_new(res, "kept", kept);
  return rc;
}
