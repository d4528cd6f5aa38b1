/* proxy_internal.h: the per-call state shared by the proxy's files. Not a public contract. */
#ifndef BW_PROXY_INTERNAL_H
#define BW_PROXY_INTERNAL_H

#include <jansson.h>

#include "auth/auth.h"
#include "policy/engine.h"
#include "policy/policy.h"
#include "policy/toolstream.h"
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

enum bw_route { BW_ROUTE_CHAT, BW_ROUTE_EMBEDDINGS, BW_ROUTE_MODELS, BW_ROUTE_WIDGET };

/* Routes whose request is a chat completion (messages, tools) and whose answer is one. */
static inline int bw_route_is_chat(enum bw_route r) {
    return r == BW_ROUTE_CHAT || r == BW_ROUTE_WIDGET;
}

struct bw_widget_cache;

struct bw_gw_worker {
    struct bw_gateway *gw;
    struct event_base *base;
    struct bw_store *store;
    struct bw_upstream *up;
    struct bw_auth_cache *keys;
    struct bw_widget_cache *widgets; /* agents by widget key (proxy/widget.h) */
};

struct bw_call;

/* A caller that identifies the principal and builds the upstream request itself (the widget,
 * proxy_widget.c) runs the same pipeline and plugs in here. Every hook runs on the worker. */
struct bw_call_hooks {
    /* The decision allowed the call and its receipt is durable; nothing is forwarded yet.
     * 0 = forward. Non-zero: the hook has ended the call (bw_call_fail). May be NULL. */
    int (*before_forward)(struct bw_call *c);
    /* The upstream's whole answer, parsed (an object) and governed; status is the upstream's
     * HTTP status. Must end the call (bw_call_respond, or bw_call_fail with an outcome status).
     * answer is borrowed. Required. */
    void (*on_answer)(struct bw_call *c, long status, json_t *answer);
    /* Frees the hook argument when the call ends, whichever way. May be NULL. */
    void (*cleanup)(void *hook_arg);
};

struct bw_call_start {
    enum bw_route route;
    const struct bw_key_record *caller; /* the identified principal, copied */
    json_t *body_json;                  /* taken: the request the gateway built */
    const char *model;                  /* the model in body_json, receipt profile */
    const struct bw_call_hooks *hooks;  /* static */
    void *hook_arg;                     /* taken: hooks->cleanup frees it, on every path */
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
    struct bw_policy_decision decision; /* from the engine, or the allowed_models step */
    struct bw_policy *policy;           /* a reference held for the whole call, or NULL */
    json_t *body_json;                  /* the parsed request (chat/embeddings) */
    struct bw_policy_request_view view; /* policy-relevant parts of body_json */
    struct bw_policy_input input;       /* the decision's input, reused for tool calls */
    char *forward_body;                 /* the body to forward when tools were stripped */
    size_t forward_len;
    struct bw_toolstream *toolstream; /* stream tool-call governance (policy + stream) */
    int body_modified;                /* body_json changed (clamped max_tokens, stripped tools) */
    /* admission (proxy_admit.c) */
    struct bw_limits_reservation *reservation;
    int inflight_held;
    int tok_taken; /* token buckets the worst case was taken from */
    int64_t worst_tokens;
    int64_t retry_after_ms; /* for Retry-After on a limit refusal; -1 = never fits */
    int admission_refused;
    int64_t start_ms;
    char receipt_id[32];
    uint8_t decision_leaf[32];

    struct bw_upstream_xfer *xfer;
    struct bw_buf resp; /* non-streamed response, or a streamed error body */
    struct bw_sse sse;
    struct bw_sha256_stream resp_sha;
    int streaming; /* upstream answered 200 text/event-stream */
    int forwarded; /* the decision allowed it and the upstream was called */
    int reply_started;
    const char *stream_fail; /* reason code when stream governance ended the stream */
    int client_gone;
    int64_t prompt_tokens, completion_tokens, total_tokens;
    int has_usage; /* the upstream reported usage */
    /* stream metering (proxy_forward.c): what the upstream produced, for billing when it reports
     * no usage and for cutting a stream off at the reservation (docs/SPEND.md) */
    int64_t prompt_estimate; /* the admission's prompt estimate */
    int64_t cap_tokens;      /* completion tokens reserved; 0 = no finite budget to protect */
    int64_t worst_cost_micros; /* the reservation's worst-case cost; -1 = no price known */
    int64_t stream_units;    /* delta events that carried text or tool-call bytes */
    int64_t stream_bytes;    /* those bytes */
    /* settlement (proxy_admit.c), for the outcome receipt */
    int settled;
    int usage_estimated;
    int64_t settled_prompt, settled_completion, cost_micros;
    struct event *gone_ev; /* deferred cancel after the client went away */
    struct event *idle_ev; /* stream idle timeout */
    /* a prepared call (bw_call_begin_prepared) */
    const struct bw_call_hooks *hooks;
    void *hook_arg;
    char *built_body; /* the gateway-built request bytes (c->body points here) */
};

/* proxy_worker.c: the route's name in receipts and policies ("chat", "embeddings", "models"). */
const char *bw_route_name(enum bw_route r);

/* proxy_call.c */
/* Starts a call whose caller was identified by the router's caller and whose request was built
 * by it (the widget): admit, decide, record, forward, as any other call. The receipt subject is
 * the SHA-256 of the client's exact request bytes (req's input buffer); the upstream gets the
 * JSON of s->body_json. Always ends the request (now or later); takes s->body_json and
 * s->hook_arg on every path. */
void bw_call_begin_prepared(struct bw_gw_worker *w, struct evhttp_request *req,
                            const struct bw_call_start *s);
void bw_call_finish(struct bw_call *c, const char *status, int http_status);
void bw_call_respond(struct bw_call *c, int http_status, const char *body, size_t len,
                     const char *status);
void bw_call_fail(struct bw_call *c, int http_status, const char *code, const char *message,
                  const char *outcome_status);

/* proxy_admit.c */
struct bw_usage_record;
int bw_call_admit(struct bw_call *c);
void bw_call_release_admission(struct bw_call *c);
int64_t bw_call_settle(struct bw_call *c, struct bw_usage_record *u);
void bw_call_add_retry_after(struct bw_call *c);

/* proxy_policy.c */
void bw_call_decide(struct bw_call *c);
void bw_call_policy_cleanup(struct bw_call *c);
/* Governs tool calls in a plain answer (parsed, modified in place). 0 = forward it (possibly
 * changed: *changed set), -1 = refuse the answer (malformed tool calls). */
int bw_call_govern_response(struct bw_call *c, json_t *response, int *changed);
/* Governs one streamed event's JSON: emits what may reach the client through send_event.
 * 0 = ok, -1 = the stream must end with an error. */
int bw_call_govern_stream(struct bw_call *c, json_t *chunk);
int bw_call_govern_stream_end(struct bw_call *c);
const char *bw_call_decision_name(const struct bw_call *c);
/* proxy_forward.c: sends one "data: <json>" event to the client. */
void bw_forward_send_json_event(struct bw_call *c, const json_t *chunk);

/* proxy_forward.c */
void bw_forward_start(struct bw_call *c);
void bw_forward_cancel(struct bw_call *c);

#endif
