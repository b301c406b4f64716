/*
 * files.c - the agent's file operations on the host's directories: the
 * helpers the other ops share (mkdir -p, rename without replacing, fsync of
 * a directory, opening a regular file, hashing one, removing a tree), the
 * ops rename, remove, mark, stat and mkdir, and the at-exit removal of what
 * this agent made.  Only names starting with ".etcd-dr-" are ever created or
 * removed by request; struct agent owns the lists of what to undo at exit.
 */
#include "files.h"

#include "safepath.h"

#include "fields.h"
#include "ops.h"

#include "err.h"
#include "sha256.h"
#include "snapfile.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fsync_dir_of(const char *path) {
  char *dup = strdup(path);
  if (!dup)
    return EDR_ENOMEM;
  char *slash = strrchr(dup, '/');
  if (slash == dup)
    slash[1] = '\0';
  else if (slash)
    *slash = '\0';
  int fd = open(dup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = 0;
  if (fd < 0 || fsync(fd) != 0)
    rc = edr_from_errno(errno);
  if (fd >= 0)
    close(fd);
  free(dup);
  return rc;
}

int mkdir_parents(struct agent *a, const char *path) {
  char name[NAME_MAX + 1];
  int fd = safe_open_parent(a, path, name, true, NULL);
  if (fd < 0)
    return fd;
  close(fd);
  return 0;
}

int rename_noreplace_at(int fromfd, const char *from, int tofd, const char *to) {
  if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
  struct stat st;
  if (fstatat(tofd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    return -1;
  }
  return renameat(fromfd, from, tofd, to);
}

int sha256_fd(struct agent *a, int fd, const char *path, char hex[65], uint64_t *bytes) {
  static unsigned char buf[RECV_BUF];
  unsigned char md[32];
  struct edr_sha256 ctx;
  *bytes = 0;
  edr_sha256_init(&ctx);
  for (;;) {
    ssize_t r = pread(fd, buf, sizeof(buf), (off_t)*bytes);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path,
                        agent_errstr(errno));
    if (r == 0)
      break;
    edr_sha256_update(&ctx, buf, (size_t)r);
    *bytes += (uint64_t)r;
  }
  edr_sha256_final(&ctx, md);
  edr_hex(md, 32, hex);
  return 0;
}

int open_regular(struct agent *a, const char *path, struct stat *st) {
  char name[NAME_MAX + 1];
  int dfd = safe_open_parent(a, path, name, false, NULL);
  if (dfd < 0)
    return dfd;
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  int oe = errno;
  close(dfd);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(oe), "cannot open '%s': %s", path,
                      oe == ENOENT ? "it does not exist" : agent_errstr(oe));
  if (fstat(fd, st) != 0) {
    int e = errno;
    close(fd);
    return agent_fail(a, edr_from_errno(e), "cannot stat '%s': %s", path, agent_errstr(e));
  }
  if (!S_ISREG(st->st_mode)) {
    close(fd);
    return agent_fail(a, EDR_EINVAL, "'%s' is %s, expected a regular file", path,
                      agent_kind_of(st->st_mode));
  }
  return fd;
}

int op_rename(struct agent *a, json_t *req, json_t *res) {
  const char *from, *to;
  bool missing_ok = false;
  int rc;
  if ((rc = field_file_path(a, req, "from", &from)) ||
      (rc = field_file_path(a, req, "to", &to)) ||
      (rc = field_bool(a, req, "missing_ok", &missing_ok)))
    return rc;
  json_object_set_new(res, "moved", json_false());
  char fname[NAME_MAX + 1], tname[NAME_MAX + 1];
  int ffd = safe_open_parent(a, from, fname, false, NULL);
  if (ffd == EDR_ENOENT && missing_ok) {
    edr_error_clear(&a->err);
    return 0;
  }
  if (ffd < 0)
    return ffd;
  int tfd = safe_open_parent(a, to, tname, false, NULL);
  if (tfd < 0) {
    close(ffd);
    return tfd;
  }
  struct stat st;
  rc = 0;
  if (fstatat(ffd, fname, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT || !missing_ok)
      rc = agent_fail(a, edr_from_errno(errno), "cannot rename '%s': %s", from,
                      errno == ENOENT ? "it does not exist" : agent_errstr(errno));
    goto out;
  }
  if (rename_noreplace_at(ffd, fname, tfd, tname) != 0) {
    int e = errno;
    struct stat tst;
    if (e == EEXIST || e == ENOTEMPTY)
      rc = agent_fail(a, EDR_EEXIST, "cannot rename '%s' to '%s': '%s' already "
                      "exists (%s)", from, to, to,
                      fstatat(tfd, tname, &tst, AT_SYMLINK_NOFOLLOW) == 0
                          ? agent_kind_of(tst.st_mode) : "?");
    else if (e == EXDEV)
      rc = agent_fail(a, EDR_EINVAL, "cannot rename '%s' to '%s': they are on "
                      "different file systems (exdev)", from, to);
    else
      rc = agent_fail(a, edr_from_errno(e), "cannot rename '%s' to '%s': %s", from,
                      to, agent_errstr(e));
    goto out;
  }
  json_object_set_new(res, "moved", json_true());
  if ((rc = safe_fsync_dir(tfd)) || (rc = safe_fsync_dir(ffd)))
    rc = agent_fail(a, rc, "renamed '%s' to '%s' but cannot fsync a directory: %s",
                    from, to, edr_strerror(rc));
out:
  close(ffd);
  close(tfd);
  return rc;
}

/* Remove NAME in directory DIRFD (path PATH for messages), depth first,
 * never following a symlink nor leaving device DEV. */
static int rm_at(struct agent *a, int dirfd, const char *name, const char *path,
                 dev_t dev, int depth) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0
                           : agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s",
                                        path, agent_errstr(errno));
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
      return agent_fail(a, edr_from_errno(errno), "cannot remove '%s': %s", path,
                        agent_errstr(errno));
    return 0;
  }
  if (st.st_dev != dev)
    return agent_fail(a, EDR_EMOUNTPOINT, "'%s' is on another file system (a mount "
                      "point): not removing it", path);
  if (depth > 256)
    return agent_fail(a, EDR_ETOOBIG, "'%s' is nested too deep", path);
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", path,
                      agent_errstr(errno));
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path,
                      agent_errstr(errno));
  }
  int rc = 0;
  struct dirent *de;
  while (!rc && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char *sub = edr_path_join(path, de->d_name);
    rc = sub ? rm_at(a, fd, de->d_name, sub, dev, depth + 1) : EDR_ENOMEM;
    free(sub);
  }
  closedir(d);
  if (!rc && unlinkat(dirfd, name, AT_REMOVEDIR) != 0)
    rc = agent_fail(a, edr_from_errno(errno), "cannot remove directory '%s': %s",
                    path, agent_errstr(errno));
  return rc;
}

int agent_remove_at(struct agent *a, int dirfd, const char *name, const char *path) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0
                           : agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s",
                                        path, agent_errstr(errno));
  return rm_at(a, dirfd, name, path, st.st_dev, 0);
}

int agent_remove_tree(struct agent *a, const char *path, bool *removed) {
  char name[NAME_MAX + 1];
  *removed = false;
  int dirfd = safe_open_parent(a, path, name, false, NULL);
  if (dirfd == EDR_ENOENT) {
    edr_error_clear(&a->err);
    return 0;
  }
  if (dirfd < 0)
    return dirfd;
  struct stat st;
  int rc = 0;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT)
      rc = agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", path,
                      agent_errstr(errno));
    close(dirfd);
    return rc;
  }
  rc = rm_at(a, dirfd, name, path, st.st_dev, 0);
  if (!rc) {
    *removed = true;
    fsync(dirfd);
  }
  close(dirfd);
  return rc;
}

int op_remove(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  int rc;
  if ((rc = field_path(a, req, "path", false, &path)))
    return rc;
  json_object_set_new(res, "removed", json_false());
  const char *last = strrchr(path, '/') + 1;
  if (strncmp(last, ".etcd-dr-", 9) != 0 || strlen(last) == 9)
    return agent_fail(a, EDR_EINVAL, "refusing to remove '%s': only trees whose last "
                      "component starts with '.etcd-dr-' may be removed", path);
  bool removed;
  rc = agent_remove_tree(a, path, &removed);
  json_object_set_new(res, "removed", json_boolean(removed));
  return rc;
}

/* Append one line to a run's marker on the host (DATA/.etcd-dr-RUN.done), so
 * the host itself records which destructive steps were done to it.  Only
 * etcd-dr's own files: the name must start with .etcd-dr-. */
int op_mark(struct agent *a, json_t *req, json_t *res) {
  const char *path, *line;
  int rc;
  if ((rc = field_file_path(a, req, "path", &path)) || (rc = field_str(a, req, "line", false, &line)))
    return rc;
  const char *last = strrchr(path, '/') + 1;
  if (strncmp(last, ".etcd-dr-", 9) != 0 || strchr(line, '\n'))
    return agent_fail(a, EDR_EINVAL, "refusing to mark '%s': not an etcd-dr marker, or a "
                      "line with a newline", path);
  size_t n = strlen(line);
  char buf[1100];
  if (n > 1000)
    return agent_fail(a, EDR_ETOOBIG, "marker line too long");
  char name[NAME_MAX + 1];
  int dfd = safe_open_parent(a, path, name, true, NULL);
  if (dfd < 0)
    return dfd;
  int fd = openat(dfd, name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
                                 O_CLOEXEC, 0600);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    close(dfd);
    return agent_fail(a, edr_from_errno(e), "cannot open '%s': %s", path, agent_errstr(e));
  }
  /* --resume trusts the marker: one the etcd user made or can write is not
   * etcd-dr's record. */
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
    close(fd);
    close(dfd);
    return agent_fail(a, EDR_EACCES, "marker '%s' is %s of uid %lu with mode %04o: not "
                      "one etcd-dr wrote; remove it and run again", path,
                      agent_kind_of(st.st_mode), (unsigned long)st.st_uid,
                      (unsigned)(st.st_mode & 07777));
  }
  memcpy(buf, line, n);
  buf[n] = '\n';
  bool ok = write(fd, buf, n + 1) == (ssize_t)(n + 1) && fdatasync(fd) == 0;
  int e = errno;
  close(fd);
  if (ok && (rc = safe_fsync_dir(dfd)))
    e = EIO;
  close(dfd);
  if (!ok || rc)
    return agent_fail(a, edr_from_errno(e), "cannot write '%s': %s", path, agent_errstr(e));
  (void)res;
  return 0;
}

/* What is at PATH, without following a final symlink; a missing path is a
 * fact, not an error. */
int op_stat(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  struct stat st;
  int rc;
  if ((rc = field_path(a, req, "path", false, &path)))
    return rc;
  if (lstat(path, &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR)
      return agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", path,
                        agent_errstr(errno));
    json_object_set_new(res, "exists", json_false());
    return 0;
  }
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", (unsigned)(st.st_mode & 07777));
  json_object_set_new(res, "exists", json_true());
  json_object_set_new(res, "kind", json_string(agent_kind_of(st.st_mode)));
  json_object_set_new(res, "is_dir", json_boolean(S_ISDIR(st.st_mode)));
  json_object_set_new(res, "size", json_integer((json_int_t)st.st_size));
  json_object_set_new(res, "mode", json_string(mode));
  json_object_set_new(res, "uid", json_integer((json_int_t)st.st_uid));
  json_object_set_new(res, "gid", json_integer((json_int_t)st.st_gid));
  return 0;
}

/* Make one directory of etcd-dr's own (last component starts with
 * .etcd-dr-), mode 0700, in an existing parent; an existing path is
 * EDR_EEXIST: a staging directory is never shared.  With remove_at_exit the
 * agent removes the tree when it exits, whatever happened meanwhile. */
int op_mkdir(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  bool at_exit = false;
  int rc;
  if ((rc = field_file_path(a, req, "path", &path)) || (rc = field_bool(a, req, "remove_at_exit", &at_exit)))
    return rc;
  const char *last = strrchr(path, '/') + 1;
  if (strncmp(last, ".etcd-dr-", 9) != 0 || strlen(last) == 9)
    return agent_fail(a, EDR_EINVAL, "refusing to create '%s': only directories whose "
                      "last component starts with '.etcd-dr-' are made", path);
  if (at_exit && a->n_exit_remove >= (int)(sizeof a->exit_remove / sizeof a->exit_remove[0]))
    return agent_fail(a, EDR_ETOOBIG, "too many directories to remove at exit");
  char name[NAME_MAX + 1];
  int dfd = safe_open_parent(a, path, name, false, NULL);
  if (dfd < 0)
    return dfd;
  if (mkdirat(dfd, name, 0700) != 0) {
    int e = errno;
    close(dfd);
    return agent_fail(a, edr_from_errno(e), "cannot create directory '%s': %s", path,
                      e == EEXIST ? "it already exists" : agent_errstr(e));
  }
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    safe_remember_own(a, path, strlen(path), &st);
  rc = safe_fsync_dir(dfd);
  close(dfd);
  if (at_exit && !(a->exit_remove[a->n_exit_remove++] = strdup(path)))
    return agent_fail(a, EDR_ENOMEM, "out of memory");
  if (rc)
    return agent_fail(a, rc, "cannot fsync the directory of '%s': %s", path,
                      edr_strerror(rc));
  json_object_set_new(res, "remove_at_exit", json_boolean(at_exit));
  return 0;
}

void agent_remove_at_exit(struct agent *a) {
  for (int i = a->n_exit_remove - 1; i >= 0; i--) {
    bool removed;
    a->id = NULL;
    if (agent_remove_tree(a, a->exit_remove[i], &removed) != 0)
      fprintf(stderr, "etcd-dr-agent: %s\n", a->err.msg.buf);
    free(a->exit_remove[i]);
    a->exit_remove[i] = NULL;
  }
  a->n_exit_remove = 0;
}

void agent_remove_made_staging(struct agent *a) {
  if (!a->auto_lock_path[0] || a->lock_pinned)
    return; /* no lock of this run, or apply began: everything stays */
  for (int i = a->n_made - 1; i >= 0; i--) {
    const char *d = a->made_dirs[i], *last = d ? strrchr(d, '/') : NULL;
    if (!last || strncmp(last + 1, ".etcd-dr-", 9) != 0 || !last[10])
      continue;
    bool removed;
    a->id = NULL;
    if (agent_remove_tree(a, d, &removed) != 0)
      fprintf(stderr, "etcd-dr-agent: %s\n", a->err.msg.buf);
  }
}

void agent_remove_made_dirs(struct agent *a) {
  for (int i = a->n_made - 1; i >= 0; i--) {
    char name[NAME_MAX + 1];
    int dfd = a->made_dirs[i] ? safe_open_parent(a, a->made_dirs[i], name, false, NULL)
                              : -1;
    if (dfd >= 0) {
      unlinkat(dfd, name, AT_REMOVEDIR); /* fails, as it should, unless empty */
      close(dfd);
    }
    free(a->made_dirs[i]);
    a->made_dirs[i] = NULL;
  }
  a->n_made = 0;
}
