/*
 * test_sshconfig.c - reading `ssh -G` (cmd/sshconfig.c) and what the spec
 * takes from it (plan/spec_resolve.c): the parser on OpenSSH 9.2's own output, the
 * comparison with its defaults, precedence (spec member > command line >
 * spec cluster-wide > ssh_config > default) with a stand-in lookup, the
 * refusal of settings that weaken host-key checking, and, when OpenSSH's
 * client is here, one real `ssh -G -F FILE` with a Host alias.
 */
#include "err.h"
#include "spec.h"
#include "sshconfig.h"
#include "t.h"
#include "t_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Abridged `ssh -G -F /dev/null db1` and `ssh -G -F FILE db1` of OpenSSH
 * 9.2p1 (FILE: Host db1 with HostName, User, Port, two IdentityFiles,
 * IdentitiesOnly, ProxyJump, UserKnownHostsFile). */
static const char defaults_out[] =
    "host db1\n"
    "user root\n"
    "hostname db1\n"
    "port 22\n"
    "addressfamily any\n"
    "identitiesonly no\n"
    "stricthostkeychecking ask\n"
    "identityfile ~/.ssh/id_rsa\n"
    "identityfile ~/.ssh/id_ecdsa\n"
    "identityfile ~/.ssh/id_ecdsa_sk\n"
    "identityfile ~/.ssh/id_ed25519\n"
    "identityfile ~/.ssh/id_ed25519_sk\n"
    "identityfile ~/.ssh/id_xmss\n"
    "identityfile ~/.ssh/id_dsa\n"
    "userknownhostsfile /root/.ssh/known_hosts /root/.ssh/known_hosts2\n";
static const char file_out[] =
    "host db1\n"
    "user edrlab\n"
    "hostname 10.250.3.1\n"
    "port 2222\n"
    "addressfamily any\n"
    "identitiesonly yes\n"
    "stricthostkeychecking ask\n"
    "identityfile ~/.ssh/id_rsa_ops\n"
    "identityfile /etc/ops/second\n"
    "userknownhostsfile /root/.ssh/kh_ops\n"
    "proxyjump ops@bastion:2200\n";
/* The same defaults with the identity files in another order. */
static const char defaults_reordered[] =
    "hostname db1\nuser root\nport 22\nidentityfile ~/.ssh/id_dsa\n"
    "identityfile ~/.ssh/id_ecdsa\nidentityfile ~/.ssh/id_ecdsa_sk\n"
    "identityfile ~/.ssh/id_ed25519\nidentityfile ~/.ssh/id_ed25519_sk\n"
    "identityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_xmss\n"
    "identitiesonly no\nstricthostkeychecking ask\n"
    "userknownhostsfile /root/.ssh/known_hosts /root/.ssh/known_hosts2\n";

static void test_parse(void) {
  struct edr_sshcfg d, f;
  CHECK(edr_sshcfg_parse(defaults_out, &d) == 0);
  CHECK(edr_sshcfg_parse(file_out, &f) == 0);
  CHECK_STR(f.hostname, "10.250.3.1");
  CHECK_STR(f.user, "edrlab");
  CHECK(f.port == 2222);
  CHECK_STR(f.identity_file, "~/.ssh/id_rsa_ops");
  CHECK(f.identities_only);
  CHECK_STR(f.proxy_jump, "ops@bastion:2200");
  CHECK_STR(f.known_hosts, "/root/.ssh/kh_ops");
  CHECK_STR(d.known_hosts, "/root/.ssh/known_hosts");  /* the first of the list */
  CHECK_STR(d.strict, "ask");
  edr_sshcfg_diff(&f, &d);
  CHECK(f.set == (EDR_SC_HOSTNAME | EDR_SC_USER | EDR_SC_PORT | EDR_SC_IDENTITY |
                  EDR_SC_IDENTITIES_ONLY | EDR_SC_JUMP | EDR_SC_KNOWN_HOSTS));
  /* OpenSSH's defaults, whatever their order, are not settings */
  struct edr_sshcfg d2;
  CHECK(edr_sshcfg_parse(defaults_reordered, &d2) == 0);
  edr_sshcfg_diff(&d2, &d);
  CHECK(d2.set == 0);
  /* CRLF, a keyword alone on its line, and text that is not ssh -G */
  CHECK(edr_sshcfg_parse("hostname x\r\nuser\r\nport 2200\r\n", &f) == 0);
  CHECK_STR(f.hostname, "x");
  CHECK_STR(f.user, "");
  CHECK(f.port == 2200);
  /* one ProxyJump hop comes back bracketed (OpenSSH 9.2's ssh -G);
   * IPv6 keeps its brackets */
  CHECK(edr_sshcfg_parse("hostname x\nproxyjump root@[10.250.98.4]\n", &f) == 0);
  CHECK_STR(f.proxy_jump, "root@10.250.98.4");
  CHECK(edr_sshcfg_parse("hostname x\nproxyjump [bastion]:2200\n", &f) == 0);
  CHECK_STR(f.proxy_jump, "bastion:2200");
  CHECK(edr_sshcfg_parse("hostname x\nproxyjump ops@[::1]:22,[10.0.0.1]\n", &f) == 0);
  CHECK_STR(f.proxy_jump, "ops@[::1]:22,10.0.0.1");
  CHECK(edr_sshcfg_parse("usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy]\n", &f) == EDR_EINVAL);
  CHECK(edr_sshcfg_parse("", &f) == EDR_EINVAL);
}

/* A stand-in for ssh -G: what FILE_OUT says for "db1" and any 10.9.*,
 * StrictHostKeyChecking no for "lax", accept-new for "newish",
 * UserKnownHostsFile /dev/null for "blind"; no ssh client for "noclient". */
static int calls;
static int fake_lookup(const char *config, const char *host, struct edr_sshcfg *out,
                       struct edr_error *err) {
  struct edr_sshcfg d;
  char text[1024];
  calls++;
  if (!strcmp(host, "noclient"))
    return EDR_ENOENT;
  snprintf(text, sizeof text, "hostname %s\nuser root\nport 22\nidentityfile ~/.ssh/id_rsa\n"
           "stricthostkeychecking ask\nuserknownhostsfile /root/.ssh/known_hosts\n", host);
  edr_sshcfg_parse(text, &d);
  if (!strcmp(host, "db1"))
    edr_sshcfg_parse(file_out, out);
  else if (!strcmp(host, "lax"))
    edr_sshcfg_parse("hostname lax\nstricthostkeychecking false\n", out);
  else if (!strcmp(host, "newish"))
    edr_sshcfg_parse("hostname newish\nstricthostkeychecking accept-new\n", out);
  else if (!strcmp(host, "blind"))
    edr_sshcfg_parse("hostname blind\nuserknownhostsfile /dev/null\n", out);
  else if (!strcmp(host, "badport"))
    edr_sshcfg_parse("hostname badport\nuser r;m\n", out);
  else
    edr_sshcfg_parse(text, out);
  edr_sshcfg_diff(out, &d);
  snprintf(out->file, sizeof out->file, "%s", config ? config : "/root/.ssh/config");
  (void)err;
  return 0;
}

static char err[1024]; /* the spec's message when js() returns NULL */

/* The spec in TEXT, read with OV (its ssh_lookup the stand-in above). */
static struct edr_spec *js(const char *text, const struct edr_spec_overrides *ov) {
  struct edr_spec *sp = NULL;
  return t_spec_from_json(NULL, text, ov, &sp, err, sizeof err) ? NULL : sp;
}

static void test_precedence(void) {
  struct edr_spec_overrides ov = {.ssh_port = -1, .sudo = -1, .ssh_lookup = fake_lookup};
  /* m1: everything from ssh_config; m2: its own user and port; m3: the
   * cluster-wide known_hosts; the command line's identity beats
   * ssh_config's but not m2's own. */
  struct edr_spec *s = js(
      "{\"known_hosts\": \"/kh/wide\", \"members\": ["
      "{\"name\": \"m1\", \"peer_urls\": [\"http://10.0.0.1:2380\"], \"ssh_host\": \"db1\"},"
      "{\"name\": \"m2\", \"peer_urls\": [\"http://10.0.0.2:2380\"], \"ssh_host\": \"db1\","
      " \"ssh_user\": \"own\", \"ssh_port\": 2022, \"identity_file\": \"/keys/own\"},"
      "{\"name\": \"m3\", \"peer_urls\": [\"http://10.0.0.3:2380\"]}]}", &ov);
  CHECK(s != NULL);
  if (!s) {
    fprintf(stderr, "  %s\n", err);
    return;
  }
  const struct edr_member *m1 = &s->members[0], *m2 = &s->members[1], *m3 = &s->members[2];
  CHECK_STR(m1->ssh_host, "10.250.3.1");
  CHECK_STR(m1->ssh_alias, "db1");
  CHECK_STR(m1->ssh_user, "edrlab");
  CHECK(m1->ssh_port == 2222);
  CHECK(m1->sudo);                                 /* edrlab is not root */
  CHECK(m1->identities_only);
  CHECK_STR(m1->proxy_jump, "ops@bastion:2200");
  CHECK(m1->identity_file && strstr(m1->identity_file, "/.ssh/id_rsa_ops") &&
        m1->identity_file[0] == '/');              /* ~ expanded */
  CHECK_STR(m1->known_hosts, "/kh/wide");          /* spec cluster-wide > ssh_config */
  CHECK(m1->from.user == EDR_FROM_SSH_CONFIG);
  CHECK(m1->from.port == EDR_FROM_SSH_CONFIG);
  CHECK(m1->from.identity == EDR_FROM_SSH_CONFIG);
  CHECK(m1->from.proxy == EDR_FROM_SSH_CONFIG);
  CHECK(m1->from.known_hosts == EDR_FROM_CLUSTER);
  CHECK_STR(m2->ssh_user, "own");
  CHECK(m2->ssh_port == 2022);
  CHECK_STR(m2->identity_file, "/keys/own");
  CHECK(m2->from.user == EDR_FROM_MEMBER);
  CHECK(m2->from.port == EDR_FROM_MEMBER);
  CHECK_STR(m3->ssh_host, "10.0.0.3");
  CHECK(m3->ssh_alias == NULL);
  CHECK(m3->from.host == EDR_FROM_DEFAULT);
  CHECK(m3->from.user == EDR_FROM_DEFAULT);
  CHECK(m3->from.port == EDR_FROM_DEFAULT);
  CHECK(m3->ssh_port == 22);
  CHECK(m3->identity_file == NULL);
  CHECK(m3->proxy_jump == NULL);
  CHECK_STR(edr_origin_name(m1->from.user), "ssh_config");
  CHECK_STR(edr_origin_name(m2->from.user), "spec member");
  CHECK_STR(edr_origin_name(m1->from.known_hosts), "spec cluster-wide");
  CHECK_STR(edr_origin_name(EDR_FROM_FLAG), "command line");
  CHECK_STR(edr_origin_name(m3->from.port), "default");
  CHECK_CONTAINS(s->ssh_config, "~/.ssh/config");
  edr_spec_free(s);

  /* the command line beats ssh_config; a spec proxy_command keeps
   * ssh_config's ProxyJump out */
  ov.ssh_user = "cli";
  ov.ssh_port = 2100;
  s = js("{\"members\": [{\"name\": \"m1\", \"peer_urls\": [\"http://10.0.0.1:2380\"],"
         " \"ssh_host\": \"db1\", \"proxy_command\": \"nc %h %p\"}]}", &ov);
  CHECK(s != NULL);
  if (s) {
    CHECK_STR(s->members[0].ssh_user, "cli");
    CHECK(s->members[0].from.user == EDR_FROM_FLAG);
    CHECK(s->members[0].ssh_port == 2100);
    CHECK(s->members[0].proxy_jump == NULL);
    CHECK_STR(s->members[0].proxy_command, "nc %h %p");
    CHECK(s->members[0].from.proxy == EDR_FROM_MEMBER);
    edr_spec_free(s);
  }
  ov.ssh_user = NULL;
  ov.ssh_port = -1;

  /* --ssh-config none: not even asked */
  ov.ssh_config = "none";
  calls = 0;
  s = js("{\"members\": [{\"name\": \"m1\", \"peer_urls\": [\"http://10.0.0.1:2380\"],"
         " \"ssh_host\": \"db1\"}]}", &ov);
  CHECK(s != NULL && calls == 0);
  if (s) {
    CHECK_STR(s->members[0].ssh_host, "db1");
    CHECK(s->members[0].from.user == EDR_FROM_DEFAULT);
    CHECK_CONTAINS(s->ssh_config, "--ssh-config none");
    CHECK_STR(s->members[0].ssh_config, "none");  /* handed on to the jump hosts' ssh */
    edr_spec_free(s);
  }
  ov.ssh_config = NULL;

  /* no OpenSSH client: the spec alone, asked once for the whole spec */
  calls = 0;
  s = js("{\"members\": [{\"name\": \"a\", \"peer_urls\": [\"http://noclient:2380\"]},"
         "{\"name\": \"b\", \"peer_urls\": [\"http://10.0.0.2:2380\"]}]}", &ov);
  CHECK(s != NULL && calls == 1);
  if (s) {
    CHECK_CONTAINS(s->ssh_config, "no OpenSSH client");
    edr_spec_free(s);
  }
}

static void test_refused(void) {
  struct edr_spec_overrides ov = {.ssh_port = -1, .sudo = -1, .ssh_lookup = fake_lookup,
                                  .ssh_config = "/ops/ssh_config"};
  static const struct {
    const char *host, *says;
  } cases[] = {
      {"lax", "sets StrictHostKeyChecking no (any host key accepted) for host 'lax'"},
      {"newish", "sets StrictHostKeyChecking accept-new"},
      {"blind", "sets UserKnownHostsFile /dev/null"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[256];
    snprintf(text, sizeof text, "{\"known_hosts\": \"/kh\", \"members\": [{\"name\": \"m1\","
             " \"peer_urls\": [\"http://%s:2380\"]}]}", cases[i].host);
    struct edr_spec *s = js(text, &ov);
    CHECK(s == NULL);
    edr_spec_free(s);
    CHECK_CONTAINS(err, "member 'm1': ssh_config /ops/ssh_config ");
    CHECK_CONTAINS(err, cases[i].says);
    CHECK_CONTAINS(err, "--ssh-config");
  }
  /* a value the spec would refuse is refused, saying where it came from */
  struct edr_spec *s = js("{\"members\": [{\"name\": \"m1\", \"peer_urls\": "
                          "[\"http://badport:2380\"]}]}", &ov);
  CHECK(s == NULL);
  edr_spec_free(s);
  CHECK_CONTAINS(err, "field 'ssh_user'");
  CHECK_CONTAINS(err, "from ssh_config /ops/ssh_config for host 'badport'");
}

/* The real thing, when OpenSSH's client is here. */
static void test_real_ssh(void) {
  if (system("command -v ssh >/dev/null 2>&1") != 0) {
    printf("skip: no ssh client here\n");
    return;
  }
  char path[] = "/tmp/test_sshconfig.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0)
    return;
  FILE *f = fdopen(fd, "w");
  fprintf(f, "Host db1\n  HostName 10.250.3.1\n  Port 2222\n  User edrlab\n"
             "Host db2\n  ProxyJump root@10.250.3.4\n"
             "Host keys\n  IdentityFile /nonexistent/id_a\n  IdentityFile %s\n"
             "Host lax*\n  StrictHostKeyChecking no\n"
             "Host nokeys\n  IdentityFile /nonexistent/id_a\n", path);
  fclose(f);
  struct edr_sshcfg c;
  struct edr_error lerr = EDR_ERROR_INIT;
  CHECK(edr_sshcfg_lookup(path, "db1", &c, &lerr) == 0);
  CHECK_STR(c.hostname, "10.250.3.1");
  CHECK(c.port == 2222);
  CHECK(c.set == (EDR_SC_HOSTNAME | EDR_SC_PORT | EDR_SC_USER));
  CHECK_STR(c.file, path);
  CHECK(edr_sshcfg_lookup(path, "db2", &c, &lerr) == 0);
  CHECK(c.set == EDR_SC_JUMP);
  CHECK_STR(c.proxy_jump, "root@10.250.3.4");
  CHECK(edr_valid_jump(c.proxy_jump));
  /* an IdentityFile that does not exist is skipped, as OpenSSH does */
  CHECK(edr_sshcfg_lookup(path, "keys", &c, &lerr) == 0);
  CHECK(c.set == EDR_SC_IDENTITY);
  CHECK_STR(c.identity_file, path);
  CHECK(edr_sshcfg_lookup(path, "nokeys", &c, &lerr) == 0);
  CHECK(c.set == 0);
  CHECK(edr_sshcfg_lookup(path, "lax1", &c, &lerr) == 0);
  CHECK(c.set == EDR_SC_STRICT);
  CHECK_STR(c.strict, "false");
  CHECK(edr_sshcfg_lookup(path, "other", &c, &lerr) == 0);
  CHECK(c.set == 0);
  unlink(path);
  CHECK(edr_sshcfg_lookup(path, "db1", &c, &lerr) == EDR_EINVAL);
  CHECK_CONTAINS(edr_error_text(&lerr), path);
  edr_error_release(&lerr);
}

int main(void) {
  test_parse();
  test_precedence();
  test_refused();
  test_real_ssh();
  return t_done("test_sshconfig");
}
