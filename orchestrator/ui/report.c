/*
 * report.c - the end-of-run summary (report.h).
 */
#include "report.h"

#include "outcome.h"
#include "err.h"
#include "prune.h"
#include "quote.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *outcome_name(const struct edr_plan *p, const struct edr_host_result *hr) {
  if (hr->left_out)
    return "left out";
  switch (hr->outcome) {
  case EDR_HOST_RESTORED:
    return p->kind == EDR_PLAN_ROLLBACK ? "rolled back" : p->kind == EDR_PLAN_RUN ? "done"
           : p->kind == EDR_PLAN_PRUNE ? "pruned" : "restored";
  case EDR_HOST_PARTIAL: return hr->status ? "FAILED" : "stopped";
  default: return hr->status ? "FAILED" : "unchanged";
  }
}

static bool any_host_changed(const struct edr_run_result *res) {
  for (size_t i = 0; i < res->n_hosts; i++)
    if (res->hosts[i].outcome != EDR_HOST_UNTOUCHED)
      return true;
  return false;
}

/* A playbook run that changed something: per host, what was done to it,
 * from its results (an untouched host says so). */
static void print_run_hosts(const struct edr_plan *p, const struct edr_run_result *res, FILE *o) {
  for (size_t i = 0; i < res->n_hosts; i++) {
    const struct edr_host_result *hr = &res->hosts[i];
    const struct edr_host_plan *hp = &p->hosts[i];
    if (i == 0)
      fprintf(o, "\nwhere each host stands:\n");
    if (hr->outcome == EDR_HOST_UNTOUCHED) {
      fprintf(o, "  %s: not changed\n", hr->member);
      continue;
    }
    fprintf(o, "  %s:", hr->member);
    const char *sep = " ";
    bool stopped = false, env_set = false;
    for (size_t j = 0; j < hp->n_steps; j++) {
      const struct edr_step_result *sr = &hr->steps[j];
      const struct edr_step *s = &hp->steps[j];
      if (!sr->started || !edr_step_kinds[s->kind].destructive)
        continue;
      bool ok = sr->finished && !sr->status;
      if (s->kind == EDR_STEP_STOP && sr->started)
        stopped = true;
      if (s->kind == EDR_STEP_START && ok)
        stopped = false;
      if (s->kind == EDR_STEP_SET_ENV && sr->started)
        env_set = true;
      if (s->kind == EDR_STEP_RESET_ENV && ok)
        env_set = false;
      const char *from = json_string_value(json_object_get(s->request, "from"));
      const char *to = json_string_value(json_object_get(s->request, "to"));
      if (!sr->finished)
        fprintf(o, "%s%s (unfinished)", sep, edr_step_kinds[s->kind].name);
      else if (sr->status)
        fprintf(o, "%s%s FAILED", sep, edr_step_kinds[s->kind].name);
      else if ((s->kind == EDR_STEP_MOVE_ASIDE || s->kind == EDR_STEP_MOVE_ASIDE_WAL ||
                s->kind == EDR_STEP_MOVE_BACK) && from && to)
        fprintf(o, "%s%s %s -> %s", sep, json_is_true(json_object_get(sr->result, "moved"))
                                            ? "moved" : "nothing to move at", from,
                json_is_true(json_object_get(sr->result, "moved")) ? to : "");
      else
        fprintf(o, "%s%s", sep, edr_step_kinds[s->kind].name);
      sep = ", ";
    }
    if (!strcmp(sep, " "))  /* only read and asked (a wait's target) */
      fprintf(o, " not changed");
    if (res->exit_code != 0 && stopped)
      fprintf(o, "; etcd is STOPPED there (its start_command starts it again)");
    if (res->exit_code != 0 && env_set && hp->env_backup)
      fprintf(o, "; %s was changed (as it was: %s)", hp->member->env_file, hp->env_backup);
    fputc('\n', o);
  }
}

void edr_print_summary(const struct edr_plan *p, const struct edr_run_result *res,
                       const char *spec_args) {
  FILE *o = stderr;
  if (p->kind == EDR_PLAN_PRUNE) {
    edr_prune_summary(p, res, o);
    return;
  }
  if (p->kind == EDR_PLAN_RUN) {
    fprintf(o, "\nrun %s: playbook %s %s in %.1fs\n", p->run_id, p->playbook,
            res->exit_code == 0 ? "done"
            : res->exit_code == EDR_EXIT_DECLINED ? "stopped: not confirmed" : "NOT finished",
            (double)res->duration_ms / 1000.0);
    for (size_t k = 0; k < res->n_stages; k++) {
      const struct edr_gate_result *g = &res->gates[k];
      if (g->finished && g->status) {
        fprintf(o, "  step %s FAILED: ", p->stages[k].name);
        if (g->message) /* may quote a host's or etcd's reply */
          edr_fput_escaped(o, g->message, strlen(g->message), EDR_ESC_KEEP_NL);
        fputc('\n', o);
      }
    }
  } else {
  fprintf(o, "\nrun %s: %s in %.1fs\n", p->run_id,
          res->exit_code == 0
              ? (p->kind == EDR_PLAN_ROLLBACK ? "rolled back, cluster healthy"
                                              : "cluster restored and healthy")
              : (p->kind == EDR_PLAN_ROLLBACK ? "NOT rolled back" : "NOT restored"),
          (double)res->duration_ms / 1000.0);
  }
  fprintf(o, "  %-10s %-22s %-10s %-7s %-8s %s\n", "member", "ssh host", "result", "steps",
          "time", "last step");
  for (size_t i = 0; i < res->n_hosts; i++) {
    const struct edr_host_result *hr = &res->hosts[i];
    const struct edr_host_plan *hp = &p->hosts[i];
    char host[300], steps[16];
    snprintf(host, sizeof host, "%s:%d", hp->member->ssh_host, hp->member->ssh_port);
    snprintf(steps, sizeof steps, "%zu/%zu", hr->steps_done, hp->n_steps);
    const char *last = "-";
    uint64_t ms = 0;
    for (size_t j = 0; j < hp->n_steps; j++) {
      if (hr->steps[j].started)
        last = edr_step_kinds[hp->steps[j].kind].name;
      ms += hr->steps[j].duration_ms;
    }
    char t[16];
    snprintf(t, sizeof t, "%.1fs", (double)ms / 1000.0);
    fprintf(o, "  %-10s %-22s %-10s %-7s %-8s %s\n", hr->member, host, outcome_name(p, hr),
            steps, t, last);
  }
  for (size_t i = 0; i < res->n_hosts; i++)
    if (res->hosts[i].left_out)
      fprintf(o, "  %s left out (its member asked from here): %s\n", res->hosts[i].member,
              res->hosts[i].message ? res->hosts[i].message : "");
  bool changed = any_host_changed(res);
  if (p->kind == EDR_PLAN_RUN) {
    if (changed)
      print_run_hosts(p, res, o);
    bool restores = false;
    for (size_t i = 0; i < p->n_hosts && !restores; i++)
      for (size_t j = 0; j < p->hosts[i].n_steps; j++)
        restores |= p->hosts[i].steps[j].kind == EDR_STEP_RESTORE;
    if (res->exit_code == EDR_EXIT_PREFLIGHT ||
        (res->exit_code == EDR_EXIT_INTERRUPTED && !changed))
      fprintf(o, "\nno host was changed. %s\n", res->exit_code == EDR_EXIT_INTERRUPTED
                  ? "Interrupted before the first change."
                  : "Fix the problem reported above and run the same command again.");
    else if (res->exit_code == EDR_EXIT_DECLINED)
      fprintf(o, "\nnot confirmed: the run stopped before its next step%s.\n",
              res->hosts && res->n_hosts ? "; the hosts stand as above" : "");
    else if (res->exit_code != 0) {
      fprintf(o, "\nthe playbook stopped part way: the hosts stand as above (nothing was "
                 "deleted; moved dirs are kept).\n'etcd-dr status %s' shows the cluster.\n",
              spec_args);
      if (restores)
        fprintf(o, "to put back the data from before the run:\n  etcd-dr rollback %s %s\n",
                p->run_id, spec_args);
    }
    return;
  }
  /* Where each host's old data is, from what was really done: once any host
   * was changed, every host gets a line, the untouched ones too (a leader
   * waiting to stop last is untouched when the run stops before its turn). */
  for (size_t i = 0; i < res->n_hosts && changed; i++) {
    const struct edr_host_result *hr = &res->hosts[i];
    const struct edr_host_plan *hp = &p->hosts[i];
    if (i == 0)
      fprintf(o, "\nwhere each host stands:\n");
    if (hr->outcome == EDR_HOST_UNTOUCHED) {
      if (p->kind == EDR_PLAN_ROLLBACK)
        fprintf(o, "  %s: not changed\n", hr->member);
      else
        fprintf(o, "  %s: old data still in place (%s/member); this host was not changed\n",
                hr->member, hp->member->data_dir);
      continue;
    }
    bool moved = false, stopped = false, stop_failed = false, started = false;
    bool installed = false;
    for (size_t j = 0; j < hp->n_steps; j++) {
      bool ok = hr->steps[j].finished && hr->steps[j].status == 0 && hr->steps[j].result;
      if (hp->steps[j].kind == EDR_STEP_MOVE_ASIDE && ok &&
          json_is_true(json_object_get(hr->steps[j].result, "moved")))
        moved = true;
      if (hp->steps[j].kind == EDR_STEP_STOP && hr->steps[j].started) {
        stopped = true; /* a stop that failed may have stopped it all the same */
        stop_failed |= !hr->steps[j].finished || hr->steps[j].status != 0;
      }
      if (hp->steps[j].kind == EDR_STEP_START && ok)
        started = true;
      if (hp->steps[j].kind == EDR_STEP_INSTALL && hr->steps[j].finished &&
          hr->steps[j].status == 0)
        installed = true;
    }
    if (p->kind == EDR_PLAN_ROLLBACK)
      fprintf(o, "  %s: %s%s\n", hr->member,
              moved ? "restored data kept as " : "",
              moved ? hp->failed_aside : (started ? "etcd started on its data"
                                                  : "etcd may be stopped"));
    else if (moved)
      fprintf(o, "  %s: old data kept as %s%s\n", hr->member, hp->member_aside,
              started ? "" : "; etcd not started");
    else if (installed)
      fprintf(o, "  %s: had no old member dir; the restored one is installed%s\n", hr->member,
              started ? "" : ", etcd not started");
    else
      fprintf(o, "  %s: old data still in place (%s/member)%s\n", hr->member,
              hp->member->data_dir, !stopped ? "" : stop_failed ? "; etcd may be stopped"
                                                                : "; etcd was stopped");
  }
  if (res->exit_code == EDR_EXIT_INTERRUPTED && !changed) {
    fprintf(o, "\ninterrupted before any host was changed: etcd was not stopped and no "
               "data was moved.\n");
    return;
  }
  switch (res->exit_code) { /* interrupted after changes: as a failure (default) */
  case EDR_EXIT_OK:
    break;
  case EDR_EXIT_PREFLIGHT:
    fprintf(o, "\nno host was changed: etcd was not stopped and no data was moved.\n"
               "fix the problem reported above and run the same command again.\n");
    break;
  case EDR_EXIT_UNHEALTHY:
    fprintf(o, "\nevery member was %s and started, but the cluster did not become healthy "
               "in time: %s\ncheck etcd's logs on the members (etcd-dr status shows where "
               "they stand)", p->kind == EDR_PLAN_ROLLBACK ? "rolled back" : "restored",
            res->message ? res->message : "");
    if (p->kind != EDR_PLAN_ROLLBACK)
      fprintf(o, "; to go back to the old data:\n  etcd-dr rollback %s %s", p->run_id,
              spec_args);
    fputc('\n', o);
    break;
  default:
    if (p->kind == EDR_PLAN_ROLLBACK) {
      fprintf(o, "\nthe rollback did not finish.  Fix the problem reported above and run it "
                 "again (it continues where it can):\n  etcd-dr rollback %s %s\n",
              p->run_id, spec_args);
      break;
    }
    fprintf(o, "\nsome hosts were changed and the restore did not finish.  Next, either:\n"
               "  fix the problem reported above and continue this run where it stopped:\n"
               "    etcd-dr restore --resume %s\n"
               "  or go back to the data as it was before this run, on every host:\n"
               "    etcd-dr rollback %s %s\n",
            p->run_id, p->run_id, spec_args);
  }
}


static json_t *iso_time(long long t) {
  char buf[40];
  time_t tt = (time_t)t;
  struct tm tm;
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
  return json_string(buf);
}

json_t *edr_report_json(const struct edr_plan *p, const struct edr_run_result *res,
                        long long started, long long ended) {
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  const char *user = getenv("SUDO_USER");
  if (!user || !*user)
    user = getenv("USER");
  json_t *hosts = json_array();
  for (size_t i = 0; hosts && i < res->n_hosts; i++) {
    const struct edr_host_result *hr = &res->hosts[i];
    const struct edr_host_plan *hp = &p->hosts[i];
    json_t *steps = json_array();
    for (size_t j = 0; steps && j < hp->n_steps; j++) {
      const struct edr_step_result *sr = &hr->steps[j];
      if (!sr->started)
        continue;
      json_t *r = sr->result;
      json_t *st = json_pack("{s:I, s:s, s:s?, s:s, s:I}", "index", (json_int_t)j + 1, "kind",
                             edr_step_kinds[hp->steps[j].kind].name, "command",
                             hp->steps[j].command, "status",
                             !sr->finished ? "unfinished" : sr->status ? "failed" : "ok",
                             "duration_ms", (json_int_t)sr->duration_ms);
      if (sr->status)
        json_object_set_new(st, "error", json_string(edr_err_name(sr->status)));
      if (sr->message)
        json_object_set_new(st, "message", json_string(sr->message));
      if (sr->bytes)
        json_object_set_new(st, "bytes_pushed", json_integer((json_int_t)sr->bytes));
      static const char *const keep[] = {"exit", "signal", "stderr_tail", "path", "moved",
                                         "tool", "free_bytes", "etcd_running", "version", "arch",
                                         "sha256", "taken_over", "exists", "removed",
                                         "kept", "left", "agent", "gzip"};
      for (size_t k = 0; r && k < sizeof keep / sizeof keep[0]; k++)
        if (json_object_get(r, keep[k]))
          json_object_set(st, keep[k], json_object_get(r, keep[k]));
      json_array_append_new(steps, st);
    }
    json_array_append_new(hosts, json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:o}", "member",
        hr->member, "ssh_host", hp->member->ssh_host, "outcome",
        outcome_name(p, hr), "message", hr->message, "host_key_fingerprint",
        hr->hostkey_fp[0] ? hr->hostkey_fp : NULL, "steps", steps));
  }
  json_t *gates = json_array();
  for (size_t k = 0; gates && k < res->n_stages; k++) {
    const struct edr_gate_result *g = &res->gates[k];
    if (!g->started || p->stages[k].gate == EDR_GATE_NONE)
      continue;
    json_t *jg = json_pack("{s:I, s:s, s:s, s:s, s:I, s:s?}", "stage", (json_int_t)k + 1,
                           "name", p->stages[k].name, "kind", edr_gate_names[p->stages[k].gate],
                           "status", !g->finished ? "unfinished" : g->status ? "failed" : "ok",
                           "duration_ms", (json_int_t)g->duration_ms, "message", g->message);
    if (jg && g->status)
      json_object_set_new(jg, "error", json_string(edr_err_name(g->status)));
    if (jg && g->retries)
      json_object_set_new(jg, "retried", json_integer(g->retries));
    json_array_append_new(gates, jg);
  }
  json_t *rep = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:i, s:s?, s:{s:s, s:I, s:s, s:b, s:I},"
                   " s:o, s:o}",
                   "run_id", p->run_id, "command", p->command, "operator",
                   user && *user ? user : "?", "coordinator", host, "started",
                   iso_time(started), "ended", iso_time(ended), "duration_ms",
                   (json_int_t)res->duration_ms, "exit_code", res->exit_code, "message",
                   res->message, "snapshot", "path", p->snapshot, "size",
                   (json_int_t)p->snapshot_size, "sha256", p->snapshot_sha256, "has_hash",
                   p->snapshot_has_hash, "revision", (json_int_t)p->snapshot_revision, "plan",
                   edr_plan_to_json(p), "hosts", hosts);
  if (rep) {
    json_object_set_new(rep, "leader", res->leader ? json_string(res->leader) : json_null());
    json_object_set_new(rep, "cluster_steps", gates);
    if (res->compression)
      json_object_set(rep, "compression", res->compression);
  } else {
    json_decref(gates);
  }
  return rep;
}
