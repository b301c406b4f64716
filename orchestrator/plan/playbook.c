/*
 * playbook.c - load and check playbooks, and compile them (playbook.h;
 * the compiler is pb_compile.c and pb_emit.c, sharing pb.h).
 *
 * A playbook step becomes one stage of the plan (a barrier); a step aimed at
 * "each" member becomes one stage per member and inner step.  Per-host kinds
 * become steps of the targeted hosts' plans, carrying the exact agent request
 * or argv; cluster-level kinds become the stage's gate, run by the
 * coordinator once every host finished the stage.  Around them the compiler
 * puts what every run needs: a first stage of checks on every host any step
 * touches (connect, host key, agent, probe, host lock), the lock pinned at the
 * first destructive stage, and a last stage that removes what was staged and
 * releases the lock.  A `restore` step is `etcd-dr restore`'s own steps: its
 * staging part runs right after the checks, before anything is changed.
 *
 * The compile runs twice: a first pass finds which hosts are involved and
 * whether there is a restore, the second builds the plan.
 */
#include "pb.h"

#include "err.h"
#include "util.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct pb_kind_info pb_kinds[PB__COUNT] = {
  [PB_STOP] = {.name = "stop", .where = ON_HOSTS},
  [PB_START] = {.name = "start", .where = ON_HOSTS, .fields = {"empty_data_dir"}},
  [PB_MOVE_ASIDE] = {.name = "move-aside", .where = ON_HOSTS,
                     .fields = {"path", "to", "missing_ok"}},
  [PB_MOVE_BACK] = {.name = "move-back", .where = ON_HOSTS,
                    .fields = {"path", "from", "missing_ok"}},
  [PB_PUSH] = {.name = "push", .where = ON_HOSTS},
  [PB_RESTORE] = {.name = "restore", .where = ON_HOSTS,
                  .fields = {"bump_revision", "health_timeout"}},
  [PB_WAIT_HEALTHY] = {.name = "wait-healthy", .where = ON_CLUSTER,
                       .fields = {"min_revision", "others"}},
  [PB_EXEC] = {.name = "exec", .where = ON_HOSTS, .fields = {"argv", "env", "read_only"}},
  [PB_SET_ENV] = {.name = "set-env", .where = ON_HOSTS, .fields = {"env", "unset"}},
  [PB_RESET_ENV] = {.name = "reset-env", .where = ON_HOSTS},
  [PB_MEMBER_ADD] = {.name = "member-add", .where = ON_CLUSTER, .one_target = true},
  [PB_MEMBER_REMOVE] = {.name = "member-remove", .where = ON_CLUSTER, .one_target = true},
  [PB_SNAPSHOT_SAVE] = {.name = "snapshot-save", .where = ON_CLUSTER,
                        .fields = {"dir", "keep", "output"}},
  [PB_CONFIRM] = {.name = "confirm", .where = NO_TARGET, .fields = {"message"}},
  [PB_PAUSE] = {.name = "pause", .where = NO_TARGET, .fields = {"seconds"}},
};

static const char *const common_fields[] = {
  "name", "kind", "target", "exclude", "steps", "timeout", "retries", "retry_delay",
  "on_failure", "comment", NULL,
};

static const char *const builtin_vars[] = {
  "run_id", "snapshot", "initial_cluster", "target", "joined", "joined_initial_cluster", NULL,
};

/* ---- errors ---------------------------------------------------------------- */

static int fail(struct edr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(struct edr_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  edr_error_vset(err, EDR_EINVAL, fmt, ap);
  va_end(ap);
  return EDR_EINVAL;
}

static bool in_list(const char *const *list, const char *s) {
  for (; *list; list++)
    if (!strcmp(*list, s))
      return true;
  return false;
}

bool pb_plain_text(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return false;
  return true;
}

static bool step_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63)
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
      return false;
  return true;
}

static bool var_name_ok(const char *s) {
  if (!*s || !(islower((unsigned char)*s) || *s == '_') || strlen(s) >= 64)
    return false;
  for (; *s; s++)
    if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
      return false;
  return true;
}

/* An environment variable's name: letters, digits and '_', not a digit first. */
bool pb_env_name_ok(const char *s) {
  if (!*s || isdigit((unsigned char)*s) || strlen(s) > 128)
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_')
      return false;
  return true;
}

int pb_kind_of(const char *name) {
  for (int k = 0; k < PB__COUNT; k++)
    if (!strcmp(pb_kinds[k].name, name))
      return k;
  return -1;
}

/* ---- loading: the structure ------------------------------------------------ */

const char *const pb_duration_fields[] = {"timeout", "retry_delay", "seconds", "health_timeout",
                                          NULL};

int pb_duration(json_t *v, uint64_t *ms) {
  *ms = 0;
  if (json_is_number(v)) {
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0 || d > 1e6)
      return EDR_EINVAL;
    *ms = (uint64_t)(d * 1000.0 + 0.5);
    return 0;
  }
  if (!json_is_string(v) || edr_parse_duration(json_string_value(v), 1000, ms) ||
      *ms > 1000000000ULL)
    return EDR_EINVAL;
  return 0;
}

static int check_steps(struct edr_playbook *pb, json_t *steps, const char *block, json_t *names,
                       struct edr_error *err);

/* The steps of the each block NAME: a non-empty list, each step checked. */
static int check_block(struct edr_playbook *pb, json_t *sub, const char *name, json_t *names,
                       struct edr_error *err) {
  if (!json_is_array(sub) || !json_array_size(sub))
    return fail(err, "%s: step '%s': field 'steps': a non-empty list of steps", pb->path,
                name);
  char b[100];
  snprintf(b, sizeof b, "'%s'", name);
  return check_steps(pb, sub, b, names, err);
}

static int check_step(struct edr_playbook *pb, json_t *st, size_t idx, const char *block,
                      json_t *names, struct edr_error *err) {
  const char *file = pb->path;
  if (!json_is_object(st))
    return fail(err, "%s: step %zu%s%s: not an object", file, idx + 1,
                block ? " of " : "", block ? block : "");
  const char *name = json_string_value(json_object_get(st, "name"));
  if (!name || !step_name_ok(name))
    return fail(err, "%s: step %zu%s%s: field 'name': %s", file, idx + 1,
                block ? " of " : "", block ? block : "",
                name ? "letters, digits, '-' and '_', at most 63" : "missing (every step "
                "has a unique name)");
  if (json_object_get(names, name))
    return fail(err, "%s: step '%s': field 'name': used by another step", file, name);
  json_object_set_new(names, name, json_true());
  const char *kname = json_string_value(json_object_get(st, "kind"));
  json_t *target0 = json_object_get(st, "target");
  if (kname && json_object_get(st, "steps") && json_is_string(target0) &&
      !strcmp(json_string_value(target0), "each"))
    return fail(err, "%s: step '%s': field 'kind': a block (with 'steps') has no kind: "
                "its steps have theirs", file, name);
  if (!kname && json_object_get(st, "steps") && json_is_string(target0) &&
      !strcmp(json_string_value(target0), "each")) {
    /* a block: name, target each, exclude, steps (and comment) */
    const char *bk;
    json_t *bv;
    json_object_foreach(st, bk, bv)
      if (strcmp(bk, "name") && strcmp(bk, "target") && strcmp(bk, "exclude") &&
          strcmp(bk, "steps") && strcmp(bk, "comment"))
        return fail(err, "%s: step '%s': field '%s': not a field of an each block (name, "
                    "target, exclude, steps)", file, name, bk);
    if (block)
      return fail(err, "%s: step '%s': field 'target': \"each\" inside the each block %s",
                  file, name, block);
    json_t *bex = json_object_get(st, "exclude");
    if (bex && !json_is_string(bex) && !json_is_array(bex))
      return fail(err, "%s: step '%s': field 'exclude': a member name or a list of them",
                  file, name);
    return check_block(pb, json_object_get(st, "steps"), name, names, err);
  }
  int k = kname ? pb_kind_of(kname) : -1;
  if (k < 0) {
    char list[400] = "";
    for (int i = 0; i < PB__COUNT; i++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
               pb_kinds[i].name);
    return fail(err, "%s: step '%s': field 'kind': %s%s%s; one of: %s", file, name,
                kname ? "unknown kind '" : "missing", kname ? kname : "", kname ? "'" : "",
                list);
  }
  const char *key;
  json_t *v;
  json_object_foreach(st, key, v) {
    if (!in_list(common_fields, key)) {
      bool kf = false;
      for (size_t i = 0; i < 5 && pb_kinds[k].fields[i]; i++)
        kf |= !strcmp(pb_kinds[k].fields[i], key);
      if (!kf)
        return fail(err, "%s: step '%s': field '%s': not a field of a %s step", file,
                    name, key, pb_kinds[k].name);
    }
  }
  json_t *target = json_object_get(st, "target");
  if (target && !json_is_string(target))
    return fail(err, "%s: step '%s': field 'target': expected \"all\", \"each\" or a "
                "member name", file, name);
  bool each = target && !strcmp(json_string_value(target), "each");
  json_t *sub = json_object_get(st, "steps");
  if (sub && !each)
    return fail(err, "%s: step '%s': field 'steps': a block needs \"target\": \"each\"",
                file, name);
  if (each && block)
    return fail(err, "%s: step '%s': field 'target': \"each\" inside the each block '%s'",
                file, name, block);
  if (each && pb_kinds[k].where == NO_TARGET)
    return fail(err, "%s: step '%s': field 'target': a %s step has no target", file, name,
                pb_kinds[k].name);
  if (k == PB_RESTORE && (block || each || (target && strcmp(json_string_value(target), "all"))
                          || json_object_get(st, "exclude")))
    return fail(err, "%s: step '%s': field 'target': a restore step restores every "
                "member at once: \"all\", without exclude", file, name);
  json_t *ex = json_object_get(st, "exclude");
  if (ex && !json_is_string(ex) && !json_is_array(ex))
    return fail(err, "%s: step '%s': field 'exclude': a member name or a list of them",
                file, name);
  static const char *const counts[] = {"retries", "keep", NULL};
  for (size_t i = 0; counts[i]; i++) {
    json_t *n = json_object_get(st, counts[i]);
    if (n && json_is_string(n) && strstr(json_string_value(n), "${"))
      continue; /* a variable: checked once substituted */
    if (n && (!json_is_number(n) || json_number_value(n) < 0 || json_number_value(n) > 1e6))
      return fail(err, "%s: step '%s': field '%s': expected a number from 0 to 1000000",
                  file, name, counts[i]);
  }
  for (size_t i = 0; pb_duration_fields[i]; i++) {
    json_t *n = json_object_get(st, pb_duration_fields[i]);
    uint64_t ms;
    if (n && json_is_string(n) && strstr(json_string_value(n), "${"))
      continue;
    if (n && pb_duration(n, &ms))
      return fail(err, "%s: step '%s': field '%s': expected a duration such as 90, "
                  "\"90s\" or \"2m\" (a number is seconds), at most 1000000 s", file, name,
                  pb_duration_fields[i]);
  }
  const char *of = json_string_value(json_object_get(st, "on_failure"));
  if (json_object_get(st, "on_failure") && (!of || (strcmp(of, "stop") && strcmp(of, "continue"))))
    return fail(err, "%s: step '%s': field 'on_failure': \"stop\" or \"continue\"", file,
                name);
  if (k == PB_PUSH || k == PB_RESTORE)
    pb->needs_snapshot = true;
  if (k == PB_RESTORE && pb->restores++)
    return fail(err, "%s: step '%s': field 'kind': a second restore step (one restore per "
                "playbook)", file, name);
  return sub ? check_block(pb, sub, name, names, err) : 0;
}

static int check_steps(struct edr_playbook *pb, json_t *steps, const char *block, json_t *names,
                       struct edr_error *err) {
  size_t i;
  json_t *st;
  json_array_foreach(steps, i, st) {
    int rc = check_step(pb, st, i, block, names, err);
    if (rc)
      return rc;
  }
  return 0;
}

int edr_playbook_load(const char *path, const char *text, const struct edr_spec *spec,
                      const char *const *vars, size_t n_vars,
                      struct edr_playbook **out, struct edr_error *err) {
  *out = NULL;
  struct edr_playbook *pb = calloc(1, sizeof(*pb));
  if (!pb || !(pb->path = strdup(path)) || !(pb->vars = json_object())) {
    edr_playbook_free(pb);
    return edr_error_set(err, EDR_ENOMEM, "out of memory");
  }
  pb->spec = spec;
  json_error_t je;
  int rc = EDR_EINVAL;
  pb->root = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je)
                  : json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!pb->root) {
    fail(err, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    goto out;
  }
  if (!json_is_object(pb->root)) {
    fail(err, "%s: not a JSON object", path);
    goto out;
  }
  static const char *const top[] = {"playbook", "name", "description", "vars",
                                    "needs_snapshot", "steps", "comment", NULL};
  const char *key;
  json_t *v;
  json_object_foreach(pb->root, key, v)
    if (!in_list(top, key)) {
      fail(err, "%s: field '%s': not a playbook field (%s)", path, key,
           "playbook, name, description, vars, needs_snapshot, steps");
      goto out;
    }
  json_t *ver = json_object_get(pb->root, "playbook");
  if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
    fail(err, "%s: field 'playbook': the format version, 1, is required", path);
    goto out;
  }
  const char *name = json_string_value(json_object_get(pb->root, "name"));
  if (!name || !step_name_ok(name)) {
    fail(err, "%s: field 'name': required; letters, digits, '-' and '_'", path);
    goto out;
  }
  json_t *ns = json_object_get(pb->root, "needs_snapshot");
  if (ns && !json_is_boolean(ns)) {
    fail(err, "%s: field 'needs_snapshot': true or false", path);
    goto out;
  }
  pb->needs_snapshot = json_is_true(ns);
  /* variables: declared ones, their defaults, then --var */
  json_t *decl = json_object_get(pb->root, "vars");
  if (decl && !json_is_object(decl)) {
    fail(err, "%s: field 'vars': an object of variables", path);
    goto out;
  }
  json_object_foreach(decl, key, v) {
    if (!var_name_ok(key) || in_list(builtin_vars, key)) {
      fail(err, "%s: vars: '%s': %s", path, key,
           in_list(builtin_vars, key) ? "a built-in variable's name"
                                      : "lowercase letters, digits and '_'");
      goto out;
    }
    const char *vk;
    json_t *vv;
    if (!json_is_object(v)) {
      fail(err, "%s: vars: '%s': an object with required, default, description",
           path, key);
      goto out;
    }
    json_object_foreach(v, vk, vv) {
      if (strcmp(vk, "required") && strcmp(vk, "default") && strcmp(vk, "description")) {
        fail(err, "%s: vars: '%s': field '%s': not required, default or description",
             path, key, vk);
        goto out;
      }
      if (!strcmp(vk, "default") && (!json_is_string(vv) || !pb_plain_text(json_string_value(vv)))) {
        fail(err, "%s: vars: '%s': field 'default': a string without control "
             "characters", path, key);
        goto out;
      }
    }
    json_t *def = json_object_get(v, "default");
    if (def)
      json_object_set(pb->vars, key, def);
  }
  for (size_t i = 0; i < n_vars; i++) {
    const char *eq = strchr(vars[i], '=');
    char vn[64];
    if (!eq || (size_t)(eq - vars[i]) >= sizeof vn) {
      fail(err, "--var '%s': expected NAME=VALUE", vars[i]);
      goto out;
    }
    snprintf(vn, sizeof vn, "%.*s", (int)(eq - vars[i]), vars[i]);
    if (!json_object_get(decl, vn)) {
      fail(err, "--var %s: playbook %s declares no variable '%s'%s", vars[i], path, vn,
           in_list(builtin_vars, vn) ? " (a built-in one cannot be set)" : "");
      goto out;
    }
    if (!pb_plain_text(eq + 1)) {
      fail(err, "--var %s: the value contains control characters", vn);
      goto out;
    }
    json_object_set_new(pb->vars, vn, json_string(eq + 1));
  }
  json_object_foreach(decl, key, v)
    if (json_is_true(json_object_get(v, "required")) && !json_object_get(pb->vars, key)) {
      const char *d = json_string_value(json_object_get(v, "description"));
      fail(err, "playbook %s needs --var %s=VALUE%s%s", path, key, d ? ": " : "",
           d ? d : "");
      goto out;
    }
  json_t *steps = json_object_get(pb->root, "steps");
  if (!json_is_array(steps) || !json_array_size(steps)) {
    fail(err, "%s: field 'steps': a non-empty list of steps is required", path);
    goto out;
  }
  json_t *names = json_object();
  rc = names ? check_steps(pb, steps, NULL, names, err) : EDR_ENOMEM;
  json_decref(names);
out:
  if (rc) {
    if (!err->code)
      err->code = rc; /* out of memory: the code says it all */
    edr_playbook_free(pb);
    return rc;
  }
  *out = pb;
  return 0;
}

void edr_playbook_free(struct edr_playbook *pb) {
  if (!pb)
    return;
  free(pb->path);
  json_decref(pb->root);
  json_decref(pb->vars);
  free(pb);
}

const char *edr_playbook_name(const struct edr_playbook *pb) {
  return json_string_value(json_object_get(pb->root, "name"));
}

bool edr_playbook_needs_snapshot(const struct edr_playbook *pb) { return pb->needs_snapshot; }
