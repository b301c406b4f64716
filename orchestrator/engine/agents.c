/*
 * agents.c - the local etcd-dr-agent binaries a run may push, one per
 * architecture (agent_conn.h's edr_archs) and build (the full agent, and
 * etcd-dr-agent-notls without TLS, told apart by their names): which file
 * is for which architecture is read from its ELF header, never from its
 * name.  Beside
 * each, the build's gzip of it (FILE.gz, agent/CMakeLists.txt) is what a
 * host with gzip gets, when it is that file's: not older, and gzip's
 * trailer gives FILE's length; else FILE goes raw.  The run (run.c) owns
 * the struct edr_agents this fills; each host's connection borrows the
 * paths and pushes the one for the host's `uname -m`.
 */
#include "executor.h"

#include "log.h"

#include "err.h"
#include "snapfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The architecture etcd-dr itself runs on: a file that is not ELF (a test's
 * stand-in agent) counts as built for it. */
#if defined(__aarch64__)
enum { NATIVE_ARCH = EDR_ARCH_AARCH64 };
#else
enum { NATIVE_ARCH = EDR_ARCH_X86_64 };
#endif

/* The architecture PATH's ELF header names (NATIVE_ARCH when it is not an
 * ELF file); EDR_EARCH for an ELF file of another machine; another
 * negative EDR_E* code when it cannot be read. */
static int file_arch(const char *path) {
  unsigned char h[20];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return edr_from_errno(errno);
  ssize_t n = read(fd, h, sizeof h);
  close(fd);
  if (n < (ssize_t)sizeof h || memcmp(h, "\177ELF", 4))
    return NATIVE_ARCH;
  unsigned machine = h[5] == 2 ? (unsigned)h[18] << 8 | h[19] : (unsigned)h[19] << 8 | h[18];
  for (int a = 0; a < EDR_ARCH__COUNT; a++)
    if (edr_archs[a].elf_machine == machine)
      return a;
  return EDR_EARCH;
}

/* F's gzip beside it, as the build makes it (FILE.gz): a gzip file, not
 * older than FILE, whose trailer gives FILE's length (mod 2^32).  Anything
 * else leaves F raw, said at -vv; the hello's SHA-256 checks what the host
 * unpacked either way. */
static void take_gz(struct edr_agent_file *f) {
  char *gz = edr_asprintf("%s.gz", f->path);
  if (!gz)
    return;
  struct stat bs, zs;
  unsigned char head[3], tail[4];
  const char *why = NULL;
  int fd = open(gz, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &zs) || stat(f->path, &bs)) {
    why = "cannot be read";
  } else if (zs.st_mtim.tv_sec < bs.st_mtim.tv_sec ||
             (zs.st_mtim.tv_sec == bs.st_mtim.tv_sec &&
              zs.st_mtim.tv_nsec < bs.st_mtim.tv_nsec)) {
    why = "is older than the agent";
  } else if (zs.st_size < 18 || pread(fd, head, 3, 0) != 3 ||
             pread(fd, tail, 4, zs.st_size - 4) != 4 || memcmp(head, "\x1f\x8b\x08", 3)) {
    why = "is not a gzip file";
  } else if (((uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
              (uint32_t)tail[3] << 24) != (uint32_t)f->size) {
    why = "is not the gzip of the agent (another length)";
  }
  if (fd >= 0)
    close(fd);
  if (why) {
    if (errno != ENOENT || fd >= 0)
      edr_debug("'%s' %s: the agent goes raw", gz, why);
    free(gz);
    return;
  }
  f->gz_path = gz;
  f->gz_size = (uint64_t)zs.st_size;
}

/* Record PATH (taken) as architecture A's agent of build V: its size and
 * sha-256, and its gzip. */
static int take(struct edr_agents *ag, int a, enum edr_agent_variant v, char *path) {
  struct edr_snapfile sf;
  int rc = edr_snapfile_check(path, &sf);
  if (rc) {
    free(path);
    return rc;
  }
  struct edr_agent_file *f = &ag->bin[a][v];
  f->path = path;
  f->size = sf.size;
  memcpy(f->sha256, sf.file_sha256, sizeof f->sha256);
  take_gz(f);
  return 0;
}

/* The directory etcd-dr runs from, or "" when /proc does not say. */
static void self_dir(char *dir, size_t len) {
  ssize_t n = readlink("/proc/self/exe", dir, len - 1);
  dir[n > 0 ? n : 0] = '\0';
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    dir[0] = '\0';
}

int edr_agents_find(struct edr_agents *ag, const char *given, struct edr_error *err) {
  memset(ag, 0, sizeof *ag);
  int given_arch = -1;  /* GIVEN is that architecture's only agent */
  if (!given || !*given)
    given = getenv("ETCD_DR_AGENT");
  if (given && *given) {
    int a = access(given, R_OK) == 0 ? file_arch(given) : EDR_ENOENT;
    if (a == EDR_EARCH)
      return edr_error_set(err, EDR_EARCH, "'%s' is an ELF file for none of the "
                           "architectures etcd-dr pushes an agent to (x86-64, aarch64)", given);
    int rc = a < 0 ? a : take(ag, a, EDR_AGENT_FULL, strdup(given));
    if (rc)
      return edr_error_set(err, rc, "cannot find or read etcd-dr-agent at %s (set "
                           "ETCD_DR_AGENT to its path)", given);
    given_arch = a;
  }
  char self[PATH_MAX];
  self_dir(self, sizeof self);
  static const char *const rel[] = {"", "/../libexec/etcd-dr"};
  for (size_t d = 0; self[0] && d < sizeof rel / sizeof rel[0]; d++)
    for (int f = 0; f < EDR_ARCH__COUNT; f++)
      for (int v = 0; v < EDR_AGENT__VARIANTS; v++) {
        char *p = edr_asprintf("%s%s/%s", self, rel[d], edr_archs[f].file[v]);
        int a = p && access(p, R_OK) == 0 ? file_arch(p) : EDR_ENOENT;
        if (a >= 0 && a != given_arch && !ag->bin[a][v].path)
          take(ag, a, v, p);
        else
          free(p);
      }
  if (edr_agents_first(ag) >= 0)
    return 0;
  return edr_error_set(err, EDR_ENOENT, "cannot find or read etcd-dr-agent (set "
                       "ETCD_DR_AGENT to its path)");
}

void edr_agents_release(struct edr_agents *ag) {
  for (int a = 0; a < EDR_ARCH__COUNT; a++)
    for (int v = 0; v < EDR_AGENT__VARIANTS; v++) {
      free(ag->bin[a][v].path);
      free(ag->bin[a][v].gz_path);
      ag->bin[a][v] = (struct edr_agent_file){0};
    }
}

int edr_agents_first(const struct edr_agents *ag) {
  for (int a = 0; a < EDR_ARCH__COUNT; a++)
    if (edr_agents_pick(ag, a, EDR_AGENT_FULL))
      return a;
  return -1;
}

const struct edr_agent_file *edr_agents_pick(const struct edr_agents *ag, int a,
                                             enum edr_agent_variant want) {
  if (a < 0 || a >= EDR_ARCH__COUNT)
    return NULL;
  if (ag->bin[a][want].path)
    return &ag->bin[a][want];
  for (int v = 0; v < EDR_AGENT__VARIANTS; v++)
    if (ag->bin[a][v].path)
      return &ag->bin[a][v];
  return NULL;
}
