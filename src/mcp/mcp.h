/* mcp.h: the MCP gateway core (docs/MCP.md "Gateway"; issue 14).
 *
 * `POST|GET|DELETE /mcp/{server}` is MCP Streamable HTTP in front of an operator-configured
 * upstream MCP server (config `mcp.servers`). Every request is authenticated with a Bulwark
 * key (the caller's Authorization never goes upstream), checked strictly (JSON-RPC 2.0, no
 * batches, MCP-Protocol-Version, Origin, Mcp-Method / Mcp-Name against the body), and bound to
 * a gateway session: the client only ever sees the gateway's own random session id, mapped to
 * the upstream's and bound to (org, principal, server). `tools/call` is decided by the policy
 * engine on route `mcp.tools_call` with a decision receipt durable before forwarding and an
 * outcome receipt after; a `tools/list` answer (JSON or inside an SSE stream) is filtered to
 * the tools a call of which could be allowed.
 *
 * Threads: the handler runs on an event worker and never blocks on the upstream (the worker's
 * libcurl multi handle) or on the ledger (asynchronous appends). The session table is shared by
 * every worker and protected by one mutex held only for table scans. */
#ifndef BW_MCP_MCP_H
#define BW_MCP_MCP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct bw_gw_worker;
struct evhttp_request;
struct bw_config;
struct bw_policy;
struct bw_policy_input;

#define BW_MCP_MAX_BODY (4u << 20) /* a request body larger is refused (JSON-RPC error) */
/* Hard ceilings: the configured limits (mcp.result_max_bytes, mcp.call_timeout_ms,
 * mcp.max_sessions_per_key; bw_mcp_limits) are used, clamped to these. */
#define BW_MCP_MAX_RESULT (64u << 20)  /* an upstream answer larger: MCP_RESULT_TOO_LARGE */
#define BW_MCP_CALL_TIMEOUT_MS 3600000 /* one upstream request, whole answer */
#define BW_MCP_CONNECT_TIMEOUT_MS 5000
/* streams (docs/MCP.md "Streams") */
#define BW_MCP_STREAM_IDLE_MS 30000      /* a POST's stream silent this long is ended */
#define BW_MCP_GET_STREAM_MAX_MS 3600000 /* one GET stream's whole life */
#define BW_MCP_GET_IDLE_MS 300000        /* a GET stream silent this long is ended */
#define BW_MCP_GET_STREAM_RESULTS 16     /* a GET stream carries at most this many result caps */
#define BW_MCP_CLIENT_HIGH (256u << 10)  /* client output held above this: upstream paused */
#define BW_MCP_GET_STREAMS_PER_SESSION 2 /* GET streams open at once on one session */
#define BW_MCP_MAX_SESSIONS 4096         /* gateway sessions at once, every key together */
#define BW_MCP_MAX_SESSIONS_PER_KEY 16   /* concurrent sessions of one key (the default) */
#define BW_MCP_SESSION_IDLE_MS 3600000   /* a session unused this long is forgotten */
#define BW_MCP_SESSION_ID_LEN 32         /* hex of 16 random bytes (128 bits) */
#define BW_MCP_UPSTREAM_SESSION_MAX 128  /* an upstream session id longer is refused */
#define BW_MCP_SERVER_NAME_MAX_BYTES 65  /* a server name and its NUL */

/* JSON-RPC error codes the gateway answers with (docs/MCP.md "Errors"). */
#define BW_MCP_RPC_PARSE_ERROR (-32700)
#define BW_MCP_RPC_INVALID_REQUEST (-32600)
#define BW_MCP_RPC_INTERNAL (-32603)
#define BW_MCP_RPC_DENIED (-32001)   /* the policy refused the call (data.code, receipt) */
#define BW_MCP_RPC_UPSTREAM (-32002) /* the upstream failed, timed out or answered too much */
#define BW_MCP_RPC_HEADER_MISMATCH (-32020) /* Mcp-Method / Mcp-Name disagree with the body */

/* ---- upstream servers (TEMPORARY: from config `mcp.servers`, config_mcp.c) ---- */
struct bw_mcp_server {
    const char *name; /* borrowed from the config */
    const char *url;
};

/* The configured server named name (exact), or 0 with *out untouched. Reads
 * cfg->mcp_servers / cfg->n_mcp_servers only. */
int bw_mcp_servers_from_config(const struct bw_config *cfg, const char *name,
                               struct bw_mcp_server *out) BW_MUST_CHECK;

/* ---- the HTTP entry (mcp_gateway.c) ---- */
/* Serves one request whose path starts with "/mcp/". Always ends the request (now or later).
 * Frees req (it always replies, now or later). */
void bw_mcp_handle(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);
/* GET /.well-known/oauth-protected-resource/mcp/<server> (mcp_prm.c): the server's RFC 9728
 * Protected Resource Metadata, from the configuration only.
 * Frees req (it always replies). */
void bw_mcp_prm_handle(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);

/* ---- JSON-RPC messages (mcp_rpc.c): pure, no I/O (the fuzz target's surface) ---- */
enum bw_mcp_msg_kind { BW_MCP_REQUEST = 1, BW_MCP_NOTIFICATION, BW_MCP_RESPONSE };

struct bw_mcp_msg {
    json_t *msg; /* owned: the parsed message */
    enum bw_mcp_msg_kind kind;
    const char *method; /* requests and notifications; borrowed from msg */
    json_t *id;         /* borrowed: string or integer; NULL for a notification */
    const char *name;   /* tools/call and prompts/get: params.name; resources/read: uri */
    json_t *arguments;  /* tools/call: params.arguments (object) or NULL */
};

/* Parses one client message: a single JSON-RPC 2.0 object (duplicate keys, depth over
 * max_depth, a batch, `jsonrpc` other than "2.0", an id neither string nor integer, unknown
 * members, params not an object, a tools/call without a valid name or with non-object
 * arguments are all refused). On failure *rpc_code is the JSON-RPC error code and *why a static
 * message; *reason a static reason code. Errors: BW_E_INVALID, BW_E_NOMEM. */
bw_err bw_mcp_msg_parse(const char *body, size_t len, size_t max_depth, struct bw_mcp_msg *out,
                        int *rpc_code, const char **reason, const char **why) BW_MUST_CHECK;
void bw_mcp_msg_cleanup(struct bw_mcp_msg *m);

/* 1 if v is a protocol version the gateway speaks (2025-11-25, 2025-06-18, 2025-03-26,
 * 2024-11-05). */
int bw_mcp_version_ok(const char *v) BW_MUST_CHECK;

/* The Mcp-Method / Mcp-Name header check: 0 if each present header equals the body's method /
 * name exactly, -1 otherwise (the gateway decides on the body, never on the header). */
int bw_mcp_headers_agree(const struct bw_mcp_msg *m, const char *h_method,
                         const char *h_name) BW_MUST_CHECK;

/* A JSON-RPC error response (malloc'd, compact JSON) for id (NULL: null), with data.code =
 * reason and, when given (non-empty), data.receipt_id and data.review_id. NULL when out of
 * memory. */
char *bw_mcp_rpc_error(const json_t *id, int code, const char *message, const char *reason,
                       const char *receipt_id, const char *review_id) BW_MUST_CHECK;

/* ---- sessions (mcp_session.c) ---- */
/* Binds a new gateway session id (BW_MCP_SESSION_ID_LEN hex + NUL into id_out) to the
 * upstream's id for (org_id, principal, server). Errors: BW_E_LIMIT (the key has
 * BW_MCP_MAX_SESSIONS_PER_KEY sessions, or the table is full of live sessions), BW_E_INVALID
 * (upstream id empty, too long or not visible ASCII). */
bw_err bw_mcp_session_bind(const char *org_id, const char *principal, const char *server,
                           const char *upstream_id, int64_t now_ms,
                           char id_out[BW_MCP_SESSION_ID_LEN + 1]) BW_MUST_CHECK;
/* The same with the per-principal cap given (mcp.max_sessions_per_key; >= 1). */
bw_err bw_mcp_session_bind_max(const char *org_id, const char *principal, const char *server,
                               const char *upstream_id, int64_t now_ms, size_t per_key_max,
                               char id_out[BW_MCP_SESSION_ID_LEN + 1]) BW_MUST_CHECK;
/* The upstream id bound to id for exactly this (org_id, principal, server), refreshed; 0 and
 * the id copied into out, or -1 (unknown, expired or another caller's: the same answer). */
int bw_mcp_session_lookup(const char *id, const char *org_id, const char *principal,
                          const char *server, int64_t now_ms, char *out,
                          size_t out_size) BW_MUST_CHECK;
/* GET streams of a session (mcp-stream): delta +1 opens one (0, or -1 when the session has
 * BW_MCP_GET_STREAMS_PER_SESSION open or is not this caller's), -1 closes one. */
int bw_mcp_session_stream(const char *id, const char *org_id, const char *principal,
                          const char *server, int delta, int64_t now_ms) BW_MUST_CHECK;
/* Forgets id if it is this caller's; 0 if it was, -1 otherwise. */
int bw_mcp_session_end(const char *id, const char *org_id, const char *principal,
                       const char *server) BW_MUST_CHECK;

/* ---- governance (mcp_govern.c) ---- */
/* Filters a tools/list result in place: removes every tool whose name is invalid or a call of
 * which would be denied on route mcp.tools_call with its argument constraints taken as
 * satisfiable (engine: a declared tool). base is the caller's input (org, agent, role); p NULL
 * hides every tool (no policy: default deny). Returns the number removed, or -1 when result is
 * not a well-formed tools/list result (the answer must then be refused). */
int bw_mcp_filter_tools(const struct bw_policy *p, const struct bw_policy_input *base,
                        json_t *result) BW_MUST_CHECK;

/* ---- configured limits and callers (mcp-oauth2: mcp_limits.c, mcp_oauth.c, mcp_rate.c) ---- */
/* The limits in force: the config's, clamped to the hard ceilings above. */
struct bw_mcp_limits {
    size_t result_max_bytes;
    long call_timeout_ms;
    size_t sessions_per_key;
    int64_t calls_per_minute;
};
void bw_mcp_limits(const struct bw_config *cfg, struct bw_mcp_limits *out);

/* 1 if origin (an Origin header value) is listed in mcp.allowed_origins, byte for byte. */
int bw_mcp_origin_allowed(const struct bw_config *cfg, const char *origin) BW_MUST_CHECK;

/* The principal id of an OAuth caller: "oauth_" + the first 16 bytes, in hex, of
 * SHA-256("bulwark-oauth-principal\n" || issuer || NUL || principal claim) (38 characters: fits
 * every key-id field, never equal to a key id, stable across restarts, one per (issuer, sub)).
 * out must have BW_MCP_OAUTH_PRINCIPAL_LEN + 1 bytes. */
#define BW_MCP_OAUTH_PRINCIPAL_LEN 38
void bw_mcp_oauth_principal(const char *issuer, const char *sub,
                            char out[BW_MCP_OAUTH_PRINCIPAL_LEN + 1]);

/* Calls per minute per (org, principal, tool), in memory, per gateway process (a token bucket
 * of cpm units refilled over a minute, burst cpm; src/limits/limits.h). 0: taken; 1: over the
 * limit (*retry_after_ms set); -1: the limiter's table is full or unavailable (fail closed). */
#define BW_MCP_RATE_KEYS 65536 /* buckets held at most; full buckets are evicted first */
int bw_mcp_rate_take(const char *org_id, const char *principal, const char *tool, int64_t cpm,
                     int64_t now_us, int64_t *retry_after_ms) BW_MUST_CHECK;

#endif
