/*
 * etcdconf.c - parsers for the texts an etcd member's configuration lives
 * in (etcdconf.h): env files, systemd units, etcd's YAML config file and
 * `docker inspect` (kubeadm manifests: etcdconf_manifest.c), and the text
 * helpers both files share (etcdconf_text.h).  Pure functions over bounded
 * text; the agent does the reading (agent/discover.c).  Each parser takes
 * what it understands and skips the rest, line by line.
 */
#include "etcdconf.h"
#include "etcdconf_text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct edr_conf_key_info edr_conf_keys[EDR_CONF__COUNT] = {
    [EDR_CONF_NAME] = {.flag = "name", .env = "ETCD_NAME"},
    [EDR_CONF_DATA_DIR] = {.flag = "data-dir", .env = "ETCD_DATA_DIR"},
    [EDR_CONF_WAL_DIR] = {.flag = "wal-dir", .env = "ETCD_WAL_DIR"},
    [EDR_CONF_PEER_URLS] = {.flag = "initial-advertise-peer-urls",
                            .env = "ETCD_INITIAL_ADVERTISE_PEER_URLS"},
    [EDR_CONF_INITIAL_CLUSTER] = {.flag = "initial-cluster", .env = "ETCD_INITIAL_CLUSTER"},
    [EDR_CONF_TOKEN] = {.flag = "initial-cluster-token", .env = "ETCD_INITIAL_CLUSTER_TOKEN"},
    [EDR_CONF_CLIENT_URLS] = {.flag = "advertise-client-urls",
                              .env = "ETCD_ADVERTISE_CLIENT_URLS"},
    [EDR_CONF_LISTEN_CLIENT_URLS] = {.flag = "listen-client-urls",
                                     .env = "ETCD_LISTEN_CLIENT_URLS"},
    [EDR_CONF_TRUSTED_CA] = {.flag = "trusted-ca-file", .env = "ETCD_TRUSTED_CA_FILE",
                             .yaml_section = "client-transport-security"},
    [EDR_CONF_CERT] = {.flag = "cert-file", .env = "ETCD_CERT_FILE",
                       .yaml_section = "client-transport-security"},
    [EDR_CONF_KEY] = {.flag = "key-file", .env = "ETCD_KEY_FILE",
                      .yaml_section = "client-transport-security"},
    [EDR_CONF_CONFIG_FILE] = {.flag = "config-file", .env = "ETCD_CONFIG_FILE"},
};

void edr_conf_init(struct edr_conf *c) { memset(c, 0, sizeof(*c)); }

void edr_conf_release(struct edr_conf *c) {
  for (size_t i = 0; i < EDR_CONF__COUNT; i++)
    free(c->set[i].value);
  for (size_t i = 0; i < c->n_vars; i++) {
    free(c->vars[i].key);
    free(c->vars[i].value);
  }
  for (size_t i = 0; i < c->n_env_files; i++)
    free(c->env_files[i]);
  for (size_t i = 0; i < c->n_mounts; i++) {
    free(c->mount_src[i]);
    free(c->mount_dst[i]);
  }
  free(c->exec_start);
  free(c->container);
  memset(c, 0, sizeof(*c));
}

const char *edr_conf_get(const struct edr_conf *c, enum edr_conf_key key) {
  return key < EDR_CONF__COUNT ? c->set[key].value : NULL;
}

const char *edr_conf_var(const struct edr_conf *c, const char *name) {
  for (size_t i = c->n_vars; i-- > 0;)
    if (!strcmp(c->vars[i].key, name))
      return c->vars[i].value;
  return NULL;
}

/* ---- small pieces ---------------------------------------------------------- */

static char *dupn(const char *s, size_t n) {
  if (n > EDR_CONF_VALUE_MAX)
    n = EDR_CONF_VALUE_MAX;
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

static void set_value(struct edr_conf *c, enum edr_conf_key k, const char *v,
                      enum edr_conf_rank rank, const char *from) {
  struct edr_conf_setting *s = &c->set[k];
  if (rank < s->rank)
    return;
  char *d = dupn(v, strlen(v));
  if (!d)
    return;
  free(s->value);
  s->value = d;
  s->rank = rank;
  snprintf(s->from, sizeof(s->from), "%s", from);
}

static void add_var(struct edr_conf *c, const char *key, size_t klen, const char *val,
                    size_t vlen, const char *from) {
  if (c->n_vars >= EDR_CONF_MAX_VARS || klen == 0 || klen > 128)
    return;
  struct edr_conf_var *v = &c->vars[c->n_vars];
  v->key = dupn(key, klen);
  v->value = dupn(val, vlen);
  if (!v->key || !v->value) {
    free(v->key);
    free(v->value);
    return;
  }
  snprintf(v->from, sizeof(v->from), "%s", from);
  c->n_vars++;
}


void edr_conf_buf_put(struct edr_conf_buf *b, char ch) {
  if (b->len + 1 >= EDR_CONF_VALUE_MAX)
    return;
  if (b->len + 2 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    char *p = realloc(b->p, cap);
    if (!p)
      return;
    b->p = p;
    b->cap = cap;
  }
  b->p[b->len++] = ch;
  b->p[b->len] = '\0';
}

const char *edr_conf_buf_str(struct edr_conf_buf *b) { return b->p ? b->p : ""; }

/* Next line of TEXT[*pos, len) without its newline, into a bounded copy;
 * with JOIN, a line ending in a backslash goes on with the next (systemd).
 * Returns NULL at the end.  *lineno is the number of the line it began on. */
char *edr_conf_next_line(const char *text, size_t len, size_t *pos, bool join, int *lineno,
                       int *next_no) {
  if (*pos >= len)
    return NULL;
  struct edr_conf_buf b = {0};
  *lineno = *next_no;
  for (;;) {
    size_t start = *pos;
    while (*pos < len && text[*pos] != '\n')
      (*pos)++;
    size_t end = *pos;
    if (*pos < len)
      (*pos)++;
    (*next_no)++;
    while (end > start && text[end - 1] == '\r')
      end--;
    bool more = join && end > start && text[end - 1] == '\\' && *pos < len;
    for (size_t i = start; i < end - (more ? 1 : 0); i++)
      edr_conf_buf_put(&b, text[i] ? text[i] : ' ');
    if (!more)
      break;
    edr_conf_buf_put(&b, ' ');
  }
  if (!b.p)
    b.p = calloc(1, 1);
  return b.p;
}

static bool valid_var_name(const char *s, size_t n) {
  if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!(ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
          (ch >= '0' && ch <= '9')))
      return false;
  }
  return true;
}

/* ---- env files --------------------------------------------------------------- */

/* Unquote a shell-like value starting at S: '...' literal, "..." with
 * backslash escapes, unquoted text up to a ` #` comment, trailing blanks cut. */
static void env_value(const char *s, struct edr_conf_buf *out) {
  size_t keep = 0; /* length without trailing unquoted blanks */
  while (*s) {
    if (*s == '\'') {
      for (s++; *s && *s != '\''; s++)
        edr_conf_buf_put(out, *s);
      if (*s)
        s++;
      keep = out->len;
    } else if (*s == '"') {
      for (s++; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1] && strchr("\"\\$`", s[1]))
          s++;
        edr_conf_buf_put(out, *s);
      }
      if (*s)
        s++;
      keep = out->len;
    } else if (*s == '#' && (out->len == 0 || is_space(out->p[out->len - 1]))) {
      break;
    } else {
      if (*s == '\\' && s[1])
        s++;
      edr_conf_buf_put(out, *s);
      if (!is_space(*s))
        keep = out->len;
      s++;
    }
  }
  if (out->p)
    out->p[out->len = keep] = '\0';
}

int edr_conf_env_text(struct edr_conf *c, const char *text, size_t len, const char *from) {
  size_t pos = 0;
  int no, next = 1, taken = 0;
  char *line;
  while ((line = edr_conf_next_line(text, len, &pos, false, &no, &next))) {
    const char *s = line;
    while (is_space(*s))
      s++;
    if (!strncmp(s, "export", 6) && is_space(s[6]))
      for (s += 6; is_space(*s);)
        s++;
    const char *eq = strchr(s, '=');
    if (*s && *s != '#' && *s != ';' && eq && valid_var_name(s, (size_t)(eq - s))) {
      struct edr_conf_buf v = {0};
      env_value(eq + 1, &v);
      char where[EDR_CONF_FROM_MAX];
      snprintf(where, sizeof where, "%s:%d (%.*s)", from, no, (int)(eq - s), s);
      add_var(c, s, (size_t)(eq - s), edr_conf_buf_str(&v), v.len, where);
      free(v.p);
      taken++;
    }
    free(line);
  }
  return taken;
}

void edr_conf_apply_env(struct edr_conf *c) {
  for (size_t i = 0; i < c->n_vars; i++)
    for (size_t k = 0; k < EDR_CONF__COUNT; k++)
      if (!strcmp(c->vars[i].key, edr_conf_keys[k].env))
        set_value(c, (enum edr_conf_key)k, c->vars[i].value, EDR_RANK_ENV, c->vars[i].from);
}

/* ---- command lines -------------------------------------------------------------- */

static int flag_key(const char *name, size_t n) {
  for (size_t k = 0; k < EDR_CONF__COUNT; k++)
    if (strlen(edr_conf_keys[k].flag) == n && !strncmp(edr_conf_keys[k].flag, name, n))
      return (int)k;
  return -1;
}

void edr_conf_args(struct edr_conf *c, char *const *argv, int argc, const char *from) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || !a[1])
      continue;
    const char *name = a + (a[1] == '-' ? 2 : 1);
    size_t n = strcspn(name, "=");
    const char *val = NULL;
    if (name[n] == '=')
      val = name + n + 1;
    else if (i + 1 < argc && argv[i + 1][0] != '-')
      val = argv[++i]; /* etcd's flags that take no value are written --x=true */
    int k = flag_key(name, n);
    if (k < 0 || !val)
      continue;
    char where[EDR_CONF_FROM_MAX];
    snprintf(where, sizeof where, "%s (--%s)", from, edr_conf_keys[k].flag);
    set_value(c, (enum edr_conf_key)k, val, EDR_RANK_FLAG, where);
  }
}


void edr_conf_words_release(struct edr_conf_words *w) {
  for (int i = 0; i < w->n; i++)
    free(w->v[i]);
  w->n = 0;
}

void edr_conf_words_add(struct edr_conf_words *w, const char *s, bool bare) {
  if (w->n >= EDR_CONF_MAX_ARGS)
    return;
  char *d = dupn(s, strlen(s));
  if (d) {
    w->bare[w->n] = bare;
    w->v[w->n++] = d;
  }
}

static void split_words(const char *s, struct edr_conf_words *w) {
  while (*s) {
    while (is_space(*s))
      s++;
    if (!*s)
      break;
    struct edr_conf_buf b = {0};
    bool quoted = false;
    while (*s && !is_space(*s)) {
      if (*s == '"' || *s == '\'') {
        char q = *s++;
        quoted = true;
        for (; *s && *s != q; s++) {
          if (*s == '\\' && s[1] && q == '"')
            s++;
          edr_conf_buf_put(&b, *s);
        }
        if (*s)
          s++;
      } else {
        if (*s == '\\' && s[1])
          s++;
        edr_conf_buf_put(&b, *s++);
      }
    }
    const char *t = edr_conf_buf_str(&b);
    bool bare = !quoted && t[0] == '$' && t[1] != '{' && valid_var_name(t + 1, strlen(t + 1));
    edr_conf_words_add(w, t, bare);
    free(b.p);
  }
}

/* ${NAME} inside S replaced from c->vars (unknown: empty, as systemd). */
static void expand_braces(const struct edr_conf *c, const char *s, struct edr_conf_buf *out) {
  while (*s) {
    const char *end;
    if (s[0] == '$' && s[1] == '{' && (end = strchr(s + 2, '}')) &&
        valid_var_name(s + 2, (size_t)(end - s - 2))) {
      char name[130];
      snprintf(name, sizeof name, "%.*s", (int)(end - s - 2), s + 2);
      const char *v = edr_conf_var(c, name);
      for (; v && *v; v++)
        edr_conf_buf_put(out, *v);
      s = end + 1;
    } else {
      edr_conf_buf_put(out, *s++);
    }
  }
}

void edr_conf_exec(struct edr_conf *c) {
  if (!c->exec_start)
    return;
  struct edr_conf_words raw = {0}, argv = {0};
  split_words(c->exec_start, &raw);
  for (int i = 0; i < raw.n; i++) {
    if (raw.bare[i]) {
      const char *v = edr_conf_var(c, raw.v[i] + 1);
      struct edr_conf_words part = {0};
      split_words(v ? v : "", &part);
      for (int j = 0; j < part.n; j++)
        edr_conf_words_add(&argv, part.v[j], false);
      edr_conf_words_release(&part);
    } else {
      struct edr_conf_buf b = {0};
      expand_braces(c, raw.v[i], &b);
      edr_conf_words_add(&argv, edr_conf_buf_str(&b), false);
      free(b.p);
    }
  }
  edr_conf_args(c, argv.v, argv.n, c->exec_from);
  edr_conf_words_release(&raw);
  edr_conf_words_release(&argv);
}

/* ---- systemd units ------------------------------------------------------------------ */

/* %n %N %p %i %% of a unit file's value, for UNIT ("etcd.service"). */
static void specifiers(const char *s, const char *unit, struct edr_conf_buf *out) {
  size_t full = strlen(unit), base = strcspn(unit, ".");
  size_t prefix = strcspn(unit, "@.");
  for (; *s; s++) {
    if (*s != '%' || !s[1]) {
      edr_conf_buf_put(out, *s);
      continue;
    }
    const char *p = NULL;
    size_t n = 0;
    switch (*++s) {
    case 'n': p = unit, n = full; break;
    case 'N': p = unit, n = base; break;
    case 'p': p = unit, n = prefix; break;
    case 'i':
      if (unit[prefix] == '@')
        p = unit + prefix + 1, n = base > prefix ? base - prefix - 1 : 0;
      break;
    case '%': p = "%", n = 1; break;
    default: edr_conf_buf_put(out, '%'), edr_conf_buf_put(out, *s); break;
    }
    for (size_t i = 0; p && i < n; i++)
      edr_conf_buf_put(out, p[i]);
  }
}

int edr_conf_unit(struct edr_conf *c, const char *text, size_t len, const char *unit,
                  const char *from) {
  size_t pos = 0;
  int no, next = 1, found = 0;
  char file[256], *line;
  bool service = false;
  snprintf(file, sizeof file, "%s", from);
  while ((line = edr_conf_next_line(text, len, &pos, true, &no, &next))) {
    char *s = line;
    while (is_space(*s))
      s++;
    if (s == line && s[0] == '#' && s[1] == ' ' && s[2] == '/') {
      /* systemctl cat: "# /etc/systemd/system/etcd.service" starts a file */
      snprintf(file, sizeof file, "%s", s + 2);
      next = 1;
    } else if (*s == '[') {
      service = !strncmp(s, "[Service]", 9);
    } else if (service && *s && *s != '#' && *s != ';' && strchr(s, '=')) {
      char *eq = strchr(s, '='), *k_end = eq, *v = eq + 1;
      while (k_end > s && is_space(k_end[-1]))
        k_end--;
      while (is_space(*v))
        v++;
      *k_end = '\0';
      char where[EDR_CONF_FROM_MAX];
      snprintf(where, sizeof where, "%s:%d %s", file, no, s);
      if (!strcmp(s, "Environment")) {
        struct edr_conf_words w = {0};
        struct edr_conf_buf b = {0};
        specifiers(v, unit, &b);
        split_words(edr_conf_buf_str(&b), &w);
        for (int i = 0; i < w.n; i++) {
          char *e = strchr(w.v[i], '=');
          if (e && valid_var_name(w.v[i], (size_t)(e - w.v[i]))) {
            char vw[EDR_CONF_FROM_MAX];
            snprintf(vw, sizeof vw, "%s:%d (Environment=%.*s)", file, no,
                     (int)(e - w.v[i]), w.v[i]);
            add_var(c, w.v[i], (size_t)(e - w.v[i]), e + 1, strlen(e + 1), vw);
          }
        }
        edr_conf_words_release(&w);
        free(b.p);
      } else if (!strcmp(s, "EnvironmentFile")) {
        if (!*v) {
          for (size_t i = 0; i < c->n_env_files; i++)
            free(c->env_files[i]);
          c->n_env_files = 0;
        } else if (c->n_env_files < EDR_CONF_MAX_FILES) {
          bool opt = *v == '-';
          struct edr_conf_buf b = {0};
          specifiers(v + opt, unit, &b);
          c->env_optional[c->n_env_files] = opt;
          c->env_files[c->n_env_files] = dupn(edr_conf_buf_str(&b), b.len);
          if (c->env_files[c->n_env_files])
            c->n_env_files++;
          free(b.p);
        }
      } else if (!strcmp(s, "ExecStart")) {
        while (*v && strchr("@-:+!", *v))
          v++;
        free(c->exec_start);
        c->exec_start = NULL;
        if (*v) {
          struct edr_conf_buf b = {0};
          specifiers(v, unit, &b);
          c->exec_start = dupn(edr_conf_buf_str(&b), b.len);
          snprintf(c->exec_from, sizeof c->exec_from, "%s", where);
          free(b.p);
        }
      }
    }
    free(line);
  }
  found = c->exec_start != NULL;
  return found;
}

/* ---- YAML: etcd's config file ---------------------------------------- */

/* A plain or quoted YAML scalar from S (comment cut, trimmed), into OUT. */
void edr_conf_yaml_scalar(const char *s, struct edr_conf_buf *out) {
  while (is_space(*s))
    s++;
  if (*s == '"' || *s == '\'') {
    char q = *s++;
    for (; *s; s++) {
      if (q == '\'' && s[0] == '\'' && s[1] == '\'')
        s++;
      else if (q == '\'' && *s == '\'')
        break;
      else if (q == '"' && *s == '\\' && s[1])
        s++;
      else if (q == '"' && *s == '"')
        break;
      edr_conf_buf_put(out, *s);
    }
    return;
  }
  size_t keep = 0;
  for (; *s; s++) {
    if (*s == '#' && (out->len == 0 || is_space(out->p[out->len - 1])))
      break;
    edr_conf_buf_put(out, *s);
    if (!is_space(*s))
      keep = out->len;
  }
  if (out->p)
    out->p[out->len = keep] = '\0';
}

void edr_conf_yaml(struct edr_conf *c, const char *text, size_t len, const char *from) {
  size_t pos = 0;
  int no, next = 1;
  char section[64] = "", *line;
  while ((line = edr_conf_next_line(text, len, &pos, false, &no, &next))) {
    const char *s = line;
    while (*s == ' ')
      s++;
    size_t indent = (size_t)(s - line);
    size_t klen = strcspn(s, ":");
    if (*s && *s != '#' && *s != '-' && s[klen] == ':' &&
        (s[klen + 1] == '\0' || is_space(s[klen + 1])) && klen < 64) {
      struct edr_conf_buf v = {0};
      edr_conf_yaml_scalar(s + klen + 1, &v);
      const char *val = edr_conf_buf_str(&v);
      if (indent == 0)
        snprintf(section, sizeof section, "%.*s", (int)(!*val ? klen : 0), s);
      for (size_t k = 0; k < EDR_CONF__COUNT && *val; k++) {
        const char *sec = edr_conf_keys[k].yaml_section;
        bool here = indent == 0 ? !sec : sec && !strcmp(sec, section);
        if (here && strlen(edr_conf_keys[k].flag) == klen &&
            !strncmp(s, edr_conf_keys[k].flag, klen) && strcmp(val, "null") &&
            strcmp(val, "~")) {
          char where[EDR_CONF_FROM_MAX];
          snprintf(where, sizeof where, "%s:%d (%s)", from, no, edr_conf_keys[k].flag);
          set_value(c, (enum edr_conf_key)k, val, EDR_RANK_CONFIG, where);
        }
      }
      free(v.p);
    }
    free(line);
  }
}

/* ---- docker / podman inspect ------------------------------------------------------------- */

int edr_conf_inspect(struct edr_conf *c, const char *text, size_t len, const char *from) {
  json_t *doc = json_loadb(text, len, 0, NULL);
  json_t *ct = json_is_array(doc) ? json_array_get(doc, 0) : doc;
  if (!json_is_object(ct)) {
    json_decref(doc);
    return 0;
  }
  const char *name = json_string_value(json_object_get(ct, "Name"));
  if (name) {
    free(c->container);
    c->container = dupn(name + (name[0] == '/'), strlen(name + (name[0] == '/')));
  }
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(json_object_get(ct, "Config"), "Env"), i, v) {
    const char *e = json_string_value(v), *eq = e ? strchr(e, '=') : NULL;
    if (eq && valid_var_name(e, (size_t)(eq - e))) {
      char where[EDR_CONF_FROM_MAX];
      snprintf(where, sizeof where, "%s Config.Env (%.*s)", from, (int)(eq - e), e);
      add_var(c, e, (size_t)(eq - e), eq + 1, strlen(eq + 1), where);
    }
  }
  json_array_foreach(json_object_get(ct, "Mounts"), i, v) {
    const char *src = json_string_value(json_object_get(v, "Source"));
    const char *dst = json_string_value(json_object_get(v, "Destination"));
    if (src && dst && c->n_mounts < 16) {
      c->mount_src[c->n_mounts] = dupn(src, strlen(src));
      c->mount_dst[c->n_mounts] = dupn(dst, strlen(dst));
      if (c->mount_src[c->n_mounts] && c->mount_dst[c->n_mounts])
        c->n_mounts++;
      else
        free(c->mount_src[c->n_mounts]), free(c->mount_dst[c->n_mounts]);
    }
  }
  struct edr_conf_words w = {0};
  const char *path = json_string_value(json_object_get(ct, "Path"));
  edr_conf_words_add(&w, path ? path : "", false);
  json_array_foreach(json_object_get(ct, "Args"), i, v) if (json_is_string(v))
      edr_conf_words_add(&w, json_string_value(v), false);
  char where[EDR_CONF_FROM_MAX];
  snprintf(where, sizeof where, "%s Args", from);
  edr_conf_args(c, w.v, w.n, where);
  edr_conf_words_release(&w);
  json_decref(doc);
  return 1;
}

char *edr_conf_host_path(const struct edr_conf *c, const char *path) {
  size_t best = 0;
  const struct edr_conf *m = c;
  long which = -1;
  for (size_t i = 0; i < m->n_mounts; i++) {
    size_t n = strlen(m->mount_dst[i]);
    while (n > 1 && m->mount_dst[i][n - 1] == '/')
      n--;
    if (n > best && !strncmp(path, m->mount_dst[i], n) &&
        (path[n] == '/' || path[n] == '\0')) {
      best = n;
      which = (long)i;
    }
  }
  if (which < 0)
    return dupn(path, strlen(path));
  const char *src = m->mount_src[which], *rest = path + best;
  size_t sl = strlen(src), rl = strlen(rest);
  char *out = malloc(sl + rl + 1);
  if (out) {
    memcpy(out, src, sl);
    memcpy(out + sl, rest, rl + 1);
  }
  return out;
}
