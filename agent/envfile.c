/*
 * envfile.c - the `envfile` op: the env file a service reads etcd's ETCD_*
 * settings from (Debian's /etc/default/etcd, systemd's EnvironmentFile).
 * "set" rewrites KEY=value lines atomically, keeping the file as it was
 * once as BACKUP; "restore" puts BACKUP back.  Keys and values are checked
 * so that a shell sourcing the file reads them as plain assignments.
 * With "format": "manifest" the file is kubeadm's static pod manifest
 * (the kubeadm preset) and ETCD_FOO_BAR is its command's --foo-bar flag,
 * edited where the manifest is now (PATH, or PARKED while etcd is stopped).
 */
#include "agent.h"

#include "fields.h"
#include "files.h"
#include "ops.h"

#include "err.h"
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { ENVFILE_MAX = 1 << 20 };

static bool env_key_ok(const char *k) {
  if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
    return false;
  for (k++; *k; k++)
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ||
          *k == '_'))
      return false;
  return true;
}

static bool env_value_ok(const char *v) {
  size_t n = 0;
  for (; *v; v++, n++)
    if ((unsigned char)*v < 0x20 || *v == 0x7f || *v == '"' || *v == '\'' || *v == '\\' ||
        *v == '$' || *v == '`')
      return false;
  return n <= 4096;
}

/* The key a line sets ("KEY=...", "export KEY=..."), copied to KEY. */
static bool env_line_key(const char *line, size_t len, char *key, size_t keylen) {
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (len - i > 7 && !strncmp(line + i, "export ", 7))
    i += 7;
  size_t k = 0;
  while (i < len && line[i] != '=' && k + 1 < keylen)
    key[k++] = line[i++];
  key[k] = '\0';
  return i < len && line[i] == '=' && k > 0 && env_key_ok(key);
}

static int write_like(struct agent *a, const char *path, const struct stat *like,
                      const char *data, size_t n, bool excl) {
  int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC),
                like->st_mode & 07777);
  if (fd < 0)
    return agent_fail(a, edr_from_errno(errno), "cannot create '%s': %s", path, agent_errstr(errno));
  bool ok = fchown(fd, like->st_uid, like->st_gid) == 0 &&
            fchmod(fd, like->st_mode & 07777) == 0;
  for (size_t off = 0; ok && off < n;) {
    ssize_t w = write(fd, data + off, n - off);
    if (w < 0 && errno == EINTR)
      continue;
    ok = w > 0;
    off += ok ? (size_t)w : 0;
  }
  ok = ok && fsync(fd) == 0;
  int e = errno;
  close(fd);
  if (!ok) {
    unlink(path);
    return agent_fail(a, edr_from_errno(e), "cannot write '%s': %s", path, agent_errstr(e));
  }
  return 0;
}

/* Replace PATH (whose stat is ST) by NEW[NEWN], keeping OLD[OLDN] as
 * BACKUP if this run has not kept one yet (*MADE_BACKUP says).  The new
 * text goes to a temporary file beside PATH first, renamed over it: a dot
 * file when DOT_TMP (kubelet skips dot files in its manifests dir). */
static int replace_keeping(struct agent *a, const char *path, const char *backup,
                           const struct stat *st, const char *old, size_t oldn,
                           const char *new, size_t newn, bool dot_tmp, bool *made_backup) {
  struct stat bst;
  int rc = 0;
  *made_backup = false;
  if (lstat(backup, &bst) != 0) { /* the first set-env of this run keeps the original */
    if ((rc = write_like(a, backup, st, old, oldn, true)) == 0) {
      *made_backup = true;
      rc = fsync_dir_of(backup);
    }
  }
  const char *slash = strrchr(path, '/');
  char *tmp = rc ? NULL : malloc(strlen(path) + 32);
  if (!rc && !tmp)
    rc = agent_fail(a, EDR_ENOMEM, "out of memory");
  if (!rc) {
    if (dot_tmp && slash)
      sprintf(tmp, "%.*s/.%s.etcd-dr-tmp", (int)(slash - path), path, slash + 1);
    else
      sprintf(tmp, "%s.etcd-dr-tmp", path);
    if (!(rc = write_like(a, tmp, st, new, newn, false)) && rename(tmp, path) != 0) {
      rc = agent_fail(a, edr_from_errno(errno), "cannot rename '%s' to '%s': %s", tmp, path,
                      agent_errstr(errno));
      unlink(tmp);
    }
    if (!rc)
      rc = fsync_dir_of(path);
  }
  free(tmp);
  return rc;
}

/* PATH (a WHAT, for messages) read whole: at most ENVFILE_MAX bytes,
 * NUL-terminated, into *BUF (the caller frees), its size in *N and its
 * stat in *ST.  0, or a negative EDR_E* code after agent_fail(). */
static int read_small(struct agent *a, const char *what, const char *path, struct stat *st,
                      char **buf, size_t *n) {
  *buf = NULL;
  int fd = open_regular(a, path, st);
  if (fd < 0)
    return fd;
  if (st->st_size > ENVFILE_MAX) {
    close(fd);
    return agent_fail(a, EDR_ETOOBIG, "%s '%s' is larger than 1 MiB", what, path);
  }
  size_t want = (size_t)st->st_size, got = 0;
  char *b = malloc(want + 1);
  while (b && got < want) {
    ssize_t r = read(fd, b + got, want - got);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  if (!b || got != want) {
    free(b);
    return agent_fail(a, EDR_EIO, "cannot read %s '%s'", what, path);
  }
  b[want] = '\0';
  *buf = b;
  *n = want;
  return 0;
}

int agent_read_manifest(struct agent *a, const char *path, char **text, size_t *len,
                        struct edr_manifest *m) {
  struct stat st;
  char *buf;
  size_t n;
  *text = NULL;
  int rc = read_small(a, "manifest", path, &st, &buf, &n);
  if (rc)
    return rc;
  struct edr_error err = EDR_ERROR_INIT;
  rc = edr_manifest_parse(buf, n, m, &err);
  if (rc) {
    free(buf);
    rc = agent_fail(a, rc, "manifest '%s': %s", path, edr_error_text(&err));
    edr_error_release(&err);
    return rc;
  }
  *text = buf;
  *len = n;
  return 0;
}

/* The kubeadm preset's set-env: the ETCD_* names are the manifest's flags
 * (ETCD_INITIAL_CLUSTER_STATE is --initial-cluster-state), edited in the
 * manifest where it is now: PATH in the manifests dir, or PARKED while the
 * run keeps etcd stopped.  Returns the new text in *OUT. */
static int manifest_set(struct agent *a, json_t *set, json_t *unset, const char *text,
                        size_t len, char **out, size_t *outlen) {
  size_t n = json_object_size(set) + json_array_size(unset), k = 0, i;
  const char **names = calloc(n + 1, sizeof *names), **values = calloc(n + 1, sizeof *values);
  char (*flags)[128] = calloc(n + 1, sizeof *flags);
  const char *key;
  json_t *v;
  int rc = !names || !values || !flags ? agent_fail(a, EDR_ENOMEM, "out of memory") : 0;
  json_object_foreach(set, key, v) {
    if (rc)
      break;
    if (!edr_manifest_env_flag(key, flags[k], sizeof flags[k]))
      rc = agent_fail(a, EDR_EINVAL, "'%s' is not an ETCD_* setting: a kubeadm manifest "
                      "carries only etcd's own flags", key);
    names[k] = flags[k];
    values[k++] = json_string_value(v);
  }
  json_array_foreach(unset, i, v) {
    if (rc)
      break;
    if (!edr_manifest_env_flag(json_string_value(v), flags[k], sizeof flags[k]))
      rc = agent_fail(a, EDR_EINVAL, "'%s' is not an ETCD_* setting: a kubeadm manifest "
                      "carries only etcd's own flags", json_string_value(v));
    names[k] = flags[k];
    values[k++] = NULL;
  }
  struct edr_error err = EDR_ERROR_INIT;
  if (!rc && (rc = edr_manifest_set_flags(text, len, names, values, k, out, outlen, &err)))
    rc = agent_fail(a, rc, "%s", edr_error_text(&err));
  edr_error_release(&err);
  free(names);
  free(values);
  free(flags);
  return rc;
}

/* Set or unset flags of the manifest at PATH, keeping it as it was once as
 * BACKUP.  The new text is written to a dot file beside it first: kubelet
 * skips dot files, so it never runs a half-written pod. */
static int manifest_op(struct agent *a, const char *path, const char *backup, json_t *set,
                       json_t *unset, json_t *res) {
  char *text = NULL, *out = NULL;
  size_t len = 0, outlen = 0;
  struct edr_manifest m;
  struct stat st;
  int rc = agent_read_manifest(a, path, &text, &len, &m);
  if (rc)
    return rc;
  edr_manifest_release(&m);
  bool made_backup = false;
  if (lstat(path, &st) != 0)
    rc = agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", path, agent_errstr(errno));
  if (!rc)
    rc = manifest_set(a, set, unset, text, len, &out, &outlen);
  if (!rc)
    rc = replace_keeping(a, path, backup, &st, text, len, out, outlen, true, &made_backup);
  json_object_set_new(res, "backup_created", json_boolean(made_backup));
  json_object_set_new(res, "edited", json_string(path));
  free(text);
  free(out);
  return rc;
}

int op_envfile(struct agent *a, json_t *req, json_t *res) {
  const char *path, *backup, *action, *format, *parked = NULL;
  int rc;
  if ((rc = field_file_path(a, req, "path", &path)) || (rc = field_file_path(a, req, "backup", &backup)) ||
      (rc = field_str(a, req, "action", false, &action)) ||
      (rc = field_str(a, req, "format", true, &format)))
    return rc;
  bool manifest = format && !strcmp(format, "manifest");
  if (format && !manifest && strcmp(format, "env"))
    return agent_fail(a, EDR_EINVAL, "field 'format' is '%s', expected env or manifest", format);
  struct stat st;
  if (manifest) {
    if ((rc = field_file_path(a, req, "parked", &parked)))
      return rc;
    /* the manifest is edited where it is now */
    if (lstat(path, &st) != 0 && lstat(parked, &st) == 0)
      path = parked;
  }
  if (!strcmp(action, "restore")) {
    json_object_set_new(res, "restored", json_false());
    if (lstat(backup, &st) != 0) {
      if (errno == ENOENT)
        return 0; /* set-env never ran: the file is as it was */
      return agent_fail(a, edr_from_errno(errno), "cannot stat '%s': %s", backup, agent_errstr(errno));
    }
    if (rename(backup, path) != 0)
      return agent_fail(a, edr_from_errno(errno), "cannot put '%s' back as '%s': %s", backup,
                        path, agent_errstr(errno));
    json_object_set_new(res, "restored", json_true());
    return fsync_dir_of(path);
  }
  if (strcmp(action, "set"))
    return agent_fail(a, EDR_EINVAL, "field 'action' is '%s', expected set or restore", action);
  json_t *set = json_object_get(req, "set"), *unset = json_object_get(req, "unset");
  if ((set && !json_is_object(set)) || (unset && !json_is_array(unset)))
    return agent_fail(a, EDR_EINVAL, "field 'set' must be an object and 'unset' an array");
  const char *k;
  json_t *v;
  size_t i;
  json_object_foreach(set, k, v)
    if (!env_key_ok(k) || !json_is_string(v) || !env_value_ok(json_string_value(v)))
      return agent_fail(a, EDR_EINVAL, "refusing to set '%s': a key must be letters, digits "
                        "and '_', a value a string without control characters, quotes, '\\', "
                        "'$' or '`'", k);
  json_array_foreach(unset, i, v)
    if (!json_is_string(v) || !env_key_ok(json_string_value(v)))
      return agent_fail(a, EDR_EINVAL, "refusing to unset a key that is not letters, digits "
                        "and '_'");
  if (manifest)
    return manifest_op(a, path, backup, set, unset, res);
  char *old;
  size_t n;
  if ((rc = read_small(a, "env file", path, &st, &old, &n)))
    return rc;
  /* the new text: every line kept, but those setting a key we set (the
   * first becomes KEY=value, later ones go) or unset (they go) */
  size_t cap = n + 64;
  json_object_foreach(set, k, v)
    cap += strlen(k) + json_string_length(v) + 2;
  char *out = malloc(cap), key[256];
  size_t o = 0;
  json_t *done = json_object();
  if (!out || !done) {
    free(old);
    free(out);
    json_decref(done);
    return agent_fail(a, EDR_ENOMEM, "out of memory");
  }
  for (size_t p = 0; p < n;) {
    const char *nl = memchr(old + p, '\n', n - p);
    size_t len = nl ? (size_t)(nl - (old + p)) : n - p;
    bool drop = false;
    if (env_line_key(old + p, len, key, sizeof key)) {
      json_t *nv = json_object_get(set, key);
      bool un = false;
      json_array_foreach(unset, i, v)
        un |= !strcmp(json_string_value(v), key);
      if (nv && !json_object_get(done, key)) {
        o += (size_t)sprintf(out + o, "%s=%s\n", key, json_string_value(nv));
        json_object_set_new(done, key, json_true());
        drop = true;
      } else if (nv || un) {
        drop = true;
      }
    }
    if (!drop) {
      memcpy(out + o, old + p, len);
      o += len;
      out[o++] = '\n';
    }
    p += len + (nl ? 1 : 0);
  }
  json_object_foreach(set, k, v)
    if (!json_object_get(done, k))
      o += (size_t)sprintf(out + o, "%s=%s\n", k, json_string_value(v));
  json_decref(done);
  bool made_backup = false;
  rc = replace_keeping(a, path, backup, &st, old, n, out, o, false, &made_backup);
  free(old);
  free(out);
  json_object_set_new(res, "backup_created", json_boolean(made_backup));
  return rc;
}
