/*
 * etcdconf.h - how an etcd member is configured, read out of the texts a
 * service manager keeps it in: a systemd unit (as `systemctl cat` prints
 * it, drop-ins included), an env file (`/etc/default/etcd`, an
 * EnvironmentFile), etcd's YAML config file (--config-file), a kubeadm
 * static pod manifest (its `command:` list) and `docker inspect` output.
 * The agent reads the files on a host and feeds them here (agent/discover.c,
 * `etcd-dr discover`); these functions do no I/O, so the tests and the fuzz
 * target call them on any text.
 *
 * Every setting keeps where it came from ("FILE:LINE (ETCD_DATA_DIR)"), and
 * settings from different places rank as etcd ranks them: a config file
 * wins over flags, a flag over an ETCD_* variable; within one rank the last
 * one read wins (as systemd's later assignments and Go's repeated flags).
 *
 * Texts are untrusted: every function bounds what it keeps (lines, words,
 * variables, files) and never fails on a malformed line, it skips it.
 * Ownership: an edr_conf owns every string in it; edr_conf_release() frees
 * them.
 */
#ifndef EDR_ETCDCONF_H
#define EDR_ETCDCONF_H

#include <stdbool.h>
#include <stddef.h>

enum edr_conf_key {
  EDR_CONF_NAME,
  EDR_CONF_DATA_DIR,
  EDR_CONF_WAL_DIR,
  EDR_CONF_PEER_URLS,        /* --initial-advertise-peer-urls */
  EDR_CONF_INITIAL_CLUSTER,
  EDR_CONF_TOKEN,            /* --initial-cluster-token */
  EDR_CONF_CLIENT_URLS,      /* --advertise-client-urls */
  EDR_CONF_LISTEN_CLIENT_URLS,
  EDR_CONF_TRUSTED_CA,       /* --trusted-ca-file */
  EDR_CONF_CERT,             /* --cert-file */
  EDR_CONF_KEY,              /* --key-file */
  EDR_CONF_CONFIG_FILE,      /* --config-file */
  EDR_CONF__COUNT
};

enum edr_conf_rank { EDR_RANK_NONE, EDR_RANK_ENV, EDR_RANK_FLAG, EDR_RANK_CONFIG };

enum {
  EDR_CONF_FROM_MAX = 320,   /* one provenance text */
  EDR_CONF_MAX_VARS = 256,   /* variables kept from env files and units */
  EDR_CONF_MAX_FILES = 8,    /* EnvironmentFile= entries kept */
  EDR_CONF_MAX_ARGS = 512,   /* words of one command line */
  EDR_CONF_VALUE_MAX = 8192, /* longest value kept */
};

struct edr_conf_key_info {
  const char *flag;          /* "data-dir": --data-dir, and the YAML key */
  const char *env;           /* "ETCD_DATA_DIR" */
  const char *yaml_section;  /* NULL, or the YAML mapping it sits in */
};
extern const struct edr_conf_key_info edr_conf_keys[EDR_CONF__COUNT];

struct edr_conf_setting {
  char *value;               /* NULL: not set */
  char from[EDR_CONF_FROM_MAX];
  enum edr_conf_rank rank;
};

struct edr_conf_var {        /* KEY=VALUE from an env file or Environment= */
  char *key, *value;
  char from[EDR_CONF_FROM_MAX];
};

struct edr_conf {
  struct edr_conf_setting set[EDR_CONF__COUNT];
  struct edr_conf_var vars[EDR_CONF_MAX_VARS];
  size_t n_vars;
  /* From a unit: its EnvironmentFile= paths (a leading '-': may be missing),
   * in order, and its last ExecStart= with where it was. */
  char *env_files[EDR_CONF_MAX_FILES];
  bool env_optional[EDR_CONF_MAX_FILES];
  size_t n_env_files;
  char *exec_start;
  char exec_from[EDR_CONF_FROM_MAX];
  /* From `docker inspect`: the container's name and its bind mounts, so a
   * path inside the container becomes the path on the host. */
  char *container;
  char *mount_src[16], *mount_dst[16];
  size_t n_mounts;
};

void edr_conf_init(struct edr_conf *c);
void edr_conf_release(struct edr_conf *c);

/* The value of KEY (borrowed), or NULL. */
const char *edr_conf_get(const struct edr_conf *c, enum edr_conf_key key);
/* The value of variable NAME (borrowed), or NULL. */
const char *edr_conf_var(const struct edr_conf *c, const char *name);

/* KEY=VALUE lines (`export`, quotes, comments) into c->vars.  FROM names the
 * file.  Returns how many variables were taken. */
int edr_conf_env_text(struct edr_conf *c, const char *text, size_t len, const char *from);
/* A systemd unit's text.  UNIT is its name (for %n %N %p in paths and for
 * messages).  `# /path` header lines as `systemctl cat` prints them name the
 * file the following lines come from.  [Service]'s Environment= go to
 * c->vars, EnvironmentFile= to c->env_files, ExecStart= to c->exec_start
 * (an empty ExecStart= clears it, as in a drop-in).  Returns 1 when an
 * ExecStart was found, else 0. */
int edr_conf_unit(struct edr_conf *c, const char *text, size_t len, const char *unit,
                  const char *from);
/* Split c->exec_start as systemd does (quotes, backslashes, $VAR as words
 * and ${VAR} as one word from c->vars) and take its flags. */
void edr_conf_exec(struct edr_conf *c);
/* etcd's flags in ARGV[0..ARGC) (argv[0] is the program): --flag=value,
 * --flag value, -flag value.  FROM names where the command line is. */
void edr_conf_args(struct edr_conf *c, char *const *argv, int argc, const char *from);
/* The ETCD_* variables of c->vars as settings (rank env). */
void edr_conf_apply_env(struct edr_conf *c);
/* etcd's YAML config file: `key: value` at the top level and in the
 * client-transport-security mapping. */
void edr_conf_yaml(struct edr_conf *c, const char *text, size_t len, const char *from);
/* A static pod manifest: the flags of the first `command:` list whose
 * first word is etcd.  Returns 1 when one was found, else 0. */
int edr_conf_manifest(struct edr_conf *c, const char *text, size_t len, const char *from);
/* `docker inspect NAME` or `podman inspect NAME` output (a JSON array):
 * Path and Args as the command line, Config.Env as variables, Mounts.
 * Returns 1 when it held a container, else 0. */
int edr_conf_inspect(struct edr_conf *c, const char *text, size_t len, const char *from);
/* PATH inside the container as a path on the host through c's mounts (a
 * new string), or a copy of PATH when no mount covers it or there is no
 * container. */
char *edr_conf_host_path(const struct edr_conf *c, const char *path);

#endif
