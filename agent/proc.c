/*
 * proc.c - the agent's process runner and the `run` op: children get
 * /dev/null as stdin, their own process group and "/" as cwd; their output
 * is drained into fixed tails while the agent polls for their exit, a
 * timeout, or a progress file that stopped growing.  Every error message
 * names the program and what happened to it.
 */
#include "proc.h"

#include "fields.h"
#include "files.h"
#include "safepath.h"
#include "ops.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum {
  TAIL_MAX = 4096,          /* run: last bytes kept of stdout and stderr */
  KILL_GRACE_MS = 5000,     /* run: SIGTERM to SIGKILL */
  EXIT_DRAIN_MS = 200,      /* run: pipes kept open by daemonized children */
};

void proc_tail_add(struct proc_tail *t, const char *p, size_t n) {
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

void proc_env_release(struct proc_env *e) {
  for (size_t i = 0; i < e->n; i++)
    free(e->v[i]);
  free(e->v);
  e->v = NULL;
  e->n = 0;
}

const char *proc_env_get(const struct proc_env *e, const char *key) {
  size_t kl = strlen(key);
  for (size_t i = 0; i < e->n; i++)
    if (strncmp(e->v[i], key, kl) == 0 && e->v[i][kl] == '=')
      return e->v[i] + kl + 1;
  return NULL;
}

int proc_env_set(struct proc_env *e, const char *key, const char *val) {
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

int proc_env_init(struct proc_env *e) {
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
    if (proc_env_set(e, key, eq + 1) != 0)
      return EDR_ENOMEM;
  }
  const char *path = proc_env_get(e, "PATH");
  if (!path || !*path)
    return proc_env_set(e, "PATH", AGENT_DEFAULT_PATH);
  return 0;
}

bool proc_is_exec_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int proc_find_exec(struct agent *a, const char *argv0, const struct proc_env *env,
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
  const char *path = proc_env_get(env, "PATH");
  if (!path)
    path = AGENT_DEFAULT_PATH;
  for (const char *p = path;;) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    /* Empty and relative entries would depend on the cwd: skipped. */
    char *cand = len && p[0] == '/' ? edr_asprintf("%.*s/%s", (int)len, p, argv0)
                                    : strdup("");
    if (!cand)
      return EDR_ENOMEM;
    if (cand[0] && proc_is_exec_file(cand)) {
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

static void drain(int *fd, struct proc_tail *t) {
  static char buf[64 * 1024];
  for (int i = 0; i < 16 && *fd >= 0; i++) {
    ssize_t r = read(*fd, buf, sizeof(buf));
    if (r > 0) {
      proc_tail_add(t, buf, (size_t)r);
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

int proc_run(struct agent *a, struct proc *p) {
  int out[2] = {-1, -1}, err[2] = {-1, -1}, ex[2] = {-1, -1};
  uint64_t start = edr_now_ms();
  p->exit_code = -1;
  p->sig = 0;
  p->timed_out = false;
  p->pipes_left_open = false;
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(ex, O_CLOEXEC)) {
    int e = errno;
    for (int i = 0; i < 2; i++) {
      if (out[i] >= 0) close(out[i]);
      if (err[i] >= 0) close(err[i]);
      if (ex[i] >= 0) close(ex[i]);
    }
    return agent_fail(a, edr_from_errno(e), "cannot create pipes: %s", agent_errstr(e));
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
    /* A script run through its descriptor reads itself from /dev/fd/N:
     * that descriptor stays open across the exec. */
    for (int k = 0; k < PROC_KEEP_MAX; k++)
      if (p->keep_fds[k] > 2)
        (void)fcntl(p->keep_fds[k], F_SETFD, 0);
    if (p->exec_fd > 2) {
      (void)fcntl(p->exec_fd, F_SETFD, 0);
      fexecve(p->exec_fd, p->argv, p->envp);
    } else {
      execve(p->argv[0], p->argv, p->envp);
    }
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
                      p->argv[0], agent_errstr(fork_errno));
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
                      p->argv[0], agent_errstr(exec_errno));
  }
  int fds[2] = {out[0], err[0]};
  struct proc_tail *tails[2] = {&p->out, &p->err};
  for (int i = 0; i < 2; i++)
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);

  bool exited = false;
  int status = 0;
  uint64_t exited_at = 0, term_at = 0;
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

/* Length of STAGING without trailing slashes. */
static size_t staging_len(const char *staging) {
  size_t n = strlen(staging);
  while (n > 1 && staging[n - 1] == '/')
    n--;
  return n;
}

/* PATH is STAGING or below it. */
static bool beneath(const char *path, const char *staging) {
  size_t n = staging_len(staging);
  return !strncmp(path, staging, n) && (path[n] == '\0' || path[n] == '/');
}

/* A staging directory of the run, which only this agent's user may
 * change: the program reads and writes below it through the descriptor
 * (/proc/self/fd/N/...), so a directory put in its place by the etcd user
 * afterwards is never used.  A missing one is made (0700) first: the
 * restore tool creates its WAL dir inside one, never in a directory the
 * etcd user can write. */
static int open_staging(struct agent *a, const char *staging) {
  size_t len = staging_len(staging);
  char name[NAME_MAX + 1];
  int dfd = safe_open_parent(a, staging, name, false, NULL);
  if (dfd < 0)
    return dfd;
  struct stat st;
  if (mkdirat(dfd, name, 0700) == 0) {
    int rc = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? safe_fsync_dir(dfd)
                                                               : edr_from_errno(errno);
    if (!rc)
      safe_remember_own(a, staging, len, &st);
    close(dfd);
    if (rc)
      return agent_fail(a, rc, "cannot create staging directory '%s': %s", staging,
                        edr_strerror(rc));
  } else {
    int e = errno;
    close(dfd);
    if (e != EEXIST)
      return agent_fail(a, edr_from_errno(e), "cannot create staging directory '%s': %s",
                        staging, agent_errstr(e));
  }
  int fd = safe_open_dir(a, staging, len, false);
  if (fd < 0)
    return fd;
  if (fstat(fd, &st) != 0 || !safe_own_dir(&st)) {
    close(fd);
    return agent_fail(a, EDR_EACCES, "staging directory '%s' belongs to uid %lu with "
                      "mode %04o: not one etcd-dr made (it must belong to uid %lu and "
                      "be writable by it alone); it may have been replaced, remove it "
                      "and run again", staging, (unsigned long)st.st_uid,
                      (unsigned)(st.st_mode & 07777), (unsigned long)geteuid());
  }
  return fd;
}

/* Open the program EXE to execute it through the descriptor: below the
 * staging SFD it must be a file only this agent's user can change; with
 * WANT_SHA its contents must hash to it (read through the same descriptor
 * that is then executed). */
static int open_exec(struct agent *a, const char *exe, const char *staging, int sfd,
                     const char *want_sha) {
  bool below = staging && beneath(exe, staging);
  int fd;
  if (below) {
    const char *rest = exe + staging_len(staging);
    while (*rest == '/')
      rest++;
    fd = openat(sfd, rest, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  } else {
    char name[NAME_MAX + 1];
    bool trusted = false;
    int dfd = safe_open_parent(a, exe, name, false, &trusted);
    if (dfd < 0)
      return dfd;
    fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (trusted ? 0 : O_NOFOLLOW));
    close(dfd);
  }
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot open '%s': %s", exe,
                      agent_errstr(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0)
    rc = agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", exe,
                    agent_errstr(errno));
  else if (!S_ISREG(st.st_mode))
    rc = agent_fail(a, EDR_EINVAL, "'%s' is %s, expected a program", exe,
                    agent_kind_of(st.st_mode));
  else if (below && (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))))
    rc = agent_fail(a, EDR_EACCES, "'%s' belongs to uid %lu with mode %04o: not the "
                    "program etcd-dr pushed, not running it", exe,
                    (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
  char hex[65];
  uint64_t bytes;
  if (!rc && want_sha && !(rc = sha256_fd(a, fd, exe, hex, &bytes)) &&
      strcmp(hex, want_sha) != 0)
    rc = agent_fail(a, EDR_EHASH, "sha-256 of '%s' is %s, expected %s: not the "
                    "program etcd-dr pushed, not running it", exe, hex, want_sha);
  if (rc) {
    close(fd);
    return rc;
  }
  return fd;
}

int op_run(struct agent *a, json_t *req, json_t *res) {
  json_t *jargv = json_object_get(req, "argv");
  json_t *jenv = json_object_get(req, "env");
  json_int_t timeout = 0;
  const char *want_sha = NULL;
  int rc;
  if (!json_is_array(jargv) || json_array_size(jargv) == 0 ||
      json_array_size(jargv) > 4096)
    return agent_fail(a, EDR_EINVAL, "field 'argv' must be a non-empty array of strings");
  if (jenv && !json_is_null(jenv) && !json_is_object(jenv))
    return agent_fail(a, EDR_EINVAL, "field 'env' must be an object or null");
  if ((rc = field_int(a, req, "timeout_ms", true, 0, INT64_MAX / 2, &timeout)) ||
      (rc = field_str(a, req, "sha256", true, &want_sha)))
    return rc;
  /* "staging": one path or an array of them */
  const char *stagings[PROC_KEEP_MAX] = {0};
  size_t nstaging = 0;
  json_t *jst = json_object_get(req, "staging");
  if (json_is_array(jst)) {
    if (json_array_size(jst) > PROC_KEEP_MAX)
      return agent_fail(a, EDR_EINVAL, "field 'staging' names more than %d directories",
                        PROC_KEEP_MAX);
    for (size_t i = 0; i < json_array_size(jst); i++) {
      json_t *v = json_array_get(jst, i);
      const char *sp = json_string_value(v);
      if (!sp || strlen(sp) != json_string_length(v) || sp[0] != '/' ||
          strlen(sp) >= PATH_MAX - 16)
        return agent_fail(a, EDR_EINVAL, "field 'staging' entry %zu is not an absolute "
                          "path", i);
      stagings[nstaging++] = sp;
    }
  } else if ((rc = field_path(a, req, "staging", true, &stagings[0]))) {
    return rc;
  } else if (stagings[0]) {
    nstaging = 1;
  }
  if (want_sha && !field_is_sha256(want_sha))
    return agent_fail(a, EDR_EINVAL, "field 'sha256' is '%.80s', expected 64 "
                      "lowercase hex digits", want_sha);
  size_t argc = json_array_size(jargv);
  for (size_t i = 0; i < argc; i++) {
    json_t *s = json_array_get(jargv, i);
    if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s))
      return agent_fail(a, EDR_EINVAL, "argv[%zu] is not a string without nul bytes", i);
  }

  struct proc_env env = {0};
  char **argv = calloc(argc + 1, sizeof(*argv));
  char **moved = calloc(argc + 1, sizeof(*moved)); /* argv entries made here */
  char *exe = NULL;
  int sfds[PROC_KEEP_MAX], xfd = -1;
  for (size_t k = 0; k < PROC_KEEP_MAX; k++)
    sfds[k] = -1;
  char *ob = malloc(TAIL_MAX), *eb = malloc(TAIL_MAX);
  if ((rc = proc_env_init(&env)) || !argv || !moved || !ob || !eb) {
    rc = rc ? rc : EDR_ENOMEM;
    goto out;
  }
  const char *argv0 = json_string_value(json_array_get(jargv, 0));
  const char *base = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;
  if (strcmp(base, "etcdctl") == 0 && (rc = proc_env_set(&env, "ETCDCTL_API", "3")))
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
      if ((rc = proc_env_set(&env, key, json_is_null(val) ? NULL : json_string_value(val))))
        goto out;
    }
  }
  if ((rc = proc_find_exec(a, argv0, &env, &exe)))
    goto out;
  argv[0] = exe;
  for (size_t i = 1; i < argc; i++)
    argv[i] = (char *)json_string_value(json_array_get(jargv, i));
  for (size_t k = 0; k < nstaging; k++)
    if ((sfds[k] = open_staging(a, stagings[k])) < 0) {
      rc = sfds[k];
      goto out;
    }
  /* The program: below a staging dir it is opened there and checked. */
  size_t xk = nstaging;
  for (size_t k = 0; k < nstaging && xk == nstaging; k++)
    if (beneath(exe, stagings[k]))
      xk = k;
  if ((want_sha || xk < nstaging) &&
      (xfd = open_exec(a, exe, xk < nstaging ? stagings[xk] : NULL,
                       xk < nstaging ? sfds[xk] : -1, want_sha)) < 0) {
    rc = xfd;
    goto out;
  }
  for (size_t i = 1; i < argc; i++) {
    size_t best = nstaging;
    for (size_t k = 0; k < nstaging; k++)
      if (beneath(argv[i], stagings[k]) &&
          (best == nstaging || staging_len(stagings[k]) > staging_len(stagings[best])))
        best = k;
    if (best == nstaging)
      continue;
    if (!(moved[i] = edr_asprintf("/proc/self/fd/%d%s", sfds[best],
                                  argv[i] + staging_len(stagings[best])))) {
      rc = EDR_ENOMEM;
      goto out;
    }
    argv[i] = moved[i];
  }

  struct proc p = {.argv = argv, .envp = env.v, .timeout_ms = timeout,
                   .exec_fd = xfd > 2 ? xfd : 0,
                   .out = {.buf = ob, .cap = TAIL_MAX},
                   .err = {.buf = eb, .cap = TAIL_MAX}};
  for (size_t k = 0; k < PROC_KEEP_MAX; k++)
    p.keep_fds[k] = sfds[k] > 2 ? sfds[k] : 0;
  if ((rc = proc_run(a, &p)))
    goto out;
  json_object_set_new(res, "exit", p.exit_code >= 0 ? json_integer(p.exit_code)
                                                    : json_null());
  json_object_set_new(res, "signal", p.sig ? json_integer(p.sig) : json_null());
  json_object_set_new(res, "stdout_tail", agent_json_bytes(p.out.buf, p.out.len));
  json_object_set_new(res, "stderr_tail", agent_json_bytes(p.err.buf, p.err.len));
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
  if (p.timed_out)
    rc = agent_fail(a, EDR_ETIMEDOUT, "'%s' still running after %" JSON_INTEGER_FORMAT
                    " ms: sent sigterm to its process group%s", exe, timeout,
                    p.sig == SIGKILL ? ", then sigkill" : "");
  else if (p.sig)
    rc = agent_fail(a, EDR_EREMOTE, "'%s' was killed by signal %d (%s)%s%s", exe,
                    p.sig, agent_lower(strsignal(p.sig)), last[0] ? ": " : "", last);
  else if (p.exit_code != 0)
    rc = agent_fail(a, EDR_EREMOTE, "'%s' exited with status %d%s%s", exe,
                    p.exit_code, last[0] ? ": " : "", last);
out:
  for (size_t k = 0; k < PROC_KEEP_MAX; k++)
    if (sfds[k] >= 0)
      close(sfds[k]);
  if (xfd >= 0)
    close(xfd);
  for (size_t i = 0; moved && i < argc; i++)
    free(moved[i]);
  free(moved);
  proc_env_release(&env);
  free(argv);
  free(exe);
  free(ob);
  free(eb);
  return rc;
}
