/*
 * cmd_plan.c - `etcd-dr plan`: build the restore plan and print it, opening
 * no connection.  The same plan is what `etcd-dr restore` executes.
 */
#include "bbolt.h"
#include "cli.h"
#include "driver.h"
#include "executor.h"
#include "util.h"
#include "commands.h"
#include "err.h"
#include "log.h"
#include "options.h"
#include "plan.h"
#include "progress.h"
#include "snapfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct edr_usage usage = {
  .head =
    "usage: etcd-dr plan (--cluster FILE | --initial-cluster SPEC) [OPTIONS]\n"
    "       (--discover HOST in place of --cluster: the spec read off one member's host)\n"
    "\n"
    "Print every action etcd-dr restore would take on every host, in order,\n"
    "with the exact restore command of each member.  Contacts no host (but\n"
    "--discover's).  With --discover, each value of the spec read and where it\n"
    "came from come first.  With -w json, stdout is one document: the plan, and\n"
    "with --check its \"check\" object (events and --discover's table go to stderr).\n"
    "\n",
  .foot =
    "Exit status: 0 printed (with --check: every host ready); 1 internal error;\n"
    "2 bad arguments or spec; 3 the snapshot cannot be read; 4 with --check: a\n"
    "host is not ready; 130 interrupted.  See docs/exit-codes.md.\n",
};

/* The read-only checks of every host: one object per host (member, etcd
 * "running"/"stopped", root, restore_tool, free_bytes, clock_skew_s, ready,
 * message; null where unknown), into *HOSTS (new reference).  Returns the
 * exit status of the check run. */
static int run_checks(const struct edr_plan *plan, bool accept_new, json_t **hosts) {
  struct edr_exec_opts eo = {.accept_new_hostkeys = accept_new, .stall_timeout_ms = 60000};
  struct edr_run_result res;
  time_t t0 = time(NULL);
  int code = edr_execute(plan, &eo, &res);
  if (res.message && code == EDR_EXIT_INTERNAL)
    edr_err("%s", res.message);
  *hosts = json_array();
  for (size_t i = 0; i < res.n_hosts; i++) {
    const struct edr_host_result *hr = &res.hosts[i];
    const struct edr_host_plan *hp = &plan->hosts[i];
    json_t *hello = NULL, *probe = NULL;
    for (size_t j = 0; j < hp->n_steps; j++) {
      if (hp->steps[j].kind == EDR_STEP_PUSH_AGENT)
        hello = hr->steps[j].result;
      if (hp->steps[j].kind == EDR_STEP_PROBE)
        probe = hr->steps[j].result;
    }
    json_t *tool = json_object_get(probe, "tool");
    json_t *h = json_object();
    json_object_set_new(h, "member", json_string(hr->member));
    json_object_set_new(h, "etcd", !probe ? json_null()
                                   : json_string(json_is_true(json_object_get(probe, "etcd_running"))
                                                     ? "running" : "stopped"));
    json_object_set_new(h, "root", !hello ? json_null()
                                   : json_boolean(json_integer_value(json_object_get(hello, "uid")) == 0));
    json_object_set_new(h, "restore_tool",
                        !json_is_object(tool) ? json_null()
                        : json_sprintf("%s %s", json_string_value(json_object_get(tool, "kind")),
                                       json_string_value(json_object_get(tool, "version"))));
    json_t *free_bytes = json_object_get(probe, "free_bytes");
    json_object_set_new(h, "free_bytes", free_bytes ? json_incref(free_bytes) : json_null());
    json_object_set_new(h, "clock_skew_s",
                        !hello ? json_null()
                        : json_integer(json_integer_value(json_object_get(hello, "time")) - t0));
    json_object_set_new(h, "ready", json_boolean(!hr->status));
    json_object_set_new(h, "message", hr->status && hr->message ? json_string(hr->message)
                                                                 : json_null());
    json_array_append_new(*hosts, h);
  }
  edr_run_result_release(&res);
  return code;
}

static void print_checks(const json_t *hosts) {
  printf("\npreflight (read-only):\n  %-10s %-8s %-9s %-16s %-22s %-6s %s\n", "member",
         "etcd", "user", "restore tool", "free disk", "clock", "result");
  size_t i;
  json_t *h;
  json_array_foreach(hosts, i, h) {
    json_t *root = json_object_get(h, "root"), *skew = json_object_get(h, "clock_skew_s");
    json_t *free_bytes = json_object_get(h, "free_bytes");
    const char *etcd = json_string_value(json_object_get(h, "etcd"));
    const char *tool = json_string_value(json_object_get(h, "restore_tool"));
    const char *msg = json_string_value(json_object_get(h, "message"));
    char disk[48] = "-", sk[24] = "-", hb[24];
    if (json_is_integer(free_bytes)) {
      edr_human_bytes((uint64_t)json_integer_value(free_bytes), hb, sizeof hb);
      snprintf(disk, sizeof disk, "%s free", hb);
    }
    if (json_is_integer(skew))
      snprintf(sk, sizeof sk, "%+llds", (long long)json_integer_value(skew));
    bool ready = json_is_true(json_object_get(h, "ready"));
    printf("  %-10s %-8s %-9s %-16s %-22s %-6s %s\n",
           json_string_value(json_object_get(h, "member")), etcd ? etcd : "-",
           json_is_null(root) ? "-" : json_is_true(root) ? "root" : "not root",
           tool ? tool : "-", disk, sk, ready ? "ready" : "NOT READY");
    if (!ready)
      printf("  %-10s   %s\n", "", msg ? msg : "");
  }
}

int cmd_plan(int argc, char **argv) {
  struct edr_args a;
  struct edr_snapfile sf;
  struct edr_spec *spec = NULL;
  struct edr_plan *plan = NULL;
  int rc;

  edr_args_init(&a, EDR_CMD_PLAN);
  if ((rc = edr_args_parse(&a, argc, argv, 1, &usage)))
    return rc < 0 ? 0 : rc;
  if ((rc = edr_args_write_out(&a, EDR_OUT_TABLE | EDR_OUT_JSON)))
    return rc;
  struct edr_plan_opts po = a.po;
  bool check = a.check, accept_new = a.eo.accept_new_hostkeys;
  if (optind < argc) {
    edr_err("unexpected argument '%s'", argv[optind]);
    return EDR_EXIT_USAGE;
  }
  /* a discovered spec is shown with where each value came from */
  a.cs.discover_from = a.write_out == EDR_OUT_JSON ? stderr : stdout;
  if ((rc = edr_cli_load_spec(&a.cs, &spec)))
    return rc;
  bool on_host = false;
  if ((rc = edr_snapshot_on_host(spec, &po, a.from_member, &on_host))) {
    edr_spec_free(spec);
    return rc;
  }
  if (po.snapshot && !on_host) {
    if ((rc = edr_snapfile_check(po.snapshot, &sf))) {
      edr_err("cannot read snapshot '%s': %s", po.snapshot, edr_strerror(rc));
      edr_spec_free(spec);
      return EDR_EXIT_SNAPSHOT;
    }
    po.snapshot_size = sf.size;
    po.snapshot_sha256 = sf.image_sha256;
    po.snapshot_has_hash = sf.has_trailer;
    if (edr_bolt_revision(po.snapshot, &po.snapshot_revision))
      po.snapshot_revision = -1;
    edr_sample_compress(&po);
    if (sf.has_trailer && !sf.trailer_ok)
      edr_warn("snapshot '%s': its sha-256 trailer does not match its contents; "
               "restore will refuse it", po.snapshot);
    else if (!sf.has_trailer && !po.skip_hash_check)
      edr_warn("snapshot '%s' has no sha-256 trailer; restore will need "
               "--skip-hash-check", po.snapshot);
  }
  /* the restore tool a kubeadm member gets from this machine, as restore
   * picks it: the plan shows its push */
  if ((rc = edr_check_tool(spec, &po))) {
    edr_spec_free(spec);
    return rc;
  }
  if ((rc = edr_build_plan(spec, &po, &plan))) {
    edr_spec_free(spec);
    return EDR_EXIT_INTERNAL;
  }
  /* With -w json, stdout is one document: the plan, and with --check
   * its "check" object; the run's events go to stderr. */
  bool json = a.write_out == EDR_OUT_JSON;
  if (!json) {
    edr_plan_print(plan, stdout);
    fflush(stdout);
  }
  int code = 0;
  json_t *hosts = NULL;
  if (check) {
    struct edr_plan *cp = NULL;
    po.check_only = true;
    po.run_id = plan->run_id;
    if ((rc = edr_build_plan(spec, &po, &cp))) {
      code = EDR_EXIT_INTERNAL;
    } else {
      if (json)
        edr_progress_events_to(stderr);
      code = run_checks(cp, accept_new, &hosts);
      edr_progress_events_to(NULL);
      edr_plan_free(cp);
    }
  }
  if (json) {
    json_t *j = edr_plan_to_json(plan);
    if (j && check)
      json_object_set_new(j, "check", json_pack("{s:b, s:i, s:O}", "ready", code == 0,
                                                "exit_code", code,
                                                "hosts", hosts ? hosts : json_null()));
    if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
      code = EDR_EXIT_INTERNAL;
    else
      fputc('\n', stdout);
    json_decref(j);
  } else if (hosts) {
    print_checks(hosts);
  }
  json_decref(hosts);
  edr_plan_free(plan);
  edr_spec_free(spec);
  return fflush(stdout) ? EDR_EXIT_INTERNAL : code;
}
