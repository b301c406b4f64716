/*
 * cmd_snapshot_save.c - `etcd-dr snapshot save`: its options, their checks
 * and the exit status.  The save itself (the gateway stream, the file, the
 * trailer check, the rename) is etcd/snapshot_save.c's; --via ssh goes
 * through snapshot_ssh.c, lent to it as edr_save_opts.fetch_ssh.
 */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "err.h"
#include "log.h"
#include "snapshot_save.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: etcd-dr snapshot save -o FILE (--cluster FILE | --initial-cluster SPEC)\n"
    "                             [--member NAME] [OPTIONS]\n"
    "       etcd-dr snapshot save --dir DIR [--keep N] (--cluster ... | ...)\n"
    "       etcd-dr snapshot save -o FILE --endpoint URL [OPTIONS]\n"
    "\n"
    "Take a snapshot of a live member from this machine, over the member's\n"
    "client URL (etcd's JSON gateway, POST /v3/maintenance/snapshot), and write\n"
    "what `etcdctl snapshot save` writes: the bbolt image, then its sha-256.\n"
    "The file is written as FILE.part (mode 0600), synced, its sha-256 trailer\n"
    "checked, then renamed to FILE; on any failure the .part is removed and an\n"
    "existing FILE is left as it was.  Prints the path, size, revision and\n"
    "sha-256 (of the whole file, as sha256sum prints it).\n"
    "\n"
    "By default this machine asks a client URL of the member (from the spec's\n"
    "client_urls, or --endpoint).  With --via ssh the member's own host takes\n"
    "it: the host's etcdctl writes DATA_DIR/.etcd-dr-RUN/snapshot.db (with the\n"
    "spec's etcdctl_cacert/_cert/_key), etcd-dr-agent streams it back over\n"
    "SSH, the staging is removed; the file is finished here the same way.\n"
    "\n"
    "  -o, --output FILE     write the snapshot to FILE\n"
    "  --dir DIR             write DIR/snapshot-YYYYMMDD-HHMMSSZ.db (UTC); DIR is\n"
    "                        created if missing\n"
    "  --keep N              with --dir: then remove the oldest files named exactly\n"
    "                        snapshot-YYYYMMDD-HHMMSSZ.db so that N remain (nothing\n"
    "                        else in DIR is touched); default: remove none\n"
    "  --member NAME         take it from this member of the spec, even when its\n"
    "                        /health is false (quorum lost); default: the first\n"
    "                        member, in the spec's order, whose /health is true\n"
    "  --endpoint URL        take it from this client URL; no spec needed\n"
    "  --via direct|ssh|auto  direct (default): from this machine over the client\n"
    "                        URL; ssh: on the member's host, through SSH (the\n"
    "                        first member in the spec's order that succeeds, or\n"
    "                        --member); auto: direct, and through the hosts of\n"
    "                        the members whose URL does not answer from here\n"
    "  --accept-new-host-keys  with --via ssh/auto: record unknown host keys\n"
    "  --cacert FILE         CA for https client URLs (default $ETCDCTL_CACERT,\n"
    "                        else the system's CAs)\n"
    "  --cert FILE           client certificate (default $ETCDCTL_CERT)\n"
    "  --key FILE            its key (default $ETCDCTL_KEY)\n"
    "  --timeout MS          connect and /health timeout (default 5000)\n"
    "  --stall-timeout S     fail when no data arrives for S seconds (default 30);\n"
    "                        with --via ssh also when the host's etcdctl writes\n"
    "                        nothing for S seconds\n"
    "  --deadline S          fail when the transfer takes more than S seconds in\n"
    "                        all (default 3600; with --via ssh: taking it on the\n"
    "                        host and streaming it back, each)\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 saved; 1 failed (unreachable, refused, stream cut, damaged,\n"
    "disk), the message names the member or URL and the reason; 2 bad arguments\n"
    "or spec; 130 interrupted.\n"
    "\n";

enum { O_DIR = 1, O_KEEP, O_MEMBER, O_ENDPOINT, O_CACERT, O_CERT, O_KEY,
       O_TIMEOUT, O_STALL, O_DEADLINE, O_VIA, O_ACCEPT_NEW };

static bool parse_num(const char *opt, const char *arg, long lo, long hi,
                      long *out) {
  char *end;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno || end == arg || *end || v < lo || v > hi) {
    edr_err("%s: '%s' is not a number %ld-%ld", opt, arg, lo, hi);
    return false;
  }
  *out = v;
  return true;
}

int cmd_snapshot_save(int argc, char **argv) {
  static const struct option own[] = {
    {"output", required_argument, NULL, 'o'},
    {"dir", required_argument, NULL, O_DIR},
    {"keep", required_argument, NULL, O_KEEP},
    {"member", required_argument, NULL, O_MEMBER},
    {"endpoint", required_argument, NULL, O_ENDPOINT},
    {"cacert", required_argument, NULL, O_CACERT},
    {"cert", required_argument, NULL, O_CERT},
    {"key", required_argument, NULL, O_KEY},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"stall-timeout", required_argument, NULL, O_STALL},
    {"deadline", required_argument, NULL, O_DEADLINE},
    {"via", required_argument, NULL, O_VIA},
    {"accept-new-host-keys", no_argument, NULL, O_ACCEPT_NEW},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  struct edr_cli_spec cs;
  struct edr_save_opts so = {
    .tls = {getenv("ETCDCTL_CACERT"), getenv("ETCDCTL_CERT"),
            getenv("ETCDCTL_KEY")},
    .fetch_ssh = edr_snapshot_fetch_ssh,
  };
  long keep = -1, v;
  int opt;

  edr_cli_spec_init(&cs);
  struct option *opts = edr_cli_options(own);
  if (!opts)
    return EDR_EXIT_INTERNAL;
  /* ARGV[0] "snapshot", ARGV[1] "save": getopt starts after the verb. */
  optind = 2;
  opterr = 0; /* edr_cli_bad_option() says it */
  while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    int r = edr_cli_spec_option(&cs, opt, optarg);
    if (r < 0)
      goto usage_quiet;
    if (r)
      continue;
    switch (opt) {
    case 'o': so.out = optarg; break;
    case O_DIR: so.dir = optarg; break;
    case O_KEEP:
      if (!parse_num("--keep", optarg, 1, 100000, &keep))
        goto usage_quiet;
      break;
    case O_MEMBER: so.member = optarg; break;
    case O_ENDPOINT: so.endpoint = optarg; break;
    case O_CACERT: so.tls.cacert = optarg; break;
    case O_CERT: so.tls.cert = optarg; break;
    case O_KEY: so.tls.key = optarg; break;
    case O_TIMEOUT:
      if (!parse_num("--timeout", optarg, 1, 600000, &v))
        goto usage_quiet;
      so.timeout_ms = (uint64_t)v;
      break;
    case O_STALL:
      if (!parse_num("--stall-timeout", optarg, 1, 86400, &v))
        goto usage_quiet;
      so.stall_timeout_ms = (uint64_t)v * 1000;
      break;
    case O_DEADLINE:
      if (!parse_num("--deadline", optarg, 1, 7 * 86400, &v))
        goto usage_quiet;
      so.deadline_ms = (uint64_t)v * 1000;
      break;
    case O_VIA:
      if (!strcmp(optarg, "direct"))
        so.via = EDR_VIA_DIRECT;
      else if (!strcmp(optarg, "ssh"))
        so.via = EDR_VIA_SSH;
      else if (!strcmp(optarg, "auto"))
        so.via = EDR_VIA_AUTO;
      else {
        edr_err("--via: '%s' is not direct, ssh or auto", optarg);
        goto usage_quiet;
      }
      break;
    case O_ACCEPT_NEW: so.accept_new_hostkeys = true; break;
    case 'h':
      fputs(usage_text, stdout);
      fputs(edr_spec_options_help, stdout);
      free(opts);
      return EDR_EXIT_OK;
    default:
      edr_cli_bad_option(argv, opts, "o:h", usage_text);
      goto usage_quiet;
    }
  }
  free(opts);
  opts = NULL;
  if (optind < argc) {
    edr_err("snapshot save: unexpected argument '%s'", argv[optind]);
    return EDR_EXIT_USAGE;
  }
  if (!!so.out == !!so.dir) {
    edr_err("snapshot save: name the destination with exactly one of "
            "-o FILE or --dir DIR");
    return EDR_EXIT_USAGE;
  }
  if (keep > 0 && !so.dir) {
    edr_err("snapshot save: --keep goes with --dir");
    return EDR_EXIT_USAGE;
  }
  if ((so.out && !*so.out) || (so.dir && !*so.dir)) {
    edr_err("snapshot save: the destination is empty");
    return EDR_EXIT_USAGE;
  }
  if (so.endpoint && so.via == EDR_VIA_SSH) {
    edr_err("snapshot save: --via ssh goes through a member's host: name it with "
            "--cluster/--initial-cluster (and --member), not --endpoint");
    return EDR_EXIT_USAGE;
  }
  if (so.member && so.endpoint) {
    edr_err("snapshot save: --member and --endpoint do not go together");
    return EDR_EXIT_USAGE;
  }
  if (so.tls.key && *so.tls.key && !(so.tls.cert && *so.tls.cert)) {
    edr_err("snapshot save: --key (or ETCDCTL_KEY) needs --cert (or "
            "ETCDCTL_CERT)");
    return EDR_EXIT_USAGE;
  }

  struct edr_spec *spec = NULL;
  if (!so.endpoint) {
    int rc = edr_cli_load_spec(&cs, &spec);
    if (rc)
      return rc;
  }
  struct edr_save_result *res = malloc(sizeof *res);
  if (!res) {
    edr_spec_free(spec);
    edr_err("out of memory");
    return EDR_EXIT_INTERNAL;
  }
  int rc = edr_snapshot_save(spec, &so, res);
  edr_spec_free(spec);
  if (rc < 0) {
    edr_err("%s", edr_error_text(&res->err));
    edr_save_result_release(res);
    free(res);
    return rc == EDR_ECANCELED ? EDR_EXIT_INTERRUPTED
           : rc == EDR_EINVAL  ? EDR_EXIT_USAGE
                               : EDR_EXIT_INTERNAL;
  }
  char human[32];
  edr_human_bytes(res->size, human, sizeof human);
  printf("saved '%s'\n"
         "  from      %s\n"
         "  via       %s\n"
         "  size      %" PRIu64 " bytes (%s)\n"
         "  revision  %" PRId64 "\n"
         "  sha-256   %s\n",
         res->path, res->source, res->via ? res->via : "http", res->size, human,
         res->revision,
         res->sha256);
  fflush(stdout);
  int code = EDR_EXIT_OK;
  if (so.dir && keep > 0) {
    struct edr_error err = EDR_ERROR_INIT;
    if (edr_snapshot_prune(so.dir, (unsigned)keep, res->path, &err) < 0) {
      edr_err("snapshot saved, but --keep %ld failed: %s", keep, edr_error_text(&err));
      code = EDR_EXIT_INTERNAL;
    }
    edr_error_release(&err);
  }
  edr_save_result_release(res);
  free(res);
  return code;

usage_quiet:
  free(opts);
  return EDR_EXIT_USAGE;
}
