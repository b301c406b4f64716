/*
 * test_resolve.c - the client URL host names this machine looks up for the
 * hosts' agents (orchestrator/etcd/resolve.c): an address or localhost is
 * never looked up; a name is, and goes in the route of a member the run may
 * ask through its host, or stops the run when that route is fixed there;
 * auto keeps a member whose name does not resolve here from here.
 *
 * The names come from a private /etc/hosts, with a private nsswitch.conf
 * that says "files" only, bind-mounted in this process's own mount
 * namespace: no DNS query leaves the machine, and the machine's files are
 * untouched.  Without root (no mount namespace) those checks are skipped.
 */
#include "t.h"
#include "t_plan.h"

#include "resolve.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static char err[2048];

/* An address or localhost: nothing to look up, "" for the agent. */
static void test_literals(void) {
  const char *urls[] = {"http://127.0.0.1:2379", "https://LOCALHOST:2379",
                        "https://[::1]:2379", "https://[fd00::1]:2379", "http://10.0.0.1"};
  for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
    char addr[INET6_ADDRSTRLEN] = "x";
    struct edr_error e = EDR_ERROR_INIT;
    CHECK(edr_url_addr(urls[i], addr, "hint", &e) == 0);
    CHECK_STR(addr, "");
    edr_error_release(&e);
  }
}

/* A file of TEXT at PATH bind-mounted over TARGET. */
static bool bind_file(const char *path, const char *text, const char *target) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f))
    return false;
  return mount(path, target, NULL, MS_BIND, NULL) == 0;
}

/* This process's own /etc/hosts and nsswitch.conf (files only). */
static bool private_names(void) {
  if (geteuid() != 0 || unshare(CLONE_NEWNS) ||
      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
    return false;
  char dir[] = "/tmp/edr-resolve-XXXXXX", hosts[64], nss[64];
  if (!mkdtemp(dir))
    return false;
  snprintf(hosts, sizeof hosts, "%s/hosts", dir);
  snprintf(nss, sizeof nss, "%s/nsswitch.conf", dir);
  bool ok = bind_file(hosts, "127.0.0.1 localhost\n10.9.8.7 etcd-a.test\nfd00::7 etcd-v6.test\n",
                      "/etc/hosts") &&
            bind_file(nss, "hosts: files\n", "/etc/nsswitch.conf");
  /* the mounts keep the files; the directory can go */
  unlink(hosts);
  unlink(nss);
  rmdir(dir);
  return ok;
}

static void test_names(void) {
  char addr[INET6_ADDRSTRLEN];
  struct edr_error e = EDR_ERROR_INIT;
  CHECK(edr_url_addr("https://etcd-a.test:2379", addr, "hint", &e) == 0);
  CHECK_STR(addr, "10.9.8.7");
  CHECK(edr_url_addr("http://etcd-v6.test:2379/", addr, "hint", &e) == 0);
  CHECK_STR(addr, "fd00::7");
  CHECK(edr_url_addr("https://etcd-missing.test:2379", addr, "do this", &e) == EDR_ERESOLVE);
  CHECK_STR(addr, "");
  CHECK_CONTAINS(edr_error_text(&e), "cannot resolve 'etcd-missing.test' (the host of client "
                                     "URL https://etcd-missing.test:2379) here: ");
  CHECK_CONTAINS(edr_error_text(&e), "; the agent on the member's host resolves no names, so "
                                     "this machine does: do this");
  edr_error_release(&e);
}

/* A restore of m1 (https://etcd-a.test), m2 (http://etcd-missing.test)
 * and m3 (an address); CHECK_ONLY and ASK: the plan of plan --check, or
 * status's. */
static struct edr_plan *plan3(struct edr_spec **s, bool check_only, bool ask) {
  struct edr_plan *p = t_plan3(s, check_only, ask, err, sizeof err);
  CHECK(p != NULL);
  const char *urls[] = {"https://etcd-a.test:2379", "http://etcd-missing.test:2379",
                        "http://10.0.0.3:2379"};
  for (size_t i = 0; p && i < 3; i++) {
    free((*s)->members[i].client_urls.v[0]);
    (*s)->members[i].client_urls.v[0] = strdup(urls[i]);
  }
  return p;
}

/* P's routes decided for VIA, with a client certificate here. */
static struct edr_health_route *decide(struct edr_plan *p, enum edr_health_via via) {
  CHECK(edr_health_routes_decide(p, via, true) == 0);
  return p->health_routes;
}

/* How member I's route is said (plan, run log). */
static void check_say(const struct edr_plan *p, size_t i, const char *want) {
  char how[600];
  edr_health_route_say(p, i, how, sizeof how);
  CHECK_STR(how, want);
}

static void test_routes(void) {
  struct edr_spec *s;
  struct edr_plan *p = plan3(&s, false, false);
  if (!p)
    return;
  struct edr_health_route *r = p->health_routes;
  struct edr_error e = EDR_ERROR_INIT;

  /* the plan looks nothing up */
  for (size_t i = 0; i < 3; i++)
    CHECK(!r[i].addr[0] && !r[i].unresolved);

  /* hosts: m1's name resolved for its agent; m2's stops the run */
  r = decide(p, EDR_HEALTH_VIA_HOSTS);
  CHECK(edr_routes_resolve(p, &e) == EDR_ERESOLVE);
  CHECK_STR(r[0].addr, "10.9.8.7");
  CHECK_CONTAINS(edr_error_text(&e), "member 'm2' on host 10.0.0.2 is asked through its host "
                                     "(--health-via hosts), but cannot resolve "
                                     "'etcd-missing.test' (the host of client URL "
                                     "http://etcd-missing.test:2379) here: ");
  CHECK_CONTAINS(edr_error_text(&e), ": put an IP address in the spec's client_urls, or use "
                                     "--health-via here");
  edr_error_release(&e);
  check_say(p, 0, "through 10.0.0.1's agent, with its certificates (--health-via hosts; its "
                  "client URL at 10.9.8.7, resolved here)");
  CHECK(edr_route_resolve(p, 2, &e) == 0);
  CHECK_STR(r[2].addr, "");

  /* auto: m2 may move, so its name is looked up, and it stays here */
  r = decide(p, EDR_HEALTH_VIA_AUTO);
  CHECK(edr_routes_resolve(p, &e) == 0 && !strcmp(r[0].addr, "10.9.8.7"));
  CHECK(r[1].unresolved && !r[1].addr[0] && r[1].look);
  CHECK(edr_route_resolve(p, 1, &e) == EDR_ERESOLVE);  /* what status says in the row */
  CHECK_CONTAINS(edr_error_text(&e), "member 'm2' on host 10.0.0.2: cannot resolve "
                                     "'etcd-missing.test'");
  edr_error_release(&e);
  check_say(p, 1, "from here (its client URL's host name does not resolve here, and "
                  "10.0.0.2's agent resolves none)");
  edr_health_route_seen(&r[1], &s->members[1], EDR_ERESOLVE, "could not resolve host");
  CHECK(!r[1].via_host && !r[1].look);
  CHECK_STR(r[1].why, "no answer from here: could not resolve host; not through its host: its "
                      "client URL's host name does not resolve here, and the agent resolves "
                      "none");
  /* the leader lookup then stops the run before any stop (cmd/gates.c) */
  CHECK(edr_health_route_dead_end(&r[1], EDR_ERESOLVE));
  /* m1, resolved: moved to its host when it gives no answer from here */
  edr_health_route_seen(&r[0], &s->members[0], EDR_ETIMEDOUT, "timed out");
  CHECK(r[0].via_host);

  /* here: nothing asked through a host, nothing looked up */
  r = decide(p, EDR_HEALTH_VIA_HERE);
  CHECK(edr_routes_resolve(p, &e) == 0);
  for (size_t i = 0; i < 3; i++)
    CHECK(!r[i].addr[0] && !r[i].unresolved);
  edr_plan_free(p);
  edr_spec_free(s);

  /* plan --check asks no member through a host; status's plan does */
  p = plan3(&s, true, false);
  if (p) {
    decide(p, EDR_HEALTH_VIA_HOSTS);
    CHECK(edr_routes_resolve(p, &e) == 0);
    CHECK(!p->health_routes[0].addr[0]);
    edr_plan_free(p);
    edr_spec_free(s);
  }
  p = plan3(&s, true, true);
  if (p) {
    decide(p, EDR_HEALTH_VIA_HOSTS);
    CHECK(edr_route_resolve(p, 0, &e) == 0);
    CHECK_STR(p->health_routes[0].addr, "10.9.8.7");
    CHECK(edr_route_resolve(p, 1, &e) == EDR_ERESOLVE);
    edr_error_release(&e);
    edr_plan_free(p);
    edr_spec_free(s);
  }
}

int main(void) {
  test_literals();
  if (private_names()) {
    test_names();
    test_routes();
  } else {
    printf("the names' checks skipped: no private /etc/hosts (not root, or no mount "
           "namespace)\n");
  }
  return t_done("test_resolve");
}
