/*
 * fuzz_etcdconf.c - libFuzzer target for the parsers `etcd-dr discover`
 * feeds what it reads on a host (common/etcdconf.c): the same bytes go to
 * the env-file, unit (then its ExecStart with the variables it set),
 * YAML config, manifest and docker-inspect parsers, and a container path
 * is mapped through whatever mounts were read.  A host's files are
 * untrusted: nothing may crash, leak or read out of bounds.
 */
#include "etcdconf.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *t = (const char *)data;
  struct edr_conf c;
  edr_conf_init(&c);
  edr_conf_env_text(&c, t, size, "env");
  edr_conf_unit(&c, t, size, size % 2 ? "etcd@a.service" : "etcd.service", "unit");
  edr_conf_exec(&c);
  edr_conf_yaml(&c, t, size, "yaml");
  edr_conf_manifest(&c, t, size, "manifest");
  edr_conf_inspect(&c, t, size, "inspect");
  edr_conf_apply_env(&c);
  const char *dd = edr_conf_get(&c, EDR_CONF_DATA_DIR);
  free(edr_conf_host_path(&c, dd ? dd : "/var/lib/etcd"));
  edr_conf_release(&c);
  return 0;
}
