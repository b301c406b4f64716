/*
 * service.c - how a member's etcd is stopped and started, for every plan
 * that does it (restore, rollback, playbooks): by the member's stop_command
 * and start_command, or, with the kubeadm preset, by moving its static pod
 * manifest out of the manifests dir (kubelet then stops the pod) and back
 * (kubelet starts it).  kubelet looks at the directory only every 20 s, and
 * a pod has a grace period: the check-stopped step that follows a stop
 * waits on the effect (etcd's db lock released and its ports closed), never
 * on a fixed time.  The plan owns the steps; the member is borrowed.
 */
#include "plan.h"

#include "err.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

enum {
  /* kubelet's fileCheckFrequency (20 s) + the pod's grace period (30 s) +
   * etcd's own graceful stop, with room to spare */
  KUBEADM_STOP_WAIT_MS = 120000,
};

static json_t *strv_array(const struct edr_strv *sv) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < sv->n; i++)
    json_array_append_new(a, json_string(sv->v[i]));
  return a;
}

static json_t *run_req(const struct edr_strv *argv) {
  return json_pack("{s:s, s:o, s:n}", "op", "run", "argv", strv_array(argv), "env");
}

struct edr_step *edr_plan_stop_step(struct edr_host_plan *h, size_t stage) {
  const struct edr_member *m = h->member;
  if (!edr_member_kubeadm(m))
    return edr_plan_add_step(h, stage, EDR_STEP_STOP, run_req(&m->stop_command),
                             m->stop_command.v, "stop etcd");
  char *parked = edr_member_parked_manifest(m);
  struct edr_step *s =
      parked ? edr_plan_add_step(h, stage, EDR_STEP_STOP,
                                 json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from",
                                           m->manifest, "to", parked, "missing_ok", 1),
                                 NULL, "stop etcd: move its static pod manifest %s out of "
                                 "the manifests dir to %s (kubelet stops the pod)",
                                 m->manifest, parked)
             : NULL;
  free(parked);
  return s;
}

struct edr_step *edr_plan_check_stopped_step(struct edr_host_plan *h, size_t stage) {
  const struct edr_member *m = h->member;
  json_t *req = json_pack("{s:s, s:s, s:s?}", "op", "check-stopped", "data_dir", m->data_dir,
                          "wal_dir", m->wal_dir);
  if (!edr_member_kubeadm(m))
    return edr_plan_add_step(h, stage, EDR_STEP_CHECK_STOPPED, req, NULL,
                             "check that no process holds %s%s%s any more", m->data_dir,
                             m->wal_dir ? " or " : "", m->wal_dir ? m->wal_dir : "");
  if (req)
    json_object_set_new(req, "ports", edr_plan_member_ports(m));
  struct edr_step *s = edr_plan_add_step(
      h, stage, EDR_STEP_CHECK_STOPPED, req, NULL,
      "wait until etcd has exited: no process holds %s%s%s and nothing listens on its "
      "ports (kubelet looks at the manifests dir every 20 s and gives the pod a grace "
      "period; at most %ds)", m->data_dir, m->wal_dir ? " or " : "",
      m->wal_dir ? m->wal_dir : "", KUBEADM_STOP_WAIT_MS / 1000);
  if (s) {
    s->timeout_ms = KUBEADM_STOP_WAIT_MS + 10000; /* the agent's own wait ends first */
    json_object_set_new(s->request, "timeout_ms", json_integer(KUBEADM_STOP_WAIT_MS));
  }
  return s;
}

struct edr_step *edr_plan_start_step(struct edr_host_plan *h, size_t stage, const char *note) {
  const struct edr_member *m = h->member;
  if (!edr_member_kubeadm(m))
    return edr_plan_add_step(h, stage, EDR_STEP_START, run_req(&m->start_command),
                             m->start_command.v, "start etcd%s", note ? note : "");
  char *parked = edr_member_parked_manifest(m);
  struct edr_step *s =
      parked ? edr_plan_add_step(h, stage, EDR_STEP_START,
                                 json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from",
                                           parked, "to", m->manifest, "missing_ok", 1),
                                 NULL, "start etcd%s: move its manifest back from %s to %s "
                                 "(kubelet starts the pod)", note ? note : "", parked,
                                 m->manifest)
             : NULL;
  free(parked);
  return s;
}

int edr_plan_service_probe(const struct edr_member *m, json_t *req) {
  if (!edr_member_kubeadm(m))
    return json_object_set_new(req, "commands", json_pack("[s,s]", m->stop_command.v[0],
                                                          m->start_command.v[0]))
               ? EDR_ENOMEM : 0;
  char *parked = edr_member_parked_manifest(m);
  int rc = !parked || json_object_set_new(req, "manifest",
                                          json_pack("{s:s, s:s}", "path", m->manifest,
                                                    "parked", parked))
               ? EDR_ENOMEM : 0;
  free(parked);
  return rc;
}

/* kube-apiserver's manifest beside etcd's, and where it waits meanwhile. */
static int apiserver_paths(const struct edr_member *m, char **manifest, char **parked) {
  const char *slash = strrchr(m->manifest, '/');
  char *etcd_parked = edr_member_parked_manifest(m);
  const char *pslash = etcd_parked ? strrchr(etcd_parked, '/') : NULL;
  *manifest = edr_asprintf("%.*s/kube-apiserver.yaml", (int)(slash - m->manifest), m->manifest);
  *parked = pslash ? edr_asprintf("%.*s/kube-apiserver.yaml.etcd-dr-stopped",
                                  (int)(pslash - etcd_parked), etcd_parked)
                   : NULL;
  free(etcd_parked);
  if (*manifest && *parked)
    return 0;
  free(*manifest);
  free(*parked);
  return EDR_ENOMEM;
}

/* Park kube-apiserver on H (BACK false: move its manifest away, then wait
 * until it is gone) or bring it back (BACK true). */
static int apiserver_steps(struct edr_host_plan *h, size_t stage, bool back) {
  if (!edr_member_kubeadm(h->member))
    return 0;
  char *manifest, *parked;
  if (apiserver_paths(h->member, &manifest, &parked))
    return EDR_ENOMEM;
  /* this host's kube-apiserver only: the processes in the agent's network
   * namespace (the API server's pod runs in the host's) */
  static char *const wait[] = {
      "/bin/sh", "-c",
      "command -v pgrep >/dev/null || { echo 'pgrep not found: cannot tell whether "
      "kube-apiserver stopped' >&2; exit 1; }; i=0; while pgrep -x --ns $$ --nslist net "
      "kube-apiserver >/dev/null; do i=$((i+1)); [ $i -le 900 ] || { echo 'kube-apiserver "
      "still runs 90 s after its manifest was moved away' >&2; exit 1; }; sleep 0.1; done",
      NULL};
  json_t *move = json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from",
                           back ? parked : manifest, "to", back ? manifest : parked,
                           "missing_ok", 1);
  bool ok;
  if (back)
    ok = edr_plan_add_step(h, stage, EDR_STEP_MOVE_BACK, move, NULL,
                           "bring kube-apiserver back, the cluster being healthy: move %s "
                           "back to %s", parked, manifest);
  else
    ok = edr_plan_add_step(h, stage, EDR_STEP_MOVE_ASIDE, move, NULL,
                           "park kube-apiserver: move its manifest %s to %s (kubelet stops "
                           "it; it must not see etcd restarted under it)", manifest, parked) &&
         edr_plan_add_step(h, stage, EDR_STEP_EXEC,
                           json_pack("{s:s, s:[s,s,s], s:n}", "op", "run", "argv", wait[0],
                                     wait[1], wait[2], "env"),
                           wait, "wait until no kube-apiserver runs on this host");
  free(manifest);
  free(parked);
  return ok ? 0 : EDR_ENOMEM;
}

int edr_plan_park_apiserver(struct edr_host_plan *h, size_t stage) {
  return apiserver_steps(h, stage, false);
}

int edr_plan_unpark_apiserver(struct edr_host_plan *h, size_t stage) {
  return apiserver_steps(h, stage, true);
}
