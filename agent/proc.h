/*
 * proc.h - the agent's process runner (proc.c): start an argv with execve,
 * never through a shell, with an environment built here; capture the last
 * bytes of its stdout and stderr; stop its process group at a timeout.  The
 * `run` op and the probe's tool checks go
 * through it.  Buffers of a tail belong to the caller.
 */
#ifndef EDR_AGENT_PROC_H
#define EDR_AGENT_PROC_H

#include "agent.h"

#include <stdint.h>

enum { PROC_KEEP_MAX = 4 }; /* directories a child may work in by descriptor */

#define AGENT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The last CAP bytes written. */
struct proc_tail {
  char *buf;
  size_t cap, len;
  uint64_t total;
};

/* Append N bytes, keeping the last CAP. */
void proc_tail_add(struct proc_tail *t, const char *p, size_t n);

/* An environment as a NULL-terminated array of malloc'd "K=V". */
struct proc_env {
  char **v;
  size_t n;
};

/* The agent's own environment, with a sane PATH if it has none. */
int proc_env_init(struct proc_env *e);
/* The value of KEY (borrowed), or NULL. */
const char *proc_env_get(const struct proc_env *e, const char *key);
/* Set KEY to VAL, or unset it when VAL is NULL. */
int proc_env_set(struct proc_env *e, const char *key, const char *val);
void proc_env_release(struct proc_env *e);

/* PATH is a regular file this process may execute. */
bool proc_is_exec_file(const char *path);

/* Resolve ARGV0 through the PATH of ENV; *out is malloc'd (the caller's). */
int proc_find_exec(struct agent *a, const char *argv0, const struct proc_env *env,
                   char **out);

struct proc {
  char *const *argv;
  char **envp;
  int64_t timeout_ms; /* 0: none */
  struct proc_tail out, err;
  int exit_code;      /* -1 unless it exited */
  int sig;            /* 0 unless killed by a signal */
  bool timed_out;
  bool pipes_left_open; /* a background process still held stdout/stderr */
  uint64_t duration_ms;
  /* Descriptors above 2, or 0 for none: EXEC_FD is executed (fexecve)
   * instead of the path argv[0]; KEEP_FDS stay open in the child, for argv
   * entries of the form /proc/self/fd/N/... */
  int exec_fd, keep_fds[PROC_KEEP_MAX];
};

/* Run P->argv (argv[0] resolved already) and wait for it, capturing the
 * tails of its output.  Returns 0 once it ran (whatever its status) or a
 * negative code when it could not be started. */
int proc_run(struct agent *a, struct proc *p);

#endif
