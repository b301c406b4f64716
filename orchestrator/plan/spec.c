/*
 * spec.c - parse and validate the cluster spec (docs/spec.md).
 *
 * Both forms end in the same place: a list of members, each fully resolved
 * from built-in defaults, cluster-wide values and its own values, then
 * checked as a whole.  The member fields are described once, in the
 * `spec_fields` table below; the file parser (JSON or YAML, both read into one
 * jansson tree by spec_yaml.c), the command-line overrides and the error
 * messages all work from that table.  This file reads values into draft
 * members (spec_int.h); spec_resolve.c turns the drafts into members and
 * checks the cluster; valid.c holds the validators both use.
 */
#include "spec.h"
#include "spec_int.h"
#include "spec_yaml.h"

#include "err.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- string vectors ------------------------------------------------------ */

int spec_strv_push(struct edr_strv *sv, const char *s) {
  char **nv = realloc(sv->v, (sv->n + 2) * sizeof(*nv));
  if (!nv)
    return EDR_ENOMEM;
  sv->v = nv;
  if (!(nv[sv->n] = strdup(s)))
    return EDR_ENOMEM;
  nv[++sv->n] = NULL;
  return 0;
}

void spec_strv_free(struct edr_strv *sv) {
  for (size_t i = 0; i < sv->n; i++)
    free(sv->v[i]);
  free(sv->v);
  sv->v = NULL;
  sv->n = 0;
}

int spec_strv_copy(struct edr_strv *dst, const struct edr_strv *src) {
  for (size_t i = 0; i < src->n; i++)
    if (spec_strv_push(dst, src->v[i]))
      return EDR_ENOMEM;
  return 0;
}

/* ---- the field table ------------------------------------------------------ */

#define M(f) offsetof(struct edr_member, f)
const struct field spec_fields[] = {
  {.key = "peer_urls", .type = F_URLS, .off = M(peer_urls), .member_only = true,
   .what = "a list of http(s)://host:port URLs"},
  {.key = "client_urls", .type = F_URLS, .off = M(client_urls), .member_only = true,
   .what = "a list of http(s)://host:port URLs"},
  {.key = "ssh_host", .type = F_HOST, .off = M(ssh_host), .member_only = true,
   .what = "a host name or IP address"},
  {.key = "ssh_port", .type = F_PORT, .off = M(ssh_port), .what = "a port number 1-65535"},
  {.key = "ssh_user", .type = F_USER, .off = M(ssh_user),
   .what = "a user name of letters, digits, '.', '_' or '-'"},
  {.key = "identity_file", .type = F_LOCAL_PATH, .off = M(identity_file),
   .what = "a path to a private key file"},
  {.key = "known_hosts", .type = F_LOCAL_PATH, .off = M(known_hosts),
   .what = "a path to a known_hosts file"},
  {.key = "proxy_jump", .type = F_JUMP, .off = M(proxy_jump),
   .what = "jump hosts as OpenSSH's -J takes them: [user@]host[:port], comma-separated"},
  {.key = "proxy_command", .type = F_PROXY_CMD, .off = M(proxy_command),
   .what = "a command run with /bin/sh -c on this machine (%h host, %p port, %r user)"},
  {.key = "sudo", .type = F_BOOL, .off = M(sudo), .what = "true or false"},
  {.key = "data_dir", .type = F_REMOTE_PATH, .off = M(data_dir),
   .what = "an absolute path of letters, digits and ._-+@=,: (no '.' or '..')"},
  {.key = "wal_dir", .type = F_REMOTE_PATH, .off = M(wal_dir),
   .what = "an absolute path of letters, digits and ._-+@=,: (no '.' or '..')"},
  {.key = "data_dir_owner", .type = F_OWNER, .off = M(data_dir_owner),
   .what = "\"user:group\" (names or numbers)"},
  {.key = "data_dir_mode", .type = F_MODE, .off = M(data_dir_mode),
   .what = "an octal mode string such as \"0700\""},
  {.key = "stop_command", .type = F_ARGV, .off = M(stop_command),
   .what = "an argv array of strings, or a string run with /bin/sh -c"},
  {.key = "start_command", .type = F_ARGV, .off = M(start_command),
   .what = "an argv array of strings, or a string run with /bin/sh -c"},
  {.key = "restore_tool", .type = F_TOOL, .off = M(restore_tool),
   .what = "\"auto\", \"etcdutl\", \"etcdctl\" or an absolute path on the host"},
  {.key = "restore_tool_push", .type = F_LOCAL_PATH, .off = M(restore_tool_push),
   .what = "a path on this machine to an etcdutl or etcdctl binary"},
  {.key = "env_file", .type = F_REMOTE_PATH, .off = M(env_file),
   .what = "an absolute path of letters, digits and ._-+@=,: (no '.' or '..')"},
  {.key = "preset", .type = F_PRESET, .off = M(preset),
   .what = "\"kubeadm\" (etcd as kubeadm's static pod: docs/kubeadm.md)"},
  {.key = "manifest", .type = F_REMOTE_PATH, .off = M(manifest),
   .what = "an absolute path on the host of letters, digits and ._-+@=,: (no '.' or '..')"},
  {.key = "etcdctl_cacert", .type = F_REMOTE_PATH, .off = M(etcdctl_cacert),
   .what = "an absolute path on the host of letters, digits and ._-+@=,: (no '.' or '..')"},
  {.key = "etcdctl_cert", .type = F_REMOTE_PATH, .off = M(etcdctl_cert),
   .what = "an absolute path on the host of letters, digits and ._-+@=,: (no '.' or '..')"},
  {.key = "etcdctl_key", .type = F_REMOTE_PATH, .off = M(etcdctl_key),
   .what = "an absolute path on the host of letters, digits and ._-+@=,: (no '.' or '..')"},
  {.key = "relay_port", .type = F_PORT, .off = M(relay_port),
   .what = "a port number 1-65535 (where the member's agent takes the relayed snapshot)"},
  {.key = "relay_address", .type = F_HOST, .off = M(relay_address), .member_only = true,
   .what = "an IP address the previous host in the relay connects to"},
};
#undef M

const struct field *spec_field_find(const char *key) {
  for (size_t i = 0; i < SPEC_N_FIELDS; i++)
    if (strcmp(spec_fields[i].key, key) == 0)
      return &spec_fields[i];
  return NULL;
}

int spec_fail(struct ctx *c, const char *member, const char *field,
              const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  char hint[160] = "", src[600];
  int line = c->line ? c->line
             : edr_spec_line(c->lines, c->root, member, field ? field : c->at_key, hint,
                             sizeof hint);
  snprintf(src, sizeof src, line ? "%s:%d" : "%s", c->source, line);
  if (hint[0])
    snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (%s)", hint);
  if (member && field)
    return edr_error_set(c->err, EDR_EINVAL, "%s: member '%s': field '%s': %s", src, member,
                         field, msg);
  if (member)
    return edr_error_set(c->err, EDR_EINVAL, "%s: member '%s': %s", src, member, msg);
  if (field)
    return edr_error_set(c->err, EDR_EINVAL, "%s: field '%s': %s", src, field, msg);
  return edr_error_set(c->err, EDR_EINVAL, "%s: %s", src, msg);
}

/* Quote a hostile value for an error message: printable ASCII only. */
const char *spec_shown(const char *s, char *buf, size_t len) {
  size_t o = 0;
  for (; *s && o + 5 < len; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch >= 0x20 && ch < 0x7f)
      buf[o++] = (char)ch;
    else
      o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
  }
  buf[o] = '\0';
  return buf;
}

char *spec_expand_home(const char *p) {
  if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
    const char *home = getenv("HOME");
    struct passwd *pw;
    if (!home || !*home)
      home = (pw = getpwuid(getuid())) ? pw->pw_dir : "/";
    return edr_asprintf("%s%s", home, p + 1);
  }
  return strdup(p);
}

static bool valid_owner_part(const char *s, size_t n) {
  if (n == 0 || n > 32 || s[0] == '-')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
      return false;
  return true;
}

/* Store one string value of type T into the field at FP. */
static int set_string_field(struct ctx *c, const char *member,
                            const struct field *f, void *fp, const char *v) {
  char b[256];
  char **sp = fp;
  if (strlen(v) > 4096 || strchr(v, '\n'))
    return spec_fail(c, member, f->key, "value too long or has a newline; expected %s", f->what);
  switch (f->type) {
  case F_HOST:
    if (!edr_valid_host(v))
      return spec_fail(c, member, f->key, "'%s' is not %s", spec_shown(v, b, sizeof b), f->what);
    break;
  case F_USER:
    if (!edr_valid_user(v))
      return spec_fail(c, member, f->key, "'%s' is not %s", spec_shown(v, b, sizeof b), f->what);
    break;
  case F_REMOTE_PATH:
    if (!edr_valid_remote_path(v))
      return spec_fail(c, member, f->key, "'%s' is not %s", spec_shown(v, b, sizeof b), f->what);
    break;
  case F_LOCAL_PATH:
    if (!*v)
      return spec_fail(c, member, f->key, "empty; expected %s", f->what);
    break;
  case F_JUMP:
    if (!edr_valid_jump(v))
      return spec_fail(c, member, f->key, "'%s' is not %s", spec_shown(v, b, sizeof b), f->what);
    break;
  case F_PROXY_CMD:
    if (!*v || strpbrk(v, "\n\r"))
      return spec_fail(c, member, f->key, "expected %s, on one line", f->what);
    break;
  case F_OWNER: {
    const char *colon = strchr(v, ':');
    if (!colon || !valid_owner_part(v, (size_t)(colon - v)) ||
        !valid_owner_part(colon + 1, strlen(colon + 1)))
      return spec_fail(c, member, f->key, "'%s' is not %s", spec_shown(v, b, sizeof b), f->what);
    break;
  }
  case F_PRESET:
    if (strcmp(v, "kubeadm"))
      return spec_fail(c, member, f->key, "'%s' is not %s", spec_shown(v, b, sizeof b), f->what);
    break;
  case F_TOOL:
    if (strcmp(v, "auto") && strcmp(v, "etcdutl") && strcmp(v, "etcdctl") &&
        !edr_valid_remote_path(v))
      return spec_fail(c, member, f->key, "'%s' is not %s", spec_shown(v, b, sizeof b), f->what);
    break;
  default:
    return spec_fail(c, member, f->key, "expected %s", f->what);
  }
  free(*sp);
  *sp = f->type == F_LOCAL_PATH ? spec_expand_home(v) : strdup(v);
  return *sp ? 0 : EDR_ENOMEM;
}

static int parse_mode(const char *s, int *mode) {
  size_t n = strlen(s);
  if (n < 3 || n > 4 || strspn(s, "01234567") != n)
    return EDR_EINVAL;
  *mode = (int)strtol(s, NULL, 8);
  return 0;
}

static int set_urls(struct ctx *c, const char *member, const struct field *f,
                    struct edr_strv *sv, json_t *v) {
  char b[256], scheme[8], host[256];
  int port;
  if (!json_is_array(v) || json_array_size(v) == 0)
    return spec_fail(c, member, f->key, "expected %s", f->what);
  spec_strv_free(sv);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *u = json_string_value(e);
    if (!u)
      return spec_fail(c, member, f->key, "entry %zu is not a string", i);
    if (!edr_parse_url(u, scheme, sizeof scheme, host, sizeof host, &port)) {
      char why[160];
      return spec_fail(c, member, f->key, "'%s' is not an http(s)://host:port URL: %s",
                       spec_shown(u, b, sizeof b), edr_url_problem(u, why, sizeof why));
    }
    if (spec_strv_push(sv, u))
      return EDR_ENOMEM;
  }
  return 0;
}

static int set_argv(struct ctx *c, const char *member, const struct field *f,
                    struct edr_strv *sv, json_t *v) {
  spec_strv_free(sv);
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (!*s || strchr(s, '\n') || strlen(s) > 4096)
      return spec_fail(c, member, f->key, "expected %s", f->what);
    if (spec_strv_push(sv, "/bin/sh") || spec_strv_push(sv, "-c") || spec_strv_push(sv, s))
      return EDR_ENOMEM;
    return 0;
  }
  if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
    return spec_fail(c, member, f->key, "expected %s", f->what);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *s = json_string_value(e);
    if (!s || strlen(s) > 4096 || strchr(s, '\n') ||
        json_string_length(e) != strlen(s) || (i == 0 && !*s))
      return spec_fail(c, member, f->key, "argument %zu: expected a string without "
                       "NUL or newline", i);
    if (spec_strv_push(sv, s))
      return EDR_ENOMEM;
  }
  return 0;
}

/* Apply one JSON value to a draft member. */
int spec_set_field(struct ctx *c, const char *member, struct draft *d,
                   const struct field *f, json_t *v) {
  void *fp = (char *)&d->m + f->off;
  int rc = 0;
  char b[256];
  switch (f->type) {
  case F_PORT:
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > 65535)
      return spec_fail(c, member, f->key, "expected %s", f->what);
    *(int *)fp = (int)json_integer_value(v);
    break;
  case F_BOOL:
    if (!json_is_boolean(v))
      return spec_fail(c, member, f->key, "expected %s", f->what);
    *(bool *)fp = json_is_true(v);
    break;
  case F_MODE: {
    const char *s = json_string_value(v);
    if (!s || parse_mode(s, fp))
      return spec_fail(c, member, f->key, "'%s' is not %s",
                       s ? spec_shown(s, b, sizeof b) : "(not a string)", f->what);
    break;
  }
  case F_URLS:
    rc = set_urls(c, member, f, fp, v);
    break;
  case F_ARGV:
    rc = set_argv(c, member, f, fp, v);
    break;
  default:
    if (!json_is_string(v))
      return spec_fail(c, member, f->key, "expected %s", f->what);
    if (json_string_length(v) != strlen(json_string_value(v)))
      return spec_fail(c, member, f->key, "contains a NUL byte");
    rc = set_string_field(c, member, f, fp, json_string_value(v));
  }
  if (rc == 0)
    d->set[f - spec_fields] = true;
  return rc;
}

static void member_release(struct edr_member *m) {
  free(m->name);
  spec_strv_free(&m->peer_urls);
  spec_strv_free(&m->client_urls);
  free(m->ssh_host);
  free(m->ssh_user);
  free(m->identity_file);
  free(m->known_hosts);
  free(m->proxy_jump);
  free(m->proxy_command);
  free(m->ssh_alias);
  free(m->ssh_config);
  free(m->data_dir);
  free(m->wal_dir);
  free(m->data_dir_owner);
  spec_strv_free(&m->stop_command);
  spec_strv_free(&m->start_command);
  free(m->restore_tool);
  free(m->restore_tool_push);
  free(m->preset);
  free(m->manifest);
  free(m->env_file);
  free(m->etcdctl_cacert);
  free(m->etcdctl_cert);
  free(m->etcdctl_key);
  free(m->relay_address);
  memset(m, 0, sizeof(*m));
}

void edr_spec_free(struct edr_spec *spec) {
  if (!spec)
    return;
  for (size_t i = 0; i < spec->n_members; i++)
    member_release(&spec->members[i]);
  free(spec->members);
  free(spec->source);
  free(spec->token);
  free(spec->ssh_config);
  spec_strv_free(&spec->warnings);
  free(spec);
}

/* Command-line overrides become a cluster-wide draft of their own. */
static int apply_overrides(struct ctx *c, struct draft *g,
                           const struct edr_spec_overrides *ov) {
  if (!ov)
    return 0;
  struct {
    const char *key, *val;
  } s[] = {
      {"ssh_user", ov->ssh_user},       {"identity_file", ov->identity_file},
      {"known_hosts", ov->known_hosts}, {"data_dir", ov->data_dir},
      {"proxy_jump", ov->proxy_jump},   {"proxy_command", ov->proxy_command},
      {"wal_dir", ov->wal_dir},         {"data_dir_owner", ov->data_dir_owner},
      {"data_dir_mode", ov->data_dir_mode}, {"restore_tool", ov->restore_tool},
      {"stop_command", ov->stop_command}, {"start_command", ov->start_command},
      {"preset", ov->preset}, {"manifest", ov->manifest},
  };
  for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
    if (!s[i].val)
      continue;
    json_t *v = json_string(s[i].val);
    if (!v)
      return spec_fail(c, NULL, s[i].key, "not valid UTF-8");
    int rc = spec_set_field(c, EDR_SPEC_CMDLINE, g, spec_field_find(s[i].key), v);
    json_decref(v);
    if (rc)
      return rc;
  }
  if (ov->ssh_port > 0) {
    json_t *v = json_integer(ov->ssh_port);
    int rc = spec_set_field(c, EDR_SPEC_CMDLINE, g, spec_field_find("ssh_port"), v);
    json_decref(v);
    if (rc)
      return rc;
  }
  if (ov->sudo >= 0) {
    g->m.sudo = ov->sudo;
    g->set[spec_field_find("sudo") - spec_fields] = true;
  }
  return 0;
}

static int set_token(struct ctx *c, struct edr_spec *s, const char *tok) {
  char b[256];
  if (!edr_valid_token(tok))
    return spec_fail(c, NULL, "initial_cluster_token",
                     "'%s' is not 1-128 letters, digits, '.', '_' or '-'",
                     spec_shown(tok, b, sizeof b));
  free(s->token);
  return (s->token = strdup(tok)) ? 0 : EDR_ENOMEM;
}
static void draft_release(struct draft *d) { member_release(&d->m); }

int edr_spec_from_initial_cluster(const char *str,
                                  const struct edr_spec_overrides *ov,
                                  struct edr_spec **out, struct edr_error *err) {
  struct ctx c = {.err = err, .source = "--initial-cluster", .ov = ov};
  struct edr_spec *s = calloc(1, sizeof(*s));
  struct draft *drafts = NULL, cli = {0}, wide = {0};
  size_t n = 0;
  int rc = 0;
  char *copy = NULL, *save = NULL, b[256];

  *out = NULL;
  /* pasted from an env file or a command line as it stands there:
   * ETCD_INITIAL_CLUSTER="...", --initial-cluster=..., quoted */
  static const char *const prefixes[] = {"ETCD_INITIAL_CLUSTER=", "--initial-cluster=",
                                         "export ETCD_INITIAL_CLUSTER="};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (!strncmp(str, prefixes[i], strlen(prefixes[i])))
      str += strlen(prefixes[i]);
  size_t sl = strlen(str);
  bool quoted = sl >= 2 && (str[0] == '"' || str[0] == '\'') && str[sl - 1] == str[0];
  if (!s || !(s->source = strdup(c.source)) ||
      !(copy = quoted ? strndup(str + 1, sl - 2) : strdup(str))) {
    rc = EDR_ENOMEM;
    goto out;
  }
  if ((rc = apply_overrides(&c, &cli, ov)))
    goto out;
  if (ov && ov->token && (rc = set_token(&c, s, ov->token)))
    goto out;
  for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    if (!eq)
      { rc = spec_fail(&c, NULL, NULL, "'%s' is not name=peerURL",
                       spec_shown(item, b, sizeof b)); goto out; }
    *eq = '\0';
    const char *name = item, *url = eq + 1;
    if (!edr_valid_name(name))
      { rc = spec_fail(&c, NULL, "name", "'%s' is not 1-63 letters, digits, '.', '_' or '-'",
                       spec_shown(name, b, sizeof b)); goto out; }
    size_t k;
    for (k = 0; k < n && strcmp(drafts[k].m.name, name); k++)
      ;
    if (k == n) { /* etcd allows name=url1,name=url2 for several peer URLs */
      struct draft *nd = realloc(drafts, (n + 1) * sizeof(*nd));
      if (!nd) { rc = EDR_ENOMEM; goto out; }
      drafts = nd;
      memset(&drafts[n], 0, sizeof(drafts[n]));
      if (!(drafts[n].m.name = strdup(name))) { rc = EDR_ENOMEM; goto out; }
      n++;
    }
    char scheme[8], host[256];
    int port;
    if (!edr_parse_url(url, scheme, sizeof scheme, host, sizeof host, &port)) {
      char why[160];
      rc = spec_fail(&c, name, "peer_urls", "'%s' is not an http(s)://host:port URL: %s",
                     spec_shown(url, b, sizeof b), edr_url_problem(url, why, sizeof why));
      goto out;
    }
    /* etcd takes name=url1,name=url2 as one member with two peer URLs; on
     * two different hosts that is more often a name typed twice than a
     * member with two addresses: say so before anything is done */
    for (size_t u = 0; k < n && u < drafts[k].m.peer_urls.n; u++) {
      char s2[8], h2[256];
      int p2;
      if (edr_parse_url(drafts[k].m.peer_urls.v[u], s2, sizeof s2, h2, sizeof h2, &p2) &&
          strcmp(h2, host) &&
          spec_add_warning(s, "member '%s' is named twice, on two hosts ('%s' and '%s'): "
                           "taken as one member with two peer URLs, as etcd reads it; if a "
                           "name was typed twice, fix it", name, h2, host))
        { rc = EDR_ENOMEM; goto out; }
    }
    if ((rc = spec_strv_push(&drafts[k].m.peer_urls, url)))
      goto out;
    drafts[k].set[spec_field_find("peer_urls") - spec_fields] = true;
  }
  rc = spec_resolve(&c, s, drafts, n, &cli, &wide);
  n = 0;
out:
  for (size_t i = 0; i < n; i++)
    draft_release(&drafts[i]);
  free(drafts);
  draft_release(&cli);
  draft_release(&wide);
  free(copy);
  if (rc) {
    if (rc == EDR_ENOMEM)
      edr_error_set(err, EDR_ENOMEM, "out of memory");
    edr_spec_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* The field an unknown KEY most likely meant: etcd's flag spelling
 * (peer-urls), Kubernetes' camelCase (peerURLs, sshUser), or a slip of one
 * or two letters (peer_url). */
static const char *suggest(const char *key) {
  static char buf[64];
  size_t o = 0;
  for (size_t i = 0; key[i] && o < sizeof buf - 2; i++) {
    unsigned char ch = (unsigned char)key[i];
    if (isupper(ch) && i > 0 && islower((unsigned char)key[i - 1]))
      buf[o++] = '_';
    buf[o++] = ch == '-' ? '_' : (char)tolower(ch);
  }
  buf[o] = '\0';
  const char *names[SPEC_N_FIELDS + 5] = {
      "name", "members", "initial_cluster_token", "cluster_name", "comment"};
  size_t n = 5;
  for (size_t i = 0; i < SPEC_N_FIELDS; i++)
    names[n++] = spec_fields[i].key;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(buf, names[i]))
      return names[i];
  const char *d = edr_did_you_mean(buf, names, n);
  return d ? d : edr_did_you_mean(key, names, n);
}

static int parse_fields(struct ctx *c, const char *member, struct draft *d,
                        json_t *obj, bool is_member) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    if (is_member && strcmp(key, "name") == 0)
      continue;
    if (!is_member && (!strcmp(key, "members") || !strcmp(key, "initial_cluster_token") ||
                       !strcmp(key, "cluster_name") || !strcmp(key, "comment")))
      continue;
    if (is_member && !strcmp(key, "comment"))
      continue;
    c->at_obj = obj;
    c->at_key = key;
    const struct field *f = spec_field_find(key);
    if (!f) {
      const char *s = suggest(key);
      char b[128];
      return s ? spec_fail(c, member, NULL, "unknown field '%s' (did you mean '%s'?)",
                           spec_shown(key, b, sizeof b), s)
               : spec_fail(c, member, NULL, "unknown field '%s'", spec_shown(key, b, sizeof b));
    }
    if (!is_member && f->member_only)
      return spec_fail(c, NULL, key, "can only be set per member");
    int rc = spec_set_field(c, member, d, f, v);
    if (rc)
      return rc;
  }
  c->at_obj = NULL;
  c->at_key = NULL;
  return 0;
}

int edr_spec_from_json(const char *path, const char *text,
                       const struct edr_spec_overrides *ov,
                       struct edr_spec **out, struct edr_error *err) {
  struct ctx c = {.err = err, .source = path ? path : "cluster spec",
                  .ov = ov};
  struct edr_spec *s = calloc(1, sizeof(*s));
  struct draft *drafts = NULL, cli = {0}, wide = {0};
  size_t n = 0;
  json_t *root = NULL, *members;
  int rc = 0;
  char b[256];

  *out = NULL;
  if (!s || !(s->source = strdup(c.source))) {
    rc = EDR_ENOMEM;
    goto out;
  }
  /* JSON or YAML (spec_yaml.h): one tree either way */
  struct edr_error lerr = EDR_ERROR_INIT;
  rc = edr_spec_load(path, text, &root, &c.lines, &c.line, &lerr);
  if (rc && rc != EDR_ENOMEM)
    rc = spec_fail(&c, NULL, NULL, "%s", edr_error_text(&lerr));
  edr_error_release(&lerr);
  if (rc)
    goto out;
  c.root = root;
  if (!json_is_object(root)) {
    rc = spec_fail(&c, NULL, NULL, "expected a JSON object with a \"members\" list");
    goto out;
  }
  if ((rc = apply_overrides(&c, &cli, ov)) || (rc = parse_fields(&c, NULL, &wide, root, false)))
    goto out;
  json_t *tok = json_object_get(root, "initial_cluster_token");
  if (ov && ov->token)
    rc = set_token(&c, s, ov->token);
  else if (tok && !json_is_string(tok))
    rc = spec_fail(&c, NULL, "initial_cluster_token", "expected a string");
  else if (tok)
    rc = set_token(&c, s, json_string_value(tok));
  if (rc)
    goto out;
  members = json_object_get(root, "members");
  if (!json_is_array(members) || json_array_size(members) == 0) {
    rc = spec_fail(&c, NULL, "members", "expected a non-empty list of members");
    goto out;
  }
  if (json_array_size(members) > 64) {
    rc = spec_fail(&c, NULL, "members", "%zu members: at most 64 are supported",
                   json_array_size(members));
    goto out;
  }
  drafts = calloc(json_array_size(members), sizeof(*drafts));
  if (!drafts) {
    rc = EDR_ENOMEM;
    goto out;
  }
  size_t i;
  json_t *mj;
  json_array_foreach(members, i, mj) {
    char label[32];
    snprintf(label, sizeof label, "#%zu", i + 1);
    if (!json_is_object(mj)) {
      rc = spec_fail(&c, label, NULL, "expected an object");
      goto out;
    }
    n = i + 1;
    const char *name = json_string_value(json_object_get(mj, "name"));
    if (!name) {
      rc = spec_fail(&c, label, "name", "missing: every member needs a name");
      goto out;
    }
    if (!edr_valid_name(name) || json_string_length(json_object_get(mj, "name")) != strlen(name)) {
      rc = spec_fail(&c, label, "name", "'%s' is not 1-63 letters, digits, '.', '_' or '-'",
                     spec_shown(name, b, sizeof b));
      goto out;
    }
    if (!(drafts[i].m.name = strdup(name))) {
      rc = EDR_ENOMEM;
      goto out;
    }
    if ((rc = parse_fields(&c, name, &drafts[i], mj, true)))
      goto out;
  }
  rc = spec_resolve(&c, s, drafts, n, &cli, &wide);
  n = 0;
out:
  for (size_t k = 0; k < n; k++)
    draft_release(&drafts[k]);
  free(drafts);
  draft_release(&cli);
  draft_release(&wide);
  edr_spec_lines_free(c.lines);
  json_decref(root);
  if (rc) {
    if (rc == EDR_ENOMEM)
      edr_error_set(err, EDR_ENOMEM, "out of memory");
    edr_spec_free(s);
    return rc;
  }
  *out = s;
  return 0;
}
