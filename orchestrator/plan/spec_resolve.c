/*
 * spec_resolve.c - from draft members to the spec's members (spec_int.h):
 * each member's values from its own, the command line's and the spec's
 * cluster-wide ones, then OpenSSH's configuration for its host (ssh -G),
 * the kubeadm preset and the built-in defaults, and the checks across
 * members.  spec.c reads the values into the drafts; the spec owns each
 * member once spec_resolve() has moved it there, even on failure.
 */
#include "spec.h"
#include "spec_int.h"

#include "err.h"
#include "util.h"

#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Copy the cluster-wide value of every field set in SRC and not in DST,
 * remembering it came from ORIGIN. */
static int inherit(struct draft *dst, const struct draft *src, enum edr_origin origin) {
  for (size_t i = 0; i < SPEC_N_FIELDS; i++) {
    const struct field *f = &spec_fields[i];
    if (dst->set[i] || !src->set[i])
      continue;
    void *dp = (char *)&dst->m + f->off;
    const void *sp = (const char *)&src->m + f->off;
    switch (f->type) {
    case F_PORT: case F_MODE: *(int *)dp = *(const int *)sp; break;
    case F_BOOL: *(bool *)dp = *(const bool *)sp; break;
    case F_URLS: case F_ARGV:
      if (spec_strv_copy(dp, sp))
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
  const struct field *f = spec_field_find(key);
  if (!v)
    return EDR_ENOMEM;
  int rc = spec_set_field(c, d->m.name, d, f, v);
  json_decref(v);
  if (rc == EDR_EINVAL)
    edr_str_appendf(&c->err->msg, " (from ssh_config %s for host '%s'; set %s in the spec "
                    "or fix the file)", file, host, key);
  if (rc == 0)
    d->origin[f - spec_fields] = EDR_FROM_SSH_CONFIG;
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
  if (!sc)
    return EDR_ENOMEM;
  struct edr_error lerr = EDR_ERROR_INIT;
  int rc = ov->ssh_lookup(ov->ssh_config, m->ssh_host, sc, &lerr);
  if (rc && rc != EDR_ENOENT && rc != EDR_ENOMEM)
    rc = spec_fail(c, m->name, NULL, "%s", edr_error_text(&lerr));
  edr_error_release(&lerr);
  if (rc == EDR_ENOENT) {
    c->no_ssh_client = true;
    free(sc);
    return 0;
  }
  if (rc) {
    free(sc);
    return rc;
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
    rc = spec_fail(c, m->name, NULL, "ssh_config %s sets %s for host '%s'; etcd-dr checks every "
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
#define UNSET(key) (!rc && !d->set[spec_field_find(key) - spec_fields])
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
 * host's agent asks the member with. */
static int kubeadm_defaults(struct ctx *c, struct draft *d) {
  struct edr_member *m = &d->m;
  static const char *const own[] = {"stop_command", "start_command", "env_file"};
  if (!edr_member_kubeadm(m)) {
    if (m->manifest)
      return spec_fail(c, m->name, "manifest", "only with \"preset\": \"kubeadm\"");
    return 0;
  }
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
    if (d->set[spec_field_find(own[i]) - spec_fields])
      return spec_fail(c, m->name, own[i], "not with the kubeadm preset: it stops and starts "
                       "etcd by moving its static pod manifest out of the manifests dir and "
                       "back, and edits the manifest's flags instead of an env file");
  static const struct { const char *key; const char *val; } defs[] = {
    {"manifest", "/etc/kubernetes/manifests/etcd.yaml"},
    {"etcdctl_cacert", "/etc/kubernetes/pki/etcd/ca.crt"},
    {"etcdctl_cert", "/etc/kubernetes/pki/etcd/healthcheck-client.crt"},
    {"etcdctl_key", "/etc/kubernetes/pki/etcd/healthcheck-client.key"},
  };
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
    const struct field *f = spec_field_find(defs[i].key);
    char **sp = (char **)((char *)m + f->off);
    if (!d->set[f - spec_fields] && !*sp && !(*sp = strdup(defs[i].val)))
      return EDR_ENOMEM;
  }
  const char *slash = strrchr(m->manifest, '/');
  if (slash == m->manifest || !strchr(m->manifest + 1, '/') || !slash[1])
    return spec_fail(c, m->name, "manifest", "'%s' must be a file inside a manifests directory "
                     "that is not '/'", m->manifest);
  return 0;
}

static int finish_member(struct ctx *c, struct draft *d) {
  struct edr_member *m = &d->m;
  char scheme[8], host[256];
  int port, rc;
  const struct field *f;

  if (m->peer_urls.n == 0)
    return spec_fail(c, m->name, "peer_urls", "missing: a member needs at least one peer URL");
  if (!edr_parse_url(m->peer_urls.v[0], scheme, sizeof scheme, host, sizeof host, &port))
    return spec_fail(c, m->name, "peer_urls", "'%s' is not an http(s)://host:port URL",
                     m->peer_urls.v[0]);
  if (m->client_urls.n == 0) {
    for (size_t i = 0; i < m->peer_urls.n; i++) {
      char s2[8], h2[256];
      int p2;
      edr_parse_url(m->peer_urls.v[i], s2, sizeof s2, h2, sizeof h2, &p2);
      char *u = edr_asprintf("%s://%s:2379", s2, h2);
      int prc = u ? spec_strv_push(&m->client_urls, u) : EDR_ENOMEM;
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
  if (!(f = spec_field_find("ssh_port")) || !d->set[f - spec_fields])
    m->ssh_port = 22;
  if (!m->ssh_user && !(m->ssh_user = strdup(local_user())))
    return EDR_ENOMEM;
  if (!edr_valid_user(m->ssh_user))
    return spec_fail(c, m->name, "ssh_user", "local user name '%s' cannot be used; set ssh_user",
                     m->ssh_user);
  if (!m->known_hosts && !(m->known_hosts = spec_expand_home("~/.ssh/known_hosts")))
    return EDR_ENOMEM;
  if (!d->set[spec_field_find("sudo") - spec_fields])
    m->sudo = strcmp(m->ssh_user, "root") != 0;
  if (!m->data_dir && !(m->data_dir = strdup("/var/lib/etcd")))
    return EDR_ENOMEM;
  if (!d->set[spec_field_find("data_dir_mode") - spec_fields])
    m->data_dir_mode = -1;
  if ((rc = kubeadm_defaults(c, d)))
    return rc;
  if (!edr_member_kubeadm(m) && m->stop_command.n == 0 &&
      (spec_strv_push(&m->stop_command, "systemctl") ||
       spec_strv_push(&m->stop_command, "stop") || spec_strv_push(&m->stop_command, "etcd")))
    return EDR_ENOMEM;
  if (!edr_member_kubeadm(m) && m->start_command.n == 0 &&
      (spec_strv_push(&m->start_command, "systemctl") ||
       spec_strv_push(&m->start_command, "start") || spec_strv_push(&m->start_command, "etcd")))
    return EDR_ENOMEM;
  if (!m->restore_tool && !(m->restore_tool = strdup("auto")))
    return EDR_ENOMEM;
  if (m->wal_dir && strcmp(m->wal_dir, m->data_dir) == 0)
    return spec_fail(c, m->name, "wal_dir", "must differ from data_dir");
  if (m->proxy_jump && m->proxy_command)
    return spec_fail(c, m->name, "proxy_command", "give proxy_jump or proxy_command, not both");
  /* The restore renames DATA_DIR/member and the WAL dir aside and renames
   * the restored ones into place: neither may hold the other. */
  if (m->wal_dir && edr_path_within(m->wal_dir, m->data_dir, "/member"))
    return spec_fail(c, m->name, "wal_dir",
                     "'%s' is inside the member dir '%s/member', which a restore moves aside "
                     "with it; put the WAL outside it, or leave wal_dir unset for etcd's own "
                     "'%s/member/wal'", m->wal_dir, m->data_dir, m->data_dir);
  if (m->wal_dir && edr_path_within(m->data_dir, m->wal_dir, ""))
    return spec_fail(c, m->name, "wal_dir",
                     "'%s' contains data_dir '%s': moving the WAL dir aside would move the "
                     "data dir with it", m->wal_dir, m->data_dir);
  if (!!m->etcdctl_cert != !!m->etcdctl_key)
    return spec_fail(c, m->name, m->etcdctl_cert ? "etcdctl_key" : "etcdctl_cert",
                     "missing: etcdctl_cert and etcdctl_key go together");
  m->from.host = d->origin[spec_field_find("ssh_host") - spec_fields];
  m->from.port = d->origin[spec_field_find("ssh_port") - spec_fields];
  m->from.user = d->origin[spec_field_find("ssh_user") - spec_fields];
  m->from.identity = d->origin[spec_field_find("identity_file") - spec_fields];
  m->from.known_hosts = d->origin[spec_field_find("known_hosts") - spec_fields];
  m->from.proxy =
      d->origin[spec_field_find(m->proxy_command ? "proxy_command" : "proxy_jump") - spec_fields];
  if (c->ov && c->ov->ssh_config && !(m->ssh_config = strdup(c->ov->ssh_config)))
    return EDR_ENOMEM;
  return 0;
}

int spec_add_warning(struct edr_spec *s, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return spec_strv_push(&s->warnings, msg);
}

/* Cross-member checks: duplicates and cluster shape. */
static int check_cluster(struct ctx *c, struct edr_spec *s) {
  if (s->n_members == 0)
    return spec_fail(c, NULL, NULL, "no members: the spec must name at least one member");
  if (s->n_members > 64)
    return spec_fail(c, NULL, NULL, "%zu members: at most 64 are supported", s->n_members);
  for (size_t i = 0; i < s->n_members; i++) {
    struct edr_member *a = &s->members[i];
    for (size_t j = 0; j < i; j++) {
      struct edr_member *b = &s->members[j];
      if (strcmp(a->name, b->name) == 0)
        return spec_fail(c, a->name, "name", "duplicate: two members are named '%s'", a->name);
      for (size_t k = 0; k < a->peer_urls.n; k++)
        for (size_t l = 0; l < b->peer_urls.n; l++)
          if (strcmp(a->peer_urls.v[k], b->peer_urls.v[l]) == 0)
            return spec_fail(c, a->name, "peer_urls", "'%s' is also a peer URL of member '%s'",
                             a->peer_urls.v[k], b->name);
      for (size_t k = 0; k < a->client_urls.n; k++)
        for (size_t l = 0; l < b->client_urls.n; l++)
          if (strcmp(a->client_urls.v[k], b->client_urls.v[l]) == 0)
            return spec_fail(c, a->name, "client_urls",
                             "'%s' is also a client URL of member '%s'",
                             a->client_urls.v[k], b->name);
      if (strcmp(a->ssh_host, b->ssh_host) == 0 && a->ssh_port == b->ssh_port &&
          strcmp(a->data_dir, b->data_dir) == 0)
        return spec_fail(c, a->name, "data_dir",
                         "'%s' on %s is also the data dir of member '%s'", a->data_dir,
                         a->ssh_host, b->name);
    }
    for (size_t k = 0; k < a->peer_urls.n; k++)
      for (size_t l = 0; l < k; l++)
        if (strcmp(a->peer_urls.v[k], a->peer_urls.v[l]) == 0)
          return spec_fail(c, a->name, "peer_urls", "'%s' is listed twice", a->peer_urls.v[k]);
  }
  if (s->n_members % 2 == 0 &&
      spec_add_warning(s, "%zu members: an even count tolerates no more failures than "
                       "%zu would; an odd count is recommended", s->n_members,
                       s->n_members - 1))
    return EDR_ENOMEM;
  for (size_t i = 0; i < s->n_members; i++)
    for (size_t k = 0; k < s->members[i].peer_urls.n; k++) {
      char sc[8], h[256];
      int port;
      if (edr_parse_url(s->members[i].peer_urls.v[k], sc, sizeof sc, h, sizeof h, &port) &&
          port == 2379 &&
          spec_add_warning(s, "member '%s': peer URL '%s' has port 2379, etcd's client port: "
                           "is it the client URL? (peers listen on 2380 by default)",
                           s->members[i].name, s->members[i].peer_urls.v[k]))
        return EDR_ENOMEM;
    }
  for (size_t i = 0; i < s->n_members; i++)
    if (s->members[i].data_dir_mode > 0 && (s->members[i].data_dir_mode & 077) &&
        spec_add_warning(s, "member '%s': data_dir_mode %04o lets others read etcd's data; "
                         "etcd expects 0700", s->members[i].name, s->members[i].data_dir_mode))
      return EDR_ENOMEM;
  return 0;
}

/* Resolve every member from drafts: member's own, then CLI, then file-wide. */
int spec_resolve(struct ctx *c, struct edr_spec *s, struct draft *drafts, size_t n,
                 struct draft *cli, struct draft *wide) {
  int rc = 0;
  s->members = calloc(n ? n : 1, sizeof(*s->members));
  if (!s->members)
    return EDR_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < SPEC_N_FIELDS; k++)
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
