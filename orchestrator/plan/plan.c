/*
 * plan.c - compile a spec into a plan: restore and check plans, the
 * stages and steps playbooks add, and the tables of step and plan kinds
 * (plan.h).  The other kinds' host plans are built by plan_rollback.c,
 * plan_snapshot.c, plan_discover.c and plan_prune.c with what plan_int.h
 * lends them; print.c prints every plan.
 */
#include "plan.h"
#include "plan_int.h"

#include "err.h"
#include "quote.h"
#include "util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const edr_compress_names[] = {
  [EDR_COMPRESS_AUTO] = "auto", [EDR_COMPRESS_ON] = "on", [EDR_COMPRESS_OFF] = "off",
};

/* Timeouts bound each step as a whole; the push scales with the size and is
 * also bounded by a no-progress timer in the executor. */
const struct edr_step_kind_info edr_step_kinds[EDR_STEP__COUNT] = {
  [EDR_STEP_CONNECT] = {.name = "connect", .phase = EDR_PHASE_CHECK,
                        .timeout_ms = 15000},
  [EDR_STEP_PUSH_AGENT] = {.name = "push-agent", .phase = EDR_PHASE_CHECK,
                           .timeout_ms = 30000},
  [EDR_STEP_PROBE] = {.name = "probe", .phase = EDR_PHASE_CHECK, .on_agent = true,
                      .timeout_ms = 30000},
  [EDR_STEP_LOCK] = {.name = "lock", .phase = EDR_PHASE_CHECK, .on_agent = true,
                     .timeout_ms = 30000},
  [EDR_STEP_FIND_OLD] = {.name = "find-old", .phase = EDR_PHASE_CHECK, .on_agent = true,
                         .timeout_ms = 30000},
  [EDR_STEP_PUSH_TOOL] = {.name = "push-tool", .phase = EDR_PHASE_PREPARE,
                          .on_agent = true, .timeout_ms = 120000},
  [EDR_STEP_TOOL_MODE] = {.name = "tool-mode", .phase = EDR_PHASE_PREPARE,
                          .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_PUSH_SNAPSHOT] = {.name = "push-snapshot", .phase = EDR_PHASE_PREPARE,
                              .on_agent = true, .timeout_ms = 3600000},
  [EDR_STEP_RESTORE] = {.name = "restore", .phase = EDR_PHASE_PREPARE,
                        .on_agent = true, .timeout_ms = 600000},
  [EDR_STEP_HOLD_LOCK] = {.name = "hold-lock", .phase = EDR_PHASE_APPLY, .on_agent = true,
                          .timeout_ms = 30000},
  [EDR_STEP_STOP] = {.name = "stop", .phase = EDR_PHASE_APPLY, .destructive = true,
                     .on_agent = true, .timeout_ms = 120000},
  [EDR_STEP_CHECK_STOPPED] = {.name = "check-stopped", .phase = EDR_PHASE_APPLY,
                              .on_agent = true, .timeout_ms = 35000},
  [EDR_STEP_MOVE_ASIDE] = {.name = "move-aside", .phase = EDR_PHASE_APPLY,
                           .destructive = true, .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_MOVE_ASIDE_WAL] = {.name = "move-aside-wal", .phase = EDR_PHASE_APPLY,
                               .destructive = true, .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_INSTALL] = {.name = "install", .phase = EDR_PHASE_APPLY,
                        .destructive = true, .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_INSTALL_WAL] = {.name = "install-wal", .phase = EDR_PHASE_APPLY,
                            .destructive = true, .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_OWNERSHIP] = {.name = "ownership", .phase = EDR_PHASE_APPLY,
                          .destructive = true, .on_agent = true, .timeout_ms = 120000},
  [EDR_STEP_OWNERSHIP_WAL] = {.name = "ownership-wal", .phase = EDR_PHASE_APPLY,
                              .destructive = true, .on_agent = true, .timeout_ms = 120000},
  [EDR_STEP_START] = {.name = "start", .phase = EDR_PHASE_APPLY, .destructive = true,
                      .on_agent = true, .timeout_ms = 120000},
  [EDR_STEP_CLEANUP] = {.name = "cleanup", .phase = EDR_PHASE_CLEANUP,
                        .on_agent = true, .timeout_ms = 60000},
  [EDR_STEP_UNLOCK] = {.name = "unlock", .phase = EDR_PHASE_CLEANUP,
                       .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_MOVE_BACK] = {.name = "move-back", .phase = EDR_PHASE_APPLY,
                          .destructive = true, .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_EXEC] = {.name = "exec", .phase = EDR_PHASE_APPLY, .destructive = true,
                     .on_agent = true, .timeout_ms = 300000},
  [EDR_STEP_EXEC_RO] = {.name = "exec", .phase = EDR_PHASE_PREPARE, .on_agent = true,
                        .timeout_ms = 300000},
  [EDR_STEP_SET_ENV] = {.name = "set-env", .phase = EDR_PHASE_APPLY, .destructive = true,
                        .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_RESET_ENV] = {.name = "reset-env", .phase = EDR_PHASE_APPLY,
                          .destructive = true, .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_STAGE_DIR] = {.name = "stage-dir", .phase = EDR_PHASE_CHECK,
                          .on_agent = true, .timeout_ms = 30000},
  [EDR_STEP_TAKE_SNAPSHOT] = {.name = "take-snapshot", .phase = EDR_PHASE_CHECK,
                              .on_agent = true, .timeout_ms = 3600000},
  [EDR_STEP_FETCH_SNAPSHOT] = {.name = "fetch-snapshot", .phase = EDR_PHASE_CHECK,
                               .on_agent = true, .timeout_ms = 3600000},
  [EDR_STEP_UNSTAGE] = {.name = "remove-staging", .phase = EDR_PHASE_CHECK,
                        .on_agent = true, .timeout_ms = 60000},
  [EDR_STEP_ASK] = {.name = "ask-etcd", .phase = EDR_PHASE_CHECK, .on_agent = true,
                    .timeout_ms = 20000},
  [EDR_STEP_LIST_ASIDE] = {.name = "list-aside", .phase = EDR_PHASE_CHECK,
                           .on_agent = true, .timeout_ms = 120000},
  [EDR_STEP_PRUNE] = {.name = "prune", .phase = EDR_PHASE_APPLY, .destructive = true,
                      .on_agent = true, .timeout_ms = 1800000},
  [EDR_STEP_CHECK_SNAPSHOT] = {.name = "check-snapshot", .phase = EDR_PHASE_CHECK,
                               .on_agent = true, .timeout_ms = 1800000},
  [EDR_STEP_RELAY_CHECK] = {.name = "relay-check", .phase = EDR_PHASE_CHECK,
                            .on_agent = true, .timeout_ms = 60000},
  [EDR_STEP_DISCOVER] = {.name = "discover", .phase = EDR_PHASE_CHECK, .on_agent = true,
                         .timeout_ms = 60000},
};

const char *const edr_gate_names[EDR_GATE__COUNT] = {
  [EDR_GATE_NONE] = "",
  [EDR_GATE_HEALTH] = "health",
  [EDR_GATE_WAIT_HEALTHY] = "wait-healthy",
  [EDR_GATE_MEMBER_ADD] = "member-add",
  [EDR_GATE_MEMBER_REMOVE] = "member-remove",
  [EDR_GATE_SNAPSHOT_SAVE] = "snapshot-save",
  [EDR_GATE_CONFIRM] = "confirm",
  [EDR_GATE_PAUSE] = "pause",
};

const char *const edr_phase_names[EDR_PHASE__COUNT] = {
  [EDR_PHASE_CHECK] = "check",
  [EDR_PHASE_PREPARE] = "prepare",
  [EDR_PHASE_APPLY] = "apply",
  [EDR_PHASE_CLEANUP] = "cleanup",
};

const struct edr_plan_kind_info edr_plan_kinds[EDR_PLAN__COUNT] = {
  [EDR_PLAN_RESTORE] = {.changes_hosts = true, .marks_apply_steps = true, .leader_last = true,
                        .auto_bump = true, .probe = EDR_PROBE_RESTORE},
  [EDR_PLAN_CHECK] = {.keep_going_allowed = true, .probe = EDR_PROBE_RESTORE},
  [EDR_PLAN_ROLLBACK] = {.changes_hosts = true, .leader_last = true,
                         .probe = EDR_PROBE_NOTHING},
  [EDR_PLAN_RUN] = {.changes_hosts = true, .leader_last = true, .auto_bump = true,
                    .operator_stages = true, .unlock_on_abort = true,
                    .probe = EDR_PROBE_RESTORE_STEPS},
  [EDR_PLAN_SNAPSHOT] = {.changes_hosts = true, .probe = EDR_PROBE_SNAPSHOT_ROOM},
  [EDR_PLAN_PRUNE] = {.changes_hosts = true, .leader_last = true, .probe = EDR_PROBE_NOTHING},
  [EDR_PLAN_DISCOVER] = {.probe = EDR_PROBE_NOTHING},
};

void edr_new_run_id(char *buf, size_t len) {
  time_t now = time(NULL);
  struct tm tm;
  unsigned char rnd[2] = {0, 0};
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd)
      rnd[0] = (unsigned char)getpid(), rnd[1] = (unsigned char)(getpid() >> 8);
    close(fd);
  }
  gmtime_r(&now, &tm);
  snprintf(buf, len, "%04d%02d%02d-%02d%02d%02d-%02x%02x", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd[0],
           rnd[1]);
}

static char *dirname_of(const char *p) {
  const char *s = strrchr(p, '/');
  if (!s || s == p)
    return strdup("/");
  return strndup(p, (size_t)(s - p));
}

static char *basename_of(const char *p) {
  const char *s = strrchr(p, '/');
  return strdup(s ? s + 1 : p);
}

static char *join_csv(const struct edr_strv *sv) {
  size_t len = 1;
  for (size_t i = 0; i < sv->n; i++)
    len += strlen(sv->v[i]) + 1;
  char *out = calloc(1, len);
  if (!out)
    return NULL;
  for (size_t i = 0; i < sv->n; i++) {
    if (i)
      strcat(out, ",");
    strcat(out, sv->v[i]);
  }
  return out;
}

json_t *plan_strv_json(const struct edr_strv *sv) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < sv->n; i++)
    json_array_append_new(a, json_string(sv->v[i]));
  return a;
}

static struct edr_step *vadd_step(struct edr_host_plan *h, size_t stage,
                                  enum edr_step_kind kind, json_t *request,
                                  char *const *argv, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));
static struct edr_step *vadd_step(struct edr_host_plan *h, size_t stage,
                                  enum edr_step_kind kind, json_t *request,
                                  char *const *argv, const char *fmt, va_list ap) {
  struct edr_step *ns = realloc(h->steps, (h->n_steps + 1) * sizeof(*ns));
  if (!ns) {
    json_decref(request);
    return NULL;
  }
  h->steps = ns;
  struct edr_step *s = &ns[h->n_steps];
  memset(s, 0, sizeof(*s));
  s->kind = kind;
  s->stage = stage;
  s->request = request;
  s->timeout_ms = edr_step_kinds[kind].timeout_ms;
  if (vasprintf(&s->title, fmt, ap) < 0)
    s->title = NULL;
  if (argv) {
    size_t n = 0;
    while (argv[n])
      n++;
    if ((s->argv = calloc(n + 1, sizeof(char *))))
      for (size_t i = 0; i < n; i++)
        if (!(s->argv[i] = strdup(argv[i])))
          return h->n_steps++, NULL;
    s->command = s->argv ? edr_quote_argv(s->argv) : NULL;
  }
  h->n_steps++;
  if (!s->title || (argv && !s->command))
    return NULL;
  if (edr_step_kinds[kind].on_agent && !request)
    return NULL;
  if (request)
    json_object_set_new(request, "timeout_ms", json_integer((json_int_t)s->timeout_ms));
  return s;
}

struct edr_step *edr_plan_add_step(struct edr_host_plan *h, size_t stage,
                                   enum edr_step_kind kind, json_t *request,
                                   char *const *argv, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  struct edr_step *s = vadd_step(h, stage, kind, request, argv, fmt, ap);
  va_end(ap);
  return s;
}

/* Append a restore step: its stage is the one of its phase. */
int plan_add_step(struct edr_host_plan *h, enum edr_step_kind kind,
                  json_t *request, char *const *argv, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  struct edr_step *s = vadd_step(h, h->phase_stage[edr_step_kinds[kind].phase], kind,
                                 request, argv, fmt, ap);
  va_end(ap);
  return s ? 0 : EDR_ENOMEM;
}

static json_t *run_request(const struct edr_strv *argv) {
  return json_pack("{s:s, s:o, s:n}", "op", "run", "argv", plan_strv_json(argv), "env");
}

/* The restore argv.  argv[0] is "auto" when the tool is found on the host at
 * probe time; the executor substitutes the path it found. */
static int restore_argv(const struct edr_plan *p, const struct edr_host_plan *h,
                        struct edr_strv *out, char **purls) {
  const struct edr_member *m = h->member;
  const char *tool = h->host_tool ? h->host_tool : m->restore_tool;
  const char *args[32];
  size_t n = 0;
  if (!(*purls = join_csv(&m->peer_urls)))
    return EDR_ENOMEM;
  args[n++] = tool;
  args[n++] = "snapshot";
  args[n++] = "restore";
  args[n++] = h->host_snapshot;
  args[n++] = "--name";
  args[n++] = m->name;
  args[n++] = "--initial-cluster";
  args[n++] = p->initial_cluster;
  args[n++] = "--initial-cluster-token";
  args[n++] = p->token;
  args[n++] = "--initial-advertise-peer-urls";
  args[n++] = *purls;
  args[n++] = "--data-dir";
  args[n++] = h->restore_dir;
  if (h->wal_staging) {
    args[n++] = "--wal-dir";
    args[n++] = h->wal_staging;
  }
  /* Always: either the operator said so (a file without a trailer), or the
   * agent has just checked the pushed file's sha-256 and its trailer, and
   * etcd's tool would hash the same bytes again (0.18 s of CPU per 77 MB for
   * etcdctl 3.4, per host).  A host tool without the flag gets the argv
   * without it (engine/host.c), unless the operator asked for it. */
  args[n++] = "--skip-hash-check";
  char bump[32];
  if (p->bump_revision > 0) { /* auto (-1) is filled in after every probe */
    snprintf(bump, sizeof bump, "%lld", (long long)p->bump_revision);
    args[n++] = "--bump-revision";
    args[n++] = bump;
    args[n++] = "--mark-compacted";
  }
  args[n] = NULL;
  for (size_t i = 0; i < n; i++) {
    char **nv = realloc(out->v, (out->n + 2) * sizeof(*nv));
    if (!nv)
      return EDR_ENOMEM;
    out->v = nv;
    if (!(nv[out->n] = strdup(args[i])))
      return EDR_ENOMEM;
    nv[++out->n] = NULL;
  }
  return 0;
}

void plan_strv_release(struct edr_strv *sv) {
  for (size_t i = 0; i < sv->n; i++)
    free(sv->v[i]);
  free(sv->v);
}

json_t *edr_plan_member_ports(const struct edr_member *m) {
  json_t *a = json_array();
  const struct edr_strv *lists[2] = {&m->client_urls, &m->peer_urls};
  for (int l = 0; a && l < 2; l++)
    for (size_t i = 0; i < lists[l]->n; i++) {
      char scheme[8], host[256];
      int port;
      if (edr_parse_url(lists[l]->v[i], scheme, sizeof scheme, host, sizeof host, &port))
        json_array_append_new(a, json_integer(port));
    }
  return a;
}

/* AUTO: released by the agent if the connection ends first. */
static json_t *lock_request(const struct edr_plan *p, const struct edr_host_plan *h,
                            bool auto_release) {
  return json_pack("{s:s, s:s, s:{s:s, s:s}, s:b, s:b}", "op", "lock", "path", h->lock_path,
                   "holder", "run_id", p->run_id, "command", p->command, "break",
                   p->break_lock, "auto_release", auto_release);
}

json_t *edr_plan_lock_request(const struct edr_plan *p, const struct edr_host_plan *h,
                              bool auto_release) {
  return lock_request(p, h, auto_release);
}

static const char *tool_label(const char *t) {
  return strcmp(t, "auto") == 0 ? "etcdutl, else etcdctl, found on the host" : t;
}

/* The paths a run uses on a host; they depend only on the spec and run id,
 * so a rollback finds what the restore left. */
static int host_paths(struct edr_plan *p, struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  if (!(h->lock_path = edr_path_join(m->data_dir, ".etcd-dr-lock")) ||
      !(h->marker = edr_asprintf("%s/.etcd-dr-%s.done", m->data_dir, p->run_id)) ||
      !(h->failed_aside = edr_asprintf("%s/member.etcd-dr-%s-restored", m->data_dir,
                                       p->run_id)) ||
      !(h->staging = edr_asprintf("%s/.etcd-dr-%s", m->data_dir, p->run_id)) ||
      !(h->host_snapshot = edr_path_join(h->staging, "snapshot.db")) ||
      !(h->restore_dir = edr_path_join(h->staging, "data")) ||
      !(h->member_aside = edr_asprintf("%s/member.etcd-dr-%s", m->data_dir, p->run_id)))
    return EDR_ENOMEM;
  if (m->wal_dir) {
    char *parent = dirname_of(m->wal_dir);
    if (!parent)
      return EDR_ENOMEM;
    /* The restore tool creates the WAL dir (and WAL.tmp next to it) as
     * root: inside a directory of etcd-dr's own, never directly in one the
     * etcd user may write. */
    h->wal_holder = edr_asprintf("%s%s.etcd-dr-%s-wal", parent,
                                 strcmp(parent, "/") ? "/" : "", p->run_id);
    h->wal_staging = h->wal_holder ? edr_path_join(h->wal_holder, "wal") : NULL;
    free(parent);
    if (!h->wal_staging || !(h->wal_aside = edr_asprintf("%s.etcd-dr-%s", m->wal_dir, p->run_id)))
      return EDR_ENOMEM;
  }
  if (m->restore_tool_push && (p->kind == EDR_PLAN_RESTORE || p->kind == EDR_PLAN_RUN)) {
    char *base = basename_of(m->restore_tool_push);
    h->host_tool = base ? edr_asprintf("%s/bin/%s", h->staging, base) : NULL;
    free(base);
    if (!h->host_tool)
      return EDR_ENOMEM;
  }
  return 0;
}

/* status, for a member whose client URL does not answer from here (or
 * whose route goes through its host): its host's agent asks it each of
 * edr_etcd_queries (etcd-http) with the spec's TLS paths on the host, the
 * same questions as from here, read by the same parser. */
static int add_ask_steps(const struct edr_plan *p, struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  for (int q = 0; q < EDR_QUERY__COUNT; q++) {
    const struct edr_etcd_query_def *d = &edr_etcd_queries[q];
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "op", "etcd-http",
                            "url", m->client_urls.v[0], "method", d->method, "path", d->path,
                            "body", d->body, "cacert", m->etcdctl_cacert, "cert",
                            m->etcdctl_cert, "key", m->etcdctl_key);
    if (!req)
      return EDR_ENOMEM;
    if (p->ask_timeout_ms)
      json_object_set_new(req, "timeout_ms", json_integer((json_int_t)p->ask_timeout_ms));
    int rc = plan_add_step(h, EDR_STEP_ASK, req, NULL,
                           "ask the member %s %s%s from its host (only when its client URL "
                           "is not asked from here or does not answer)", d->method,
                           m->client_urls.v[0], d->path);
    if (rc)
      return rc;
  }
  return 0;
}


/* The connect step, with the route when the host is reached through a jump
 * host or a proxy command (transport/proxy.h). */
static int add_connect(struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  char route[1200] = "";
  if (m->proxy_jump)
    snprintf(route, sizeof route, " through jump host%s %s (OpenSSH's ssh -W; their host "
             "keys checked against %s too)", strchr(m->proxy_jump, ',') ? "s" : "",
             m->proxy_jump, m->known_hosts);
  else if (m->proxy_command)
    snprintf(route, sizeof route, " through the proxy command '%s'", m->proxy_command);
  return plan_add_step(h, EDR_STEP_CONNECT, NULL, NULL,
                       "connect to %s@%s:%d%s, check its host key against %s, authenticate",
                       m->ssh_user, m->ssh_host, m->ssh_port, route, m->known_hosts);
}

int edr_plan_connect_step(struct edr_host_plan *h) { return add_connect(h); }

/* check: connect, agent, probe, lock (reads only) */

static int build_check(struct edr_plan *p, struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  int rc;
  if ((rc = add_connect(h)))
    return rc;
  if ((rc = plan_add_step(h, EDR_STEP_PUSH_AGENT, NULL, NULL,
                          "check the architecture (x86-64 or aarch64), push its etcd-dr-agent "
                          "to a new temporary directory, start it%s",
                          m->sudo ? " with sudo -n" : "")))
    return rc;
  json_t *probe = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:o, s:s?}", "op", "probe",
                            "data_dir", m->data_dir, "wal_dir", m->wal_dir, "restore_tool",
                            h->host_tool ? "auto" : m->restore_tool, "staging", h->staging,
                            "ports", edr_plan_member_ports(m), "owner", m->data_dir_owner);
  if (probe && (rc = edr_plan_service_probe(m, probe))) {
    json_decref(probe);
    return rc;
  }
  if ((rc = plan_add_step(h, EDR_STEP_PROBE, probe,
                          NULL,
                          "probe (read only): restore tool (%s) and its flags, data dir %s, "
                          "free disk, whether etcd is running, what the apply steps need "
                          "(mount points, owner, stop and start commands)",
                          h->host_tool ? "pushed" : tool_label(m->restore_tool), m->data_dir)))
    return rc;
  if (p->check_only && p->ask_etcd && (rc = add_ask_steps(p, h)))
    return rc;
  if (p->check_only)
    return 0;
  if ((rc = edr_plan_route_checks(p, h)))
    return rc;
  if ((rc = plan_add_step(h, EDR_STEP_LOCK,
                          lock_request(p, h, true), NULL,
                          "take the host lock %s (refused while another run holds it; "
                          "released again if the run ends before apply)", h->lock_path)))
    return rc;
  return 0;
}

int edr_plan_hold_lock(struct edr_plan *p, struct edr_host_plan *h, size_t stage) {
  return edr_plan_add_step(h, stage, EDR_STEP_HOLD_LOCK, lock_request(p, h, false), NULL,
                           "keep the host lock until the run ends, even if the connection "
                           "is lost from here on") ? 0 : EDR_ENOMEM;
}

int edr_plan_check_steps(struct edr_plan *p, struct edr_host_plan *h, size_t stage) {
  h->phase_stage[EDR_PHASE_CHECK] = stage;
  return build_check(p, h);
}

/* prepare (stage only), apply, cleanup */
static int build_restore(struct edr_plan *p, const struct edr_plan_opts *o,
                         struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  char human[32];
  int rc;
  if (h->host_tool &&
      (rc = plan_add_step(h, EDR_STEP_PUSH_TOOL,
                          json_pack("{s:s, s:s, s:I, s:s}", "op", "receive", "path", h->host_tool,
                                    "size", (json_int_t)o->tool_size, "sha256",
                                    o->tool_sha256 ? o->tool_sha256 : ""),
                          NULL, "push restore tool %s to %s and verify its sha-256",
                          m->restore_tool_push, h->host_tool)))
    return rc;
  if (h->host_tool &&
      (rc = plan_add_step(h, EDR_STEP_TOOL_MODE,
                          json_pack("{s:s, s:s, s:s, s:s, s:b}", "op", "chown", "path",
                                    h->host_tool, "owner", "0:0", "mode", "0700", "recursive",
                                    0),
                          NULL, "make %s executable (root only)", h->host_tool)))
    return rc;
  edr_human_bytes(p->snapshot_size, human, sizeof human);
  json_t *push = json_pack("{s:s, s:s, s:I, s:s, s:b}", "op", "receive", "path",
                           h->host_snapshot, "size", (json_int_t)p->snapshot_size,
                           "sha256", p->snapshot_sha256, "trailer", p->snapshot_has_hash);
  if (!push || (rc = edr_plan_route_push(p, h, push))) {
    json_decref(push);
    return EDR_ENOMEM;
  }
  char from[400] = "";
  if (p->relay || p->snapshot_host >= 0) {
    strcpy(from, ": ");
    edr_plan_route_from(p, h, true, from + 2, sizeof from - 2);
  }
  bool sized = *p->snapshot && p->snapshot_host < 0;
  if ((rc = plan_add_step(h, EDR_STEP_PUSH_SNAPSHOT, push,
                          NULL, "%s the snapshot%s%s%s to %s and verify its sha-256%s",
                          p->relay || p->snapshot_host >= 0 ? "stage" : "push",
                          sized ? " (" : "", sized ? human : "", sized ? ")" : "",
                          h->host_snapshot, from)))
    return rc;
  struct edr_strv argv = {0};
  char *purls = NULL;
  rc = restore_argv(p, h, &argv, &purls);
  if (!rc) {
    json_t *req = run_request(&argv);
    /* The agent runs the tool with the staging directory held open, and a
     * pushed tool through the descriptor it hashed (docs/security.md). */
    json_object_set_new(req, "staging",
                        h->wal_holder ? json_pack("[s, s]", h->staging, h->wal_holder)
                                      : json_string(h->staging));
    if (h->host_tool && o->tool_sha256)
      json_object_set_new(req, "sha256", json_string(o->tool_sha256));
    rc = plan_add_step(h, EDR_STEP_RESTORE, req, argv.v,
                       "restore into staging (etcd, if running, keeps its old data meanwhile):");
  }
  plan_strv_release(&argv);
  free(purls);
  if (rc)
    return rc;

  /* apply: only after every host finished prepare (a playbook pins the
   * lock itself, at its first stage that changes something) */
  if ((p->kind != EDR_PLAN_RUN &&
       (rc = edr_plan_hold_lock(p, h, h->phase_stage[EDR_PHASE_APPLY]))) ||
      (p->kind == EDR_PLAN_RESTORE &&
       (rc = edr_plan_park_apiserver(h, h->phase_stage[EDR_PHASE_APPLY]))) ||
      !edr_plan_stop_step(h, h->phase_stage[EDR_PHASE_APPLY]) ||
      !edr_plan_check_stopped_step(h, h->phase_stage[EDR_PHASE_APPLY]))
    return rc ? rc : EDR_ENOMEM;
  char *old_member = edr_path_join(m->data_dir, "member");
  char *new_member = edr_path_join(h->restore_dir, "member");
  rc = !old_member || !new_member ? EDR_ENOMEM : 0;
  if (!rc)
    rc = plan_add_step(h, EDR_STEP_MOVE_ASIDE,
                       json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", old_member,
                                 "to", h->member_aside, "missing_ok", 1),
                       NULL, "move the old member dir %s aside to %s (kept, not deleted)",
                       old_member, h->member_aside);
  if (!rc && m->wal_dir)
    rc = plan_add_step(h, EDR_STEP_MOVE_ASIDE_WAL,
                       json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", m->wal_dir,
                                 "to", h->wal_aside, "missing_ok", 1),
                       NULL, "move the old wal dir %s aside to %s (kept, not deleted)",
                       m->wal_dir, h->wal_aside);
  if (!rc)
    rc = plan_add_step(h, EDR_STEP_INSTALL,
                       json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", new_member,
                                 "to", old_member, "missing_ok", 0),
                       NULL, "install the restored member: rename %s to %s", new_member,
                       old_member);
  free(old_member);
  free(new_member);
  if (rc)
    return rc;
  if (m->wal_dir &&
      (rc = plan_add_step(h, EDR_STEP_INSTALL_WAL,
                          json_pack("{s:s, s:s, s:s, s:b}", "op", "rename", "from", h->wal_staging,
                                    "to", m->wal_dir, "missing_ok", 0),
                          NULL, "install the restored wal: rename %s to %s", h->wal_staging,
                          m->wal_dir)))
    return rc;
  char mode[16] = "";
  if (m->data_dir_mode >= 0)
    snprintf(mode, sizeof mode, "%04o", m->data_dir_mode);
  const char *dirs[2] = {m->data_dir, m->wal_dir};
  for (int i = 0; i < 2 && dirs[i]; i++) {
    json_t *req = json_pack("{s:s, s:s, s:b}", "op", "chown", "path", dirs[i], "recursive", 1);
    if (req && m->data_dir_owner)
      json_object_set_new(req, "owner", json_string(m->data_dir_owner));
    if (req && *mode)
      json_object_set_new(req, "mode", json_string(mode));
    if ((rc = plan_add_step(h, i ? EDR_STEP_OWNERSHIP_WAL : EDR_STEP_OWNERSHIP, req, NULL,
                            "set owner of %s to %s and its mode to %s", dirs[i],
                            m->data_dir_owner ? m->data_dir_owner : "that of the old data dir",
                            *mode ? mode : "that of the old data dir (0700 if none)")))
      return rc;
  }
  if (!edr_plan_start_step(h, h->phase_stage[EDR_PHASE_APPLY], NULL))
    return EDR_ENOMEM;

  /* cleanup: after the cluster is healthy */
  if (p->kind == EDR_PLAN_RESTORE &&
      (rc = edr_plan_unpark_apiserver(h, h->phase_stage[EDR_PHASE_CLEANUP])))
    return rc;
  if ((rc = plan_add_step(h, EDR_STEP_CLEANUP,
                          json_pack("{s:s, s:s}", "op", "remove", "path", h->staging), NULL,
                          "remove the staging directory %s (the snapshot copy)", h->staging)) ||
      (h->wal_holder &&
       (rc = plan_add_step(h, EDR_STEP_CLEANUP,
                           json_pack("{s:s, s:s}", "op", "remove", "path", h->wal_holder), NULL,
                           "remove the wal staging directory %s", h->wal_holder))) ||
      (rc = plan_add_step(h, EDR_STEP_CLEANUP,
                          json_pack("{s:s, s:s}", "op", "remove", "path", h->marker), NULL,
                          "remove the run's marker %s", h->marker)))
    return rc;
  return p->kind == EDR_PLAN_RUN ? 0 : plan_add_unlock(p, h);
}

int edr_plan_restore_steps(struct edr_plan *p, const struct edr_plan_opts *o,
                           struct edr_host_plan *h, const size_t stages[EDR_PHASE__COUNT],
                           bool with_check) {
  memcpy(h->phase_stage, stages, sizeof h->phase_stage);
  int rc = with_check ? build_check(p, h) : 0;
  return rc ? rc : build_restore(p, o, h);
}

static int build_host(struct edr_plan *p, const struct edr_plan_opts *o,
                      struct edr_host_plan *h) {
  int rc = build_check(p, h);
  if (rc || p->check_only)
    return rc;
  return build_restore(p, o, h);
}

json_t *plan_probe_dir_request(const struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  return json_pack("{s:s, s:s, s:s?, s:s, s:s}", "op", "probe", "data_dir", m->data_dir,
                   "wal_dir", m->wal_dir, "restore_tool", "auto", "staging", h->staging);
}

int plan_add_unlock(const struct edr_plan *p, struct edr_host_plan *h) {
  return plan_add_step(h, EDR_STEP_UNLOCK,
                       json_pack("{s:s, s:s, s:s}", "op", "unlock", "path", h->lock_path,
                                 "run_id", p->run_id),
                       NULL, "release the host lock");
}


int edr_plan_new(const struct edr_spec *spec, const struct edr_plan_opts *o,
                 struct edr_plan **out, struct edr_error *err) {
  struct edr_plan *p = calloc(1, sizeof(*p));
  int rc = 0;
  *out = NULL;
  if (!p)
    goto nomem;
  p->spec = spec;
  if (o->run_id)
    snprintf(p->run_id, sizeof p->run_id, "%s", o->run_id);
  else
    edr_new_run_id(p->run_id, sizeof p->run_id);
  if (!edr_valid_token(p->run_id)) {
    edr_error_set(err, EDR_EINVAL, "run id '%s' is not letters, digits, '.', '_' or '-'",
                  p->run_id);
    free(p);
    return EDR_EINVAL;
  }
  p->token = spec->token ? strdup(spec->token) : edr_asprintf("etcd-dr-%s", p->run_id);
  p->snapshot = strdup(o->snapshot ? o->snapshot : "");
  p->snapshot_sha256 = strdup(o->snapshot_sha256 ? o->snapshot_sha256 : "");
  if (!p->token || !p->snapshot || !p->snapshot_sha256)
    goto nomem;
  p->snapshot_size = o->snapshot_size;
  p->snapshot_has_hash = o->snapshot_has_hash;
  p->skip_hash_check = o->skip_hash_check;
  p->snapshot_revision = o->snapshot_revision;
  p->health_timeout_ms = o->health_timeout_ms ? o->health_timeout_ms : 120000;
  p->save_idle_ms = o->save_idle_ms ? o->save_idle_ms : 30000;
  p->save_deadline_ms = o->save_deadline_ms;
  if (o->tool_version && !(p->tool_version = strdup(o->tool_version)))
    goto nomem;
  /* a prune's check only lists: it stays a prune plan */
  p->kind = o->check_only && o->kind != EDR_PLAN_PRUNE ? EDR_PLAN_CHECK : o->kind;
  p->check_only = p->kind == EDR_PLAN_CHECK || o->check_only;
  p->prune = o->prune;
  p->compress = o->compress;
  p->compress_sample = o->compress_sample;
  p->bump_revision = o->bump_revision;
  p->break_lock = o->break_lock;
  p->ask_etcd = o->ask_etcd;
  p->ask_timeout_ms = o->ask_timeout_ms;
  if (!(p->command = strdup(o->command ? o->command : "restore")))
    goto nomem;

  size_t len = 1;
  for (size_t i = 0; i < spec->n_members; i++)
    for (size_t j = 0; j < spec->members[i].peer_urls.n; j++)
      len += strlen(spec->members[i].name) + strlen(spec->members[i].peer_urls.v[j]) + 2;
  if (!(p->initial_cluster = calloc(1, len)))
    goto nomem;
  for (size_t i = 0; i < spec->n_members; i++)
    for (size_t j = 0; j < spec->members[i].peer_urls.n; j++) {
      if (*p->initial_cluster)
        strcat(p->initial_cluster, ",");
      strcat(p->initial_cluster, spec->members[i].name);
      strcat(p->initial_cluster, "=");
      strcat(p->initial_cluster, spec->members[i].peer_urls.v[j]);
    }

  if (!(p->hosts = calloc(spec->n_members, sizeof(*p->hosts))))
    goto nomem;
  p->n_hosts = spec->n_members;
  p->snapshot_host = -1;
  for (size_t i = 0; i < p->n_hosts; i++) {
    p->hosts[i].member = &spec->members[i];
    p->hosts[i].relay_prev = p->hosts[i].relay_next = -1;
    if ((rc = host_paths(p, &p->hosts[i])))
      goto fail;
  }
  const char *cert = getenv("ETCDCTL_CERT");
  if ((rc = edr_health_routes_decide(p, o->health_via, cert && *cert)))
    goto fail;
  *out = p;
  return 0;
nomem:
  rc = EDR_ENOMEM;
fail:
  edr_error_set(err, rc, "cannot build the plan: %s", edr_strerror(rc));
  edr_plan_free(p);
  return rc;
}

long edr_plan_add_stage(struct edr_plan *p, const char *name, enum edr_phase phase) {
  struct edr_stage *ns = realloc(p->stages, (p->n_stages + 1) * sizeof(*ns));
  if (!ns)
    return EDR_ENOMEM;
  p->stages = ns;
  struct edr_stage *st = &ns[p->n_stages];
  memset(st, 0, sizeof(*st));
  st->phase = phase;
  if (!(st->name = strdup(name)))
    return EDR_ENOMEM;
  return (long)p->n_stages++;
}

size_t edr_plan_first_destructive(const struct edr_plan *p) {
  size_t k = 0;
  while (k < p->n_stages && p->stages[k].phase != EDR_PHASE_APPLY)
    k++;
  return k;
}

int edr_plan_build(const struct edr_spec *spec, const struct edr_plan_opts *o,
                   struct edr_plan **out, struct edr_error *err) {
  struct edr_plan *p;
  int rc = edr_plan_new(spec, o, &p, err);
  if (rc)
    return rc;
  /* a restore, a rollback or a check: one stage per phase */
  for (int ph = 0; ph < EDR_PHASE__COUNT; ph++) {
    long k = edr_plan_add_stage(p, edr_phase_names[ph], (enum edr_phase)ph);
    if (k < 0) {
      rc = (int)k;
      goto fail;
    }
  }
  if ((rc = edr_plan_route(p, o, err))) {
    edr_plan_free(p);
    return rc;
  }
  if (p->kind == EDR_PLAN_RESTORE || p->kind == EDR_PLAN_ROLLBACK) {
    p->stages[EDR_PHASE_APPLY].gate = EDR_GATE_HEALTH;
    p->stages[EDR_PHASE_APPLY].timeout_ms = p->health_timeout_ms;
  }
  for (size_t i = 0; i < p->n_hosts; i++) {
    for (int ph = 0; ph < EDR_PHASE__COUNT; ph++)
      p->hosts[i].phase_stage[ph] = (size_t)ph;
    if ((rc = p->kind == EDR_PLAN_ROLLBACK   ? plan_rollback_host(p, &p->hosts[i])
              : p->kind == EDR_PLAN_SNAPSHOT ? plan_snapshot_host(p, &p->hosts[i])
              : p->kind == EDR_PLAN_PRUNE    ? edr_plan_prune_host(p, &p->hosts[i])
              : p->kind == EDR_PLAN_DISCOVER ? plan_discover_host(o, &p->hosts[i])
                                             : build_host(p, o, &p->hosts[i])))
      goto fail;
  }
  *out = p;
  return 0;
fail:
  edr_error_set(err, rc, "cannot build the plan: %s", edr_strerror(rc));
  edr_plan_free(p);
  return rc;
}

void edr_plan_free(struct edr_plan *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->n_hosts; i++) {
    struct edr_host_plan *h = &p->hosts[i];
    for (size_t j = 0; j < h->n_steps; j++) {
      free(h->steps[j].title);
      free(h->steps[j].command);
      for (size_t k = 0; h->steps[j].argv && h->steps[j].argv[k]; k++)
        free(h->steps[j].argv[k]);
      free(h->steps[j].argv);
      json_decref(h->steps[j].request);
    }
    free(h->steps);
    free(h->staging);
    free(h->host_snapshot);
    free(h->restore_dir);
    free(h->wal_holder);
    free(h->wal_staging);
    free(h->member_aside);
    free(h->wal_aside);
    free(h->host_tool);
    free(h->lock_path);
    free(h->marker);
    free(h->failed_aside);
    free(h->env_backup);
  }
  for (size_t k = 0; k < p->n_stages; k++) {
    struct edr_stage *st = &p->stages[k];
    free(st->name);
    free(st->title);
    free(st->members);
    free(st->dir);
    free(st->output);
    free(st->message);
    free(st->note);
  }
  free(p->stages);
  free(p->health_routes);
  free(p->playbook);
  free(p->command);
  free(p->tool_version);
  free(p->hosts);
  free(p->token);
  free(p->initial_cluster);
  free(p->snapshot);
  free(p->snapshot_sha256);
  free(p->snapshot_remote);
  free(p);
}
