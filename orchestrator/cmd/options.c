/*
 * options.c - the table of every command-line option (options.h) and what
 * reads it: the parser every command with a cluster uses, the generated
 * --help, the did-you-mean of a mistyped option (through
 * edr_cli_bad_option) and the shell completion scripts.  A row belongs to
 * the commands its .commands names; two rows may share a name when their
 * commands differ (prune's --keep counts runs, snapshot save's files).
 */
#include "options.h"

#include "aside.h"
#include "commands.h"
#include "log.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define F(member) offsetof(struct edr_args, member)

enum { OPT_VAL_BASE = 1000, HELP_COLUMN = 27, HELP_WIDTH = 79, MS_PER_S = 1000, DAY_MS = 86400000 };

/* ---- setters for what is more than a flag, a string or a duration ---- */

static int set_help(struct edr_args *a, const struct edr_opt *o, const char *val) {
  (void)a, (void)o, (void)val;
  return -1;
}

static int set_quiet(struct edr_args *a, const struct edr_opt *o, const char *val) {
  (void)o, (void)val;
  a->quiet = true;
  return 0;
}

static int set_verbose(struct edr_args *a, const struct edr_opt *o, const char *val) {
  (void)o, (void)val;
  a->verbose++;
  return 0;
}

static int set_var(struct edr_args *a, const struct edr_opt *o, const char *val) {
  (void)o;
  if (a->n_vars >= EDR_MAX_VARS) {
    edr_err("--var: at most %d", EDR_MAX_VARS);
    return EDR_EXIT_USAGE;
  }
  a->vars[a->n_vars++] = val;
  return 0;
}

static const struct {
  const char *name;
  enum edr_write_out out;
} write_outs[] = {
  {.name = "table", .out = EDR_OUT_TABLE},
  {.name = "json", .out = EDR_OUT_JSON},
  {.name = "simple", .out = EDR_OUT_SIMPLE},
  {.name = "fields", .out = EDR_OUT_FIELDS},
  {.name = "text", .out = EDR_OUT_TABLE},  /* --format's old name for table */
  {.name = "yaml", .out = EDR_OUT_YAML},   /* discover's only (its row's choices) */
};

static int set_write_out(struct edr_args *a, const struct edr_opt *o, const char *val) {
  bool yaml = strstr(o->choices, "yaml") != NULL;
  for (size_t i = 0; i < sizeof write_outs / sizeof write_outs[0]; i++)
    if (!strcmp(val, write_outs[i].name) && (yaml || write_outs[i].out != EDR_OUT_YAML)) {
      a->write_out = write_outs[i].out;
      return 0;
    }
  if (yaml)
    edr_err("--%s: '%s' is not json, yaml or table", o->name, val);
  else
    edr_err("--%s: '%s' is not table, json, simple or fields", o->name, val);
  return EDR_EXIT_USAGE;
}

static int set_bump(struct edr_args *a, const struct edr_opt *o, const char *val) {
  char *end = NULL;
  long long v = strcmp(val, "auto") ? strtoll(val, &end, 10) : -1;
  if (v == 0 || (v > 0 && *end) || v < -1 || v > 1000000000000000LL) {
    edr_err("--%s: '%s' is not a positive number or 'auto'", o->name, val);
    return EDR_EXIT_USAGE;
  }
  a->po.bump_revision = v;
  return 0;
}

/* VAL's index among the N NAMES, or -1 after naming the values the
 * option takes ("auto, on or off"). */
static int choice_index(const struct edr_opt *o, const char *val, const char *const *names,
                        size_t n) {
  char list[256];
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(val, names[i]))
      return (int)i;
    len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
                            !i ? "" : i + 1 == n ? " or " : ", ", names[i]);
  }
  edr_err("--%s: '%s' is not %s", o->name, val, list);
  return -1;
}

_Static_assert(sizeof(enum edr_compress) == sizeof(int), "set_enum stores an int");
_Static_assert(sizeof(enum edr_health_via) == sizeof(int), "set_enum stores an int");

/* A CHOICE whose value is an enum: its index among the option's choices
 * (in the enum's order) goes to the int at .field. */
static int set_enum(struct edr_args *a, const struct edr_opt *o, const char *val) {
  const char *names[8];
  char words[128];
  size_t n = 0;
  snprintf(words, sizeof words, "%s", o->choices);
  for (char *save = NULL, *w = strtok_r(words, " ", &save); w && n < 8;
       w = strtok_r(NULL, " ", &save))
    names[n++] = w;
  int i = choice_index(o, val, names, n);
  if (i < 0)
    return EDR_EXIT_USAGE;
  *(int *)((char *)a + o->field) = i;
  return 0;
}

static int parse_count(const struct edr_opt *o, const char *val, long lo, long hi, long *out) {
  char *end;
  long v = strtol(val, &end, 10);
  if (!*val || *end || v < lo || v > hi) {
    edr_err("--%s: '%s' is not a number %ld-%ld", o->name, val, lo, hi);
    return EDR_EXIT_USAGE;
  }
  *out = v;
  return 0;
}

static int set_prune_keep(struct edr_args *a, const struct edr_opt *o, const char *val) {
  long v;
  int rc = parse_count(o, val, 0, 1000000, &v);
  if (!rc) {
    a->po.prune.keep = v;
    a->keep_given = true;
  }
  return rc;
}

static int set_save_keep(struct edr_args *a, const struct edr_opt *o, const char *val) {
  return parse_count(o, val, 1, 100000, &a->save_keep);
}

static int set_older(struct edr_args *a, const struct edr_opt *o, const char *val) {
  if (edr_parse_age(val, &a->po.prune.older_than_s)) {
    edr_err("--%s: '%s' is not an age such as 30d, 12h, 90m, 45s or 2w", o->name, val);
    return EDR_EXIT_USAGE;
  }
  return 0;
}

static int set_transfer(struct edr_args *a, const struct edr_opt *o, const char *val) {
  int i = choice_index(o, val, edr_transfer_names,
                       sizeof edr_transfer_names / sizeof edr_transfer_names[0]);
  if (i < 0)
    return EDR_EXIT_USAGE;
  a->po.transfer = (enum edr_transfer)i;
  return 0;
}

static int set_via(struct edr_args *a, const struct edr_opt *o, const char *val) {
  static const char *const via[] = {[EDR_VIA_DIRECT] = "direct", [EDR_VIA_SSH] = "ssh",
                                    [EDR_VIA_AUTO] = "auto"};
  int i = choice_index(o, val, via, sizeof via / sizeof via[0]);
  if (i < 0)
    return EDR_EXIT_USAGE;
  a->so.via = (enum edr_save_via)i;
  return 0;
}

static int set_ssh_port(struct edr_args *a, const struct edr_opt *o, const char *val) {
  long v;
  char *end;
  v = strtol(val, &end, 10);
  if (!*val || *end || v < 1 || v > 65535) {
    edr_err("--%s: '%s' is not a port number 1-65535", o->name, val);
    return EDR_EXIT_USAGE;
  }
  a->cs.ov.ssh_port = (int)v;
  return 0;
}

/* --ssh-config FILE|none, made absolute: the jump hosts' ssh reads it too,
 * and its Include reads a relative path from ~/.ssh. */
static int set_ssh_config(struct edr_args *a, const struct edr_opt *o, const char *val) {
  struct edr_cli_spec *c = &a->cs;
  if (!*val) {
    edr_err("--%s: give a file, or none", o->name);
    return EDR_EXIT_USAGE;
  }
  if (strcmp(val, "none") && val[0] != '/') {
    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd)) {
      edr_err("--%s: cannot tell the current directory; give an absolute path", o->name);
      return EDR_EXIT_USAGE;
    }
    snprintf(c->ssh_config, sizeof c->ssh_config, "%s/%s", cwd, val);
  } else {
    snprintf(c->ssh_config, sizeof c->ssh_config, "%s", val);
  }
  c->ov.ssh_config = c->ssh_config;
  return 0;
}

/* --member-host NAME=HOST, for --discover and discover */
static int set_member_host(struct edr_args *a, const struct edr_opt *o, const char *val) {
  struct edr_cli_spec *c = &a->cs;
  const char *eq = strchr(val, '=');
  if (!eq || eq == val || !edr_valid_host(eq + 1)) {
    edr_err("--%s: '%s' is not NAME=HOST", o->name, val);
    return EDR_EXIT_USAGE;
  }
  if (c->n_member_hosts >= sizeof c->member_hosts / sizeof c->member_hosts[0]) {
    edr_err("--%s: at most %zu", o->name, sizeof c->member_hosts / sizeof c->member_hosts[0]);
    return EDR_EXIT_USAGE;
  }
  c->member_hosts[c->n_member_hosts++] = val;
  return 0;
}

static int set_sudo(struct edr_args *a, const struct edr_opt *o, const char *val) {
  (void)val;
  a->cs.ov.sudo = strcmp(o->name, "no-sudo") != 0;
  return 0;
}

/* ---- the table ------------------------------------------------------- */

const struct edr_opt edr_options[] = {
  /* what to restore or run */
  {.name = "snapshot", .arg = EDR_ARG_FILE, .metavar = "FILE", .commands = EDR_CMD_RESTORE,
   .field = F(po.snapshot),
   .help = "from 'etcdctl snapshot save' or 'etcd-dr snapshot\n"
           "save' (this or --from-member is required);\n"
           "MEMBER:PATH: a file on that member's host, checked\n"
           "there; the relay starts there"},
  {.name = "snapshot", .arg = EDR_ARG_FILE, .metavar = "FILE", .commands = EDR_CMD_PLAN,
   .field = F(po.snapshot),
   .help = "include the snapshot's size, sha-256 and revision;\n"
           "MEMBER:PATH: a file on that member's host"},
  {.name = "from-member", .arg = EDR_ARG_TEXT, .metavar = "MEMBER", .commands = EDR_CMD_RESTORE,
   .field = F(from_member),
   .help = "MEMBER's own member/snap/db as the snapshot (etcd\n"
           "stopped there; no sha-256 trailer: needs\n"
           "--skip-hash-check)"},
  {.name = "from-member", .arg = EDR_ARG_TEXT, .metavar = "MEMBER", .commands = EDR_CMD_PLAN,
   .field = F(from_member), .help = "MEMBER's own member/snap/db as the snapshot"},
  {.name = "transfer", .arg = EDR_ARG_CHOICE, .metavar = "auto|relay|direct",
   .commands = EDR_CMD_RESTORE, .set = set_transfer, .choices = "auto relay direct",
   .help = "auto (default): relay the snapshot from host to host,\n"
           "each host its predecessor cannot reach pushed directly;\n"
           "relay: every host relayed or the check fails; direct:\n"
           "one copy per host from this machine"},
  {.name = "transfer", .arg = EDR_ARG_CHOICE, .metavar = "auto|relay|direct",
   .commands = EDR_CMD_PLAN, .set = set_transfer, .choices = "auto relay direct",
   .help = "how the snapshot reaches the hosts (the route is\n"
           "printed; see restore --help)"},
  {.name = "snapshot", .arg = EDR_ARG_FILE, .metavar = "FILE", .commands = EDR_CMD_RUN,
   .field = F(po.snapshot), .help = "the snapshot, for playbooks that push or restore one"},
  {.name = "skip-hash-check", .commands = EDR_CMD_RESTORE | EDR_CMD_RUN | EDR_CMD_PLAN,
   .field = F(po.skip_hash_check),
   .help = "accept a snapshot without a sha-256 trailer (a copied\nmember/snap/db)"},
  {.name = "compress", .arg = EDR_ARG_CHOICE, .metavar = "auto|on|off",
   .commands = EDR_CMD_RESTORE, .set = set_enum, .field = F(po.compress), .choices = "auto on off",
   .help = "compress the snapshot's push with zstd: once here,\n"
           "decompressed and hashed on each host; auto (the\n"
           "default) only when a sample of the file and the\n"
           "link measured as the agent is pushed say it saves\n"
           "time (the report says what was chosen and the ratio)"},
  {.name = "compress", .arg = EDR_ARG_CHOICE, .metavar = "auto|on|off",
   .commands = EDR_CMD_PLAN, .set = set_enum, .field = F(po.compress), .choices = "auto on off",
   .help = "as restore's: the plan shows the mode and how well the\n"
           "start of the snapshot compresses"},
  {.name = "compress", .arg = EDR_ARG_CHOICE, .metavar = "auto|on|off",
   .commands = EDR_CMD_RUN, .set = set_enum, .field = F(po.compress), .choices = "auto on off",
   .help = "how a push-snapshot step sends it (as restore's)"},
  {.name = "var", .arg = EDR_ARG_TEXT, .metavar = "NAME=VALUE", .commands = EDR_CMD_RUN,
   .set = set_var, .help = "set a variable the playbook declares (repeatable)"},
  {.name = "list", .commands = EDR_CMD_RUN, .field = F(list),
   .help = "list the shipped playbooks PLAYBOOK can name, and where\nthey are"},
  {.name = "dry-run", .commands = EDR_CMD_RUN, .field = F(dry_run),
   .help = "print the fully resolved plan and exit; no connection"},
  {.name = "check", .commands = EDR_CMD_PLAN, .field = F(check),
   .help = "also check every host, read-only: reachable, host key,\n"
           "authentication, sudo -n, architecture, restore tool and\n"
           "its flags, free disk, whether etcd runs, clock skew;\n"
           "exit 0 when every host is ready, 4 when not"},
  {.name = "keep", .arg = EDR_ARG_TEXT, .metavar = "N", .commands = EDR_CMD_PRUNE,
   .set = set_prune_keep,
   .help = "keep the newest N runs on each host (default 1);\n"
           "0 lets the newest go too (then it cannot be rolled back)"},
  {.name = "older-than", .arg = EDR_ARG_TEXT, .metavar = "AGE", .commands = EDR_CMD_PRUNE,
   .set = set_older,
   .help = "remove only runs at least AGE old (the time in the run\nid): 30d, 12h, 90m, 2w"},
  {.name = "remove", .commands = EDR_CMD_PRUNE, .field = F(remove),
   .help = "remove what the table marks REMOVE, under the host lock"},
  /* snapshot save */
  {.name = "output", .short_name = 'o', .arg = EDR_ARG_FILE, .metavar = "FILE",
   .commands = EDR_CMD_SAVE, .field = F(so.out), .help = "write the snapshot to FILE"},
  {.name = "dir", .arg = EDR_ARG_DIR, .metavar = "DIR", .commands = EDR_CMD_SAVE,
   .field = F(so.dir),
   .help = "write DIR/snapshot-YYYYMMDD-HHMMSSZ.db (UTC); DIR is\ncreated if missing"},
  {.name = "keep", .arg = EDR_ARG_TEXT, .metavar = "N", .commands = EDR_CMD_SAVE,
   .set = set_save_keep,
   .help = "with --dir: then remove the oldest files named exactly\n"
           "snapshot-YYYYMMDD-HHMMSSZ.db so that N remain (nothing\n"
           "else in DIR is touched); default: remove none"},
  {.name = "member", .arg = EDR_ARG_TEXT, .metavar = "NAME", .commands = EDR_CMD_SAVE,
   .field = F(so.member),
   .help = "take it from this member of the spec, even when its\n"
           "/health is false (quorum lost); default: the first\n"
           "member, in the spec's order, whose /health is true"},
  {.name = "endpoint", .arg = EDR_ARG_TEXT, .metavar = "URL", .commands = EDR_CMD_SAVE,
   .field = F(so.endpoint),
   .help = "take it from this client URL; no spec needed (default:\n"
           "$ETCDCTL_ENDPOINTS, one URL, when no cluster is named)"},
  {.name = "via", .arg = EDR_ARG_CHOICE, .metavar = "direct|ssh|auto", .commands = EDR_CMD_SAVE,
   .set = set_via, .choices = "direct ssh auto",
   .help = "direct (default): from this machine over the client\n"
           "URL; ssh: on the member's host, through SSH (the\n"
           "first member in the spec's order that succeeds, or\n"
           "--member); auto: direct, and through the hosts of\n"
           "the members whose URL does not answer from here"},
  /* discover */
  {.name = "member-host", .arg = EDR_ARG_TEXT, .metavar = "NAME=HOST",
   .commands = EDR_CMD_DISCOVER, .set = set_member_host,
   .help = "the SSH host of member NAME, when its peer URL does\n"
           "not say (loopback, wildcard); repeatable"},
  {.name = "unit", .arg = EDR_ARG_TEXT, .metavar = "UNIT", .commands = EDR_CMD_DISCOVER,
   .field = F(discover.unit), .help = "systemd unit (default etcd.service)"},
  {.name = "env-file", .arg = EDR_ARG_TEXT, .metavar = "FILE", .commands = EDR_CMD_DISCOVER,
   .field = F(discover.env_file), .help = "an env file on the host to read as well"},
  {.name = "config-file", .arg = EDR_ARG_TEXT, .metavar = "FILE", .commands = EDR_CMD_DISCOVER,
   .field = F(discover.config_file),
   .help = "etcd's YAML config file on the host, when nothing\nnames it"},
  {.name = "container", .arg = EDR_ARG_TEXT, .metavar = "NAME", .commands = EDR_CMD_DISCOVER,
   .field = F(discover.container), .help = "docker/podman container (default etcd)"},
  /* output */
  {.name = "write-out", .short_name = 'w', .arg = EDR_ARG_CHOICE, .metavar = "FMT",
   .commands = EDR_CMD_PLAN | EDR_CMD_SAVE, .set = set_write_out, .choices = "table json",
   .help = "table (default) or json: one document on stdout"},
  {.name = "write-out", .short_name = 'w', .arg = EDR_ARG_CHOICE, .metavar = "FMT",
   .commands = EDR_CMD_RESTORE, .set = set_write_out, .choices = "table json",
   .help = "table (default) or json: the run's report on stdout at the end too"},
  {.name = "write-out", .short_name = 'w', .arg = EDR_ARG_CHOICE, .metavar = "FMT",
   .commands = EDR_CMD_RUN, .set = set_write_out, .choices = "table json",
   .help = "table (default) or json: with --dry-run the plan, else the run's report "
           "on stdout at the end too (--list: also simple, name,file lines)"},
  {.name = "write-out", .short_name = 'w', .arg = EDR_ARG_CHOICE, .metavar = "FMT",
   .commands = EDR_CMD_PRUNE, .set = set_write_out, .choices = "table json",
   .help = "table (default) or json: the dry run's listing as one document; with "
           "--remove the run's report on stdout at the end"},
  {.name = "write-out", .short_name = 'w', .arg = EDR_ARG_CHOICE, .metavar = "FMT",
   .commands = EDR_CMD_STATUS, .set = set_write_out, .choices = "table json simple",
   .help = "table (default), json (one object) or simple (the\n"
           "table's rows, comma-separated, no header or verdict)"},
  {.name = "write-out", .short_name = 'w', .arg = EDR_ARG_CHOICE, .metavar = "FMT",
   .commands = EDR_CMD_DISCOVER, .set = set_write_out, .choices = "json yaml table",
   .help = "json (the spec, default), yaml (the spec with a\n"
           "'# from' comment after each value), table (where\n"
           "each value came from, on stdout)"},
  {.name = "format", .arg = EDR_ARG_CHOICE, .metavar = "text|json",
   .commands = EDR_CMD_PLAN | EDR_CMD_RUN, .set = set_write_out, .choices = "text json",
   .help = "the old name of -w (text is table)"},
  /* reaching etcd from here */
  {.name = "no-ssh", .commands = EDR_CMD_STATUS, .field = F(no_ssh),
   .help = "do not connect to the hosts (no SSH, no etcd process\ncolumn)"},
  {.name = "cacert", .arg = EDR_ARG_FILE, .metavar = "FILE",
   .commands = EDR_CMD_STATUS | EDR_CMD_SAVE, .field = F(tls.cacert), .env = "ETCDCTL_CACERT",
   .help = "CA for https client URLs (default $ETCDCTL_CACERT,\nelse the system's CAs)"},
  {.name = "cert", .arg = EDR_ARG_FILE, .metavar = "FILE",
   .commands = EDR_CMD_STATUS | EDR_CMD_SAVE, .field = F(tls.cert), .env = "ETCDCTL_CERT",
   .help = "client certificate (default $ETCDCTL_CERT)"},
  {.name = "key", .arg = EDR_ARG_FILE, .metavar = "FILE",
   .commands = EDR_CMD_STATUS | EDR_CMD_SAVE, .field = F(tls.key), .env = "ETCDCTL_KEY",
   .help = "its key (default $ETCDCTL_KEY)"},
  {.name = "timeout", .arg = EDR_ARG_DURATION, .metavar = "DUR", .commands = EDR_CMD_STATUS,
   .field = F(timeout_ms), .bare_ms = 1, .max_ms = 600000, .env = "ETCDCTL_DIAL_TIMEOUT",
   .help = "per HTTP request, connect included: 2s, 500ms (a bare\n"
           "number is milliseconds; default $ETCDCTL_DIAL_TIMEOUT,\n"
           "else 2s)"},
  {.name = "user", .arg = EDR_ARG_TEXT, .metavar = "NAME", .commands = EDR_CMD_SAVE,
   .field = F(user),
   .help = "etcd user to authenticate as (default: $ETCDCTL_USER,\n"
           "user:password or user); the password from\n"
           "$ETCDCTL_PASSWORD, never on a command line"},
  {.name = "user", .arg = EDR_ARG_TEXT, .metavar = "NAME", .commands = EDR_CMD_RUN,
   .field = F(user),
   .help = "etcd user the member-add, member-remove and\n"
           "snapshot-save steps authenticate as (default:\n"
           "$ETCDCTL_USER); the password from $ETCDCTL_PASSWORD,\n"
           "never on a command line"},
  {.name = "timeout", .arg = EDR_ARG_DURATION, .metavar = "DUR", .commands = EDR_CMD_SAVE,
   .field = F(timeout_ms), .bare_ms = 1, .max_ms = 600000, .env = "ETCDCTL_DIAL_TIMEOUT",
   .help = "connect and /health timeout: 5s, 500ms (a bare number\n"
           "is milliseconds; default $ETCDCTL_DIAL_TIMEOUT, else 5s)"},
  {.name = "stall-timeout", .arg = EDR_ARG_DURATION, .metavar = "DUR", .commands = EDR_CMD_SAVE,
   .field = F(so.stall_timeout_ms), .bare_ms = MS_PER_S, .max_ms = DAY_MS,
   .help = "fail when no data arrives for DUR (default 30s); with\n"
           "--via ssh also when the member sends the host's agent\n"
           "nothing for DUR"},
  {.name = "deadline", .arg = EDR_ARG_DURATION, .metavar = "DUR", .commands = EDR_CMD_SAVE,
   .field = F(so.deadline_ms), .bare_ms = MS_PER_S, .max_ms = 7ull * DAY_MS,
   .help = "fail when the transfer takes more than DUR in all\n"
           "(default 1h; with --via ssh: taking it on the host and\n"
           "streaming it back, each)"},
  /* the run */
  {.name = "health-timeout", .arg = EDR_ARG_DURATION, .metavar = "DUR",
   .commands = EDR_CMD_RESTORE | EDR_CMD_ROLLBACK, .field = F(po.health_timeout_ms),
   .bare_ms = MS_PER_S, .max_ms = DAY_MS,
   .help = "how long to wait for a healthy cluster: 90s, 2m, 1h\n"
           "(a bare number is seconds; default 2m)"},
  {.name = "health-timeout", .arg = EDR_ARG_DURATION, .metavar = "DUR", .commands = EDR_CMD_RUN,
   .field = F(po.health_timeout_ms), .bare_ms = MS_PER_S, .max_ms = DAY_MS,
   .help = "default bound of restore and wait-healthy steps: 90s,\n"
           "2m, 1h (a bare number is seconds; default 2m)"},
  {.name = "health-via", .arg = EDR_ARG_CHOICE, .metavar = "auto|here|hosts",
   .commands = EDR_CMD_RESTORE | EDR_CMD_ROLLBACK | EDR_CMD_RUN | EDR_CMD_PLAN,
   .set = set_enum, .field = F(po.health_via), .choices = "auto here hosts",
   .help = "how the health wait, the leader lookup and member-add\n"
           "and -remove ask each member: from here, or\n"
           "through the agent on its host with the spec's\n"
           "etcdctl_cacert/_cert/_key; auto (default): through the\n"
           "host when there is no client certificate here\n"
           "(ETCDCTL_CERT) for an https member, or its client URL\n"
           "gives no answer from here before anything stops, or\n"
           "refuses connections from here while it answers on its\n"
           "host"},
  {.name = "health-via", .arg = EDR_ARG_CHOICE, .metavar = "auto|here|hosts",
   .commands = EDR_CMD_STATUS, .set = set_enum, .field = F(po.health_via),
   .choices = "auto here hosts",
   .help = "how each member is asked: from here, or through the\n"
           "agent on its host with the spec's etcdctl_cacert/\n"
           "_cert/_key; auto (default): through the host when\n"
           "there is no client certificate here (--cert,\n"
           "ETCDCTL_CERT) for an https member whose host has one,\n"
           "or its client URL gives no answer from here"},
  {.name = "bump-revision", .arg = EDR_ARG_TEXT, .metavar = "N|auto", .commands = EDR_CMD_RESTORE,
   .set = set_bump,
   .help = "add N to every revision (with --mark-compacted, so\n"
           "watchers such as Kubernetes' see no revision twice);\n"
           "auto: clear the highest revision of the old data on\n"
           "any host, plus a margin.  Needs etcd 3.4.27+/3.5.10+"},
  {.name = "break-lock", .commands = EDR_CMD_RESTORE | EDR_CMD_ROLLBACK | EDR_CMD_RUN,
   .field = F(po.break_lock),
   .help = "take host locks held by another run (after checking\nthat run is really gone)"},
  {.name = "run-id", .arg = EDR_ARG_TEXT, .metavar = "ID",
   .commands = EDR_CMD_RESTORE | EDR_CMD_RUN | EDR_CMD_PLAN, .field = F(po.run_id),
   .help = "use this run id (default: new, from the clock)"},
  {.name = "resume", .arg = EDR_ARG_TEXT, .metavar = "RUN", .commands = EDR_CMD_RESTORE,
   .field = F(resume),
   .help = "continue run RUN where it stopped (coordinator killed,\n"
           "connection lost): same arguments, read from the run's\n"
           "journal; finished steps are not redone"},
  {.name = "yes", .commands = EDR_CMD_RESTORE | EDR_CMD_ROLLBACK, .field = F(eo.assume_yes),
   .help = "do not ask before the first step that changes a host\n"
           "(asked only on a terminal; without one, required)"},
  {.name = "yes", .commands = EDR_CMD_RUN, .field = F(eo.assume_yes),
   .help = "do not ask before the first step that changes a host,\n"
           "nor at confirm steps (asked only on a terminal;\n"
           "without one, required unless --dry-run)"},
  {.name = "yes", .commands = EDR_CMD_PRUNE, .field = F(eo.assume_yes),
   .help = "with --remove: do not ask (asked only on a terminal;\n"
           "without one, required)"},
  {.name = "report", .arg = EDR_ARG_FILE, .metavar = "FILE",
   .commands = EDR_CMD_RESTORE | EDR_CMD_RUN | EDR_CMD_PRUNE, .field = F(report_file),
   .help = "also write the run's report (JSON) to FILE; it is always\n"
           "written to the run's directory in the state dir"},
  {.name = "accept-new-host-keys", .commands = EDR_CMD_ALL,
   .field = F(eo.accept_new_hostkeys),
   .help = "record unknown host keys in known_hosts (changed\nkeys are always refused)"},
  {.name = "agent", .arg = EDR_ARG_FILE, .metavar = "FILE", .commands = EDR_CMD_CHANGE,
   .field = F(eo.agent_path),
   .help = "the etcd-dr-agent to push (default: $ETCD_DR_AGENT,\n"
           "else the one installed next to etcd-dr)"},
  {.name = "quiet", .short_name = 'q', .commands = EDR_CMD_CHANGE, .set = set_quiet,
   .help = "errors and the summary only"},
  {.name = "verbose", .short_name = 'v', .commands = EDR_CMD_CHANGE, .set = set_verbose,
   .help = "more detail (-vv: every state change)"},
  {.name = "verbose", .short_name = 'v', .commands = EDR_CMD_STATUS, .set = set_verbose,
   .help = "show the SSH checks' progress on stderr"},
  {.name = "quiet", .short_name = 'q', .commands = EDR_CMD_DISCOVER, .set = set_quiet,
   .help = "no table of where each value came from on stderr"},
  {.name = "verbose", .short_name = 'v', .commands = EDR_CMD_DISCOVER, .set = set_verbose,
   .help = "the SSH run's progress on stderr; -vv also what the\nagent found, as JSON"},
  {.name = "help", .short_name = 'h', .commands = EDR_CMD_ALL, .set = set_help,
   .help = "this help"},

  /* the cluster */
  {.name = "cluster", .arg = EDR_ARG_FILE, .metavar = "FILE", .commands = EDR_CMD_CLUSTER,
   .group = EDR_GROUP_CLUSTER, .field = F(cs.cluster_file),
   .help = "JSON or YAML cluster file (docs/spec.md)"},
  {.name = "initial-cluster", .arg = EDR_ARG_TEXT, .metavar = "SPEC",
   .commands = EDR_CMD_CLUSTER, .group = EDR_GROUP_CLUSTER, .field = F(cs.initial_cluster),
   .help = "etcd's name=peerURL,... string; SSH goes to each\npeer URL's host"},
  {.name = "discover", .arg = EDR_ARG_TEXT, .metavar = "HOST", .commands = EDR_CMD_CLUSTER,
   .group = EDR_GROUP_CLUSTER, .field = F(cs.discover),
   .help = "read the spec off one member's host over SSH: how\n"
           "etcd is started there, the members in its db\n"
           "(etcd-dr discover HOST shows it)"},
  {.name = "member-host", .arg = EDR_ARG_TEXT, .metavar = "NAME=HOST",
   .commands = EDR_CMD_CLUSTER, .group = EDR_GROUP_CLUSTER, .set = set_member_host,
   .help = "with --discover: member NAME's SSH host when its\npeer URL does not say; repeatable"},
  /* cluster-wide settings */
  {.name = "ssh-user", .arg = EDR_ARG_TEXT, .metavar = "USER", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.ssh_user), .help = "default: your user name"},
  {.name = "ssh-port", .arg = EDR_ARG_TEXT, .metavar = "PORT", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .set = set_ssh_port, .help = "default 22"},
  {.name = "identity", .arg = EDR_ARG_FILE, .metavar = "FILE", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.identity_file),
   .help = "private key (ed25519, ECDSA, RSA; FILE-cert.pub\n"
           "first); default: ssh-agent, then ~/.ssh/id_ed25519,\n"
           "id_ecdsa, id_rsa; a passphrase is asked once"},
  {.name = "known-hosts", .arg = EDR_ARG_FILE, .metavar = "FILE", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.known_hosts),
   .help = "default ~/.ssh/known_hosts"},
  {.name = "proxy-jump", .arg = EDR_ARG_TEXT, .metavar = "HOPS", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.proxy_jump),
   .help = "reach the hosts through jump hosts, as ssh -J:\n"
           "[user@]host[:port],... (OpenSSH's ssh -W)"},
  {.name = "proxy-command", .arg = EDR_ARG_TEXT, .metavar = "CMD", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.proxy_command),
   .help = "reach the hosts through CMD's stdin and stdout,\n"
           "as OpenSSH's ProxyCommand (%h %p %r)"},
  {.name = "ssh-config", .arg = EDR_ARG_FILE, .metavar = "FILE|none",
   .commands = EDR_CMD_SETTINGS, .group = EDR_GROUP_SETTINGS, .set = set_ssh_config,
   .help = "the ssh_config read for what the spec and these\n"
           "options leave unset (HostName, User, Port,\n"
           "IdentityFile, ProxyJump...), as ssh -F; default\n"
           "~/.ssh/config and /etc/ssh/ssh_config; none: not read"},
  {.name = "sudo", .commands = EDR_CMD_SETTINGS, .group = EDR_GROUP_SETTINGS, .set = set_sudo,
   .help = "run the agent with sudo -n (default: unless root)"},
  {.name = "no-sudo", .commands = EDR_CMD_SETTINGS, .group = EDR_GROUP_SETTINGS,
   .set = set_sudo, .help = "run the agent without sudo"},
  {.name = "data-dir", .arg = EDR_ARG_TEXT, .metavar = "DIR", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.data_dir), .help = "default /var/lib/etcd"},
  {.name = "wal-dir", .arg = EDR_ARG_TEXT, .metavar = "DIR", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.wal_dir),
   .help = "default: inside the data dir"},
  {.name = "data-dir-owner", .arg = EDR_ARG_TEXT, .metavar = "USER:GROUP",
   .commands = EDR_CMD_SETTINGS, .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.data_dir_owner),
   .help = "default: the existing data dir's"},
  {.name = "data-dir-mode", .arg = EDR_ARG_TEXT, .metavar = "MODE", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.data_dir_mode),
   .help = "default: the existing data dir's, else 0700"},
  {.name = "stop-command", .arg = EDR_ARG_TEXT, .metavar = "CMD", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.stop_command),
   .help = "run with /bin/sh -c; default systemctl stop etcd"},
  {.name = "start-command", .arg = EDR_ARG_TEXT, .metavar = "CMD", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.start_command),
   .help = "run with /bin/sh -c; default systemctl start etcd"},
  {.name = "restore-tool", .arg = EDR_ARG_TEXT, .metavar = "TOOL", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.restore_tool),
   .help = "auto (default), etcdutl, etcdctl or a host path"},
  {.name = "preset", .arg = EDR_ARG_CHOICE, .metavar = "kubeadm", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.preset), .choices = "kubeadm",
   .help = "etcd is kubeadm's static pod: stopped and started\n"
           "by moving its manifest (docs/kubeadm.md)"},
  {.name = "manifest", .arg = EDR_ARG_TEXT, .metavar = "FILE", .commands = EDR_CMD_SETTINGS,
   .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.manifest),
   .help = "kubeadm: etcd's static pod manifest on the hosts\n"
           "(default /etc/kubernetes/manifests/etcd.yaml); also\n"
           "where discover and --discover read etcd's flags"},
  {.name = "initial-cluster-token", .arg = EDR_ARG_TEXT, .metavar = "T",
   .commands = EDR_CMD_SETTINGS, .group = EDR_GROUP_SETTINGS, .field = F(cs.ov.token),
   .help = "default: etcd-dr-RUNID, new for every run"},
  {.name = NULL},
};

#define N_OPTIONS (sizeof edr_options / sizeof edr_options[0] - 1)

static const char *const cmd_names[] = {
  "plan", "restore", "rollback", "run", "prune", "status", "snapshot save", "discover",
};

const char *edr_cmd_name(unsigned command) {
  for (size_t i = 0; i < sizeof cmd_names / sizeof cmd_names[0]; i++)
    if (command == 1u << i)
      return cmd_names[i];
  return "?";
}

/* ---- values ---------------------------------------------------------- */

static int set_duration(struct edr_args *a, const struct edr_opt *o, const char *label,
                        const char *val) {
  uint64_t ms;
  if (edr_parse_duration(val, o->bare_ms, &ms) || ms == 0) {
    edr_err("%s: '%s' is not a duration such as 90s, 2m or 1h (a bare number is %s)",
            label, val, o->bare_ms == 1 ? "milliseconds" : "seconds");
    return EDR_EXIT_USAGE;
  }
  if (ms > o->max_ms) {
    char most[32];
    edr_format_duration(o->max_ms, most, sizeof most);
    edr_err("%s: '%s' is more than %s", label, val, most);
    return EDR_EXIT_USAGE;
  }
  *(uint64_t *)((char *)a + o->field) = ms;
  return 0;
}

/* One option's value (NULL for a flag) from the command line (LABEL
 * "--name") or the environment (LABEL the variable). */
static int apply(struct edr_args *a, const struct edr_opt *o, const char *label,
                 const char *val) {
  if (o->set)
    return o->set(a, o, val);
  switch (o->arg) {
  case EDR_ARG_NONE: *(bool *)((char *)a + o->field) = true; return 0;
  case EDR_ARG_DURATION: return set_duration(a, o, label, val);
  case EDR_ARG_TEXT:
  case EDR_ARG_FILE:
  case EDR_ARG_DIR:
  case EDR_ARG_CHOICE: *(const char **)((char *)a + o->field) = val; return 0;
  }
  return EDR_EXIT_INTERNAL;
}

/* ---- parsing ---------------------------------------------------------- */

void edr_args_init(struct edr_args *a, unsigned command) {
  memset(a, 0, sizeof *a);
  a->command = command;
  edr_cli_spec_init(&a->cs);
  a->po.snapshot_revision = -1;
  a->eo.stall_timeout_ms = 60000;
  a->write_out = EDR_OUT_TABLE;
  a->save_keep = -1;
}

int edr_args_parse(struct edr_args *a, int argc, char **argv, int first,
                   const struct edr_usage *u) {
  struct option longs[N_OPTIONS + 1];
  char shorts[2 * N_OPTIONS + 2];
  size_t nl = 0, ns = 0;
  int opt, rc = 0;

  memset(longs, 0, sizeof longs);
  shorts[ns++] = ':';  /* a missing value is ':', told apart from unknown */
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const struct edr_opt *o = &edr_options[i];
    if (!(o->commands & a->command))
      continue;
    longs[nl++] = (struct option){.name = o->name,
                                  .has_arg = o->arg ? required_argument : no_argument,
                                  .val = OPT_VAL_BASE + (int)i};
    if (o->short_name) {
      shorts[ns++] = o->short_name;
      if (o->arg)
        shorts[ns++] = ':';
    }
  }
  shorts[ns] = '\0';
  bool given[N_OPTIONS];
  memset(given, 0, sizeof given);

  optind = first;
  opterr = 0; /* edr_cli_bad_option() says it, with a hint */
  while (!rc && (opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
    const struct edr_opt *o = NULL;
    if (opt >= OPT_VAL_BASE && opt < OPT_VAL_BASE + (int)N_OPTIONS)
      o = &edr_options[opt - OPT_VAL_BASE];
    for (size_t i = 0; !o && opt != '?' && opt != ':' && i < N_OPTIONS; i++)
      if (edr_options[i].short_name == opt && (edr_options[i].commands & a->command))
        o = &edr_options[i];
    if (!o) {
      rc = edr_cli_bad_option(argv, longs, shorts + 1, u->head);
      break;
    }
    char label[64];
    snprintf(label, sizeof label, "--%s", o->name);
    given[o - edr_options] = true;
    rc = apply(a, o, label, optarg);
    if (rc < 0)
      edr_args_help(a->command, u, stdout);
  }
  /* etcdctl's variables for what the command line left out: a flag wins
   * (and a variable it overrides is not even read) */
  for (size_t i = 0; !rc && i < N_OPTIONS; i++) {
    const struct edr_opt *o = &edr_options[i];
    const char *env = o->env && (o->commands & a->command) ? getenv(o->env) : NULL;
    if (env && *env && !given[i])
      rc = apply(a, o, o->env, env);
  }
  if (!rc)
    edr_verbosity = a->quiet ? -1 : a->verbose;
  a->cs.accept_new_hostkeys = a->eo.accept_new_hostkeys; /* --discover reaches a host first */
  return rc;
}

int edr_args_write_out(const struct edr_args *a, unsigned allowed) {
  if (a->write_out & allowed)
    return 0;
  const char *given = "?";
  for (size_t i = 0; i < sizeof write_outs / sizeof write_outs[0]; i++)
    if (write_outs[i].out == a->write_out) {
      given = write_outs[i].name;
      break;
    }
  char can[64] = "";
  size_t len = 0;
  unsigned named = 0; /* "text" names table again */
  for (size_t i = 0; i < sizeof write_outs / sizeof write_outs[0]; i++)
    if (allowed & write_outs[i].out & ~named) {
      named |= write_outs[i].out;
      len += (size_t)snprintf(can + len, sizeof can - len, "%s%s", len ? " or " : "",
                              write_outs[i].name);
    }
  edr_err("--write-out: %s prints %s, not %s", edr_cmd_name(a->command), can, given);
  return EDR_EXIT_USAGE;
}

/* ---- help -------------------------------------------------------------- */

static void help_row(const struct edr_opt *o, FILE *out) {
  char left[80];
  int n;
  if (o->short_name)
    n = snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                 o->arg ? " " : "", o->arg ? o->metavar : "");
  else
    n = snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "",
                 o->arg ? o->metavar : "");
  if (n > HELP_COLUMN - 4)
    fprintf(out, "  %s  ", left);
  else
    fprintf(out, "  %-*s", HELP_COLUMN - 2, left);
  /* the help as one paragraph, wrapped at HELP_WIDTH */
  size_t col = 0;
  for (const char *p = o->help; *p;) {
    p += strspn(p, " \n");
    size_t len = strcspn(p, " \n");
    if (!len)
      break;
    if (col && col + 1 + len > HELP_WIDTH - HELP_COLUMN) {
      fprintf(out, "\n%*s", HELP_COLUMN, "");
      col = 0;
    }
    fprintf(out, "%s%.*s", col ? " " : "", (int)len, p);
    col += (col ? 1 : 0) + len;
    p += len;
  }
  fputc('\n', out);
}

void edr_args_help(unsigned command, const struct edr_usage *u, FILE *out) {
  static const char *const heading[] = {
    [EDR_GROUP_OWN] = "Options:\n",
    [EDR_GROUP_CLUSTER] = "\nCluster (one of):\n",
    [EDR_GROUP_SETTINGS] = "\nCluster-wide settings (override the file's cluster-wide "
                           "values, not a\nmember's own):\n",
  };
  fputs(u->head, out);
  for (int g = EDR_GROUP_OWN; g <= EDR_GROUP_SETTINGS; g++) {
    bool any = false;
    for (size_t i = 0; i < N_OPTIONS; i++) {
      const struct edr_opt *o = &edr_options[i];
      if (o->group != (enum edr_opt_group)g || !(o->commands & command))
        continue;
      if (!any)
        fputs(heading[g], out);
      any = true;
      help_row(o, out);
    }
  }
  fputc('\n', out);
  fputs(u->foot, out);
}
