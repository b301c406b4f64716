/*
 * snapshot_ssh.c - the "--via ssh" half of `etcd-dr snapshot save`: the
 * snapshot is taken on the member's own host by its agent, which asks the
 * member's client URL with the host's certificates (no etcd tool needed
 * there), and streamed back over the host's one SSH connection
 * (snapshot_save.h; lent to the save as edr_save_opts.fetch_ssh, declared
 * in driver.h).
 *
 * This is a one-host run of the executor on a plan of kind
 * EDR_PLAN_SNAPSHOT (plan_snapshot.c: connect, push the agent, probe free
 * space, make a staging directory that the agent removes when it exits,
 * the agent's etcd-snapshot into it, `send` it back, remove it).  The
 * bytes go to the caller's sink as they arrive; the file handling (FILE.part, fsync, the
 * trailer check, rename) stays in snapshot_save.c, shared with the direct
 * path.  With an etcd user (auth.h) the agent authenticates at the member
 * first; the name and password are in that request only.  The static agent
 * resolves no names, so a client URL whose host is a name is looked up here,
 * once before the run (etcd/resolve.h), and the request carries the address
 * as "addr" (the agent still verifies TLS against the name).
 */
#include "commands.h"
#include "driver.h"

#include "auth.h"
#include "cli.h"
#include "err.h"
#include "executor.h"
#include "log.h"
#include "plan.h"
#include "resolve.h"
#include "snapshot_save.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Bytes free where the snapshot goes: a host that announces more is
 * refused before it sends anything (0: unknown, no bound). */
static uint64_t free_where(const struct edr_save_opts *o) {
  char dir[4096];
  struct statvfs vfs;
  if (o->dir)
    snprintf(dir, sizeof dir, "%s", o->dir);
  else if (o->out && strrchr(o->out, '/'))
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(o->out, '/') - o->out + 1), o->out);
  else
    snprintf(dir, sizeof dir, ".");
  return statvfs(dir, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
}

/* What the take-snapshot request gets as it is sent.  The agent
 * authenticates as the save's user at the member it asks (docs/auth.md):
 * the name and password go in (never in the plan), over the host's SSH
 * session only; the token etcd gives stays on the host.  ADDR: the
 * address resolved here for a client URL with a host name. */
struct take_fill {
  const struct edr_plan *plan;          /* the one-host plan */
  const struct edr_etcd_user *user;     /* borrowed; NULL: none */
  char addr[INET6_ADDRSTRLEN];          /* "": the agent connects to the URL's host */
};

static int fill_take(void *arg, size_t host, size_t step, json_t *req) {
  struct take_fill *w = arg;
  if (w->plan->hosts[host].steps[step].kind != EDR_STEP_TAKE_SNAPSHOT)
    return 0;
  if (w->addr[0] && json_object_set_new(req, "addr", json_string(w->addr)))
    return EDR_ENOMEM;
  if (!w->user)
    return 0;
  return json_object_set_new(req, "user", json_string(w->user->name)) ||
                 json_object_set_new(req, "password", json_string(w->user->password))
             ? EDR_ENOMEM
             : 0;
}

int edr_snapshot_fetch_ssh(const struct edr_spec *spec, size_t member,
                           const struct edr_save_opts *o, edr_snapstream_sink sink,
                           void *sink_arg, char agent_sha256[65], struct edr_error *err) {
  struct edr_plan_opts po = {.kind = EDR_PLAN_SNAPSHOT, .snapshot_revision = -1,
                             .command = "snapshot save",
                             .save_idle_ms = o->stall_timeout_ms,
                             .save_deadline_ms = o->deadline_ms ? o->deadline_ms
                                                                : 3600u * 1000u};
  struct edr_plan *plan = NULL;
  const struct edr_member *m = &spec->members[member];
  int rc = edr_plan_build(spec, &po, &plan, err);
  agent_sha256[0] = '\0';
  if (rc)
    return rc;
  /* One host of the plan: the others are not contacted. */
  struct edr_plan one = *plan;
  one.hosts = &plan->hosts[member];
  one.n_hosts = 1;
  struct take_fill wu = {.plan = &one, .user = o->user && o->user->name ? o->user : NULL};
  /* before anything is asked of the host */
  if ((rc = edr_url_addr(m->client_urls.v[0], wu.addr,
                         "put an IP address in the spec's client_urls, or use --via direct",
                         err))) {
    edr_plan_free(plan);
    return rc;
  }
  struct edr_exec_opts eo = {
    .accept_new_hostkeys = o->accept_new_hostkeys,
    .stall_timeout_ms = o->stall_timeout_ms ? o->stall_timeout_ms : 30000,
    .fetch_sink = sink,
    .fetch_arg = sink_arg,
    .fetch_max_bytes = free_where(o),
    .fill = fill_take,
    .hook_arg = &wu,
  };
  /* Progress goes to a terminal only: stdout carries the result. */
  eo.quiet = !isatty(STDERR_FILENO) && edr_verbosity < 1;
  if (!eo.quiet)
    edr_info("taking a snapshot on %s's host %s: its agent asks %s%s%s%s", m->name,
             m->ssh_host, m->client_urls.v[0], wu.addr[0] ? " (at " : "", wu.addr,
             wu.addr[0] ? ", resolved here)" : "");
  struct edr_run_result res;
  int code = edr_execute(&one, &eo, &res);

  const struct edr_host_result *hr = res.n_hosts == 1 ? &res.hosts[0] : NULL;
  if (code == 0 && hr) {
    for (size_t k = 0; k < one.hosts->n_steps && k < hr->n_steps; k++)
      if (one.hosts->steps[k].kind == EDR_STEP_FETCH_SNAPSHOT) {
        const char *sha = json_string_value(json_object_get(hr->steps[k].result, "sha256"));
        snprintf(agent_sha256, 65, "%s", sha ? sha : "");
      }
    rc = agent_sha256[0] ? 0
                         : edr_error_set(err, EDR_EPROTO, "the agent on %s sent no sha-256 "
                                         "for the snapshot", m->ssh_host);
  } else {
    const char *step = "?";
    for (size_t k = 0; hr && k < one.hosts->n_steps && k < hr->n_steps; k++)
      if (hr->steps[k].started && hr->steps[k].status)
        step = edr_step_kinds[one.hosts->steps[k].kind].name;
    rc = code == EDR_EXIT_INTERRUPTED ? EDR_ECANCELED
         : hr && hr->status            ? hr->status
                                       : EDR_EREMOTE;
    const char *msg = hr && hr->message ? hr->message
                      : res.message     ? res.message
                                        : edr_strerror(rc);
    /* etcd's refusal of a save without a user, or of the user's password,
     * says what to set, as the direct path does (docs/auth.md) */
    edr_error_set(err, rc, "%s: %s%s%s", step, msg, edr_etcd_auth_hint(msg, o->user),
                  rc == EDR_EETCDAUTH && o->user && o->user->name
                      ? " (check ETCDCTL_USER, or --user and ETCDCTL_PASSWORD)" : "");
  }
  edr_run_result_release(&res);
  edr_plan_free(plan);
  return rc;
}
