/*
 * proxy.h - reaching a host through something else: OpenSSH's ProxyJump
 * (ssh -W through one or more jump hosts) or a ProxyCommand, as the spec's
 * proxy_jump and proxy_command say (docs/spec.md).
 *
 * The proxy is a child process whose stdin and stdout are one end of a
 * socket pair; the SSH session uses the other end as its socket, so the
 * rest of the transport does not know the difference.  Jump hosts are
 * OpenSSH's business, with their keys checked against the member's
 * known_hosts (StrictHostKeyChecking yes, or accept-new when the operator
 * asked for it, in an ssh_config written for the connection that comes
 * before the user's own); the member's own key is checked by ssh.c as
 * always.
 * The caller owns struct edr_proxy and must edr_proxy_stop() it.
 */
#ifndef EDR_PROXY_H
#define EDR_PROXY_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct edr_proxy_target {     /* every string borrowed for the call */
  const char *jump;           /* "[user@]host[:port],...", or NULL */
  const char *command;        /* run with /bin/sh -c, or NULL */
  const char *host, *user;    /* the member's ssh_host and ssh_user */
  int port;
  const char *identity_file;  /* also offered to the jump hosts, or NULL */
  const char *known_hosts;    /* the jump hosts' keys are checked here too */
  bool accept_new_hostkeys;
  const char *ssh_config;     /* the user's ssh_config included after ours: a file,
                                 "none", or NULL for ~/.ssh/config */
};

struct edr_proxy {
  pid_t pid;                  /* 0: none running */
  int err_fd;                 /* its stderr, non-blocking; -1 when closed */
  char said[512];             /* the last of what it wrote to stderr */
  char config[256];           /* proxy_jump: the ssh_config written for it, or "" */
};

void edr_proxy_init(struct edr_proxy *p);

/* Start the proxy for T.  Returns our end of the connection (non-blocking,
 * close-on-exec) or a negative EDR_E* code, set in ERR with why. */
int edr_proxy_start(const struct edr_proxy_target *t, struct edr_proxy *p,
                    struct edr_error *err);

/* What the proxy wrote to stderr so far, last line first trimmed ("" if
 * nothing); the string lives in P. */
const char *edr_proxy_said(struct edr_proxy *p);

/* End it (SIGTERM, then reaped) and close its stderr. */
void edr_proxy_stop(struct edr_proxy *p);

#endif
