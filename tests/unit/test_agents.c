/*
 * test_agents.c - which local agent is for which architecture
 * (engine/agents.c): read from the file's ELF header, never its name; an
 * ELF file of a machine etcd-dr has no agent for, or a missing file, is a
 * message naming it; its gzip beside it taken only when it is that file's;
 * and the arch table's `uname -m` spellings.
 */
#include "err.h"
#include "executor.h"
#include "t.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/edr-test-agents.XXXXXX";

/* A file NAME that starts like an ELF executable for MACHINE (0: not ELF). */
static const char *elf(const char *name, unsigned machine) {
  static char path[256];
  unsigned char h[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
  h[18] = (unsigned char)(machine & 0xff);
  h[19] = (unsigned char)(machine >> 8);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f)
    abort();
  if (machine)
    fwrite(h, 1, sizeof h, f);
  else
    fputs("agent\n", f);
  fclose(f);
  return path;
}

static void test_by_header(void) {
  struct edr_agents ag;
  struct edr_error err = EDR_ERROR_INIT;
  /* named like the x86-64 one, built for aarch64: the header decides */
  const char *p = elf("etcd-dr-agent", 183);
  CHECK(edr_agents_find(&ag, p, &err) == 0);
  CHECK_STR(ag.bin[EDR_ARCH_AARCH64][EDR_AGENT_FULL].path, p);
  CHECK(ag.bin[EDR_ARCH_AARCH64][EDR_AGENT_FULL].size == 64 && strlen(ag.bin[EDR_ARCH_AARCH64][EDR_AGENT_FULL].sha256) == 64);
  CHECK(edr_agents_first(&ag) == EDR_ARCH_AARCH64); /* none beside the test binary */
  edr_agents_release(&ag);

  p = elf("a", 62);
  CHECK(edr_agents_find(&ag, p, &err) == 0);
  CHECK_STR(ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].path, p);
  edr_agents_release(&ag);

  /* not ELF (a test's stand-in): the coordinator's own architecture */
  p = elf("stand-in", 0);
  CHECK(edr_agents_find(&ag, p, &err) == 0);
  CHECK_STR(ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].path, p);
  edr_agents_release(&ag);

  p = elf("riscv", 243);
  CHECK(edr_agents_find(&ag, p, &err) == EDR_EARCH);
  char want[700];
  snprintf(want, sizeof want, "'%s' is an ELF file for none of the architectures etcd-dr "
           "pushes an agent to (x86-64, aarch64)", p);
  CHECK_STR(edr_error_text(&err), want);
  edr_agents_release(&ag);

  CHECK(edr_agents_find(&ag, "/nonexistent/etcd-dr-agent", &err) == EDR_ENOENT);
  CHECK_STR(edr_error_text(&err), "cannot find or read etcd-dr-agent at "
                                   "/nonexistent/etcd-dr-agent (set ETCD_DR_AGENT to its path)");
  edr_error_release(&err);
  edr_agents_release(&ag);
  unlink(elf("etcd-dr-agent", 0));
  unlink(elf("a", 0));
  unlink(elf("stand-in", 0));
  unlink(elf("riscv", 0));
}

/* FILE.gz beside an agent is taken when it is that agent's gzip as the
 * build makes it; older, of another length or not gzip, the agent goes raw. */
static void test_gz(void) {
  struct edr_agents ag;
  struct edr_error err = EDR_ERROR_INIT;
  const char *p = elf("gzagent", 62);
  char cmd[300], gz[200];
  snprintf(gz, sizeof gz, "%s.gz", p);
  snprintf(cmd, sizeof cmd, "gzip -9 -n -k -f %s", p);
  CHECK(system(cmd) == 0);
  CHECK(edr_agents_find(&ag, p, &err) == 0);
  CHECK_STR(ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].gz_path, gz);
  struct stat st;
  CHECK(stat(gz, &st) == 0 && ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].gz_size == (uint64_t)st.st_size);
  edr_agents_release(&ag);

  /* the agent rebuilt after its .gz */
  snprintf(cmd, sizeof cmd, "touch -d '1 minute ago' %s", gz);
  CHECK(system(cmd) == 0);
  CHECK(edr_agents_find(&ag, p, &err) == 0);
  CHECK(ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].path && !ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].gz_path);
  edr_agents_release(&ag);

  /* the gzip of another file */
  snprintf(cmd, sizeof cmd, "echo other | gzip -n > %s", gz);
  CHECK(system(cmd) == 0);
  CHECK(edr_agents_find(&ag, p, &err) == 0);
  CHECK(!ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].gz_path);
  edr_agents_release(&ag);

  /* not gzip at all */
  snprintf(cmd, sizeof cmd, "cp %s %s", p, gz);
  CHECK(system(cmd) == 0);
  CHECK(edr_agents_find(&ag, p, &err) == 0);
  CHECK(!ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].gz_path);
  edr_agents_release(&ag);
  unlink(gz);
  unlink(p);
}

/* A host gets the build it was given, else the other one of its
 * architecture; an architecture without either gets none. */
static void test_pick(void) {
  struct edr_agents ag = {0};
  char full[] = "full", notls[] = "notls";
  ag.bin[EDR_ARCH_X86_64][EDR_AGENT_FULL].path = full;
  ag.bin[EDR_ARCH_X86_64][EDR_AGENT_NOTLS].path = notls;
  CHECK_STR(edr_agents_pick(&ag, EDR_ARCH_X86_64, EDR_AGENT_FULL)->path, "full");
  CHECK_STR(edr_agents_pick(&ag, EDR_ARCH_X86_64, EDR_AGENT_NOTLS)->path, "notls");
  CHECK(edr_agents_pick(&ag, EDR_ARCH_AARCH64, EDR_AGENT_FULL) == NULL);
  CHECK(edr_agents_pick(&ag, -1, EDR_AGENT_FULL) == NULL);
  ag.bin[EDR_ARCH_X86_64][EDR_AGENT_NOTLS].path = NULL;   /* --agent FILE: that one only */
  CHECK_STR(edr_agents_pick(&ag, EDR_ARCH_X86_64, EDR_AGENT_NOTLS)->path, "full");
  ag.bin[EDR_ARCH_AARCH64][EDR_AGENT_NOTLS].path = notls;  /* only the build without TLS */
  CHECK_STR(edr_agents_pick(&ag, EDR_ARCH_AARCH64, EDR_AGENT_FULL)->path, "notls");
  CHECK(edr_agents_first(&ag) == EDR_ARCH_X86_64);
}

static void test_uname(void) {
  CHECK(edr_arch_of_uname("x86_64") == EDR_ARCH_X86_64);
  CHECK(edr_arch_of_uname("amd64") == EDR_ARCH_X86_64);
  CHECK(edr_arch_of_uname("aarch64") == EDR_ARCH_AARCH64);
  CHECK(edr_arch_of_uname("arm64") == EDR_ARCH_AARCH64);
  CHECK(edr_arch_of_uname("arm") == -1);
  CHECK(edr_arch_of_uname("x86") == -1);
  CHECK(edr_arch_of_uname("") == -1);
  CHECK(edr_arch_of_uname("ppc64le") == -1);
}

int main(void) {
  if (!mkdtemp(dir))
    return 1;
  unsetenv("ETCD_DR_AGENT");
  test_by_header();
  test_gz();
  test_pick();
  test_uname();
  rmdir(dir);
  return t_done("test_agents");
}
