/*
 * driver.c - what restore and run share around the engine: the local checks
 * before any connection (the files the spec names, the snapshot, the
 * restore tool to push), the client URL names looked up for the hosts'
 * agents (edr_run_resolve), and the run itself (edr_run_plan: the run's
 * journal, the etcd gates lent to the engine, the report and the summary).
 * rollback runs its plan without a journal (cmd_rollback.c).
 */
#include "bbolt.h"
#include "cli.h"
#include "driver.h"
#include "err.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "report.h"
#include "resolve.h"
#include "util.h"
#include "zsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Local files the spec names must be there before any connection. */
int edr_check_local_files(const struct edr_spec *spec, bool accept_new) {
  for (size_t i = 0; i < spec->n_members; i++) {
    const struct edr_member *m = &spec->members[i];
    if (m->identity_file && access(m->identity_file, R_OK) != 0) {
      edr_err("member '%s': identity_file '%s' cannot be read", m->name, m->identity_file);
      return EDR_EXIT_USAGE;
    }
    if (!accept_new && access(m->known_hosts, R_OK) != 0) {
      edr_err("member '%s': known_hosts file '%s' cannot be read; create it (ssh-keyscan) "
              "or pass --accept-new-host-keys", m->name, m->known_hosts);
      return EDR_EXIT_USAGE;
    }
    if (m->restore_tool_push && access(m->restore_tool_push, R_OK) != 0) {
      edr_err("member '%s': restore_tool_push '%s' cannot be read", m->name,
              m->restore_tool_push);
      return EDR_EXIT_USAGE;
    }
  }
  return 0;
}

/* Verify PO->snapshot (trailer, bbolt) and fill PO's snapshot fields from it
 * (SF must outlive PO).  Returns 0 or EDR_EXIT_SNAPSHOT after saying why. */
int edr_check_snapshot(struct edr_plan_opts *po, struct edr_snapfile *sf) {
  int rc;
  if ((rc = edr_snapfile_check(po->snapshot, sf))) {
    edr_err("cannot read snapshot '%s': %s; nothing was contacted", po->snapshot,
            edr_strerror(rc));
    return EDR_EXIT_SNAPSHOT;
  }
  if (sf->has_trailer && !sf->trailer_ok) {
    edr_err("snapshot '%s' is damaged: its sha-256 trailer is %s but its contents hash "
            "to %s; nothing was contacted. Take a new snapshot or use another copy",
            po->snapshot, sf->trailer_sha256, sf->image_sha256);
    return EDR_EXIT_SNAPSHOT;
  }
  if (!sf->has_trailer && !po->skip_hash_check) {
    edr_err("snapshot '%s' has no sha-256 trailer (size %llu is not 512*n+32), so its "
            "integrity cannot be checked; nothing was contacted. A file from 'etcdctl "
            "snapshot save' has one; for a copied member/snap/db pass --skip-hash-check",
            po->snapshot, (unsigned long long)sf->size);
    return EDR_EXIT_SNAPSHOT;
  }
  po->snapshot_size = sf->size;
  po->snapshot_sha256 = sf->image_sha256;
  po->snapshot_has_hash = sf->has_trailer;
  rc = edr_bolt_revision(po->snapshot, &po->snapshot_revision);
  if (rc == EDR_ECORRUPT) {
    edr_err("snapshot '%s' is not a sound bbolt file (run 'etcd-dr snapshot verify' for "
            "details); nothing was contacted", po->snapshot);
    return EDR_EXIT_SNAPSHOT;
  }
  if (rc)
    po->snapshot_revision = -1;
  edr_sample_compress(po);
  return 0;
}

int edr_snapshot_on_host(const struct edr_spec *spec, struct edr_plan_opts *po,
                         const char *from_member, bool *on_host) {
  static char shown[8400];
  const struct edr_member *m = NULL;
  const char *path = NULL;
  *on_host = false;
  if (from_member && po->snapshot) {
    edr_err("--snapshot and --from-member: give one of them");
    return EDR_EXIT_USAGE;
  }
  for (size_t i = 0; i < spec->n_members; i++) {
    const struct edr_member *c = &spec->members[i];
    size_t n = strlen(c->name);
    if (from_member && !strcmp(from_member, c->name))
      m = c;
    else if (!from_member && po->snapshot && !strncmp(po->snapshot, c->name, n) &&
             po->snapshot[n] == ':' && po->snapshot[n + 1] == '/') {
      m = c;
      path = po->snapshot + n + 1;
    }
  }
  if (from_member && !m) {
    edr_err("--from-member: '%s' is not a member of the cluster", from_member);
    return EDR_EXIT_USAGE;
  }
  if (!m)
    return 0; /* a file on this machine */
  static char db[4200];
  if (from_member) {
    snprintf(db, sizeof db, "%s/member/snap/db", m->data_dir);
    path = db;
    if (!po->skip_hash_check) {
      edr_err("--from-member %s: its member/snap/db has no sha-256 trailer, so nothing "
              "proves it is whole; nothing was contacted. Pass --skip-hash-check to restore "
              "from it anyway (etcd's restore then skips its own check too)", m->name);
      return EDR_EXIT_SNAPSHOT;
    }
  }
  if (po->transfer == EDR_TRANSFER_DIRECT) {
    edr_err("--transfer direct: the snapshot is on %s, not on this machine; use --transfer "
            "auto or relay", m->name);
    return EDR_EXIT_USAGE;
  }
  snprintf(shown, sizeof shown, "%s:%s", m->name, path);
  po->snapshot = shown;
  po->snapshot_member = m->name;
  po->snapshot_remote = path;
  po->from_member = from_member != NULL;
  po->snapshot_size = 0;
  po->snapshot_sha256 = "";
  po->snapshot_has_hash = false;
  po->snapshot_revision = -1;
  *on_host = true;
  return 0;
}

void edr_sample_compress(struct edr_plan_opts *po) {
  struct edr_zprobe zp;
  if (po->snapshot && po->compress != EDR_COMPRESS_OFF && edr_zsrc_probe(po->snapshot, &zp) == 0)
    po->compress_sample = (struct edr_compress_sample){
        .sampled = zp.sampled, .ratio = zp.ratio, .bytes_per_s = zp.bytes_per_s};
}

/* The first of NAMES found as an executable file in this machine's PATH,
 * a new string, or NULL. */
static char *local_exec(const char *const *names, size_t n) {
  const char *path = getenv("PATH");
  for (size_t k = 0; k < n; k++) {
    char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
    for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
      char *f = edr_path_join(d, names[k]);
      if (f && *d == '/' && access(f, X_OK) == 0) {
        free(copy);
        return f;
      }
      free(f);
    }
    free(copy);
  }
  return NULL;
}

/* "3.5.16" out of `TOOL version` run here ("etcdutl version: 3.5.16",
 * "etcdctl version: 3.4.23") into buf[len]; false when it cannot be told. */
static bool local_tool_version(const char *tool, char *buf, size_t len) {
  int fds[2];
  if (pipe(fds) != 0)
    return false;
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 2);
    }
    close(fds[0]);
    close(fds[1]);
    execl(tool, tool, "version", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char out[512] = "";
  FILE *f = fdopen(fds[0], "r");
  size_t got = f ? fread(out, 1, sizeof out - 1, f) : 0;
  out[got] = '\0';
  if (f)
    fclose(f);
  else
    close(fds[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  const char *v = strstr(out, " version: ");
  if (!v)
    return false;
  v += strlen(" version: ");
  size_t n = strspn(v, "0123456789.");
  if (!n || n >= len)
    return false;
  memcpy(buf, v, n);
  buf[n] = '\0';
  return true;
}

int edr_build_plan(const struct edr_spec *spec, const struct edr_plan_opts *po,
                   struct edr_plan **out) {
  struct edr_error err = EDR_ERROR_INIT;
  int rc = edr_plan_build(spec, po, out, &err);
  if (rc)
    edr_err("%s", edr_error_text(&err));
  edr_error_release(&err);
  return rc;
}

/* The restore tool the spec pushes: its size, sha-256 and version into PO.
 * Members with the kubeadm preset have no etcd tools on their hosts (they
 * are inside the etcd image): without restore_tool_push they get this
 * machine's etcdutl, else etcdctl, found in PATH; the check phase refuses
 * it when its version is not the one of the image the manifest names. */
int edr_check_tool(struct edr_spec *spec, struct edr_plan_opts *po) {
  static const char *const tools[] = {"etcdutl", "etcdctl"};
  char *found = NULL;
  for (size_t i = 0; i < spec->n_members; i++) {
    struct edr_member *m = &spec->members[i];
    if (!edr_member_kubeadm(m) || m->restore_tool_push)
      continue;
    if (!found && !(found = local_exec(tools, 2))) {
      edr_err("member '%s': the kubeadm preset pushes a restore tool from this machine "
              "(the hosts keep etcdutl inside the etcd image), and none was found: no "
              "etcdutl or etcdctl in PATH here; set restore_tool_push to an etcdutl (etcd "
              ">= 3.5) or etcdctl (3.4) of the cluster's version; nothing was contacted",
              m->name);
      return EDR_EXIT_USAGE;
    }
    if (!(m->restore_tool_push = strdup(found))) {
      free(found);
      return EDR_EXIT_INTERNAL;
    }
  }
  free(found);
  for (size_t i = 0; i < spec->n_members; i++)
    if (spec->members[i].restore_tool_push) {
      struct edr_snapfile tf;
      if (edr_snapfile_check(spec->members[i].restore_tool_push, &tf) == 0) {
        static char tool_sha[65];
        memcpy(tool_sha, tf.file_sha256, sizeof tool_sha);
        po->tool_sha256 = tool_sha;
        po->tool_size = tf.size;
      }
      static char version[32];
      if (local_tool_version(spec->members[i].restore_tool_push, version, sizeof version))
        po->tool_version = version;
      break;
    }
  return 0;
}

int edr_run_resolve(struct edr_plan *plan) {
  struct edr_error err = EDR_ERROR_INIT;
  if (!edr_routes_resolve(plan, &err))
    return 0;
  edr_err("%s", edr_error_text(&err));
  edr_error_release(&err);
  return EDR_EXIT_PREFLIGHT;
}

/* Execute PLAN with the run's journal (its arguments ARGV recorded for
 * --resume), write the report (and with REPORT_STDOUT, -w json, print it
 * on stdout), print the summary.  Returns the exit status. */
int edr_run_plan(struct edr_plan *plan, struct edr_exec_opts *eo, int argc, char **argv,
                 json_t *resume, const char *report_file, bool report_stdout) {
  int rc;
  if ((rc = edr_run_resolve(plan)))
    return rc;
  /* The run's directory: its arguments (for --resume) and its journal. */
  struct edr_journal *journal = NULL;
  struct edr_error jerr = EDR_ERROR_INIT;
  if ((rc = edr_journal_open(&journal, plan->run_id, resume != NULL, &jerr))) {
    edr_err("%s", edr_error_text(&jerr));
    edr_error_release(&jerr);
    return rc == EDR_EAGAIN ? EDR_EXIT_PREFLIGHT : EDR_EXIT_INTERNAL;
  }
  if (!resume) {
    json_t *args = json_array();
    for (int i = 0; i < argc; i++)
      if (strcmp(argv[i], "--run-id") && (i == 0 || strcmp(argv[i - 1], "--run-id")))
        json_array_append_new(args, json_string(argv[i]));
    json_t *cmd = json_pack("{s:s, s:o, s:s}", "run_id", plan->run_id, "argv", args,
                            "snapshot_sha256", plan->snapshot_sha256);
    edr_journal_write(journal, "command.json", cmd);
    json_decref(cmd);
  } else {
    const char *was = json_string_value(json_object_get(resume, "snapshot_sha256"));
    if (!was || strcmp(was, plan->snapshot_sha256)) {
      edr_err("cannot resume run %s: snapshot '%s' changed since the run started (sha-256 "
              "%s, was %s); roll the run back or start a new one", plan->run_id,
              plan->snapshot, plan->snapshot_sha256, was ? was : "unknown");
      edr_journal_close(journal);
      return EDR_EXIT_SNAPSHOT;
    }
  }
  edr_journal_event(journal, resume ? "resume" : "begin", NULL);
  eo->journal = journal;

  struct edr_run_result res;
  char *spec_args = edr_spec_args(argc, argv);
  long long started = (long long)time(NULL);
  eo->gates = &edr_etcd_gates;
  eo->spec_args = spec_args;
  /* with -w json, stdout is the report alone: the progress events off a
   * terminal go to stderr */
  if (report_stdout)
    edr_progress_events_to(stderr);
  int code = edr_execute(plan, eo, &res);
  edr_progress_events_to(NULL);
  json_t *end = json_pack("{s:i}", "exit_code", code);
  edr_journal_event(journal, "end", end);
  json_decref(end);
  json_t *report = edr_report_json(plan, &res, started, (long long)time(NULL));
  if (report && edr_journal_write(journal, "report.json", report) == 0 && edr_verbosity >= 0)
    fprintf(stderr, "report: %s/report.json\n", edr_journal_dir(journal));
  if (report && report_file && json_dump_file(report, report_file,
                                              JSON_INDENT(2) | JSON_PRESERVE_ORDER))
    edr_err("cannot write the report to '%s'", report_file);
  if (report_stdout && (!report || json_dumpf(report, stdout,
                                              JSON_INDENT(2) | JSON_PRESERVE_ORDER) ||
                        fputc('\n', stdout) == EOF || fflush(stdout))) {
    edr_err("cannot print the report on standard output");
    if (!code)
      code = EDR_EXIT_INTERNAL;
  }
  json_decref(report);
  edr_journal_close(journal);
  if (res.message && res.exit_code == EDR_EXIT_INTERNAL)
    edr_err("%s", res.message);
  edr_print_summary(plan, &res, spec_args ? spec_args : "(your cluster options)");
  free(spec_args);
  edr_run_result_release(&res);
  return code;
}
