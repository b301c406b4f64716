/*
 * journal.c - the run's directory, journal and files on the coordinator
 * (journal.h).  Every journal line is written with one write(2) and
 * fdatasync'd, so after a crash the journal holds every step that finished.
 */
#include "journal.h"

#include "err.h"
#include "plan.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

struct edr_journal {
  char *dir;
  int fd;
};

char *edr_state_dir(void) {
  const char *env = getenv("ETCD_DR_STATE_DIR");
  if (env && *env)
    return strdup(env);
  if (geteuid() == 0)
    return strdup("/var/lib/etcd-dr");
  const char *xdg = getenv("XDG_STATE_HOME");
  if (xdg && *xdg)
    return edr_asprintf("%s/etcd-dr", xdg);
  const char *home = getenv("HOME");
  struct passwd *pw;
  if (!home || !*home)
    home = (pw = getpwuid(getuid())) ? pw->pw_dir : "/tmp";
  return edr_asprintf("%s/.local/state/etcd-dr", home);
}

static int mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return edr_from_errno(errno);
      *p = c;
      if (!c)
        break;
    }
  }
  return 0;
}

static char *run_dir(const char *run_id) {
  char *state = edr_state_dir();
  char *d = state ? edr_asprintf("%s/runs/%s", state, run_id) : NULL;
  free(state);
  return d;
}

/* Who holds the flock on FD's file, from /proc/locks: "pid N (etcd-dr
 * restore ...)", or "another process" when it cannot be told. */
static void lock_holder(int fd, char *out, size_t len) {
  struct stat st;
  char want[64], line[256];
  long pid = 0;
  snprintf(out, len, "another process");
  if (fstat(fd, &st) != 0)
    return;
  snprintf(want, sizeof want, "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
           (unsigned long long)st.st_ino);
  FILE *f = fopen("/proc/locks", "r");
  while (f && !pid && fgets(line, sizeof line, f)) {
    char kind[16], dev[64];
    long p;
    if (sscanf(line, "%*s %15s %*s %*s %ld %63s", kind, &p, dev) == 3 &&
        !strcmp(kind, "FLOCK") && !strcmp(dev, want))
      pid = p;
  }
  if (f)
    fclose(f);
  if (!pid)
    return;
  char path[64], cmd[160] = "";
  snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
  FILE *c = fopen(path, "r");
  size_t n = c ? fread(cmd, 1, sizeof cmd - 1, c) : 0;
  if (c)
    fclose(c);
  for (size_t i = 0; i < n; i++)
    if (cmd[i] == '\0')
      cmd[i] = ' ';
  while (n && cmd[n - 1] == ' ')
    n--;
  cmd[n] = '\0';
  char esc[200];
  snprintf(out, len, "pid %ld%s%s%s", pid, n ? " (" : "",
           n ? edr_escape(esc, sizeof esc, cmd, 0) : "", n ? ")" : "");
}

/* The run's lock: FD's file locked for this process, or EDR_EAGAIN with
 * the holder named in ERR. */
static int take_run_lock(int fd, const char *run_id, const char *path, struct edr_error *err) {
  if (flock(fd, LOCK_EX | LOCK_NB) == 0)
    return 0;
  if (errno != EWOULDBLOCK) {
    int rc = edr_from_errno(errno);
    return edr_error_set(err, rc, "cannot lock the journal of run %s ('%s'): %s", run_id,
                         path, edr_strerror(rc));
  }
  char who[256];
  lock_holder(fd, who, sizeof who);
  return edr_error_set(err, EDR_EAGAIN, "run %s is in use by another etcd-dr on this "
                       "machine: %s holds its journal '%s'; wait until it ends (or stop "
                       "it), then run this again", run_id, who, path);
}

int edr_journal_guard(const char *run_id, int *fd, struct edr_error *err) {
  *fd = -1;
  if (!edr_valid_token(run_id))
    return 0; /* not a run id this machine could have a journal for */
  char *dir = run_dir(run_id);
  char *path = dir ? edr_path_join(dir, "journal.jsonl") : NULL;
  free(dir);
  if (!path)
    return edr_error_set(err, EDR_ENOMEM, "out of memory");
  int rc = 0, f = open(path, O_RDONLY | O_CLOEXEC);
  if (f >= 0 && (rc = take_run_lock(f, run_id, path, err))) {
    close(f);
    f = -1;
  }
  free(path);
  *fd = f;
  return rc;
}

int edr_journal_open(struct edr_journal **out, const char *run_id, bool resume,
                     struct edr_error *err) {
  struct edr_journal *j = calloc(1, sizeof(*j));
  *out = NULL;
  if (!j || !(j->dir = run_dir(run_id))) {
    free(j);
    return edr_error_set(err, EDR_ENOMEM, "out of memory");
  }
  int rc = mkdirs(j->dir);
  char *path = rc ? NULL : edr_path_join(j->dir, "journal.jsonl");
  if (!rc && !path)
    rc = EDR_ENOMEM;
  if (!rc) {
    j->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | (resume ? 0 : O_EXCL), 0600);
    if (j->fd < 0)
      rc = edr_from_errno(errno);
  }
  /* held until the journal is closed: one coordinator per run */
  if (!rc && (rc = take_run_lock(j->fd, run_id, path, err))) {
    close(j->fd);
    free(path);
    free(j->dir);
    free(j);
    return rc;
  }
  if (rc) {
    edr_error_set(err, rc, "cannot %s the journal of run %s in '%s': %s",
                  resume ? "open" : "create", run_id, j->dir,
                  rc == EDR_EEXIST ? "a run with that id exists already" : edr_strerror(rc));
    free(path);
    free(j->dir);
    free(j);
    return rc;
  }
  free(path);
  *out = j;
  return 0;
}

void edr_journal_close(struct edr_journal *j) {
  if (!j)
    return;
  if (j->fd >= 0)
    close(j->fd);
  free(j->dir);
  free(j);
}

const char *edr_journal_dir(const struct edr_journal *j) { return j->dir; }

static void append(struct edr_journal *j, json_t *o) {
  char stamp[40];
  edr_iso_now(stamp, sizeof stamp);
  json_object_set_new(o, "t", json_string(stamp));
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (s) {
    char *line = edr_asprintf("%s\n", s);
    if (line && write(j->fd, line, strlen(line)) == (ssize_t)strlen(line))
      fdatasync(j->fd);
    free(line);
    free(s);
  }
}

void edr_journal_step(struct edr_journal *j, const char *host, size_t index,
                      const char *step, const char *event, int status,
                      const char *message) {
  if (!j)
    return;
  json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "host", host, "index", (json_int_t)index,
                        "step", step, "event", event);
  if (!o)
    return;
  if (status)
    json_object_set_new(o, "error", json_string(edr_err_name(status)));
  if (message)
    json_object_set_new(o, "message", json_string(message));
  append(j, o);
  json_decref(o);
}

void edr_journal_event(struct edr_journal *j, const char *event, json_t *fields) {
  if (!j)
    return;
  json_t *o = json_pack("{s:s}", "event", event);
  if (o && fields)
    json_object_update(o, fields);
  if (o)
    append(j, o);
  json_decref(o);
}

int edr_journal_write(struct edr_journal *j, const char *name, json_t *obj) {
  char *path = edr_path_join(j->dir, name);
  char *tmp = path ? edr_asprintf("%s.tmp", path) : NULL;
  int rc = 0;
  if (!tmp) {
    free(path);
    return EDR_ENOMEM;
  }
  /* One write: json_dumpfd writes token by token (10,000+ tiny writes for
   * a report, measured by the benchmark). */
  char *text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  char *body = text ? edr_asprintf("%s\n", text) : NULL;
  free(text);
  int fd = body ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
  errno = 0;
  if (!body)
    rc = EDR_ENOMEM;
  else if (fd < 0 || write(fd, body, strlen(body)) != (ssize_t)strlen(body) || fsync(fd) != 0)
    rc = edr_from_errno(errno ? errno : EIO);
  free(body);
  if (fd >= 0)
    close(fd);
  if (!rc && rename(tmp, path) != 0)
    rc = edr_from_errno(errno);
  if (rc)
    unlink(tmp);
  free(tmp);
  free(path);
  return rc;
}

json_t *edr_journal_load(const char *run_id, struct edr_error *err) {
  json_error_t je;
  if (!edr_valid_token(run_id)) {
    edr_error_set(err, EDR_EINVAL, "'%s' is not a run id", run_id);
    return NULL;
  }
  char *dir = run_dir(run_id);
  char *cmd = dir ? edr_path_join(dir, "command.json") : NULL;
  char *jpath = dir ? edr_path_join(dir, "journal.jsonl") : NULL;
  json_t *out = NULL, *command = cmd ? json_load_file(cmd, 0, &je) : NULL;
  FILE *f = jpath ? fopen(jpath, "r") : NULL;
  if (!command || !f) {
    edr_error_set(err, !dir ? EDR_ENOMEM : EDR_ENOENT,
                  "no run %s in '%s' (its command.json and journal.jsonl): %s", run_id,
                  dir ? dir : "?", !command ? je.text : strerror(errno));
    goto out;
  }
  json_t *events = json_array();
  char line[65536];
  while (fgets(line, sizeof line, f)) {
    json_t *e = json_loads(line, 0, &je);
    if (e)
      json_array_append_new(events, e); /* a torn last line is skipped */
  }
  out = json_pack("{s:s, s:O, s:o}", "dir", dir, "command", command, "events", events);
out:
  if (f)
    fclose(f);
  json_decref(command);
  free(cmd);
  free(jpath);
  free(dir);
  return out;
}
