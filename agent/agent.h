/*
 * agent.h - what the agent's protocol (protocol.c), its main (main.c) and
 * its operations share: the per-process state, the buffered request stream,
 * the reply and message helpers, and the op table (ops.c).  The protocol
 * itself is described in docs/agent-protocol.md.  Strings returned by the
 * message helpers are borrowed: valid until a few more calls.
 */
#ifndef EDR_AGENT_H
#define EDR_AGENT_H

#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum {
  AGENT_IN_BUF = 64 * 1024,     /* read(2) granularity of stdin */
  AGENT_LINE_MAX = 1024 * 1024, /* longest request line, newline excluded */
  AGENT_MSG_MAX = 2048,         /* longest error message, NUL included */
};

struct agent {
  /* stdin: bytes in in_buf[in_pos, in_end) were read but not consumed yet;
   * receive's payload must take them before reading the fd again. */
  int in_fd;
  unsigned char in_buf[AGENT_IN_BUF];
  size_t in_pos, in_end;
  bool in_eof;

  int out_fd;
  bool out_dead; /* stdout gone (EPIPE): ops still run to their end */

  json_t *id;     /* borrowed: id of the request being served (or NULL) */
  struct edr_error err; /* the current op's failure and its message (err.h):
                         * edr_error_init()ed before the first request */
  bool fatal;     /* the stream is out of step: exit after this reply */

  char run_id[128], host[256]; /* from hello, for log events */

  /* From hello: with nothing on stdin for this long (between requests or
   * inside a payload) the coordinator is taken for gone and the agent ends
   * as at EOF (0: wait forever).  idle_expired says that is why. */
  long long idle_ms;
  bool idle_expired;

  /* Directories this agent created (mkdir -p for receive and lock), so that
   * at exit the empty ones go again: a run cut short leaves no trace. */
  char *made_dirs[64];
  int n_made;

  /* etcd-dr's own directories (.etcd-dr-*) this agent made, by path and
   * identity: a walk through one of those paths that finds another
   * directory there (the etcd user renamed one in) is refused. */
  struct agent_own_dir {
    char *path;
    dev_t dev;
    ino_t ino;
  } own_dirs[16];
  int n_own;

  /* A lock taken with auto_release: released at exit, so a run cut short
   * before it changed anything leaves no lock behind. */
  char auto_lock_path[4096];
  char auto_lock_run[128];
  char auto_lock_token[72];
  bool lock_pinned; /* a lock was taken with auto_release false: it stays */

  /* Trees made with mkdir's remove_at_exit: removed at exit whatever
   * happened, so a run cut short (the connection lost mid-snapshot) leaves
   * no file behind. */
  char *exit_remove[8];
  int n_exit_remove;
};

/* At exit: remove the trees registered with mkdir's remove_at_exit
 * (files.c). */
void agent_remove_at_exit(struct agent *a);

/* At exit: release the auto_release lock, if this run still holds it
 * (lock.c). */
void agent_release_auto_lock(struct agent *a);

/* At exit: rmdir, deepest first, the directories this agent created that
 * are empty now.  Never removes anything else (files.c). */
void agent_remove_made_dirs(struct agent *a);

/* At exit, while this run still holds its auto_release lock (it was never
 * pinned for apply): remove whole the directories this agent created whose
 * last component starts with ".etcd-dr-" (the run's staging; files.c). */
void agent_remove_made_staging(struct agent *a);

/* Serve requests from A->in_fd until EOF, a fatal error or `bye`.  Returns
 * 0, or EDR_ENOMEM when the line buffer cannot be had. */
int agent_serve(struct agent *a);

/* Read one request line into LINE (AGENT_LINE_MAX + 1 bytes).  Returns its
 * length, -1 at EOF (a partial last line counts as EOF), or EDR_ETOOBIG
 * after skipping the rest of an overlong line. */
long agent_read_line(struct agent *a, char *line);


/* Read up to N payload bytes, leftover buffered bytes first.  Returns the
 * count, 0 at EOF, or -1 with errno set. */
ssize_t agent_read(struct agent *a, void *buf, size_t n);

/* Whether the coordinator's end of stdin has closed (its session is gone),
 * without reading: for ops whose bytes come from elsewhere (the relay). */
bool agent_input_gone(struct agent *a);

/* Record the error message of the current op (lowercase, names the path and
 * what was found) and return CODE, so ops can `return agent_fail(...)`. */
int agent_fail(struct agent *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Send FIELDS (stolen; an object) with "id" of the current request added, as
 * one event line: `send` announces its raw payload this way. */
void agent_event(struct agent *a, json_t *fields);

/* Write LEN raw bytes on stdout (after an event announcing them).  Returns
 * false once stdout is gone. */
bool agent_write_raw(struct agent *a, const void *buf, size_t len);

/* Send {"id": ID, "event": "log", "message": ...} for the current request. */
void agent_log(struct agent *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An operation fills RES (a new, empty object it does not own) and returns
 * 0 or a negative EDR_E* code after agent_fail().  RES is sent with errors
 * too, so an op may report what it got before failing. */
struct agent_op {
  const char *name;
  int (*run)(struct agent *a, json_t *req, json_t *res);
  bool bye; /* exit after the reply */
};

/* The op table, ending with a NULL name (ops.c). */
extern const struct agent_op agent_ops[];

/* Message helpers (protocol.c).  strerror(E) lowercased, as our messages
 * are; a few rotating buffers, so one message may hold two. */
const char *agent_errstr(int e);
const char *agent_lower(const char *text);
/* "0755" out of a mode's permission bits. */
void agent_mode_str(mode_t m, char out[8]);
/* "a directory", "a regular file", "a symlink" or "a special file". */
const char *agent_kind_of(mode_t m);
/* N bytes of command output as a JSON string (new reference): valid UTF-8
 * is kept, every other byte (and nul) becomes '?'. */
json_t *agent_json_bytes(const char *s, size_t n);

#endif
