/*
 * fields.c - the validators every op runs on its request's fields before it
 * acts: each checks one field's type, range or shape and, when it is wrong,
 * fails the op with a message naming the field and what was found.  Strings
 * handed out are borrowed from the request.
 */
#include "fields.h"

#include "err.h"

#include <limits.h>
#include <string.h>

int field_str(struct agent *a, json_t *req, const char *key, bool nullable,
                 const char **out) {
  json_t *v = json_object_get(req, key);
  *out = NULL;
  if ((!v || json_is_null(v)) && nullable)
    return 0;
  if (!json_is_string(v))
    return agent_fail(a, EDR_EINVAL, "field '%s' is %s, expected a string", key,
                      v ? "not a string" : "missing");
  if (strlen(json_string_value(v)) != json_string_length(v))
    return agent_fail(a, EDR_EINVAL, "field '%s' contains a nul byte", key);
  *out = json_string_value(v);
  return 0;
}

int field_path(struct agent *a, json_t *req, const char *key, bool nullable,
                  const char **out) {
  int rc = field_str(a, req, key, nullable, out);
  if (rc == 0 && *out && (*out)[0] != '/')
    return agent_fail(a, EDR_EINVAL, "field '%s' is '%s', expected an absolute path",
                      key, *out);
  if (rc == 0 && *out && strlen(*out) >= PATH_MAX - 16)
    return agent_fail(a, EDR_EINVAL, "field '%s' is a path too long", key);
  return rc;
}

int field_file_path(struct agent *a, json_t *req, const char *key,
                       const char **out) {
  int rc = field_path(a, req, key, false, out);
  size_t l = rc == 0 ? strlen(*out) : 0;
  if (rc == 0 && (l < 2 || (*out)[l - 1] == '/'))
    return agent_fail(a, EDR_EINVAL, "field '%s' is '%s', expected a path that "
                      "does not end with '/'", key, *out);
  return rc;
}

int field_int(struct agent *a, json_t *req, const char *key, bool optional,
                 json_int_t min, json_int_t max, json_int_t *out) {
  json_t *v = json_object_get(req, key);
  if ((!v || json_is_null(v)) && optional)
    return 0;
  if (!json_is_integer(v))
    return agent_fail(a, EDR_EINVAL, "field '%s' is %s, expected an integer", key,
                      v ? "not an integer" : "missing");
  json_int_t i = json_integer_value(v);
  if (i < min || i > max)
    return agent_fail(a, EDR_EINVAL, "field '%s' is %" JSON_INTEGER_FORMAT
                      ", expected %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
                      key, i, min, max);
  *out = i;
  return 0;
}

int field_bool(struct agent *a, json_t *req, const char *key, bool *out) {
  json_t *v = json_object_get(req, key);
  if (!v || json_is_null(v))
    return 0; /* keeps the caller's default */
  if (!json_is_boolean(v))
    return agent_fail(a, EDR_EINVAL, "field '%s' is not a boolean", key);
  *out = json_is_true(v);
  return 0;
}

bool field_is_sha256(const char *s) {
  if (strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}
