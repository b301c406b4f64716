/*
 * probe.c - judging the probe's facts about a host: the restore tool and
 * its flags, free disk, the data dir, whether etcd runs.  This is where
 * "ready" is decided, before anything is changed.
 */
#include "engine.h"

#include "err.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "snapfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The restore needs: the snapshot copy, the restored db (about the
 * snapshot's size) and etcd's preallocated 64 MB WAL, plus 10%. */
static uint64_t space_needed(uint64_t snapshot_size) {
  uint64_t need = 2 * snapshot_size + ENG_WAL_PREALLOC_BYTES;
  return need + need / 10;
}

int eng_check_room(json_t *probe, uint64_t snapshot_size, struct edr_error *err) {
  json_int_t free_b = json_integer_value(json_object_get(probe, "free_bytes"));
  uint64_t need = space_needed(snapshot_size);
  if (json_is_integer(json_object_get(probe, "free_bytes")) && free_b >= 0 &&
      (uint64_t)free_b < need) {
    char hn[32], hf[32];
    edr_human_bytes(need, hn, sizeof hn);
    edr_human_bytes((uint64_t)free_b, hf, sizeof hf);
    return edr_error_set(err, EDR_ENOSPC, "not enough free disk space on '%s': %s needed (the "
                         "snapshot copy, the restored data and a 64 MB WAL; the old data is "
                         "kept), %s free", json_string_value(json_object_get(probe, "free_path")),
                         hn, hf);
  }
  return 0;
}

bool eng_has_flag(json_t *tool, const char *flag) {
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(tool, "flags"), i, f)
    if (json_string_value(f) && !strcmp(json_string_value(f), flag))
      return true;
  return false;
}

/* snapshot save --via ssh: the snapshot is about as large as etcd's db and
 * lands on the same disk; etcd must not be the one that runs out. */
static int check_snapshot_probe(struct host *h, json_t *r, struct edr_error *err) {
  json_t *db = json_object_get(json_object_get(r, "data_dir"), "db_bytes");
  json_t *fr = json_object_get(r, "free_bytes");
  if (json_is_true(json_object_get(r, "staging_exists")))
    return edr_error_set(err, EDR_EEXIST, "staging directory '%s' already exists", h->hp->staging);
  if (json_is_integer(db) && json_is_integer(fr)) {
    uint64_t dbb = (uint64_t)json_integer_value(db);
    uint64_t need = dbb + dbb / 10 + ENG_WAL_PREALLOC_BYTES;
    if ((uint64_t)json_integer_value(fr) < need) {
      char hn[32], hd[32], hf[32];
      edr_human_bytes(need, hn, sizeof hn);
      edr_human_bytes(dbb, hd, sizeof hd);
      edr_human_bytes((uint64_t)json_integer_value(fr), hf, sizeof hf);
      return edr_error_set(err, EDR_ENOSPC, "not enough free disk space on '%s' for a snapshot "
                           "next to etcd's data: %s needed (the db is %s, plus room so etcd "
                           "itself does not run out), %s free; take it with --via direct, or free "
                           "space", json_string_value(json_object_get(r, "free_path")), hn, hd, hf);
    }
  }
  return 0;
}

/* Judge the probe's facts: this is where "ready" is decided. */
/* Every precondition of an apply step that can be known before anything is
 * stopped: the renames need directories that are not mount points, the
 * ownership step a user the host knows, stop and start their programs. */
static int check_apply_needs(struct host *h, json_t *r, struct edr_error *err) {
  const struct edr_member *m = h->m;
  if (json_is_true(json_object_get(json_object_get(r, "data_dir"), "member_mountpoint")))
    return edr_error_set(err, EDR_EMOUNTPOINT, "'%s/member' is a mount point: a restore renames "
                         "it aside and renames the restored member into its place, which a mount "
                         "point refuses; mount the data dir '%s' itself instead", m->data_dir,
                         m->data_dir);
  if (m->wal_dir && json_is_true(json_object_get(json_object_get(r, "wal_dir"),
                                                  "mountpoint"))) {
    return edr_error_set(err, EDR_EMOUNTPOINT, "wal_dir '%s' is a mount point: a restore renames "
                         "it aside and renames the restored WAL into its place, which a mount "
                         "point refuses; set wal_dir to a directory inside the mounted file "
                         "system (for example %s/wal)", m->wal_dir, m->wal_dir);
  }
  const char *oerr = json_string_value(json_object_get(json_object_get(r, "owner"), "error"));
  if (oerr)
    return edr_error_set(err, EDR_ENOENT, "data_dir_owner '%s': %s on this host; the restored "
                         "data could not be given to it", m->data_dir_owner, oerr);
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(r, "commands"), i, c) {
    const char *cerr = json_string_value(json_object_get(c, "error"));
    if (cerr)
      return edr_error_set(err, EDR_ENOENT, "%s: %s on this host; etcd could not be %s",
                           i ? "start_command" : "stop_command", cerr, i ? "started" : "stopped");
  }
  return 0;
}

/* "3.5" of "3.5.16": the part a restore tool must share with etcd. */
static bool same_minor(const char *a, const char *b) {
  const char *da = strchr(a, '.'), *db = strchr(b, '.');
  size_t na = da ? (size_t)(strchrnul(da + 1, '.') - a) : strlen(a);
  size_t nb = db ? (size_t)(strchrnul(db + 1, '.') - b) : strlen(b);
  return na == nb && !strncmp(a, b, na);
}

/* The kubeadm preset: the manifest is there (or parked by a run that
 * stopped etcd), in kubeadm's layout, and runs the member the spec
 * describes; a pushed restore tool is of the image's etcd version. */
static int check_manifest(struct host *h, json_t *r, struct edr_error *e) {
  const struct edr_member *m = h->m;
  json_t *mf = json_object_get(r, "manifest");
  const struct edr_plan *p = h->run->plan;
  /* status and snapshot save report on the member as it is; they move no manifest */
  if (!edr_member_kubeadm(m) || !json_is_object(mf) ||
      edr_plan_kinds[p->kind].probe == EDR_PROBE_SNAPSHOT_ROOM ||
      (!edr_plan_kinds[p->kind].changes_hosts && p->ask_etcd))
    return 0;
  char *parked = edr_member_parked_manifest(m);
  bool present = json_is_true(json_object_get(mf, "present"));
  bool was_parked = json_is_true(json_object_get(mf, "parked"));
  const char *where = present ? m->manifest : parked;
  int rc = 0;
  const char *err = json_string_value(json_object_get(mf, "error"));
  json_t *fl = json_object_get(mf, "flags");
  const char *name = json_string_value(json_object_get(fl, "name"));
  const char *dd = json_string_value(json_object_get(fl, "data-dir"));
  const char *purls = json_string_value(json_object_get(fl, "initial-advertise-peer-urls"));
  const char *ver = json_string_value(json_object_get(mf, "version"));
  const char *image = json_string_value(json_object_get(mf, "image"));
  char want[1024] = "";
  for (size_t i = 0; i < m->peer_urls.n; i++)
    snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? "," : "",
             m->peer_urls.v[i]);
  if (!present && !was_parked) {
    rc = edr_error_set(e, EDR_ENOENT, "no static pod manifest at '%s' (nor at '%s', where a run keeps it "
             "while etcd is stopped): is this a kubeadm control-plane node? Set \"manifest\" "
             "in the spec to the etcd.yaml in kubelet's staticPodPath", m->manifest,
             parked ? parked : "?");
  } else if (err) {
    rc = edr_error_set(e, EDR_EINVAL, "%s", err);
  } else if (name && strcmp(name, m->name)) {
    rc = edr_error_set(e, EDR_EINVAL, "the manifest '%s' runs etcd as --name=%s, the spec calls this "
             "member '%s': the restored member would not be the one the manifest starts; "
             "name it '%s' in the spec", where, name, m->name, name);
  } else if (dd && strcmp(dd, m->data_dir)) {
    rc = edr_error_set(e, EDR_EINVAL, "the manifest '%s' has --data-dir=%s, the spec's data_dir is '%s': "
             "set data_dir to '%s'", where, dd, m->data_dir, dd);
  } else if (purls && strcmp(purls, want)) {
    rc = edr_error_set(e, EDR_EINVAL, "the manifest '%s' has --initial-advertise-peer-urls=%s, the spec's "
             "peer_urls are %s: set peer_urls to the manifest's", where, purls, want);
  } else if (h->hp->host_tool && ver && p->tool_version && !same_minor(ver, p->tool_version)) {
    rc = edr_error_set(e, EDR_ETOOL, "the restore tool pushed from this machine ('%s') is etcd %s, the "
             "cluster runs %s (etcd %s): a restore must use the cluster's own version; set "
             "restore_tool_push to an etcdutl %s (or, for 3.4, an etcdctl 3.4)",
             m->restore_tool_push, p->tool_version, image ? image : "?", ver, ver);
  }
  free(parked);
  return rc;
}

int eng_check_probe(struct host *h, json_t *r, struct edr_error *err) {
  const struct edr_plan *p = h->run->plan;
  json_t *tool = json_object_get(r, "tool");
  json_t *dd = json_object_get(r, "data_dir");
  int mrc = check_manifest(h, r, err);
  if (mrc)
    return mrc;
  /* status reports on the member as it is: it restores nothing, and the
   * hosts of kubeadm's stacked etcd have no etcd tool at all */
  if (!edr_plan_kinds[p->kind].changes_hosts && p->ask_etcd)
    return 0;
  switch (edr_plan_kinds[p->kind].probe) {
  case EDR_PROBE_NOTHING:
    return 0; /* e.g. a rollback: no tool needed; find-old checks what matters */
  case EDR_PROBE_SNAPSHOT_ROOM:
    return check_snapshot_probe(h, r, err);
  case EDR_PROBE_RESTORE_STEPS: {
    bool restores = false;
    for (size_t k = 0; k < h->hp->n_steps; k++)
      restores |= eng_steps[h->hp->steps[k].kind].needs_tool;
    if (!restores)
      return 0; /* each playbook step checks what it needs when it runs */
    break;
  }
  case EDR_PROBE_RESTORE:
    break;
  }
  if (p->bump_revision && !h->hp->host_tool && json_is_object(tool) &&
      (!eng_has_flag(tool, "--bump-revision") || !eng_has_flag(tool, "--mark-compacted"))) {
    return edr_error_set(err, EDR_EUNSUPPORTED, "%s %s on the host cannot --bump-revision with "
                         "--mark-compacted (they came in etcd 3.4.27 and 3.5.10); use a newer "
                         "tool (restore_tool_push) or restore without a bump",
                         json_string_value(json_object_get(tool, "kind")),
                         json_string_value(json_object_get(tool, "version")));
  }
  if (h->hp->host_tool) {
    /* the tool is pushed next; a restore it cannot do fails in staging */
  } else if (!json_is_object(tool)) {
    const char *te = json_string_value(json_object_get(r, "tool_error"));
    return edr_error_set(err, EDR_ETOOL, "no usable restore tool: %s (install etcdutl or etcdctl, "
                         "or set restore_tool / restore_tool_push)", te ? te : "none found");
  }
  if (!h->hp->host_tool && h->m->wal_dir && !eng_has_flag(tool, "--wal-dir"))
    return edr_error_set(err, EDR_EUNSUPPORTED, "restore tool '%s' does not support --wal-dir",
                         json_string_value(json_object_get(tool, "path")));
  if (!h->hp->host_tool && p->skip_hash_check && !eng_has_flag(tool, "--skip-hash-check")) {
    return edr_error_set(err, EDR_EUNSUPPORTED, "restore tool '%s' does not support "
                         "--skip-hash-check", json_string_value(json_object_get(tool, "path")));
  }
  if (json_is_true(json_object_get(r, "staging_exists")) && !h->run->opts->resume)
    return edr_error_set(err, EDR_EEXIST, "staging directory '%s' already exists (left by an "
                         "earlier run with the same id?)", h->hp->staging);
  if (!json_is_true(json_object_get(dd, "exists")) && !h->m->data_dir_owner) {
    return edr_error_set(err, EDR_ENOENT, "data dir '%s' does not exist and the spec sets no "
                         "data_dir_owner: set it (for example \"etcd:etcd\") so that the restored "
                         "data belongs to the user etcd runs as", h->m->data_dir);
  }
  int rc = check_apply_needs(h, r, err);
  if (rc)
    return rc;
  size_t pi;
  json_t *pf;
  json_array_foreach(json_object_get(r, "ports"), pi, pf) {
    const char *comm = json_string_value(json_object_get(pf, "comm"));
    if (json_is_true(json_object_get(pf, "listening")) && comm && *comm &&
        strcmp(comm, "etcd")) {
      return edr_error_set(err, EDR_EBUSY, "port %lld is in use by '%s' (pid %lld): etcd could "
                           "not listen there after the restore; stop that process first",
                           (long long)json_integer_value(json_object_get(pf, "port")), comm,
                           (long long)json_integer_value(json_object_get(pf, "pid")));
    }
  }
  /* a snapshot on a host: its size is known once that host checked it
   * (stages.c checks the room then) */
  return eng_check_room(r, p->snapshot_size, err);
}
