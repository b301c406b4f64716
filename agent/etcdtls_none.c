/*
 * etcdtls_none.c - etcdtls.h in etcd-dr-agent-notls, the agent built
 * without libssl (agent/CMakeLists.txt): no TLS.  etcdask.c refuses an
 * https URL with etcd_tls_missing before it connects, so no session is
 * ever started here.
 */
#include "etcdtls.h"

#include "err.h"

#include <stdio.h>

const char *const etcd_tls_missing =
    "this host got etcd-dr-agent-notls, the agent built without tls: the run gives the full "
    "etcd-dr-agent only to a host whose member it may ask over https through it (health, "
    "member changes, the leader, a snapshot); "
    "put etcd-dr-agent beside etcd-dr, or ask from here (--health-via here)";

int etcd_tls_start(struct agent *a, struct etcd_tls **out, int fd, uint64_t deadline,
                   const char *url, const char *host, const char *cacert, const char *cert,
                   const char *key) {
  *out = NULL;
  return agent_fail(a, EDR_ETLS, "%s: %s", url, etcd_tls_missing);
}

long etcd_tls_write(struct etcd_tls *t, const char *buf, size_t len) { return EDR_ETLS; }

long etcd_tls_read(struct etcd_tls *t, char *buf, size_t len) { return EDR_ETLS; }

const char *etcd_tls_reason(struct etcd_tls *t, char *buf, size_t len) {
  snprintf(buf, len, "%s", etcd_tls_missing);
  return buf;
}

void etcd_tls_set_deadline(struct etcd_tls *t, uint64_t deadline) {}

void etcd_tls_free(struct etcd_tls *t) {}
