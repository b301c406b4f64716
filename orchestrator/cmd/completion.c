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
  for (unsigned bit = 1; bit & EDR_CMD_CLUSTER; bit <<= 1) {
    if (!(o->commands & bit))
      continue;
    fprintf(out, "%s%s:--%s", any ? "|" : "", script_name(bit), o->name);
    if (o->short_name)
      fprintf(out, "|%s:-%c", script_name(bit), o->short_name);
    any = true;
  }
}

static void bash(FILE *out, const char *const *commands, size_t n) {
  fputs("# bash completion for etcd-dr, written by 'etcd-dr completion bash' from its\n"
        "# option table; install as bash-completion's completions/etcd-dr.\n"
        "_etcd_dr() {\n"
        "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
        "  local cmd=${COMP_WORDS[1]} opts='' i\n"
        "  COMPREPLY=()\n"
        "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
        "    COMPREPLY=($(compgen -W '", out);
  for (size_t i = 0; i < n; i++)
    fprintf(out, "%s%s", i ? " " : "", commands[i]);
  fputs("' -- \"$cur\"))\n"
        "    return 0\n"
        "  fi\n"
        "  if [ \"$cmd\" = snapshot ]; then\n"
        "    if [ \"$COMP_CWORD\" -eq 2 ]; then\n"
        "      COMPREPLY=($(compgen -W 'status verify save' -- \"$cur\"))\n"
        "      return 0\n"
        "    fi\n"
        "    cmd=snapshot-${COMP_WORDS[2]}\n"
        "  fi\n"
        "  case \"$prev\" in\n  ", out);
  pattern(out, EDR_ARG_FILE);
  fputs(")\n    COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n  ", out);
  pattern(out, EDR_ARG_DIR);
  fputs(")\n    COMPREPLY=($(compgen -d -- \"$cur\")); return 0 ;;\n  esac\n"
        "  case \"$cmd:$prev\" in\n", out);
  for (const struct edr_opt *o = edr_options; o->name; o++)
    if (o->arg == EDR_ARG_CHOICE) {
      fputs("  ", out);
      choice_pattern(out, o);
      fprintf(out, ")\n    COMPREPLY=($(compgen -W '%s' -- \"$cur\")); return 0 ;;\n",
              o->choices);
    }
  fputs("  esac\n  case \"$prev\" in\n  ", out);
  pattern(out, EDR_ARG_TEXT);
  fputs("|", out);
  pattern(out, EDR_ARG_DURATION);
  fputs(")\n    return 0 ;;\n  esac\n  case \"$cmd\" in\n", out);
  for (unsigned bit = 1; bit & EDR_CMD_CLUSTER; bit <<= 1) {
    fprintf(out, "  %s) opts='", script_name(bit));
    options_of(out, bit);
    fputs("' ;;\n", out);
  }
  fputs("  snapshot-status) opts='-w --write-out' ;;\n"
        "  snapshot-verify) opts='--skip-hash-check' ;;\n"
        "  esac\n"
        "  case \"$cur\" in\n"
        "  -*) COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")); return 0 ;;\n"
        "  esac\n"
        "  if [ \"$cmd\" = run ]; then\n"
        "    COMPREPLY=($(compgen -W \"$(\"${COMP_WORDS[0]}\" run --list -w simple "
        "2>/dev/null | cut -d, -f1)\" -- \"$cur\"))\n"
        "  fi\n"
        "  COMPREPLY+=($(compgen -f -- \"$cur\"))\n"
        "}\n"
        "complete -F _etcd_dr etcd-dr\n", out);
}

static void zsh(FILE *out, const char *const *commands, size_t n) {
  fputs("#compdef etcd-dr\n"
        "# zsh completion for etcd-dr, written by 'etcd-dr completion zsh' from its\n"
        "# option table; install as _etcd-dr in a directory of $fpath.\n"
        "_etcd-dr() {\n"
        "  local cmd=${words[2]} prev=${words[CURRENT-1]} cur=${words[CURRENT]}\n"
        "  local -a opts\n"
        "  if (( CURRENT == 2 )); then\n"
        "    compadd -- ", out);
  for (size_t i = 0; i < n; i++)
    fprintf(out, "%s%s", i ? " " : "", commands[i]);
  fputs("\n    return\n"
        "  fi\n"
        "  if [[ $cmd == snapshot ]]; then\n"
        "    if (( CURRENT == 3 )); then\n"
        "      compadd -- status verify save\n"
        "      return\n"
        "    fi\n"
        "    cmd=snapshot-${words[3]}\n"
        "  fi\n"
        "  case $prev in\n  (", out);
  pattern(out, EDR_ARG_FILE);
  fputs(") _files; return ;;\n  (", out);
  pattern(out, EDR_ARG_DIR);
  fputs(") _files -/; return ;;\n  esac\n  case $cmd:$prev in\n", out);
  for (const struct edr_opt *o = edr_options; o->name; o++)
    if (o->arg == EDR_ARG_CHOICE) {
      fputs("  (", out);
      choice_pattern(out, o);
      fprintf(out, ") compadd -- %s; return ;;\n", o->choices);
    }
  fputs("  esac\n  case $prev in\n  (", out);
  pattern(out, EDR_ARG_TEXT);
  fputs("|", out);
  pattern(out, EDR_ARG_DURATION);
  fputs(") return ;;\n  esac\n  case $cmd in\n", out);
  for (unsigned bit = 1; bit & EDR_CMD_CLUSTER; bit <<= 1) {
    fprintf(out, "  (%s) opts=(", script_name(bit));
    options_of(out, bit);
    fputs(") ;;\n", out);
  }
  fputs("  (snapshot-status) opts=(-w --write-out) ;;\n"
        "  (snapshot-verify) opts=(--skip-hash-check) ;;\n"
        "  esac\n"
        "  if [[ $cur == -* ]]; then\n"
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
        "_etcd-dr \"$@\"\n", out);
}

int edr_completion(int argc, char **argv, const char *const *commands, size_t n) {
  if (argc == 2 && !strcmp(argv[1], "bash"))
    bash(stdout, commands, n);
  else if (argc == 2 && !strcmp(argv[1], "zsh"))
    zsh(stdout, commands, n);
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
