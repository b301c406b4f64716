/*
 * playbook.c - load, check and compile playbooks (playbook.h).
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
#include "playbook.h"

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

enum pb_kind {
  PB_STOP, PB_START, PB_MOVE_ASIDE, PB_MOVE_BACK, PB_PUSH, PB_RESTORE, PB_WAIT_HEALTHY,
  PB_EXEC, PB_SET_ENV, PB_RESET_ENV, PB_MEMBER_ADD, PB_MEMBER_REMOVE, PB_SNAPSHOT_SAVE,
  PB_CONFIRM, PB_PAUSE, PB__COUNT
};

enum pb_where { ON_HOSTS, ON_CLUSTER, NO_TARGET };

struct pb_kind_info {
  const char *name;
  enum pb_where where;
  bool one_target;           /* exactly one member */
  const char *const fields[5];   /* the kind's own fields */
};

static const struct pb_kind_info kinds[PB__COUNT] = {
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

struct edr_playbook {
  char *path;
  const struct edr_spec *spec;
  json_t *root;
  json_t *vars;              /* name -> value, resolved */
  bool needs_snapshot;
  unsigned restores;         /* restore steps seen while loading */
};

/* ---- errors ---------------------------------------------------------------- */

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return EDR_EINVAL;
}

static bool in_list(const char *const *list, const char *s) {
  for (; *list; list++)
    if (!strcmp(*list, s))
      return true;
  return false;
}

static bool plain_text(const char *s) {
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
static bool env_name_ok(const char *s) {
  if (!*s || isdigit((unsigned char)*s) || strlen(s) > 128)
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_')
      return false;
  return true;
}

static int kind_of(const char *name) {
  for (int k = 0; k < PB__COUNT; k++)
    if (!strcmp(kinds[k].name, name))
      return k;
  return -1;
}

/* ---- loading: the structure ------------------------------------------------ */

static int check_steps(struct edr_playbook *pb, json_t *steps, const char *block, json_t *names,
                       char *err, size_t len);

/* The steps of the each block NAME: a non-empty list, each step checked. */
static int check_block(struct edr_playbook *pb, json_t *sub, const char *name, json_t *names,
                       char *err, size_t len) {
  if (!json_is_array(sub) || !json_array_size(sub))
    return fail(err, len, "%s: step '%s': field 'steps': a non-empty list of steps", pb->path,
                name);
  char b[100];
  snprintf(b, sizeof b, "'%s'", name);
  return check_steps(pb, sub, b, names, err, len);
}

static int check_step(struct edr_playbook *pb, json_t *st, size_t idx, const char *block,
                      json_t *names, char *err, size_t len) {
  const char *file = pb->path;
  if (!json_is_object(st))
    return fail(err, len, "%s: step %zu%s%s: not an object", file, idx + 1,
                block ? " of " : "", block ? block : "");
  const char *name = json_string_value(json_object_get(st, "name"));
  if (!name || !step_name_ok(name))
    return fail(err, len, "%s: step %zu%s%s: field 'name': %s", file, idx + 1,
                block ? " of " : "", block ? block : "",
                name ? "letters, digits, '-' and '_', at most 63" : "missing (every step "
                "has a unique name)");
  if (json_object_get(names, name))
    return fail(err, len, "%s: step '%s': field 'name': used by another step", file, name);
  json_object_set_new(names, name, json_true());
  const char *kname = json_string_value(json_object_get(st, "kind"));
  json_t *target0 = json_object_get(st, "target");
  if (kname && json_object_get(st, "steps") && json_is_string(target0) &&
      !strcmp(json_string_value(target0), "each"))
    return fail(err, len, "%s: step '%s': field 'kind': a block (with 'steps') has no kind: "
                "its steps have theirs", file, name);
  if (!kname && json_object_get(st, "steps") && json_is_string(target0) &&
      !strcmp(json_string_value(target0), "each")) {
    /* a block: name, target each, exclude, steps (and comment) */
    const char *bk;
    json_t *bv;
    json_object_foreach(st, bk, bv)
      if (strcmp(bk, "name") && strcmp(bk, "target") && strcmp(bk, "exclude") &&
          strcmp(bk, "steps") && strcmp(bk, "comment"))
        return fail(err, len, "%s: step '%s': field '%s': not a field of an each block (name, "
                    "target, exclude, steps)", file, name, bk);
    if (block)
      return fail(err, len, "%s: step '%s': field 'target': \"each\" inside the each block %s",
                  file, name, block);
    json_t *bex = json_object_get(st, "exclude");
    if (bex && !json_is_string(bex) && !json_is_array(bex))
      return fail(err, len, "%s: step '%s': field 'exclude': a member name or a list of them",
                  file, name);
    return check_block(pb, json_object_get(st, "steps"), name, names, err, len);
  }
  int k = kname ? kind_of(kname) : -1;
  if (k < 0) {
    char list[400] = "";
    for (int i = 0; i < PB__COUNT; i++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
               kinds[i].name);
    return fail(err, len, "%s: step '%s': field 'kind': %s%s%s; one of: %s", file, name,
                kname ? "unknown kind '" : "missing", kname ? kname : "", kname ? "'" : "",
                list);
  }
  const char *key;
  json_t *v;
  json_object_foreach(st, key, v) {
    if (!in_list(common_fields, key)) {
      bool kf = false;
      for (size_t i = 0; i < 5 && kinds[k].fields[i]; i++)
        kf |= !strcmp(kinds[k].fields[i], key);
      if (!kf)
        return fail(err, len, "%s: step '%s': field '%s': not a field of a %s step", file,
                    name, key, kinds[k].name);
    }
  }
  json_t *target = json_object_get(st, "target");
  if (target && !json_is_string(target))
    return fail(err, len, "%s: step '%s': field 'target': expected \"all\", \"each\" or a "
                "member name", file, name);
  bool each = target && !strcmp(json_string_value(target), "each");
  json_t *sub = json_object_get(st, "steps");
  if (sub && !each)
    return fail(err, len, "%s: step '%s': field 'steps': a block needs \"target\": \"each\"",
                file, name);
  if (each && block)
    return fail(err, len, "%s: step '%s': field 'target': \"each\" inside the each block '%s'",
                file, name, block);
  if (each && kinds[k].where == NO_TARGET)
    return fail(err, len, "%s: step '%s': field 'target': a %s step has no target", file, name,
                kinds[k].name);
  if (k == PB_RESTORE && (block || each || (target && strcmp(json_string_value(target), "all"))
                          || json_object_get(st, "exclude")))
    return fail(err, len, "%s: step '%s': field 'target': a restore step restores every "
                "member at once: \"all\", without exclude", file, name);
  json_t *ex = json_object_get(st, "exclude");
  if (ex && !json_is_string(ex) && !json_is_array(ex))
    return fail(err, len, "%s: step '%s': field 'exclude': a member name or a list of them",
                file, name);
  static const char *const nums[] = {"timeout", "retries", "retry_delay", "seconds", "keep",
                                     NULL};
  for (size_t i = 0; nums[i]; i++) {
    json_t *n = json_object_get(st, nums[i]);
    if (n && json_is_string(n) && strstr(json_string_value(n), "${"))
      continue; /* a variable: checked once substituted */
    if (n && (!json_is_number(n) || json_number_value(n) < 0 || json_number_value(n) > 1e6))
      return fail(err, len, "%s: step '%s': field '%s': expected a number from 0 to 1000000",
                  file, name, nums[i]);
  }
  const char *of = json_string_value(json_object_get(st, "on_failure"));
  if (json_object_get(st, "on_failure") && (!of || (strcmp(of, "stop") && strcmp(of, "continue"))))
    return fail(err, len, "%s: step '%s': field 'on_failure': \"stop\" or \"continue\"", file,
                name);
  if (k == PB_PUSH || k == PB_RESTORE)
    pb->needs_snapshot = true;
  if (k == PB_RESTORE && pb->restores++)
    return fail(err, len, "%s: step '%s': field 'kind': a second restore step (one restore per "
                "playbook)", file, name);
  return sub ? check_block(pb, sub, name, names, err, len) : 0;
}

static int check_steps(struct edr_playbook *pb, json_t *steps, const char *block, json_t *names,
                       char *err, size_t len) {
  size_t i;
  json_t *st;
  json_array_foreach(steps, i, st) {
    int rc = check_step(pb, st, i, block, names, err, len);
    if (rc)
      return rc;
  }
  return 0;
}

int edr_playbook_load(const char *path, const char *text, const struct edr_spec *spec,
                      const char *const *vars, size_t n_vars,
                      struct edr_playbook **out, char *err, size_t errlen) {
  *out = NULL;
  struct edr_playbook *pb = calloc(1, sizeof(*pb));
  if (!pb || !(pb->path = strdup(path)) || !(pb->vars = json_object())) {
    edr_playbook_free(pb);
    return fail(err, errlen, "out of memory"), EDR_ENOMEM;
  }
  pb->spec = spec;
  json_error_t je;
  int rc = EDR_EINVAL;
  pb->root = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je)
                  : json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!pb->root) {
    fail(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    goto out;
  }
  if (!json_is_object(pb->root)) {
    fail(err, errlen, "%s: not a JSON object", path);
    goto out;
  }
  static const char *const top[] = {"playbook", "name", "description", "vars",
                                    "needs_snapshot", "steps", "comment", NULL};
  const char *key;
  json_t *v;
  json_object_foreach(pb->root, key, v)
    if (!in_list(top, key)) {
      fail(err, errlen, "%s: field '%s': not a playbook field (%s)", path, key,
           "playbook, name, description, vars, needs_snapshot, steps");
      goto out;
    }
  json_t *ver = json_object_get(pb->root, "playbook");
  if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
    fail(err, errlen, "%s: field 'playbook': the format version, 1, is required", path);
    goto out;
  }
  const char *name = json_string_value(json_object_get(pb->root, "name"));
  if (!name || !step_name_ok(name)) {
    fail(err, errlen, "%s: field 'name': required; letters, digits, '-' and '_'", path);
    goto out;
  }
  json_t *ns = json_object_get(pb->root, "needs_snapshot");
  if (ns && !json_is_boolean(ns)) {
    fail(err, errlen, "%s: field 'needs_snapshot': true or false", path);
    goto out;
  }
  pb->needs_snapshot = json_is_true(ns);
  /* variables: declared ones, their defaults, then --var */
  json_t *decl = json_object_get(pb->root, "vars");
  if (decl && !json_is_object(decl)) {
    fail(err, errlen, "%s: field 'vars': an object of variables", path);
    goto out;
  }
  json_object_foreach(decl, key, v) {
    if (!var_name_ok(key) || in_list(builtin_vars, key)) {
      fail(err, errlen, "%s: vars: '%s': %s", path, key,
           in_list(builtin_vars, key) ? "a built-in variable's name"
                                      : "lowercase letters, digits and '_'");
      goto out;
    }
    const char *vk;
    json_t *vv;
    if (!json_is_object(v)) {
      fail(err, errlen, "%s: vars: '%s': an object with required, default, description",
           path, key);
      goto out;
    }
    json_object_foreach(v, vk, vv) {
      if (strcmp(vk, "required") && strcmp(vk, "default") && strcmp(vk, "description")) {
        fail(err, errlen, "%s: vars: '%s': field '%s': not required, default or description",
             path, key, vk);
        goto out;
      }
      if (!strcmp(vk, "default") && (!json_is_string(vv) || !plain_text(json_string_value(vv)))) {
        fail(err, errlen, "%s: vars: '%s': field 'default': a string without control "
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
      fail(err, errlen, "--var '%s': expected NAME=VALUE", vars[i]);
      goto out;
    }
    snprintf(vn, sizeof vn, "%.*s", (int)(eq - vars[i]), vars[i]);
    if (!json_object_get(decl, vn)) {
      fail(err, errlen, "--var %s: playbook %s declares no variable '%s'%s", vars[i], path, vn,
           in_list(builtin_vars, vn) ? " (a built-in one cannot be set)" : "");
      goto out;
    }
    if (!plain_text(eq + 1)) {
      fail(err, errlen, "--var %s: the value contains control characters", vn);
      goto out;
    }
    json_object_set_new(pb->vars, vn, json_string(eq + 1));
  }
  json_object_foreach(decl, key, v)
    if (json_is_true(json_object_get(v, "required")) && !json_object_get(pb->vars, key)) {
      const char *d = json_string_value(json_object_get(v, "description"));
      fail(err, errlen, "playbook %s needs --var %s=VALUE%s%s", path, key, d ? ": " : "",
           d ? d : "");
      goto out;
    }
  json_t *steps = json_object_get(pb->root, "steps");
  if (!json_is_array(steps) || !json_array_size(steps)) {
    fail(err, errlen, "%s: field 'steps': a non-empty list of steps is required", path);
    goto out;
  }
  json_t *names = json_object();
  rc = names ? check_steps(pb, steps, NULL, names, err, errlen) : EDR_ENOMEM;
  json_decref(names);
out:
  if (rc) {
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

/* ---- compiling ---------------------------------------------------------- */

#define CLEANUP_STAGE SIZE_MAX  /* fixed up once the last stage exists */

struct cctx {
  const struct edr_playbook *pb;
  struct edr_plan *p;
  const struct edr_plan_opts *o;
  char *err;
  size_t errlen;
  bool pass1;
  bool *involved;            /* per host: some step runs there */
  bool *pushed;              /* per host: something was staged */
  bool *restored;
  bool has_restore;
  size_t prepare_stage;      /* the restore's staging (pass 2) */
  bool held;                 /* the lock was pinned */
  long target;               /* the host a per-host step is built for, -1 */
  long each;                 /* the current member of an each block, -1 */
  const bool *iter;          /* the each block's members */
  const char *block;         /* the each block's name */
  const char *step;          /* the step being compiled */
  json_t *cur;               /* its JSON (borrowed) */
  int depth;                 /* variables expanding variables */
};

static const struct edr_member *mem(const struct cctx *c, long i) {
  return &c->pb->spec->members[i];
}

static int cfail(struct cctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfail(struct cctx *c, const char *field, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char where[200] = "";
  if (c->each >= 0)
    snprintf(where, sizeof where, " (each: %s)", mem(c, c->each)->name);
  snprintf(c->err, c->errlen, "%s: step '%s'%s: field '%s': %s", c->pb->path, c->step, where,
           field, msg);
  return EDR_EINVAL;
}

static long member_index(const struct cctx *c, const char *name) {
  for (size_t i = 0; i < c->pb->spec->n_members; i++)
    if (!strcmp(c->pb->spec->members[i].name, name))
      return (long)i;
  return -1;
}

/* "m1,m2" or "m1=url,m2=url" of the members joined so far in an each
 * block: those not iterated over, and those up to the current one. */
static char *joined(const struct cctx *c, bool urls) {
  size_t n = c->pb->spec->n_members, len = 1;
  for (size_t i = 0; i < n; i++)
    len += strlen(mem(c, (long)i)->name) + 2 + (urls ? strlen(mem(c, (long)i)->peer_urls.v[0]) + 1 : 0);
  char *out = calloc(1, len);
  for (size_t i = 0; out && i < n; i++) {
    if (c->iter[i] && (long)i > c->each)
      continue;
    if (*out)
      strcat(out, ",");
    strcat(out, mem(c, (long)i)->name);
    if (urls) {
      strcat(out, "=");
      strcat(out, mem(c, (long)i)->peer_urls.v[0]);
    }
  }
  return out;
}

static char *subst(struct cctx *c, const char *field, const char *in);

/* The value of variable NAME (a new string), or NULL with c->err set. */
static char *var_value(struct cctx *c, const char *field, const char *name) {
  long t = c->target >= 0 ? c->target : c->each;
  if (!strcmp(name, "run_id"))
    return strdup(c->p->run_id);
  if (!strcmp(name, "initial_cluster"))
    return strdup(c->p->initial_cluster);
  if (!strcmp(name, "snapshot")) {
    if (!*c->p->snapshot && !c->pass1) {
      cfail(c, field, "${snapshot} is used but no --snapshot was given");
      return NULL;
    }
    return strdup(*c->p->snapshot ? c->p->snapshot : "SNAPSHOT");
  }
  if (!strncmp(name, "target", 6) && (name[6] == '\0' || name[6] == '.')) {
    if (t < 0) {
      cfail(c, field, "${%s} is only defined in a step that runs on hosts, or in an each "
            "block", name);
      return NULL;
    }
    const struct edr_member *m = mem(c, t);
    if (!name[6])
      return strdup(m->name);
    if (!strcmp(name + 7, "data_dir"))
      return strdup(m->data_dir);
    if (!strcmp(name + 7, "peer_url"))
      return strdup(m->peer_urls.v[0]);
    if (!strcmp(name + 7, "client_url"))
      return strdup(m->client_urls.v[0]);
    if (!strcmp(name + 7, "wal_dir")) {
      if (!m->wal_dir)
        cfail(c, field, "${target.wal_dir}: member %s has no wal_dir in %s", m->name,
              c->pb->spec->source);
      return m->wal_dir ? strdup(m->wal_dir) : NULL;
    }
    cfail(c, field, "unknown variable ${%s} (target.data_dir, target.wal_dir, "
          "target.peer_url, target.client_url)", name);
    return NULL;
  }
  if (!strcmp(name, "joined") || !strcmp(name, "joined_initial_cluster")) {
    if (c->each < 0) {
      cfail(c, field, "${%s} is only defined in an each block", name);
      return NULL;
    }
    return joined(c, name[6] != '\0');
  }
  const char *v = json_string_value(json_object_get(c->pb->vars, name));
  if (!v) {
    cfail(c, field, "undefined variable ${%s}", name);
    return NULL;
  }
  /* a value may use other variables (a default such as
   * "/etc/kubernetes/kube-apiserver.yaml.etcd-dr-${run_id}") */
  if (!strstr(v, "${"))
    return strdup(v);
  if (c->depth >= 4) {
    cfail(c, field, "variable ${%s} refers to itself (or nests more than 4 deep)", name);
    return NULL;
  }
  c->depth++;
  char *out = subst(c, field, v);
  c->depth--;
  return out;
}

enum { SUBST_MAX = 64 * 1024 };  /* no value a step needs is longer */

/* IN with every ${NAME} replaced; a new string, or NULL with c->err set. */
static char *subst(struct cctx *c, const char *field, const char *in) {
  size_t cap = strlen(in) + 64, len = 0;
  char *out = malloc(cap);
  for (const char *s = in; out && *s;) {
    const char *add = s;
    size_t n = 1;
    char *val = NULL;
    if (s[0] == '$' && s[1] == '{') {
      const char *end = strchr(s + 2, '}');
      if (!end || end - s - 2 > 63) {
        free(out);
        cfail(c, field, "'${' without a closing '}' in '%s'", in);
        return NULL;
      }
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(end - s - 2), s + 2);
      if (!(val = var_value(c, field, name))) {
        free(out);
        return NULL;
      }
      add = val;
      n = strlen(val);
      s = end + 1;
    } else {
      s++;
    }
    if (len + n + 1 > SUBST_MAX) {
      free(out);
      free(val);
      cfail(c, field, "'%.60s...' expands to more than %d bytes", in, SUBST_MAX);
      return NULL;
    }
    if (len + n + 1 > cap) {
      cap = 2 * (len + n + 1);
      char *no = realloc(out, cap);
      if (!no) {
        free(out);
        free(val);
        return NULL;
      }
      out = no;
    }
    memcpy(out + len, add, n);
    len += n;
    free(val);
  }
  if (out)
    out[len] = '\0';
  return out;
}

/* String field KEY of ST, substituted (NULL and *rc 0 when absent). */
static char *sfield(struct cctx *c, json_t *st, const char *key, int *rc) {
  json_t *v = json_object_get(st, key);
  *rc = 0;
  if (!v)
    return NULL;
  if (!json_is_string(v)) {
    *rc = cfail(c, key, "expected a string");
    return NULL;
  }
  char *s = subst(c, key, json_string_value(v));
  if (!s)
    *rc = EDR_EINVAL;
  else if (!plain_text(s)) {
    *rc = cfail(c, key, "contains control characters");
    free(s);
    return NULL;
  }
  return s;
}

static char *path_field(struct cctx *c, json_t *st, const char *key, const char *dflt, int *rc) {
  char *s = sfield(c, st, key, rc);
  if (*rc)
    return NULL;
  if (!s)
    s = dflt ? strdup(dflt) : NULL;
  if (s && !edr_valid_remote_path(s)) {
    *rc = cfail(c, key, "'%s' is not an absolute path of letters, digits and ._-+@=,: "
                "(no '.' or '..')", s);
    free(s);
    return NULL;
  }
  return s;
}

/* The members a step is aimed at (a bool per member). */
static int targets(struct cctx *c, json_t *st, const char *dflt, bool *set) {
  size_t n = c->pb->spec->n_members;
  const char *t = json_string_value(json_object_get(st, "target"));
  if (!t)
    t = dflt;
  memset(set, 0, n * sizeof(bool));
  if (!strcmp(t, "all") || !strcmp(t, "each")) {
    for (size_t i = 0; i < n; i++)
      set[i] = true;
  } else {
    char *names = subst(c, "target", t);
    if (!names)
      return EDR_EINVAL;
    char *save = NULL;
    int rc = 0;
    for (char *nm = strtok_r(names, ",", &save); nm && !rc; nm = strtok_r(NULL, ",", &save)) {
      long i = member_index(c, nm);
      if (i < 0)
        rc = cfail(c, "target", "'%s' is not a member of %s", nm, c->pb->spec->source);
      else
        set[i] = true;
    }
    free(names);
    if (rc)
      return rc;
  }
  json_t *ex = json_object_get(st, "exclude");
  json_t *list = json_is_string(ex) ? json_pack("[O]", ex) : json_incref(ex);
  size_t i;
  json_t *e;
  int rc = 0;
  json_array_foreach(list, i, e) {
    char *nm = json_is_string(e) ? subst(c, "exclude", json_string_value(e)) : NULL;
    long k = nm ? member_index(c, nm) : -1;
    if (!nm)
      rc = json_is_string(e) ? EDR_EINVAL : cfail(c, "exclude", "expected member names");
    else if (k < 0)
      rc = cfail(c, "exclude", "'%s' is not a member of %s", nm, c->pb->spec->source);
    else
      set[k] = false;
    free(nm);
    if (rc)
      break;
  }
  json_decref(list);
  return rc;
}

static uint64_t ms_field(json_t *st, const char *key, uint64_t dflt) {
  json_t *v = json_object_get(st, key);
  return v ? (uint64_t)(json_number_value(v) * 1000.0) : dflt;
}

static long new_stage(struct cctx *c, const char *name, enum edr_phase phase,
                      const char *title) {
  char full[200];
  if (c->each >= 0)
    snprintf(full, sizeof full, "%s[%s]", name, mem(c, c->each)->name);
  else
    snprintf(full, sizeof full, "%s", name);
  long k = edr_plan_add_stage(c->p, full, phase);
  if (k >= 0 && title && !(c->p->stages[k].title = strdup(title)))
    return EDR_ENOMEM;
  const char *note = json_string_value(json_object_get(c->cur, "comment"));
  if (k >= 0 && note && plain_text(note) && !(c->p->stages[k].note = strdup(note)))
    return EDR_ENOMEM;
  /* the lock is pinned (kept even if the connection drops) from the first
   * stage that changes something */
  if (k >= 0 && phase == EDR_PHASE_APPLY && !c->held && !c->pass1) {
    c->held = true;
    for (size_t i = 0; i < c->p->n_hosts; i++) {
      if (c->involved[i] && edr_plan_hold_lock(c->p, &c->p->hosts[i], (size_t)k))
        return EDR_ENOMEM;
    }
  }
  return k;
}

static struct edr_step *host_step(struct cctx *c, json_t *st, long stage, long host,
                                  enum edr_step_kind kind, json_t *req, char *const *argv,
                                  const char *title) {
  struct edr_host_plan *h = &c->p->hosts[host];
  struct edr_step *s = edr_plan_add_step(h, (size_t)stage, kind, req, argv, "%s", title);
  if (!s)
    return NULL;
  c->involved[host] = true;
  json_t *to = json_object_get(st, "timeout");
  if (to) {
    s->timeout_ms = ms_field(st, "timeout", s->timeout_ms);
    if (s->request)
      json_object_set_new(s->request, "timeout_ms", json_integer((json_int_t)s->timeout_ms));
  }
  s->retries = (unsigned)json_number_value(json_object_get(st, "retries"));
  s->retry_delay_ms = ms_field(st, "retry_delay", 2000);
  const char *of = json_string_value(json_object_get(st, "on_failure"));
  s->continue_on_failure = of && !strcmp(of, "continue");
  return s;
}

static json_t *run_req(const struct edr_strv *argv, json_t *env) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < argv->n; i++)
    json_array_append_new(a, json_string(argv->v[i]));
  return json_pack("{s:s, s:o, s:o}", "op", "run", "argv", a, "env", env ? env : json_null());
}

/* One per-host step of kind K on host I (c->target is I). */
static int emit_host(struct cctx *c, json_t *st, int k, long stage, long i) {
  const struct edr_member *m = mem(c, i);
  struct edr_host_plan *h = &c->p->hosts[i];
  int rc = 0;
  char title[1200];
  switch (k) {
  case PB_STOP:
    if (!host_step(c, st, stage, i, EDR_STEP_STOP, run_req(&m->stop_command, NULL),
                   m->stop_command.v, "stop etcd") ||
        !host_step(c, st, stage, i, EDR_STEP_CHECK_STOPPED,
                   json_pack("{s:s, s:s, s:s?}", "op", "check-stopped", "data_dir", m->data_dir,
                             "wal_dir", m->wal_dir), NULL,
                   "check that no process holds the data dir any more"))
      return EDR_ENOMEM;
    return 0;
  case PB_START: {
    const char *e = json_string_value(json_object_get(st, "empty_data_dir"));
    if (json_object_get(st, "empty_data_dir") && (!e || (strcmp(e, "refuse") && strcmp(e, "join"))))
      return cfail(c, "empty_data_dir", "\"refuse\" or \"join\"");
    bool join = e && !strcmp(e, "join");
    struct edr_step *s = host_step(c, st, stage, i, EDR_STEP_START,
                                   run_req(&m->start_command, NULL), m->start_command.v,
                                   join ? "start etcd (an empty data dir is allowed: the "
                                          "member joins the running cluster)"
                                        : "start etcd (refused if DATA_DIR/member/snap/db "
                                          "is missing)");
    if (!s)
      return EDR_ENOMEM;
    s->allow_empty_start = join;
    return 0;
  }
  case PB_MOVE_ASIDE:
  case PB_MOVE_BACK: {
    char *dmember = edr_path_join(m->data_dir, "member");
    char *path = path_field(c, st, "path", dmember, &rc);
    free(dmember);
    if (rc)
      return rc;
    char *dother = edr_asprintf("%s.etcd-dr-%s", path, c->p->run_id);
    char *other = path_field(c, st, k == PB_MOVE_ASIDE ? "to" : "from", dother, &rc);
    free(dother);
    bool missing_ok = k == PB_MOVE_ASIDE;
    json_t *mo = json_object_get(st, "missing_ok");
    if (mo && !json_is_boolean(mo))
      rc = rc ? rc : cfail(c, "missing_ok", "true or false");
    if (mo)
      missing_ok = json_is_true(mo);
    if (!rc && !strcmp(path, other))
      rc = cfail(c, k == PB_MOVE_ASIDE ? "to" : "from", "the same path as 'path'");
    if (!rc) {
      const char *from = k == PB_MOVE_ASIDE ? path : other, *to = k == PB_MOVE_ASIDE ? other : path;
      snprintf(title, sizeof title, k == PB_MOVE_ASIDE
                   ? "move %s aside to %s (kept, not deleted)%s"
                   : "move %s back to %s%s", from, to, missing_ok ? "; nothing to do if it "
                   "is not there" : "");
      if (!host_step(c, st, stage, i, k == PB_MOVE_ASIDE ? EDR_STEP_MOVE_ASIDE : EDR_STEP_MOVE_BACK,
                     json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", from, "to", to,
                               "missing_ok", missing_ok), NULL, title))
        rc = EDR_ENOMEM;
    }
    /* the default move-aside takes a separate WAL dir with the member */
    if (!rc && k == PB_MOVE_ASIDE && m->wal_dir && !json_object_get(st, "path")) {
      snprintf(title, sizeof title, "move the wal dir %s aside to %s.etcd-dr-%s (kept)",
               m->wal_dir, m->wal_dir, c->p->run_id);
      char *wto = edr_asprintf("%s.etcd-dr-%s", m->wal_dir, c->p->run_id);
      if (!wto || !host_step(c, st, stage, i, EDR_STEP_MOVE_ASIDE_WAL,
                             json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", m->wal_dir,
                                       "to", wto, "missing_ok", 1), NULL, title))
        rc = EDR_ENOMEM;
      free(wto);
    }
    free(path);
    free(other);
    return rc;
  }
  case PB_PUSH: {
    char human[32];
    edr_human_bytes(c->p->snapshot_size, human, sizeof human);
    snprintf(title, sizeof title, "push the snapshot (%s) to %s and verify its sha-256", human,
             h->host_snapshot);
    c->pushed[i] = true;
    if (!host_step(c, st, stage, i, EDR_STEP_PUSH_SNAPSHOT,
                   json_pack("{s:s, s:s, s:I, s:s, s:b}", "op", "receive", "path",
                             h->host_snapshot, "size", (json_int_t)c->p->snapshot_size,
                             "sha256", c->p->snapshot_sha256, "trailer",
                             c->p->snapshot_has_hash), NULL, title))
      return EDR_ENOMEM;
    return 0;
  }
  case PB_EXEC: {
    json_t *argv = json_object_get(st, "argv"), *env = json_object_get(st, "env");
    json_t *ro = json_object_get(st, "read_only");
    if (!json_is_array(argv) || !json_array_size(argv) || json_array_size(argv) > 256)
      return cfail(c, "argv", "a non-empty list of strings (the program and its arguments; "
                   "no shell)");
    if (ro && !json_is_boolean(ro))
      return cfail(c, "read_only", "true or false");
    if (env && !json_is_object(env))
      return cfail(c, "env", "an object of NAME: value");
    struct edr_strv sv = {calloc(json_array_size(argv) + 1, sizeof(char *)), 0};
    json_t *jenv = env ? json_object() : NULL;
    size_t j;
    json_t *a;
    json_array_foreach(argv, j, a) {
      char *s = json_is_string(a) ? subst(c, "argv", json_string_value(a)) : NULL;
      if (!s) {
        rc = json_is_string(a) ? EDR_EINVAL : cfail(c, "argv", "element %zu is not a string", j);
        break;
      }
      if (!plain_text(s) || (j == 0 && !*s)) {
        free(s);
        rc = cfail(c, "argv", "element %zu is empty or has control characters", j);
        break;
      }
      sv.v[sv.n++] = s;
    }
    const char *ek;
    json_t *ev;
    json_object_foreach(env, ek, ev) {
      if (rc)
        break;
      char *s = json_is_string(ev) ? subst(c, "env", json_string_value(ev)) : NULL;
      if (!s || !plain_text(s) || !env_name_ok(ek)) {
        rc = s || !json_is_string(ev) ? cfail(c, "env", "'%s': a NAME of letters, digits "
                                              "and '_' with a string value", ek) : EDR_EINVAL;
        free(s);
        break;
      }
      json_object_set_new(jenv, ek, json_string(s));
      free(s);
    }
    if (!rc) {
      bool read_only = json_is_true(ro);
      snprintf(title, sizeof title, "run%s:", read_only ? " (read only)" : "");
      if (!host_step(c, st, stage, i, read_only ? EDR_STEP_EXEC_RO : EDR_STEP_EXEC,
                     run_req(&sv, json_incref(jenv)), sv.v, title))
        rc = EDR_ENOMEM;
    }
    json_decref(jenv);
    for (size_t x = 0; x < sv.n; x++)
      free(sv.v[x]);
    free(sv.v);
    return rc;
  }
  case PB_SET_ENV:
  case PB_RESET_ENV: {
    if (!m->env_file)
      return cfail(c, "kind", "member %s has no env_file in %s: set-env and reset-env edit "
                   "the file etcd's service reads its ETCD_* settings from (docs/spec.md)",
                   m->name, c->pb->spec->source);
    if (!h->env_backup && !(h->env_backup = edr_asprintf("%s.etcd-dr-%s", m->env_file,
                                                         c->p->run_id)))
      return EDR_ENOMEM;
    if (k == PB_RESET_ENV) {
      snprintf(title, sizeof title, "put %s back as it was before this run (from %s)",
               m->env_file, h->env_backup);
      if (!host_step(c, st, stage, i, EDR_STEP_RESET_ENV,
                     json_pack("{s:s, s:s, s:s, s:s}", "op", "envfile", "action", "restore",
                               "path", m->env_file, "backup", h->env_backup), NULL, title))
        return EDR_ENOMEM;
      return 0;
    }
    json_t *env = json_object_get(st, "env"), *unset = json_object_get(st, "unset");
    if ((env && !json_is_object(env)) || (unset && !json_is_array(unset)) || (!env && !unset))
      return cfail(c, "env", "an object of ETCD_NAME: value (and/or 'unset': a list of names)");
    json_t *set = json_object(), *un = json_array();
    char list[900] = "";
    if (!set || !un) {
      json_decref(set);
      json_decref(un);
      return EDR_ENOMEM;
    }
    const char *ek;
    json_t *ev;
    json_object_foreach(env, ek, ev) {
      char *s = json_is_string(ev) ? subst(c, "env", json_string_value(ev)) : NULL;
      bool ok = s && plain_text(s) && !strpbrk(s, "\"'\\$`") && strlen(s) <= 4096 &&
                env_name_ok(ek);
      if (!ok) {
        rc = s || !json_is_string(ev)
                 ? cfail(c, "env", "'%s': names of letters, digits and '_', values without "
                         "quotes, '\\', '$' or '`'", ek) : EDR_EINVAL;
        free(s);
        break;
      }
      size_t ll = strlen(list);
      snprintf(list + ll, sizeof list - ll, " %.100s=%.300s", ek, s);
      json_object_set_new(set, ek, json_string(s));
      free(s);
    }
    size_t j;
    json_array_foreach(unset, j, ev) {
      if (rc)
        break;
      if (!json_is_string(ev))
        rc = cfail(c, "unset", "a list of names");
      else {
        json_array_append(un, ev);
        snprintf(list + strlen(list), sizeof list - strlen(list), " -%s", json_string_value(ev));
      }
    }
    if (!rc) {
      snprintf(title, sizeof title, "set in %s:%s (the file as it was is kept as %s)",
               m->env_file, list, h->env_backup);
      if (!host_step(c, st, stage, i, EDR_STEP_SET_ENV,
                     json_pack("{s:s, s:s, s:s, s:s, s:O, s:O}", "op", "envfile", "action", "set",
                               "path", m->env_file, "backup", h->env_backup, "set", set,
                               "unset", un), NULL, title))
        rc = EDR_ENOMEM;
    }
    json_decref(set);
    json_decref(un);
    return rc;
  }
  default:
    return EDR_EINTERNAL;
  }
}

static const char *member_list(struct cctx *c, const bool *set, char *buf, size_t len) {
  buf[0] = '\0';
  for (size_t i = 0; i < c->pb->spec->n_members; i++)
    if (set[i])
      snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", *buf ? ", " : "", mem(c, (long)i)->name);
  return buf;
}

static int emit_gate(struct cctx *c, json_t *st, int k, const bool *set) {
  size_t n = c->pb->spec->n_members, cnt = 0;
  for (size_t i = 0; i < n; i++)
    cnt += set[i];
  const char *name = c->step;
  char title[1500], names[800];
  int rc = 0;
  member_list(c, set, names, sizeof names);
  if (kinds[k].one_target && cnt != 1)
    return cfail(c, "target", "a %s step acts on exactly one member (got %zu)", kinds[k].name,
                 cnt);
  if (kinds[k].where == ON_CLUSTER && cnt == 0)
    return cfail(c, "target", "no member left once 'exclude' is applied");
  enum edr_gate_kind g = EDR_GATE_NONE;
  enum edr_phase ph = EDR_PHASE_PREPARE;
  char *dir = NULL, *output = NULL, *message = NULL;
  int64_t min_rev = -1;
  bool others = false;
  uint64_t pause = 0;
  unsigned keep = 0;
  switch (k) {
  case PB_WAIT_HEALTHY: {
    g = EDR_GATE_WAIT_HEALTHY;
    json_t *mr = json_object_get(st, "min_revision");
    const char *ms = json_string_value(mr);
    if (mr && ms && !strcmp(ms, "snapshot"))
      min_rev = -2;
    else if (mr && ms && !strcmp(ms, "current"))
      min_rev = -1;
    else if (mr && json_is_integer(mr) && json_integer_value(mr) > 0)
      min_rev = json_integer_value(mr);
    else if (mr)
      return cfail(c, "min_revision", "\"current\", \"snapshot\" or a revision number");
    if (min_rev == -2 && !*c->p->snapshot && !c->pass1)
      return cfail(c, "min_revision", "\"snapshot\" needs --snapshot");
    json_t *oth = json_object_get(st, "others");
    const char *os = json_string_value(oth);
    if (oth && (!os || (strcmp(os, "allowed") && strcmp(os, "refused"))))
      return cfail(c, "others", "\"allowed\" (other members may be in the cluster, down: the "
                   "targets must be a quorum of it) or \"refused\" (the default)");
    others = os && !strcmp(os, "allowed");
    char rev[64];
    if (min_rev == -1)
      snprintf(rev, sizeof rev, "the revision they serve when the wait starts");
    else if (min_rev == -2)
      snprintf(rev, sizeof rev, "the snapshot's revision");
    else
      snprintf(rev, sizeof rev, "%lld", (long long)min_rev);
    if (others)
      snprintf(title, sizeof title, "wait until %s %s healthy, in one cluster of which %s a "
               "quorum (other members may be down), at revision >= %s", names,
               cnt == 1 ? "is" : "are", cnt == 1 ? "it is" : "they are", rev);
    else
      snprintf(title, sizeof title, "wait until %s %s healthy, one cluster of exactly %s, at "
               "revision >= %s", names, cnt == 1 ? "is" : "are", cnt == 1 ? "it" : "them", rev);
    break;
  }
  case PB_MEMBER_ADD:
  case PB_MEMBER_REMOVE: {
    g = k == PB_MEMBER_ADD ? EDR_GATE_MEMBER_ADD : EDR_GATE_MEMBER_REMOVE;
    ph = EDR_PHASE_APPLY;
    long t = 0;
    while (!set[t])
      t++;
    snprintf(title, sizeof title, k == PB_MEMBER_ADD
                 ? "member add %s (peer URL %s), asked of the first other member that answers"
                 : "member remove %s, asked of the first other member that answers",
             names, mem(c, t)->peer_urls.v[0]);
    break;
  }
  case PB_SNAPSHOT_SAVE: {
    g = EDR_GATE_SNAPSHOT_SAVE;
    if (!(dir = sfield(c, st, "dir", &rc)) && rc)
      return rc;
    if (!(output = sfield(c, st, "output", &rc)) && rc) {
      free(dir);
      return rc;
    }
    json_t *kp = json_object_get(st, "keep");
    if (kp) {
      json_t *kv = kp;
      char *ks = NULL;
      if (json_is_string(kp)) {
        if (!(ks = subst(c, "keep", json_string_value(kp)))) {
          free(dir);
          free(output);
          return EDR_EINVAL;
        }
        char *end;
        long v = strtol(ks, &end, 10);
        if (*end || v < 1 || v > 100000)
          rc = cfail(c, "keep", "'%s' is not a number from 1 to 100000", ks);
        keep = (unsigned)v;
      } else if (json_is_integer(kv) && json_integer_value(kv) >= 1) {
        keep = (unsigned)json_integer_value(kv);
      } else {
        rc = cfail(c, "keep", "a number from 1");
      }
      free(ks);
    }
    if (!rc && (!dir) == (!output))
      rc = cfail(c, dir ? "output" : "dir", "exactly one of 'dir' (with 'keep') and 'output'");
    if (!rc && keep && !dir)
      rc = cfail(c, "keep", "only with 'dir'");
    if (rc) {
      free(dir);
      free(output);
      return rc;
    }
    snprintf(title, sizeof title, "snapshot save from the first healthy of %s into %s%s",
             names, dir ? dir : output, dir ? "" : "");
    if (keep)
      snprintf(title + strlen(title), sizeof title - strlen(title), ", keeping the newest %u",
               keep);
    break;
  }
  case PB_CONFIRM:
    g = EDR_GATE_CONFIRM;
    if (!(message = sfield(c, st, "message", &rc)) && rc)
      return rc;
    snprintf(title, sizeof title, "ask the operator: %s",
             message ? message : "go on?");
    break;
  case PB_PAUSE: {
    g = EDR_GATE_PAUSE;
    json_t *sv = json_object_get(st, "seconds");
    if (!json_is_number(sv))
      return cfail(c, "seconds", "a number of seconds is required");
    pause = ms_field(st, "seconds", 0);
    snprintf(title, sizeof title, "wait %.1f s", (double)pause / 1000.0);
    break;
  }
  default:
    return EDR_EINTERNAL;
  }
  long sk = new_stage(c, name, ph, title);
  if (sk < 0) {
    free(dir);
    free(output);
    free(message);
    return (int)sk;
  }
  struct edr_stage *stg = &c->p->stages[sk];
  stg->gate = g;
  stg->min_revision = min_rev;
  stg->others_allowed = others;
  stg->dir = dir;
  stg->output = output;
  stg->keep = keep;
  stg->message = message;
  stg->pause_ms = pause;
  stg->timeout_ms = ms_field(st, "timeout", 0);
  json_t *rt = json_object_get(st, "retries");
  stg->retries = rt ? (unsigned)json_number_value(rt) : 0;
  stg->retry_delay_ms = ms_field(st, "retry_delay", 2000);
  const char *of = json_string_value(json_object_get(st, "on_failure"));
  stg->continue_on_failure = of && !strcmp(of, "continue");
  if (cnt && g != EDR_GATE_CONFIRM && g != EDR_GATE_PAUSE) {
    if (!(stg->members = calloc(cnt, sizeof(size_t))))
      return EDR_ENOMEM;
    for (size_t i = 0; i < n; i++)
      if (set[i])
        stg->members[stg->n_members++] = i;
  }
  return 0;
}

static int emit_restore(struct cctx *c, json_t *st) {
  json_t *b = json_object_get(st, "bump_revision");
  struct edr_plan *p = c->p;
  if (b) {
    const char *bs = json_string_value(b);
    if (bs && !strcmp(bs, "auto"))
      p->bump_revision = -1;
    else if (json_is_integer(b) && json_integer_value(b) > 0)
      p->bump_revision = json_integer_value(b);
    else
      return cfail(c, "bump_revision", "\"auto\" or a positive number");
  }
  char title[400], bump[160] = "";
  if (p->bump_revision < 0)
    snprintf(bump, sizeof bump, "; every revision bumped past the highest one of the old data "
             "on any host (--bump-revision auto, computed after the checks) with "
             "--mark-compacted");
  else if (p->bump_revision > 0)
    snprintf(bump, sizeof bump, "; every revision bumped by %lld with --mark-compacted",
             (long long)p->bump_revision);
  snprintf(title, sizeof title, "restore every member from the snapshot (stop, swap the member "
           "dir, start), then wait until the cluster is healthy%s", bump);
  long k = new_stage(c, c->step, EDR_PHASE_APPLY, title);
  if (k < 0)
    return (int)k;
  p->stages[k].gate = EDR_GATE_HEALTH;
  p->stages[k].timeout_ms = ms_field(st, "health_timeout", p->health_timeout_ms);
  c->has_restore = true;
  size_t stages[EDR_PHASE__COUNT] = {0, c->prepare_stage, (size_t)k, CLEANUP_STAGE};
  for (size_t i = 0; i < p->n_hosts; i++) {
    c->involved[i] = c->restored[i] = true;
    int rc = edr_plan_restore_steps(p, c->o, &p->hosts[i], stages, false);
    if (rc)
      return rc;
  }
  return 0;
}

static int compile_steps(struct cctx *c, json_t *steps, bool in_block);

/* Numeric fields given as "${var}": a copy of ST with them substituted and
 * parsed (a new reference), or NULL with c->err set. */
static json_t *resolve_numbers(struct cctx *c, json_t *st) {
  static const char *const nums[] = {"timeout", "retries", "retry_delay", "seconds", "keep",
                                     "health_timeout", NULL};
  json_t *out = json_copy(st);
  for (size_t i = 0; out && nums[i]; i++) {
    json_t *v = json_object_get(out, nums[i]);
    if (!json_is_string(v) || !strstr(json_string_value(v), "${"))
      continue;
    char *txt = subst(c, nums[i], json_string_value(v));
    if (!txt) {
      json_decref(out);
      return NULL;
    }
    char *end;
    double d = strtod(txt, &end);
    if (end == txt || *end || !isfinite(d) || d < 0 || d > 1e6) {
      cfail(c, nums[i], "'%s' is not a number from 0 to 1000000", txt);
      free(txt);
      json_decref(out);
      return NULL;
    }
    free(txt);
    json_object_set_new(out, nums[i], d == (double)(json_int_t)d ? json_integer((json_int_t)d)
                                                                  : json_real(d));
  }
  return out;
}

static int compile_step1(struct cctx *c, json_t *st, bool in_block);

static int compile_step(struct cctx *c, json_t *st, bool in_block) {
  c->step = json_string_value(json_object_get(st, "name"));
  json_t *r = resolve_numbers(c, st);
  if (!r)
    return EDR_EINVAL;
  int rc = compile_step1(c, r, in_block);
  json_decref(r);
  return rc;
}

static int compile_step1(struct cctx *c, json_t *st, bool in_block) {
  c->cur = st;
  const char *name = json_string_value(json_object_get(st, "name"));
  const char *kname = json_string_value(json_object_get(st, "kind"));
  int k = kname ? kind_of(kname) : -1;
  c->step = name;
  const char *t = json_string_value(json_object_get(st, "target"));
  size_t n = c->pb->spec->n_members;
  bool *set = calloc(n, sizeof(bool));
  int rc = 0;
  if (!set)
    return EDR_ENOMEM;
  if (t && !strcmp(t, "each")) {
    bool *iter = set;
    if ((rc = targets(c, st, "all", iter)))
      goto out;
    json_t *sub = json_object_get(st, "steps");
    json_t *one = NULL;
    if (!sub) { /* one step for each member in turn */
      one = json_deep_copy(st);
      json_object_del(one, "target");
      json_object_del(one, "exclude");
      sub = json_pack("[o]", one);
    } else {
      json_incref(sub);
    }
    const bool *outer = c->iter;
    const char *ob = c->block;
    c->iter = iter;
    c->block = name;
    for (size_t i = 0; i < n && !rc; i++)
      if (iter[i]) {
        c->each = (long)i;
        rc = compile_steps(c, sub, true);
      }
    c->each = -1;
    c->iter = outer;
    c->block = ob;
    json_decref(sub);
    goto out;
  }
  if (k == PB_RESTORE) {
    rc = emit_restore(c, st);
    goto out;
  }
  if (kinds[k].where == NO_TARGET) {
    rc = emit_gate(c, st, k, set);
    goto out;
  }
  if ((rc = targets(c, st, in_block ? "${target}" : "all", set)))
    goto out;
  if (kinds[k].where == ON_CLUSTER) {
    rc = emit_gate(c, st, k, set);
    goto out;
  }
  bool any = false;
  for (size_t i = 0; i < n; i++)
    any |= set[i];
  if (!any) {
    rc = cfail(c, "target", "no member left once 'exclude' is applied");
    goto out;
  }
  bool destructive = !(k == PB_PUSH || (k == PB_EXEC && json_is_true(json_object_get(st, "read_only"))));
  char names[800], title[900];
  member_list(c, set, names, sizeof names);
  snprintf(title, sizeof title, "%s on %s", kinds[k].name, names);
  long stage = new_stage(c, name, destructive ? EDR_PHASE_APPLY : EDR_PHASE_PREPARE, title);
  if (stage < 0) {
    rc = (int)stage;
    goto out;
  }
  for (size_t i = 0; i < n && !rc; i++)
    if (set[i]) {
      c->target = (long)i;
      rc = emit_host(c, st, k, stage, (long)i);
      c->target = -1;
    }
out:
  free(set);
  return rc;
}

static int compile_steps(struct cctx *c, json_t *steps, bool in_block) {
  size_t i;
  json_t *st;
  json_array_foreach(steps, i, st) {
    int rc = compile_step(c, st, in_block);
    if (rc)
      return rc;
  }
  return 0;
}

/* Stable sort of a host's steps by stage (the restore's staging steps were
 * added after steps of earlier playbook stages). */
static int sort_steps(struct edr_host_plan *h) {
  struct edr_step *out = calloc(h->n_steps ? h->n_steps : 1, sizeof(*out));
  if (!out)
    return EDR_ENOMEM;
  size_t o = 0;
  size_t max = 0;
  for (size_t j = 0; j < h->n_steps; j++)
    if (h->steps[j].stage > max)
      max = h->steps[j].stage;
  /* counting pass per stage keeps the order within a stage */
  for (size_t s = 0; s <= max && o < h->n_steps; s++)
    for (size_t j = 0; j < h->n_steps; j++)
      if (h->steps[j].stage == s)
        out[o++] = h->steps[j];
  free(h->steps);
  h->steps = out;
  return 0;
}

static int compile(struct cctx *c) {
  struct edr_plan *p = c->p;
  int rc;
  long k = edr_plan_add_stage(p, "check", EDR_PHASE_CHECK);
  if (k < 0)
    return (int)k;
  p->stages[k].title = strdup("connect to every host a step runs on, check its host key, "
                              "push the agent, probe, take the host lock");
  if (!c->pass1) {
    for (size_t i = 0; i < p->n_hosts; i++)
      if (c->involved[i] && (rc = edr_plan_check_steps(p, &p->hosts[i], (size_t)k)))
        return rc;
    if (c->has_restore) {
      long pk = edr_plan_add_stage(p, "stage", EDR_PHASE_PREPARE);
      if (pk < 0)
        return (int)pk;
      p->stages[pk].title = strdup("the restore's staging: push the snapshot, verify it, "
                                   "restore it into a staging dir (changes nothing etcd uses)");
      c->prepare_stage = (size_t)pk;
    }
  }
  if ((rc = compile_steps(c, json_object_get(c->pb->root, "steps"), false)))
    return rc;
  long ck = edr_plan_add_stage(p, "cleanup", EDR_PHASE_CLEANUP);
  if (ck < 0)
    return (int)ck;
  p->stages[ck].title = strdup("remove what was staged, release the host lock");
  for (size_t i = 0; !c->pass1 && i < p->n_hosts; i++) {
    struct edr_host_plan *h = &p->hosts[i];
    if (!c->involved[i])
      continue;
    for (size_t j = 0; j < h->n_steps; j++)
      if (h->steps[j].stage == CLEANUP_STAGE)
        h->steps[j].stage = (size_t)ck;
    if (c->pushed[i] && !c->restored[i] &&
        !edr_plan_add_step(h, (size_t)ck, EDR_STEP_CLEANUP,
                           json_pack("{s:s, s:s}", "op", "remove", "path", h->staging), NULL,
                           "remove the staging directory %s (the snapshot copy)", h->staging))
      return EDR_ENOMEM;
    if (!edr_plan_add_step(h, (size_t)ck, EDR_STEP_UNLOCK,
                           json_pack("{s:s, s:s, s:s}", "op", "unlock", "path", h->lock_path,
                                     "run_id", p->run_id), NULL, "release the host lock"))
      return EDR_ENOMEM;
    if ((rc = sort_steps(h)))
      return rc;
  }
  return 0;
}

int edr_playbook_compile(const struct edr_playbook *pb, const struct edr_plan_opts *o,
                         struct edr_plan **out, char *err, size_t errlen) {
  struct edr_plan_opts po = *o;
  po.kind = EDR_PLAN_RUN;
  po.command = "run";
  struct edr_plan *scratch = NULL, *p = NULL;
  size_t n = pb->spec->n_members;
  struct cctx c = {.pb = pb, .o = &po, .err = err, .errlen = errlen, .target = -1, .each = -1};
  c.involved = calloc(n, sizeof(bool));
  c.pushed = calloc(n, sizeof(bool));
  c.restored = calloc(n, sizeof(bool));
  int rc = c.involved && c.pushed && c.restored ? 0 : EDR_ENOMEM;
  if (!rc && (rc = edr_plan_new(pb->spec, &po, &scratch, err, errlen)) == 0) {
    c.p = scratch;
    c.pass1 = true;
    rc = compile(&c);
  }
  if (!rc) /* the same run id in both passes: the first one chose it */
    po.run_id = scratch->run_id;
  if (!rc && (rc = edr_plan_new(pb->spec, &po, &p, err, errlen)) == 0) {
    bool restore = c.has_restore;
    memset(c.pushed, 0, n * sizeof(bool));
    memset(c.restored, 0, n * sizeof(bool));
    c.p = p;
    c.pass1 = false;
    c.has_restore = restore;
    c.held = false;
    rc = compile(&c);
  }
  if (!rc) {
    const char *name = edr_playbook_name(pb);
    if (!(p->playbook = strdup(name)))
      rc = EDR_ENOMEM;
  }
  if (rc && rc != EDR_EINVAL && !*err)
    snprintf(err, errlen, "cannot build the plan: %s", edr_strerror(rc));
  edr_plan_free(scratch);
  free(c.involved);
  free(c.pushed);
  free(c.restored);
  if (rc) {
    edr_plan_free(p);
    return rc;
  }
  *out = p;
  return 0;
}
