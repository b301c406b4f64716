/*
 * print.c - a plan as a person reads it (`etcd-dr plan`, `run --dry-run`,
 * the confirmation before the first destructive step) and as JSON
 * (`--format json`).  What is printed is what is executed: both read the
 * same struct edr_plan (plan.h).
 */
#include "plan.h"

#include "err.h"
#include "quote.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char edr_plan_optional_why[] =
    "asked only; left out if it cannot be connected (no step of its own): its member is "
    "then asked from here";

static const char *phase_heading[EDR_PHASE__COUNT] = {
  [EDR_PHASE_CHECK] = "check (reads only; every host must pass before any host goes on)",
  [EDR_PHASE_PREPARE] = ("prepare (changes nothing etcd uses; every host must finish "
                         "it before any host goes on)"),
  [EDR_PHASE_APPLY] = "apply (destructive)",
  [EDR_PHASE_CLEANUP] = "cleanup (once the cluster is healthy)",
};

/* Print an argv as a pasteable command, one "--flag value" per line. */
/* How the health waits ask each member (health_route.c), for MEMBERS
 * (indices into the plan's hosts; all when NULL). */
static void print_health_routes(const struct edr_plan *p, const size_t *members, size_t n,
                                const char *indent, FILE *out) {
  for (size_t i = 0; p->health_routes && i < n; i++) {
    size_t h = members ? members[i] : i;
    char how[400];
    edr_health_route_say(p, h, how, sizeof how);
    fprintf(out, "%s%s: health checked %s\n", indent, p->hosts[h].member->name, how);
  }
}

/* The way member H is asked, in a few words: its health route's. */
static void route_short(const struct edr_plan *p, size_t h, struct edr_str *out) {
  const struct edr_member *m = p->hosts[h].member;
  const struct edr_health_route *r = p->health_routes ? &p->health_routes[h] : NULL;
  bool host = r && (r->via_host || r->look);
  edr_str_appendf(out, "%s%s %s%s%s", out->len ? "; " : "", m->name,
                  !host ? "from here" : r->via_host ? "through " : "from here, else through ",
                  host ? m->ssh_host : "", host ? "'s agent" : "");
}

/* Member-add and -remove ask the other members (all but EXCEPT) in turn,
 * each the way its health is asked (cmd/gates.c); the leader lookup asks
 * every member so. */
static void print_etcd_asks(const struct edr_plan *p, const char *what, long except,
                            const char *indent, FILE *out) {
  struct edr_str say = EDR_STR_INIT;
  for (size_t i = 0; i < p->n_hosts; i++)
    if ((long)i != except)
      route_short(p, i, &say);
  fprintf(out, "%s%s%s\n", indent, what, say.len ? say.buf : "no other member");
  edr_str_release(&say);
}

/* When the plan stops etcd: the leader is looked up first and stops last. */
static void print_leader_lookup(const struct edr_plan *p, FILE *out) {
  bool stops = false;
  for (size_t i = 0; i < p->n_hosts; i++)
    for (size_t j = 0; j < p->hosts[i].n_steps; j++)
      stops |= p->hosts[i].steps[j].kind == EDR_STEP_STOP;
  if (!edr_plan_kinds[p->kind].leader_last || p->n_hosts < 2 || !stops)
    return;
  fprintf(out, "  leader:            looked up before the first stop; it stops last "
               "(none found: said, and the members stop in parallel)\n");
  print_etcd_asks(p, "asks ", -1, "                     ", out);
}

static void print_command(FILE *out, char *const *argv) {
  fputs("        $", out);
  for (size_t i = 0; argv[i]; i++) {
    const char *a = i == 0 && !strcmp(argv[0], "auto") ? "etcdutl" : argv[i];
    char *q = edr_shell_quote(a);
    if (i > 0 && a[0] == '-' && a[1] == '-')
      fputs(" \\\n           ", out);
    fprintf(out, " %s", q ? q : a);
    free(q);
  }
  if (!strcmp(argv[0], "auto"))
    fputs("\n          (etcdctl instead where the host has no etcdutl)", out);
  fputc('\n', out);
}

static void print_compress(const struct edr_plan *p, FILE *out);

/* A playbook's plan: stage by stage, what each host does and what the
 * coordinator does once they are done. */
static void print_run(const struct edr_plan *p, FILE *out) {
  char human[32];
  edr_human_bytes(p->snapshot_size, human, sizeof human);
  fprintf(out, "etcd-dr run plan: playbook %s, run %s\n", p->playbook ? p->playbook : "?",
          p->run_id);
  fprintf(out, "  cluster spec:      %s (%zu members)\n", p->spec->source, p->n_hosts);
  if (*p->snapshot) {
    fprintf(out, "  snapshot:          %s (%s, sha-256 %s, revision %lld)\n", p->snapshot,
            human, p->snapshot_sha256, (long long)p->snapshot_revision);
    print_compress(p, out);
  }
  fprintf(out, "  initial cluster:   %s\n", p->initial_cluster);
  print_leader_lookup(p, out);
  for (size_t i = 0; i < p->spec->warnings.n; i++)
    fprintf(out, "  warning: %s\n", p->spec->warnings.v[i]);
  fprintf(out, "\nEach step is a barrier: the next starts when it finished everywhere.\n");
  for (size_t k = 0; k < p->n_stages; k++) {
    const struct edr_stage *st = &p->stages[k];
    bool steps = false;
    for (size_t i = 0; i < p->n_hosts && !steps; i++)
      for (size_t j = 0; j < p->hosts[i].n_steps; j++)
        steps |= p->hosts[i].steps[j].stage == k;
    if (!steps && st->gate == EDR_GATE_NONE)
      continue; /* nothing happens there (a check with no host to check) */
    fprintf(out, "\n%2zu. %s", k + 1, st->name);
    if (st->gate != EDR_GATE_NONE && st->gate != EDR_GATE_HEALTH)
      fprintf(out, " (%s, on this machine)", edr_gate_names[st->gate]);
    fprintf(out, "%s%s\n", st->title ? ": " : "", st->title ? st->title : "");
    for (size_t i = 0; i < p->n_hosts; i++) {
      const struct edr_host_plan *h = &p->hosts[i];
      bool first = true;
      for (size_t j = 0; j < h->n_steps; j++) {
        const struct edr_step *s = &h->steps[j];
        if (s->stage != k)
          continue;
        fprintf(out, "    %-8s %-14s %s\n", first ? h->member->name : "",
                edr_step_kinds[s->kind].name, s->title);
        if (s->argv)
          print_command(out, s->argv);
        /* set-env's values: on the operator's screen only, never in the JSON */
        const char *ek;
        json_t *ev;
        json_object_foreach(s->kind == EDR_STEP_SET_ENV ? json_object_get(s->request, "set")
                                                        : NULL, ek, ev)
          fprintf(out, "             %s=%s\n", ek, json_string_value(ev));
        if (s->retries || s->continue_on_failure)
          fprintf(out, "             %u retr%s, %.1fs apart; on failure: %s\n", s->retries,
                  s->retries == 1 ? "y" : "ies", (double)s->retry_delay_ms / 1000.0,
                  s->continue_on_failure ? "go on" : "stop");
        first = false;
      }
      if (!first && h->optional && st->phase == EDR_PHASE_CHECK)
        fprintf(out, "             optional: %s\n", edr_plan_optional_why);
    }
    if (st->gate == EDR_GATE_HEALTH)
      fprintf(out, "    then: wait up to %llus until all %zu members are healthy, one cluster "
                   "of exactly them, at the snapshot's revision or later\n",
              (unsigned long long)((st->timeout_ms ? st->timeout_ms : p->health_timeout_ms) /
                                   1000), p->n_hosts);
    if (st->gate == EDR_GATE_HEALTH)
      print_health_routes(p, NULL, p->n_hosts, "      ", out);
    else if (st->gate == EDR_GATE_WAIT_HEALTHY)
      print_health_routes(p, st->members, st->n_members, "      ", out);
    else if (st->gate == EDR_GATE_MEMBER_ADD || st->gate == EDR_GATE_MEMBER_REMOVE)
      print_etcd_asks(p, "asks, in turn until one answers: ",
                      st->n_members ? (long)st->members[0] : -1, "      ", out);
    if (st->retries || st->continue_on_failure)
      fprintf(out, "    %u retr%s, %.1fs apart; on failure: %s\n", st->retries,
              st->retries == 1 ? "y" : "ies", (double)st->retry_delay_ms / 1000.0,
              st->continue_on_failure ? "go on" : "stop");
  }
  bool any = false;
  for (size_t i = 0; i < p->n_hosts; i++)
    any |= p->hosts[i].n_steps > 0;
  if (!any)
    fprintf(out, "\nNo SSH connection: every step runs on this machine.\n");
}

/* How the snapshot travels: the --compress mode and what the sample said. */
static void print_compress(const struct edr_plan *p, FILE *out) {
  const struct edr_compress_sample *cs = &p->compress_sample;
  char sampled[32];
  edr_human_bytes(cs->sampled, sampled, sizeof sampled);
  fprintf(out, "  compression:       %s", edr_compress_names[p->compress]);
  if (p->compress == EDR_COMPRESS_OFF) {
    fputs(" (the snapshot is sent as it is)\n", out);
    return;
  }
  if (cs->sampled)
    fprintf(out, ": zstd -1 makes the first %s %.0f%% of their size (%.0f MB/s here);\n"
            "                    ", sampled, cs->ratio * 100.0, cs->bytes_per_s / 1e6);
  else
    fputc(':', out);
  if (p->compress == EDR_COMPRESS_ON)
    fputs(" compressed once here, decompressed on every host\n", out);
  else
    fputs(" compressed only if that beats the link, as measured when the agent\n"
          "                     is pushed (the report says what was chosen)\n", out);
}

void edr_plan_print_member(const struct edr_member *m, FILE *out) {
  fprintf(out, "\nmember %s  (%s@%s:%d%s)\n", m->name, m->ssh_user, m->ssh_host, m->ssh_port,
          m->sudo ? ", sudo -n" : "");
  /* where each SSH setting came from (docs/spec.md, precedence) */
  fprintf(out, "  ssh: host %s (", m->ssh_host);
  if (m->ssh_alias)
    fprintf(out, "ssh_config HostName of %s", m->ssh_alias);
  else
    fprintf(out, "%s", m->from.host == EDR_FROM_DEFAULT ? "peer URL" : edr_origin_name(m->from.host));
  fprintf(out, "), user %s (%s), port %d (%s), ", m->ssh_user, edr_origin_name(m->from.user),
          m->ssh_port, edr_origin_name(m->from.port));
  if (m->identity_file)
    fprintf(out, "identity %s (%s)", m->identity_file, edr_origin_name(m->from.identity));
  else
    fprintf(out, "identity %s~/.ssh/id_ed25519, id_ecdsa, id_rsa (default)",
            m->identities_only ? "" : "ssh-agent, then ");
  if (m->identities_only)
    fprintf(out, ", no ssh-agent (ssh_config IdentitiesOnly)");
  fprintf(out, ", known_hosts %s (%s)", m->known_hosts, edr_origin_name(m->from.known_hosts));
  if (m->proxy_jump)
    fprintf(out, ", jump host%s %s (%s)", strchr(m->proxy_jump, ',') ? "s" : "", m->proxy_jump,
            edr_origin_name(m->from.proxy));
  else if (m->proxy_command)
    fprintf(out, ", proxy command '%s' (%s)", m->proxy_command, edr_origin_name(m->from.proxy));
  fprintf(out, "\n");
}

void edr_plan_print(const struct edr_plan *p, FILE *out) {
  if (p->kind == EDR_PLAN_RUN) {
    print_run(p, out);
    return;
  }
  if (p->kind == EDR_PLAN_PRUNE) {
    edr_plan_prune_print(p, out);
    return;
  }
  char human[32];
  edr_human_bytes(p->snapshot_size, human, sizeof human);
  fprintf(out, "etcd-dr restore plan, run %s\n", p->run_id);
  fprintf(out, "  cluster spec:      %s (%zu members)\n", p->spec->source, p->n_hosts);
  if (p->spec->ssh_config)
    fprintf(out, "  ssh_config:        %s\n", p->spec->ssh_config);
  if (p->snapshot_host >= 0)
    fprintf(out, "  snapshot:          %s on %s (%s; checked there before anything is "
            "sent)\n", p->snapshot_remote, p->hosts[p->snapshot_host].member->name,
            p->from_member ? "the member's own db: no integrity trailer"
                           : "its integrity trailer verified by that host's agent");
  else if (*p->snapshot)
    fprintf(out, "  snapshot:          %s (%s, sha-256 %s, %s)\n", p->snapshot, human,
            p->snapshot_sha256,
            p->snapshot_has_hash ? "integrity trailer present" : "no integrity trailer");
  else
    fprintf(out, "  snapshot:          (given to restore with --snapshot)\n");
  if (*p->snapshot && !p->check_only)
    print_compress(p, out);
  if (p->snapshot_revision >= 0)
    fprintf(out, "  snapshot revision: %lld\n", (long long)p->snapshot_revision);
  fprintf(out, "  initial cluster:   %s\n", p->initial_cluster);
  fprintf(out, "  cluster token:     %s\n", p->token);
  print_leader_lookup(p, out);
  edr_plan_route_print(p, out);
  for (size_t i = 0; i < p->spec->warnings.n; i++)
    fprintf(out, "  warning: %s\n", p->spec->warnings.v[i]);
  for (size_t i = 0; i < p->n_hosts; i++) {
    const struct edr_host_plan *h = &p->hosts[i];
    edr_plan_print_member(h->member, out);
    int phase = -1;
    for (size_t j = 0; j < h->n_steps; j++) {
      const struct edr_step *s = &h->steps[j];
      const struct edr_step_kind_info *k = &edr_step_kinds[s->kind];
      if ((int)k->phase == EDR_PHASE_CLEANUP ||
          (s->stage < p->n_stages && p->stages[s->stage].phase == EDR_PHASE_CLEANUP))
        continue; /* printed once for the cluster, below */
      if ((int)k->phase != phase) {
        phase = (int)k->phase;
        fprintf(out, "  %s:\n", phase_heading[phase]);
      }
      fprintf(out, "    %2zu. %-14s %s\n", j + 1, k->name, s->title);
      if (s->argv)
        print_command(out, s->argv);
    }
  }
  fprintf(out, "\nthen, for the whole cluster:\n");
  fprintf(out, "  verify:   wait up to %llus until all %zu members are healthy, form one "
               "cluster of exactly the members above, and serve revision >= %lld\n",
          (unsigned long long)(p->health_timeout_ms / 1000), p->n_hosts,
          (long long)(p->snapshot_revision > 0 ? p->snapshot_revision : 1));
  print_health_routes(p, NULL, p->n_hosts, "            ", out);
  bool kubeadm = false;
  for (size_t i = 0; i < p->n_hosts; i++)
    kubeadm |= edr_member_kubeadm(p->hosts[i].member);
  if (kubeadm)
    fprintf(out, "  kube-apiserver: on every kubeadm host, move its manifest back into the "
                 "manifests dir (kubelet starts it again)\n");
  fprintf(out, "  cleanup:  on every host, remove the staging directory "
               "DATA_DIR/.etcd-dr-%s (the snapshot copy)\n", p->run_id);
  fprintf(out, "\nNothing is deleted: each old member dir is kept as "
               "DATA_DIR/member.etcd-dr-%s.\n", p->run_id);
}

/* A step's request as the plan's JSON shows it (the report keeps it): the
 * values of an exec step's env and of set-env's settings may be secrets
 * (docs/report.md), so only their names are kept.  New reference. */
static json_t *public_request(const json_t *req) {
  json_t *r = json_deep_copy(req);
  static const char *const secret[] = {"env", "set"};
  for (size_t i = 0; r && i < sizeof secret / sizeof *secret; i++) {
    json_t *o = json_object_get(r, secret[i]);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
      json_object_set_new(o, k, json_string("(redacted)"));
  }
  return r;
}

json_t *edr_plan_to_json(const struct edr_plan *p) {
  json_t *hosts = json_array();
  for (size_t i = 0; hosts && i < p->n_hosts; i++) {
    const struct edr_host_plan *h = &p->hosts[i];
    const struct edr_member *m = h->member;
    json_t *steps = json_array();
    for (size_t j = 0; steps && j < h->n_steps; j++) {
      const struct edr_step *s = &h->steps[j];
      const struct edr_step_kind_info *k = &edr_step_kinds[s->kind];
      json_t *js = json_pack("{s:i, s:s, s:s, s:b, s:s, s:s?, s:o?, s:I, s:I}", "index",
                             (int)j + 1, "kind", k->name, "phase",
                             edr_phase_names[k->phase], "destructive", k->destructive,
                             "title", s->title, "command", s->command, "request",
                             s->request ? public_request(s->request) : NULL, "timeout_ms", (json_int_t)s->timeout_ms, "stage",
                             (json_int_t)s->stage + 1);
      if (js && (s->retries || s->continue_on_failure)) {
        json_object_set_new(js, "retries", json_integer(s->retries));
        json_object_set_new(js, "retry_delay_ms", json_integer((json_int_t)s->retry_delay_ms));
        json_object_set_new(js, "on_failure",
                            json_string(s->continue_on_failure ? "continue" : "stop"));
      }
      if (js && s->allow_empty_start)
        json_object_set_new(js, "empty_data_dir", json_string("join"));
      json_array_append_new(steps, js);
    }
    json_t *jh = json_pack(
        "{s:s, s:{s:s, s:i, s:s, s:b, s:s, s:s?}, s:s, s:s?, s:s, s:s, s:s?, s:o}",
        "member", m->name, "ssh", "host", m->ssh_host, "port", m->ssh_port, "user",
        m->ssh_user, "sudo", m->sudo, "known_hosts", m->known_hosts, "identity_file",
        m->identity_file, "data_dir", m->data_dir, "wal_dir", m->wal_dir, "staging",
        h->staging, "member_aside", h->member_aside, "wal_aside", h->wal_aside, "steps",
        steps);
    if (h->optional) { /* only when set: other plans read as before */
      json_object_set_new(jh, "optional", json_true());
      json_object_set_new(jh, "optional_why", json_string(edr_plan_optional_why));
    }
    json_t *jssh = json_object_get(jh, "ssh");
    if (m->proxy_jump) /* only when set: plans without a proxy read as before */
      json_object_set_new(jssh, "proxy_jump", json_string(m->proxy_jump));
    if (m->proxy_command)
      json_object_set_new(jssh, "proxy_command", json_string(m->proxy_command));
    if (m->ssh_alias)
      json_object_set_new(jssh, "alias", json_string(m->ssh_alias));
    if (m->identities_only)
      json_object_set_new(jssh, "identities_only", json_true());
    json_object_set_new(
        jssh, "from",
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "host",
                  m->ssh_alias ? "ssh_config"
                  : m->from.host == EDR_FROM_DEFAULT ? "peer URL" : edr_origin_name(m->from.host),
                  "port", edr_origin_name(m->from.port), "user", edr_origin_name(m->from.user),
                  "identity_file", edr_origin_name(m->from.identity), "known_hosts",
                  edr_origin_name(m->from.known_hosts)));
    if (m->proxy_jump || m->proxy_command)
      json_object_set_new(json_object_get(jssh, "from"), "proxy",
                          json_string(edr_origin_name(m->from.proxy)));
    if (p->health_routes) {
      char how[400];
      edr_health_route_say(p, i, how, sizeof how);
      json_object_set_new(jh, "health_via",
                          json_pack("{s:s, s:b, s:s}", "via",
                                    p->health_routes[i].via_host ? "host" : "here", "look",
                                    p->health_routes[i].look, "says", how));
    }
    json_array_append_new(hosts, jh);
  }
  json_t *warn = json_array();
  for (size_t i = 0; warn && i < p->spec->warnings.n; i++)
    json_array_append_new(warn, json_string(p->spec->warnings.v[i]));
  json_t *stages = json_array();
  for (size_t k = 0; stages && k < p->n_stages; k++) {
    const struct edr_stage *st = &p->stages[k];
    json_t *js = json_pack("{s:I, s:s, s:s?, s:s}", "index", (json_int_t)k + 1, "name",
                           st->name, "title", st->title, "phase", edr_phase_names[st->phase]);
    if (!js)
      continue;
    if (st->gate != EDR_GATE_NONE) {
      json_t *mem = json_array();
      for (size_t i = 0; mem && i < st->n_members; i++)
        json_array_append_new(mem, json_string(p->hosts[st->members[i]].member->name));
      json_object_set_new(js, "gate", json_string(edr_gate_names[st->gate]));
      json_object_set_new(js, "members", mem);
      if (st->gate == EDR_GATE_WAIT_HEALTHY)
        json_object_set_new(js, "min_revision",
                            st->min_revision == -1 ? json_string("current")
                            : st->min_revision == -2 ? json_string("snapshot")
                                                      : json_integer(st->min_revision));
      if (st->timeout_ms)
        json_object_set_new(js, "timeout_ms", json_integer((json_int_t)st->timeout_ms));
      if (st->dir)
        json_object_set_new(js, "dir", json_string(st->dir));
      if (st->output)
        json_object_set_new(js, "output", json_string(st->output));
      if (st->keep)
        json_object_set_new(js, "keep", json_integer(st->keep));
      if (st->message)
        json_object_set_new(js, "message", json_string(st->message));
      if (st->pause_ms)
        json_object_set_new(js, "pause_ms", json_integer((json_int_t)st->pause_ms));
      if (st->retries || st->continue_on_failure) {
        json_object_set_new(js, "retries", json_integer(st->retries));
        json_object_set_new(js, "on_failure",
                            json_string(st->continue_on_failure ? "continue" : "stop"));
      }
    }
    json_array_append_new(stages, js);
  }
  json_t *plan_json = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:I, s:s, s:b, s:b, s:I}, s:I, "
                   "s:o, s:o}",
                   "run_id", p->run_id, "spec", p->spec->source, "initial_cluster",
                   p->initial_cluster, "initial_cluster_token", p->token, "snapshot",
                   "path", p->snapshot, "size", (json_int_t)p->snapshot_size, "sha256",
                   p->snapshot_sha256, "has_hash", p->snapshot_has_hash,
                   "skip_hash_check", p->skip_hash_check, "revision",
                   (json_int_t)p->snapshot_revision, "health_timeout_ms",
                   (json_int_t)p->health_timeout_ms, "warnings", warn, "hosts", hosts);
  if (plan_json && *p->snapshot && !p->check_only) {
    json_t *cj = json_pack("{s:s}", "mode", edr_compress_names[p->compress]);
    if (cj && p->compress_sample.sampled) {
      json_object_set_new(cj, "sampled_bytes", json_integer((json_int_t)p->compress_sample.sampled));
      json_object_set_new(cj, "sample_ratio", json_real(p->compress_sample.ratio));
    }
    json_object_set_new(plan_json, "compression", cj);
  }
  if (plan_json) {
    json_object_set_new(plan_json, "stages", stages);
    if (p->kind == EDR_PLAN_RESTORE) {
      json_t *route = json_array();
      for (size_t i = 0; route && i < p->n_hosts; i++) {
        const struct edr_host_plan *h = &p->hosts[i];
        json_array_append_new(route, json_pack(
            "{s:s, s:s?, s:s?}", "member", h->member->name, "from",
            h->relay_prev >= 0 ? p->hosts[h->relay_prev].member->name : NULL, "to",
            h->relay_next >= 0 ? p->hosts[h->relay_next].member->name : NULL));
      }
      json_object_set_new(plan_json, "transfer", json_pack(
          "{s:s, s:b, s:i, s:s?, s:s?, s:b, s:o}", "mode", edr_transfer_names[p->transfer],
          "relay", p->relay, "port", p->relay_port, "snapshot_host",
          p->snapshot_host >= 0 ? p->hosts[p->snapshot_host].member->name : NULL,
          "snapshot_path", p->snapshot_remote, "from_member", p->from_member, "route", route));
    }
    if (p->playbook)
      json_object_set_new(plan_json, "playbook", json_string(p->playbook));
  } else {
    json_decref(stages);
  }
  return plan_json;
}
