/*
 * journal.h - what a run leaves on the coordinator: its directory in the
 * state dir, the command that started it, a journal of every step as it
 * starts and ends (fsync'd line by line, so a killed coordinator leaves an
 * exact record), and the report at the end.
 *
 *   STATE/runs/RUN/command.json   the restore's arguments, for --resume
 *   STATE/runs/RUN/journal.jsonl  {"t","host","index","step","event",...}
 *   STATE/runs/RUN/report.json    the run's report (docs/report.md)
 *
 * STATE is $ETCD_DR_STATE_DIR, else /var/lib/etcd-dr for root, else
 * $XDG_STATE_HOME/etcd-dr or ~/.local/state/etcd-dr.
 *
 * Ownership: edr_journal_open returns a journal the caller closes with
 * edr_journal_close; strings passed in are borrowed for the call.
 */
#ifndef EDR_JOURNAL_H
#define EDR_JOURNAL_H

#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct edr_journal;

/* The state directory (caller frees). */
char *edr_state_dir(void);

/* Create (or, with RESUME, reopen) the run's directory and journal, and
 * take the run's lock: an flock on the journal, held until
 * edr_journal_close, so one coordinator at a time runs, resumes or rolls
 * back RUN.  EDR_EAGAIN, with the holder's pid and command in ERR, when
 * another process holds it. */
int edr_journal_open(struct edr_journal **out, const char *run_id, bool resume,
                     struct edr_error *err);
/* The run's lock alone, for a command that does not write the journal
 * (rollback RUN): *FD holds it (close it to release), or -1 when this
 * machine has no journal of RUN.  EDR_EAGAIN as above. */
int edr_journal_guard(const char *run_id, int *fd, struct edr_error *err);
void edr_journal_close(struct edr_journal *j);
const char *edr_journal_dir(const struct edr_journal *j);

/* Append one event and fsync.  EVENT is "start", "done" or "failed". */
void edr_journal_step(struct edr_journal *j, const char *host, size_t index,
                      const char *step, const char *event, int status,
                      const char *message);
/* Append a run-level event ({"event": EVENT, ...FIELDS}); FIELDS borrowed. */
void edr_journal_event(struct edr_journal *j, const char *event, json_t *fields);

/* Write NAME in the run's directory atomically (tmp, fsync, rename). */
int edr_journal_write(struct edr_journal *j, const char *name, json_t *obj);

/* Read a run's command.json and journal.  Returns a new object
 * {"dir", "command": [...], "events": [...]} or NULL with ERR set. */
json_t *edr_journal_load(const char *run_id, struct edr_error *err);

#endif
