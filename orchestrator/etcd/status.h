/*
 * status.h - what `etcd-dr status` knows about each member of a running (or
 * failing) cluster, how it asks the members over HTTP(S), and how it judges
 * the whole: healthy, degraded with quorum, or quorum lost.
 *
 * The HTTP facts come from each member's client URL: GET /health,
 * GET /version, POST /v3/maintenance/status and POST /v3/maintenance/alarm
 * {"action":"GET"} (etcd's JSON gateway, 3.4 and 3.5; 64-bit integers come
 * back as strings and zero fields are omitted).  The SSH facts (reachable,
 * etcd running) are filled in by the caller from the executor's check-only
 * run.  Judging and the body parsers are pure functions, for the tests.
 *
 * Ownership: a row borrows name and client_url from the caller (the spec);
 * everything else in it is inline.  alarm_list is a new reference owned by
 * the row, released by edr_status_rows_release().
 */
#ifndef EDR_STATUS_H
#define EDR_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http.h"  /* struct edr_tls */
#include "plan.h"  /* edr_etcd_queries */

/* How a member is asked (the caller sets it from the plan's health route,
 * plan/health_route.c, before asking). */
enum edr_status_route {
  EDR_STATUS_AUTO,      /* from here; through its host when here gives no answer */
  EDR_STATUS_HERE,      /* from here only (--health-via here) */
  EDR_STATUS_HOST,      /* through its host only: not asked from here */
};

enum edr_status_ssh {
  EDR_SSH_SKIPPED,      /* --no-ssh */
  EDR_SSH_OK,           /* connected and authenticated */
  EDR_SSH_FAILED,       /* could not connect or log in: ssh_error says why */
};

struct edr_status_row {
  const char *name;                /* borrowed */
  const char *client_url;          /* borrowed; the URL asked */
  enum edr_status_route route;     /* EDR_STATUS_AUTO unless the caller says */
  const char *route_why;           /* borrowed; why EDR_STATUS_HOST, or NULL */
  bool host_tls;                   /* the spec names TLS files on its host */
  const char *agent_addr;          /* borrowed; where its host's agent asks the
                                      client URL's host name (resolved here,
                                      etcd/resolve.h), or NULL */

  /* From SSH (the check-only plan).  etcd_running is -1 when unknown. */
  enum edr_status_ssh ssh;
  int etcd_running;
  char ssh_error[512];             /* why SSH or the probe failed, "" */
  /* The member's own db (member/snap/db) read offline by the probe:
   * its revision and consistent index, -1 unknown (no SSH, no db). */
  int64_t db_revision, db_consistent_index;

  /* From HTTP, or through the agent.  reachable: the member answered at
   * least one question.  via_agent: its client URL gave no answer from here
   * (edr_status_needs_agent), so its host's agent asked it instead and
   * the figures below are those answers; http_error still says why not. */
  bool reachable;
  bool via_agent;
  char agent_error[512];           /* why its host's agent got no answer, "" */
  int http_status;                 /* EDR_E* of the first transport failure */
  char http_error[512];            /* that failure in words, "" */
  char http_failed[32];            /* the path of that request, "" */
  int health;                      /* 1 true, 0 false, -1 unknown */
  int health_err;                  /* EDR_E* when /health got no answer */
  char health_reason[160];         /* 3.5's reason, or why health is false */
  bool have_status;                /* /v3/maintenance/status answered */
  uint64_t member_id, cluster_id, leader;
  uint64_t raft_term, raft_index, raft_applied_index;
  int64_t revision;                /* -1 unknown */
  int64_t db_size, db_size_in_use; /* -1 unknown */
  bool is_learner;
  char version[32];                /* etcd server version, "" unknown */
  char cluster_version[32];        /* from /version, "" unknown */
  char errors[256];                /* status "errors" joined with "; " */

  /* Alarms.  alarm_list: the "alarms" array this member answered (a
   * cluster-wide list, every member's alarms), or NULL.  After
   * edr_status_resolve_alarms(), alarms names the alarms raised on this
   * member ("NOSPACE,CORRUPT", "" none) and alarms_known says whether any
   * member's list was seen. */
  json_t *alarm_list;
  bool alarms_known;
  char alarms[64];
};

/* Defaults for a row: unknowns at -1, strings empty. */
void edr_status_row_init(struct edr_status_row *r, const char *name,
                         const char *client_url);
void edr_status_rows_release(struct edr_status_row *rows, size_t n);
/* The member whose db is the freshest (highest db_revision, then highest
 * consistent index; the first in ROWS on a tie), or -1 when no db was
 * read: the one to restore from when no snapshot is newer. */
long edr_status_freshest(const struct edr_status_row *rows, size_t n);

/* Parse one answer into ROW (CODE is the HTTP status, BODY NUL-terminated).
 * Never fail: what cannot be parsed stays unknown, and the reason goes to
 * health_reason or errors. */
void edr_status_parse_health(struct edr_status_row *row, long code, const char *body);
void edr_status_parse_version(struct edr_status_row *row, long code, const char *body);
void edr_status_parse_status(struct edr_status_row *row, long code, const char *body);
void edr_status_parse_alarms(struct edr_status_row *row, long code, const char *body);

/* The answer to query Q (plan.h edr_etcd_queries), whichever way it came:
 * from here or from the member's host (etcd-http).  Never fail. */
void edr_status_parse_answer(struct edr_status_row *row, enum edr_etcd_query q, long code,
                             const char *body);

/* Whether to ask ROW's member through its host's agent: its route says
 * so (EDR_STATUS_HOST, never EDR_STATUS_HERE), or, in auto, its client URL
 * gave no answer at all from here for a reason the member's own host may
 * not share (refused, timed out, no route, name not resolved), or refused
 * this client's TLS while the spec names TLS files on the host. */
bool edr_status_needs_agent(const struct edr_status_row *row);

/* Merge every member's alarm list and give each row the alarms raised on
 * its member ID.  Alarms on an ID no row has are written, one sentence,
 * into other[otherlen] ("" when none).  A row whose /health said false
 * without a reason (etcd 3.4) while an alarm is raised gets the reason
 * "ALARM NAMES (assumed: ...)". */
void edr_status_resolve_alarms(struct edr_status_row *rows, size_t n,
                               char *other, size_t otherlen);

/* Ask every member at once and fill the HTTP part of each row; every
 * request is bounded by timeout_ms (connect included).  Unreachable members
 * are not errors: their rows say why. */
struct edr_status_fetch_opts {
  struct edr_tls tls;              /* borrowed for the start call (libcurl copies) */
  uint64_t timeout_ms;             /* 0: 2000 */
  bool status_only;                /* only /v3/maintenance/status (leader, member
                                      id, revision), which a member answers from
                                      its own state: /health and the alarm list go
                                      through raft and wait out the timeout on a
                                      member without quorum */
};

/* The asking, on the caller's loop (the run's, for a gate or the leader
 * lookup).  CB runs exactly once, from the loop and never from inside
 * edr_status_fetch_start(), with 0 (every request answered or failed: the
 * rows say which) or EDR_ECANCELED (edr_status_fetch_cancel ran; rows hold
 * what arrived before).  ROWS are borrowed until then.  Returns 0, or a
 * negative EDR_E* code (EDR_ENOMEM) and CB never runs.  *OUT (may be NULL)
 * is the fetch, valid until CB runs. */
struct edr_status_fetch;
typedef void (*edr_status_fetch_cb)(void *arg, int status);
int edr_status_fetch_start(uv_loop_t *loop, struct edr_status_row *rows, size_t n,
                           const struct edr_status_fetch_opts *o, edr_status_fetch_cb cb,
                           void *arg, struct edr_status_fetch **out);
/* End the requests still running; CB follows from the loop. */
void edr_status_fetch_cancel(struct edr_status_fetch *f);

/* The same for a command on its own (status, the tests): a loop of its
 * own, started, run and closed.  Returns 0 or a negative EDR_E* code when
 * the loop or client could not be set up (EDR_ENOMEM).  Never call it from
 * a loop's callback: start the fetch on that loop instead. */
int edr_status_fetch(struct edr_status_row *rows, size_t n,
                     const struct edr_status_fetch_opts *o);

enum edr_verdict {
  EDR_VERDICT_HEALTHY,
  EDR_VERDICT_DEGRADED,            /* quorum held */
  EDR_VERDICT_QUORUM_LOST,
  EDR_VERDICT_UNKNOWN,             /* could not ask enough members (TLS refused,
                                      or not reached at all) */
};

struct edr_status_verdict {
  enum edr_verdict verdict;
  size_t healthy, total, quorum;   /* healthy members of the main cluster */
  bool one_cluster;                /* every member that answered agrees */
  size_t leaders;                  /* members saying they lead (main cluster) */
  const char *leader_name;         /* borrowed from a row, NULL if not one */
  size_t unreached;                /* members of unknown state
                                      (edr_status_row_unreached) */
  char line[192];                  /* "healthy", "degraded, quorum held (2 of
                                      3 healthy)", "QUORUM LOST (1 of 3 healthy)" */
  char why[512];                   /* the first reasons it is not healthy, "" */
};

/* Judge the rows (after edr_status_resolve_alarms).  Pure.
 * A member counts as healthy when its /health said true and its status
 * answered, or when /health said false only because an alarm is raised
 * (etcd fails /health on every member then; the member still has a
 * leader): an alarm makes the cluster degraded, never "quorum lost".  When members answer with different cluster IDs, the cluster
 * with the most healthy members is the one counted.  healthy: every member
 * healthy, one cluster, exactly one leader that every member names, no
 * alarm; else degraded while healthy >= total / 2 + 1; else unknown when
 * members refused this client's TLS, or when the unreached members (below)
 * would make a quorum with the healthy ones; else quorum lost. */
void edr_status_judge(const struct edr_status_row *rows, size_t n,
                      struct edr_status_verdict *out);

/* Whether nothing is known of ROW's member: no answer here or through its
 * host, and neither its host's probe over SSH said etcd is stopped nor
 * (without SSH) its client URL refused the connection, which says the host
 * is up and etcd is not listening. */
bool edr_status_row_unreached(const struct edr_status_row *row);

/* Exit status for a verdict: 0 healthy, 1 degraded, 3 quorum lost,
 * 4 unknown (members refused this client's TLS or could not be reached:
 * never "restore" advice). */
int edr_status_exit_code(enum edr_verdict v);
const char *edr_verdict_name(enum edr_verdict v);  /* "healthy", "degraded", "quorum-lost" */

#endif
