/*
 * spec.c - parse and validate the cluster spec (docs/spec.md).
 *
 * Both forms end in the same place: a list of members, each fully resolved
 * from built-in defaults, cluster-wide values and its own values, then
 * checked as a whole.  The member fields are described once, in the
 * `fields` table below; the file parser (JSON or YAML, both read into one
 * jansson tree by spec_yaml.c), the command-line overrides and the error
 * messages all work from that table.
 */
#include "spec.h"
#include "spec_yaml.h"

#include "err.h"
#include "util.h"

#include <arpa/inet.h>
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

/* ---- validators --------------------------------------------------------- */

static bool all_chars(const char *s, const char *extra) {
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
      return false;
  return true;
}

bool edr_valid_name(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n <= 63 && s[0] != '-' && s[0] != '.' &&
         all_chars(s, "._-");
}

bool edr_valid_token(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n <= 128 && s[0] != '-' && all_chars(s, "._-");
}

bool edr_valid_user(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n <= 32 && s[0] != '-' && all_chars(s, "._-");
}

bool edr_valid_host(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253)
    return false;
  if (s[0] == '[') /* bracketed IPv6 literal */
    return n > 2 && s[n - 1] == ']' && strspn(s + 1, "0123456789abcdefABCDEF:.") == n - 2;
  return s[0] != '-' && s[0] != '.' && all_chars(s, ".-");
}

/* An absolute path of plain characters, without "." or ".." components, so
 * that it means the same thing to every tool that will see it. */
bool edr_valid_remote_path(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || n > 1024 || s[0] != '/' || s[n - 1] == '/')
    return false;
  if (!all_chars(s, "/._-+@=,:"))
    return false;
  for (const char *c = s; (c = strchr(c, '/')); c++) {
    const char *e = c + 1;
    size_t len = strcspn(e, "/");
    if (len == 0 || (len == 1 && e[0] == '.') ||
        (len == 2 && e[0] == '.' && e[1] == '.'))
      return false;
  }
  return true;
}

/* Is PATH equal to or below DIR followed by SUFFIX ("" or "/member")?
 * Both are valid remote paths (absolute, no trailing slash, no "." or
 * ".." components), so a string comparison decides. */
static bool path_within(const char *path, const char *dir, const char *suffix) {
  size_t dl = strlen(dir), sl = strlen(suffix);
  return !strncmp(path, dir, dl) && !strncmp(path + dl, suffix, sl) &&
         (path[dl + sl] == '\0' || path[dl + sl] == '/');
}

/* Why URL is not an http(s)://host:port URL, in words for the operator. */
static const char *url_problem(const char *url, char *buf, size_t len) {
  const char *p = strstr(url, "://");
  if (!p) {
    snprintf(buf, len, "it has no scheme: write http://%s or https://%s", url, url);
    return buf;
  }
  if ((p - url != 4 || strncmp(url, "http", 4)) && (p - url != 5 || strncmp(url, "https", 5)))
    return "its scheme is not http or https";
  const char *h = p + 3;
  const char *slash = strchr(*h == '[' ? (strchr(h, ']') ? strchr(h, ']') : h) : h, '/');
  if (slash && slash[1]) {
    snprintf(buf, len, "it has a path ('%.60s'): a peer or client URL is "
             "scheme://host:port", slash);
    return buf;
  }
  const char *colon = *h == '[' ? (strchr(h, ']') ? strchr(h, ']') + 1 : NULL) : strrchr(h, ':');
  if (!colon || *colon != ':')
    return "it has no port (etcd's are 2380 for peers and 2379 for clients)";
  return "expected http(s)://host:port with a port from 1 to 65535";
}

/* One hop of a jump: [user@]host[:port], host an IPv6 literal in []. */
static bool valid_hop(const char *s, size_t n) {
  char buf[300];
  if (n == 0 || n >= sizeof buf)
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *host = buf, *at = strchr(buf, '@');
  if (at) {
    *at = '\0';
    if (!edr_valid_user(buf))
      return false;
    host = at + 1;
  }
  char *port = NULL;
  if (host[0] == '[') { /* an IPv6 address */
    char *rb = strchr(host, ']');
    unsigned char a6[16];
    if (!rb || (rb[1] && rb[1] != ':'))
      return false;
    port = rb[1] == ':' ? rb + 2 : NULL;
    *rb = '\0';
    if (inet_pton(AF_INET6, host + 1, a6) != 1)
      return false;
    host = NULL;
  } else if ((port = strchr(host, ':'))) {
    *port++ = '\0';
  }
  if (port && (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
               atoi(port) < 1 || atoi(port) > 65535))
    return false;
  return !host || edr_valid_host(host);
}

bool edr_valid_jump(const char *s) {
  if (!*s)
    return false;
  for (const char *p = s;;) {
    size_t n = strcspn(p, ",");
    if (!valid_hop(p, n))
      return false;
    if (!p[n])
      return true;
    p += n + 1;
  }
}

bool edr_parse_url(const char *url, char *scheme, size_t slen, char *host,
                   size_t hlen, int *port) {
  const char *p = strstr(url, "://");
  if (!p)
    return false;
  size_t sl = (size_t)(p - url);
  if ((sl != 4 || strncmp(url, "http", 4)) && (sl != 5 || strncmp(url, "https", 5)))
    return false;
  const char *h = p + 3, *colon;
  if (*h == '[') {
    const char *rb = strchr(h, ']');
    if (!rb || rb[1] != ':')
      return false;
    colon = rb + 1;
  } else {
    colon = strrchr(h, ':');
    if (!colon)
      return false;
  }
  size_t hl = (size_t)(colon - h);
  if (hl == 0 || hl >= hlen || sl >= slen)
    return false;
  const char *ps = colon + 1;
  size_t pl = strlen(ps);
  if (pl > 0 && ps[pl - 1] == '/') /* etcd accepts one trailing slash */
    pl--;
  if (pl == 0 || pl > 5 || strspn(ps, "0123456789") != pl)
    return false;
  int pv = atoi(ps);
  if (pv < 1 || pv > 65535)
    return false;
  memcpy(scheme, url, sl);
  scheme[sl] = '\0';
  memcpy(host, h, hl);
  host[hl] = '\0';
  if (!edr_valid_host(host))
    return false;
  *port = pv;
  return true;
}

/* ---- string vectors ------------------------------------------------------ */

static int strv_push(struct edr_strv *sv, const char *s) {
  char **nv = realloc(sv->v, (sv->n + 2) * sizeof(*nv));
  if (!nv)
    return EDR_ENOMEM;
  sv->v = nv;
  if (!(nv[sv->n] = strdup(s)))
    return EDR_ENOMEM;
  nv[++sv->n] = NULL;
  return 0;
}

static void strv_free(struct edr_strv *sv) {
  for (size_t i = 0; i < sv->n; i++)
    free(sv->v[i]);
  free(sv->v);
  sv->v = NULL;
  sv->n = 0;
}

static int strv_copy(struct edr_strv *dst, const struct edr_strv *src) {
  for (size_t i = 0; i < src->n; i++)
    if (strv_push(dst, src->v[i]))
      return EDR_ENOMEM;
  return 0;
}

/* ---- the field table ------------------------------------------------------ */

enum field_type {
  F_HOST, F_PORT, F_USER, F_LOCAL_PATH, F_BOOL, F_REMOTE_PATH, F_OWNER,
  F_MODE, F_ARGV, F_TOOL, F_URLS, F_JUMP, F_PROXY_CMD, F_PRESET,
};

struct field {
  const char *key;          /* JSON key */
  enum field_type type;
  size_t off;               /* offset in struct edr_member */
  bool member_only;         /* not allowed as a cluster-wide value */
  const char *what;         /* how to say what is expected */
};

#define M(f) offsetof(struct edr_member, f)
static const struct field fields[] = {
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

static const struct field *field_find(const char *key) {
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    if (strcmp(fields[i].key, key) == 0)
      return &fields[i];
  return NULL;
}

/* A member under construction remembers which fields were set, so that
 * defaults fill only the rest. */
struct draft {
  struct edr_member m;
  bool set[sizeof(fields) / sizeof(fields[0])];
  enum edr_origin origin[sizeof(fields) / sizeof(fields[0])];
};

struct ctx {
  char *err;
  size_t errlen;
  const char *source;
  const struct edr_spec_overrides *ov;
  bool no_ssh_client;       /* ssh -G could not run: the spec alone counts */
  /* a YAML file's lines (spec_yaml.h): the root, and the object and key
   * parse_fields is at, for errors that name no field */
  json_t *root;
  struct edr_spec_lines *lines;
  int line;                 /* the loader's error line */
  const json_t *at_obj;
  const char *at_key;
};

static int fail(struct ctx *c, const char *member, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct ctx *c, const char *member, const char *field,
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
    snprintf(c->err, c->errlen, "%s: member '%s': field '%s': %s", src, member, field, msg);
  else if (member)
    snprintf(c->err, c->errlen, "%s: member '%s': %s", src, member, msg);
  else if (field)
    snprintf(c->err, c->errlen, "%s: field '%s': %s", src, field, msg);
  else
    snprintf(c->err, c->errlen, "%s: %s", src, msg);
  return EDR_EINVAL;
}

/* Quote a hostile value for an error message: printable ASCII only. */
static const char *shown(const char *s, char *buf, size_t len) {
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

static char *expand_home(const char *p) {
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
    return fail(c, member, f->key, "value too long or has a newline; expected %s", f->what);
  switch (f->type) {
  case F_HOST:
    if (!edr_valid_host(v))
      return fail(c, member, f->key, "'%s' is not %s", shown(v, b, sizeof b), f->what);
    break;
  case F_USER:
    if (!edr_valid_user(v))
      return fail(c, member, f->key, "'%s' is not %s", shown(v, b, sizeof b), f->what);
    break;
  case F_REMOTE_PATH:
    if (!edr_valid_remote_path(v))
      return fail(c, member, f->key, "'%s' is not %s", shown(v, b, sizeof b), f->what);
    break;
  case F_LOCAL_PATH:
    if (!*v)
      return fail(c, member, f->key, "empty; expected %s", f->what);
    break;
  case F_JUMP:
    if (!edr_valid_jump(v))
      return fail(c, member, f->key, "'%s' is not %s", shown(v, b, sizeof b), f->what);
    break;
  case F_PROXY_CMD:
    if (!*v || strpbrk(v, "\n\r"))
      return fail(c, member, f->key, "expected %s, on one line", f->what);
    break;
  case F_OWNER: {
    const char *colon = strchr(v, ':');
    if (!colon || !valid_owner_part(v, (size_t)(colon - v)) ||
        !valid_owner_part(colon + 1, strlen(colon + 1)))
      return fail(c, member, f->key, "'%s' is not %s", shown(v, b, sizeof b), f->what);
    break;
  }
  case F_PRESET:
    if (strcmp(v, "kubeadm"))
      return fail(c, member, f->key, "'%s' is not %s", shown(v, b, sizeof b), f->what);
    break;
  case F_TOOL:
    if (strcmp(v, "auto") && strcmp(v, "etcdutl") && strcmp(v, "etcdctl") &&
        !edr_valid_remote_path(v))
      return fail(c, member, f->key, "'%s' is not %s", shown(v, b, sizeof b), f->what);
    break;
  default:
    return fail(c, member, f->key, "expected %s", f->what);
  }
  free(*sp);
  *sp = f->type == F_LOCAL_PATH ? expand_home(v) : strdup(v);
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
    return fail(c, member, f->key, "expected %s", f->what);
  strv_free(sv);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *u = json_string_value(e);
    if (!u)
      return fail(c, member, f->key, "entry %zu is not a string", i);
    if (!edr_parse_url(u, scheme, sizeof scheme, host, sizeof host, &port)) {
      char why[160];
      return fail(c, member, f->key, "'%s' is not an http(s)://host:port URL: %s",
                  shown(u, b, sizeof b), url_problem(u, why, sizeof why));
    }
    if (strv_push(sv, u))
      return EDR_ENOMEM;
  }
  return 0;
}

static int set_argv(struct ctx *c, const char *member, const struct field *f,
                    struct edr_strv *sv, json_t *v) {
  strv_free(sv);
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (!*s || strchr(s, '\n') || strlen(s) > 4096)
      return fail(c, member, f->key, "expected %s", f->what);
    if (strv_push(sv, "/bin/sh") || strv_push(sv, "-c") || strv_push(sv, s))
      return EDR_ENOMEM;
    return 0;
  }
  if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
    return fail(c, member, f->key, "expected %s", f->what);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *s = json_string_value(e);
    if (!s || strlen(s) > 4096 || strchr(s, '\n') ||
        json_string_length(e) != strlen(s) || (i == 0 && !*s))
      return fail(c, member, f->key, "argument %zu: expected a string without "
                  "NUL or newline", i);
    if (strv_push(sv, s))
      return EDR_ENOMEM;
  }
  return 0;
}

/* Apply one JSON value to a draft member. */
static int set_field(struct ctx *c, const char *member, struct draft *d,
                     const struct field *f, json_t *v) {
  void *fp = (char *)&d->m + f->off;
  int rc = 0;
  char b[256];
  switch (f->type) {
  case F_PORT:
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > 65535)
      return fail(c, member, f->key, "expected %s", f->what);
    *(int *)fp = (int)json_integer_value(v);
    break;
  case F_BOOL:
    if (!json_is_boolean(v))
      return fail(c, member, f->key, "expected %s", f->what);
    *(bool *)fp = json_is_true(v);
    break;
  case F_MODE: {
    const char *s = json_string_value(v);
    if (!s || parse_mode(s, fp))
      return fail(c, member, f->key, "'%s' is not %s",
                  s ? shown(s, b, sizeof b) : "(not a string)", f->what);
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
      return fail(c, member, f->key, "expected %s", f->what);
    if (json_string_length(v) != strlen(json_string_value(v)))
      return fail(c, member, f->key, "contains a NUL byte");
    rc = set_string_field(c, member, f, fp, json_string_value(v));
  }
  if (rc == 0)
    d->set[f - fields] = true;
  return rc;
}

static void member_release(struct edr_member *m) {
  free(m->name);
  strv_free(&m->peer_urls);
  strv_free(&m->client_urls);
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
  strv_free(&m->stop_command);
  strv_free(&m->start_command);
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
  strv_free(&spec->warnings);
  free(spec);
}

/* Copy the cluster-wide value of every field set in SRC and not in DST,
 * remembering it came from ORIGIN. */
static int inherit(struct draft *dst, const struct draft *src, enum edr_origin origin) {
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    const struct field *f = &fields[i];
    if (dst->set[i] || !src->set[i])
      continue;
    void *dp = (char *)&dst->m + f->off;
    const void *sp = (const char *)&src->m + f->off;
    switch (f->type) {
    case F_PORT: case F_MODE: *(int *)dp = *(const int *)sp; break;
    case F_BOOL: *(bool *)dp = *(const bool *)sp; break;
    case F_URLS: case F_ARGV:
      if (strv_copy(dp, sp))
        return EDR_ENOMEM;
      break;
    default:
      if (!(*(char **)dp = strdup(*(char *const *)sp)))
        return EDR_ENOMEM;
    }
    dst->set[i] = true;
    dst->origin[i] = origin;
  }
  return 0;
}

static const char *local_user(void) {
  struct passwd *pw = getpwuid(geteuid());
  if (pw && pw->pw_name)
    return pw->pw_name;
  const char *u = getenv("USER");
  return u && *u ? u : "root";
}

const char *edr_origin_name(enum edr_origin o) {
  static const char *const names[] = {
      [EDR_FROM_DEFAULT] = "default", [EDR_FROM_SSH_CONFIG] = "ssh_config",
      [EDR_FROM_CLUSTER] = "spec cluster-wide", [EDR_FROM_FLAG] = "command line",
      [EDR_FROM_MEMBER] = "spec member",
  };
  return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

/* One ssh_config value into a field still unset, through the same checks
 * as the spec's own values; a failure says where the value came from. */
static int take_ssh_config(struct ctx *c, struct draft *d, const char *key, json_t *v,
                           const char *file, const char *host) {
  const struct field *f = field_find(key);
  if (!v)
    return EDR_ENOMEM;
  int rc = set_field(c, d->m.name, d, f, v);
  json_decref(v);
  if (rc == EDR_EINVAL) {
    size_t n = strlen(c->err);
    snprintf(c->err + n, c->errlen - n, " (from ssh_config %s for host '%s'; set %s in "
             "the spec or fix the file)", file, host, key);
  }
  if (rc == 0)
    d->origin[f - fields] = EDR_FROM_SSH_CONFIG;
  return rc;
}

/* OpenSSH's resolution of the member's host (ssh -G): every SSH setting the
 * spec and the command line leave unset, taken from it.  A setting that
 * would weaken host-key checking stops the run here, before any
 * connection: etcd-dr will neither follow it nor ignore it silently. */
static int apply_ssh_config(struct ctx *c, struct draft *d) {
  const struct edr_spec_overrides *ov = c->ov;
  struct edr_member *m = &d->m;
  if (!ov || !ov->ssh_lookup || c->no_ssh_client ||
      (ov->ssh_config && !strcmp(ov->ssh_config, "none")))
    return 0;
  struct edr_sshcfg *sc = calloc(1, sizeof *sc);
  char msg[1024];
  if (!sc)
    return EDR_ENOMEM;
  int rc = ov->ssh_lookup(ov->ssh_config, m->ssh_host, sc, msg, sizeof msg);
  if (rc == EDR_ENOENT) {
    c->no_ssh_client = true;
    free(sc);
    return 0;
  }
  if (rc) {
    free(sc);
    return rc == EDR_ENOMEM ? rc : fail(c, m->name, NULL, "%s", msg);
  }
  const char *file = sc->file, *host = m->ssh_host;
  const char *weak = NULL;
  if ((sc->set & EDR_SC_STRICT) && !strcmp(sc->strict, "false"))
    weak = "StrictHostKeyChecking no (any host key accepted)";
  else if ((sc->set & EDR_SC_STRICT) && !strcmp(sc->strict, "accept-new"))
    weak = "StrictHostKeyChecking accept-new (unknown host keys accepted)";
  else if ((sc->set & EDR_SC_KNOWN_HOSTS) && !strcmp(sc->known_hosts, "/dev/null"))
    weak = "UserKnownHostsFile /dev/null (no host key ever known)";
  if (weak) {
    rc = fail(c, m->name, NULL, "ssh_config %s sets %s for host '%s'; etcd-dr checks every "
              "host key against known_hosts and will not follow it: remove the setting "
              "for this host, or give --ssh-config with another file (or none)",
              file, weak, host);
    free(sc);
    return rc;
  }
  if (sc->set & EDR_SC_HOSTNAME) {
    json_t *v = json_string(sc->hostname);
    char *alias = m->ssh_host;
    m->ssh_host = NULL;
    rc = take_ssh_config(c, d, "ssh_host", v, file, alias);
    if (rc) {
      free(m->ssh_host);
      m->ssh_host = alias;
    } else {
      m->ssh_alias = alias;
    }
    host = m->ssh_alias ? m->ssh_alias : m->ssh_host;
  }
#define UNSET(key) (!rc && !d->set[field_find(key) - fields])
  if (UNSET("ssh_user") && (sc->set & EDR_SC_USER))
    rc = take_ssh_config(c, d, "ssh_user", json_string(sc->user), file, host);
  if (UNSET("ssh_port") && (sc->set & EDR_SC_PORT))
    rc = take_ssh_config(c, d, "ssh_port", json_integer(sc->port), file, host);
  if (UNSET("identity_file") && (sc->set & EDR_SC_IDENTITY))
    rc = take_ssh_config(c, d, "identity_file", json_string(sc->identity_file), file, host);
  if (UNSET("known_hosts") && (sc->set & EDR_SC_KNOWN_HOSTS))
    rc = take_ssh_config(c, d, "known_hosts", json_string(sc->known_hosts), file, host);
  if (UNSET("proxy_jump") && UNSET("proxy_command")) {
    if ((sc->set & EDR_SC_JUMP) && strcmp(sc->proxy_jump, "none"))
      rc = take_ssh_config(c, d, "proxy_jump", json_string(sc->proxy_jump), file, host);
    else if ((sc->set & EDR_SC_COMMAND) && strcmp(sc->proxy_command, "none"))
      rc = take_ssh_config(c, d, "proxy_command", json_string(sc->proxy_command), file, host);
  }
#undef UNSET
  if (!rc && (sc->set & EDR_SC_IDENTITIES_ONLY))
    m->identities_only = sc->identities_only;
  free(sc);
  return rc;
}

/* Fill what is still unset with built-in defaults. */
bool edr_member_kubeadm(const struct edr_member *m) {
  return m->preset && !strcmp(m->preset, "kubeadm");
}

char *edr_member_parked_manifest(const struct edr_member *m) {
  const char *slash = m->manifest ? strrchr(m->manifest, '/') : NULL;
  if (!slash)
    return NULL;
  const char *parent = slash; /* back to the start of the manifests dir's name */
  while (parent > m->manifest && parent[-1] != '/')
    parent--;
  return edr_asprintf("%.*s%s.etcd-dr-stopped", (int)(parent - m->manifest), m->manifest,
                      slash + 1);
}

/* The kubeadm preset: etcd is a static pod, stopped and started by moving
 * its manifest; kubeadm's paths for the data and the certificates the
 * host's etcdctl asks with. */
static int kubeadm_defaults(struct ctx *c, struct draft *d) {
  struct edr_member *m = &d->m;
  static const char *const own[] = {"stop_command", "start_command", "env_file"};
  if (!edr_member_kubeadm(m)) {
    if (m->manifest)
      return fail(c, m->name, "manifest", "only with \"preset\": \"kubeadm\"");
    return 0;
  }
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
    if (d->set[field_find(own[i]) - fields])
      return fail(c, m->name, own[i], "not with the kubeadm preset: it stops and starts "
                  "etcd by moving its static pod manifest out of the manifests dir and "
                  "back, and edits the manifest's flags instead of an env file");
  static const struct { const char *key; const char *val; } defs[] = {
    {"manifest", "/etc/kubernetes/manifests/etcd.yaml"},
    {"etcdctl_cacert", "/etc/kubernetes/pki/etcd/ca.crt"},
    {"etcdctl_cert", "/etc/kubernetes/pki/etcd/healthcheck-client.crt"},
    {"etcdctl_key", "/etc/kubernetes/pki/etcd/healthcheck-client.key"},
  };
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
    const struct field *f = field_find(defs[i].key);
    char **sp = (char **)((char *)m + f->off);
    if (!d->set[f - fields] && !*sp && !(*sp = strdup(defs[i].val)))
      return EDR_ENOMEM;
  }
  const char *slash = strrchr(m->manifest, '/');
  if (slash == m->manifest || !strchr(m->manifest + 1, '/') || !slash[1])
    return fail(c, m->name, "manifest", "'%s' must be a file inside a manifests directory "
                "that is not '/'", m->manifest);
  return 0;
}

static int finish_member(struct ctx *c, struct draft *d) {
  struct edr_member *m = &d->m;
  char scheme[8], host[256];
  int port, rc;
  const struct field *f;

  if (m->peer_urls.n == 0)
    return fail(c, m->name, "peer_urls", "missing: a member needs at least one peer URL");
  if (!edr_parse_url(m->peer_urls.v[0], scheme, sizeof scheme, host, sizeof host, &port))
    return fail(c, m->name, "peer_urls", "'%s' is not an http(s)://host:port URL",
                m->peer_urls.v[0]);
  if (m->client_urls.n == 0) {
    for (size_t i = 0; i < m->peer_urls.n; i++) {
      char s2[8], h2[256];
      int p2;
      edr_parse_url(m->peer_urls.v[i], s2, sizeof s2, h2, sizeof h2, &p2);
      char *u = edr_asprintf("%s://%s:2379", s2, h2);
      int prc = u ? strv_push(&m->client_urls, u) : EDR_ENOMEM;
      free(u);
      if (prc)
        return prc;
    }
  }
  if (host[0] == '[') { /* the SSH layer and the relay want a bare IPv6 address */
    size_t hl = strlen(host);
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = '\0';
  }
  if (!m->ssh_host && !(m->ssh_host = strdup(host)))
    return EDR_ENOMEM;
  if (!m->relay_address && !(m->relay_address = strdup(host)))
    return EDR_ENOMEM;
  rc = apply_ssh_config(c, d);
  if (rc)
    return rc;
  if (!(f = field_find("ssh_port")) || !d->set[f - fields])
    m->ssh_port = 22;
  if (!m->ssh_user && !(m->ssh_user = strdup(local_user())))
    return EDR_ENOMEM;
  if (!edr_valid_user(m->ssh_user))
    return fail(c, m->name, "ssh_user", "local user name '%s' cannot be used; set ssh_user",
                m->ssh_user);
  if (!m->known_hosts && !(m->known_hosts = expand_home("~/.ssh/known_hosts")))
    return EDR_ENOMEM;
  if (!d->set[field_find("sudo") - fields])
    m->sudo = strcmp(m->ssh_user, "root") != 0;
  if (!m->data_dir && !(m->data_dir = strdup("/var/lib/etcd")))
    return EDR_ENOMEM;
  if (!d->set[field_find("data_dir_mode") - fields])
    m->data_dir_mode = -1;
  if ((rc = kubeadm_defaults(c, d)))
    return rc;
  if (!edr_member_kubeadm(m) && m->stop_command.n == 0 &&
      (strv_push(&m->stop_command, "systemctl") || strv_push(&m->stop_command, "stop") ||
       strv_push(&m->stop_command, "etcd")))
    return EDR_ENOMEM;
  if (!edr_member_kubeadm(m) && m->start_command.n == 0 &&
      (strv_push(&m->start_command, "systemctl") || strv_push(&m->start_command, "start") ||
       strv_push(&m->start_command, "etcd")))
    return EDR_ENOMEM;
  if (!m->restore_tool && !(m->restore_tool = strdup("auto")))
    return EDR_ENOMEM;
  if (m->wal_dir && strcmp(m->wal_dir, m->data_dir) == 0)
    return fail(c, m->name, "wal_dir", "must differ from data_dir");
  if (m->proxy_jump && m->proxy_command)
    return fail(c, m->name, "proxy_command", "give proxy_jump or proxy_command, not both");
  /* The restore renames DATA_DIR/member and the WAL dir aside and renames
   * the restored ones into place: neither may hold the other. */
  if (m->wal_dir && path_within(m->wal_dir, m->data_dir, "/member"))
    return fail(c, m->name, "wal_dir",
                "'%s' is inside the member dir '%s/member', which a restore moves aside "
                "with it; put the WAL outside it, or leave wal_dir unset for etcd's own "
                "'%s/member/wal'", m->wal_dir, m->data_dir, m->data_dir);
  if (m->wal_dir && path_within(m->data_dir, m->wal_dir, ""))
    return fail(c, m->name, "wal_dir",
                "'%s' contains data_dir '%s': moving the WAL dir aside would move the "
                "data dir with it", m->wal_dir, m->data_dir);
  if (!!m->etcdctl_cert != !!m->etcdctl_key)
    return fail(c, m->name, m->etcdctl_cert ? "etcdctl_key" : "etcdctl_cert",
                "missing: etcdctl_cert and etcdctl_key go together");
  m->from.host = d->origin[field_find("ssh_host") - fields];
  m->from.port = d->origin[field_find("ssh_port") - fields];
  m->from.user = d->origin[field_find("ssh_user") - fields];
  m->from.identity = d->origin[field_find("identity_file") - fields];
  m->from.known_hosts = d->origin[field_find("known_hosts") - fields];
  m->from.proxy = d->origin[field_find(m->proxy_command ? "proxy_command" : "proxy_jump") - fields];
  if (c->ov && c->ov->ssh_config && !(m->ssh_config = strdup(c->ov->ssh_config)))
    return EDR_ENOMEM;
  return 0;
}

static int add_warning(struct edr_spec *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_warning(struct edr_spec *s, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return strv_push(&s->warnings, msg);
}

/* Cross-member checks: duplicates and cluster shape. */
static int check_cluster(struct ctx *c, struct edr_spec *s) {
  if (s->n_members == 0)
    return fail(c, NULL, NULL, "no members: the spec must name at least one member");
  if (s->n_members > 64)
    return fail(c, NULL, NULL, "%zu members: at most 64 are supported", s->n_members);
  for (size_t i = 0; i < s->n_members; i++) {
    struct edr_member *a = &s->members[i];
    for (size_t j = 0; j < i; j++) {
      struct edr_member *b = &s->members[j];
      if (strcmp(a->name, b->name) == 0)
        return fail(c, a->name, "name", "duplicate: two members are named '%s'", a->name);
      for (size_t k = 0; k < a->peer_urls.n; k++)
        for (size_t l = 0; l < b->peer_urls.n; l++)
          if (strcmp(a->peer_urls.v[k], b->peer_urls.v[l]) == 0)
            return fail(c, a->name, "peer_urls", "'%s' is also a peer URL of member '%s'",
                        a->peer_urls.v[k], b->name);
      for (size_t k = 0; k < a->client_urls.n; k++)
        for (size_t l = 0; l < b->client_urls.n; l++)
          if (strcmp(a->client_urls.v[k], b->client_urls.v[l]) == 0)
            return fail(c, a->name, "client_urls",
                        "'%s' is also a client URL of member '%s'",
                        a->client_urls.v[k], b->name);
      if (strcmp(a->ssh_host, b->ssh_host) == 0 && a->ssh_port == b->ssh_port &&
          strcmp(a->data_dir, b->data_dir) == 0)
        return fail(c, a->name, "data_dir",
                    "'%s' on %s is also the data dir of member '%s'", a->data_dir,
                    a->ssh_host, b->name);
    }
    for (size_t k = 0; k < a->peer_urls.n; k++)
      for (size_t l = 0; l < k; l++)
        if (strcmp(a->peer_urls.v[k], a->peer_urls.v[l]) == 0)
          return fail(c, a->name, "peer_urls", "'%s' is listed twice", a->peer_urls.v[k]);
  }
  if (s->n_members % 2 == 0 &&
      add_warning(s, "%zu members: an even count tolerates no more failures than "
                  "%zu would; an odd count is recommended", s->n_members,
                  s->n_members - 1))
    return EDR_ENOMEM;
  for (size_t i = 0; i < s->n_members; i++)
    for (size_t k = 0; k < s->members[i].peer_urls.n; k++) {
      char sc[8], h[256];
      int port;
      if (edr_parse_url(s->members[i].peer_urls.v[k], sc, sizeof sc, h, sizeof h, &port) &&
          port == 2379 &&
          add_warning(s, "member '%s': peer URL '%s' has port 2379, etcd's client port: "
                      "is it the client URL? (peers listen on 2380 by default)",
                      s->members[i].name, s->members[i].peer_urls.v[k]))
        return EDR_ENOMEM;
    }
  for (size_t i = 0; i < s->n_members; i++)
    if (s->members[i].data_dir_mode > 0 && (s->members[i].data_dir_mode & 077) &&
        add_warning(s, "member '%s': data_dir_mode %04o lets others read etcd's data; "
                    "etcd expects 0700", s->members[i].name, s->members[i].data_dir_mode))
      return EDR_ENOMEM;
  return 0;
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
      return fail(c, NULL, s[i].key, "not valid UTF-8");
    int rc = set_field(c, "(command line)", g, field_find(s[i].key), v);
    json_decref(v);
    if (rc)
      return rc;
  }
  if (ov->ssh_port > 0) {
    json_t *v = json_integer(ov->ssh_port);
    int rc = set_field(c, "(command line)", g, field_find("ssh_port"), v);
    json_decref(v);
    if (rc)
      return rc;
  }
  if (ov->sudo >= 0) {
    g->m.sudo = ov->sudo;
    g->set[field_find("sudo") - fields] = true;
  }
  return 0;
}

static int set_token(struct ctx *c, struct edr_spec *s, const char *tok) {
  char b[256];
  if (!edr_valid_token(tok))
    return fail(c, NULL, "initial_cluster_token",
                "'%s' is not 1-128 letters, digits, '.', '_' or '-'", shown(tok, b, sizeof b));
  free(s->token);
  return (s->token = strdup(tok)) ? 0 : EDR_ENOMEM;
}

/* Resolve every member from drafts: member's own, then CLI, then file-wide. */
static int resolve(struct ctx *c, struct edr_spec *s, struct draft *drafts, size_t n,
                   struct draft *cli, struct draft *wide) {
  int rc = 0;
  s->members = calloc(n ? n : 1, sizeof(*s->members));
  if (!s->members)
    return EDR_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
      drafts[i].origin[k] = drafts[i].set[k] ? EDR_FROM_MEMBER : EDR_FROM_DEFAULT;
    if (!rc) rc = inherit(&drafts[i], cli, EDR_FROM_FLAG);
    if (!rc) rc = inherit(&drafts[i], wide, EDR_FROM_CLUSTER);
    if (!rc) rc = finish_member(c, &drafts[i]);
    s->members[i] = drafts[i].m; /* the spec owns it now, even on failure */
    memset(&drafts[i].m, 0, sizeof(drafts[i].m));
    s->n_members = i + 1;
  }
  if (!rc)
    rc = check_cluster(c, s);
  if (!rc) {
    const struct edr_spec_overrides *ov = c->ov;
    const char *cfg = ov ? ov->ssh_config : NULL;
    if (!ov || !ov->ssh_lookup)
      s->ssh_config = strdup("not read");
    else if (cfg && !strcmp(cfg, "none"))
      s->ssh_config = strdup("not read (--ssh-config none)");
    else if (c->no_ssh_client)
      s->ssh_config = strdup("not read: no OpenSSH client (ssh) here, the spec alone counts");
    else if (cfg)
      s->ssh_config = edr_asprintf("%s (--ssh-config), as ssh -G reads it", cfg);
    else
      s->ssh_config = strdup("~/.ssh/config and /etc/ssh/ssh_config, as ssh -G reads them");
    if (!s->ssh_config)
      rc = EDR_ENOMEM;
  }
  return rc;
}

static void draft_release(struct draft *d) { member_release(&d->m); }

int edr_spec_from_initial_cluster(const char *str,
                                  const struct edr_spec_overrides *ov,
                                  struct edr_spec **out, char *err,
                                  size_t errlen) {
  struct ctx c = {.err = err, .errlen = errlen, .source = "--initial-cluster", .ov = ov};
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
      { rc = fail(&c, NULL, NULL, "'%s' is not name=peerURL", shown(item, b, sizeof b)); goto out; }
    *eq = '\0';
    const char *name = item, *url = eq + 1;
    if (!edr_valid_name(name))
      { rc = fail(&c, NULL, "name", "'%s' is not 1-63 letters, digits, '.', '_' or '-'",
                  shown(name, b, sizeof b)); goto out; }
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
      rc = fail(&c, name, "peer_urls", "'%s' is not an http(s)://host:port URL: %s",
                shown(url, b, sizeof b), url_problem(url, why, sizeof why));
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
          add_warning(s, "member '%s' is named twice, on two hosts ('%s' and '%s'): "
                      "taken as one member with two peer URLs, as etcd reads it; if a "
                      "name was typed twice, fix it", name, h2, host))
        { rc = EDR_ENOMEM; goto out; }
    }
    if ((rc = strv_push(&drafts[k].m.peer_urls, url)))
      goto out;
    drafts[k].set[field_find("peer_urls") - fields] = true;
  }
  rc = resolve(&c, s, drafts, n, &cli, &wide);
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
      snprintf(err, errlen, "out of memory");
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
  const char *names[sizeof fields / sizeof fields[0] + 5] = {
      "name", "members", "initial_cluster_token", "cluster_name", "comment"};
  size_t n = 5;
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    names[n++] = fields[i].key;
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
    const struct field *f = field_find(key);
    if (!f) {
      const char *s = suggest(key);
      char b[128];
      return s ? fail(c, member, NULL, "unknown field '%s' (did you mean '%s'?)",
                      shown(key, b, sizeof b), s)
               : fail(c, member, NULL, "unknown field '%s'", shown(key, b, sizeof b));
    }
    if (!is_member && f->member_only)
      return fail(c, NULL, key, "can only be set per member");
    int rc = set_field(c, member, d, f, v);
    if (rc)
      return rc;
  }
  c->at_obj = NULL;
  c->at_key = NULL;
  return 0;
}

int edr_spec_from_json(const char *path, const char *text,
                       const struct edr_spec_overrides *ov,
                       struct edr_spec **out, char *err, size_t errlen) {
  struct ctx c = {.err = err, .errlen = errlen, .source = path ? path : "cluster spec",
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
  char lerr[400];
  rc = edr_spec_load(path, text, &root, &c.lines, &c.line, lerr, sizeof lerr);
  if (rc) {
    if (rc != EDR_ENOMEM)
      rc = fail(&c, NULL, NULL, "%s", lerr);
    goto out;
  }
  c.root = root;
  if (!json_is_object(root)) {
    rc = fail(&c, NULL, NULL, "expected a JSON object with a \"members\" list");
    goto out;
  }
  if ((rc = apply_overrides(&c, &cli, ov)) || (rc = parse_fields(&c, NULL, &wide, root, false)))
    goto out;
  json_t *tok = json_object_get(root, "initial_cluster_token");
  if (ov && ov->token)
    rc = set_token(&c, s, ov->token);
  else if (tok && !json_is_string(tok))
    rc = fail(&c, NULL, "initial_cluster_token", "expected a string");
  else if (tok)
    rc = set_token(&c, s, json_string_value(tok));
  if (rc)
    goto out;
  members = json_object_get(root, "members");
  if (!json_is_array(members) || json_array_size(members) == 0) {
    rc = fail(&c, NULL, "members", "expected a non-empty list of members");
    goto out;
  }
  if (json_array_size(members) > 64) {
    rc = fail(&c, NULL, "members", "%zu members: at most 64 are supported",
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
      rc = fail(&c, label, NULL, "expected an object");
      goto out;
    }
    n = i + 1;
    const char *name = json_string_value(json_object_get(mj, "name"));
    if (!name) {
      rc = fail(&c, label, "name", "missing: every member needs a name");
      goto out;
    }
    if (!edr_valid_name(name) || json_string_length(json_object_get(mj, "name")) != strlen(name)) {
      rc = fail(&c, label, "name", "'%s' is not 1-63 letters, digits, '.', '_' or '-'",
                shown(name, b, sizeof b));
      goto out;
    }
    if (!(drafts[i].m.name = strdup(name))) {
      rc = EDR_ENOMEM;
      goto out;
    }
    if ((rc = parse_fields(&c, name, &drafts[i], mj, true)))
      goto out;
  }
  rc = resolve(&c, s, drafts, n, &cli, &wide);
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
      snprintf(err, errlen, "out of memory");
    edr_spec_free(s);
    return rc;
  }
  *out = s;
  return 0;
}
