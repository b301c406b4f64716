/*
 * discover_spec.c - a cluster spec made from one host's `discover` reply
 * (discover_spec.h): the members from the member's own db (else its
 * --initial-cluster), each one's SSH host from its peer URL, and the
 * cluster-wide settings (data and WAL dirs, stop and start commands, env
 * file, TLS paths) from how etcd is started on that host.  Every value is
 * noted with where it came from.
 */
#include "discover_spec.h"

#include "err.h"
#include "spec.h"
#include "util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_MEMBERS = 256, URL_MAX = 512 };

static const char *setting(json_t *facts, const char *key) {
  return json_string_value(
      json_object_get(json_object_get(json_object_get(facts, "settings"), key), "value"));
}

static const char *setting_from(json_t *facts, const char *key) {
  const char *f = json_string_value(
      json_object_get(json_object_get(json_object_get(facts, "settings"), key), "from"));
  return f ? f : "?";
}

/* A value as one line for the side table: strings as they are, arrays
 * joined with ",", argv arrays with spaces. */
static char *flat(json_t *v, const char *sep) {
  if (json_is_string(v))
    return strdup(json_string_value(v));
  if (json_is_integer(v)) {
    char b[32];
    snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return strdup(b);
  }
  if (json_is_boolean(v))
    return strdup(json_is_true(v) ? "true" : "false");
  size_t len = 1, i;
  json_t *e;
  json_array_foreach(v, i, e) len += strlen(json_string_value(e) ? json_string_value(e) : "") +
                                     strlen(sep);
  char *out = calloc(1, len);
  json_array_foreach(v, i, e) if (out) {
    if (i)
      strcat(out, sep);
    strcat(out, json_string_value(e) ? json_string_value(e) : "");
  }
  return out;
}

static void note(json_t *from, const char *field, json_t *value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(json_t *from, const char *field, json_t *value, const char *fmt, ...) {
  char where[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(where, sizeof where, fmt, ap);
  va_end(ap);
  char *v = value ? flat(value, strstr(field, "_command") ? " " : ",") : strdup("");
  /* a host's files and db name these: printed, a terminal obeys none of it */
  char safe_where[4 * sizeof where], safe_v[2048];
  edr_escape(safe_where, sizeof safe_where, where, 0);
  edr_escape(safe_v, sizeof safe_v, v ? v : "", 0);
  json_array_append_new(from, json_pack("{s:s, s:s, s:s}", "field", field, "value", safe_v,
                                        "from", safe_where));
  free(v);
}

/* Set KEY of OBJ (stolen VALUE) and note it under FIELD. */
static void put(json_t *obj, json_t *from, const char *field, const char *key, json_t *value,
                const char *where) {
  json_object_set_new(obj, key, value);
  note(from, field, value, "%s", where);
}

/* "a,b,c" into an array of strings. */
static json_t *split_list(const char *s) {
  json_t *a = json_array();
  while (s && *s) {
    size_t n = strcspn(s, ",");
    if (n)
      json_array_append_new(a, json_stringn(s, n));
    s += n + (s[n] == ',');
  }
  return a;
}

static bool in_list(const char *list, const char *item) {
  size_t il = strlen(item);
  while (list && *list) {
    size_t n = strcspn(list, ",");
    if (n == il && !strncmp(list, item, n))
      return true;
    list += n + (list[n] == ',');
  }
  return false;
}

/* Why the host of URL cannot be an SSH host, or NULL when it can. */
static const char *unreachable_host(const char *url, char *host, size_t hlen) {
  char scheme[8];
  int port;
  if (!edr_parse_url(url, scheme, sizeof scheme, host, hlen, &port))
    return "it is not an http(s)://host:port URL";
  if (!strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "[::1]"))
    return "it is a loopback address, the member's own host only";
  if (!strcmp(host, "0.0.0.0") || !strcmp(host, "[::]"))
    return "it is a wildcard address, not a host";
  return NULL;
}

struct cand {
  char name[64];              /* a valid name is at most 63 bytes */
  const char *id;
  json_t *peer, *client;      /* borrowed or owned (own_*) */
  bool own_peer;
  bool learner;
  char from[600];
};

static int by_name(const void *a, const void *b) {
  return strcmp(((const struct cand *)a)->name, ((const struct cand *)b)->name);
}

/* The members of --initial-cluster IC with their URLs, as candidates in
 * C[0..MAX) (peer arrays owned).  Returns the count. */
static size_t from_initial_cluster(const char *ic, struct cand *c, size_t max) {
  size_t n = 0;
  while (ic && *ic && n < max) {
    size_t len = strcspn(ic, ",");
    const char *eq = memchr(ic, '=', len);
    if (eq && eq > ic && (size_t)(eq - ic) < sizeof c->name) {
      char name[sizeof c->name];
      snprintf(name, sizeof name, "%.*s", (int)(eq - ic), ic);
      size_t k = 0;
      while (k < n && strcmp(c[k].name, name))
        k++;
      if (k == n) {
        c[n] = (struct cand){.peer = json_array(), .own_peer = true};
        snprintf(c[n].name, sizeof c[n].name, "%s", name);
        n++;
      }
      json_array_append_new(c[k].peer, json_stringn(eq + 1, len - (size_t)(eq - ic) - 1));
    }
    ic += len + (ic[len] == ',');
  }
  return n;
}

/* The name --initial-cluster IC gives peer URL URL, into NAME; false if none. */
static bool ic_name_of(const char *ic, const char *url, char *name, size_t len) {
  struct cand *ics = calloc(MAX_MEMBERS, sizeof(*ics));
  size_t nic = ics ? from_initial_cluster(ic, ics, MAX_MEMBERS) : 0;
  bool found = false;
  for (size_t q = 0; q < nic; q++) {
    for (size_t u = 0; !found && u < json_array_size(ics[q].peer); u++)
      if (!strcmp(json_string_value(json_array_get(ics[q].peer, u)), url)) {
        snprintf(name, len, "%s", ics[q].name);
        found = true;
      }
    json_decref(ics[q].peer);
  }
  free(ics);
  return found;
}

static void fail(struct edr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Entries of the db with the same first peer URL are one member: etcd 3.4
 * keeps the snapshot's members in its db after a restore (its membership is
 * read from elsewhere), so a restored member's URL appears under its old id,
 * named, and its new one, unnamed until it publishes.  The spec needs the
 * name and the URLs only.  Two names for one URL are refused.  Returns the
 * count left. */
static size_t merge_same_url(struct cand *c, size_t n, json_t *from, struct edr_error *err) {
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    const char *url = json_string_value(json_array_get(c[i].peer, 0));
    size_t k = 0;
    while (k < out && strcmp(json_string_value(json_array_get(c[k].peer, 0)), url))
      k++;
    if (k == out) {
      if (k != i)
        c[out] = c[i];
      out++;
      continue;
    }
    if (c[k].name[0] && c[i].name[0] && strcmp(c[k].name, c[i].name)) {
      fail(err, "the db names peer URL %s twice, %s and %s", url, c[k].name,
           c[i].name);
      continue;
    }
    note(from, "warning", NULL, "the db lists peer URL %s under ids %s and %s (etcd 3.4 "
         "keeps a snapshot's members in its db after a restore): taken as one member, %s",
         url, c[k].id ? c[k].id : "?", c[i].id ? c[i].id : "?",
         c[k].name[0] ? c[k].name : c[i].name);
    if (!c[k].name[0]) {
      memcpy(c[k].name, c[i].name, sizeof c[k].name);
      memcpy(c[k].from, c[i].from, sizeof c[k].from);
    }
    if (!json_array_size(c[k].client) && json_array_size(c[i].client))
      c[k].client = c[i].client;
    if (c[i].own_peer)
      json_decref(c[i].peer);
  }
  return out;
}
/* Add one reason to ERR's message ("; " between them): every reason the
 * spec cannot be made is said at once. */
static void fail(struct edr_error *err, const char *fmt, ...) {
  if (err->msg.len)
    edr_str_append(&err->msg, "; ");
  va_list ap;
  va_start(ap, fmt);
  edr_str_vappendf(&err->msg, fmt, ap);
  va_end(ap);
  err->code = EDR_EINVAL;
}

static void ssh_settings(const struct edr_discover_in *in, json_t *spec, json_t *from) {
  const char *cl = "the command line";
  if (in->ssh_user)
    put(spec, from, "ssh_user", "ssh_user", json_string(in->ssh_user), cl);
  if (in->ssh_port > 0)
    put(spec, from, "ssh_port", "ssh_port", json_integer(in->ssh_port), cl);
  if (in->identity_file)
    put(spec, from, "identity_file", "identity_file", json_string(in->identity_file), cl);
  if (in->known_hosts)
    put(spec, from, "known_hosts", "known_hosts", json_string(in->known_hosts), cl);
  if (in->proxy_jump)
    put(spec, from, "proxy_jump", "proxy_jump", json_string(in->proxy_jump), cl);
  if (in->sudo >= 0)
    put(spec, from, "sudo", "sudo", json_boolean(in->sudo), cl);
}

/* The path of the first source of kind WHAT the agent found, or NULL. */
static const char *found_path(json_t *facts, const char *what) {
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(facts, "sources"), i, s) {
    const char *w = json_string_value(json_object_get(s, "what"));
    if (w && !strcmp(w, what) && json_is_true(json_object_get(s, "found")))
      return json_string_value(json_object_get(s, "path"));
  }
  return NULL;
}

/* Cluster-wide settings from how etcd is started on the host: a kubeadm
 * static pod gets the kubeadm preset (its manifest moved to stop and start
 * etcd), unless the command line gives the stop and start commands. */
static void host_settings(json_t *facts, const struct edr_discover_in *in, json_t *spec,
                          json_t *from) {
  const char *kind = json_string_value(json_object_get(facts, "kind"));
  const char *dd = setting(facts, "data-dir");
  if (dd && dd[0] == '/')
    put(spec, from, "data_dir", "data_dir", json_string(dd), setting_from(facts, "data-dir"));
  else
    put(spec, from, "data_dir", "data_dir", json_string("/var/lib/etcd"),
        dd ? "default: the data dir set on the host is relative (etcd's working directory)"
           : "default: no --data-dir in how etcd is started on the host");
  const char *wd = setting(facts, "wal-dir");
  if (wd && wd[0] == '/')
    put(spec, from, "wal_dir", "wal_dir", json_string(wd), setting_from(facts, "wal-dir"));

  const char *unit = json_string_value(json_object_get(facts, "unit"));
  const char *ct = json_string_value(json_object_get(facts, "container"));
  char where[600];
  if (kind && !strcmp(kind, "systemd") && unit) {
    snprintf(where, sizeof where, "etcd runs as systemd unit %s (systemctl cat %s)", unit, unit);
    put(spec, from, "stop_command", "stop_command", json_pack("[s,s,s]", "systemctl", "stop", unit),
        where);
    put(spec, from, "start_command", "start_command",
        json_pack("[s,s,s]", "systemctl", "start", unit), where);
  } else if (kind && (!strcmp(kind, "docker") || !strcmp(kind, "podman")) && ct) {
    snprintf(where, sizeof where, "etcd runs in %s container %s (%s inspect)", kind, ct, kind);
    put(spec, from, "stop_command", "stop_command", json_pack("[s,s,s]", kind, "stop", ct), where);
    put(spec, from, "start_command", "start_command", json_pack("[s,s,s]", kind, "start", ct),
        where);
  } else if (kind && !strcmp(kind, "env-file")) {
    snprintf(where, sizeof where, "no unit, an init script's env file: the init script");
    put(spec, from, "stop_command", "stop_command", json_pack("[s,s,s]", "service", "etcd", "stop"),
        where);
    put(spec, from, "start_command", "start_command",
        json_pack("[s,s,s]", "service", "etcd", "start"), where);
  } else if (kind && !strcmp(kind, "kubeadm") && in->own_commands) {
    note(from, "warning", NULL, "etcd runs as a kubeadm static pod on %s, but --stop-command "
         "or --start-command is given: the spec stops and starts etcd with them, not with "
         "the kubeadm preset's moves of its manifest", in->host);
  } else if (kind && !strcmp(kind, "kubeadm")) {
    const char *manifest = json_string_value(json_object_get(facts, "manifest"));
    const char *parked = json_string_value(json_object_get(facts, "manifest_parked"));
    if (!manifest)
      manifest = found_path(facts, "manifest");
    if (parked)
      note(from, "warning", NULL, "etcd's manifest on %s is parked at %s: a run of etcd-dr "
           "stopped etcd there and did not finish; etcd-dr restore --resume RUN or etcd-dr "
           "rollback RUN puts it back", in->host, parked);
    snprintf(where, sizeof where, "etcd runs as a kubeadm static pod: %s on %s%s%s",
             manifest ? manifest : "its manifest", in->host, parked ? ", parked at " : "",
             parked ? parked : "");
    put(spec, from, "preset", "preset", json_string("kubeadm"), where);
    if (manifest) {
      snprintf(where, sizeof where, "the manifest discover read on %s", in->host);
      put(spec, from, "manifest", "manifest", json_string(manifest), where);
    }
  } else {
    note(from, "warning", NULL, "no unit, env file, manifest or container found on %s: "
         "stop_command and start_command keep their defaults (systemctl stop|start etcd)",
         in->host);
  }

  json_t *envs = json_object_get(facts, "env_files"), *sources = json_object_get(facts, "sources");
  size_t i, j;
  json_t *e, *s;
  const char *env_file = NULL;
  json_array_foreach(envs, i, e) json_array_foreach(sources, j, s) if (
      !env_file && json_is_true(json_object_get(s, "found")) &&
      json_equal(json_object_get(s, "path"), e)) env_file = json_string_value(e);
  if (env_file) {
    snprintf(where, sizeof where, "the env file etcd's service reads on %s", in->host);
    put(spec, from, "env_file", "env_file", json_string(env_file), where);
  }

  const char *client = setting(facts, "advertise-client-urls");
  if (client && !strncmp(client, "https:", 6)) {
    const char *ca = setting(facts, "trusted-ca-file");
    if (ca)
      put(spec, from, "etcdctl_cacert", "etcdctl_cacert", json_string(ca),
          setting_from(facts, "trusted-ca-file"));
    if (kind && !strcmp(kind, "kubeadm")) {
      const char *k = "kubeadm's layout: its health-check client certificate";
      put(spec, from, "etcdctl_cert", "etcdctl_cert",
          json_string("/etc/kubernetes/pki/etcd/healthcheck-client.crt"), k);
      put(spec, from, "etcdctl_key", "etcdctl_key",
          json_string("/etc/kubernetes/pki/etcd/healthcheck-client.key"), k);
    } else if (setting(facts, "cert-file") && setting(facts, "key-file")) {
      snprintf(where, sizeof where, "%s: the member's own certificate (accepted when it is "
               "also a client certificate)", setting_from(facts, "cert-file"));
      put(spec, from, "etcdctl_cert", "etcdctl_cert", json_string(setting(facts, "cert-file")),
          where);
      put(spec, from, "etcdctl_key", "etcdctl_key", json_string(setting(facts, "key-file")),
          setting_from(facts, "key-file"));
    }
  }
}

int edr_discover_spec(json_t *facts, const struct edr_discover_in *in, json_t **spec_out,
                      json_t **from_out, struct edr_error *err) {
  json_t *spec = json_object(), *from = json_array(), *members = json_array();
  json_t *db = json_object_get(facts, "db");
  json_t *dbm = json_object_get(db, "members");
  const char *dbpath = json_string_value(json_object_get(db, "path"));
  const char *dberr = json_string_value(json_object_get(db, "error"));
  const char *self = setting(facts, "name"), *self_peer = setting(facts, "initial-advertise-peer-urls");
  const char *ic = setting(facts, "initial-cluster"), *self_client = setting(facts, "advertise-client-urls");
  struct cand *c = calloc(MAX_MEMBERS, sizeof(*c));
  size_t n = 0;
  *spec_out = *from_out = NULL;
  edr_error_clear(err);
  if (!spec || !from || !members || !c) {
    edr_error_set(err, EDR_ENOMEM, "out of memory");
    goto out;
  }
  json_object_set_new(spec, "comment",
                      json_sprintf("made by etcd-dr discover %s (%s)", in->host,
                                   json_string_value(json_object_get(facts, "kind"))
                                       ? json_string_value(json_object_get(facts, "kind"))
                                       : "?"));
  ssh_settings(in, spec, from);
  host_settings(facts, in, spec, from);

  if (json_array_size(dbm) > 0) {
    size_t i;
    json_t *m;
    json_array_foreach(dbm, i, m) {
      if (n >= MAX_MEMBERS)
        break;
      struct cand *k = &c[n];
      k->id = json_string_value(json_object_get(m, "id"));
      const char *name = json_string_value(json_object_get(m, "name"));
      k->peer = json_object_get(m, "peerURLs");
      k->client = json_object_get(m, "clientURLs");
      k->learner = json_is_true(json_object_get(m, "isLearner"));
      snprintf(k->from, sizeof k->from, "%s (bucket members, id %s)", dbpath ? dbpath : "the db",
               k->id ? k->id : "?");
      const char *url0 = json_string_value(json_array_get(k->peer, 0));
      if (!url0) {
        fail(err, "member id %s in %s has no peer URL", k->id ? k->id : "?",
             dbpath ? dbpath : "the db");
        continue;
      }
      if (name && strlen(name) >= sizeof k->name) {
        fail(err, "member id %s in %s has a name longer than %zu bytes",
             k->id ? k->id : "?", dbpath ? dbpath : "the db", sizeof k->name - 1);
        continue;
      }
      snprintf(k->name, sizeof k->name, "%s", name ? name : "");
      /* never started since it was added: its name is in a --initial-cluster */
      if (!k->name[0] && ic_name_of(ic, url0, k->name, sizeof k->name))
        snprintf(k->from, sizeof k->from, "%s (bucket members, id %s; its name from %s)",
                 dbpath ? dbpath : "the db", k->id ? k->id : "?",
                 setting_from(facts, "initial-cluster"));
      n++;
    }
  } else if (ic) {
    n = from_initial_cluster(ic, c, MAX_MEMBERS);
    for (size_t i = 0; i < n; i++)
      snprintf(c[i].from, sizeof c[i].from, "%s", setting_from(facts, "initial-cluster"));
    note(from, "warning", NULL, "the members come from the --initial-cluster etcd was started "
         "with, not from its db (%s): members added or removed since are not in this spec",
         dberr ? dberr : "the db lists none");
  } else {
    fail(err, "no membership found on %s: %s, and etcd's configuration there "
         "names no --initial-cluster; give the data dir with --data-dir DIR",
         in->host, dberr ? dberr : "its db lists no member");
  }
  if (err->code)
    goto out;
  n = merge_same_url(c, n, from, err);
  for (size_t i = 0; i < n; i++)
    if (!c[i].name[0])
      fail(err, "member id %s (%s) has no name in %s nor in the host's "
           "--initial-cluster", c[i].id ? c[i].id : "?",
           json_string_value(json_array_get(c[i].peer, 0)), dbpath ? dbpath : "the db");
  if (err->code)
    goto out;
  qsort(c, n, sizeof *c, by_name);

  for (size_t i = 0; i < n; i++) {
    struct cand *k = &c[i];
    json_t *m = json_object();
    char field[96], host[256];
    json_array_append_new(members, m);
    snprintf(field, sizeof field, "members[%zu].name", i);
    put(m, from, field, "name", json_string(k->name), k->from);
    snprintf(field, sizeof field, "members[%zu].peer_urls", i);
    put(m, from, field, "peer_urls", json_deep_copy(k->peer), k->from);
    const char *url0 = json_string_value(json_array_get(k->peer, 0));
    bool is_self = (self && !strcmp(self, k->name)) || (self_peer && in_list(self_peer, url0));
    if (k->learner)
      note(from, "warning", NULL, "%s is a learner in the db; a restore makes every member of "
           "the spec a voter", k->name);

    const char *given = NULL;
    for (size_t q = 0; q < in->n_member_hosts; q++) {
      size_t nl = strlen(k->name);
      if (!strncmp(in->member_hosts[q], k->name, nl) && in->member_hosts[q][nl] == '=')
        given = in->member_hosts[q] + nl + 1;
    }
    snprintf(field, sizeof field, "members[%zu].ssh_host", i);
    const char *why = unreachable_host(url0, host, sizeof host);
    if (given)
      put(m, from, field, "ssh_host", json_string(given), "the command line (--member-host)");
    else if (is_self)
      put(m, from, field, "ssh_host", json_string(in->host), "the host discover reached");
    else if (why)
      fail(err, "cannot tell %s's host from its peer URL %s: %s; give it with "
           "--member-host %s=HOST", k->name, url0, why, k->name);
    else
      put(m, from, field, "ssh_host", json_string(host), "the host of its peer URL");

    snprintf(field, sizeof field, "members[%zu].client_urls", i);
    /* the member's own configuration first: what a 3.4 db records may be a
     * snapshot's old entry */
    if (is_self && self_client)
      put(m, from, field, "client_urls", split_list(self_client),
          setting_from(facts, "advertise-client-urls"));
    else if (json_array_size(k->client))
      put(m, from, field, "client_urls", json_deep_copy(k->client), k->from);
    else if (self_client && !why) {
      char scheme[8], h2[256], url[URL_MAX], where[600];
      int port;
      json_t *tmp = split_list(self_client);
      const char *first = json_string_value(json_array_get(tmp, 0));
      if (first && edr_parse_url(first, scheme, sizeof scheme, h2, sizeof h2, &port)) {
        snprintf(url, sizeof url, "%s://%s:%d", scheme, host, port);
        snprintf(where, sizeof where, "its peer URL's host with the scheme and port of %s's "
                 "client URL (%s)", in->host, setting_from(facts, "advertise-client-urls"));
        put(m, from, field, "client_urls", json_pack("[s]", url), where);
      }
      json_decref(tmp);
    }
  }
  if (err->code)
    goto out;
  json_object_set(spec, "members", members);
  *spec_out = spec;
  *from_out = from;
  spec = from = NULL;
out:
  for (size_t i = 0; c && i < n; i++)
    if (c[i].own_peer)
      json_decref(c[i].peer);
  free(c);
  json_decref(members);
  json_decref(spec);
  json_decref(from);
  return *spec_out ? 0 : EDR_EINVAL;
}

void edr_discover_print_from(json_t *from, FILE *out) {
  size_t i, wf = 5, wv = 5;
  json_t *e;
  json_array_foreach(from, i, e) {
    size_t a = strlen(json_string_value(json_object_get(e, "field")));
    size_t b = strlen(json_string_value(json_object_get(e, "value")));
    wf = a > wf ? a : wf;
    wv = b > wv ? b : wv;
  }
  fprintf(out, "%-*s  %-*s  %s\n", (int)wf, "FIELD", (int)wv, "VALUE", "FROM");
  json_array_foreach(from, i, e)
    fprintf(out, "%-*s  %-*s  %s\n", (int)wf, json_string_value(json_object_get(e, "field")),
            (int)wv, json_string_value(json_object_get(e, "value")),
            json_string_value(json_object_get(e, "from")));
}

const char *edr_discover_from(json_t *from, const char *field) {
  size_t i;
  json_t *e;
  json_array_foreach(from, i, e) if (!strcmp(json_string_value(json_object_get(e, "field")),
                                             field)) return json_string_value(json_object_get(e, "from"));
  return NULL;
}

/* One YAML scalar: a JSON string is a valid YAML double-quoted scalar. */
static void yaml_scalar(json_t *v, FILE *out) {
  char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
  fputs(s ? s : "null", out);
  free(s);
}

static void yaml_pair(const char *indent, const char *key, json_t *v, const char *field,
                      json_t *from, FILE *out) {
  const char *f = edr_discover_from(from, field);
  fprintf(out, "%s%s: ", indent, key);
  if (json_is_array(v)) {
    fputc('[', out);
    for (size_t i = 0; i < json_array_size(v); i++) {
      if (i)
        fputs(", ", out);
      yaml_scalar(json_array_get(v, i), out);
    }
    fputc(']', out);
  } else {
    yaml_scalar(v, out);
  }
  if (f)
    fprintf(out, "  # from %s", f);
  fputc('\n', out);
}

void edr_discover_print_yaml(json_t *spec, json_t *from, FILE *out) {
  const char *key;
  json_t *v;
  size_t i;
  json_t *e;
  json_array_foreach(from, i, e) if (!strcmp(json_string_value(json_object_get(e, "field")),
                                             "warning"))
      fprintf(out, "# warning: %s\n", json_string_value(json_object_get(e, "from")));
  json_object_foreach(spec, key, v) {
    if (!strcmp(key, "members"))
      continue;
    yaml_pair("", key, v, key, from, out);
  }
  fputs("members:\n", out);
  json_array_foreach(json_object_get(spec, "members"), i, e) {
    bool first = true;
    json_object_foreach(e, key, v) {
      char field[96];
      snprintf(field, sizeof field, "members[%zu].%s", i, key);
      yaml_pair(first ? "  - " : "    ", key, v, field, from, out);
      first = false;
    }
  }
}
