/*
 * cli.c - the cluster-spec options every subcommand shares.
 */
#include "cli.h"

#include "log.h"
#include "quote.h"
#include "sshconfig.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  O_CLUSTER = 1000, O_INITIAL_CLUSTER, O_SSH_USER, O_SSH_PORT, O_IDENTITY,
  O_KNOWN_HOSTS, O_SUDO, O_NO_SUDO, O_DATA_DIR, O_WAL_DIR, O_OWNER, O_MODE,
  O_STOP, O_START, O_TOOL, O_TOKEN, O_PROXY_JUMP, O_PROXY_COMMAND, O_SSH_CONFIG,
};

const struct option edr_spec_long_options[] = {
  {"cluster", required_argument, NULL, O_CLUSTER},
  {"initial-cluster", required_argument, NULL, O_INITIAL_CLUSTER},
  {"ssh-user", required_argument, NULL, O_SSH_USER},
  {"ssh-port", required_argument, NULL, O_SSH_PORT},
  {"identity", required_argument, NULL, O_IDENTITY},
  {"known-hosts", required_argument, NULL, O_KNOWN_HOSTS},
  {"sudo", no_argument, NULL, O_SUDO},
  {"no-sudo", no_argument, NULL, O_NO_SUDO},
  {"data-dir", required_argument, NULL, O_DATA_DIR},
  {"wal-dir", required_argument, NULL, O_WAL_DIR},
  {"data-dir-owner", required_argument, NULL, O_OWNER},
  {"data-dir-mode", required_argument, NULL, O_MODE},
  {"stop-command", required_argument, NULL, O_STOP},
  {"start-command", required_argument, NULL, O_START},
  {"restore-tool", required_argument, NULL, O_TOOL},
  {"initial-cluster-token", required_argument, NULL, O_TOKEN},
  {"proxy-jump", required_argument, NULL, O_PROXY_JUMP},
  {"proxy-command", required_argument, NULL, O_PROXY_COMMAND},
  {"ssh-config", required_argument, NULL, O_SSH_CONFIG},
  {NULL, 0, NULL, 0},
};

const char edr_spec_options_help[] =
    "Cluster (one of):\n"
    "  --cluster FILE             JSON cluster file (docs/spec.md)\n"
    "  --initial-cluster SPEC     etcd's name=peerURL,... string; SSH goes to each\n"
    "                             peer URL's host\n"
    "Cluster-wide settings (override the file's cluster-wide values, not a\n"
    "member's own):\n"
    "  --ssh-user USER            default: your user name\n"
    "  --ssh-port PORT            default 22\n"
    "  --identity FILE            private key (ed25519, ECDSA, RSA; FILE-cert.pub\n"
    "                             first); default: ssh-agent, then ~/.ssh/id_ed25519,\n"
    "                             id_ecdsa, id_rsa; a passphrase is asked once\n"
    "  --known-hosts FILE         default ~/.ssh/known_hosts\n"
    "  --proxy-jump HOPS          reach the hosts through jump hosts, as ssh -J:\n"
    "                             [user@]host[:port],... (OpenSSH's ssh -W)\n"
    "  --proxy-command CMD        reach the hosts through CMD's stdin and stdout,\n"
    "                             as OpenSSH's ProxyCommand (%h %p %r)\n"
"  --ssh-config FILE|none     the ssh_config read for what the spec and these\n"
    "                             options leave unset (HostName, User, Port,\n"
    "                             IdentityFile, ProxyJump...), as ssh -F; default\n"
    "                             ~/.ssh/config and /etc/ssh/ssh_config; none: not read\n"
    "  --sudo, --no-sudo          run the agent with sudo -n (default: unless root)\n"
    "  --data-dir DIR             default /var/lib/etcd\n"
    "  --wal-dir DIR              default: inside the data dir\n"
    "  --data-dir-owner USER:GROUP  default: the existing data dir's\n"
    "  --data-dir-mode MODE       default: the existing data dir's, else 0700\n"
    "  --stop-command CMD         run with /bin/sh -c; default systemctl stop etcd\n"
    "  --start-command CMD        run with /bin/sh -c; default systemctl start etcd\n"
    "  --restore-tool TOOL        auto (default), etcdutl, etcdctl or a host path\n"
    "  --initial-cluster-token T  default: etcd-dr-RUNID, new for every run\n";

void edr_cli_spec_init(struct edr_cli_spec *c) {
  memset(c, 0, sizeof(*c));
  c->ov.ssh_port = -1;
  c->ov.sudo = -1;
  c->ov.ssh_lookup = edr_sshcfg_lookup;
}

int edr_cli_spec_option(struct edr_cli_spec *c, int opt, const char *arg) {
  switch (opt) {
  case O_CLUSTER: c->cluster_file = arg; return 1;
  case O_INITIAL_CLUSTER: c->initial_cluster = arg; return 1;
  case O_SSH_USER: c->ov.ssh_user = arg; return 1;
  case O_SSH_PORT: {
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || v < 1 || v > 65535) {
      edr_err("--ssh-port: '%s' is not a port number 1-65535", arg);
      return -1;
    }
    c->ov.ssh_port = (int)v;
    return 1;
  }
  case O_IDENTITY: c->ov.identity_file = arg; return 1;
  case O_KNOWN_HOSTS: c->ov.known_hosts = arg; return 1;
  case O_SUDO: c->ov.sudo = 1; return 1;
  case O_NO_SUDO: c->ov.sudo = 0; return 1;
  case O_DATA_DIR: c->ov.data_dir = arg; return 1;
  case O_WAL_DIR: c->ov.wal_dir = arg; return 1;
  case O_OWNER: c->ov.data_dir_owner = arg; return 1;
  case O_MODE: c->ov.data_dir_mode = arg; return 1;
  case O_STOP: c->ov.stop_command = arg; return 1;
  case O_START: c->ov.start_command = arg; return 1;
  case O_TOOL: c->ov.restore_tool = arg; return 1;
  case O_TOKEN: c->ov.token = arg; return 1;
  case O_PROXY_JUMP: c->ov.proxy_jump = arg; return 1;
  case O_PROXY_COMMAND: c->ov.proxy_command = arg; return 1;
  case O_SSH_CONFIG:
    if (!*arg) {
      edr_err("--ssh-config: give a file, or none");
      return -1;
    }
    if (strcmp(arg, "none") && arg[0] != '/') {
      char cwd[2048];
      if (!getcwd(cwd, sizeof cwd)) {
        edr_err("--ssh-config: cannot tell the current directory; give an absolute path");
        return -1;
      }
      snprintf(c->ssh_config, sizeof c->ssh_config, "%s/%s", cwd, arg);
    } else {
      snprintf(c->ssh_config, sizeof c->ssh_config, "%s", arg);
    }
    c->ov.ssh_config = c->ssh_config;
    return 1;
  }
  return 0;
}

struct option *edr_cli_options(const struct option *own) {
  size_t a = 0, b = 0;
  while (edr_spec_long_options[a].name)
    a++;
  while (own[b].name)
    b++;
  struct option *all = calloc(a + b + 1, sizeof(*all));
  if (!all)
    return NULL;
  memcpy(all, own, b * sizeof(*all));
  memcpy(all + b, edr_spec_long_options, a * sizeof(*all));
  return all;
}

int edr_cli_load_spec(const struct edr_cli_spec *c, struct edr_spec **out) {
  char err[1024];
  int rc;
  *out = NULL;
  if (!!c->cluster_file == !!c->initial_cluster) {
    edr_err("name the cluster with exactly one of --cluster FILE or "
            "--initial-cluster name=peerURL,...");
    return EDR_EXIT_USAGE;
  }
  if (c->cluster_file)
    rc = edr_spec_from_json(c->cluster_file, NULL, &c->ov, out, err, sizeof err);
  else
    rc = edr_spec_from_initial_cluster(c->initial_cluster, &c->ov, out, err, sizeof err);
  if (rc) {
    edr_err("%s", err);
    return EDR_EXIT_USAGE;
  }
  for (size_t i = 0; i < (*out)->warnings.n; i++)
    edr_warn("%s", (*out)->warnings.v[i]);
  return 0;
}

int edr_cli_bad_option(char **argv, const struct option *opts, const char *shortopts,
                       const char *usage) {
  const char *arg = argv[optind - 1] ? argv[optind - 1] : "";
  char name[128];
  const char *cmd = strncmp(usage, "usage: ", 7) ? "etcd-dr" : usage + 7;
  size_t cmdlen = strcspn(cmd, " ");
  /* "etcd-dr restore" (or "etcd-dr snapshot save"): the usage's first words */
  if (cmdlen == 7 && cmd[cmdlen] == ' ') {
    cmdlen += 1 + strcspn(cmd + cmdlen + 1, " ");
    if (!strncmp(cmd, "etcd-dr snapshot", cmdlen))
      cmdlen += 1 + strcspn(cmd + cmdlen + 1, " ");
  }
  if (!(arg[0] == '-' && arg[1] == '-')) {
    if (optopt > 0 && optopt < 256 && strchr(shortopts, optopt))
      edr_err("option '-%c' needs a value", optopt);
    else
      edr_err("unknown option '-%c'", optopt > 0 && optopt < 256 ? optopt : '?');
  } else {
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
    const char *bare = name[0] == '-' && name[1] == '-' ? name + 2 : name;
    const char *cands[256];
    size_t n = 0, exact = 0;
    for (size_t i = 0; opts[i].name && n < 256; i++) {
      cands[n++] = opts[i].name;
      exact += !strcmp(opts[i].name, bare);
    }
    const char *hint = exact ? NULL : edr_did_you_mean(bare, cands, n);
    if (exact)
      edr_err("option '%s' needs a value", name);
    else if (hint)
      edr_err("unknown option '%s' (did you mean '--%s'?)", name, hint);
    else
      edr_err("unknown option '%s'", name);
  }
  fprintf(stderr, "%.*s\n'%.*s --help' lists every option.\n", (int)strcspn(usage, "\n"),
          usage, (int)cmdlen, cmd);
  return EDR_EXIT_USAGE;
}

int edr_cli_parse(int argc, char **argv, const struct option *own, const char *shortopts,
                  const char *usage, struct edr_cli_spec *cs,
                  int (*on_opt)(void *ctx, int opt, const char *arg), void *ctx) {
  struct option *opts = edr_cli_options(own);
  int opt, rc = 0;
  if (!opts)
    return EDR_EXIT_INTERNAL;
  edr_cli_spec_init(cs);
  optind = 1;
  opterr = 0; /* edr_cli_bad_option() says it, with a hint */
  while (!rc && (opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
    int r = edr_cli_spec_option(cs, opt, optarg);
    if (r)
      rc = r < 0 ? EDR_EXIT_USAGE : 0;
    else if (opt == 'q')
      edr_verbosity = -1;
    else if (opt == 'v')
      edr_verbosity++;
    else if (opt == 'h') {
      fputs(usage, stdout);
      fputs(edr_spec_options_help, stdout);
      rc = -1;
    } else if (opt == '?' || opt == ':') {
      rc = edr_cli_bad_option(argv, opts, shortopts, usage);
    } else {
      rc = on_opt(ctx, opt, optarg);
    }
  }
  free(opts);
  return rc;
}

int edr_cli_seconds(const char *name, const char *arg, long max, uint64_t *ms) {
  char *end;
  long v = strtol(arg, &end, 10);
  if (*end || v < 1 || v > max) {
    edr_err("%s: '%s' is not a number of seconds (1-%ld)", name, arg, max);
    return EDR_EXIT_USAGE;
  }
  *ms = (uint64_t)v * 1000;
  return 0;
}

int edr_cli_require_yes(const char *command, bool yes) {
  bool in = isatty(STDIN_FILENO), err = isatty(STDERR_FILENO);
  if (yes || (in && err))
    return 0;
  edr_err("%s changes hosts and asks before it does, but %s not a terminal (a script, "
          "cron, CI, '2>&1 | tee'), so nobody can answer: nothing was done; run it "
          "again with --yes to go ahead without asking",
          command, !in && !err ? "standard input and standard error are"
                   : !in      ? "standard input is" : "standard error is");
  return EDR_EXIT_USAGE;
}

char *edr_spec_args(int argc, char **argv) {
  size_t cap = 1, len = 0;
  char *out = calloc(1, cap);
  for (int i = 1; out && i < argc; i++) {
    const struct option *o = NULL;
    const char *a = argv[i];
    if (strncmp(a, "--", 2))
      continue;
    for (const struct option *s = edr_spec_long_options; s->name; s++) {
      size_t n = strlen(s->name);
      if (!strncmp(a + 2, s->name, n) && (a[2 + n] == '\0' || a[2 + n] == '='))
        o = s;
    }
    if (!o)
      continue;
    int take = o->has_arg == required_argument && !strchr(a, '=') && i + 1 < argc ? 2 : 1;
    for (int k = 0; k < take; k++) {
      char *q = edr_shell_quote(argv[i + k]);
      size_t ql = q ? strlen(q) : 0;
      char *n = q ? realloc(out, cap + ql + 1) : NULL;
      if (!n) {
        free(q);
        free(out);
        return NULL;
      }
      out = n;
      cap += ql + 1;
      if (len)
        out[len++] = ' ';
      memcpy(out + len, q, ql + 1);
      len += ql;
      free(q);
    }
    i += take - 1;
  }
  return out;
}
