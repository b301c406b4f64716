/*
 * test_health_etcd.c - the health wait against real etcd on loopback.
 *
 *   test_health_etcd cluster ETCD ETCDCTL   3 members on random high ports
 *   test_health_etcd tls ETCD ETCDCTL       1 member, https + client certs
 *
 * Each run works in /tmp/edr-health-test.XXXXXX, holding "owner" (this
 * process's pid), "pids" (every etcd started) and the members' data and
 * logs.  A run first removes what a crashed earlier run left: directories
 * by that name whose owner is gone, after killing the etcd processes listed
 * there whose command line names that directory (so nobody else's etcd).
 * Exits 77 (skipped) when ETCD is absent.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "health.h"
#include "t.h"
#include "util.h"

#define PREFIX "edr-health-test."
#define MAXM 4

extern char **environ;

static const char *etcd_bin, *etcdctl_bin;
static char dir[256];

struct member {
  char name[24];
  char tag[16];  /* names its data dir and log; the name when empty */
  int cport, pport;
  char curl[64], purl[64];
  const char *peer[1];
  pid_t pid;
};
static struct member mem[MAXM];
static size_t nmem;
static char initial_cluster[512];
static bool tls_mode;

/* ---- processes ---------------------------------------------------------- */

static bool pid_names_dir(pid_t pid, const char *d) {
  char p[64], cmd[4096];
  snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
  FILE *f = fopen(p, "r");
  if (!f)
    return false;
  size_t n = fread(cmd, 1, sizeof cmd - 1, f);
  fclose(f);
  for (size_t i = 0; i < n; i++)
    if (cmd[i] == '\0')
      cmd[i] = ' ';
  cmd[n] = '\0';
  return strstr(cmd, d) != NULL;
}

static void rm_rf(const char *d) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  if (system(cmd) != 0)
    fprintf(stderr, "cannot remove '%s'\n", d);
}

/* A test process that still runs: not a zombie, and still this program
 * (pids are reused). */
static bool owner_alive(int pid) {
  char p[64], buf[512];
  snprintf(p, sizeof p, "/proc/%d/stat", pid);
  FILE *f = fopen(p, "r");
  if (!f)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *rp = strrchr(buf, ')');
  if (!rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X')
    return false;
  return strstr(buf, "(test_health_etc") != NULL;  /* comm is 15 chars */
}

static void clean_leftovers(void) {
  DIR *dp = opendir("/tmp");
  struct dirent *de;
  if (!dp)
    return;
  while ((de = readdir(dp))) {
    if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) != 0)
      continue;
    char d[512], f[600];
    snprintf(d, sizeof d, "/tmp/%s", de->d_name);
    snprintf(f, sizeof f, "%s/owner", d);
    FILE *fp = fopen(f, "r");
    int owner = 0;
    if (fp) {
      if (fscanf(fp, "%d", &owner) != 1)
        owner = 0;
      fclose(fp);
    }
    if (owner > 0 && owner_alive(owner))
      continue;  /* a run in progress (ctest -j): not ours to touch */
    snprintf(f, sizeof f, "%s/pids", d);
    if ((fp = fopen(f, "r"))) {
      int pid;
      while (fscanf(fp, "%d", &pid) == 1)
        if (pid > 0 && pid_names_dir(pid, d)) {
          fprintf(stderr, "killing etcd %d left by a crashed run\n", pid);
          kill(pid, SIGKILL);
        }
      fclose(fp);
    }
    rm_rf(d);
  }
  closedir(dp);
}

static void kill_member(struct member *m) {
  if (m->pid <= 0)
    return;
  kill(m->pid, SIGKILL);
  waitpid(m->pid, NULL, 0);
  m->pid = 0;
}

static void cleanup(void) {
  for (size_t i = 0; i < MAXM; i++)
    kill_member(&mem[i]);
  if (dir[0] && !getenv("EDR_KEEP_TEST_DIR"))
    rm_rf(dir);
}

static void on_signal(int sig) {
  cleanup();
  _exit(128 + sig);
}

static int free_port(void) {
  static int used[16], nused;
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    int p = ntohs(a.sin_port), dup = 0;
    for (int i = 0; i < nused; i++)
      dup |= used[i] == p;
    if (!dup && nused < 16) {
      used[nused++] = p;
      return p;
    }
  }
}

static void start_member(struct member *m) {
  char data[300], log[300], token[64];
  const char *tag = m->tag[0] ? m->tag : m->name;
  snprintf(data, sizeof data, "%s/%s.etcd", dir, tag);
  snprintf(log, sizeof log, "%s/%s.log", dir, tag);
  snprintf(token, sizeof token, "edr-health-%d", (int)getpid());
  char cert[300], key[300], ca[300];
  snprintf(cert, sizeof cert, "%s/server.pem", dir);
  snprintf(key, sizeof key, "%s/server-key.pem", dir);
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  const char *argv[40] = {
    etcd_bin, "--name", m->name, "--data-dir", data,
    "--listen-client-urls", m->curl, "--advertise-client-urls", m->curl,
    "--listen-peer-urls", m->purl, "--initial-advertise-peer-urls", m->purl,
    "--initial-cluster", initial_cluster, "--initial-cluster-token", token,
    "--initial-cluster-state", "new",
  };
  size_t a = 19;
  if (tls_mode) {
    const char *t[] = {"--cert-file", cert, "--key-file", key,
                       "--client-cert-auth", "--trusted-ca-file", ca};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
      argv[a++] = t[i];
  }
  argv[a] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  int rc = posix_spawn(&m->pid, etcd_bin, &fa, NULL, (char *const *)argv,
                       environ);
  posix_spawn_file_actions_destroy(&fa);
  CHECK(rc == 0);
  char f[300];
  snprintf(f, sizeof f, "%s/pids", dir);
  FILE *fp = fopen(f, "a");
  if (fp) {
    fprintf(fp, "%d\n", (int)m->pid);
    fclose(fp);
  }
}

static void setup_members(size_t n) {
  const char *scheme = tls_mode ? "https" : "http";
  size_t off = 0;
  nmem = n;
  for (size_t i = 0; i < n; i++) {
    struct member *m = &mem[i];
    snprintf(m->name, sizeof m->name, "m%zu", i + 1);
    m->cport = free_port();
    m->pport = free_port();
    snprintf(m->curl, sizeof m->curl, "%s://127.0.0.1:%d", scheme, m->cport);
    snprintf(m->purl, sizeof m->purl, "http://127.0.0.1:%d", m->pport);
    m->peer[0] = m->purl;
    off += (size_t)snprintf(initial_cluster + off, sizeof initial_cluster - off,
                            "%s%s=%s", i ? "," : "", m->name, m->purl);
  }
}

/* ---- driving a wait ----------------------------------------------------- */

struct outcome {
  bool done;
  int status;
  struct edr_health_report rep;  /* copy of the final report... */
  struct edr_health_seen seen[MAXM];  /* ...and its members */
  char last_progress[512];
  uint64_t done_at;
};

static void on_health(void *arg, bool done, int status,
                      const struct edr_health_report *rep) {
  struct outcome *o = arg;
  /* Print a progress line only when it says something new. */
  if (strcmp(o->last_progress, rep->problem) != 0) {
    printf("  round %u, %" PRIu64 " ms: %s\n", rep->rounds, rep->elapsed_ms,
           rep->problem[0] ? rep->problem : "all good");
    snprintf(o->last_progress, sizeof o->last_progress, "%s", rep->problem);
  }
  if (!done)
    return;
  o->done = true;
  o->status = status;
  o->rep = *rep;
  for (size_t i = 0; i < rep->n && i < MAXM; i++)
    o->seen[i] = rep->members[i];
  o->rep.members = o->seen;
  o->done_at = edr_now_ms();
}

/* A timer that starts members while a wait runs. */
struct later {
  uv_timer_t t;
  struct member *m[MAXM];
  size_t n;
  uint64_t at;
};

static void on_later(uv_timer_t *t) {
  struct later *l = t->data;
  for (size_t i = 0; i < l->n; i++)
    start_member(l->m[i]);
  l->at = edr_now_ms();
  uv_close((uv_handle_t *)t, NULL);
}

static struct edr_health_member spec[MAXM];

static void spec_from(size_t n) {
  for (size_t i = 0; i < n; i++)
    spec[i] = (struct edr_health_member){
      .name = mem[i].name, .client_url = mem[i].curl,
      .peer_urls = mem[i].peer, .n_peer_urls = 1};
}

static struct edr_tls tls;

static int run_wait(uv_loop_t *loop, size_t n, int64_t min_rev,
                    uint64_t timeout_ms, struct outcome *o,
                    struct later *l) {
  memset(o, 0, sizeof *o);
  struct edr_health_opts opts = {
    .min_revision = min_rev, .timeout_ms = timeout_ms, .interval_ms = 100,
    .tls = tls,
  };
  uint64_t t0 = edr_now_ms();
  int rc = edr_health_wait_start(loop, spec, n, &opts, on_health, o);
  CHECK(rc == 0);
  if (rc)
    return rc;
  uv_run(loop, UV_RUN_DEFAULT);  /* returns once the wait has freed all */
  CHECK(o->done);
  printf("  -> %s after %" PRIu64 " ms, %u rounds%s%s\n",
         edr_err_name(o->status), o->done_at - t0, o->rep.rounds,
         o->rep.cluster_error[0] ? "; cluster: " : "", o->rep.cluster_error);
  (void)l;
  return o->status;
}

static int64_t put_keys(const char *ep, int n) {
  char cmd[1024];
  for (int i = 0; i < n; i++) {
    snprintf(cmd, sizeof cmd,
             "ETCDCTL_API=3 '%s' --endpoints=%s put edr-key-%d value-%d"
             " >/dev/null", etcdctl_bin, ep, i, i);
    CHECK(system(cmd) == 0);
  }
  return n;
}

/* ---- the scenarios ------------------------------------------------------ */

static void test_cluster(uv_loop_t *loop) {
  struct outcome o;
  setup_members(3);
  spec_from(3);

  printf("wait begins; members start 1.5 s later\n");
  struct later l = {.n = 3, .m = {&mem[0], &mem[1], &mem[2]}};
  uv_timer_init(loop, &l.t);
  l.t.data = &l;
  uv_timer_start(&l.t, on_later, 1500, 0);
  run_wait(loop, 3, 1, 60000, &o, &l);
  CHECK(o.status == 0);
  CHECK(o.rep.one_cluster && o.rep.members_match);
  CHECK_STR(o.rep.problem, "");
  int leaders = 0;
  for (size_t i = 0; i < 3; i++) {
    CHECK(o.seen[i].healthy && o.seen[i].reachable);
    CHECK_STR(o.seen[i].name, mem[i].name);
    CHECK(o.seen[i].member_id[0] && o.seen[i].cluster_id[0]);
    CHECK_STR(o.seen[i].cluster_id, o.seen[0].cluster_id);
    CHECK(o.seen[i].version[0] && o.seen[i].raft_term > 0);
    leaders += o.seen[i].is_leader;
  }
  CHECK(leaders == 1);
  printf("TIMING: healthy %" PRIu64 " ms after the members were started\n",
         o.done_at - l.at);

  /* Known revision: a fresh cluster is at 1, each put adds one. */
  put_keys(mem[0].curl, 5);
  run_wait(loop, 3, 6, 10000, &o, NULL);
  CHECK(o.status == 0);
  int64_t rev = o.seen[0].revision;
  CHECK(rev == 6);
  for (size_t i = 0; i < 3; i++)
    CHECK(o.seen[i].revision == rev);
  uint64_t t0 = edr_now_ms();
  run_wait(loop, 3, rev, 10000, &o, NULL);
  CHECK(o.status == 0 && o.rep.rounds == 1);
  printf("TIMING: an already healthy cluster: %" PRIu64 " ms\n",
         edr_now_ms() - t0);

  printf("min_revision above the actual\n");
  run_wait(loop, 3, rev + 100, 1500, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  char want[256];
  snprintf(want, sizeof want, "m1: revision %" PRId64 " < %" PRId64
           " expected", rev, rev + 100);
  CHECK_STR(o.rep.problem, want);
  CHECK(o.rep.elapsed_ms >= 1500 && o.rep.elapsed_ms < 3000);
  CHECK(o.rep.rounds > 5);

  printf("a fourth expected member\n");
  struct member m4 = {.name = "m4"};
  m4.cport = free_port();
  m4.pport = free_port();
  snprintf(m4.curl, sizeof m4.curl, "http://127.0.0.1:%d", m4.cport);
  snprintf(m4.purl, sizeof m4.purl, "http://127.0.0.1:%d", m4.pport);
  m4.peer[0] = m4.purl;
  spec[3] = (struct edr_health_member){
    .name = "m4", .client_url = m4.curl, .peer_urls = m4.peer,
    .n_peer_urls = 1};
  run_wait(loop, 4, 0, 1500, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(!o.rep.members_match);
  CHECK_STR(o.rep.cluster_error, "member list lacks 'm4' which the spec expects");
  CHECK(!o.seen[3].reachable);
  snprintf(want, sizeof want, "m4 (%s): connection refused", m4.curl);
  CHECK_STR(o.seen[3].error, want);
  CHECK_STR(o.rep.problem, want);

  printf("a wrong peer URL\n");
  const char *wrong[] = {"http://127.0.0.1:9"};
  spec[1].peer_urls = wrong;
  run_wait(loop, 3, 0, 1000, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(o.rep.one_cluster && !o.rep.members_match);
  snprintf(want, sizeof want, "member list has 'm2' with peer URLs '%s' but "
           "the spec expects 'http://127.0.0.1:9'", mem[1].purl);
  CHECK_STR(o.rep.cluster_error, want);
  CHECK_STR(o.rep.problem, want);
  spec_from(3);

  printf("a member the spec does not know\n");
  run_wait(loop, 2, 0, 1000, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK_STR(o.rep.problem, "member list has 'm3' which is not in the spec");

  printf("client URLs swapped: m2's URL answers as m3\n");
  spec[1].client_url = mem[2].curl;
  spec[2].client_url = mem[1].curl;
  run_wait(loop, 3, 0, 1000, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  snprintf(want, sizeof want, "m2 (%s): answers as member 'm3'", mem[2].curl);
  CHECK_STR(o.rep.problem, want);
  spec_from(3);

  /* Kill a follower: killing the leader makes the others' /health wait
   * for an election, which is right but not what this case is about. */
  run_wait(loop, 3, 0, 10000, &o, NULL);
  CHECK(o.status == 0);
  size_t v = o.seen[2].is_leader ? 1 : 2;
  struct member *victim = &mem[v];
  printf("%s killed (a follower)\n", victim->name);
  kill_member(victim);
  run_wait(loop, 3, 0, 1500, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(!o.seen[v].reachable && !o.seen[v].healthy);
  CHECK(o.seen[v].status == EDR_ECONNREFUSED);
  snprintf(want, sizeof want, "%s (%s): connection refused", victim->name,
           victim->curl);
  CHECK_STR(o.seen[v].error, want);
  CHECK_STR(o.rep.problem, want);
  CHECK(o.seen[0].healthy && o.seen[3 - v].healthy);

  printf("%s restarted 2 s after the wait began\n", victim->name);
  struct later l3 = {.n = 1, .m = {victim}};
  uv_timer_init(loop, &l3.t);
  l3.t.data = &l3;
  uv_timer_start(&l3.t, on_later, 2000, 0);
  run_wait(loop, 3, rev, 60000, &o, &l3);
  CHECK(o.status == 0);
  printf("TIMING: healthy %" PRIu64 " ms after %s was restarted\n",
         o.done_at - l3.at, victim->name);

  printf("one member of another cluster\n");
  /* A lone etcd is its own cluster; the spec says it is m3. */
  struct member *lone = &mem[3];
  snprintf(lone->name, sizeof lone->name, "m3");
  snprintf(lone->tag, sizeof lone->tag, "lone");
  lone->cport = free_port();
  lone->pport = free_port();
  snprintf(lone->curl, sizeof lone->curl, "http://127.0.0.1:%d", lone->cport);
  snprintf(lone->purl, sizeof lone->purl, "http://127.0.0.1:%d", lone->pport);
  char saved[512];
  snprintf(saved, sizeof saved, "%s", initial_cluster);
  snprintf(initial_cluster, sizeof initial_cluster, "m3=%s", lone->purl);
  start_member(lone);
  snprintf(initial_cluster, sizeof initial_cluster, "%s", saved);
  spec[2].client_url = lone->curl;
  run_wait(loop, 3, 0, 4000, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(!o.rep.one_cluster);
  CHECK_CONTAINS(o.rep.cluster_error, "not one cluster: 'm1' is in cluster ");
  CHECK_CONTAINS(o.rep.cluster_error, "but 'm3' in cluster ");
  CHECK(o.rep.problem[0] != '\0');
  kill_member(lone);
  spec_from(3);
}

struct hres {
  bool called;
  int status;
  long code;
  char body[256], err[512];
};

static void on_hres(void *arg, int status, long code, const char *body,
                    size_t len, const char *errtext) {
  struct hres *r = arg;
  r->called = true;
  r->status = status;
  r->code = code;
  snprintf(r->body, sizeof r->body, "%s", body);
  snprintf(r->err, sizeof r->err, "%s", errtext);
}

static void http_once(uv_loop_t *loop, const struct edr_http_req *q,
                      struct hres *r) {
  memset(r, 0, sizeof *r);
  struct edr_http *h = edr_http_new(loop);
  CHECK(edr_http_request(h, q, on_hres, r) == 0);
  while (!r->called && uv_run(loop, UV_RUN_ONCE))
    ;
  edr_http_close(h, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(r->called);
}

static void test_tls(uv_loop_t *loop) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s/mkcerts.sh' '%s'", EDR_HEALTH_SCRIPTS, dir);
  CHECK(system(cmd) == 0);
  static char ca[300], cert[300], key[300], other[300];
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(cert, sizeof cert, "%s/client.pem", dir);
  snprintf(key, sizeof key, "%s/client-key.pem", dir);
  snprintf(other, sizeof other, "%s/other-ca.pem", dir);
  tls_mode = true;
  setup_members(1);
  spec_from(1);
  start_member(&mem[0]);

  struct outcome o;
  tls = (struct edr_tls){.cacert = ca, .cert = cert, .key = key};
  printf("https with CA, client cert and key\n");
  run_wait(loop, 1, 1, 60000, &o, NULL);
  CHECK(o.status == 0);

  printf("the HTTP layer alone: with and without the client cert\n");
  char hurl[96];
  snprintf(hurl, sizeof hurl, "%s/health", mem[0].curl);
  struct edr_tls full = {.cacert = ca, .cert = cert, .key = key};
  struct edr_tls nocert = {.cacert = ca};
  struct hres r;
  http_once(loop, &(struct edr_http_req){.url = hurl, .tls = &full}, &r);
  CHECK(r.status == 0 && r.code == 200);
  CHECK_CONTAINS(r.body, "\"health\":\"true\"");
  http_once(loop, &(struct edr_http_req){.url = hurl, .tls = &nocert}, &r);
  CHECK(r.status == EDR_ETLS && r.code == 0);
  CHECK_CONTAINS(r.err, "rejected our client certificate");
  printf("  without: %s: %s\n", edr_strerror(r.status), r.err);

  printf("no client cert\n");
  tls = (struct edr_tls){.cacert = ca};
  run_wait(loop, 1, 1, 800, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(o.seen[0].status == EDR_ETLS);
  CHECK_CONTAINS(o.seen[0].error, "tls error");
  CHECK_CONTAINS(o.seen[0].error, "client certificate");
  printf("  %s\n", o.seen[0].error);

  printf("a CA that did not sign the server's certificate\n");
  tls = (struct edr_tls){.cacert = other, .cert = cert, .key = key};
  run_wait(loop, 1, 1, 800, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  CHECK(o.seen[0].status == EDR_ETLS);
  CHECK_CONTAINS(o.seen[0].error, "tls error");
  CHECK_CONTAINS(o.seen[0].error, "CA file");
  printf("  %s\n", o.seen[0].error);

  printf("plain http to an https member\n");
  tls = (struct edr_tls){0};
  char url[80];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", mem[0].cport);
  spec[0].client_url = url;
  run_wait(loop, 1, 1, 800, &o, NULL);
  CHECK(o.status == EDR_ETIMEDOUT);
  printf("  %s\n", o.seen[0].error);
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[1], "cluster") && strcmp(argv[1], "tls"))) {
    fprintf(stderr, "usage: %s cluster|tls ETCD ETCDCTL\n", argv[0]);
    return 2;
  }
  etcd_bin = argv[2];
  etcdctl_bin = argv[3];
  if (access(etcd_bin, X_OK) != 0 || access(etcdctl_bin, X_OK) != 0) {
    printf("skipped: no etcd at '%s' (or etcdctl at '%s')\n", etcd_bin,
           etcdctl_bin);
    return 77;
  }
  clean_leftovers();
  snprintf(dir, sizeof dir, "/tmp/" PREFIX "XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char f[300];
  snprintf(f, sizeof f, "%s/owner", dir);
  FILE *fp = fopen(f, "w");
  fprintf(fp, "%d\n", (int)getpid());
  fclose(fp);
  atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  uv_loop_t loop;
  uv_loop_init(&loop);
  if (strcmp(argv[1], "cluster") == 0)
    test_cluster(&loop);
  else
    test_tls(&loop);
  CHECK(uv_loop_close(&loop) == 0);
  cleanup();
  dir[0] = '\0';
  return t_done(argv[1][0] == 'c' ? "test_health_etcd cluster"
                                  : "test_health_etcd tls");
}
