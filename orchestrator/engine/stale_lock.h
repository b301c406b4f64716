/*
 * stale_lock.h - is the run holding a host lock provably dead, and what then.
 *
 * A lock names its holder's machine and pid.  When that machine is this one,
 * the pid no longer exists and the run is another, the holder is dead for
 * sure (nothing else is: a holder on another machine may well be alive).
 * Its journal in this machine's state dir then says whether it changed a
 * host: if it never did, its lock guards nothing and is taken; if it did, or
 * there is no journal to tell, the operator is told exactly what to run
 * (docs/safety.md "Host lock").  A lock of the run itself taken by another
 * coordinator process (its token differs) is taken only from a holder that
 * is gone from this machine; any other is refused with what to run.
 *
 * Ownership: HOLDER is borrowed; the advice is appended to the caller's
 * string.
 */
#ifndef EDR_STALE_LOCK_H
#define EDR_STALE_LOCK_H

#include "str.h"

#include <jansson.h>
#include <stddef.h>

enum edr_stale {
  EDR_STALE_NO,      /* the holder may be alive: the lock stands, nothing to add */
  EDR_STALE_TAKE,    /* dead, and never changed a host: take the lock */
  EDR_STALE_REFUSE,  /* dead, but the lock stays: ADVICE says what to run */
};

/* Judge the lock HOLDER ({"run_id", "host", "pid", "command", ...}) met by
 * run OUR_RUN.  ADVICE (replaced) gets a sentence for the operator (for
 * TAKE: what was found; for REFUSE: the command to run next, with
 * SPEC_ARGS, the cluster options as typed, or NULL); empty for NO. */
enum edr_stale edr_stale_lock(json_t *holder, const char *our_run, const char *spec_args,
                              struct edr_str *advice);

#endif
