/*
 * prompt.c - asking the person at the terminal (prompt.h).
 */
#include "prompt.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool edr_prompt_interactive(void) { return isatty(STDIN_FILENO) && isatty(STDERR_FILENO); }

bool edr_prompt_yes(void) {
  fprintf(stderr, "Type \"yes\" to go on, anything else to stop: ");
  fflush(stderr);
  char line[64] = "";
  FILE *tty = fopen("/dev/tty", "r");
  bool yes = tty && fgets(line, sizeof line, tty) && !strcmp(line, "yes\n");
  if (tty)
    fclose(tty);
  return yes;
}
