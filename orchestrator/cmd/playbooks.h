/*
 * playbooks.h - the shipped playbooks by name (playbooks.c): where `etcd-dr
 * run NAME` looks and what `run --list` prints.
 */
#ifndef EDR_PLAYBOOKS_H
#define EDR_PLAYBOOKS_H

#include "outcome.h"

#include <stdbool.h>
#include <stdio.h>

/* ARG names a file (a '/' in it, or ending ".json"), not a playbook name. */
bool edr_playbook_is_path(const char *arg);
/* The file of playbook ARG: ARG itself when it is a path, else the first
 * NAME.json of the search dirs.  Caller frees; NULL when none has it. */
char *edr_playbook_find(const char *arg);
/* Every playbook the search finds, by name, with its file and description
 * (SIMPLE: "name,path" lines, for completion).  Returns 0 or an exit status. */
int edr_playbook_list(FILE *out, bool simple);

#endif
