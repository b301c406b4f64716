/*
 * fuzz_playbook.c - libFuzzer target for playbooks: whatever the bytes,
 * loading against a fixed valid spec ends in 0 or a negative EDR_E* code
 * with a message; a playbook that loads compiles (with and without a
 * snapshot) into a plan whose every step names a stage that exists, in
 * order, or fails with a message; printing the plan and turning it into
 * JSON never crash.  No sanitizer report, no leak.
 *
 * Input: the playbook's JSON, optionally followed by a line "#vars" and
 * then one NAME=VALUE per line, given as --var (so seeds can set a
 * playbook's required variables).
 */
#include "err.h"
#include "plan.h"
#include "playbook.h"
#include "spec.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cluster[] =
    "{\"ssh_user\": \"ops\", \"env_file\": \"/etc/default/etcd\", \"members\": ["
    " {\"name\": \"m1\", \"peer_urls\": [\"http://10.0.0.1:2380\"]},"
    " {\"name\": \"m2\", \"peer_urls\": [\"http://10.0.0.2:2380\", \"http://10.1.0.2:2380\"]},"
    " {\"name\": \"m3\", \"peer_urls\": [\"https://10.0.0.3:2380\"], \"wal_dir\": \"/wal/etcd\","
    "  \"data_dir\": \"/data/etcd\", \"restore_tool_push\": \"/opt/etcdutl\"}]}";

static struct edr_spec *spec;
static FILE *devnull;
static bool verbose;   /* EDR_FUZZ_VERBOSE=1: say why an input was refused */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  struct edr_error err = EDR_ERROR_INIT;
  setenv("HOME", "/home/fuzz", 1);
  if (edr_spec_from_json(NULL, cluster, NULL, &spec, &err) != 0) {
    fprintf(stderr, "fuzz_playbook: the fixed spec: %s\n", edr_error_text(&err));
    abort();
  }
  if (!(devnull = fopen("/dev/null", "w")))
    abort();
  verbose = getenv("EDR_FUZZ_VERBOSE") != NULL;
  return 0;
}

/* What the executor relies on in any compiled plan. */
static void check_plan(const struct edr_plan *p) {
  if (p->n_stages < 2 || strcmp(p->stages[0].name, "check") ||
      strcmp(p->stages[p->n_stages - 1].name, "cleanup") || p->n_hosts != spec->n_members)
    abort();
  for (size_t k = 0; k < p->n_stages; k++) {
    const struct edr_stage *st = &p->stages[k];
    if ((unsigned)st->gate >= EDR_GATE__COUNT || (unsigned)st->phase >= EDR_PHASE__COUNT)
      abort();
    for (size_t i = 0; i < st->n_members; i++)
      if (st->members[i] >= p->n_hosts)
        abort();
  }
  for (size_t i = 0; i < p->n_hosts; i++) {
    const struct edr_host_plan *h = &p->hosts[i];
    size_t holds = 0;
    for (size_t j = 0; j < h->n_steps; j++) {
      const struct edr_step *s = &h->steps[j];
      if ((unsigned)s->kind >= EDR_STEP__COUNT || s->stage >= p->n_stages ||
          (j && h->steps[j - 1].stage > s->stage))
        abort();
      holds += s->kind == EDR_STEP_HOLD_LOCK;
    }
    if (holds > 1 || (h->n_steps && h->steps[h->n_steps - 1].kind != EDR_STEP_UNLOCK))
      abort();
  }
}

static void compile(const struct edr_playbook *pb, const struct edr_plan_opts *o) {
  struct edr_plan *p = NULL;
  struct edr_error err = EDR_ERROR_INIT;
  int rc = edr_playbook_compile(pb, o, &p, &err);
  if (rc) {
    if (rc > 0 || p != NULL || !*edr_error_text(&err))
      abort();
    if (verbose)
      fprintf(stderr, "compile%s: %s\n", o->snapshot ? "" : " (no snapshot)",
              edr_error_text(&err));
    edr_error_release(&err);
    return;
  }
  edr_error_release(&err);
  if (verbose)
    fprintf(stderr, "compiled%s: %zu stages\n", o->snapshot ? "" : " (no snapshot)",
            p->n_stages);
  if (!p)
    abort();
  check_plan(p);
  edr_plan_print(p, devnull);
  json_decref(edr_plan_to_json(p));
  edr_plan_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    abort();
  memcpy(text, data, size);
  text[size] = '\0';
  const char *vars[8];
  size_t nv = 0;
  char *sep = strstr(text, "\n#vars\n");
  if (sep) {
    *sep = '\0';
    char *save = NULL;
    for (char *l = strtok_r(sep + 7, "\n", &save); l && nv < 8; l = strtok_r(NULL, "\n", &save))
      vars[nv++] = l;
  }
  struct edr_playbook *pb = NULL;
  struct edr_error err = EDR_ERROR_INIT;
  int rc = edr_playbook_load("fuzz.json", text, spec, vars, nv, &pb, &err);
  if (rc) {
    if (rc > 0 || pb != NULL || !*edr_error_text(&err))
      abort(); /* a failure says why and returns nothing */
    if (verbose)
      fprintf(stderr, "load: %s\n", edr_error_text(&err));
    edr_error_release(&err);
  } else {
    if (!pb)
      abort();
    (void)edr_playbook_name(pb);
    (void)edr_playbook_needs_snapshot(pb);
    static const struct edr_plan_opts with_snapshot = {
        .run_id = "20260101-000000-fuzz", .snapshot = "/tmp/snap.db",
        .snapshot_size = 123456, .snapshot_sha256 = "ab", .snapshot_has_hash = true,
        .snapshot_revision = 42, .health_timeout_ms = 60000, .tool_sha256 = "cd",
        .tool_size = 10};
    static const struct edr_plan_opts without = {.run_id = "20260101-000000-fuzz",
                                                 .snapshot_revision = -1};
    compile(pb, &with_snapshot);
    compile(pb, &without);
    edr_playbook_free(pb);
  }
  free(text);
  return 0;
}
