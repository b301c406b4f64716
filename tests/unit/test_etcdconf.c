/*
 * test_etcdconf.c - the parsers `etcd-dr discover` reads a host's etcd
 * configuration with (common/etcdconf.c): env files, systemd units with
 * their variables, etcd's YAML config file, kubeadm manifests, docker
 * inspect, and how settings from several of them rank.
 */
#include "etcdconf.h"
#include "t.h"

#include <stdlib.h>
#include <string.h>

#define T(s) s, strlen(s)

static void env_file(void) {
  struct edr_conf c;
  edr_conf_init(&c);
  int n = edr_conf_env_text(&c, T("# etcd settings\n"
                                  "ETCD_NAME=m1\n"
                                  "export ETCD_DATA_DIR=\"/data/etcd\"  # the disk\n"
                                  "ETCD_INITIAL_CLUSTER='m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380'\n"
                                  "  ETCD_WAL_DIR=/wal\\ dir \n"
                                  "not a line\n"
                                  "1BAD=x\n"
                                  "DAEMON_ARGS=\"--name from-args\"\r\n"),
                            "/etc/default/etcd");
  CHECK(n == 5);
  edr_conf_apply_env(&c);
  CHECK_STR(edr_conf_get(&c, EDR_CONF_NAME), "m1");
  CHECK_STR(c.set[EDR_CONF_NAME].from, "/etc/default/etcd:2 (ETCD_NAME)");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_DATA_DIR), "/data/etcd");
  CHECK_STR(c.set[EDR_CONF_DATA_DIR].from, "/etc/default/etcd:3 (ETCD_DATA_DIR)");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_INITIAL_CLUSTER),
            "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_WAL_DIR), "/wal dir");
  CHECK_STR(edr_conf_var(&c, "DAEMON_ARGS"), "--name from-args");
  CHECK(edr_conf_get(&c, EDR_CONF_TOKEN) == NULL);
  edr_conf_release(&c);
}

static void unit_and_flags(void) {
  struct edr_conf c;
  edr_conf_init(&c);
  const char *cat = "# /lib/systemd/system/etcd.service\n"
                    "[Unit]\n"
                    "Description=etcd\n"
                    "[Service]\n"
                    "Environment=\"ETCD_NAME=from-env\" ETCD_INITIAL_CLUSTER_TOKEN=tok\n"
                    "EnvironmentFile=-/etc/default/%p\n"
                    "ExecStart=/usr/bin/etcd $DAEMON_ARGS\n"
                    "\n"
                    "# /etc/systemd/system/etcd.service.d/override.conf\n"
                    "[Service]\n"
                    "ExecStart=\n"
                    "ExecStart=-/usr/local/bin/etcd --data-dir=/srv/etcd \\\n"
                    "    --wal-dir /srv/wal ${EXTRA} --client-cert-auth=true --name $NAME\n";
  CHECK(edr_conf_unit(&c, T(cat), "etcd.service", "systemctl cat etcd.service") == 1);
  CHECK(c.n_env_files == 1);
  CHECK_STR(c.env_files[0], "/etc/default/etcd");
  CHECK(c.env_optional[0]);
  CHECK_STR(c.exec_from, "/etc/systemd/system/etcd.service.d/override.conf:3 ExecStart");
  edr_conf_env_text(&c, T("NAME=m7\nEXTRA=--initial-cluster-token=flagtok\n"), "/etc/default/etcd");
  edr_conf_exec(&c);
  edr_conf_apply_env(&c);
  CHECK_STR(edr_conf_get(&c, EDR_CONF_DATA_DIR), "/srv/etcd");
  CHECK_STR(c.set[EDR_CONF_DATA_DIR].from,
            "/etc/systemd/system/etcd.service.d/override.conf:3 ExecStart (--data-dir)");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_WAL_DIR), "/srv/wal");
  /* a flag wins over an ETCD_* variable, whichever was read first */
  CHECK_STR(edr_conf_get(&c, EDR_CONF_NAME), "m7");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_TOKEN), "flagtok");
  edr_conf_release(&c);

  /* a unit without ExecStart */
  edr_conf_init(&c);
  CHECK(edr_conf_unit(&c, T("[Service]\nType=notify\n"), "etcd.service", "x") == 0);
  edr_conf_release(&c);
}

static void config_file(void) {
  struct edr_conf c;
  edr_conf_init(&c);
  char *argv[] = {"etcd", "--name", "flagname", "--config-file", "/etc/etcd/etcd.conf.yml"};
  edr_conf_args(&c, argv, 5, "cmdline");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_CONFIG_FILE), "/etc/etcd/etcd.conf.yml");
  edr_conf_yaml(&c, T("---\n"
                      "# etcd config\n"
                      "name: 'cfg-name'\n"
                      "data-dir: /var/lib/etcd-cfg   # data\n"
                      "wal-dir:\n"
                      "initial-cluster: \"a=http://h1:2380,b=http://h2:2380\"\n"
                      "client-transport-security:\n"
                      "  cert-file: /pki/server.crt\n"
                      "  trusted-ca-file: /pki/ca.crt\n"
                      "peer-transport-security:\n"
                      "  cert-file: /pki/peer.crt\n"),
                "/etc/etcd/etcd.conf.yml");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_NAME), "cfg-name");
  CHECK_STR(c.set[EDR_CONF_NAME].from, "/etc/etcd/etcd.conf.yml:3 (name)");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_DATA_DIR), "/var/lib/etcd-cfg");
  CHECK(edr_conf_get(&c, EDR_CONF_WAL_DIR) == NULL);
  CHECK_STR(edr_conf_get(&c, EDR_CONF_INITIAL_CLUSTER), "a=http://h1:2380,b=http://h2:2380");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_CERT), "/pki/server.crt");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_TRUSTED_CA), "/pki/ca.crt");
  edr_conf_release(&c);
}

static void manifest(void) {
  struct edr_conf c;
  edr_conf_init(&c);
  const char *m = "apiVersion: v1\n"
                  "kind: Pod\n"
                  "spec:\n"
                  "  containers:\n"
                  "  - command:\n"
                  "    - etcd\n"
                  "    - --advertise-client-urls=https://10.0.0.1:2379\n"
                  "    - --data-dir=/var/lib/etcd\n"
                  "    - \"--name=cp-1\"\n"
                  "    - --initial-advertise-peer-urls=https://10.0.0.1:2380\n"
                  "    - --initial-cluster=cp-1=https://10.0.0.1:2380\n"
                  "    - --cert-file=/etc/kubernetes/pki/etcd/server.crt\n"
                  "    image: registry.k8s.io/etcd:3.5.16-0\n"
                  "    name: etcd\n";
  CHECK(edr_conf_manifest(&c, T(m), "/etc/kubernetes/manifests/etcd.yaml") == 1);
  CHECK_STR(edr_conf_get(&c, EDR_CONF_NAME), "cp-1");
  CHECK_STR(c.set[EDR_CONF_NAME].from, "/etc/kubernetes/manifests/etcd.yaml:5 command (--name)");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_PEER_URLS), "https://10.0.0.1:2380");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_CLIENT_URLS), "https://10.0.0.1:2379");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_CERT), "/etc/kubernetes/pki/etcd/server.crt");
  edr_conf_release(&c);

  /* another pod's command is not etcd's; flow style is read too */
  edr_conf_init(&c);
  CHECK(edr_conf_manifest(&c, T("spec:\n  containers:\n  - command:\n    - kube-apiserver\n"
                                "    - --name=no\n"), "x") == 0);
  CHECK(edr_conf_get(&c, EDR_CONF_NAME) == NULL);
  CHECK(edr_conf_manifest(&c, T("    command: [\"/usr/local/bin/etcd\", \"--name=flow\"]\n"),
                          "y") == 1);
  CHECK_STR(edr_conf_get(&c, EDR_CONF_NAME), "flow");
  edr_conf_release(&c);
}

static void inspect(void) {
  struct edr_conf c;
  edr_conf_init(&c);
  const char *j = "[{\"Name\": \"/etcd\", \"Path\": \"/usr/local/bin/etcd\","
                  " \"Args\": [\"--name\", \"d1\", \"--data-dir=/etcd-data\"],"
                  " \"Config\": {\"Env\": [\"ETCD_INITIAL_CLUSTER=d1=http://10.0.0.9:2380\","
                  " \"PATH=/bin\"]},"
                  " \"Mounts\": [{\"Source\": \"/srv/etcd\", \"Destination\": \"/etcd-data\"}]}]";
  CHECK(edr_conf_inspect(&c, T(j), "docker inspect etcd") == 1);
  edr_conf_apply_env(&c);
  CHECK_STR(c.container, "etcd");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_NAME), "d1");
  CHECK_STR(edr_conf_get(&c, EDR_CONF_INITIAL_CLUSTER), "d1=http://10.0.0.9:2380");
  char *p = edr_conf_host_path(&c, edr_conf_get(&c, EDR_CONF_DATA_DIR));
  CHECK_STR(p, "/srv/etcd");
  free(p);
  p = edr_conf_host_path(&c, "/etcd-data2/x");
  CHECK_STR(p, "/etcd-data2/x");
  free(p);
  CHECK(edr_conf_inspect(&c, T("[]"), "x") == 0);
  CHECK(edr_conf_inspect(&c, T("not json"), "x") == 0);
  edr_conf_release(&c);
}

/* Bounded on hostile input: endless lines, unterminated quotes, NULs. */
static void hostile(void) {
  size_t n = 3 * EDR_CONF_VALUE_MAX;
  char *big = malloc(n + 1);
  memset(big, 'a', n);
  memcpy(big, "ETCD_NAME=\"", 11);
  big[n] = '\0';
  struct edr_conf c;
  edr_conf_init(&c);
  edr_conf_env_text(&c, big, n, "big");
  edr_conf_apply_env(&c);
  CHECK(edr_conf_get(&c, EDR_CONF_NAME) && strlen(edr_conf_get(&c, EDR_CONF_NAME)) <
                                              EDR_CONF_VALUE_MAX);
  edr_conf_unit(&c, big, n, "etcd.service", "big");
  edr_conf_yaml(&c, big, n, "big");
  edr_conf_manifest(&c, big, n, "big");
  char nul[] = "ETCD_NAME=a\0b\nExecStart=\"\n[Service]\nExecStart=etcd '--name=x\\";
  edr_conf_env_text(&c, nul, sizeof nul - 1, "nul");
  edr_conf_unit(&c, nul, sizeof nul - 1, "%", "nul");
  edr_conf_exec(&c);
  CHECK(1);
  edr_conf_release(&c);
  free(big);
}

int main(void) {
  env_file();
  unit_and_flags();
  config_file();
  manifest();
  inspect();
  hostile();
  return t_done("test_etcdconf");
}
