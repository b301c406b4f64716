/*
 * manifest.h - kubeadm's static pod manifest for etcd
 * (/etc/kubernetes/manifests/etcd.yaml): the container's `command:` list,
 * which carries every setting of the member as `--flag=value` items, and its
 * image (whose tag is etcd's version).
 *
 * Read as kubeadm writes it (block style: `- command:` or `command:`, then
 * one `- item` per line, plain or quoted scalars), not as YAML in general: a
 * manifest in another shape is refused with the line that could not be read,
 * never guessed at.  The agent edits flags with it (the kubeadm preset's
 * set-env, docs/kubeadm.md); `discover` and the probe read flags with it.
 * Nothing here touches a file.
 *
 * Ownership: an edr_manifest owns its strings; edr_manifest_release() frees
 * them.  Lookups return borrowed pointers into it.
 */
#ifndef EDR_MANIFEST_H
#define EDR_MANIFEST_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>

struct edr_manifest {
  char **argv;              /* the command list, argv[0] normally "etcd" */
  size_t argc;
  char *image;              /* the container's image, or NULL */
  /* where the list is in the text, for edits: the byte offset of the first
   * item's line, of the end of the last item's line, and the column of the
   * items' '-' */
  size_t items_begin, items_end;
  int indent;
};

/* Parse TEXT (LEN bytes).  0 and *OUT filled, or EDR_EINVAL with a message
 * naming the line in ERR (the caller's, err.h; NULL: no message). */
int edr_manifest_parse(const char *text, size_t len, struct edr_manifest *out,
                       struct edr_error *err);
void edr_manifest_release(struct edr_manifest *m);

/* The value of `--NAME=value` (or `--NAME value`) in the command, NULL when
 * the flag is absent; "" for a bare `--NAME`.  Borrowed. */
const char *edr_manifest_flag(const struct edr_manifest *m, const char *name);

/* The etcd version in the image's tag ("registry.k8s.io/etcd:3.5.16-0" ->
 * "3.5.16") into buf[len]; false when there is no tag of that form. */
bool edr_manifest_image_version(const struct edr_manifest *m, char *buf, size_t len);

/* The flag an ETCD_* variable stands for: ETCD_INITIAL_CLUSTER_STATE ->
 * "initial-cluster-state", into buf[len]; false for other names. */
bool edr_manifest_env_flag(const char *env, char *buf, size_t len);

/* Whether VALUE can be written as a plain scalar item `- --flag=VALUE`
 * without changing how YAML reads it. */
bool edr_manifest_value_ok(const char *value);

/* TEXT with flags NAMES[i] set to VALUES[i] (NULL: the flag removed): an
 * existing item is rewritten in place, a new one goes after the last item.
 * Returns 0 and a new malloc'd text in *OUT (*OUTLEN bytes), or a negative
 * EDR_E* code with a message in ERR. */
int edr_manifest_set_flags(const char *text, size_t len, const char *const *names,
                           const char *const *values, size_t n, char **out, size_t *outlen,
                           struct edr_error *err);

#endif
