/*
 * options.h - the one table of etcd-dr's command-line options (options.c).
 * Every command that names a cluster (plan, restore, rollback, run, prune,
 * status, snapshot save) and discover parse their argv through
 * edr_args_parse(); its
 * --help, the did-you-mean of a mistyped option and the shell completion
 * (`etcd-dr completion bash|zsh`) are all read from the same rows, so an
 * option exists in all four places or in none.
 *
 * Adding an option: one row in edr_options[] (options.c) with its name,
 * argument kind, help and the commands that take it, and the field of
 * struct edr_args it sets (or a setter for anything but a plain flag,
 * string or duration); the command reads the field after parsing.  The man
 * page and tests/help/check_help.py then demand it in docs/etcd-dr.1.
 *
 * The parsed values live in struct edr_args, owned by the caller; every
 * string in it is borrowed from argv or the environment.
 */
#ifndef EDR_OPTIONS_H
#define EDR_OPTIONS_H

#include "cli.h"
#include "discover.h"
#include "executor.h"
#include "http.h"
#include "plan.h"
#include "snapshot_save.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The commands, one bit each: a row's .commands says which take it. */
enum edr_cmd {
  EDR_CMD_PLAN = 1u << 0,
  EDR_CMD_RESTORE = 1u << 1,
  EDR_CMD_ROLLBACK = 1u << 2,
  EDR_CMD_RUN = 1u << 3,
  EDR_CMD_PRUNE = 1u << 4,
  EDR_CMD_STATUS = 1u << 5,
  EDR_CMD_SAVE = 1u << 6,  /* snapshot save */
  EDR_CMD_DISCOVER = 1u << 7,  /* makes a spec: no --cluster, the SSH settings */
};
/* every command with a cluster spec */
#define EDR_CMD_CLUSTER                                                                 \
  (EDR_CMD_PLAN | EDR_CMD_RESTORE | EDR_CMD_ROLLBACK | EDR_CMD_RUN | EDR_CMD_PRUNE |    \
   EDR_CMD_STATUS | EDR_CMD_SAVE)
/* every command of the table */
#define EDR_CMD_ALL (EDR_CMD_CLUSTER | EDR_CMD_DISCOVER)
/* the commands that reach hosts with the cluster-wide SSH settings */
#define EDR_CMD_SETTINGS EDR_CMD_ALL
/* the runs that change hosts (and push the agent, take the host lock) */
#define EDR_CMD_CHANGE (EDR_CMD_RESTORE | EDR_CMD_ROLLBACK | EDR_CMD_RUN | EDR_CMD_PRUNE)

enum edr_arg {
  EDR_ARG_NONE,      /* a flag: sets a bool (or calls .set with NULL) */
  EDR_ARG_TEXT,      /* a string, borrowed */
  EDR_ARG_FILE,      /* a local path (completion offers files) */
  EDR_ARG_DIR,       /* a local directory */
  EDR_ARG_DURATION,  /* "90s", "2m", "1h30m", "500ms"; a bare number is .bare_ms each */
  EDR_ARG_CHOICE,    /* one of .choices (blank-separated) */
};

enum edr_opt_group {
  EDR_GROUP_OWN,       /* the command's own options */
  EDR_GROUP_CLUSTER,   /* --cluster, --initial-cluster */
  EDR_GROUP_SETTINGS,  /* cluster-wide settings that override the spec's */
};

/* -w/--write-out, etcdctl's names; a command says which it prints. */
enum edr_write_out {
  EDR_OUT_TABLE = 1u << 0,   /* the default: for people */
  EDR_OUT_JSON = 1u << 1,    /* one JSON document on stdout */
  EDR_OUT_SIMPLE = 1u << 2,  /* one comma-separated line per row, no header */
  EDR_OUT_FIELDS = 1u << 3,  /* "Key" : value lines (snapshot status) */
  EDR_OUT_YAML = 1u << 4,    /* discover's spec as YAML */
};

#define EDR_MAX_VARS 64

/* What the options set.  A command fills in its defaults, parses, then
 * reads the fields it takes (a field of an option it does not take keeps
 * its default). */
struct edr_args {
  unsigned command;                /* the EDR_CMD_ bit being parsed */
  struct edr_cli_spec cs;          /* --cluster, --initial-cluster, settings */
  struct edr_plan_opts po;
  struct edr_exec_opts eo;
  struct edr_save_opts so;         /* snapshot save */
  struct edr_tls tls;              /* --cacert, --cert, --key */
  struct edr_discover_req discover;  /* discover's --unit, --manifest, ... */
  uint64_t timeout_ms;             /* --timeout: per request, connect included */
  const char *user;                /* --user NAME: etcd's user (auth.h) */
  enum edr_write_out write_out;
  const char *report_file;
  const char *resume;              /* restore --resume RUN (handled before parsing) */
  const char *from_member;         /* --from-member: a member's own db as the snapshot */
  const char *vars[EDR_MAX_VARS];
  size_t n_vars;
  long save_keep;                  /* snapshot save --keep; -1: none */
  bool dry_run, check, remove, keep_given, no_ssh, list;
  int verbose;                     /* -v, counted */
  bool quiet;
};

struct edr_opt {
  const char *name;        /* the long name, without "--" */
  char short_name;         /* 'w' for -w, or 0 */
  enum edr_arg arg;
  const char *metavar;     /* the argument's name in --help: "FILE", "DUR" */
  const char *help;        /* --help's text, wrapped there to fit 79 columns */
  unsigned commands;       /* EDR_CMD_ bits */
  enum edr_opt_group group;
  /* where the value goes: offsetof(struct edr_args, ...) of a bool (NONE),
   * a const char * (TEXT, FILE, DIR, CHOICE) or a uint64_t of
   * milliseconds (DURATION); unused when .set is given */
  size_t field;
  int (*set)(struct edr_args *a, const struct edr_opt *o, const char *val);
  const char *choices;     /* CHOICE: the values, blank-separated */
  uint64_t bare_ms;        /* DURATION: what a bare number counts (1000: seconds) */
  uint64_t max_ms;         /* DURATION: the largest accepted */
  const char *env;         /* an ETCDCTL_* variable read first: a flag wins */
};

extern const struct edr_opt edr_options[];

/* The words of a command's --help around the generated option list. */
struct edr_usage {
  const char *head;        /* "usage: ..." and what it does, ending "\n\n" */
  const char *foot;        /* the exit statuses, ending "\n" */
};

/* Parse ARGV[FIRST..] for COMMAND into A (whose defaults the caller set,
 * a->command included).  Applies the ETCDCTL_* variables first; -q and -v
 * set edr_verbosity.  Returns 0 with optind at the first operand, -1 when
 * --help was printed (exit 0), or an exit status after saying why. */
int edr_args_parse(struct edr_args *a, int argc, char **argv, int first,
                   const struct edr_usage *u);
/* Zero A and set the defaults every command shares. */
void edr_args_init(struct edr_args *a, unsigned command);
/* A's -w is one of ALLOWED (EDR_OUT_ bits), else says so and returns
 * EDR_EXIT_USAGE. */
int edr_args_write_out(const struct edr_args *a, unsigned allowed);
/* COMMAND's --help on OUT. */
void edr_args_help(unsigned command, const struct edr_usage *u, FILE *out);
/* The command word of COMMAND ("snapshot save"). */
const char *edr_cmd_name(unsigned command);
#endif
