/*
 * fuzz_spec_yaml.c - libFuzzer target for the YAML cluster spec loader
 * (orchestrator/plan/spec_yaml.c): whatever the bytes, edr_spec_load_yaml
 * ends in 0 with a mapping and its line map, or EDR_EINVAL with a message,
 * never a crash, a sanitizer report or a leak; every line it gives for a
 * value is within the input.  The whole spec parser on YAML text is
 * fuzz_spec's (its inputs without '{' or '[' first are read as YAML).
 */
#include "err.h"
#include "spec_yaml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every member's every key, and a name that is not there: a line within
 * the input, or 0. */
static void lookups(const struct edr_spec_lines *l, const json_t *root, int nlines) {
  char hint[160];
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)root, key, v) {
    int line = edr_spec_line(l, root, NULL, key, hint, sizeof hint);
    if (line < 0 || line > nlines)
      abort();
  }
  json_t *members = json_object_get(root, "members");
  size_t i;
  json_t *m;
  json_array_foreach(members, i, m) {
    char label[32];
    snprintf(label, sizeof label, "#%zu", i + 1);
    json_object_foreach(m, key, v) {
      int line = edr_spec_line(l, root, label, key, hint, sizeof hint);
      if (line < 0 || line > nlines || strlen(hint) >= sizeof hint)
        abort();
      const char *name = json_string_value(json_object_get(m, "name"));
      if (name && edr_spec_line(l, root, name, key, hint, sizeof hint) > nlines)
        abort();
    }
  }
  if (edr_spec_line(l, root, EDR_SPEC_CMDLINE, "ssh_port", hint, sizeof hint) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int nlines = 1;
  for (size_t i = 0; i < size; i++)
    nlines += data[i] == '\n' || data[i] == '\r';
  json_t *root = NULL;
  struct edr_spec_lines *l = NULL;
  struct edr_error err = EDR_ERROR_INIT;
  int line = -1;
  int rc = edr_spec_load_yaml((const char *)data, size, &root, &l, &line, &err);
  if (rc == 0) {
    if (!json_is_object(root) || !l || line != 0)
      abort();
    lookups(l, root, nlines);
  } else if (rc != EDR_EINVAL || root || l || !err.msg.len || line < 0 || line > nlines + 1) {
    abort(); /* a refusal says why, and where within the input */
  }
  edr_error_release(&err);
  edr_spec_lines_free(l);
  json_decref(root);
  return 0;
}
