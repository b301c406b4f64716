/*
 * safepath.c - the agent's path walk (safepath.h): from "/", one component
 * at a time, through directory fds opened O_DIRECTORY, with O_NOFOLLOW in
 * every directory that someone other than root can write.  The threat model
 * is in docs/security.md.
 */
#include "safepath.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char OWN_PREFIX[] = ".etcd-dr-";

bool safe_dir_trusted(const struct stat *st) {
  return (st->st_uid == 0 || st->st_uid == geteuid()) &&
         !(st->st_mode & (S_IWGRP | S_IWOTH));
}

bool safe_own_dir(const struct stat *st) {
  return S_ISDIR(st->st_mode) && st->st_uid == geteuid() &&
         !(st->st_mode & (S_IWGRP | S_IWOTH));
}

int safe_fsync_dir(int dirfd) {
  return fsync(dirfd) == 0 ? 0 : edr_from_errno(errno);
}

/* Why opening NAME in DIRFD (path PATH[0..LEN)) failed with errno E. */
static int walk_fail(struct agent *a, int dirfd, const char *name, const char *path,
                     size_t len, int e, bool trusted, bool create) {
  struct stat st;
  bool link = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  if ((e == ELOOP || e == ENOTDIR) && link && !trusted)
    return agent_fail(a, EDR_EACCES, "refusing to follow the symlink '%.*s': its "
                      "directory can be written by users other than root (replaced "
                      "meanwhile?)", (int)len, path);
  if (e == ENOTDIR && fstatat(dirfd, name, &st, 0) == 0)
    return agent_fail(a, create ? EDR_EEXIST : edr_from_errno(e),
                      "'%.*s' is %s, expected a directory", (int)len,
                      path, agent_kind_of(st.st_mode));
  return agent_fail(a, edr_from_errno(e), "cannot open directory '%.*s': %s", (int)len,
                    path, e == ENOENT ? "it does not exist" : agent_errstr(e));
}

static void remember_made(struct agent *a, const char *path, size_t len) {
  if (a->n_made < (int)(sizeof a->made_dirs / sizeof a->made_dirs[0]))
    a->made_dirs[a->n_made++] = strndup(path, len);
}

void safe_remember_own(struct agent *a, const char *path, size_t len,
                       const struct stat *st) {
  for (int i = 0; i < a->n_own; i++)
    if (strlen(a->own_dirs[i].path) == len && !strncmp(a->own_dirs[i].path, path, len))
      return;
  char *dup = strndup(path, len);
  if (dup && a->n_own < (int)(sizeof a->own_dirs / sizeof a->own_dirs[0]))
    a->own_dirs[a->n_own++] = (struct agent_own_dir){.path = dup, .dev = st->st_dev,
                                                     .ino = st->st_ino};
  else
    free(dup);
}

/* PATH[0..LEN) is a directory this agent made, and ST another one. */
static bool own_replaced(const struct agent *a, const char *path, size_t len,
                         const struct stat *st) {
  for (int i = 0; i < a->n_own; i++)
    if (strlen(a->own_dirs[i].path) == len && !strncmp(a->own_dirs[i].path, path, len))
      return a->own_dirs[i].dev != st->st_dev || a->own_dirs[i].ino != st->st_ino;
  return false;
}

int safe_open_dir(struct agent *a, const char *path, size_t len, bool create) {
  if (len == 0 || path[0] != '/')
    return agent_fail(a, EDR_EINVAL, "'%.*s' is not an absolute path", (int)len, path);
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    return agent_fail(a, edr_from_errno(e), "cannot open '/': %s", agent_errstr(e));
  }
  for (size_t i = 0; i < len;) {
    while (i < len && path[i] == '/')
      i++;
    size_t j = i;
    while (j < len && path[j] != '/')
      j++;
    size_t n = j - i;
    if (n == 0)
      break;
    char name[NAME_MAX + 1];
    if (n > NAME_MAX) {
      close(fd);
      return agent_fail(a, EDR_EINVAL, "'%.*s' has a component longer than %d bytes",
                        (int)len, path, NAME_MAX);
    }
    memcpy(name, path + i, n);
    name[n] = '\0';
    i = j;
    if (!strcmp(name, "."))
      continue;
    if (!strcmp(name, "..")) {
      close(fd);
      return agent_fail(a, EDR_EINVAL, "'%.*s' has a '..' component: give the path "
                        "without it", (int)len, path);
    }
    bool trusted = safe_dir_trusted(&st), made = false;
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (trusted ? 0 : O_NOFOLLOW);
    int nfd = openat(fd, name, flags);
    if (nfd < 0 && errno == ENOENT && create) {
      if (mkdirat(fd, name, 0700) == 0) {
        made = true;
        remember_made(a, path, j);
        int rc = safe_fsync_dir(fd);
        if (rc) {
          close(fd);
          return agent_fail(a, rc, "cannot fsync the directory of '%.*s': %s", (int)j,
                            path, edr_strerror(rc));
        }
      } else if (errno != EEXIST) {
        int e = errno;
        close(fd);
        return agent_fail(a, edr_from_errno(e), "cannot create directory '%.*s': %s",
                          (int)j, path, agent_errstr(e));
      }
      nfd = openat(fd, name, flags);
    }
    if (nfd < 0) {
      int rc = walk_fail(a, fd, name, path, j, errno, trusted, create);
      close(fd);
      return rc;
    }
    close(fd);
    fd = nfd;
    if (fstat(fd, &st) != 0) {
      int e = errno;
      close(fd);
      return agent_fail(a, edr_from_errno(e), "cannot stat '%.*s': %s", (int)j, path,
                        agent_errstr(e));
    }
    bool own = !strncmp(name, OWN_PREFIX, sizeof OWN_PREFIX - 1);
    if (own && made)
      safe_remember_own(a, path, j, &st);
    if (own && safe_own_dir(&st) && own_replaced(a, path, j, &st)) {
      close(fd);
      return agent_fail(a, EDR_EACCES, "'%.*s' is not the directory this agent made "
                        "there (another was renamed into its place); remove it and run "
                        "again", (int)j, path);
    }
    if (own && !safe_own_dir(&st)) {
      close(fd);
      return agent_fail(a, EDR_EACCES, "'%.*s' belongs to uid %lu with mode %04o: not "
                        "a directory etcd-dr made (it must belong to uid %lu and be "
                        "writable by it alone); it may have been replaced, remove it "
                        "and run again", (int)j, path, (unsigned long)st.st_uid,
                        (unsigned)(st.st_mode & 07777), (unsigned long)geteuid());
    }
  }
  return fd;
}

int safe_open_parent(struct agent *a, const char *path, char name[NAME_MAX + 1],
                     bool create, bool *trusted) {
  size_t end = strlen(path);
  while (end > 1 && path[end - 1] == '/')
    end--;
  size_t start = end;
  while (start > 0 && path[start - 1] != '/')
    start--;
  size_t n = end - start;
  if (n == 0 || n > NAME_MAX || (n == 1 && path[start] == '.') ||
      (n == 2 && !strncmp(path + start, "..", 2)))
    return agent_fail(a, EDR_EINVAL, "'%s' has no usable last component", path);
  memcpy(name, path + start, n);
  name[n] = '\0';
  int fd = safe_open_dir(a, path, start > 1 ? start - 1 : 1, create);
  if (fd >= 0 && trusted) {
    struct stat st;
    *trusted = fstat(fd, &st) == 0 && safe_dir_trusted(&st);
  }
  return fd;
}
