/*
 * plan_snapshot.c - the steps of `etcd-dr snapshot save --via ssh` on the
 * member's host (EDR_PLAN_SNAPSHOT): the host's etcdctl takes the snapshot
 * into a staging directory, the agent streams it back.  The steps belong
 * to the host plan (plan_int.h).
 */
#include "plan_int.h"

#include "err.h"

/* snapshot save --via ssh: etcdctl on the member's host writes the snapshot
 * into a staging directory next to etcd's data (same disk, checked for free
 * space first), the agent streams it back, the staging goes.  The agent
 * removes the staging when it exits too, so a connection lost half-way
 * leaves nothing on the host. */
int plan_snapshot_host(struct edr_plan *p, struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  int rc;
  (void)p;
  if ((rc = edr_plan_connect_step(h)) ||
      (rc = plan_add_step(h, EDR_STEP_PUSH_AGENT, NULL, NULL,
                          "check the architecture (x86-64 or aarch64), push its etcd-dr-agent "
                          "to a new temporary directory, start it%s",
                          m->sudo ? " with sudo -n" : "")) ||
      (rc = plan_add_step(h, EDR_STEP_PROBE,
                          plan_probe_dir_request(h),
                          NULL, "probe (read only): free disk next to %s, the size of etcd's db",
                          m->data_dir)))
    return rc;
  /* etcdctl snapshot save waits forever for a member that does not answer
   * (it has no timeout unless given one, and any one would cut a large
   * snapshot short): first ask the member, bounded. */
  static const char *const up[] = {"--command-timeout=5s", "endpoint", "status", NULL};
  struct edr_strv argv = {0};
  rc = plan_etcdctl_argv(m, up, &argv);
  if (!rc)
    rc = plan_add_step(h, EDR_STEP_MEMBER_UP,
                       json_pack("{s:s, s:o, s:{s:s}}", "op", "run", "argv", plan_strv_json(&argv),
                                 "env", "ETCDCTL_API", "3"),
                       argv.v, "check that the member answers the host's etcdctl:");
  plan_strv_release(&argv);
  if (rc ||
      (rc = plan_add_step(h, EDR_STEP_STAGE_DIR,
                          json_pack("{s:s, s:s, s:b}", "op", "mkdir", "path", h->staging,
                                    "remove_at_exit", 1),
                          NULL, "create the staging directory %s (removed when the agent exits)",
                          h->staging)))
    return rc;
  /* ...and since the member may still stop answering once the save has
   * begun, the agent stops etcdctl when its output (FILE.part, then FILE)
   * has not grown for p->save_idle_ms (--stall-timeout). */
  const char *words[] = {"snapshot", "save", h->host_snapshot, NULL};
  rc = plan_etcdctl_argv(m, words, &argv);
  if (!rc) {
    json_t *req = json_pack("{s:s, s:o, s:{s:s}, s:s, s:I, s:s}", "op", "run", "argv",
                            plan_strv_json(&argv), "env", "ETCDCTL_API", "3", "progress_path",
                            h->host_snapshot, "idle_timeout_ms",
                            (json_int_t)p->save_idle_ms, "staging", h->staging);
    rc = plan_add_step(h, EDR_STEP_TAKE_SNAPSHOT, req, argv.v,
                       "take the snapshot on the host with its etcdctl (stopped if it "
                       "writes nothing for %.1f s):", (double)p->save_idle_ms / 1000);
    if (!rc && p->save_deadline_ms) /* --deadline bounds each of take and fetch */
      h->steps[h->n_steps - 1].timeout_ms = p->save_deadline_ms;
  }
  plan_strv_release(&argv);
  if (rc ||
      (rc = plan_add_step(h, EDR_STEP_FETCH_SNAPSHOT,
                          json_pack("{s:s, s:s}", "op", "send", "path", h->host_snapshot), NULL,
                          "stream %s back to this machine (sha-256 checked here)",
                          h->host_snapshot)))
    return rc;
  if (p->save_deadline_ms)
    h->steps[h->n_steps - 1].timeout_ms = p->save_deadline_ms;
  return plan_add_step(h, EDR_STEP_UNSTAGE,
                       json_pack("{s:s, s:s}", "op", "remove", "path", h->staging), NULL,
                       "remove the staging directory %s", h->staging);
}
