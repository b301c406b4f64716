/*
 * test_agent_ops.c - the agent's pure pieces, linked from the agent library
 * that the shipped binary is built from: the line reader and its leftover
 * bytes, restore-flag and version parsing, the UTF-8 scrub of command
 * output, the output tail, /etc/passwd parsing.
 */
#include "agent.h"
#include "owner.h"
#include "probe.h"
#include "proc.h"

#include "err.h"
#include "util.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"

static struct agent ag;

/* Feed DATA through a pipe as the agent's stdin. */
static void feed(const char *data, size_t len) {
  int p[2];
  if (pipe(p) != 0)
    abort();
  if (write(p[1], data, len) != (ssize_t)len)
    abort();
  close(p[1]);
  memset(&ag, 0, sizeof(ag));
  ag.in_fd = p[0];
  ag.out_fd = -1;
}

static void test_reader(void) {
  static char line[AGENT_LINE_MAX + 1];
  const char in[] = "{\"a\":1}\nPAYLOAD\n\nlast-without-newline";
  feed(in, sizeof(in) - 1);
  CHECK(agent_read_line(&ag, line) == 7);
  CHECK_STR(line, "{\"a\":1}");
  /* The payload comes out of the buffer the line reader filled. */
  char buf[8] = {0};
  CHECK(agent_read(&ag, buf, 7) == 7);
  CHECK(memcmp(buf, "PAYLOAD", 7) == 0);
  CHECK(agent_read_line(&ag, line) == 0); /* the rest of the payload's line */
  CHECK(agent_read_line(&ag, line) == 0); /* empty line */
  CHECK(agent_read_line(&ag, line) == -1); /* partial last line is EOF */
  CHECK(agent_read(&ag, buf, 1) == 0);
  close(ag.in_fd);

  /* Overlong: skipped to its newline, the next line is intact. */
  size_t big = AGENT_LINE_MAX + 100;
  char *s = malloc(big + 16);
  memset(s, 'x', big);
  memcpy(s + big, "\nok\n", 4);
  int p[2];
  CHECK(pipe(p) == 0);
  memset(&ag, 0, sizeof(ag));
  ag.in_fd = p[0];
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    (void)!write(p[1], s, big + 4);
    _exit(0);
  }
  close(p[1]);
  CHECK(agent_read_line(&ag, line) == EDR_ETOOBIG);
  CHECK(agent_read_line(&ag, line) == 2);
  CHECK_STR(line, "ok");
  waitpid(pid, NULL, 0);
  close(p[0]);
  /* Exactly the limit is fine. */
  memset(s, 'y', AGENT_LINE_MAX);
  s[AGENT_LINE_MAX] = '\n';
  CHECK(pipe(p) == 0);
  memset(&ag, 0, sizeof(ag));
  ag.in_fd = p[0];
  pid = fork();
  if (pid == 0) {
    close(p[0]);
    (void)!write(p[1], s, AGENT_LINE_MAX + 1);
    _exit(0);
  }
  close(p[1]);
  CHECK(agent_read_line(&ag, line) == AGENT_LINE_MAX);
  waitpid(pid, NULL, 0);
  close(p[0]);
  free(s);
}

static void test_flags(void) {
  const char *help =
      "      --bump-revision uint   Add to the latest revision\n"
      "      --data-dir=\"\"\t\tPath\n"
      "  -x, --skip-hash-check[=false]\n"
      "      --wal-dir-extra string   not the flag\n"
      "      --mark-compacted\n";
  CHECK(probe_has_flag(help, "--bump-revision"));
  CHECK(probe_has_flag(help, "--data-dir"));
  CHECK(probe_has_flag(help, "--skip-hash-check"));
  CHECK(probe_has_flag(help, "--mark-compacted"));
  CHECK(!probe_has_flag(help, "--wal-dir"));
  CHECK(!probe_has_flag(help, "--initial-memory-map-size"));
  CHECK(!probe_has_flag("x--data-dir", "--data-dir"));
}

static void test_version(void) {
  struct {
    const char *text, *want;
  } cases[] = {
      {"etcdctl version: 3.4.23\nAPI version: 3.4\n", "3.4.23"},
      {"etcdutl version: 3.5.16\nAPI version: 3.5\n", "3.5.16"},
      {"API version: 3.6\netcdutl version: 3.6.0-rc.1\n", "3.6.0-rc.1"},
      {"no version here\n", NULL},
      {"version: banana\n", NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *v = probe_parse_version(cases[i].text);
    if (cases[i].want)
      CHECK_STR(json_string_value(v), cases[i].want);
    else
      CHECK(json_is_null(v));
    json_decref(v);
  }
}

static void test_bytes(void) {
  struct {
    const char *in;
    size_t len;
    const char *want;
  } cases[] = {
      {"plain", 5, "plain"},
      {"caf\xc3\xa9", 5, "caf\xc3\xa9"},
      {"\xff\xfeok", 4, "??ok"},
      {"a\0b", 3, "a?b"},
      {"\xc0\xaf", 2, "??"},                 /* overlong '/' */
      {"\xed\xa0\x80", 3, "???"},            /* surrogate */
      {"cut \xe2\x82", 6, "cut ??"},         /* truncated euro sign */
      {"\xf0\x9f\x98\x80!", 5, "\xf0\x9f\x98\x80!"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *v = agent_json_bytes(cases[i].in, cases[i].len);
    CHECK_STR(json_string_value(v), cases[i].want);
    json_decref(v);
  }
}

static void test_tail(void) {
  char buf[8];
  struct proc_tail t = {.buf = buf, .cap = sizeof(buf)};
  proc_tail_add(&t, "abc", 3);
  proc_tail_add(&t, "defgh", 5);
  CHECK(t.len == 8 && memcmp(buf, "abcdefgh", 8) == 0);
  proc_tail_add(&t, "ij", 2);
  CHECK(t.len == 8 && memcmp(buf, "cdefghij", 8) == 0);
  proc_tail_add(&t, "0123456789", 10);
  CHECK(t.len == 8 && memcmp(buf, "23456789", 8) == 0);
  CHECK(t.total == 20);
}

static void test_passwd(void) {
  char dir[] = "/tmp/test_agent_ops.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char *pw = edr_path_join(dir, "passwd");
  FILE *f = fopen(pw, "w");
  fputs("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\n"
        "etcd:x:107:113:etcd:/var/lib/etcd:/usr/sbin/nologin\n"
        "evil:x:-5:1::/:\n",
        f);
  fclose(f);
  long id = -1, gid = -1;
  CHECK(owner_lookup_id(pw, "etcd", &id, &gid) == 0 && id == 107 && gid == 113);
  CHECK(owner_lookup_id(pw, "etc", &id, &gid) == EDR_ENOENT);
  CHECK(owner_lookup_id(pw, "evil", &id, &gid) == EDR_ENOENT);
  CHECK(owner_lookup_id("/nonexistent/passwd", "etcd", &id, &gid) == EDR_ENOENT);
  unlink(pw);
  rmdir(dir);
  free(pw);
  CHECK(owner_all_digits("107") && !owner_all_digits("") && !owner_all_digits("1a") &&
        !owner_all_digits("99999999999"));
  uid_t u;
  gid_t g;
  CHECK(owner_resolve(&ag, "1000:1001", &u, &g) == 0 && u == 1000 && g == 1001);
  CHECK(owner_resolve(&ag, "root:0", &u, &g) == 0 && u == 0 && g == 0);
  CHECK(owner_resolve(&ag, ":0", &u, &g) == EDR_EINVAL);
  CHECK(owner_resolve(&ag, "no-such-user-q:0", &u, &g) == EDR_ENOENT);
  CHECK_CONTAINS(ag.err.msg.buf, "no-such-user-q");
}

int main(void) {
  edr_error_init(&ag.err);
  test_reader();
  test_flags();
  test_version();
  test_bytes();
  test_tail();
  test_passwd();
  return t_done("test_agent_ops");
}
