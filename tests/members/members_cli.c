/*
 * members_cli.c - a command-line face on orchestrator/members.c, so that
 * tests/e2e/playbook_members.sh can drive list, add and remove against a
 * real cluster and compare with what etcdctl says.
 *
 *   members_cli list   URLS
 *   members_cli add    URLS PEER_URLS
 *   members_cli remove URLS NAME|- [PEER_URLS]
 *
 * URLS and PEER_URLS are comma-separated.  Prints one JSON object on
 * stdout: the list, or {"rc": N, "code": "EDR_E...", "err": "...",
 * "id": "...", "already": bool, "absent": bool}.  Exit status 0 when the
 * call returned 0, else 1.  EDR_MEMBERS_TIMEOUT_MS sets timeout_ms.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "members.h"

static size_t split(char *s, const char **out, size_t max) {
  size_t n = 0;
  for (char *t = strtok(s, ","); t && n < max; t = strtok(NULL, ","))
    out[n++] = t;
  return n;
}

static json_t *strv_json(const struct edr_strv *sv) {
  json_t *a = json_array();
  for (size_t i = 0; i < sv->n; i++)
    json_array_append_new(a, json_string(sv->v[i]));
  return a;
}

static int usage(void) {
  fprintf(stderr, "usage: members_cli list URLS | add URLS PEERS | "
                  "remove URLS NAME|- [PEERS]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 3)
    return usage();
  const char *urls[16], *peers[16];
  size_t nu = split(argv[2], urls, 16), np = 0;
  const char *t = getenv("EDR_MEMBERS_TIMEOUT_MS");
  uint64_t timeout = t ? strtoull(t, NULL, 10) : 0;
  struct edr_tls tls = {getenv("EDR_MEMBERS_CACERT"),
                        getenv("EDR_MEMBERS_CERT"), getenv("EDR_MEMBERS_KEY")};
  struct edr_error err = EDR_ERROR_INIT;
  int rc;
  json_t *o = json_object();

  if (strcmp(argv[1], "list") == 0 && argc == 3) {
    struct edr_member_list l;
    rc = edr_members_list(urls, nu, &tls, timeout, &l, &err);
    if (rc == 0) {
      json_t *ms = json_array();
      for (size_t i = 0; i < l.n; i++)
        json_array_append_new(ms, json_pack(
            "{s:s, s:s, s:o, s:o, s:b}", "id", l.v[i].id, "name",
            l.v[i].name, "peer_urls", strv_json(&l.v[i].peer_urls),
            "client_urls", strv_json(&l.v[i].client_urls), "is_learner",
            l.v[i].is_learner));
      json_object_set_new(o, "members", ms);
      json_object_set_new(o, "cluster_id", json_string(l.cluster_id));
      json_object_set_new(o, "asked", json_string(l.asked));
    }
    edr_member_list_release(&l);
  } else if (strcmp(argv[1], "add") == 0 && argc == 4) {
    np = split(argv[3], peers, 16);
    char id[17];
    bool already;
    rc = edr_members_add(urls, nu, &tls, timeout, peers, np, id, &already, &err);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "already", json_boolean(already));
  } else if (strcmp(argv[1], "remove") == 0 && (argc == 4 || argc == 5)) {
    if (argc == 5)
      np = split(argv[4], peers, 16);
    bool absent;
    const char *name = strcmp(argv[3], "-") == 0 ? NULL : argv[3];
    rc = edr_members_remove(urls, nu, &tls, timeout, name, peers, np, &absent, &err);
    json_object_set_new(o, "absent", json_boolean(absent));
  } else {
    json_decref(o);
    return usage();
  }
  json_object_set_new(o, "rc", json_integer(rc));
  json_object_set_new(o, "code", json_string(rc ? edr_err_name(rc) : "0"));
  json_object_set_new(o, "err", json_string(edr_error_text(&err)));
  edr_error_release(&err);
  char *s = json_dumps(o, JSON_COMPACT);
  puts(s);
  free(s);
  json_decref(o);
  return rc == 0 ? 0 : 1;
}
