/*
 * test_sshkey.c - what a key file is (made by the real ssh-keygen: OpenSSH
 * and PEM formats, encrypted or not, RSA or not) and the passphrase cache:
 * asked once per file through SSH_ASKPASS, a refusal remembered too.
 */
#include "err.h"
#include "sshkey.h"
#include "t.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/edr-test-sshkey.XXXXXX";

static char *path(const char *name) { return edr_asprintf("%s/%s", dir, name); }

static int keygen(const char *args, const char *name) {
  char *p = path(name), *cmd = edr_asprintf("ssh-keygen -q %s -C t -f '%s' </dev/null", args, p);
  int rc = system(cmd);
  free(cmd);
  free(p);
  return rc;
}

static int lines_in(const char *name) {
  char *p = path(name), buf[256];
  FILE *f = fopen(p, "r");
  int n = 0;
  free(p);
  if (!f)
    return 0;
  while (fgets(buf, sizeof buf, f))
    n++;
  fclose(f);
  return n;
}

static void test_keyfiles(void) {
  struct edr_keyfile k;
  char *p;

  CHECK(keygen("-t ed25519 -N ''", "plain") == 0);
  p = path("plain");
  CHECK(edr_keyfile_read(p, &k) == 0);
  CHECK(!k.encrypted && !k.rsa && k.pub && k.pub_len == 51);
  /* the public key inside OpenSSH's format is the one in .pub */
  unsigned char from_pub[64];
  size_t from_pub_len = k.pub_len < sizeof from_pub ? k.pub_len : 0;
  memcpy(from_pub, k.pub, from_pub_len);
  edr_keyfile_release(&k);
  char *pub = edr_asprintf("%s.pub", p), *away = edr_asprintf("%s.away", p);
  CHECK(rename(pub, away) == 0);
  CHECK(edr_keyfile_read(p, &k) == 0);
  CHECK(k.pub && k.pub_len == from_pub_len && !memcmp(k.pub, from_pub, from_pub_len));
  edr_keyfile_release(&k);
  free(pub);
  free(away);
  free(p);

  CHECK(keygen("-t ed25519 -N 'pw one'", "enc") == 0);
  p = path("enc");
  CHECK(edr_keyfile_read(p, &k) == 0);
  CHECK(k.encrypted && !k.rsa && k.pub);
  edr_keyfile_release(&k);
  free(p);

  CHECK(keygen("-t rsa -b 2048 -N ''", "rsa") == 0);
  p = path("rsa");
  CHECK(edr_keyfile_read(p, &k) == 0);
  CHECK(!k.encrypted && k.rsa);
  edr_keyfile_release(&k);
  free(p);

  CHECK(keygen("-t rsa -b 2048 -m PEM -N 'pw two'", "rsa_pem") == 0);
  p = path("rsa_pem");
  CHECK(edr_keyfile_read(p, &k) == 0);
  CHECK(k.encrypted && k.rsa);
  edr_keyfile_release(&k);
  free(p);

  p = path("none");
  CHECK(edr_keyfile_read(p, &k) == EDR_ENOENT);
  edr_keyfile_release(&k);
  free(p);
}

/* An askpass that logs each call and answers "pw <prompt's key>" or fails. */
static void write_askpass(void) {
  char *p = path("askpass"), *log = path("askpass.log");
  FILE *f = fopen(p, "w");
  if (f) {
    fprintf(f, "#!/bin/sh\necho \"$1\" >>'%s'\ncase \"$1\" in *refuse*) exit 1;; esac\n"
               "echo 'the pass phrase'\n", log);
    fclose(f);
  }
  chmod(p, 0700);
  setenv("SSH_ASKPASS", p, 1);
  free(p);
  free(log);
}

static void test_passphrases(void) {
  const char *pass = NULL, *why = NULL;
  char *enc = path("enc"), *refuse = path("refuse");
  write_askpass();
  setenv("SSH_ASKPASS_REQUIRE", "force", 1);

  CHECK(edr_keypass_get(enc) == NULL);
  CHECK(edr_keypass_ask(enc, &pass, &why) == 0);
  CHECK_STR(pass, "the pass phrase");
  CHECK(edr_keypass_ask(enc, &pass, &why) == 0);
  CHECK_STR(edr_keypass_get(enc), "the pass phrase");
  CHECK(lines_in("askpass.log") == 1);

  CHECK(edr_keypass_ask(refuse, &pass, &why) == EDR_EAUTH);
  CHECK(pass == NULL);
  CHECK_CONTAINS(why, "SSH_ASKPASS gave no passphrase");
  CHECK(edr_keypass_ask(refuse, &pass, &why) == EDR_EAUTH);
  CHECK(lines_in("askpass.log") == 2);

  /* never: no askpass; without a terminal there is nobody to ask */
  int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
  if (tty < 0) {
    char *other = path("other");
    setenv("SSH_ASKPASS_REQUIRE", "never", 1);
    CHECK(edr_keypass_ask(other, &pass, &why) == EDR_ENOENT);
    CHECK_CONTAINS(why, "there is no terminal to ask on");
    CHECK(lines_in("askpass.log") == 2);
    free(other);
  } else {
    close(tty);
  }
  edr_keypass_clear();
  CHECK(edr_keypass_get(enc) == NULL);
  free(enc);
  free(refuse);
}

int main(void) {
  if (!mkdtemp(dir))
    return 1;
  test_keyfiles();
  test_passphrases();
  char *cmd = edr_asprintf("rm -rf '%s'", dir);
  if (system(cmd) != 0)
    CHECK(!"cleanup");
  free(cmd);
  return t_done("test_sshkey");
}
