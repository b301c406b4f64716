/*
 * ssh.h - one SSH connection to one host, non-blocking, for the executor's
 * per-host state machine.
 *
 * Every function here that talks to the network returns EDR_EAGAIN when it
 * would block; the caller then waits on the socket for what
 * edr_ssh_wants() says (uv_poll) and calls the same function again with the
 * same arguments, as libssh2 requires.  Nothing here blocks or sleeps.
 * Errors are negative EDR_E* codes with a person-readable reason in
 * s->error; libssh2's own codes are translated in one place (ssh.c).
 *
 * Ownership: struct edr_ssh is embedded by its owner, which calls
 * edr_ssh_init() and, at the end, edr_ssh_release() (closes the socket too).
 * A struct edr_chan belongs to the edr_ssh it was opened on and must be
 * freed (edr_chan_release) before that.
 */
#ifndef EDR_SSH_H
#define EDR_SSH_H

#include "err.h"

#include <libssh2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct edr_ssh {
  int fd;
  LIBSSH2_SESSION *session;
  LIBSSH2_AGENT *agent;
  struct edr_error error;       /* the last failure, with libssh2's words */
  char hostkey_type[32];        /* "ssh-ed25519" once the handshake is done */
  char hostkey_fp[80];          /* "SHA256:..." as OpenSSH prints it */
  bool hostkey_recorded;        /* accepted as new and appended to known_hosts */
  /* resumable authentication */
  int auth_stage;
  bool identities_only;        /* ssh_config IdentitiesOnly: no ssh-agent keys */
  int auth_idx;
  struct libssh2_agent_publickey *agent_id;
  struct edr_str auth_tried;    /* what authentication tried, for the message */
  int key_stage;                /* within one key file: certificate, then key */
  bool key_rsa, key_encrypted;
  const char *key_pass;         /* borrowed from sshkey.c's cache */
  char *key_cert;               /* KEY-cert.pub being tried, owned */
  /* liveness: set keepalive_s before the handshake (0: none); last_rx_ms is
   * when the socket last gave bytes (edr_now_ms), kept by ssh.c */
  unsigned keepalive_s;
  uint64_t last_rx_ms;
};

struct edr_chan {
  LIBSSH2_CHANNEL *ch;
  int stage;                    /* for resumable open/close */
  bool eof_sent;
};

void edr_ssh_init(struct edr_ssh *s);
void edr_ssh_release(struct edr_ssh *s);

/* Start a non-blocking TCP connect to an already resolved address.  Returns
 * 0 (connected), EDR_EAGAIN (wait writable, then edr_ssh_connect_done), or
 * an error. */
int edr_ssh_connect_start(struct edr_ssh *s, const struct sockaddr *addr,
                          unsigned addrlen);
int edr_ssh_connect_done(struct edr_ssh *s);

/* Create the session, restricting host key types to those known_hosts
 * records for HOST:PORT (libssh2 checks known_hosts per key type, so a key
 * of another type would be reported unknown), then handshake. */
int edr_ssh_handshake(struct edr_ssh *s, const char *host, int port,
                      const char *known_hosts);

/* Check the server's key against KNOWN_HOSTS.  Unknown keys are refused
 * unless ACCEPT_NEW, in which case one line is appended to the file.  A
 * changed key is always refused.  Does no network I/O. */
int edr_ssh_check_hostkey(struct edr_ssh *s, const char *host, int port,
                          const char *known_hosts, bool accept_new);

/* Append LINE (LEN bytes, ending in a newline) to the known_hosts file
 * PATH, created 0600 if missing.  A file whose last byte is not a newline
 * (edited by hand) gets one first, so its last entry stays intact.  The
 * file is fsynced.  Returns 0 or a negative errno. */
int edr_known_hosts_append(const char *path, const char *line, size_t len);

/* Authenticate USER with IDENTITY (a private key file) or, when NULL, with
 * ssh-agent and then ~/.ssh/id_ed25519, id_ecdsa and id_rsa.  A key file's
 * OpenSSH certificate (KEY-cert.pub) is offered first with libssh2 >= 1.11.
 * An encrypted key file is decrypted with the passphrase sshkey.c holds. */
int edr_ssh_auth(struct edr_ssh *s, const char *user, const char *identity);

/* Before a run connects anywhere: ask once for the passphrase of each
 * encrypted key file edr_ssh_auth() would use with IDENTITY (NULL: the
 * default files, except those ssh-agent holds).  EDR_ECANCELED when the
 * operator interrupted the prompt (^C); EDR_EAUTH when the operator named
 * IDENTITY and no passphrase could be had; ERR then says why and what
 * to do.  Thread-safe; a file is asked for once per process. */
int edr_ssh_unlock_keys(const char *identity, struct edr_error *err);

/* What the socket must become before calling again: a mask of
 * EDR_SSH_WANT_READ / EDR_SSH_WANT_WRITE (never 0). */
enum { EDR_SSH_WANT_READ = 1, EDR_SSH_WANT_WRITE = 2 };
int edr_ssh_wants(const struct edr_ssh *s);

/* Open a session channel and exec CMD on it. */
int edr_chan_exec(struct edr_ssh *s, struct edr_chan *c, const char *cmd);
/* Write up to LEN bytes of stdin; returns bytes written (> 0) or EDR_EAGAIN
 * or an error. */
long edr_chan_write(struct edr_ssh *s, struct edr_chan *c, const void *buf,
                    size_t len);
/* Read from stdout (STREAM 0) or stderr (STREAM 1): bytes (> 0), 0 at EOF
 * of the channel, EDR_EAGAIN, or an error. */
long edr_chan_read(struct edr_ssh *s, struct edr_chan *c, int stream,
                   void *buf, size_t len);
int edr_chan_send_eof(struct edr_ssh *s, struct edr_chan *c);
/* Close and wait for the remote side; then *exit_status and *signal (a
 * static string, or NULL) are valid. */
int edr_chan_close(struct edr_ssh *s, struct edr_chan *c, int *exit_status,
                   const char **signal);
void edr_chan_release(struct edr_chan *c);

/* Send an SSH keepalive (a global request the server must answer, so that
 * s->last_rx_ms moves while the peer lives) if keepalive_s has passed since
 * the last one.  Sends nothing while the socket's send queue holds bytes:
 * libssh2 1.10 cannot resume a half-sent keepalive once another packet went
 * first.  Returns 0; failures are left to the caller's silence check. */
int edr_ssh_keepalive(struct edr_ssh *s);

#endif
