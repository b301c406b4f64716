/*
 * jsonwipe.c - jansson's blocks zeroed before they are freed (jsonwipe.h).
 * jansson's free hook gets no size, so the block's usable size is asked of
 * the allocator (malloc_usable_size: glibc's, and ASan's under the
 * sanitizers); the zeroing cannot be optimised away (explicit_bzero).
 */
#include "jsonwipe.h"

#include <jansson.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

void edr_wipe_block(void *p) {
  if (p)
    explicit_bzero(p, malloc_usable_size(p));
}

void edr_wipe_free(void *p) {
  edr_wipe_block(p);
  free(p);
}

void edr_json_wipe_install(void) {
  json_set_alloc_funcs(malloc, edr_wipe_free);
}
