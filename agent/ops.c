/*
 * ops.c - the agent's operations, one function each, and the table that
 * agent.c dispatches through.  Every op acts with system calls or execve of
 * an argv, never through a shell; every error message is lowercase and
 * names the path and what was found.  See docs/agent-protocol.md.
 */
#include "agent.h"

#include "bbolt.h"
#include "err.h"
#include "sha256.h"
#include "snapfile.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum {
  RECV_BUF = 256 * 1024,
  TAIL_MAX = 4096,          /* run: last bytes kept of stdout and stderr */
  HELP_MAX = 64 * 1024,     /* probe: last bytes kept of a tool's help */
  TOOL_TIMEOUT_MS = 10000,  /* probe: one tool invocation */
  KILL_GRACE_MS = 5000,     /* run: SIGTERM to SIGKILL */
  EXIT_DRAIN_MS = 200,      /* run: pipes kept open by daemonized children */
  LOCK_POLL_MS = 100,
};
static const uint64_t RECV_SIZE_MAX = 1ULL << 40; /* 1 TiB */

/* ---- request fields ---------------------------------------------------- */

/* String field KEY; NULL allowed when NULLABLE (and when missing then). */
static int f_str(struct agent *a, json_t *req, const char *key, bool nullable,
                 const char **out) {
  json_t *v = json_object_get(req, key);
  *out = NULL;
  if ((!v || json_is_null(v)) && nullable)
    return 0;
  if (!json_is_string(v))
    return agent_fail(a, EDR_EINVAL, "field '%s' is %s, expected a string", key,
                      v ? "not a string" : "missing");
  if (strlen(json_string_value(v)) != json_string_length(v))
    return agent_fail(a, EDR_EINVAL, "field '%s' contains a nul byte", key);
  *out = json_string_value(v);
  return 0;
}

/* An absolute path without nul bytes. */
static int f_path(struct agent *a, json_t *req, const char *key, bool nullable,
                  const char **out) {
  int rc = f_str(a, req, key, nullable, out);
  if (rc == 0 && *out && (*out)[0] != '/')
    return agent_fail(a, EDR_EINVAL, "field '%s' is '%s', expected an absolute path",
                      key, *out);
  if (rc == 0 && *out && strlen(*out) >= PATH_MAX - 16)
    return agent_fail(a, EDR_EINVAL, "field '%s' is a path too long", key);
  return rc;
}

/* A path naming a file to create or move: no trailing slash. */
static int f_file_path(struct agent *a, json_t *req, const char *key,
                       const char **out) {
  int rc = f_path(a, req, key, false, out);
  size_t l = rc == 0 ? strlen(*out) : 0;
  if (rc == 0 && (l < 2 || (*out)[l - 1] == '/'))
    return agent_fail(a, EDR_EINVAL, "field '%s' is '%s', expected a path that "
                      "does not end with '/'", key, *out);
  return rc;
}

static int f_int(struct agent *a, json_t *req, const char *key, bool optional,
                 json_int_t min, json_int_t max, json_int_t *out) {
  json_t *v = json_object_get(req, key);
  if ((!v || json_is_null(v)) && optional)
    return 0;
  if (!json_is_integer(v))
    return agent_fail(a, EDR_EINVAL, "field '%s' is %s, expected an integer", key,
                      v ? "not an integer" : "missing");
  json_int_t i = json_integer_value(v);
  if (i < min || i > max)
    return agent_fail(a, EDR_EINVAL, "field '%s' is %" JSON_INTEGER_FORMAT
                      ", expected %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
                      key, i, min, max);
  *out = i;
  return 0;
}

static int f_bool(struct agent *a, json_t *req, const char *key, bool *out) {
  json_t *v = json_object_get(req, key);
  if (!v || json_is_null(v))
    return 0; /* keeps the caller's default */
  if (!json_is_boolean(v))
    return agent_fail(a, EDR_EINVAL, "field '%s' is not a boolean", key);
  *out = json_is_true(v);
  return 0;
}

/* ---- small helpers ------------------------------------------------------ */

/* strerror(), lowercased for our messages; a few rotating buffers so that
 * one message may hold two. */
static const char *lower_text(const char *t) {
  static char bufs[4][128];
  static unsigned next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof(bufs[0]), "%s", t ? t : "?");
  for (char *c = b; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  return b;
}

static const char *errstr(int e) { return lower_text(strerror(e)); }

static void mode_str(mode_t m, char out[8]) {
  snprintf(out, 8, "0%03o", (unsigned)(m & 07777));
}

static const char *kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISREG(m)) return "a regular file";
  if (S_ISLNK(m)) return "a symlink";
  return "a special file";
}

/* Strings from commands may be any bytes: keep valid UTF-8, replace the
 * rest (and nul) with '?', so that JSON can carry them. */
static json_t *json_bytes(const char *s, size_t n) {
  char *o = malloc(n + 1);
  if (!o)
    return json_null();
  size_t j = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
               : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && c != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; k++)
      ok = ((unsigned char)s[i + k] >> 6) == 2;
    if (ok && len > 1) { /* overlong forms and surrogates: jansson rejects */
      unsigned char c1 = (unsigned char)s[i + 1];
      ok = !(c == 0xC0 || c == 0xC1 || (c == 0xE0 && c1 < 0xA0) ||
             (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
             (c == 0xF4 && c1 >= 0x90) || c > 0xF4);
    }
    if (!ok) {
      o[j++] = '?';
      i++;
      continue;
    }
    memcpy(o + j, s + i, len);
    j += len;
    i += len;
  }
  json_t *v = json_stringn(o, j);
  free(o);
  return v ? v : json_null();
}

static int fsync_dir_of(const char *path) {
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

/* mkdir -p of the parent of PATH, new directories mode 0700. */
static int mkdir_parents(struct agent *a, const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof(buf), "%s", path);
  char *last = strrchr(buf, '/');
  if (!last || last == buf)
    return 0;
  *last = '\0';
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0700) == 0) {
        if (a->n_made < (int)(sizeof a->made_dirs / sizeof a->made_dirs[0]))
          a->made_dirs[a->n_made++] = strdup(buf);
      } else if (errno != EEXIST) {
        return agent_fail(a, edr_from_errno(errno), "cannot create directory '%s': %s",
                          buf, errstr(errno));
      }
      struct stat st;
      if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode))
        return agent_fail(a, EDR_EEXIST, "'%s' is %s, expected a directory", buf,
                          kind_of(st.st_mode));
      *p = c;
      if (c == '\0')
        break;
    }
  }
  return 0;
}

/* rename(2) that never replaces TO.  Falls back to a check-then-rename where
 * the file system lacks RENAME_NOREPLACE. */
static int rename_noreplace(const char *from, const char *to) {
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
  struct stat st;
  if (lstat(to, &st) == 0) {
    errno = EEXIST;
    return -1;
  }
  return rename(from, to);
}

static int sha256_file(struct agent *a, const char *path, char hex[65],
                       uint64_t *bytes) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", path,
                      errstr(errno));
  static unsigned char buf[RECV_BUF];
  unsigned char md[32];
  struct edr_sha256 ctx;
  int rc = 0;
  *bytes = 0;
  edr_sha256_init(&ctx);
  for (;;) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path,
                      errstr(errno));
      goto out;
    }
    if (r == 0)
      break;
    edr_sha256_update(&ctx, buf, (size_t)r);
    *bytes += (uint64_t)r;
  }
  edr_sha256_final(&ctx, md);
  edr_hex(md, 32, hex);
out:
  close(fd);
  return rc;
}

/* ---- child processes ---------------------------------------------------- */

/* The last CAP bytes written. */
struct tail {
  char *buf;
  size_t cap, len;
  uint64_t total;
};

static void tail_add(struct tail *t, const char *p, size_t n) {
  t->total += n;
  if (n >= t->cap) {
    memcpy(t->buf, p + n - t->cap, t->cap);
    t->len = t->cap;
    return;
  }
  if (t->len + n > t->cap) {
    size_t drop = t->len + n - t->cap;
    memmove(t->buf, t->buf + drop, t->len - drop);
    t->len -= drop;
  }
  memcpy(t->buf + t->len, p, n);
  t->len += n;
}

/* An environment as a NULL-terminated array of malloc'd "K=V". */
struct env {
  char **v;
  size_t n;
};

static void env_free(struct env *e) {
  for (size_t i = 0; i < e->n; i++)
    free(e->v[i]);
  free(e->v);
  e->v = NULL;
  e->n = 0;
}

static const char *env_get(const struct env *e, const char *key) {
  size_t kl = strlen(key);
  for (size_t i = 0; i < e->n; i++)
    if (strncmp(e->v[i], key, kl) == 0 && e->v[i][kl] == '=')
      return e->v[i] + kl + 1;
  return NULL;
}

/* Set KEY to VAL, or unset it when VAL is NULL. */
static int env_set(struct env *e, const char *key, const char *val) {
  size_t kl = strlen(key);
  for (size_t i = 0; i < e->n; i++) {
    if (strncmp(e->v[i], key, kl) == 0 && e->v[i][kl] == '=') {
      free(e->v[i]);
      if (!val) {
        e->v[i] = e->v[--e->n];
        e->v[e->n] = NULL;
        return 0;
      }
      e->v[i] = edr_asprintf("%s=%s", key, val);
      return e->v[i] ? 0 : EDR_ENOMEM;
    }
  }
  if (!val)
    return 0;
  char **nv = realloc(e->v, (e->n + 2) * sizeof(*nv));
  if (!nv)
    return EDR_ENOMEM;
  e->v = nv;
  e->v[e->n] = edr_asprintf("%s=%s", key, val);
  if (!e->v[e->n])
    return EDR_ENOMEM;
  e->v[++e->n] = NULL;
  return 0;
}

/* The agent's own environment, with a sane PATH if it has none. */
static int env_init(struct env *e) {
  e->v = calloc(1, sizeof(*e->v));
  e->n = 0;
  if (!e->v)
    return EDR_ENOMEM;
  for (char **p = environ; p && *p; p++) {
    char *eq = strchr(*p, '=');
    if (!eq || eq == *p)
      continue;
    char key[256];
    if ((size_t)(eq - *p) >= sizeof(key))
      continue;
    memcpy(key, *p, (size_t)(eq - *p));
    key[eq - *p] = '\0';
    if (env_set(e, key, eq + 1) != 0)
      return EDR_ENOMEM;
  }
  const char *path = env_get(e, "PATH");
  if (!path || !*path)
    return env_set(e, "PATH", DEFAULT_PATH);
  return 0;
}

static bool is_exec_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Resolve ARGV0 through the PATH of ENV; *out is malloc'd. */
static int find_exec(struct agent *a, const char *argv0, const struct env *env,
                     char **out) {
  *out = NULL;
  if (!*argv0)
    return agent_fail(a, EDR_EINVAL, "argv[0] is empty");
  if (strchr(argv0, '/')) {
    if (argv0[0] != '/')
      return agent_fail(a, EDR_EINVAL, "argv[0] '%s' is a relative path: give a "
                        "name to look up in the search path or an absolute path", argv0);
    *out = strdup(argv0);
    return *out ? 0 : EDR_ENOMEM;
  }
  const char *path = env_get(env, "PATH");
  if (!path)
    path = DEFAULT_PATH;
  for (const char *p = path;;) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    /* Empty and relative entries would depend on the cwd: skipped. */
    char *cand = len && p[0] == '/' ? edr_asprintf("%.*s/%s", (int)len, p, argv0)
                                    : strdup("");
    if (!cand)
      return EDR_ENOMEM;
    if (cand[0] && is_exec_file(cand)) {
      *out = cand;
      return 0;
    }
    free(cand);
    if (!end)
      break;
    p = end + 1;
  }
  return agent_fail(a, EDR_ENOENT, "'%s' not found in the search path '%s'", argv0, path);
}

struct proc {
  char *const *argv;
  char **envp;
  int64_t timeout_ms; /* 0: none */
  /* Progress watch (both or neither): the child is stopped like at
   * timeout_ms when neither WATCH nor WATCH.part grew for IDLE_MS. */
  const char *watch;
  int64_t idle_ms;
  struct tail out, err;
  int exit_code;      /* -1 unless it exited */
  int sig;            /* 0 unless killed by a signal */
  bool timed_out;
  bool idle;            /* timed_out because the watched file stopped growing */
  bool pipes_left_open; /* a background process still held stdout/stderr */
  uint64_t duration_ms;
};

static void drain(int *fd, struct tail *t) {
  static char buf[64 * 1024];
  for (int i = 0; i < 16 && *fd >= 0; i++) {
    ssize_t r = read(*fd, buf, sizeof(buf));
    if (r > 0) {
      tail_add(t, buf, (size_t)r);
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN)
      return;
    close(*fd);
    *fd = -1;
  }
}

/* Bytes in PATH plus PATH.part (where etcdctl snapshot save writes until
 * it renames): what a progress watch compares; 0 for files not there. */
static uint64_t watched_bytes(const char *path) {
  char part[PATH_MAX];
  struct stat st;
  uint64_t n = 0;
  if (stat(path, &st) == 0)
    n += (uint64_t)st.st_size;
  if ((size_t)snprintf(part, sizeof part, "%s.part", path) < sizeof part &&
      stat(part, &st) == 0)
    n += (uint64_t)st.st_size;
  return n;
}

/* Run P->argv (argv[0] resolved already) and wait for it, capturing the
 * tails of its output.  Returns 0 once it ran (whatever its status) or a
 * negative code when it could not be started. */
static int proc_run(struct agent *a, struct proc *p) {
  int out[2] = {-1, -1}, err[2] = {-1, -1}, ex[2] = {-1, -1};
  uint64_t start = edr_now_ms();
  p->exit_code = -1;
  p->sig = 0;
  p->timed_out = false;
  p->idle = false;
  p->pipes_left_open = false;
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(ex, O_CLOEXEC)) {
    int e = errno;
    for (int i = 0; i < 2; i++) {
      if (out[i] >= 0) close(out[i]);
      if (err[i] >= 0) close(err[i]);
      if (ex[i] >= 0) close(ex[i]);
    }
    return agent_fail(a, edr_from_errno(e), "cannot create pipes: %s", errstr(e));
  }
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    setpgid(0, 0);
    if (chdir("/") != 0) {
      int e = errno;
      (void)!write(ex[1], &e, sizeof(e));
      _exit(127);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) {
      int e = errno;
      (void)!write(ex[1], &e, sizeof(e));
      _exit(127);
    }
    execve(p->argv[0], p->argv, p->envp);
    int e = errno;
    (void)!write(ex[1], &e, sizeof(e));
    _exit(127);
  }
  int fork_errno = errno;
  close(out[1]);
  close(err[1]);
  close(ex[1]);
  if (pid < 0) {
    close(out[0]);
    close(err[0]);
    close(ex[0]);
    return agent_fail(a, edr_from_errno(fork_errno), "cannot fork for '%s': %s",
                      p->argv[0], errstr(fork_errno));
  }
  setpgid(pid, pid); /* also here: no race with the first kill() */
  int exec_errno = 0;
  ssize_t r;
  do
    r = read(ex[0], &exec_errno, sizeof(exec_errno));
  while (r < 0 && errno == EINTR);
  close(ex[0]);
  if (r == (ssize_t)sizeof(exec_errno)) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
      ;
    close(out[0]);
    close(err[0]);
    return agent_fail(a, edr_from_errno(exec_errno), "cannot execute '%s': %s",
                      p->argv[0], errstr(exec_errno));
  }
  int fds[2] = {out[0], err[0]};
  struct tail *tails[2] = {&p->out, &p->err};
  for (int i = 0; i < 2; i++)
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);

  bool exited = false;
  int status = 0;
  uint64_t exited_at = 0, term_at = 0;
  uint64_t seen = p->watch ? watched_bytes(p->watch) : 0, grew_at = start;
  bool killed = false;
  for (;;) {
    if (!exited) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        exited_at = edr_now_ms();
      }
    }
    uint64_t now = edr_now_ms();
    if (exited && ((fds[0] < 0 && fds[1] < 0) || now - exited_at >= EXIT_DRAIN_MS))
      break;
    if (!exited && p->timeout_ms > 0 && !term_at &&
        now - start >= (uint64_t)p->timeout_ms) {
      kill(-pid, SIGTERM);
      term_at = now;
      p->timed_out = true;
    }
    if (!exited && p->watch && !term_at) {
      uint64_t b = watched_bytes(p->watch);
      if (b != seen) {
        seen = b;
        grew_at = now;
      } else if (now - grew_at >= (uint64_t)p->idle_ms) {
        kill(-pid, SIGTERM);
        term_at = now;
        p->timed_out = p->idle = true;
      }
    }
    if (!exited && term_at && !killed && now - term_at >= KILL_GRACE_MS) {
      kill(-pid, SIGKILL);
      killed = true;
    }
    struct pollfd pfd[2];
    int n = 0;
    for (int i = 0; i < 2; i++)
      if (fds[i] >= 0)
        pfd[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    int wait_ms = exited ? 20 : 50; /* SIGCHLD is not caught: poll waitpid */
    if (poll(pfd, (nfds_t)n, wait_ms) < 0 && errno != EINTR)
      usleep(wait_ms * 1000);
    for (int i = 0; i < 2; i++)
      if (fds[i] >= 0)
        drain(&fds[i], tails[i]);
  }
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0) {
      p->pipes_left_open = true;
      close(fds[i]);
    }
  if (WIFEXITED(status))
    p->exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    p->sig = WTERMSIG(status);
  p->duration_ms = edr_now_ms() - start;
  return 0;
}

/* ---- hello -------------------------------------------------------------- */

static int op_hello(struct agent *a, json_t *req, json_t *res) {
  const char *run_id, *host;
  int rc;
  if ((rc = f_str(a, req, "run_id", true, &run_id)) ||
      (rc = f_str(a, req, "host", true, &host)))
    return rc;
  snprintf(a->run_id, sizeof(a->run_id), "%s", run_id ? run_id : "");
  snprintf(a->host, sizeof(a->host), "%s", host ? host : "");

  char hex[65];
  uint64_t bytes;
  if ((rc = sha256_file(a, "/proc/self/exe", hex, &bytes)))
    return rc;
  struct utsname u;
  if (uname(&u) != 0)
    return agent_fail(a, edr_from_errno(errno), "uname failed: %s", errstr(errno));
  json_object_set_new(res, "version", json_string(EDR_VERSION));
  json_object_set_new(res, "sha256", json_string(hex));
  json_object_set_new(res, "uid", json_integer(geteuid()));
  json_object_set_new(res, "arch", json_string(u.machine));
  json_object_set_new(res, "hostname", json_bytes(u.nodename, strlen(u.nodename)));
  json_object_set_new(res, "time", json_integer((json_int_t)time(NULL)));
  json_object_set_new(res, "pid", json_integer(getpid()));
  return 0;
}

/* ---- locks: is an etcd process holding this data dir? -------------------- */

/* 1 if FILE carries a lock of another process (flock or OFD/POSIX record
 * lock), 0 if not, negative when it cannot be checked.  KIND says which. */
static int file_locked(const char *file, const char **kind) {
  int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return errno == ENOENT ? 0 : edr_from_errno(errno);
  int held = 0;
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(fd, F_OFD_GETLK, &fl) == 0) {
    if (fl.l_type != F_UNLCK) {
      held = 1;
      *kind = "ofd";
    }
  } else {
    struct flock pl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_GETLK, &pl) == 0 && pl.l_type != F_UNLCK) {
      held = 1;
      *kind = "posix";
    }
  }
  if (!held) {
    /* Our own flock is released at once: bbolt retries its flock, so a
     * starting etcd only waits. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        held = 1;
        *kind = "flock";
      }
    } else {
      flock(fd, LOCK_UN);
    }
  }
  close(fd);
  return held;
}

/* The first locked file among member/snap/db and the WAL files, into WHICH
 * (PATH_MAX).  Returns 1 locked, 0 free, negative on error. */
static int etcd_lock(const char *data_dir, const char *wal_dir, char *which,
                     const char **kind) {
  snprintf(which, PATH_MAX, "%s/member/snap/db", data_dir);
  int rc = file_locked(which, kind);
  if (rc != 0)
    return rc;
  char wal[PATH_MAX];
  if (wal_dir)
    snprintf(wal, sizeof(wal), "%s", wal_dir);
  else
    snprintf(wal, sizeof(wal), "%s/member/wal", data_dir);
  DIR *d = opendir(wal);
  if (!d)
    return 0;
  struct dirent *de;
  rc = 0;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 5 || strcmp(de->d_name + l - 4, ".wal") != 0)
      continue;
    if (snprintf(which, PATH_MAX, "%s/%s", wal, de->d_name) >= PATH_MAX)
      continue;
    int r = file_locked(which, kind);
    if (r == 1) {
      rc = 1;
      break;
    }
  }
  closedir(d);
  return rc;
}

/* ---- probe -------------------------------------------------------------- */

static const char *const restore_flags[] = {
    "--wal-dir", "--skip-hash-check", "--bump-revision", "--mark-compacted",
    "--initial-memory-map-size", NULL};

static const char *const tool_dirs[] = {"/usr/local/bin", "/usr/bin", "/usr/sbin",
                                        "/bin", "/opt/etcd/bin", NULL};

/* FLAG appears in TEXT as a whole option name. */
static bool has_flag(const char *text, const char *flag) {
  size_t fl = strlen(flag);
  for (const char *p = text; (p = strstr(p, flag)); p += fl) {
    bool before = p == text || p[-1] == ' ' || p[-1] == '\t' || p[-1] == ',' ||
                  p[-1] == '\n';
    char c = p[fl];
    bool after = !(c == '-' || c == '_' || (c >= 'a' && c <= 'z') ||
                   (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
    if (before && after)
      return true;
  }
  return false;
}

/* Run TOOL ARGS... with ETCDCTL_API=3, stdout and stderr joined into *text
 * (malloc'd).  Returns 0 when it ran at all. */
static int tool_output(struct agent *a, const char *tool, const char *const *args,
                       char **text, int *exit_code) {
  struct env env;
  char *argv[8];
  int n = 0, rc;
  *text = NULL;
  argv[n++] = (char *)tool;
  for (; *args && n < 7; args++)
    argv[n++] = (char *)*args;
  argv[n] = NULL;
  if ((rc = env_init(&env)) || (rc = env_set(&env, "ETCDCTL_API", "3"))) {
    env_free(&env);
    return rc;
  }
  char *ob = malloc(HELP_MAX), *eb = malloc(HELP_MAX);
  struct proc p = {.argv = argv, .envp = env.v, .timeout_ms = TOOL_TIMEOUT_MS,
                   .out = {.buf = ob, .cap = HELP_MAX},
                   .err = {.buf = eb, .cap = HELP_MAX}};
  if (!ob || !eb)
    rc = EDR_ENOMEM;
  else
    rc = proc_run(a, &p);
  if (rc == 0) {
    *text = malloc(p.out.len + p.err.len + 2);
    if (*text) {
      memcpy(*text, p.out.buf, p.out.len);
      (*text)[p.out.len] = '\n';
      memcpy(*text + p.out.len + 1, p.err.buf, p.err.len);
      (*text)[p.out.len + 1 + p.err.len] = '\0';
    } else {
      rc = EDR_ENOMEM;
    }
    *exit_code = p.timed_out ? -1 : p.exit_code;
  }
  free(ob);
  free(eb);
  env_free(&env);
  return rc;
}

/* "3.5.16" out of `etcdutl version` ("etcdutl version: 3.5.16\nAPI ..."). */
static json_t *parse_version(const char *text) {
  for (const char *p = text; (p = strstr(p, "version:")); p++) {
    if (p != text && p[-1] != ' ' && p[-1] != '\n')
      continue;
    const char *lstart = p;
    while (lstart > text && lstart[-1] != '\n')
      lstart--;
    if (strncmp(lstart, "API", 3) == 0)
      continue;
    p += 8;
    while (*p == ' ' || *p == '\t')
      p++;
    size_t n = strspn(p, "0123456789.+-abcdefghijklmnopqrstuvwxyz");
    if (n > 0 && p[0] >= '0' && p[0] <= '9')
      return json_stringn(p, n);
  }
  return json_null();
}

/* Examine one candidate tool: usable when `snapshot restore --help` lists
 * --data-dir.  Returns the "tool" object, or NULL with *why set. */
static json_t *try_tool(struct agent *a, const char *path, char *why, size_t whylen) {
  static const char *const help_args[] = {"snapshot", "restore", "--help", NULL};
  static const char *const version_args[] = {"version", NULL};
  char *help = NULL, *ver = NULL;
  int code;
  char save[AGENT_MSG_MAX];
  json_t *tool = NULL;
  memcpy(save, a->msg, sizeof(save));
  if (tool_output(a, path, help_args, &help, &code) != 0) {
    if (snprintf(why, whylen, "%s", a->msg) >= (int)whylen)
      why[whylen - 1] = '\0';
    goto out;
  }
  if (code < 0) {
    snprintf(why, whylen, "'%s snapshot restore --help' timed out", path);
    goto out;
  }
  if (!has_flag(help, "--data-dir")) {
    snprintf(why, whylen, "'%s snapshot restore --help' lists no --data-dir", path);
    goto out;
  }
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  const char *kind = strstr(help, "etcdutl snapshot restore") ? "etcdutl"
                     : strstr(help, "etcdctl snapshot restore") ? "etcdctl"
                     : strncmp(base, "etcdutl", 7) == 0 ? "etcdutl" : "etcdctl";
  json_t *flags = json_array();
  for (const char *const *f = restore_flags; *f; f++)
    if (has_flag(help, *f))
      json_array_append_new(flags, json_string(*f));
  json_t *version = json_null();
  if (tool_output(a, path, version_args, &ver, &code) == 0 && code == 0) {
    json_decref(version);
    version = parse_version(ver);
  }
  tool = json_pack("{s:s, s:s, s:o, s:o}", "path", path, "kind", kind, "version",
                   version, "flags", flags);
out:
  memcpy(a->msg, save, sizeof(save));
  free(help);
  free(ver);
  return tool;
}

static int find_tool(struct agent *a, const char *want, json_t **tool,
                     char **tool_error) {
  *tool = NULL;
  *tool_error = NULL;
  char why[1024];
  if (want[0] == '/') {
    if (!is_exec_file(want)) {
      *tool_error = edr_asprintf("restore tool '%s' is not an executable file", want);
      return 0;
    }
    *tool = try_tool(a, want, why, sizeof(why));
    if (!*tool)
      *tool_error = strdup(why);
    return 0;
  }
  const char *names_auto[] = {"etcdutl", "etcdctl", NULL};
  const char *names_one[] = {want, NULL};
  const char *const *names;
  if (strcmp(want, "auto") == 0)
    names = names_auto;
  else if (strcmp(want, "etcdutl") == 0 || strcmp(want, "etcdctl") == 0)
    names = names_one;
  else
    return agent_fail(a, EDR_EINVAL, "field 'restore_tool' is '%s', expected "
                      "\"auto\", \"etcdutl\", \"etcdctl\" or an absolute path", want);

  /* The directories, in order, without repeats: $PATH, then the usual ones. */
  const char *dirs[64];
  int nd = 0;
  char pathbuf[4096];
  const char *envpath = getenv("PATH");
  snprintf(pathbuf, sizeof(pathbuf), "%s", envpath && *envpath ? envpath : DEFAULT_PATH);
  for (char *save = NULL, *d = strtok_r(pathbuf, ":", &save); d && nd < 58;
       d = strtok_r(NULL, ":", &save))
    if (d[0] == '/')
      dirs[nd++] = d;
  for (const char *const *d = tool_dirs; *d; d++)
    dirs[nd++] = *d;

  char looked[2048] = "";
  char rejected[2048] = "";
  for (const char *const *name = names; *name; name++) {
    for (int i = 0; i < nd; i++) {
      bool seen = false;
      for (int j = 0; j < i; j++)
        seen = seen || strcmp(dirs[i], dirs[j]) == 0;
      if (seen)
        continue;
      if (name == names) {
        size_t l = strlen(looked);
        snprintf(looked + l, sizeof(looked) - l, "%s%s", l ? ", " : "", dirs[i]);
      }
      char cand[PATH_MAX];
      snprintf(cand, sizeof(cand), "%s/%s", dirs[i], *name);
      if (!is_exec_file(cand))
        continue;
      *tool = try_tool(a, cand, why, sizeof(why));
      if (*tool)
        return 0;
      agent_log(a, "restore tool candidate rejected: %s", why);
      size_t l = strlen(rejected);
      snprintf(rejected + l, sizeof(rejected) - l, "; %s", why);
    }
  }
  *tool_error = edr_asprintf("no usable %s found in %s%s",
                             names == names_auto ? "etcdutl or etcdctl" : want,
                             looked, rejected);
  return 0;
}

/* Nearest existing ancestor of PATH (PATH itself if it exists) into OUT. */
static void existing_ancestor(const char *path, char *out, size_t outlen) {
  struct stat st;
  snprintf(out, outlen, "%s", path);
  while (stat(out, &st) != 0) {
    char *slash = strrchr(out, '/');
    if (!slash || slash == out) {
      snprintf(out, outlen, "/");
      return;
    }
    *slash = '\0';
  }
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_mount(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
        p[3] >= '0' && p[3] <= '7') {
      *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
      p += 3;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
}

static bool is_mountpoint(const char *path, const struct stat *st) {
  char parent[PATH_MAX + 4];
  struct stat pst;
  snprintf(parent, sizeof(parent), "%s/..", path);
  if (stat(parent, &pst) == 0 &&
      (pst.st_dev != st->st_dev || pst.st_ino == st->st_ino))
    return true;
  /* Bind mounts within one file system keep st_dev: ask the kernel. */
  char real[PATH_MAX];
  if (!realpath(path, real))
    return false;
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f)
    return false;
  char line[8192];
  bool found = false;
  while (!found && fgets(line, sizeof(line), f)) {
    char *save = NULL, *field = strtok_r(line, " ", &save);
    for (int i = 1; field && i < 5; i++)
      field = strtok_r(NULL, " ", &save);
    if (field) {
      unescape_mount(field);
      found = strcmp(field, real) == 0;
    }
  }
  fclose(f);
  return found;
}

/* Facts about directory PATH: the data dir's or the WAL dir's.  Returns the
 * object; a PATH that exists but is no directory sets *rc. */
static json_t *dir_facts(struct agent *a, const char *path, bool data, int *rc) {
  json_t *o = json_object();
  struct stat st;
  json_object_set_new(o, "path", json_string(path));
  if (stat(path, &st) != 0) {
    int e = errno;
    json_object_set_new(o, "exists", json_false());
    if (data)
      json_object_set_new(o, "has_member", json_false());
    if (e != ENOENT && !*rc)
      *rc = agent_fail(a, edr_from_errno(e), "cannot stat '%s': %s", path, errstr(e));
  } else {
    char mode[8];
    mode_str(st.st_mode, mode);
    json_object_set_new(o, "exists", json_true());
    json_object_set_new(o, "uid", json_integer(st.st_uid));
    json_object_set_new(o, "gid", json_integer(st.st_gid));
    json_object_set_new(o, "mode", json_string(mode));
    json_object_set_new(o, "mountpoint", json_boolean(is_mountpoint(path, &st)));
    if (!S_ISDIR(st.st_mode) && !*rc)
      *rc = agent_fail(a, EDR_EINVAL, "'%s' is %s, expected a directory", path,
                       kind_of(st.st_mode));
    if (data) {
      char member[PATH_MAX + 16];
      struct stat mst;
      snprintf(member, sizeof(member), "%s/member", path);
      bool has = stat(member, &mst) == 0 && S_ISDIR(mst.st_mode);
      json_object_set_new(o, "has_member", json_boolean(has));
      /* a restore renames it aside: a mount point would refuse (EBUSY) */
      json_object_set_new(o, "member_mountpoint",
                          json_boolean(has && is_mountpoint(member, &mst)));
    }
  }
  if (data) {
    char db[PATH_MAX + 32];
    int64_t rev = 0;
    snprintf(db, sizeof(db), "%s/member/snap/db", path);
    struct stat dst;
    bool there = stat(db, &dst) == 0;
    bool ok = there && edr_bolt_revision(db, &rev) == 0;
    json_object_set_new(o, "revision", ok ? json_integer(rev) : json_null());
    json_object_set_new(o, "db_bytes", there ? json_integer((json_int_t)dst.st_size)
                                             : json_null());
  }
  char anc[PATH_MAX];
  struct statvfs vfs;
  existing_ancestor(path, anc, sizeof(anc));
  if (statvfs(anc, &vfs) == 0) {
    json_object_set_new(o, "free_bytes",
                        json_integer((json_int_t)((uint64_t)vfs.f_bavail * vfs.f_frsize)));
    json_object_set_new(o, "free_path", json_string(anc));
  } else {
    json_object_set_new(o, "free_bytes", json_null());
    json_object_set_new(o, "free_path", json_null());
  }
  return o;
}

/* ---- listening ports ----------------------------------------------------- */

/* Socket inodes listening on PORT (TCP, v4 and v6) from /proc/net. */
static size_t listeners(unsigned port, unsigned long *inodes, size_t max) {
  static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
  size_t n = 0;
  for (size_t f = 0; f < 2; f++) {
    FILE *fp = fopen(files[f], "r");
    char line[512];
    if (!fp)
      continue;
    while (fgets(line, sizeof line, fp)) {
      char local[128];
      unsigned st;
      unsigned long inode;
      /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
      if (sscanf(line, " %*d: %127s %*s %x %*s %*s %*s %*u %*u %lu", local, &st, &inode) != 3)
        continue;
      char *colon = strrchr(local, ':');
      if (st == 0x0A && colon && strtoul(colon + 1, NULL, 16) == port && n < max)
        inodes[n++] = inode;
    }
    fclose(fp);
  }
  return n;
}

/* The process holding socket INODE: pid and command name, or pid 0. */
static long socket_owner(unsigned long inode, char *comm, size_t commlen) {
  char want[64];
  snprintf(want, sizeof want, "socket:[%lu]", inode);
  DIR *proc = opendir("/proc");
  struct dirent *pe;
  long found = 0;
  while (proc && !found && (pe = readdir(proc))) {
    char *end;
    long pid = strtol(pe->d_name, &end, 10);
    if (*end || pid <= 0)
      continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR *fds = opendir(path);
    struct dirent *fe;
    while (fds && (fe = readdir(fds))) {
      char link[PATH_MAX], target[128];
      snprintf(link, sizeof link, "/proc/%ld/fd/%s", pid, fe->d_name);
      ssize_t k = readlink(link, target, sizeof target - 1);
      if (k > 0 && (target[k] = '\0', !strcmp(target, want))) {
        found = pid;
        break;
      }
    }
    if (fds)
      closedir(fds);
  }
  if (proc)
    closedir(proc);
  comm[0] = '\0';
  if (found) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", found);
    FILE *fp = fopen(path, "r");
    if (fp && fgets(comm, (int)commlen, fp))
      comm[strcspn(comm, "\n")] = '\0';
    if (fp)
      fclose(fp);
  }
  return found;
}

/* For each port in PORTS: who listens on it now, if anyone. */
static json_t *port_facts(json_t *ports) {
  json_t *out = json_array();
  size_t i;
  json_t *p;
  json_array_foreach(ports, i, p) {
    if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535)
      continue;
    unsigned port = (unsigned)json_integer_value(p);
    unsigned long inodes[8];
    size_t n = listeners(port, inodes, 8);
    char comm[64] = "";
    long pid = 0;
    for (size_t k = 0; k < n && !pid; k++)
      pid = socket_owner(inodes[k], comm, sizeof comm);
    json_array_append_new(out, json_pack("{s:i, s:b, s:I, s:s}", "port", (int)port,
                                         "listening", n > 0, "pid", (json_int_t)pid,
                                         "comm", comm));
  }
  return out;
}

static int resolve_owner(struct agent *a, const char *owner, uid_t *uid, gid_t *gid);

/* What the apply steps will need, looked up now so that a mistake fails in
 * the check phase, before any member is stopped: the owner the restored
 * data is given ("owner": {"uid", "gid"} or {"error"}) and the programs
 * that stop and start etcd ("commands": [{"argv0", "path"} or {"argv0",
 * "error"}]).  A lookup that fails is a fact, not the probe's failure. */
static int apply_facts(struct agent *a, json_t *req, json_t *res) {
  const char *owner;
  int rc;
  if ((rc = f_str(a, req, "owner", true, &owner)))
    return rc;
  if (owner) {
    uid_t uid;
    gid_t gid;
    if (resolve_owner(a, owner, &uid, &gid) == 0)
      json_object_set_new(res, "owner", json_pack("{s:I, s:I}", "uid", (json_int_t)uid,
                                                   "gid", (json_int_t)gid));
    else
      json_object_set_new(res, "owner", json_pack("{s:s}", "error", a->msg));
    a->msg[0] = '\0';
  }
  json_t *cmds = json_object_get(req, "commands");
  if (!cmds)
    return 0;
  if (!json_is_array(cmds))
    return agent_fail(a, EDR_EINVAL, "field 'commands' must be an array of strings");
  struct env env;
  if ((rc = env_init(&env)))
    return rc;
  json_t *out = json_array();
  size_t i;
  json_t *c;
  json_array_foreach(cmds, i, c) {
    const char *argv0 = json_string_value(c);
    char *exe = NULL;
    if (!argv0) {
      rc = agent_fail(a, EDR_EINVAL, "field 'commands' must be an array of strings");
      break;
    }
    if (find_exec(a, argv0, &env, &exe) == 0 && !is_exec_file(exe))
      agent_fail(a, EDR_ENOENT, "'%s' is not an executable file", exe);
    if (exe && !a->msg[0])
      json_array_append_new(out, json_pack("{s:s, s:s}", "argv0", argv0, "path", exe));
    else
      json_array_append_new(out, json_pack("{s:s, s:s}", "argv0", argv0, "error", a->msg));
    a->msg[0] = '\0';
    free(exe);
  }
  env_free(&env);
  json_object_set_new(res, "commands", out);
  return rc;
}

static int op_probe(struct agent *a, json_t *req, json_t *res) {
  const char *data_dir, *wal_dir, *want, *staging;
  int rc;
  if ((rc = f_path(a, req, "data_dir", false, &data_dir)) ||
      (rc = f_path(a, req, "wal_dir", true, &wal_dir)) ||
      (rc = f_str(a, req, "restore_tool", true, &want)) ||
      (rc = f_path(a, req, "staging", true, &staging)))
    return rc;
  if (!want)
    want = "auto";
  if (want[0] != '/' && strcmp(want, "auto") && strcmp(want, "etcdutl") &&
      strcmp(want, "etcdctl"))
    return agent_fail(a, EDR_EINVAL, "field 'restore_tool' is '%s', expected "
                      "\"auto\", \"etcdutl\", \"etcdctl\" or an absolute path", want);

  json_t *tool = NULL;
  char *tool_error = NULL;
  if ((rc = find_tool(a, want, &tool, &tool_error)))
    return rc;
  json_object_set_new(res, "tool", tool ? tool : json_null());
  json_object_set_new(res, "tool_error", tool_error ? json_string(tool_error) : json_null());
  free(tool_error);

  rc = 0;
  json_t *dd = dir_facts(a, data_dir, true, &rc);
  json_object_set_new(res, "data_dir", dd);
  json_object_set(res, "free_bytes", json_object_get(dd, "free_bytes"));
  json_object_set(res, "free_path", json_object_get(dd, "free_path"));
  json_object_set_new(res, "wal_dir", wal_dir ? dir_facts(a, wal_dir, false, &rc)
                                              : json_null());

  char which[PATH_MAX];
  const char *kind = NULL;
  int held = etcd_lock(data_dir, wal_dir, which, &kind);
  json_object_set_new(res, "etcd_running", json_boolean(held == 1));
  json_object_set_new(res, "etcd_lock",
                      held == 1 ? json_pack("{s:s, s:s}", "path", which, "kind", kind)
                                : json_null());
  json_t *ports = json_object_get(req, "ports");
  if (json_is_array(ports))
    json_object_set_new(res, "ports", port_facts(ports));
  if (staging) {
    struct stat st;
    json_object_set_new(res, "staging_exists", json_boolean(lstat(staging, &st) == 0));
  } else {
    json_object_set_new(res, "staging_exists", json_null());
  }
  if (!rc)
    rc = apply_facts(a, req, res);
  return rc;
}

/* ---- receive ------------------------------------------------------------ */

static bool is_hex64(const char *s) {
  if (strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

static int op_receive(struct agent *a, json_t *req, json_t *res) {
  json_int_t size = -1;
  const char *path = NULL, *want = NULL;
  static unsigned char buf[RECV_BUF];
  unsigned char tail[32] = {0};
  int rc;

  /* Without a trustworthy size the stream cannot be kept in step. */
  if ((rc = f_int(a, req, "size", false, 0, (json_int_t)RECV_SIZE_MAX, &size))) {
    a->fatal = true;
    return rc;
  }
  bool trailer = false;
  rc = f_file_path(a, req, "path", &path);
  if (!rc)
    rc = f_str(a, req, "sha256", false, &want);
  if (!rc)
    rc = f_bool(a, req, "trailer", &trailer);
  if (!rc && trailer && (size < 32 || size % 512 != 32))
    rc = agent_fail(a, EDR_EINVAL, "'trailer' for a size of %" JSON_INTEGER_FORMAT
                    " bytes, which cannot have one", size);
  if (!rc && !is_hex64(want))
    rc = agent_fail(a, EDR_EINVAL, "field 'sha256' is '%.80s', expected 64 "
                    "lowercase hex digits", want);
  char part[PATH_MAX + 8] = "";
  int fd = -1;
  bool created = false; /* only a .part we opened is ever unlinked */
  struct stat st;
  if (!rc && lstat(path, &st) == 0)
    rc = agent_fail(a, EDR_EEXIST, "'%s' already exists (%s), not overwriting it",
                    path, kind_of(st.st_mode));
  if (!rc)
    rc = mkdir_parents(a, path);
  if (!rc) {
    snprintf(part, sizeof(part), "%s.part", path);
    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      rc = agent_fail(a, edr_from_errno(errno), "cannot create '%s': %s", part,
                      errstr(errno));
    created = fd >= 0;
  }

  /* Consume all SIZE bytes whatever happened above, hashing what came. */
  struct edr_sha256 ctx;
  edr_sha256_init(&ctx);
  uint64_t got = 0;
  while (got < (uint64_t)size) {
    uint64_t left = (uint64_t)size - got;
    ssize_t r = agent_read(a, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
    if (r <= 0) {
      a->fatal = true;
      rc = agent_fail(a, EDR_ECONNLOST,
                        "stream ended after %" PRIu64 " of %" PRIu64 " bytes for '%s'",
                        got, (uint64_t)size, path ? path : "?");
      break;
    }
    /* With a trailer, the hash covers the image only and the last 32 bytes
     * are kept to compare with it: each byte is hashed once. */
    uint64_t image = trailer ? (uint64_t)size - 32 : (uint64_t)size;
    if (got < image)
      edr_sha256_update(&ctx, buf, (size_t)(got + (uint64_t)r <= image ? (uint64_t)r : image - got));
    for (uint64_t p = got > image ? got : image; p < got + (uint64_t)r; p++)
      tail[p - image] = buf[p - got];
    got += (uint64_t)r;
    for (ssize_t off = 0; fd >= 0 && off < r;) {
      ssize_t w = write(fd, buf + off, (size_t)(r - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        int e = w < 0 ? errno : ENOSPC;
        rc = agent_fail(a, edr_from_errno(e), "cannot write '%s' after %" PRIu64
                        " bytes: %s", part, got - (uint64_t)r + (uint64_t)off, errstr(e));
        close(fd);
        fd = -1;
        unlink(part);
        break;
      }
      off += w;
    }
  }
  unsigned char md[32];
  char hex[65];
  edr_sha256_final(&ctx, md);
  edr_hex(md, 32, hex);
  json_object_set_new(res, "bytes", json_integer((json_int_t)got));
  json_object_set_new(res, "sha256", json_string(hex));

  if (fd >= 0 && !rc && fsync(fd) != 0)
    rc = agent_fail(a, edr_from_errno(errno), "cannot fsync '%s': %s", part,
                    errstr(errno));
  if (fd >= 0 && close(fd) != 0 && !rc)
    rc = agent_fail(a, edr_from_errno(errno), "cannot close '%s': %s", part,
                    errstr(errno));
  if (!rc && strcmp(hex, want) != 0)
    rc = agent_fail(a, EDR_EHASH, "sha-256 of '%s'%s is %s, expected %s", path,
                    trailer ? " (before its trailer)" : "", hex, want);
  if (!rc && trailer && memcmp(tail, md, 32) != 0)
    rc = agent_fail(a, EDR_EHASH, "the sha-256 trailer of '%s' does not match its contents",
                    path);
  if (!rc && rename_noreplace(part, path) != 0)
    rc = agent_fail(a, edr_from_errno(errno), "cannot rename '%s' to '%s': %s", part,
                    path, errstr(errno));
  if (rc) {
    if (created)
      unlink(part);
    return rc;
  }
  if ((rc = fsync_dir_of(path)))
    return agent_fail(a, rc, "cannot fsync the directory of '%s': %s", path,
                      edr_strerror(rc));
  return 0;
}

/* ---- run ---------------------------------------------------------------- */

static int op_run(struct agent *a, json_t *req, json_t *res) {
  json_t *jargv = json_object_get(req, "argv");
  json_t *jenv = json_object_get(req, "env");
  json_int_t timeout = 0, idle = 0;
  const char *watch = NULL;
  int rc;
  if (!json_is_array(jargv) || json_array_size(jargv) == 0 ||
      json_array_size(jargv) > 4096)
    return agent_fail(a, EDR_EINVAL, "field 'argv' must be a non-empty array of strings");
  if (jenv && !json_is_null(jenv) && !json_is_object(jenv))
    return agent_fail(a, EDR_EINVAL, "field 'env' must be an object or null");
  if ((rc = f_int(a, req, "timeout_ms", true, 0, INT64_MAX / 2, &timeout)) ||
      (rc = f_path(a, req, "progress_path", true, &watch)) ||
      (rc = f_int(a, req, "idle_timeout_ms", true, 0, 24LL * 3600 * 1000, &idle)))
    return rc;
  if (!watch != !idle)
    return agent_fail(a, EDR_EINVAL, "fields 'progress_path' and 'idle_timeout_ms' "
                      "go together: give both or neither");
  size_t argc = json_array_size(jargv);
  for (size_t i = 0; i < argc; i++) {
    json_t *s = json_array_get(jargv, i);
    if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s))
      return agent_fail(a, EDR_EINVAL, "argv[%zu] is not a string without nul bytes", i);
  }

  struct env env;
  char **argv = calloc(argc + 1, sizeof(*argv));
  char *exe = NULL;
  char *ob = malloc(TAIL_MAX), *eb = malloc(TAIL_MAX);
  if ((rc = env_init(&env)) || !argv || !ob || !eb) {
    rc = rc ? rc : EDR_ENOMEM;
    goto out;
  }
  const char *argv0 = json_string_value(json_array_get(jargv, 0));
  const char *base = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;
  if (strcmp(base, "etcdctl") == 0 && (rc = env_set(&env, "ETCDCTL_API", "3")))
    goto out;
  if (json_is_object(jenv)) {
    const char *key;
    json_t *val;
    json_object_foreach(jenv, key, val) {
      if (!*key || strchr(key, '=') ||
          !(json_is_string(val) || json_is_null(val)) ||
          (json_is_string(val) &&
           strlen(json_string_value(val)) != json_string_length(val))) {
        rc = agent_fail(a, EDR_EINVAL, "env entry '%.100s' must have a name without "
                        "'=' and a string or null value", key);
        goto out;
      }
      if ((rc = env_set(&env, key, json_is_null(val) ? NULL : json_string_value(val))))
        goto out;
    }
  }
  if ((rc = find_exec(a, argv0, &env, &exe)))
    goto out;
  argv[0] = exe;
  for (size_t i = 1; i < argc; i++)
    argv[i] = (char *)json_string_value(json_array_get(jargv, i));

  struct proc p = {.argv = argv, .envp = env.v, .timeout_ms = timeout,
                   .watch = watch, .idle_ms = idle,
                   .out = {.buf = ob, .cap = TAIL_MAX},
                   .err = {.buf = eb, .cap = TAIL_MAX}};
  if ((rc = proc_run(a, &p)))
    goto out;
  json_object_set_new(res, "exit", p.exit_code >= 0 ? json_integer(p.exit_code)
                                                    : json_null());
  json_object_set_new(res, "signal", p.sig ? json_integer(p.sig) : json_null());
  json_object_set_new(res, "stdout_tail", json_bytes(p.out.buf, p.out.len));
  json_object_set_new(res, "stderr_tail", json_bytes(p.err.buf, p.err.len));
  json_object_set_new(res, "duration_ms", json_integer((json_int_t)p.duration_ms));
  json_object_set_new(res, "path", json_string(exe));
  json_object_set_new(res, "pipes_left_open", json_boolean(p.pipes_left_open));

  /* The last line of stderr says most about a failure. */
  char last[256] = "";
  size_t e = p.err.len;
  while (e > 0 && (p.err.buf[e - 1] == '\n' || p.err.buf[e - 1] == '\r'))
    e--;
  size_t s = e;
  while (s > 0 && p.err.buf[s - 1] != '\n')
    s--;
  snprintf(last, sizeof(last), "%.*s", (int)(e - s), p.err.buf + s);
  for (char *c = last; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
      *c = '?';
  if (p.idle)
    rc = agent_fail(a, EDR_ETIMEDOUT, "'%s' wrote nothing to %s for %" JSON_INTEGER_FORMAT
                    " ms: stopped waiting, sent sigterm to its process group%s%s%s",
                    exe, watch, idle, p.sig == SIGKILL ? ", then sigkill" : "",
                    last[0] ? "; its last words: " : "", last);
  else if (p.timed_out)
    rc = agent_fail(a, EDR_ETIMEDOUT, "'%s' still running after %" JSON_INTEGER_FORMAT
                    " ms: sent sigterm to its process group%s", exe, timeout,
                    p.sig == SIGKILL ? ", then sigkill" : "");
  else if (p.sig)
    rc = agent_fail(a, EDR_EREMOTE, "'%s' was killed by signal %d (%s)%s%s", exe,
                    p.sig, lower_text(strsignal(p.sig)), last[0] ? ": " : "", last);
  else if (p.exit_code != 0)
    rc = agent_fail(a, EDR_EREMOTE, "'%s' exited with status %d%s%s", exe,
                    p.exit_code, last[0] ? ": " : "", last);
out:
  env_free(&env);
  free(argv);
  free(exe);
  free(ob);
  free(eb);
  return rc;
}

/* ---- check-stopped ------------------------------------------------------ */

static int op_check_stopped(struct agent *a, json_t *req, json_t *res) {
  const char *data_dir, *wal_dir;
  json_int_t timeout = 0;
  int rc;
  if ((rc = f_path(a, req, "data_dir", false, &data_dir)) ||
      (rc = f_path(a, req, "wal_dir", true, &wal_dir)) ||
      (rc = f_int(a, req, "timeout_ms", true, 0, 24LL * 3600 * 1000, &timeout)))
    return rc;
  uint64_t start = edr_now_ms();
  char which[PATH_MAX];
  const char *kind = "";
  for (;;) {
    int held = etcd_lock(data_dir, wal_dir, which, &kind);
    uint64_t waited = edr_now_ms() - start;
    json_object_set_new(res, "waited_ms", json_integer((json_int_t)waited));
    if (held < 0)
      return agent_fail(a, held, "cannot check the lock on '%s': %s", which,
                        edr_strerror(held));
    if (held == 0)
      return 0;
    if (waited >= (uint64_t)timeout)
      return agent_fail(a, EDR_EBUSY, "'%s' is still locked (%s) after %" PRIu64
                        " ms: an etcd process holds this data dir", which, kind, waited);
    usleep(LOCK_POLL_MS * 1000);
  }
}

/* ---- rename ------------------------------------------------------------- */

static int op_rename(struct agent *a, json_t *req, json_t *res) {
  const char *from, *to;
  bool missing_ok = false;
  int rc;
  if ((rc = f_file_path(a, req, "from", &from)) ||
      (rc = f_file_path(a, req, "to", &to)) ||
      (rc = f_bool(a, req, "missing_ok", &missing_ok)))
    return rc;
  json_object_set_new(res, "moved", json_false());
  struct stat st;
  if (lstat(from, &st) != 0) {
    if (errno == ENOENT && missing_ok)
      return 0;
    return agent_fail(a, edr_from_errno(errno), "cannot rename '%s': %s", from,
                      errno == ENOENT ? "it does not exist" : errstr(errno));
  }
  if (rename_noreplace(from, to) != 0) {
    int e = errno;
    struct stat tst;
    if (e == EEXIST || e == ENOTEMPTY)
      return agent_fail(a, EDR_EEXIST, "cannot rename '%s' to '%s': '%s' already "
                        "exists (%s)", from, to, to,
                        lstat(to, &tst) == 0 ? kind_of(tst.st_mode) : "?");
    if (e == EXDEV)
      return agent_fail(a, EDR_EINVAL, "cannot rename '%s' to '%s': they are on "
                        "different file systems (exdev)", from, to);
    return agent_fail(a, edr_from_errno(e), "cannot rename '%s' to '%s': %s", from,
                      to, errstr(e));
  }
  json_object_set_new(res, "moved", json_true());
  if ((rc = fsync_dir_of(to)) || (rc = fsync_dir_of(from)))
    return agent_fail(a, rc, "renamed '%s' to '%s' but cannot fsync a directory: %s",
                      from, to, edr_strerror(rc));
  return 0;
}

/* ---- chown -------------------------------------------------------------- */

/* Look NAME up in FILE ("/etc/passwd" or "/etc/group"): field 3 is the id,
 * field 4 (passwd) the primary group.  Returns 0 or EDR_ENOENT. */
static int lookup_id(const char *file, const char *name, long *id, long *gid) {
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

static bool all_digits(const char *s) {
  return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 11;
}

static int resolve_owner(struct agent *a, const char *owner, uid_t *uid, gid_t *gid) {
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
  if (all_digits(user)) {
    u = strtol(user, NULL, 10);
  } else {
    int rc = lookup_id("/etc/passwd", user, &u, &primary);
    if (rc)
      return agent_fail(a, EDR_ENOENT, "user '%s' not found in /etc/passwd", user);
  }
  if (!group[0]) {
    if (primary < 0 && lookup_id("/etc/passwd", user, &u, &primary) != 0)
      return agent_fail(a, EDR_EINVAL, "owner '%s' has no group and uid %ld is not "
                        "in /etc/passwd", owner, u);
    g = primary;
  } else if (all_digits(group)) {
    g = strtol(group, NULL, 10);
  } else if (lookup_id("/etc/group", group, &g, NULL) != 0) {
    return agent_fail(a, EDR_ENOENT, "group '%s' not found in /etc/group", group);
  }
  *uid = (uid_t)u;
  *gid = (gid_t)g;
  return 0;
}

/* lchown every entry of the tree under directory fd DIRFD. */
static int chown_tree(struct agent *a, int dirfd, const char *dpath, uid_t uid,
                      gid_t gid, int depth) {
  if (depth > 256)
    return agent_fail(a, EDR_ETOOBIG, "'%s' is nested too deep", dpath);
  DIR *d = fdopendir(dirfd);
  if (!d) {
    close(dirfd);
    return agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", dpath,
                      errstr(errno));
  }
  struct dirent *de;
  int rc = 0;
  while (!rc && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (fchownat(dirfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
      rc = agent_fail(a, edr_from_errno(errno), "cannot chown '%s/%s': %s", dpath,
                      de->d_name, errstr(errno));
      break;
    }
    struct stat st;
    if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      char *sub = edr_path_join(dpath, de->d_name);
      int fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (!sub)
        rc = EDR_ENOMEM;
      else if (fd < 0)
        rc = agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", sub,
                        errstr(errno));
      else
        rc = chown_tree(a, fd, sub, uid, gid, depth + 1), fd = -1;
      if (fd >= 0)
        close(fd);
      free(sub);
    }
  }
  closedir(d);
  return rc;
}

static int op_chown(struct agent *a, json_t *req, json_t *res) {
  const char *path, *owner, *mode_s;
  bool recursive = false;
  json_int_t juid = -1, jgid = -1;
  int rc;
  if ((rc = f_path(a, req, "path", false, &path)) ||
      (rc = f_str(a, req, "owner", true, &owner)) ||
      (rc = f_str(a, req, "mode", true, &mode_s)) ||
      (rc = f_bool(a, req, "recursive", &recursive)) ||
      (rc = f_int(a, req, "uid", true, 0, UINT32_MAX - 1, &juid)) ||
      (rc = f_int(a, req, "gid", true, 0, UINT32_MAX - 1, &jgid)))
    return rc;
  uid_t uid = 0;
  gid_t gid = 0;
  if (owner) {
    if ((rc = resolve_owner(a, owner, &uid, &gid)))
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
  struct stat st;
  if (lstat(path, &st) != 0)
    return agent_fail(a, edr_from_errno(errno), "cannot chown '%s': %s", path,
                      errno == ENOENT ? "it does not exist" : errstr(errno));
  if (S_ISLNK(st.st_mode) && (mode >= 0 || recursive))
    return agent_fail(a, EDR_EINVAL, "'%s' is a symlink: not following it", path);
  if (lchown(path, uid, gid) != 0)
    return agent_fail(a, edr_from_errno(errno), "cannot chown '%s' to %lu:%lu: %s",
                      path, (unsigned long)uid, (unsigned long)gid, errstr(errno));
  if (recursive && S_ISDIR(st.st_mode)) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", path,
                        errstr(errno));
    if ((rc = chown_tree(a, fd, path, uid, gid, 0)))
      return rc;
  }
  if (mode >= 0 && chmod(path, (mode_t)mode) != 0)
    return agent_fail(a, edr_from_errno(errno), "cannot chmod '%s' to %s: %s", path,
                      mode_s, errstr(errno));
  if (lstat(path, &st) != 0)
    return agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", path,
                      errstr(errno));
  char m[8];
  mode_str(st.st_mode, m);
  json_object_set_new(res, "uid", json_integer(st.st_uid));
  json_object_set_new(res, "gid", json_integer(st.st_gid));
  json_object_set_new(res, "mode", json_string(m));
  return 0;
}

/* ---- remove ------------------------------------------------------------- */

/* Remove NAME in directory DIRFD (path PATH for messages), depth first,
 * never following a symlink nor leaving device DEV. */
static int rm_at(struct agent *a, int dirfd, const char *name, const char *path,
                 dev_t dev, int depth) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0
                           : agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s",
                                        path, errstr(errno));
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
      return agent_fail(a, edr_from_errno(errno), "cannot remove '%s': %s", path,
                        errstr(errno));
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
                      errstr(errno));
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path,
                      errstr(errno));
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
                    path, errstr(errno));
  return rc;
}

int agent_remove_tree(struct agent *a, const char *path, bool *removed) {
  char parent[PATH_MAX];
  *removed = false;
  snprintf(parent, sizeof(parent), "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash || !slash[1])
    return agent_fail(a, EDR_EINVAL, "'%s' has no last component", path);
  const char *name = path + (slash - parent) + 1;
  if (slash == parent)
    slash[1] = '\0';
  else
    *slash = '\0';
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT)
      return 0;
    return agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", path,
                      errstr(errno));
  }
  int dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", parent,
                      errstr(errno));
  int rc = rm_at(a, dirfd, name, path, st.st_dev, 0);
  if (!rc) {
    *removed = true;
    fsync(dirfd);
  }
  close(dirfd);
  return rc;
}

int agent_remove_at(struct agent *a, int dirfd, const char *name, const char *path) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0
                           : agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s",
                                        path, errstr(errno));
  return rm_at(a, dirfd, name, path, st.st_dev, 0);
}

static int op_remove(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  int rc;
  if ((rc = f_path(a, req, "path", false, &path)))
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

/* ---- mark ----------------------------------------------------------------- */

/* Append one line to a run's marker on the host (DATA/.etcd-dr-RUN.done), so
 * the host itself records which destructive steps were done to it.  Only
 * etcd-dr's own files: the name must start with .etcd-dr-. */
static int op_mark(struct agent *a, json_t *req, json_t *res) {
  const char *path, *line;
  int rc;
  if ((rc = f_file_path(a, req, "path", &path)) || (rc = f_str(a, req, "line", false, &line)))
    return rc;
  const char *last = strrchr(path, '/') + 1;
  if (strncmp(last, ".etcd-dr-", 9) != 0 || strchr(line, '\n'))
    return agent_fail(a, EDR_EINVAL, "refusing to mark '%s': not an etcd-dr marker, or a "
                      "line with a newline", path);
  if ((rc = mkdir_parents(a, path)))
    return rc;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", path, errstr(errno));
  size_t n = strlen(line);
  char buf[1100];
  if (n > 1000) {
    close(fd);
    return agent_fail(a, EDR_ETOOBIG, "marker line too long");
  }
  memcpy(buf, line, n);
  buf[n] = '\n';
  bool ok = write(fd, buf, n + 1) == (ssize_t)(n + 1) && fdatasync(fd) == 0;
  int e = errno;
  close(fd);
  if (!ok)
    return agent_fail(a, edr_from_errno(e), "cannot write '%s': %s", path, errstr(e));
  (void)res;
  return 0;
}

/* Open PATH for reading (never through a symlink, O_NONBLOCK so that a FIFO
 * cannot hang us), and fill *ST: a regular file, else an error.  Returns the
 * descriptor, or a negative EDR_E* code after agent_fail(). */
static int open_regular(struct agent *a, const char *path, struct stat *st) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", path,
                      errno == ENOENT ? "it does not exist" : errstr(errno));
  if (fstat(fd, st) != 0) {
    int e = errno;
    close(fd);
    return agent_fail(a, edr_from_errno(e), "cannot stat '%s': %s", path, errstr(e));
  }
  if (!S_ISREG(st->st_mode)) {
    close(fd);
    return agent_fail(a, EDR_EINVAL, "'%s' is %s, expected a regular file", path,
                      kind_of(st->st_mode));
  }
  return fd;
}

/* ---- envfile -------------------------------------------------------------- */

/* The env file a service reads etcd's ETCD_* settings from (Debian's
 * /etc/default/etcd, systemd's EnvironmentFile): "set" rewrites KEY=value
 * lines atomically, keeping the file as it was once as BACKUP; "restore"
 * puts BACKUP back. */
enum { ENVFILE_MAX = 1 << 20 };

static bool env_key_ok(const char *k) {
  if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
    return false;
  for (k++; *k; k++)
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ||
          *k == '_'))
      return false;
  return true;
}

static bool env_value_ok(const char *v) {
  size_t n = 0;
  for (; *v; v++, n++)
    if ((unsigned char)*v < 0x20 || *v == 0x7f || *v == '"' || *v == '\'' || *v == '\\' ||
        *v == '$' || *v == '`')
      return false;
  return n <= 4096;
}

/* The key a line sets ("KEY=...", "export KEY=..."), copied to KEY. */
static bool env_line_key(const char *line, size_t len, char *key, size_t keylen) {
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (len - i > 7 && !strncmp(line + i, "export ", 7))
    i += 7;
  size_t k = 0;
  while (i < len && line[i] != '=' && k + 1 < keylen)
    key[k++] = line[i++];
  key[k] = '\0';
  return i < len && line[i] == '=' && k > 0 && env_key_ok(key);
}

static int write_like(struct agent *a, const char *path, const struct stat *like,
                      const char *data, size_t n, bool excl) {
  int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC),
                like->st_mode & 07777);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot create '%s': %s", path, errstr(errno));
  bool ok = fchown(fd, like->st_uid, like->st_gid) == 0 &&
            fchmod(fd, like->st_mode & 07777) == 0;
  for (size_t off = 0; ok && off < n;) {
    ssize_t w = write(fd, data + off, n - off);
    if (w < 0 && errno == EINTR)
      continue;
    ok = w > 0;
    off += ok ? (size_t)w : 0;
  }
  ok = ok && fsync(fd) == 0;
  int e = errno;
  close(fd);
  if (!ok) {
    unlink(path);
    return agent_fail(a, edr_from_errno(e), "cannot write '%s': %s", path, errstr(e));
  }
  return 0;
}

static int op_envfile(struct agent *a, json_t *req, json_t *res) {
  const char *path, *backup, *action;
  int rc;
  if ((rc = f_file_path(a, req, "path", &path)) || (rc = f_file_path(a, req, "backup", &backup)) ||
      (rc = f_str(a, req, "action", false, &action)))
    return rc;
  struct stat st;
  if (!strcmp(action, "restore")) {
    json_object_set_new(res, "restored", json_false());
    if (lstat(backup, &st) != 0) {
      if (errno == ENOENT)
        return 0; /* set-env never ran: the file is as it was */
      return agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", backup, errstr(errno));
    }
    if (rename(backup, path) != 0)
      return agent_fail(a, edr_from_errno(errno), "cannot put '%s' back as '%s': %s", backup,
                        path, errstr(errno));
    json_object_set_new(res, "restored", json_true());
    return fsync_dir_of(path);
  }
  if (strcmp(action, "set"))
    return agent_fail(a, EDR_EINVAL, "field 'action' is '%s', expected set or restore", action);
  json_t *set = json_object_get(req, "set"), *unset = json_object_get(req, "unset");
  if ((set && !json_is_object(set)) || (unset && !json_is_array(unset)))
    return agent_fail(a, EDR_EINVAL, "field 'set' must be an object and 'unset' an array");
  const char *k;
  json_t *v;
  size_t i;
  json_object_foreach(set, k, v)
    if (!env_key_ok(k) || !json_is_string(v) || !env_value_ok(json_string_value(v)))
      return agent_fail(a, EDR_EINVAL, "refusing to set '%s': a key must be letters, digits "
                        "and '_', a value a string without control characters, quotes, '\\', "
                        "'$' or '`'", k);
  json_array_foreach(unset, i, v)
    if (!json_is_string(v) || !env_key_ok(json_string_value(v)))
      return agent_fail(a, EDR_EINVAL, "refusing to unset a key that is not letters, digits "
                        "and '_'");
  int fd = open_regular(a, path, &st);
  if (fd < 0)
    return fd;
  if (st.st_size > ENVFILE_MAX) {
    close(fd);
    return agent_fail(a, EDR_ETOOBIG, "env file '%s' is larger than 1 MiB", path);
  }
  size_t n = (size_t)st.st_size, got = 0;
  char *old = malloc(n + 1);
  while (old && got < n) {
    ssize_t r = read(fd, old + got, n - got);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  if (!old || got != n) {
    free(old);
    return agent_fail(a, EDR_EIO, "cannot read '%s'", path);
  }
  old[n] = '\0';
  /* the new text: every line kept, but those setting a key we set (the
   * first becomes KEY=value, later ones go) or unset (they go) */
  size_t cap = n + 64;
  json_object_foreach(set, k, v)
    cap += strlen(k) + json_string_length(v) + 2;
  char *out = malloc(cap), key[256];
  size_t o = 0;
  json_t *done = json_object();
  if (!out || !done) {
    free(old);
    free(out);
    json_decref(done);
    return agent_fail(a, EDR_ENOMEM, "out of memory");
  }
  for (size_t p = 0; p < n;) {
    const char *nl = memchr(old + p, '\n', n - p);
    size_t len = nl ? (size_t)(nl - (old + p)) : n - p;
    bool drop = false;
    if (env_line_key(old + p, len, key, sizeof key)) {
      json_t *nv = json_object_get(set, key);
      bool un = false;
      json_array_foreach(unset, i, v)
        un |= !strcmp(json_string_value(v), key);
      if (nv && !json_object_get(done, key)) {
        o += (size_t)sprintf(out + o, "%s=%s\n", key, json_string_value(nv));
        json_object_set_new(done, key, json_true());
        drop = true;
      } else if (nv || un) {
        drop = true;
      }
    }
    if (!drop) {
      memcpy(out + o, old + p, len);
      o += len;
      out[o++] = '\n';
    }
    p += len + (nl ? 1 : 0);
  }
  json_object_foreach(set, k, v)
    if (!json_object_get(done, k))
      o += (size_t)sprintf(out + o, "%s=%s\n", k, json_string_value(v));
  json_decref(done);
  rc = 0;
  struct stat bst;
  bool made_backup = false;
  if (lstat(backup, &bst) != 0) { /* the first set-env of this run keeps the original */
    if ((rc = write_like(a, backup, &st, old, n, true)) == 0) {
      made_backup = true;
      rc = fsync_dir_of(backup);
    }
  }
  char *tmp = rc ? NULL : malloc(strlen(path) + 32);
  if (!rc && !tmp)
    rc = agent_fail(a, EDR_ENOMEM, "out of memory");
  if (!rc) {
    sprintf(tmp, "%s.etcd-dr-tmp", path);
    if (!(rc = write_like(a, tmp, &st, out, o, false)) && rename(tmp, path) != 0) {
      rc = agent_fail(a, edr_from_errno(errno), "cannot rename '%s' to '%s': %s", tmp, path,
                      errstr(errno));
      unlink(tmp);
    }
    if (!rc)
      rc = fsync_dir_of(path);
  }
  free(tmp);
  free(old);
  free(out);
  json_object_set_new(res, "backup_created", json_boolean(made_backup));
  return rc;
}

/* ---- db-info, hash, bye ------------------------------------------------- */

struct meta_vals {
  bool has_ci, has_term;
  uint64_t ci, term;
};

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

static int meta_visit(void *arg, const struct edr_bolt_kv *kv) {
  struct meta_vals *m = arg;
  if (!kv->val || kv->vlen != 8)
    return 0;
  if (kv->klen == 16 && memcmp(kv->key, "consistent_index", 16) == 0) {
    m->has_ci = true;
    m->ci = be64(kv->val);
  } else if (kv->klen == 4 && memcmp(kv->key, "term", 4) == 0) {
    m->has_term = true;
    m->term = be64(kv->val);
  }
  return 0;
}

static int op_db_info(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  int rc;
  if ((rc = f_path(a, req, "path", false, &path)))
    return rc;
  struct stat st;
  if (stat(path, &st) != 0)
    return agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path,
                      errno == ENOENT ? "it does not exist" : errstr(errno));
  if (!S_ISREG(st.st_mode))
    return agent_fail(a, EDR_EINVAL, "'%s' is %s, expected a bbolt file", path,
                      kind_of(st.st_mode));
  /* Only the meta bucket and the last key: cheap even for a big db. */
  struct edr_bolt *db = NULL;
  char why[512] = "";
  if ((rc = edr_bolt_open(path, &db, why, sizeof(why))))
    return agent_fail(a, rc, "cannot read '%s' as a bbolt file: %s", path,
                      why[0] ? why : edr_strerror(rc));
  struct meta_vals m = {0};
  rc = edr_bolt_foreach(db, "meta", 4, meta_visit, &m);
  if (rc && rc != EDR_ENOENT)
    snprintf(why, sizeof(why), "%s", edr_bolt_errmsg(db));
  edr_bolt_close(db);
  if (rc && rc != EDR_ENOENT)
    return agent_fail(a, rc, "cannot read bucket 'meta' of '%s': %s", path,
                      why[0] ? why : edr_strerror(rc));
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

static int op_hash(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  char hex[65];
  uint64_t bytes;
  int rc;
  if ((rc = f_path(a, req, "path", false, &path)) ||
      (rc = sha256_file(a, path, hex, &bytes)))
    return rc;
  json_object_set_new(res, "bytes", json_integer((json_int_t)bytes));
  json_object_set_new(res, "sha256", json_string(hex));
  return 0;
}

/* A small text file (a marker, a lock's holder) as a JSON string. */
static int op_read(struct agent *a, json_t *req, json_t *res) {
  enum { READ_MAX = 64 * 1024 };
  const char *path;
  json_int_t max = READ_MAX;
  int rc;
  if ((rc = f_path(a, req, "path", false, &path)) ||
      (rc = f_int(a, req, "max_bytes", true, 0, READ_MAX, &max)))
    return rc;
  struct stat st;
  int fd = open_regular(a, path, &st);
  if (fd < 0)
    return fd;
  static char buf[READ_MAX + 1];
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, (size_t)max + 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path,
                      errstr(errno));
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
  json_object_set_new(res, "text", json_bytes(buf, len));
  return 0;
}

/* ---- stat, lock, unlock ------------------------------------------------- */

/* What is at PATH, without following a final symlink; a missing path is a
 * fact, not an error. */
static int op_stat(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  struct stat st;
  int rc;
  if ((rc = f_path(a, req, "path", false, &path)))
    return rc;
  if (lstat(path, &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR)
      return agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", path,
                        errstr(errno));
    json_object_set_new(res, "exists", json_false());
    return 0;
  }
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", (unsigned)(st.st_mode & 07777));
  json_object_set_new(res, "exists", json_true());
  json_object_set_new(res, "kind", json_string(kind_of(st.st_mode)));
  json_object_set_new(res, "is_dir", json_boolean(S_ISDIR(st.st_mode)));
  json_object_set_new(res, "size", json_integer((json_int_t)st.st_size));
  json_object_set_new(res, "mode", json_string(mode));
  json_object_set_new(res, "uid", json_integer((json_int_t)st.st_uid));
  json_object_set_new(res, "gid", json_integer((json_int_t)st.st_gid));
  return 0;
}

/* The holder recorded in lock file PATH, or NULL (new reference). */
static json_t *lock_holder(const char *path) {
  json_error_t je;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  json_t *j = json_loadfd(fd, 0, &je);
  close(fd);
  return j;
}

/* Write HOLDER to a new file at PATH: O_EXCL when TAKEOVER is false, else a
 * rename over the old lock.  Returns 0, 1 when PATH exists (not taking
 * over), or a negative EDR_E* code. */
static int lock_write(struct agent *a, const char *path, json_t *holder, bool takeover) {
  char tmp[PATH_MAX + 16];
  snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
  const char *target = takeover ? tmp : path;
  int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST && !takeover)
    return 1;
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot create lock '%s': %s", target,
                      errstr(errno));
  char *text = json_dumps(holder, JSON_COMPACT);
  size_t len = text ? strlen(text) : 0;
  bool ok = text && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
            fsync(fd) == 0;
  free(text);
  close(fd);
  if (!ok || (takeover && rename(tmp, path) != 0)) {
    int e = errno ? errno : EIO;
    unlink(target);
    return agent_fail(a, edr_from_errno(e), "cannot write lock '%s': %s", path, errstr(e));
  }
  return 0;
}

static void remember_lock(struct agent *a, const char *path, const char *run,
                          bool auto_release) {
  if (auto_release) {
    snprintf(a->auto_lock_path, sizeof a->auto_lock_path, "%s", path);
    snprintf(a->auto_lock_run, sizeof a->auto_lock_run, "%s", run);
  } else if (!strcmp(a->auto_lock_path, path)) {
    a->auto_lock_path[0] = a->auto_lock_run[0] = '\0'; /* pinned: it stays */
  }
}

void agent_release_auto_lock(struct agent *a) {
  if (!a->auto_lock_path[0])
    return;
  json_t *old = lock_holder(a->auto_lock_path);
  const char *orun = json_string_value(json_object_get(old, "run_id"));
  if (orun && !strcmp(orun, a->auto_lock_run))
    unlink(a->auto_lock_path);
  json_decref(old);
  a->auto_lock_path[0] = '\0';
}

/* Take the host's lock for a run.  A lock held by the same run (a resume or
 * a rollback of it) is taken over; another run's only with `break`. */
static int op_lock(struct agent *a, json_t *req, json_t *res) {
  const char *path, *run;
  bool brk = false, auto_release = false;
  json_t *holder = json_object_get(req, "holder");
  int rc;
  if ((rc = f_file_path(a, req, "path", &path)) || (rc = f_bool(a, req, "break", &brk)) ||
      (rc = f_bool(a, req, "auto_release", &auto_release)))
    return rc;
  if (!json_is_object(holder) ||
      !(run = json_string_value(json_object_get(holder, "run_id"))))
    return agent_fail(a, EDR_EINVAL, "field 'holder' must be an object with 'run_id'");
  if ((rc = mkdir_parents(a, path)))
    return rc;
  for (int attempt = 0; attempt < 3; attempt++) {
    int w = lock_write(a, path, holder, false);
    if (w == 0) {
      json_object_set_new(res, "taken_over", json_null());
      remember_lock(a, path, run, auto_release);
      return 0;
    }
    if (w < 0)
      return w;
    json_t *old = lock_holder(path);
    if (!old && errno == ENOENT)
      continue; /* released meanwhile: try again */
    const char *orun = json_string_value(json_object_get(old, "run_id"));
    if ((orun && !strcmp(orun, run)) || brk) {
      /* the same run again (e.g. to pin it before apply): nothing to rewrite */
      rc = orun && !strcmp(orun, run) && !brk ? 0 : lock_write(a, path, holder, true);
      if (!rc) {
        json_object_set_new(res, "taken_over", old ? old : json_null());
        remember_lock(a, path, run, auto_release);
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

/* Release a run's lock; someone else's is left alone. */
static int op_unlock(struct agent *a, json_t *req, json_t *res) {
  const char *path, *run;
  int rc;
  if ((rc = f_file_path(a, req, "path", &path)) || (rc = f_str(a, req, "run_id", false, &run)))
    return rc;
  json_t *old = lock_holder(path);
  const char *orun = json_string_value(json_object_get(old, "run_id"));
  bool mine = orun && !strcmp(orun, run);
  if (mine && unlink(path) != 0 && errno != ENOENT) {
    json_decref(old);
    return agent_fail(a, edr_from_errno(errno), "cannot remove lock '%s': %s", path,
                      errstr(errno));
  }
  if (mine && !strcmp(a->auto_lock_path, path))
    a->auto_lock_path[0] = '\0';
  json_object_set_new(res, "released", json_boolean(mine));
  json_decref(old);
  return 0;
}


/* ---- mkdir, send ---------------------------------------------------------- */

/* Make one directory of etcd-dr's own (last component starts with
 * .etcd-dr-), mode 0700, in an existing parent; an existing path is
 * EDR_EEXIST: a staging directory is never shared.  With remove_at_exit the
 * agent removes the tree when it exits, whatever happened meanwhile. */
static int op_mkdir(struct agent *a, json_t *req, json_t *res) {
  const char *path;
  bool at_exit = false;
  int rc;
  if ((rc = f_file_path(a, req, "path", &path)) || (rc = f_bool(a, req, "remove_at_exit", &at_exit)))
    return rc;
  const char *last = strrchr(path, '/') + 1;
  if (strncmp(last, ".etcd-dr-", 9) != 0 || strlen(last) == 9)
    return agent_fail(a, EDR_EINVAL, "refusing to create '%s': only directories whose "
                      "last component starts with '.etcd-dr-' are made", path);
  if (at_exit && a->n_exit_remove >= (int)(sizeof a->exit_remove / sizeof a->exit_remove[0]))
    return agent_fail(a, EDR_ETOOBIG, "too many directories to remove at exit");
  if (mkdir(path, 0700) != 0)
    return agent_fail(a, edr_from_errno(errno), "cannot create directory '%s': %s", path,
                      errno == EEXIST ? "it already exists" : errstr(errno));
  if (at_exit && !(a->exit_remove[a->n_exit_remove++] = strdup(path)))
    return agent_fail(a, EDR_ENOMEM, "out of memory");
  if ((rc = fsync_dir_of(path)))
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
      fprintf(stderr, "etcd-dr-agent: %s\n", a->msg);
    free(a->exit_remove[i]);
    a->exit_remove[i] = NULL;
  }
  a->n_exit_remove = 0;
}

/* Stream a regular file to the coordinator: an event line
 * {"event":"data","bytes":SIZE}, exactly SIZE raw bytes, then the reply with
 * the SHA-256 of those bytes.  Once the event is out, SIZE bytes follow
 * whatever happens (zeros stand in for what could not be read, and the reply
 * is then an error), so the stream stays in step.  Memory: one buffer. */
static int op_send(struct agent *a, json_t *req, json_t *res) {
  static unsigned char buf[RECV_BUF];
  const char *path;
  int rc;
  if ((rc = f_file_path(a, req, "path", &path)))
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
                                " bytes: %s", path, sent, errstr(errno))
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

static int op_bye(struct agent *a, json_t *req, json_t *res) { return 0; }

const struct agent_op agent_ops[] = {
    {.name = "hello", .run = op_hello},
    {.name = "probe", .run = op_probe},
    {.name = "receive", .run = op_receive},
    {.name = "run", .run = op_run},
    {.name = "check-stopped", .run = op_check_stopped},
    {.name = "rename", .run = op_rename},
    {.name = "chown", .run = op_chown},
    {.name = "remove", .run = op_remove},
    {.name = "db-info", .run = op_db_info},
    {.name = "hash", .run = op_hash},
    {.name = "read", .run = op_read},
    {.name = "stat", .run = op_stat},
    {.name = "lock", .run = op_lock},
    {.name = "unlock", .run = op_unlock},
    {.name = "mark", .run = op_mark},
    {.name = "envfile", .run = op_envfile},
    {.name = "mkdir", .run = op_mkdir},
    {.name = "send", .run = op_send},
    {.name = "list-aside", .run = op_list_aside},
    {.name = "prune-aside", .run = op_prune_aside},
    {.name = "bye", .run = op_bye, .bye = true},
    {.name = NULL},
};

void agent_remove_made_dirs(struct agent *a) {
  for (int i = a->n_made - 1; i >= 0; i--) {
    if (a->made_dirs[i])
      rmdir(a->made_dirs[i]); /* fails, as it should, unless empty */
    free(a->made_dirs[i]);
    a->made_dirs[i] = NULL;
  }
  a->n_made = 0;
}
