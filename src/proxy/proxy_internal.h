/* proxy_internal.h: the per-call state shared by the proxy's files. Not a public contract. */
#ifndef BW_PROXY_INTERNAL_H
#define BW_PROXY_INTERNAL_H

#include <jansson.h>

#include "auth/auth.h"
#include "http/sse.h"
#include "jobs/jobs.h"
#include "ledger/receipt.h"
#include "policy/engine.h"
#include "policy/policy.h"
#include "policy/toolstream.h"
#include "proxy/proxy.h"
#include "review/review.h"
#include "store/store.h"
#include "upstream/upstream.h"
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

/* ---- the call as a step table (call_steps.c; docs/INTERNALS.md "The call") ----
 *
 * A governed call is an ordered table of steps run by one driver, in the style of s2n-tls's
 * handshake table: each step is a function that returns a verdict, and only the driver ends the
 * call (settles, records the outcome, observes, logs, replies, frees). */
enum bw_step_verdict {
    BW_STEP_CONTINUE, /* done: run the next step */
    BW_STEP_WAIT,     /* started something asynchronous (a ledger append, a store job, the
                       * upstream) whose completion calls bw_call_step_done exactly once */
    BW_STEP_DENY,     /* the decision is a refusal (bw_call_deny wrote it): before the decision
                       * receipt, skip to recording it; after it, reply the refusal */
    BW_STEP_FAIL,     /* the call ends with an error (bw_call_fail_with wrote it) */
};

struct bw_widget_cache;

struct bw_byok_cache;

struct bw_call;

/* A caller that identifies the principal and builds the upstream request itself (the widget,
 * proxy_widget.c) runs the same table (call_steps.c) with its own first steps and plugs in
 * here. Every hook runs on the worker. */
struct bw_call_hooks {
    /* The before-forward step: the decision allowed the call and its receipt is durable;
     * nothing is forwarded yet. CONTINUE = forward; FAIL after bw_call_fail_with; WAIT if it
     * started a job whose completion calls bw_call_step_done. May be NULL. */
    enum bw_step_verdict (*before_forward)(struct bw_call *c);
    /* The govern-answer step: the upstream's whole answer, parsed (an object) and governed;
     * status is the upstream's HTTP status. Sets how the call ends (bw_call_respond, or
     * bw_call_fail_with with an outcome status) and returns the step's verdict, or returns WAIT
     * from bw_call_wait_job whose apply sets it. answer is borrowed (only for this call).
     * Required. */
    enum bw_step_verdict (*on_answer)(struct bw_call *c, long status, json_t *answer);
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
/* The cache's miss, read elsewhere (a store job): bw_byok_cached says whether org_id's entry is
 * fresh; if not, bw_byok_fetch_new (on the worker), bw_byok_fetch_run (on a store thread, its
 * store), then bw_byok_fetch_put on the worker (err: the job's; the errors of
 * bw_byok_authorization), then bw_byok_fetch_free (takes a void * for bw_call_wait_job). */
struct bw_byok_fetch;
int bw_byok_cached(struct bw_gw_worker *w, const char *org_id);
struct bw_byok_fetch *bw_byok_fetch_new(struct bw_gw_worker *w, const char *org_id);
void bw_byok_fetch_run(struct bw_store *store, void *f);
bw_err bw_byok_fetch_put(struct bw_gw_worker *w, struct bw_byok_fetch *f, bw_err err) BW_MUST_CHECK;
void bw_byok_fetch_free(void *f);
bw_err bw_byok_authorization(struct bw_gw_worker *w, const char *org_id, char **out) BW_MUST_CHECK;

/* How the call ends, set once (the first end set wins) and written by the driver. */
enum bw_call_end_kind {
    BW_END_NONE = 0,
    BW_END_ERROR,  /* an error body: code, message */
    BW_END_BODY,   /* a whole JSON body (body, or the upstream's bytes in answer.resp) */
    BW_END_STREAM, /* the end of a streamed reply (or of a client gone: nothing to send) */
};

struct bw_call_end {
    enum bw_call_end_kind kind;
    int http_status;
    const char *code;    /* ERROR: the reason code */
    const char *message; /* ERROR: static text, or text the call owns */
    const char *outcome; /* the outcome receipt's status; NULL: no outcome receipt (ERROR) */
    char *body;          /* BODY: owned (malloc), or NULL for the bytes in answer.resp */
    size_t len;
    char why[200]; /* room for an ERROR message built for this call */
};

/* The sub-structs below each belong to one step: it writes them, later steps read them. */
struct bw_call_in {      /* bound + parse (proxy_call.c), or the prepared start (widget) */
    const uint8_t *body; /* the request's input buffer, pulled up; lives as long as req */
    size_t body_len;
    char *built_body; /* the gateway-built request bytes (body points here; widget) */
    char model[128];
    int stream;
    uint8_t request_sha256[32];
    json_t *body_json; /* the parsed request (chat/embeddings) */
};

struct bw_call_ident { /* identify (proxy_call.c) */
    struct bw_key_record key;
};

struct bw_call_admit { /* admit (proxy_admit.c); settle gives all of it back */
    struct bw_limits_reservation *reservation;
    int inflight_held;
    int tok_taken; /* token buckets the worst case was taken from */
    int64_t worst_tokens;
    int64_t retry_after_ms; /* for Retry-After on a limit refusal; -1 = never fits */
    int admission_refused;
    /* stream metering (proxy_forward.c reads them): for billing when the upstream reports no
     * usage and for cutting a stream off at the reservation (docs/SPEND.md) */
    int64_t prompt_estimate;   /* the admission's prompt estimate */
    int64_t cap_tokens;        /* completion tokens reserved; 0 = no finite budget to protect */
    int64_t worst_cost_micros; /* the reservation's worst-case cost; -1 = no price known */
};

struct bw_call_decide { /* decide (proxy_policy.c); the review gate may turn it into allow */
    struct bw_policy_decision decision;    /* from the engine, or the allowed_models step */
    struct bw_policy *policy;              /* a reference held for the whole call, or NULL */
    struct bw_policy_request_view view;    /* policy-relevant parts of in.body_json */
    struct bw_policy_input input;          /* the decision's input, reused for tool calls */
    struct bw_policy_budget policy_budget; /* the call's regex budget and content verdicts */
    int no_platform_policy; /* no `policy:` file: the config's allowed_models are the platform */
    char *forward_body;     /* the body to forward when it was changed */
    size_t forward_len;
    int body_modified;           /* body_json changed (clamped max_tokens, stripped tools) */
    const char *refusal_message; /* a refusal's message for the client, or NULL */
    char refusal_buf[192];       /* room for it (the request view's why) */
    struct bw_receipt_tool_calls request_tools; /* the request's refused or stripped tools, for
                                                 * the decision receipt (proxy_policy.c) */
};

struct bw_call_review {          /* review gate and review item (proxy_review.c) */
    struct bw_review_item *item; /* the item created or presented, or NULL */
    int create;                  /* require_approval without a header: create one */
    char id[BW_ID_SIZE];         /* set once created: sent in the 403's error body */
};

struct bw_call_record { /* record (proxy_call.c): the decision receipt */
    char receipt_id[32];
    uint8_t decision_leaf[32];
};

struct bw_call_fwd { /* forward (proxy_forward.c) */
    struct bw_upstream_xfer *xfer;
    char *byok_auth;       /* the org's own "Bearer <key>" (sodium_malloc), or NULL */
    int64_t forward_us;    /* when the upstream request started (health latency) */
    int forwarded;         /* the decision allowed it and the upstream was called */
    struct event *idle_ev; /* stream idle timeout */
    int64_t upstream_start_us, upstream_end_us; /* bw_mono_us around the upstream transfer */
    long upstream_status; /* the upstream's HTTP status, 0 if it never answered */
};

struct bw_call_answer { /* the answer, streamed or whole, and its governance */
    struct bw_buf resp; /* non-streamed response, or a streamed error body */
    struct bw_sse sse;
    struct bw_sha256_stream resp_sha;
    int streaming; /* upstream answered 200 text/event-stream */
    int reply_started;
    const char *stream_fail;          /* reason code when stream governance ended the stream */
    int stream_done;                  /* the upstream's stream sent [DONE] */
    struct bw_toolstream *toolstream; /* stream tool-call governance (policy + stream) */
    struct bw_receipt_tool_calls tool_calls; /* the answer's decided calls, for the outcome */
    int64_t prompt_tokens, completion_tokens, total_tokens;
    int has_usage;        /* the upstream reported usage */
    int64_t stream_units; /* delta events that carried text or tool-call bytes */
    int64_t stream_bytes; /* those bytes */
    int unproduced; /* provably nothing produced (upstream unreached, error answer): no charge */
    const char *end_reason; /* a stream ended in-band with this reason code, or NULL */
    long status;            /* the upstream's status, for the govern answer step */
};

struct bw_call_settle { /* settle (proxy_admit.c), for the outcome receipt */
    int settled;
    int usage_estimated;
    int64_t settled_prompt, settled_completion, cost_micros;
};

struct bw_call_observe { /* observe (proxy_observe.c) */
    int observed;        /* bw_call_observe_end ran */
};

struct bw_call_steps; /* call_steps.c: a route's table */

struct bw_call {
    struct bw_gw_worker *w;
    struct evhttp_request *req;
    enum bw_route route;
    int64_t start_us;
    int64_t start_ms;
    int client_gone;
    struct event *gone_ev; /* deferred cancel after the client went away */
    /* a prepared call (bw_call_begin_prepared) */
    const struct bw_call_hooks *hooks;
    void *hook_arg;
    /* the driver (call_steps.c) */
    const struct bw_call_steps *table;
    size_t step; /* the index of the step running or waited on */
    int driving; /* the driver is on the stack: a completion only records its verdict */
    int woken;   /* a completion arrived while driving */
    enum bw_step_verdict wake_verdict;
    struct bw_call_end end;
    struct bw_call_job *job; /* the store job the call waits on, or NULL (call_jobs.c) */

    struct bw_call_in in;
    struct bw_call_ident ident;
    struct bw_call_admit admit;
    struct bw_call_decide decide;
    struct bw_call_review review;
    struct bw_call_record record;
    struct bw_call_fwd fwd;
    struct bw_call_answer answer;
    struct bw_call_settle settle;
    struct bw_call_observe observe;
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
 * by it (the widget): the prepared table (call_steps.c) from its first step. The receipt subject
 * is the SHA-256 of the client's exact request bytes (req's input buffer); the upstream gets the
 * JSON of s->body_json. Always ends the request (now or later); takes s->body_json and
 * s->hook_arg on every path. */
void bw_call_begin_prepared(struct bw_gw_worker *w, struct evhttp_request *req,
                            const struct bw_call_start *s);
/* A new call for req (its input buffer pulled up as in.body), counted in flight; NULL after
 * replying 503 when out of memory. */
struct bw_call *bw_call_new(struct bw_gw_worker *w, struct evhttp_request *req,
                            enum bw_route route);

/* The fields every receipt of a call carries: who, what, and the request's hash. */
void bw_call_receipt(const struct bw_call *c, enum bw_receipt_kind kind, struct bw_receipt *r);

/* call_steps.c: the driver and the steps' tables. */
enum bw_call_table { BW_TABLE_CALL, BW_TABLE_PREPARED };
/* Runs c's table from its first step. c is the driver's from here: only the driver ends it. */
void bw_call_run(struct bw_call *c, enum bw_call_table t);
/* The completion of a step that returned BW_STEP_WAIT: called exactly once, on the worker.
 * Continues the table (and may end and free c: touch nothing of c after it). */
void bw_call_step_done(struct bw_call *c, enum bw_step_verdict v);

/* The one deny writer: the decision becomes a refusal with reason and http_status (403 when 0).
 * rule NULL keeps the rule and layer that decided (an approval that cannot be used names the
 * require_approval rule); otherwise the rule becomes `rule` ("" = none) and the layer none.
 * Returns BW_STEP_DENY; the driver records it and writes the refusal (one place). */
enum bw_step_verdict bw_call_deny(struct bw_call *c, const char *reason, int http_status,
                                  const char *rule);
/* Sets how the call ends with an error (the first end set wins); outcome_status non-NULL adds
 * an outcome receipt (and settles a forwarded call). Returns BW_STEP_FAIL. */
enum bw_step_verdict bw_call_fail_with(struct bw_call *c, int http_status, const char *code,
                                       const char *message, const char *outcome_status);
/* The completions of the forward wait (and the govern-answer step): each sets how the call ends
 * and hands it to the driver, which settles, records the outcome, observes and replies. */
/* An allowed call whose response has been streamed (or whose client is gone). */
void bw_call_finish(struct bw_call *c, const char *status, int http_status);
/* A whole JSON response: body is taken (malloc'd; freed with the call), or NULL for the
 * upstream's own bytes in c->answer.resp. */
void bw_call_respond(struct bw_call *c, int http_status, char *body, size_t len,
                     const char *status);
/* An error reply; an outcome receipt is added when outcome_status is non-NULL. */
void bw_call_fail(struct bw_call *c, int http_status, const char *code, const char *message,
                  const char *outcome_status);

/* call_jobs.c: a step's store work on a store thread (jobs/jobs.h). The step returns
 * bw_call_wait_job(...), which is WAIT (or FAIL 503 STORE_UNAVAILABLE when the job cannot be
 * queued). run(store, arg) runs on a store thread and touches only arg (never the call: the call
 * may stop waiting and end while run runs). apply(c, arg, err) then runs on the worker, with err
 * BW_OK (run ran) or BW_E_UNAVAILABLE (it never ran), and returns the step's verdict. A call not
 * answered within BW_CALL_STORE_WAIT_MS stops waiting: 503 STORE_UNAVAILABLE, and the job's late
 * completion only frees arg (free_arg, may be NULL). Without a pool (gw->jobs NULL) run runs at
 * once on the worker's handle. */
#define BW_CALL_STORE_WAIT_MS 5000
struct bw_call_job;
typedef enum bw_step_verdict (*bw_call_job_apply_fn)(struct bw_call *c, void *arg, bw_err err);
enum bw_step_verdict bw_call_wait_job(struct bw_call *c, bw_job_run_fn run,
                                      bw_call_job_apply_fn apply, void *arg,
                                      void (*free_arg)(void *arg));
/* The call ends while a job runs (never in the table's order; a guard): the job frees itself. */
void bw_call_job_detach(struct bw_call *c);

/* The steps (each returns a verdict to the driver; docs/INTERNALS.md "The call"). */
enum bw_step_verdict bw_step_bound(struct bw_call *c);          /* proxy_call.c */
enum bw_step_verdict bw_step_identify(struct bw_call *c);       /* proxy_call.c */
enum bw_step_verdict bw_step_parse(struct bw_call *c);          /* proxy_call.c */
enum bw_step_verdict bw_step_prepared(struct bw_call *c);       /* proxy_call.c (widget) */
enum bw_step_verdict bw_step_admit(struct bw_call *c);          /* proxy_admit.c */
enum bw_step_verdict bw_step_decide(struct bw_call *c);         /* proxy_policy.c */
enum bw_step_verdict bw_step_review_gate(struct bw_call *c);    /* proxy_review.c */
enum bw_step_verdict bw_step_record(struct bw_call *c);         /* proxy_call.c */
enum bw_step_verdict bw_step_review_item(struct bw_call *c);    /* proxy_review.c */
enum bw_step_verdict bw_step_before_forward(struct bw_call *c); /* call_steps.c: the hook */
enum bw_step_verdict bw_step_forward(struct bw_call *c);        /* proxy_forward.c */
enum bw_step_verdict bw_step_govern_answer(struct bw_call *c);  /* proxy_forward.c */
enum bw_step_verdict bw_step_settle(struct bw_call *c);         /* call_steps.c */
enum bw_step_verdict bw_step_record_outcome(struct bw_call *c); /* call_steps.c */

/* proxy_admit.c */
struct bw_usage_record;
void bw_call_release_admission(struct bw_call *c);
int64_t bw_call_settle(struct bw_call *c, struct bw_usage_record *u);
void bw_call_add_retry_after(struct bw_call *c);

/* proxy_policy.c */
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
const char *bw_call_govern_answer(struct bw_call *c, json_t *answer, int is_error, int *changed);
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
void bw_forward_cancel(struct bw_call *c);

#endif
