/*
 * spec_yaml.c - a cluster spec file into the jansson tree spec.c validates
 * (spec_yaml.h): JSON through jansson as it always was, YAML through
 * libyaml's events, with a map from each value to its line.  The rules for
 * what a plain YAML scalar becomes are the table and plain() below; this
 * file owns the tree it builds until it hands it over, and the line map.
 */
#include "spec_yaml.h"

#include "array.h"
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum { MAX_DEPTH = 64, MAX_FILE = 16 << 20 };

/* Where one value stood: CONTAINER[KEY] or CONTAINER[INDEX]. */
struct where {
  const json_t *container;
  char *key;                /* NULL: an array entry */
  size_t index;
  int line;
  const char *hint;         /* what YAML read WORD as ("false"), or NULL */
  char *word;               /* the plain text behind a hinted value */
};

struct edr_spec_lines {
  struct where *v;
  size_t n, cap;
};

void edr_spec_lines_free(struct edr_spec_lines *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].key);
    free(l->v[i].word);
  }
  free(l->v);
  free(l);
}

static int lines_add(struct edr_spec_lines *l, const json_t *container, const char *key,
                     size_t index, int line, const char *hint, const char *word) {
  struct where *v = edr_array_grow(l->v, l->n, &l->cap, sizeof *v, 64);
  if (!v)
    return EDR_ENOMEM;
  l->v = v;
  struct where *w = &l->v[l->n];
  *w = (struct where){.container = container, .index = index, .line = line, .hint = hint};
  if ((key && !(w->key = strdup(key))) || (hint && !(w->word = strdup(word)))) {
    free(w->key);
    return EDR_ENOMEM;
  }
  l->n++;
  return 0;
}

static const struct where *lines_find(const struct edr_spec_lines *l, const json_t *container,
                                      const char *key, size_t index) {
  for (size_t i = 0; l && i < l->n; i++) {
    const struct where *w = &l->v[i];
    if (w->container == container &&
        (key ? w->key && !strcmp(w->key, key) : !w->key && w->index == index))
      return w;
  }
  return NULL;
}

int edr_spec_line(const struct edr_spec_lines *l, const json_t *root, const char *member,
                  const char *key, char *hint, size_t hintlen) {
  if (hintlen)
    hint[0] = '\0';
  if (!l || !json_is_object(root))
    return 0;
  const json_t *obj = root, *members = json_object_get(root, "members");
  size_t idx = 0;
  if (member && !strcmp(member, EDR_SPEC_CMDLINE))
    return 0;
  if (member) {
    json_t *mj;
    obj = NULL;
    if (member[0] == '#') {
      idx = strtoul(member + 1, NULL, 10) - 1;
      obj = json_array_get(members, idx);
    } else { /* the last of that name: a name given twice is the second's error */
      size_t i;
      json_array_foreach(members, i, mj) {
        const char *name = json_string_value(json_object_get(mj, "name"));
        if (name && !strcmp(name, member)) {
          obj = mj;
          idx = i;
        }
      }
    }
    if (!obj)
      return 0; /* the command line's, not the file's */
  }
  const struct where *w = key ? lines_find(l, obj, key, 0) : NULL;
  if (!w && member)
    w = lines_find(l, members, NULL, idx);
  if (!w)
    return 0;
  if (w->hint && !w->word[0])
    snprintf(hint, hintlen, "YAML reads the empty value as %s", w->hint);
  else if (w->hint)
    snprintf(hint, hintlen, "YAML reads the unquoted %.40s as %s: quote it to mean the word",
             w->word, w->hint);
  return w->line;
}

/* ---- reading ----------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && !strcmp(s + n - k, suf);
}

static bool yaml_content(const char *text, size_t len) {
  size_t i = 0;
  if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
    i = 3;
  while (i < len && strchr(" \t\r\n", text[i]))
    i++;
  return i == len || (text[i] != '{' && text[i] != '[');
}

bool edr_spec_is_yaml(const char *path, const char *text) {
  if (path && (has_suffix(path, ".yaml") || has_suffix(path, ".yml")))
    return true;
  if (path && has_suffix(path, ".json"))
    return false;
  if (text)
    return yaml_content(text, strlen(text));
  char head[512];
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f)
    return false; /* jansson words what is wrong with it */
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  return yaml_content(head, n);
}

/* The whole file, NUL-terminated; NULL with ERR set. */
static char *read_file(const char *path, size_t *len, struct edr_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    edr_error_set(err, EDR_EINVAL, "cannot read: unable to open %s: %s", path,
                  strerror(errno));
    return NULL;
  }
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf)
      break;
    n += fread(buf + n, 1, cap - 1 - n, f);
    if (n < cap - 1 || cap > MAX_FILE)
      break;
    char *b = realloc(buf, cap * 2);
    if (!b) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = b;
    cap *= 2;
  }
  bool bad = ferror(f);
  fclose(f);
  if (!buf || bad || cap > MAX_FILE) {
    edr_error_set(err, EDR_EINVAL, "cannot read: %s", !buf ? "out of memory"
                                                      : bad ? strerror(EIO)
                                                            : "larger than 16 MiB");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* ---- YAML scalars -------------------------------------------------------- */

/* What a hinted word was read as (edr_spec_line words the hint). */
static const char HINT_11_TRUE[] = "true", HINT_11_FALSE[] = "false", HINT_NULL[] = "null";

/* The plain words that are not text (YAML 1.2's core schema, plus YAML
 * 1.1's booleans, which operators write: sudo: yes), each also Capitalized
 * and in CAPITALS. */
static const struct word {
  const char *text;
  int value;                /* 1 true, 0 false, -1 null */
  const char *hint;
} words[] = {
  {.text = "true", .value = 1},
  {.text = "false", .value = 0},
  {.text = "yes", .value = 1, .hint = HINT_11_TRUE},
  {.text = "on", .value = 1, .hint = HINT_11_TRUE},
  {.text = "no", .value = 0, .hint = HINT_11_FALSE},
  {.text = "off", .value = 0, .hint = HINT_11_FALSE},
  {.text = "null", .value = -1, .hint = HINT_NULL},
  {.text = "~", .value = -1, .hint = HINT_NULL},
  {.text = "", .value = -1, .hint = HINT_NULL},
};

/* S[N] is WORD, Word or WORD in capitals. */
static bool is_word(const char *s, size_t n, const char *word) {
  if (strlen(word) != n)
    return false;
  bool lower = true, cap = true, upper = true;
  for (size_t i = 0; i < n; i++) {
    char w = word[i], up = w >= 'a' && w <= 'z' ? (char)(w - 'a' + 'A') : w;
    lower &= s[i] == w;
    cap &= s[i] == (i ? w : up);
    upper &= s[i] == up;
  }
  return lower || cap || upper;
}

static bool all_digits(const char *s, size_t n) {
  if (!n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

/* A float as JSON writes one: -1.5, 2e3, .5 (never .inf or 1_0.0). */
static bool is_float(const char *s, size_t n) {
  size_t i = s[0] == '-' || s[0] == '+';
  size_t d = i;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  size_t intd = i - d;
  bool dot = i < n && s[i] == '.';
  size_t fracd = 0;
  if (dot)
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
      fracd++;
  if (intd + fracd == 0)
    return false;
  bool exp = i < n && (s[i] == 'e' || s[i] == 'E');
  if (exp) {
    i++;
    if (i < n && (s[i] == '-' || s[i] == '+'))
      i++;
    if (!all_digits(s + i, n - i))
      return false;
    i = n;
  }
  return i == n && (dot || exp);
}

/* What the plain scalar S[N] is (docs/spec.md "YAML"). */
static json_t *plain(const char *s, size_t n, const char **hint) {
  *hint = NULL;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (is_word(s, n, words[i].text)) {
      *hint = words[i].hint;
      return words[i].value < 0 ? json_null() : json_boolean(words[i].value);
    }
  size_t sign = n && (s[0] == '-' || s[0] == '+');
  if (all_digits(s + sign, n - sign)) {
    /* 0700 is a mode as written, not YAML 1.1's octal 448 */
    if (s[sign] == '0' && n - sign > 1)
      return json_stringn(s, n);
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    return errno ? json_stringn(s, n) : json_integer(v);
  }
  if (is_float(s, n))
    return json_real(strtod(s, NULL));
  return json_stringn(s, n);
}

/* ---- YAML events into a tree ------------------------------------------- */

struct builder {
  json_t *root;
  json_t *stack[MAX_DEPTH];
  char *key[MAX_DEPTH];      /* a mapping's key waiting for its value */
  int key_line[MAX_DEPTH];
  int depth;
  int docs;
  struct edr_spec_lines *lines;
  struct edr_error *err;     /* the caller's: why the text was refused */
  int line;                  /* of the problem */
};

static int bfail(struct builder *b, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bfail(struct builder *b, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  edr_error_vset(b->err, EDR_EINVAL, fmt, ap);
  va_end(ap);
  b->line = line;
  return EDR_EINVAL;
}

/* Put V (stolen) where the structure says, at LINE; HINT (a format of
 * WORD, the plain text) when YAML's reading of it may surprise. */
static int place(struct builder *b, json_t *v, int line, const char *hint, const char *word) {
  if (!v)
    return bfail(b, line, "not valid UTF-8 text");
  if (b->depth == 0) {
    if (b->root) {
      json_decref(v);
      return bfail(b, line, "a second value after the document's");
    }
    b->root = v;
    return 0;
  }
  json_t *top = b->stack[b->depth - 1];
  int rc;
  if (json_is_array(top)) {
    json_array_append_new(top, v);
    rc = lines_add(b->lines, top, NULL, json_array_size(top) - 1, line, hint, word);
  } else {
    char *key = b->key[b->depth - 1];
    json_object_set_new(top, key, v);
    rc = lines_add(b->lines, top, key, 0, b->key_line[b->depth - 1], hint, word);
    free(key);
    b->key[b->depth - 1] = NULL;
  }
  return rc;
}

/* A scalar where a mapping wants its key: the text as written, always. */
static int take_key(struct builder *b, const yaml_event_t *e, int line) {
  const char *k = (const char *)e->data.scalar.value;
  size_t n = e->data.scalar.length;
  json_t *top = b->stack[b->depth - 1];
  if (memchr(k, '\0', n))
    return bfail(b, line, "a key contains a NUL byte");
  if (json_object_get(top, k))
    return bfail(b, line, "duplicate key '%.80s'", k);
  if (!(b->key[b->depth - 1] = strdup(k)))
    return EDR_ENOMEM;
  b->key_line[b->depth - 1] = line;
  return 0;
}

static bool wants_key(const struct builder *b) {
  return b->depth > 0 && json_is_object(b->stack[b->depth - 1]) && !b->key[b->depth - 1];
}

static int on_scalar(struct builder *b, const yaml_event_t *e, int line) {
  const char *tag = (const char *)e->data.scalar.tag;
  if (tag && strcmp(tag, "!") && strcmp(tag, YAML_STR_TAG))
    return bfail(b, line, "tag '%.60s' is not supported (only !!str)", tag);
  if (wants_key(b))
    return take_key(b, e, line);
  const char *s = (const char *)e->data.scalar.value;
  size_t n = e->data.scalar.length;
  const char *hint = NULL;
  json_t *v = !tag && e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain(s, n, &hint)
                                                                      : json_stringn(s, n);
  return place(b, v, line, hint, s);
}

static int on_open(struct builder *b, const yaml_event_t *e, int line, bool map) {
  const char *tag = (const char *)(map ? e->data.mapping_start.tag
                                       : e->data.sequence_start.tag);
  if (tag && strcmp(tag, "!") && strcmp(tag, map ? YAML_MAP_TAG : YAML_SEQ_TAG))
    return bfail(b, line, "tag '%.60s' is not supported", tag);
  if (wants_key(b))
    return bfail(b, line, "a key must be text, not a %s", map ? "mapping" : "list");
  if (b->depth == MAX_DEPTH)
    return bfail(b, line, "nested deeper than %d levels", MAX_DEPTH);
  json_t *v = map ? json_object() : json_array();
  if (!v)
    return EDR_ENOMEM;
  json_incref(v);
  int rc = place(b, v, line, NULL, NULL);
  if (rc) {
    json_decref(v);
    return rc;
  }
  b->stack[b->depth] = v; /* the reference taken above */
  b->key[b->depth] = NULL;
  b->depth++;
  return 0;
}

static void on_close(struct builder *b) {
  if (b->depth > 0) {
    b->depth--;
    free(b->key[b->depth]);
    b->key[b->depth] = NULL;
    json_decref(b->stack[b->depth]);
  }
}

static int on_event(struct builder *b, const yaml_event_t *e) {
  int line = (int)e->start_mark.line + 1;
  switch (e->type) {
  case YAML_DOCUMENT_START_EVENT:
    if (++b->docs > 1)
      return bfail(b, line, "a second YAML document ('---'): a cluster spec is one document");
    return 0;
  case YAML_ALIAS_EVENT:
    return bfail(b, line, "aliases (*%.60s) are not supported: write the value out (a "
                 "cluster-wide field applies to every member)", e->data.alias.anchor);
  case YAML_SCALAR_EVENT:
    return on_scalar(b, e, line);
  case YAML_SEQUENCE_START_EVENT:
    return on_open(b, e, line, false);
  case YAML_MAPPING_START_EVENT:
    return on_open(b, e, line, true);
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    on_close(b);
    return 0;
  default:
    return 0;
  }
}

static int load_yaml(const char *text, size_t len, struct builder *b) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p))
    return EDR_ENOMEM;
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  int rc = 0;
  for (bool done = false; !done && !rc;) {
    yaml_event_t e;
    if (!yaml_parser_parse(&p, &e)) {
      if (p.error == YAML_MEMORY_ERROR)
        rc = EDR_ENOMEM;
      else
        rc = bfail(b, (int)p.problem_mark.line + 1, "column %d: %s%s%s",
                   (int)p.problem_mark.column + 1, p.problem ? p.problem : "not valid YAML",
                   p.context ? " " : "", p.context ? p.context : "");
      break;
    }
    done = e.type == YAML_STREAM_END_EVENT;
    rc = on_event(b, &e);
    yaml_event_delete(&e);
  }
  yaml_parser_delete(&p);
  while (b->depth)
    on_close(b);
  if (!rc && !json_is_object(b->root))
    rc = bfail(b, b->root ? 1 : 0, "expected a mapping (key: value lines) with a "
               "\"members\" list");
  return rc;
}

int edr_spec_load(const char *path, const char *text, json_t **root,
                  struct edr_spec_lines **lines, int *line, struct edr_error *err) {
  *root = NULL;
  *lines = NULL;
  *line = 0;
  edr_error_clear(err);
  if (!edr_spec_is_yaml(path, text)) {
    json_error_t je;
    *root = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je)
                 : json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (*root)
      return 0;
    if (!text && je.line <= 0)
      return edr_error_set(err, EDR_EINVAL, "cannot read: %s", je.text);
    return edr_error_set(err, EDR_EINVAL, "line %d, column %d: %s", je.line, je.column,
                         je.text);
  }
  size_t len = text ? strlen(text) : 0;
  char *buf = text ? NULL : read_file(path, &len, err);
  if (!text && !buf)
    return EDR_EINVAL;
  int rc = edr_spec_load_yaml(text ? text : buf, len, root, lines, line, err);
  free(buf);
  return rc;
}

int edr_spec_load_yaml(const char *text, size_t len, json_t **root,
                       struct edr_spec_lines **lines, int *line, struct edr_error *err) {
  struct builder b = {.err = err, .lines = calloc(1, sizeof *b.lines)};
  *root = NULL;
  *lines = NULL;
  *line = 0;
  edr_error_clear(err);
  int rc = b.lines ? load_yaml(text, len, &b) : EDR_ENOMEM;
  if (rc && !err->code)
    err->code = rc; /* out of memory: the code says it all */
  if (rc) {
    json_decref(b.root);
    edr_spec_lines_free(b.lines);
    *line = b.line;
    return rc;
  }
  *root = b.root;
  *lines = b.lines;
  return 0;
}
