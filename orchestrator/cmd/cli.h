/*
 * cli.h - command-line pieces shared by the subcommands around the option
 * table (options.h): the spec the options name, the unknown-option message,
 * the --yes rule (the exit statuses are outcome.h's).
 */
#ifndef EDR_CLI_H
#define EDR_CLI_H

#include "outcome.h"  /* enum edr_exit */
#include "spec.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct edr_cli_spec {
  const char *cluster_file, *initial_cluster;
  const char *discover;          /* --discover HOST (cmd_discover.c) */
  const char *member_hosts[64];  /* --member-host NAME=HOST, for --discover */
  size_t n_member_hosts;
  bool accept_new_hostkeys;      /* set by the command before edr_cli_load_spec():
                                    --discover reaches a host first */
  FILE *discover_from;          /* --discover: where to print each value's origin
                                    (NULL: stderr, and only with -v) */
  struct edr_spec_overrides ov;
  char ssh_config[4096];        /* --ssh-config made absolute (ssh's Include
                                   reads a relative path from ~/.ssh) */
};

void edr_cli_spec_init(struct edr_cli_spec *c);
/* After getopt_long (with opterr = 0) returned '?' or ':': say which
 * option was wrong (unknown, with the closest of OPTS as a hint, or
 * missing its value), then USAGE's first line and where the help is.
 * Returns EDR_EXIT_USAGE. */
int edr_cli_bad_option(char **argv, const struct option *opts, const char *shortopts,
                       const char *usage);
/* Load and validate the spec (with --discover: reach that host first and
 * make it); prints warnings and errors.  Returns 0 or an exit status:
 * EDR_EXIT_USAGE, or --discover's (EDR_EXIT_PREFLIGHT: the host could not
 * be read). */
int edr_cli_load_spec(const struct edr_cli_spec *c, struct edr_spec **out);

/* restore, run and rollback change hosts and ask first on a terminal
 * (standard input and standard error both terminals).  Without one nobody
 * can answer (cron, CI, `2>&1 | tee log`): they go on only with --yes.
 * Returns 0 when COMMAND may go on, else EDR_EXIT_USAGE after saying why. */
int edr_cli_require_yes(const char *command, bool yes);

/* The spec options of ARGV (--cluster, --initial-cluster and the settings),
 * shell-quoted and joined; caller frees. */
char *edr_spec_args(int argc, char **argv);

#endif
