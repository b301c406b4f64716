/*
 * valid.h - the validators of the values a spec, a flag or a playbook
 * variable gives (valid.c): each says whether a string is safe and well
 * formed for its use, so that no later stage has to doubt it.  Nothing
 * here allocates or keeps state.
 */
#ifndef EDR_VALID_H
#define EDR_VALID_H

#include <stdbool.h>
#include <stddef.h>

/* Validators, exposed for the tests and for playbook variables. */
bool edr_valid_name(const char *s);
bool edr_valid_remote_path(const char *s);
bool edr_valid_host(const char *s);
bool edr_valid_user(const char *s);
bool edr_valid_token(const char *s);
/* OpenSSH's -J list: [user@]host[:port], comma-separated. */
bool edr_valid_jump(const char *s);
/* Is S an IPv4 or IPv6 address literal (no brackets)? */
bool edr_ip_literal(const char *s);
/* Split "scheme://host:port" into parts; returns false when malformed. */
bool edr_parse_url(const char *url, char *scheme, size_t slen, char *host,
                   size_t hlen, int *port);

/* Why URL is not an http(s)://host:port URL, in words for the operator:
 * a constant string, or BUF[LEN] filled in. */
const char *edr_url_problem(const char *url, char *buf, size_t len);

/* Is PATH equal to or below DIR followed by SUFFIX ("" or "/member")?
 * Both are valid remote paths. */
bool edr_path_within(const char *path, const char *dir, const char *suffix);

#endif
