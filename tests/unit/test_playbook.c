/*
 * test_playbook.c - playbook validation (docs/playbooks.md): every playbook
 * etcd-dr refuses is refused with EDR_EINVAL and a message that names the
 * step and the field (structure, restore, variables, targets, fields, the
 * top level), and secrets stay out of the plan's JSON.  The compiled plan's
 * shape is test_playbook_compile.c's; the fixtures are t_playbook.h's.
 *
 * Playbooks are written with ' for " (see j()) to keep them readable.
 */
#include "t_playbook.h"

/* ---- validation ------------------------------------------------------------ */

static void test_structure_errors(void) {
  FAILS(STEPS("{'name': 's1', 'kind': 'reboot'}"), "step 's1'", "field 'kind'", "reboot");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'colour': 'red'}"), "step 's1'",
        "field 'colour'");
  /* a field of set-env on a stop step */
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'env': {'ETCD_X': '1'}}"), "step 's1'",
        "field 'env'");
  FAILS(STEPS("{'name': 's1', 'kind': 'start', 'missing_ok': true}"), "step 's1'",
        "field 'missing_ok'");
  FAILS(STEPS("{'name': 'a', 'kind': 'stop'}, {'name': 'a', 'kind': 'start'}"), "step 'a'",
        "field 'name'");
  /* names are unique across blocks too */
  FAILS(STEPS("{'name': 'a', 'kind': 'stop'},"
              "{'name': 'b', 'target': 'each', 'steps': [{'name': 'a', 'kind': 'start'}]}"),
        "step 'a'", "field 'name'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop'}, {'kind': 'start'}"), "step 2", "field 'name'");
  FAILS(STEPS("{'name': 'bad name', 'kind': 'stop'}"), "field 'name'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop'}, 42"), "step 2", "not an object");
  /* each in each: a block, and a step aimed at each */
  FAILS(STEPS("{'name': 'outer', 'target': 'each', 'steps': ["
              "  {'name': 'inner', 'target': 'each', 'steps': [{'name': 'x', 'kind': 'stop'}]}]}"),
        "step 'inner'", "field 'target'", "each");
  FAILS(STEPS("{'name': 'outer', 'target': 'each', 'steps': ["
              "  {'name': 'x', 'kind': 'stop', 'target': 'each'}]}"),
        "step 'x'", "field 'target'", "each");
  /* a block has no kind (docs/playbooks.md: only name, target, exclude, steps) */
  FAILS(STEPS("{'name': 'b', 'kind': 'stop', 'target': 'each', 'steps': ["
              "  {'name': 'x', 'kind': 'start'}]}"),
        "step 'b'", "field 'kind'");
  FAILS(STEPS("{'name': 'b', 'target': 'each', 'timeout': 5, 'steps': ["
              "  {'name': 'x', 'kind': 'start'}]}"),
        "step 'b'", "field 'timeout'");
  FAILS(STEPS("{'name': 'b', 'target': 'each', 'steps': []}"), "step 'b'", "field 'steps'");
  FAILS(STEPS("{'name': 'b', 'kind': 'stop', 'target': 'm1', 'steps': [{'name': 'x', "
              "'kind': 'start'}]}"),
        "step 'b'", "field 'steps'");
  /* an each block's exclude is a member name or a list of them */
  FAILS(STEPS("{'name': 'b', 'target': 'each', 'exclude': 5, 'steps': ["
              "  {'name': 'x', 'kind': 'start'}]}"),
        "step 'b'", "field 'exclude'");
  FAILS(STEPS("{'name': 'p', 'kind': 'pause', 'seconds': 1, 'target': 'each'}"), "step 'p'",
        "field 'target'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'target': 3}"), "step 's1'", "field 'target'");
}

static void test_restore_errors(void) {
  FAILS(STEPS("{'name': 'r', 'kind': 'restore', 'target': 'm1'}"), "step 'r'",
        "field 'target'");
  FAILS(STEPS("{'name': 'r', 'kind': 'restore', 'exclude': 'm1'}"), "step 'r'", "exclude");
  FAILS(STEPS("{'name': 'r', 'kind': 'restore', 'target': 'each'}"), "step 'r'",
        "field 'target'");
  FAILS(STEPS("{'name': 'b', 'target': 'each', 'steps': [{'name': 'r', 'kind': 'restore'}]}"),
        "step 'r'", "field 'target'");
  /* two restores: the message names the second one and what is wrong */
  FAILS(STEPS("{'name': 'r1', 'kind': 'restore'}, {'name': 'r2', 'kind': 'restore'}"),
        "restore");
  FAILS(STEPS("{'name': 'r1', 'kind': 'restore'}, {'name': 'r2', 'kind': 'restore'}"),
        "step 'r2'", "field 'kind'");
  FAILS(STEPS("{'name': 'r', 'kind': 'restore', 'bump_revision': 'later'}"), "step 'r'",
        "field 'bump_revision'");
  FAILS(STEPS("{'name': 'r', 'kind': 'restore', 'bump_revision': 0}"), "step 'r'",
        "field 'bump_revision'");
}

static void test_variable_errors(void) {
  const char *undeclared[] = {"nope=1"};
  FAILS_VARS(STEPS("{'name': 's1', 'kind': 'stop'}"), undeclared, "--var", "'nope'");
  const char *builtin[] = {"target=m1"};
  FAILS_VARS(STEPS("{'name': 's1', 'kind': 'stop'}"), builtin, "'target'", "built-in");
  const char *noeq[] = {"member"};
  FAILS_VARS(VARS_STEPS("'member': {}", "{'name': 's1', 'kind': 'stop'}"), noeq, "member",
             "NAME=VALUE");
  const char *ctl[] = {"member=m1\nm2"};
  FAILS_VARS(VARS_STEPS("'member': {}", "{'name': 's1', 'kind': 'stop'}"), ctl, "member",
             "control");
  FAILS(VARS_STEPS("'member': {'required': true, 'description': 'the lost one'}",
                   "{'name': 's1', 'kind': 'stop', 'target': '${member}'}"),
        "--var member=", "the lost one");
  FAILS(VARS_STEPS("'Member': {}", "{'name': 's1', 'kind': 'stop'}"), "'Member'");
  FAILS(VARS_STEPS("'joined': {}", "{'name': 's1', 'kind': 'stop'}"), "'joined'", "built-in");
  FAILS(VARS_STEPS("'m': {'default': 1}", "{'name': 's1', 'kind': 'stop'}"), "'m'",
        "field 'default'");
  FAILS(VARS_STEPS("'m': {'secret': 'x'}", "{'name': 's1', 'kind': 'stop'}"), "'m'",
        "field 'secret'");
  /* 64 characters: more than a --var NAME can be */
  FAILS(VARS_STEPS("'v123456789012345678901234567890123456789012345678901234567890123': {}",
                   "{'name': 's1', 'kind': 'stop'}"),
        "v123456789");
  /* undefined, in a target and in a kind's field */
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'target': '${nope}'}"), "step 's1'",
        "field 'target'", "${nope}");
  FAILS(STEPS("{'name': 's1', 'kind': 'move-aside', 'path': '/srv/${nope}'}"), "step 's1'",
        "field 'path'", "${nope}");
  FAILS(STEPS("{'name': 's1', 'kind': 'move-aside', 'path': '/srv/${target.nope}'}"),
        "step 's1'", "field 'path'", "target.nope");
  FAILS(STEPS("{'name': 's1', 'kind': 'move-aside', 'path': '/srv/${run_id'}"), "step 's1'",
        "field 'path'");
  /* a variable's value may use others, but not itself */
  FAILS(VARS_STEPS("'a': {'default': '/srv/${b}'}, 'b': {'default': '${a}'}",
                   "{'name': 's1', 'kind': 'move-aside', 'path': '${a}'}"),
        "step 's1'", "field 'path'", "itself");
  /* ${target}: only in a step that runs on hosts, or in an each block */
  FAILS(STEPS("{'name': 'w', 'kind': 'wait-healthy', 'target': '${target}'}"), "step 'w'",
        "field 'target'", "${target}");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'target': '${target}'}"), "step 's1'",
        "field 'target'", "${target}");
  FAILS(STEPS("{'name': 'c', 'kind': 'confirm', 'message': 'go on with ${target}?'}"),
        "step 'c'", "field 'message'", "${target}");
  FAILS(STEPS("{'name': 's', 'kind': 'snapshot-save', 'output': '/b/${target.data_dir}'}"),
        "step 's'", "field 'output'", "${target.data_dir}");
  /* ${joined}: only in an each block */
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'target': 'm1', "
              "'env': {'ETCD_INITIAL_CLUSTER': '${joined_initial_cluster}'}}"),
        "step 'e'", "field 'env'", "${joined_initial_cluster}");
  FAILS(STEPS("{'name': 'w', 'kind': 'wait-healthy', 'target': '${joined}'}"), "step 'w'",
        "field 'target'", "${joined}");
  /* ${snapshot} without one */
  struct edr_plan *p = NULL;
  char *t = j(STEPS("{'name': 'x', 'kind': 'exec', 'argv': ['/bin/true', '${snapshot}']}"));
  CHECK(build_raw(spec, t, NULL, 0, &opts, &p) == EDR_EINVAL);
  CHECK_CONTAINS(err, "step 'x'");
  CHECK_CONTAINS(err, "field 'argv'");
  edr_plan_free(p);
  free(t);
}

static void test_target_errors(void) {
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'target': 'm9'}"), "step 's1'", "field 'target'",
        "'m9'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'target': 'm1,m9'}"), "step 's1'",
        "field 'target'", "'m9'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'exclude': ['m1', 'm9']}"), "step 's1'",
        "field 'exclude'", "'m9'");
  FAILS(STEPS("{'name': 'b', 'target': 'each', 'exclude': 'm9', 'steps': ["
              "  {'name': 'x', 'kind': 'stop'}]}"),
        "step 'b'", "field 'exclude'", "'m9'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'exclude': ['m1', 'm2', 'm3']}"), "step 's1'",
        "field 'target'");
  FAILS(STEPS("{'name': 'a', 'kind': 'member-add', 'target': 'm1,m2'}"), "step 'a'",
        "field 'target'");
  FAILS(STEPS("{'name': 'a', 'kind': 'member-remove'}"), "step 'a'", "field 'target'");
  /* set-env and reset-env need the member's env_file */
  fails_at(__LINE__, spec_noenv, STEPS("{'name': 'e', 'kind': 'set-env', 'target': 'm3', "
                                       "'env': {'ETCD_X': '1'}}"),
           false, NULL, 0, SUBS("step 'e'", "field 'kind'", "m3", "env_file"));
  fails_at(__LINE__, spec_noenv, STEPS("{'name': 'u', 'kind': 'reset-env'}"), false, NULL, 0,
           SUBS("step 'u'", "m3", "env_file"));
  struct edr_plan *p = ok_at(__LINE__, spec_noenv,
                             STEPS("{'name': 'e', 'kind': 'set-env', 'exclude': 'm3', "
                                   "'env': {'ETCD_X': '1'}}"),
                             NULL, 0, &opts);
  edr_plan_free(p);
}

/* Values of exec steps' env and of set-env may be secrets: the plan's JSON
 * (the dry run's, the report's) keeps their names only; the operator's
 * text plan shows set-env's values. */
static void test_secrets(void) {
  struct edr_plan *p = OK(STEPS(
      "{'name': 'x', 'kind': 'exec', 'target': 'm1', 'argv': ['/bin/true'],"
      " 'env': {'TOKEN': 's3cretvalue'}},"
      "{'name': 'e', 'kind': 'set-env', 'target': 'm1', 'env': {'ETCD_X': 'v4lue123'}}"));
  if (!p)
    return;
  json_t *jp = edr_plan_to_json(p);
  char *dump = json_dumps(jp, 0);
  CHECK(dump && !strstr(dump, "s3cretvalue"));
  CHECK(dump && !strstr(dump, "v4lue123"));
  CHECK(dump && strstr(dump, "\"TOKEN\": \"(redacted)\""));
  CHECK(dump && strstr(dump, "\"ETCD_X\": \"(redacted)\""));
  free(dump);
  json_decref(jp);
  /* the plan itself still carries them to the hosts */
  CHECK_STR(json_string_value(json_object_get(
                json_object_get(step_in(&p->hosts[0], EDR_STEP_SET_ENV, -1)->request, "set"),
                "ETCD_X")), "v4lue123");
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  edr_plan_print(p, f);
  fclose(f);
  CHECK_CONTAINS(text, "             ETCD_X=v4lue123\n");
  CHECK(!strstr(text, "s3cretvalue"));
  free(text);
  edr_plan_free(p);
}

static void test_field_errors(void) {
  FAILS(STEPS("{'name': 'm', 'kind': 'move-aside', 'path': 'var/lib/etcd/member'}"),
        "step 'm'", "field 'path'", "var/lib/etcd/member");
  FAILS(STEPS("{'name': 'm', 'kind': 'move-aside', 'path': '/var/lib/../etc'}"), "step 'm'",
        "field 'path'");
  FAILS(STEPS("{'name': 'm', 'kind': 'move-aside', 'to': '/srv/./x'}"), "step 'm'",
        "field 'to'");
  FAILS(STEPS("{'name': 'm', 'kind': 'move-back', 'from': 'x'}"), "step 'm'", "field 'from'");
  FAILS(STEPS("{'name': 'm', 'kind': 'move-aside', 'path': '/srv/a', 'to': '/srv/a'}"),
        "step 'm'", "field 'to'");
  FAILS(STEPS("{'name': 'm', 'kind': 'move-aside', 'missing_ok': 'yes'}"), "step 'm'",
        "field 'missing_ok'");
  /* env values that would change the env file's meaning */
  FAILS_RAW("{\"playbook\": 1, \"name\": \"t\", \"steps\": [{\"name\": \"e\", \"kind\": "
            "\"set-env\", \"env\": {\"ETCD_X\": \"a\\\"b\"}}]}",
            "step 'e'", "field 'env'", "ETCD_X");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a$b'}}"), "step 'e'",
        "field 'env'", "ETCD_X");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a\\nb'}}"), "step 'e'",
        "field 'env'");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a`b'}}"), "step 'e'",
        "field 'env'");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 1}}"), "step 'e'",
        "field 'env'");
  /* what a shell sourcing the env file would run or split */
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a;touch /tmp/p'}}"),
        "step 'e'", "field 'env'", "'ETCD_X': its value has ';'", "docs/playbooks.md");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a|b'}}"), "has '|'");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a&b'}}"), "has '&'");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a(b'}}"), "has '('");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a>b'}}"), "has '>'");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': '~/x'}}"), "has '~'");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a b'}}"), "has a space");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'a\\u0009b'}}"),
        "has a control character");
  /* the value is not repeated in the message (it may be a secret) */
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': 'hunter2;x'}}"), "ETCD_X");
  CHECK(!strstr(err, "hunter2"));
  /* what etcd's settings look like passes: URLs (IPv6 too), lists, paths */
  struct edr_plan *okp = OK(STEPS(
      "{'name': 'e', 'kind': 'set-env', 'target': 'm1', 'env': {"
      "'ETCD_INITIAL_CLUSTER': 'm1=http://[fd00::1]:2380,m2=http://10.0.0.2:2380',"
      "'ETCD_DATA_DIR': '/var/lib/etcd', 'ETCD_X': 'a_b.c-d@e+f%g', 'ETCD_E': ''}}"));
  edr_plan_free(okp);
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'ETCD X': '1'}}"), "step 'e'",
        "field 'env'");
  /* an empty name would write a line '=1' */
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'env': {'': '1'}}"), "step 'e'",
        "field 'env'");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env'}"), "step 'e'", "field 'env'");
  FAILS(STEPS("{'name': 'e', 'kind': 'set-env', 'unset': [1]}"), "step 'e'", "field 'unset'");
  /* a value that becomes bad only once substituted */
  const char *dollar[] = {"v=a$b"};
  FAILS_VARS(VARS_STEPS("'v': {}", "{'name': 'e', 'kind': 'set-env', 'env': {'ETCD_X': '${v}'}}"),
             dollar, "step 'e'", "field 'env'");
  /* numbers given as variables are numbers once substituted */
  const char *nan[] = {"n=nan"}, *neg[] = {"n=-1"}, *word[] = {"n=ten"};
  FAILS_VARS(VARS_STEPS("'n': {}", "{'name': 's1', 'kind': 'stop', 'timeout': '${n}'}"), nan,
             "step 's1'", "field 'timeout'", "nan");
  FAILS_VARS(VARS_STEPS("'n': {}", "{'name': 's1', 'kind': 'stop', 'retries': '${n}'}"), neg,
             "step 's1'", "field 'retries'");
  FAILS_VARS(VARS_STEPS("'n': {}", "{'name': 'p', 'kind': 'pause', 'seconds': '${n}'}"), word,
             "step 'p'", "field 'seconds'", "ten");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'timeout': 'soon'}"), "step 's1'",
        "field 'timeout'");
  /* snapshot-save: exactly one of dir and output */
  FAILS(STEPS("{'name': 's', 'kind': 'snapshot-save', 'dir': '/b', 'output': '/b/x.db'}"),
        "step 's'", "field 'output'");
  FAILS(STEPS("{'name': 's', 'kind': 'snapshot-save'}"), "step 's'", "field 'dir'");
  FAILS(STEPS("{'name': 's', 'kind': 'snapshot-save', 'output': '/b/x.db', 'keep': 3}"),
        "step 's'", "field 'keep'");
  FAILS(STEPS("{'name': 's', 'kind': 'snapshot-save', 'dir': '/b', 'keep': 'many'}"),
        "step 's'", "field 'keep'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'on_failure': 'ignore'}"), "step 's1'",
        "field 'on_failure'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'on_failure': true}"), "step 's1'",
        "field 'on_failure'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'timeout': -1}"), "step 's1'", "field 'timeout'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'retries': -2}"), "step 's1'", "field 'retries'");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'retry_delay': '2x'}"), "step 's1'",
        "field 'retry_delay'", "a duration such as 90, \"90s\" or \"2m\"");
  FAILS(STEPS("{'name': 'w', 'kind': 'wait-healthy', 'timeout': '1000001s'}"), "step 'w'",
        "field 'timeout'");
  FAILS(STEPS("{'name': 'r', 'kind': 'restore', 'health_timeout': 'soon'}"), "step 'r'",
        "field 'health_timeout'");
  FAILS(STEPS("{'name': 's1', 'kind': 'start', 'empty_data_dir': 'yes'}"), "step 's1'",
        "field 'empty_data_dir'");
  FAILS(STEPS("{'name': 'x', 'kind': 'exec', 'argv': []}"), "step 'x'", "field 'argv'");
  FAILS(STEPS("{'name': 'x', 'kind': 'exec', 'argv': ['/bin/echo', 3]}"), "step 'x'",
        "field 'argv'");
  FAILS(STEPS("{'name': 'x', 'kind': 'exec', 'argv': ['/bin/true'], 'read_only': 1}"),
        "step 'x'", "field 'read_only'");
  FAILS(STEPS("{'name': 'w', 'kind': 'wait-healthy', 'min_revision': 'soon'}"), "step 'w'",
        "field 'min_revision'");
  FAILS(STEPS("{'name': 'p', 'kind': 'pause'}"), "step 'p'", "field 'seconds'");
}

static void test_top_level_errors(void) {
  FAILS("{'playbook': 2, 'name': 't', 'steps': [{'name': 's1', 'kind': 'stop'}]}",
        "field 'playbook'");
  FAILS("{'name': 't', 'steps': [{'name': 's1', 'kind': 'stop'}]}", "field 'playbook'");
  FAILS("{'playbook': '1', 'name': 't', 'steps': [{'name': 's1', 'kind': 'stop'}]}",
        "field 'playbook'");
  FAILS("[{'name': 's1', 'kind': 'stop'}]", "t.json", "not a JSON object");
  FAILS("'steps'", "t.json");
  FAILS("{'playbook': 1, 'name': 't', 'steps': []}", "field 'steps'");
  FAILS("{'playbook': 1, 'steps': [{'name': 's1', 'kind': 'stop'}]}", "field 'name'");
  FAILS("{'playbook': 1, 'name': 't', 'step': [{'name': 's1', 'kind': 'stop'}]}",
        "field 'step'");
  FAILS("{'playbook': 1, 'name': 't', 'needs_snapshot': 'yes', 'steps': [{'name': 's1', "
        "'kind': 'stop'}]}",
        "field 'needs_snapshot'");
  /* duplicate keys, at the top and in a step */
  FAILS("{'playbook': 1, 'playbook': 1, 'name': 't', 'steps': [{'name': 's1', 'kind': 'stop'}]}",
        "t.json", "duplicate");
  FAILS(STEPS("{'name': 's1', 'kind': 'stop', 'kind': 'start'}"), "t.json", "duplicate");
  FAILS("{'playbook': 1, 'name': 't', 'steps': [", "t.json");
}

int main(void) {
  if (t_playbook_setup())
    return t_done("test_playbook");

  test_structure_errors();
  test_restore_errors();
  test_variable_errors();
  test_target_errors();
  test_field_errors();
  test_secrets();
  test_top_level_errors();

  t_playbook_teardown();
  return t_done("test_playbook");
}
