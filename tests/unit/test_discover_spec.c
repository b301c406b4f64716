/*
 * test_discover_spec.c - the cluster spec `etcd-dr discover` makes from an
 * agent's discover reply (orchestrator/plan/discover_spec.c): members from
 * the db, names from --initial-cluster, SSH hosts from peer URLs, a member
 * whose host cannot be told refused with the flag to give, and the
 * settings that depend on how etcd is started.
 */
#include "discover_spec.h"
#include "err.h"
#include "t.h"
#include "t_plan.h"

#include <stdlib.h>
#include <string.h>

static json_t *facts(const char *json) {
  json_error_t e;
  json_t *f = json_loads(json, 0, &e);
  if (!f)
    fprintf(stderr, "bad fixture: %s\n", e.text);
  return f;
}

#define SET(k, v, f) "\"" k "\": {\"value\": \"" v "\", \"from\": \"" f "\"}"

static void from_db(void) {
  json_t *f = facts(
      "{\"kind\": \"systemd\", \"unit\": \"etcd.service\", \"container\": null,"
      " \"env_files\": [\"/etc/default/etcd\"],"
      " \"sources\": [{\"what\": \"env-file\", \"path\": \"/etc/default/etcd\", \"found\": true}],"
      " \"settings\": {" SET("name", "b", "/etc/default/etcd:1 (ETCD_NAME)") ","
      SET("data-dir", "/data/etcd", "/etc/default/etcd:2 (ETCD_DATA_DIR)") ","
      SET("advertise-client-urls", "https://10.0.0.2:2379", "/etc/default/etcd:3 (X)") ","
      SET("initial-cluster", "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380", "ic") ","
      SET("trusted-ca-file", "/pki/ca.crt", "u:9 ExecStart (--trusted-ca-file)") "},"
      " \"db\": {\"path\": \"/data/etcd/member/snap/db\", \"revision\": 42, \"members\": ["
      "  {\"id\": \"3\", \"name\": \"\", \"peerURLs\": [\"https://10.0.0.3:2380\"], \"clientURLs\": []},"
      "  {\"id\": \"1\", \"name\": \"a\", \"peerURLs\": [\"https://10.0.0.1:2380\"], \"clientURLs\": [\"https://10.0.0.1:2379\"]},"
      "  {\"id\": \"2\", \"name\": \"b\", \"peerURLs\": [\"https://10.0.0.2:2380\"], \"clientURLs\": []}]}}");
  struct edr_discover_in in = {.host = "etcd-b.example", .ssh_port = -1, .sudo = -1,
                               .ssh_user = "ops"};
  json_t *spec, *from;
  char err[1024];
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == 0);
  json_t *m = json_object_get(spec, "members");
  CHECK(json_array_size(m) == 3);
  CHECK_STR(json_string_value(json_object_get(json_array_get(m, 0), "name")), "a");
  CHECK_STR(json_string_value(json_object_get(json_array_get(m, 2), "name")), "c");
  CHECK_STR(edr_discover_from(from, "members[2].name"),
            "/data/etcd/member/snap/db (bucket members, id 3; its name from ic)");
  /* b is where discover ran: its host is the one reached, not its URL's */
  CHECK_STR(json_string_value(json_object_get(json_array_get(m, 1), "ssh_host")),
            "etcd-b.example");
  CHECK_STR(json_string_value(json_object_get(json_array_get(m, 0), "ssh_host")), "10.0.0.1");
  /* c's client URL: its host with the scheme and port of b's */
  CHECK_STR(json_string_value(json_array_get(
                json_object_get(json_array_get(m, 2), "client_urls"), 0)),
            "https://10.0.0.3:2379");
  CHECK_STR(json_string_value(json_object_get(spec, "data_dir")), "/data/etcd");
  CHECK_STR(edr_discover_from(from, "data_dir"), "/etc/default/etcd:2 (ETCD_DATA_DIR)");
  CHECK_STR(json_string_value(json_object_get(spec, "etcdctl_cacert")), "/pki/ca.crt");
  CHECK_STR(json_string_value(json_object_get(spec, "ssh_user")), "ops");
  CHECK_STR(json_string_value(json_array_get(json_object_get(spec, "stop_command"), 2)),
            "etcd.service");
  CHECK_STR(json_string_value(json_object_get(spec, "env_file")), "/etc/default/etcd");
  json_decref(spec);
  json_decref(from);
  json_decref(f);
}

static void unreachable_member(void) {
  json_t *f = facts(
      "{\"kind\": \"none\", \"settings\": {" SET("name", "a", "x") "},"
      " \"db\": {\"path\": \"/var/lib/etcd/member/snap/db\", \"members\": ["
      "  {\"id\": \"1\", \"name\": \"a\", \"peerURLs\": [\"http://127.0.0.1:2380\"]},"
      "  {\"id\": \"2\", \"name\": \"b\", \"peerURLs\": [\"http://0.0.0.0:2380\"]}]}}");
  struct edr_discover_in in = {.host = "h1", .ssh_port = -1, .sudo = -1};
  json_t *spec, *from;
  char err[1024];
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == EDR_EINVAL);
  CHECK(spec == NULL && from == NULL);
  CHECK_STR(err, "cannot tell b's host from its peer URL http://0.0.0.0:2380: it is a "
                 "wildcard address, not a host; give it with --member-host b=HOST");
  const char *given[] = {"b=10.9.9.9"};
  in.member_hosts = given;
  in.n_member_hosts = 1;
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == 0);
  CHECK_STR(json_string_value(json_object_get(
                json_array_get(json_object_get(spec, "members"), 1), "ssh_host")),
            "10.9.9.9");
  CHECK_STR(edr_discover_from(from, "members[1].ssh_host"), "the command line (--member-host)");
  json_decref(spec);
  json_decref(from);
  json_decref(f);
}

static void no_membership(void) {
  json_t *f = facts("{\"kind\": \"none\", \"settings\": {},"
                    " \"db\": {\"path\": \"/var/lib/etcd/member/snap/db\","
                    " \"error\": \"cannot open '/var/lib/etcd/member/snap/db': it does not exist\"}}");
  struct edr_discover_in in = {.host = "h1", .ssh_port = -1, .sudo = -1};
  json_t *spec, *from;
  char err[1024];
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == EDR_EINVAL);
  CHECK_STR(err, "no membership found on h1: cannot open '/var/lib/etcd/member/snap/db': it "
                 "does not exist, and etcd's configuration there names no --initial-cluster; "
                 "give the data dir with --data-dir DIR");
  json_decref(f);

  /* no db, but an --initial-cluster: used, with a warning */
  f = facts("{\"kind\": \"kubeadm\", \"settings\": {"
            SET("initial-cluster", "cp1=https://10.0.0.1:2380,cp2=https://10.0.0.2:2380", "m:5 command (--initial-cluster)")
            "}, \"db\": {\"error\": \"gone\"}}");
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == 0);
  CHECK(json_array_size(json_object_get(spec, "members")) == 2);
  CHECK_STR(edr_discover_from(from, "members[1].peer_urls"), "m:5 command (--initial-cluster)");
  CHECK_STR(json_string_value(json_object_get(spec, "preset")), "kubeadm");
  CHECK_STR(edr_discover_from(from, "preset"), "etcd runs as a kubeadm static pod: its manifest on h1");
  json_decref(spec);
  json_decref(from);
  json_decref(f);
}

/* A kubeadm manifest: the preset and the manifest's path, so the spec stops
 * and starts etcd by moving it; stop and start commands given instead keep
 * the preset out, with a warning saying so. */
static void kubeadm_manifest(void) {
  json_t *f = facts(
      "{\"kind\": \"kubeadm\", \"unit\": null, \"container\": null, \"env_files\": [],"
      " \"sources\": [{\"what\": \"manifest\", \"path\": \"/k/manifests/etcd.yaml\", \"found\": true}],"
      " \"settings\": {" SET("name", "cp1", "/k/manifests/etcd.yaml:14 command (--name)") ","
      SET("data-dir", "/var/lib/etcd", "/k/manifests/etcd.yaml:14 command (--data-dir)") ","
      SET("advertise-client-urls", "https://10.0.0.1:2379", "/k/manifests/etcd.yaml:14 command (--advertise-client-urls)") ","
      SET("trusted-ca-file", "/etc/kubernetes/pki/etcd/ca.crt", "/k/manifests/etcd.yaml:14 command (--trusted-ca-file)") "},"
      " \"db\": {\"path\": \"/var/lib/etcd/member/snap/db\", \"members\": ["
      "  {\"id\": \"1\", \"name\": \"cp1\", \"peerURLs\": [\"https://10.0.0.1:2380\"], \"clientURLs\": []}]}}");
  struct edr_discover_in in = {.host = "cp-1", .ssh_port = -1, .sudo = -1};
  json_t *spec, *from;
  char err[1024];
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == 0);
  CHECK_STR(json_string_value(json_object_get(spec, "preset")), "kubeadm");
  CHECK_STR(edr_discover_from(from, "preset"),
            "etcd runs as a kubeadm static pod: /k/manifests/etcd.yaml on cp-1");
  CHECK_STR(json_string_value(json_object_get(spec, "manifest")), "/k/manifests/etcd.yaml");
  CHECK_STR(edr_discover_from(from, "manifest"), "the manifest discover read on cp-1");
  CHECK(json_object_get(spec, "stop_command") == NULL);
  CHECK(edr_discover_from(from, "warning") == NULL);
  CHECK_STR(json_string_value(json_object_get(spec, "etcdctl_cert")),
            "/etc/kubernetes/pki/etcd/healthcheck-client.crt");
  json_decref(spec);
  json_decref(from);

  /* parked by a run that stopped etcd: the manifest's own place, and a warning */
  json_object_set_new(f, "manifest", json_string("/k/manifests/etcd.yaml"));
  json_object_set_new(f, "manifest_parked", json_string("/k/etcd.yaml.etcd-dr-stopped"));
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == 0);
  CHECK_STR(json_string_value(json_object_get(spec, "manifest")), "/k/manifests/etcd.yaml");
  CHECK_STR(edr_discover_from(from, "preset"), "etcd runs as a kubeadm static pod: "
            "/k/manifests/etcd.yaml on cp-1, parked at /k/etcd.yaml.etcd-dr-stopped");
  CHECK_STR(edr_discover_from(from, "warning"),
            "etcd's manifest on cp-1 is parked at /k/etcd.yaml.etcd-dr-stopped: a run of "
            "etcd-dr stopped etcd there and did not finish; etcd-dr restore --resume RUN or "
            "etcd-dr rollback RUN puts it back");
  json_decref(spec);
  json_decref(from);
  json_object_del(f, "manifest_parked");

  in.own_commands = true;
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == 0);
  CHECK(json_object_get(spec, "preset") == NULL);
  CHECK(json_object_get(spec, "manifest") == NULL);
  CHECK_STR(edr_discover_from(from, "warning"),
            "etcd runs as a kubeadm static pod on cp-1, but --stop-command or --start-command "
            "is given: the spec stops and starts etcd with them, not with the kubeadm preset's "
            "moves of its manifest");
  json_decref(spec);
  json_decref(from);
  json_decref(f);
}

/* What a crafted db names reaches the side table escaped. */
static void escaped(void) {
  json_t *f = facts("{\"kind\": \"none\", \"settings\": {},"
                    " \"db\": {\"path\": \"/d/db\", \"members\": ["
                    "  {\"id\": \"1\\u001b[2J\", \"name\": \"a\", \"peerURLs\": [\"http://10.0.0.1:2380\"]}]}}");
  struct edr_discover_in in = {.host = "h1", .ssh_port = -1, .sudo = -1};
  json_t *spec, *from;
  char err[1024];
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == 0);
  CHECK_STR(edr_discover_from(from, "members[0].name"), "/d/db (bucket members, id 1\\x1b[2J)");
  json_decref(spec);
  json_decref(from);
  json_decref(f);
}

/* etcd 3.4 after a restore: the snapshot's members stay in the db beside
 * the restored ones, same URLs, other ids. */
static void stale_ids(void) {
  json_t *f = facts("{\"kind\": \"env-file\", \"settings\": {\"name\": {\"value\": \"a\", \"from\": \"x\"}},"
                    " \"db\": {\"path\": \"/d/db\", \"members\": ["
                    "  {\"id\": \"11\", \"name\": \"a\", \"peerURLs\": [\"http://10.0.0.1:2380\"]},"
                    "  {\"id\": \"12\", \"name\": \"b\", \"peerURLs\": [\"http://10.0.0.2:2380\"]},"
                    "  {\"id\": \"21\", \"name\": \"\", \"peerURLs\": [\"http://10.0.0.1:2380\"]},"
                    "  {\"id\": \"22\", \"name\": \"b\", \"peerURLs\": [\"http://10.0.0.2:2380\"]}]}}");
  struct edr_discover_in in = {.host = "h1", .ssh_port = -1, .sudo = -1};
  json_t *spec, *from;
  char err[1024];
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == 0);
  CHECK(json_array_size(json_object_get(spec, "members")) == 2);
  CHECK_STR(edr_discover_from(from, "warning"),
            "the db lists peer URL http://10.0.0.1:2380 under ids 11 and 21 (etcd 3.4 keeps a "
            "snapshot's members in its db after a restore): taken as one member, a");
  json_decref(spec);
  json_decref(from);
  json_decref(f);
  /* one URL, two names: refused */
  f = facts("{\"kind\": \"none\", \"settings\": {}, \"db\": {\"path\": \"/d/db\", \"members\": ["
            "  {\"id\": \"1\", \"name\": \"a\", \"peerURLs\": [\"http://10.0.0.1:2380\"]},"
            "  {\"id\": \"2\", \"name\": \"z\", \"peerURLs\": [\"http://10.0.0.1:2380\"]}]}}");
  CHECK(t_discover_spec(f, &in, &spec, &from, err, sizeof err) == EDR_EINVAL);
  CHECK_STR(err, "the db names peer URL http://10.0.0.1:2380 twice, a and z");
  json_decref(f);
}

int main(void) {
  stale_ids();
  escaped();
  from_db();
  unreachable_member();
  no_membership();
  kubeadm_manifest();
  return t_done("test_discover_spec");
}
