/*
 * spec_int.h - what spec.c and spec_resolve.c share, private to them: the
 * table of member fields, a member under construction (a draft) and the
 * parse's context, which carries the caller's error buffer.  spec.c owns
 * the table and reads values into drafts; spec_resolve.c completes the
 * drafts into the spec's members.
 */
#ifndef EDR_SPEC_INT_H
#define EDR_SPEC_INT_H

#include "spec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct edr_spec_lines;

enum field_type {
  F_HOST, F_PORT, F_USER, F_LOCAL_PATH, F_BOOL, F_REMOTE_PATH, F_OWNER,
  F_MODE, F_ARGV, F_TOOL, F_URLS, F_JUMP, F_PROXY_CMD, F_PRESET,
};

struct field {
  const char *key;          /* JSON key */
  enum field_type type;
  size_t off;               /* offset in struct edr_member */
  bool member_only;         /* not allowed as a cluster-wide value */
  const char *what;         /* how to say what is expected */
};

/* The number of rows of spec_fields; the compiler checks it against the
 * table (spec.c). */
enum { SPEC_N_FIELDS = 26 };
extern const struct field spec_fields[SPEC_N_FIELDS];

/* A member under construction remembers which fields were set, so that
 * defaults fill only the rest. */
struct draft {
  struct edr_member m;
  bool set[SPEC_N_FIELDS];
  enum edr_origin origin[SPEC_N_FIELDS];
};

struct ctx {
  struct edr_error *err;    /* the caller's: why the spec was refused */
  const char *source;
  const struct edr_spec_overrides *ov;
  bool no_ssh_client;       /* ssh -G could not run: the spec alone counts */
  /* a YAML file's lines (spec_yaml.h): the root, and the object and key
   * parse_fields is at, for errors that name no field */
  json_t *root;
  struct edr_spec_lines *lines;
  int line;                 /* the loader's error line */
  const json_t *at_obj;
  const char *at_key;
};

/* The field whose JSON key is KEY, or NULL. */
const struct field *spec_field_find(const char *key);

/* Write the operator's message to C's error buffer, naming the source
 * (with the YAML line), MEMBER and FIELD when given; returns EDR_EINVAL. */
int spec_fail(struct ctx *c, const char *member, const char *field,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* S with every byte outside printable ASCII as \xNN, in BUF[LEN]. */
const char *spec_shown(const char *s, char *buf, size_t len);
/* P with a leading ~ replaced by the home directory: a new string. */
char *spec_expand_home(const char *p);
/* Check the JSON value V for field F and store it in draft D. */
int spec_set_field(struct ctx *c, const char *member, struct draft *d,
                   const struct field *f, json_t *v);

int spec_strv_push(struct edr_strv *sv, const char *s);
void spec_strv_free(struct edr_strv *sv);
int spec_strv_copy(struct edr_strv *dst, const struct edr_strv *src);

/* Add a warning the spec's readers print (an even member count). */
int spec_add_warning(struct edr_spec *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resolve every member from drafts: member's own, then CLI, then file-wide;
 * S owns DRAFTS[i].m afterwards, even on failure. */
int spec_resolve(struct ctx *c, struct edr_spec *s, struct draft *drafts, size_t n,
                 struct draft *cli, struct draft *wide);

#endif
