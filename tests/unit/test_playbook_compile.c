/*
 * test_playbook_compile.c - compiling playbooks (docs/playbooks.md) gives
 * the plan shape a run relies on: checks first on the hosts involved, the
 * lock pinned once at the first destructive stage, cleanup and unlock last,
 * each blocks unrolled member by member, a restore's staging right after the
 * checks; members asked through their hosts join the checks; durations,
 * variables, step options and snapshot-save-only plans compile as written,
 * and the shipped playbooks compile.  Validation errors
 * are test_playbook.c's; the fixtures are t_playbook.h's.
 *
 * Playbooks are written with ' for " (see j()) to keep them readable.
 */
#include "t_playbook.h"

/* ---- compiling ------------------------------------------------------------- */

static void test_checks_and_lock(void) {
  /* only m1 is touched: m2 and m3 are not even connected to */
  struct edr_plan *p = OK(STEPS("{'name': 'probe', 'kind': 'exec', 'target': 'm1', "
                                "'argv': ['/bin/true'], 'read_only': true},"
                                "{'name': 'stop', 'kind': 'stop', 'target': 'm1'},"
                                "{'name': 'start', 'kind': 'start', 'target': 'm1'}"));
  if (p) {
    CHECK_SHAPE(p, true, false, false);
    CHECK(p->n_stages == 5);
    CHECK(stage_named(p, "probe") == 1 && stage_named(p, "stop") == 2 &&
          stage_named(p, "start") == 3);
    CHECK(p->stages[1].phase == EDR_PHASE_PREPARE);   /* read only */
    CHECK(p->stages[2].phase == EDR_PHASE_APPLY);
    CHECK(edr_plan_first_destructive(p) == 2);
    const struct edr_host_plan *h = &p->hosts[0];
    CHECK(step_in(h, EDR_STEP_EXEC_RO, 1) != NULL);
    CHECK(step_in(h, EDR_STEP_HOLD_LOCK, 2) != NULL);
    CHECK(step_in(h, EDR_STEP_STOP, 2) != NULL);
    CHECK(step_in(h, EDR_STEP_CHECK_STOPPED, 2) != NULL);
    CHECK(step_in(h, EDR_STEP_START, 3) != NULL);
    /* the pinned lock is the run's, kept if the connection drops */
    const struct edr_step *hl = step_in(h, EDR_STEP_HOLD_LOCK, -1);
    CHECK(hl && json_is_false(json_object_get(hl->request, "auto_release")));
    CHECK_STR(req_str(hl, "path"), "/var/lib/etcd/.etcd-dr-lock");
    CHECK_STR(json_string_value(json_object_get(json_object_get(hl ? hl->request : NULL,
                                                                "holder"), "run_id")), RUN);
    CHECK_STR(p->run_id, RUN);
    CHECK_STR(p->playbook, "t");
    CHECK_STR(p->command, "run");
  }
  edr_plan_free(p);

  /* the lock is pinned at the first destructive stage even when that stage
   * is a gate and the hosts' own destructive steps come later */
  p = OK(STEPS("{'name': 'ro', 'kind': 'exec', 'argv': ['/bin/true'], 'read_only': true},"
               "{'name': 'rm', 'kind': 'member-remove', 'target': 'm3'},"
               "{'name': 'stop', 'kind': 'stop', 'target': 'm3'}"));
  if (p) {
    CHECK_SHAPE(p, true, true, true);
    long rm = stage_named(p, "rm");
    CHECK(rm == 2 && edr_plan_first_destructive(p) == (size_t)rm);
    for (size_t i = 0; i < 3; i++)
      CHECK(step_in(&p->hosts[i], EDR_STEP_HOLD_LOCK, rm) != NULL);
    CHECK(rm >= 0 && p->stages[rm].gate == EDR_GATE_MEMBER_REMOVE);
    CHECK(rm >= 0 && members_are(&p->stages[rm], (const size_t[]){2}, 1));
  }
  edr_plan_free(p);

  /* read only all the way: no lock pinned */
  p = OK(STEPS("{'name': 'ro', 'kind': 'exec', 'target': 'm2', 'argv': ['/bin/true'], "
               "'read_only': true}"));
  if (p) {
    CHECK_SHAPE(p, false, true, false);
    CHECK(edr_plan_first_destructive(p) == p->n_stages);
    CHECK(count_kind(&p->hosts[1], EDR_STEP_HOLD_LOCK) == 0);
  }
  edr_plan_free(p);

  /* exclude and a list of targets */
  p = OK(STEPS("{'name': 'stop', 'kind': 'stop', 'exclude': 'm2'},"
               "{'name': 'start', 'kind': 'start', 'target': 'm3,m1'}"));
  if (p) {
    CHECK_SHAPE(p, true, false, true);
    CHECK(step_in(&p->hosts[0], EDR_STEP_START, 2) != NULL);
    CHECK(step_in(&p->hosts[2], EDR_STEP_START, 2) != NULL);
  }
  edr_plan_free(p);
}

static void test_each_block(void) {
  struct edr_plan *p = OK(STEPS(
      "{'name': 'join', 'target': 'each', 'exclude': 'm1', 'steps': ["
      "  {'name': 'add', 'kind': 'member-add', 'retries': 5, 'retry_delay': 3},"
      "  {'name': 'env', 'kind': 'set-env', 'env': {"
      "     'ETCD_INITIAL_CLUSTER': '${joined_initial_cluster}', 'ETCD_JOINED': '${joined}',"
      "     'ETCD_NAME': '${target}', 'ETCD_INITIAL_CLUSTER_STATE': 'existing'}},"
      "  {'name': 'start', 'kind': 'start', 'empty_data_dir': 'join'},"
      "  {'name': 'ok', 'kind': 'confirm', 'message': '${target} joined'},"
      "  {'name': 'caught-up', 'kind': 'wait-healthy', 'target': '${joined}'},"
      "  {'name': 'unenv', 'kind': 'reset-env'}]}"));
  if (!p)
    return;
  CHECK_SHAPE(p, true, true, true);  /* m1: asked by the waits (auto may move it) */
  static const char *const want[] = {
      "check", "add[m2]", "env[m2]", "start[m2]", "ok[m2]", "caught-up[m2]", "unenv[m2]",
      "add[m3]", "env[m3]", "start[m3]", "ok[m3]", "caught-up[m3]", "unenv[m3]", "cleanup"};
  size_t nw = sizeof want / sizeof *want;
  CHECK(p->n_stages == nw);
  for (size_t k = 0; k < nw && k < p->n_stages; k++)
    CHECK_STR(p->stages[k].name, want[k]);
  if (p->n_stages != nw) {
    edr_plan_free(p);
    return;
  }
  /* member-add gates, one member each, with the step's retries */
  CHECK(p->stages[1].gate == EDR_GATE_MEMBER_ADD && p->stages[7].gate == EDR_GATE_MEMBER_ADD);
  CHECK(members_are(&p->stages[1], (const size_t[]){1}, 1));
  CHECK(members_are(&p->stages[7], (const size_t[]){2}, 1));
  CHECK(p->stages[1].retries == 5 && p->stages[1].retry_delay_ms == 3000);
  CHECK(edr_plan_first_destructive(p) == 1);
  /* the env as joined so far */
  const char *ic2 = "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380";
  const char *ic3 = "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380";
  const struct edr_step *e2 = step_in(&p->hosts[1], EDR_STEP_SET_ENV, 2);
  const struct edr_step *e3 = step_in(&p->hosts[2], EDR_STEP_SET_ENV, 8);
  CHECK(e2 && e3);
  json_t *set2 = e2 ? json_object_get(e2->request, "set") : NULL;
  json_t *set3 = e3 ? json_object_get(e3->request, "set") : NULL;
  CHECK_STR(json_string_value(json_object_get(set2, "ETCD_INITIAL_CLUSTER")), ic2);
  CHECK_STR(json_string_value(json_object_get(set2, "ETCD_JOINED")), "m1,m2");
  CHECK_STR(json_string_value(json_object_get(set2, "ETCD_NAME")), "m2");
  CHECK_STR(json_string_value(json_object_get(set2, "ETCD_INITIAL_CLUSTER_STATE")), "existing");
  CHECK(json_object_size(set2) == 4);
  CHECK_STR(json_string_value(json_object_get(set3, "ETCD_INITIAL_CLUSTER")), ic3);
  CHECK_STR(json_string_value(json_object_get(set3, "ETCD_JOINED")), "m1,m2,m3");
  CHECK_STR(json_string_value(json_object_get(set3, "ETCD_NAME")), "m3");
  CHECK_STR(req_str(e2, "op"), "envfile");
  CHECK_STR(req_str(e2, "action"), "set");
  CHECK_STR(req_str(e2, "path"), "/etc/default/etcd");
  CHECK_STR(req_str(e2, "backup"), "/etc/default/etcd.etcd-dr-" RUN);
  /* each stage runs on its member only */
  CHECK(steps_in_stage(&p->hosts[2], 2) == 0 && steps_in_stage(&p->hosts[1], 8) == 0);
  CHECK(steps_in_stage(&p->hosts[2], 3) == 0 && steps_in_stage(&p->hosts[1], 9) == 0);
  const struct edr_step *s2 = step_in(&p->hosts[1], EDR_STEP_START, 3);
  CHECK(s2 && s2->allow_empty_start);
  CHECK(step_in(&p->hosts[2], EDR_STEP_START, 9) != NULL);
  CHECK(step_in(&p->hosts[1], EDR_STEP_RESET_ENV, 6) != NULL);
  CHECK(step_in(&p->hosts[2], EDR_STEP_RESET_ENV, 12) != NULL);
  CHECK_STR(req_str(step_in(&p->hosts[2], EDR_STEP_RESET_ENV, 12), "backup"),
            "/etc/default/etcd.etcd-dr-" RUN);
  /* cluster-level steps see the block's member */
  CHECK(p->stages[4].gate == EDR_GATE_CONFIRM && p->stages[10].gate == EDR_GATE_CONFIRM);
  CHECK_STR(p->stages[4].message, "m2 joined");
  CHECK_STR(p->stages[10].message, "m3 joined");
  /* wait for the members joined so far */
  CHECK(p->stages[5].gate == EDR_GATE_WAIT_HEALTHY && p->stages[11].gate == EDR_GATE_WAIT_HEALTHY);
  CHECK(members_are(&p->stages[5], (const size_t[]){0, 1}, 2));
  CHECK(members_are(&p->stages[11], (const size_t[]){0, 1, 2}, 3));
  CHECK(p->stages[5].min_revision == -1);
  edr_plan_free(p);

  /* iterating over the middle member: joined counts what is not iterated */
  p = OK(STEPS("{'name': 'b', 'target': 'each', 'exclude': ['m2'], 'steps': ["
               "  {'name': 'w', 'kind': 'wait-healthy', 'target': '${joined}'}]}"));
  if (p) {
    CHECK(p->n_stages == 4);
    CHECK(p->n_stages == 4 && members_are(&p->stages[1], (const size_t[]){0, 1}, 2));
    CHECK(p->n_stages == 4 && members_are(&p->stages[2], (const size_t[]){0, 1, 2}, 3));
    CHECK_SHAPE(p, true, true, true);  /* asked by the waits */
  }
  edr_plan_free(p);

  /* a single step aimed at each member: one stage per member, in order */
  p = OK(STEPS("{'name': 'stop', 'kind': 'stop', 'target': 'each', 'exclude': 'm2'}"));
  if (p) {
    CHECK(p->n_stages == 4);
    CHECK(stage_named(p, "stop[m1]") == 1 && stage_named(p, "stop[m3]") == 2);
    CHECK_SHAPE(p, true, false, true);
    CHECK(step_in(&p->hosts[0], EDR_STEP_STOP, 1) && step_in(&p->hosts[2], EDR_STEP_STOP, 2));
    CHECK(!step_in(&p->hosts[0], EDR_STEP_STOP, 2) && !step_in(&p->hosts[2], EDR_STEP_STOP, 1));
  }
  edr_plan_free(p);
}

/* Durations as the command line takes them ("90s", "2m"; a bare number
 * is seconds), literal or from a variable. */
static void test_durations(void) {
  const char *vars[] = {"t=2m"};
  struct edr_plan *p = OK_VARS(VARS_STEPS("'t': {'default': '1m'}",
      "{'name': 's', 'kind': 'stop', 'target': 'm1', 'timeout': '90s', 'retry_delay': '500ms',"
      " 'retries': 1},"
      "{'name': 'p', 'kind': 'pause', 'seconds': '1m30s'},"
      "{'name': 'w', 'kind': 'wait-healthy', 'timeout': '${t}', 'retry_delay': 3}"), vars);
  if (p) {
    const struct edr_step *s = step_in(&p->hosts[0], EDR_STEP_STOP, 1);
    CHECK(s && s->timeout_ms == 90000 && s->retry_delay_ms == 500);
    long k = stage_named(p, "p");
    CHECK(k >= 0 && p->stages[k].pause_ms == 90000);
    k = stage_named(p, "w");
    CHECK(k >= 0 && p->stages[k].timeout_ms == 120000 && p->stages[k].retry_delay_ms == 3000);
  }
  edr_plan_free(p);
  const char *bad[] = {"t=2 minutes"};
  FAILS_VARS(VARS_STEPS("'t': {'default': '1m'}",
                        "{'name': 'w', 'kind': 'wait-healthy', 'timeout': '${t}'}"), bad,
             "field 'timeout'", "'2 minutes' is not a duration such as 90, 90s or 2m");
}

static void test_vars_and_fields(void) {
  const char *vars[] = {"who=m2"};
  const char *text = VARS_STEPS("'who': {'default': 'm1'}, 'dir': {'default': '/srv/x'}",
                                "{'name': 'm', 'kind': 'move-aside', 'target': '${who}',"
                                " 'path': '${dir}/${target}', 'to': '${target.data_dir}.old-${run_id}'}");
  struct edr_plan *p = OK_VARS(text, vars);
  if (p) {
    CHECK_SHAPE(p, false, true, false);
    const struct edr_step *m = step_in(&p->hosts[1], EDR_STEP_MOVE_ASIDE, 1);
    CHECK_STR(req_str(m, "op"), "rename");
    CHECK_STR(req_str(m, "from"), "/srv/x/m2");
    CHECK_STR(req_str(m, "to"), "/var/lib/etcd.old-" RUN);
    CHECK(m && json_is_true(json_object_get(m->request, "missing_ok")));
  }
  edr_plan_free(p);
  /* a value using other variables, ${target} among them */
  const char *nested[] = {"who=m3", "dir=/srv/${run_id}/${who}"};
  p = OK_VARS(text, nested);
  CHECK_STR(req_str(p ? step_in(&p->hosts[2], EDR_STEP_MOVE_ASIDE, 1) : NULL, "from"),
            "/srv/" RUN "/m3/m3");
  edr_plan_free(p);
  p = OK(text); /* the default */
  if (p) {
    CHECK_SHAPE(p, true, false, false);
    CHECK_STR(req_str(step_in(&p->hosts[0], EDR_STEP_MOVE_ASIDE, 1), "from"), "/srv/x/m1");
  }
  edr_plan_free(p);

  /* the defaults of move-aside and move-back */
  p = OK(STEPS("{'name': 'a', 'kind': 'move-aside', 'target': 'm1'},"
               "{'name': 'b', 'kind': 'move-back', 'target': 'm1'}"));
  if (p) {
    const struct edr_step *a = step_in(&p->hosts[0], EDR_STEP_MOVE_ASIDE, 1);
    const struct edr_step *b = step_in(&p->hosts[0], EDR_STEP_MOVE_BACK, 2);
    CHECK_STR(req_str(a, "from"), "/var/lib/etcd/member");
    CHECK_STR(req_str(a, "to"), "/var/lib/etcd/member.etcd-dr-" RUN);
    CHECK_STR(req_str(b, "from"), "/var/lib/etcd/member.etcd-dr-" RUN);
    CHECK_STR(req_str(b, "to"), "/var/lib/etcd/member");
    CHECK(b && json_is_false(json_object_get(b->request, "missing_ok")));
  }
  edr_plan_free(p);

  /* exec: argv and env substituted, as the agent gets them */
  p = OK(STEPS("{'name': 'x', 'kind': 'exec', 'target': 'm3', "
               "'argv': ['/usr/bin/etcdctl', '--endpoints', '${target.client_url}'],"
               "'env': {'ETCDCTL_API': '3'}}"));
  if (p) {
    const struct edr_step *x = step_in(&p->hosts[2], EDR_STEP_EXEC, 1);
    CHECK(x && x->argv && x->argv[3] == NULL);
    CHECK(x && x->argv && !strcmp(x->argv[2], "http://10.0.0.3:2379"));
    json_t *a = x ? json_object_get(x->request, "argv") : NULL;
    CHECK(json_array_size(a) == 3);
    CHECK_STR(json_string_value(json_array_get(a, 2)), "http://10.0.0.3:2379");
    CHECK_STR(json_string_value(json_object_get(x ? json_object_get(x->request, "env") : NULL,
                                                "ETCDCTL_API")), "3");
    CHECK(p->stages[1].phase == EDR_PHASE_APPLY);
  }
  edr_plan_free(p);
}

static void test_restore_step(void) {
  struct edr_plan *p = OK_SNAP(STEPS(
      "{'name': 'park', 'kind': 'move-aside', 'path': '/etc/kubernetes/manifests/kube-apiserver.yaml',"
      " 'to': '/etc/kubernetes/kube-apiserver.yaml.parked'},"
      "{'name': 'restore', 'kind': 'restore', 'bump_revision': 'auto', 'health_timeout': 30},"
      "{'name': 'unpark', 'kind': 'move-back', 'path': '/etc/kubernetes/manifests/kube-apiserver.yaml',"
      " 'from': '/etc/kubernetes/kube-apiserver.yaml.parked'}"));
  if (!p)
    return;
  CHECK_SHAPE(p, true, true, true);
  CHECK(p->bump_revision == -1);
  CHECK(p->n_stages == 6);
  static const char *const want[] = {"check", NULL, "park", "restore", "unpark", "cleanup"};
  for (size_t k = 0; k < 6 && k < p->n_stages; k++)
    if (want[k])
      CHECK_STR(p->stages[k].name, want[k]);
  if (p->n_stages != 6) {
    edr_plan_free(p);
    return;
  }
  CHECK(p->stages[1].phase == EDR_PHASE_PREPARE);
  CHECK(p->stages[3].gate == EDR_GATE_HEALTH);
  CHECK(p->stages[3].timeout_ms == 30000);
  CHECK(edr_plan_first_destructive(p) == 2);
  for (size_t i = 0; i < 3; i++) {
    const struct edr_host_plan *h = &p->hosts[i];
    const struct edr_step *push = step_in(h, EDR_STEP_PUSH_SNAPSHOT, -1);
    const struct edr_step *rst = step_in(h, EDR_STEP_RESTORE, -1);
    const struct edr_step *park = step_in(h, EDR_STEP_MOVE_ASIDE, 2);
    CHECK(push && push->stage == 1);
    CHECK(rst && rst->stage == 1);
    CHECK(park != NULL);
    CHECK_STR(req_str(park, "from"), "/etc/kubernetes/manifests/kube-apiserver.yaml");
    /* the staging comes before the park in the host's list too */
    CHECK(index_of(h, push) < index_of(h, rst) && index_of(h, rst) < index_of(h, park));
    CHECK(step_in(h, EDR_STEP_HOLD_LOCK, 2) != NULL);
    /* apply steps in the restore's own stage */
    static const enum edr_step_kind apply[] = {EDR_STEP_STOP, EDR_STEP_CHECK_STOPPED,
                                               EDR_STEP_INSTALL, EDR_STEP_OWNERSHIP,
                                               EDR_STEP_START};
    for (size_t a = 0; a < sizeof apply / sizeof *apply; a++) {
      CHECK(count_kind(h, apply[a]) == 1);
      CHECK(step_in(h, apply[a], 3) != NULL);
    }
    const struct edr_step *aside = step_in(h, EDR_STEP_MOVE_ASIDE, 3);
    CHECK_STR(req_str(aside, "from"), "/var/lib/etcd/member");
    CHECK(step_in(h, EDR_STEP_MOVE_BACK, 4) != NULL);
    /* cleanup: the staging dir and the marker, in the last stage, once */
    CHECK(count_kind(h, EDR_STEP_CLEANUP) == 2);
    bool staging = false;
    for (size_t j = 0; j < h->n_steps; j++)
      if (h->steps[j].kind == EDR_STEP_CLEANUP) {
        CHECK(h->steps[j].stage == 5);
        staging |= !strcmp(req_str(&h->steps[j], "path"), "/var/lib/etcd/.etcd-dr-" RUN);
      }
    CHECK(staging);
    /* "auto" is filled in after the probes */
    char **av = rst ? rst->argv : NULL;
    bool bump = false;
    for (size_t k = 0; av && av[k]; k++)
      bump |= !strcmp(av[k], "--bump-revision");
    CHECK(rst && !bump);
  }
  edr_plan_free(p);

  /* the restore alone; a fixed bump */
  p = OK_SNAP(STEPS("{'name': 'r', 'kind': 'restore', 'bump_revision': 1000}"));
  if (p) {
    CHECK_SHAPE(p, true, true, true);
    CHECK(p->n_stages == 4 && p->stages[2].gate == EDR_GATE_HEALTH);
    CHECK(p->stages[2].timeout_ms == 90000); /* the plan's health timeout */
    CHECK(p->bump_revision == 1000);
    const struct edr_step *rst = step_in(&p->hosts[1], EDR_STEP_RESTORE, 1);
    bool bump = false;
    for (size_t k = 0; rst && rst->argv[k]; k++)
      bump |= !strcmp(rst->argv[k], "--bump-revision") && rst->argv[k + 1] &&
              !strcmp(rst->argv[k + 1], "1000");
    CHECK(bump);
  }
  edr_plan_free(p);

  /* no restore: the opts' bump is kept as is (none) */
  p = OK(STEPS("{'name': 's', 'kind': 'stop'}"));
  CHECK(p && p->bump_revision == 0);
  edr_plan_free(p);

  /* a push without a restore: its staging removed at the end */
  p = OK_SNAP(STEPS("{'name': 'push', 'kind': 'push', 'target': 'm2'}"));
  if (p) {
    CHECK_SHAPE(p, false, true, false);
    const struct edr_host_plan *h = &p->hosts[1];
    const struct edr_step *push = step_in(h, EDR_STEP_PUSH_SNAPSHOT, 1);
    CHECK_STR(req_str(push, "path"), "/var/lib/etcd/.etcd-dr-" RUN "/snapshot.db");
    CHECK(push && json_integer_value(json_object_get(push->request, "size")) == 1000);
    const struct edr_step *cl = step_in(h, EDR_STEP_CLEANUP, (long)p->n_stages - 1);
    CHECK_STR(req_str(cl, "path"), "/var/lib/etcd/.etcd-dr-" RUN);
    CHECK(count_kind(h, EDR_STEP_CLEANUP) == 1);
  }
  edr_plan_free(p);

  /* needs_snapshot: implied by push and restore, or declared */
  struct {
    const char *text;
    bool needs;
  } ns[] = {
      {STEPS("{'name': 'r', 'kind': 'restore'}"), true},
      {STEPS("{'name': 'b', 'target': 'each', 'steps': [{'name': 'p', 'kind': 'push'}]}"), true},
      {STEPS("{'name': 's', 'kind': 'stop'}"), false},
      {"{'playbook': 1, 'name': 't', 'needs_snapshot': true, 'steps': [{'name': 's', 'kind': "
       "'stop'}]}", true},
  };
  for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
    char *t = j(ns[i].text);
    struct edr_playbook *pb = NULL;
    CHECK(t_playbook_load("t.json", t, spec, NULL, 0, &pb, err, sizeof err) == 0);
    CHECK(pb && edr_playbook_needs_snapshot(pb) == ns[i].needs);
    CHECK(pb && !strcmp(edr_playbook_name(pb), "t"));
    edr_playbook_free(pb);
    free(t);
  }
}

static void test_step_options(void) {
  struct edr_plan *p = ok_at(__LINE__, spec,
            STEPS("{'name': 'stop', 'kind': 'stop', 'target': 'm1', 'retries': 3,"
                  " 'retry_delay': 1.5, 'on_failure': 'continue', 'timeout': 10},"
                  "{'name': 'start', 'kind': 'start', 'target': 'm1'},"
                  "{'name': 'add', 'kind': 'member-add', 'target': 'm1', 'retries': 4,"
                  " 'retry_delay': 7, 'on_failure': 'continue', 'timeout': 20},"
                  "{'name': 'w', 'kind': 'wait-healthy', 'min_revision': 'snapshot'},"
                  "{'name': 'w2', 'kind': 'wait-healthy', 'min_revision': 123},"
                  "{'name': 'nap', 'kind': 'pause', 'seconds': 2.5}"),
            NULL, 0, &opts_snap);
  if (!p)
    return;
  CHECK_SHAPE(p, true, true, true);  /* m2, m3: asked by the waits */
  const struct edr_host_plan *h = &p->hosts[0];
  const struct edr_step *stop = step_in(h, EDR_STEP_STOP, 1);
  const struct edr_step *cs = step_in(h, EDR_STEP_CHECK_STOPPED, 1);
  const struct edr_step *start = step_in(h, EDR_STEP_START, 2);
  CHECK(stop && stop->retries == 3 && stop->retry_delay_ms == 1500);
  CHECK(stop && stop->continue_on_failure && stop->timeout_ms == 10000);
  CHECK(stop && json_integer_value(json_object_get(stop->request, "timeout_ms")) == 10000);
  CHECK(cs && cs->retries == 3 && cs->continue_on_failure && cs->timeout_ms == 10000);
  CHECK(start && start->retries == 0 && start->retry_delay_ms == 2000);
  CHECK(start && !start->continue_on_failure && !start->allow_empty_start);
  CHECK(start && start->timeout_ms == edr_step_kinds[EDR_STEP_START].timeout_ms);
  long add = stage_named(p, "add"), w = stage_named(p, "w"), w2 = stage_named(p, "w2"),
       nap = stage_named(p, "nap");
  CHECK(add == 3 && w == 4 && w2 == 5 && nap == 6);
  if (add == 3 && w == 4 && w2 == 5 && nap == 6) {
    const struct edr_stage *a = &p->stages[add];
    CHECK(a->gate == EDR_GATE_MEMBER_ADD && a->phase == EDR_PHASE_APPLY);
    CHECK(a->retries == 4 && a->retry_delay_ms == 7000);
    CHECK(a->continue_on_failure && a->timeout_ms == 20000);
    CHECK(members_are(a, (const size_t[]){0}, 1));
    CHECK(p->stages[w].gate == EDR_GATE_WAIT_HEALTHY && p->stages[w].min_revision == -2);
    CHECK(members_are(&p->stages[w], (const size_t[]){0, 1, 2}, 3));
    CHECK(p->stages[w].retries == 0 && !p->stages[w].continue_on_failure);
    CHECK(p->stages[w2].min_revision == 123);
    CHECK(p->stages[nap].gate == EDR_GATE_PAUSE && p->stages[nap].pause_ms == 2500);
  }
  edr_plan_free(p);

  /* min_revision "snapshot" needs one */
  char *t = j(STEPS("{'name': 'w', 'kind': 'wait-healthy', 'min_revision': 'snapshot'}"));
  CHECK(build_raw(spec, t, NULL, 0, &opts, &p) == EDR_EINVAL);
  CHECK_CONTAINS(err, "step 'w'");
  CHECK_CONTAINS(err, "field 'min_revision'");
  edr_plan_free(p);
  free(t);

  /* a run id chosen by the compiler: the same one everywhere in the plan */
  struct edr_plan_opts o = opts;
  o.run_id = NULL;
  t = j(STEPS("{'name': 'a', 'kind': 'move-aside', 'target': 'm1'},"
              "{'name': 'x', 'kind': 'exec', 'target': 'm1', 'argv': ['/bin/echo', '${run_id}']}"));
  CHECK(build_raw(spec, t, NULL, 0, &o, &p) == 0);
  if (p) {
    char want[200];
    snprintf(want, sizeof want, "/var/lib/etcd/member.etcd-dr-%s", p->run_id);
    CHECK(strlen(p->run_id) > 10);
    CHECK_STR(req_str(step_in(&p->hosts[0], EDR_STEP_MOVE_ASIDE, 1), "to"), want);
    const struct edr_step *x = step_in(&p->hosts[0], EDR_STEP_EXEC, 2);
    CHECK(x && x->argv && x->argv[1] && !strcmp(x->argv[1], p->run_id));
    const struct edr_step *hl = step_in(&p->hosts[0], EDR_STEP_HOLD_LOCK, -1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(hl ? hl->request : NULL,
                                                                "holder"), "run_id")),
              p->run_id);
  }
  edr_plan_free(p);
  free(t);
}

static void test_snapshot_save_only(void) {
  struct edr_plan *p = OK(STEPS("{'name': 'save', 'kind': 'snapshot-save', 'target': 'm2,m3',"
                                " 'dir': '/backups', 'keep': 3}"));
  if (p) {
    CHECK_SHAPE(p, false, false, false);
    CHECK(p->n_stages == 3);
    long s = stage_named(p, "save");
    CHECK(s == 1);
    if (s == 1) {
      CHECK(p->stages[s].gate == EDR_GATE_SNAPSHOT_SAVE);
      CHECK_STR(p->stages[s].dir, "/backups");
      CHECK(p->stages[s].output == NULL && p->stages[s].keep == 3);
      CHECK(members_are(&p->stages[s], (const size_t[]){1, 2}, 2));
    }
    CHECK(edr_plan_first_destructive(p) == p->n_stages);
  }
  edr_plan_free(p);
  p = OK(STEPS("{'name': 'save', 'kind': 'snapshot-save', 'output': '/backups/${run_id}.db'}"));
  if (p) {
    CHECK_SHAPE(p, false, false, false);
    CHECK(p->n_stages == 3 && p->stages[1].output &&
          !strcmp(p->stages[1].output, "/backups/" RUN ".db") && p->stages[1].dir == NULL);
  }
  edr_plan_free(p);
}

/* Which hosts of P are optional (plan.h: joined only so that their
 * members can be asked through them; left out if their check fails). */
#define OPTIONAL_ARE(p, ...) optional_are(__LINE__, p, (const bool[]){__VA_ARGS__})
static void optional_are(int line, const struct edr_plan *p, const bool *want) {
  for (size_t i = 0; i < p->n_hosts; i++)
    if (p->hosts[i].optional != want[i]) {
      fprintf(stderr, "line %d: %s: optional %d, want %d\n", line, p->hosts[i].member->name,
              p->hosts[i].optional, want[i]);
      CHECK(!"the optional hosts");
    }
}

/* Members asked through their hosts (--health-via hosts) join the check,
 * so their agents are there when asked: wait-healthy's targets, and every
 * member other than the target for member-add and -remove.  With auto
 * (http members, asked from here unless their client URL gives no answer)
 * wait-healthy's targets join too, since each must answer and auto may
 * move it to its host; member changes, asked in turn until one member
 * answers, connect to no host. */
static void test_asked_through_hosts(void) {
  struct edr_plan_opts hosts = opts;
  hosts.health_via = EDR_HEALTH_VIA_HOSTS;
  struct edr_plan *p = ok_at(__LINE__, spec, STEPS("{'name': 'rm', 'kind': 'member-remove', "
                                                   "'target': 'm3'}"), NULL, 0, &hosts);
  if (p) {
    CHECK_SHAPE(p, true, true, false);
    CHECK(step_in(&p->hosts[0], EDR_STEP_HOLD_LOCK, stage_named(p, "rm")) != NULL);
  }
  edr_plan_free(p);
  p = ok_at(__LINE__, spec, STEPS("{'name': 'add', 'kind': 'member-add', 'target': 'm1'}"),
            NULL, 0, &hosts);
  if (p)
    CHECK_SHAPE(p, false, true, true);
  edr_plan_free(p);
  p = ok_at(__LINE__, spec, STEPS("{'name': 'w', 'kind': 'wait-healthy', 'target': 'm2'}"),
            NULL, 0, &hosts);
  if (p) {
    CHECK_SHAPE(p, false, true, false);
    OPTIONAL_ARE(p, false, false, false);  /* the plan routes m2 through its host */
  }
  edr_plan_free(p);
  p = OK(STEPS("{'name': 'rm', 'kind': 'member-remove', 'target': 'm3'}"));
  if (p)
    CHECK_SHAPE(p, false, false, false);
  edr_plan_free(p);
  p = OK(STEPS("{'name': 'w', 'kind': 'wait-healthy', 'target': 'm2'}"));
  if (p) {
    CHECK_SHAPE(p, false, true, false);
    OPTIONAL_ARE(p, false, true, false);  /* auto may move m2 there: asked only */
  }
  edr_plan_free(p);
  /* a step of its own on the host makes it needed, before or after the wait */
  p = OK(STEPS("{'name': 'w', 'kind': 'wait-healthy', 'target': 'all'},"
               "{'name': 'x', 'kind': 'exec', 'target': 'm3', 'argv': ['true'], "
               "'read_only': true}"));
  if (p) {
    CHECK_SHAPE(p, true, true, true);
    OPTIONAL_ARE(p, true, true, false);
  }
  edr_plan_free(p);
  p = OK(STEPS("{'name': 'x', 'kind': 'exec', 'target': 'm1', 'argv': ['true'], "
               "'read_only': true},"
               "{'name': 'w', 'kind': 'wait-healthy', 'target': 'all'}"));
  if (p)
    OPTIONAL_ARE(p, false, true, true);
  edr_plan_free(p);
}

/* ---- the shipped playbooks ------------------------------------------------- */

static struct edr_plan *shipped(const char *name, const char *const *vars, size_t nv,
                                const struct edr_plan_opts *o) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.json", EDR_PLAYBOOK_DIR, name);
  if (access(path, R_OK) != 0) {
    printf("test_playbook: %s not there, not checked\n", path);
    return NULL;
  }
  struct edr_playbook *pb = NULL;
  struct edr_plan *p = NULL;
  err[0] = '\0';
  int rc = t_playbook_load(path, NULL, spec, vars, nv, &pb, err, sizeof err);
  if (!rc)
    rc = t_playbook_compile(pb, o, &p, err, sizeof err);
  if (rc)
    fprintf(stderr, "%s: %s\n", path, err);
  CHECK(rc == 0 && p != NULL);
  if (pb)
    CHECK_STR(edr_playbook_name(pb), name);
  if (p)
    CHECK_STR(p->playbook, name);
  edr_playbook_free(pb);
  return p;
}

static void test_shipped(void) {
  struct edr_plan *p = shipped("restore", NULL, 0, &opts_snap);
  if (p) {
    CHECK_SHAPE(p, true, true, true);
    CHECK(p->n_stages == 4 && p->stages[2].gate == EDR_GATE_HEALTH);
    for (size_t i = 0; i < 3; i++)
      CHECK(step_in(&p->hosts[i], EDR_STEP_RESTORE, 1) && step_in(&p->hosts[i], EDR_STEP_START, 2));
  }
  edr_plan_free(p);

  p = shipped("restore-kubernetes", NULL, 0, &opts_snap);
  if (p) {
    CHECK_SHAPE(p, true, true, true);
    CHECK(p->bump_revision == -1);
    long park = stage_named(p, "park-apiserver"), r = stage_named(p, "restore"),
         unpark = stage_named(p, "unpark-apiserver");
    /* parked right after the staging; the restore (its gate the health) after
     * it, whatever waits in between; brought back after the restore */
    CHECK(park == 2 && r > park && unpark > r);
    CHECK(r > 0 && p->stages[r].gate == EDR_GATE_HEALTH);
    CHECK(unpark > 0 && step_in(&p->hosts[1], EDR_STEP_MOVE_BACK, unpark) != NULL);
    const struct edr_step *m = step_in(&p->hosts[0], EDR_STEP_MOVE_ASIDE, park);
    CHECK_STR(req_str(m, "from"), "/etc/kubernetes/manifests/kube-apiserver.yaml");
    CHECK_STR(req_str(m, "to"), "/etc/kubernetes/kube-apiserver.yaml.etcd-dr-" RUN);
    CHECK(step_in(&p->hosts[0], EDR_STEP_PUSH_SNAPSHOT, 1) != NULL);
  }
  edr_plan_free(p);
  const char *manifest[] = {"manifest=/etc/k8s/apiserver.yaml", "parked=/etc/k8s/parked.yaml"};
  p = shipped("restore-kubernetes", manifest, 2, &opts_snap);
  if (p) {
    const struct edr_step *m = step_in(&p->hosts[2], EDR_STEP_MOVE_ASIDE, 2);
    CHECK_STR(req_str(m, "from"), "/etc/k8s/apiserver.yaml");
    CHECK_STR(req_str(m, "to"), "/etc/k8s/parked.yaml");
  }
  edr_plan_free(p);

  const char *seed[] = {"seed=m2"};
  p = shipped("rebuild-from-one", seed, 1, &opts);
  if (p) {
    CHECK_SHAPE(p, true, true, true);
    long e1 = stage_named(p, "env[m1]"), e3 = stage_named(p, "env[m3]");
    long w1 = stage_named(p, "caught-up[m1]"), w3 = stage_named(p, "caught-up[m3]");
    CHECK(e1 > 0 && e3 > e1 && w1 > e1 && w3 > e3);
    /* first the seed's db is checked (read only), then every member is stopped */
    CHECK(stage_named(p, "env[m2]") < 0 && stage_named(p, "seed-has-data") == 1 &&
          stage_named(p, "stop") == 2);
    const struct edr_step *s1 = e1 > 0 ? step_in(&p->hosts[0], EDR_STEP_SET_ENV, e1) : NULL;
    CHECK_STR(json_string_value(json_object_get(s1 ? json_object_get(s1->request, "set") : NULL,
                                                "ETCD_INITIAL_CLUSTER")),
              "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380");
    if (w1 > 0 && w3 > 0) {
      CHECK(members_are(&p->stages[w1], (const size_t[]){0, 1}, 2));
      CHECK(members_are(&p->stages[w3], (const size_t[]){0, 1, 2}, 3));
    }
    /* the seed's data stays; the others' member dirs go aside */
    CHECK(count_kind(&p->hosts[1], EDR_STEP_MOVE_ASIDE) == 0);
    CHECK(count_kind(&p->hosts[0], EDR_STEP_MOVE_ASIDE) == 1);
  }
  edr_plan_free(p);
  /* without the required seed */
  char path[1024];
  snprintf(path, sizeof path, "%s/rebuild-from-one.json", EDR_PLAYBOOK_DIR);
  if (access(path, R_OK) == 0) {
    struct edr_playbook *pb = NULL;
    CHECK(t_playbook_load(path, NULL, spec, NULL, 0, &pb, err, sizeof err) == EDR_EINVAL);
    CHECK_CONTAINS(err, "seed");
    edr_playbook_free(pb);
  }

  const char *member[] = {"member=m3"};
  p = shipped("replace-member", member, 1, &opts);
  if (p) {
    CHECK_SHAPE(p, true, true, true);  /* m1, m2: asked by the quorum wait */
    OPTIONAL_ARE(p, true, true, false);  /* ... only: left out if their check fails */
    long rm = stage_named(p, "remove"), add = stage_named(p, "add");
    CHECK(rm > 0 && add > rm);
    if (rm > 0 && add > rm) {
      CHECK(members_are(&p->stages[rm], (const size_t[]){2}, 1));
      CHECK(members_are(&p->stages[add], (const size_t[]){2}, 1));
    }
    const struct edr_step *st = step_in(&p->hosts[2], EDR_STEP_START, -1);
    CHECK(st && st->allow_empty_start);
  }
  edr_plan_free(p);

  const char *dir[] = {"dir=/backups"};
  p = shipped("snapshot-rotate", dir, 1, &opts);
  if (p) {
    CHECK_SHAPE(p, false, false, false);
    long s = stage_named(p, "save");
    CHECK(s == 1 && p->stages[s].keep == 7 && p->stages[s].dir &&
          !strcmp(p->stages[s].dir, "/backups"));
  }
  edr_plan_free(p);
}

int main(void) {
  if (t_playbook_setup())
    return t_done("test_playbook_compile");

  test_checks_and_lock();
  test_each_block();
  test_durations();
  test_vars_and_fields();
  test_restore_step();
  test_step_options();
  test_snapshot_save_only();
  test_asked_through_hosts();
  test_shipped();

  t_playbook_teardown();
  return t_done("test_playbook_compile");
}
