/* mcp_forward.c: one MCP message to the upstream server and its answer back (mcp.h): JSON
 * re-serialized after filtering, SSE re-framed event by event with each event's JSON checked
 * (and a tools/list result inside filtered), bounded by mcp.result_max_bytes and
 * mcp.call_timeout_ms (bw_mcp_limits). The gateway's session id replaces the upstream's. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/reply.h"
#include "http/reqlog.h"
#include "mcp/mcp_internal.h"
#include "reason/reasons.h"
#include "util/json.h"
#include "util/log.h"
#include "util/text.h"
#include "util/time.h"

void bw_mcp_call_free(struct bw_mcp_call *c) {
    struct bw_gateway *gw = c->w->gw;
    if (c->xfer)
        bw_upstream_cancel(c->xfer);
    bw_mcp_stream_cleanup(c);
    bw_mcp_msg_cleanup(&c->msg);
    bw_mcp_orgsrv_free(c); /* mcp-orgsrv: the upstream credential, wiped */
    free(c->fwd_body);
    bw_buf_cleanup(&c->resp);
    free(c->texts);
    bw_policy_budget_cleanup(&c->budget);
    bw_policy_unref(c->policy);
    free(c->review);
    free(c);
    atomic_fetch_sub(&gw->inflight, 1);
}

void bw_mcp_add_headers(struct bw_mcp_call *c, const char *content_type) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    /* the answer is this caller's (a filtered list, a session): never cached or shared */
    evhttp_add_header(h, "Cache-Control", "private, no-store");
    if (c->session[0])
        evhttp_add_header(h, "Mcp-Session-Id", c->session);
    if (content_type) {
        evhttp_remove_header(h, "Content-Type");
        evhttp_add_header(h, "Content-Type", content_type);
    }
    if (c->receipt_id[0])
        bw_http_add_receipt_headers(c->req, c->receipt_id,
                                    bw_policy_effect_name(c->decision.effect));
}

void bw_mcp_fail(struct bw_mcp_call *c, int status, int rpc_code, const char *reason,
                 const char *message) {
    bw_mcp_detach_close(c);
    bw_reqlog_set_reason(c->req, reason);
    if (c->client_gone) { /* req is detached: replying only frees it */
        bw_reqlog_end(c->req, 499);
        evhttp_send_reply(c->req, 499, "Client Closed", NULL);
        bw_mcp_call_free(c);
        return;
    }
    char *body = bw_mcp_rpc_error(c->msg.kind == BW_MCP_REQUEST ? c->msg.id : NULL, rpc_code,
                                  message, reason, c->receipt_id, c->review_id);
    bw_mcp_add_headers(c, NULL);
    if (body)
        bw_http_reply_json(c->req, status, body, strlen(body));
    else
        bw_http_reply_error(c->req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
    free(body);
    bw_mcp_call_free(c);
}

/* Ends a forwarded call with the answer the client gets (copied). */
static void respond(struct bw_mcp_call *c, int status, const char *content_type, const char *body,
                    size_t len) {
    uint8_t sha[32];
    bw_sha256(body, len, sha);
    if (c->governed)
        bw_mcp_outcome(c, "ok", status, sha);
    bw_mcp_detach_close(c);
    if (c->client_gone) { /* req is detached: replying only frees it */
        bw_reqlog_end(c->req, 499);
        evhttp_send_reply(c->req, 499, "Client Closed", NULL);
        bw_mcp_call_free(c);
        return;
    }
    bw_mcp_add_headers(c, content_type);
    bw_reqlog_set_upstream_status(c->req, status);
    struct evbuffer *out = evbuffer_new();
    if (out)
        evbuffer_add(out, body, len);
    bw_reqlog_end(c->req, status);
    evhttp_send_reply(c->req, status, status == 202 ? "Accepted" : "OK", out);
    if (out)
        evbuffer_free(out);
    bw_mcp_call_free(c);
}

/* A failure after forwarding: outcome receipt (governed calls), then the JSON-RPC error. */
static void fail_after(struct bw_mcp_call *c, int status, const char *outcome, const char *reason,
                       const char *message) {
    if (c->governed)
        bw_mcp_outcome(c, outcome, status, NULL);
    bw_mcp_fail(c, status, BW_MCP_RPC_UPSTREAM, reason, message);
}

/* The message's answer, checked. Every result carrying a tools array is filtered, whatever
 * the request and whatever its id (a hostile server could answer a tools/call with a tool
 * list labelled with the id of the client's concurrent tools/list), and the answer to a
 * tools/list's id must be a tools/list result. For a governed tools/call, whether the tool
 * reported a failure is kept for the outcome receipt. 0, or -1 (refuse the whole answer). */
int bw_mcp_govern_answer(struct bw_mcp_call *c, json_t *answer) {
    json_t *result = json_object_get(answer, "result");
    int mine = c->msg.id && json_equal(json_object_get(answer, "id"), c->msg.id);
    if (c->governed && mine)
        c->tool_error = json_is_true(json_object_get(result, "isError")) ||
                        json_object_get(answer, "error") != NULL;
    int other = bw_mcp_filter_listing(c, answer, mine); /* resources/list, prompts/list */
    if (other != 1)
        return other;
    int listing = c->msg.method && strcmp(c->msg.method, "tools/list") == 0;
    if (!result || (!listing && !json_object_get(result, "tools")))
        return 0;
    if (!json_is_array(json_object_get(result, "tools")))
        return listing && mine ? -1 : 0;
    /* a policy not yet acquired (a tools array where none was asked for): the caller's */
    if (!c->policy && bw_mcp_acquire_policy(c, &c->policy) != 0)
        return -1;
    if (bw_mcp_pin_tools(c, result) < 0) /* tool pinning: hides changed and unapproved tools */
        return -1;
    bw_mcp_fill_input(c, "mcp.tools_call");
    return bw_mcp_filter_tools(c->policy, &c->input, result) < 0 ? -1 : 0;
}

static void answer_json(struct bw_mcp_call *c, int status) {
    json_t *j = NULL;
    char why[120];
    if (bw_json_parse((const char *)c->resp.ptr, c->resp.len, c->w->gw->cfg->max_json_depth, &j,
                      why, sizeof why) != BW_OK ||
        bw_mcp_govern_answer(c, j) != 0) {
        json_decref(j);
        fail_after(c, 502, "upstream_invalid", BW_R_MCP_UPSTREAM_INVALID,
                   "the MCP server's answer could not be governed");
        return;
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) {
        fail_after(c, 503, "internal_error", BW_R_INTERNAL, "out of memory");
        return;
    }
    respond(c, status, "application/json", text, strlen(text));
    free(text);
}

static int is_type(const char *ct, const char *want) {
    size_t n = strlen(want);
    return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

int bw_mcp_bind_answer(struct bw_mcp_call *c, int *status, const char **reason) {
    *status = 502;
    *reason = BW_R_MCP_UPSTREAM_INVALID;
    if (c->answered_session_bad)
        return -1;
    if (!c->answered_session[0] || !c->msg.method || strcmp(c->msg.method, "initialize") != 0 ||
        c->session[0])
        return 0;
    struct bw_mcp_limits lim;
    bw_mcp_limits(c->w->gw->cfg, &lim);
    bw_err e =
        bw_mcp_session_bind_max(c->key.org_id, c->key.id, c->server.name, c->answered_session,
                                bw_now_ms(), lim.sessions_per_key, c->session);
    if (e == BW_OK)
        return 0;
    c->session[0] = 0;
    if (e == BW_E_LIMIT) {
        *status = 429;
        *reason = BW_R_MCP_SESSIONS_EXHAUSTED;
    }
    return -1;
}

/* An initialize answered with the upstream's session: the client gets a gateway id bound to
 * it. 0, or -1 after failing. */
static int bind_session(struct bw_mcp_call *c) {
    int status;
    const char *reason;
    if (bw_mcp_bind_answer(c, &status, &reason) == 0)
        return 0;
    if (status == 429)
        bw_mcp_fail(c, 429, BW_MCP_RPC_UPSTREAM, reason, "too many MCP sessions for this key");
    else
        fail_after(c, 502, "upstream_invalid", reason, "the MCP server's session id is invalid");
    return -1;
}

static void on_done(void *arg, enum bw_upstream_result r, long status, const char *ct) {
    struct bw_mcp_call *c = arg;
    c->xfer = NULL;
    if (c->streaming) {
        bw_mcp_stream_done(c, r, status);
        return;
    }
    if (c->stream_setup_failed) {
        fail_after(c, c->fail_http, c->fail_status, c->fail_reason,
                   c->fail_http == 429 ? "too many MCP sessions for this key"
                                       : "the MCP server's stream could not be started");
        return;
    }
    if (c->too_large) {
        fail_after(c, 502, "result_too_large", BW_R_MCP_RESULT_TOO_LARGE,
                   "the MCP server's answer is over the size limit");
        return;
    }
    if (r == BW_UP_BLOCKED) { /* mcp-orgsrv: the guard refused the address at connect */
        fail_after(c, 502, "upstream_error", BW_R_EGRESS_BLOCKED,
                   "the MCP server's address is refused by the egress guard");
        return;
    }
    if (r != BW_UP_OK) {
        int timeout = r == BW_UP_TIMEOUT;
        fail_after(c, timeout ? 504 : 502, timeout ? "upstream_timeout" : "upstream_error",
                   timeout ? BW_R_UPSTREAM_TIMEOUT : BW_R_UPSTREAM_UNAVAILABLE,
                   timeout ? "the MCP server did not answer in time" : "the MCP server failed");
        return;
    }
    if (c->method == EVHTTP_REQ_DELETE) {
        /* -1: not this caller's (or already gone): nothing to forget either way */
        BW_IGNORE(bw_mcp_session_end(c->session, c->key.org_id, c->key.id, c->server.name));
        c->session[0] = 0;
        respond(c, status >= 200 && status < 300 ? 200 : (int)status, NULL, "", 0);
        return;
    }
    if (status == 202 && c->msg.kind != BW_MCP_REQUEST) {
        respond(c, 202, NULL, "", 0);
        return;
    }
    if (c->method == EVHTTP_REQ_GET && status == 405) { /* the server offers no GET stream */
        bw_mcp_detach_close(c);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow", "POST, DELETE");
        bw_mcp_fail(c, 405, BW_MCP_RPC_INVALID_REQUEST, BW_R_METHOD_NOT_ALLOWED,
                    "the MCP server offers no server-to-client stream");
        return;
    }
    if (status == 404 && c->session[0]) /* the upstream forgot it: so do we (-1: already gone) */
        BW_IGNORE(bw_mcp_session_end(c->session, c->key.org_id, c->key.id, c->server.name));
    if (status < 200 || status >= 300) {
        fail_after(c, status == 404 ? 404 : 502, "upstream_error", BW_R_UPSTREAM_UNAVAILABLE,
                   "the MCP server refused the request");
        return;
    }
    if (bind_session(c) != 0)
        return;
    if (is_type(ct, "text/event-stream") || c->method == EVHTTP_REQ_GET)
        /* an empty stream (no bytes, so never started), or a GET answered with no stream */
        fail_after(c, 502, "upstream_invalid", BW_R_MCP_UPSTREAM_INVALID,
                   "the MCP server's stream was empty or not a stream");
    else if (is_type(ct, "application/json"))
        answer_json(c, 200);
    else
        fail_after(c, 502, "upstream_invalid", BW_R_MCP_UPSTREAM_INVALID,
                   "the MCP server answered an unknown content type");
}

static int on_data(void *arg, long status, const char *ct, const char *p, size_t n) {
    struct bw_mcp_call *c = arg;
    if (status == 200 && c->method != EVHTTP_REQ_DELETE && is_type(ct, "text/event-stream"))
        return bw_mcp_stream_data(c, p, n); /* relayed event by event as it arrives */
    if (c->resp.len + n > c->max_bytes) {
        c->too_large = 1;
        return -1;
    }
    if (bw_buf_append(&c->resp, p, n) != BW_OK) {
        c->too_large = 1;
        return -1;
    }
    return 0;
}

/* Keeps the upstream's Mcp-Session-Id (never relayed: the client gets the gateway's). */
static int on_header(void *arg, const char *line, size_t n) {
    struct bw_mcp_call *c = arg;
    static const char name[] = "mcp-session-id:";
    if (n < sizeof name - 1 || strncasecmp(line, name, sizeof name - 1) != 0)
        return 0;
    const char *v = line + sizeof name - 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t len = (size_t)(end - v);
    c->answered_session_bad =
        len == 0 || len > BW_MCP_UPSTREAM_SESSION_MAX || !bw_text_visible(v, len);
    if (!c->answered_session_bad) {
        memcpy(c->answered_session, v, len);
        c->answered_session[len] = 0;
    }
    return 0;
}

static const struct bw_upstream_callbacks callbacks = {on_data, on_done, on_header};

void bw_mcp_forward(struct bw_mcp_call *c) {
    struct bw_mcp_limits lim;
    bw_mcp_limits(c->w->gw->cfg, &lim);
    size_t n = 0;
    int get = c->method == EVHTTP_REQ_GET;
    c->max_bytes = lim.result_max_bytes; /* mcp.result_max_bytes, under its ceiling */
    c->max_event = c->max_bytes;
    if (get) /* a session's long-lived stream: many messages, each bounded like a result */
        c->max_bytes *= BW_MCP_GET_STREAM_RESULTS;
    bw_buf_init(&c->resp, c->max_bytes); /* still empty: the configured cap replaces the default */
    c->headers[n++] =
        get ? "Accept: text/event-stream" : "Accept: application/json, text/event-stream";
    if (c->h_session[0])
        c->headers[n++] = c->h_session;
    if (c->h_version[0])
        c->headers[n++] = c->h_version;
    c->headers[n] = NULL;
    /* the caller's token never leaves the gateway: the authorization is the server's own
     * configured credential, if any (bw_mcp_upstream_prepare) */
    if (bw_mcp_watch_client(c) != 0) {
        fail_after(c, 503, "internal_error", BW_R_INTERNAL, "out of memory");
        return;
    }
    long timeout = lim.call_timeout_ms; /* mcp.call_timeout_ms */
    struct bw_upstream_request r = {
        .method = get                              ? "GET"
                  : c->method == EVHTTP_REQ_DELETE ? "DELETE"
                                                   : "POST",
        .url = c->server.url,
        .body = c->fwd_body,
        .body_len = c->fwd_len,
        .authorization = NULL,
        .connect_timeout_ms = BW_MCP_CONNECT_TIMEOUT_MS,
        .timeout_ms = get ? BW_MCP_GET_STREAM_MAX_MS : timeout,
        .headers = c->headers,
    };
    if (bw_mcp_upstream_prepare(c, &r) != 0) /* mcp-orgsrv: egress guard, credential */
        return;
    if (bw_upstream_start(c->w->up, &r, &callbacks, c, &c->xfer) != BW_OK) {
        c->xfer = NULL;
        fail_after(c, 503, "internal_error", BW_R_INTERNAL, "cannot start the upstream request");
    }
}
