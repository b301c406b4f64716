/*
 * t_engine.h - what the engine tests share (test_engine.c,
 * test_engine_gates.c): a temporary directory with a snapshot, a restore
 * tool and an agent file, the three-member spec, plans built from it as the
 * commands build them (build, build_ask, with_restore) or from a playbook
 * (build_playbook), and run(), which runs a plan against the fake hosts and
 * gates (fake_agent.h) and checks what must hold for every run: the
 * connection's contract kept, the stage barrier, every host closed once.
 *
 * Ownership: the spec, the files and the last loaded playbook are this
 * header's (t_engine_setup() makes them, t_engine_teardown() removes them);
 * plans are the caller's, and t_engine_teardown() frees the restore and
 * rollback plans t_engine_setup() built.
 */
#ifndef EDR_T_ENGINE_H
#define EDR_T_ENGINE_H

#include "executor.h"
#include "fake_agent.h"
#include "gate.h"
#include "log.h"
#include "plan.h"
#include "playbook.h"
#include "spec.h"
#include "t.h"
#include "t_plan.h"

#include "err.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN_ID "20260101-000000-abcd"

static char dir[] = "/tmp/edr-engine-XXXXXX";
static char snap_path[256], tool_path[256], agent_path[256];
static struct edr_spec *spec;
static char err[1024];

/* ---- fixtures ------------------------------------------------------------ */

static inline int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fputs(text, f);
  return fclose(f);
}

/* Three members; m3 has a wal dir and a pushed restore tool, so that every
 * step kind of a restore appears in one plan. */
static inline int make_spec(void) {
  char text[2048];
  snprintf(text, sizeof text,
           "{\"cluster_name\": \"t\", \"ssh_user\": \"ops\", \"sudo\": true,"
           " \"data_dir\": \"/var/lib/etcd\", \"data_dir_owner\": \"etcd:etcd\","
           " \"stop_command\": [\"stop-etcd\"], \"start_command\": [\"start-etcd\"],"
           " \"env_file\": \"/etc/default/etcd\","
           " \"members\": ["
           "  {\"name\": \"m1\", \"peer_urls\": [\"http://10.0.0.1:2380\"],"
           "   \"client_urls\": [\"http://10.0.0.1:2379\"]},"
           "  {\"name\": \"m2\", \"peer_urls\": [\"http://10.0.0.2:2380\"],"
           "   \"client_urls\": [\"http://10.0.0.2:2379\"]},"
           "  {\"name\": \"m3\", \"peer_urls\": [\"http://10.0.0.3:2380\"],"
           "   \"client_urls\": [\"http://10.0.0.3:2379\"],"
           "   \"data_dir\": \"/data/etcd\", \"wal_dir\": \"/wal/etcd\","
           "   \"restore_tool_push\": \"%s\"}]}",
           tool_path);
  int rc = t_spec_from_json(NULL, text, NULL, &spec, err, sizeof err);
  if (rc)
    fprintf(stderr, "spec: %s\n", err);
  return rc;
}

static enum edr_transfer build_transfer = EDR_TRANSFER_DIRECT; /* the relay's tests change it */
static const char *build_on_host;  /* the snapshot on m1's host at this path */

/* KIND's plan; ASK_ETCD: a check plan that also asks each member (status). */
static inline struct edr_plan *build_ask(enum edr_plan_kind kind, bool ask_etcd) {
  struct edr_plan_opts o = {.kind = kind, .ask_etcd = ask_etcd, .snapshot = snap_path,
                            .snapshot_size = 5, .snapshot_sha256 = "ab", .snapshot_has_hash = true,
                            .snapshot_revision = 42, .run_id = RUN_ID,
                            .transfer = build_transfer,
                            .snapshot_member = build_on_host ? "m1" : NULL,
                            .snapshot_remote = build_on_host,
                            .tool_sha256 = "cd", .tool_size = 5,
                            .command = kind == EDR_PLAN_ROLLBACK   ? "rollback"
                                       : kind == EDR_PLAN_SNAPSHOT ? "snapshot save"
                                                                   : "restore"};
  struct edr_plan *p = NULL;
  if (t_plan_build(spec, &o, &p, err, sizeof err)) {
    fprintf(stderr, "plan: %s\n", err);
    return NULL;
  }
  return p;
}

static inline struct edr_plan *build(enum edr_plan_kind kind) {
  return build_ask(kind, false);
}

/* TEST on a restore plan with TRANSFER, the snapshot on m1's host at
 * ON_HOST (or NULL: here). */
static inline void with_restore(enum edr_transfer transfer, const char *on_host,
                                void (*test)(const struct edr_plan *p)) {
  build_transfer = transfer;
  build_on_host = on_host;
  struct edr_plan *p = build(EDR_PLAN_RESTORE);
  build_transfer = EDR_TRANSFER_DIRECT;
  build_on_host = NULL;
  CHECK(p != NULL);
  if (p)
    test(p);
  edr_plan_free(p);
}

static struct edr_playbook *loaded_pb;  /* a compiled plan borrows it */

static inline struct edr_plan *build_playbook(const char *text, const char *var) {
  struct edr_playbook *pb = NULL;
  const char *vars[1] = {var};
  if (t_playbook_load("test.json", text, spec, vars, var ? 1 : 0, &pb, err, sizeof err)) {
    fprintf(stderr, "playbook: %s\n", err);
    return NULL;
  }
  struct edr_plan_opts o = {.kind = EDR_PLAN_RUN, .snapshot = snap_path, .snapshot_size = 5,
                            .snapshot_sha256 = "ab", .snapshot_revision = 42,
                            .run_id = RUN_ID, .command = "run"};
  struct edr_plan *p = NULL;
  if (t_playbook_compile(pb, &o, &p, err, sizeof err)) {
    fprintf(stderr, "playbook: %s\n", err);
    edr_playbook_free(pb);
    return NULL;
  }
  edr_playbook_free(loaded_pb);
  loaded_pb = pb;
  return p;
}

static inline size_t host_of(const struct edr_plan *p, const char *name) {
  for (size_t i = 0; i < p->n_hosts; i++)
    if (!strcmp(p->hosts[i].member->name, name))
      return i;
  return (size_t)-1;
}

static inline long step_index(const struct edr_plan *p, size_t host, enum edr_step_kind kind) {
  for (size_t j = 0; j < p->hosts[host].n_steps; j++)
    if (p->hosts[host].steps[j].kind == kind)
      return (long)j;
  return -1;
}

/* ---- what holds for every run -------------------------------------------- */

/* No request of stage S while a step of an earlier stage still had to
 * answer; no gate of stage S starts before its steps answered; no request
 * of a later stage before the gate of S passed. */
static inline void check_barrier(void) {
  size_t n = fake_trace_len();
  for (size_t i = 0; i < n; i++) {
    const struct fake_entry *a = fake_trace(i);
    if (a->stage < 0 || (a->ev != FAKE_REQ && a->ev != FAKE_GATE_START))
      continue;
    for (size_t k = i + 1; k < n; k++) {
      const struct fake_entry *b = fake_trace(k);
      bool bad = b->stage >= 0 &&
                 ((a->ev == FAKE_REQ && b->ev == FAKE_REPLY && b->stage < a->stage) ||
                  (a->ev == FAKE_REQ && b->ev == FAKE_GATE_DONE && b->stage < a->stage) ||
                  (a->ev == FAKE_GATE_START && b->ev == FAKE_REPLY && b->stage == a->stage));
      if (bad) {
        fprintf(stderr, "barrier crossed: [%zu] '%s' before [%zu] '%s'\n", i, a->text, k,
                b->text);
        CHECK(!"the stage barrier holds");
      }
    }
  }
}

static unsigned n_runs;

static inline int run(const struct edr_plan *p, struct edr_exec_opts *o,
                      struct edr_run_result *res) {
  n_runs++;
  o->agent_ops = &fake_agent_ops;
  if (!o->gates)
    o->gates = &fake_gates;
  o->agent_path = agent_path;
  o->assume_yes = true;
  int rc = edr_execute(p, o, res);
  CHECK(fake_violations() == 0);
  CHECK(fake_unused_rules() == 0);
  CHECK(rc == res->exit_code);
  check_barrier();
  for (size_t i = 0; i < p->n_hosts; i++) {
    const char *name = p->hosts[i].member->name;
    /* a host lost with the lock held is opened again for the cleanup */
    size_t again = fake_count("%s open again", name);
    if (fake_count("%s close", name) != 1 + again) {
      fprintf(stderr, "%s closed %zu times, opened again %zu times\n", name,
              fake_count("%s close", name), again);
      CHECK(!"every connection is closed once");
    }
  }
  return rc;
}

/* Run P with one scripted rule R. */
static inline int run_rule(const struct edr_plan *p, struct fake_rule r,
                           struct edr_run_result *res) {
  fake_reset(p);
  fake_rule(r);
  struct edr_exec_opts o = {0};
  return run(p, &o, res);
}

/* HOST answered its WHAT request with ok. */
static inline bool replied_ok(const char *host, const char *what) {
  return fake_find("%s < %s ok", host, what) >= 0;
}

static uint64_t t_engine_t0; /* when the runs started */

/* The files, the spec, and the restore and rollback plans most tests run
 * (*RESTORE and *ROLLBACK, the caller's; NULL when not built, which is a
 * failed check).  Returns 0, or non-zero with the reason on stderr. */
static inline int t_engine_setup(struct edr_plan **restore, struct edr_plan **rollback) {
  if (fake_setup(dir))
    return 1;
  snprintf(snap_path, sizeof snap_path, "%s/snap.db", dir);
  snprintf(tool_path, sizeof tool_path, "%s/etcdutl", dir);
  snprintf(agent_path, sizeof agent_path, "%s/etcd-dr-agent", dir);
  if (write_file(snap_path, "snap\n") || write_file(tool_path, "tool\n") ||
      write_file(agent_path, "agent\n") || make_spec())
    return 1;
  t_engine_t0 = edr_now_ms();
  *restore = build(EDR_PLAN_RESTORE);
  *rollback = build(EDR_PLAN_ROLLBACK);
  CHECK(*restore && *rollback);
  return 0;
}

/* Free what t_engine_setup() made, remove the files and print NAME's runs
 * and their time. */
static inline void t_engine_teardown(const char *name, struct edr_plan *restore,
                                     struct edr_plan *rollback) {
  edr_plan_free(restore);
  edr_plan_free(rollback);
  edr_playbook_free(loaded_pb);
  edr_spec_free(spec);
  unlink(snap_path);
  unlink(tool_path);
  unlink(agent_path);
  rmdir(dir);
  printf("%s: %u runs in %llu ms\n", name, n_runs,
         (unsigned long long)(edr_now_ms() - t_engine_t0));
}

#endif
