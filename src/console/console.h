/* console.h: the reviewers' console served at /console/ (issue 16, docs/CONSOLE.md).
 *
 * Static assets (src/console/web/: HTML, CSS, JavaScript modules) are embedded into the binary
 * at build time (scripts/embed-assets.sh writes build/gen/console_assets.c), so `bulwark serve`
 * needs no files beside it and nothing is fetched from elsewhere. Every console answer carries a
 * strict Content-Security-Policy (default-src 'self', no inline script, no eval,
 * frame-ancestors 'none'), X-Frame-Options DENY, X-Content-Type-Options nosniff,
 * Referrer-Policy no-referrer and Cache-Control no-store.
 *
 * Sign-in (console_api.c): POST /console/api/login with a person's API key makes a session
 * (session.h) and sets its cookie (HttpOnly, SameSite=Strict, Path=/, Secure and the __Host-
 * prefix on the TLS listener); GET /console/api/session gives a reloaded page its principal and
 * CSRF token; POST /console/api/logout ends it. /api/v1 calls without Authorization are
 * identified by the cookie (bw_console_identify), with the CSRF token required on every
 * state-changing method. Runs on the request's worker thread. */
#ifndef BW_CONSOLE_CONSOLE_H
#define BW_CONSOLE_CONSOLE_H

#include <stddef.h>

#include "api/api.h"

struct evhttp_request;

/* One embedded file (build/gen/console_assets.c): name is the path under /console/. */
struct bw_console_asset {
    const char *name;
    const unsigned char *data;
    size_t len;
};
extern const struct bw_console_asset bw_console_assets[];
extern const size_t bw_console_n_assets;

/* The gateway's route (cli/cli_routes.c: "/console" and "/console/"): bw_console_handle with
 * the worker's store and key cache. */
struct bw_gw_worker;
void bw_console_route(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);

/* Serves a request whose path starts with /console (assets and /console/api/). Always replies. */
void bw_console_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *path);

/* Identifies an /api/ request that has no Authorization header by its console session cookie.
 * Returns -1 if there is no session cookie (the caller answers 401 as for a missing key), 1 with
 * *caller set (the principal exactly as the key's: session.h), or 0 after replying 401
 * UNAUTHENTICATED, 403 CSRF_INVALID (a state-changing method without the session's CSRF token
 * in X-CSRF-Token) or 503 STORE_UNAVAILABLE. */
int bw_console_identify(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                        struct bw_key_record *caller);

/* 1 if req carries a console session cookie (of the listener's name, well-formed): for public
 * routes whose view depends on who asks (security readiness), so a console session is read like
 * the key it was made from. */
int bw_console_has_cookie(struct evhttp_request *req);

/* 1 if req arrived on the TLS listener. */
int bw_console_request_tls(struct evhttp_request *req);

/* Sets the session cookie on req's response (token: a session token from
 * bw_console_session_issue; "" with max_age_s 0 clears it): HttpOnly, SameSite=Strict, Path=/,
 * Max-Age, and on the TLS listener the __Host- name and Secure. The one place the cookie is
 * written, for local sign-in and for single sign-on alike. */
void bw_console_set_cookie(struct evhttp_request *req, const char *token, long long max_age_s);

/* Adds the console's security headers to req's response (CSP and the rest above). */
void bw_console_security_headers(struct evhttp_request *req);

#endif
