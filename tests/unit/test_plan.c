/*
 * test_plan.c - plan building (the exact restore command of each member,
 * the order and phases of steps, kube-apiserver parked around a kubeadm
 * rollback) and shell quoting for display.
 */
#include "cli.h"
#include "err.h"
#include "plan.h"
#include "quote.h"
#include "report.h"
#include "spec.h"
#include "t.h"
#include "t_plan.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[1024];

static const char *arg_after(char **argv, const char *flag) {
  for (size_t i = 0; argv && argv[i]; i++)
    if (!strcmp(argv[i], flag))
      return argv[i + 1];
  return NULL;
}

static bool has_arg(char **argv, const char *flag) {
  for (size_t i = 0; argv && argv[i]; i++)
    if (!strcmp(argv[i], flag))
      return true;
  return false;
}

static const struct edr_step *find(const struct edr_host_plan *h, enum edr_step_kind k) {
  for (size_t i = 0; i < h->n_steps; i++)
    if (h->steps[i].kind == k)
      return &h->steps[i];
  return NULL;
}

/* The restore plan of a 3-member spec from etcd's --initial-cluster, run id
 * 20260101-000000-abcd; NULL (and *S freed) if it cannot be built. */
static struct edr_plan *plan3(struct edr_spec **s) {
  struct edr_plan *p = t_plan3(s, false, false, err, sizeof err);
  CHECK(p != NULL);
  return p;
}

static void test_restore_commands(void) {
  struct edr_spec *s;
  struct edr_plan *p = plan3(&s);
  if (!p)
    return;
  CHECK_STR(p->token, "etcd-dr-20260101-000000-abcd");
  CHECK_STR(p->initial_cluster,
            "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380");
  CHECK(p->n_hosts == 3);
  for (size_t i = 0; i < p->n_hosts; i++) {
    const struct edr_host_plan *h = &p->hosts[i];
    const struct edr_step *r = find(h, EDR_STEP_RESTORE);
    CHECK(r != NULL);
    if (!r)
      continue;
    char name[32], url[64];
    snprintf(name, sizeof name, "m%zu", i + 1);
    snprintf(url, sizeof url, "http://10.0.0.%zu:2380", i + 1);
    CHECK_STR(r->argv[0], "auto");
    CHECK_STR(r->argv[1], "snapshot");
    CHECK_STR(r->argv[2], "restore");
    CHECK_STR(r->argv[3], "/var/lib/etcd/.etcd-dr-20260101-000000-abcd/snapshot.db");
    CHECK_STR(arg_after(r->argv, "--name"), name);
    CHECK_STR(arg_after(r->argv, "--initial-advertise-peer-urls"), url);
    CHECK_STR(arg_after(r->argv, "--initial-cluster"), p->initial_cluster);
    CHECK_STR(arg_after(r->argv, "--initial-cluster-token"), p->token);
    CHECK_STR(arg_after(r->argv, "--data-dir"),
              "/var/lib/etcd/.etcd-dr-20260101-000000-abcd/data");
    CHECK(!has_arg(r->argv, "--wal-dir"));
    /* the agent verified the pushed file: etcd's tool need not hash it again */
    CHECK(has_arg(r->argv, "--skip-hash-check"));
    /* the request the agent gets carries the same argv */
    json_t *jargv = json_object_get(r->request, "argv");
    CHECK(json_array_size(jargv) == 15);
    CHECK_STR(json_string_value(json_array_get(jargv, 5)), name);
    /* phases: never a destructive step before every prepare step */
    bool seen_destructive = false, order_ok = true;
    for (size_t j = 0; j < h->n_steps; j++) {
      const struct edr_step_kind_info *k = &edr_step_kinds[h->steps[j].kind];
      if (k->destructive)
        seen_destructive = true;
      if (seen_destructive && k->phase == EDR_PHASE_PREPARE)
        order_ok = false;
    }
    CHECK(order_ok);
    CHECK(h->steps[0].kind == EDR_STEP_CONNECT);
    CHECK(h->steps[h->n_steps - 2].kind == EDR_STEP_CLEANUP);
    CHECK(h->steps[h->n_steps - 1].kind == EDR_STEP_UNLOCK);
    const struct edr_step *lk = find(h, EDR_STEP_LOCK);
    CHECK(lk && edr_step_kinds[lk->kind].phase == EDR_PHASE_CHECK);
    if (lk)
      CHECK_STR(json_string_value(json_object_get(lk->request, "path")),
                "/var/lib/etcd/.etcd-dr-lock");
    const struct edr_step *ma = find(h, EDR_STEP_MOVE_ASIDE);
    CHECK(ma && !strcmp(json_string_value(json_object_get(ma->request, "op")), "rename"));
    if (ma)
      CHECK_STR(json_string_value(json_object_get(ma->request, "to")),
                "/var/lib/etcd/member.etcd-dr-20260101-000000-abcd");
    const struct edr_step *cl = find(h, EDR_STEP_CLEANUP);
    /* the only removal is of the staging dir, which the agent insists on */
    CHECK(cl && strstr(json_string_value(json_object_get(cl->request, "path")), "/.etcd-dr-"));
    const struct edr_step *ps = find(h, EDR_STEP_PUSH_SNAPSHOT);
    CHECK(ps && json_integer_value(json_object_get(ps->request, "size")) == 1000);
  }
  json_t *j = edr_plan_to_json(p);
  CHECK(j != NULL);
  CHECK(json_array_size(json_object_get(j, "hosts")) == 3);
  CHECK(json_integer_value(json_object_get(json_object_get(j, "snapshot"), "revision")) == 42);
  json_decref(j);
  edr_plan_free(p);
  edr_spec_free(s);
}

static void test_wal_and_skip_hash(void) {
  struct edr_spec *s = NULL;
  struct edr_spec_overrides ov = {.wal_dir = "/var/lib/etcd-wal", .restore_tool = "etcdctl",
                                  .ssh_port = -1, .sudo = -1};
  CHECK(t_spec_from_initial_cluster("a=https://[fd00::1]:2380", &ov, &s, err, sizeof err) == 0);
  struct edr_plan_opts o = {.snapshot = "x", .skip_hash_check = true, .run_id = "r1",
                            .snapshot_revision = -1};
  struct edr_plan *p = NULL;
  CHECK(s && t_plan_build(s, &o, &p, err, sizeof err) == 0);
  if (!p) {
    edr_spec_free(s);
    return;
  }
  const struct edr_step *r = find(&p->hosts[0], EDR_STEP_RESTORE);
  CHECK(r && has_arg(r->argv, "--skip-hash-check"));
  CHECK(r && !strcmp(r->argv[0], "etcdctl"));
  CHECK_STR(r ? arg_after(r->argv, "--wal-dir") : NULL, "/var/lib/.etcd-dr-r1-wal/wal");
  CHECK(find(&p->hosts[0], EDR_STEP_MOVE_ASIDE_WAL) != NULL);
  CHECK(find(&p->hosts[0], EDR_STEP_INSTALL_WAL) != NULL);
  CHECK(find(&p->hosts[0], EDR_STEP_OWNERSHIP_WAL) != NULL);
  CHECK_STR(p->hosts[0].wal_aside, "/var/lib/etcd-wal.etcd-dr-r1");
  edr_plan_free(p);
  /* a run id that could change a path's meaning is refused */
  o.run_id = "../x";
  CHECK(t_plan_build(s, &o, &p, err, sizeof err) == EDR_EINVAL);
  edr_spec_free(s);
}

static void test_bump_rollback_check(void) {
  struct edr_spec *s = NULL;
  CHECK(t_spec_from_initial_cluster("a=http://h1:2380,b=http://h2:2380,c=http://h3:2380",
                                    NULL, &s, err, sizeof err) == 0);
  struct edr_plan_opts o = {.snapshot = "x", .run_id = "r2", .snapshot_revision = 10,
                            .bump_revision = 1000000};
  struct edr_plan *p = NULL;
  CHECK(s && t_plan_build(s, &o, &p, err, sizeof err) == 0);
  const struct edr_step *r = p ? find(&p->hosts[1], EDR_STEP_RESTORE) : NULL;
  CHECK_STR(r ? arg_after(r->argv, "--bump-revision") : NULL, "1000000");
  CHECK(r && has_arg(r->argv, "--mark-compacted"));
  edr_plan_free(p);

  /* auto: nothing in the plan yet; the executor adds it after the probes */
  o.bump_revision = -1;
  CHECK(t_plan_build(s, &o, &p, err, sizeof err) == 0);
  r = p ? find(&p->hosts[0], EDR_STEP_RESTORE) : NULL;
  CHECK(r && !has_arg(r->argv, "--bump-revision"));
  edr_plan_free(p);

  /* check only: read-only steps, nothing else */
  o.bump_revision = 0;
  o.check_only = true;
  CHECK(t_plan_build(s, &o, &p, err, sizeof err) == 0);
  CHECK(p && p->hosts[0].n_steps == 3);
  for (size_t i = 0; p && i < p->hosts[0].n_steps; i++)
    CHECK(!edr_step_kinds[p->hosts[0].steps[i].kind].destructive);
  edr_plan_free(p);

  /* rollback: the restored member aside, the old one back, by run id */
  o.check_only = false;
  o.kind = EDR_PLAN_ROLLBACK;
  o.command = "rollback";
  CHECK(t_plan_build(s, &o, &p, err, sizeof err) == 0);
  if (p) {
    const struct edr_host_plan *h = &p->hosts[2];
    CHECK(find(h, EDR_STEP_RESTORE) == NULL);
    CHECK(find(h, EDR_STEP_PUSH_SNAPSHOT) == NULL);
    const struct edr_step *fo = find(h, EDR_STEP_FIND_OLD);
    CHECK(fo && !strcmp(json_string_value(json_object_get(fo->request, "path")),
                        "/var/lib/etcd/member.etcd-dr-r2"));
    const struct edr_step *ma = find(h, EDR_STEP_MOVE_ASIDE);
    CHECK(ma && !strcmp(json_string_value(json_object_get(ma->request, "to")),
                        "/var/lib/etcd/member.etcd-dr-r2-restored"));
    const struct edr_step *in = find(h, EDR_STEP_INSTALL);
    CHECK(in && !strcmp(json_string_value(json_object_get(in->request, "from")),
                        "/var/lib/etcd/member.etcd-dr-r2"));
    CHECK(in && !strcmp(json_string_value(json_object_get(in->request, "to")),
                        "/var/lib/etcd/member"));
    /* never a step that removes anything but etcd-dr's own staging */
    for (size_t i = 0; i < h->n_steps; i++) {
      const char *op = json_string_value(json_object_get(h->steps[i].request, "op"));
      if (op && !strcmp(op, "remove"))
        CHECK(strstr(json_string_value(json_object_get(h->steps[i].request, "path")),
                     "/.etcd-dr-r2") != NULL);
    }
  }
  edr_plan_free(p);
  edr_spec_free(s);
}

/* Rollback with the kubeadm preset: kube-apiserver parked before etcd is
 * stopped and brought back in the cleanup stage (after the health gate),
 * as for a restore. */
static void test_kubeadm_rollback(void) {
  struct edr_spec *s = NULL;
  struct edr_spec_overrides ov = {.ssh_port = -1, .sudo = -1, .preset = "kubeadm"};
  CHECK(t_spec_from_initial_cluster("a=https://h1:2380,b=https://h2:2380", &ov, &s, err,
                                    sizeof err) == 0);
  struct edr_plan_opts o = {.kind = EDR_PLAN_ROLLBACK, .command = "rollback", .run_id = "r3",
                            .snapshot_revision = -1};
  struct edr_plan *p = NULL;
  CHECK(s && t_plan_build(s, &o, &p, err, sizeof err) == 0);
  for (size_t k = 0; p && k < p->n_hosts; k++) {
    const struct edr_host_plan *h = &p->hosts[k];
    long park = -1, stop = -1, back = -1;
    for (size_t i = 0; i < h->n_steps; i++) {
      const char *from = json_string_value(json_object_get(h->steps[i].request, "from"));
      bool api = from && strstr(from, "kube-apiserver.yaml");
      if (api && h->steps[i].kind == EDR_STEP_MOVE_ASIDE)
        park = (long)i;
      if (api && h->steps[i].kind == EDR_STEP_MOVE_BACK) {
        back = (long)i;
        CHECK(p->stages[h->steps[i].stage].phase == EDR_PHASE_CLEANUP);
        CHECK_STR(from, "/etc/kubernetes/kube-apiserver.yaml.etcd-dr-stopped");
      }
      if (h->steps[i].kind == EDR_STEP_STOP)
        stop = (long)i;
    }
    CHECK(park >= 0 && stop > park && back > stop);
  }
  CHECK(p && p->stages[EDR_PHASE_APPLY].gate == EDR_GATE_HEALTH);
  edr_plan_free(p);
  edr_spec_free(s);
}

static void test_quote(void) {
  char *q;
  CHECK_STR(q = edr_shell_quote("plain-arg_1.2/x=y:z,@%+"), "plain-arg_1.2/x=y:z,@%+");
  free(q);
  CHECK_STR(q = edr_shell_quote(""), "''");
  free(q);
  CHECK_STR(q = edr_shell_quote("a b"), "'a b'");
  free(q);
  CHECK_STR(q = edr_shell_quote("it's"), "'it'\\''s'");
  free(q);
  CHECK_STR(q = edr_shell_quote("$(rm -rf /)`x`;|&"), "'$(rm -rf /)`x`;|&'");
  free(q);
  char *argv[] = {"/bin/sh", "-c", "service etcd stop", NULL};
  CHECK_STR(q = edr_quote_argv(argv), "/bin/sh -c 'service etcd stop'");
  free(q);
}

/* What edr_print_summary() writes to stderr, into OUT (LEN bytes). */
static void capture_summary(const struct edr_plan *p, const struct edr_run_result *res,
                            char *out, size_t len) {
  char path[] = "/tmp/test_plan_summary.XXXXXX";
  int fd = mkstemp(path);
  out[0] = '\0';
  CHECK(fd >= 0);
  if (fd < 0)
    return;
  unlink(path);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  edr_print_summary(p, res, "--cluster c.json");
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  ssize_t n = pread(fd, out, len - 1, 0);
  out[n > 0 ? n : 0] = '\0';
  close(fd);
}

/* The summary after a failed apply names every host, the untouched ones
 * too: a leader waiting to stop last is untouched when another host's start
 * fails first, and the operator must still read where it stands. */
static void test_summary_untouched(void) {
  struct edr_spec *s;
  struct edr_plan *p = plan3(&s);
  if (!p)
    return;
  struct edr_host_result hosts[3] = {{0}};
  struct edr_run_result res = {.exit_code = EDR_EXIT_APPLY, .n_hosts = 3, .hosts = hosts};
  for (size_t i = 0; i < 3; i++) {
    hosts[i].member = p->hosts[i].member->name;
    hosts[i].n_steps = p->hosts[i].n_steps;
    hosts[i].steps = calloc(p->hosts[i].n_steps, sizeof(*hosts[i].steps));
  }
  /* m1 untouched (the leader); m2 stopped, then the run stopped; m3 moved
   * its member aside and failed to start. */
  hosts[1].outcome = hosts[2].outcome = EDR_HOST_PARTIAL;
  for (size_t i = 1; i < 3; i++)
    for (size_t j = 0; j < p->hosts[i].n_steps; j++) {
      enum edr_step_kind k = p->hosts[i].steps[j].kind;
      struct edr_step_result *r = &hosts[i].steps[j];
      if (k == EDR_STEP_STOP)
        r->started = r->finished = true;
      if (i == 2 && k == EDR_STEP_MOVE_ASIDE) {
        r->started = r->finished = true;
        r->result = json_pack("{s:b}", "moved", 1);
      }
    }
  char out[8192];
  capture_summary(p, &res, out, sizeof out);
  CHECK(strstr(out, "where each host stands:") != NULL);
  CHECK(strstr(out, "m1: old data still in place (/var/lib/etcd/member); this host was "
                    "not changed") != NULL);
  CHECK(strstr(out, "m2: old data still in place (/var/lib/etcd/member); etcd was stopped") !=
        NULL);
  CHECK(strstr(out, "m3: old data kept as /var/lib/etcd/member.etcd-dr-20260101-000000-abcd") !=
        NULL);
  CHECK(strstr(out, "etcd-dr rollback 20260101-000000-abcd --cluster c.json") != NULL);
  if (!strstr(out, "m1: old data still in place"))
    fprintf(stderr, "summary was:\n%s\n", out);

  /* Nothing changed anywhere: no per-host lines at all. */
  for (size_t i = 0; i < 3; i++)
    hosts[i].outcome = EDR_HOST_UNTOUCHED;
  res.exit_code = EDR_EXIT_PREFLIGHT;
  capture_summary(p, &res, out, sizeof out);
  CHECK(strstr(out, "where each host stands") == NULL);
  CHECK(strstr(out, "no host was changed") != NULL);

  /* A playbook run that changed m2 only: m1 and m3 say they were not. */
  p->kind = EDR_PLAN_RUN;
  free(p->playbook);
  p->playbook = strdup("pb.json");
  hosts[1].outcome = EDR_HOST_PARTIAL;
  res.exit_code = EDR_EXIT_APPLY;
  capture_summary(p, &res, out, sizeof out);
  CHECK(strstr(out, "where each host stands:") != NULL);
  CHECK(strstr(out, "  m1: not changed\n") != NULL);
  CHECK(strstr(out, "  m2: ") != NULL && strstr(out, "  m2: not changed") == NULL);
  CHECK(strstr(out, "  m3: not changed\n") != NULL);

  /* A playbook run that went on without m3 (optional, its check failed)
   * and only read m1 (a wait's target): the table and a line say m3 was
   * left out and why; m1, done without a change, says it was not changed. */
  hosts[0].outcome = EDR_HOST_RESTORED;
  hosts[1].outcome = EDR_HOST_RESTORED;
  hosts[2].left_out = true;
  hosts[2].message = strdup("cannot connect to 10.0.0.3 port 22: connection refused");
  res.exit_code = EDR_EXIT_OK;
  capture_summary(p, &res, out, sizeof out);
  CHECK(strstr(out, "left out") != NULL && strstr(out, "FAILED") == NULL);
  CHECK(strstr(out, "  m3 left out (its member asked from here): cannot connect to 10.0.0.3 "
                    "port 22: connection refused\n") != NULL);
  CHECK(strstr(out, "  m1: not changed\n") != NULL);
  CHECK(strstr(out, "  m2: stop") != NULL);
  free(hosts[2].message);

  for (size_t i = 0; i < 3; i++) {
    for (size_t j = 0; j < hosts[i].n_steps; j++)
      json_decref(hosts[i].steps[j].result);
    free(hosts[i].steps);
  }
  edr_plan_free(p);
  edr_spec_free(s);
}

/* How each member's health is asked (health_route.c): --health-via, an
 * https member without a certificate here goes through its host, and the
 * look from here before anything stops moves only a member with no route. */
static void test_health_routes(void) {
  struct edr_spec *s;
  struct edr_plan *p = plan3(&s);
  if (!p)
    return;
  struct edr_member *m2 = &s->members[1];
  free(m2->client_urls.v[0]);
  m2->client_urls.v[0] = strdup("https://10.0.0.2:2379");
  m2->etcdctl_cert = strdup("/etc/kubernetes/pki/etcd/healthcheck-client.crt");
  char how[400];

  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_AUTO, false) == 0);
  CHECK(!p->health_routes[0].via_host && p->health_routes[0].look);
  CHECK(p->health_routes[1].via_host && !p->health_routes[1].look);
  edr_health_route_say(p, 1, how, sizeof how);
  CHECK_STR(how, "through 10.0.0.2's agent, with its certificates (no client certificate "
                 "here (ETCDCTL_CERT unset); the host has etcdctl_cert)");
  edr_health_route_say(p, 0, how, sizeof how);
  CHECK_STR(how, "from here, or through 10.0.0.1's agent if its client URL gives no answer "
                 "from here before anything stops, or refuses connections from here while it "
                 "answers on its host");

  /* the look: no route moves m1 to its host; a refusal keeps m3 here */
  edr_health_route_seen(&p->health_routes[0], &s->members[0], EDR_ETIMEDOUT, "");
  edr_health_route_seen(&p->health_routes[2], &s->members[2], EDR_ECONNREFUSED, "");
  CHECK(p->health_routes[0].via_host && !p->health_routes[0].look);
  CHECK_STR(p->health_routes[0].why, "no answer from here: timed out");
  CHECK(!p->health_routes[2].via_host && !p->health_routes[2].look);
  edr_health_route_say(p, 2, how, sizeof how);
  CHECK_STR(how, "from here (its client URL refused the connection from here: etcd not "
                 "running, or a firewall that rejects)");
  /* looked at once: a later answer changes nothing */
  edr_health_route_seen(&p->health_routes[0], &s->members[0], 0, "");
  CHECK(p->health_routes[0].via_host);
  /* only the refused one may be a firewall's rejection, to ask on its host */
  CHECK(edr_health_route_refused_here(&p->health_routes[2]));
  CHECK(!edr_health_route_refused_here(&p->health_routes[0]));
  CHECK(!edr_health_route_refused_here(&p->health_routes[1]));
  CHECK(!edr_health_route_refused_here(NULL));
  /* moved to its host, or kept here by a refusal: no dead end */
  CHECK(!edr_health_route_dead_end(&p->health_routes[0], EDR_ETIMEDOUT));
  CHECK(!edr_health_route_dead_end(&p->health_routes[2], EDR_ECONNREFUSED));
  CHECK(!edr_health_route_dead_end(NULL, EDR_ETIMEDOUT));
  /* refused here, answered on its host: moved there for good, saying why */
  edr_health_route_answered_on_host(&p->health_routes[2]);
  CHECK(p->health_routes[2].via_host && !edr_health_route_refused_here(&p->health_routes[2]));
  edr_health_route_say(p, 2, how, sizeof how);
  CHECK_STR(how, "through 10.0.0.3's agent, with its certificates (refused from here, answered "
                 "on its host: something between this machine and it rejects connections)");
  CHECK(!edr_health_route_dead_end(&p->health_routes[2], EDR_ECONNREFUSED));
  /* a name the agent cannot resolve: refused here stays here */
  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_AUTO, true) == 0);
  p->health_routes[2].unresolved = true;
  edr_health_route_seen(&p->health_routes[2], &s->members[2], EDR_ECONNREFUSED, "");
  CHECK(!edr_health_route_refused_here(&p->health_routes[2]));
  /* --health-via here never looks, so nothing is refused here for auto */
  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_HERE, false) == 0);
  edr_health_route_seen(&p->health_routes[2], &s->members[2], EDR_ECONNREFUSED, "");
  CHECK(!edr_health_route_refused_here(&p->health_routes[2]));

  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_AUTO, true) == 0);
  CHECK(!p->health_routes[1].via_host && p->health_routes[1].look);
  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_HERE, false) == 0);
  for (size_t i = 0; i < 3; i++)
    CHECK(!p->health_routes[i].via_host && !p->health_routes[i].look);
  /* here: no route, or a refused TLS, can never be checked from here */
  CHECK(edr_health_route_dead_end(&p->health_routes[0], EDR_ETIMEDOUT));
  CHECK(edr_health_route_dead_end(&p->health_routes[0], EDR_EHOSTUNREACH));
  CHECK(edr_health_route_dead_end(&p->health_routes[1], EDR_ETLS));
  CHECK(!edr_health_route_dead_end(&p->health_routes[0], EDR_ECONNREFUSED));
  CHECK(!edr_health_route_dead_end(&p->health_routes[0], 0));
  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_HOSTS, true) == 0);
  for (size_t i = 0; i < 3; i++)
    CHECK(p->health_routes[i].via_host && !p->health_routes[i].look);
  CHECK(!edr_health_route_dead_end(&p->health_routes[0], EDR_ETIMEDOUT));
  edr_plan_free(p);
  edr_spec_free(s);
}

/* Which hosts get the agent built with TLS (edr_health_route_tls_on_host):
 * those whose https member may be asked through them by a health gate, a
 * member change of another member or the leader lookup; an http member,
 * --health-via here, or a plan that asks no member never needs it. */
static void test_agent_tls(void) {
  struct edr_spec *s;
  struct edr_plan *p = plan3(&s);
  if (!p)
    return;
  for (size_t i = 0; i < 2; i++) {  /* m1 and m2 https, m2 with a certificate on its host */
    free(s->members[i].client_urls.v[0]);
    s->members[i].client_urls.v[0] = edr_asprintf("https://10.0.0.%zu:2379", i + 1);
  }
  s->members[1].etcdctl_cert = strdup("/etc/kubernetes/pki/etcd/healthcheck-client.crt");
  /* auto: m2 through its host, m1 looked at from here first (it may move) */
  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_AUTO, false) == 0);
  CHECK(edr_health_route_tls_on_host(p, 0));
  CHECK(edr_health_route_tls_on_host(p, 1));
  CHECK(!edr_health_route_tls_on_host(p, 2));           /* http */
  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_HERE, false) == 0);
  for (size_t i = 0; i < 3; i++)
    CHECK(!edr_health_route_tls_on_host(p, i));
  CHECK(edr_health_routes_decide(p, EDR_HEALTH_VIA_HOSTS, false) == 0);
  CHECK(edr_health_route_tls_on_host(p, 0) && edr_health_route_tls_on_host(p, 1));
  CHECK(!edr_health_route_tls_on_host(p, 2));
  /* the restore's leader lookup before its stops asks every member too */
  enum edr_gate_kind saved[16];
  for (size_t k = 0; k < p->n_stages && k < 16; k++) {
    saved[k] = p->stages[k].gate;
    if (p->stages[k].gate == EDR_GATE_HEALTH)
      p->stages[k].gate = EDR_GATE_NONE;
  }
  CHECK(edr_health_route_tls_on_host(p, 0) && edr_health_route_tls_on_host(p, 1));
  /* no gate and no leader lookup (status, discover, plan --check) */
  enum edr_plan_kind kind = p->kind;
  p->kind = EDR_PLAN_CHECK;
  CHECK(!edr_health_route_tls_on_host(p, 0) && !edr_health_route_tls_on_host(p, 1));
  /* a playbook's wait-healthy on m2 only; a member-add of m2 asks the others */
  size_t only_m2 = 1;
  struct edr_stage *st = &p->stages[p->n_stages - 1];
  enum edr_gate_kind g = st->gate;
  size_t *members = st->members, n = st->n_members;
  st->gate = EDR_GATE_WAIT_HEALTHY;
  st->members = &only_m2;
  st->n_members = 1;
  CHECK(!edr_health_route_tls_on_host(p, 0) && edr_health_route_tls_on_host(p, 1));
  st->gate = EDR_GATE_MEMBER_ADD;
  CHECK(edr_health_route_tls_on_host(p, 0) && !edr_health_route_tls_on_host(p, 1));
  st->gate = g;
  st->members = members;
  st->n_members = n;
  p->kind = kind;
  for (size_t k = 0; k < p->n_stages && k < 16; k++)
    p->stages[k].gate = saved[k];
  edr_plan_free(p);
  edr_spec_free(s);
}

/* status asks a member from its host with ask-etcd steps (etcd-http): a
 * host whose steps name an https URL gets the agent with TLS, whatever the
 * routes; an http member's host, or a check plan without them, does not. */
static void test_agent_tls_status(void) {
  struct edr_spec *s = NULL;
  CHECK(t_spec_from_initial_cluster(
            "m1=https://10.0.0.1:2380,m2=http://10.0.0.2:2380", NULL, &s, err, sizeof err) == 0);
  if (!s)
    return;
  free(s->members[0].client_urls.v[0]);
  s->members[0].client_urls.v[0] = strdup("https://10.0.0.1:2379");
  for (int ask = 0; ask < 2; ask++) {
    struct edr_plan_opts o = {.snapshot_revision = -1, .check_only = true, .ask_etcd = ask,
                              .run_id = "20260101-000000-abcd"};
    struct edr_plan *p = NULL;
    CHECK(t_plan_build(s, &o, &p, err, sizeof err) == 0);
    if (!p)
      continue;
    CHECK(edr_health_route_tls_on_host(p, 0) == (ask == 1));  /* https */
    CHECK(!edr_health_route_tls_on_host(p, 1));               /* http */
    edr_plan_free(p);
  }
  edr_spec_free(s);
}

/* A member whose peer URL names its host, not an address: the relay passes
 * it by (the agent does no name lookups) and the plan says so and what to
 * set; the others still relay. */
static void test_route_named(void) {
  struct edr_spec *s = NULL;
  CHECK(t_spec_from_initial_cluster(
            "m1=http://10.0.0.1:2380,m2=http://etcd-2.example:2380,m3=http://10.0.0.3:2380",
            NULL, &s, err, sizeof err) == 0);
  struct edr_plan_opts o = {.snapshot = "/tmp/snap.db", .snapshot_size = 1000,
                            .snapshot_sha256 = "ab", .snapshot_revision = 42,
                            .run_id = "20260101-000000-abcd", .transfer = EDR_TRANSFER_AUTO};
  struct edr_plan *p = NULL;
  CHECK(s && t_plan_build(s, &o, &p, err, sizeof err) == 0);
  if (!p) {
    edr_spec_free(s);
    return;
  }
  CHECK(p->relay && p->hosts[1].relay_named && p->hosts[1].relay_prev < 0);
  CHECK(p->hosts[2].relay_prev == 1 && !p->hosts[0].relay_named);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  edr_plan_print(p, f);
  fclose(f);
  CHECK_CONTAINS(text, "pushed from this machine: its relay_address 'etcd-2.example' (from its "
                       "peer URL) is a host name");
  CHECK_CONTAINS(text, "set relay_address to its IP address in the spec");
  CHECK_CONTAINS(text, "relayed from m2 to port");
  free(text);
  edr_plan_free(p);
  edr_spec_free(s);
}

/* The relay refused: a member the agent cannot reach by address when the
 * relay is required, or a snapshot on a host that is not a member.  The
 * message names the member and what to change; no plan is returned. */
static void test_route_refused(void) {
  struct edr_spec *s = NULL;
  CHECK(t_spec_from_initial_cluster(
            "m1=http://10.0.0.1:2380,m2=http://etcd-2.example:2380,m3=http://10.0.0.3:2380",
            NULL, &s, err, sizeof err) == 0);
  if (!s)
    return;
  struct edr_plan_opts o = {.snapshot = "/tmp/snap.db", .snapshot_size = 1000,
                            .snapshot_sha256 = "ab", .snapshot_revision = 42,
                            .run_id = "20260101-000000-abcd", .transfer = EDR_TRANSFER_RELAY};
  struct edr_plan *p = NULL;
  CHECK(t_plan_build(s, &o, &p, err, sizeof err) == EDR_EINVAL);
  CHECK(p == NULL);
  CHECK_STR(err, "member 'm2': relay_address 'etcd-2.example' is not an IP address, and the "
                 "transfer is --transfer relay: set relay_address in the spec");

  o.transfer = EDR_TRANSFER_AUTO;
  o.snapshot_member = "m1";
  o.snapshot_remote = "/backups/snap.db";
  CHECK(t_plan_build(s, &o, &p, err, sizeof err) == EDR_EINVAL);
  CHECK(p == NULL);
  CHECK_STR(err, "member 'm2': relay_address 'etcd-2.example' is not an IP address, and the "
                 "snapshot is on a host, so every host needs the relay: set relay_address in "
                 "the spec");

  o.snapshot_member = "m9";
  CHECK(t_plan_build(s, &o, &p, err, sizeof err) == EDR_EINVAL);
  CHECK(p == NULL);
  CHECK_STR(err, "the snapshot is on 'm9', which is not a member of the cluster");
  edr_plan_free(p);
  edr_spec_free(s);
}

int main(void) {
  test_route_named();
  test_route_refused();
  test_restore_commands();
  test_health_routes();
  test_agent_tls();
  test_agent_tls_status();
  test_wal_and_skip_hash();
  test_bump_rollback_check();
  test_kubeadm_rollback();
  test_quote();
  test_summary_untouched();
  return t_done("test_plan");
}
