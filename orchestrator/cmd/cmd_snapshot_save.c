/*
 * cmd_snapshot_save.c - `etcd-dr snapshot save`: its options, their checks
 * and the exit status.  The save itself (the gateway stream, the file, the
 * trailer check, the rename) is etcd/snapshot_save.c's; --via ssh goes
 * through snapshot_ssh.c, lent to it as edr_save_opts.fetch_ssh.
 */
#include "auth.h"
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "err.h"
#include "log.h"
#include "options.h"
#include "snapshot_save.h"
#include "util.h"

#include <jansson.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct edr_usage usage = {
  .head =
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
    "sha-256 (of the whole file, as sha256sum prints it; -w json: one object).\n"
    "\n"
    "By default this machine asks a client URL of the member (from the spec's\n"
    "client_urls, or --endpoint).  With --via ssh the member's own host takes\n"
    "it: etcd-dr-agent there asks the member's client URL with the spec's\n"
    "etcdctl_cacert/_cert/_key (no etcd tool needed on the host, as on a\n"
    "kubeadm node), writes DATA_DIR/.etcd-dr-RUN/snapshot.db, streams it back\n"
    "over SSH, and the staging is removed; the file is finished here the same\n"
    "way.  A client URL with a host name is resolved here (the agent resolves\n"
    "none; the certificate is still checked against the name).  On a cluster with authentication enabled, etcd serves a snapshot to\n"
    "its root user only: ETCDCTL_USER (user:password, or user with\n"
    "ETCDCTL_PASSWORD) or --user NAME names it, as for etcdctl; the token etcd\n"
    "gives for it goes with the request (with --via ssh the agent asks the\n"
    "member for it, the password in its request over SSH only: docs/auth.md).\n"
    "\n",
  .foot =
    "Exit status (docs/exit-codes.md): 0 saved; 1 internal error or a local\n"
    "failure (disk full, cannot write FILE); 2 bad arguments or spec; 4 no member\n"
    "gave a sound snapshot (unreachable, refused, stream cut, damaged): the\n"
    "message names the member or URL and the reason; 130 interrupted.\n",
};

int cmd_snapshot_save(int argc, char **argv) {
  struct edr_args a;
  int rc;

  edr_args_init(&a, EDR_CMD_SAVE);
  /* ARGV[0] "snapshot", ARGV[1] "save": options start after the verb. */
  if ((rc = edr_args_parse(&a, argc, argv, 2, &usage)))
    return rc < 0 ? EDR_EXIT_OK : rc;
  if ((rc = edr_args_write_out(&a, EDR_OUT_TABLE | EDR_OUT_JSON)))
    return rc;
  struct edr_save_opts so = a.so;
  struct edr_cli_spec cs = a.cs;
  long keep = a.save_keep;
  so.tls = a.tls;
  so.timeout_ms = a.timeout_ms;
  so.accept_new_hostkeys = a.eo.accept_new_hostkeys;
  so.fetch_ssh = edr_snapshot_fetch_ssh;
  /* etcdctl's variable names the member when nothing else does */
  const char *env = getenv("ETCDCTL_ENDPOINTS");
  if (!so.endpoint && !cs.cluster_file && !cs.initial_cluster && env && *env) {
    if (strchr(env, ',')) {
      edr_err("snapshot save: ETCDCTL_ENDPOINTS names several endpoints ('%s'); a snapshot "
              "comes from one: give --endpoint URL or --cluster FILE", env);
      return EDR_EXIT_USAGE;
    }
    so.endpoint = env;
  }
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
    rc = edr_cli_load_spec(&cs, &spec);
    if (rc)
      return rc;
  }
  struct edr_save_result *res = malloc(sizeof *res);
  if (!res) {
    edr_spec_free(spec);
    edr_err("out of memory");
    return EDR_EXIT_INTERNAL;
  }
  /* etcd's user, for a member with authentication enabled (docs/auth.md) */
  struct edr_etcd_user user;
  struct edr_error uerr = EDR_ERROR_INIT;
  rc = edr_etcd_user_get(a.user, &user, &uerr);
  if (rc < 0) {
    edr_err("snapshot save: %s", edr_error_text(&uerr));
    edr_error_release(&uerr);
    edr_spec_free(spec);
    free(res);
    return rc == EDR_EINVAL ? EDR_EXIT_USAGE : EDR_EXIT_INTERNAL;
  }
  edr_error_release(&uerr);
  so.user = &user;
  rc = edr_snapshot_save(spec, &so, res);
  so.user = NULL;
  edr_etcd_user_release(&user);
  edr_spec_free(spec);
  if (rc < 0) {
    edr_err("%s", edr_error_text(&res->err));
    edr_save_result_release(res);
    free(res);
    switch (rc) {
    case EDR_ECANCELED: return EDR_EXIT_INTERRUPTED;
    case EDR_EINVAL: return EDR_EXIT_USAGE;
    case EDR_ENOMEM: case EDR_EINTERNAL: case EDR_ENOSPC: case EDR_EIO: case EDR_EACCES:
    case EDR_EEXIST: case EDR_ENOENT:
      return EDR_EXIT_INTERNAL; /* here, not the member */
    default: return EDR_EXIT_PREFLIGHT; /* the member gave no sound snapshot */
    }
  }
  char human[32];
  edr_human_bytes(res->size, human, sizeof human);
  if (a.write_out == EDR_OUT_JSON) {
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "path", res->path, "from",
                          res->source, "via", res->via ? res->via : "http", "size",
                          (json_int_t)res->size, "revision", (json_int_t)res->revision,
                          "sha256", res->sha256);
    if (j)
      json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    fputc('\n', stdout);
  } else printf("saved '%s'\n"
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

}
