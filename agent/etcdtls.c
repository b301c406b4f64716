/*
 * etcdtls.c - etcdtls.h through OpenSSL (libssl), in the full
 * etcd-dr-agent: the etcd-http op's TLS to a member's client URL with the
 * CA, client certificate and key named in the request (paths on this
 * host).  A session owns its SSL_CTX and SSL, never the socket.
 */
#include "etcdtls.h"

#include "err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

const char *const etcd_tls_missing = NULL;

struct etcd_tls {
  int fd;
  uint64_t deadline;
  SSL_CTX *ctx;
  SSL *ssl;
};

const char *etcd_tls_reason(struct etcd_tls *t, char *buf, size_t len) {
  unsigned long e = ERR_peek_last_error();
  long v = t && t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
  if (v != X509_V_OK)
    snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
  else if (e)
    ERR_error_string_n(e, buf, len);
  else
    snprintf(buf, len, "the connection closed during the handshake (the member may want a "
             "client certificate)");
  return buf;
}

int etcd_tls_start(struct agent *a, struct etcd_tls **out, int fd, uint64_t deadline,
                   const char *url, const char *host, const char *cacert, const char *cert,
                   const char *key) {
  char why[256];
  OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
  ERR_clear_error();
  struct etcd_tls *t = calloc(1, sizeof *t);
  *out = t;
  if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method())))
    return agent_fail(a, EDR_ENOMEM, "out of memory for tls");
  t->fd = fd;
  t->deadline = deadline;
  SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (cacert ? SSL_CTX_load_verify_locations(t->ctx, cacert, NULL) != 1
             : SSL_CTX_set_default_verify_paths(t->ctx) != 1)
    return agent_fail(a, EDR_ETLS, "cannot load the CA certificate '%s': %s",
                      cacert ? cacert : "(system default)", etcd_tls_reason(t, why, sizeof why));
  if (cert && SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
    return agent_fail(a, EDR_ETLS, "cannot load the client certificate '%s': %s", cert,
                      etcd_tls_reason(t, why, sizeof why));
  if (key && SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)
    return agent_fail(a, EDR_ETLS, "cannot load the client key '%s': %s", key,
                      etcd_tls_reason(t, why, sizeof why));
  t->ssl = SSL_new(t->ctx);
  if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1)
    return agent_fail(a, EDR_ENOMEM, "out of memory for tls");
  X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
  struct in6_addr tmp;
  if (inet_pton(AF_INET, host, &tmp) == 1 || inet_pton(AF_INET6, host, &tmp) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(vp, host);
  } else {
    SSL_set_tlsext_host_name(t->ssl, host);
    X509_VERIFY_PARAM_set1_host(vp, host, 0);
  }
  for (;;) {
    int r = SSL_connect(t->ssl);
    if (r == 1)
      return 0;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      int w = etcd_wait_fd(fd, deadline, e == SSL_ERROR_WANT_WRITE);
      if (w)
        return agent_fail(a, w, "%s: tls handshake: no answer within the timeout", url);
      continue;
    }
    return agent_fail(a, EDR_ETLS, "%s: %s", url, etcd_tls_reason(t, why, sizeof why));
  }
}

long etcd_tls_write(struct etcd_tls *t, const char *buf, size_t len) {
  for (;;) {
    int r = SSL_write(t->ssl, buf, (int)len);
    if (r > 0)
      return r;
    int e = SSL_get_error(t->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      return EDR_ETLS;
    int w = etcd_wait_fd(t->fd, t->deadline, e == SSL_ERROR_WANT_WRITE);
    if (w)
      return w;
  }
}

long etcd_tls_read(struct etcd_tls *t, char *buf, size_t len) {
  for (;;) {
    int r = SSL_read(t->ssl, buf, (int)len);
    if (r > 0)
      return r;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
      return 0;
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      return EDR_ETLS;
    int w = etcd_wait_fd(t->fd, t->deadline, e == SSL_ERROR_WANT_WRITE);
    if (w)
      return w;
  }
}

void etcd_tls_set_deadline(struct etcd_tls *t, uint64_t deadline) { t->deadline = deadline; }

void etcd_tls_free(struct etcd_tls *t) {
  if (!t)
    return;
  SSL_free(t->ssl);
  SSL_CTX_free(t->ctx);
  free(t);
}
