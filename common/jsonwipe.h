/*
 * jsonwipe.h - jansson's memory wiped before it is freed.  Requests that
 * carry an etcd password (docs/auth.md) are built and parsed with jansson,
 * which copies every string it is given and every line it parses into
 * blocks of its own; once installed, each such block is zeroed as jansson
 * frees it, so no copy of a password outlives the object holding it (the
 * coordinator's and the agent's own copies are wiped where they are
 * freed).  Installed once, first thing in main, by the coordinator and the
 * agent; jansson keeps calling these two functions for the process's life.
 */
#ifndef EDR_JSONWIPE_H
#define EDR_JSONWIPE_H

/* Make jansson allocate with malloc and free with edr_wipe_free. */
void edr_json_wipe_install(void);

/* Zero every usable byte of the malloc'd block P (NULL: nothing), then
 * free it. */
void edr_wipe_free(void *p);

/* Zero every usable byte of the malloc'd block P, which stays allocated
 * (what edr_wipe_free does before it frees; the tests check it). */
void edr_wipe_block(void *p);

#endif
