/*
 * test_jsonwipe.c - jansson's blocks zeroed before they are freed
 * (common/jsonwipe.h): edr_wipe_block zeroes every usable byte of a block,
 * not only the ones asked for; the install makes jansson free through
 * edr_wipe_free; and jansson's own copies of a password (the string in an
 * object, the dumped request, a parsed line) all go through that hook,
 * each zeroed before free (a spy around the hook looks at every block
 * before and after it is wiped).
 */
#include "jsonwipe.h"
#include "t.h"

#include <jansson.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char secret[] = "hunter2-correct-horse";
static int freed_with_secret, left_after_wipe;

static bool holds(const unsigned char *p, size_t n, const char *s) {
  return memmem(p, n, s, strlen(s)) != NULL;
}

static bool all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

/* The installed hook with a look before and after the wipe. */
static void spy_free(void *p) {
  if (!p)
    return;
  size_t n = malloc_usable_size(p);
  if (holds(p, n, secret)) {
    freed_with_secret++;
    edr_wipe_block(p);
    if (!all_zero(p, n))
      left_after_wipe++;
  }
  edr_wipe_free(p);
}

int main(void) {
  /* edr_wipe_block: the whole usable block, beyond the bytes asked for */
  unsigned char *b = malloc(13);
  CHECK(b != NULL);
  size_t n = malloc_usable_size(b);
  CHECK(n >= 13);
  memset(b, 0xa5, n);
  edr_wipe_block(b);
  CHECK(all_zero(b, n));
  free(b);
  edr_wipe_block(NULL);
  edr_wipe_free(NULL);

  /* the install: jansson frees through edr_wipe_free */
  json_malloc_t m = NULL;
  json_free_t f = NULL;
  edr_json_wipe_install();
  json_get_alloc_funcs(&m, &f);
  CHECK(m == malloc);
  CHECK(f == edr_wipe_free);

  /* every copy jansson makes of a password goes through the free hook */
  json_set_alloc_funcs(malloc, spy_free);
  json_t *req = json_pack("{s:s, s:s}", "name", "root", "password", secret);
  CHECK(req != NULL);
  char *line = json_dumps(req, JSON_COMPACT);
  CHECK(line != NULL && strstr(line, secret));
  json_error_t jerr;
  json_t *back = json_loads(line, 0, &jerr);
  CHECK(back != NULL);
  CHECK_STR(json_string_value(json_object_get(back, "password")), secret);
  json_decref(back);
  json_decref(req);
  /* json_dumps' result is the caller's: freed with jansson's free hook */
  spy_free(line);
  /* the object's copy, the parsed copy, the dumped line (at least) */
  CHECK(freed_with_secret >= 3);
  CHECK(left_after_wipe == 0);
  return t_done("test_jsonwipe");
}
