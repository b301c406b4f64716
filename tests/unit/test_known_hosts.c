/*
 * test_known_hosts.c - what --accept-new-host-keys leaves in a known_hosts
 * file (edr_known_hosts_append, orchestrator/ssh.c): a file edited by hand
 * whose last line has no newline keeps that entry intact, and both entries
 * are then found by libssh2 (what etcd-dr reads next time) and by OpenSSH's
 * ssh-keygen -F (what the operator's ssh reads), when it is installed.
 */
#include "ssh.h"
#include "t.h"

#include <libssh2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY1 "AAAAC3NzaC1lZDI1NTE5AAAAIPcOvYsw7sYJ3mwX+3o7pdF8qsklgNa3NDPCb4mUY/ni"
#define KEY2 "AAAAC3NzaC1lZDI1NTE5AAAAIE8ASJx8Bva8pT0b3KtNTd0sbGPrD9B1HXqzkBni/sYf"
#define LINE1 "10.0.0.1 ssh-ed25519 " KEY1
#define LINE2 "10.0.0.2 ssh-ed25519 " KEY2 "\n"

static char *slurp(const char *path) {
  static char buf[4096];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = '\0';
  return buf;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

/* Whether libssh2 reads PATH and finds KEY (base64) for HOST. */
static bool libssh2_knows(const char *path, const char *host, const char *key) {
  LIBSSH2_SESSION *s = libssh2_session_init();
  LIBSSH2_KNOWNHOSTS *kh = s ? libssh2_knownhost_init(s) : NULL;
  bool ok = kh && libssh2_knownhost_readfile(kh, path, LIBSSH2_KNOWNHOST_FILE_OPENSSH) >= 0 &&
            libssh2_knownhost_checkp(kh, host, 22, key, strlen(key),
                                     LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                         LIBSSH2_KNOWNHOST_KEYENC_BASE64 |
                                         LIBSSH2_KNOWNHOST_KEY_ED25519,
                                     NULL) == LIBSSH2_KNOWNHOST_CHECK_MATCH;
  if (kh)
    libssh2_knownhost_free(kh);
  if (s)
    libssh2_session_free(s);
  return ok;
}

/* Whether OpenSSH's ssh-keygen finds HOST in PATH with KEY; true when there
 * is no ssh-keygen to ask. */
static bool openssh_knows(const char *path, const char *host, const char *key) {
  if (system("command -v ssh-keygen >/dev/null 2>&1") != 0)
    return true;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ssh-keygen -F '%s' -f '%s' | grep -q '%s'", host, path, key);
  return system(cmd) == 0;
}

int main(void) {
  char dir[] = "/tmp/edr-kh.XXXXXX", path[64];
  if (!mkdtemp(dir))
    return 1;
  snprintf(path, sizeof path, "%s/known_hosts", dir);
  libssh2_init(0);

  /* a hand-edited file: comment, then an entry without a final newline */
  write_file(path, "# mine\n" LINE1);
  CHECK(edr_known_hosts_append(path, LINE2, strlen(LINE2)) == 0);
  CHECK_STR(slurp(path), "# mine\n" LINE1 "\n" LINE2);
  CHECK(libssh2_knows(path, "10.0.0.1", KEY1));
  CHECK(libssh2_knows(path, "10.0.0.2", KEY2));
  CHECK(openssh_knows(path, "10.0.0.1", KEY1));
  CHECK(openssh_knows(path, "10.0.0.2", KEY2));

  /* a file that ends in a newline gets no blank line */
  write_file(path, LINE1 "\n");
  CHECK(edr_known_hosts_append(path, LINE2, strlen(LINE2)) == 0);
  CHECK_STR(slurp(path), LINE1 "\n" LINE2);

  /* an empty file, and a missing one (created 0600), start with the line */
  write_file(path, "");
  CHECK(edr_known_hosts_append(path, LINE2, strlen(LINE2)) == 0);
  CHECK_STR(slurp(path), LINE2);
  unlink(path);
  CHECK(edr_known_hosts_append(path, LINE2, strlen(LINE2)) == 0);
  CHECK_STR(slurp(path), LINE2);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

  /* a directory it cannot write to: an error, not a crash */
  char bad[96];
  snprintf(bad, sizeof bad, "%s/no/such/dir/known_hosts", dir);
  CHECK(edr_known_hosts_append(bad, LINE2, strlen(LINE2)) < 0);

  unlink(path);
  rmdir(dir);
  libssh2_exit();
  return t_done("test_known_hosts");
}
