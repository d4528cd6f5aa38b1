/* sso_flow.h: shared by the browser flow's files in src/sso/ only. */
#ifndef BW_SSO_SSO_FLOW_H
#define BW_SSO_SSO_FLOW_H

#include <stddef.h>

#include "sso/sso_internal.h"

struct evhttp_request;

/* 1 if req arrived on the TLS listener. */
int sso_request_tls(struct evhttp_request *req);
/* Replies status with the reason code and a one-line detail: an HTML page (CSP default-src
 * 'none') when the client accepts text/html, else the JSON error shape. Never pass a token,
 * code, secret or cookie value as detail. Frees req. */
void sso_fail(struct evhttp_request *req, int status, const char *reason, const char *detail);
/* 302 to location (no-store). Frees req. */
void sso_redirect(struct evhttp_request *req, const char *location);
/* Expires the state cookie (every callback answer, success or not). */
void sso_clear_state_cookie(struct evhttp_request *req);
/* Query parameter `name`: 1 and out set (one occurrence, printable ASCII, under size bytes),
 * 0 absent, -1 repeated or malformed. */
int sso_param(struct evhttp_request *req, const char *name, char *out, size_t size);
/* The value of the one cookie called name: 1 and out set; 0 if absent, empty, too long or sent
 * twice. */
int sso_cookie(struct evhttp_request *req, const char *name, char *out, size_t size);

#endif
