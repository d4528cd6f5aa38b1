/* mcp_internal.h: one MCP gateway request's state, shared by the src/mcp/ files. Not a contract. */
#ifndef BW_MCP_INTERNAL_H
#define BW_MCP_INTERNAL_H

#include "auth/auth.h"
#include "config/config.h"
#include "gateway/gateway.h"
#include "http/sse.h"
#include "ledger/receipt.h"
#include "mcp/mcp.h"
#include "mcp/mcp_pin.h" /* tool pinning (mcp-pin) */
#include "policy/engine.h"
#include "policy/policy.h"
#include "store/store.h"
#include "upstream/upstream.h"
#include "util/buf.h"
#include "util/codec.h"
#include "util/err.h"

struct bw_mcp_call {
    struct bw_gw_worker *w;
    struct evhttp_request *req;
    int method; /* enum evhttp_cmd_type */
    struct bw_key_record key;
    struct bw_mcp_server server;
    struct bw_mcp_msg msg;
    char session[BW_MCP_SESSION_ID_LEN + 1]; /* the gateway id the client presented, or "" */
    char upstream_session[BW_MCP_UPSTREAM_SESSION_MAX + 1]; /* what it maps to, or "" */
    char answered_session[BW_MCP_UPSTREAM_SESSION_MAX + 1]; /* the upstream's Mcp-Session-Id */
    int answered_session_bad; /* the upstream's id was too long or not visible ASCII */
    char h_session[BW_MCP_UPSTREAM_SESSION_MAX + 32];
    char h_version[64];
    const char *headers[4];
    char *fwd_body; /* the re-serialized message sent upstream */
    size_t fwd_len;
    struct bw_buf resp; /* the upstream's answer, capped at BW_MCP_MAX_RESULT */
    int too_large;
    struct bw_upstream_xfer *xfer;
    uint8_t request_sha256[32];
    int64_t start_us;
    /* governance of tools/call (mcp_forward.c) */
    int governed;
    int tool_error; /* the tools/call answer had result.isError true or an error */
    struct bw_policy *policy;
    struct bw_policy_decision decision;
    struct bw_policy_input input;
    struct bw_policy_budget budget;
    struct bw_slice *texts;
    size_t n_texts;
    struct bw_policy_tool tool;
    uint8_t args_sha256[32];
    char receipt_id[32];
    uint8_t decision_leaf[32];
    /* review (mcp_review.c) */
    struct bw_review_item *review; /* the item created or presented, or NULL */
    int review_create;             /* require_approval without a header: create one */
    char review_id[BW_ID_SIZE];    /* set once created: sent in the error's data */
    /* mcp-every (mcp_decide_other.c): the route decided when it is not mcp.tools_call
     * (resources/read, prompts/get, a refused tools/list), and whether its receipts list the
     * one tool_calls entry (not for a resource URI or a list) */
    const char *route;
    int no_tool_entry;
    /* mcp-stream: SSE answers relayed event by event, GET streams, sampling (mcp_stream.c,
     * mcp_sampling.c). Everything here is the event worker's own: no other thread sees c. */
    struct bw_sse sse;
    int streaming;           /* the upstream answered 200 text/event-stream: relayed live */
    int reply_started;       /* evhttp_send_reply_start was called */
    int client_gone;         /* the client's connection closed (req detached) */
    int close_cb_set;        /* c is the connection's close callback argument */
    int paused;              /* upstream paused: the client's output is over the high mark */
    int answered;            /* the response to the request's id was relayed */
    int stream_setup_failed; /* the stream could not start (session, memory): c->fail_* */
    const char *fail_reason; /* the reason that ended the stream, or NULL */
    const char *fail_status; /* its outcome receipt status */
    int fail_http;           /* its HTTP status (what the client would have got) */
    size_t received;         /* upstream bytes of this answer so far */
    size_t max_bytes;        /* the bound on them (mcp.result_max_bytes, or for GET more) */
    int64_t last_data_ms;    /* the upstream's last bytes (idle bound) */
    int64_t paused_ms;       /* when the upstream was paused (slow-client bound) */
    struct bw_sha256_stream relay_sha; /* what the client was sent, for the outcome receipt */
    int relay_sha_ready;
    size_t max_event;      /* one event's bound (mcp.result_max_bytes) */
    struct event *idle_ev; /* the upstream's idle bound */
    struct event *tick_ev; /* while paused: resume when the client drained, or give up */
    struct event *gone_ev; /* the client hung up: handled outside evhttp's callback */
    /* an allowed sampling request waits for its receipt to be durable: it and every event
     * after it are held (in order) until then; c lives until the last receipt lands */
    int holds;     /* sampling receipts not yet durable */
    int held_drop; /* a receipt failed: what is held is never sent */
    int finishing; /* the stream ended while holding: the last receipt finishes it */
    struct evbuffer *held;
    int get_stream_counted; /* this GET holds one of its session's stream slots */
    struct event *keep_ev;  /* keep-alive comments while nothing else is sent */
    int64_t last_sent_ms;   /* when bytes last went to the client */
    /* mcp-orgsrv (mcp_orgsrv.c): where {server} came from, its URL as checked at this connect,
     * and the gateway's own credential for it (never the caller's) */
    int org_server;    /* 1: the caller's org's own server (store) */
    char srv_name[64]; /* c->server.name/url point here for org servers */
    char srv_url[BW_MCP_URL_MAX];
    struct bw_egress_target *egress_target; /* the guard's verdict on srv_url (malloc'd) */
    char *upstream_auth;     /* an org server's "Bearer <credential>" (sodium_malloc'd) */
    const char *auth_header; /* what goes upstream: upstream_auth, the config's, or NULL */
};

/* mcp-oauth2 (mcp_rate.c): an allowed tools/call takes one unit of its (org, principal, tool)
 * bucket; over the limit its decision becomes deny MCP_RATE_LIMITED (429). */
void bw_mcp_rate_gate(struct bw_mcp_call *c);
/* mcp-oauth2 (mcp_oauth.c): who is calling: a Bulwark key or, with mcp.oauth, an OAuth access
 * token for the server named in path. 0, or -1 after replying. */
int bw_mcp_identify(struct bw_mcp_call *c, const char *path) BW_MUST_CHECK;
/* The route c is decided on (receipts, review items): c->route, else mcp.tools_call. */
static inline const char *bw_mcp_route(const struct bw_mcp_call *c) {
    return c->route ? c->route : "mcp.tools_call";
}

/* mcp_orgsrv.c: the server named by the path: the operator's (config) first, then the
 * caller's org's (store, cached per worker for 1 s; a change through the API drops every
 * cache). Fills c->server, c->org_server and c->upstream_auth. BW_OK, BW_E_NOT_FOUND (neither
 * has it), BW_E_UNAVAILABLE (the store or the vault failed: deny). */
bw_err bw_mcp_server_resolve(struct bw_mcp_call *c, const char *name) BW_MUST_CHECK;
/* Before each upstream transfer: the URL through the egress guard's static rules, and the
 * guard (connect-time address hook) and the credential set on r. 0, or -1 after failing c. */
int bw_mcp_upstream_prepare(struct bw_mcp_call *c, struct bw_upstream_request *r) BW_MUST_CHECK;
/* Frees what bw_mcp_server_resolve and bw_mcp_upstream_prepare made (the credential wiped). */
void bw_mcp_orgsrv_free(struct bw_mcp_call *c);
/* What a transfer that may outlive c (the gateway's answer to a refused sampling request) needs
 * of c's upstream routing: the guard's verdict on the URL and the gateway's credential, copied.
 * BW_OK, BW_E_INVALID (c was never prepared: no transfer), BW_E_NOMEM. */
struct bw_mcp_upstream_copy {
    const struct bw_egress_policy *egress; /* the gateway's, lives as long as the workers */
    struct bw_egress_target *target;       /* malloc'd */
    char *auth;                            /* sodium_malloc'd, or NULL */
};
bw_err bw_mcp_upstream_copy(const struct bw_mcp_call *c,
                            struct bw_mcp_upstream_copy *out) BW_MUST_CHECK;
/* Sets url, egress, egress_target and authorization of r from cp (borrowed). */
void bw_mcp_upstream_apply(const struct bw_mcp_upstream_copy *cp, struct bw_upstream_request *r);
/* Frees cp's copies (the credential wiped). */
void bw_mcp_upstream_copy_free(struct bw_mcp_upstream_copy *cp);

/* mcp_forward.c */
/* Sends c's message (or, for DELETE, the session end) upstream; ends the request later. */
void bw_mcp_forward(struct bw_mcp_call *c);
/* Ends the request with a JSON-RPC error body (status: the HTTP status) and frees c. */
void bw_mcp_fail(struct bw_mcp_call *c, int status, int rpc_code, const char *reason,
                 const char *message);
void bw_mcp_call_free(struct bw_mcp_call *c);
/* tools/call: decides it, records the decision receipt, then forwards or refuses. */
void bw_mcp_govern_call(struct bw_mcp_call *c);
/* The caller's policy (platform composed with the org's): 0, or -1 (unavailable: deny). *out
 * may be NULL (no policy at all: default deny). */
int bw_mcp_acquire_policy(struct bw_mcp_call *c, struct bw_policy **out) BW_MUST_CHECK;
void bw_mcp_fill_input(struct bw_mcp_call *c, const char *route);
/* Appends the decision receipt; its completion refuses, creates a review item or forwards. */
void bw_mcp_record_decision(struct bw_mcp_call *c);
/* mcp_review.c: require_approval (with or without a bulwark-approval header), then records. */
void bw_mcp_review_gate(struct bw_mcp_call *c);
/* After the APPROVAL_REQUIRED decision receipt is durable: review receipt, item, the error. */
void bw_mcp_review_create(struct bw_mcp_call *c);
/* tools/list: decided on route mcp.tools_list. 0 = forward, -1 after refusing. */
int bw_mcp_govern_list(struct bw_mcp_call *c) BW_MUST_CHECK;
/* mcp_forward.c: the checks on an answer's message (tools arrays filtered, isError kept).
 * 0, or -1 (refuse the whole answer). */
int bw_mcp_govern_answer(struct bw_mcp_call *c, json_t *answer) BW_MUST_CHECK;
/* An initialize answered with the upstream's session binds a gateway id to it. 0, or -1 with
 * *status / *reason set (nothing replied). */
int bw_mcp_bind_answer(struct bw_mcp_call *c, int *status, const char **reason) BW_MUST_CHECK;
/* The answer's headers: private, the gateway's session id, content type, receipt. */
void bw_mcp_add_headers(struct bw_mcp_call *c, const char *content_type);
/* Unsets the client close callback before the request is answered (no-op once gone). */
void bw_mcp_detach_close(struct bw_mcp_call *c);

/* mcp_stream.c: an SSE answer relayed event by event (docs/MCP.md "Streams"). */
/* Sets the client close callback (the hang-up cancels the upstream transfer). 0 or -1. */
int bw_mcp_watch_client(struct bw_mcp_call *c) BW_MUST_CHECK;
/* on_data for a 200 text/event-stream answer: 0 go on, 1 pause, -1 stop the transfer. */
int bw_mcp_stream_data(struct bw_mcp_call *c, const char *p, size_t n) BW_MUST_CHECK;
/* on_done of a streamed answer: ends the stream (an error event first when it failed), writes
 * the outcome receipt of a governed call, frees c. */
void bw_mcp_stream_done(struct bw_mcp_call *c, int result, long status);
/* Releases the stream's events and timers (from bw_mcp_call_free). */
void bw_mcp_stream_cleanup(struct bw_mcp_call *c);

/* Holds the stream's events from now on (a sampling receipt is on its way). 0 or -1. */
int bw_mcp_stream_hold(struct bw_mcp_call *c) BW_MUST_CHECK;
/* A held sampling receipt landed: ok sends what was held (once no other is pending); not ok
 * ends the stream (LEDGER_UNAVAILABLE) without sending it. May free c. */
void bw_mcp_stream_release(struct bw_mcp_call *c, int ok);

/* mcp_sampling.c: a server's sampling/createMessage on a stream, decided on route
 * mcp.sampling and receipted. 1: relay it to the client (the stream is held until its receipt
 * is durable: bw_mcp_stream_hold); 0: denied (not relayed; the upstream server was sent a
 * JSON-RPC error for it on the session). */
int bw_mcp_sampling(struct bw_mcp_call *c, const struct bw_mcp_msg *m) BW_MUST_CHECK;

/* The outcome receipt of a forwarded tools/call (response_sha256 NULL: no answer). */
void bw_mcp_outcome(struct bw_mcp_call *c, const char *status, int http_status,
                    const uint8_t *response_sha256);

/* mcp_decide.c: every string and key of v into c->texts (allocated to fit, replacing any), for
 * content rules. 0; -1 when there are more than cap or v nests deeper than 64; -2 out of
 * memory. */
int bw_mcp_collect_texts(struct bw_mcp_call *c, const json_t *v, size_t cap) BW_MUST_CHECK;
/* The SHA-256 of the canonical message into c->request_sha256: tag, server, NUL, session, NUL,
 * params with sorted keys (absent params: {}). 0 or -1. */
int bw_mcp_canonical_hash(struct bw_mcp_call *c, const char *tag) BW_MUST_CHECK;

/* mcp_decide_other.c (mcp-every): resources/read and prompts/get decided on their routes,
 * resources/list and prompts/list answers filtered, governed methods refused as
 * notifications. 1 when it took the request over (it ends it), 0 to carry on. */
int bw_mcp_govern_other(struct bw_mcp_call *c) BW_MUST_CHECK;
/* A refused tools/list: its decision receipt, then the JSON-RPC error. Takes d. */
void bw_mcp_refuse_list(struct bw_mcp_call *c, const struct bw_policy_decision *d);
/* The answer to a resources/list or prompts/list, filtered in place (every result carrying the
 * list, whatever its id; the result answering the request's id must carry it). 1 = not a
 * listing (nothing done), 0 = filtered, -1 = refuse the answer. */
int bw_mcp_filter_listing(struct bw_mcp_call *c, json_t *answer, int mine) BW_MUST_CHECK;

#endif
