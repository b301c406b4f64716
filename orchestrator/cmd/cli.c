/*
 * cli.c - what the commands share around their options (options.c has the
 * table and the parser): loading the spec they name, the message for an
 * unknown option, the --yes rule, and the spec options given again in a
 * command a message suggests.
 */
#include "cli.h"
#include "discover.h"

#include "options.h"

#include "log.h"
#include "quote.h"
#include "sshconfig.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void edr_cli_spec_init(struct edr_cli_spec *c) {
  memset(c, 0, sizeof(*c));
  c->ov.ssh_port = -1;
  c->ov.sudo = -1;
  c->ov.ssh_lookup = edr_sshcfg_lookup;
}

int edr_cli_load_spec(const struct edr_cli_spec *c, struct edr_spec **out) {
  struct edr_error err = EDR_ERROR_INIT;
  int rc;
  *out = NULL;
  if (!!c->cluster_file + !!c->initial_cluster + !!c->discover != 1) {
    edr_err("name the cluster with exactly one of --cluster FILE, "
            "--initial-cluster name=peerURL,... or --discover HOST");
    return EDR_EXIT_USAGE;
  }
  if (c->n_member_hosts && !c->discover) {
    edr_err("--member-host goes with --discover HOST");
    return EDR_EXIT_USAGE;
  }
  if (c->discover) {
    struct edr_discover_req r = {.host = c->discover, .data_dir = c->ov.data_dir,
                                 .member_hosts = c->member_hosts,
                                 .n_member_hosts = c->n_member_hosts, .ov = &c->ov,
                                 .accept_new_hostkeys = c->accept_new_hostkeys,
                                 .show_from = c->discover_from};
    return edr_discover_load(&r, out);
  }
  if (c->cluster_file)
    rc = edr_spec_from_json(c->cluster_file, NULL, &c->ov, out, &err);
  else
    rc = edr_spec_from_initial_cluster(c->initial_cluster, &c->ov, out, &err);
  if (rc) {
    edr_err("%s", edr_error_text(&err));
    edr_error_release(&err);
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
    const struct edr_opt *o = NULL;
    const char *a = argv[i];
    if (strncmp(a, "--", 2))
      continue;
    for (const struct edr_opt *s = edr_options; s->name; s++) {
      size_t n = strlen(s->name);
      if (s->group != EDR_GROUP_OWN && !strncmp(a + 2, s->name, n) &&
          (a[2 + n] == '\0' || a[2 + n] == '='))
        o = s;
    }
    if (!o)
      continue;
    int take = o->arg != EDR_ARG_NONE && !strchr(a, '=') && i + 1 < argc ? 2 : 1;
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
