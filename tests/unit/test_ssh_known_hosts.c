/*
 * test_ssh_known_hosts.c - hashed known_hosts lines (|1|salt|hash) whose
 * base64 is longer than a SHA-1 salt or hash can be: reading them must not
 * write past the decode buffers.  The decode happens inside libcrypto, where
 * ASan cannot see it, so EVP_DecodeBlock is interposed here: it decodes into
 * a large buffer of its own, records how many bytes the real call would have
 * written, and copies them into the caller's buffer (an ASan-checked copy).
 */
#include "err.h"
#include "ssh.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t.h"

static int max_written; /* most bytes one decode wrote */

int EVP_DecodeBlock(unsigned char *t, const unsigned char *f, int n);
int EVP_DecodeBlock(unsigned char *t, const unsigned char *f, int n) {
  static int (*real)(unsigned char *, const unsigned char *, int);
  if (!real)
    *(void **)&real = dlsym(RTLD_NEXT, "EVP_DecodeBlock");
  unsigned char big[4096];
  if (n < 0 || n > (int)sizeof big)
    abort();
  memset(big, 0xA5, sizeof big);
  int r = real(big, f, n);
  int written = (int)sizeof big; /* what the real call touched */
  while (written > 0 && big[written - 1] == 0xA5)
    written--;
  if (r > written)
    written = r;
  if (written > max_written)
    max_written = written;
  memcpy(t, big, (size_t)written);
  return r;
}

/* A hashed line with a salt and a hash of LEN base64 characters each. */
static void long_line(FILE *f, int len) {
  fputs("|1|", f);
  for (int i = 0; i < len; i++)
    fputc("ABCDEFGHabcdefgh0123+/"[i % 22], f);
  fputc('|', f);
  for (int i = 0; i < len; i++)
    fputc("abcdefgh01234567ABCDEF"[i % 22], f);
  fputs(" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
        f);
}

int main(void) {
  char path[] = "/tmp/test_ssh_known_hosts.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "w");
  for (int len = 84; len <= 127; len++)
    long_line(f, len);
  fclose(f);

  int sp[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
  close(sp[1]); /* the "server" is gone: the handshake fails after the read */
  struct edr_ssh s;
  edr_ssh_init(&s);
  s.fd = sp[0];
  int rc = edr_ssh_handshake(&s, "db1.example", 22, path);
  CHECK(rc != 0); /* no server, but no crash either */
  CHECK(max_written <= 64);
  if (max_written > 64)
    fprintf(stderr, "a decode wrote %d bytes into a 64-byte buffer\n", max_written);
  edr_ssh_release(&s);
  unlink(path);
  return t_done("test_ssh_known_hosts");
}
