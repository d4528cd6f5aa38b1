/* mcp_internal.h: one MCP gateway request's state, shared by the src/mcp/ files. Not a contract. */
#ifndef BW_MCP_INTERNAL_H
#define BW_MCP_INTERNAL_H

#include "config/config.h"
#include "mcp/mcp.h"
#include "proxy/proxy_internal.h"

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
    /* mcp-orgsrv (mcp_orgsrv.c): where {server} came from, its URL as checked at this connect,
     * and the gateway's own credential for it (never the caller's) */
    int org_server;                         /* 1: the caller's org's own server (store) */
    char srv_name[64];                      /* c->server.name/url point here for org servers */
    char srv_url[BW_MCP_URL_MAX];
    struct bw_egress_target *egress_target; /* the guard's verdict on srv_url (malloc'd) */
    char *upstream_auth;                    /* an org server's "Bearer <credential>" (sodium_malloc'd) */
    const char *auth_header;                /* what goes upstream: upstream_auth, the config's, or NULL */
};

/* mcp_orgsrv.c: the server named by the path: the operator's (config) first, then the
 * caller's org's (store, cached per worker for 1 s; a change through the API drops every
 * cache). Fills c->server, c->org_server and c->upstream_auth. BW_OK, BW_E_NOT_FOUND (neither
 * has it), BW_E_UNAVAILABLE (the store or the vault failed: deny). */
bw_err bw_mcp_server_resolve(struct bw_mcp_call *c, const char *name) BW_MUST_CHECK;
/* Before each upstream transfer: the URL through the egress guard's static rules, and the
 * guard (connect-time address hook) and the credential set on r. 0, or -1 after failing c. */
int bw_mcp_upstream_prepare(struct bw_mcp_call *c, struct bw_upstream_request *r);
/* Frees what bw_mcp_server_resolve and bw_mcp_upstream_prepare made (the credential wiped). */
void bw_mcp_orgsrv_free(struct bw_mcp_call *c);

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
int bw_mcp_acquire_policy(struct bw_mcp_call *c, struct bw_policy **out);
void bw_mcp_fill_input(struct bw_mcp_call *c, const char *route);
/* Appends the decision receipt; its completion refuses, creates a review item or forwards. */
void bw_mcp_record_decision(struct bw_mcp_call *c);
/* mcp_review.c: require_approval (with or without a bulwark-approval header), then records. */
void bw_mcp_review_gate(struct bw_mcp_call *c);
/* After the APPROVAL_REQUIRED decision receipt is durable: review receipt, item, the error. */
void bw_mcp_review_create(struct bw_mcp_call *c);
/* tools/list: decided on route mcp.tools_list. 0 = forward, -1 after refusing. */
int bw_mcp_govern_list(struct bw_mcp_call *c);
/* The outcome receipt of a forwarded tools/call (response_sha256 NULL: no answer). */
void bw_mcp_outcome(struct bw_mcp_call *c, const char *status, int http_status,
                    const uint8_t *response_sha256);

#endif
