/*
 * test_status.c - unit tests of `etcd-dr status`'s pure parts: the parsers
 * of etcd's gateway answers (real bodies from etcd 3.4.23 and 3.5.16), the
 * alarm merge, the verdict and its exit status; etcd's user and token
 * (auth.h).  Also one fetch against a
 * closed loopback port, so an unreachable member is reported, not fatal.
 */
#include "status.h"

#include "auth.h"

#include "err.h"
#include "t.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const char st34[] =
    "{\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":"
    "\"13668033151171901709\",\"revision\":\"1\",\"raft_term\":\"2\"},\"version\":"
    "\"3.4.23\",\"dbSize\":\"20480\",\"leader\":\"13668033151171901709\",\"raftIndex\":"
    "\"8\",\"raftTerm\":\"2\",\"raftAppliedIndex\":\"8\",\"errors\":[\"memberID:"
    "13668033151171901709 alarm:NOSPACE \"],\"dbSizeInUse\":\"16384\"}";
static const char st35[] =
    "{\"header\":{\"cluster_id\":\"8140765981764738059\", \"member_id\":"
    "\"185828541645115251\", \"revision\":\"1\", \"raft_term\":\"2\"}, \"version\":"
    "\"3.5.16\", \"dbSize\":\"20480\", \"leader\":\"185828541645115251\", \"raftIndex\":"
    "\"4\", \"raftTerm\":\"2\", \"raftAppliedIndex\":\"4\", \"dbSizeInUse\":\"16384\"}";

static void test_parsers(void) {
  struct edr_status_row r;
  edr_status_row_init(&r, "m1", "http://x:2379");
  CHECK(r.health == -1 && r.revision == -1 && r.etcd_running == -1 && !r.reachable);

  edr_status_parse_status(&r, 200, st34);
  CHECK(r.have_status && r.reachable);
  CHECK(r.member_id == 13668033151171901709ull);
  CHECK(r.cluster_id == 15118495548433857066ull);
  CHECK(r.leader == r.member_id);
  CHECK(r.revision == 1 && r.raft_term == 2 && r.raft_index == 8);
  CHECK(r.db_size == 20480 && r.db_size_in_use == 16384);
  CHECK_STR(r.version, "3.4.23");
  CHECK_STR(r.errors, "memberID:13668033151171901709 alarm:NOSPACE");

  edr_status_parse_health(&r, 200, "{\"health\":\"true\"}");
  CHECK(r.health == 1);
  edr_status_parse_health(&r, 503, "{\"health\":\"false\",\"reason\":\"ALARM NOSPACE\"}");
  CHECK(r.health == 0);
  CHECK_STR(r.health_reason, "ALARM NOSPACE");
  edr_status_parse_health(&r, 503, "{\"health\":\"false\"}");
  CHECK(r.health == 0);
  CHECK_STR(r.health_reason, "HTTP 503, no reason given");
  edr_status_parse_health(&r, 404, "not json");
  CHECK(r.health == 0);
  CHECK_CONTAINS(r.health_reason, "HTTP 404");

  edr_status_parse_version(&r, 200, "{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}");
  CHECK_STR(r.cluster_version, "3.4.0");

  /* 3.4 answers a GET without alarms as "{}" */
  edr_status_parse_alarms(&r, 200, "{}");
  CHECK(json_is_array(r.alarm_list) && json_array_size(r.alarm_list) == 0);
  edr_status_parse_alarms(&r, 200,
                          "{\"alarms\":[{\"memberID\":\"13668033151171901709\",\"alarm\":"
                          "\"NOSPACE\"},{\"memberID\":\"13668033151171901709\",\"alarm\":"
                          "\"CORRUPT\"},{\"memberID\":\"42\",\"alarm\":\"NOSPACE\"}]}");
  CHECK(json_array_size(r.alarm_list) == 3);
  char other[256];
  edr_status_resolve_alarms(&r, 1, other, sizeof other);
  CHECK_STR(r.alarms, "NOSPACE,CORRUPT");
  CHECK(r.alarms_known);
  CHECK_STR(other, "alarm on member 2a NOSPACE");
  edr_status_rows_release(&r, 1);

  edr_status_row_init(&r, "m2", "http://x:2379");
  edr_status_parse_status(&r, 200, st35);
  CHECK(r.member_id == 185828541645115251ull && r.raft_index == 4);
  CHECK_STR(r.version, "3.5.16");
  CHECK_STR(r.errors, "");
  edr_status_parse_status(&r, 500, "{\"error\":\"etcdserver: request timed out\",\"code\":14}");
  CHECK_CONTAINS(r.errors, "HTTP 500: etcdserver: request timed out");
  edr_status_rows_release(&r, 1);
}

/* A row as a healthy member of cluster C, led by L, says it. */
static void healthy_row(struct edr_status_row *r, const char *name, uint64_t id, uint64_t c,
                        uint64_t l) {
  edr_status_row_init(r, name, "http://x:2379");
  r->reachable = true;
  r->health = 1;
  r->have_status = true;
  r->member_id = id;
  r->cluster_id = c;
  r->leader = l;
  r->revision = 10;
}

static void down_row(struct edr_status_row *r, const char *name) {
  edr_status_row_init(r, name, "http://x:2379");
  r->http_status = EDR_ECONNREFUSED;
}

/* What a member's host's agent brings back (etcd-http's code and body) is
 * read by the same parser as an answer from here, query by query: 3.4.23's
 * status with IDs above 2^63 (strings in the gateway's JSON: exact). */
static const char status34[] =
    "{\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":"
    "\"13668033151171901709\",\"revision\":\"7\",\"raft_term\":\"2\"},"
    "\"version\":\"3.4.23\",\"dbSize\":\"20480\",\"leader\":\"13668033151171901709\","
    "\"raftIndex\":\"9\",\"raftTerm\":\"2\",\"raftAppliedIndex\":\"9\","
    "\"errors\":[\"memberID:13668033151171901709 alarm:NOSPACE \"]}";

static void test_answer_parser(void) {
  struct edr_status_row r;
  edr_status_row_init(&r, "m1", "http://x:2379");
  CHECK(edr_etcd_query_of("/v3/maintenance/status") == EDR_QUERY_STATUS);
  CHECK(edr_etcd_query_of("/health") == EDR_QUERY_HEALTH);
  CHECK(edr_etcd_query_of("/nope") == EDR_QUERY__COUNT && edr_etcd_query_of(NULL) == EDR_QUERY__COUNT);
  edr_status_parse_answer(&r, edr_etcd_query_of("/v3/maintenance/status"), 200, status34);
  CHECK(r.reachable && r.have_status);
  CHECK(r.member_id == 13668033151171901709ull && r.cluster_id == 15118495548433857066ull);
  CHECK(r.leader == r.member_id && r.revision == 7 && r.raft_term == 2 && r.raft_index == 9);
  CHECK(r.raft_applied_index == 9 && r.db_size == 20480 && !r.is_learner);
  CHECK_STR(r.version, "3.4.23");
  CHECK_STR(r.errors, "memberID:13668033151171901709 alarm:NOSPACE");
  edr_status_parse_answer(&r, EDR_QUERY_HEALTH, 200, "{\"health\":\"true\"}");
  CHECK(r.health == 1);
  edr_status_parse_answer(&r, EDR_QUERY_ALARM, 200,
                          "{\"header\":{},\"alarms\":[{\"memberID\":\"13668033151171901709\","
                          "\"alarm\":\"NOSPACE\"},{\"memberID\":\"42\",\"alarm\":\"CORRUPT\"}]}");
  CHECK(json_array_size(r.alarm_list) == 2);
  char other[256];
  edr_status_resolve_alarms(&r, 1, other, sizeof other);
  CHECK_STR(r.alarms, "NOSPACE");
  CHECK_CONTAINS(other, "2a CORRUPT");
  edr_status_rows_release(&r, 1);

  /* unhealthy but answering (no quorum, 3.5): reached, health false, the reason kept */
  edr_status_row_init(&r, "m2", "http://y:2379");
  edr_status_parse_answer(&r, EDR_QUERY_HEALTH, 503,
                          "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}");
  CHECK(r.reachable && r.health == 0);
  CHECK_STR(r.health_reason, "RAFT NO LEADER");
  /* an unknown query and garbage never crash nor fill anything */
  edr_status_row_init(&r, "m3", "http://z:2379");
  edr_status_parse_answer(&r, EDR_QUERY__COUNT, 200, status34);
  CHECK(!r.reachable && !r.have_status);
  edr_status_parse_answer(&r, EDR_QUERY_STATUS, 200, "not json");
  CHECK(!r.have_status && r.errors[0]);
  edr_status_rows_release(&r, 1);

  /* who is asked through the agent: no answer for a network reason only */
  edr_status_row_init(&r, "m4", "https://w:2379");
  r.http_status = EDR_ECONNREFUSED;
  CHECK(edr_status_needs_agent(&r));
  r.http_status = EDR_ETIMEDOUT;
  CHECK(edr_status_needs_agent(&r));
  r.http_status = EDR_EHOSTUNREACH;
  CHECK(edr_status_needs_agent(&r));
  r.http_status = EDR_ETLS; /* refused our certificate: keeps its UNKNOWN verdict */
  CHECK(!edr_status_needs_agent(&r));
  r.host_tls = true;        /* ... unless its host has certificates to ask with */
  CHECK(edr_status_needs_agent(&r));
  r.route = EDR_STATUS_HERE; /* --health-via here: never */
  CHECK(!edr_status_needs_agent(&r));
  r.route = EDR_STATUS_AUTO;
  r.http_status = EDR_ECONNREFUSED;
  r.reachable = true; /* answered some request */
  CHECK(!edr_status_needs_agent(&r));
  r.route = EDR_STATUS_HOST; /* its route goes through its host: always */
  CHECK(edr_status_needs_agent(&r));
}

static void test_verdict(void) {
  struct edr_status_row r[5];
  struct edr_status_verdict v;
  char other[64];

  healthy_row(&r[0], "m1", 1, 100, 1);
  healthy_row(&r[1], "m2", 2, 100, 1);
  healthy_row(&r[2], "m3", 3, 100, 1);
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_HEALTHY);
  CHECK_STR(v.line, "healthy");
  CHECK(v.healthy == 3 && v.total == 3 && v.quorum == 2 && v.leaders == 1);
  CHECK_STR(v.leader_name, "m1");
  CHECK(edr_status_exit_code(v.verdict) == 0);

  /* one member down: quorum held */
  down_row(&r[1], "m2");
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_DEGRADED);
  CHECK_STR(v.line, "degraded, quorum held (2 of 3 healthy)");
  CHECK_CONTAINS(v.why, "m2 unreachable");
  CHECK(edr_status_exit_code(v.verdict) == 6); /* EDR_EXIT_UNHEALTHY */

  /* two down: the survivor has no leader and /health false */
  down_row(&r[2], "m3");
  r[0].health = 0;
  r[0].leader = 0;
  snprintf(r[0].health_reason, sizeof r[0].health_reason, "NO LEADER");
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_QUORUM_LOST);
  CHECK_STR(v.line, "QUORUM LOST (0 of 3 healthy)");
  CHECK(edr_status_exit_code(v.verdict) == 8); /* EDR_EXIT_QUORUM_LOST */
  CHECK_CONTAINS(v.why, "m1 not healthy (NO LEADER)");

  /* all healthy but an alarm: degraded */
  healthy_row(&r[0], "m1", 1, 100, 1);
  healthy_row(&r[1], "m2", 2, 100, 1);
  healthy_row(&r[2], "m3", 3, 100, 1);
  r[1].alarm_list = json_pack("[{s:s, s:s}]", "memberID", "2", "alarm", "NOSPACE");
  edr_status_resolve_alarms(r, 3, other, sizeof other);
  CHECK_STR(r[1].alarms, "NOSPACE");
  CHECK_STR(r[0].alarms, "");
  CHECK(r[0].alarms_known);
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_DEGRADED);
  CHECK_STR(v.line, "degraded, quorum held (3 of 3 healthy; alarm NOSPACE)");
  CHECK_CONTAINS(v.why, "alarm NOSPACE on m2");

  /* ...and what etcd really answers then: /health false on every member,
   * 3.4 without a reason, 3.5 with "ALARM NOSPACE".  Still not quorum lost. */
  for (int i = 0; i < 3; i++) {
    edr_status_parse_health(&r[i], 503, i == 2 ? "{\"health\":\"false\",\"reason\":\"ALARM NOSPACE\"}"
                                               : "{\"health\":\"false\"}");
  }
  edr_status_resolve_alarms(r, 3, other, sizeof other);
  CHECK_STR(r[0].health_reason, "ALARM NOSPACE (assumed: etcd 3.4's /health gives no reason)");
  CHECK_STR(r[2].health_reason, "ALARM NOSPACE");
  edr_status_judge(r, 3, &v);
  CHECK_STR(v.line, "degraded, quorum held (3 of 3 healthy; alarm NOSPACE)");
  CHECK(edr_status_exit_code(v.verdict) == 6);
  /* without a leader, /health false is not the alarm's doing */
  r[0].leader = r[1].leader = r[2].leader = 0;
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_QUORUM_LOST);
  edr_status_rows_release(r, 3);
  healthy_row(&r[0], "m1", 1, 100, 1);
  healthy_row(&r[1], "m2", 2, 100, 1);

  /* two clusters (a botched restore): the bigger one counts */
  healthy_row(&r[2], "m3", 3, 200, 3);
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_DEGRADED);
  CHECK(!v.one_cluster && v.healthy == 2);
  CHECK_CONTAINS(v.why, "m3 is in another cluster (c8, not 64)");

  /* two leaders in one cluster is not healthy */
  healthy_row(&r[2], "m3", 3, 100, 3);
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_DEGRADED);
  CHECK(v.leaders == 2 && v.leader_name == NULL);

  /* no leader at all, all answering "healthy" (cannot happen, but judge) */
  for (int i = 0; i < 3; i++)
    r[i].leader = 0;
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_DEGRADED);
  CHECK_CONTAINS(v.why, "no member says it is the leader");

  /* 5 members: 3 healthy holds quorum, 2 does not */
  healthy_row(&r[0], "m1", 1, 100, 1);
  healthy_row(&r[1], "m2", 2, 100, 1);
  healthy_row(&r[2], "m3", 3, 100, 1);
  down_row(&r[3], "m4");
  down_row(&r[4], "m5");
  edr_status_judge(r, 5, &v);
  CHECK_STR(v.line, "degraded, quorum held (3 of 5 healthy)");
  down_row(&r[2], "m3");
  edr_status_judge(r, 5, &v);
  CHECK_STR(v.line, "QUORUM LOST (2 of 5 healthy)");

  /* a reachable member whose status fails is not counted */
  healthy_row(&r[0], "m1", 1, 100, 1);
  r[0].have_status = false;
  edr_status_judge(r, 1, &v);
  CHECK(v.verdict == EDR_VERDICT_QUORUM_LOST);
  CHECK_CONTAINS(v.why, "m1 gave no status");

  /* no member reached at all (a VPN down: no route, SSH failed too): the
   * cluster may be serving, so unknown, never quorum lost */
  for (int i = 0; i < 3; i++) {
    edr_status_row_init(&r[i], i == 0 ? "m1" : i == 1 ? "m2" : "m3", "http://10.0.0.1:2379");
    r[i].http_status = i == 1 ? EDR_ETIMEDOUT : EDR_EHOSTUNREACH;
    r[i].ssh = EDR_SSH_FAILED;
  }
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_UNKNOWN);
  CHECK(edr_status_exit_code(v.verdict) == 4);
  CHECK(v.unreached == 3);
  CHECK_STR(v.line, "UNKNOWN: no member could be reached (check the network or VPN between "
                    "this machine and the hosts)");
  /* --no-ssh alike */
  for (int i = 0; i < 3; i++)
    r[i].ssh = EDR_SSH_SKIPPED;
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_UNKNOWN);
  /* one healthy, one refused (down), one unreached: it could be the second
   * of a quorum */
  healthy_row(&r[0], "m1", 1, 100, 1);
  down_row(&r[1], "m2");
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_UNKNOWN);
  CHECK_STR(v.line, "UNKNOWN: 1 of 3 healthy, 1 could not be reached and may be serving "
                    "(check the network or VPN to them)");
  /* ...but when SSH reached m3's host and etcd is stopped there, it is known */
  r[2].ssh = EDR_SSH_OK;
  r[2].etcd_running = 0;
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_QUORUM_LOST);
  CHECK_STR(v.line, "QUORUM LOST (1 of 3 healthy)");
  /* etcd running on the host but answering nobody: not known to be down */
  r[2].etcd_running = 1;
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_UNKNOWN);
  /* two refused of three: quorum is lost whatever the third does */
  down_row(&r[2], "m3");
  r[0].http_status = 0;
  down_row(&r[0], "m1");
  r[0].http_status = EDR_ETIMEDOUT;
  edr_status_judge(r, 3, &v);
  CHECK(v.verdict == EDR_VERDICT_QUORUM_LOST);
  edr_status_rows_release(r, 3);

  /* an empty spec cannot be healthy */
  edr_status_judge(r, 0, &v);
  CHECK(v.verdict != EDR_VERDICT_HEALTHY);
}

static void test_fetch_refused(void) {
  struct edr_status_row r[2];
  /* port 9 (discard) on loopback: nothing listens there in a test run */
  edr_status_row_init(&r[0], "m1", "http://127.0.0.1:9");
  edr_status_row_init(&r[1], "m2", "http://127.0.0.1:9/");
  struct edr_status_fetch_opts o = {.timeout_ms = 1000};
  CHECK(edr_status_fetch(r, 2, &o) == 0);
  for (int i = 0; i < 2; i++) {
    CHECK(!r[i].reachable);
    CHECK(r[i].http_status == EDR_ECONNREFUSED);
    CHECK_STR(r[i].http_error, "connection refused");
    CHECK(r[i].health == -1 && !r[i].have_status);
  }
  struct edr_status_verdict v;
  char other[8];
  edr_status_resolve_alarms(r, 2, other, sizeof other);
  CHECK(!r[0].alarms_known);
  edr_status_judge(r, 2, &v);
  CHECK_STR(v.line, "QUORUM LOST (0 of 2 healthy)");
  edr_status_rows_release(r, 2);
}

/* What status prints of a member's words (util.h's escaping). */
static void test_escape(void) {
  char b[64];
  CHECK_STR(edr_escape(b, sizeof b, "caf\xc3\xa9 \xe6\x97\xa5 ok", 0), "caf\xc3\xa9 \xe6\x97\xa5 ok");
  CHECK_STR(edr_escape(b, sizeof b, "a\x1b[2Jb\x07", 0), "a\\x1b[2Jb\\x07");
  CHECK_STR(edr_escape(b, sizeof b, "\xc2\x9b\xe2\x80\xae", 0), "\\xc2\\x9b\\xe2\\x80\\xae");
  CHECK_STR(edr_escape(b, sizeof b, "\xc0\xaf\xff", 0), "\\xc0\\xaf\\xff"); /* not UTF-8 */
  CHECK_STR(edr_escape(b, sizeof b, "x\ny\tz", 0), "x\\x0ay\\x09z");
  CHECK_STR(edr_escape(b, sizeof b, "x\ny\tz", EDR_ESC_KEEP_NL), "x\ny\tz");
  CHECK_STR(edr_escape(b, 7, "ab\x1b", 0), "ab\\x1b");
  CHECK_STR(edr_escape(b, 6, "ab\x1b", 0), "ab"); /* cut at a whole escape */
  CHECK_STR(edr_escape(b, sizeof b, NULL, 0), "");
}

/* The asking on a caller's loop, cancelled: a listener that accepts and
 * never answers keeps every request open until the cancel ends them, well
 * before their 5 s timeout; the callback runs once, from the loop. */
struct cancel_case {
  struct edr_status_fetch *f;
  int status;
  unsigned calls;
  uint64_t done_ms;
};

static void cancel_done(void *arg, int status) {
  struct cancel_case *c = arg;
  c->status = status;
  c->calls++;
  c->done_ms = edr_now_ms();
}

static void cancel_fetch(void *c) { edr_status_fetch_cancel(c); }

static void test_fetch_cancel(void) {
  uv_loop_t loop;
  int port;
  int srv = t_silent_listener(&port);
  CHECK(srv >= 0);
  CHECK(uv_loop_init(&loop) == 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  struct edr_status_row r[1];
  edr_status_row_init(&r[0], "m1", url);
  struct edr_status_fetch_opts o = {.timeout_ms = 5000};
  struct cancel_case c = {0};
  uint64_t t0 = edr_now_ms();
  CHECK(edr_status_fetch_start(&loop, r, 1, &o, cancel_done, &c, &c.f) == 0);
  CHECK(c.calls == 0);  /* never from inside the start */
  struct t_later t;
  t_later(&loop, &t, 100, cancel_fetch, c.f);
  while (c.calls == 0 && uv_run(&loop, UV_RUN_ONCE))
    ;
  CHECK(c.calls == 1);
  CHECK(c.status == EDR_ECANCELED);
  CHECK(c.done_ms - t0 < 2000);
  CHECK(!r[0].have_status);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(c.calls == 1);
  close(srv);
  CHECK(uv_loop_close(&loop) == 0);
  edr_status_rows_release(r, 1);
}

/* etcd's user as etcdctl reads it (auth.h), and the token's answer; the
 * password is never in a message. */
static void test_etcd_user(void) {
  struct edr_etcd_user u;
  struct edr_error e = EDR_ERROR_INIT;
  unsetenv("ETCDCTL_USER");
  unsetenv("ETCDCTL_PASSWORD");
  CHECK(edr_etcd_user_get(NULL, &u, &e) == 0 && !u.name);
  setenv("ETCDCTL_USER", "root:pa:ss", 1);
  CHECK(edr_etcd_user_get(NULL, &u, &e) == 0 && u.name && u.password);
  if (u.name) {
    CHECK_STR(u.name, "root");
    CHECK_STR(u.password, "pa:ss");
  }
  char *body = u.name ? edr_etcd_auth_body(&u) : NULL;
  CHECK(body && strstr(body, "\"name\":\"root\"") && strstr(body, "\"password\":\"pa:ss\""));
  edr_etcd_auth_body_free(body);
  char *tok = NULL;
  CHECK(edr_etcd_auth_token("member 'm1' (u)", &u, 200, "{\"header\":{},\"token\":\"abc.1\"}",
                            &tok, &e) == 0 && tok && !strcmp(tok, "abc.1"));
  free(tok);
  CHECK(edr_etcd_auth_token("member 'm1' (u)", &u, 400,
                            "{\"code\":3,\"message\":\"etcdserver: authentication failed, "
                            "invalid user ID or password\"}", &tok, &e) == EDR_EETCDAUTH && !tok);
  CHECK_STR(edr_error_text(&e), "member 'm1' (u): authentication as 'root' failed: etcdserver: "
            "authentication failed, invalid user ID or password (check ETCDCTL_USER, or --user "
            "and ETCDCTL_PASSWORD)");
  CHECK(!strstr(edr_error_text(&e), "pa:ss"));
  CHECK(*edr_etcd_auth_hint("auth: user name is empty", &u) == '\0');
  edr_etcd_user_release(&u);
  CHECK(strstr(edr_etcd_auth_hint("auth: user name is empty", NULL), "ETCDCTL_USER"));
  setenv("ETCDCTL_PASSWORD", "other", 1);  /* wins over the colon's */
  CHECK(edr_etcd_user_get("admin", &u, &e) == 0 && u.name && !strcmp(u.name, "admin") &&
        !strcmp(u.password, "other"));
  edr_etcd_user_release(&u);
  CHECK(edr_etcd_user_get("admin:pw", &u, &e) == EDR_EINVAL && !strstr(edr_error_text(&e), "pw"));
  unsetenv("ETCDCTL_PASSWORD");
  setenv("ETCDCTL_USER", "root", 1);
  CHECK(edr_etcd_user_get(NULL, &u, &e) == EDR_EINVAL && !u.name);
  CHECK_STR(edr_error_text(&e), "ETCDCTL_USER 'root' has no password: set ETCDCTL_PASSWORD (or "
            "ETCDCTL_USER=root:PASSWORD)");
  unsetenv("ETCDCTL_USER");
  edr_error_release(&e);
}

int main(void) {
  test_escape();
  test_parsers();
  test_answer_parser();
  test_etcd_user();
  test_verdict();
  test_fetch_refused();
  test_fetch_cancel();
  return t_done("test_status");
}
