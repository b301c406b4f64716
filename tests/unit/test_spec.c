/*
 * test_spec.c - cluster spec parsing and validation, hostile values included.
 */
#include "err.h"
#include "spec.h"
#include "t.h"
#include "t_plan.h"

#include <stdlib.h>

static char err[1024];

static struct edr_spec *ic(const char *s) {
  struct edr_spec *sp = NULL;
  err[0] = '\0';
  if (t_spec_from_initial_cluster(s, NULL, &sp, err, sizeof err))
    return NULL;
  return sp;
}

static struct edr_spec *js(const char *text) {
  struct edr_spec *sp = NULL;
  err[0] = '\0';
  if (t_spec_from_json(NULL, text, NULL, &sp, err, sizeof err))
    return NULL;
  return sp;
}

static void test_initial_cluster(void) {
  struct edr_spec *s = ic("m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,"
                          "m3=https://etcd-3.example.com:2380");
  CHECK(s != NULL);
  if (!s)
    return;
  CHECK(s->n_members == 3);
  CHECK_STR(s->members[0].name, "m1");
  CHECK_STR(s->members[0].ssh_host, "10.0.0.1");
  CHECK(s->members[0].ssh_port == 22);
  CHECK_STR(s->members[0].data_dir, "/var/lib/etcd");
  CHECK_STR(s->members[0].client_urls.v[0], "http://10.0.0.1:2379");
  CHECK_STR(s->members[2].client_urls.v[0], "https://etcd-3.example.com:2379");
  CHECK_STR(s->members[2].ssh_host, "etcd-3.example.com");
  CHECK_STR(s->members[1].stop_command.v[0], "systemctl");
  CHECK_STR(s->members[1].restore_tool, "auto");
  CHECK(s->warnings.n == 0);
  CHECK(s->token == NULL);
  edr_spec_free(s);

  /* several peer URLs for one member, as etcd allows */
  s = ic("a=http://10.0.0.1:2380,a=http://10.0.1.1:2380,b=http://10.0.0.2:2380");
  CHECK(s && s->n_members == 2 && s->members[0].peer_urls.n == 2);
  CHECK(s && s->warnings.n == 2); /* even member count; a name on two hosts */
  if (s && s->warnings.n == 2) {
    CHECK_CONTAINS(s->warnings.v[0], "member 'a' is named twice, on two hosts ('10.0.0.1' "
                   "and '10.0.1.1'): taken as one member with two peer URLs");
    CHECK_CONTAINS(s->warnings.v[1], "even");
  }
  edr_spec_free(s);

  s = ic("m1=http://[fd00::1]:2380");
  CHECK(s != NULL);
  if (s)
    CHECK_STR(s->members[0].ssh_host, "fd00::1");
  edr_spec_free(s);
}

static void test_initial_cluster_bad(void) {
  static const struct {
    const char *in, *want;
  } cases[] = {
    {"m1=http://10.0.0.1:2380,m1=http://10.0.0.1:2380", "listed twice"},
    {"m1=http://10.0.0.1:2380,m2=http://10.0.0.1:2380", "also a peer URL of member 'm1'"},
    {"m1=10.0.0.1:2380", "not an http(s)://host:port URL"},
    {"m1=ftp://10.0.0.1:2380", "not an http(s)://host:port URL"},
    {"m1=http://10.0.0.1", "not an http(s)://host:port URL"},
    {"m1=http://10.0.0.1:99999", "not an http(s)://host:port URL"},
    {"m1=http://10.0.0.1:2380/path", "not an http(s)://host:port URL"},
    {"m1=http://user@10.0.0.1:2380", "not an http(s)://host:port URL"},
    {"m1=http://$(reboot):2380", "not an http(s)://host:port URL"},
    {"m1=http://a;b:2380", "not an http(s)://host:port URL"},
    {"m'1=http://10.0.0.1:2380", "field 'name'"},
    {"-m1=http://10.0.0.1:2380", "field 'name'"},
    {"m1", "not name=peerURL"},
    {"", "no members"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct edr_spec *s = ic(cases[i].in);
    CHECK(s == NULL);
    CHECK_CONTAINS(err, cases[i].want);
    edr_spec_free(s);
  }
}

static void test_json(void) {
  struct edr_spec *s = js(
      "{\"initial_cluster_token\": \"prod-1\", \"ssh_user\": \"ops\", \"data_dir\": \"/srv/etcd\","
      " \"stop_command\": \"service etcd stop\", \"data_dir_mode\": \"0700\","
      " \"members\": ["
      "  {\"name\": \"a\", \"peer_urls\": [\"https://10.1.0.1:2380\"], \"ssh_port\": 2222,"
      "   \"sudo\": false, \"wal_dir\": \"/srv/wal\", \"data_dir_owner\": \"etcd:etcd\"},"
      "  {\"name\": \"b\", \"peer_urls\": [\"https://10.1.0.2:2380\"], \"ssh_host\": \"bastion-b\","
      "   \"client_urls\": [\"https://10.1.0.2:2379\", \"https://127.0.0.1:2379\"]},"
      "  {\"name\": \"c\", \"peer_urls\": [\"https://10.1.0.3:2380\"], \"data_dir\": \"/data/etcd\","
      "   \"start_command\": [\"/usr/local/bin/start-etcd\", \"--now\"], \"restore_tool\": \"/opt/etcd/etcdutl\"}"
      "]}");
  CHECK(s != NULL);
  if (!s) {
    fprintf(stderr, "error: %s\n", err);
    return;
  }
  CHECK_STR(s->token, "prod-1");
  CHECK(s->n_members == 3);
  CHECK_STR(s->members[0].ssh_user, "ops");
  CHECK(s->members[0].ssh_port == 2222);
  CHECK(s->members[0].sudo == false);
  CHECK(s->members[1].sudo == true); /* not root: sudo by default */
  CHECK(s->members[1].ssh_port == 22);
  CHECK_STR(s->members[1].ssh_host, "bastion-b");
  CHECK(s->members[1].client_urls.n == 2);
  CHECK_STR(s->members[0].data_dir, "/srv/etcd");
  CHECK_STR(s->members[2].data_dir, "/data/etcd");
  CHECK_STR(s->members[0].wal_dir, "/srv/wal");
  CHECK(s->members[1].wal_dir == NULL);
  CHECK_STR(s->members[0].data_dir_owner, "etcd:etcd");
  CHECK(s->members[1].data_dir_mode == 0700);
  CHECK_STR(s->members[0].stop_command.v[0], "/bin/sh");
  CHECK_STR(s->members[0].stop_command.v[2], "service etcd stop");
  CHECK_STR(s->members[2].start_command.v[1], "--now");
  CHECK(s->members[2].start_command.n == 2);
  CHECK_STR(s->members[2].restore_tool, "/opt/etcd/etcdutl");
  CHECK_STR(s->members[0].client_urls.v[0], "https://10.1.0.1:2379");
  edr_spec_free(s);
}

/* Paths on the host for the host's etcdctl: cluster-wide, overridden per
 * member, absent by default. */
static void test_etcdctl_tls(void) {
  struct edr_spec *s = js(
      "{\"etcdctl_cacert\": \"/etc/kubernetes/pki/etcd/ca.crt\","
      " \"etcdctl_cert\": \"/etc/kubernetes/pki/etcd/healthcheck-client.crt\","
      " \"etcdctl_key\": \"/etc/kubernetes/pki/etcd/healthcheck-client.key\","
      " \"members\": ["
      "  {\"name\": \"a\", \"peer_urls\": [\"https://10.1.0.1:2380\"]},"
      "  {\"name\": \"b\", \"peer_urls\": [\"https://10.1.0.2:2380\"],"
      "   \"etcdctl_cert\": \"/srv/pki/b.crt\", \"etcdctl_key\": \"/srv/pki/b.key\"}"
      "]}");
  CHECK(s != NULL);
  if (!s) {
    fprintf(stderr, "error: %s\n", err);
    return;
  }
  CHECK_STR(s->members[0].etcdctl_cacert, "/etc/kubernetes/pki/etcd/ca.crt");
  CHECK_STR(s->members[0].etcdctl_cert, "/etc/kubernetes/pki/etcd/healthcheck-client.crt");
  CHECK_STR(s->members[0].etcdctl_key, "/etc/kubernetes/pki/etcd/healthcheck-client.key");
  CHECK_STR(s->members[1].etcdctl_cacert, "/etc/kubernetes/pki/etcd/ca.crt");
  CHECK_STR(s->members[1].etcdctl_cert, "/srv/pki/b.crt");
  CHECK_STR(s->members[1].etcdctl_key, "/srv/pki/b.key");
  edr_spec_free(s);

  s = ic("m1=http://10.0.0.1:2380");
  CHECK(s && !s->members[0].etcdctl_cacert && !s->members[0].etcdctl_cert &&
        !s->members[0].etcdctl_key);
  edr_spec_free(s);

  static const struct {
    const char *field, *value, *want;
  } bad[] = {
    {"etcdctl_cacert", "ca.crt", "is not an absolute path on the host"},
    {"etcdctl_cacert", "~/ca.crt", "is not an absolute path"},
    {"etcdctl_cert", "/etc/pki/../shadow", "field 'etcdctl_cert'"},
    {"etcdctl_cert", "/etc/pki/a b.crt", "field 'etcdctl_cert'"},
    {"etcdctl_key", "/etc/pki/k.key'; rm -rf /; '", "field 'etcdctl_key'"},
    {"etcdctl_key", "/etc/pki/$(id).key", "field 'etcdctl_key'"},
    {"etcdctl_key", "/etc/pki/`id`.key", "field 'etcdctl_key'"},
    {"etcdctl_cacert", "/etc/pki/ca.crt\\n--insecure-skip-tls-verify", "field 'etcdctl_cacert'"},
    {"etcdctl_cacert", "/etc/pki/", "field 'etcdctl_cacert'"},
    {"etcdctl_cacert", "--insecure-skip-tls-verify", "field 'etcdctl_cacert'"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char text[512];
    snprintf(text, sizeof text, "{\"members\": [{\"name\": \"a\", \"peer_urls\": "
             "[\"http://a:1\"], \"%s\": \"%s\"}]}", bad[i].field, bad[i].value);
    s = js(text);
    CHECK(s == NULL);
    CHECK_CONTAINS(err, bad[i].want);
    edr_spec_free(s);
  }
  /* a key without its certificate (or the reverse) cannot be used */
  s = js("{\"etcdctl_key\": \"/k.key\", \"members\": [{\"name\": \"a\", "
         "\"peer_urls\": [\"http://a:1\"]}]}");
  CHECK(s == NULL);
  CHECK_CONTAINS(err, "field 'etcdctl_cert': missing");
  edr_spec_free(s);
  s = js("{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], "
         "\"etcdctl_cert\": \"/c.crt\"}]}");
  CHECK(s == NULL);
  CHECK_CONTAINS(err, "field 'etcdctl_key': missing");
  edr_spec_free(s);
}

static void test_json_bad(void) {
  static const struct {
    const char *in, *want;
  } cases[] = {
    {"{", "line 1"},
    {"[]", "expected a JSON object"},
    {"{\"members\": []}", "field 'members'"},
    {"{\"members\": [{\"peer_urls\": [\"http://a:1\"]}]}", "member '#1': field 'name': missing"},
    {"{\"members\": [{\"name\": \"a\"}]}", "member 'a': field 'peer_urls': missing"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"data-dir\": \"/x\"}]}",
     "unknown field 'data-dir' (did you mean 'data_dir'?)"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"data_dir\": \"var/lib\"}]}",
     "member 'a': field 'data_dir': 'var/lib' is not"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"data_dir\": \"/var/lib/../etc\"}]}",
     "field 'data_dir'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"data_dir\": \"/var/lib/etcd'; rm -rf /; '\"}]}",
     "field 'data_dir'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"data_dir\": \"/var/lib/$(id)\"}]}",
     "field 'data_dir'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"data_dir\": \"/var/lib/et\\ncd\"}]}",
     "field 'data_dir'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"ssh_port\": 0}]}",
     "field 'ssh_port'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"ssh_user\": \"-oProxyCommand=x\"}]}",
     "field 'ssh_user'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"ssh_host\": \"-oProxyCommand=x\"}]}",
     "field 'ssh_host'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"sudo\": \"yes\"}]}",
     "field 'sudo'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"data_dir_mode\": \"700x\"}]}",
     "field 'data_dir_mode'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"data_dir_owner\": \"etcd\"}]}",
     "field 'data_dir_owner'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"stop_command\": []}]}",
     "field 'stop_command'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"stop_command\": [\"x\", 1]}]}",
     "field 'stop_command'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"restore_tool\": \"etcdutl; id\"}]}",
     "field 'restore_tool'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"wal_dir\": \"/var/lib/etcd\"}]}",
     "must differ from data_dir"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"wal_dir\": \"/var/lib/etcd/member/wal\"}]}",
     "member 'a': field 'wal_dir': '/var/lib/etcd/member/wal' is inside the member dir '/var/lib/etcd/member'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"wal_dir\": \"/var/lib/etcd/member\"}]}",
     "is inside the member dir"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"wal_dir\": \"/var/lib\"}]}",
     "'/var/lib' contains data_dir '/var/lib/etcd'"},
    {"{\"peer_urls\": [\"http://a:1\"], \"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"]}]}",
     "can only be set per member"},
    {"{\"initial_cluster_token\": \"a b\", \"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"]}]}",
     "field 'initial_cluster_token'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"]}, {\"name\": \"a\", \"peer_urls\": [\"http://b:1\"]}]}",
     "duplicate"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], \"client_urls\": [\"http://c:1\"]},"
     " {\"name\": \"b\", \"peer_urls\": [\"http://b:1\"], \"client_urls\": [\"http://c:1\"]}]}",
     "also a client URL of member 'a'"},
    {"{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://h:1\"], \"client_urls\": [\"http://h:3\"]},"
     " {\"name\": \"b\", \"peer_urls\": [\"http://h:2\"], \"client_urls\": [\"http://h:4\"]}]}",
     "also the data dir of member 'a'"},
    {"{\"members\": [{\"name\": \"a\", \"name\": \"b\", \"peer_urls\": [\"http://h:1\"]}]}",
     "duplicate"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct edr_spec *s = js(cases[i].in);
    CHECK(s == NULL);
    CHECK_CONTAINS(err, cases[i].want);
    edr_spec_free(s);
  }
}

static void test_overrides(void) {
  struct edr_spec_overrides ov = {.ssh_user = "root", .data_dir = "/srv/etcd",
                                  .ssh_port = 2200, .sudo = -1,
                                  .stop_command = "pkill etcd", .token = "tok"};
  struct edr_spec *s = NULL;
  int rc = t_spec_from_json(NULL,
      "{\"data_dir\": \"/x/y\", \"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"]},"
      " {\"name\": \"b\", \"peer_urls\": [\"http://b:1\"], \"data_dir\": \"/own/dir\"},"
      " {\"name\": \"c\", \"peer_urls\": [\"http://c:1\"]}]}",
      &ov, &s, err, sizeof err);
  CHECK(rc == 0 && s);
  if (!s)
    return;
  CHECK_STR(s->members[0].data_dir, "/srv/etcd");  /* command line beats file-wide */
  CHECK_STR(s->members[1].data_dir, "/own/dir");   /* a member's own value wins */
  CHECK(s->members[0].ssh_port == 2200);
  CHECK(s->members[0].sudo == false);              /* root: no sudo by default */
  CHECK_STR(s->members[2].stop_command.v[2], "pkill etcd");
  CHECK_STR(s->token, "tok");
  edr_spec_free(s);

  struct edr_spec_overrides bad = {.data_dir = "relative", .ssh_port = -1, .sudo = -1};
  CHECK(t_spec_from_initial_cluster("a=http://a:1", &bad, &s, err, sizeof err) == EDR_EINVAL);
  CHECK_CONTAINS(err, "field 'data_dir'");
}

static void test_validators(void) {
  CHECK(edr_valid_remote_path("/var/lib/etcd"));
  CHECK(edr_valid_remote_path("/var/lib/etcd-2.data"));
  CHECK(!edr_valid_remote_path("/"));
  CHECK(!edr_valid_remote_path("/var/lib/etcd/"));
  CHECK(!edr_valid_remote_path("/var//lib"));
  CHECK(!edr_valid_remote_path("/var/./lib"));
  CHECK(!edr_valid_remote_path("/var/lib/etcd dir"));
  CHECK(!edr_valid_remote_path("/var/lib/\"x\""));
  CHECK(!edr_valid_remote_path("/var/lib/*"));
  CHECK(edr_valid_host("10.0.0.1"));
  CHECK(edr_valid_host("[::1]"));
  CHECK(!edr_valid_host("-x"));
  CHECK(!edr_valid_host("a b"));
  CHECK(!edr_valid_host("a_b"));
  CHECK(edr_valid_name("etcd-1.prod_x"));
  CHECK(!edr_valid_name(""));
  CHECK(!edr_valid_name("a/b"));
  char sc[8], h[64];
  int port;
  CHECK(edr_parse_url("https://[fd00::2]:2380", sc, sizeof sc, h, sizeof h, &port) && port == 2380);
  CHECK_STR(h, "[fd00::2]");
  CHECK(edr_parse_url("http://e1:2380/", sc, sizeof sc, h, sizeof h, &port));
  CHECK(!edr_parse_url("http://e1:", sc, sizeof sc, h, sizeof h, &port));
  CHECK(!edr_parse_url("http://:80", sc, sizeof sc, h, sizeof h, &port));
}

/* WAL dirs that share a prefix with the data dir or its member dir but are
 * not inside them are fine. */
static void test_jump_hosts(void) {
  const char *ok[] = {"bastion", "ops@bastion", "ops@bastion:2222", "a,b@c:22,[fd00::1]:22",
                      "10.0.0.1"};
  const char *bad[] = {"", ",", "a,", "-oProxyCommand=x", "ops@", "@b", "b:", "b:0",
                       "b:65536", "b:x", "a b", "a;id", "[fd00::1", "ops@b:22:33"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    CHECK(edr_valid_jump(ok[i]));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(!edr_valid_jump(bad[i]));
    if (edr_valid_jump(bad[i]))
      fprintf(stderr, "  accepted: '%s'\n", bad[i]);
  }
  struct edr_spec *sp = js("{\"proxy_jump\": \"ops@b\", \"members\": [{\"name\": \"a\", "
                           "\"peer_urls\": [\"http://a:1\"], \"proxy_command\": \"nc %h %p\"}]}");
  CHECK(sp == NULL);
  CHECK_CONTAINS(err, "field 'proxy_command': give proxy_jump or proxy_command, not both");
  edr_spec_free(sp);
  sp = js("{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://a:1\"], "
          "\"proxy_jump\": \"ops@b;id\"}]}");
  CHECK(sp == NULL);
  CHECK_CONTAINS(err, "field 'proxy_jump': 'ops@b;id' is not jump hosts");
  edr_spec_free(sp);
}

static void test_wal_dir_placement(void) {
  const char *ok[] = {"/var/lib/etcd/wal", "/var/lib/etcd-wal", "/var/lib/etcd/membership",
                      "/srv/wal"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char text[256];
    snprintf(text, sizeof text, "{\"members\": [{\"name\": \"a\", \"peer_urls\": "
             "[\"http://a:1\"], \"wal_dir\": \"%s\"}]}", ok[i]);
    struct edr_spec *sp = js(text);
    CHECK(sp != NULL);
    if (!sp)
      fprintf(stderr, "  wal_dir %s: %s\n", ok[i], err);
    edr_spec_free(sp);
  }
}

static void test_kubeadm_preset(void) {
  struct edr_spec *sp = js("{\"preset\": \"kubeadm\", \"members\": [{\"name\": \"cp1\", "
                           "\"peer_urls\": [\"https://10.0.0.1:2380\"]}]}");
  CHECK(sp != NULL);
  if (sp) {
    const struct edr_member *m = &sp->members[0];
    CHECK(edr_member_kubeadm(m));
    CHECK_STR(m->manifest, "/etc/kubernetes/manifests/etcd.yaml");
    CHECK_STR(m->etcdctl_cacert, "/etc/kubernetes/pki/etcd/ca.crt");
    CHECK_STR(m->etcdctl_cert, "/etc/kubernetes/pki/etcd/healthcheck-client.crt");
    CHECK_STR(m->client_urls.v[0], "https://10.0.0.1:2379");
    CHECK(m->stop_command.n == 0 && m->start_command.n == 0);
    char *parked = edr_member_parked_manifest(m);
    CHECK_STR(parked, "/etc/kubernetes/etcd.yaml.etcd-dr-stopped");
    free(parked);
  }
  edr_spec_free(sp);
  CHECK(!js("{\"preset\": \"kubeadm\", \"stop_command\": \"x\", \"members\": [{\"name\": "
            "\"a\", \"peer_urls\": [\"https://a:1\"]}]}"));
  CHECK_CONTAINS(err, "field 'stop_command': not with the kubeadm preset");
  CHECK(!js("{\"manifest\": \"/etc/k/m/etcd.yaml\", \"members\": [{\"name\": \"a\", "
            "\"peer_urls\": [\"https://a:1\"]}]}"));
  CHECK_CONTAINS(err, "field 'manifest': only with \"preset\": \"kubeadm\"");
  CHECK(!js("{\"preset\": \"kubespray\", \"members\": [{\"name\": \"a\", "
            "\"peer_urls\": [\"https://a:1\"]}]}"));
  CHECK_CONTAINS(err, "'kubespray' is not \"kubeadm\"");
  CHECK(!js("{\"preset\": \"kubeadm\", \"manifest\": \"/etcd.yaml\", \"members\": "
            "[{\"name\": \"a\", \"peer_urls\": [\"https://a:1\"]}]}"));
  CHECK_CONTAINS(err, "inside a manifests directory");
}

int main(void) {
  test_initial_cluster();
  test_initial_cluster_bad();
  test_json();
  test_json_bad();
  test_wal_dir_placement();
  test_jump_hosts();
  test_etcdctl_tls();
  test_overrides();
  test_validators();
  test_kubeadm_preset();
  return t_done("test_spec");
}
