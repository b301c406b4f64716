/*
 * main.c - the etcd-dr command: find the subcommand and run it.
 */
#include "commands.h"
#include "cli.h"
#include "jsonwipe.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
};

static const struct command commands[] = {
  {.name = "plan", .run = cmd_plan,
   .summary = "print the restore plan for a cluster; contacts no host"},
  {.name = "restore", .run = cmd_restore,
   .summary = "restore every member of a cluster from a snapshot, over SSH"},
  {.name = "rollback", .run = cmd_rollback,
   .summary = "put back the member dirs a restore run moved aside"},
  {.name = "prune", .run = cmd_prune,
   .summary = "remove the member dirs old runs moved aside (a dry run unless --remove)"},
  {.name = "run", .run = cmd_run,
   .summary = "run a playbook: rebuild from one member, replace a member, ..."},
  {.name = "status", .run = cmd_status,
   .summary = "one row per member and a verdict: healthy, degraded, quorum lost"},
  {.name = "discover", .run = cmd_discover,
   .summary = "read a cluster spec off one member's host: how etcd runs, its db's members"},
  {.name = "snapshot", .run = cmd_snapshot,
   .summary = "status | verify a snapshot file (no etcd needed) | save one"},
  {.name = "completion", .run = NULL,
   .summary = "print the bash or zsh completion script"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out) {
  fprintf(out, "usage: etcd-dr COMMAND [OPTIONS]\n\n"
               "Restores etcd clusters that lost quorum: one command instead of a\n"
               "runbook typed host by host.\n\nCommands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n'etcd-dr COMMAND --help' describes a command; docs/ has the rest.\n");
}

int main(int argc, char **argv) {
  edr_json_wipe_install(); /* no copy of a password outlives its object */
  if (argc < 2) {
    usage(stderr);
    return EDR_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    printf("etcd-dr %s\n", EDR_VERSION);
    return 0;
  }
  const char *names[N_COMMANDS];
  for (size_t i = 0; i < N_COMMANDS; i++)
    names[i] = commands[i].name;
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].run ? commands[i].run(argc - 1, argv + 1)
                             : edr_completion(argc - 1, argv + 1, names, N_COMMANDS);
  const char *hint = edr_did_you_mean(argv[1], names, N_COMMANDS);
  if (hint)
    fprintf(stderr, "etcd-dr: error: unknown command '%s' (did you mean '%s'?)\n", argv[1],
            hint);
  else
    fprintf(stderr, "etcd-dr: error: unknown command '%s'\n", argv[1]);
  fprintf(stderr, "usage: etcd-dr COMMAND [OPTIONS]; 'etcd-dr --help' lists the "
                  "commands.\n");
  return EDR_EXIT_USAGE;
}
