/* proxy_internal.h: the per-call state shared by the proxy's files. Not a public contract. */
#ifndef BW_PROXY_INTERNAL_H
#define BW_PROXY_INTERNAL_H

#include <jansson.h>

#include "auth/auth.h"
#include "policy/policy.h"
#include "proxy/proxy.h"
#include "proxy/sse.h"
#include "proxy/upstream.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/codec.h"

#define BW_MAX_UPSTREAM_BODY (64u << 20)
#define BW_MAX_SSE_EVENT (1u << 20)

struct event;
struct evhttp_request;

enum bw_route { BW_ROUTE_CHAT, BW_ROUTE_EMBEDDINGS, BW_ROUTE_MODELS };

struct bw_gw_worker {
    struct bw_gateway *gw;
    struct event_base *base;
    struct bw_store *store;
    struct bw_upstream *up;
    struct bw_auth_cache *keys;
};

struct bw_call {
    struct bw_gw_worker *w;
    struct evhttp_request *req;
    enum bw_route route;
    const uint8_t *body; /* the request's input buffer, pulled up; lives as long as req */
    size_t body_len;
    struct bw_key_record key;
    char model[128];
    int stream;
    uint8_t request_sha256[32];
    int64_t start_us;
    struct bw_verdict verdict;
    char receipt_id[32];
    uint8_t decision_leaf[32];

    struct bw_upstream_xfer *xfer;
    struct bw_buf resp;   /* non-streamed response, or a streamed error body */
    struct bw_sse sse;
    struct bw_sha256_stream resp_sha;
    int streaming;        /* upstream answered 200 text/event-stream */
    int forwarded;        /* the decision allowed it and the upstream was called */
    int reply_started;
    int client_gone;
    int64_t prompt_tokens, completion_tokens, total_tokens;
    int has_usage;
    struct event *gone_ev;   /* deferred cancel after the client went away */
    struct event *idle_ev;   /* stream idle timeout */
};

/* proxy_call.c */
void bw_call_finish(struct bw_call *c, const char *status, int http_status);
void bw_call_respond(struct bw_call *c, int http_status, const char *body, size_t len,
                     const char *status);
void bw_call_fail(struct bw_call *c, int http_status, const char *code, const char *message,
                  const char *outcome_status);

/* proxy_forward.c */
void bw_forward_start(struct bw_call *c);
void bw_forward_cancel(struct bw_call *c);

#endif
