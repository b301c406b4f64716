/*
 * owner.h - user and group lookup for the chown op (owner.c), exposed for
 * the unit tests.
 */
#ifndef EDR_AGENT_OWNER_H
#define EDR_AGENT_OWNER_H

#include "agent.h"

/* Look NAME up in FILE ("/etc/passwd" or "/etc/group"): field 3 is the id,
 * field 4 (passwd) the primary group, into *GID when GID is not NULL.
 * Returns 0 or EDR_ENOENT. */
int owner_lookup_id(const char *file, const char *name, long *id, long *gid);

/* S is 1 to 10 decimal digits. */
bool owner_all_digits(const char *s);

/* "user:group", "user" (its primary group), or numeric ids, into *UID and
 * *GID; fails the op when a name is unknown. */
int owner_resolve(struct agent *a, const char *owner, uid_t *uid, gid_t *gid);

#endif
