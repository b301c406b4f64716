/*
 * steps.c - what each step kind means to the engine, as one table of
 * designated initializers (eng_steps[], engine.h): how it starts, how its
 * request is adjusted with what the run found, what follows the request,
 * and how its reply is judged.  A kind with an empty row is "send the
 * plan's request, succeed on ok".  The plan's side of a kind (its name,
 * phase, timeout, request) is plan.c's edr_step_kinds[]; the order of the
 * steps (barriers, leader-last, resume, rollback's skips) is host.c's.
 */
#include "engine.h"

#include "err.h"
#include "journal.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- starts that are not a request --------------------------------------- */

static void start_connect(struct host *h) {
  assert(!h->busy && h->conn); /* one operation at a time (agent_conn.h) */
  h->busy = true;
  h->run->ops->connect(h->conn);
}

static void on_hello(struct host *h, int status, json_t *reply) {
  json_t *r = json_object_get(reply, "result");
  if (status) {
    eng_host_fail(h, status, "the agent refused to start: %s",
                  json_string_value(json_object_get(json_object_get(reply, "error"), "message")));
    return;
  }
  /* the agent says which architecture it runs as: its build was pushed */
  const char *arch = json_string_value(json_object_get(r, "arch"));
  int a = arch ? edr_arch_of_uname(arch) : -1;
  if (a < 0 || !h->agent[a])
    a = edr_agents_first(&h->run->agents);
  const struct edr_agent_file *f = h->agent[a];
  const char *want = f->sha256;
  const char *sha = json_string_value(json_object_get(r, "sha256"));
  struct edr_agent_pushed pu;
  bool said = h->run->ops->pushed && h->run->ops->pushed(h->conn, &pu);
  const char *path = f->path;
  if (!sha || strcmp(sha, want)) {
    eng_host_fail(h, EDR_EHASH, "the agent on the host (%s) has sha-256 %s, expected %s: "
                  "the push was damaged%s%s%s", arch ? arch : "?", sha ? sha : "(none)", want,
                  said && pu.gzip ? ", or '" : "", said && pu.gzip ? path : "",
                  said && pu.gzip ? ".gz' is not its gzip (build again)" : "");
    return;
  }
  /* which agent went there and what crossed the link: the report's
   * push-agent step, and a line at -v */
  if (said) {
    const char *base = strrchr(path, '/');
    h->res->steps[h->step].bytes = pu.bytes;
    json_object_set_new(r, "agent", json_string(base ? base + 1 : path));
    json_object_set_new(r, "gzip", json_boolean(pu.gzip));
    if (edr_verbosity >= 1)
      edr_info("%s: agent %s pushed to %s, %llu bytes%s", h->m->name, path, h->m->ssh_host,
               (unsigned long long)pu.bytes,
               pu.gzip ? " gzip'd"
               : f->gz_path ? " raw (the host has no gzip)" : " raw");
  }
  json_int_t uid = json_integer_value(json_object_get(r, "uid"));
  if (uid != 0)
    edr_warn("%s: the agent runs as uid %lld, not root: it may lack permission on %s "
             "(set sudo: true?)", h->m->name, (long long)uid, h->m->data_dir);
  eng_step_ok(h, r);
}

json_t *eng_hello(const struct host *h) {
  return json_pack("{s:s, s:s, s:s, s:I}", "op", "hello", "run_id", h->run->plan->run_id,
                   "host", h->m->name, "idle_timeout_ms", (json_int_t)h->run->agent_idle_ms);
}

static void start_push_agent(struct host *h) {
  json_t *hello = eng_hello(h);
  if (!hello) {
    eng_host_fail(h, EDR_ENOMEM, "cannot encode a request");
    return;
  }
  h->on_reply = on_hello;
  assert(!h->busy && h->conn); /* one operation at a time (agent_conn.h) */
  h->busy = true;
  h->run->ops->start_agent(h->conn, hello);
}

/* ---- requests adjusted with what the run found ---------------------------- */

/* This coordinator process's lock token: 128 random bits as hex, made on
 * first use.  A host lock carries it, so that the agent tells this process
 * from another coordinator driving the same run id (docs/safety.md "Host
 * lock"); host name and pid alone do not (two machines can share a name). */
const char *eng_coordinator_token(void) {
  static char hex[2 * EDR_LOCK_TOKEN_BYTES + 1];
  if (!hex[0]) {
    unsigned char raw[EDR_LOCK_TOKEN_BYTES];
    size_t got = 0;
    while (got < sizeof raw) {
      ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
      if (r > 0)
        got += (size_t)r;
      else /* no entropy source at all: still unique per process and time */
        for (; got < sizeof raw; got++)
          raw[got] = (unsigned char)((getpid() * 2654435761u) ^ (time(NULL) >> (got % 4) * 8) ^ got);
    }
    for (size_t i = 0; i < sizeof raw; i++)
      snprintf(hex + 2 * i, 3, "%02x", raw[i]);
  }
  return hex;
}

/* Who holds the lock: this process (its token), this user on this machine,
 * since now. */
static void adjust_lock(struct host *h, json_t *req) {
  char host[256] = "?", since[40];
  time_t now = time(NULL);
  struct tm tm;
  gethostname(host, sizeof host - 1);
  strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  const char *user = getenv("SUDO_USER");
  if (!user || !*user)
    user = getenv("USER");
  json_t *holder = json_object_get(req, "holder");
  json_object_set_new(holder, "user", json_string(user && *user ? user : "?"));
  json_object_set_new(holder, "host", json_string(host));
  json_object_set_new(holder, "pid", json_integer(getpid()));
  json_object_set_new(holder, "since", json_string(since));
  json_object_set_new(holder, "token", json_string(eng_coordinator_token()));
}

/* A lock is released only by the process that holds it. */
static void adjust_unlock(struct host *h, json_t *req) {
  (void)h;
  json_object_set_new(req, "token", json_string(eng_coordinator_token()));
}

/* --bump-revision auto's bump, and the tool the probe found. */
static void adjust_restore(struct host *h, json_t *req) {
  if (h->run->plan->bump_revision < 0 && h->run->bump > 0) {
    json_t *argv = json_object_get(req, "argv");
    char n[32];
    snprintf(n, sizeof n, "%lld", (long long)h->run->bump);
    json_array_append_new(argv, json_string("--bump-revision"));
    json_array_append_new(argv, json_string(n));
    json_array_append_new(argv, json_string("--mark-compacted"));
  }
  json_t *tool = json_object_get(h->probe, "tool");
  json_t *argv = json_object_get(req, "argv");
  const char *path = json_string_value(json_object_get(tool, "path"));
  const char *kind = json_string_value(json_object_get(tool, "kind"));
  if (path && !h->hp->host_tool)
    json_array_set_new(argv, 0, json_string(path));
  if (!h->hp->host_tool && kind && !strcmp(kind, "etcdctl"))
    json_object_set_new(req, "env", json_pack("{s:s}", "ETCDCTL_API", "3"));
  /* plan.c adds --skip-hash-check after the agent's own check; a tool that
   * does not know it hashes the file itself (the probe refused it already
   * where the operator asked for the flag). */
  if (!h->hp->host_tool && json_is_object(tool) && !eng_has_flag(tool, "--skip-hash-check"))
    for (size_t i = json_array_size(argv); i-- > 1;)
      if (!strcmp(json_string_value(json_array_get(argv, i)), "--skip-hash-check"))
        json_array_remove(argv, i);
}

/* Owner and mode: the spec's, else the existing data dir's, else 0700.
 * The old data dir's mode is the etcd user's to set: setuid, setgid,
 * sticky and write for group and others are never taken from it. */
static void adjust_ownership(struct host *h, json_t *req) {
  json_t *dd = json_object_get(h->probe, "data_dir");
  if (!json_object_get(req, "owner") && json_is_true(json_object_get(dd, "exists"))) {
    json_object_set(req, "uid", json_object_get(dd, "uid"));
    json_object_set(req, "gid", json_object_get(dd, "gid"));
  }
  if (!json_object_get(req, "mode")) {
    const char *mode = json_string_value(json_object_get(dd, "mode"));
    char safe[8] = "0700";
    if (json_is_true(json_object_get(dd, "exists")) && mode)
      snprintf(safe, sizeof safe, "%04lo", strtoul(mode, NULL, 8) & 0755);
    json_object_set_new(req, "mode", json_string(safe));
  }
}

/* ---- the relay (docs/transfer.md) ----------------------------------------- */

static void adjust_relay_check(struct host *h, json_t *req) {
  const struct run *r = h->run;
  json_object_set_new(req, "key", json_string(r->relay_key));
  /* a port that is not had is not listened on, nor knocked on */
  if (h->relay_bind_error[0])
    json_object_del(req, "listen");
  long nx = h->hp->relay_next;
  if (nx >= 0 && (r->hosts[nx].relay_bind_error[0] || r->hosts[nx].failed))
    json_object_del(req, "forward");
}

static void on_relay_listen(struct host *h, int status, json_t *reply) {
  json_t *r = json_object_get(reply, "result");
  h->in_step = false;
  eng_conn_idle(h);
  h->relay_listen_said = true;
  /* a failed request (an agent without the op) leaves it to relay-check */
  if (!status && json_is_false(json_object_get(r, "listening"))) {
    const char *why = json_string_value(json_object_get(r, "error"));
    snprintf(h->relay_bind_error, sizeof h->relay_bind_error, "%s",
             why && *why ? why : "cannot listen on its relay port");
  }
  h->busy = false;
  eng_wake_relay(h->run);
  eng_advance(h);
}

bool eng_relay_wait(struct host *h) {
  struct run *r = h->run;
  if (h->hp->relay_prev >= 0 && !h->relay_listen_said) {
    const json_t *l = json_object_get(h->hp->steps[h->step].request, "listen");
    json_t *req = json_pack("{s:s, s:O}", "op", "relay-listen", "port",
                            json_object_get(l, "port"));
    if (!req) {
      eng_host_fail(h, EDR_ENOMEM, "out of memory");
      return true;
    }
    h->in_step = true; /* part of the relay-check step, for the barrier */
    h->step_start = edr_now_ms();
    h->between = "listening on the relay port";
    eng_timer_arm(h, ENG_BETWEEN_STEPS_MS);
    eng_send_request(h, req, -1, 0, on_relay_listen);
    return true;
  }
  long nx = h->hp->relay_next;
  const struct host *n = nx >= 0 ? &r->hosts[nx] : NULL;
  h->waiting_relay = n && !n->relay_listen_said && !n->failed && !n->closed && !r->aborting;
  return h->waiting_relay;
}

void eng_wake_relay(struct run *r) {
  for (size_t i = 0; i < r->n; i++) {
    struct host *h = &r->hosts[i];
    if (h->waiting_relay) {
      h->waiting_relay = false;
      eng_advance(h);
    }
  }
}

/* The route as the checks left it, once, before the first byte is sent. */
static void say_route(struct run *r) {
  const struct edr_plan *p = r->plan;
  char line[2048];
  size_t n = 0;
  r->route_said = true;
  for (size_t i = 0; i < r->n && n < sizeof line; i++) {
    const struct host *h = &r->hosts[i];
    const char *from = (long)i == p->snapshot_host ? "its own file"
                       : h->hp->relay_prev >= 0 && h->relay_heard
                           ? p->hosts[h->hp->relay_prev].member->name
                           : "this machine";
    n += (size_t)snprintf(line + n, sizeof line - n, "%s%s from %s", i ? ", " : "",
                          h->m->name, from);
  }
  eng_info(r, "snapshot route: %s", line);
  for (size_t i = 0; i < r->n; i++)
    if (p->hosts[i].relay_named) {  /* why the relay passes it by */
      char why[600];
      edr_plan_route_from(p, &p->hosts[i], false, why, sizeof why);
      eng_info(r, "%s: %s", p->hosts[i].member->name, why);
    }
}

/* The predecessor reached this host's port with the run's key, or this host
 * gets a direct push (auto), or the run cannot do without it. */
static int check_relay(struct host *h, json_t *r) {
  const struct edr_plan *p = h->run->plan;
  json_t *l = json_object_get(r, "listen");
  if (h->hp->relay_prev < 0)
    return 0;
  h->relay_heard = !h->relay_bind_error[0] && json_is_true(json_object_get(l, "heard"));
  if (h->relay_heard)
    return 0;
  const char *prev = p->hosts[h->hp->relay_prev].member->name;
  const char *why = h->relay_bind_error[0] ? h->relay_bind_error
                                           : json_string_value(json_object_get(l, "error"));
  if (p->transfer == EDR_TRANSFER_RELAY || p->snapshot_host >= 0) {
    h->res->steps[h->step].result = json_incref(r);
    eng_host_fail(h, EDR_EHOSTUNREACH, "%s cannot reach this host's relay port: %s; %s", prev,
                  why ? why : "no answer",
                  p->snapshot_host >= 0
                      ? "the snapshot is on a host, so there is no direct push: open the port "
                        "between them (relay_port in the spec) or copy the snapshot here"
                      : "open the port (relay_port in the spec) or use --transfer auto");
    return EDR_EHOSTUNREACH;
  }
  if (h->relay_bind_error[0])
    eng_info(h->run, "%s: %s: it gets a direct push from this machine (%s did not try it)",
             h->m->name, why, prev);
  else
    eng_info(h->run, "%s: %s cannot reach it on the relay port (%s): it gets a direct push "
             "from this machine", h->m->name, prev, why ? why : "no answer");
  return 0;
}

/* The snapshot on this host gets the checks of one on this machine
 * (driver.c edr_check_snapshot): not empty, whole (its trailer), a sound
 * bbolt file; for a member's own db, not changing under the copy; and on a
 * resume, the file the run started with (its sha-256 in the journal). */
static int check_snapshot(struct host *h, json_t *r) {
  struct run *run = h->run;
  const struct edr_plan *p = run->plan;
  bool has = json_is_true(json_object_get(r, "has_trailer"));
  bool ok = json_is_true(json_object_get(r, "trailer_ok"));
  const char *sha = json_string_value(json_object_get(r, has ? "image_sha256" : "file_sha256"));
  const char *was = json_string_value(json_object_get(run->opts->resume, "snapshot_remote_sha256"));
  int rc = 0;
  if (json_integer_value(json_object_get(r, "bytes")) == 0)
    eng_host_fail(h, rc = EDR_EINVAL, "the snapshot %s on this host is empty (0 bytes); take "
                  "a new snapshot or use another copy", p->snapshot_remote);
  else if (p->from_member && json_is_true(json_object_get(h->probe, "etcd_running")))
    eng_host_fail(h, rc = EDR_EBUSY, "etcd runs here: its db %s may change while it is "
                  "copied; stop etcd on this host first (while the cluster has quorum, take "
                  "a snapshot with 'etcd-dr snapshot save' instead)", p->snapshot_remote);
  else if (has && !ok)
    eng_host_fail(h, rc = EDR_EHASH, "the snapshot %s on this host is damaged: its sha-256 "
                  "trailer does not match its contents; take a new snapshot or use another "
                  "copy", p->snapshot_remote);
  else if (!has && !p->skip_hash_check)
    eng_host_fail(h, rc = EDR_ENOHASH, "the snapshot %s on this host has no sha-256 trailer, "
                  "so its integrity cannot be checked; pass --skip-hash-check to use it anyway",
                  p->snapshot_remote);
  else if (json_is_true(json_object_get(r, "bolt_corrupt")))
    eng_host_fail(h, rc = EDR_ECORRUPT, "the snapshot %s on this host is not a sound bbolt "
                  "file ('etcd-dr snapshot verify' on a copy says why); take a new snapshot or "
                  "use another copy", p->snapshot_remote);
  else if (!sha || strlen(sha) != 64)
    eng_host_fail(h, rc = EDR_EPROTO, "the agent's snapshot check gave no sha-256");
  else if (was && *was && strcmp(was, sha))
    eng_host_fail(h, rc = EDR_EHASH, "the snapshot %s on this host changed since run %s "
                  "started (sha-256 %s, was %s); roll the run back or start a new one",
                  p->snapshot_remote, p->run_id, sha, was);
  if (rc) {
    h->res->steps[h->step].result = json_incref(r);
    return rc;
  }
  run->snap_size = (uint64_t)json_integer_value(json_object_get(r, "bytes"));
  run->snap_trailer = has;
  memcpy(run->snap_sha256, sha, 65);
  json_int_t rev = json_integer_value(json_object_get(r, "revision"));
  if (run->snap_revision <= 0 && rev > 0)
    run->snap_revision = rev;
  /* what a resume compares (cmd_restore.c) */
  json_t *ev = json_pack("{s:s, s:s, s:s, s:I}", "member", h->m->name, "path",
                         p->snapshot_remote, "sha256", sha, "bytes", (json_int_t)run->snap_size);
  edr_journal_event(run->opts->journal, "snapshot", ev);
  json_decref(ev);
  char hb[32];
  edr_human_bytes(run->snap_size, hb, sizeof hb);
  eng_info(run, "%s: snapshot %s: %s, revision %lld, %s", h->m->name, p->snapshot_remote, hb,
           (long long)json_integer_value(json_object_get(r, "revision")),
           has ? "integrity trailer verified" : "no integrity trailer (--skip-hash-check)");
  return 0;
}

/* The run's key; the route the checks left (a host its predecessor cannot
 * reach is pushed from here, and that predecessor forwards to nobody); a
 * snapshot on a host: its size and sha-256 as checked there. */
static void adjust_push(struct host *h, json_t *req) {
  struct run *r = h->run;
  const struct edr_plan *p = r->plan;
  if (p->snapshot_host >= 0) {
    json_object_set_new(req, "size", json_integer((json_int_t)r->snap_size));
    json_object_set_new(req, "sha256", json_string(r->snap_sha256));
    json_object_set_new(req, "trailer", json_boolean(r->snap_trailer));
  }
  if (!p->relay && p->snapshot_host < 0)
    return;
  json_object_set_new(req, "key", json_string(r->relay_key));
  h->relay_direct = h->hp->relay_prev >= 0 && !h->relay_heard;
  if (h->relay_direct)
    json_object_del(req, "listen");
  long nx = h->hp->relay_next;
  if (nx >= 0 && !r->hosts[nx].relay_heard)
    json_object_del(req, "forward");
  if (!r->route_said)
    say_route(r);
}

/* ---- what follows a request ------------------------------------------------ */

/* Nothing when the bytes come from another host or a file on this one. */
static const char *payload_snapshot(const struct host *h) {
  const struct edr_plan *p = h->run->plan;
  if (p->snapshot_host == (long)(h - h->run->hosts) ||
      (h->hp->relay_prev >= 0 && !h->relay_direct))
    return NULL;
  return p->snapshot;
}

static const char *payload_tool(const struct host *h) { return h->m->restore_tool_push; }

/* ---- judging a reply that said ok ----------------------------------------- */

static int check_probe(struct host *h, json_t *r) {
  struct edr_error err = EDR_ERROR_INIT;
  int rc = eng_check_probe(h, r, &err);
  json_decref(h->probe);
  h->probe = json_incref(r);
  if (rc) {
    h->res->steps[h->step].result = json_incref(r);
    eng_host_fail(h, rc, "%s", edr_error_text(&err));
  }
  edr_error_release(&err);
  return rc;
}

/* Every byte the agent says it sent arrived, and the sink took them. */
static int check_fetch(struct host *h, json_t *r) {
  const struct edr_error *err = NULL;
  uint64_t got = h->run->ops->fetched(h->conn, &err);
  int status = err->code;
  json_int_t sent = json_integer_value(json_object_get(r, "bytes"));
  if (!status && (uint64_t)sent == got)
    return 0;
  h->res->steps[h->step].result = json_incref(r);
  if (status)
    eng_host_fail(h, status, "%s", edr_error_text(err));
  else
    eng_host_fail(h, EDR_ECONNLOST, "%llu bytes arrived, the agent says it sent %lld",
                  (unsigned long long)got, (long long)sent);
  return status ? status : EDR_ECONNLOST;
}

static int check_lock(struct host *h, json_t *r) {
  h->locked = true;
  return 0;
}

static int check_unlock(struct host *h, json_t *r) {
  h->locked = false;
  return 0;
}

/* Rollback: the member dir the restore moved aside is there, or the restore
 * never moved this member (then only etcd is restarted).  The same step
 * looks for the wal dir moved aside: a restore that stopped between the
 * two moves (or a rollback run again) left the wal in place. */
static int check_find_old(struct host *h, json_t *r) {
  const struct edr_step *s = &h->hp->steps[h->step];
  const char *path = json_string_value(json_object_get(s->request, "path"));
  if (h->hp->wal_aside && path && !strcmp(path, h->hp->wal_aside)) {
    h->wal_not_moved = !json_is_true(json_object_get(r, "exists"));
    if (h->wal_not_moved && !h->nothing_moved)
      edr_info("%s: run %s never moved its wal dir %s: it stays in place", h->m->name,
               h->run->plan->run_id, h->m->wal_dir);
    return 0;
  }
  if (json_is_true(json_object_get(r, "exists")))
    return 0;
  json_t *dd = json_object_get(h->probe, "data_dir");
  if (!json_is_true(json_object_get(dd, "has_member"))) {
    eng_host_fail(h, EDR_ENOENT, "nothing to roll back to: neither '%s' nor a member dir in "
                  "'%s' exists (was the data dir empty before run %s?)", h->hp->member_aside,
                  h->m->data_dir, h->run->plan->run_id);
    return EDR_ENOENT;
  }
  /* The restore stopped before moving this member: its data is in place.
   * Moving it now would put the good data aside: only restart etcd. */
  h->nothing_moved = true;
  eng_info(h->run, "%s: run %s never moved its member dir: its data is in place; %s",
           h->m->name, h->run->plan->run_id,
           json_is_true(json_object_get(h->probe, "etcd_running"))
               ? "etcd runs: nothing to do" : "only starting etcd");
  return 0;
}

/* ---- the progress line of a finished step --------------------------------- */

static void summary_probe(const struct host *h, json_t *result, char *buf, size_t len) {
  json_t *tool = json_object_get(result, "tool");
  char hf[32];
  edr_human_bytes((uint64_t)json_integer_value(json_object_get(result, "free_bytes")), hf,
                  sizeof hf);
  snprintf(buf, len, "%s %s, %s free, etcd %s",
           h->hp->host_tool ? "pushed" : json_string_value(json_object_get(tool, "kind")),
           h->hp->host_tool ? "tool" : json_string_value(json_object_get(tool, "version")),
           hf, json_is_true(json_object_get(result, "etcd_running")) ? "running" : "stopped");
}

/* ---- the table --------------------------------------------------------------- */

const struct eng_step_kind eng_steps[EDR_STEP__COUNT] = {
  [EDR_STEP_CONNECT] = {.start = start_connect, .connects = true},
  [EDR_STEP_PUSH_AGENT] = {.start = start_push_agent},
  [EDR_STEP_PROBE] = {.check = check_probe, .summary = summary_probe},
  [EDR_STEP_LOCK] = {.adjust = adjust_lock, .check = check_lock, .takes_lock = true},
  [EDR_STEP_HOLD_LOCK] = {.adjust = adjust_lock},
  [EDR_STEP_UNLOCK] = {.adjust = adjust_unlock, .check = check_unlock},
  [EDR_STEP_PUSH_TOOL] = {.payload = payload_tool},
  [EDR_STEP_PUSH_SNAPSHOT] = {.adjust = adjust_push, .payload = payload_snapshot,
                              .reads_extend = true},
  [EDR_STEP_RELAY_CHECK] = {.adjust = adjust_relay_check, .check = check_relay},
  [EDR_STEP_CHECK_SNAPSHOT] = {.check = check_snapshot},
  [EDR_STEP_RESTORE] = {.adjust = adjust_restore, .stderr_in_failure = true,
                        .needs_tool = true},
  [EDR_STEP_STOP] = {.stderr_in_failure = true, .unmoved = ENG_SKIP_IF_RUNNING,
                     .stops_etcd = true},
  [EDR_STEP_CHECK_STOPPED] = {.unmoved = ENG_SKIP_IF_RUNNING, .ends_stop = true},
  [EDR_STEP_MOVE_ASIDE] = {.unmoved = ENG_SKIP_ALWAYS, .moves_member = true},
  [EDR_STEP_MOVE_ASIDE_WAL] = {.unmoved = ENG_SKIP_ALWAYS, .wal = true},
  [EDR_STEP_INSTALL] = {.unmoved = ENG_SKIP_ALWAYS, .installs_member = true},
  [EDR_STEP_INSTALL_WAL] = {.unmoved = ENG_SKIP_ALWAYS, .wal = true},
  [EDR_STEP_OWNERSHIP] = {.adjust = adjust_ownership},
  [EDR_STEP_OWNERSHIP_WAL] = {.adjust = adjust_ownership},
  [EDR_STEP_START] = {.stderr_in_failure = true, .unmoved = ENG_SKIP_IF_RUNNING,
                      .starts_etcd = true},
  [EDR_STEP_FIND_OLD] = {.check = check_find_old},
  [EDR_STEP_FETCH_SNAPSHOT] = {.check = check_fetch},
  [EDR_STEP_ASK] = {.whole_reply = true, .asked_first = true},
};
