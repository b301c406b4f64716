/*
 * completion.c - `etcd-dr completion bash|zsh`: the shell completion
 * scripts, written from the option table (options.c) and the command list
 * main.c lends, so a new option completes without touching a script.  The
 * build writes both into the build dir and `cmake --install` installs them
 * (bash-completion's and zsh's site dirs).  Playbook names come at
 * completion time from `etcd-dr run --list -w simple`.
 */
#include "options.h"

#include "commands.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* The words after each command for the scripts: "snapshot-save" for the
 * verb, whose options are the table's too. */
static const char *script_name(unsigned command) {
  return command == EDR_CMD_SAVE ? "snapshot-save" : edr_cmd_name(command);
}

static void options_of(FILE *out, unsigned command) {
  for (const struct edr_opt *o = edr_options; o->name; o++)
    if (o->commands & command) {
      if (o->short_name)
        fprintf(out, "-%c ", o->short_name);
      fprintf(out, "--%s ", o->name);
    }
}

/* The options taking KIND of argument, as a case pattern: "--a|--b|-o". */
static void pattern(FILE *out, enum edr_arg kind) {
  bool any = false;
  for (const struct edr_opt *o = edr_options; o->name; o++) {
    if (o->arg != kind)
      continue;
    /* a name two rows share is written once */
    bool seen = false;
    for (const struct edr_opt *p = edr_options; p < o; p++)
      seen |= !strcmp(p->name, o->name);
    if (seen)
      continue;
    fprintf(out, "%s--%s", any ? "|" : "", o->name);
    if (o->short_name)
      fprintf(out, "|-%c", o->short_name);
    any = true;
  }
  if (!any)
    fputs("--", out);
}

/* "plan:--write-out|plan:-w|...": row O's option after each command that
 * takes it, for a case on "$cmd:$prev" (a name two rows share offers each
 * command its own row's values). */
static void choice_pattern(FILE *out, const struct edr_opt *o) {
  bool any = false;
  for (unsigned bit = 1; bit & EDR_CMD_ALL; bit <<= 1) {
    if (!(o->commands & bit))
      continue;
    fprintf(out, "%s%s:--%s", any ? "|" : "", script_name(bit), o->name);
    if (o->short_name)
      fprintf(out, "|%s:-%c", script_name(bit), o->short_name);
    any = true;
  }
}

/* How each shell writes the parts both scripts share. */
struct dialect {
  const char *head;          /* the script up to the command names */
  const char *after_commands;  /* from them to the shared cases */
  const char *tail;          /* the rest: options, playbook names, files */
  const char *open;          /* before a case pattern */
  const char *prev_case;     /* "case on the previous word" */
  const char *cmd_prev_case; /* on "command:previous word" */
  const char *cmd_case;      /* on the command */
  const char *esac;
  const char *files, *dirs;  /* after an option taking a file, a dir */
  const char *choices_open, *choices_close;  /* around a CHOICE option's values */
  const char *no_value;      /* after an option whose value is free text */
  const char *opts_open, *opts_close;  /* a command's options: opts=... */
};

static const struct dialect bash_dialect = {
  .head = "# bash completion for etcd-dr, written by 'etcd-dr completion bash' from its\n"
      "# option table; install as bash-completion's completions/etcd-dr.\n"
      "_etcd_dr() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
      "  local cmd=${COMP_WORDS[1]} opts='' i\n"
      "  COMPREPLY=()\n"
      "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
      "    COMPREPLY=($(compgen -W '",
  .after_commands = "' -- \"$cur\"))\n"
      "    return 0\n"
      "  fi\n"
      "  if [ \"$cmd\" = snapshot ]; then\n"
      "    if [ \"$COMP_CWORD\" -eq 2 ]; then\n"
      "      COMPREPLY=($(compgen -W 'status verify save' -- \"$cur\"))\n"
      "      return 0\n"
      "    fi\n"
      "    cmd=snapshot-${COMP_WORDS[2]}\n"
      "  fi\n",
  .tail = "  case \"$cur\" in\n"
      "  -*) COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")); return 0 ;;\n"
      "  esac\n"
      "  if [ \"$cmd\" = run ]; then\n"
      "    COMPREPLY=($(compgen -W \"$(\"${COMP_WORDS[0]}\" run --list -w simple "
      "2>/dev/null | cut -d, -f1)\" -- \"$cur\"))\n"
      "  fi\n"
      "  COMPREPLY+=($(compgen -f -- \"$cur\"))\n"
      "}\n"
      "complete -F _etcd_dr etcd-dr\n",
  .open = "  ",
  .prev_case = "  case \"$prev\" in\n",
  .cmd_prev_case = "  case \"$cmd:$prev\" in\n",
  .cmd_case = "  case \"$cmd\" in\n",
  .esac = "  esac\n",
  .files = ")\n    COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n",
  .dirs = ")\n    COMPREPLY=($(compgen -d -- \"$cur\")); return 0 ;;\n",
  .choices_open = ")\n    COMPREPLY=($(compgen -W '",
  .choices_close = "' -- \"$cur\")); return 0 ;;\n",
  .no_value = ")\n    return 0 ;;\n",
  .opts_open = ") opts='",
  .opts_close = "' ;;\n",
};

static const struct dialect zsh_dialect = {
  .head = "#compdef etcd-dr\n"
      "# zsh completion for etcd-dr, written by 'etcd-dr completion zsh' from its\n"
      "# option table; install as _etcd-dr in a directory of $fpath.\n"
      "_etcd-dr() {\n"
      "  local cmd=${words[2]} prev=${words[CURRENT-1]} cur=${words[CURRENT]}\n"
      "  local -a opts\n"
      "  if (( CURRENT == 2 )); then\n"
      "    compadd -- ",
  .after_commands = "\n    return\n"
      "  fi\n"
      "  if [[ $cmd == snapshot ]]; then\n"
      "    if (( CURRENT == 3 )); then\n"
      "      compadd -- status verify save\n"
      "      return\n"
      "    fi\n"
      "    cmd=snapshot-${words[3]}\n"
      "  fi\n",
  .tail = "  if [[ $cur == -* ]]; then\n"
      "    compadd -- $opts\n"
      "    return\n"
      "  fi\n"
      "  if [[ $cmd == run ]]; then\n"
      "    local -a books\n"
      "    books=(${(f)\"$(${words[1]} run --list -w simple 2>/dev/null | cut -d, -f1)\"})\n"
      "    compadd -- $books\n"
      "  fi\n"
      "  _files\n"
      "}\n"
      "_etcd-dr \"$@\"\n",
  .open = "  (",
  .prev_case = "  case $prev in\n",
  .cmd_prev_case = "  case $cmd:$prev in\n",
  .cmd_case = "  case $cmd in\n",
  .esac = "  esac\n",
  .files = ") _files; return ;;\n",
  .dirs = ") _files -/; return ;;\n",
  .choices_open = ") compadd -- ",
  .choices_close = "; return ;;\n",
  .no_value = ") return ;;\n",
  .opts_open = ") opts=(",
  .opts_close = ") ;;\n",
};

/* What both scripts do once they know the command ($cmd) and the word
 * before the cursor ($prev): complete an option's value, or set $opts to
 * the command's options. */
static void shared_cases(FILE *out, const struct dialect *d) {
  fprintf(out, "%s%s", d->prev_case, d->open);
  pattern(out, EDR_ARG_FILE);
  fprintf(out, "%s%s", d->files, d->open);
  pattern(out, EDR_ARG_DIR);
  fprintf(out, "%s%s%s", d->dirs, d->esac, d->cmd_prev_case);
  for (const struct edr_opt *o = edr_options; o->name; o++)
    if (o->arg == EDR_ARG_CHOICE) {
      fputs(d->open, out);
      choice_pattern(out, o);
      fprintf(out, "%s%s%s", d->choices_open, o->choices, d->choices_close);
    }
  fprintf(out, "%s%s%s", d->esac, d->prev_case, d->open);
  pattern(out, EDR_ARG_TEXT);
  fputs("|", out);
  pattern(out, EDR_ARG_DURATION);
  fprintf(out, "%s%s%s", d->no_value, d->esac, d->cmd_case);
  for (unsigned bit = 1; bit & EDR_CMD_ALL; bit <<= 1) {
    fprintf(out, "%s%s%s", d->open, script_name(bit), d->opts_open);
    options_of(out, bit);
    fputs(d->opts_close, out);
  }
  /* the snapshot verbs that parse their own few options (cmd_snapshot.c) */
  fprintf(out, "%ssnapshot-status%s-w --write-out%s", d->open, d->opts_open, d->opts_close);
  fprintf(out, "%ssnapshot-verify%s--skip-hash-check%s", d->open, d->opts_open,
          d->opts_close);
  fputs(d->esac, out);
}

/* The script in dialect D, for the N top-level COMMANDS. */
static void script(FILE *out, const struct dialect *d, const char *const *commands, size_t n) {
  fputs(d->head, out);
  for (size_t i = 0; i < n; i++)
    fprintf(out, "%s%s", i ? " " : "", commands[i]);
  fputs(d->after_commands, out);
  shared_cases(out, d);
  fputs(d->tail, out);
}

int edr_completion(int argc, char **argv, const char *const *commands, size_t n) {
  if (argc == 2 && !strcmp(argv[1], "bash"))
    script(stdout, &bash_dialect, commands, n);
  else if (argc == 2 && !strcmp(argv[1], "zsh"))
    script(stdout, &zsh_dialect, commands, n);
  else if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    fputs("usage: etcd-dr completion bash|zsh\n\n"
          "Print the shell completion script for bash or zsh (installed by 'cmake\n"
          "--install' already): commands, options, their values and playbook names.\n"
          "  source <(etcd-dr completion bash)\n"
          "\n"
          "Exit status: 0 printed; 2 bad arguments.\n", stdout);
  } else if (argc >= 2 && argv[1][0] == '-') {
    edr_err("unknown option '%s'", argv[1]);
    fputs("usage: etcd-dr completion bash|zsh\n", stderr);
    return EDR_EXIT_USAGE;
  } else {
    edr_err("completion: say which shell: bash or zsh");
    fputs("usage: etcd-dr completion bash|zsh\n", stderr);
    return EDR_EXIT_USAGE;
  }
  return fflush(stdout) ? EDR_EXIT_INTERNAL : EDR_EXIT_OK;
}
