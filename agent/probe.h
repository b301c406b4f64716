/*
 * probe.h - the pure parts of the host probe (probe.c), exposed for the
 * unit tests.
 */
#ifndef EDR_AGENT_PROBE_H
#define EDR_AGENT_PROBE_H

#include "agent.h"

/* FLAG appears in TEXT (a tool's --help) as a whole option name. */
bool probe_has_flag(const char *text, const char *flag);

/* "3.5.16" out of `etcdutl version` ("etcdutl version: 3.5.16\nAPI ..."),
 * as a new string reference, or JSON null. */
json_t *probe_parse_version(const char *text);

#endif
