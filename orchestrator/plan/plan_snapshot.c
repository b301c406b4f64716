/*
 * plan_snapshot.c - the steps of `etcd-dr snapshot save --via ssh` on the
 * member's host (EDR_PLAN_SNAPSHOT): the agent takes the snapshot from the
 * member's client URL with the host's certificates into a staging
 * directory (no etcd tool needed there) and streams it back.  The steps
 * belong to the host plan (plan_int.h).
 */
#include "plan_int.h"

#include "err.h"

/* snapshot save --via ssh: the agent on the member's host writes the
 * snapshot into a staging directory next to etcd's data (same disk, checked for free
 * space first), the agent streams it back, the staging goes.  The agent
 * removes the staging when it exits too, so a connection lost half-way
 * leaves nothing on the host. */
int plan_snapshot_host(struct edr_plan *p, struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  int rc;
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
  if ((rc = plan_add_step(h, EDR_STEP_STAGE_DIR,
                          json_pack("{s:s, s:s, s:b}", "op", "mkdir", "path", h->staging,
                                    "remove_at_exit", 1),
                          NULL, "create the staging directory %s (removed when the agent exits)",
                          h->staging)))
    return rc;
  /* The agent asks the member itself (no etcd tool on the host): connect
   * and TLS bounded by 5 s, then no byte for p->save_idle_ms
   * (--stall-timeout) fails it, and the whole by the deadline.  A user's
   * name and password are added as the request is sent (never in the
   * plan: cmd/snapshot_ssh.c). */
  json_t *req = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:I}", "op",
                          "etcd-snapshot", "url", m->client_urls.v[0], "path", h->host_snapshot,
                          "cacert", m->etcdctl_cacert, "cert", m->etcdctl_cert, "key",
                          m->etcdctl_key, "connect_timeout_ms", (json_int_t)5000,
                          "idle_timeout_ms", (json_int_t)p->save_idle_ms);
  rc = plan_add_step(h, EDR_STEP_TAKE_SNAPSHOT, req, NULL,
                     "the agent takes the snapshot: POST %s/v3/maintenance/snapshot%s, "
                     "written to %s (stopped if nothing comes for %.1f s)",
                     m->client_urls.v[0], m->etcdctl_cert ? " with the host's certificate"
                                                          : "",
                     h->host_snapshot, (double)p->save_idle_ms / 1000);
  if (!rc && p->save_deadline_ms) { /* --deadline bounds each of take and fetch */
    struct edr_step *s = &h->steps[h->n_steps - 1];
    s->timeout_ms = p->save_deadline_ms;
    json_object_set_new(s->request, "timeout_ms", json_integer((json_int_t)s->timeout_ms));
  }
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
