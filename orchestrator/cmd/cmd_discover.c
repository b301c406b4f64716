/*
 * cmd_discover.c - `etcd-dr discover HOST`, and the `--discover HOST`
 * that status, plan and restore take in place of a cluster file.  One
 * host is reached over SSH (a one-host executor run of the discover plan:
 * connect, push the agent, the agent's read-only `discover` op); what the
 * agent found becomes a cluster spec (plan/discover_spec.c) with where each
 * value came from.  The spec is then loaded like a cluster file, so the
 * command-line settings override it as they override a file's.
 */
#include "commands.h"
#include "discover.h"
#include "driver.h"
#include "options.h"

#include "cli.h"
#include "discover_spec.h"
#include "err.h"
#include "executor.h"
#include "log.h"
#include "plan.h"
#include "spec.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The one-member spec used to reach HOST: its SSH settings from the
 * command line, nothing else. */
static int reach_spec(const struct edr_discover_req *r, struct edr_spec **out) {
  struct edr_error err = EDR_ERROR_INIT;
  bool v6 = strchr(r->host, ':') != NULL;
  json_t *doc = json_pack("{s:[{s:s, s:[s++], s:s}]}", "members", "name",
                          edr_valid_name(r->host) ? r->host : "discover", "peer_urls",
                          v6 ? "http://[" : "http://", r->host, v6 ? "]:2380" : ":2380",
                          "ssh_host", r->host);
  char *text = doc ? json_dumps(doc, 0) : NULL;
  json_decref(doc);
  if (!text)
    return EDR_EXIT_INTERNAL;
  struct edr_spec_overrides ov = r->ov ? *r->ov : (struct edr_spec_overrides){.ssh_port = -1,
                                                                               .sudo = -1};
  ov.preset = ov.manifest = NULL; /* HOST is reached over SSH, whatever runs etcd there */
  int rc = edr_spec_from_json(NULL, text, &ov, out, &err);
  free(text);
  if (rc) {
    edr_err("discover: %s", edr_error_text(&err));
    edr_error_release(&err);
    return EDR_EXIT_USAGE;
  }
  return 0;
}

/* The manifest to read on the host: --manifest, else NULL (the agent's
 * default, kubeadm's path). */
static const char *want_manifest(const struct edr_discover_req *r) {
  return r->ov ? r->ov->manifest : NULL;
}

/* --preset kubeadm or --manifest given, but etcd on the host is started
 * some other way: refused before anything is done, saying what was found
 * there. */
static int preset_found(const struct edr_discover_req *r, const struct edr_discover_in *in,
                        json_t *spec, json_t *from) {
  const char *preset = r->ov ? r->ov->preset : NULL, *manifest = want_manifest(r);
  if ((!preset && !manifest) || in->own_commands || json_object_get(spec, "preset"))
    return 0;
  const char *how = edr_discover_from(from, "stop_command");
  char *given = preset ? edr_asprintf("--preset %s", preset)
                       : edr_asprintf("--manifest %s", manifest);
  edr_err("discover: %s: %s, but etcd there is not a kubeadm static pod: no manifest "
          "at %s, and %s; leave out %s, or name the manifest with --manifest FILE", r->host,
          given ? given : "--preset", manifest ? manifest : "/etc/kubernetes/manifests/etcd.yaml",
          how ? how : "no unit, env file or container was found either",
          preset ? "--preset" : "--manifest");
  free(given);
  return EDR_EXIT_PREFLIGHT;
}

int edr_discover(const struct edr_discover_req *r, json_t **spec, json_t **from) {
  struct edr_spec *one = NULL;
  struct edr_plan *plan = NULL;
  int rc;
  *spec = *from = NULL;
  if (!edr_valid_host(r->host)) {
    edr_err("discover: '%s' is not a host name or address", r->host);
    return EDR_EXIT_USAGE;
  }
  if ((rc = reach_spec(r, &one)))
    return rc;
  if ((rc = edr_check_local_files(one, r->accept_new_hostkeys))) {
    edr_spec_free(one);
    return rc;
  }
  /* where a run of etcd-dr parks the manifest while etcd is stopped: read
   * there when the manifest is not in its place */
  const char *manifest = want_manifest(r);
  struct edr_member pm = {.manifest = (char *)(manifest ? manifest
                                                        : "/etc/kubernetes/manifests/etcd.yaml")};
  char *parked = edr_member_parked_manifest(&pm);
  json_t *req = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "unit", r->unit,
                          "manifest", manifest, "manifest_parked", parked, "env_file",
                          r->env_file, "config_file", r->config_file, "container", r->container,
                          "data_dir", r->data_dir);
  free(parked);
  struct edr_plan_opts po = {.kind = EDR_PLAN_DISCOVER, .command = "discover",
                             .snapshot_revision = -1, .discover = req};
  struct edr_error perr = EDR_ERROR_INIT;
  rc = edr_plan_build(one, &po, &plan, &perr);
  json_decref(req);
  if (rc) {
    edr_err("%s", edr_error_text(&perr));
    edr_error_release(&perr);
    edr_spec_free(one);
    return EDR_EXIT_INTERNAL;
  }
  struct edr_exec_opts eo = {.accept_new_hostkeys = r->accept_new_hostkeys,
                             .stall_timeout_ms = 60000,
                             .quiet = edr_verbosity < 1};
  struct edr_run_result res;
  int code = edr_execute(plan, &eo, &res);
  const struct edr_host_result *hr = res.n_hosts == 1 ? &res.hosts[0] : NULL;
  json_t *facts = NULL;
  for (size_t k = 0; hr && k < plan->hosts[0].n_steps && k < hr->n_steps; k++)
    if (plan->hosts[0].steps[k].kind == EDR_STEP_DISCOVER)
      facts = hr->steps[k].result;
  if (code != 0 || !facts) {
    edr_err("discover: %s: %s", r->host,
            hr && hr->message ? hr->message : res.message ? res.message : "no answer");
    rc = code == EDR_EXIT_INTERRUPTED ? code : EDR_EXIT_PREFLIGHT;
  } else {
    if (edr_verbosity >= 2) {
      char *dump = json_dumps(facts, JSON_INDENT(2) | JSON_SORT_KEYS);
      fprintf(stderr, "%s\n", dump ? dump : "");
      free(dump);
    }
    struct edr_discover_in in = {.host = r->host, .member_hosts = r->member_hosts,
                                 .n_member_hosts = r->n_member_hosts, .ssh_port = -1,
                                 .sudo = -1,
                                 .own_commands = r->ov && (r->ov->stop_command ||
                                                           r->ov->start_command)};
    if (r->ov && r->spec_file_out) {
      in.ssh_user = r->ov->ssh_user;
      in.identity_file = r->ov->identity_file;
      in.known_hosts = r->ov->known_hosts;
      in.proxy_jump = r->ov->proxy_jump;
      in.ssh_port = r->ov->ssh_port;
      in.sudo = r->ov->sudo;
    }
    struct edr_error err = EDR_ERROR_INIT;
    if (edr_discover_spec(facts, &in, spec, from, &err)) {
      edr_err("discover: %s: %s", r->host, edr_error_text(&err));
      edr_error_release(&err);
      rc = EDR_EXIT_PREFLIGHT;
    } else if ((rc = preset_found(r, &in, *spec, *from))) {
      json_decref(*spec);
      json_decref(*from);
      *spec = *from = NULL;
    }
  }
  edr_run_result_release(&res);
  edr_plan_free(plan);
  edr_spec_free(one);
  return rc;
}

/* The settings given on the command line win, as they would over a file:
 * into SPEC, and FROM says so in place of what was read on the host (a
 * value the host already gave keeps the host's origin). */
static void take_overrides(const struct edr_spec_overrides *ov, json_t *spec, json_t *from) {
  if (!ov)
    return;
  const struct { const char *key, *val; } set[] = {
    {"data_dir", ov->data_dir}, {"wal_dir", ov->wal_dir},
    {"data_dir_owner", ov->data_dir_owner}, {"data_dir_mode", ov->data_dir_mode},
    {"restore_tool", ov->restore_tool}, {"initial_cluster_token", ov->token},
    {"stop_command", ov->stop_command}, {"start_command", ov->start_command},
    {"proxy_command", ov->proxy_command}, {"preset", ov->preset},
    {"manifest", ov->manifest},
  };
  for (size_t i = 0; i < sizeof set / sizeof *set; i++) {
    const char *had = json_string_value(json_object_get(spec, set[i].key));
    if (!set[i].val || (had && !strcmp(had, set[i].val)))
      continue; /* the host's origin stays when the command line agrees */
    if (!strcmp(set[i].key, "manifest") && !json_object_get(spec, "preset"))
      continue; /* read there, but etcd is not started from it (own commands) */
    for (size_t k = json_array_size(from); k-- > 0;)
      if (!strcmp(json_string_value(json_object_get(json_array_get(from, k), "field")),
                  set[i].key))
        json_array_remove(from, k);
    json_object_set_new(spec, set[i].key, json_string(set[i].val));
    json_array_append_new(from, json_pack("{s:s, s:s, s:s}", "field", set[i].key, "value",
                                          set[i].val, "from", "the command line"));
  }
}

static void print_warnings(json_t *from) {
  size_t i;
  json_t *e;
  json_array_foreach(from, i, e) if (!strcmp(json_string_value(json_object_get(e, "field")),
                                             "warning"))
      edr_warn("%s", json_string_value(json_object_get(e, "from")));
}

int edr_discover_load(const struct edr_discover_req *r, struct edr_spec **out) {
  json_t *spec, *from;
  struct edr_error err = EDR_ERROR_INIT;
  int rc = edr_discover(r, &spec, &from);
  *out = NULL;
  if (rc)
    return rc;
  take_overrides(r->ov, spec, from);
  print_warnings(from);
  if (r->show_from) {
    fprintf(r->show_from, "the spec read off %s (--discover), each value and where it came "
                          "from:\n", r->host);
    edr_discover_print_from(from, r->show_from);
    fputc('\n', r->show_from);
    fflush(r->show_from); /* before anything said on stderr after it */
  } else if (edr_verbosity >= 1) {
    edr_discover_print_from(from, stderr);
  }
  /* --manifest said where to read; without the preset etcd is not started
   * from it (own commands), and the spec has no manifest to override */
  struct edr_spec_overrides ov;
  if (r->ov) {
    ov = *r->ov;
    if (!json_object_get(spec, "preset"))
      ov.manifest = NULL;
  }
  char *text = json_dumps(spec, 0);
  rc = text ? edr_spec_from_json(NULL, text, r->ov ? &ov : NULL, out, &err) : EDR_ENOMEM;
  if (rc) {
    edr_err("discover: the spec made from %s is not valid: %s", r->host,
            text ? edr_error_text(&err) : edr_strerror(rc));
    edr_error_release(&err);
  } else {
    char *source = edr_asprintf("the spec read off %s (--discover)", r->host);
    if (source) {
      free((*out)->source);
      (*out)->source = source;
    }
  }
  free(text);
  json_decref(spec);
  json_decref(from);
  return rc ? EDR_EXIT_USAGE : 0;
}

static const struct edr_usage usage = {
  .head =
    "usage: etcd-dr discover HOST [-w json|yaml|table] [OPTIONS]\n"
    "\n"
    "Reach HOST, one member's host, over SSH and read how etcd is started there\n"
    "(a kubeadm manifest, a systemd unit and its EnvironmentFile, /etc/default/etcd,\n"
    "etcd's config file, a docker or podman container) and the members in that\n"
    "member's own db (it works while the cluster is down).  Prints a cluster spec\n"
    "(docs/spec.md) on stdout and, on stderr, where each value came from.\n"
    "Changes nothing on the host.  The settings below go into the printed spec\n"
    "(--data-dir also says where the db is read).\n"
    "\n",
  .foot =
    "Exit status: 0 the spec printed; 1 internal error; 2 bad arguments; 4 the host\n"
    "could not be read or a member's host cannot be told from its peer URL (give\n"
    "--member-host).  See docs/exit-codes.md.\n",
};

int cmd_discover(int argc, char **argv) {
  struct edr_args a;
  int rc;
  edr_args_init(&a, EDR_CMD_DISCOVER);
  a.write_out = EDR_OUT_JSON;
  if ((rc = edr_args_parse(&a, argc, argv, 1, &usage)))
    return rc < 0 ? 0 : rc;
  if ((rc = edr_args_write_out(&a, EDR_OUT_JSON | EDR_OUT_YAML | EDR_OUT_TABLE)))
    return rc;
  if (optind >= argc) {
    edr_err("discover: name one member's host: etcd-dr discover HOST");
    return EDR_EXIT_USAGE;
  }
  if (optind + 1 < argc) {
    edr_err("unexpected argument '%s'", argv[optind + 1]);
    return EDR_EXIT_USAGE;
  }
  const struct edr_cli_spec *cs = &a.cs;
  struct edr_discover_req r = a.discover;
  r.host = argv[optind];
  r.accept_new_hostkeys = a.eo.accept_new_hostkeys;
  r.data_dir = cs->ov.data_dir;
  r.ov = &cs->ov;
  r.member_hosts = cs->member_hosts;
  r.n_member_hosts = cs->n_member_hosts;
  r.spec_file_out = true;
  json_t *spec, *from;
  if ((rc = edr_discover(&r, &spec, &from)))
    return rc;
  take_overrides(&cs->ov, spec, from);
  /* what was made must load as a cluster file does */
  struct edr_error err = EDR_ERROR_INIT;
  struct edr_spec *check = NULL;
  char *text = json_dumps(spec, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (!text || edr_spec_from_json(NULL, text, NULL, &check, &err)) {
    edr_err("discover: the spec made from %s is not valid: %s", r.host,
            text ? edr_error_text(&err) : "out of memory");
    edr_error_release(&err);
    rc = EDR_EXIT_INTERNAL;
  } else if (a.write_out == EDR_OUT_YAML) {
    edr_discover_print_yaml(spec, from, stdout);
    print_warnings(from);
  } else if (a.write_out == EDR_OUT_TABLE) {
    edr_discover_print_from(from, stdout);
  } else {
    printf("%s\n", text);
    print_warnings(from);
    if (edr_verbosity >= 0)
      edr_discover_print_from(from, stderr);
  }
  edr_spec_free(check);
  free(text);
  json_decref(spec);
  json_decref(from);
  return rc;
}
