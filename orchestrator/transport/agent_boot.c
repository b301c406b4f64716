/*
 * agent_boot.c - how the agent gets onto a host and starts there: the
 * architectures an agent is built for, and the connection's bootstrap
 * states (agent_conn_int.h).  The bootstrap channel prints the host's
 * architecture and how it takes the agent (its gzip, when the host has
 * gzip and etcd-dr has the .gz, else raw), takes that on stdin into a new
 * temporary directory and prints that directory; then the agent's channel
 * starts it and the hello request goes out, whose answer carries the
 * agent's own SHA-256 for the engine to check (engine/steps.c).  The
 * connection and its driver are agent_conn.c's; these states only move it
 * on.
 */
#include "agent_conn_int.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The bootstrap: print the architecture (one of those with an agent here,
 * else exit BOOT_EXIT_ARCH before placing anything) and "gzip" or "raw":
 * gzip when this side offers the architecture's agent gzip'd (z=1 in its
 * case branch) and the host has gzip.  Then take the agent on stdin into a
 * new temporary directory and print that directory.  When what came does
 * not unpack whole (a cut gzip stream), nothing stays on the host and the
 * bootstrap exits BOOT_EXIT_DAMAGED. */
#define BOOT_HEAD "/bin/sh -c 'm=$(uname -m); z=; case \"$m\" in "
#define BOOT_TAIL                                                              \
  "*) echo \"etcd-dr: unsupported architecture: $m\" >&2; exit 97;; esac; "     \
  "if [ -n \"$z\" ] && command -v gzip >/dev/null 2>&1; then z=gzip; else z=raw; fi; " \
  "echo \"$a $z\"; "                                                            \
  "umask 077; d=$(mktemp -d \"${TMPDIR:-/tmp}/etcd-dr.XXXXXXXX\") || exit 98; " \
  "if [ $z = gzip ]; then gzip -dc; else cat; fi > \"$d/etcd-dr-agent\" && "       \
  "chmod 700 \"$d/etcd-dr-agent\" && echo \"$d\" || { rm -rf \"$d\"; exit 96; }'"

/* The bootstrap's exit status when no agent here is for the host, and
 * when the agent did not arrive whole (BOOT_TAIL). */
enum { BOOT_EXIT_ARCH = 97, BOOT_EXIT_DAMAGED = 96 };

const char *const edr_agent_variant_names[EDR_AGENT__VARIANTS] = {
  [EDR_AGENT_FULL] = "full",
  [EDR_AGENT_NOTLS] = "no-tls",
};

const struct edr_arch_desc edr_archs[EDR_ARCH__COUNT] = {
  [EDR_ARCH_X86_64] = {.name = "x86_64", .human = "x86-64", .uname = "x86_64|amd64",
                       .elf_machine = 62 /* EM_X86_64 */,
                       .file = {[EDR_AGENT_FULL] = "etcd-dr-agent",
                                [EDR_AGENT_NOTLS] = "etcd-dr-agent-notls"},
                       .how = "cmake builds it with etcd-dr on an x86-64 machine"},
  [EDR_ARCH_AARCH64] = {.name = "aarch64", .human = "aarch64", .uname = "aarch64|arm64",
                        .elf_machine = 183 /* EM_AARCH64 */,
                        .file = {[EDR_AGENT_FULL] = "etcd-dr-agent-aarch64",
                                 [EDR_AGENT_NOTLS] = "etcd-dr-agent-aarch64-notls"},
                        .how = "build it with Debian's cross toolchain: scripts/deps.sh "
                               "installs it, then cmake builds etcd-dr-agent-aarch64"},
};

int edr_arch_of_uname(const char *machine) {
  size_t n = strlen(machine);
  for (int a = 0; a < EDR_ARCH__COUNT; a++)
    for (const char *p = edr_archs[a].uname; p;) {
      const char *bar = strchr(p, '|');
      size_t len = bar ? (size_t)(bar - p) : strlen(p);
      if (len == n && !memcmp(p, machine, n))
        return a;
      p = bar ? bar + 1 : NULL;
    }
  return -1;
}

/* ---- states: bootstrap and agent start -------------------------------- */


void edr_boot_script(const struct edr_agent_target *t, char *out, size_t len) {
  size_t n = (size_t)snprintf(out, len, "%s", BOOT_HEAD);
  for (int a = 0; a < EDR_ARCH__COUNT && n < len; a++)
    if (t->agents[a].path)
      n += (size_t)snprintf(out + n, len - n, "%s) a=%s%s;; ", edr_archs[a].uname,
                            edr_archs[a].name, t->agents[a].gz_path ? " z=1" : "");
  if (n < len)
    snprintf(out + n, len - n, "%s", BOOT_TAIL);
}

int st_boot_exec(struct edr_agent_conn *c) {
  char script[1400];
  edr_boot_script(c->t, script, sizeof script);
  int rc = edr_chan_exec(&c->ssh, &c->boot, script);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    conn_fail(c, rc, true, "%s", c->ssh.error.msg.buf);
    return rc;
  }
  c->arch = -1;
  c->boot_out_len = 0;
  c->boot_out[0] = '\0';
  conn_set_state(c, C_BOOT_ARCH);
  return 0;
}

/* The first line the bootstrap prints: the architecture whose agent it
 * waits for, and how ("gzip" or "raw").  When it ends instead (exit
 * BOOT_EXIT_ARCH), st_boot_close words it. */
int st_boot_arch(struct edr_agent_conn *c) {
  char *nl;
  while (!(nl = memchr(c->boot_out, '\n', c->boot_out_len))) {
    conn_drain_stderr(c, &c->boot);
    if (c->boot_out_len + 1 >= sizeof c->boot_out) {
      conn_fail(c, EDR_EPROTO, true, "the bootstrap printed no architecture: %.60s", c->boot_out);
      return EDR_EPROTO;
    }
    long n = edr_chan_read(&c->ssh, &c->boot, 0, c->boot_out + c->boot_out_len,
                           sizeof c->boot_out - 1 - c->boot_out_len);
    if (n == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (n < 0) {
      conn_fail(c, (int)n, true, "%s", c->ssh.error.msg.buf);
      return (int)n;
    }
    if (n == 0) { /* it ended: no agent for this architecture, or it failed */
      conn_set_state(c, C_BOOT_CLOSE);
      return 0;
    }
    c->boot_out_len += (size_t)n;
    c->boot_out[c->boot_out_len] = '\0';
  }
  *nl = '\0';
  char *how = strchr(c->boot_out, ' ');
  if (how)
    *how++ = '\0';
  int a = edr_arch_of_uname(c->boot_out);
  if (a < 0 || !c->t->agents[a].path || !how ||
      (strcmp(how, "raw") && (strcmp(how, "gzip") || !c->t->agents[a].gz_path))) {
    conn_fail(c, EDR_EPROTO, true, "the bootstrap printed '%.60s%s%.20s', not an architecture "
              "with an agent here and how it takes it", c->boot_out, how ? " " : "",
              how ? how : "");
    return EDR_EPROTO;
  }
  c->arch = a;
  c->agent_gz = !strcmp(how, "gzip");
  const char *path = c->agent_gz ? c->t->agents[a].gz_path : c->t->agents[a].path;
  c->agent_size = c->agent_gz ? c->t->agents[a].gz_size : c->t->agents[a].size;
  conn_logf(c, EDR_AGENT_LOG_DEBUG, "[%s] the host is %s: pushing %s (%llu bytes%s)", c->t->name,
            edr_archs[a].name, path, (unsigned long long)c->agent_size,
            c->agent_gz ? ", unpacked by the host's gzip"
            : c->t->agents[a].gz_path ? "; the host has no gzip" : "");
  /* what follows the line is the directory, printed after the push */
  size_t rest = c->boot_out_len - (size_t)(nl + 1 - c->boot_out);
  memmove(c->boot_out, nl + 1, rest + 1);
  c->boot_out_len = rest;
  c->agent_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (c->agent_fd < 0) {
    conn_fail(c, edr_from_errno(errno), true, "cannot open the agent binary '%s'", path);
    return EDR_EIO;
  }
  c->agent_sent = 0;
  c->buf_len = c->buf_off = 0;
  conn_set_state(c, C_BOOT_SEND);
  return 0;
}
int st_boot_send(struct edr_agent_conn *c) {
  conn_drain_stderr(c, &c->boot);
  if (!c->boot_t0)
    c->boot_t0 = uv_hrtime();
  int rc = conn_push_fd(c, &c->boot, c->agent_fd, NULL, c->agent_size, &c->agent_sent);
  if (rc) {
    /* The bootstrap may have ended before taking the agent (mktemp failed):
     * then nobody reads the rest and the window stays shut.  Its stderr and
     * exit status say why (st_boot_close). */
    conn_drain_stderr(c, &c->boot);
    if (libssh2_channel_eof(c->boot.ch)) {
      close(c->agent_fd);
      c->agent_fd = -1;
      conn_set_state(c, C_BOOT_READ);
      return 0;
    }
  }
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc == 0)
    rc = edr_chan_send_eof(&c->ssh, &c->boot);
  if (rc == EDR_EAGAIN)
    return rc;
  close(c->agent_fd);
  c->agent_fd = -1;
  if (rc) {
    conn_fail(c, rc, true, "%s",
              c->ssh.error.msg.len ? c->ssh.error.msg.buf : "cannot push the agent");
    return rc;
  }
  conn_set_state(c, C_BOOT_READ);
  return 0;
}

int st_boot_read(struct edr_agent_conn *c) {
  for (;;) {
    conn_drain_stderr(c, &c->boot);
    char tmp[256];
    long n = edr_chan_read(&c->ssh, &c->boot, 0, tmp, sizeof tmp);
    if (n == EDR_EAGAIN)
      return EDR_EAGAIN;
    if (n < 0) {
      conn_fail(c, (int)n, true, "%s", c->ssh.error.msg.buf);
      return (int)n;
    }
    if (n == 0) {
      /* the host has all of the agent: what its share of the link carried
       * (the bytes that crossed it: the gzip when it went gzip'd) */
      uint64_t now = uv_hrtime();
      if (c->boot_t0 && c->agent_sent == c->agent_size && now > c->boot_t0)
        c->boot_t1 = now;
      break;
    }
    size_t k = (size_t)n;
    if (c->boot_out_len + k < sizeof c->boot_out) {
      memcpy(c->boot_out + c->boot_out_len, tmp, k);
      c->boot_out_len += k;
      c->boot_out[c->boot_out_len] = '\0';
    }
  }
  conn_set_state(c, C_BOOT_CLOSE);
  return 0;
}

/* The directory the bootstrap printed, checked strictly: it goes into the
 * command that starts the agent. */
static bool valid_agent_dir(const char *d) {
  size_t n = strlen(d);
  const char *base = strrchr(d, '/');
  if (n < 16 || n > 250 || d[0] != '/' || !base || strncmp(base, "/etcd-dr.", 9) ||
      strlen(base + 9) != 8)
    return false;
  for (const char *p = d; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || strchr("/._-", *p)))
      return false;
  return !strstr(d, "/../") && !strstr(d, "/./");
}

/* The bootstrap found no agent here for the host's architecture: name the
 * architecture, and the missing agent when etcd-dr knows how to build one. */
static void fail_arch(struct edr_agent_conn *c) {
  const char *said = conn_stderr_last(c), *key = "architecture: ";
  const char *m = strstr(said, key);
  m = m ? m + strlen(key) : "unknown";
  int a = edr_arch_of_uname(m);
  if (a >= 0) {
    conn_fail(c, EDR_EARCH, false, "the host is %s and there is no %s agent here (%s next to "
              "etcd-dr, or --agent FILE); %s", m, edr_archs[a].human,
              edr_archs[a].file[EDR_AGENT_FULL], edr_archs[a].how);
    return;
  }
  char have[200];
  size_t n = 0;
  have[0] = '\0';
  for (int k = 0; k < EDR_ARCH__COUNT; k++)
    if (c->t->agents[k].path && n < sizeof have)
      n += (size_t)snprintf(have + n, sizeof have - n, "%s%s", n ? " and " : "",
                            edr_archs[k].human);
  conn_fail(c, EDR_EARCH, false, "the host's architecture is %s; etcd-dr-agent is built for %s "
            "Linux only", m, have);
}

int st_boot_close(struct edr_agent_conn *c) {
  int exit_status;
  const char *sig;
  int rc = edr_chan_close(&c->ssh, &c->boot, &exit_status, &sig);
  if (rc == EDR_EAGAIN)
    return rc;
  conn_drain_stderr(c, &c->boot);
  edr_chan_release(&c->boot);
  if (rc) {
    conn_fail(c, rc, true, "%s", c->ssh.error.msg.buf);
    return rc;
  }
  if (exit_status == BOOT_EXIT_ARCH) {
    fail_arch(c);
    return EDR_EARCH;
  }
  if (exit_status == BOOT_EXIT_DAMAGED && !sig) {
    conn_fail(c, EDR_EREMOTE, false, "the agent did not arrive whole (%llu of %llu bytes sent%s): "
              "%s; nothing was started and its directory is removed; run again",
              (unsigned long long)c->agent_sent, (unsigned long long)c->agent_size,
              c->agent_gz ? ", gzip'd" : "",
              c->errtail_len ? conn_stderr_last(c) : "it could not be written");
    return EDR_EREMOTE;
  }
  char *nl = strchr(c->boot_out, '\n');
  if (nl)
    *nl = '\0';
  if (exit_status != 0 || sig || !valid_agent_dir(c->boot_out)) {
    conn_fail(c, EDR_EREMOTE, false, "could not place the agent in a temporary directory "
              "(exit %d%s%s): %s", exit_status, sig ? ", signal " : "", sig ? sig : "",
              c->errtail_len ? conn_stderr_last(c) : "no output");
    return EDR_EREMOTE;
  }
  snprintf(c->agent_dir, sizeof c->agent_dir, "%s", c->boot_out);
  c->errtail_len = 0;
  c->errtail[0] = '\0';
  conn_set_state(c, C_AGENT_EXEC);
  return 0;
}


int st_agent_exec(struct edr_agent_conn *c) {
  char cmd[1400];
  /* If the agent cannot start (sudo -n refused), nothing else would remove
   * its directory; the agent removes it itself when it ran.  The directory
   * passed valid_agent_dir(): no quote can occur in it. */
  snprintf(cmd, sizeof cmd, "/bin/sh -c '%s%s/etcd-dr-agent; rc=$?; rm -rf %s; exit $rc'",
           c->t->sudo ? "sudo -n " : "", c->agent_dir, c->agent_dir);
  int rc = edr_chan_exec(&c->ssh, &c->agent, cmd);
  if (rc == EDR_EAGAIN)
    return rc;
  if (rc) {
    conn_fail(c, rc, true, "%s", c->ssh.error.msg.buf);
    return rc;
  }
  c->conn_ok = true;
  c->agent_up = true;
  struct edr_agent_request r = {.req = c->hello, .payload_fd = -1};
  c->hello = NULL;
  conn_send_request(c, &r);
  return 0;
}
