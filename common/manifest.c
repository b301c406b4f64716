/*
 * manifest.c - read and edit the `command:` list of kubeadm's etcd static
 * pod manifest (manifest.h).  A line scanner for the block style kubeadm
 * writes; anything else is refused with its line number.
 */
#include "manifest.h"

#include "err.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MANIFEST_MAX_ITEMS = 256 };

static int fail(struct edr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(struct edr_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err)
    edr_error_vset(err, EDR_EINVAL, fmt, ap);
  va_end(ap);
  return EDR_EINVAL;
}

struct line {
  const char *s;       /* start of the line */
  size_t len;          /* without the newline */
  size_t next;         /* offset of the next line */
  int indent;          /* leading spaces */
};

static void line_at(const char *text, size_t len, size_t off, struct line *l) {
  const char *nl = memchr(text + off, '\n', len - off);
  l->s = text + off;
  l->len = nl ? (size_t)(nl - l->s) : len - off;
  l->next = nl ? off + l->len + 1 : len;
  if (l->len && l->s[l->len - 1] == '\r')
    l->len--;
  l->indent = 0;
  while ((size_t)l->indent < l->len && l->s[l->indent] == ' ')
    l->indent++;
}

static bool blank_or_comment(const struct line *l) {
  return (size_t)l->indent == l->len || l->s[l->indent] == '#';
}

/* The scalar after "- " on line L, unquoted, as a new string. */
static char *item_value(const struct line *l, struct edr_error *err, unsigned lineno,
                        int *rc) {
  const char *v = l->s + l->indent + 2;
  size_t n = l->len - (size_t)l->indent - 2;
  while (n && (*v == ' ' || *v == '\t'))
    v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
    for (size_t i = 1; i + 1 < n; i++)
      if (v[i] == v[0] || v[i] == '\\') {
        *rc = fail(err, "line %u: a quoted command item with escapes or inner "
                   "quotes; write it as kubeadm does, one plain --flag=value per line", lineno);
        return NULL;
      }
    v++, n -= 2;
  } else {
    for (size_t i = 0; i < n; i++)
      if ((v[i] == '#' && i > 0 && v[i - 1] == ' ') || (v[i] == ':' && i + 1 < n && v[i + 1] == ' ') ||
          (i == 0 && strchr("[{&*!|>%@`\"'", v[i]))) {
        *rc = fail(err, "line %u: a command item this reader does not take as a "
                   "plain --flag=value ('%.*s')", lineno, (int)(n > 60 ? 60 : n), v);
        return NULL;
      }
  }
  char *s = strndup(v, n);
  if (!s)
    *rc = EDR_ENOMEM;
  return s;
}

int edr_manifest_parse(const char *text, size_t len, struct edr_manifest *out,
                       struct edr_error *err) {
  memset(out, 0, sizeof *out);
  struct line l;
  unsigned lineno = 0;
  size_t off = 0;
  int key_indent = -1, rc = 0;
  bool in_list = false, done = false;
  while (off < len && !rc) {
    line_at(text, len, off, &l);
    lineno++;
    size_t here = off;
    off = l.next;
    const char *t = l.s + l.indent;
    size_t tl = l.len - (size_t)l.indent;
    if (!out->image && tl > 6 && !strncmp(t, "image:", 6)) {
      const char *v = t + 6;
      while (*v == ' ')
        v++;
      size_t vn = tl - (size_t)(v - t);
      if (vn >= 2 && (*v == '"' || *v == '\'') && v[vn - 1] == *v)
        v++, vn -= 2;
      if (vn && !(out->image = strndup(v, vn)))
        rc = EDR_ENOMEM;
      continue;
    }
    if (done)
      continue;
    if (!in_list) {
      bool dash = tl >= 2 && t[0] == '-' && t[1] == ' ';
      const char *k = dash ? t + 2 : t;
      while (dash && *k == ' ')
        k++;
      if (!strncmp(k, "command:", 8)) {
        const char *rest = k + 8;
        while (*rest == ' ')
          rest++;
        if (rest < l.s + l.len && *rest != '#')
          rc = fail(err, "line %u: 'command:' in flow style; this reader takes "
                    "kubeadm's layout: 'command:' then one '- item' per line", lineno);
        key_indent = (int)(k - l.s);
        in_list = true;
      }
      continue;
    }
    if (blank_or_comment(&l))
      continue;
    bool item = tl >= 2 && t[0] == '-' && (t[1] == ' ' || tl == 1);
    if (item && l.indent >= key_indent - 2 && l.indent <= key_indent + 8 &&
        (out->argc == 0 || l.indent == out->indent)) {
      if (out->argc == 0) {
        out->indent = l.indent;
        out->items_begin = here;
      }
      if (out->argc >= MANIFEST_MAX_ITEMS) {
        rc = fail(err, "line %u: more than %d command items", lineno,
                  MANIFEST_MAX_ITEMS);
        break;
      }
      char **nv = realloc(out->argv, (out->argc + 2) * sizeof *nv);
      if (!nv) {
        rc = EDR_ENOMEM;
        break;
      }
      out->argv = nv;
      if (!(out->argv[out->argc] = item_value(&l, err, lineno, &rc)))
        break;
      out->argv[++out->argc] = NULL;
      out->items_end = l.next < len || (l.len && text[len - 1] == '\n') ? l.next : len;
      continue;
    }
    done = true;
  }
  if (!rc && !out->argc)
    rc = fail(err, "no 'command:' list with items found: not a static pod "
              "manifest in kubeadm's layout");
  if (rc) {
    if (rc == EDR_ENOMEM && err)
      edr_error_set(err, EDR_ENOMEM, "out of memory");
    edr_manifest_release(out);
  }
  return rc;
}

void edr_manifest_release(struct edr_manifest *m) {
  for (size_t i = 0; i < m->argc; i++)
    free(m->argv[i]);
  free(m->argv);
  free(m->image);
  memset(m, 0, sizeof *m);
}

/* The index of the item setting --NAME, or -1; *VAL its value. */
static long find_flag(char *const *argv, size_t argc, const char *name, const char **val) {
  size_t nl = strlen(name);
  for (size_t i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) || strncmp(a + 2, name, nl))
      continue;
    if (a[2 + nl] == '=') {
      *val = a + 3 + nl;
      return (long)i;
    }
    if (!a[2 + nl]) {
      *val = i + 1 < argc && argv[i + 1][0] != '-' ? argv[i + 1] : "";
      return (long)i;
    }
  }
  return -1;
}

const char *edr_manifest_flag(const struct edr_manifest *m, const char *name) {
  const char *v = NULL;
  return find_flag(m->argv, m->argc, name, &v) >= 0 ? v : NULL;
}

bool edr_manifest_image_version(const struct edr_manifest *m, char *buf, size_t len) {
  if (!m->image)
    return false;
  const char *slash = strrchr(m->image, '/');
  const char *colon = strrchr(slash ? slash : m->image, ':');
  if (!colon || !isdigit((unsigned char)colon[1]))
    return false;
  const char *v = colon + 1;
  size_t n = strspn(v, "0123456789.");
  if (n == 0 || n + 1 > len)
    return false;
  memcpy(buf, v, n);
  buf[n] = '\0';
  return true;
}

bool edr_manifest_env_flag(const char *env, char *buf, size_t len) {
  if (strncmp(env, "ETCD_", 5) || !env[5] || strlen(env + 5) + 1 > len)
    return false;
  size_t i = 0;
  for (const char *p = env + 5; *p; p++) {
    if (!(isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
      return false;
    buf[i++] = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
  }
  buf[i] = '\0';
  return true;
}

bool edr_manifest_value_ok(const char *v) {
  size_t n = strlen(v);
  if (n > 4096 || (n && (v[0] == ' ' || v[n - 1] == ' ')))
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '\\' || c == '$' || c == '`' ||
        (c == '#' && i && v[i - 1] == ' ') || (c == ':' && v[i + 1] == ' '))
      return false;
  }
  return true;
}

static bool flag_name_ok(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
      return false;
  return true;
}

int edr_manifest_set_flags(const char *text, size_t len, const char *const *names,
                           const char *const *values, size_t n, char **out, size_t *outlen,
                           struct edr_error *err) {
  *out = NULL;
  *outlen = 0;
  for (size_t k = 0; k < n; k++) {
    if (!flag_name_ok(names[k]))
      return fail(err, "'%s' is not a flag name (lowercase letters, digits, '-')",
                  names[k]);
    if (values[k] && !edr_manifest_value_ok(values[k]))
      return fail(err, "the value for --%s has a character that cannot stand in a "
                  "plain YAML item (quote, '\\', '$', '`', ' #', ': ' or a control character)",
                  names[k]);
  }
  struct edr_manifest m;
  int rc = edr_manifest_parse(text, len, &m, err);
  if (rc)
    return rc;
  size_t cap = len + 64;
  for (size_t k = 0; k < n; k++)
    cap += (size_t)m.indent + strlen(names[k]) + (values[k] ? strlen(values[k]) : 0) + 8;
  char *o = malloc(cap);
  bool *done = calloc(n ? n : 1, sizeof *done);
  if (!o || !done) {
    free(o);
    free(done);
    edr_manifest_release(&m);
    return err ? edr_error_set(err, EDR_ENOMEM, "out of memory") : EDR_ENOMEM;
  }
  size_t w = 0, off = 0;
  memcpy(o, text, m.items_begin);
  w = m.items_begin;
  off = m.items_begin;
  size_t idx = 0;
  while (off < m.items_end) {
    struct line l;
    line_at(text, len, off, &l);
    bool item = (size_t)l.indent < l.len && l.s[l.indent] == '-' && l.indent == m.indent;
    bool drop = false;
    if (item) {
      const char *a = m.argv[idx++];
      for (size_t k = 0; k < n && !drop; k++) {
        size_t nl = strlen(names[k]);
        if (strncmp(a, "--", 2) || strncmp(a + 2, names[k], nl) ||
            (a[2 + nl] != '=' && a[2 + nl] != '\0'))
          continue;
        drop = true;
        if (values[k] && !done[k])
          w += (size_t)sprintf(o + w, "%*s- --%s=%s\n", m.indent, "", names[k], values[k]);
        done[k] = true;
      }
    }
    if (!drop) {
      memcpy(o + w, l.s, l.next - off);
      w += l.next - off;
      if (l.next == len && (w == 0 || o[w - 1] != '\n'))
        o[w++] = '\n';
    }
    off = l.next;
  }
  for (size_t k = 0; k < n; k++)
    if (!done[k] && values[k])
      w += (size_t)sprintf(o + w, "%*s- --%s=%s\n", m.indent, "", names[k], values[k]);
  if (m.items_end < len) {
    memcpy(o + w, text + m.items_end, len - m.items_end);
    w += len - m.items_end;
  }
  o[w] = '\0';
  free(done);
  edr_manifest_release(&m);
  *out = o;
  *outlen = w;
  return 0;
}
