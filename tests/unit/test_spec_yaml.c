/*
 * test_spec_yaml.c - YAML cluster specs (plan/spec_yaml.c): the same spec
 * as JSON and as YAML resolves the same; YAML's surprises (yes/no/on/off,
 * 0700, ports, empty values) are read as docs/spec.md says; every error
 * names the file and line and says the same words as the JSON path, checked
 * word for word; JSON or YAML is chosen by extension, else by content.
 */
#include "err.h"
#include "spec.h"
#include "spec_yaml.h"
#include "t.h"
#include "t_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char err[1024];
static char dir[] = "/tmp/edr-test-yaml.XXXXXX";

/* The spec in the file DIR/NAME holding T. */
static struct edr_spec *file(const char *name, const char *t) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f)
    abort();
  fputs(t, f);
  fclose(f);
  struct edr_spec *sp = NULL;
  err[0] = '\0';
  int rc = t_spec_from_json(path, NULL, NULL, &sp, err, sizeof err);
  unlink(path);
  /* messages below name the file without the directory */
  size_t n = strlen(dir) + 1;
  if (!strncmp(err, dir, n - 1) && err[n - 1] == '/')
    memmove(err, err + n, strlen(err + n) + 1);
  return rc ? NULL : sp;
}

static const char *const SPEC_YAML =
    "# prod etcd, three members\n"                  /* 1 */
    "cluster_name: prod-etcd\n"                     /* 2 */
    "ssh_user: ops\n"                               /* 3 */
    "sudo: yes          # YAML 1.1's true\n"        /* 4 */
    "data_dir: /var/lib/etcd\n"                     /* 5 */
    "data_dir_mode: 0700   # as written\n"          /* 6 */
    "stop_command: [systemctl, stop, etcd]\n"       /* 7 */
    "members:\n"                                    /* 8 */
    "  - name: etcd-1\n"                            /* 9 */
    "    peer_urls: [https://10.0.0.1:2380]\n"      /* 10 */
    "  - name: etcd-2\n"                            /* 11 */
    "    peer_urls:\n"                              /* 12 */
    "      - https://10.0.0.2:2380\n"               /* 13 */
    "    ssh_port: 2222\n"                          /* 14 */
    "  - name: etcd-3\n"                            /* 15 */
    "    peer_urls: ['https://10.0.0.3:2380']\n"    /* 16 */
    "    sudo: off\n"                               /* 17 */
    "    start_command: |-\n"                       /* 18 */
    "      docker start etcd\n";                    /* 19 */

static const char *const SPEC_JSON =
    "{\"cluster_name\": \"prod-etcd\", \"ssh_user\": \"ops\", \"sudo\": true,\n"
    " \"data_dir\": \"/var/lib/etcd\", \"data_dir_mode\": \"0700\",\n"
    " \"stop_command\": [\"systemctl\", \"stop\", \"etcd\"],\n"
    " \"members\": [\n"
    "  {\"name\": \"etcd-1\", \"peer_urls\": [\"https://10.0.0.1:2380\"]},\n"
    "  {\"name\": \"etcd-2\", \"peer_urls\": [\"https://10.0.0.2:2380\"], \"ssh_port\": 2222},\n"
    "  {\"name\": \"etcd-3\", \"peer_urls\": [\"https://10.0.0.3:2380\"], \"sudo\": false,\n"
    "   \"start_command\": \"docker start etcd\"}]}\n";

static bool same_strv(const struct edr_strv *a, const struct edr_strv *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->v[i], b->v[i]))
      return false;
  return true;
}

static void test_same_as_json(void) {
  struct edr_spec *y = file("cluster.yaml", SPEC_YAML);
  if (!y)
    fprintf(stderr, "yaml: %s\n", err);
  struct edr_spec *j = file("cluster.json", SPEC_JSON);
  CHECK(y && j);
  if (!y || !j) {
    edr_spec_free(y);
    edr_spec_free(j);
    return;
  }
  CHECK(y->n_members == 3 && j->n_members == 3);
  for (size_t i = 0; i < 3 && i < y->n_members; i++) {
    const struct edr_member *a = &y->members[i], *b = &j->members[i];
    CHECK_STR(a->name, b->name);
    CHECK(same_strv(&a->peer_urls, &b->peer_urls));
    CHECK(same_strv(&a->client_urls, &b->client_urls));
    CHECK_STR(a->ssh_user, b->ssh_user);
    CHECK(a->ssh_port == b->ssh_port);
    CHECK(a->sudo == b->sudo);
    CHECK(a->data_dir_mode == b->data_dir_mode);
    CHECK(same_strv(&a->stop_command, &b->stop_command));
    CHECK(same_strv(&a->start_command, &b->start_command));
  }
  CHECK(y->members[1].ssh_port == 2222);      /* a port is a number */
  CHECK(y->members[0].sudo && !y->members[2].sudo); /* yes and off */
  CHECK(y->members[0].data_dir_mode == 0700);  /* 0700 as written, not 448 or 700 */
  CHECK_STR(y->members[2].start_command.v[2], "docker start etcd");
  edr_spec_free(y);
  edr_spec_free(j);
}

/* A line added to one member (the file's line 4), and what it gets. */
static const struct {
  const char *line, *want;
} member_cases[] = {
  {"    ssh_port: 99999",
   "cluster.yaml:4: member 'm1': field 'ssh_port': expected a port number 1-65535"},
  {"    ssh_port: '22'",
   "cluster.yaml:4: member 'm1': field 'ssh_port': expected a port number 1-65535"},
  {"    ssh_user: no",
   "cluster.yaml:4: member 'm1': field 'ssh_user': expected a user name of letters, digits, "
   "'.', '_' or '-' (YAML reads the unquoted no as false: quote it to mean the word)"},
  {"    ssh_user: 'no'", "(accepted)"},
  {"    ssh_user:",
   "cluster.yaml:4: member 'm1': field 'ssh_user': expected a user name of letters, digits, "
   "'.', '_' or '-' (YAML reads the empty value as null)"},
  {"    sshUser: ops",
   "cluster.yaml:4: member 'm1': unknown field 'sshUser' (did you mean 'ssh_user'?)"},
  {"    data_dir: var/lib/etcd",
   "cluster.yaml:4: member 'm1': field 'data_dir': 'var/lib/etcd' is not an absolute path of "
   "letters, digits and ._-+@=,: (no '.' or '..')"},
  {"    data_dir_mode: 0o700",
   "cluster.yaml:4: member 'm1': field 'data_dir_mode': '0o700' is not an octal mode string "
   "such as \"0700\""},
  {"    sudo: maybe", "cluster.yaml:4: member 'm1': field 'sudo': expected true or false"},
  {"    sudo: On", "(accepted)"},
  {"    sudo: yEs", "cluster.yaml:4: member 'm1': field 'sudo': expected true or false"},
  {"    ssh_port: 22\n    ssh_port: 23", "cluster.yaml:5: duplicate key 'ssh_port'"},
  {"    peer_urls: [http://10.0.0.1:2380/x]", "cluster.yaml:4: duplicate key 'peer_urls'"},
  {"  - name: m1\n    peer_urls: [http://10.0.0.2:2380]",
   "cluster.yaml:4: member 'm1': field 'name': duplicate: two members are named 'm1'"},
};

/* Whole files and what they get: YAML that is refused, errors on other
 * lines, numbers that YAML 1.1 would have read otherwise. */
static const struct {
  const char *name, *yaml, *want;
} file_cases[] = {
  {"c.json", "{\"members\": [{\"name\": \"m1\", \"peer_urls\": [\"http://10.0.0.1:2380\"], "
             "\"ssh_port\": 99999}]}",
   "c.json: member 'm1': field 'ssh_port': expected a port number 1-65535"},
  {"c.yml", "members:\n  - peer_urls: [http://10.0.0.1:2380]\n",
   "c.yml:2: member '#1': field 'name': missing: every member needs a name"},
  {"c.yml", "ssh_user: ops\nmembers:\n  - name: m1\n  - name: m2\n    peer_urls: [http://a:1]\n",
   "c.yml:3: member 'm1': field 'peer_urls': missing: a member needs at least one peer URL"},
  {"c.yml", "ssh_port: 70000\nmembers:\n  - name: m1\n    peer_urls: [http://a:1]\n",
   "c.yml:1: field 'ssh_port': expected a port number 1-65535"},
  {"c.yml", "members: []\n", "c.yml:1: field 'members': expected a non-empty list of members"},
  {"c.yaml", "members:\n  - name: m1\n    peer_urls: [http://x:1\n",
   "c.yaml:4: column 1: did not find expected ',' or ']' while parsing a flow sequence"},
  {"c.yaml", "base: &b\n  ssh_user: ops\nmembers:\n  - <<: *b\n    name: m1\n",
   "c.yaml:4: aliases (*b) are not supported: write the value out (a cluster-wide field "
   "applies to every member)"},
  {"c.yaml", "members:\n  - name: m1\n    peer_urls: [http://x:1]\n---\nmembers: []\n",
   "c.yaml:4: a second YAML document ('---'): a cluster spec is one document"},
  {"c.yaml", "ssh_port: !!int 22\nmembers: []\n",
   "c.yaml:1: tag 'tag:yaml.org,2002:int' is not supported (only !!str)"},
  {"c.yaml", "? [a, b]\n: x\n", "c.yaml:1: a key must be text, not a list"},
  {"c.yaml", "- just\n- a list\n",
   "c.yaml:1: expected a mapping (key: value lines) with a \"members\" list"},
  {"c.yaml", "# nothing but a comment\n",
   "c.yaml: expected a mapping (key: value lines) with a \"members\" list"},
  {"c.yaml", "a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
   "c.yaml:1: nested deeper than 64 levels"},
  /* hex and base 60 are text, not YAML 1.1's numbers: no port */
  {"c.yaml", "ssh_port: 0x16\nmembers: [{name: m1, peer_urls: ['http://x:1']}]\n",
   "c.yaml:1: field 'ssh_port': expected a port number 1-65535"},
  {"c.yaml", "ssh_port: 0:22\nmembers: [{name: m1, peer_urls: ['http://x:1']}]\n",
   "c.yaml:1: field 'ssh_port': expected a port number 1-65535"},
  /* !!str keeps a word a word */
  {"c.yaml", "members:\n  - name: !!str yes\n    peer_urls: [http://x:1]\n", "(accepted)"},
  /* another name: by content */
  {"cluster.conf", "members:\n  - name: m1\n    peer_urls: [http://10.0.0.1:2380]\n",
   "(accepted)"},
  {"cluster.conf", "{\"members\": 3}",
   "cluster.conf: field 'members': expected a non-empty list of members"},
  /* JSON errors keep JSON's words */
  {"c.json", "{\"members\": [}", "c.json: line 1, column 14: unexpected token near '}'"},
  {"c.json", "members: []", "c.json: line 1, column 7: '[' or '{' expected near 'members'"},
};

static void test_errors_word_for_word(void) {
  for (size_t i = 0; i < sizeof member_cases / sizeof member_cases[0]; i++) {
    char t[512];
    snprintf(t, sizeof t, "members:\n  - name: m1\n    peer_urls: [http://10.0.0.1:2380]\n%s\n",
             member_cases[i].line);
    struct edr_spec *s = file("cluster.yaml", t);
    CHECK_STR(s ? "(accepted)" : err, member_cases[i].want);
    edr_spec_free(s);
  }
  for (size_t i = 0; i < sizeof file_cases / sizeof file_cases[0]; i++) {
    struct edr_spec *s = file(file_cases[i].name, file_cases[i].yaml);
    CHECK_STR(s ? "(accepted)" : err, file_cases[i].want);
    if (s && strstr(file_cases[i].yaml, "!!str yes"))
      CHECK_STR(s->members[0].name, "yes");
    edr_spec_free(s);
  }
}

static void test_choice(void) {
  CHECK(edr_spec_is_yaml("a/cluster.yaml", NULL));
  CHECK(edr_spec_is_yaml("cluster.yml", NULL));
  CHECK(!edr_spec_is_yaml("cluster.json", NULL));
  CHECK(edr_spec_is_yaml(NULL, "members: []"));
  CHECK(!edr_spec_is_yaml(NULL, "  \n {\"members\": []}"));
  CHECK(!edr_spec_is_yaml(NULL, "\xef\xbb\xbf[1]"));
  char missing[300];
  snprintf(missing, sizeof missing, "%s/none.yaml", dir);
  struct edr_spec *s = NULL;
  CHECK(t_spec_from_json(missing, NULL, NULL, &s, err, sizeof err) == EDR_EINVAL);
  char want[800];
  snprintf(want, sizeof want, "%s: cannot read: unable to open %s: No such file or directory",
           missing, missing);
  CHECK_STR(err, want);
}

/* A value given on the command line has no line in the file, even when a
 * member of the file is named like the command line's label (found by
 * fuzz_spec_yaml: the lookup returned that member's line). */
static void test_cmdline_label(void) {
  static const char t[] = "members:\n  - name: \"(command line)\"\n    ssh_port: 2222\n";
  json_t *root = NULL;
  struct edr_spec_lines *l = NULL;
  struct edr_error e = EDR_ERROR_INIT;
  int line = -1;
  char hint[200];
  CHECK(edr_spec_load_yaml(t, sizeof t - 1, &root, &l, &line, &e) == 0);
  if (!root)
    return;
  CHECK(edr_spec_line(l, root, "#1", "ssh_port", hint, sizeof hint) == 3);
  CHECK(edr_spec_line(l, root, EDR_SPEC_CMDLINE, "ssh_port", hint, sizeof hint) == 0);
  edr_spec_lines_free(l);
  json_decref(root);
  edr_error_release(&e);
}

int main(void) {
  if (!mkdtemp(dir))
    return 1;
  setenv("USER", "tester", 1);
  test_same_as_json();
  test_errors_word_for_word();
  test_choice();
  test_cmdline_label();
  rmdir(dir);
  return t_done("test_spec_yaml");
}
