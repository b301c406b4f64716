/*
 * etcdask.h - a request to a member's client URL from its host, shared by
 * the etcd-http op (etcdask.c: one bounded answer) and the etcd-snapshot op
 * (etcdsnap.c: etcd's snapshot stream, read as it comes).  HTTP/1.1 with
 * "Connection: close" over a non-blocking socket, TLS for https
 * (etcdtls.h), every wait bounded by the connection's deadline.
 *
 * The caller owns struct etcd_conn (on its stack) and ends it with
 * etcd_conn_close; every string of struct etcd_req is borrowed for the
 * call.  Functions that take the agent fail through agent_fail() with a
 * message naming the URL.
 */
#ifndef EDR_AGENT_ETCDASK_H
#define EDR_AGENT_ETCDASK_H

#include "agent.h"

#include <stddef.h>
#include <stdint.h>

enum { ETCD_HEAD_MAX = 16 * 1024 };  /* the longest answer head read */

struct etcd_req {
  const char *url;            /* the member's client URL: http(s)://HOST:PORT */
  const char *addr;           /* the IP address to connect to, which the coordinator
                                 resolved the URL's host NAME to (TLS still checks NAME);
                                 NULL: the URL's host, an IP address or "localhost" */
  const char *method, *path;  /* "POST", "/v3/maintenance/snapshot" */
  const char *body;           /* NULL: none */
  const char *cacert, *cert, *key;  /* paths on this host, or NULL */
  const char *auth;           /* etcd's token (Authorization), or NULL */
  uint64_t timeout_ms;        /* connect, TLS and the request; etcd_request: all */
};

struct etcd_conn {
  int fd;
  struct etcd_tls *tls;       /* https: the session on fd; NULL: plain */
  uint64_t deadline;          /* CLOCK_MONOTONIC ms */
};

uint64_t etcd_mono_ms(void);

/* Connect to R's addr, else to R's URL's host (an IP address or
 * "localhost"), TLS for https against the URL's host, and send the request: 0, or a code after agent_fail.  C is set
 * either way (etcd_conn_close it). */
int etcd_conn_open(struct agent *a, struct etcd_conn *c, const struct etcd_req *r);
/* Read some of the answer: the count, 0 at the end, or a negative code
 * (no message: etcd_conn_read_error makes it). */
long etcd_conn_get(struct etcd_conn *c, char *buf, size_t len);
/* agent_fail for a read that returned N < 0; returns the code. */
int etcd_conn_read_error(struct agent *a, struct etcd_conn *c, const struct etcd_req *r,
                         long n);
/* Later waits end at DEADLINE (the stream's idle bound). */
void etcd_conn_set_deadline(struct etcd_conn *c, uint64_t deadline);
void etcd_conn_close(struct etcd_conn *c);

/* The value of header NAME in the answer head HEAD (NUL-terminated, the
 * status line first), *VLEN its length; NULL when absent. */
const char *etcd_header(const char *head, const char *name, size_t *vlen);

/* R made and its whole answer read (at most 1 MiB of body): 0 with *CODE
 * the HTTP status, *BODY (NUL-terminated, *BODY_LEN bytes, chunked coding
 * undone) inside *BUF, which the caller frees; or a code after agent_fail
 * (*BUF NULL). */
int etcd_request(struct agent *a, const struct etcd_req *r, int *code, char **buf,
                 const char **body, size_t *body_len);

#endif
