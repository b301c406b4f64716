/*
 * http.h - asynchronous HTTP(S) requests on the coordinator's libuv loop.
 *
 * The coordinator talks to etcd members (health, status, and later snapshot
 * saving) while it drives SSH sessions on the same loop, so no request may
 * block.  This is libcurl's multi-socket interface driven by libuv: one
 * uv_poll_t per socket curl opens, one uv_timer_t for curl's timeouts.
 * Connections to the same member are kept and reused between requests.
 *
 * Every request has a connect timeout and a total timeout, never goes
 * through a proxy (cluster URLs are internal; an HTTP_PROXY in the
 * operator's environment must not capture them), and may use TLS with a CA
 * file, a client certificate and its key.
 *
 * Ownership, in the manner of jansson's reference docs:
 *  - every string passed in is borrowed only for the duration of the call
 *    (libcurl copies what it keeps);
 *  - the body and error text passed to a callback are owned by the library
 *    and valid only during that call;
 *  - the struct edr_http is owned by the caller from edr_http_new() until
 *    edr_http_close(), and freed by the library after the close callback.
 */
#ifndef EDR_HTTP_H
#define EDR_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* TLS material for https URLs: paths to PEM files, all borrowed; NULL when
 * unused.  cacert NULL means the system's CA store; cert and key go
 * together (key NULL means the key is inside the cert file). */
struct edr_tls {
  const char *cacert, *cert, *key;
};

struct edr_http;  /* opaque */

/* The streaming callback (req.on_data), from inside libcurl on the loop:
 *   code   the HTTP status code of the response (its headers have arrived),
 *          so an error body need not be mistaken for data
 *   data   LEN bytes of the body, borrowed for the call; LEN > 0
 * Returns 0 to go on, or a negative EDR_E* code to stop the transfer: the
 * completion callback then runs with that status (and errtext "stopped by
 * the data callback").  It must not call edr_http_close() or start
 * requests; do that from the completion callback. */
typedef int (*edr_http_data_cb)(void *arg, long code, const char *data,
                                size_t len);

/* One request.  Designated initializers keep call sites readable; zero
 * values pick the defaults. */
struct edr_http_req {
  const char *method;      /* "GET" (default when NULL), "POST", ... */
  const char *url;         /* required; http:// or https:// */
  const char *body;        /* NULL: no body; else sent as application/json */
  size_t body_len;         /* 0 with a body: strlen(body) */
  const struct edr_tls *tls;     /* NULL: no client cert, system CAs */
  uint64_t timeout_ms;           /* whole request; 0: 10000 */
  uint64_t connect_timeout_ms;   /* TCP + TLS handshake; 0: timeout_ms */
  size_t max_body;               /* larger responses fail; 0: 8 MiB */
  /* Added for `snapshot save`: a body streamed to a callback, chunk by
   * chunk as it arrives, never held whole (max_body is then ignored).
   * NULL: the body is buffered as above. */
  edr_http_data_cb on_data;
  /* Fail with EDR_ETIMEDOUT when the body stalls: libcurl's low-speed
   * limit, under 1 byte a second over this long (rounded up to whole
   * seconds); 0: no such limit.
   * With on_data set, timeout_ms 0 means no limit on the whole request
   * (a snapshot may take as long as it takes while bytes flow); the
   * connect timeout then defaults to 10000. */
  uint64_t stall_timeout_ms;
  /* etcd's auth token (POST /v3/auth/authenticate, docs/auth.md), sent as
   * the Authorization header; NULL: none.  Borrowed for the call. */
  const char *authorization;
};

/* Called exactly once per accepted request, from the loop (never from
 * inside edr_http_request()).
 *   status   0 when a whole HTTP response arrived, whatever its code; else
 *            a negative EDR_E* code: EDR_ECONNREFUSED, EDR_ETIMEDOUT,
 *            EDR_ETLS, EDR_ERESOLVE, EDR_ECONNLOST, EDR_EHOSTUNREACH,
 *            EDR_ETOOBIG, EDR_ECANCELED (edr_http_close() ran), EDR_EHTTP...
 *   code     the HTTP status code, 0 when none arrived
 *   body     the response body, NUL-terminated (len excludes the NUL);
 *            "" on failure, and "" when it went to req.on_data.
 *            Borrowed: valid only during the call.
 *   errtext  "" on success; else libcurl's detail, e.g. "Failed to connect
 *            to 127.0.0.1 port 2379 after 0 ms: Couldn't connect to server"
 *            or the OpenSSL reason of a TLS failure.  Borrowed likewise.
 * The callback may start new requests and may call edr_http_close(). */
typedef void (*edr_http_cb)(void *arg, int status, long code,
                            const char *body, size_t len, const char *errtext);

/* A new client on LOOP.  Returns NULL only when out of memory or when
 * libcurl cannot be initialised.  The caller owns it until edr_http_close. */
struct edr_http *edr_http_new(uv_loop_t *loop);

/* Start a request.  Returns 0 and calls CB later exactly once, or a
 * negative EDR_E* code (EDR_EINVAL: no URL; EDR_ECANCELED: closing;
 * EDR_ENOMEM) and never calls CB. */
int edr_http_request(struct edr_http *h, const struct edr_http_req *req,
                     edr_http_cb cb, void *arg);

/* Cancel every request still running (their callbacks run with
 * EDR_ECANCELED, before this returns unless called from inside a callback),
 * close the libuv handles and free H.  CLOSE_CB (may be NULL) runs from the
 * loop once everything is freed, so keep the loop running until then.
 * H must not be used after this call. */
void edr_http_close(struct edr_http *h, void (*close_cb)(void *arg),
                    void *arg);

/* Translate a libcurl result to an EDR_E* code (0 for CURLE_OK).  OS_ERRNO
 * is libcurl's CURLINFO_OS_ERRNO, which refines connect failures; TLS says
 * the URL was https (a read error there without an OS error is a TLS
 * error).  Exposed for tests; the only place such a translation happens. */
int edr_http_from_curl(int curlcode, long os_errno, bool tls);

#endif
