/*
 * etcdconf_manifest.c - the static pod manifest half of etcdconf.h: the
 * flags of the first `command:` list (block style, one `- item` a line, or
 * a flow list) whose first word is etcd, handed to edr_conf_args() with
 * the manifest's line.  kubeadm's own manifest reader (the preset's) may
 * take this file's place: only edr_conf_manifest() is used elsewhere.
 */
#include "etcdconf.h"
#include "etcdconf_text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_etcd_program(const char *w) {
  const char *base = strrchr(w, '/');
  return !strcmp(base ? base + 1 : w, "etcd");
}

int edr_conf_manifest(struct edr_conf *c, const char *text, size_t len, const char *from) {
  size_t pos = 0;
  int no, next = 1, found = 0, cmd_line = 0;
  long key_col = -1; /* column of the `command:` key being read, or -1 */
  struct edr_conf_words w = {0};
  char *line;
  while (!found && (line = edr_conf_next_line(text, len, &pos, false, &no, &next))) {
    const char *s = line;
    while (*s == ' ')
      s++;
    long col = (long)(s - line);
    bool item = s[0] == '-' && (s[1] == ' ' || !s[1]);
    if (key_col >= 0 && *s && *s != '#' && !(item && col >= key_col)) {
      found = w.n > 0 && is_etcd_program(w.v[0]);
      if (!found)
        edr_conf_words_release(&w);
      key_col = -1;
    }
    if (key_col >= 0 && item) {
      struct edr_conf_buf b = {0};
      edr_conf_yaml_scalar(s + 1, &b);
      edr_conf_words_add(&w, edr_conf_buf_str(&b), false);
      free(b.p);
    } else if (!found) {
      const char *k = s;
      if (item)
        for (k = s + 1; *k == ' ';)
          k++;
      if (!strncmp(k, "command:", 8)) {
        const char *rest = k + 8;
        while (*rest == ' ' || *rest == '\t')
          rest++;
        cmd_line = no;
        if (*rest == '[') { /* flow style: ["etcd", "--name=m1"] */
          json_t *arr = json_loads(rest, JSON_DISABLE_EOF_CHECK, NULL);
          size_t i;
          json_t *v;
          json_array_foreach(arr, i, v) if (json_is_string(v))
              edr_conf_words_add(&w, json_string_value(v), false);
          json_decref(arr);
          found = w.n > 0 && is_etcd_program(w.v[0]);
          if (!found)
            edr_conf_words_release(&w);
        } else if (!*rest || *rest == '#') {
          key_col = (long)(k - line);
        }
      }
    }
    free(line);
  }
  if (!found && key_col >= 0)
    found = w.n > 0 && is_etcd_program(w.v[0]);
  if (found) {
    char where[EDR_CONF_FROM_MAX];
    snprintf(where, sizeof where, "%s:%d command", from, cmd_line);
    edr_conf_args(c, w.v, w.n, where);
  }
  edr_conf_words_release(&w);
  return found;
}

