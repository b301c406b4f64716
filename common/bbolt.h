/*
 * bbolt.h - read-only, bounds-checked reader for bbolt files (etcd's backend
 * database and the body of a snapshot).  STUB: the full reader is being
 * written; this declares what the coordinator and the agent rely on.
 */
#ifndef EDR_BBOLT_H
#define EDR_BBOLT_H

#include <stdint.h>

/* The etcd revision stored in the bbolt file at PATH: the main part of the
 * last key of bucket "key".  Sets *rev to 0 for a file with no keys.
 * Returns 0 or a negative EDR_E* code (EDR_ECORRUPT for a bad file). */
int edr_bolt_revision(const char *path, int64_t *rev);

#endif
