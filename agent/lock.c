/*
 * lock.c - the host's run lock (DATA_DIR/.etcd-dr-lock): `lock` takes it
 * for a run (O_EXCL create; a lock of the same run and the same coordinator
 * token is kept, anyone else's is taken over only with `break`), `unlock`
 * releases the lock of that run and token, and at exit an auto_release
 * lock goes again.  The file holds the holder as one JSON line; struct
 * agent remembers the auto_release lock.
 */
#include "agent.h"

#include "fields.h"
#include "files.h"
#include "ops.h"
#include "safepath.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { LOCK_MAX = 64 * 1024 }; /* a holder is a few hundred bytes */
enum { TOKEN_MAX = 64 };       /* hex digits of a coordinator token */

static bool valid_token(const char *t) {
  size_t n = strspn(t, "0123456789abcdef");
  return n > 0 && n <= TOKEN_MAX && !t[n];
}

/* The holder recorded in lock file PATH (new reference), or NULL with *RC:
 * EDR_ENOENT when there is no lock file; another negative code, with the
 * message set, when PATH is no file etcd-dr could have written (not a
 * regular file, or larger than LOCK_MAX); 0 when it holds no JSON.  The
 * etcd user can put a FIFO or an endless file there: the open does not
 * wait and the read is bounded. */
static json_t *lock_holder(struct agent *a, const char *path, int *rc) {
  static char buf[LOCK_MAX + 1];
  struct stat st;
  int fd = open_regular(a, path, &st);
  if (fd < 0) {
    *rc = fd;
    return NULL;
  }
  size_t len = 0;
  *rc = 0;
  while (len < sizeof buf) {
    ssize_t r = read(fd, buf + len, sizeof buf - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      *rc = agent_fail(a, edr_from_errno(errno), "cannot read lock '%s': %s", path,
                       agent_errstr(errno));
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  close(fd);
  if (!*rc && len > LOCK_MAX)
    *rc = agent_fail(a, EDR_ETOOBIG, "lock '%s' is larger than %d bytes: not a lock "
                     "etcd-dr wrote; remove it if no run is under way", path, LOCK_MAX);
  if (*rc)
    return NULL;
  json_error_t je;
  return json_loadb(buf, len, 0, &je);
}

/* Write HOLDER to a new file NAME in directory DFD (PATH in messages):
 * O_EXCL when TAKEOVER is false, else a rename over the old lock; then the
 * directory is fsynced, so the lock outlives a crash.  Returns 0, 1 when
 * the lock exists (not taking over), or a negative EDR_E* code. */
static int lock_write(struct agent *a, int dfd, const char *name, const char *path,
                      json_t *holder, bool takeover) {
  char tmp[NAME_MAX + 32];
  snprintf(tmp, sizeof tmp, "%.200s.%ld", name, (long)getpid());
  const char *target = takeover ? tmp : name;
  int fd = openat(dfd, target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST && !takeover)
    return 1;
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot create lock '%s': %s", path,
                      agent_errstr(errno));
  char *text = json_dumps(holder, JSON_COMPACT);
  size_t len = text ? strlen(text) : 0;
  errno = 0;
  bool ok = text && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
            fsync(fd) == 0;
  free(text);
  close(fd);
  if (!ok || (takeover && renameat(dfd, tmp, dfd, name) != 0)) {
    int e = errno ? errno : EIO;
    unlinkat(dfd, target, 0);
    return agent_fail(a, edr_from_errno(e), "cannot write lock '%s': %s", path, agent_errstr(e));
  }
  int rc = safe_fsync_dir(dfd);
  if (rc)
    return agent_fail(a, rc, "cannot fsync the directory of lock '%s': %s", path,
                      edr_strerror(rc));
  return 0;
}

/* Remove lock PATH through its directory; 0 or -1 with errno. */
static int lock_remove(struct agent *a, const char *path) {
  char name[NAME_MAX + 1];
  int dfd = safe_open_parent(a, path, name, false, NULL);
  if (dfd < 0) {
    errno = dfd == EDR_ENOENT ? ENOENT : EACCES;
    return -1;
  }
  int r = unlinkat(dfd, name, 0);
  int e = errno;
  if (r == 0)
    fsync(dfd);
  close(dfd);
  errno = e;
  return r;
}

/* The holder's coordinator token ("" when it has none). */
static const char *holder_token(json_t *holder) {
  const char *t = json_string_value(json_object_get(holder, "token"));
  return t ? t : "";
}

/* Whether lock holder OLD is the coordinator process RUN, TOKEN: the same
 * run id alone is not enough, another coordinator can drive it too. */
static bool same_holder(json_t *old, const char *run, const char *token) {
  const char *orun = json_string_value(json_object_get(old, "run_id"));
  return orun && !strcmp(orun, run) && !strcmp(holder_token(old), token);
}

static void remember_lock(struct agent *a, const char *path, const char *run,
                          const char *token, bool auto_release) {
  if (auto_release) {
    snprintf(a->auto_lock_path, sizeof a->auto_lock_path, "%s", path);
    snprintf(a->auto_lock_run, sizeof a->auto_lock_run, "%s", run);
    snprintf(a->auto_lock_token, sizeof a->auto_lock_token, "%s", token);
  } else {
    a->lock_pinned = true;
    if (!strcmp(a->auto_lock_path, path))
      a->auto_lock_path[0] = a->auto_lock_run[0] = a->auto_lock_token[0] = '\0'; /* pinned: it stays */
  }
}

void agent_release_auto_lock(struct agent *a) {
  if (!a->auto_lock_path[0])
    return;
  int rc;
  json_t *old = lock_holder(a, a->auto_lock_path, &rc);
  if (same_holder(old, a->auto_lock_run, a->auto_lock_token))
    lock_remove(a, a->auto_lock_path);
  json_decref(old);
  a->auto_lock_path[0] = '\0';
}

/* op_lock's work on lock NAME in directory DFD. */
static int op_lock_at(struct agent *a, int dfd, const char *name, const char *path,
                      const char *run, json_t *holder, bool brk, bool auto_release,
                      json_t *res) {
  int rc;
  const char *token = holder_token(holder);
  for (int attempt = 0; attempt < 3; attempt++) {
    int w = lock_write(a, dfd, name, path, holder, false);
    if (w == 0) {
      json_object_set_new(res, "taken_over", json_null());
      remember_lock(a, path, run, token, auto_release);
      return 0;
    }
    if (w < 0)
      return w;
    json_t *old = lock_holder(a, path, &rc);
    if (!old && rc == EDR_ENOENT)
      continue; /* released meanwhile: try again */
    if (!old && rc)
      return rc;
    const char *orun = json_string_value(json_object_get(old, "run_id"));
    bool again = same_holder(old, run, token);
    if (again || brk) {
      /* the same coordinator again (e.g. to pin it before apply): nothing
       * to rewrite; another one's lock, even of this run, only with break */
      rc = again && !brk ? 0 : lock_write(a, dfd, name, path, holder, true);
      if (!rc) {
        json_object_set_new(res, "taken_over", old ? old : json_null());
        remember_lock(a, path, run, token, auto_release);
      }
      else
        json_decref(old);
      return rc;
    }
    json_object_set_new(res, "holder", old ? json_incref(old) : json_null());
    rc = agent_fail(a, EDR_EBUSY,
                    "'%s' is locked by run %s of %s on %s (pid %" JSON_INTEGER_FORMAT
                    ", %s) since %s",
                    path, orun ? orun : "?",
                    json_string_value(json_object_get(old, "user")) ?: "?",
                    json_string_value(json_object_get(old, "host")) ?: "?",
                    json_integer_value(json_object_get(old, "pid")),
                    json_string_value(json_object_get(old, "command")) ?: "?",
                    json_string_value(json_object_get(old, "since")) ?: "?");
    json_decref(old);
    return rc;
  }
  return agent_fail(a, EDR_EBUSY, "lock '%s' keeps changing", path);
}

/* Take the host's lock for a run.  A lock held by the same coordinator
 * (same run and token) stands; anyone else's, a resume or rollback of the
 * same run from another process included, is taken over only with
 * `break`: the coordinator decides that (a dead holder, --break-lock). */
int op_lock(struct agent *a, json_t *req, json_t *res) {
  const char *path, *run;
  bool brk = false, auto_release = false;
  json_t *holder = json_object_get(req, "holder");
  int rc;
  if ((rc = field_file_path(a, req, "path", &path)) || (rc = field_bool(a, req, "break", &brk)) ||
      (rc = field_bool(a, req, "auto_release", &auto_release)))
    return rc;
  if (!json_is_object(holder) ||
      !(run = json_string_value(json_object_get(holder, "run_id"))))
    return agent_fail(a, EDR_EINVAL, "field 'holder' must be an object with 'run_id'");
  json_t *tok = json_object_get(holder, "token");
  if (tok && (!json_is_string(tok) || !valid_token(json_string_value(tok))))
    return agent_fail(a, EDR_EINVAL, "field 'holder.token' must be 1 to 64 hex digits");
  char name[NAME_MAX + 1];
  int dfd = safe_open_parent(a, path, name, true, NULL);
  if (dfd < 0)
    return dfd;
  rc = op_lock_at(a, dfd, name, path, run, holder, brk, auto_release, res);
  close(dfd);
  return rc;
}

/* Release the lock of a run and coordinator token; anyone else's is left
 * alone (a lock written without a token goes by its run id). */
int op_unlock(struct agent *a, json_t *req, json_t *res) {
  const char *path, *run, *token = "";
  int rc;
  if ((rc = field_file_path(a, req, "path", &path)) ||
      (rc = field_str(a, req, "run_id", false, &run)) ||
      (rc = field_str(a, req, "token", true, &token)))
    return rc;
  if (!token)
    token = "";
  json_t *old = lock_holder(a, path, &rc);
  edr_error_clear(&a->err); /* no lock, or not ours: not an error */
  const char *orun = json_string_value(json_object_get(old, "run_id"));
  bool mine = orun && !strcmp(orun, run) &&
              (!*holder_token(old) || !strcmp(holder_token(old), token));
  if (mine && lock_remove(a, path) != 0 && errno != ENOENT) {
    json_decref(old);
    return agent_fail(a, edr_from_errno(errno), "cannot remove lock '%s': %s", path,
                      agent_errstr(errno));
  }
  if (mine && !strcmp(a->auto_lock_path, path))
    a->auto_lock_path[0] = '\0';
  json_object_set_new(res, "released", json_boolean(mine));
  json_decref(old);
  return 0;
}
