/*
 * cmd_status.c - `etcd-dr status`: in an incident, what state is the
 * cluster in?  One row per member (SSH reachable, etcd running, /health,
 * leader, IDs, revision, raft term and index, db size, alarms, version),
 * then a one-line verdict and, when quorum is lost, the restore command to
 * consider.  Reads only: SSH runs the read-only check plan (connect, agent,
 * probe) of every host at once while the members are asked over HTTP(S)
 * from here (status.c), all on the run's one loop.  A member whose route
 * goes through its host (--health-via, plan/health_route.c: no client
 * certificate here for an https member whose host has one) or whose client
 * URL gives no answer from here (refused, timed out, no route, this
 * machine's TLS refused) is asked the same questions by its host's agent
 * with the host's certificates (the plan's ask-etcd steps, etcd-http, which
 * wait for the HTTP answers before they decide to run, at the address
 * looked up here when the client URL names its host: etcd/resolve.h), and
 * the answers go through the same parser.
 */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "err.h"
#include "executor.h"
#include "log.h"
#include "options.h"
#include "plan.h"
#include "quote.h"
#include "resolve.h"
#include "status.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct edr_usage usage = {
  .head =
    "usage: etcd-dr status (--cluster FILE | --initial-cluster SPEC) [OPTIONS]\n"
    "       (--discover HOST in place of --cluster: the spec read off one member's host)\n"
    "\n"
    "One row per member: SSH reachable, etcd process running, /health, leader,\n"
    "member and cluster ID, revision, raft term and index, db size, alarms\n"
    "(NOSPACE, CORRUPT), version; then a verdict: healthy, degraded (quorum held),\n"
    "QUORUM LOST, with the restore command to consider, or UNKNOWN when too few\n"
    "members could be asked to tell.  Changes nothing.\n"
    "DB REVISION, the last column, is each member's own db read offline by its\n"
    "host's agent; when quorum is lost, the freshest member is named with the\n"
    "command that restores from it.\n"
    "Members are asked over HTTP(S) from this machine, all at once; SSH runs the\n"
    "read-only checks of `etcd-dr plan --check` on every host at the same time.\n"
    "A member whose client URL gives no answer from here (refused, timed out, no\n"
    "route, TLS refused while its host has certificates), or every https member\n"
    "when there is no client certificate here (--cert, ETCDCTL_CERT) and the spec\n"
    "names one on the hosts, is asked the same through the agent on its host,\n"
    "with the spec's etcdctl_cacert/_cert/_key (paths on the host; the kubeadm\n"
    "preset's by default): --health-via; the VIA column says which.\n"
    "The table has no blank inside a cell ('-' unknown); -w json is one object,\n"
    "IDs as hex strings; -w simple is the table's rows, comma-separated.\n"
    "\n",
  .foot =
    "Exit status (docs/exit-codes.md): 0 healthy; 1 internal error (a message, no\n"
    "verdict); 2 bad arguments or spec; 4 unknown: members refused this client's\n"
    "TLS or could not be reached at all, and may be serving (no restore is\n"
    "suggested then); 6 degraded, quorum held; 8 quorum lost.\n",
};

/* ---- SSH and HTTP: one run, on one loop ----------------------------------- */

/* The check-only plan of every host runs as one edr_execute with the
 * engine's keep-going policy (a host that cannot be reached ends only its
 * own checks), and the members are asked over HTTP on the same loop.  The
 * ask-etcd steps run only for members whose client URL gave no answer from
 * here, so a host reaching them waits (parked by want_ask) until HTTP is
 * done. */
struct asking {
  struct edr_status_row *rows;
  size_t n;
  const struct edr_status_fetch_opts *fo;
  struct edr_exec_run *run;
  bool http_done;
  int http_status;              /* the fetch's own failure (EDR_ENOMEM), 0 */
};

static void http_done(void *arg, int status) {
  struct asking *a = arg;
  a->http_done = true;
  a->http_status = status;
  edr_exec_ask_again(a->run);
}

static void on_loop(void *arg, uv_loop_t *loop, struct edr_exec_run *run) {
  struct asking *a = arg;
  a->run = run;
  int rc = edr_status_fetch_start(loop, a->rows, a->n, a->fo, http_done, a, NULL);
  if (rc) {
    a->http_done = true;
    a->http_status = rc;
  }
}

static enum edr_ask want_ask(void *arg, size_t host) {
  struct asking *a = arg;
  if (!a->http_done)
    return EDR_ASK_LATER;
  return edr_status_needs_agent(&a->rows[host]) ? EDR_ASK_RUN : EDR_ASK_SKIP;
}

/* Each ask-etcd request as it is sent: the address resolved here for a
 * client URL that names its host (the agent resolves no names;
 * etcd/resolve.h).  ARG: the plan. */
static int fill_ask(void *arg, size_t host, size_t step, json_t *req) {
  const struct edr_plan *p = arg;
  const char *addr =
      p->hosts[host].steps[step].kind == EDR_STEP_ASK
          ? edr_health_route_addr(p, host, json_string_value(json_object_get(req, "url")))
          : NULL;
  return addr && json_object_set_new(req, "addr", json_string(addr)) ? EDR_ENOMEM : 0;
}

/* The ask-etcd replies: each step's request names its query (its path). */
static void agent_facts(struct edr_status_row *row, const struct edr_host_plan *hp,
                        const struct edr_host_result *hr) {
  for (size_t j = 0; j < hp->n_steps && j < hr->n_steps; j++) {
    if (hp->steps[j].kind != EDR_STEP_ASK)
      continue;
    json_t *reply = hr->steps[j].result; /* NULL: skipped */
    if (!reply)
      continue;
    enum edr_etcd_query q =
        edr_etcd_query_of(json_string_value(json_object_get(hp->steps[j].request, "path")));
    json_t *r = json_object_get(reply, "result");
    row->via_agent = true;
    if (json_is_true(json_object_get(reply, "ok"))) {
      const char *body = json_string_value(json_object_get(r, "body"));
      edr_status_parse_answer(row, q, (long)json_integer_value(json_object_get(r, "code")),
                              body ? body : "");
      continue;
    }
    json_t *err = json_object_get(reply, "error");
    int code = (int)json_integer_value(json_object_get(err, "errno"));
    if (q == EDR_QUERY_HEALTH && code < 0)
      row->health_err = code;
    if (!row->agent_error[0]) {
      const char *m = json_string_value(json_object_get(err, "message"));
      snprintf(row->agent_error, sizeof row->agent_error, "%s", m ? m : "no answer");
    }
  }
}

/* What the check run says about one host, into its row. */
static void ssh_facts(struct edr_status_row *row, const struct edr_host_plan *hp,
                      const struct edr_host_result *hr, const char *run_message) {
  json_t *probe = NULL;
  bool connected = false;
  for (size_t j = 0; j < hp->n_steps && j < hr->n_steps; j++) {
    if (hp->steps[j].kind == EDR_STEP_CONNECT)
      connected = hr->steps[j].finished && hr->steps[j].status == 0;
    if (hp->steps[j].kind == EDR_STEP_PROBE)
      probe = hr->steps[j].result;
  }
  row->ssh = connected ? EDR_SSH_OK : EDR_SSH_FAILED;
  if (json_is_boolean(json_object_get(probe, "etcd_running")))
    row->etcd_running = json_is_true(json_object_get(probe, "etcd_running"));
  json_t *dd = json_object_get(probe, "data_dir");
  if (json_is_integer(json_object_get(dd, "revision")))
    row->db_revision = json_integer_value(json_object_get(dd, "revision"));
  if (json_is_integer(json_object_get(dd, "consistent_index")))
    row->db_consistent_index = json_integer_value(json_object_get(dd, "consistent_index"));
  if (hr->status || !probe)
    snprintf(row->ssh_error, sizeof row->ssh_error, "%s",
             hr->message ? hr->message : run_message ? run_message : "no probe result");
  agent_facts(row, hp, hr);
}

/* Ask every member over HTTP and, unless NO_SSH, run every host's checks
 * at the same time on the same loop; fill ROWS.  Returns 0 or the HTTP
 * side's failure (EDR_ENOMEM). */
static int ask_all(struct edr_plan *plan, const struct edr_exec_opts *base,
                   const struct edr_status_fetch_opts *fo, struct edr_status_row *rows,
                   size_t n) {
  if (!plan)
    return edr_status_fetch(rows, n, fo);
  struct asking a = {.rows = rows, .n = n, .fo = fo};
  struct edr_exec_opts eo = *base;
  struct edr_run_result res;
  eo.want_ask = want_ask;
  eo.want_ask_arg = &a;
  eo.on_loop = on_loop;
  eo.keep_going = true;
  edr_execute(plan, &eo, &res);
  if (!a.http_done)  /* the run never started its loop */
    a.http_status = edr_status_fetch(rows, n, fo);
  for (size_t i = 0; i < n; i++) {
    if (res.n_hosts == n) {
      ssh_facts(&rows[i], &plan->hosts[i], &res.hosts[i], res.message);
    } else {
      rows[i].ssh = EDR_SSH_FAILED;
      snprintf(rows[i].ssh_error, sizeof rows[i].ssh_error, "%s",
               res.message ? res.message : "check did not run");
    }
  }
  edr_run_result_release(&res);
  return a.http_status;
}

/* ---- the command to consider -------------------------------------------- */

/* ---- printing ------------------------------------------------------------ */

enum col { C_MEMBER, C_SSH, C_ETCD, C_HEALTH, C_LEADER, C_ID, C_CLUSTER, C_REV, C_TERM,
           C_INDEX, C_DB, C_ALARMS, C_VERSION, C_VIA, C_DB_REV, C__COUNT };

static const char *const col_title[C__COUNT] = {
  "MEMBER", "SSH", "ETCD", "HEALTH", "LEADER", "MEMBER ID", "CLUSTER ID", "REVISION",
  "RAFT TERM", "RAFT INDEX", "DB SIZE", "ALARMS", "VERSION", "VIA", "DB REVISION",
};

typedef char cell[48];

static void fill_cells(const struct edr_status_row *r, cell *c) {
  snprintf(c[C_MEMBER], sizeof(cell), "%s", r->name);
  snprintf(c[C_SSH], sizeof(cell), "%s",
           r->ssh == EDR_SSH_SKIPPED ? "-" : r->ssh == EDR_SSH_OK ? "ok" : "FAILED");
  snprintf(c[C_ETCD], sizeof(cell), "%s",
           r->etcd_running == 1 ? "running" : r->etcd_running == 0 ? "stopped"
                                            : r->ssh == EDR_SSH_SKIPPED ? "-" : "?");
  snprintf(c[C_HEALTH], sizeof(cell), "%s",
           !r->reachable ? "unreachable" : r->health == 1 ? "true"
                                         : r->health == 0 ? "false"
                                         : r->health_err == EDR_ETIMEDOUT ? "timeout"
                                         : r->health_err ? "error" : "?");
  bool st = r->have_status;
  snprintf(c[C_LEADER], sizeof(cell), "%s",
           !st ? "-" : r->leader && r->leader == r->member_id ? "yes" : "no");
  if (st) {
    snprintf(c[C_ID], sizeof(cell), "%" PRIx64, r->member_id);
    snprintf(c[C_CLUSTER], sizeof(cell), "%" PRIx64, r->cluster_id);
    snprintf(c[C_REV], sizeof(cell), "%" PRId64, r->revision);
    snprintf(c[C_TERM], sizeof(cell), "%" PRIu64, r->raft_term);
    snprintf(c[C_INDEX], sizeof(cell), "%" PRIu64, r->raft_index);
    /* "20.5kB": no blank inside a cell, so awk '{print $N}' works */
    char hb[sizeof(cell)];
    edr_human_bytes((uint64_t)(r->db_size > 0 ? r->db_size : 0), hb, sizeof hb);
    size_t o = 0;
    for (const char *p = hb; *p && o + 1 < sizeof(cell); p++)
      if (*p != ' ')
        c[C_DB][o++] = *p;
    c[C_DB][o] = '\0';
    /* alarms can be longer than a cell: cut, never overflow */
    edr_escape(c[C_ALARMS], sizeof(cell),
               !r->alarms_known ? "?" : r->alarms[0] ? r->alarms : "none", 0);
  } else {
    for (int k = C_ID; k <= C_ALARMS; k++)
      snprintf(c[k], sizeof(cell), "-");
  }
  edr_escape(c[C_VERSION], sizeof(cell), r->version[0] ? r->version : "-", 0);
  /* where this row's figures came from: last, so earlier columns keep
   * their numbers for awk */
  snprintf(c[C_VIA], sizeof(cell), "%s", r->via_agent ? "ssh" : r->reachable ? "http" : "-");
  /* the member's own db, read by its host's agent: known with etcd down */
  if (r->db_revision >= 0)
    snprintf(c[C_DB_REV], sizeof(cell), "%" PRId64, r->db_revision);
  else
    snprintf(c[C_DB_REV], sizeof(cell), "-");
}

/* The table, or with SIMPLE its rows without the header, each cell
 * followed by ", " as etcdctl's -w simple. */
static void print_table(const struct edr_status_row *rows, size_t n, bool simple) {
  cell(*cells)[C__COUNT] = calloc(n + 1, sizeof(*cells));
  size_t w[C__COUNT] = {0};
  if (!cells)
    return;
  for (int k = 0; k < C__COUNT; k++)
    snprintf(cells[0][k], sizeof(cell), "%s", col_title[k]);
  for (size_t i = 0; i < n; i++)
    fill_cells(&rows[i], cells[i + 1]);
  for (size_t i = 0; i <= n; i++)
    for (int k = 0; k < C__COUNT; k++)
      if (strlen(cells[i][k]) > w[k])
        w[k] = strlen(cells[i][k]);
  for (size_t i = simple ? 1 : 0; i <= n; i++) {
    for (int k = 0; k + 1 < C__COUNT; k++)
      if (simple)
        printf("%s, ", cells[i][k]);
      else
        printf("%-*s  ", (int)w[k], cells[i][k]);
    printf("%s\n", cells[i][C__COUNT - 1]);
  }
  free(cells);
}

/* A member's or host's words, escaped for the terminal (util.h), in a
 * buffer that lives until the end of the enclosing statement's block. */
#define ESCAPED(s) edr_escape((char[1024]){0}, 1024, (s), 0)

/* Per-member notes under the table: why a column says what it says. */
static void print_notes(const struct edr_status_row *rows, size_t n, const char *other) {
  bool any = false, unasked = false;
  for (size_t i = 0; i < n; i++) {
    const struct edr_status_row *r = &rows[i];
    if (!any && (r->ssh_error[0] || !r->reachable || r->health == 0 || r->errors[0] ||
                 r->http_error[0] || r->via_agent))
      printf("\n"), any = true;
    if (r->ssh_error[0])
      printf("%s: ssh: %s\n", r->name, ESCAPED(r->ssh_error));
    bool host_only = r->route == EDR_STATUS_HOST;
    char from_here[700];
    if (host_only)
      snprintf(from_here, sizeof from_here, "%s", r->route_why ? r->route_why : "--health-via");
    else
      snprintf(from_here, sizeof from_here, "%s gave no answer from here: %s", r->client_url,
               r->http_error[0] ? r->http_error : "no answer");
    if (r->via_agent && r->reachable) {
      printf("%s: asked through the agent on its host, with its certificates (%s%s%s%s)\n",
             r->name, ESCAPED(from_here), r->agent_addr ? "; its client URL at " : "",
             r->agent_addr ? r->agent_addr : "", r->agent_addr ? ", resolved here" : "");
      if (r->health == 0)
        printf("%s: health false: %s\n", r->name, ESCAPED(r->health_reason));
      if (r->agent_error[0])
        printf("%s: through its host: %s\n", r->name, ESCAPED(r->agent_error));
    } else if (!r->reachable) {
      if (host_only)
        printf("%s: asked only through the agent on its host (%s)\n", r->name,
               ESCAPED(from_here));
      else
        printf("%s: could not be asked at %s: %s\n", r->name, r->client_url,
               r->http_error[0] ? r->http_error : "no answer");
      if (r->via_agent)
        printf("%s: nor through its host's agent: %s\n", r->name,
               ESCAPED(r->agent_error[0] ? r->agent_error : "no answer"));
      unasked = true;
    } else {
      if (r->health == 0)
        printf("%s: health false: %s\n", r->name, ESCAPED(r->health_reason));
      if (r->http_error[0])
        printf("%s: %s: %s\n", r->name, r->http_failed, ESCAPED(r->http_error));
    }
    if (r->errors[0])
      printf("%s: errors: %s\n", r->name, ESCAPED(r->errors));
  }
  if (other[0])
    printf("%s%s\n", any ? "" : "\n", ESCAPED(other));
  if (unasked) {
    printf("not asked over HTTP:");
    for (size_t i = 0, k = 0; i < n; i++)
      if (!rows[i].reachable)
        printf("%s %s", k++ ? "," : "", rows[i].name);
    printf(" (their client URLs gave no answer, from this machine or, where SSH "
           "worked, from their own hosts)\n");
  }
}

/* Under an UNKNOWN verdict: which members were tried where, and what to
 * check before anything else. */
static void print_unreached(const struct edr_status_row *rows, size_t n) {
  bool ssh_tried = false;
  printf("\nno answer from");
  for (size_t i = 0, k = 0; i < n; i++) {
    if (!edr_status_row_unreached(&rows[i]))
      continue;
    printf("%s %s at %s", k++ ? "," : "", rows[i].name, rows[i].client_url);
    ssh_tried |= rows[i].ssh != EDR_SSH_SKIPPED;
  }
  printf("%s.\nCheck the way from this machine to the hosts first (VPN, firewall, "
         "routes, DNS,\nthe client URLs in the spec): the cluster may be serving.  "
         "Do not restore on this verdict.\n", ssh_tried ? " (tried over HTTP and SSH)" : "");
}

static json_t *hex_or_null(bool known, uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%" PRIx64, v);
  return known ? json_string(b) : json_null();
}

static json_t *str_or_null(const char *s) {
  return s && *s ? json_string(s) : json_null();
}

static json_t *int_or_null(bool known, int64_t v) {
  return known ? json_integer((json_int_t)v) : json_null();
}

static json_t *row_json(const struct edr_status_row *r) {
  bool st = r->have_status;
  json_t *alarms = json_null();
  if (st && r->alarms_known) {
    alarms = json_array();
    char a[sizeof r->alarms];
    snprintf(a, sizeof a, "%s", r->alarms);
    for (char *save = NULL, *t = strtok_r(a, ",", &save); t; t = strtok_r(NULL, ",", &save))
      json_array_append_new(alarms, json_string(t));
  }
  return json_pack(
      "{s:s, s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
      "s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
      "name", r->name, "client_url", r->client_url, "ssh",
      r->ssh == EDR_SSH_SKIPPED ? "skipped" : r->ssh == EDR_SSH_OK ? "ok" : "failed",
      "ssh_error", str_or_null(r->ssh_error), "etcd_running",
      r->etcd_running < 0 ? json_null() : json_boolean(r->etcd_running), "reachable",
      r->reachable, "http_error", str_or_null(r->http_error), "http_failed_request",
      str_or_null(r->http_error[0] ? r->http_failed : NULL), "health",
      r->health < 0 ? json_null() : json_boolean(r->health), "health_reason",
      str_or_null(r->health_reason), "health_error",
      str_or_null(r->health_err ? edr_strerror(r->health_err) : NULL), "is_leader",
      st ? json_boolean(r->leader && r->leader == r->member_id) : json_null(), "is_learner",
      st ? json_boolean(r->is_learner) : json_null(), "member_id",
      hex_or_null(st, r->member_id), "cluster_id", hex_or_null(st, r->cluster_id), "leader",
      hex_or_null(st && r->leader, r->leader), "revision", int_or_null(st, r->revision),
      "raft_term", int_or_null(st, (int64_t)r->raft_term), "raft_index",
      int_or_null(st, (int64_t)r->raft_index), "raft_applied_index",
      int_or_null(st, (int64_t)r->raft_applied_index), "db_size",
      int_or_null(st, r->db_size), "alarms", alarms, "version", str_or_null(r->version),
      "cluster_version", str_or_null(r->cluster_version), "errors", str_or_null(r->errors),
      "via", r->via_agent ? json_string("ssh") : r->reachable ? json_string("http")
                                                              : json_null(),
      "agent_error", str_or_null(r->agent_error), "db_revision",
      int_or_null(r->db_revision >= 0, r->db_revision), "db_consistent_index",
      int_or_null(r->db_consistent_index >= 0, r->db_consistent_index));
}

static int print_json(const struct edr_status_row *rows, size_t n,
                      const struct edr_status_verdict *v, const char *other,
                      char *const *suggest, long fresh) {
  json_t *members = json_array(), *unasked = json_array(), *sug = json_array();
  json_t *unreached = json_array();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(members, row_json(&rows[i]));
    if (!rows[i].reachable)
      json_array_append_new(unasked, json_string(rows[i].name));
    if (edr_status_row_unreached(&rows[i]))
      json_array_append_new(unreached, json_string(rows[i].name));
  }
  for (size_t i = 0; suggest && suggest[i]; i++)
    json_array_append_new(sug, json_string(suggest[i]));
  json_t *j = json_pack("{s:o, s:s, s:s, s:I, s:I, s:I, s:b, s:o, s:o, s:o, s:o, s:o, s:o}",
                        "members", members, "verdict", edr_verdict_name(v->verdict),
                        "verdict_line", v->line, "healthy", (json_int_t)v->healthy,
                        "total", (json_int_t)v->total, "quorum", (json_int_t)v->quorum,
                        "one_cluster", v->one_cluster, "leader", str_or_null(v->leader_name),
                        "why", str_or_null(v->why), "other_alarms", str_or_null(other),
                        "not_asked", unasked, "unreached", unreached,
                        "suggested_commands", sug);
  if (j)
    json_object_set_new(j, "freshest_member",
                        fresh >= 0 ? json_string(rows[fresh].name) : json_null());
  /* ASCII only: what members said cannot carry a C1 control or a bidi
   * override to a terminal */
  if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)) {
    json_decref(j);
    return EDR_EXIT_INTERNAL;
  }
  fputc('\n', stdout);
  json_decref(j);
  return 0;
}

/* ---- the command ----------------------------------------------------------- */

int cmd_status(int argc, char **argv) {
  struct edr_args a;
  int rc;

  edr_args_init(&a, EDR_CMD_STATUS);
  if ((rc = edr_args_parse(&a, argc, argv, 1, &usage)))
    return rc < 0 ? 0 : rc;
  if (optind < argc) {
    edr_err("unexpected argument '%s'", argv[optind]);
    return EDR_EXIT_USAGE;
  }
  if ((rc = edr_args_write_out(&a, EDR_OUT_TABLE | EDR_OUT_JSON | EDR_OUT_SIMPLE)))
    return rc;
  struct edr_status_fetch_opts fo = {.tls = a.tls, .timeout_ms = a.timeout_ms};
  if (fo.tls.key && *fo.tls.key && !(fo.tls.cert && *fo.tls.cert)) {
    edr_err("--key (or ETCDCTL_KEY) needs --cert (or ETCDCTL_CERT)");
    return EDR_EXIT_USAGE;
  }
  int verbose = a.verbose;
  bool no_ssh = a.no_ssh, accept_new = a.eo.accept_new_hostkeys;
  /* Progress of the SSH checks only with -v: the table is the result. */
  edr_verbosity = verbose ? verbose - 1 : -1;

  struct edr_spec *spec = NULL;
  if ((rc = edr_cli_load_spec(&a.cs, &spec)))
    return rc;

  size_t n = spec->n_members;
  struct edr_status_row *rows = calloc(n, sizeof(*rows));
  struct edr_plan *plan = NULL;
  char other[512];
  int code = EDR_EXIT_INTERNAL;
  if (!rows) {
    edr_err("out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    edr_status_row_init(&rows[i], spec->members[i].name, spec->members[i].client_urls.v[0]);

  struct edr_exec_opts eo = {.accept_new_hostkeys = accept_new, .stall_timeout_ms = 60000};
  if (!no_ssh) {
    struct edr_plan_opts po = {.snapshot_revision = -1, .check_only = true,
                               .ask_etcd = true, .ask_timeout_ms = a.timeout_ms};
    if ((rc = edr_build_plan(spec, &po, &plan)))
      goto out;
    /* the health wait's routes, with this command's certificate here */
    if ((rc = edr_health_routes_decide(plan, a.po.health_via, fo.tls.cert && *fo.tls.cert))) {
      edr_err("out of memory");
      goto out;
    }
    for (size_t i = 0; i < n; i++) {
      const struct edr_health_route *hr = &plan->health_routes[i];
      const struct edr_member *m = &spec->members[i];
      rows[i].route = a.po.health_via == EDR_HEALTH_VIA_HERE ? EDR_STATUS_HERE
                      : hr->via_host && !hr->look           ? EDR_STATUS_HOST
                                                             : EDR_STATUS_AUTO;
      rows[i].route_why = hr->why;
      rows[i].host_tls = m->etcdctl_cert || m->etcdctl_cacert;
      /* a name the agent cannot ask without: said in the row (its host's
       * ask fails), the others are still asked (etcd/resolve.h) */
      struct edr_error rerr = EDR_ERROR_INIT;
      if (edr_route_resolve(plan, i, &rerr))
        snprintf(rows[i].agent_error, sizeof rows[i].agent_error, "%s", edr_error_text(&rerr));
      edr_error_release(&rerr);
      rows[i].agent_addr = hr->addr[0] ? hr->addr : NULL;
    }
    eo.fill = fill_ask;
    eo.hook_arg = plan;
  }
  rc = ask_all(plan, &eo, &fo, rows, n);
  if (rc) {
    edr_err("cannot ask the members: %s", edr_strerror(rc));
    goto out;
  }
  edr_status_resolve_alarms(rows, n, other, sizeof other);
  struct edr_status_verdict v;
  edr_status_judge(rows, n, &v);

  char *suggest[4] = {NULL, NULL, NULL, NULL};
  long fresh = v.verdict == EDR_VERDICT_QUORUM_LOST ? edr_status_freshest(rows, n) : -1;
  if (v.verdict == EDR_VERDICT_QUORUM_LOST) {
    char *args = edr_spec_args(argc, argv);
    const char *given = args ? args : "(your --cluster or --initial-cluster options)";
    suggest[0] = edr_asprintf("etcd-dr plan %s --snapshot FILE --check", given);
    suggest[1] = edr_asprintf("etcd-dr restore %s --snapshot FILE", given);
    if (fresh >= 0)
      /* a member's db has no sha-256 trailer: restore refuses it without */
      suggest[2] = edr_asprintf("etcd-dr restore %s --from-member %s --skip-hash-check", given,
                                rows[fresh].name);
    free(args);
  }
  if (a.write_out == EDR_OUT_JSON) {
    code = print_json(rows, n, &v, other, suggest, fresh);
  } else {
    print_table(rows, n, a.write_out == EDR_OUT_SIMPLE);
    code = 0;
  }
  if (a.write_out == EDR_OUT_TABLE) {
    print_notes(rows, n, other);
    printf("\nverdict: %s\n", ESCAPED(v.line));
    if (v.verdict != EDR_VERDICT_HEALTHY && v.why[0])
      printf("  why: %s\n", ESCAPED(v.why));
    if (v.verdict == EDR_VERDICT_UNKNOWN && v.unreached)
      print_unreached(rows, n);
    if (v.verdict == EDR_VERDICT_QUORUM_LOST && suggest[0] && suggest[1])
      printf("\nthe cluster cannot serve until a majority is back.  If the stopped members\n"
             "cannot be started, restore every member from a snapshot (FILE: your latest;\n"
             "`etcd-dr snapshot verify FILE` checks it).  Check the hosts first, then restore:\n"
             "  %s\n  %s\n", suggest[0], suggest[1]);
    if (suggest[2])
      printf("\nfreshest member by its own db (read offline on its host): %s at revision "
             "%" PRId64 ".\nTo restore every member from %s's db instead of a snapshot "
             "file:\n  %s\n", rows[fresh].name, rows[fresh].db_revision, rows[fresh].name,
             suggest[2]);
    code = 0;
  }
  free(suggest[0]);
  free(suggest[1]);
  free(suggest[2]);
  if (code == 0)
    code = fflush(stdout) ? EDR_EXIT_INTERNAL : edr_status_exit_code(v.verdict);

out:
  if (rows)
    edr_status_rows_release(rows, n);
  free(rows);
  edr_plan_free(plan);
  edr_spec_free(spec);
  return code;
}
