/*
 * fuzz_spec.c - libFuzzer target for the cluster spec: whatever the bytes,
 * edr_spec_from_json (as JSON or YAML text) and
 * edr_spec_from_initial_cluster (the same bytes as an --initial-cluster
 * string) end in 0 with a spec or EDR_EINVAL with a message, never a
 * crash, a sanitizer report or a leak.
 * The same bytes are JSON or YAML as edr_spec_is_yaml says (a YAML seed is
 * in seeds-spec/).  A spec that parses is walked, so ASan sees every string
 * it holds.
 */
#include "err.h"
#include "spec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t touch(const char *s) {
  return s ? strlen(s) : 0;
}

static size_t touch_strv(const struct edr_strv *sv) {
  size_t n = 0;
  for (size_t i = 0; i < sv->n; i++)
    n += touch(sv->v[i]);
  if (sv->n && sv->v[sv->n] != NULL)
    abort(); /* NULL-terminated, says spec.h */
  return n;
}

static void walk(const struct edr_spec *s) {
  size_t n = touch(s->source) + touch(s->token) + touch_strv(&s->warnings);
  if (s->n_members == 0)
    abort(); /* a valid spec has members */
  for (size_t i = 0; i < s->n_members; i++) {
    const struct edr_member *m = &s->members[i];
    if (!m->name || !edr_valid_name(m->name) || m->peer_urls.n == 0 || m->client_urls.n == 0 ||
        !m->data_dir || !edr_valid_remote_path(m->data_dir))
      abort(); /* fully resolved and validated, says spec.h */
    n += touch(m->name) + touch_strv(&m->peer_urls) + touch_strv(&m->client_urls) +
         touch(m->ssh_host) + touch(m->ssh_user) + touch(m->identity_file) +
         touch(m->known_hosts) + touch(m->data_dir) + touch(m->wal_dir) +
         touch(m->data_dir_owner) + touch_strv(&m->stop_command) +
         touch_strv(&m->start_command) + touch(m->restore_tool) +
         touch(m->restore_tool_push) + touch(m->env_file);
  }
  (void)n;
}

static void one(int rc, struct edr_spec *s, struct edr_error *err) {
  if (rc == 0) {
    if (!s)
      abort();
    walk(s);
  } else if (s != NULL || !*edr_error_text(err) || rc > 0) {
    abort(); /* a failure says why and returns nothing */
  }
  edr_error_release(err);
  edr_spec_free(s);
}

/* ~ expansion and the local user name: the same on every run */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  setenv("HOME", "/home/fuzz", 1);
  setenv("USER", "fuzz", 1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    abort();
  memcpy(text, data, size);
  text[size] = '\0';
  struct edr_error err = EDR_ERROR_INIT;
  struct edr_spec *s = NULL;
  one(edr_spec_from_json(NULL, text, NULL, &s, &err), s, &err);
  s = NULL;
  one(edr_spec_from_initial_cluster(text, NULL, &s, &err), s, &err);
  /* with every override set, as from the command line */
  static const struct edr_spec_overrides ov = {
      .ssh_user = "ops", .identity_file = "/k/id", .known_hosts = "/k/kh",
      .data_dir = "/data/etcd", .wal_dir = "/wal/etcd", .data_dir_owner = "etcd:etcd",
      .data_dir_mode = "0700", .restore_tool = "etcdutl", .token = "tok",
      .stop_command = "stop etcd", .start_command = "start etcd", .ssh_port = 2222,
      .sudo = 1};
  s = NULL;
  if (size && (data[0] & 1))
    one(edr_spec_from_json(NULL, text, &ov, &s, &err), s, &err);
  else
    one(edr_spec_from_initial_cluster(text, &ov, &s, &err), s, &err);
  free(text);
  return 0;
}
