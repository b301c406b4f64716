/*
 * ssh.c - non-blocking libssh2 for one host (ssh.h).
 *
 * Built against the bundled libssh2 1.11 (scripts/get-libssh2.sh) or the
 * system's (bookworm: 1.10); their limits shape this file.  With 1.10, RSA user keys cannot
 * authenticate against OpenSSH 8.8+ (it signs only with ssh-rsa/SHA-1), and
 * a refused RSA key is reported as such; 1.11 signs with rsa-sha2-512/256,
 * can use AES-GCM and turns on strict key exchange by itself.  Known
 * hosts matching is per key type (so the host key algorithms offered are
 * restricted to the types known_hosts records for the host), known_hosts is
 * never rewritten (a new key is appended as one line), and the cipher, MAC
 * and key-exchange lists are pinned to ones without the Terrapin weakness.
 * Passphrases of encrypted key files come from sshkey.c, asked before the
 * run connects anywhere (edr_ssh_unlock_keys).
 */
#include "ssh.h"

#include "err.h"
#include "sshkey.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#if LIBSSH2_VERSION_NUM >= 0x010b00
/* rsa-sha2-256/512 signatures (user and host keys), AES-GCM, strict kex. */
#define EDR_LIBSSH2_1_11 1
/* aes-ctr first: libssh2 1.11.1 feeds AES-GCM to OpenSSL 16 bytes per call,
 * which cost the coordinator 21% more CPU than aes128-ctr + hmac-sha2-256
 * (SHA-NI) for the same push (docs/BENCHMARKS.md); AES-GCM is still offered,
 * for servers that allow nothing else. */
#define EDR_SSH_CIPHERS_DEFAULT "aes128-ctr,aes256-ctr,aes192-ctr," \
                                "aes128-gcm@openssh.com,aes256-gcm@openssh.com"
#define EDR_SSH_RSA_HOSTKEY_ALGS "rsa-sha2-512,rsa-sha2-256"
#else
#define EDR_LIBSSH2_1_11 0
#define EDR_SSH_CIPHERS_DEFAULT "aes128-ctr,aes256-ctr,aes192-ctr"
#define EDR_SSH_RSA_HOSTKEY_ALGS "ssh-rsa"
#endif
#ifndef EDR_SSH_CIPHERS /* a benchmark build may set its own list */
#define EDR_SSH_CIPHERS EDR_SSH_CIPHERS_DEFAULT
#endif

/* Said of an RSA user key that was refused by a build that cannot sign with
 * rsa-sha2: what is missing and what to do. */
#define EDR_SSH_RSA_NOTE                                                       \
  " (an RSA key: this etcd-dr is built with libssh2 " LIBSSH2_VERSION ", which " \
  "signs only with ssh-rsa/SHA-1, refused by OpenSSH 8.8+; RSA needs libssh2 "  \
  ">= 1.11 (scripts/get-libssh2.sh, then cmake -DEDR_LIBSSH2=bundled), or use " \
  "an ed25519 or ECDSA key)"

/* Host key types: libssh2's number, the key type name in known_hosts, the
 * host key algorithms to offer for it and the known_hosts type bit. */
static const struct keytype {
  int hostkey_type;
  const char *name;
  const char *algs;
  int kh_mask;
} keytypes[] = {
  {.hostkey_type = LIBSSH2_HOSTKEY_TYPE_ED25519, .name = "ssh-ed25519",
   .algs = "ssh-ed25519", .kh_mask = LIBSSH2_KNOWNHOST_KEY_ED25519},
  {.hostkey_type = LIBSSH2_HOSTKEY_TYPE_ECDSA_256, .name = "ecdsa-sha2-nistp256",
   .algs = "ecdsa-sha2-nistp256", .kh_mask = LIBSSH2_KNOWNHOST_KEY_ECDSA_256},
  {.hostkey_type = LIBSSH2_HOSTKEY_TYPE_ECDSA_384, .name = "ecdsa-sha2-nistp384",
   .algs = "ecdsa-sha2-nistp384", .kh_mask = LIBSSH2_KNOWNHOST_KEY_ECDSA_384},
  {.hostkey_type = LIBSSH2_HOSTKEY_TYPE_ECDSA_521, .name = "ecdsa-sha2-nistp521",
   .algs = "ecdsa-sha2-nistp521", .kh_mask = LIBSSH2_KNOWNHOST_KEY_ECDSA_521},
  {.hostkey_type = LIBSSH2_HOSTKEY_TYPE_RSA, .name = "ssh-rsa",
   .algs = EDR_SSH_RSA_HOSTKEY_ALGS, .kh_mask = LIBSSH2_KNOWNHOST_KEY_SSHRSA},
};

static const struct keytype *keytype_by_hostkey(int t) {
  for (size_t i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
    if (keytypes[i].hostkey_type == t)
      return &keytypes[i];
  return NULL;
}

static const struct keytype *keytype_by_name(const char *n, size_t len) {
  for (size_t i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
    if (strlen(keytypes[i].name) == len && !strncmp(keytypes[i].name, n, len))
      return &keytypes[i];
  return NULL;
}

static int seterr(struct edr_ssh *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int seterr(struct edr_ssh *s, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  edr_error_vset(&s->error, code < 0 ? code : EDR_ESSH, fmt, ap);
  va_end(ap);
  return code;
}

/* The one place libssh2's codes become ours. */
static int ssh_err(struct edr_ssh *s, int rc, const char *what) {
  char *msg = NULL;
  if (rc == LIBSSH2_ERROR_EAGAIN)
    return EDR_EAGAIN;
  if (s->session)
    libssh2_session_last_error(s->session, &msg, NULL, 0);
  int code;
  switch (rc) {
  case LIBSSH2_ERROR_ALLOC: code = EDR_ENOMEM; break;
  case LIBSSH2_ERROR_SOCKET_SEND:
  case LIBSSH2_ERROR_SOCKET_RECV:
  case LIBSSH2_ERROR_SOCKET_DISCONNECT:
  case LIBSSH2_ERROR_CHANNEL_CLOSED:
  case LIBSSH2_ERROR_CHANNEL_EOF_SENT: code = EDR_ECONNLOST; break;
  case LIBSSH2_ERROR_TIMEOUT:
  case LIBSSH2_ERROR_SOCKET_TIMEOUT: code = EDR_ETIMEDOUT; break;
  case LIBSSH2_ERROR_AUTHENTICATION_FAILED:
  case LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED:
  case LIBSSH2_ERROR_FILE: code = EDR_EAUTH; break;
  default: code = EDR_ESSH;
  }
  return seterr(s, code, "%s: %s", what, msg && *msg ? msg : edr_strerror(code));
}

void edr_ssh_init(struct edr_ssh *s) {
  memset(s, 0, sizeof(*s));
  s->fd = -1;
  edr_error_init(&s->error);
  edr_str_init(&s->auth_tried);
}

void edr_ssh_release(struct edr_ssh *s) {
  free(s->key_cert);
  s->key_cert = NULL;
  if (s->agent) {
    libssh2_agent_disconnect(s->agent);
    libssh2_agent_free(s->agent);
    s->agent = NULL;
  }
  if (s->session) {
    /* No polite disconnect: it could block, and the far side copes.  A
     * channel still open makes libssh2_session_free try to send its close
     * and, non-blocking towards a dead peer, return EAGAIN having freed
     * nothing: with the socket shut down first, the send fails and the
     * session is freed whole. */
    if (s->fd >= 0)
      shutdown(s->fd, SHUT_RDWR);
    libssh2_session_free(s->session);
    s->session = NULL;
  }
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  edr_error_release(&s->error);
  edr_str_release(&s->auth_tried);
}

int edr_ssh_connect_start(struct edr_ssh *s, const struct sockaddr *addr,
                          unsigned addrlen) {
  int one = 1;
  s->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0)
    return seterr(s, edr_from_errno(errno), "socket: %s", strerror(errno));
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(s->fd, addr, addrlen) == 0)
    return 0;
  if (errno == EINPROGRESS)
    return EDR_EAGAIN;
  return seterr(s, edr_from_errno(errno), "connect: %s", strerror(errno));
}

int edr_ssh_connect_done(struct edr_ssh *s) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err == EINPROGRESS || err == EALREADY)
    return EDR_EAGAIN;
  if (err)
    return seterr(s, edr_from_errno(err), "connect: %s", strerror(err));
  return 0;
}

/* Does one host pattern of a known_hosts line name HOST (plain or hashed)? */
static bool pattern_matches(const char *pat, size_t plen, const char *host) {
  if (plen > 3 && !strncmp(pat, "|1|", 3)) {
    unsigned char salt[64], want[64], got[EVP_MAX_MD_SIZE];
    char b64[128];
    const char *bar = memchr(pat + 3, '|', plen - 3);
    if (!bar)
      return false;
    size_t sl = (size_t)(bar - (pat + 3)), hl = plen - (size_t)(bar + 1 - pat);
    /* EVP_DecodeBlock writes 3 bytes per 4 characters: longer input than
     * the buffers hold is no SHA-1 salt or hash, and is never decoded. */
    if (sl >= sizeof b64 || hl >= sizeof b64 || sl / 4 * 3 > sizeof salt ||
        hl / 4 * 3 > sizeof want || sl % 4 || hl % 4)
      return false;
    memcpy(b64, pat + 3, sl);
    b64[sl] = '\0';
    int saltlen = EVP_DecodeBlock(salt, (unsigned char *)b64, (int)sl);
    memcpy(b64, bar + 1, hl);
    b64[hl] = '\0';
    int wantlen = EVP_DecodeBlock(want, (unsigned char *)b64, (int)hl);
    if (saltlen < 20 || wantlen < 20)
      return false;
    unsigned gotlen = 0;
    if (!HMAC(EVP_sha1(), salt, 20, (const unsigned char *)host, strlen(host), got, &gotlen))
      return false;
    return gotlen == 20 && memcmp(got, want, 20) == 0;
  }
  return strlen(host) == plen && !strncmp(pat, host, plen);
}

/* The host key algorithms known_hosts records for NAME, as a libssh2
 * preference list ("" when none). */
static void known_types(const char *known_hosts, const char *name, char *out,
                        size_t outlen) {
  char line[16384];
  FILE *f = fopen(known_hosts, "r");
  out[0] = '\0';
  if (!f)
    return;
  while (fgets(line, sizeof line, f)) {
    char *p = line + strspn(line, " \t");
    if (*p == '#' || *p == '\n' || *p == '@')
      continue;
    size_t hl = strcspn(p, " \t");
    char *t = p + hl;
    t += strspn(t, " \t");
    size_t tl = strcspn(t, " \t\n");
    const struct keytype *kt = keytype_by_name(t, tl);
    if (!kt || strstr(out, kt->algs))
      continue;
    for (size_t off = 0; off < hl;) {
      size_t pl = strcspn(p + off, ",");
      if (pl > hl - off)
        pl = hl - off;
      if (pattern_matches(p + off, pl, name)) {
        if (*out)
          strncat(out, ",", outlen - strlen(out) - 1);
        strncat(out, kt->algs, outlen - strlen(out) - 1);
        break;
      }
      off += pl + 1;
    }
  }
  fclose(f);
}

static void kh_name(const char *host, int port, char *out, size_t len) {
  if (port == 22)
    snprintf(out, len, "%s", host);
  else
    snprintf(out, len, "[%s]:%d", host, port);
}

/* libssh2's own recv, plus the time bytes last came: what the executor's
 * silence check reads. */
static LIBSSH2_RECV_FUNC(recv_cb) {
  struct edr_ssh *s = *abstract;
  ssize_t r = recv(socket, buffer, length, flags);
  if (r < 0)
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  if (r > 0)
    s->last_rx_ms = edr_now_ms();
  return r;
}

int edr_ssh_handshake(struct edr_ssh *s, const char *host, int port,
                      const char *known_hosts) {
  int rc;
  if (!s->session) {
    char name[300], types[256];
    s->session = libssh2_session_init();
    if (!s->session)
      return seterr(s, EDR_ENOMEM, "cannot create an ssh session");
    libssh2_session_set_blocking(s->session, 0);
    *libssh2_session_abstract(s->session) = s;
#if LIBSSH2_VERSION_NUM >= 0x010b01
    libssh2_session_callback_set2(s->session, LIBSSH2_CALLBACK_RECV,
                                  (libssh2_cb_generic *)recv_cb);
#else
    libssh2_session_callback_set(s->session, LIBSSH2_CALLBACK_RECV, (void *)recv_cb);
#endif
    s->last_rx_ms = edr_now_ms();
    if (s->keepalive_s)
      libssh2_keepalive_config(s->session, 1, s->keepalive_s);
    kh_name(host, port, name, sizeof name);
    known_types(known_hosts, name, types, sizeof types);
    if (*types)
      libssh2_session_method_pref(s->session, LIBSSH2_METHOD_HOSTKEY, types);
    /* aes-ctr with hmac-sha2 (then AES-GCM with 1.11): fast with AES-NI and
     * not open to Terrapin.  1.11 prefixes the kex list with ext-info-c
     * (server-sig-algs, for rsa-sha2) and kex-strict-c-v00@openssh.com
     * (strict kex) itself. */
    libssh2_session_method_pref(s->session, LIBSSH2_METHOD_CRYPT_CS, EDR_SSH_CIPHERS);
    libssh2_session_method_pref(s->session, LIBSSH2_METHOD_CRYPT_SC, EDR_SSH_CIPHERS);
    libssh2_session_method_pref(s->session, LIBSSH2_METHOD_MAC_CS,
                                "hmac-sha2-256,hmac-sha2-512");
    libssh2_session_method_pref(s->session, LIBSSH2_METHOD_MAC_SC,
                                "hmac-sha2-256,hmac-sha2-512");
    libssh2_session_method_pref(s->session, LIBSSH2_METHOD_KEX,
                                "curve25519-sha256,curve25519-sha256@libssh.org,"
                                "ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
                                "diffie-hellman-group16-sha512,"
                                "diffie-hellman-group14-sha256");
  }
  rc = libssh2_session_handshake(s->session, s->fd);
  if (rc)
    return ssh_err(s, rc, "ssh handshake");
  return 0;
}

int edr_ssh_check_hostkey(struct edr_ssh *s, const char *host, int port,
                          const char *known_hosts, bool accept_new) {
  size_t len;
  int type, rc;
  const char *key = libssh2_session_hostkey(s->session, &len, &type);
  const struct keytype *kt = keytype_by_hostkey(type);
  struct libssh2_knownhost *found = NULL;
  char name[300];

  if (!key || !kt)
    return seterr(s, EDR_ESSH, "the server offered a host key of a type etcd-dr "
                  "does not handle");
  snprintf(s->hostkey_type, sizeof s->hostkey_type, "%s", kt->name);
  const unsigned char *h = (const unsigned char *)libssh2_hostkey_hash(
      s->session, LIBSSH2_HOSTKEY_HASH_SHA256);
  if (h) {
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, h, 32);
    while (n > 0 && b64[n - 1] == '=')
      b64[--n] = '\0';
    snprintf(s->hostkey_fp, sizeof s->hostkey_fp, "SHA256:%s", b64);
  }
  kh_name(host, port, name, sizeof name);

  LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s->session);
  if (!kh)
    return seterr(s, EDR_ENOMEM, "cannot load known_hosts");
  rc = libssh2_knownhost_readfile(kh, known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
  if (rc < 0 && access(known_hosts, F_OK) == 0) {
    libssh2_knownhost_free(kh);
    return seterr(s, EDR_EHOSTKEY_UNKNOWN,
                  "known_hosts file '%s' has a line libssh2 cannot parse (it reads "
                  "plain and hashed host entries; @cert-authority and wildcards are "
                  "not supported); fix or split the file", known_hosts);
  }
  rc = libssh2_knownhost_checkp(kh, host, port, key, len,
                                LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                    LIBSSH2_KNOWNHOST_KEYENC_RAW | kt->kh_mask,
                                &found);
  if (rc == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
    libssh2_knownhost_free(kh);
    return 0;
  }
  if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
    libssh2_knownhost_free(kh);
    return seterr(s, EDR_EHOSTKEY_MISMATCH,
                  "HOST KEY CHANGED for '%s': the %s key (%s) is not the one recorded "
                  "in '%s'. This may be a reinstalled host or an attack; check the "
                  "fingerprint out of band, then remove the old entry with "
                  "ssh-keygen -R '%s' -f '%s'", name, kt->name, s->hostkey_fp,
                  known_hosts, name, known_hosts);
  }
  if (!accept_new) {
    libssh2_knownhost_free(kh);
    return seterr(s, EDR_EHOSTKEY_UNKNOWN,
                  "host key for '%s' is not in '%s' (%s %s); verify it and add it "
                  "(ssh-keyscan -t %s), or pass --accept-new-host-keys to record it",
                  name, known_hosts, kt->name, s->hostkey_fp, kt->name);
  }
  /* Append exactly one line: writefile would drop what libssh2 did not load. */
  struct libssh2_knownhost *added = NULL;
  char line[8192];
  size_t outlen = 0;
  rc = libssh2_knownhost_addc(kh, name, NULL, key, len, NULL, 0,
                              LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                  LIBSSH2_KNOWNHOST_KEYENC_RAW | kt->kh_mask,
                              &added);
  if (rc == 0)
    rc = libssh2_knownhost_writeline(kh, added, line, sizeof line, &outlen,
                                     LIBSSH2_KNOWNHOST_FILE_OPENSSH);
  libssh2_knownhost_free(kh);
  if (rc)
    return seterr(s, EDR_EIO, "cannot format a known_hosts line for '%s'", name);
  if ((rc = edr_known_hosts_append(known_hosts, line, outlen)))
    return seterr(s, edr_from_errno(-rc), "cannot record the host key of '%s' in '%s': %s",
                  name, known_hosts, strerror(-rc));
  s->hostkey_recorded = true;
  return 0;
}

int edr_known_hosts_append(const char *path, const char *line, size_t len) {
  int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  /* One write: the missing newline of a hand-edited file, then the line. */
  char last = '\n';
  off_t end = lseek(fd, 0, SEEK_END);
  int rc = 0;
  if (end < 0 || (end > 0 && pread(fd, &last, 1, end - 1) != 1))
    rc = -errno;
  char *buf = rc ? NULL : malloc(len + 1);
  if (!rc && !buf)
    rc = -ENOMEM;
  if (!rc) {
    size_t n = 0;
    if (last != '\n')
      buf[n++] = '\n';
    memcpy(buf + n, line, len);
    n += len;
    ssize_t w = write(fd, buf, n);
    if (w != (ssize_t)n)
      rc = w < 0 ? -errno : -EIO;
    else if (fsync(fd) != 0)
      rc = -errno;
  }
  free(buf);
  close(fd);
  return rc;
}

/* The key files tried after ssh-agent when no identity file is set. */
static const char *const default_keys[] = {"/.ssh/id_ed25519", "/.ssh/id_ecdsa",
                                           "/.ssh/id_rsa"};
enum { N_DEFAULT_KEYS = sizeof default_keys / sizeof default_keys[0] };

static void note_tried(struct edr_ssh *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note_tried(struct edr_ssh *s, const char *fmt, ...) {
  va_list ap;
  if (s->auth_tried.len)
    edr_str_append(&s->auth_tried, ", ");
  va_start(ap, fmt);
  edr_str_vappendf(&s->auth_tried, fmt, ap);
  va_end(ap);
}

/* Does ssh-agent hold the public key BLOB?  The agent socket is local. */
static bool agent_holds(const unsigned char *blob, size_t len) {
  bool has = false;
  if (!blob || !getenv("SSH_AUTH_SOCK"))
    return false;
  LIBSSH2_SESSION *session = libssh2_session_init();
  LIBSSH2_AGENT *agent = session ? libssh2_agent_init(session) : NULL;
  if (agent && !libssh2_agent_connect(agent) && !libssh2_agent_list_identities(agent)) {
    struct libssh2_agent_publickey *id = NULL;
    while (!has && libssh2_agent_get_identity(agent, &id, id) == 0)
      has = id->blob_len == len && !memcmp(id->blob, blob, len);
    libssh2_agent_disconnect(agent);
  }
  if (agent)
    libssh2_agent_free(agent);
  if (session)
    libssh2_session_free(session);
  return has;
}

int edr_ssh_unlock_keys(const char *identity, struct edr_error *err) {
  const char *home = getenv("HOME");
  edr_error_clear(err);
  for (size_t i = 0; i < (identity ? 1 : (size_t)N_DEFAULT_KEYS); i++) {
    char *path = identity ? strdup(identity)
                          : edr_asprintf("%s%s", home ? home : "", default_keys[i]);
    struct edr_keyfile k;
    const char *pass, *why = NULL;
    if (!path)
      return edr_error_set(err, EDR_ENOMEM, "out of memory");
    int rc = edr_keyfile_read(path, &k);
    /* ssh-agent comes first (without identity_file): a key it holds is not
     * asked for. */
    if (rc == 0 && k.encrypted && !edr_keypass_get(path) &&
        (identity || !agent_holds(k.pub, k.pub_len))) {
      rc = edr_keypass_ask(path, &pass, &why);
      if (rc && identity)
        edr_error_set(err, EDR_EAUTH, "identity file '%s' is encrypted and %s: type its "
                      "passphrase on a terminal, set SSH_ASKPASS, or load it into ssh-agent "
                      "(ssh-add '%s') and leave identity_file unset", path,
                      why ? why : edr_strerror(rc), path);
    } else {
      rc = 0;
    }
    edr_keyfile_release(&k);
    free(path);
    if (rc == EDR_ECANCELED)
      return edr_error_set(err, rc, "interrupted at the passphrase prompt");
    if (rc && identity)
      return err->code;
  }
  return 0;
}

/* Try one key file: its OpenSSH certificate (PATH-cert.pub) first where
 * libssh2 can use one, then the key itself.  0: authenticated; EDR_EAGAIN;
 * 1: refused or unusable, noted in auth_tried, try the next; < 0 with
 * s->error set: give up (MUST_EXIST: an identity file the operator named). */
static int try_key(struct edr_ssh *s, const char *user, const char *path,
                   bool must_exist) {
  enum { K_START, K_CERT, K_PLAIN };
  int rc;
  if (s->key_stage == K_START) {
    struct edr_keyfile k;
    const char *why = NULL;
    if (access(path, R_OK) != 0) {
      if (must_exist)
        return seterr(s, EDR_EAUTH, "cannot read identity file '%s': %s", path,
                      strerror(errno));
      return 1;
    }
    rc = edr_keyfile_read(path, &k);
    s->key_rsa = rc == 0 && k.rsa;
    s->key_encrypted = rc == 0 && k.encrypted;
    edr_keyfile_release(&k);
    s->key_pass = NULL;
    if (s->key_encrypted && edr_keypass_ask(path, &s->key_pass, &why) != 0) {
      if (must_exist)
        return seterr(s, EDR_EAUTH, "identity file '%s' is encrypted and %s: type its "
                      "passphrase on a terminal, set SSH_ASKPASS, or load it into "
                      "ssh-agent (ssh-add '%s')", path, why ? why : "no passphrase", path);
      note_tried(s, "'%s' (encrypted: %s)", path, why ? why : "no passphrase");
      return 1;
    }
    free(s->key_cert);
    s->key_cert = EDR_LIBSSH2_1_11 ? edr_asprintf("%s-cert.pub", path) : NULL;
    if (s->key_cert && access(s->key_cert, R_OK) != 0) {
      free(s->key_cert);
      s->key_cert = NULL;
    }
    s->key_stage = s->key_cert ? K_CERT : K_PLAIN;
  }
  if (s->key_stage == K_CERT) {
    rc = libssh2_userauth_publickey_fromfile_ex(s->session, user, (unsigned)strlen(user),
                                                s->key_cert, path, s->key_pass);
    if (rc == LIBSSH2_ERROR_EAGAIN)
      return EDR_EAGAIN;
    if (rc == 0)
      return 0;
    note_tried(s, "certificate '%s'", s->key_cert);
    s->key_stage = K_PLAIN;
  }
  rc = libssh2_userauth_publickey_fromfile_ex(s->session, user, (unsigned)strlen(user),
                                              NULL, path, s->key_pass);
  if (rc == LIBSSH2_ERROR_EAGAIN)
    return EDR_EAGAIN;
  s->key_stage = K_START;
  if (rc == 0)
    return 0;
  char *msg = NULL;
  libssh2_session_last_error(s->session, &msg, NULL, 0);
  if (rc == LIBSSH2_ERROR_FILE && s->key_pass) {
    if (must_exist)
      return seterr(s, EDR_EAUTH, "wrong passphrase for identity file '%s' (libssh2: %s); "
                    "nothing was done on this host: run again and type the key's "
                    "passphrase", path, msg && *msg ? msg : "cannot decrypt the key");
    note_tried(s, "'%s' (wrong passphrase)", path);
    return 1;
  }
  if (rc == LIBSSH2_ERROR_FILE) {
    if (must_exist)
      return seterr(s, EDR_EAUTH, "cannot use identity file '%s': %s", path,
                    msg && *msg ? msg : "unreadable");
    note_tried(s, "'%s' (unreadable: %s)", path, msg && *msg ? msg : "?");
    return 1;
  }
  note_tried(s, "'%s'%s", path, s->key_rsa && !EDR_LIBSSH2_1_11 ? EDR_SSH_RSA_NOTE : "");
  return 1;
}

int edr_ssh_auth(struct edr_ssh *s, const char *user, const char *identity) {
  enum { A_START, A_AGENT, A_FILES, A_DONE };
  int rc;
  if (s->auth_stage == A_START) {
    edr_str_reset(&s->auth_tried);
    s->auth_stage = identity || s->identities_only ? A_FILES : A_AGENT;
    s->auth_idx = 0;
    s->key_stage = 0;
    if (s->auth_stage == A_AGENT && getenv("SSH_AUTH_SOCK") && (s->agent = libssh2_agent_init(s->session))) {
      /* The agent socket is local: connect and listing are quick. */
      if (libssh2_agent_connect(s->agent) || libssh2_agent_list_identities(s->agent)) {
        libssh2_agent_free(s->agent);
        s->agent = NULL;
      }
    }
  }
  if (s->auth_stage == A_AGENT) {
    while (s->agent) {
      if (!s->agent_id || s->auth_idx == 0) {
        rc = libssh2_agent_get_identity(s->agent, &s->agent_id, s->agent_id);
        if (rc != 0)
          break; /* 1: no more identities; <0: error */
        s->auth_idx = 1;
      }
      rc = libssh2_agent_userauth(s->agent, user, s->agent_id);
      if (rc == LIBSSH2_ERROR_EAGAIN)
        return EDR_EAGAIN;
      if (rc == 0)
        return 0;
      bool rsa = s->agent_id->blob_len > 11 && !memcmp(s->agent_id->blob, "\0\0\0\7ssh-rsa", 11);
      note_tried(s, "ssh-agent key '%s'%s", s->agent_id->comment ? s->agent_id->comment : "?",
                 rsa && !EDR_LIBSSH2_1_11 ? EDR_SSH_RSA_NOTE : "");
      s->auth_idx = 0;
    }
    s->auth_stage = A_FILES;
    s->auth_idx = 0;
  }
  if (s->auth_stage == A_FILES) {
    const char *home = getenv("HOME");
    for (; s->auth_idx < (identity ? 1 : (int)N_DEFAULT_KEYS); s->auth_idx++) {
      char *p = identity ? strdup(identity)
                         : edr_asprintf("%s%s", home ? home : "", default_keys[s->auth_idx]);
      rc = p ? try_key(s, user, p, identity != NULL) : EDR_ENOMEM;
      free(p);
      if (rc <= 0)
        return rc;
    }
    s->auth_stage = A_DONE;
  }
  return seterr(s, EDR_EAUTH, "ssh authentication as '%s' failed; tried %s", user,
                s->auth_tried.len ? s->auth_tried.buf
                                 : "nothing (no ssh-agent, no ~/.ssh/id_ed25519, id_ecdsa "
                                   "or id_rsa): set identity_file or --identity");
}

int edr_ssh_wants(const struct edr_ssh *s) {
  int want = 0, dir = s->session ? libssh2_session_block_directions(s->session) : 0;
  if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
    want |= EDR_SSH_WANT_READ;
  if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
    want |= EDR_SSH_WANT_WRITE;
  return want ? want : EDR_SSH_WANT_READ;
}

int edr_chan_exec(struct edr_ssh *s, struct edr_chan *c, const char *cmd) {
  int rc;
  if (!c->ch) {
    c->ch = libssh2_channel_open_session(s->session);
    if (!c->ch) {
      rc = libssh2_session_last_errno(s->session);
      return ssh_err(s, rc, "cannot open an ssh channel");
    }
    c->stage = 1;
  }
  if (c->stage == 1) {
    rc = libssh2_channel_exec(c->ch, cmd);
    if (rc)
      return ssh_err(s, rc, "cannot start a remote command");
    c->stage = 2;
  }
  return 0;
}

long edr_chan_write(struct edr_ssh *s, struct edr_chan *c, const void *buf,
                    size_t len) {
  ssize_t n = libssh2_channel_write(c->ch, buf, len);
  if (n >= 0)
    return n == 0 ? EDR_EAGAIN : (long)n;
  return ssh_err(s, (int)n, "sending to the remote command");
}

long edr_chan_read(struct edr_ssh *s, struct edr_chan *c, int stream, void *buf,
                   size_t len) {
  ssize_t n = libssh2_channel_read_ex(c->ch, stream, buf, len);
  if (n > 0)
    return (long)n;
  if (n == 0)
    return libssh2_channel_eof(c->ch) ? 0 : EDR_EAGAIN;
  return ssh_err(s, (int)n, "reading from the remote command");
}

int edr_chan_send_eof(struct edr_ssh *s, struct edr_chan *c) {
  if (c->eof_sent)
    return 0;
  int rc = libssh2_channel_send_eof(c->ch);
  if (rc)
    return ssh_err(s, rc, "closing the remote command's input");
  c->eof_sent = true;
  return 0;
}

int edr_chan_close(struct edr_ssh *s, struct edr_chan *c, int *exit_status,
                   const char **signal) {
  int rc;
  if (c->stage < 3) {
    rc = libssh2_channel_close(c->ch);
    if (rc)
      return ssh_err(s, rc, "closing an ssh channel");
    c->stage = 3;
  }
  if (c->stage == 3) {
    rc = libssh2_channel_wait_closed(c->ch);
    if (rc)
      return ssh_err(s, rc, "waiting for an ssh channel to close");
    c->stage = 4;
  }
  char *sig = NULL;
  *exit_status = libssh2_channel_get_exit_status(c->ch);
  libssh2_channel_get_exit_signal(c->ch, &sig, NULL, NULL, NULL, NULL, NULL);
  /* libssh2 allocates it; keep a static copy of the common names. */
  static const char *const names[] = {"TERM", "KILL", "HUP", "INT", "PIPE", "SEGV", "ABRT"};
  *signal = NULL;
  if (sig) {
    *signal = "signal";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
      if (!strcmp(sig, names[i]))
        *signal = names[i];
    libssh2_free(s->session, sig);
  }
  return 0;
}

void edr_chan_release(struct edr_chan *c) {
  if (c->ch) {
    libssh2_channel_free(c->ch);
    c->ch = NULL;
  }
  c->stage = 0;
  c->eof_sent = false;
}

int edr_ssh_keepalive(struct edr_ssh *s) {
  int next = 0, queued = 1;
  if (!s->session || !s->keepalive_s || s->fd < 0)
    return 0;
  if (ioctl(s->fd, SIOCOUTQ, &queued) != 0 || queued != 0)
    return 0;
  (void)libssh2_keepalive_send(s->session, &next);
  return 0;
}
