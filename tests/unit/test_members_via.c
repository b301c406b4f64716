/*
 * test_members_via.c - member add and remove asked through the hosts
 * (etcd/members.c with an edr_members_asker, what the run's gates use when
 * this machine has no certificate the members accept): the answers of
 * etcd 3.4's and 3.5's gateway, as they came from real members, judged the
 * same as from here; a member whose host cannot reach it is passed over
 * for the next, one here cannot reach is asked again through its host;
 * ids go out as decimal strings (both gateways take strings
 * and numbers and answer strings); a cancel with a question still on a
 * host ends the call at once and the late answer is dropped; with etcd's
 * user, the token is asked of each member through the same host as the
 * change and sent with it, the password in that request's body only, and
 * a wrong one is refused in the words used from here.  The asker is a
 * script: no network, no agent.
 */
#include "members.h"
#include "auth.h"
#include "err.h"
#include "t.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* ---- the gateways' answers (etcd 3.4.23 and 3.5.16, curl on loopback) ---- */

/* A list with m1 and m2, per version. */
static const char *const list_answer[2] = {
  "{\"header\":{\"cluster_id\":\"12499579882375668459\",\"member_id\":\"6987771583291745523\","
  "\"raft_term\":\"2\"},\"members\":[{\"ID\":\"6987771583291745523\",\"name\":\"m1\","
  "\"peerURLs\":[\"https://10.0.0.1:2380\"],\"clientURLs\":[\"https://10.0.0.1:2379\"]},"
  "{\"ID\":\"16589825982173061880\",\"name\":\"m2\",\"peerURLs\":[\"https://10.0.0.2:2380\"],"
  "\"clientURLs\":[\"https://10.0.0.2:2379\"]}]}",
  "{\"header\":{\"cluster_id\":\"1715426195391287628\", \"member_id\":\"865312067528504062\", "
  "\"raft_term\":\"2\"}, \"members\":[{\"ID\":\"865312067528504062\", \"name\":\"m1\", "
  "\"peerURLs\":[\"https://10.0.0.1:2380\"], \"clientURLs\":[\"https://10.0.0.1:2379\"]}, "
  "{\"ID\":\"13178060773313503048\", \"name\":\"m2\", \"peerURLs\":[\"https://10.0.0.2:2380\"], "
  "\"clientURLs\":[\"https://10.0.0.2:2379\"]}]}",
};
static const char *const m2_id_dec[2] = {"16589825982173061880", "13178060773313503048"};
static const char *const m2_id_hex[2] = {"e63ae6d588f8a2f8", "b6e1e073f5dc5f48"};

/* The list after m2's remove. */
static const char *const removed_answer[2] = {
  "{\"header\":{\"cluster_id\":\"12499579882375668459\",\"member_id\":\"6987771583291745523\","
  "\"raft_term\":\"2\"},\"members\":[{\"ID\":\"6987771583291745523\",\"name\":\"m1\","
  "\"peerURLs\":[\"https://10.0.0.1:2380\"],\"clientURLs\":[\"https://10.0.0.1:2379\"]}]}",
  "{\"header\":{\"cluster_id\":\"1715426195391287628\", \"member_id\":\"865312067528504062\", "
  "\"raft_term\":\"2\"}, \"members\":[{\"ID\":\"865312067528504062\", \"name\":\"m1\", "
  "\"peerURLs\":[\"https://10.0.0.1:2380\"], \"clientURLs\":[\"https://10.0.0.1:2379\"]}]}",
};

/* member add of https://10.0.0.2:2380: the new member (not started: no
 * name, no client URL), its id a string. */
static const char *const add_answer[2] = {
  "{\"header\":{\"cluster_id\":\"12499579882375668459\",\"member_id\":\"6987771583291745523\","
  "\"raft_term\":\"2\"},\"member\":{\"ID\":\"16589825982173061880\",\"peerURLs\":"
  "[\"https://10.0.0.2:2380\"]},\"members\":[{\"ID\":\"6987771583291745523\",\"name\":\"m1\","
  "\"peerURLs\":[\"https://10.0.0.1:2380\"],\"clientURLs\":[\"https://10.0.0.1:2379\"]},"
  "{\"ID\":\"16589825982173061880\",\"peerURLs\":[\"https://10.0.0.2:2380\"]}]}",
  "{\"header\":{\"cluster_id\":\"1715426195391287628\", \"member_id\":\"865312067528504062\", "
  "\"raft_term\":\"2\"}, \"member\":{\"ID\":\"13178060773313503048\", \"peerURLs\":"
  "[\"https://10.0.0.2:2380\"]}, \"members\":[{\"ID\":\"865312067528504062\", \"name\":\"m1\", "
  "\"peerURLs\":[\"https://10.0.0.1:2380\"], \"clientURLs\":[\"https://10.0.0.1:2379\"]}, "
  "{\"ID\":\"13178060773313503048\", \"peerURLs\":[\"https://10.0.0.2:2380\"]}]}",
};

/* Refusals: 3.4 says error, message and code; 3.5 code and message. */
static const char *const exists_answer[2] = {
  "{\"error\":\"etcdserver: Peer URLs already exists\",\"message\":\"etcdserver: Peer URLs "
  "already exists\",\"code\":9}",
  "{\"code\":9, \"message\":\"etcdserver: Peer URLs already exists\"}",
};
static const char *const notfound_answer[2] = {
  "{\"error\":\"etcdserver: member not found\",\"message\":\"etcdserver: member not found\","
  "\"code\":5}",
  "{\"code\":5, \"message\":\"etcdserver: member not found\"}",
};

/* ---- the script: what each host answers, in order ----------------------- */

struct answer {
  int status;          /* 0: an HTTP answer; else the agent's failure */
  long code;
  const char *body;
  const char *why;
};

struct asked {
  size_t url;
  char path[64];
  char body[256];
  char authorization[64];  /* "" when none */
};

struct script {
  uv_loop_t *loop;
  const struct answer *answers;  /* one per request, in order */
  size_t n_answers, next;
  struct asked asked[8];
  size_t n_asked;
  uint64_t delay_ms;
};

struct pending {
  uv_timer_t timer;
  struct answer a;
  edr_http_cb cb;
  void *cb_arg;
};

static void pending_closed(uv_handle_t *h) { free(h->data); }

static void pending_fire(uv_timer_t *t) {
  struct pending *p = t->data;
  p->cb(p->cb_arg, p->a.status, p->a.code, p->a.status ? "" : p->a.body,
        p->a.status ? 0 : strlen(p->a.body), p->a.why ? p->a.why : "");
  uv_close((uv_handle_t *)t, pending_closed);
}

static int script_request(void *arg, size_t url, const char *method, const char *path,
                          const char *body, const char *authorization, uint64_t timeout_ms,
                          edr_http_cb cb, void *cb_arg) {
  struct script *s = arg;
  CHECK(!strcmp(method, "POST"));
  CHECK(timeout_ms > 0);
  if (s->n_asked < 8) {
    struct asked *a = &s->asked[s->n_asked++];
    a->url = url;
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->body, sizeof a->body, "%s", body ? body : "");
    snprintf(a->authorization, sizeof a->authorization, "%s",
             authorization ? authorization : "");
  }
  struct pending *p = calloc(1, sizeof *p);
  if (!p)
    return EDR_ENOMEM;
  p->a = s->next < s->n_answers
             ? s->answers[s->next++]
             : (struct answer){.status = EDR_ETIMEDOUT, .why = "no answer scripted"};
  p->cb = cb;
  p->cb_arg = cb_arg;
  uv_timer_init(s->loop, &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, pending_fire, s->delay_ms, 0);  /* from the loop */
  return 0;
}

struct outcome {
  struct edr_members_call *call;
  unsigned calls;
  int status;
  bool already;
  char id[17];
  char err[2048];
};

static void done(void *arg, struct edr_members_result *res) {
  struct outcome *o = arg;
  o->calls++;
  o->status = res->err.code;
  o->already = res->already;
  snprintf(o->id, sizeof o->id, "%s", res->id);
  snprintf(o->err, sizeof o->err, "%s", edr_error_text(&res->err));
}

static const char *const urls[] = {"https://10.0.0.3:2379", "https://10.0.0.1:2379"};
static const bool via_all[] = {true, true};
static const char *const m2_peer[] = {"https://10.0.0.2:2380"};

/* Q asked with S as its asker, on a loop of its own, to the end. */
static void run_req(struct script *s, struct edr_members_req q, struct outcome *o) {
  uv_loop_t loop;
  CHECK(uv_loop_init(&loop) == 0);
  s->loop = &loop;
  q.via = (struct edr_members_asker){.request = script_request, .arg = s};
  CHECK(edr_members_start(&loop, &q, done, o, &o->call) == 0);
  CHECK(o->calls == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(o->calls == 1);
  CHECK(uv_loop_close(&loop) == 0);
}

/* OP on m2 asking URLS (VIA saying which through their hosts) as etcd's
 * user U (NULL: none). */
static void run_as(struct script *s, enum edr_members_op op, const bool *via,
                   const struct edr_etcd_user *u, struct outcome *o) {
  static const struct edr_tls tls = {0};
  run_req(s, (struct edr_members_req){
    .op = op, .urls = urls, .n_urls = 2, .tls = &tls, .timeout_ms = 2000,
    .name = op == EDR_MEMBERS_REMOVE ? "m2" : NULL, .peer_urls = m2_peer, .n_peer = 1,
    .via_url = via, .user = u}, o);
}

static void run(struct script *s, enum edr_members_op op, const bool *via, struct outcome *o) {
  run_as(s, op, via, NULL, o);
}

/* m3's host cannot reach m3 (etcd down there): m1's host is asked, the
 * list names m2's id, the remove sends it as a decimal string. */
static void test_remove(int v) {
  char body[64];
  struct answer a[] = {
    {.status = EDR_ECONNREFUSED, .why = "10.0.0.3's agent: connection refused"},
    {.code = 200, .body = list_answer[v]},
    {.code = 200, .body = removed_answer[v]},
  };
  struct script s = {.answers = a, .n_answers = 3};
  struct outcome o = {0};
  run(&s, EDR_MEMBERS_REMOVE, via_all, &o);
  CHECK(o.status == 0);
  CHECK(!o.already);
  CHECK(s.n_asked == 3);
  CHECK(s.asked[0].url == 0 && s.asked[1].url == 1 && s.asked[2].url == 1);
  CHECK_STR(s.asked[1].path, "/v3/cluster/member/list");
  CHECK_STR(s.asked[2].path, "/v3/cluster/member/remove");
  snprintf(body, sizeof body, "{\"ID\":\"%s\"}", m2_id_dec[v]);
  CHECK_STR(s.asked[2].body, body);
}

/* m2 gone meanwhile (the remove's answer lost before): "member not found"
 * in either version's words is nothing left to do. */
static void test_remove_gone(int v) {
  struct answer a[] = {
    {.code = 200, .body = list_answer[v]},
    {.code = 404, .body = notfound_answer[v]},
  };
  struct script s = {.answers = a, .n_answers = 2};
  struct outcome o = {0};
  run(&s, EDR_MEMBERS_REMOVE, via_all, &o);
  CHECK(o.status == 0);
  CHECK(o.already);
}

/* Add: the list has no such peer URL, the add's answer names the new
 * member's id (a string), reported in hex as etcdctl prints it. */
static void test_add(int v) {
  struct answer a[] = {
    {.code = 200, .body = removed_answer[v]},
    {.code = 200, .body = add_answer[v]},
  };
  struct script s = {.answers = a, .n_answers = 2};
  struct outcome o = {0};
  run(&s, EDR_MEMBERS_ADD, via_all, &o);
  CHECK(o.status == 0);
  CHECK(!o.already);
  CHECK_STR(o.id, m2_id_hex[v]);
  CHECK(s.n_asked == 2);
  CHECK_STR(s.asked[1].path, "/v3/cluster/member/add");
  CHECK_STR(s.asked[1].body, "{\"peerURLs\":[\"https://10.0.0.2:2380\"]}");
}

/* Already a member with exactly that peer URL: nothing added. */
static void test_add_already(int v) {
  struct answer a[] = {{.code = 200, .body = list_answer[v]}};
  struct script s = {.answers = a, .n_answers = 1};
  struct outcome o = {0};
  run(&s, EDR_MEMBERS_ADD, via_all, &o);
  CHECK(o.status == 0);
  CHECK(o.already);
  CHECK_STR(o.id, m2_id_hex[v]);
  CHECK(s.n_asked == 1);
}

/* Refused: the peer URL is another's (in either version's words); the
 * list asked again does not have it as ours. */
static void test_add_refused(int v) {
  struct answer a[] = {
    {.code = 200, .body = removed_answer[v]},
    {.code = 400, .body = exists_answer[v]},
    {.code = 200, .body = removed_answer[v]},
  };
  struct script s = {.answers = a, .n_answers = 3};
  struct outcome o = {0};
  run(&s, EDR_MEMBERS_ADD, via_all, &o);
  CHECK(o.status == EDR_EEXIST);
  CHECK_STR(o.err, "member add of 'https://10.0.0.2:2380' refused by https://10.0.0.3:2379: "
                   "etcdserver: Peer URLs already exists: another member uses that peer URL; "
                   "remove it first");
}

/* No host can reach any member: each URL named, asked on its host. */
static void test_no_answer(void) {
  struct answer a[] = {
    {.status = EDR_ECONNREFUSED, .why = "10.0.0.3's agent: connection refused"},
    {.status = EDR_ETIMEDOUT, .why = "10.0.0.1's agent: timed out"},
  };
  struct script s = {.answers = a, .n_answers = 2};
  struct outcome o = {0};
  run(&s, EDR_MEMBERS_REMOVE, via_all, &o);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK_STR(o.err, "cannot remove member 'm2': no member answered the member list "
                   "(https://10.0.0.3:2379 (asked on its host): connection refused; "
                   "https://10.0.0.1:2379 (asked on its host): timed out)");
}

/* Only the URLs marked go through the asker: the first is asked from here
 * (nothing listens on that port), the second through its host. */
static void test_mixed(void) {
  static const char *const mixed[] = {"http://127.0.0.1:1", "https://10.0.0.1:2379"};
  static const bool via[] = {false, true};
  struct answer a[] = {
    {.code = 200, .body = list_answer[1]},
    {.code = 200, .body = removed_answer[1]},
  };
  struct script s = {.answers = a, .n_answers = 2};
  struct outcome o = {0};
  run_req(&s, (struct edr_members_req){.op = EDR_MEMBERS_REMOVE, .urls = mixed, .n_urls = 2,
                                       .timeout_ms = 2000, .name = "m2", .via_url = via}, &o);
  CHECK(o.status == 0);
  CHECK(s.n_asked == 2);
  CHECK(s.asked[0].url == 1 && s.asked[1].url == 1);
}

/* A member whose route is not known yet: asked from here first; no
 * answer there (a port that accepts and never answers), so the same URL
 * through its host, and it stays so for the change. */
static void test_fallback(void) {
  int port;
  int srv = t_silent_listener(&port);
  CHECK(srv >= 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  const char *const two[] = {url, "https://10.0.0.1:2379"};
  static const bool none[] = {false, false}, fallback[] = {true, false};
  struct answer a[] = {
    {.code = 200, .body = list_answer[0]},
    {.code = 200, .body = removed_answer[0]},
  };
  struct script s = {.answers = a, .n_answers = 2};
  struct outcome o = {0};
  run_req(&s, (struct edr_members_req){.op = EDR_MEMBERS_REMOVE, .urls = two, .n_urls = 2,
                                       .timeout_ms = 300, .name = "m2", .via_url = none,
                                       .via_fallback = fallback}, &o);
  close(srv);
  CHECK(o.status == 0);
  CHECK(s.n_asked == 2);
  CHECK(s.asked[0].url == 0 && s.asked[1].url == 0);
  CHECK_STR(s.asked[1].path, "/v3/cluster/member/remove");
}

/* ---- authentication through the hosts (docs/auth.md) ---------------------- */

static const char *const auth_ok[2] = {
  "{\"header\":{\"cluster_id\":\"12499579882375668459\",\"member_id\":\"6987771583291745523\","
  "\"revision\":\"2\",\"raft_term\":\"2\"},\"token\":\"lDHszwwxKKGZrStV.12\"}",
  "{\"header\":{\"cluster_id\":\"1715426195391287628\", \"member_id\":\"865312067528504062\", "
  "\"revision\":\"2\", \"raft_term\":\"2\"}, \"token\":\"lDHszwwxKKGZrStV.12\"}",
};
static const char *const auth_failed[2] = {
  "{\"error\":\"etcdserver: authentication failed, invalid user ID or password\",\"message\":"
  "\"etcdserver: authentication failed, invalid user ID or password\",\"code\":3}",
  "{\"code\":3, \"message\":\"etcdserver: authentication failed, invalid user ID or password\"}",
};
static const char *const no_user[2] = {
  "{\"error\":\"etcdserver: user name is empty\",\"message\":\"etcdserver: user name is "
  "empty\",\"code\":3}",
  "{\"code\":3, \"message\":\"etcdserver: user name is empty\"}",
};

#define PW "Pw-9f2c-s3cret-unit"

/* The password is in the authentications' bodies (N of them) and nowhere
 * else. */
static void check_password_in(const struct script *s, size_t n) {
  size_t seen = 0;
  for (size_t i = 0; i < s->n_asked; i++) {
    seen += strstr(s->asked[i].body, PW) != NULL;
    CHECK(!strstr(s->asked[i].authorization, PW));
  }
  CHECK(seen == n);
}

/* With a user, through the hosts: the list from m3's host, the token from
 * the member the change goes to, asked through that same host, and the
 * change with it; m3's host gives no answer to the change, so m1 is
 * authenticated against in turn (a simple token is one member's) and the
 * remove goes there with m1's token. */
static void test_auth_remove(int v) {
  struct edr_etcd_user u = {.name = "root", .password = PW};
  struct answer a[] = {
    {.code = 200, .body = list_answer[v]},
    {.code = 200, .body = auth_ok[v]},
    {.status = EDR_ETIMEDOUT, .why = "10.0.0.3's agent: timed out"},
    {.code = 200, .body = "{\"token\":\"m1sToken.7\"}"},
    {.code = 200, .body = removed_answer[v]},
  };
  struct script s = {.answers = a, .n_answers = 5};
  struct outcome o = {0};
  run_as(&s, EDR_MEMBERS_REMOVE, via_all, &u, &o);
  CHECK(o.status == 0);
  CHECK(s.n_asked == 5);
  CHECK_STR(s.asked[0].path, "/v3/cluster/member/list");
  CHECK_STR(s.asked[0].authorization, "");
  CHECK(s.asked[1].url == 0);
  CHECK_STR(s.asked[1].path, "/v3/auth/authenticate");
  CHECK_STR(s.asked[1].body, "{\"name\":\"root\",\"password\":\"" PW "\"}");
  CHECK_STR(s.asked[1].authorization, "");
  CHECK(s.asked[2].url == 0);
  CHECK_STR(s.asked[2].path, "/v3/cluster/member/remove");
  CHECK_STR(s.asked[2].authorization, "lDHszwwxKKGZrStV.12");
  CHECK(s.asked[3].url == 1);
  CHECK_STR(s.asked[3].path, "/v3/auth/authenticate");
  CHECK(s.asked[4].url == 1);
  CHECK_STR(s.asked[4].path, "/v3/cluster/member/remove");
  CHECK_STR(s.asked[4].authorization, "m1sToken.7");
  CHECK(!strstr(o.err, PW));
  check_password_in(&s, 2);  /* one authentication per member */
}

/* Add with a user through the hosts: authenticate, then the add with the
 * token; the password in that one body only. */
static void test_auth_add(int v) {
  struct edr_etcd_user u = {.name = "root", .password = PW};
  struct answer a[] = {
    {.code = 200, .body = removed_answer[v]},
    {.code = 200, .body = auth_ok[v]},
    {.code = 200, .body = add_answer[v]},
  };
  struct script s = {.answers = a, .n_answers = 3};
  struct outcome o = {0};
  run_as(&s, EDR_MEMBERS_ADD, via_all, &u, &o);
  CHECK(o.status == 0);
  CHECK_STR(o.id, m2_id_hex[v]);
  CHECK(s.n_asked == 3);
  CHECK_STR(s.asked[1].path, "/v3/auth/authenticate");
  CHECK_STR(s.asked[2].path, "/v3/cluster/member/add");
  CHECK_STR(s.asked[2].authorization, "lDHszwwxKKGZrStV.12");
  check_password_in(&s, 1);
}

/* A wrong password through a host: the words of the same refusal from
 * here (docs/auth.md), naming the member, and no change asked. */
static void test_auth_wrong(int v) {
  struct edr_etcd_user u = {.name = "root", .password = PW};
  struct answer a[] = {
    {.code = 200, .body = list_answer[v]},
    {.code = 400, .body = auth_failed[v]},
  };
  struct script s = {.answers = a, .n_answers = 2};
  struct outcome o = {0};
  run_as(&s, EDR_MEMBERS_REMOVE, via_all, &u, &o);
  CHECK(o.status == EDR_EETCDAUTH);
  CHECK_STR(o.err, "cannot remove member 'm2': https://10.0.0.3:2379: authentication as "
                   "'root' failed: etcdserver: authentication failed, invalid user ID or "
                   "password (check ETCDCTL_USER, or --user and ETCDCTL_PASSWORD)");
  CHECK(s.n_asked == 2);
  check_password_in(&s, 1);
}

/* No user through a host: the change goes without a token, and etcd's
 * refusal says what to set. */
static void test_auth_none(int v) {
  struct edr_etcd_user u = {0};
  struct answer a[] = {
    {.code = 200, .body = list_answer[v]},
    {.code = 400, .body = no_user[v]},
  };
  struct script s = {.answers = a, .n_answers = 2};
  struct outcome o = {0};
  run_as(&s, EDR_MEMBERS_REMOVE, via_all, &u, &o);
  CHECK(o.status == EDR_EINVAL);
  char want[400];
  snprintf(want, sizeof want, "member remove of 'm2' (id %s) refused by https://10.0.0.3:2379: "
           "etcdserver: user name is empty (authentication is enabled: set ETCDCTL_USER, or "
           "--user with ETCDCTL_PASSWORD)", m2_id_hex[v]);
  CHECK_STR(o.err, want);
  CHECK(s.n_asked == 2);
  CHECK_STR(s.asked[1].authorization, "");
}

/* Cancelled with a question still on a host: the callback comes at once,
 * the late answer is dropped (and the call freed then: ASan watches). */
static void cancel_call(void *c) { edr_members_cancel(c); }

static void test_cancel(void) {
  struct answer a[] = {{.code = 200, .body = list_answer[0]}};
  struct script s = {.answers = a, .n_answers = 1, .delay_ms = 300};
  struct outcome o = {0};
  uv_loop_t loop;
  CHECK(uv_loop_init(&loop) == 0);
  s.loop = &loop;
  struct edr_members_req q = {
    .op = EDR_MEMBERS_REMOVE, .urls = urls, .n_urls = 2, .timeout_ms = 2000, .name = "m2",
    .via_url = via_all, .via = {.request = script_request, .arg = &s},
  };
  uint64_t t0 = edr_now_ms();
  CHECK(edr_members_start(&loop, &q, done, &o, &o.call) == 0);
  struct t_later t;
  t_later(&loop, &t, 20, cancel_call, o.call);
  while (o.calls == 0 && uv_run(&loop, UV_RUN_ONCE))
    ;
  CHECK(o.calls == 1);
  CHECK(o.status == EDR_ECANCELED);
  CHECK(edr_now_ms() - t0 < 250);
  uv_run(&loop, UV_RUN_DEFAULT);  /* the late answer */
  CHECK(o.calls == 1);
  CHECK(s.n_asked == 1);
  CHECK(uv_loop_close(&loop) == 0);
}

int main(void) {
  for (int v = 0; v < 2; v++) {  /* 3.4, 3.5 */
    test_remove(v);
    test_remove_gone(v);
    test_add(v);
    test_add_already(v);
    test_add_refused(v);
    test_auth_remove(v);
    test_auth_add(v);
    test_auth_wrong(v);
    test_auth_none(v);
  }
  test_no_answer();
  test_mixed();
  test_fallback();
  test_cancel();
  return t_done("test_members_via");
}
