/*
 * sshkey.h - what a private key file is (type, encrypted or not, its public
 * key) and the passphrases of encrypted ones, asked once per file per run.
 *
 * A passphrase is asked on the terminal (/dev/tty, echo off) or through
 * SSH_ASKPASS with OpenSSH's rules (SSH_ASKPASS_REQUIRE never/prefer/force;
 * without a terminal, only when DISPLAY or WAYLAND_DISPLAY is set or
 * SSH_ASKPASS_REQUIRE=force).  It is kept in this module's memory for the
 * whole process, never written anywhere, and wiped by edr_keypass_clear()
 * (registered with atexit on first use).  Every function here is safe to
 * call from several threads (status runs one executor per host): the first
 * caller for a file asks, the others wait and reuse the answer.
 *
 * Ownership: edr_keypass_get() returns a pointer into the cache that stays
 * valid until edr_keypass_clear(); callers never free it.
 */
#ifndef EDR_SSHKEY_H
#define EDR_SSHKEY_H

#include <stdbool.h>
#include <stddef.h>

struct edr_keyfile {
  bool encrypted;             /* needs a passphrase */
  bool rsa;                   /* an RSA key (type from the file or its .pub) */
  unsigned char *pub;         /* the public key blob, or NULL if unknown */
  size_t pub_len;
};

/* Read what PATH (a private key) is, with PATH.pub when the key file does
 * not say.  0, EDR_ENOENT, or EDR_EIO; *k is released by
 * edr_keyfile_release() either way. */
int edr_keyfile_read(const char *path, struct edr_keyfile *k);
void edr_keyfile_release(struct edr_keyfile *k);

/* The passphrase of PATH, asking for it if this run has not yet: 0 and
 * *pass set (borrowed); EDR_EAUTH (the operator gave none, or askpass
 * failed); EDR_ENOENT (there is no terminal and no askpass to ask on);
 * EDR_ECANCELED (^C or SIGTERM at the prompt: the terminal is restored and
 * the signal is the caller's to act on).  Asked once: the outcome is
 * remembered.  WHY, when not NULL, names the reason in a phrase for the
 * operator. */
int edr_keypass_ask(const char *path, const char **pass, const char **why);

/* The passphrase this run has for PATH, or NULL; never asks. */
const char *edr_keypass_get(const char *path);

/* Wipe every cached passphrase. */
void edr_keypass_clear(void);

#endif
