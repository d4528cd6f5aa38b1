/* mcp_gateway.c: the entry of `/mcp/{server}` (mcp.h): who is calling, whether the request is
 * well-formed, which session it belongs to; then mcp_forward.c governs and forwards it. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/reply.h"
#include "http/reqlog.h"
#include "mcp/mcp_internal.h"
#include "posture/health.h"
#include "reason/reasons.h"
#include "util/log.h"
#include "util/time.h"

static const char *header(struct evhttp_request *req, const char *name) {
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* Errors before a JSON-RPC message exists use the gateway's JSON error shape (401, 403, 404,
 * 405: HTTP-level answers the SDK reads by status). */
static void reply_http(struct evhttp_request *req, int status, const char *code,
                       const char *message) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    bw_http_reply_error(req, status, code, message, NULL, NULL);
}

/* "/mcp/NAME" with NAME the operator's server or the caller's org's (mcp_orgsrv.c); anything
 * after it (another segment) is unknown. 1, 0 (unknown), -1 (store or vault down: 503). */
static int server_of(struct bw_mcp_call *c, const char *path) {
    const char *name = path + 5;      /* after "/mcp/" */
    if (!bw_config_mcp_name_ok(name)) /* the config's own rule: no '/', bounded length */
        return 0;
    bw_err e = bw_mcp_server_resolve(c, name);
    return e == BW_OK ? 1 : e == BW_E_NOT_FOUND ? 0 : -1;
}

/* The checks every method shares, in the order a hostile page or client meets them. 0, or -1
 * after replying. */
static int check_request(struct bw_mcp_call *c, const char *path) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(c->req);
    if (uri && evhttp_uri_get_query(uri)) { /* no token (or anything else) in a query string */
        reply_http(c->req, 400, BW_R_INVALID_REQUEST, "a query string is not accepted here");
        return -1;
    }
    /* DNS rebinding: a browser page's request carries Origin; only mcp.allowed_origins pass
     * (exact match, mcp_limits.c). Agents outside a browser send none. */
    const char *origin = header(c->req, "Origin");
    if (origin && !bw_mcp_origin_allowed(c->w->gw->cfg, origin)) {
        reply_http(c->req, 403, BW_R_ORIGIN_NOT_ALLOWED, "this Origin is not allowed");
        return -1;
    }
    if (bw_mcp_identify(c, path) != 0) /* mcp_oauth.c: a Bulwark key or an OAuth token */
        return -1;
    int found = server_of(c, path);
    if (found < 0) {
        reply_http(c->req, 503, BW_R_STORE_UNAVAILABLE, "the MCP server cannot be looked up");
        return -1;
    }
    if (!found) {
        reply_http(c->req, 404, BW_R_MCP_SERVER_UNKNOWN, "no such MCP server");
        return -1;
    }
    const char *v = header(c->req, "MCP-Protocol-Version");
    if (v && !bw_mcp_version_ok(v)) {
        reply_http(c->req, 400, BW_R_MCP_PROTOCOL_VERSION, "unsupported MCP-Protocol-Version");
        return -1;
    }
    if (v)
        snprintf(c->h_version, sizeof c->h_version, "MCP-Protocol-Version: %s", v);
    const char *sid = header(c->req, "Mcp-Session-Id");
    if (sid) {
        /* unknown, expired and another caller's ids get the same 404 (spec: start anew) */
        if (strlen(sid) != BW_MCP_SESSION_ID_LEN ||
            bw_mcp_session_lookup(sid, c->key.org_id, c->key.id, c->server.name, bw_now_ms(),
                                  c->upstream_session, sizeof c->upstream_session) != 0) {
            reply_http(c->req, 404, BW_R_MCP_SESSION_UNKNOWN, "unknown MCP session");
            return -1;
        }
        memcpy(c->session, sid, BW_MCP_SESSION_ID_LEN + 1);
        snprintf(c->h_session, sizeof c->h_session, "Mcp-Session-Id: %s", c->upstream_session);
    }
    return 0;
}

/* POST: one JSON-RPC message. */
static void handle_post(struct bw_mcp_call *c) {
    if (!bw_http_content_is_json(c->req)) {
        bw_mcp_fail(c, 415, BW_MCP_RPC_INVALID_REQUEST, BW_R_UNSUPPORTED_MEDIA_TYPE,
                    "Content-Type must be application/json");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t len = evbuffer_get_length(in);
    if (len > BW_MCP_MAX_BODY) {
        bw_mcp_fail(c, 413, BW_MCP_RPC_INVALID_REQUEST, BW_R_BODY_TOO_LARGE,
                    "the message is too large");
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    bw_sha256(body, len, c->request_sha256);
    int code = 0;
    const char *reason = NULL, *why = NULL;
    if (bw_mcp_msg_parse(body, len, c->w->gw->cfg->max_json_depth, &c->msg, &code, &reason, &why) !=
        BW_OK) {
        bw_mcp_fail(c, 400, code, reason, why ? why : "invalid JSON-RPC message");
        return;
    }
    /* The gateway decides on the body; a header that names something else is a lie (or a
     * bug) that an intermediary routing on headers would act on: refuse it. */
    if (bw_mcp_headers_agree(&c->msg, header(c->req, "Mcp-Method"), header(c->req, "Mcp-Name")) !=
        0) {
        bw_mcp_fail(c, 400, BW_MCP_RPC_HEADER_MISMATCH, BW_R_MCP_HEADER_MISMATCH,
                    "Mcp-Method or Mcp-Name disagrees with the body");
        return;
    }
    c->fwd_body = json_dumps(c->msg.msg, JSON_COMPACT); /* what was decided, never the bytes */
    if (!c->fwd_body) {
        bw_mcp_fail(c, 503, BW_MCP_RPC_INTERNAL, BW_R_INTERNAL, "out of memory");
        return;
    }
    c->fwd_len = strlen(c->fwd_body);
    if (bw_mcp_govern_other(c)) /* resources/read, prompts/get, the other lists: mcp-every */
        return;
    if (c->msg.kind == BW_MCP_REQUEST && strcmp(c->msg.method, "tools/call") == 0) {
        bw_mcp_govern_call(c);
        return;
    }
    if (c->msg.kind == BW_MCP_REQUEST && strcmp(c->msg.method, "tools/list") == 0 &&
        bw_mcp_govern_list(c) != 0)
        return;
    bw_mcp_forward(c);
}

void bw_mcp_handle(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    struct bw_mcp_call *c = calloc(1, sizeof *c);
    if (!c) {
        reply_http(req, 503, BW_R_INTERNAL, "out of memory");
        return;
    }
    atomic_fetch_add(&w->gw->inflight, 1);
    c->w = w;
    c->req = req;
    c->method = evhttp_request_get_command(req);
    c->start_us = bw_mono_us();
    struct bw_mcp_limits lim;
    bw_mcp_limits(w->gw->cfg, &lim);
    bw_buf_init(&c->resp, lim.result_max_bytes); /* mcp.result_max_bytes */
    if (check_request(c, path) != 0) {
        bw_mcp_call_free(c);
        return;
    }
    switch (c->method) {
    case EVHTTP_REQ_POST:
        handle_post(c);
        return;
    case EVHTTP_REQ_DELETE:
        if (!c->session[0]) {
            reply_http(req, 400, BW_R_INVALID_REQUEST, "Mcp-Session-Id is required");
            bw_mcp_call_free(c);
            return;
        }
        bw_mcp_forward(c);
        return;
    case EVHTTP_REQ_GET:      /* the session's server-to-client stream (mcp_stream.c) */
        if (!c->session[0]) { /* a stream belongs to a session: no session, nothing to relay */
            reply_http(req, 400, BW_R_INVALID_REQUEST, "Mcp-Session-Id is required");
            bw_mcp_call_free(c);
            return;
        }
        if (header(req, "Last-Event-ID")) { /* no event id is ever relayed: nothing to resume */
            reply_http(req, 400, BW_R_INVALID_REQUEST, "stream resumption is not offered");
            bw_mcp_call_free(c);
            return;
        }
        if (bw_mcp_session_stream(c->session, c->key.org_id, c->key.id, c->server.name, 1,
                                  bw_now_ms()) != 0) { /* each one holds an upstream stream */
            reply_http(req, 429, BW_R_MCP_STREAMS_EXHAUSTED, "too many streams on this session");
            bw_mcp_call_free(c);
            return;
        }
        c->get_stream_counted = 1; /* released when c is freed */
        bw_mcp_forward(c);
        return;
    default:
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST, DELETE");
        reply_http(req, 405, BW_R_METHOD_NOT_ALLOWED, "method not allowed on this path");
        bw_mcp_call_free(c);
        return;
    }
}
