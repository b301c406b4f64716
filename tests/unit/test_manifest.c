/*
 * test_manifest.c - kubeadm's etcd manifest (common/manifest.h): the flags
 * read from the command list as kubeadm writes it, the image's version,
 * edits that change only the lines they mean to, and the shapes refused.
 */
#include "t.h"

#include "err.h"
#include "manifest.h"

#include <stdlib.h>
#include <string.h>

static const char kubeadm[] =
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  name: etcd\n"
    "  namespace: kube-system\n"
    "spec:\n"
    "  containers:\n"
    "  - command:\n"
    "    - etcd\n"
    "    - --advertise-client-urls=https://10.0.0.1:2379\n"
    "    - --data-dir=/var/lib/etcd\n"
    "    - --initial-advertise-peer-urls=https://10.0.0.1:2380\n"
    "    - --initial-cluster=cp1=https://10.0.0.1:2380\n"
    "    - --name=cp1\n"
    "    - --client-cert-auth=true\n"
    "    image: registry.k8s.io/etcd:3.5.16-0\n"
    "    imagePullPolicy: IfNotPresent\n"
    "    name: etcd\n"
    "  hostNetwork: true\n";

static void test_read(void) {
  struct edr_manifest m;
  struct edr_error err = EDR_ERROR_INIT;
  CHECK(edr_manifest_parse(kubeadm, strlen(kubeadm), &m, &err) == 0);
  CHECK(m.argc == 7);
  CHECK_STR(m.argv[0], "etcd");
  CHECK_STR(edr_manifest_flag(&m, "data-dir"), "/var/lib/etcd");
  CHECK_STR(edr_manifest_flag(&m, "name"), "cp1");
  CHECK_STR(edr_manifest_flag(&m, "initial-advertise-peer-urls"), "https://10.0.0.1:2380");
  CHECK(edr_manifest_flag(&m, "initial-cluster-state") == NULL);
  CHECK(edr_manifest_flag(&m, "initial") == NULL); /* a prefix is not a flag */
  char v[32];
  CHECK(edr_manifest_image_version(&m, v, sizeof v));
  CHECK_STR(v, "3.5.16");
  edr_manifest_release(&m);

  /* `command:` as a key of its own, quoted items, a flag and its value as two items */
  static const char other[] = "spec:\n  containers:\n  - name: etcd\n    command:\n"
                              "    - \"etcd\"\n    - '--name=a'\n    - --data-dir\n"
                              "    - /data\n    image: \"quay.io/coreos/etcd:v3.4.27\"\n";
  CHECK(edr_manifest_parse(other, strlen(other), &m, &err) == 0);
  CHECK_STR(edr_manifest_flag(&m, "name"), "a");
  CHECK_STR(edr_manifest_flag(&m, "data-dir"), "/data");
  CHECK(!edr_manifest_image_version(&m, v, sizeof v)); /* "v3.4.27": no digit first */
  edr_manifest_release(&m);
  edr_error_release(&err);
}

static void test_refused(void) {
  struct edr_manifest m;
  struct edr_error err = EDR_ERROR_INIT;
  static const char flow[] = "spec:\n  containers:\n  - command: [etcd, --name=a]\n";
  CHECK(edr_manifest_parse(flow, strlen(flow), &m, &err) == EDR_EINVAL);
  CHECK_CONTAINS(edr_error_text(&err), "line 3: 'command:' in flow style");
  static const char none[] = "apiVersion: v1\nkind: Pod\n";
  CHECK(edr_manifest_parse(none, strlen(none), &m, &err) == EDR_EINVAL);
  CHECK_CONTAINS(edr_error_text(&err), "no 'command:' list");
  static const char anchor[] = "  - command:\n    - etcd\n    - *flags\n";
  CHECK(edr_manifest_parse(anchor, strlen(anchor), &m, &err) == EDR_EINVAL);
  CHECK_CONTAINS(edr_error_text(&err), "line 3:");
  edr_error_release(&err);
}

static void test_edit(void) {
  const char *names[] = {"initial-cluster-state", "name", "force-new-cluster"};
  const char *values[] = {"existing", "cp9", NULL};
  char *out = NULL;
  struct edr_error err = EDR_ERROR_INIT;
  size_t n = 0;
  CHECK(edr_manifest_set_flags(kubeadm, strlen(kubeadm), names, values, 3, &out, &n, &err) == 0);
  CHECK(out && strlen(out) == n);
  /* the rewritten flag in place, the new one after the last item, the rest as it was */
  CHECK_CONTAINS(out, "    - --initial-cluster=cp1=https://10.0.0.1:2380\n"
                      "    - --name=cp9\n"
                      "    - --client-cert-auth=true\n"
                      "    - --initial-cluster-state=existing\n"
                      "    image: registry.k8s.io/etcd:3.5.16-0\n");
  CHECK(!strncmp(out, kubeadm, strlen("apiVersion: v1\nkind: Pod\nmetadata:\n")));
  CHECK(out && strstr(out, "  hostNetwork: true\n"));
  /* and removed again */
  const char *rm[] = {"initial-cluster-state"};
  const char *none[] = {NULL};
  char *back = NULL;
  const char *nm[] = {"name"};
  const char *cp1[] = {"cp1"};
  char *back2 = NULL;
  size_t bn = 0, bn2 = 0;
  CHECK(out && edr_manifest_set_flags(out, n, rm, none, 1, &back, &bn, &err) == 0);
  CHECK(back && edr_manifest_set_flags(back, bn, nm, cp1, 1, &back2, &bn2, &err) == 0);
  CHECK_STR(back2, kubeadm);
  free(out);
  free(back);
  free(back2);

  /* values that would change the YAML's meaning are refused */
  const char *bad[] = {"a: b"};
  CHECK(edr_manifest_set_flags(kubeadm, strlen(kubeadm), names, bad, 1, &out, &n, &err) ==
        EDR_EINVAL);
  CHECK_CONTAINS(edr_error_text(&err), "--initial-cluster-state");
  char f[64];
  CHECK(edr_manifest_env_flag("ETCD_INITIAL_CLUSTER_STATE", f, sizeof f));
  CHECK_STR(f, "initial-cluster-state");
  CHECK(!edr_manifest_env_flag("PATH", f, sizeof f));
  edr_error_release(&err);
}

int main(void) {
  test_read();
  test_refused();
  test_edit();
  return t_done("test_manifest");
}
