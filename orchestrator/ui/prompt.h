/*
 * prompt.h - asking the person at the terminal.  The question goes to
 * stderr; the answer is read from /dev/tty (never stdin, which a script
 * may have redirected), so only a person at this terminal can say yes.
 */
#ifndef EDR_PROMPT_H
#define EDR_PROMPT_H

#include <stdbool.h>

/* Whether a person can be asked: standard input and error are terminals. */
bool edr_prompt_interactive(void);

/* Print "Type "yes" to go on, anything else to stop: " and read one line
 * from /dev/tty.  True only for exactly "yes"; false also when there is
 * no terminal to read. */
bool edr_prompt_yes(void);

#endif
