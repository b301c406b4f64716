/*
 * prune.c - from a host's listing to the runs that go, and the tables that
 * say so (prune.h).
 */
#include "prune.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

static bool in_strings(json_t *a, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) if (json_string_value(v) && !strcmp(json_string_value(v), s))
    return true;
  return false;
}

json_t *edr_prune_decide(const struct edr_prune_policy *policy, json_t *listing) {
  json_t *entries = json_object_get(listing, "entries");
  if (!json_is_array(entries))
    return NULL;
  json_t *markers = json_object_get(listing, "markers"),
         *staging = json_object_get(listing, "staging");
  const char *lock = json_string_value(json_object_get(listing, "lock_run"));
  int64_t now = json_integer_value(json_object_get(listing, "now"));
  size_t n = 0, cap = json_array_size(entries);
  struct edr_prune_run *runs = calloc(cap ? cap : 1, sizeof(*runs));
  if (!runs)
    return NULL;
  size_t i;
  json_t *e;
  json_array_foreach(entries, i, e) { /* one edr_prune_run per run id */
    const char *id = json_string_value(json_object_get(e, "run_id"));
    int64_t when;
    if (!id || !edr_run_id_ok(id, &when))
      continue;
    size_t k = 0;
    while (k < n && strcmp(runs[k].run_id, id))
      k++;
    if (k == n) {
      snprintf(runs[n].run_id, sizeof runs[n].run_id, "%s", id);
      runs[n].when = when;
      runs[n].protect = in_strings(markers, id) ? "unfinished: its marker is on the host"
                        : in_strings(staging, id) ? "unfinished: its staging dir is on the host"
                        : lock && !strcmp(lock, id) ? "it holds the host lock"
                                                    : NULL;
      n++;
    }
  }
  edr_prune_select(runs, n, policy, now);
  json_t *out = json_pack("{s:[], s:[], s:I, s:O?, s:s?}", "runs", "remove", "bytes",
                          (json_int_t)0, "ignored", json_object_get(listing, "ignored"),
                          "lock_run", lock);
  json_int_t total = 0;
  for (size_t k = 0; out && k < n; k++) {
    struct edr_prune_run *r = &runs[k];
    bool was_trash = false;
    json_array_foreach(entries, i, e) {
      const char *id = json_string_value(json_object_get(e, "run_id"));
      was_trash |= id && !strcmp(id, r->run_id) && json_is_true(json_object_get(e, "trash"));
    }
    if (was_trash && !r->protect && !r->remove) {
      r->remove = true; /* a prune that was cut short: finish it */
      r->why_kept = NULL;
    }
    json_t *mine = json_array(), *left = json_array();
    json_int_t bytes = 0;
    json_array_foreach(entries, i, e) {
      const char *id = json_string_value(json_object_get(e, "run_id"));
      if (!id || strcmp(id, r->run_id))
        continue;
      const char *kind = json_string_value(json_object_get(e, "kind"));
      if (!kind || strcmp(kind, "dir") || json_is_true(json_object_get(e, "other_fs")))
        json_array_append(left, e);
      else
        json_array_append(mine, e), bytes += json_integer_value(json_object_get(e, "bytes"));
    }
    const char *why = r->why_kept;
    if (r->remove && json_array_size(mine) == 0) {
      r->remove = false; /* only a symlink or a mount point by the name: nothing to do */
      why = "nothing of it can be removed";
    }
    json_array_append_new(json_object_get(out, "runs"),
                          json_pack("{s:s, s:I, s:I, s:b, s:s?, s:I, s:o, s:o}", "run_id",
                                    r->run_id, "when", (json_int_t)r->when, "age_s",
                                    (json_int_t)(now - r->when), "remove", r->remove, "why",
                                    r->remove ? (was_trash ? "a prune of it was cut short"
                                                           : NULL)
                                              : why,
                                    "bytes", bytes, "entries", mine, "left", left));
    if (r->remove) {
      json_array_append_new(json_object_get(out, "remove"), json_string(r->run_id));
      total += bytes;
    }
  }
  if (out)
    json_object_set_new(out, "bytes", json_integer(total));
  free(runs);
  return out;
}

void edr_prune_print_host(FILE *out, const char *name, const char *host, json_t *decision,
                          bool dry_run) {
  json_t *runs = json_object_get(decision, "runs"), *ign = json_object_get(decision, "ignored");
  size_t nrm = json_array_size(json_object_get(decision, "remove"));
  char hb[32];
  edr_human_bytes((uint64_t)json_integer_value(json_object_get(decision, "bytes")), hb,
                  sizeof hb);
  fprintf(out, "\n%s (%s): %zu run%s with dirs moved aside; %s %zu (%s)\n", name, host,
          json_array_size(runs), json_array_size(runs) == 1 ? "" : "s",
          dry_run ? "would remove" : "to remove", nrm, hb);
  size_t i, j;
  json_t *r, *e;
  json_array_foreach(runs, i, r) {
    char age[32], sz[32];
    bool rm = json_is_true(json_object_get(r, "remove"));
    const char *why = json_string_value(json_object_get(r, "why"));
    edr_human_age(json_integer_value(json_object_get(r, "age_s")), age, sizeof age);
    edr_human_bytes((uint64_t)json_integer_value(json_object_get(r, "bytes")), sz, sizeof sz);
    fprintf(out, "  %-7s %s  %s old, %s%s%s\n", rm ? "REMOVE" : "keep",
            json_string_value(json_object_get(r, "run_id")), age, sz, why ? ": " : "",
            why ? why : "");
    json_array_foreach(json_object_get(r, "entries"), j, e) {
      edr_human_bytes((uint64_t)json_integer_value(json_object_get(e, "bytes")), sz, sizeof sz);
      long long nf = json_integer_value(json_object_get(e, "files"));
      fprintf(out, "            %s  (%s, %lld file%s)\n",
              json_string_value(json_object_get(e, "path")), sz, nf, nf == 1 ? "" : "s");
    }
    json_array_foreach(json_object_get(r, "left"), j, e)
      fprintf(out, "            %s  (left alone: %s)\n",
              json_string_value(json_object_get(e, "path")),
              json_is_true(json_object_get(e, "other_fs")) ? "on another file system"
              : !strcmp(json_string_value(json_object_get(e, "kind")) ?: "", "symlink")
                  ? "a symlink"
                  : "not a directory");
  }
  json_array_foreach(ign, i, e)
    fprintf(out, "  left    %s: not a name etcd-dr gives a run's dir\n", json_string_value(e));
}

void edr_prune_summary(const struct edr_plan *p, const struct edr_run_result *res, FILE *out) {
  fprintf(out, "\nrun %s: prune %s in %.1fs\n", p->run_id,
          res->exit_code == 0 ? "done" : res->exit_code == EDR_EXIT_DECLINED
                                             ? "stopped: not confirmed, nothing removed"
                                             : "NOT finished",
          (double)res->duration_ms / 1000.0);
  for (size_t i = 0; i < res->n_hosts; i++) {
    const struct edr_host_plan *hp = &p->hosts[i];
    const struct edr_host_result *hr = &res->hosts[i];
    json_t *result = NULL;
    for (size_t j = 0; j < hp->n_steps; j++)
      if (hp->steps[j].kind == EDR_STEP_PRUNE)
        result = hr->steps[j].result;
    json_int_t bytes = 0;
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(result, "removed"), k, e)
      bytes += json_integer_value(json_object_get(e, "bytes"));
    char hb[32];
    edr_human_bytes((uint64_t)bytes, hb, sizeof hb);
    if (hr->status)
      fprintf(out, "  %-10s FAILED: %s\n", hr->member, hr->message ? hr->message : "?");
    else if (!result)
      fprintf(out, "  %-10s nothing removed\n", hr->member);
    else
      fprintf(out, "  %-10s removed %zu dir%s (%s)\n", hr->member,
              json_array_size(json_object_get(result, "removed")),
              json_array_size(json_object_get(result, "removed")) == 1 ? "" : "s", hb);
    json_array_foreach(json_object_get(result, "removed"), k, e)
      fprintf(out, "             removed %s\n", json_string_value(json_object_get(e, "path")));
    json_array_foreach(json_object_get(result, "kept"), k, e)
      fprintf(out, "             kept run %s: %s\n",
              json_string_value(json_object_get(e, "run_id")),
              json_string_value(json_object_get(e, "why")));
    json_array_foreach(json_object_get(result, "left"), k, e)
      fprintf(out, "             left %s: %s\n", json_string_value(json_object_get(e, "path")),
              json_string_value(json_object_get(e, "why")));
  }
  if (res->exit_code == EDR_EXIT_PREFLIGHT)
    fprintf(out, "\nnothing was removed on any host.  Fix the problem reported above and run "
                 "the same command again.\n");
  else if (res->exit_code == EDR_EXIT_APPLY)
    fprintf(out, "\nthe prune stopped part way: each host above says what it removed (a dir "
                 "it was removing is left as .etcd-dr-pruning-NAME; the next prune finishes "
                 "it).  Fix the problem reported above and run the same command again.\n");
}
