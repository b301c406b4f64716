/*
 * main.c - etcd-dr-agent's entry point: set up signals and stdin, serve the
 * protocol (protocol.c) until EOF or `bye`, then undo what this process left
 * behind: its auto_release lock, its remove_at_exit trees, the empty
 * directories it made and the directory it was pushed into.  Only this file
 * is not part of the agent library that the tests link.
 */
#include "agent.h"
#include "files.h"

#include "err.h"
#include "jsonwipe.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Remove the directory holding our binary, if it is one that the bootstrap
 * made (its name starts with "etcd-dr."): never anything else. */
static void remove_own_dir(struct agent *a) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0)
    return;
  exe[n] = '\0';
  char *dir = dirname(exe);
  char *slash = strrchr(dir, '/');
  if (!slash || strncmp(slash + 1, "etcd-dr.", 8) != 0 || strcmp(dir, "/") == 0)
    return;
  bool removed;
  a->id = NULL;
  if (agent_remove_tree(a, dir, &removed) != 0)
    fprintf(stderr, "etcd-dr-agent: %s\n", a->err.msg.buf);
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fprintf(stderr, "etcd-dr-agent %s: speaks JSON lines on stdin/stdout; "
                    "see docs/agent-protocol.md\n", EDR_VERSION);
    return 2;
  }
  edr_json_wipe_install(); /* no copy of a password outlives its object */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  /* A parent may have left SIGCHLD ignored, which would make waitpid()
   * lose the exit status of `run`'s children. */
  signal(SIGCHLD, SIG_DFL);
  /* No OpenSSL initialisation: SHA-256 goes through SHA256_* (sha256.h),
   * which never reads openssl.cnf nor loads a provider or engine. */

  /* sshd hands the snapshot over through a pipe, 64 kB by default: a
   * bigger one lets sshd and the agent each move more per wake-up
   * (docs/BENCHMARKS.md, "Push to one host").  Not a pipe, or the limit
   * (/proc/sys/fs/pipe-max-size) is lower: it stays as it is. */
  (void)fcntl(0, F_SETPIPE_SZ, 1 << 20);

  static struct agent a; /* big buffers: not on the stack */
  edr_error_init(&a.err);
  a.in_fd = 0;
  a.out_fd = 1;
  if (agent_serve(&a) != 0)
    return 1;
  agent_remove_made_staging(&a); /* before the lock goes: only while unpinned */
  agent_release_auto_lock(&a);
  agent_remove_at_exit(&a);
  agent_remove_made_dirs(&a);
  remove_own_dir(&a);
  return a.fatal ? 1 : 0;
}
