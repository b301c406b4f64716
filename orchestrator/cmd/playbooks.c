/*
 * playbooks.c - where `etcd-dr run NAME` finds a shipped playbook: a
 * PLAYBOOK with a '/' or ending in ".json" is a path; any other word is a
 * name looked up as NAME.json in, in this order, $ETCD_DR_PLAYBOOKS, the
 * share/etcd-dr/playbooks beside the installed etcd-dr (bin/../share), the
 * data dir it was configured with, and, for an etcd-dr run from its build
 * dir, the source tree's playbooks/.  `run --list` prints the same search.
 */
#include "playbooks.h"

#include "log.h"
#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef EDR_PLAYBOOK_DIR
#define EDR_PLAYBOOK_DIR "/usr/local/share/etcd-dr/playbooks"
#endif

enum { MAX_DIRS = 4, MAX_BOOKS = 256, LIST_INDENT = 20, LIST_WIDTH = 79 };

/* The directories, in search order, that exist; returns how many. */
static size_t search_dirs(char dirs[MAX_DIRS][PATH_MAX]) {
  char self[PATH_MAX - 64], cand[MAX_DIRS][PATH_MAX];  /* room for the suffix */
  size_t nc = 0, n = 0;
  const char *env = getenv("ETCD_DR_PLAYBOOKS");
  if (env && *env)
    snprintf(cand[nc++], PATH_MAX, "%s", env);
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  char *slash = len > 0 ? (self[len] = '\0', strrchr(self, '/')) : NULL;
  if (slash) {
    *slash = '\0';
    snprintf(cand[nc++], PATH_MAX, "%s/../share/etcd-dr/playbooks", self);
  }
  snprintf(cand[nc++], PATH_MAX, "%s", EDR_PLAYBOOK_DIR);
#if defined(EDR_BUILD_DIR) && defined(EDR_SOURCE_PLAYBOOKS)
  char build[PATH_MAX];
  if (slash && realpath(EDR_BUILD_DIR, build) && realpath(self, cand[nc]) &&
      !strcmp(build, cand[nc]))
    snprintf(cand[nc++], PATH_MAX, "%s", EDR_SOURCE_PLAYBOOKS);
#endif
  for (size_t i = 0; i < nc; i++) {
    char real[PATH_MAX];
    bool seen = false;
    if (!realpath(cand[i], real))
      continue;
    for (size_t k = 0; k < n; k++)
      seen |= !strcmp(dirs[k], real);
    if (!seen)
      snprintf(dirs[n++], PATH_MAX, "%s", real);
  }
  return n;
}

bool edr_playbook_is_path(const char *arg) {
  size_t len = strlen(arg);
  return strchr(arg, '/') || (len > 5 && !strcmp(arg + len - 5, ".json"));
}

char *edr_playbook_find(const char *arg) {
  char dirs[MAX_DIRS][PATH_MAX];
  if (edr_playbook_is_path(arg))
    return strdup(arg);
  size_t n = search_dirs(dirs);
  for (size_t i = 0; i < n; i++) {
    char *p = edr_asprintf("%s/%s.json", dirs[i], arg);
    if (p && access(p, R_OK) == 0)
      return p;
    free(p);
  }
  return NULL;
}

struct book {
  char name[128];
  char *path;
  char *description;
};

static int by_name(const void *a, const void *b) {
  return strcmp(((const struct book *)a)->name, ((const struct book *)b)->name);
}

/* Every NAME.json of the search dirs, the first of a name only. */
static size_t collect(struct book *books, size_t max) {
  char dirs[MAX_DIRS][PATH_MAX];
  size_t nd = search_dirs(dirs), n = 0;
  for (size_t i = 0; i < nd; i++) {
    DIR *d = opendir(dirs[i]);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
      size_t len = strlen(e->d_name);
      if (len <= 5 || len - 5 >= sizeof books[n].name || strcmp(e->d_name + len - 5, ".json"))
        continue;
      bool seen = false;
      for (size_t k = 0; k < n; k++)
        seen |= strlen(books[k].name) == len - 5 && !strncmp(books[k].name, e->d_name, len - 5);
      if (seen)
        continue;
      snprintf(books[n].name, sizeof books[n].name, "%.*s", (int)(len - 5), e->d_name);
      books[n].path = edr_asprintf("%s/%s", dirs[i], e->d_name);
      json_t *j = books[n].path ? json_load_file(books[n].path, 0, NULL) : NULL;
      const char *desc = json_string_value(json_object_get(j, "description"));
      books[n].description = strdup(desc ? desc : "");
      json_decref(j);
      n++;
    }
    if (d)
      closedir(d);
  }
  qsort(books, n, sizeof *books, by_name);
  return n;
}

/* TEXT in lines of at most LIST_WIDTH columns, indented LIST_INDENT. */
static void print_wrapped(FILE *out, const char *text) {
  size_t col = 0;
  for (const char *p = text; *p;) {
    p += strspn(p, " ");
    size_t len = strcspn(p, " ");
    if (!len)
      break;
    if (col && col + 1 + len > LIST_WIDTH - LIST_INDENT) {
      fputc('\n', out);
      col = 0;
    }
    fprintf(out, "%*s%.*s", col ? 1 : LIST_INDENT, "", (int)len, p);
    col += (col ? 1 : 0) + len;
    p += len;
  }
  fputc('\n', out);
}

int edr_playbook_list(FILE *out, bool simple) {
  static struct book books[MAX_BOOKS];
  size_t n = collect(books, MAX_BOOKS);
  if (!simple && n == 0)
    fprintf(out, "no playbooks found (looked in $ETCD_DR_PLAYBOOKS, "
                 "BINDIR/../share/etcd-dr/playbooks and %s)\n", EDR_PLAYBOOK_DIR);
  for (size_t i = 0; i < n; i++) {
    if (simple) {
      fprintf(out, "%s,%s\n", books[i].name, books[i].path);
    } else {
      char desc[1024];
      edr_escape(desc, sizeof desc, books[i].description, 0);
      fprintf(out, "%-*s %s\n", LIST_INDENT - 1, books[i].name, books[i].path);
      print_wrapped(out, desc);
    }
    free(books[i].path);
    free(books[i].description);
  }
  return fflush(out) ? EDR_EXIT_INTERNAL : 0;
}
