/*
 * proxy.c - ProxyJump and ProxyCommand as a child process on a socket pair
 * (proxy.h).
 *
 * ProxyJump is built as OpenSSH builds it: `ssh -F CONFIG -J HOP1,... -W
 * HOST:PORT LASTHOP`, never through a shell (the hops were validated by
 * spec.c).  CONFIG holds our settings before an Include of the user's own
 * ssh_config, so host-key checking cannot be weakened there, on any hop:
 * BatchMode (no prompt from a child), StrictHostKeyChecking yes (accept-new
 * only when asked), the member's known_hosts file.  A ProxyCommand is the operator's own
 * command, run with /bin/sh -c after %h %p %r %% are substituted.
 */
#include "proxy.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { MAX_ARGS = 32 };

void edr_proxy_init(struct edr_proxy *p) {
  p->pid = 0;
  p->err_fd = -1;
  p->said[0] = '\0';
  p->config[0] = '\0';
}

/* %h %p %r %% of a ProxyCommand; malloc'd. */
static char *substitute(const char *cmd, const struct edr_proxy_target *t) {
  size_t cap = strlen(cmd) + 512, o = 0;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  for (const char *s = cmd; *s; s++) {
    char port[8];
    const char *add = NULL;
    if (s[0] == '%' && s[1]) {
      switch (s[1]) {
      case 'h': add = t->host; break;
      case 'p': snprintf(port, sizeof port, "%d", t->port); add = port; break;
      case 'r': add = t->user; break;
      case '%': add = "%"; break;
      }
    }
    size_t n = add ? strlen(add) : 1;
    if (o + n + 1 > cap) {
      char *b = realloc(out, cap = (o + n + 1) * 2);
      if (!b) {
        free(out);
        return NULL;
      }
      out = b;
    }
    if (add) {
      memcpy(out + o, add, n);
      s++;
    } else {
      out[o] = *s;
    }
    o += n;
  }
  out[o] = '\0';
  return out;
}

/* The ssh_config every ssh of a jump reads (-F, which OpenSSH hands on to
 * the ssh it starts for each further hop, where -o options are not): ours
 * first, since the first value obtained wins, then the user's own. */
static int write_config(const struct edr_proxy_target *t, struct edr_proxy *p,
                        struct edr_error *err) {
  if (strchr(t->known_hosts, '"') || (t->identity_file && strchr(t->identity_file, '"')) ||
      (t->ssh_config && strchr(t->ssh_config, '"')))
    return edr_error_set(err, EDR_EINVAL, "proxy_jump: the known_hosts, identity and "
                         "ssh_config paths may not contain '\"'");
  snprintf(p->config, sizeof p->config, "%s/etcd-dr-ssh.XXXXXX",
           getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  int fd = mkostemp(p->config, O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    edr_error_set(err, edr_from_errno(e), "cannot create '%s': %s", p->config, strerror(e));
    p->config[0] = '\0';
    return err->code;
  }
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return edr_error_set(err, EDR_ENOMEM, "out of memory");
  }
  fprintf(f, "# etcd-dr: for one connection through %s; removed after it\n"
             "Host *\n  BatchMode yes\n  StrictHostKeyChecking %s\n"
             "  UserKnownHostsFile \"%s\"\n  ConnectTimeout 10\n", t->jump,
          t->accept_new_hostkeys ? "accept-new" : "yes", t->known_hosts);
  if (t->identity_file)
    fprintf(f, "  IdentityFile \"%s\"\n", t->identity_file);
  if (!t->ssh_config)
    fprintf(f, "  Include ~/.ssh/config\n");
  else if (strcmp(t->ssh_config, "none"))
    fprintf(f, "  Include \"%s\"\n", t->ssh_config);
  if (fclose(f) != 0) {
    int e = errno;
    return edr_error_set(err, edr_from_errno(e), "cannot write '%s': %s", p->config,
                         strerror(e));
  }
  return 0;
}

/* argv for T (malloc'd strings in ARGV[0..], NULL-terminated); returns the
 * count or a negative code. */
static int build_argv(const struct edr_proxy_target *t, const char *config,
                      char *argv[MAX_ARGS]) {
  int n = 0;
#define ADD(expr)                                                              \
  do {                                                                         \
    if (!(argv[n++] = (expr)))                                                 \
      goto nomem;                                                              \
  } while (0)
  if (t->command) {
    ADD(strdup("/bin/sh"));
    ADD(strdup("-c"));
    ADD(substitute(t->command, t));
  } else {
    const char *last = strrchr(t->jump, ',');
    last = last ? last + 1 : t->jump;
    ADD(strdup("ssh"));
    ADD(strdup("-F"));
    ADD(strdup(config));
    if (last != t->jump) {
      ADD(strdup("-J"));
      ADD(edr_asprintf("%.*s", (int)(last - 1 - t->jump), t->jump));
    }
    ADD(strdup("-W"));
    ADD(strchr(t->host, ':') ? edr_asprintf("[%s]:%d", t->host, t->port)
                             : edr_asprintf("%s:%d", t->host, t->port));
    ADD(edr_asprintf("ssh://%s", last));
  }
  argv[n] = NULL;
  return n;
#undef ADD
nomem:
  for (int i = 0; i < n; i++)
    free(argv[i]);
  argv[0] = NULL;
  return EDR_ENOMEM;
}

static void free_argv(char *argv[MAX_ARGS]) {
  for (int i = 0; argv[i]; i++)
    free(argv[i]);
}

int edr_proxy_start(const struct edr_proxy_target *t, struct edr_proxy *p,
                    struct edr_error *err) {
  int sv[2] = {-1, -1}, ep[2] = {-1, -1}, rc = 0;
  char *argv[MAX_ARGS] = {NULL};
  posix_spawn_file_actions_t fa;
  bool fa_ok = false;
  edr_proxy_init(p);
  if (t->jump && (rc = write_config(t, p, err)) < 0) {
    edr_proxy_stop(p);
    return rc;
  }
  if (build_argv(t, p->config, argv) < 0) {
    edr_proxy_stop(p);
    return edr_error_set(err, EDR_ENOMEM, "out of memory");
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
      pipe2(ep, O_CLOEXEC | O_NONBLOCK) < 0) {
    rc = edr_error_set(err, edr_from_errno(errno), "cannot make the proxy's socket pair: %s",
                       strerror(errno));
    goto out;
  }
  if (posix_spawn_file_actions_init(&fa) != 0) {
    rc = edr_error_set(err, EDR_ENOMEM, "out of memory");
    goto out;
  }
  fa_ok = true;
  posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
  posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
  int e = posix_spawnp(&p->pid, argv[0], &fa, NULL, argv, environ);
  if (e != 0) {
    p->pid = 0;
    rc = edr_error_set(err, edr_from_errno(e), "cannot run '%s': %s%s", argv[0], strerror(e),
                       t->jump ? " (proxy_jump needs OpenSSH's ssh client here)" : "");
    goto out;
  }
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  p->err_fd = ep[0];
  ep[0] = -1;
  rc = sv[0];
  sv[0] = -1;
out:
  if (fa_ok)
    posix_spawn_file_actions_destroy(&fa);
  for (int i = 0; i < 2; i++) {
    if (sv[i] >= 0)
      close(sv[i]);
    if (ep[i] >= 0)
      close(ep[i]);
  }
  free_argv(argv);
  if (rc < 0)
    edr_proxy_stop(p);
  return rc;
}

const char *edr_proxy_said(struct edr_proxy *p) {
  char buf[1024];
  ssize_t n;
  size_t have = strlen(p->said), room = sizeof p->said - 1;
  while (p->err_fd >= 0 && (n = read(p->err_fd, buf, sizeof buf)) > 0) {
    size_t k = (size_t)n > room ? room : (size_t)n; /* the tail of what came */
    if (have + k > room) {                          /* drop the oldest */
      memmove(p->said, p->said + (have + k - room), room - k);
      have = room - k;
    }
    for (size_t i = 0; i < k; i++) {
      char ch = buf[(size_t)n - k + i];
      p->said[have++] = ch == '\n' || ch == '\r' ? ' ' : ch;
    }
  }
  while (have && p->said[have - 1] == ' ')
    have--;
  p->said[have] = '\0';
  return p->said;
}

void edr_proxy_stop(struct edr_proxy *p) {
  if (p->pid > 0) {
    int st;
    if (waitpid(p->pid, &st, WNOHANG) == 0) {
      kill(p->pid, SIGTERM);
      for (int i = 0; i < 100 && waitpid(p->pid, &st, WNOHANG) == 0; i++)
        usleep(10000);
      if (waitpid(p->pid, &st, WNOHANG) == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
      }
    }
    p->pid = 0;
  }
  if (p->err_fd >= 0) {
    close(p->err_fd);
    p->err_fd = -1;
  }
  if (p->config[0]) {
    unlink(p->config);
    p->config[0] = '\0';
  }
}
