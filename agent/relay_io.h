/*
 * relay_io.h - the agent's side of the relay between hosts (relay_io.c,
 * docs/transfer.md): a listener that takes one authenticated stream from
 * the predecessor, a connection that forwards to the successor, and the
 * check phase's reachability test.  The records are common/relay.h's.
 *
 * Owns: a relay_in or relay_out owns its socket and cipher state until its
 * _close; the plaintext returned by relay_in_read is the struct's own
 * buffer, valid until the next read.
 */
#ifndef EDR_AGENT_RELAY_IO_H
#define EDR_AGENT_RELAY_IO_H

#include "agent.h"
#include "relay.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct relay_in {
  int fd;
  struct edr_relay st;
  bool ready;                /* st initialised */
  char peer[64];             /* the predecessor's address, for messages */
  uint8_t rec[EDR_RELAY_REC_MAX + EDR_RELAY_OVERHEAD];
  uint8_t plain[EDR_RELAY_REC_MAX];
};

struct relay_out {
  int fd;
  struct edr_relay st;
  bool ready;
  char to[300];              /* "m2 (10.0.0.2:40123)", for messages */
  uint64_t sent;             /* bytes on the wire so far */
  uint8_t rec[EDR_RELAY_REC_MAX + EDR_RELAY_OVERHEAD];
};

/* The run key from REQ's "key" (64 hex digits) into KEY. */
int relay_key(struct agent *a, json_t *req, uint8_t key[EDR_RELAY_KEY]);

/* Listen on LISTEN's "port" for at most its "timeout_ms", take one
 * connection and its hello; the listening socket is closed before this
 * returns.  0 or a negative code after agent_fail(). */
int relay_in_accept(struct agent *a, json_t *listen, const uint8_t key[EDR_RELAY_KEY],
                    struct relay_in *in);
/* The next record's plaintext: its length (0 is allowed), with *LAST set
 * on the stream's last record; negative after agent_fail() (tampered,
 * truncated, timed out). */
long relay_in_read(struct agent *a, struct relay_in *in, const char *what, bool *last);
void relay_in_close(struct relay_in *in);

/* Connect to FORWARD's "addr":"port" ("host" names it), trying again for
 * up to its "timeout_ms", and send the hello. */
/* ADDR (an IPv4 or IPv6 address, no name) and PORT as a socket address;
 * false when ADDR is not one.  Also the etcd-http op's (etcdask.c). */
bool agent_ip_addr(const char *addr, int port, struct sockaddr_storage *sa, socklen_t *len);

int relay_out_connect(struct agent *a, json_t *forward, const uint8_t key[EDR_RELAY_KEY],
                      struct relay_out *out);
/* Seal and send N bytes (any length) as records; LAST ends the stream. */
int relay_out_write(struct agent *a, struct relay_out *out, const void *buf, size_t n,
                    bool last);
void relay_out_close(struct relay_out *out);

#endif
