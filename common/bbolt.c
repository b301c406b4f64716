/* bbolt.c - STUB, replaced by the full reader. */
#include "bbolt.h"
#include "err.h"

int edr_bolt_revision(const char *path, int64_t *rev) {
  (void)path;
  *rev = 0;
  return EDR_EINVAL;
}
