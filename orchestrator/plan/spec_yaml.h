/*
 * spec_yaml.h - reading a cluster spec file, JSON or YAML, into the one
 * jansson tree spec.c validates, and remembering on which line of a YAML
 * file each value stood so that a validation error names `cluster.yaml:12`.
 *
 * YAML is read with libyaml's event parser and turned into JSON types by
 * this project's own rules (docs/spec.md "YAML"), not YAML 1.1's: plain
 * true/false are booleans, and so are YAML 1.1's yes/no/on/off (with a
 * hint on any error about such a value: quote it to mean the word); a
 * plain decimal integer is a number (ports), but one with a leading zero
 * (0700) stays the text as written; hex, octal, sexagesimal and 1_000 stay
 * text; keys are always text; anchors, aliases, tags other than !!str and
 * a second document are refused.
 *
 * Ownership: edr_spec_load's *ROOT is a new reference the caller
 * decrefs; *LINES (NULL for JSON, which has no lines to give) is freed
 * with edr_spec_lines_free, and points into ROOT: free it first or together.
 */
#ifndef EDR_SPEC_YAML_H
#define EDR_SPEC_YAML_H

#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct edr_spec_lines;

/* Whether a spec is YAML: PATH ends in .yaml or .yml (or, for TEXT or a
 * PATH with another ending, the first non-blank byte is neither '{' nor
 * '[').  A .json PATH is JSON. */
bool edr_spec_is_yaml(const char *path, const char *text);

/* Parse the spec file PATH (TEXT NULL) or the string TEXT: 0 with *ROOT
 * set; EDR_EINVAL with ERR's message (no source prefix: JSON's "line 3,
 * column 5: ...", YAML's "column 5: ..." with *LINE 3, or "cannot read:
 * ...") and *LINE (the YAML line of the problem, 0 when none) set;
 * EDR_ENOMEM (ERR's code only).  ERR is the caller's (err.h). */
int edr_spec_load(const char *path, const char *text, json_t **root,
                  struct edr_spec_lines **lines, int *line, struct edr_error *err);

/* The same for YAML TEXT[LEN] (NUL bytes included: refused as YAML does). */
int edr_spec_load_yaml(const char *text, size_t len, json_t **root,
                       struct edr_spec_lines **lines, int *line, struct edr_error *err);

/* The label of values given on the command line: never a line of the file,
 * even when a member of the file is named so (names are checked later). */
#define EDR_SPEC_CMDLINE "(command line)"

/* The line of the value the error is about, 0 when unknown: in ROOT's
 * member MEMBER (its name, or "#N" for the Nth; EDR_SPEC_CMDLINE: 0; NULL:
 * the cluster-wide object), the value of KEY, else the member itself.  HINT[HINTLEN] gets
 * how YAML read that value when it may surprise ("YAML reads the unquoted
 * no as false: ..."), else "". */
int edr_spec_line(const struct edr_spec_lines *l, const json_t *root, const char *member,
                  const char *key, char *hint, size_t hintlen);

void edr_spec_lines_free(struct edr_spec_lines *l);

#endif
