/* proxy_internal.h: the per-call state shared by the proxy's files. Not a public contract. */
#ifndef BW_PROXY_INTERNAL_H
#define BW_PROXY_INTERNAL_H

#include <jansson.h>

#include "auth/auth.h"
#include "ledger/receipt.h"
#include "policy/engine.h"
#include "policy/policy.h"
#include "policy/toolstream.h"
#include "http/sse.h"
#include "proxy/proxy.h"
#include "upstream/upstream.h"
#include "review/review.h"
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

struct bw_byok_cache;


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

/* proxy_byok.c: bring-your-own-key. The org's own upstream key (a `provider` secret in the
 * vault), if it has one: *out = "Bearer <key>" in a new sodium_malloc'd string the call owns
 * (freed and wiped by sodium_free when the call ends), or NULL to use the platform key. The
 * sealed record (ciphertext) is cached per worker for 1 s, "none" too, so orgs without a key
 * cost no query per call; a change through the API bumps gw->byok_generation, dropping every
 * worker's entries at once. Errors: BW_E_UNAVAILABLE (store: the caller denies, since which key
 * to use is unknown), BW_E_CRYPTO / BW_E_INVALID (the record does not open: deny), BW_E_NOMEM. */
bw_err bw_byok_cache_new(struct bw_byok_cache **out) BW_MUST_CHECK;
void bw_byok_cache_free(struct bw_byok_cache *c);
bw_err bw_byok_authorization(struct bw_gw_worker *w, const char *org_id,
                             char **out) BW_MUST_CHECK;

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
    struct bw_policy_budget policy_budget; /* the call's regex budget and content verdicts */
    int no_platform_policy; /* no `policy:` file: the config's allowed_models are the platform */
    char *forward_body;                 /* the body to forward when tools were stripped */
    size_t forward_len;
    struct bw_toolstream *toolstream; /* stream tool-call governance (policy + stream) */
    int body_modified;                /* body_json changed (clamped max_tokens, stripped tools) */
    const char *refusal_message; /* a refusal's message for the client, or NULL */
    char refusal_buf[192];       /* room for it (the request view's why) */
    struct bw_receipt_tool_calls tool_calls; /* the answer's decided calls, for the outcome */
    struct bw_receipt_tool_calls request_tools; /* the request's refused or stripped tools, for
                                                 * the decision receipt (proxy_policy.c) */
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
    /* review (proxy_review.c) */
    struct bw_review_item *review; /* the item created or presented, or NULL */
    int review_create;             /* require_approval without a header: create one */
    char review_id[BW_ID_SIZE];    /* set once created: sent in the 403's error body */

    struct bw_upstream_xfer *xfer;
    struct bw_buf resp; /* non-streamed response, or a streamed error body */
    struct bw_sse sse;
    struct bw_sha256_stream resp_sha;
    int streaming; /* upstream answered 200 text/event-stream */
    int forwarded; /* the decision allowed it and the upstream was called */
    int reply_started;
    const char *stream_fail; /* reason code when stream governance ended the stream */
    int stream_done;         /* the upstream's stream sent [DONE] */
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
    int unproduced; /* provably nothing produced (upstream unreached, error answer): no charge */
    /* settlement (proxy_admit.c), for the outcome receipt */
    int settled;
    int usage_estimated;
    int64_t settled_prompt, settled_completion, cost_micros;
    struct event *gone_ev; /* deferred cancel after the client went away */
    struct event *idle_ev; /* stream idle timeout */
    char *byok_auth;       /* the org's own "Bearer <key>" (sodium_malloc), or NULL */
    int64_t forward_us;    /* when the upstream request started (health latency) */
    /* a prepared call (bw_call_begin_prepared) */
    const struct bw_call_hooks *hooks;
    void *hook_arg;
    char *built_body; /* the gateway-built request bytes (c->body points here) */
    /* observation (proxy_observe.c): metrics and trace export at the call's end */
    int64_t upstream_start_us, upstream_end_us; /* bw_mono_us around the upstream transfer */
    long upstream_status;   /* the upstream's HTTP status, 0 if it never answered */
    const char *end_reason; /* a stream ended in-band with this reason code, or NULL */
    int observed;           /* bw_call_observe_end ran */
};

/* proxy_observe.c: the one place a call's end is observed (metrics, OpenTelemetry span):
 * called by bw_call_finish/respond/fail after the outcome receipt is queued (so the settled,
 * billed usage is known) and before the reply frees the request. http_status is what
 * the client was answered, reason the reason code it ended with (NULL: none). Runs once per call;
 * never blocks (lock-free counters, a bounded span queue). */
void bw_call_observe_end(struct bw_call *c, int http_status, const char *reason);

/* proxy_routes.c: the route's name in receipts and policies ("chat", "embeddings", "models"). */
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

/* Appends the decision receipt; its completion replies a refusal or forwards. */
void bw_call_record_decision(struct bw_call *c);

/* proxy_review.c */
/* Step 4's require_approval: creates nothing yet (the decision receipt comes first) or, with
 * a bulwark-approval header, checks and spends the approval; then records the decision. */
void bw_call_review_gate(struct bw_call *c);
/* After the APPROVAL_REQUIRED decision receipt is durable: review receipt, item, 403. */
void bw_call_review_create(struct bw_call *c);

/* proxy_admit.c */
struct bw_usage_record;
int bw_call_admit(struct bw_call *c);
void bw_call_release_admission(struct bw_call *c);
int64_t bw_call_settle(struct bw_call *c, struct bw_usage_record *u);
void bw_call_add_retry_after(struct bw_call *c);

/* proxy_policy.c */
void bw_call_decide(struct bw_call *c);
void bw_call_policy_cleanup(struct bw_call *c);
/* For a call allowed after the engine decided (an approval): strips the stripped tools and
 * serializes the body to forward. 0, or -1 (out of memory). */
int bw_call_policy_finalize(struct bw_call *c);
const char *bw_call_decision_name(const struct bw_call *c);

/* proxy_govern.c: tool calls in answers (docs/POLICY.md "Answers"). Every decided, refused or
 * dropped call is added to c->tool_calls for the outcome receipt. */
/* Governs a plain answer (parsed; modified in place; is_error: a non-2xx status, where any call
 * refuses it). NULL = forward it (*changed: calls were removed); else a static reason code:
 * refuse the whole answer. */
const char *bw_call_govern_answer(struct bw_call *c, json_t *answer, int is_error,
                                  int *changed);
/* Governs one streamed event's JSON: emits what may reach the client through
 * bw_forward_send_json_event. 0 = ok, -1 = the stream must end with an error
 * (bw_call_stream_fail_reason says why). */
int bw_call_govern_stream(struct bw_call *c, json_t *chunk);
/* The upstream's stream ended: -1 if calls were still open (dropped: TOOL_CALL_INCOMPLETE). */
int bw_call_govern_stream_end(struct bw_call *c);
const char *bw_call_stream_fail_reason(const struct bw_call *c);
int bw_call_stream_calls_open(const struct bw_call *c);
/* proxy_forward.c: sends one "data: <json>" event to the client. */
void bw_forward_send_json_event(struct bw_call *c, const json_t *chunk);

/* proxy_forward.c */
void bw_forward_start(struct bw_call *c);
void bw_forward_cancel(struct bw_call *c);

#endif
