/*
 * etcdtls.h - the TLS under the etcd-http and etcd-snapshot ops
 * (etcdask.h): a client session over the op's connected non-blocking
 * socket, every wait bounded by the op's deadline.  etcdtls.c is OpenSSL's (the full etcd-dr-agent, linked
 * with libssl); etcdtls_none.c stands in for it in etcd-dr-agent-notls,
 * the agent built without libssl, where an https URL is refused before any
 * connection.  The caller owns the socket; a session is the caller's to
 * end with etcd_tls_free.
 */
#ifndef EDR_AGENT_ETCDTLS_H
#define EDR_AGENT_ETCDTLS_H

#include "agent.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct etcd_tls;

/* NULL when this agent has TLS; else why it has none, for messages. */
extern const char *const etcd_tls_missing;

/* Wait until FD can be read (OUT: written) or DEADLINE (CLOCK_MONOTONIC
 * ms) passes: 0, EDR_ETIMEDOUT or another negative code (etcdask.c). */
int etcd_wait_fd(int fd, uint64_t deadline, bool out);

/* Handshake on FD with HOST's name or address checked against its
 * certificate, CACERT (NULL: the system's) and the client's CERT and KEY
 * (NULL: none): 0 and *OUT, or a code after agent_fail naming URL.  *OUT
 * may be set on failure too (for etcd_tls_reason; free it). */
int etcd_tls_start(struct agent *a, struct etcd_tls **out, int fd, uint64_t deadline,
                   const char *url, const char *host, const char *cacert, const char *cert,
                   const char *key);
/* Write or read some of BUF: the count, 0 at the end (reading), or a
 * negative code (EDR_ETLS: etcd_tls_reason says why). */
long etcd_tls_write(struct etcd_tls *t, const char *buf, size_t len);
long etcd_tls_read(struct etcd_tls *t, char *buf, size_t len);
/* Later waits of the session end at DEADLINE (CLOCK_MONOTONIC ms): a
 * stream's reads are bounded one at a time. */
void etcd_tls_set_deadline(struct etcd_tls *t, uint64_t deadline);
/* Why the session's last step failed, in BUF. */
const char *etcd_tls_reason(struct etcd_tls *t, char *buf, size_t len);
void etcd_tls_free(struct etcd_tls *t);

#endif
