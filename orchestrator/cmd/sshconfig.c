/*
 * sshconfig.c - `ssh -G HOST` run and read (sshconfig.h).
 *
 * ssh -G prints every option, one "keyword value" line each, keywords in
 * lower case, after the whole of the configuration was applied to HOST.  It
 * contacts nothing.  Only the keywords etcd-dr can act on are kept:
 * hostname, user, port, identityfile (one line each), identitiesonly,
 * proxyjump, proxycommand, userknownhostsfile (a list on one line) and
 * stricthostkeychecking (true, false, ask or accept-new).
 */
#include "sshconfig.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { OUT_MAX = 256 * 1024 };

static void copy(char *dst, size_t len, const char *src, size_t n) {
  if (n >= len)
    n = len - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* ssh -G prints a single ProxyJump hop as user@[host]:port, brackets even
 * around a name or an IPv4 address; OpenSSH's -J (and the spec) take
 * brackets around IPv6 addresses only.  In place. */
static void unbracket_hops(char *jump) {
  for (char *p = jump; (p = strchr(p, '['));) {
    char *rb = strchr(p, ']');
    if (!rb)
      return;
    if (memchr(p, ':', (size_t)(rb - p))) { /* IPv6: kept */
      p = rb + 1;
      continue;
    }
    memmove(rb, rb + 1, strlen(rb + 1) + 1);
    memmove(p, p + 1, strlen(p + 1) + 1);
  }
}

int edr_sshcfg_parse(const char *text, struct edr_sshcfg *out) {
  bool have_host = false;
  memset(out, 0, sizeof *out);
  out->port = 22;
  for (const char *line = text; *line;) {
    size_t len = strcspn(line, "\n");
    size_t kl = strcspn(line, " \t");
    if (kl > len)
      kl = len;
    const char *v = line + kl;
    while (v < line + len && (*v == ' ' || *v == '\t'))
      v++;
    size_t vl = (size_t)(line + len - v);
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
      vl--;
#define KEY(k) (kl == sizeof(k) - 1 && !strncmp(line, k, kl))
    if (KEY("hostname")) {
      copy(out->hostname, sizeof out->hostname, v, vl);
      have_host = true;
    } else if (KEY("user")) {
      copy(out->user, sizeof out->user, v, vl);
    } else if (KEY("port")) {
      char b[16];
      copy(b, sizeof b, v, vl);
      out->port = atoi(b);
    } else if (KEY("identityfile")) {
      size_t have = strlen(out->identity_files);
      if (!have)
        copy(out->identity_file, sizeof out->identity_file, v, vl);
      if (have + vl + 2 < sizeof out->identity_files) {
        memcpy(out->identity_files + have, v, vl);
        out->identity_files[have + vl] = '\n';
        out->identity_files[have + vl + 1] = '\0';
      }
    } else if (KEY("identitiesonly")) {
      out->identities_only = vl == 3 && !strncmp(v, "yes", 3);
    } else if (KEY("proxyjump")) {
      copy(out->proxy_jump, sizeof out->proxy_jump, v, vl);
      unbracket_hops(out->proxy_jump);
    } else if (KEY("proxycommand")) {
      copy(out->proxy_command, sizeof out->proxy_command, v, vl);
    } else if (KEY("userknownhostsfile")) {
      copy(out->known_hosts, sizeof out->known_hosts, v, strcspn(v, " \t\n"));
    } else if (KEY("stricthostkeychecking")) {
      copy(out->strict, sizeof out->strict, v, vl);
    }
#undef KEY
    line += len;
    if (*line)
      line++;
  }
  return have_host ? 0 : EDR_EINVAL;
}

/* The identity files as a set: ssh -G lists the default ones in its own
 * order, the configured ones in theirs. */
static bool same_lines(const char *a, const char *b) {
  size_t na = 0, nb = 0;
  for (const char *p = a; *p; p += strcspn(p, "\n") + 1, na++) {
    size_t l = strcspn(p, "\n");
    bool found = false;
    for (const char *q = b; *q && !found; q += strcspn(q, "\n") + 1)
      found = strcspn(q, "\n") == l && !strncmp(p, q, l);
    if (!found)
      return false;
  }
  for (const char *q = b; *q; q += strcspn(q, "\n") + 1)
    nb++;
  return na == nb;
}

void edr_sshcfg_diff(struct edr_sshcfg *got, const struct edr_sshcfg *d) {
  got->set = 0;
  if (strcmp(got->hostname, d->hostname))
    got->set |= EDR_SC_HOSTNAME;
  if (strcmp(got->user, d->user))
    got->set |= EDR_SC_USER;
  if (got->port != d->port)
    got->set |= EDR_SC_PORT;
  if (!same_lines(got->identity_files, d->identity_files))
    got->set |= EDR_SC_IDENTITY;
  if (got->identities_only != d->identities_only)
    got->set |= EDR_SC_IDENTITIES_ONLY;
  if (strcmp(got->proxy_jump, d->proxy_jump))
    got->set |= EDR_SC_JUMP;
  if (strcmp(got->proxy_command, d->proxy_command))
    got->set |= EDR_SC_COMMAND;
  if (strcmp(got->known_hosts, d->known_hosts))
    got->set |= EDR_SC_KNOWN_HOSTS;
  if (strcmp(got->strict, d->strict))
    got->set |= EDR_SC_STRICT;
}

/* Run `ssh -G [-F CONFIG] HOST`; its stdout into OUT (malloc'd).  Returns 0,
 * EDR_ENOENT (no ssh), or EDR_EINVAL with what ssh said in ERR. */
static int ssh_g(const char *config, const char *host, char **out, struct edr_error *err) {
  int op[2] = {-1, -1}, ep[2] = {-1, -1}, rc = 0, st = 0;
  const char *argv[8];
  int n = 0;
  argv[n++] = "ssh";
  argv[n++] = "-G";
  if (config) {
    argv[n++] = "-F";
    argv[n++] = config;
  }
  argv[n++] = "--";
  argv[n++] = host;
  argv[n] = NULL;
  *out = NULL;
  posix_spawn_file_actions_t fa;
  if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
    rc = edr_error_set(err, edr_from_errno(errno), "cannot run ssh -G: %s", strerror(errno));
    goto out;
  }
  if (posix_spawn_file_actions_init(&fa) != 0) {
    rc = EDR_ENOMEM;
    goto out;
  }
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, op[1], 1);
  posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
  pid_t pid;
  int e = posix_spawnp(&pid, "ssh", &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(op[1]);
  close(ep[1]);
  op[1] = ep[1] = -1;
  if (e) {
    rc = edr_error_set(err, e == ENOENT ? EDR_ENOENT : edr_from_errno(e),
                       "cannot run ssh -G: %s", strerror(e));
    goto out;
  }
  size_t have = 0, cap = 8192;
  char *buf = malloc(cap), said[512];
  ssize_t r;
  while (buf && (r = read(op[0], buf + have, cap - have - 1)) != 0) {
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      break;
    have += (size_t)r;
    if (have + 1 == cap) {
      char *nb = cap < OUT_MAX ? realloc(buf, cap *= 2) : NULL;
      if (!nb) {
        free(buf);
        buf = NULL;
      } else {
        buf = nb;
      }
    }
  }
  size_t el = 0;
  while (el < sizeof said - 1 && (r = read(ep[0], said + el, sizeof said - 1 - el)) != 0) {
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      break;
    el += (size_t)r;
  }
  said[el] = '\0';
  while (el && (said[el - 1] == '\n' || said[el - 1] == '\r'))
    said[--el] = '\0';
  for (char *p = said; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!buf) {
    rc = EDR_ENOMEM;
    goto out;
  }
  buf[have] = '\0';
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    free(buf);
    rc = edr_error_set(err, EDR_EINVAL, "ssh -G%s%s %s failed%s%s; fix the file, or give "
                       "--ssh-config none", config ? " -F " : "", config ? config : "", host,
                       *said ? ": " : "", said);
    goto out;
  }
  *out = buf;
out:
  for (int i = 0; i < 2; i++) {
    if (op[i] >= 0)
      close(op[i]);
    if (ep[i] >= 0)
      close(ep[i]);
  }
  return rc;
}

static int resolve(const char *config, const char *host, struct edr_sshcfg *out,
                   struct edr_error *err) {
  char *text = NULL;
  int rc = ssh_g(config, host, &text, err);
  if (rc)
    return rc;
  rc = edr_sshcfg_parse(text, out);
  free(text);
  if (rc)
    edr_error_set(err, rc, "ssh -G %s printed no hostname: is 'ssh' OpenSSH's client?", host);
  return rc;
}

static bool weakens(const struct edr_sshcfg *c) {
  return ((c->set & EDR_SC_STRICT) &&
          (!strcmp(c->strict, "false") || !strcmp(c->strict, "accept-new"))) ||
         ((c->set & EDR_SC_KNOWN_HOSTS) && !strcmp(c->known_hosts, "/dev/null"));
}

/* OpenSSH skips an IdentityFile that does not exist (a `Host *` block often
 * lists several): the first that exists is the one, none leaves the
 * default.  ~ is $HOME, as in the rest of etcd-dr. */
static void pick_identity(struct edr_sshcfg *c) {
  const char *home = getenv("HOME");
  if (!(c->set & EDR_SC_IDENTITY))
    return;
  for (const char *p = c->identity_files; *p; p += strcspn(p, "\n") + 1) {
    size_t l = strcspn(p, "\n");
    char path[2048];
    if (p[0] == '~' && p[1] == '/')
      snprintf(path, sizeof path, "%s%.*s", home ? home : "", (int)l - 1, p + 1);
    else
      snprintf(path, sizeof path, "%.*s", (int)l, p);
    if (access(path, F_OK) == 0) {
      copy(c->identity_file, sizeof c->identity_file, p, l);
      return;
    }
  }
  c->set &= ~(unsigned)EDR_SC_IDENTITY;
}

int edr_sshcfg_lookup(const char *config, const char *host, struct edr_sshcfg *out,
                      struct edr_error *err) {
  struct edr_sshcfg *d = malloc(sizeof *d);
  if (!d)
    return EDR_ENOMEM;
  int rc = resolve(config, host, out, err);
  if (!rc)
    rc = resolve("/dev/null", host, d, err);
  if (!rc) {
    edr_sshcfg_diff(out, d);
    pick_identity(out);
  }
  struct passwd *pw = getpwuid(geteuid());
  char *user_file = edr_asprintf("%s/.ssh/config", pw && pw->pw_dir ? pw->pw_dir : "~");
  if (!rc && !user_file)
    rc = EDR_ENOMEM;
  if (!rc && config) {
    snprintf(out->file, sizeof out->file, "%s", config);
  } else if (!rc && weakens(out)) {
    /* ssh read two files: the user's, then the system's; name the one */
    struct stat sb;
    bool in_user = false;
    struct edr_error ignored = EDR_ERROR_INIT; /* which file: the system's if unsure */
    if (stat(user_file, &sb) == 0 && resolve(user_file, host, d, &ignored) == 0) {
      struct edr_sshcfg *u = d, *dd = malloc(sizeof *dd);
      if (dd && resolve("/dev/null", host, dd, &ignored) == 0) {
        edr_sshcfg_diff(u, dd);
        in_user = weakens(u);
      }
      free(dd);
    }
    edr_error_release(&ignored);
    snprintf(out->file, sizeof out->file, "%s", in_user ? user_file : "/etc/ssh/ssh_config");
  } else if (!rc) {
    snprintf(out->file, sizeof out->file, "%s or /etc/ssh/ssh_config", user_file);
  }
  free(user_file);
  free(d);
  return rc;
}
