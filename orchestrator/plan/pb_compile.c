/*
 * pb_compile.c - a loaded playbook into a plan (edr_playbook_compile): the
 * variables and ${...} substitution, the fields every step shares
 * (targets, paths, timeouts), and the two passes (pb.h says why two).
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

const struct edr_member *pb_mem(const struct cctx *c, long i) {
  return &c->pb->spec->members[i];
}

int pb_cfail(struct cctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int pb_cfail(struct cctx *c, const char *field, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char where[200] = "";
  if (c->each >= 0)
    snprintf(where, sizeof where, " (each: %s)", pb_mem(c, c->each)->name);
  return edr_error_set(c->err, EDR_EINVAL, "%s: step '%s'%s: field '%s': %s", c->pb->path,
                       c->step, where, field, msg);
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
    len += strlen(pb_mem(c, (long)i)->name) + 2 + (urls ? strlen(pb_mem(c, (long)i)->peer_urls.v[0]) + 1 : 0);
  char *out = calloc(1, len);
  for (size_t i = 0; out && i < n; i++) {
    if (c->iter[i] && (long)i > c->each)
      continue;
    if (*out)
      strcat(out, ",");
    strcat(out, pb_mem(c, (long)i)->name);
    if (urls) {
      strcat(out, "=");
      strcat(out, pb_mem(c, (long)i)->peer_urls.v[0]);
    }
  }
  return out;
}

char *pb_subst(struct cctx *c, const char *field, const char *in);

/* The value of variable NAME (a new string), or NULL with c->err set. */
static char *var_value(struct cctx *c, const char *field, const char *name) {
  long t = c->target >= 0 ? c->target : c->each;
  if (!strcmp(name, "run_id"))
    return strdup(c->p->run_id);
  if (!strcmp(name, "initial_cluster"))
    return strdup(c->p->initial_cluster);
  if (!strcmp(name, "snapshot")) {
    if (!*c->p->snapshot && !c->pass1) {
      pb_cfail(c, field, "${snapshot} is used but no --snapshot was given");
      return NULL;
    }
    return strdup(*c->p->snapshot ? c->p->snapshot : "SNAPSHOT");
  }
  if (!strncmp(name, "target", 6) && (name[6] == '\0' || name[6] == '.')) {
    if (t < 0) {
      pb_cfail(c, field, "${%s} is only defined in a step that runs on hosts, or in an each "
            "block", name);
      return NULL;
    }
    const struct edr_member *m = pb_mem(c, t);
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
        pb_cfail(c, field, "${target.wal_dir}: member %s has no wal_dir in %s", m->name,
              c->pb->spec->source);
      return m->wal_dir ? strdup(m->wal_dir) : NULL;
    }
    pb_cfail(c, field, "unknown variable ${%s} (target.data_dir, target.wal_dir, "
          "target.peer_url, target.client_url)", name);
    return NULL;
  }
  if (!strcmp(name, "joined") || !strcmp(name, "joined_initial_cluster")) {
    if (c->each < 0) {
      pb_cfail(c, field, "${%s} is only defined in an each block", name);
      return NULL;
    }
    return joined(c, name[6] != '\0');
  }
  const char *v = json_string_value(json_object_get(c->pb->vars, name));
  if (!v) {
    pb_cfail(c, field, "undefined variable ${%s}", name);
    return NULL;
  }
  /* a value may use other variables (a default such as
   * "/etc/kubernetes/kube-apiserver.yaml.etcd-dr-${run_id}") */
  if (!strstr(v, "${"))
    return strdup(v);
  if (c->depth >= 4) {
    pb_cfail(c, field, "variable ${%s} refers to itself (or nests more than 4 deep)", name);
    return NULL;
  }
  c->depth++;
  char *out = pb_subst(c, field, v);
  c->depth--;
  return out;
}

enum { SUBST_MAX = 64 * 1024 };  /* no value a step needs is longer */

/* IN with every ${NAME} replaced; a new string, or NULL with c->err set. */
char *pb_subst(struct cctx *c, const char *field, const char *in) {
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
        pb_cfail(c, field, "'${' without a closing '}' in '%s'", in);
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
      pb_cfail(c, field, "'%.60s...' expands to more than %d bytes", in, SUBST_MAX);
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
char *pb_sfield(struct cctx *c, json_t *st, const char *key, int *rc) {
  json_t *v = json_object_get(st, key);
  *rc = 0;
  if (!v)
    return NULL;
  if (!json_is_string(v)) {
    *rc = pb_cfail(c, key, "expected a string");
    return NULL;
  }
  char *s = pb_subst(c, key, json_string_value(v));
  if (!s)
    *rc = EDR_EINVAL;
  else if (!pb_plain_text(s)) {
    *rc = pb_cfail(c, key, "contains control characters");
    free(s);
    return NULL;
  }
  return s;
}

char *pb_path_field(struct cctx *c, json_t *st, const char *key, const char *dflt, int *rc) {
  char *s = pb_sfield(c, st, key, rc);
  if (*rc)
    return NULL;
  if (!s)
    s = dflt ? strdup(dflt) : NULL;
  if (s && !edr_valid_remote_path(s)) {
    *rc = pb_cfail(c, key, "'%s' is not an absolute path of letters, digits and ._-+@=,: "
                "(no '.' or '..')", s);
    free(s);
    return NULL;
  }
  return s;
}

/* The members a step is aimed at (a bool per member). */
int pb_targets(struct cctx *c, json_t *st, const char *dflt, bool *set) {
  size_t n = c->pb->spec->n_members;
  const char *t = json_string_value(json_object_get(st, "target"));
  if (!t)
    t = dflt;
  memset(set, 0, n * sizeof(bool));
  if (!strcmp(t, "all") || !strcmp(t, "each")) {
    for (size_t i = 0; i < n; i++)
      set[i] = true;
  } else {
    char *names = pb_subst(c, "target", t);
    if (!names)
      return EDR_EINVAL;
    char *save = NULL;
    int rc = 0;
    for (char *nm = strtok_r(names, ",", &save); nm && !rc; nm = strtok_r(NULL, ",", &save)) {
      long i = member_index(c, nm);
      if (i < 0)
        rc = pb_cfail(c, "target", "'%s' is not a member of %s", nm, c->pb->spec->source);
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
    char *nm = json_is_string(e) ? pb_subst(c, "exclude", json_string_value(e)) : NULL;
    long k = nm ? member_index(c, nm) : -1;
    if (!nm)
      rc = json_is_string(e) ? EDR_EINVAL : pb_cfail(c, "exclude", "expected member names");
    else if (k < 0)
      rc = pb_cfail(c, "exclude", "'%s' is not a member of %s", nm, c->pb->spec->source);
    else
      set[k] = false;
    free(nm);
    if (rc)
      break;
  }
  json_decref(list);
  return rc;
}

uint64_t pb_ms_field(json_t *st, const char *key, uint64_t dflt) {
  uint64_t ms;
  return pb_duration(json_object_get(st, key), &ms) ? dflt : ms;
}

long pb_new_stage(struct cctx *c, const char *name, enum edr_phase phase,
                      const char *title) {
  char full[200];
  if (c->each >= 0)
    snprintf(full, sizeof full, "%s[%s]", name, pb_mem(c, c->each)->name);
  else
    snprintf(full, sizeof full, "%s", name);
  long k = edr_plan_add_stage(c->p, full, phase);
  if (k >= 0 && title && !(c->p->stages[k].title = strdup(title)))
    return EDR_ENOMEM;
  const char *note = json_string_value(json_object_get(c->cur, "comment"));
  if (k >= 0 && note && pb_plain_text(note) && !(c->p->stages[k].note = strdup(note)))
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

struct edr_step *pb_host_step(struct cctx *c, json_t *st, long stage, long host,
                                  enum edr_step_kind kind, json_t *req, char *const *argv,
                                  const char *title) {
  struct edr_host_plan *h = &c->p->hosts[host];
  return pb_step_opts(c, st, host, edr_plan_add_step(h, (size_t)stage, kind, req, argv,
                                                     "%s", title));
}

struct edr_step *pb_step_opts(struct cctx *c, json_t *st, long host, struct edr_step *s) {
  if (!s)
    return NULL;
  c->involved[host] = c->needed[host] = true;
  json_t *to = json_object_get(st, "timeout");
  if (to) {
    s->timeout_ms = pb_ms_field(st, "timeout", s->timeout_ms);
    if (s->request)
      json_object_set_new(s->request, "timeout_ms", json_integer((json_int_t)s->timeout_ms));
  }
  s->retries = (unsigned)json_number_value(json_object_get(st, "retries"));
  s->retry_delay_ms = pb_ms_field(st, "retry_delay", 2000);
  const char *of = json_string_value(json_object_get(st, "on_failure"));
  s->continue_on_failure = of && !strcmp(of, "continue");
  return s;
}

json_t *pb_run_req(const struct edr_strv *argv, json_t *env) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < argv->n; i++)
    json_array_append_new(a, json_string(argv->v[i]));
  return json_pack("{s:s, s:o, s:o}", "op", "run", "argv", a, "env", env ? env : json_null());
}

/* Numeric fields given as "${var}", and durations given as text ("90s"):
 * a copy of ST with them substituted and parsed, durations as numbers of
 * seconds (a new reference), or NULL with c->err set. */
static json_t *resolve_numbers(struct cctx *c, json_t *st) {
  static const char *const nums[] = {"retries", "keep", NULL};
  json_t *out = json_copy(st);
  for (size_t i = 0; out && pb_duration_fields[i]; i++) {
    const char *key = pb_duration_fields[i];
    json_t *v = json_object_get(out, key);
    if (!json_is_string(v))
      continue;
    char *txt = pb_subst(c, key, json_string_value(v));
    json_t *tv = txt ? json_string(txt) : NULL;
    uint64_t ms = 0;
    bool bad = !tv || pb_duration(tv, &ms);
    if (txt && bad)
      pb_cfail(c, key, "'%s' is not a duration such as 90, 90s or 2m (a number is seconds), "
               "at most 1000000 s", txt);
    free(txt);
    json_decref(tv);
    if (bad) {
      json_decref(out);
      return NULL;
    }
    json_object_set_new(out, key, ms % 1000 ? json_real((double)ms / 1000.0)
                                            : json_integer((json_int_t)(ms / 1000)));
  }
  for (size_t i = 0; out && nums[i]; i++) {
    json_t *v = json_object_get(out, nums[i]);
    if (!json_is_string(v) || !strstr(json_string_value(v), "${"))
      continue;
    char *txt = pb_subst(c, nums[i], json_string_value(v));
    if (!txt) {
      json_decref(out);
      return NULL;
    }
    char *end;
    double d = strtod(txt, &end);
    if (end == txt || *end || !isfinite(d) || d < 0 || d > 1e6) {
      pb_cfail(c, nums[i], "'%s' is not a number from 0 to 1000000", txt);
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
  int k = kname ? pb_kind_of(kname) : -1;
  c->step = name;
  const char *t = json_string_value(json_object_get(st, "target"));
  size_t n = c->pb->spec->n_members;
  bool *set = calloc(n, sizeof(bool));
  int rc = 0;
  if (!set)
    return EDR_ENOMEM;
  if (t && !strcmp(t, "each")) {
    bool *iter = set;
    if ((rc = pb_targets(c, st, "all", iter)))
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
        rc = pb_compile_steps(c, sub, true);
      }
    c->each = -1;
    c->iter = outer;
    c->block = ob;
    json_decref(sub);
    goto out;
  }
  if (k == PB_RESTORE) {
    rc = pb_emit_restore(c, st);
    goto out;
  }
  if (pb_kinds[k].where == NO_TARGET) {
    rc = pb_emit_gate(c, st, k, set);
    goto out;
  }
  if ((rc = pb_targets(c, st, in_block ? "${target}" : "all", set)))
    goto out;
  if (pb_kinds[k].where == ON_CLUSTER) {
    rc = pb_emit_gate(c, st, k, set);
    goto out;
  }
  bool any = false;
  for (size_t i = 0; i < n; i++)
    any |= set[i];
  if (!any) {
    rc = pb_cfail(c, "target", "no member left once 'exclude' is applied");
    goto out;
  }
  bool destructive = !(k == PB_PUSH || (k == PB_EXEC && json_is_true(json_object_get(st, "read_only"))));
  char names[800], title[900];
  pb_member_list(c, set, names, sizeof names);
  snprintf(title, sizeof title, "%s on %s", pb_kinds[k].name, names);
  long stage = pb_new_stage(c, name, destructive ? EDR_PHASE_APPLY : EDR_PHASE_PREPARE, title);
  if (stage < 0) {
    rc = (int)stage;
    goto out;
  }
  for (size_t i = 0; i < n && !rc; i++)
    if (set[i]) {
      c->target = (long)i;
      rc = pb_emit_host(c, st, k, stage, (long)i);
      c->target = -1;
    }
out:
  free(set);
  return rc;
}

int pb_compile_steps(struct cctx *c, json_t *steps, bool in_block) {
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
  if ((rc = pb_compile_steps(c, json_object_get(c->pb->root, "steps"), false)))
    return rc;
  long ck = edr_plan_add_stage(p, "cleanup", EDR_PHASE_CLEANUP);
  if (ck < 0)
    return (int)ck;
  p->stages[ck].title = strdup("remove what was staged, release the host lock");
  for (size_t i = 0; !c->pass1 && i < p->n_hosts; i++) {
    struct edr_host_plan *h = &p->hosts[i];
    if (!c->involved[i])
      continue;
    h->optional = !c->needed[i];
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
                         struct edr_plan **out, struct edr_error *err) {
  struct edr_plan_opts po = *o;
  po.kind = EDR_PLAN_RUN;
  po.command = "run";
  struct edr_plan *scratch = NULL, *p = NULL;
  size_t n = pb->spec->n_members;
  struct cctx c = {.pb = pb, .o = &po, .err = err, .target = -1, .each = -1};
  edr_error_clear(err);
  c.involved = calloc(n, sizeof(bool));
  c.needed = calloc(n, sizeof(bool));
  c.pushed = calloc(n, sizeof(bool));
  c.restored = calloc(n, sizeof(bool));
  int rc = c.involved && c.needed && c.pushed && c.restored ? 0 : EDR_ENOMEM;
  if (!rc && (rc = edr_plan_new(pb->spec, &po, &scratch, err)) == 0) {
    c.p = scratch;
    c.pass1 = true;
    rc = compile(&c);
  }
  if (!rc) /* the same run id in both passes: the first one chose it */
    po.run_id = scratch->run_id;
  if (!rc && (rc = edr_plan_new(pb->spec, &po, &p, err)) == 0) {
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
  if (rc && rc != EDR_EINVAL && !err->msg.len)
    edr_error_set(err, rc, "cannot build the plan: %s", edr_strerror(rc));
  edr_plan_free(scratch);
  free(c.involved);
  free(c.needed);
  free(c.pushed);
  free(c.restored);
  if (rc) {
    edr_plan_free(p);
    return rc;
  }
  *out = p;
  return 0;
}
