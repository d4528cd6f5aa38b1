/* upstream.h: the upstream HTTP client: libcurl's multi interface driven by the worker's
 * libevent base (curl_multi_socket_action), so no worker ever blocks on an upstream.
 *
 * Proxies from the environment are ignored, only http and https are allowed (also for
 * redirects, which are not followed), and every transfer has a connect timeout and an overall
 * deadline. Connections are reused across transfers by the multi handle. One bw_upstream per
 * worker; not thread-safe. */
#ifndef BW_UPSTREAM_UPSTREAM_H
#define BW_UPSTREAM_UPSTREAM_H

#include <stddef.h>

#include "util/err.h"

struct event_base;
struct bw_upstream;
struct bw_upstream_xfer;

enum bw_upstream_result {
    BW_UP_OK = 0,  /* the whole response arrived */
    BW_UP_TIMEOUT, /* connect or overall deadline passed */
    BW_UP_CONNECT, /* could not connect, or timed out before the request was sent */
    BW_UP_ABORTED, /* on_data asked to stop */
    BW_UP_ERROR,   /* anything else (protocol error, reset, ...) */
    BW_UP_BLOCKED, /* a guarded transfer (egress set): the guard refused every address */
};

struct bw_upstream_request {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const void *body; /* borrowed until done or cancel */
    size_t body_len;
    const char *authorization; /* full header value, or NULL: borrowed until done or cancel */
    long connect_timeout_ms;
    long timeout_ms; /* overall deadline; 0 = none (streams use their own idle timer) */
    /* More request headers ("Name: value" each, NULL-terminated; copied at start), or NULL.
     * method may also be "DELETE" (the MCP gateway, src/mcp/). */
    const char *const *headers;
    /* The egress guard for this transfer (MCP servers, src/mcp/mcp_orgsrv.c), or NULL (the
     * operator's model upstream: no guard). With it, bw_egress_curl_apply's connect-time hook
     * checks every address libcurl dials (DNS rebinding: the address checked is the address
     * connected), and the transfer runs on a second multi handle whose connections were all
     * opened through the guard, so no connection opened without it is ever reused here.
     * egress_target is the result of bw_egress_check_url_static on url (borrowed; copied). */
    const struct bw_egress_policy *egress;
    const struct bw_egress_target *egress_target;
};

struct bw_upstream_callbacks {
    /* Response bytes as they arrive. status and content_type (may be NULL) are those of the
     * response. Return 0 to continue, -1 to abort the transfer (then on_done gets
     * BW_UP_ABORTED), 1 to pause receiving without taking these bytes (back-pressure: they
     * are delivered again after bw_upstream_resume). */
    int (*on_data)(void *arg, long status, const char *content_type, const char *p, size_t n);
    /* Exactly once per transfer unless cancelled; status is 0 if no response line arrived. */
    void (*on_done)(void *arg, enum bw_upstream_result r, long status, const char *content_type);
    /* Each response header line as it arrives (raw, with its CRLF; not NUL-terminated), or
     * NULL. Return 0 to continue, -1 to abort. */
    int (*on_header)(void *arg, const char *line, size_t n);
};

bw_err bw_upstream_new(struct event_base *base, struct bw_upstream **out) BW_MUST_CHECK;
void bw_upstream_free(struct bw_upstream *u); /* cancels transfers without callbacks */

/* Starts a transfer. *out identifies it for cancel (valid until on_done runs or cancel). */
bw_err bw_upstream_start(struct bw_upstream *u, const struct bw_upstream_request *r,
                         const struct bw_upstream_callbacks *cb, void *arg,
                         struct bw_upstream_xfer **out) BW_MUST_CHECK;

/* Resumes a transfer whose on_data returned 1. Must not be called from inside on_data; may
 * call on_data before returning. */
void bw_upstream_resume(struct bw_upstream_xfer *x);

/* Stops a transfer now; on_done is not called. Must not be called from inside on_data. */
void bw_upstream_cancel(struct bw_upstream_xfer *x);

const char *bw_upstream_result_name(enum bw_upstream_result r);

#endif
