/*
 * test_str.c - the growable string and the error carrier (common/str.h,
 * common/err.h): what a caller sees after each call, growth past the first
 * allocation, and that release leaves a string usable again.
 */
#include "err.h"
#include "str.h"
#include "t.h"

#include <stdlib.h>
#include <string.h>

static void test_empty(void) {
  struct edr_str s = EDR_STR_INIT;
  CHECK(s.buf != NULL);
  CHECK_STR(s.buf, "");
  CHECK(s.len == 0);
  edr_str_reset(&s);   /* nothing allocated: nothing written */
  edr_str_release(&s);
  CHECK_STR(s.buf, "");
  char *d = edr_str_detach(&s);
  CHECK(d && !strcmp(d, ""));
  free(d);
}

static void test_append(void) {
  struct edr_str s;
  edr_str_init(&s);
  CHECK(edr_str_append(&s, "host ") == 0);
  CHECK(edr_str_appendn(&s, "m1 and more", 2) == 0);
  CHECK(edr_str_appendf(&s, ": %s %d", "port", 22) == 0);
  CHECK_STR(s.buf, "host m1: port 22");
  CHECK(s.len == strlen("host m1: port 22"));
  edr_str_truncate(&s, 4);
  CHECK_STR(s.buf, "host");
  edr_str_reset(&s);
  CHECK_STR(s.buf, "");
  CHECK(s.alloc > 0); /* the buffer is kept for reuse */
  CHECK(edr_str_setf(&s, "%s", "again") == 0);
  CHECK(edr_str_setf(&s, "%d", 7) == 0);
  CHECK_STR(s.buf, "7");
  edr_str_release(&s);
  CHECK(s.alloc == 0 && s.len == 0);
  CHECK_STR(s.buf, "");
  CHECK(edr_str_append(&s, "usable after release") == 0);
  CHECK_STR(s.buf, "usable after release");
  edr_str_release(&s);
}

/* Longer than any fixed message field the code had (4096). */
static void test_growth(void) {
  struct edr_str s = EDR_STR_INIT;
  for (int i = 0; i < 2000; i++)
    CHECK(edr_str_appendf(&s, "%04d;", i) == 0);
  CHECK(s.len == 2000 * 5);
  CHECK(strlen(s.buf) == s.len);
  CHECK(!strncmp(s.buf + 1999 * 5, "1999;", 5));
  CHECK(s.alloc > s.len);
  char *d = edr_str_detach(&s);
  CHECK(d && strlen(d) == 2000 * 5);
  CHECK(s.len == 0 && s.alloc == 0);
  CHECK_STR(s.buf, "");
  free(d);
}

static void test_error(void) {
  struct edr_error e = EDR_ERROR_INIT;
  CHECK(e.code == 0);
  CHECK_STR(edr_error_text(&e), "");
  /* no message: the code's own text */
  e.code = EDR_ETIMEDOUT;
  CHECK_STR(edr_error_text(&e), "timed out");
  CHECK(edr_error_set(&e, EDR_EHASH, "'%s': sha-256 %s", "snap.db", "abc") == EDR_EHASH);
  CHECK(e.code == EDR_EHASH);
  CHECK_STR(edr_error_text(&e), "'snap.db': sha-256 abc");
  /* a second set replaces the first */
  CHECK(edr_error_set(&e, EDR_EIO, "cannot read") == EDR_EIO);
  CHECK_STR(edr_error_text(&e), "cannot read");
  CHECK(edr_error_prefix(&e, "m1 (%s): ", "10.0.0.1") == EDR_EIO);
  CHECK_STR(edr_error_text(&e), "m1 (10.0.0.1): cannot read");
  edr_error_clear(&e);
  CHECK(e.code == 0);
  CHECK_STR(edr_error_text(&e), "");
  /* a message longer than any fixed field had room for */
  char big[6000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  edr_error_set(&e, EDR_EREMOTE, "stderr: %s", big);
  CHECK(strlen(edr_error_text(&e)) == strlen("stderr: ") + sizeof big - 1);
  edr_error_release(&e);
  CHECK(e.code == 0);
  CHECK_STR(edr_error_text(&e), "");
}

int main(void) {
  test_empty();
  test_append();
  test_growth();
  test_error();
  return t_done("test_str");
}
