/*
 * plan.h - the restore plan: every action on every host, in order.
 *
 * A spec (and later a playbook) compiles into one edr_plan.  `etcd-dr plan`
 * prints it, `etcd-dr restore` executes it step by step, and the report
 * records it, so what is printed is what runs.  A step that the agent
 * performs carries the exact JSON request sent to the agent; a step that
 * runs a command carries its exact argv.
 *
 * The restore is arranged so that the destructive window is small: the
 * snapshot is pushed, verified and restored into a staging directory inside
 * the data dir (same file system) while etcd may still be running; only
 * when every host got that far does any host stop etcd, rename the old
 * member dir aside (kept, never deleted), rename the staged member into
 * place, fix owner and mode, and start etcd.
 *
 * Ownership: the plan owns every string, step and JSON request in it; it
 * borrows the spec, which must outlive it.
 */
#ifndef EDR_PLAN_H
#define EDR_PLAN_H

#include "aside.h"
#include "err.h"
#include "spec.h"

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum edr_phase {
  EDR_PHASE_CHECK,     /* reads only, and takes the host lock */
  EDR_PHASE_PREPARE,   /* stages; changes nothing etcd uses */
  EDR_PHASE_APPLY,     /* stops etcd and swaps data dirs: destructive */
  EDR_PHASE_CLEANUP,   /* after the cluster is healthy */
  EDR_PHASE__COUNT
};

enum edr_step_kind {
  EDR_STEP_CONNECT,
  EDR_STEP_PUSH_AGENT,
  EDR_STEP_PROBE,
  EDR_STEP_LOCK,
  EDR_STEP_FIND_OLD,
  EDR_STEP_PUSH_TOOL,
  EDR_STEP_TOOL_MODE,
  EDR_STEP_PUSH_SNAPSHOT,
  EDR_STEP_RESTORE,
  EDR_STEP_HOLD_LOCK,
  EDR_STEP_STOP,
  EDR_STEP_CHECK_STOPPED,
  EDR_STEP_MOVE_ASIDE,
  EDR_STEP_MOVE_ASIDE_WAL,
  EDR_STEP_INSTALL,
  EDR_STEP_INSTALL_WAL,
  EDR_STEP_OWNERSHIP,
  EDR_STEP_OWNERSHIP_WAL,
  EDR_STEP_START,
  EDR_STEP_CLEANUP,
  EDR_STEP_UNLOCK,
  /* playbook steps (docs/playbooks.md) */
  EDR_STEP_MOVE_BACK,        /* rename a path moved aside back into place */
  EDR_STEP_EXEC,             /* run an argv from the playbook */
  EDR_STEP_EXEC_RO,          /* the same, declared read-only */
  EDR_STEP_SET_ENV,          /* set KEY=value lines in the member's env_file */
  EDR_STEP_RESET_ENV,        /* put the env_file back as it was */
  /* snapshot save --via ssh (EDR_PLAN_SNAPSHOT) */
  EDR_STEP_STAGE_DIR,        /* mkdir DATA/.etcd-dr-RUN, removed when the agent exits */
  EDR_STEP_TAKE_SNAPSHOT,    /* the agent's etcd-snapshot into it, from the client URL */
  EDR_STEP_FETCH_SNAPSHOT,   /* send: streamed back to the executor's fetch sink */
  EDR_STEP_UNSTAGE,          /* remove the staging directory */
  /* status: the host's agent asks its member (plan opts ask_etcd): one
   * etcd-http request of edr_etcd_queries each */
  EDR_STEP_ASK,              /* a failure is a fact about the member, not the host's:
                                its result is the agent's whole reply */
  /* prune (EDR_PLAN_PRUNE, plan_prune.c) */
  EDR_STEP_LIST_ASIDE,       /* what earlier runs left moved aside on the host */
  EDR_STEP_PRUNE,            /* remove the runs' dirs the policy chose (the
                                request's runs are filled in by the command) */
  /* the snapshot's route (route.c, docs/transfer.md) */
  EDR_STEP_CHECK_SNAPSHOT,   /* the snapshot on this host: size, sha-256, trailer */
  EDR_STEP_RELAY_CHECK,      /* the previous host reaches this one with the run's key */
  /* discover (EDR_PLAN_DISCOVER) */
  EDR_STEP_DISCOVER,         /* how etcd is started on the host, its members from its db */
  EDR_STEP__COUNT
};

/* Coordinator work done once every host finished a stage's steps. */
enum edr_gate_kind {
  EDR_GATE_NONE,
  EDR_GATE_HEALTH,           /* restore: all members healthy at the snapshot's revision */
  EDR_GATE_WAIT_HEALTHY,     /* playbook wait-healthy: some members, a min revision */
  EDR_GATE_MEMBER_ADD,
  EDR_GATE_MEMBER_REMOVE,
  EDR_GATE_SNAPSHOT_SAVE,
  EDR_GATE_CONFIRM,          /* ask the operator on the terminal */
  EDR_GATE_PAUSE,
  EDR_GATE__COUNT
};

extern const char *const edr_gate_names[EDR_GATE__COUNT];

/* A stage is a barrier: no host starts a step of stage k+1 before every host
 * finished its steps of stage k and the stage's gate (if any) passed.  A
 * restore has four (check, prepare, apply + health, cleanup); a playbook has
 * one or more per playbook step. */
struct edr_stage {
  char *name;                /* "check", ..., or the playbook step's name */
  char *title;               /* one line for a person (the gate's action) */
  enum edr_phase phase;      /* what stopping in this stage means */
  enum edr_gate_kind gate;
  size_t *members;           /* gate's members (indices into plan->hosts) */
  size_t n_members;
  int64_t min_revision;      /* wait-healthy: -1 the current one, -2 the snapshot's */
  bool others_allowed;       /* wait-healthy: the cluster may have other members
                                (a quorum of it is the members waited for) */
  uint64_t timeout_ms;       /* the gate's bound (0: its default) */
  unsigned retries;          /* gate retries after a failure */
  uint64_t retry_delay_ms;
  bool continue_on_failure;  /* a failed gate is warned about, the run goes on */
  char *dir;                 /* snapshot-save */
  char *output;
  unsigned keep;
  char *message;             /* confirm */
  char *note;                /* the playbook step's comment: why it is there */
  uint64_t pause_ms;         /* pause */
};

struct edr_step_kind_info {
  const char *name;          /* "push-snapshot": stable, used in JSON and logs */
  enum edr_phase phase;
  bool destructive;          /* changes what etcd runs on */
  bool on_agent;             /* a request to the agent (else coordinator work) */
  uint64_t timeout_ms;       /* default bound for the whole step */
};

/* What an optional host (edr_host_plan.optional) is, in the plan's words
 * (print.c): the text and the JSON say it the same way. */
extern const char edr_plan_optional_why[];

/* The table of step kinds, indexed by enum edr_step_kind. */
extern const struct edr_step_kind_info edr_step_kinds[EDR_STEP__COUNT];
extern const char *const edr_phase_names[EDR_PHASE__COUNT];

struct edr_step {
  enum edr_step_kind kind;
  char *title;               /* one line for a person */
  char *command;             /* the argv shell-quoted, for steps that run one */
  char **argv;               /* that argv, NULL-terminated, owned; or NULL */
  json_t *request;           /* agent request (with "op", without "id"); owned */
  uint64_t timeout_ms;
  size_t stage;              /* index into plan->stages */
  unsigned retries;          /* run again after a failure, this many times */
  uint64_t retry_delay_ms;
  bool continue_on_failure;  /* a failure is warned about; the host goes on */
  bool allow_empty_start;    /* start: the member joins an existing cluster */
};

struct edr_host_plan {
  const struct edr_member *member;   /* borrowed from the spec */
  char *staging;             /* DATA/.etcd-dr-RUN: everything staged goes here */
  char *host_snapshot;       /* STAGING/snapshot.db */
  char *restore_dir;         /* STAGING/data: --data-dir of the restore */
  char *wal_holder;          /* WALPARENT/.etcd-dr-RUN-wal (root's, 0700), or NULL */
  char *wal_staging;         /* WAL_HOLDER/wal: --wal-dir of the restore, or NULL */
  char *member_aside;        /* DATA/member.etcd-dr-RUN: the old member, kept */
  char *wal_aside;           /* WAL.etcd-dr-RUN, or NULL */
  char *host_tool;           /* pushed restore tool's path on the host, or NULL */
  char *lock_path;           /* DATA/.etcd-dr-lock */
  char *marker;              /* DATA/.etcd-dr-RUN.done: apply steps done here */
  char *failed_aside;        /* rollback: where the restored member goes */
  char *env_backup;          /* set-env: ENV_FILE.etcd-dr-RUN, or NULL */
  long relay_prev, relay_next;  /* hosts before and after this one in the relay
                                   (indices into plan->hosts), or -1 */
  bool relay_named;          /* pushed from here although the relay runs: its
                                relay_address is a host name (route.c) */
  bool optional;             /* joins the run only so that its member can be
                                asked through its agent (no step of its own, no
                                route through it that the plan fixed): a failure
                                in the check leaves it out of the run, which goes
                                on and asks its member from here (engine/host.c) */
  size_t phase_stage[EDR_PHASE__COUNT]; /* builder's scratch: the stage of
                                          each phase's restore steps */
  struct edr_step *steps;
  size_t n_steps;
};

enum edr_plan_kind {
  EDR_PLAN_RESTORE,          /* restore every member from a snapshot */
  EDR_PLAN_CHECK,            /* only the read-only checks (plan --check) */
  EDR_PLAN_ROLLBACK,         /* put back the member dirs a restore moved aside */
  EDR_PLAN_RUN,              /* a playbook (playbook.h) */
  EDR_PLAN_SNAPSHOT,         /* take a snapshot on each host, stream it back; every
                                step is in the check phase: nothing etcd uses is
                                changed, and a failure removes the staging */
  EDR_PLAN_PRUNE,            /* remove old runs' moved-aside dirs (plan_prune.c);
                                check_only: list them, remove nothing */
  EDR_PLAN_DISCOVER,         /* read how etcd is started and its db's members on
                                one host (etcd-dr discover); changes nothing */
  EDR_PLAN__COUNT
};

/* How the snapshot reaches the hosts (--transfer, docs/transfer.md). */
enum edr_transfer {
  EDR_TRANSFER_AUTO,         /* relay where the hosts reach each other, else direct */
  EDR_TRANSFER_RELAY,        /* relay, and a host its predecessor cannot reach fails
                                the check */
  EDR_TRANSFER_DIRECT,       /* the coordinator pushes to every host */
};
extern const char *const edr_transfer_names[3];
/* Whether the snapshot's push is compressed (docs/etcd-dr.1 --compress). */
enum edr_compress {
  EDR_COMPRESS_AUTO,         /* when the start of the file and the link say it pays */
  EDR_COMPRESS_ON,
  EDR_COMPRESS_OFF,
};
extern const char *const edr_compress_names[]; /* "auto", "on", "off" */

/* What compressing the start of the snapshot showed (the coordinator's
 * transport/zsrc.h measures it); sampled 0: not measured. */
struct edr_compress_sample {
  uint64_t sampled;
  double ratio, bytes_per_s;
};

/* What the probe's facts must show before a plan of a kind goes on. */
enum edr_probe_needs {
  EDR_PROBE_NOTHING,         /* nothing: later steps check what matters */
  EDR_PROBE_RESTORE,         /* a usable restore tool, room, the data dir */
  EDR_PROBE_RESTORE_STEPS,   /* the same, on a host with a step that restores */
  EDR_PROBE_SNAPSHOT_ROOM,   /* room for a snapshot beside etcd's data */
};

/* What the engine does differently for each kind of plan, so that it knows
 * no kind by name (plan.c's edr_plan_kinds[], indexed by the kind). */
struct edr_plan_kind_info {
  bool changes_hosts;        /* a host through all its steps counts as restored;
                                false: it only looked (a check) */
  bool keep_going_allowed;   /* may run with the per-host keep-going policy */
  bool marks_apply_steps;    /* each apply step is recorded in the host's marker,
                                which a resumed run reads */
  bool leader_last;          /* its stops wait for the cluster's leader to go last */
  bool auto_bump;            /* --bump-revision auto is computed from the probes */
  bool operator_stages;      /* the stages are the operator's (a playbook): messages
                                and progress name them */
  bool unlock_on_abort;      /* stopped after changing hosts: the lock is released
                                (no resume takes it over) */
  enum edr_probe_needs probe;
};
extern const struct edr_plan_kind_info edr_plan_kinds[EDR_PLAN__COUNT];

/* What status asks each member with etcd's JSON gateway (health_route.c):
 * from here (etcd/status.c) and from its host (the ask-etcd steps'
 * etcd-http requests, in this order), so that both ask the same and one
 * parser reads both. */
enum edr_etcd_query { EDR_QUERY_STATUS, EDR_QUERY_HEALTH, EDR_QUERY_VERSION, EDR_QUERY_ALARM,
                      EDR_QUERY__COUNT };
struct edr_etcd_query_def {
  const char *path, *method, *body;  /* body NULL: none */
};
extern const struct edr_etcd_query_def edr_etcd_queries[EDR_QUERY__COUNT];
/* The query of PATH, or EDR_QUERY__COUNT. */
enum edr_etcd_query edr_etcd_query_of(const char *path);

/* How the health wait asks the members (--health-via, health_route.c). */
enum edr_health_via { EDR_HEALTH_VIA_AUTO, EDR_HEALTH_VIA_HERE, EDR_HEALTH_VIA_HOSTS };
extern const char *const edr_health_via_names[];  /* "auto", "here", "hosts" */

struct edr_plan_opts {
  enum edr_plan_kind kind;
  enum edr_transfer transfer;
  const char *snapshot_member;   /* the member whose host holds the snapshot
                                    (--snapshot HOST:PATH, --from-member), or NULL */
  const char *snapshot_remote;   /* its path there */
  bool from_member;          /* that file is the member's own member/snap/db */
  enum edr_compress compress;
  struct edr_compress_sample compress_sample;
  const char *snapshot;      /* local path */
  uint64_t snapshot_size;
  const char *snapshot_sha256;   /* hex SHA-256 of the image (the file less its trailer) */
  bool snapshot_has_hash;    /* has the integrity trailer */
  bool skip_hash_check;      /* pass --skip-hash-check to the restore */
  int64_t snapshot_revision; /* the cluster must serve at least this; -1 unknown */
  const char *run_id;        /* NULL: new, from the clock */
  uint64_t health_timeout_ms;
  const char *tool_sha256;   /* of spec's restore_tool_push file, if any */
  uint64_t tool_size;
  const char *tool_version;  /* of that file, as `TOOL version` says here; NULL unknown */
  bool check_only;           /* same as kind EDR_PLAN_CHECK */
  int64_t bump_revision;     /* 0 none, -1 auto (from the old data), else N */
  bool break_lock;           /* take a host lock held by another run */
  const char *command;       /* "restore", "rollback": recorded in the lock */
  bool ask_etcd;             /* check plan (status): then ask the member from its
                                host (etcd-http): each of edr_etcd_queries */
  uint64_t ask_timeout_ms;   /* each of those requests' bound; 0: the agent's 2 s */
  uint64_t save_deadline_ms; /* snapshot plan: the take and fetch steps' bound; 0: theirs */
  uint64_t save_idle_ms;     /* snapshot plan: the agent gives up when the member
                                sends nothing for this long (a member that stopped
                                answering mid-save); 0: 30 s */
  struct edr_prune_policy prune; /* prune plan: which runs' dirs go */
  json_t *discover;          /* discover plan: the discover request's fields
                                (unit, manifest, ...); borrowed, copied */
  enum edr_health_via health_via;  /* --health-via; this machine's client
                                      certificate is $ETCDCTL_CERT, as the
                                      health wait's (cmd/gates.c) */
};

/* One member's route: through its host's agent (with the host's
 * certificates) or from here, why, and whether auto still looks at its
 * client URL from here once before anything stops.  ADDR and UNRESOLVED
 * are filled before the run, never by the plan (etcd/resolve.h): the
 * agent resolves no names, so a client URL whose host is a name is asked
 * through the host at the address this machine resolved for it. */
struct edr_health_route {
  bool via_host;
  bool look;
  bool unresolved;           /* its client URL's host name does not resolve
                                here: auto keeps it here */
  bool refused;              /* auto kept it here because its client URL
                                refused the connection from here: a stopped
                                etcd, or a firewall that rejects (see
                                edr_health_route_refused_here) */
  char addr[INET6_ADDRSTRLEN];  /* that name's address, resolved here; "": the
                                   URL's host is an address, or not resolved */
  char why[400];
};

struct edr_plan {
  char run_id[40];
  char *token;               /* --initial-cluster-token */
  char *initial_cluster;     /* name=url,... as passed to every restore */
  const struct edr_spec *spec;
  char *snapshot;
  uint64_t snapshot_size;
  char *snapshot_sha256;
  bool snapshot_has_hash, skip_hash_check;
  int64_t snapshot_revision;
  uint64_t health_timeout_ms;
  uint64_t save_idle_ms;     /* as in the opts, 0 replaced by the default */
  uint64_t save_deadline_ms; /* as in the opts */
  bool check_only;
  char *tool_version;        /* as in the opts, or NULL */
  enum edr_plan_kind kind;
  int64_t bump_revision;     /* 0 none, -1 auto, else N */
  bool break_lock;
  char *command;
  struct edr_host_plan *hosts;   /* one per member, in spec order */
  size_t n_hosts;
  struct edr_stage *stages;  /* in order; every step names one */
  size_t n_stages;
  bool confirm;              /* ask before the first destructive stage */
  bool ask_etcd;             /* check plan: ask-etcd steps (plan opts) */
  uint64_t ask_timeout_ms;   /* as in the opts */
  char *playbook;            /* the playbook's name (EDR_PLAN_RUN), or NULL */
  struct edr_prune_policy prune; /* as in the opts */
  /* the route of the snapshot (route.c, docs/transfer.md) */
  enum edr_transfer transfer;
  bool relay;                /* some host gets the snapshot from another host */
  int relay_port;            /* the run's port (a member's relay_port overrides) */
  long snapshot_host;        /* index of the host holding the snapshot, or -1 */
  char *snapshot_remote;     /* its path there, or NULL */
  bool from_member;          /* that is the member's own member/snap/db */
  enum edr_compress compress;    /* as in the opts */
  struct edr_compress_sample compress_sample;
  /* How the health wait asks each member (n_hosts, owned; health_route.c):
   * decided by edr_health_routes_decide, updated by the run (cmd/gates.c)
   * through edr_health_route_seen before it stops anything.  NULL: every
   * member from here. */
  enum edr_health_via health_via;
  struct edr_health_route *health_routes;
};

/* Decide P's routes for VIA: CERT_HERE says this machine has a client
 * certificate (ETCDCTL_CERT).  0 or EDR_ENOMEM. */
int edr_health_routes_decide(struct edr_plan *p, enum edr_health_via via, bool cert_here);
/* A member auto still looks at: its client URL answered from here
 * (STATUS 0) or failed with STATUS (DETAIL says how); moved to its host
 * when that says no route or a refused TLS the host has files for. */
void edr_health_route_seen(struct edr_health_route *r, const struct edr_member *m,
                           int status, const char *detail);
/* Whether auto keeps R here only because its client URL refused the
 * connection from here.  A firewall that rejects (a TCP reset: firewalld,
 * ufw, iptables REJECT) says that as well as an etcd that is not running,
 * so the run asks such a member through its host once it has reason to
 * doubt it (cmd/gates.c): its host's probe found etcd running, or it is
 * still refused a while into the health wait.  False for a name the agent
 * could not ask (unresolved). */
bool edr_health_route_refused_here(const struct edr_health_route *r);
/* R was refused from here and its client URL gave an HTTP answer on its
 * host: something between this machine and the member rejects
 * connections, so it is asked through its host from now on, saying why. */
void edr_health_route_answered_on_host(struct edr_health_route *r);
/* The address resolved here (etcd/resolve.h) that a request through host
 * I's agent for URL carries as "addr": member I's, when URL is its client
 * URL and its host is a name; else NULL (the agent connects to URL's host). */
const char *edr_health_route_addr(const struct edr_plan *p, size_t i, const char *url);
/* Whether a member whose route R asks it from here (--health-via here, or
 * auto after a look that kept it here) can never be checked from here,
 * going by what its client URL said from here (STATUS): no route to it
 * (timed out, unreachable, no such name) or its TLS refused.  The leader
 * lookup then stops the run before anything stops (cmd/gates.c). */
bool edr_health_route_dead_end(const struct edr_health_route *r, int status);
/* "from here (...)" or "through HOST's agent, with its certificates (...)". */
void edr_health_route_say(const struct edr_plan *p, size_t i, char *out, size_t len);
/* Whether P may ask member I's client URL through its host's agent: its
 * route goes through the host or may still move there (auto) and a health
 * gate, a member change or the leader lookup asks it (as for
 * edr_health_route_tls_on_host), or status's ask-etcd steps are on the
 * host.  Decided before the run. */
bool edr_health_route_through_host(const struct edr_plan *p, size_t i);
/* Whether the run may ask host I's agent an https URL (etcd-http over TLS,
 * the one request that needs the agent built with TLS): its member's client
 * URL is https, its route goes through the host or may still move there
 * (auto), and P asks it the way its health is asked: a health gate that
 * covers it, a member-add or -remove of another member, or the leader
 * lookup before the first stop; or status's ask-etcd steps on the host name
 * an https URL.  Decided before the run, so it holds whatever the run later
 * finds. */
bool edr_health_route_tls_on_host(const struct edr_plan *p, size_t i);

/* Build the plan.  Returns 0 and sets *out, or a negative EDR_E* code with
 * the message in ERR (the caller's, err.h).  Opens no connection and reads
 * no file. */
int edr_plan_build(const struct edr_spec *spec, const struct edr_plan_opts *o,
                   struct edr_plan **out, struct edr_error *err);

/* For builders of other plans (playbook.c).  An empty plan with the common
 * fields of O set and per-host paths, no steps and no stages. */
int edr_plan_new(const struct edr_spec *spec, const struct edr_plan_opts *o,
                 struct edr_plan **out, struct edr_error *err);
/* Append a stage; returns its index or a negative EDR_E* code. */
long edr_plan_add_stage(struct edr_plan *p, const char *name, enum edr_phase phase);
/* The restore's steps for host H, each with its stage set from STAGES
 * (indexed by phase); HOLD_CHECK false leaves out the check steps. */
int edr_plan_restore_steps(struct edr_plan *p, const struct edr_plan_opts *o,
                           struct edr_host_plan *h, const size_t stages[EDR_PHASE__COUNT],
                           bool with_check);
/* Append a step to H in STAGE.  REQUEST is stolen; ARGV copied; TITLE is
 * printf-like.  Returns the step or NULL when out of memory. */
struct edr_step *edr_plan_add_step(struct edr_host_plan *h, size_t stage,
                                   enum edr_step_kind kind, json_t *request,
                                   char *const *argv, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The hold-lock step of H in STAGE: the run's lock, kept from here on even
 * if the connection is lost. */
int edr_plan_hold_lock(struct edr_plan *p, struct edr_host_plan *h, size_t stage);
/* The request that takes H's host lock for P's run; AUTO_RELEASE: released
 * by the agent if the connection ends first.  A new reference. */
json_t *edr_plan_lock_request(const struct edr_plan *p, const struct edr_host_plan *h,
                              bool auto_release);
/* The relay's route (route.c): who forwards to whom, from the spec's
 * order with the host holding the snapshot first.  Called by the builder;
 * a refusal's message is in ERR. */
int edr_plan_route(struct edr_plan *p, const struct edr_plan_opts *o, struct edr_error *err);
/* H's check-phase steps of the route: the snapshot's check on the host that
 * holds it, the relay's reachability check. */
int edr_plan_route_checks(struct edr_plan *p, struct edr_host_plan *h);
/* The relay's fields of H's push request (listen, forward, source); the
 * run adds its key and drops what the check ruled out. */
int edr_plan_route_push(const struct edr_plan *p, const struct edr_host_plan *h, json_t *req);
/* Where H's snapshot comes from and goes on to, in words; BRIEF: without
 * the port and the fallback. */
void edr_plan_route_from(const struct edr_plan *p, const struct edr_host_plan *h, bool brief,
                         char *buf, size_t len);
/* The route as plan prints it: a line per host. */
void edr_plan_route_print(const struct edr_plan *p, FILE *out);
/* H's connect step in the stage of its check phase (phase_stage). */
int edr_plan_connect_step(struct edr_host_plan *h);
/* How H's etcd is stopped and started (service.c): its stop_command and
 * start_command, or with the kubeadm preset a move of its static pod
 * manifest out of the manifests dir and back, then a wait until etcd has
 * really exited.  Each appends its step to H in STAGE and returns it, or
 * NULL when out of memory.  NOTE (may be NULL) follows "start etcd". */
struct edr_step *edr_plan_stop_step(struct edr_host_plan *h, size_t stage);
struct edr_step *edr_plan_check_stopped_step(struct edr_host_plan *h, size_t stage);
struct edr_step *edr_plan_start_step(struct edr_host_plan *h, size_t stage, const char *note);
/* The kubeadm preset's restore and rollback keep kube-apiserver away from etcd: its
 * manifest parked (and a wait until it is gone) before etcd is stopped, and
 * moved back once the cluster is healthy.  0 (nothing for other members)
 * or EDR_ENOMEM. */
int edr_plan_park_apiserver(struct edr_host_plan *h, size_t stage);
int edr_plan_unpark_apiserver(struct edr_host_plan *h, size_t stage);
/* The ports M's etcd listens on (its client and peer URLs'); a new reference. */
json_t *edr_plan_member_ports(const struct edr_member *m);
/* What the probe looks up for them: "commands" (the stop and start
 * programs) or "manifest" (where it is, where it waits while stopped). */
int edr_plan_service_probe(const struct edr_member *m, json_t *probe_request);
/* The prune's steps of H (plan_prune.c). */
int edr_plan_prune_host(struct edr_plan *p, struct edr_host_plan *h);
void edr_plan_prune_print(const struct edr_plan *p, FILE *out);
/* The check steps (connect, agent, probe, lock) of H in STAGE. */
int edr_plan_check_steps(struct edr_plan *p, struct edr_host_plan *h, size_t stage);
/* The first stage that changes what etcd uses (phase apply: a destructive
 * step, or a member add/remove), or n_stages. */
size_t edr_plan_first_destructive(const struct edr_plan *p);
void edr_plan_free(struct edr_plan *plan);

/* A new run id "YYYYMMDD-HHMMSS-xxxx" (UTC, random suffix) into buf[40]. */
void edr_new_run_id(char *buf, size_t len);

void edr_plan_print(const struct edr_plan *plan, FILE *out);
/* The heading of member M's steps in a printed plan. */
void edr_plan_print_member(const struct edr_member *m, FILE *out);
/* The plan as JSON; a new reference. */
json_t *edr_plan_to_json(const struct edr_plan *plan);

#endif
