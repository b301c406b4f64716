/*
 * probe.c - what the agent finds out about its host before anything is
 * changed: `hello` (its own version and hash, uid, arch), `probe` (the
 * restore tool and the flags it takes, the data and WAL dirs, free space,
 * mount points, whether etcd holds the data dir's locks, who listens on the
 * member's ports) and `check-stopped` (wait until etcd let go of its
 * files).  Nothing here writes to the host; the facts go back in the reply.
 */
#include "probe.h"

#include "fields.h"
#include "ops.h"
#include "owner.h"
#include "proc.h"

#include "bbolt.h"
#include "err.h"
#include "manifest.h"
#include "sha256.h"
#include "util.h"
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

enum {
  HELP_MAX = 64 * 1024,     /* last bytes kept of a tool's help */
  TOOL_TIMEOUT_MS = 10000,  /* one tool invocation */
  LOCK_POLL_MS = 100,       /* check-stopped: between two looks */
};

int op_hello(struct agent *a, json_t *req, json_t *res) {
  const char *run_id, *host;
  int rc;
  if ((rc = field_str(a, req, "run_id", true, &run_id)) ||
      (rc = field_str(a, req, "host", true, &host)))
    return rc;
  snprintf(a->run_id, sizeof(a->run_id), "%s", run_id ? run_id : "");
  snprintf(a->host, sizeof(a->host), "%s", host ? host : "");
  json_int_t idle = 0;
  if ((rc = field_int(a, req, "idle_timeout_ms", true, 0, 7 * 86400 * 1000LL, &idle)))
    return rc;
  a->idle_ms = idle;

  char hex[65];
  uint64_t bytes;
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot open '/proc/self/exe': %s",
                      agent_errstr(errno));
  rc = sha256_fd(a, fd, "/proc/self/exe", hex, &bytes);
  close(fd);
  if (rc)
    return rc;
  struct utsname u;
  if (uname(&u) != 0)
    return agent_fail(a, edr_from_errno(errno), "uname failed: %s", agent_errstr(errno));
  json_object_set_new(res, "version", json_string(EDR_VERSION));
  json_object_set_new(res, "sha256", json_string(hex));
  json_object_set_new(res, "uid", json_integer(geteuid()));
  json_object_set_new(res, "arch", json_string(u.machine));
  json_object_set_new(res, "hostname", agent_json_bytes(u.nodename, strlen(u.nodename)));
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

bool probe_has_flag(const char *text, const char *flag) {
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
  struct proc_env env;
  char *argv[8];
  int n = 0, rc;
  *text = NULL;
  argv[n++] = (char *)tool;
  for (; *args && n < 7; args++)
    argv[n++] = (char *)*args;
  argv[n] = NULL;
  if ((rc = proc_env_init(&env)) || (rc = proc_env_set(&env, "ETCDCTL_API", "3"))) {
    proc_env_release(&env);
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
  proc_env_release(&env);
  return rc;
}

json_t *probe_parse_version(const char *text) {
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
  struct edr_error save = a->err; /* the op's own failure, back at the end */
  json_t *tool = NULL;
  edr_error_init(&a->err);
  if (tool_output(a, path, help_args, &help, &code) != 0) {
    if (snprintf(why, whylen, "%s", a->err.msg.buf) >= (int)whylen)
      why[whylen - 1] = '\0';
    goto out;
  }
  if (code < 0) {
    snprintf(why, whylen, "'%s snapshot restore --help' timed out", path);
    goto out;
  }
  if (!probe_has_flag(help, "--data-dir")) {
    snprintf(why, whylen, "'%s snapshot restore --help' lists no --data-dir", path);
    goto out;
  }
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  const char *kind = strstr(help, "etcdutl snapshot restore") ? "etcdutl"
                     : strstr(help, "etcdctl snapshot restore") ? "etcdctl"
                     : strncmp(base, "etcdutl", 7) == 0 ? "etcdutl" : "etcdctl";
  json_t *flags = json_array();
  for (const char *const *f = restore_flags; *f; f++)
    if (probe_has_flag(help, *f))
      json_array_append_new(flags, json_string(*f));
  json_t *version = json_null();
  if (tool_output(a, path, version_args, &ver, &code) == 0 && code == 0) {
    json_decref(version);
    version = probe_parse_version(ver);
  }
  tool = json_pack("{s:s, s:s, s:o, s:o}", "path", path, "kind", kind, "version",
                   version, "flags", flags);
out:
  edr_error_release(&a->err);
  a->err = save;
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
    if (!proc_is_exec_file(want)) {
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
  snprintf(pathbuf, sizeof(pathbuf), "%s", envpath && *envpath ? envpath : AGENT_DEFAULT_PATH);
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
      if (!proc_is_exec_file(cand))
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
      *rc = agent_fail(a, edr_from_errno(e), "cannot stat '%s': %s", path, agent_errstr(e));
  } else {
    char mode[8];
    agent_mode_str(st.st_mode, mode);
    json_object_set_new(o, "exists", json_true());
    json_object_set_new(o, "uid", json_integer(st.st_uid));
    json_object_set_new(o, "gid", json_integer(st.st_gid));
    json_object_set_new(o, "mode", json_string(mode));
    json_object_set_new(o, "mountpoint", json_boolean(is_mountpoint(path, &st)));
    if (!S_ISDIR(st.st_mode) && !*rc)
      *rc = agent_fail(a, EDR_EINVAL, "'%s' is %s, expected a directory", path,
                       agent_kind_of(st.st_mode));
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
    bool there = stat(db, &dst) == 0, has_ci = false, has_term;
    uint64_t ci = 0, term;
    struct edr_bolt *bolt = NULL;
    bool ok = there && edr_bolt_open(db, &bolt, NULL) == 0 &&
              edr_bolt_revision_db(bolt, &rev) == 0;
    if (ok && edr_bolt_meta_index(bolt, &has_ci, &ci, &has_term, &term) != 0)
      has_ci = false;
    edr_bolt_close(bolt);
    json_object_set_new(o, "revision", ok ? json_integer(rev) : json_null());
    json_object_set_new(o, "consistent_index",
                        ok && has_ci ? json_integer((json_int_t)ci) : json_null());
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

/* What the apply steps will need, looked up now so that a mistake fails in
 * the check phase, before any member is stopped: the owner the restored
 * data is given ("owner": {"uid", "gid"} or {"error"}) and the programs
 * that stop and start etcd ("commands": [{"argv0", "path"} or {"argv0",
 * "error"}]).  A lookup that fails is a fact, not the probe's failure. */
static int apply_facts(struct agent *a, json_t *req, json_t *res) {
  const char *owner;
  int rc;
  if ((rc = field_str(a, req, "owner", true, &owner)))
    return rc;
  if (owner) {
    uid_t uid;
    gid_t gid;
    if (owner_resolve(a, owner, &uid, &gid) == 0)
      json_object_set_new(res, "owner", json_pack("{s:I, s:I}", "uid", (json_int_t)uid,
                                                   "gid", (json_int_t)gid));
    else
      json_object_set_new(res, "owner", json_pack("{s:s}", "error", a->err.msg.buf));
    edr_error_clear(&a->err);
  }
  json_t *cmds = json_object_get(req, "commands");
  if (!cmds)
    return 0;
  if (!json_is_array(cmds))
    return agent_fail(a, EDR_EINVAL, "field 'commands' must be an array of strings");
  struct proc_env env;
  if ((rc = proc_env_init(&env)))
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
    if (proc_find_exec(a, argv0, &env, &exe) == 0 && !proc_is_exec_file(exe))
      agent_fail(a, EDR_ENOENT, "'%s' is not an executable file", exe);
    if (exe && !a->err.msg.len)
      json_array_append_new(out, json_pack("{s:s, s:s}", "argv0", argv0, "path", exe));
    else
      json_array_append_new(out, json_pack("{s:s, s:s}", "argv0", argv0, "error", a->err.msg.buf));
    edr_error_clear(&a->err);
    free(exe);
  }
  proc_env_release(&env);
  json_object_set_new(res, "commands", out);
  return rc;
}

/* ---- kubeadm's static pod manifest -------------------------------------- */

/* "manifest": {"path", "parked"}: where etcd's static pod manifest is (in
 * the manifests dir, parked while a run keeps etcd stopped, or nowhere),
 * the flags a restore needs from it and the image's etcd version.  A
 * manifest that cannot be read is a fact ("error"), not the probe's
 * failure: the coordinator says what it means. */
static int manifest_facts(struct agent *a, json_t *req, json_t *res) {
  json_t *mj = json_object_get(req, "manifest");
  if (!mj)
    return 0;
  const char *path, *parked;
  int rc;
  if ((rc = field_file_path(a, mj, "path", &path)) ||
      (rc = field_file_path(a, mj, "parked", &parked)))
    return rc;
  struct stat st;
  bool in = lstat(path, &st) == 0, out = lstat(parked, &st) == 0;
  json_t *f = json_pack("{s:b, s:b}", "present", in, "parked", out);
  json_object_set_new(res, "manifest", f);
  if (!in && !out)
    return 0;
  char *text;
  size_t len;
  struct edr_manifest m;
  if (agent_read_manifest(a, in ? path : parked, &text, &len, &m)) {
    json_object_set_new(f, "error", json_string(a->err.msg.buf));
    edr_error_clear(&a->err);
    return 0;
  }
  static const char *const flags[] = {
    "name", "data-dir", "wal-dir", "initial-advertise-peer-urls", "advertise-client-urls",
    "listen-client-urls", "initial-cluster", "initial-cluster-state", "cert-file",
    "trusted-ca-file", "client-cert-auth", "force-new-cluster",
  };
  json_t *fl = json_object();
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    const char *v = edr_manifest_flag(&m, flags[i]);
    if (v)
      json_object_set_new(fl, flags[i], json_string(v));
  }
  json_object_set_new(f, "flags", fl);
  char ver[32];
  json_object_set_new(f, "image", m.image ? json_string(m.image) : json_null());
  json_object_set_new(f, "version", edr_manifest_image_version(&m, ver, sizeof ver)
                                        ? json_string(ver) : json_null());
  edr_manifest_release(&m);
  free(text);
  return 0;
}

int op_probe(struct agent *a, json_t *req, json_t *res) {
  const char *data_dir, *wal_dir, *want, *staging;
  int rc;
  if ((rc = field_path(a, req, "data_dir", false, &data_dir)) ||
      (rc = field_path(a, req, "wal_dir", true, &wal_dir)) ||
      (rc = field_str(a, req, "restore_tool", true, &want)) ||
      (rc = field_path(a, req, "staging", true, &staging)))
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
  if (!rc)
    rc = manifest_facts(a, req, res);
  return rc;
}

/* The first of PORTS something listens on (0: none), and who. */
static unsigned port_in_use(json_t *ports, char *who, size_t len) {
  size_t i;
  json_t *p;
  json_array_foreach(ports, i, p) {
    if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535)
      continue;
    unsigned long inodes[8];
    unsigned port = (unsigned)json_integer_value(p);
    size_t n = listeners(port, inodes, 8);
    if (!n)
      continue;
    char comm[64] = "";
    long pid = 0;
    for (size_t k = 0; k < n && !pid; k++)
      pid = socket_owner(inodes[k], comm, sizeof comm);
    if (pid)
      snprintf(who, len, "pid %ld, %s", pid, comm);
    else
      snprintf(who, len, "owner unknown");
    return port;
  }
  return 0;
}

int op_check_stopped(struct agent *a, json_t *req, json_t *res) {
  const char *data_dir, *wal_dir;
  json_int_t timeout = 0;
  int rc;
  if ((rc = field_path(a, req, "data_dir", false, &data_dir)) ||
      (rc = field_path(a, req, "wal_dir", true, &wal_dir)) ||
      (rc = field_int(a, req, "timeout_ms", true, 0, 24LL * 3600 * 1000, &timeout)))
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
    json_t *ports = json_object_get(req, "ports");
    char who[128];
    unsigned port = held == 0 && json_is_array(ports) ? port_in_use(ports, who, sizeof who) : 0;
    if (held == 0 && !port)
      return 0;
    if (port && waited >= (uint64_t)timeout)
      return agent_fail(a, EDR_EBUSY, "port %u is still listened on (%s) after %" PRIu64
                        " ms: etcd has not exited", port, who, waited);
    if (waited >= (uint64_t)timeout)
      return agent_fail(a, EDR_EBUSY, "'%s' is still locked (%s) after %" PRIu64
                        " ms: an etcd process holds this data dir", which, kind, waited);
    usleep(LOCK_POLL_MS * 1000);
  }
}
