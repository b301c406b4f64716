/*
 * fields.h - request field validators (fields.c).  Each returns 0 and sets
 * *OUT, or fails the op through agent_fail() and returns a negative EDR_E*
 * code.  Strings are borrowed from REQ and live as long as it does.
 */
#ifndef EDR_AGENT_FIELDS_H
#define EDR_AGENT_FIELDS_H

#include "agent.h"

/* String field KEY without nul bytes; NULL allowed when NULLABLE (and when
 * missing then). */
int field_str(struct agent *a, json_t *req, const char *key, bool nullable,
              const char **out);

/* An absolute path without nul bytes, shorter than PATH_MAX - 16. */
int field_path(struct agent *a, json_t *req, const char *key, bool nullable,
               const char **out);

/* A path naming a file to create or move: absolute, no trailing slash. */
int field_file_path(struct agent *a, json_t *req, const char *key,
                    const char **out);

/* An integer in [MIN, MAX]; when OPTIONAL and missing, *OUT is kept. */
int field_int(struct agent *a, json_t *req, const char *key, bool optional,
              json_int_t min, json_int_t max, json_int_t *out);

/* A boolean; missing or null keeps the caller's default in *OUT. */
int field_bool(struct agent *a, json_t *req, const char *key, bool *out);

/* S is a SHA-256 as 64 lowercase hex digits. */
bool field_is_sha256(const char *s);

#endif
