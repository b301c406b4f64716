/*
 * members.c - list, add and remove members of a running cluster through
 * etcd's JSON gateway, for the playbook steps member-add and member-remove.
 *
 * One operation (edr_members_start) is a small state machine on the
 * caller's libuv loop with its own edr_http client: list, then change, then
 * (when the change's answer may have been lost) list again, each request
 * started from the previous one's callback; the run's gates use it so.  The
 * synchronous calls are the same operation on a loop they own and run, for
 * a caller on no loop (the tests' members_cli).  A change is always
 * preceded by a list from the same member: that
 * list decides whether there is anything to do (idempotence) and, for a
 * remove, which member id to remove.  When a change's answer is lost and a
 * later member says the change is already there ("Peer URLs already exists",
 * "member not found"), the call lists again and reports what it finds.
 */
#include "members.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "auth.h"
#include "err.h"
#include "health.h"  /* edr_gw_u64, edr_gw_str, edr_url_eq */
#include "util.h"

/* Map a gateway error answer to our codes.  The gateway sends
 * {"error": "...", "message": "...", "code": N} (3.4) or {"code": N,
 * "message": "..."} (3.5), N a gRPC status code. */
static int gw_err_code(long grpc, const char *msg) {
  if (strstr(msg, "not enough started members") ||
      strstr(msg, "unhealthy cluster"))
    return EDR_EUNHEALTHY;
  switch (grpc) {
  case 3:  /* InvalidArgument */
    return EDR_EINVAL;
  case 5:  /* NotFound */
    return EDR_ENOENT;
  case 6:  /* AlreadyExists */
  case 9:  /* FailedPrecondition: "Peer URLs already exists" */
    return EDR_EEXIST;
  case 4:  /* DeadlineExceeded */
  case 14: /* Unavailable: no leader, request timed out, ... */
    return EDR_EUNHEALTHY;
  default:
    return EDR_EHTTP;
  }
}

/* What one gateway request came to: 0 with *OUT the parsed JSON object
 * (new reference), or a negative code with WHY (replaced) saying what went
 * wrong, without the URL (the caller names it).  *ANSWERED says whether
 * etcd itself answered (an HTTP response arrived) as opposed to a
 * transport failure. */
static int gw_answer(int status, long code, const char *body, const char *errtext,
                     json_t **out, bool *answered, struct edr_str *why) {
  int rc;
  *out = NULL;
  *answered = false;
  edr_str_reset(why);
  if (status < 0) {
    if (errtext && errtext[0] && status != EDR_ECONNREFUSED && status != EDR_ETIMEDOUT)
      edr_str_appendf(why, "%s (%s)", edr_strerror(status), errtext);
    else
      edr_str_append(why, edr_strerror(status));
    return status;
  }
  *answered = true;
  json_t *j = json_loads(body, 0, NULL);
  if (code != 200) {
    const char *msg = j ? edr_gw_str(j, "message") : "";
    if (!*msg && j)
      msg = edr_gw_str(j, "error");
    if (*msg) {
      edr_str_append(why, msg);
      rc = gw_err_code((long)edr_gw_u64(j, "code"), msg);
    } else {
      edr_str_appendf(why, "HTTP %ld: %.120s", code, body);
      rc = EDR_EHTTP;
    }
    json_decref(j);
    return rc;
  }
  if (!json_is_object(j)) {
    edr_str_appendf(why, "the answer is not etcd's gateway JSON: %.120s", body);
    json_decref(j);
    return EDR_EHTTP;
  }
  *out = j;
  return 0;
}

/* ---- member lists ---------------------------------------------------------- */

static int strv_add(struct edr_strv *sv, const char *s) {
  char **v = realloc(sv->v, (sv->n + 2) * sizeof *v);
  if (!v)
    return EDR_ENOMEM;
  sv->v = v;
  if (!(v[sv->n] = strdup(s)))
    return EDR_ENOMEM;
  v[++sv->n] = NULL;
  return 0;
}

static void strv_release(struct edr_strv *sv) {
  for (size_t i = 0; i < sv->n; i++)
    free(sv->v[i]);
  free(sv->v);
  sv->v = NULL;
  sv->n = 0;
}

static int strv_from_json(struct edr_strv *sv, json_t *arr) {
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    if (json_is_string(e) && strv_add(sv, json_string_value(e)) < 0)
      return EDR_ENOMEM;
  }
  return 0;
}

void edr_member_list_release(struct edr_member_list *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    strv_release(&l->v[i].peer_urls);
    strv_release(&l->v[i].client_urls);
  }
  free(l->v);
  free(l->asked);
  memset(l, 0, sizeof *l);
}

static int parse_list(json_t *j, struct edr_member_list *out) {
  json_t *ms = json_object_get(j, "members");
  if (!json_is_array(ms))
    return EDR_EHTTP;
  snprintf(out->cluster_id, sizeof out->cluster_id, "%" PRIx64,
           edr_gw_u64(json_object_get(j, "header"), "cluster_id"));
  out->v = calloc(json_array_size(ms) + 1, sizeof *out->v);
  if (!out->v)
    return EDR_ENOMEM;
  size_t i;
  json_t *e;
  json_array_foreach(ms, i, e) {
    struct edr_member_info *m = &out->v[out->n++];
    snprintf(m->id, sizeof m->id, "%" PRIx64, edr_gw_u64(e, "ID"));
    m->is_learner = json_is_true(json_object_get(e, "isLearner"));
    if (!(m->name = strdup(edr_gw_str(e, "name"))) ||
        strv_from_json(&m->peer_urls, json_object_get(e, "peerURLs")) < 0 ||
        strv_from_json(&m->client_urls, json_object_get(e, "clientURLs")) < 0)
      return EDR_ENOMEM;
  }
  return 0;
}

/* Append "; " + TEXT to a message being built, silently cut at its end. */
/* TEXT after what BUF holds, "; " between. */
static void append(struct edr_str *buf, const char *text) {
  edr_str_appendf(buf, "%s%s", buf->len ? "; " : "", text);
}

/* ---- matching ----------------------------------------------------------------- */

static bool has_url(const struct edr_strv *sv, const char *u) {
  for (size_t i = 0; i < sv->n; i++)
    if (edr_url_eq(sv->v[i], u))
      return true;
  return false;
}

/* Exactly those peer URLs, in any order. */
static bool same_peers(const struct edr_member_info *m,
                       const char *const *peer, size_t n_peer) {
  size_t distinct = 0;
  for (size_t i = 0; i < n_peer; i++) {
    if (!has_url(&m->peer_urls, peer[i]))
      return false;
    bool dup = false;
    for (size_t k = 0; k < i && !dup; k++)
      dup = edr_url_eq(peer[k], peer[i]);
    distinct += !dup;
  }
  return distinct == m->peer_urls.n;
}

static const struct edr_member_info *
find_by_peers(const struct edr_member_list *l, const char *const *peer,
              size_t n_peer, bool exact) {
  for (size_t i = 0; i < l->n; i++) {
    if (exact && same_peers(&l->v[i], peer, n_peer))
      return &l->v[i];
    for (size_t k = 0; !exact && k < n_peer; k++)
      if (has_url(&l->v[i].peer_urls, peer[k]))
        return &l->v[i];
  }
  return NULL;
}

/* What an operator can do about a refusal etcd explains. */
static const char *hint(const char *why) {
  if (strstr(why, "not enough started members"))
    return ": a member added earlier has never started; start it (or remove "
           "it) first";
  if (strstr(why, "unhealthy cluster"))
    return ": the member asked has not been connected to every peer for "
           "the last 5 s; start the members that are down, or wait, and "
           "retry";
  if (strstr(why, "Peer URLs already exists"))
    return ": another member uses that peer URL; remove it first";
  return edr_etcd_auth_hint(why, NULL);
}

static int check_urls(const char *what, const char *const *urls, size_t n_urls,
                      struct edr_error *err) {
  if (!urls || n_urls == 0)
    return edr_error_set(err, EDR_EINVAL, "cannot %s: no client URL to ask", what);
  return 0;
}


/* ---- one operation on the caller's loop ------------------------------------ */

/* P_AUTH: a token from the member about to be asked for the change (a
 * simple token is good on the member that issued it only), when a user is
 * given: etcd lists members for anyone but changes them for root only. */
enum phase { P_LIST, P_AUTH, P_CHANGE, P_RELIST };

struct edr_members_call {
  struct edr_members_req req;    /* its pointers borrowed until CB */
  struct edr_http *http;
  edr_members_cb cb;
  void *arg;
  enum phase phase;
  size_t i;                      /* the URL being asked */
  size_t at;                     /* the URL whose list decided */
  const char *shown;             /* the member as messages name it */
  char *body;                    /* the change's request body */
  char *token;                   /* etcd's token for req.user at URL c->i */
  char remove_id[17];
  struct edr_member_list list;   /* the first list, until the end */
  struct edr_str why;            /* each URL's reason so far */
  struct edr_str by_why;         /* the refusal of an add listed again */
  const char *by;                /* the URL that answered the change */
  int last;                      /* the last failure while listing */
  bool closing;
  bool over;                     /* CB ran: only answers through VIA awaited */
  unsigned via_pending;          /* requests through req.via under way */
  bool *via_now;                 /* each URL asked through req.via (n_urls) */
  struct edr_members_result res;
};

static void ask(struct edr_members_call *c);

static void on_closed(void *arg) {
  struct edr_members_call *c = arg;
  c->cb(c->arg, &c->res);
  edr_member_list_release(&c->res.list);
  edr_member_list_release(&c->list);
  edr_members_result_release(&c->res);
  edr_str_release(&c->why);
  edr_str_release(&c->by_why);
  free(c->body);
  c->body = NULL;
  free(c->token);
  c->token = NULL;
  free(c->via_now);
  c->via_now = NULL;
  c->over = true;
  if (!c->via_pending)  /* else the last answer through VIA frees it */
    free(c);
}

/* The operation is over: RC and, on failure, the message.  CB runs from
 * the client's close, so always from the loop. */
static void finish(struct edr_members_call *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(struct edr_members_call *c, int rc, const char *fmt, ...) {
  if (c->closing)
    return;
  c->closing = true;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    edr_error_vset(&c->res.err, rc, fmt, ap);
    va_end(ap);
  }
  c->res.err.code = rc;  /* a message set before (check_urls) keeps its words */
  edr_http_close(c->http, on_closed, c);
}

static const char *verb(const struct edr_members_call *c) {
  return c->req.op == EDR_MEMBERS_ADD ? "add" : "remove";
}

/* URL number c->i gave no usable answer, for REASON: note it and ask the
 * next one.  False when none is left. */
static bool next_url(struct edr_members_call *c, const char *reason) {
  char one[400];
  snprintf(one, sizeof one, "%s%s: %s", c->req.urls[c->i],
           c->via_now && c->via_now[c->i] ? " (asked on its host)" : "", reason);
  append(&c->why, one);
  if (++c->i >= c->req.n_urls)
    return false;
  ask(c);
  return true;
}

/* The first list answered: decide what to change, if anything. */
static void list_ok(struct edr_members_call *c) {
  const struct edr_members_req *q = &c->req;
  const struct edr_member_info *m = NULL;
  if (q->op == EDR_MEMBERS_LIST) {
    c->res.list = c->list;
    memset(&c->list, 0, sizeof c->list);
    finish(c, 0, NULL);
    return;
  }
  if (q->op == EDR_MEMBERS_ADD) {
    if ((m = find_by_peers(&c->list, q->peer_urls, q->n_peer, true))) {
      snprintf(c->res.id, sizeof c->res.id, "%s", m->id);
      c->res.already = true;
      finish(c, 0, NULL);
      return;
    }
  } else {
    for (size_t i = 0; q->name && i < c->list.n; i++) {
      if (strcmp(c->list.v[i].name, q->name) != 0)
        continue;
      if (m) {
        finish(c, EDR_EINVAL, "cannot remove member '%s': %s lists two members of that "
               "name (ids %s and %s); remove the right one with etcdctl", q->name,
               c->list.asked, m->id, c->list.v[i].id);
        return;
      }
      m = &c->list.v[i];
    }
    if (!m && q->n_peer)
      m = find_by_peers(&c->list, q->peer_urls, q->n_peer, false);
    if (!m) {
      c->res.already = true;
      finish(c, 0, NULL);
      return;
    }
    char body[64];
    snprintf(c->remove_id, sizeof c->remove_id, "%s", m->id);
    snprintf(body, sizeof body, "{\"ID\":\"%" PRIu64 "\"}",
             (uint64_t)strtoull(c->remove_id, NULL, 16));
    if (!(c->body = strdup(body))) {
      finish(c, EDR_ENOMEM, "cannot remove member '%s': %s", c->shown,
             edr_strerror(EDR_ENOMEM));
      return;
    }
  }
  c->phase = c->req.user && c->req.user->name ? P_AUTH : P_CHANGE;
  c->i = c->at;
  edr_str_reset(&c->why);
  ask(c);
}

/* A list answered (RC 0, J its JSON) or not, from URL number c->i. */
static void on_list(struct edr_members_call *c, int rc, json_t *j, const char *r) {
  char reason[300];
  snprintf(reason, sizeof reason, "%s", r);
  struct edr_member_list l = {0};
  if (rc == 0) {
    rc = parse_list(j, &l);
    if (rc == 0 && !(l.asked = strdup(c->req.urls[c->i])))
      rc = EDR_ENOMEM;
    if (rc == 0 && c->phase == P_LIST) {
      c->list = l;
      c->at = c->i;
      list_ok(c);
      return;
    }
    if (rc == 0) {  /* P_RELIST: maybe our own add, whose answer was lost */
      const struct edr_member_info *m =
          find_by_peers(&l, c->req.peer_urls, c->req.n_peer, true);
      if (m) {
        snprintf(c->res.id, sizeof c->res.id, "%s", m->id);
        c->res.already = true;
      }
      edr_member_list_release(&l);
      if (m)
        finish(c, 0, NULL);
      else
        finish(c, EDR_EEXIST, "member add of '%s' refused by %s: %s%s", c->shown, c->by,
               c->by_why.buf, hint(c->by_why.buf));
      return;
    }
    edr_member_list_release(&l);
    snprintf(reason, sizeof reason, "%s",
             rc == EDR_ENOMEM ? edr_strerror(rc) : "the answer has no member list");
  }
  c->last = rc;
  if (next_url(c, reason))
    return;
  if (c->phase == P_RELIST)
    finish(c, EDR_EEXIST, "member add of '%s' refused by %s: %s%s", c->shown, c->by,
           c->by_why.buf, hint(c->by_why.buf));
  else if (c->req.op == EDR_MEMBERS_LIST)
    finish(c, c->last, "cannot list members: no member answered (%s)", c->why.buf);
  else
    finish(c, c->last, "cannot %s member '%s': no member answered the member list (%s)",
           verb(c), c->shown, c->why.buf);
}

/* A change answered (or not) from URL number c->i: an answer from etcd,
 * even a refusal, is final; a URL that gave none is passed over. */
static void on_change(struct edr_members_call *c, int rc, json_t *j, bool answered,
                      const char *r) {
  bool add = c->req.op == EDR_MEMBERS_ADD;
  if (rc == 0 || answered) {
    c->by = c->req.urls[c->i];
    if (add && rc == 0) {
      uint64_t id = edr_gw_u64(json_object_get(j, "member"), "ID");
      if (!id) {
        finish(c, EDR_EHTTP, "member add of '%s' by %s: the answer names no new member",
               c->shown, c->by);
        return;
      }
      snprintf(c->res.id, sizeof c->res.id, "%" PRIx64, id);
      finish(c, 0, NULL);
    } else if (add && rc == EDR_EEXIST) {
      /* Maybe our own add, whose answer an earlier URL lost. */
      edr_str_setf(&c->by_why, "%s", r);
      c->phase = P_RELIST;
      c->i = c->at;
      edr_str_reset(&c->why);
      ask(c);
    } else if (add) {
      finish(c, rc, "member add of '%s' refused by %s: %s%s", c->shown, c->by, r, hint(r));
    } else if (rc == 0 || rc == EDR_ENOENT) {
      /* ENOENT: gone since the list, maybe our own remove whose answer was lost */
      c->res.already = rc == EDR_ENOENT;
      finish(c, 0, NULL);
    } else {
      finish(c, rc, "member remove of '%s' (id %s) refused by %s: %s%s", c->shown,
             c->remove_id, c->by, r, hint(r));
    }
    return;
  }
  if (c->req.user && c->req.user->name)
    c->phase = P_AUTH;  /* the next member's own token */
  if (next_url(c, r))
    return;
  if (add)
    finish(c, rc, "member add of '%s' got no answer (%s); it is safe to retry", c->shown,
           c->why.buf);
  else
    finish(c, rc, "member remove of '%s' (id %s) got no answer (%s); it is safe to retry",
           c->shown, c->remove_id, c->why.buf);
}

/* The authentication answered (or not) at URL number c->i: with a token
 * the change goes to that same member; a refusal is final (every member
 * would say the same of that password). */
static void on_auth(struct edr_members_call *c, int status, long code, const char *body,
                    const char *errtext) {
  free(c->token);
  c->token = NULL;
  if (status == 0) {
    struct edr_error e = EDR_ERROR_INIT;
    if (edr_etcd_auth_token(c->req.urls[c->i], c->req.user, code, body, &c->token, &e) < 0)
      finish(c, e.code, "cannot %s member '%s': %s", verb(c), c->shown, edr_error_text(&e));
    else {
      c->phase = P_CHANGE;
      ask(c);
    }
    edr_error_release(&e);
    return;
  }
  char reason[300];
  snprintf(reason, sizeof reason, "%s%s%s", edr_strerror(status), errtext && *errtext ? ": " : "",
           errtext ? errtext : "");
  if (next_url(c, reason))
    return;
  finish(c, status, "cannot %s member '%s': no member answered the authentication as '%s' "
         "(%s)", verb(c), c->shown, c->req.user->name, c->why.buf);
}

static void step(struct edr_members_call *c, int status, long code, const char *body,
                 const char *errtext) {
  if (c->phase == P_AUTH) {
    on_auth(c, status, code, body, errtext);
    return;
  }
  json_t *j;
  bool answered;
  struct edr_str r = EDR_STR_INIT;
  int rc = gw_answer(status, code, body, errtext, &j, &answered, &r);
  if (c->phase == P_CHANGE)
    on_change(c, rc, j, answered, r.buf);
  else
    on_list(c, rc, j, r.buf);
  json_decref(j);
  edr_str_release(&r);
}

static void on_answer(void *arg, int status, long code, const char *body, size_t len,
                      const char *errtext) {
  (void)len;
  struct edr_members_call *c = arg;
  if (c->closing)
    return; /* cancelled: the result is said already */
  bool no_way = status == EDR_ETLS || status == EDR_ETIMEDOUT ||
                status == EDR_EHOSTUNREACH || status == EDR_ERESOLVE;
  if (no_way && c->via_now && !c->via_now[c->i] && c->req.via_fallback &&
      c->req.via_fallback[c->i]) {
    c->via_now[c->i] = true;  /* this URL through its host from now on */
    ask(c);
    return;
  }
  step(c, status, code, body, errtext);
}

static void on_via_answer(void *arg, int status, long code, const char *body, size_t len,
                          const char *errtext) {
  struct edr_members_call *c = arg;
  c->via_pending--;
  if (c->closing) {
    if (c->over && !c->via_pending)
      free(c);
    return;
  }
  on_answer(c, status, code, body, len, errtext);
}

/* Ask URL number c->i what the phase needs, from here or through VIA. */
static void ask(struct edr_members_call *c) {
  const char *base = c->req.urls[c->i];
  bool via = c->via_now && c->via_now[c->i] && c->req.via.request;
  const char *path = c->phase == P_AUTH ? "/v3/auth/authenticate"
                     : c->phase != P_CHANGE ? "/v3/cluster/member/list"
                     : c->req.op == EDR_MEMBERS_ADD ? "/v3/cluster/member/add"
                                                    : "/v3/cluster/member/remove";
  /* the authentication's body holds the password: wiped once sent */
  char *auth = c->phase == P_AUTH ? edr_etcd_auth_body(c->req.user) : NULL;
  const char *body = c->phase == P_AUTH ? auth : c->phase == P_CHANGE ? c->body : "{}";
  const char *token = c->phase == P_CHANGE ? c->token : NULL;
  int rc = body ? 0 : EDR_ENOMEM;
  if (via && rc == 0) {
    c->via_pending++;
    rc = c->req.via.request(c->req.via.arg, c->i, "POST", path, body, token,
                            c->req.timeout_ms ? c->req.timeout_ms : 10000, on_via_answer, c);
    if (rc < 0)
      c->via_pending--;
  } else if (rc == 0) {
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
      bl--;
    char *url = edr_asprintf("%.*s%s", (int)bl, base, path);
    struct edr_http_req q = {
      .method = "POST",
      .url = url,
      .body = body,
      .tls = c->req.tls,
      .timeout_ms = c->req.timeout_ms,
      .authorization = token,
    };
    rc = url ? edr_http_request(c->http, &q, on_answer, c) : EDR_ENOMEM;
    free(url);
  }
  edr_etcd_auth_body_free(auth);
  if (rc < 0)
    step(c, rc, 0, "", "");  /* as a URL that gave no answer */
}

int edr_members_start(uv_loop_t *loop, const struct edr_members_req *req, edr_members_cb cb,
                      void *arg, struct edr_members_call **out) {
  struct edr_members_call *c = calloc(1, sizeof(*c));
  if (out)
    *out = NULL;
  if (!c || !(c->http = edr_http_new(loop))) {
    free(c);
    return EDR_ENOMEM;
  }
  c->req = *req;
  c->cb = cb;
  c->arg = arg;
  edr_str_init(&c->why);
  edr_str_init(&c->by_why);
  edr_error_init(&c->res.err);
  if (out)
    *out = c;
  struct edr_members_req *q = &c->req;
  if (q->via.request && (q->via_url || q->via_fallback) && q->n_urls) {
    if (!(c->via_now = calloc(q->n_urls, sizeof *c->via_now))) {
      edr_http_close(c->http, NULL, NULL);
      free(c);
      if (out)
        *out = NULL;
      return EDR_ENOMEM;
    }
    for (size_t i = 0; q->via_url && i < q->n_urls; i++)
      c->via_now[i] = q->via_url[i];
  }
  if (q->name && !*q->name)
    q->name = NULL;
  const char *what = q->op == EDR_MEMBERS_LIST ? "list members"
                     : q->op == EDR_MEMBERS_ADD ? "add a member" : "remove a member";
  if (check_urls(what, q->urls, q->n_urls, &c->res.err) < 0) {
    finish(c, EDR_EINVAL, NULL);
    return 0;
  }
  if (q->op == EDR_MEMBERS_ADD) {
    if (!q->peer_urls || q->n_peer == 0) {
      finish(c, EDR_EINVAL, "cannot add a member: no peer URL given");
      return 0;
    }
    c->shown = q->peer_urls[0];
    json_t *body = json_object(), *arr = json_array();
    json_object_set_new(body, "peerURLs", arr);
    for (size_t i = 0; i < q->n_peer; i++)
      json_array_append_new(arr, json_string(q->peer_urls[i]));
    c->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!c->body) {
      finish(c, EDR_ENOMEM, "cannot add member '%s': %s", c->shown,
             edr_strerror(EDR_ENOMEM));
      return 0;
    }
  } else if (q->op == EDR_MEMBERS_REMOVE) {
    if (!q->name && (!q->peer_urls || q->n_peer == 0)) {
      finish(c, EDR_EINVAL, "cannot remove a member: no name and no peer URL given");
      return 0;
    }
    c->shown = q->name ? q->name : q->peer_urls[0];
  }
  c->phase = P_LIST;
  ask(c);
  return 0;
}

void edr_members_cancel(struct edr_members_call *c) {
  if (c->req.op == EDR_MEMBERS_LIST)
    finish(c, EDR_ECANCELED, "member list cancelled");
  else
    finish(c, EDR_ECANCELED, "member %s of '%s' cancelled", verb(c), c->shown);
}

/* ---- the same, for a caller on no loop -------------------------------------- */

struct sync_call {
  struct edr_error *err;
  struct edr_members_result *out;
};

static void sync_done(void *arg, struct edr_members_result *r) {
  struct sync_call *s = arg;
  *s->out = *r;
  memset(&r->list, 0, sizeof r->list);  /* moved to the caller */
  if (r->err.code)
    edr_error_set(s->err, r->err.code, "%s", edr_error_text(&r->err));
  edr_error_init(&s->out->err);  /* the message went to the caller's ERR */
}

static int run_sync(const struct edr_members_req *req, struct edr_members_result *res,
                    struct edr_error *err) {
  uv_loop_t loop;
  struct sync_call s = {.err = err, .out = res};
  memset(res, 0, sizeof *res);
  edr_error_init(&res->err);
  edr_error_clear(err);
  int rc = uv_loop_init(&loop) ? EDR_ENOMEM : 0;
  if (rc == 0) {
    rc = edr_members_start(&loop, req, sync_done, &s, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);  /* until the call's client closed */
    uv_loop_close(&loop);
  }
  if (rc < 0)
    return edr_error_set(err, rc, "cannot %s: %s",
                         req->op == EDR_MEMBERS_LIST ? "list members" : "change the members",
                         edr_strerror(rc));
  return err->code;
}

int edr_members_list(const char *const *urls, size_t n_urls,
                     const struct edr_tls *tls, uint64_t timeout_ms,
                     struct edr_member_list *out, struct edr_error *err) {
  struct edr_members_req q = {.op = EDR_MEMBERS_LIST, .urls = urls, .n_urls = n_urls,
                              .tls = tls, .timeout_ms = timeout_ms};
  struct edr_members_result res;
  int rc = run_sync(&q, &res, err);
  *out = res.list;  /* empty on failure */
  return rc;
}

int edr_members_add(const char *const *urls, size_t n_urls,
                    const struct edr_tls *tls, uint64_t timeout_ms,
                    const char *const *peer_urls, size_t n_peer,
                    char id_out[17], bool *already, struct edr_error *err) {
  struct edr_members_req q = {.op = EDR_MEMBERS_ADD, .urls = urls, .n_urls = n_urls,
                              .tls = tls, .timeout_ms = timeout_ms, .peer_urls = peer_urls,
                              .n_peer = n_peer};
  struct edr_members_result res;
  int rc = run_sync(&q, &res, err);
  snprintf(id_out, 17, "%s", res.id);
  *already = res.already;
  return rc;
}

int edr_members_remove(const char *const *urls, size_t n_urls,
                       const struct edr_tls *tls, uint64_t timeout_ms,
                       const char *name, const char *const *peer_urls,
                       size_t n_peer, bool *absent, struct edr_error *err) {
  struct edr_members_req q = {.op = EDR_MEMBERS_REMOVE, .urls = urls, .n_urls = n_urls,
                              .tls = tls, .timeout_ms = timeout_ms, .name = name,
                              .peer_urls = peer_urls, .n_peer = n_peer};
  struct edr_members_result res;
  int rc = run_sync(&q, &res, err);
  *absent = res.already;
  return rc;
}

void edr_members_result_release(struct edr_members_result *res) {
  edr_error_release(&res->err);
}
