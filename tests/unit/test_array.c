/*
 * test_array.c - growing an array by doubling (common/array.h): the first
 * capacity, doubling when full, nothing moved while there is room, the
 * elements kept across growth, and a growth that cannot happen leaving the
 * array and its capacity as they were.
 */
#include "array.h"
#include "t.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct item {
  int id;
  char name[12];
};

static void test_grow(void) {
  struct item *v = NULL;
  size_t n = 0, cap = 0;
  size_t caps[200];
  for (int i = 0; i < 200; i++) {
    struct item *nv = edr_array_grow(v, n, &cap, sizeof *nv, 4);
    CHECK(nv != NULL);
    if (!nv)
      break;
    v = nv;
    v[n++] = (struct item){.id = i, .name = "m"};
    caps[i] = cap;
  }
  CHECK(n == 200);
  CHECK(caps[0] == 4);    /* the first growth: FIRST elements */
  CHECK(caps[3] == 4);    /* no growth while there is room */
  CHECK(caps[4] == 8);    /* full: doubled */
  CHECK(caps[8] == 16);
  CHECK(caps[199] == 256);
  bool kept = true;
  for (int i = 0; i < 200; i++)
    kept = kept && v[i].id == i && v[i].name[0] == 'm';
  CHECK(kept);            /* every element survived each reallocation */
  free(v);
}

static void test_room_left(void) {
  size_t cap = 8;
  struct item *v = calloc(cap, sizeof *v);
  CHECK(edr_array_grow(v, 7, &cap, sizeof *v, 4) == v); /* room: the same array */
  CHECK(cap == 8);
  free(v);
}

static void test_overflow(void) {
  size_t cap = SIZE_MAX / 16 + 1;
  char one = 'x';
  /* doubling would pass SIZE_MAX bytes: refused, nothing changed */
  CHECK(edr_array_grow(&one, cap, &cap, 16, 4) == NULL);
  CHECK(cap == SIZE_MAX / 16 + 1);
  CHECK(one == 'x');
}

int main(void) {
  test_grow();
  test_room_left();
  test_overflow();
  return t_done("test_array");
}
