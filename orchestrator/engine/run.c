/*
 * run.c - one run of a plan (executor.h): set up the loop, the signals and
 * each host's connection, run until every host settled, then decide the
 * exit status (docs/exit-codes.md) and free everything.  The agent
 * binaries are found in agents.c.
 */
#include "engine.h"

#include "relay.h"

#include "err.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "prompt.h"
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

void eng_info(const struct run *r, const char *fmt, ...) {
  if (r->opts->quiet)
    return;
  struct edr_str line = EDR_STR_INIT;
  va_list ap;
  va_start(ap, fmt);
  edr_str_vappendf(&line, fmt, ap);
  va_end(ap);
  edr_info("%s", line.buf);
  edr_str_release(&line);
}

static void on_signal(uv_signal_t *s, int signum) {
  struct run *r = s->data;
  if (r->interrupted) {
    edr_err("interrupted twice: exiting now; hosts may be mid-step");
    _exit(EDR_EXIT_INTERRUPTED);
  }
  edr_err("interrupted (signal %d): stopping at the next safe point; interrupt again "
          "to exit at once", signum);
  r->interrupted = true;
  if (r->gate_running && r->gate_ops && r->gate_ops->cancel)
    r->gate_ops->cancel(&r->gate);
  if (r->gate_running && r->plan->stages[r->stage].gate == EDR_GATE_PAUSE) {
    uv_timer_stop(&r->gate_timer);
    r->gate_running = false;
    eng_gate_finish(r, EDR_ECANCELED, "interrupted");
    return;
  }
  eng_check_barrier(r);
}

static void walk_close(uv_handle_t *hd, void *arg) {
  (void)arg;
  if (!uv_is_closing(hd))
    uv_close(hd, NULL);
}

bool edr_exec_interactive(void) { return edr_prompt_interactive(); }

int edr_execute(const struct edr_plan *plan, const struct edr_exec_opts *o,
                struct edr_run_result *res) {
  struct run r = {.plan = plan, .opts = o, .res = res, .n = plan->n_hosts, .leader_host = -1,
                  .ops = o->agent_ops ? o->agent_ops : &edr_agent_ssh_ops,
                  .gate = {.note = EDR_STR_INIT, .problem = EDR_STR_INIT},
                  .gate_note = EDR_STR_INIT};
  memset(res, 0, sizeof(*res));
  res->n_hosts = plan->n_hosts;
  res->hosts = calloc(plan->n_hosts, sizeof(*res->hosts));
  r.hosts = calloc(plan->n_hosts, sizeof(*r.hosts));
  r.started_ms = edr_now_ms();
  if (!res->hosts || !r.hosts) {
    free(r.hosts);
    res->exit_code = EDR_EXIT_INTERNAL;
    res->message = strdup("out of memory");
    return res->exit_code;
  }
  res->gates = calloc(plan->n_stages ? plan->n_stages : 1, sizeof(*res->gates));
  res->n_stages = res->gates ? plan->n_stages : 0;
  for (size_t i = 0; i < r.n; i++) {
    res->hosts[i].member = plan->hosts[i].member->name;
    res->hosts[i].steps = calloc(plan->hosts[i].n_steps, sizeof(struct edr_step_result));
    res->hosts[i].n_steps = plan->hosts[i].n_steps;
  }
  if (o->keep_going && !edr_plan_kinds[plan->kind].keep_going_allowed) {
    free(r.hosts);
    res->exit_code = EDR_EXIT_INTERNAL;
    res->message = strdup("keep-going is only for a plan that changes nothing (an etcd-dr "
                          "bug)");
    return res->exit_code;
  }
  struct edr_error why = EDR_ERROR_INIT;
  if (edr_agents_find(&r.agents, o->agent_path, &why)) {
    res->exit_code = EDR_EXIT_INTERNAL;
    res->message = edr_str_detach(&why.msg);
    edr_agents_release(&r.agents);
    free(r.hosts);
    return res->exit_code;
  }
  uint8_t key[EDR_RELAY_KEY];
  if (plan->relay && edr_relay_key_new(key)) {
    res->exit_code = EDR_EXIT_INTERNAL;
    res->message = strdup("no random bytes for the relay's key (getrandom failed)");
    edr_agents_release(&r.agents);
    free(r.hosts);
    return res->exit_code;
  }
  if (plan->relay)
    edr_relay_key_hex(key, r.relay_key);
  r.snap_revision = plan->snapshot_revision;
  uv_loop_init(&r.loop);
  uv_signal_init(&r.loop, &r.sigint);
  uv_signal_init(&r.loop, &r.sigterm);
  r.sigint.data = r.sigterm.data = &r;
  uv_signal_start(&r.sigint, on_signal, SIGINT);
  uv_signal_start(&r.sigterm, on_signal, SIGTERM);
  /* Signals must not keep the loop alive once every host is done. */
  uv_unref((uv_handle_t *)&r.sigint);
  uv_unref((uv_handle_t *)&r.sigterm);
  uv_timer_init(&r.loop, &r.gate_timer);
  r.gate_timer.data = &r;
  eng_ask_init(&r);
  r.first_destructive = edr_plan_first_destructive(plan);
  eng_alive_init(&r);
  for (size_t i = 0; i < r.n; i++) {
    struct host *h = &r.hosts[i];
    h->run = &r;
    h->hp = &plan->hosts[i];
    h->m = h->hp->member;
    h->res = &res->hosts[i];
    h->target = (struct edr_agent_target){
      .name = h->m->name, .ssh_host = h->m->ssh_host, .ssh_user = h->m->ssh_user,
      .identity_file = h->m->identity_file, .known_hosts = h->m->known_hosts,
      .proxy_jump = h->m->proxy_jump, .proxy_command = h->m->proxy_command,
      .ssh_config = h->m->ssh_config, .identities_only = h->m->identities_only,
      .ssh_port = h->m->ssh_port, .sudo = h->m->sudo,
      .accept_new_hostkeys = o->accept_new_hostkeys, .stall_timeout_ms = o->stall_timeout_ms,
      .fetch_sink = o->fetch_sink, .fetch_arg = o->fetch_arg,
      .fetch_max_bytes = o->fetch_max_bytes,
      /* libssh2 counts whole seconds from its last keepalive: half the
       * tick makes every tick send one */
      .keepalive_s = r.keepalive_ms >= 2000 ? (unsigned)(r.keepalive_ms / 2000) : 1,
    };
    /* The agent with TLS only where the run may ask an https URL through
     * it; the one without (a quarter of the bytes) everywhere else. */
    h->variant = edr_health_route_tls_on_host(plan, i) ? EDR_AGENT_FULL : EDR_AGENT_NOTLS;
    for (int a = 0; a < EDR_ARCH__COUNT; a++) {
      const struct edr_agent_file *f = edr_agents_pick(&r.agents, a, h->variant);
      h->agent[a] = f;
      if (f)
        h->target.agents[a] = (struct edr_agent_bin){.path = f->path, .size = f->size,
                                                     .gz_path = f->gz_path,
                                                     .gz_size = f->gz_size};
    }
    if (edr_verbosity >= 1)
      edr_info("%s: the agent %s tls: %s", h->m->name,
               h->variant == EDR_AGENT_FULL ? "with" : "without",
               h->variant == EDR_AGENT_FULL
                   ? "its https client URL may be asked through its host"
                   : "nothing this run does asks an https URL through its host");
    uv_timer_init(&r.loop, &h->retry_timer);
    h->retry_timer.data = h;
    h->conn = r.ops->open(&r.loop, &h->target, &eng_conn_events, h);
    if (!h->conn || !h->res->steps) {
      eng_host_fail(h, EDR_ENOMEM, "out of memory");
      continue;
    }
    /* Passphrases of encrypted keys: asked once per key file, here, before
     * any host is contacted and before the live display starts. */
    struct edr_error kerr = EDR_ERROR_INIT;
    int krc = r.ops->unlock ? r.ops->unlock(&h->target, &kerr) : 0;
    r.interrupted |= krc == EDR_ECANCELED; /* ^C at the prompt: the run ends as interrupted */
    if (krc)
      eng_host_fail(h, krc == EDR_ECANCELED ? EDR_ECANCELED : EDR_EAUTH, "%s",
                    edr_error_text(&kerr));
    edr_error_release(&kerr);
  }
  const char **names = calloc(r.n, sizeof(char *));
  for (size_t i = 0; names && i < r.n; i++)
    names[i] = plan->hosts[i].member->name;
  if (names && !o->quiet)
    r.progress = edr_progress_begin(&r.loop, r.n, names);
  r.handle.run = &r;
  if (o->on_loop)
    o->on_loop(o->want_ask_arg, &r.loop, &r.handle);
  for (size_t i = 0; i < r.n; i++)
    if (!r.hosts[i].failed)
      eng_advance(&r.hosts[i]);
  r.launched = true;
  eng_alive_start(&r);
  eng_check_barrier(&r); /* hosts may all be idle already (no steps, or failed) */
  uv_run(&r.loop, UV_RUN_DEFAULT);
  edr_progress_end(r.progress);
  free(names);

  /* Everything has settled.  A host that is neither closed nor failed was
   * left waiting by a bug: never report such a run as a success. */
  for (size_t i = 0; i < r.n; i++) {
    struct host *h = &r.hosts[i];
    if (!h->closed && !h->failed) {
      h->failed = true;
      h->res->status = EDR_EINTERNAL;
      free(h->res->message);
      h->res->message = edr_asprintf("the run stalled at step %zu (%s): an etcd-dr bug; "
                                     "the summary says where the host stands", h->step + 1,
                                     eng_step_name(h));
      edr_err("%s: %s", h->m->name, h->res->message ? h->res->message : "stalled");
    }
  }
  bool any_failed = false, any_changed = false;
  for (size_t i = 0; i < r.n; i++) {
    any_failed |= r.hosts[i].failed;
    any_changed |= res->hosts[i].outcome != EDR_HOST_UNTOUCHED;
  }
  if (r.declined)
    res->exit_code = EDR_EXIT_DECLINED;
  else if (r.interrupted) /* whatever else happened: the summary says where hosts stand */
    res->exit_code = EDR_EXIT_INTERRUPTED;
  else if (r.health_gate_failed && !any_failed)
    res->exit_code = EDR_EXIT_UNHEALTHY;
  else if (any_failed || r.gate_failed)
    res->exit_code = any_changed ? EDR_EXIT_APPLY : EDR_EXIT_PREFLIGHT;
  else
    res->exit_code = 0;
  if (r.health_gate_failed) {
    free(res->message);
    res->message = strdup(r.gate.problem.len ? r.gate.problem.buf : "cluster not healthy");
  }
  res->duration_ms = edr_now_ms() - r.started_ms;

  for (size_t i = 0; i < r.n; i++) {
    struct host *h = &r.hosts[i];
    json_decref(h->probe);
    json_decref(h->cleanup);
    json_decref(h->marker_done);
    free(h->refused);
  }
  uv_walk(&r.loop, walk_close, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  eng_ask_release(&r);
  for (size_t i = 0; i < r.n; i++) {
    r.ops->free(r.hosts[i].conn);
    if (r.hosts[i].lost_conn)
      r.ops->free(r.hosts[i].lost_conn);
  }
  eng_compress_end(&r); /* no push borrows the stream any more */
  uv_loop_close(&r.loop);
  edr_str_release(&r.gate.note);
  edr_str_release(&r.gate.problem);
  edr_str_release(&r.gate_note);
  free(r.hosts);
  edr_agents_release(&r.agents);
  return res->exit_code;
}
