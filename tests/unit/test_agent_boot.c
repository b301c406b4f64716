/*
 * test_agent_boot.c - the bootstrap command that places the agent on a host
 * (transport/agent_boot.c edr_boot_script), run here with the local
 * /bin/sh as sshd would run it: it says "gzip" when it is offered the
 * agent gzip'd and has gzip, else "raw"; what it is sent ends up as the
 * agent, mode 0700, in a new etcd-dr.XXXXXXXX directory it prints; a cut
 * gzip stream fails it (exit 96) and leaves no directory behind.
 */
#include "agent_conn_int.h"
#include "t.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/edr-test-boot.XXXXXX";
static char bin[64], gz[64], cut[64], tmp[64], nogzip[64];

static char *slurp(const char *path) {
  static char buf[4][4096];
  static int k;
  char *b = buf[k++ % 4];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(b, 1, sizeof buf[0] - 1, f) : 0;
  b[n] = '\0';
  if (f)
    fclose(f);
  return b;
}

static bool same_file(const char *a, const char *b) {
  char cmd[800];
  snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
  return system(cmd) == 0;
}

/* Entries in TMP whose name starts with "etcd-dr.". */
static int placed(void) {
  DIR *d = opendir(tmp);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += !strncmp(e->d_name, "etcd-dr.", 8);
  if (d)
    closedir(d);
  return n;
}

/* Run the bootstrap for agents BIN (with GZ_OFFERED: and its gzip) with
 * stdin from IN and PATH; its exit status, stdout in OUT, stderr in ERR. */
static int boot(bool gz_offered, const char *in, const char *path, char **out, char **err) {
  struct edr_agent_target t = {.name = "m1"};
  for (int a = 0; a < EDR_ARCH__COUNT; a++)
    t.agents[a] = (struct edr_agent_bin){.path = bin, .size = 1,
                                         .gz_path = gz_offered ? gz : NULL, .gz_size = 1};
  char script[1400], cmd[2000];
  edr_boot_script(&t, script, sizeof script);
  snprintf(cmd, sizeof cmd, "TMPDIR=%s PATH=%s %s <%s >%s/out 2>%s/err", tmp, path, script, in,
           dir, dir);
  int st = system(cmd);
  char p[400];
  snprintf(p, sizeof p, "%s/out", dir);
  *out = slurp(p);
  snprintf(p, sizeof p, "%s/err", dir);
  *err = slurp(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *arch_line(const char *how) {
  static char line[64];
  snprintf(line, sizeof line, "%s %s\n",
#if defined(__aarch64__)
           "aarch64",
#else
           "x86_64",
#endif
           how);
  return line;
}

/* The directory printed on the line after the first, its agent checked
 * and removed. */
static void check_placed(const char *out) {
  const char *nl = strchr(out, '\n');
  CHECK(nl != NULL);
  if (!nl)
    return;
  char d[400], agent[450];
  snprintf(d, sizeof d, "%.*s", (int)strcspn(nl + 1, "\n"), nl + 1);
  CHECK(!strncmp(d, tmp, strlen(tmp)) && strstr(d, "/etcd-dr.") != NULL);
  snprintf(agent, sizeof agent, "%s/etcd-dr-agent", d);
  struct stat st;
  CHECK(stat(agent, &st) == 0 && (st.st_mode & 0777) == 0700);
  CHECK(same_file(agent, bin));
  char cmd[500];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  CHECK(system(cmd) == 0);
}

static void test_gzip(void) {
  char *out, *err;
  CHECK(boot(true, gz, "/usr/bin:/bin", &out, &err) == 0);
  CHECK(!strncmp(out, arch_line("gzip"), strlen(arch_line("gzip"))));
  check_placed(out);
  CHECK(placed() == 0);
}

static void test_cut_gzip(void) {
  char *out, *err;
  CHECK(boot(true, cut, "/usr/bin:/bin", &out, &err) == 96);
  CHECK_STR(out, arch_line("gzip")); /* no directory printed */
  CHECK_CONTAINS(err, "unexpected end of file");
  CHECK(placed() == 0);              /* and none left */
}

static void test_raw(void) {
  char *out, *err;
  /* not offered gzip'd: raw, though the host has gzip */
  CHECK(boot(false, bin, "/usr/bin:/bin", &out, &err) == 0);
  CHECK(!strncmp(out, arch_line("raw"), strlen(arch_line("raw"))));
  check_placed(out);
  /* offered, but no gzip on the host's PATH */
  CHECK(boot(true, bin, nogzip, &out, &err) == 0);
  CHECK(!strncmp(out, arch_line("raw"), strlen(arch_line("raw"))));
  check_placed(out);
  CHECK(placed() == 0);
}

int main(void) {
  if (!mkdtemp(dir))
    return 1;
  snprintf(bin, sizeof bin, "%s/agent", dir);
  snprintf(gz, sizeof gz, "%s/agent.gz", dir);
  snprintf(cut, sizeof cut, "%s/cut.gz", dir);
  snprintf(tmp, sizeof tmp, "%s/tmp", dir);
  snprintf(nogzip, sizeof nogzip, "%s/bin", dir);
  char cmd[4000];
  /* an agent stand-in that compresses, its gzip, that gzip cut in half, and
   * a PATH with every tool the bootstrap uses but gzip */
  snprintf(cmd, sizeof cmd,
           "set -e; mkdir %s %s; head -c 300000 /dev/urandom | od -An -tx1 > %s; "
           "gzip -9 -n -k %s; head -c $(($(stat -c %%s %s) / 2)) %s > %s; "
           "for t in sh uname mktemp cat chmod rm; do ln -s \"$(command -v $t)\" %s/$t; done",
           tmp, nogzip, bin, bin, gz, gz, cut, nogzip);
  if (system(cmd) != 0)
    return 1;
  test_gzip();
  test_cut_gzip();
  test_raw();
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    return 1;
  return t_done("test_agent_boot");
}
