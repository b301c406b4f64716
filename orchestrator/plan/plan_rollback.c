/*
 * plan_rollback.c - the rollback plan's steps on one host (EDR_PLAN_ROLLBACK,
 * `etcd-dr rollback`): under the host lock, stop etcd, move the restored
 * member dir (and wal dir) aside and put back what run RUN moved aside,
 * then start etcd.  Nothing is deleted: the restored dirs are kept too.
 * The steps belong to the host plan (plan_int.h).
 */
#include "plan_int.h"

#include "err.h"
#include "util.h"

#include <stdlib.h>

/* Rollback: put back the member dir (and wal dir) that run RUN moved aside;
 * the restored one is itself moved aside, not deleted.  kube-apiserver is
 * parked while etcd is down, as for a restore. */
int plan_rollback_host(struct edr_plan *p, struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  int rc;
  char *member = edr_path_join(m->data_dir, "member");
  if (!member)
    return EDR_ENOMEM;
  char *wal_failed = m->wal_dir ? edr_asprintf("%s.etcd-dr-%s-restored", m->wal_dir, p->run_id)
                                : NULL;
  if ((rc = edr_plan_connect_step(h)) ||
      (rc = plan_add_step(h, EDR_STEP_PUSH_AGENT, NULL, NULL,
                          "check the architecture, push etcd-dr-agent, start it%s",
                          m->sudo ? " with sudo -n" : "")) ||
      (rc = plan_add_step(h, EDR_STEP_PROBE,
                          plan_probe_dir_request(h),
                          NULL, "probe (read only): data dir %s, whether etcd is running",
                          m->data_dir)) ||
      (rc = plan_add_step(h, EDR_STEP_LOCK,
                          edr_plan_lock_request(p, h, true), NULL,
                          "take the host lock %s (a lock of run %s itself is taken over)",
                          h->lock_path, p->run_id)) ||
      (rc = plan_add_step(h, EDR_STEP_FIND_OLD,
                          json_pack("{s:s, s:s}", "op", "stat", "path", h->member_aside), NULL,
                          "check that the old member dir %s is there", h->member_aside)) ||
      (m->wal_dir &&
       (rc = plan_add_step(h, EDR_STEP_FIND_OLD,
                           json_pack("{s:s, s:s}", "op", "stat", "path", h->wal_aside), NULL,
                           "check whether the old wal dir %s is there (if not, the restore "
                           "never moved %s: it stays in place)", h->wal_aside, m->wal_dir))) ||
      (rc = plan_add_step(h, EDR_STEP_HOLD_LOCK, edr_plan_lock_request(p, h, false), NULL,
                          "keep the host lock until the rollback ends")) ||
      (rc = edr_plan_park_apiserver(h, h->phase_stage[EDR_PHASE_APPLY])) ||
      (rc = edr_plan_stop_step(h, h->phase_stage[EDR_PHASE_APPLY]) ? 0 : EDR_ENOMEM) ||
      (rc = edr_plan_check_stopped_step(h, h->phase_stage[EDR_PHASE_APPLY]) ? 0
                                                                             : EDR_ENOMEM) ||
      (rc = plan_add_step(h, EDR_STEP_MOVE_ASIDE,
                          json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", member, "to",
                                    h->failed_aside, "missing_ok", 1),
                          NULL, "move the restored member dir %s aside to %s (kept)", member,
                          h->failed_aside)))
    goto out;
  if (m->wal_dir &&
      ((rc = plan_add_step(h, EDR_STEP_MOVE_ASIDE_WAL,
                           json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", m->wal_dir,
                                     "to", wal_failed, "missing_ok", 1),
                           NULL, "move the restored wal dir %s aside to %s (kept)", m->wal_dir,
                           wal_failed)) ||
       (rc = plan_add_step(h, EDR_STEP_INSTALL_WAL,
                           json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", h->wal_aside,
                                     "to", m->wal_dir, "missing_ok", 0),
                           NULL, "put the old wal dir back: rename %s to %s", h->wal_aside,
                           m->wal_dir))))
    goto out;
  if ((rc = plan_add_step(h, EDR_STEP_INSTALL,
                          json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", h->member_aside,
                                    "to", member, "missing_ok", 0),
                          NULL, "put the old member dir back: rename %s to %s", h->member_aside,
                          member)) ||
      (rc = edr_plan_start_step(h, h->phase_stage[EDR_PHASE_APPLY], NULL) ? 0
                                                                           : EDR_ENOMEM) ||
      (rc = edr_plan_unpark_apiserver(h, h->phase_stage[EDR_PHASE_CLEANUP])) ||
      (rc = plan_add_step(h, EDR_STEP_CLEANUP,
                          json_pack("{s:s, s:s}", "op", "remove", "path", h->staging), NULL,
                          "remove run %s's staging directory %s if it is still there", p->run_id,
                          h->staging)) ||
      (rc = plan_add_step(h, EDR_STEP_CLEANUP,
                          json_pack("{s:s, s:s}", "op", "remove", "path", h->marker), NULL,
                          "remove run %s's marker %s: the run is over", p->run_id, h->marker)))
    goto out;
  rc = plan_add_unlock(p, h);
out:
  free(member);
  free(wal_failed);
  return rc;
}
