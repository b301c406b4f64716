/*
 * array.c - growing an array of structs by doubling (array.h).  The caller
 * owns the array; this only reallocates it.
 */
#include "array.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

void *edr_array_grow(void *v, size_t n, size_t *cap, size_t size, size_t first) {
  assert(n <= *cap && size > 0 && first > 0);
  if (n < *cap)
    return v;
  size_t ncap = *cap ? *cap * 2 : first;
  if (ncap < *cap || ncap > SIZE_MAX / size)
    return NULL;
  void *nv = realloc(v, ncap * size);
  if (!nv)
    return NULL;
  *cap = ncap;
  return nv;
}
