/*
 * spec.h - the cluster spec: which members a cluster has, how to reach each
 * member's host, and where its data lives.
 *
 * A spec comes from etcd's own `--initial-cluster name=peerURL,...` string or
 * from a JSON or YAML cluster file (docs/spec.md).  Either way it is fully resolved
 * (defaults applied) and validated before anything uses it, so every later
 * stage can trust it: names and paths contain no character that could change
 * a command's meaning, URLs are well formed, nothing is duplicated.
 *
 * Ownership: an edr_spec owns every string and array reachable from it;
 * edr_spec_free() releases them all.
 */
#ifndef EDR_SPEC_H
#define EDR_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "valid.h"

struct edr_strv {           /* a NULL-terminated vector of owned strings */
  char **v;
  size_t n;
};

/* Where a member's SSH setting came from, lowest precedence first
 * (docs/spec.md); `plan` shows it. */
enum edr_origin {
  EDR_FROM_DEFAULT, EDR_FROM_SSH_CONFIG, EDR_FROM_CLUSTER, EDR_FROM_FLAG, EDR_FROM_MEMBER,
};

struct edr_ssh_origins {
  enum edr_origin host, port, user, identity, known_hosts, proxy;
};

/* "spec member", "command line", "spec cluster-wide", "ssh_config", "default". */
const char *edr_origin_name(enum edr_origin o);

/* What OpenSSH's `ssh -G HOST` says the ssh_config files set for a host
 * (transport/sshconfig.h reads it): only the values that differ from what
 * `ssh -G -F /dev/null HOST` prints, OpenSSH's own defaults, are marked in
 * SET.  Fixed-size, so the spec can take it without owning anything. */
enum {
  EDR_SC_HOSTNAME = 1u << 0, EDR_SC_USER = 1u << 1, EDR_SC_PORT = 1u << 2,
  EDR_SC_IDENTITY = 1u << 3, EDR_SC_IDENTITIES_ONLY = 1u << 4, EDR_SC_JUMP = 1u << 5,
  EDR_SC_COMMAND = 1u << 6, EDR_SC_KNOWN_HOSTS = 1u << 7, EDR_SC_STRICT = 1u << 8,
};
struct edr_sshcfg {
  unsigned set;                 /* EDR_SC_*: what a file set */
  char hostname[256], user[64];
  int port;
  char identity_file[1024];     /* the first IdentityFile, as ssh -G prints it */
  char identity_files[4096];    /* every IdentityFile, one per line */
  bool identities_only;
  char proxy_jump[1024], proxy_command[1024];
  char known_hosts[1024];       /* the first UserKnownHostsFile */
  char strict[16];              /* "true", "false", "ask", "accept-new" */
  char file[1024];              /* which file set what is refused, for messages */
};

/* Looks HOST up with ssh -G in CONFIG (NULL: OpenSSH's own files).  Returns
 * 0, EDR_ENOENT when there is no OpenSSH client (the spec alone counts), or
 * another negative EDR_E* code with ERR set (the caller's; it may hold a
 * message even on success: release it either way). */
typedef int (*edr_sshcfg_lookup_fn)(const char *config, const char *host,
                                    struct edr_sshcfg *out, struct edr_error *err);

struct edr_member {
  char *name;
  struct edr_strv peer_urls;     /* at least one */
  struct edr_strv client_urls;   /* at least one */

  char *ssh_host;                /* default: host of the first peer URL; an
                                    ssh_config HostName for it replaces it */
  char *ssh_alias;               /* the name ssh_config's HostName was found
                                    for, or NULL */
  int ssh_port;                  /* default 22 */
  char *ssh_user;                /* default: the local user's name */
  char *identity_file;           /* NULL: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa */
  char *known_hosts;             /* default ~/.ssh/known_hosts */
  char *proxy_jump;              /* "[user@]host[:port],...": reached through these
                                    with OpenSSH's ssh -W, or NULL */
  char *proxy_command;           /* run with /bin/sh -c here, its stdin and stdout
                                    the connection (%h %p %r), or NULL */
  bool identities_only;          /* ssh_config IdentitiesOnly: no ssh-agent keys */
  char *ssh_config;              /* handed to the jump hosts' ssh: a file, "none",
                                    or NULL for OpenSSH's own */
  struct edr_ssh_origins from;
  bool sudo;                     /* run the agent with `sudo -n`; default: user != root */

  char *data_dir;                /* default /var/lib/etcd */
  char *wal_dir;                 /* NULL: inside the data dir */
  char *data_dir_owner;          /* "user:group"; NULL: keep the existing owner */
  int data_dir_mode;             /* -1: keep the existing mode (0700 if none) */

  struct edr_strv stop_command;  /* argv; default systemctl stop etcd */
  struct edr_strv start_command; /* argv; default systemctl start etcd */
  char *restore_tool;            /* "auto", "etcdutl", "etcdctl" or a host path */
  char *restore_tool_push;       /* local file pushed to the host, or NULL */
  char *env_file;                /* where the service reads ETCD_* settings
                                    (playbooks' set-env), or NULL */
  char *preset;                  /* "kubeadm" or NULL (docs/kubeadm.md) */
  char *manifest;                /* kubeadm: etcd's static pod manifest on the host;
                                    stop and start move it out of its directory
                                    and back, set-env edits its flags */

  /* Paths ON THE HOST the agent there asks this member's client URL with
   * (health, status, member changes, snapshot save --via ssh: the agent's
   * etcd-http and etcd-snapshot ops); NULL: not used. */
  char *etcdctl_cacert;
  char *etcdctl_cert;
  char *etcdctl_key;

  /* The relay between hosts (docs/transfer.md): the port this member's
   * agent listens on for the snapshot (0: the run's), and the address the
   * previous host connects to (NULL: the host of the first peer URL). */
  int relay_port;
  char *relay_address;
};

struct edr_spec {
  char *source;                  /* where it came from, for messages */
  char *token;                   /* NULL: a new unique token per restore */
  struct edr_member *members;
  size_t n_members;
  struct edr_strv warnings;      /* e.g. an even member count */
  char *ssh_config;              /* what was read for the hosts' SSH settings, for
                                    plan: "ssh_config: ..." */
};

/* Cluster-wide settings given on the command line.  They override a JSON
 * file's cluster-wide values but not a member's own.  All borrowed; NULL or
 * -1 means "not given". */
struct edr_spec_overrides {
  const char *ssh_user, *identity_file, *known_hosts, *data_dir, *wal_dir;
  const char *proxy_jump, *proxy_command;
  const char *data_dir_owner, *data_dir_mode, *restore_tool, *token;
  const char *stop_command, *start_command;   /* run with /bin/sh -c */
  const char *preset, *manifest;
  int ssh_port;
  int sudo;                      /* -1 not given, 0 no, 1 yes */
  const char *ssh_config;        /* --ssh-config FILE or "none"; NULL: OpenSSH's own */
  edr_sshcfg_lookup_fn ssh_lookup; /* NULL: no ssh_config is read (tests, fuzzing) */
};

/* Parse etcd's --initial-cluster string.  On success returns 0 and sets
 * *out (caller frees with edr_spec_free).  On failure returns EDR_EINVAL
 * (or EDR_ENOMEM) with one message naming the field and the member in ERR
 * (the caller's, err.h). */
int edr_spec_from_initial_cluster(const char *s,
                                  const struct edr_spec_overrides *ov,
                                  struct edr_spec **out, struct edr_error *err);

/* Parse a cluster file (PATH) or, when PATH is NULL, the text TEXT: JSON
 * or YAML (spec_yaml.h chooses; a YAML file's messages name the line).
 * Same contract as above. */
int edr_spec_from_json(const char *path, const char *text,
                       const struct edr_spec_overrides *ov,
                       struct edr_spec **out, struct edr_error *err);

void edr_spec_free(struct edr_spec *spec);

/* Whether M is a kubeadm static pod member (preset "kubeadm"). */
bool edr_member_kubeadm(const struct edr_member *m);
/* Where M's manifest waits while etcd is stopped: beside its directory,
 * since kubelet runs every file in it (MANIFESTDIR/../NAME.etcd-dr-stopped).
 * A new string, or NULL when out of memory. */
char *edr_member_parked_manifest(const struct edr_member *m);

#endif
