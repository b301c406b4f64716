/*
 * pb_emit.c - one playbook step into the plan: the per-host kinds become
 * steps of the targeted hosts carrying the exact agent request or argv, the
 * cluster kinds the stage's gate, and `restore` the restore's own steps.
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

/* An env file is read by systemd (EnvironmentFile) and often sourced by a
 * shell (init scripts, /etc/default files): a value must mean the same to
 * both, unquoted.  Returns the first character that may not, or 0.  etcd's
 * settings need none of them: URLs (also IPv6 in brackets), lists,
 * names, paths, numbers, durations. */
static char env_value_bad_char(const char *s) {
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("_.,:/=@+%-[]", *s))
      return *s;
  return 0;
}

/* One per-host step of kind K on host I (c->target is I). */
int pb_emit_host(struct cctx *c, json_t *st, int k, long stage, long i) {
  const struct edr_member *m = pb_mem(c, i);
  struct edr_host_plan *h = &c->p->hosts[i];
  int rc = 0;
  char title[1200];
  switch (k) {
  case PB_STOP:
    if (!pb_step_opts(c, st, i, edr_plan_stop_step(h, (size_t)stage)) ||
        !pb_step_opts(c, st, i, edr_plan_check_stopped_step(h, (size_t)stage)))
      return EDR_ENOMEM;
    return 0;
  case PB_START: {
    const char *e = json_string_value(json_object_get(st, "empty_data_dir"));
    if (json_object_get(st, "empty_data_dir") && (!e || (strcmp(e, "refuse") && strcmp(e, "join"))))
      return pb_cfail(c, "empty_data_dir", "\"refuse\" or \"join\"");
    bool join = e && !strcmp(e, "join");
    struct edr_step *s = pb_step_opts(
        c, st, i, edr_plan_start_step(h, (size_t)stage,
                                      join ? " (an empty data dir is allowed: the member "
                                             "joins the running cluster)"
                                           : " (refused if DATA_DIR/member/snap/db is "
                                             "missing)"));
    if (!s)
      return EDR_ENOMEM;
    s->allow_empty_start = join;
    return 0;
  }
  case PB_MOVE_ASIDE:
  case PB_MOVE_BACK: {
    char *dmember = edr_path_join(m->data_dir, "member");
    char *path = pb_path_field(c, st, "path", dmember, &rc);
    free(dmember);
    if (rc)
      return rc;
    char *dother = edr_asprintf("%s.etcd-dr-%s", path, c->p->run_id);
    char *other = pb_path_field(c, st, k == PB_MOVE_ASIDE ? "to" : "from", dother, &rc);
    free(dother);
    bool missing_ok = k == PB_MOVE_ASIDE;
    json_t *mo = json_object_get(st, "missing_ok");
    if (mo && !json_is_boolean(mo))
      rc = rc ? rc : pb_cfail(c, "missing_ok", "true or false");
    if (mo)
      missing_ok = json_is_true(mo);
    if (!rc && !strcmp(path, other))
      rc = pb_cfail(c, k == PB_MOVE_ASIDE ? "to" : "from", "the same path as 'path'");
    if (!rc) {
      const char *from = k == PB_MOVE_ASIDE ? path : other, *to = k == PB_MOVE_ASIDE ? other : path;
      snprintf(title, sizeof title, k == PB_MOVE_ASIDE
                   ? "move %s aside to %s (kept, not deleted)%s"
                   : "move %s back to %s%s", from, to, missing_ok ? "; nothing to do if it "
                   "is not there" : "");
      if (!pb_host_step(c, st, stage, i, k == PB_MOVE_ASIDE ? EDR_STEP_MOVE_ASIDE : EDR_STEP_MOVE_BACK,
                     json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", from, "to", to,
                               "missing_ok", missing_ok), NULL, title))
        rc = EDR_ENOMEM;
    }
    /* the default move-aside takes a separate WAL dir with the member */
    if (!rc && k == PB_MOVE_ASIDE && m->wal_dir && !json_object_get(st, "path")) {
      snprintf(title, sizeof title, "move the wal dir %s aside to %s.etcd-dr-%s (kept)",
               m->wal_dir, m->wal_dir, c->p->run_id);
      char *wto = edr_asprintf("%s.etcd-dr-%s", m->wal_dir, c->p->run_id);
      if (!wto || !pb_host_step(c, st, stage, i, EDR_STEP_MOVE_ASIDE_WAL,
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
    if (!pb_host_step(c, st, stage, i, EDR_STEP_PUSH_SNAPSHOT,
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
      return pb_cfail(c, "argv", "a non-empty list of strings (the program and its arguments; "
                   "no shell)");
    if (ro && !json_is_boolean(ro))
      return pb_cfail(c, "read_only", "true or false");
    if (env && !json_is_object(env))
      return pb_cfail(c, "env", "an object of NAME: value");
    struct edr_strv sv = {calloc(json_array_size(argv) + 1, sizeof(char *)), 0};
    json_t *jenv = env ? json_object() : NULL;
    size_t j;
    json_t *a;
    json_array_foreach(argv, j, a) {
      char *s = json_is_string(a) ? pb_subst(c, "argv", json_string_value(a)) : NULL;
      if (!s) {
        rc = json_is_string(a) ? EDR_EINVAL : pb_cfail(c, "argv", "element %zu is not a string", j);
        break;
      }
      if (!pb_plain_text(s) || (j == 0 && !*s)) {
        free(s);
        rc = pb_cfail(c, "argv", "element %zu is empty or has control characters", j);
        break;
      }
      sv.v[sv.n++] = s;
    }
    const char *ek;
    json_t *ev;
    json_object_foreach(env, ek, ev) {
      if (rc)
        break;
      char *s = json_is_string(ev) ? pb_subst(c, "env", json_string_value(ev)) : NULL;
      if (!s || !pb_plain_text(s) || !pb_env_name_ok(ek)) {
        rc = s || !json_is_string(ev) ? pb_cfail(c, "env", "'%s': a NAME of letters, digits "
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
      if (!pb_host_step(c, st, stage, i, read_only ? EDR_STEP_EXEC_RO : EDR_STEP_EXEC,
                     pb_run_req(&sv, json_incref(jenv)), sv.v, title))
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
    bool kubeadm = edr_member_kubeadm(m);
    if (!m->env_file && !kubeadm)
      return pb_cfail(c, "kind", "member %s has no env_file in %s: set-env and reset-env edit "
                   "the file etcd's service reads its ETCD_* settings from (docs/spec.md)",
                   m->name, c->pb->spec->source);
    /* kubeadm: the manifest's flags; its copy as it was waits outside the
     * manifests dir, like the manifest itself while etcd is stopped */
    char *parked = kubeadm ? edr_member_parked_manifest(m) : NULL;
    if (kubeadm && !parked)
      return EDR_ENOMEM;
    if (!h->env_backup) {
      if (kubeadm) {
        size_t pl = strlen(parked) - strlen(".etcd-dr-stopped");
        h->env_backup = edr_asprintf("%.*s.etcd-dr-%s", (int)pl, parked, c->p->run_id);
      } else {
        h->env_backup = edr_asprintf("%s.etcd-dr-%s", m->env_file, c->p->run_id);
      }
    }
    const char *file = kubeadm ? m->manifest : m->env_file;
    if (!h->env_backup) {
      free(parked);
      return EDR_ENOMEM;
    }
    if (k == PB_RESET_ENV) {
      snprintf(title, sizeof title, "put %s back as it was before this run (from %s)%s",
               file, h->env_backup, kubeadm ? "; kubelet restarts etcd with its old flags" : "");
      json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s*}", "op", "envfile", "action",
                              "restore", "path", file, "backup", h->env_backup, "format",
                              kubeadm ? "manifest" : NULL, "parked", parked);
      free(parked);
      if (!pb_host_step(c, st, stage, i, EDR_STEP_RESET_ENV, req, NULL, title))
        return EDR_ENOMEM;
      return 0;
    }
    json_t *env = json_object_get(st, "env"), *unset = json_object_get(st, "unset");
    if ((env && !json_is_object(env)) || (unset && !json_is_array(unset)) || (!env && !unset)) {
      free(parked);
      return pb_cfail(c, "env", "an object of ETCD_NAME: value (and/or 'unset': a list of names)");
    }
    json_t *set = json_object(), *un = json_array();
    char list[900] = "";
    if (!set || !un) {
      free(parked);
      json_decref(set);
      json_decref(un);
      return EDR_ENOMEM;
    }
    const char *ek;
    json_t *ev;
    json_object_foreach(env, ek, ev) {
      char *s = json_is_string(ev) ? pb_subst(c, "env", json_string_value(ev)) : NULL;
      char bad = s ? env_value_bad_char(s) : 0;
      if (!s || bad || strlen(s) > 4096 || !pb_env_name_ok(ek)) {
        char what[24];
        if (bad == ' ' || !isprint((unsigned char)bad))
          snprintf(what, sizeof what, "%s", bad == ' ' ? "a space" : "a control character");
        else
          snprintf(what, sizeof what, "'%c'", bad);
        if (bad) /* the value itself is not repeated: it may be a secret */
          rc = pb_cfail(c, "env", "'%s': its value has %s, which a shell that sources the env "
                        "file would run or split; values are letters, digits and "
                        "_ . , : / = @ + %% - [ ], unquoted (docs/playbooks.md)", ek, what);
        else
          rc = s || !json_is_string(ev)
                   ? pb_cfail(c, "env", "'%s': a NAME of letters, digits and '_' with a string "
                              "value of at most 4096 characters", ek) : EDR_EINVAL;
        free(s);
        break;
      }
      if (kubeadm && strncmp(ek, "ETCD_", 5)) {
        free(s);
        rc = pb_cfail(c, "env", "'%s': member %s runs with the kubeadm preset, whose manifest "
                      "carries only etcd's own flags: ETCD_FOO_BAR sets --foo-bar", ek, m->name);
        break;
      }
      size_t ll = strlen(list);
      snprintf(list + ll, sizeof list - ll, " %.100s", ek); /* names only: values may be secret */
      json_object_set_new(set, ek, json_string(s));
      free(s);
    }
    size_t j;
    json_array_foreach(unset, j, ev) {
      if (rc)
        break;
      if (!json_is_string(ev))
        rc = pb_cfail(c, "unset", "a list of names");
      else {
        json_array_append(un, ev);
        snprintf(list + strlen(list), sizeof list - strlen(list), " -%s", json_string_value(ev));
      }
    }
    if (!rc) {
      if (kubeadm)
        snprintf(title, sizeof title, "set in the manifest %s (or %s while etcd is stopped), "
                 "as its flags:%s (the manifest as it was is kept as %s)", m->manifest, parked,
                 list, h->env_backup);
      else
        snprintf(title, sizeof title, "set in %s:%s (the file as it was is kept as %s)",
                 m->env_file, list, h->env_backup);
      if (!pb_host_step(c, st, stage, i, EDR_STEP_SET_ENV,
                     json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:s*, s:s*}", "op", "envfile",
                               "action", "set", "path", file, "backup", h->env_backup, "set",
                               set, "unset", un, "format", kubeadm ? "manifest" : NULL,
                               "parked", parked), NULL, title))
        rc = EDR_ENOMEM;
    }
    free(parked);
    json_decref(set);
    json_decref(un);
    return rc;
  }
  default:
    return EDR_EINTERNAL;
  }
}

const char *pb_member_list(struct cctx *c, const bool *set, char *buf, size_t len) {
  buf[0] = '\0';
  for (size_t i = 0; i < c->pb->spec->n_members; i++)
    if (set[i])
      snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", *buf ? ", " : "", pb_mem(c, (long)i)->name);
  return buf;
}

int pb_emit_gate(struct cctx *c, json_t *st, int k, const bool *set) {
  size_t n = c->pb->spec->n_members, cnt = 0;
  for (size_t i = 0; i < n; i++)
    cnt += set[i];
  const char *name = c->step;
  char title[1500], names[800];
  int rc = 0;
  pb_member_list(c, set, names, sizeof names);
  if (pb_kinds[k].one_target && cnt != 1)
    return pb_cfail(c, "target", "a %s step acts on exactly one member (got %zu)", pb_kinds[k].name,
                 cnt);
  if (pb_kinds[k].where == ON_CLUSTER && cnt == 0)
    return pb_cfail(c, "target", "no member left once 'exclude' is applied");
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
      return pb_cfail(c, "min_revision", "\"current\", \"snapshot\" or a revision number");
    if (min_rev == -2 && !*c->p->snapshot && !c->pass1)
      return pb_cfail(c, "min_revision", "\"snapshot\" needs --snapshot");
    json_t *oth = json_object_get(st, "others");
    const char *os = json_string_value(oth);
    if (oth && (!os || (strcmp(os, "allowed") && strcmp(os, "refused"))))
      return pb_cfail(c, "others", "\"allowed\" (other members may be in the cluster, down: the "
                   "pb_targets must be a quorum of it) or \"refused\" (the default)");
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
             names, pb_mem(c, t)->peer_urls.v[0]);
    break;
  }
  case PB_SNAPSHOT_SAVE: {
    g = EDR_GATE_SNAPSHOT_SAVE;
    if (!(dir = pb_sfield(c, st, "dir", &rc)) && rc)
      return rc;
    if (!(output = pb_sfield(c, st, "output", &rc)) && rc) {
      free(dir);
      return rc;
    }
    json_t *kp = json_object_get(st, "keep");
    if (kp) {
      json_t *kv = kp;
      char *ks = NULL;
      if (json_is_string(kp)) {
        if (!(ks = pb_subst(c, "keep", json_string_value(kp)))) {
          free(dir);
          free(output);
          return EDR_EINVAL;
        }
        char *end;
        long v = strtol(ks, &end, 10);
        if (*end || v < 1 || v > 100000)
          rc = pb_cfail(c, "keep", "'%s' is not a number from 1 to 100000", ks);
        keep = (unsigned)v;
      } else if (json_is_integer(kv) && json_integer_value(kv) >= 1) {
        keep = (unsigned)json_integer_value(kv);
      } else {
        rc = pb_cfail(c, "keep", "a number from 1");
      }
      free(ks);
    }
    if (!rc && (!dir) == (!output))
      rc = pb_cfail(c, dir ? "output" : "dir", "exactly one of 'dir' (with 'keep') and 'output'");
    if (!rc && keep && !dir)
      rc = pb_cfail(c, "keep", "only with 'dir'");
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
    if (!(message = pb_sfield(c, st, "message", &rc)) && rc)
      return rc;
    snprintf(title, sizeof title, "ask the operator: %s",
             message ? message : "go on?");
    break;
  case PB_PAUSE: {
    g = EDR_GATE_PAUSE;
    json_t *sv = json_object_get(st, "seconds");
    if (!json_is_number(sv))
      return pb_cfail(c, "seconds", "a number of seconds is required");
    pause = pb_ms_field(st, "seconds", 0);
    snprintf(title, sizeof title, "wait %.1f s", (double)pause / 1000.0);
    break;
  }
  default:
    return EDR_EINTERNAL;
  }
  long sk = pb_new_stage(c, name, ph, title);
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
  stg->timeout_ms = pb_ms_field(st, "timeout", 0);
  json_t *rt = json_object_get(st, "retries");
  stg->retries = rt ? (unsigned)json_number_value(rt) : 0;
  stg->retry_delay_ms = pb_ms_field(st, "retry_delay", 2000);
  const char *of = json_string_value(json_object_get(st, "on_failure"));
  stg->continue_on_failure = of && !strcmp(of, "continue");
  if (cnt && g != EDR_GATE_CONFIRM && g != EDR_GATE_PAUSE) {
    if (!(stg->members = calloc(cnt, sizeof(size_t))))
      return EDR_ENOMEM;
    for (size_t i = 0; i < n; i++)
      if (set[i])
        stg->members[stg->n_members++] = i;
  }
  /* A member asked through its host's agent needs that agent connected
   * while it is asked: its host joins the check (and the cleanup), as a
   * host a step runs on.  The wait asks its members, each of which must
   * answer: one auto may still move to its host (its client URL gives no
   * answer from here) joins too, but only as an optional host (plan.h):
   * one that cannot be connected is left out and its member asked from
   * here.  Member-add and -remove ask every other member in turn until one
   * answers (cmd/gates.c). */
  bool change = g == EDR_GATE_MEMBER_ADD || g == EDR_GATE_MEMBER_REMOVE;
  for (size_t i = 0; (change || g == EDR_GATE_WAIT_HEALTHY) && c->p->health_routes &&
                     i < c->p->n_hosts; i++) {
    bool asked = false;
    for (size_t j = 0; j < stg->n_members; j++)
      asked = asked || stg->members[j] == i;
    if (change)  /* one target, in members[0] */
      asked = stg->n_members && stg->members[0] != i;
    if (asked && c->p->health_routes[i].via_host)
      c->involved[i] = c->needed[i] = true;
    else if (asked && g == EDR_GATE_WAIT_HEALTHY && c->p->health_routes[i].look)
      c->involved[i] = true;
  }
  return 0;
}

int pb_emit_restore(struct cctx *c, json_t *st) {
  json_t *b = json_object_get(st, "bump_revision");
  struct edr_plan *p = c->p;
  if (b) {
    const char *bs = json_string_value(b);
    if (bs && !strcmp(bs, "auto"))
      p->bump_revision = -1;
    else if (json_is_integer(b) && json_integer_value(b) > 0)
      p->bump_revision = json_integer_value(b);
    else
      return pb_cfail(c, "bump_revision", "\"auto\" or a positive number");
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
  long k = pb_new_stage(c, c->step, EDR_PHASE_APPLY, title);
  if (k < 0)
    return (int)k;
  p->stages[k].gate = EDR_GATE_HEALTH;
  p->stages[k].timeout_ms = pb_ms_field(st, "health_timeout", p->health_timeout_ms);
  c->has_restore = true;
  size_t stages[EDR_PHASE__COUNT] = {0, c->prepare_stage, (size_t)k, CLEANUP_STAGE};
  for (size_t i = 0; i < p->n_hosts; i++) {
    c->involved[i] = c->needed[i] = c->restored[i] = true;
    int rc = edr_plan_restore_steps(p, c->o, &p->hosts[i], stages, false);
    if (rc)
      return rc;
  }
  return 0;
}

int pb_compile_steps(struct cctx *c, json_t *steps, bool in_block);
