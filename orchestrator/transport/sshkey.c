/*
 * sshkey.c - private key files and their passphrases (sshkey.h).
 *
 * The key file is read only to learn its type, whether it is encrypted and
 * its public key (OpenSSH's own format carries the public key in clear;
 * PEM files need the .pub next to them); libssh2 does the decrypting.  The
 * passphrase cache is a small table guarded by one mutex, which is held
 * while asking so that hosts sharing a key file are asked for it once.
 */
#include "sshkey.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

enum { KEYFILE_MAX = 64 * 1024, PASS_MAX = 1024, CACHE_MAX = 32 };

static char *read_small(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  struct stat st;
  if (fd < 0)
    return NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > KEYFILE_MAX) {
    close(fd);
    return NULL;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  ssize_t n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
  close(fd);
  if (n < 0) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/* Decode base64 from TEXT up to END (whitespace skipped) into a new buffer. */
static unsigned char *b64_decode(const char *text, const char *end, size_t *len) {
  size_t n = 0, cap = (size_t)(end - text);
  char *clean = malloc(cap + 4);
  unsigned char *out = malloc(cap + 4);
  if (!clean || !out)
    goto fail;
  for (const char *p = text; p < end; p++)
    if (!strchr(" \t\r\n", *p))
      clean[n++] = *p;
  if (n == 0 || n % 4)
    goto fail;
  int got = EVP_DecodeBlock(out, (unsigned char *)clean, (int)n);
  if (got < 0)
    goto fail;
  while (n > 0 && clean[n - 1] == '=') { /* DecodeBlock counts the padding */
    n--;
    got--;
  }
  free(clean);
  *len = (size_t)got;
  return out;
fail:
  free(clean);
  free(out);
  return NULL;
}

/* One SSH "string" (u32 length, bytes) at *P within END. */
static bool get_string(const unsigned char **p, const unsigned char *end,
                       const unsigned char **s, size_t *len) {
  if (end - *p < 4)
    return false;
  uint32_t l = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 |
               (*p)[3];
  if ((size_t)(end - *p - 4) < l)
    return false;
  *s = *p + 4;
  *len = l;
  *p += 4 + l;
  return true;
}

static bool blob_is_rsa(const unsigned char *blob, size_t len) {
  const unsigned char *p = blob, *t;
  size_t tl;
  return get_string(&p, blob + len, &t, &tl) && tl == 7 && !memcmp(t, "ssh-rsa", 7);
}

/* openssh-key-v1: magic, cipher, kdf, kdf options, key count, public key. */
static void parse_openssh(const unsigned char *d, size_t len, struct edr_keyfile *k) {
  static const char magic[] = "openssh-key-v1";
  const unsigned char *p = d + sizeof magic, *end = d + len, *s, *pub;
  size_t sl, pl;
  if (len < sizeof magic || memcmp(d, magic, sizeof magic))
    return;
  if (!get_string(&p, end, &s, &sl))
    return;
  k->encrypted = !(sl == 4 && !memcmp(s, "none", 4));
  if (!get_string(&p, end, &s, &sl) || !get_string(&p, end, &s, &sl) || end - p < 4)
    return;
  p += 4;
  if (!get_string(&p, end, &pub, &pl) || !(k->pub = malloc(pl)))
    return;
  memcpy(k->pub, pub, pl);
  k->pub_len = pl;
  k->rsa = blob_is_rsa(pub, pl);
}

/* PATH.pub: "TYPE BASE64 [comment]". */
static void read_pub(const char *path, struct edr_keyfile *k) {
  char *name = edr_asprintf("%s.pub", path), *text = name ? read_small(name) : NULL;
  free(name);
  if (!text)
    return;
  char *b = text + strcspn(text, " \t");
  b += strspn(b, " \t");
  char *e = b + strcspn(b, " \t\r\n");
  size_t len = 0;
  unsigned char *blob = e > b ? b64_decode(b, e, &len) : NULL;
  if (blob) {
    free(k->pub);
    k->pub = blob;
    k->pub_len = len;
    k->rsa = blob_is_rsa(blob, len);
  }
  free(text);
}

int edr_keyfile_read(const char *path, struct edr_keyfile *k) {
  memset(k, 0, sizeof *k);
  if (access(path, F_OK) != 0)
    return EDR_ENOENT;
  char *text = read_small(path);
  if (!text)
    return EDR_EIO;
  static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
  const char *b = strstr(text, begin), *e = b ? strstr(b, "-----END") : NULL;
  if (b && e) {
    size_t len = 0;
    unsigned char *d = b64_decode(b + sizeof begin - 1, e, &len);
    if (d)
      parse_openssh(d, len, k);
    free(d);
  } else {
    /* PEM: "Proc-Type: 4,ENCRYPTED" (traditional) or PKCS#8's own label. */
    k->encrypted = strstr(text, "ENCRYPTED") != NULL;
    k->rsa = strstr(text, "BEGIN RSA PRIVATE KEY") != NULL;
  }
  OPENSSL_cleanse(text, strlen(text));
  free(text);
  read_pub(path, k);
  return 0;
}

void edr_keyfile_release(struct edr_keyfile *k) {
  free(k->pub);
  memset(k, 0, sizeof *k);
}

/* ---- passphrases ---------------------------------------------------------- */

static struct cached {
  char *path;
  char *pass;                 /* NULL: none (rc says why) */
  int rc;
  const char *why;
} cache[CACHE_MAX];
static size_t n_cache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t caught;

static void on_prompt_signal(int sig) { caught = sig; }

/* Ask on /dev/tty with echo off.  EDR_ENOENT when there is no terminal. */
static int tty_ask(const char *prompt, char *buf, size_t len) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU};
  struct sigaction old[sizeof sigs / sizeof sigs[0]], sa;
  struct termios saved, quiet;
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return EDR_ENOENT;
  bool restore = tcgetattr(fd, &saved) == 0;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_prompt_signal; /* no SA_RESTART: read() returns EINTR */
  caught = 0;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction(sigs[i], &sa, &old[i]);
  if (restore) {
    quiet = saved;
    quiet.c_lflag &= (tcflag_t)~(ECHO | ECHOE | ECHOK | ECHONL);
    quiet.c_lflag |= ICANON;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  size_t n = 0;
  int rc = 0;
  if (write(fd, prompt, strlen(prompt)) < 0)
    rc = EDR_EIO;
  while (!rc && !caught) {
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0 || c == '\n' || c == '\r')
      break;
    if (n + 1 < len)
      buf[n++] = c;
  }
  buf[n] = '\0';
  if (restore)
    tcsetattr(fd, TCSAFLUSH, &saved);
  ssize_t w = write(fd, "\n", 1); /* the operator's Enter was not echoed */
  (void)w;
  close(fd);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction(sigs[i], &old[i], NULL);
  if (caught) {
    OPENSSL_cleanse(buf, len);
    /* ^C and SIGTERM are the caller's to act on (the run reports itself
     * interrupted); the others go to whoever handled them before. */
    if (caught != SIGINT && caught != SIGTERM)
      raise(caught);
    return EDR_ECANCELED;
  }
  return rc;
}

/* Run the askpass program with PROMPT and read its answer from its stdout. */
static int askpass_run(const char *prog, const char *prompt, char *buf, size_t len) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    return edr_from_errno(errno);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
  char *argv[] = {(char *)prog, (char *)prompt, NULL};
  pid_t pid;
  int err = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (err) {
    close(p[0]);
    return EDR_ENOENT;
  }
  size_t n = 0;
  for (;;) {
    ssize_t r = read(p[0], buf + n, len - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
    if (n == len - 1)
      break;
  }
  close(p[0]);
  buf[n] = '\0';
  buf[strcspn(buf, "\r\n")] = '\0';
  int status = 0;
  pid_t w;
  do
    w = waitpid(pid, &status, 0);
  while (w < 0 && errno == EINTR);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    OPENSSL_cleanse(buf, len);
    return EDR_ECANCELED;
  }
  return 0;
}

/* OpenSSH's read_passphrase() rules for where to ask. */
static int ask(const char *path, char *buf, size_t len, const char **why) {
  char *prompt = edr_asprintf("Enter passphrase for key '%s': ", path);
  const char *req = getenv("SSH_ASKPASS_REQUIRE"), *d = getenv("DISPLAY"),
             *w = getenv("WAYLAND_DISPLAY");
  bool allow = (d && *d) || (w && *w), use = false;
  int rc = EDR_ENOENT;
  if (!prompt)
    return EDR_ENOMEM;
  if (req && !strcasecmp(req, "force"))
    use = allow = true;
  else if (req && !strcasecmp(req, "prefer"))
    use = allow;
  else if (req && !strcasecmp(req, "never"))
    allow = false;
  if (!use) {
    rc = tty_ask(prompt, buf, len);
    if (rc == EDR_ENOENT)
      use = true;
  }
  if (use && allow) {
    const char *prog = getenv("SSH_ASKPASS");
    rc = askpass_run(prog && *prog ? prog : "/usr/bin/ssh-askpass", prompt, buf, len);
    if (rc == EDR_ENOENT)
      *why = "SSH_ASKPASS could not be run";
    else if (rc == EDR_ECANCELED)
      *why = "SSH_ASKPASS gave no passphrase";
    if (rc == EDR_ECANCELED)
      rc = EDR_EAUTH;
  } else if (use) {
    *why = "there is no terminal to ask on, and SSH_ASKPASS is used without one only when "
           "DISPLAY is set or SSH_ASKPASS_REQUIRE=force";
  } else if (rc == EDR_ECANCELED) {
    *why = "the passphrase prompt was interrupted";
  }
  free(prompt);
  if (rc == 0 && !buf[0]) {
    *why = "no passphrase was given";
    rc = EDR_EAUTH;
  }
  return rc;
}

static void clear_at_exit(void) { edr_keypass_clear(); }

int edr_keypass_ask(const char *path, const char **pass, const char **why) {
  static bool registered;
  const char *dummy;
  int rc;
  *pass = NULL;
  if (!why)
    why = &dummy;
  *why = NULL;
  pthread_mutex_lock(&cache_lock);
  for (size_t i = 0; i < n_cache; i++)
    if (!strcmp(cache[i].path, path)) {
      *pass = cache[i].pass;
      *why = cache[i].why;
      rc = cache[i].rc;
      pthread_mutex_unlock(&cache_lock);
      return rc;
    }
  if (!registered) {
    atexit(clear_at_exit);
    registered = true;
  }
  char *buf = malloc(PASS_MAX);
  rc = buf ? ask(path, buf, PASS_MAX, why) : EDR_ENOMEM;
  if (n_cache < CACHE_MAX && (cache[n_cache].path = strdup(path))) {
    struct cached *c = &cache[n_cache++];
    c->rc = rc;
    c->why = *why;
    c->pass = rc == 0 ? buf : NULL;
    *pass = c->pass;
  }
  if (rc != 0 || !*pass) {
    if (buf)
      OPENSSL_cleanse(buf, PASS_MAX);
    free(buf);
    if (rc == 0)
      rc = EDR_ENOMEM;
  }
  pthread_mutex_unlock(&cache_lock);
  return rc;
}

const char *edr_keypass_get(const char *path) {
  const char *pass = NULL;
  pthread_mutex_lock(&cache_lock);
  for (size_t i = 0; i < n_cache && !pass; i++)
    if (!strcmp(cache[i].path, path))
      pass = cache[i].pass;
  pthread_mutex_unlock(&cache_lock);
  return pass;
}

void edr_keypass_clear(void) {
  pthread_mutex_lock(&cache_lock);
  for (size_t i = 0; i < n_cache; i++) {
    if (cache[i].pass) {
      OPENSSL_cleanse(cache[i].pass, PASS_MAX);
      free(cache[i].pass);
    }
    free(cache[i].path);
  }
  memset(cache, 0, sizeof cache);
  n_cache = 0;
  pthread_mutex_unlock(&cache_lock);
}
