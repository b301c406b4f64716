/*
 * plan_discover.c - the steps of `etcd-dr discover HOST` (EDR_PLAN_DISCOVER):
 * connect, push the agent, and one read-only request that reads how etcd
 * is started there and the members in its db.  The steps belong to the
 * host plan (plan_int.h); discover_spec.c makes the spec from the reply.
 */
#include "plan_int.h"

#include "err.h"

/* discover: connect, push the agent, one read-only request. */
int plan_discover_host(const struct edr_plan_opts *o, struct edr_host_plan *h) {
  json_t *req = json_deep_copy(o->discover ? o->discover : json_object());
  int rc;
  if (!req || json_object_set_new(req, "op", json_string("discover"))) {
    json_decref(req);
    return EDR_ENOMEM;
  }
  if ((rc = edr_plan_connect_step(h)) ||
      (rc = plan_add_step(h, EDR_STEP_PUSH_AGENT, NULL, NULL,
                          "check the architecture, push etcd-dr-agent, start it%s",
                          h->member->sudo ? " with sudo -n" : "")) ||
      (rc = plan_add_step(h, EDR_STEP_DISCOVER, req, NULL,
                          "read how etcd is started (manifest, unit, env files, config file, "
                          "container) and the members in its db (read only)")))
    return rc;
  return 0;
}
