/*
 * owner.c - the `chown` op: resolve "user:group" through the host's own
 * /etc/passwd and /etc/group (no NSS: the agent is static), then chown a
 * path, or a whole tree without following symlinks, and set its mode.
 */
#include "owner.h"

#include "fields.h"
#include "ops.h"
#include "safepath.h"

#include "err.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int owner_lookup_id(const char *file, const char *name, long *id, long *gid) {
  FILE *f = fopen(file, "re");
  if (!f)
    return edr_from_errno(errno);
  char line[4096];
  int rc = EDR_ENOENT;
  while (fgets(line, sizeof(line), f)) {
    char *save = NULL;
    char *fname = strtok_r(line, ":", &save);
    if (!fname || strcmp(fname, name) != 0)
      continue;
    char *pw = strtok_r(NULL, ":", &save);
    char *sid = pw ? strtok_r(NULL, ":", &save) : NULL;
    char *sgid = sid ? strtok_r(NULL, ":\n", &save) : NULL;
    char *end;
    if (!sid)
      continue;
    *id = strtol(sid, &end, 10);
    if (*end || *id < 0)
      continue;
    if (gid)
      *gid = sgid ? strtol(sgid, NULL, 10) : -1;
    rc = 0;
    break;
  }
  fclose(f);
  return rc;
}

bool owner_all_digits(const char *s) {
  return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 11;
}

int owner_resolve(struct agent *a, const char *owner, uid_t *uid, gid_t *gid) {
  char user[256], group[256] = "";
  const char *colon = strchr(owner, ':');
  size_t ul = colon ? (size_t)(colon - owner) : strlen(owner);
  if (ul == 0 || ul >= sizeof(user) || (colon && strlen(colon + 1) >= sizeof(group)))
    return agent_fail(a, EDR_EINVAL, "field 'owner' is '%.100s', expected user:group",
                      owner);
  memcpy(user, owner, ul);
  user[ul] = '\0';
  if (colon)
    snprintf(group, sizeof(group), "%s", colon + 1);
  long u = -1, primary = -1, g = -1;
  if (owner_all_digits(user)) {
    u = strtol(user, NULL, 10);
  } else {
    int rc = owner_lookup_id("/etc/passwd", user, &u, &primary);
    if (rc)
      return agent_fail(a, EDR_ENOENT, "user '%s' not found in /etc/passwd", user);
  }
  if (!group[0]) {
    if (primary < 0 && owner_lookup_id("/etc/passwd", user, &u, &primary) != 0)
      return agent_fail(a, EDR_EINVAL, "owner '%s' has no group and uid %ld is not "
                        "in /etc/passwd", owner, u);
    g = primary;
  } else if (owner_all_digits(group)) {
    g = strtol(group, NULL, 10);
  } else if (owner_lookup_id("/etc/group", group, &g, NULL) != 0) {
    return agent_fail(a, EDR_ENOENT, "group '%s' not found in /etc/group", group);
  }
  *uid = (uid_t)u;
  *gid = (gid_t)g;
  return 0;
}

/* lchown every entry of the tree under directory fd DIRFD. */
/* Chown every entry of the tree under directory fd DIRFD (on device DEV),
 * never following symlinks.  Left alone, with a log line: at the top,
 * etcd-dr's own files (".etcd-dr-*": the lock, the staging dir with the
 * pushed tool, the marker --resume trusts), which must stay root's;
 * directories on another file system (mount points); files with more than
 * one link not already the new owner's (a hard link to a file elsewhere). */
static int chown_tree(struct agent *a, int dirfd, const char *dpath, dev_t dev, uid_t uid,
                      gid_t gid, int depth) {
  if (depth > 256)
    return agent_fail(a, EDR_ETOOBIG, "'%s' is nested too deep", dpath);
  DIR *d = fdopendir(dirfd);
  if (!d) {
    close(dirfd);
    return agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", dpath,
                      agent_errstr(errno));
  }
  struct dirent *de;
  int rc = 0;
  while (!rc && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (depth == 0 && !strncmp(de->d_name, ".etcd-dr-", 9)) {
      agent_log(a, "not chowning '%s/%s': etcd-dr's own, it stays root's", dpath,
                de->d_name);
      continue;
    }
    struct stat st;
    if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT)
        continue;
      rc = agent_fail(a, edr_from_errno(errno), "cannot stat '%s/%s': %s", dpath,
                      de->d_name, agent_errstr(errno));
      break;
    }
    if (S_ISDIR(st.st_mode) && st.st_dev != dev) {
      agent_log(a, "not chowning '%s/%s': another file system is mounted there", dpath,
                de->d_name);
      continue;
    }
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && st.st_uid != uid) {
      agent_log(a, "not chowning '%s/%s': it has %lu links, one may be outside", dpath,
                de->d_name, (unsigned long)st.st_nlink);
      continue;
    }
    if (fchownat(dirfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
      rc = agent_fail(a, edr_from_errno(errno), "cannot chown '%s/%s': %s", dpath,
                      de->d_name, agent_errstr(errno));
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      char *sub = edr_path_join(dpath, de->d_name);
      int fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (!sub)
        rc = EDR_ENOMEM;
      else if (fd < 0)
        rc = agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", sub,
                        agent_errstr(errno));
      else
        rc = chown_tree(a, fd, sub, dev, uid, gid, depth + 1), fd = -1;
      if (fd >= 0)
        close(fd);
      free(sub);
    }
  }
  closedir(d);
  return rc;
}

int op_chown(struct agent *a, json_t *req, json_t *res) {
  const char *path, *owner, *mode_s;
  bool recursive = false;
  json_int_t juid = -1, jgid = -1;
  int rc;
  if ((rc = field_path(a, req, "path", false, &path)) ||
      (rc = field_str(a, req, "owner", true, &owner)) ||
      (rc = field_str(a, req, "mode", true, &mode_s)) ||
      (rc = field_bool(a, req, "recursive", &recursive)) ||
      (rc = field_int(a, req, "uid", true, 0, UINT32_MAX - 1, &juid)) ||
      (rc = field_int(a, req, "gid", true, 0, UINT32_MAX - 1, &jgid)))
    return rc;
  uid_t uid = 0;
  gid_t gid = 0;
  if (owner) {
    if ((rc = owner_resolve(a, owner, &uid, &gid)))
      return rc;
  } else if (juid >= 0 && jgid >= 0) {
    uid = (uid_t)juid;
    gid = (gid_t)jgid;
  } else {
    return agent_fail(a, EDR_EINVAL, "chown of '%s' needs 'owner' or both 'uid' and "
                      "'gid'", path);
  }
  long mode = -1;
  if (mode_s) {
    char *end;
    mode = strtol(mode_s, &end, 8);
    if (!*mode_s || *end || mode < 0 || mode > 07777)
      return agent_fail(a, EDR_EINVAL, "field 'mode' is '%.20s', expected an octal "
                        "string such as \"0700\"", mode_s);
  }
  /* Everything through descriptors: the etcd user may swap PATH for a
   * symlink at any moment, and chmod(2) of a path would follow it. */
  char name[NAME_MAX + 1];
  int dfd = safe_open_parent(a, path, name, false, NULL);
  if (dfd < 0)
    return dfd;
  struct stat st;
  int fd = -1;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    rc = agent_fail(a, edr_from_errno(errno), "cannot chown '%s': %s", path,
                    errno == ENOENT ? "it does not exist" : agent_errstr(errno));
    goto out;
  }
  if (S_ISLNK(st.st_mode) && (mode >= 0 || recursive)) {
    rc = agent_fail(a, EDR_EINVAL, "'%s' is a symlink: not following it", path);
    goto out;
  }
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    if (mode >= 0)
      rc = agent_fail(a, EDR_EINVAL, "'%s' is %s: not changing its mode", path,
                      agent_kind_of(st.st_mode));
    else if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
      rc = agent_fail(a, edr_from_errno(errno), "cannot chown '%s' to %lu:%lu: %s",
                      path, (unsigned long)uid, (unsigned long)gid, agent_errstr(errno));
    else
      rc = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ? edr_from_errno(errno) : 0;
    goto out;
  }
  fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                             (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
  struct stat fst;
  if (fd < 0 || fstat(fd, &fst) != 0) {
    rc = agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s%s", path,
                    agent_errstr(errno), errno == ELOOP || errno == ENOTDIR
                                             ? " (replaced while being chowned?)" : "");
    goto out;
  }
  if (fchown(fd, uid, gid) != 0) {
    rc = agent_fail(a, edr_from_errno(errno), "cannot chown '%s' to %lu:%lu: %s",
                    path, (unsigned long)uid, (unsigned long)gid, agent_errstr(errno));
    goto out;
  }
  if (recursive && S_ISDIR(fst.st_mode)) {
    int tfd = dup(fd);
    if (tfd < 0) {
      rc = agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", path,
                      agent_errstr(errno));
      goto out;
    }
    if ((rc = chown_tree(a, tfd, path, fst.st_dev, uid, gid, 0)))
      goto out;
  }
  if (mode >= 0 && fchmod(fd, (mode_t)mode) != 0) {
    rc = agent_fail(a, edr_from_errno(errno), "cannot chmod '%s' to %s: %s", path,
                    mode_s, agent_errstr(errno));
    goto out;
  }
  if (fstat(fd, &st) != 0)
    rc = agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", path,
                    agent_errstr(errno));
out:
  if (fd >= 0)
    close(fd);
  close(dfd);
  if (rc)
    return rc;
  char m[8];
  agent_mode_str(st.st_mode, m);
  json_object_set_new(res, "uid", json_integer(st.st_uid));
  json_object_set_new(res, "gid", json_integer(st.st_gid));
  json_object_set_new(res, "mode", json_string(m));
  return 0;
}
