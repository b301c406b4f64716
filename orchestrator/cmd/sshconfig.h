/*
 * sshconfig.h - what the operator's ssh_config says about a host, read from
 * OpenSSH's own resolution of it: `ssh -G HOST` (Match, Include, wildcards
 * and all), compared with `ssh -G -F /dev/null HOST` so that OpenSSH's
 * built-in defaults (the local user, port 22, the default identity files)
 * are not taken for settings the file made.
 *
 * The spec (plan/spec.c) calls edr_sshcfg_lookup through
 * edr_spec_overrides.ssh_lookup and decides what to take and what to refuse;
 * this module only runs ssh and parses what it prints.  struct edr_sshcfg
 * (plan/spec.h) is fixed-size: nothing here allocates what a caller frees.
 */
#ifndef EDR_SSHCONFIG_H
#define EDR_SSHCONFIG_H

#include "spec.h"

#include <stddef.h>

/* Parse `ssh -G` output TEXT into OUT (OUT->set is left 0).  Returns 0, or
 * EDR_EINVAL when TEXT is not ssh -G output (no hostname line). */
int edr_sshcfg_parse(const char *text, struct edr_sshcfg *out);

/* Mark in GOT->set every value that differs from DEFAULTS (both parsed from
 * ssh -G of the same host, DEFAULTS with -F /dev/null). */
void edr_sshcfg_diff(struct edr_sshcfg *got, const struct edr_sshcfg *defaults);

/* edr_sshcfg_lookup_fn (spec.h): CONFIG is ssh -F's file, NULL for
 * OpenSSH's own (~/.ssh/config, then /etc/ssh/ssh_config).  OUT->file names
 * the file a refused setting came from.  OUT->identity_file is the first
 * IdentityFile that exists, as OpenSSH skips the others; with none, it is
 * not marked set. */
int edr_sshcfg_lookup(const char *config, const char *host, struct edr_sshcfg *out,
                      struct edr_error *err);

#endif
