/*
 * aside.h - the names of the dirs a run moves aside, and which of them a
 * prune removes.
 *
 * A restore keeps the member dir it replaced as DATA_DIR/member.etcd-dr-RUN
 * (and the wal dir as WAL_DIR.etcd-dr-RUN); a rollback keeps the data it
 * replaced as the same name with "-restored" appended.  `etcd-dr prune`
 * removes such dirs of old runs.  The agent (which deletes) and the
 * coordinator (which decides and prints) share this file, so both apply one
 * name rule and one keep policy.  Nothing here touches a file.
 *
 * The name rule is strict: PREFIX ".etcd-dr-" RUNID [ "-restored" ], where
 * RUNID has the form etcd-dr gives its own ids (edr_new_run_id):
 * YYYYMMDD-HHMMSS-xxxx, a real UTC date and time and four lowercase hex
 * digits.  Any other name, even one that starts the same way, is never a
 * run's dir.
 */
#ifndef EDR_ASIDE_H
#define EDR_ASIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { EDR_RUN_ID_LEN = 20 }; /* YYYYMMDD-HHMMSS-xxxx */

/* Whether RUN is a run id of etcd-dr's own form; sets *WHEN (UTC seconds of
 * the time in it) when WHEN is not NULL. */
bool edr_run_id_ok(const char *run, int64_t *when);

/* Whether NAME (one path component) is PREFIX.etcd-dr-RUNID[-restored].  On
 * a match fills RUN_ID[EDR_RUN_ID_LEN + 1], *RESTORED and *WHEN (any of them
 * may be NULL). */
bool edr_aside_name(const char *name, const char *prefix, char *run_id, bool *restored,
                    int64_t *when);

/* One run that left dirs on a host, as the policy sees it. */
struct edr_prune_run {
  char run_id[EDR_RUN_ID_LEN + 1];
  int64_t when;              /* the time in its id, UTC seconds */
  const char *protect;       /* why it must stay whatever the policy says
                                (its marker, staging or lock is on the host),
                                or NULL; borrowed */
  /* out */
  bool remove;
  const char *why_kept;      /* when not removed: a static phrase or PROTECT */
};

struct edr_prune_policy {
  long keep;                 /* the newest KEEP runs stay (0: none, which the
                                operator must ask for); -1 not given: 1 */
  int64_t older_than_s;      /* only runs at least this old go; -1 not given */
};

/* Decide, for the runs of one host, which go: a run goes when it is not one
 * of the newest KEEP, is at least OLDER_THAN_S old at NOW (host seconds),
 * and is not protected.  Sorts RUNS newest first. */
void edr_prune_select(struct edr_prune_run *runs, size_t n,
                      const struct edr_prune_policy *policy, int64_t now);

/* "30d", "12h", "90m", "45s", "2w" into seconds.  Returns 0 or EDR_EINVAL. */
int edr_parse_age(const char *text, int64_t *seconds);

/* "3d 4h", "30d", "12h 40m", "12m", "40s": SECONDS in its largest unit and,
 * for days and hours, the next one when it is not zero, into OUT. */
void edr_human_age(int64_t seconds, char *out, size_t outlen);

#endif
