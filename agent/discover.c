/*
 * discover.c - the `discover` op: how etcd is started on this host and who
 * its members are, read without etcd running.  It looks, in this order, for
 * a kubeadm static pod manifest (or its copy parked by an etcd-dr run that
 * stopped etcd), a systemd unit (`systemctl cat UNIT` where
 * systemctl exists, else the unit file) with its EnvironmentFile= files, an
 * env file of the init script (/etc/default/etcd, /etc/sysconfig/etcd; one
 * that sets no variable, as Debian ships it, does not count) and a docker or
 * podman container; then etcd's config file when one is named.
 * The texts are parsed by common/etcdconf.c; every setting goes back with
 * where it came from.  The membership and the revision come from the
 * member's own db (member/snap/db) through the bbolt reader, so a dead
 * cluster is read as well as a live one.  Nothing here writes to the host.
 */
#include "ops.h"

#include "fields.h"
#include "files.h"
#include "proc.h"

#include "bbolt.h"
#include "err.h"
#include "etcdconf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
  TEXT_MAX = 256 * 1024,        /* one file or command output read */
  CMD_TIMEOUT_MS = 10000,       /* systemctl cat, docker inspect */
};

static const char *const unit_dirs[] = {"/etc/systemd/system", "/run/systemd/system",
                                        "/lib/systemd/system", "/usr/lib/systemd/system"};
static const char *const init_env_files[] = {"/etc/default/etcd", "/etc/sysconfig/etcd"};
static const char *const engines[] = {"docker", "podman"};

struct found {
  json_t *sources; /* [{what, path, found, error}] */
};

static void note(struct found *f, const char *what, const char *path, bool ok,
                 const char *error) {
  json_t *o = json_pack("{s:s, s:s, s:b}", "what", what, "path", path, "found", ok);
  if (error && *error)
    json_object_set_new(o, "error", agent_json_bytes(error, strlen(error)));
  json_array_append_new(f->sources, o);
}

/* The text of PATH (at most TEXT_MAX bytes, malloc'd) or NULL with a->err.msg.buf
 * saying why (ENOENT: *missing). */
static char *read_text(struct agent *a, const char *path, size_t *len, bool *missing) {
  struct stat st;
  *missing = false;
  *len = 0;
  int fd = open_regular(a, path, &st);
  if (fd < 0) {
    *missing = fd == EDR_ENOENT;
    return NULL;
  }
  char *buf = malloc(TEXT_MAX + 1);
  size_t n = 0;
  while (buf && n < TEXT_MAX) {
    ssize_t r = read(fd, buf + n, TEXT_MAX - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      agent_fail(a, edr_from_errno(errno), "cannot read '%s': %s", path, agent_errstr(errno));
      free(buf);
      buf = NULL;
      break;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  if (buf) {
    buf[n] = '\0';
    *len = n;
  }
  return buf;
}

/* Read PATH and hand it to PARSE; note it under WHAT.  Returns PARSE's
 * result, or -1 when the file could not be read. */
static int with_file(struct agent *a, struct found *f, const char *what, const char *path,
                     bool note_missing, int (*parse)(struct edr_conf *, const char *, size_t,
                                                     const char *),
                     struct edr_conf *c) {
  size_t len;
  bool missing;
  char *text = read_text(a, path, &len, &missing);
  if (!text) {
    if (!missing || note_missing)
      note(f, what, path, false, missing ? "" : a->err.msg.buf);
    edr_error_clear(&a->err);
    return -1;
  }
  int r = parse(c, text, len, path);
  note(f, what, path, true, NULL);
  free(text);
  return r;
}

static int parse_manifest(struct edr_conf *c, const char *t, size_t n, const char *from) {
  return edr_conf_manifest(c, t, n, from);
}
static int parse_env(struct edr_conf *c, const char *t, size_t n, const char *from) {
  return edr_conf_env_text(c, t, n, from);
}
static int parse_yaml(struct edr_conf *c, const char *t, size_t n, const char *from) {
  edr_conf_yaml(c, t, n, from);
  return 1;
}

static const char *g_unit; /* the unit name parse_unit gives the parser */
static int parse_unit(struct edr_conf *c, const char *t, size_t n, const char *from) {
  return edr_conf_unit(c, t, n, g_unit, from);
}

/* Run ARGV (argv[0] looked up in PATH); its stdout (malloc'd) when it exited
 * 0, else NULL with the end of its stderr in ERR[ERRLEN].  *absent: the
 * program is not installed. */
static char *command_text(struct agent *a, const char *const *args, size_t *len,
                          bool *absent, char *err, size_t errlen) {
  struct proc_env env;
  char *exe = NULL, *text = NULL;
  *absent = false;
  *len = 0;
  err[0] = '\0';
  if (proc_env_init(&env))
    return NULL;
  if (proc_find_exec(a, args[0], &env, &exe) || !proc_is_exec_file(exe)) {
    *absent = true;
    edr_error_clear(&a->err);
    free(exe);
    proc_env_release(&env);
    return NULL;
  }
  char *argv[8];
  size_t n = 0;
  argv[n++] = exe;
  for (size_t i = 1; args[i] && n < 7; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  char *ob = malloc(TEXT_MAX + 1), *eb = malloc(4096);
  struct proc p = {.argv = argv, .envp = env.v, .timeout_ms = CMD_TIMEOUT_MS,
                   .out = {.buf = ob, .cap = TEXT_MAX}, .err = {.buf = eb, .cap = 4096}};
  if (ob && eb && proc_run(a, &p) == 0 && p.exit_code == 0 && !p.timed_out &&
      p.out.total <= TEXT_MAX) {
    ob[p.out.len] = '\0';
    text = ob;
    *len = p.out.len;
    ob = NULL;
  } else if (eb) {
    snprintf(err, errlen, "%.*s", (int)p.err.len, eb);
  }
  edr_error_clear(&a->err);
  free(ob);
  free(eb);
  free(exe);
  proc_env_release(&env);
  return text;
}

/* systemd: `systemctl cat UNIT`, else the first unit file found. */
static bool find_unit(struct agent *a, struct found *f, const char *unit, struct edr_conf *c) {
  size_t len;
  bool absent;
  const char *args[] = {"systemctl", "cat", "--", unit, NULL};
  char err[512];
  char *text = command_text(a, args, &len, &absent, err, sizeof err);
  if (text) {
    char from[300];
    snprintf(from, sizeof from, "systemctl cat %s", unit);
    int r = edr_conf_unit(c, text, len, unit, from);
    note(f, "unit", from, r > 0, r > 0 ? NULL : "no ExecStart=");
    free(text);
    return r > 0;
  }
  if (!absent && strstr(err, "No files found")) {
    /* systemctl knows every unit file and drop-in: no unit is no unit */
    note(f, "unit", "systemctl cat", false, "systemctl knows no such unit");
    return false;
  }
  /* no systemctl, or one that cannot work here (not booted with systemd):
   * the unit files themselves */
  g_unit = unit;
  for (size_t i = 0; i < sizeof unit_dirs / sizeof *unit_dirs; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", unit_dirs[i], unit);
    if (with_file(a, f, "unit", path, false, parse_unit, c) > 0)
      return true;
  }
  return false;
}

static bool find_container(struct agent *a, struct found *f, const char *name,
                           struct edr_conf *c, const char **engine) {
  for (size_t i = 0; i < sizeof engines / sizeof *engines; i++) {
    size_t len;
    bool absent;
    const char *args[] = {engines[i], "inspect", "--type", "container", "--", name, NULL};
    char err[512];
    char *text = command_text(a, args, &len, &absent, err, sizeof err);
    if (absent)
      continue;
    char from[300];
    snprintf(from, sizeof from, "%s inspect %s", engines[i], name);
    int r = text ? edr_conf_inspect(c, text, len, from) : 0;
    err[strcspn(err, "\n")] = '\0';
    note(f, "container", from, r > 0, r > 0 ? NULL : err[0] ? err : "no such container");
    free(text);
    if (r > 0) {
      *engine = engines[i];
      return true;
    }
  }
  return false;
}

/* The members and revision of DATA_DIR/member/snap/db into RES's "db". */
static void read_db(struct agent *a, const char *data_dir, json_t *res) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/member/snap/db", data_dir);
  json_t *o = json_pack("{s:s}", "path", path);
  json_object_set_new(res, "db", o);
  struct stat st;
  int fd = open_regular(a, path, &st);
  if (fd < 0) {
    json_object_set_new(o, "error", json_string(a->err.msg.buf));
    edr_error_clear(&a->err);
    return;
  }
  struct edr_bolt *db = NULL;
  struct edr_error err = EDR_ERROR_INIT;
  int rc = edr_bolt_open_fd(fd, &db, &err);
  close(fd);
  int64_t rev = 0;
  json_t *members = NULL;
  uint64_t skipped = 0;
  if (!rc && (rc = edr_bolt_revision_db(db, &rev)) == 0)
    rc = edr_bolt_members(db, &members, &skipped);
  if (rc && db && edr_bolt_errmsg(db)[0])
    edr_error_set(&err, rc, "%s", edr_bolt_errmsg(db));
  edr_bolt_close(db);
  if (rc)
    json_object_set_new(o, "error", json_sprintf("cannot read '%s' as etcd's db: %s", path,
                                                 err.msg.len ? err.msg.buf
                                                             : edr_strerror(rc)));
  edr_error_release(&err);
  if (rc)
    return;
  json_object_set_new(o, "revision", json_integer(rev));
  json_object_set_new(o, "members", members);
  json_object_set_new(o, "members_skipped", json_integer((json_int_t)skipped));
}

int op_discover(struct agent *a, json_t *req, json_t *res) {
  const char *unit, *manifest, *parked, *env_file, *config_file, *data_dir, *container;
  int rc;
  if ((rc = field_str(a, req, "unit", true, &unit)) ||
      (rc = field_path(a, req, "manifest", true, &manifest)) ||
      (rc = field_path(a, req, "manifest_parked", true, &parked)) ||
      (rc = field_path(a, req, "env_file", true, &env_file)) ||
      (rc = field_path(a, req, "config_file", true, &config_file)) ||
      (rc = field_path(a, req, "data_dir", true, &data_dir)) ||
      (rc = field_str(a, req, "container", true, &container)))
    return rc;
  if (unit && (!*unit || strchr(unit, '/') || unit[0] == '-'))
    return agent_fail(a, EDR_EINVAL, "field 'unit' is '%s', expected a unit name", unit);
  if (container && (!*container || container[0] == '-'))
    return agent_fail(a, EDR_EINVAL, "field 'container' is '%s', expected a container name",
                      container);
  char unit_name[256];
  snprintf(unit_name, sizeof unit_name, "%s%s", unit ? unit : "etcd",
           unit && strchr(unit, '.') ? "" : ".service");

  struct edr_conf *c = calloc(1, sizeof(*c));
  if (!c)
    return agent_fail(a, EDR_ENOMEM, "out of memory");
  edr_conf_init(c);
  struct found f = {.sources = json_array()};
  const char *kind = "none", *engine = NULL;

  const char *man = manifest ? manifest : "/etc/kubernetes/manifests/etcd.yaml";
  bool was_parked = false;
  int mr = with_file(a, &f, "manifest", man, manifest != NULL, parse_manifest, c);
  /* a run of etcd-dr that stopped etcd here left the manifest parked */
  if (mr < 0 && parked && with_file(a, &f, "manifest", parked, false, parse_manifest, c) > 0)
    was_parked = true;
  if (mr > 0 || was_parked)
    kind = "kubeadm";
  if (!strcmp(kind, "none") && find_unit(a, &f, unit_name, c)) {
    kind = "systemd";
    for (size_t i = 0; i < c->n_env_files; i++)
      with_file(a, &f, "env-file", c->env_files[i], !c->env_optional[i], parse_env, c);
    edr_conf_exec(c);
  }
  for (size_t i = 0; !strcmp(kind, "none") && i < 2; i++)
    if (with_file(a, &f, "env-file", init_env_files[i], false, parse_env, c) > 0)
      kind = "env-file";
  if (!strcmp(kind, "none") && find_container(a, &f, container ? container : "etcd", c, &engine))
    kind = engine;
  if (env_file)
    with_file(a, &f, "env-file", env_file, true, parse_env, c);
  edr_conf_apply_env(c);
  const char *cfg = config_file ? config_file : edr_conf_get(c, EDR_CONF_CONFIG_FILE);
  if (cfg && cfg[0] == '/') {
    char *host_cfg = edr_conf_host_path(c, cfg);
    if (host_cfg)
      with_file(a, &f, "config-file", host_cfg, true, parse_yaml, c);
    free(host_cfg);
  }

  json_t *settings = json_object();
  for (size_t k = 0; k < EDR_CONF__COUNT; k++) {
    const struct edr_conf_setting *s = &c->set[k];
    if (!s->value)
      continue;
    char *v = (k == EDR_CONF_DATA_DIR || k == EDR_CONF_WAL_DIR) && c->container
                  ? edr_conf_host_path(c, s->value)
                  : NULL;
    json_t *o = json_pack("{s:s, s:s}", "value", v ? v : s->value, "from", s->from);
    if (v && strcmp(v, s->value))
      json_object_set_new(o, "in_container", json_string(s->value));
    json_object_set_new(settings, edr_conf_keys[k].flag, o);
    free(v);
  }
  json_object_set_new(res, "kind", json_string(kind));
  json_object_set_new(res, "manifest", !strcmp(kind, "kubeadm") ? json_string(man) : json_null());
  if (was_parked)
    json_object_set_new(res, "manifest_parked", json_string(parked));
  json_object_set_new(res, "unit", !strcmp(kind, "systemd") ? json_string(unit_name)
                                                            : json_null());
  json_object_set_new(res, "container", engine && c->container ? json_string(c->container)
                                                               : json_null());
  json_t *envs = json_array();
  for (size_t i = 0; i < c->n_env_files; i++)
    json_array_append_new(envs, json_string(c->env_files[i]));
  if (!strcmp(kind, "env-file"))
    for (size_t i = 0; i < json_array_size(f.sources); i++) {
      json_t *s = json_array_get(f.sources, i);
      if (json_is_true(json_object_get(s, "found")))
        json_array_append(envs, json_object_get(s, "path"));
    }
  if (env_file)
    json_array_append_new(envs, json_string(env_file));
  json_object_set_new(res, "env_files", envs);
  json_object_set_new(res, "settings", settings);
  json_object_set_new(res, "sources", f.sources);

  const char *dd = data_dir ? data_dir
                   : json_string_value(json_object_get(json_object_get(settings, "data-dir"),
                                                       "value"));
  read_db(a, dd && dd[0] == '/' ? dd : "/var/lib/etcd", res);
  edr_conf_release(c);
  free(c);
  return 0;
}
