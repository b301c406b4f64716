/*
 * cli.h - command-line pieces shared by the subcommands: the options that
 * name and adjust the cluster spec (the exit statuses are outcome.h's).
 */
#ifndef EDR_CLI_H
#define EDR_CLI_H

#include "outcome.h"  /* enum edr_exit */
#include "spec.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

struct edr_cli_spec {
  const char *cluster_file, *initial_cluster;
  struct edr_spec_overrides ov;
  char ssh_config[4096];        /* --ssh-config made absolute (ssh's Include
                                   reads a relative path from ~/.ssh) */
};

/* Option codes >= 1000 are the spec options below; subcommands use their
 * own codes under 1000 (or short letters). */
extern const struct option edr_spec_long_options[];
extern const char edr_spec_options_help[];

void edr_cli_spec_init(struct edr_cli_spec *c);
/* Consume one getopt result; returns 1 if it was a spec option, 0 if not,
 * -1 (after printing why) if its argument is bad. */
int edr_cli_spec_option(struct edr_cli_spec *c, int opt, const char *arg);
/* Combine the spec options with a subcommand's; caller frees the result. */
struct option *edr_cli_options(const struct option *own);
/* The option loop every subcommand shares: the spec options go to CS, -q
 * and -v set edr_verbosity, -h/--help prints USAGE and the spec options'
 * help; every other option of OWN goes to ON_OPT(ctx, opt, arg), which
 * returns 0 or an exit status.  Returns 0 (optind at the first operand),
 * -1 when help was printed (exit 0), or an exit status. */
int edr_cli_parse(int argc, char **argv, const struct option *own, const char *shortopts,
                  const char *usage, struct edr_cli_spec *cs,
                  int (*on_opt)(void *ctx, int opt, const char *arg), void *ctx);
/* After getopt_long (with opterr = 0) returned '?' or ':': say which
 * option was wrong (unknown, with the closest of OPTS as a hint, or
 * missing its value), then USAGE's first line and where the help is.
 * Returns EDR_EXIT_USAGE. */
int edr_cli_bad_option(char **argv, const struct option *opts, const char *shortopts,
                       const char *usage);
/* "--health-timeout SECS" and the like: 1..MAX seconds into *MS. */
int edr_cli_seconds(const char *name, const char *arg, long max, uint64_t *ms);

/* Load and validate the spec; prints warnings and errors.  Returns 0 or
 * EDR_EXIT_USAGE. */
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
