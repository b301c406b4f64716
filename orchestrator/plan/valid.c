/*
 * valid.c - the validators every value from a spec, a flag or a playbook
 * variable passes before anything uses it (valid.h): names, hosts, users,
 * remote paths, jump hosts and URLs.  Pure functions of their arguments;
 * nothing here allocates.
 */
#include "valid.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool all_chars(const char *s, const char *extra) {
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
      return false;
  return true;
}

bool edr_valid_name(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n <= 63 && s[0] != '-' && s[0] != '.' &&
         all_chars(s, "._-");
}

bool edr_valid_token(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n <= 128 && s[0] != '-' && all_chars(s, "._-");
}

bool edr_valid_user(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n <= 32 && s[0] != '-' && all_chars(s, "._-");
}

bool edr_valid_host(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253)
    return false;
  if (s[0] == '[') /* bracketed IPv6 literal */
    return n > 2 && s[n - 1] == ']' && strspn(s + 1, "0123456789abcdefABCDEF:.") == n - 2;
  return s[0] != '-' && s[0] != '.' && all_chars(s, ".-");
}

/* An absolute path of plain characters, without "." or ".." components, so
 * that it means the same thing to every tool that will see it. */
bool edr_valid_remote_path(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || n > 1024 || s[0] != '/' || s[n - 1] == '/')
    return false;
  if (!all_chars(s, "/._-+@=,:"))
    return false;
  for (const char *c = s; (c = strchr(c, '/')); c++) {
    const char *e = c + 1;
    size_t len = strcspn(e, "/");
    if (len == 0 || (len == 1 && e[0] == '.') ||
        (len == 2 && e[0] == '.' && e[1] == '.'))
      return false;
  }
  return true;
}

/* Is PATH equal to or below DIR followed by SUFFIX ("" or "/member")?
 * Both are valid remote paths (absolute, no trailing slash, no "." or
 * ".." components), so a string comparison decides. */
bool edr_path_within(const char *path, const char *dir, const char *suffix) {
  size_t dl = strlen(dir), sl = strlen(suffix);
  return !strncmp(path, dir, dl) && !strncmp(path + dl, suffix, sl) &&
         (path[dl + sl] == '\0' || path[dl + sl] == '/');
}

/* Why URL is not an http(s)://host:port URL, in words for the operator. */
const char *edr_url_problem(const char *url, char *buf, size_t len) {
  const char *p = strstr(url, "://");
  if (!p) {
    snprintf(buf, len, "it has no scheme: write http://%s or https://%s", url, url);
    return buf;
  }
  if ((p - url != 4 || strncmp(url, "http", 4)) && (p - url != 5 || strncmp(url, "https", 5)))
    return "its scheme is not http or https";
  const char *h = p + 3;
  const char *slash = strchr(*h == '[' ? (strchr(h, ']') ? strchr(h, ']') : h) : h, '/');
  if (slash && slash[1]) {
    snprintf(buf, len, "it has a path ('%.60s'): a peer or client URL is "
             "scheme://host:port", slash);
    return buf;
  }
  const char *colon = *h == '[' ? (strchr(h, ']') ? strchr(h, ']') + 1 : NULL) : strrchr(h, ':');
  if (!colon || *colon != ':')
    return "it has no port (etcd's are 2380 for peers and 2379 for clients)";
  return "expected http(s)://host:port with a port from 1 to 65535";
}

/* One hop of a jump: [user@]host[:port], host an IPv6 literal in []. */
static bool valid_hop(const char *s, size_t n) {
  char buf[300];
  if (n == 0 || n >= sizeof buf)
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *host = buf, *at = strchr(buf, '@');
  if (at) {
    *at = '\0';
    if (!edr_valid_user(buf))
      return false;
    host = at + 1;
  }
  char *port = NULL;
  if (host[0] == '[') { /* an IPv6 address */
    char *rb = strchr(host, ']');
    unsigned char a6[16];
    if (!rb || (rb[1] && rb[1] != ':'))
      return false;
    port = rb[1] == ':' ? rb + 2 : NULL;
    *rb = '\0';
    if (inet_pton(AF_INET6, host + 1, a6) != 1)
      return false;
    host = NULL;
  } else if ((port = strchr(host, ':'))) {
    *port++ = '\0';
  }
  if (port && (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
               atoi(port) < 1 || atoi(port) > 65535))
    return false;
  return !host || edr_valid_host(host);
}

bool edr_valid_jump(const char *s) {
  if (!*s)
    return false;
  for (const char *p = s;;) {
    size_t n = strcspn(p, ",");
    if (!valid_hop(p, n))
      return false;
    if (!p[n])
      return true;
    p += n + 1;
  }
}

bool edr_ip_literal(const char *s) {
  unsigned char b[16];
  return s && (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1);
}

bool edr_parse_url(const char *url, char *scheme, size_t slen, char *host,
                   size_t hlen, int *port) {
  const char *p = strstr(url, "://");
  if (!p)
    return false;
  size_t sl = (size_t)(p - url);
  if ((sl != 4 || strncmp(url, "http", 4)) && (sl != 5 || strncmp(url, "https", 5)))
    return false;
  const char *h = p + 3, *colon;
  if (*h == '[') {
    const char *rb = strchr(h, ']');
    if (!rb || rb[1] != ':')
      return false;
    colon = rb + 1;
  } else {
    colon = strrchr(h, ':');
    if (!colon)
      return false;
  }
  size_t hl = (size_t)(colon - h);
  if (hl == 0 || hl >= hlen || sl >= slen)
    return false;
  const char *ps = colon + 1;
  size_t pl = strlen(ps);
  if (pl > 0 && ps[pl - 1] == '/') /* etcd accepts one trailing slash */
    pl--;
  if (pl == 0 || pl > 5 || strspn(ps, "0123456789") != pl)
    return false;
  int pv = atoi(ps);
  if (pv < 1 || pv > 65535)
    return false;
  memcpy(scheme, url, sl);
  scheme[sl] = '\0';
  memcpy(host, h, hl);
  host[hl] = '\0';
  if (!edr_valid_host(host))
    return false;
  *port = pv;
  return true;
}
