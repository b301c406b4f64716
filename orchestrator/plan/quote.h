/*
 * quote.h - POSIX shell quoting, for showing an argv to a person.
 *
 * etcd-dr never runs a command built from these strings (the agent execs
 * argv arrays); quoting exists so that what `plan` prints can be pasted into
 * a shell and means exactly what the agent will run.
 */
#ifndef EDR_QUOTE_H
#define EDR_QUOTE_H

/* S quoted for a POSIX shell: unchanged when it has only safe characters,
 * else in single quotes with ' written '\''.  Caller frees; NULL on ENOMEM. */
char *edr_shell_quote(const char *s);

/* The argv (NULL-terminated) quoted and joined with spaces.  Caller frees. */
char *edr_quote_argv(char *const *argv);

#endif
