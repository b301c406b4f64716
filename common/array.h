/*
 * array.h - the one way etcd-dr grows an array of structs: room for one
 * more element, the capacity doubled when it is full.
 *
 * The caller owns the array and keeps its count and capacity beside it;
 * this only reallocates.  A failed growth leaves the array, its count and
 * its capacity as they were, so the caller's cleanup sees a valid array.
 *
 *   struct item *v = edr_array_grow(list->v, list->n, &list->cap, sizeof *v, 64);
 *   if (!v)
 *     return EDR_ENOMEM;
 *   list->v = v;
 *   list->v[list->n++] = item;
 */
#ifndef EDR_ARRAY_H
#define EDR_ARRAY_H

#include <stddef.h>

/* The array V of *CAP elements of SIZE bytes, N of them used, with room for
 * at least one more: V itself when N < *CAP, else V reallocated to twice
 * *CAP elements (FIRST when *CAP is 0) and *CAP updated.  NULL when out of
 * memory or when the size would overflow; V and *CAP are then unchanged. */
void *edr_array_grow(void *v, size_t n, size_t *cap, size_t size, size_t first);

#endif
