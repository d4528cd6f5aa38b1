/* mcp_stream.c: an upstream's SSE answer relayed to the client event by event, as it arrives
 * (docs/MCP.md "Streams"): each event's data parsed strictly as one JSON-RPC message, governed
 * (tool lists filtered, sampling decided, a tools/call's isError kept) and sent on at once, so
 * a slow tool's progress reaches the client while it runs. Bounded: the bytes of one answer
 * (mcp.result_max_bytes; 16 times that for a GET stream), one event, the call's deadline, an
 * idle bound, and the client's unread output (past BW_MCP_CLIENT_HIGH the upstream transfer is
 * paused; a client that reads nothing for the idle bound loses its stream). A stream that fails
 * once started ends with a JSON-RPC error event for the request's id; the outcome receipt of a
 * governed tools/call is written at the end with the hash of exactly what was relayed.
 *
 * Everything here runs on the call's event worker; c is never seen by another thread. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "http/reply.h"
#include "http/reqlog.h"
#include "mcp/mcp_internal.h"
#include "reason/reasons.h"
#include "util/log.h"
#include "util/time.h"

#define TICK_MS 20 /* how often a paused stream looks at the client's output */

static void set_fail(struct bw_mcp_call *c, const char *reason, const char *status, int http) {
    if (c->fail_reason)
        return; /* the first cause is the one reported */
    c->fail_reason = reason;
    c->fail_status = status;
    c->fail_http = http;
}

static int is_get(const struct bw_mcp_call *c) {
    return c->method == EVHTTP_REQ_GET;
}

static long idle_ms(const struct bw_mcp_call *c) {
    if (is_get(c))
        return BW_MCP_GET_IDLE_MS;
    long t = c->w->gw->cfg->mcp_call_timeout_ms;
    return t > 0 && t < BW_MCP_STREAM_IDLE_MS ? t : BW_MCP_STREAM_IDLE_MS;
}

static void arm(struct event *ev, long ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (ev)
        evtimer_add(ev, &tv);
}

/* Bytes written to the client's connection and not yet taken by its socket. */
static size_t client_backlog(struct bw_mcp_call *c) {
    struct evhttp_connection *evcon = c->client_gone ? NULL : evhttp_request_get_connection(c->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Sends framed events to the client, hashed as sent (the outcome receipt proves what the
 * client got). Drains b. */
static void send_out(struct bw_mcp_call *c, struct evbuffer *b) {
    size_t n = evbuffer_get_length(b);
    if (n == 0)
        return;
    bw_sha256_stream_update(&c->relay_sha, evbuffer_pullup(b, -1), n);
    c->last_sent_ms = bw_now_ms();
    if (c->client_gone || !c->reply_started) {
        evbuffer_drain(b, n);
        return;
    }
    evhttp_send_reply_chunk(c->req, b);
}

/* One event: sent now, or held behind a sampling request whose receipt is not durable yet. */
static void send_event(struct bw_mcp_call *c, const char *json) {
    static const char head[] = "event: message\ndata: ";
    if (c->held_drop)
        return;
    struct evbuffer *b = c->holds > 0 ? c->held : evbuffer_new();
    if (!b)
        return;
    if (evbuffer_add(b, head, sizeof head - 1) != 0 || evbuffer_add(b, json, strlen(json)) != 0 ||
        evbuffer_add(b, "\n\n", 2) != 0)
        set_fail(c, BW_R_INTERNAL, "internal_error", 503);
    if (b != c->held) {
        send_out(c, b);
        evbuffer_free(b);
    }
}

/* One upstream message: a response must answer this stream's request (a GET stream carries
 * none: spec), a sampling request is decided, everything is governed, then relayed. */
static bw_err relay(struct bw_mcp_call *c, struct bw_mcp_msg *m) {
    if (m->kind == BW_MCP_RESPONSE && (is_get(c) || !c->msg.id || c->msg.kind != BW_MCP_REQUEST ||
                                       !json_equal(m->id, c->msg.id))) {
        /* the SDK routes responses by id: a stray one could answer another pending request */
        set_fail(c, BW_R_MCP_UPSTREAM_INVALID, "upstream_invalid", 502);
        return BW_E_UPSTREAM;
    }
    if (m->kind == BW_MCP_REQUEST && strcmp(m->method, "sampling/createMessage") == 0 &&
        !bw_mcp_sampling(c, m))
        return BW_OK; /* denied: the client never sees it; the server got an error */
    if (bw_mcp_govern_answer(c, m->msg) != 0) {
        set_fail(c, BW_R_MCP_UPSTREAM_INVALID, "upstream_invalid", 502);
        return BW_E_UPSTREAM;
    }
    char *text = json_dumps(m->msg, JSON_COMPACT); /* re-serialized: never the server's bytes */
    if (!text) {
        set_fail(c, BW_R_INTERNAL, "internal_error", 503);
        return BW_E_NOMEM;
    }
    send_event(c, text);
    free(text);
    if (m->kind == BW_MCP_RESPONSE)
        c->answered = 1; /* the request is answered: the stream ends here (spec: SHOULD close) */
    return BW_OK;
}

/* One complete SSE event. Event names, ids, retry and comments are not relayed (the gateway
 * re-frames each message as `event: message`; resumption is not offered). */
static bw_err on_event(void *arg, const char *raw, size_t raw_len, const char *data,
                       size_t data_len) {
    (void)raw;
    (void)raw_len;
    struct bw_mcp_call *c = arg;
    if (!data || data_len == 0 || c->answered || c->fail_reason)
        return BW_OK; /* keep-alive, priming event, or anything after the answer */
    struct bw_mcp_msg m;
    memset(&m, 0, sizeof m);
    int code = 0;
    const char *reason = NULL, *why = NULL;
    if (bw_mcp_msg_parse(data, data_len, c->w->gw->cfg->max_json_depth, &m, &code, &reason, &why) !=
        BW_OK) {
        bw_mcp_msg_cleanup(&m);
        set_fail(c, BW_R_MCP_UPSTREAM_INVALID, "upstream_invalid", 502);
        return BW_E_UPSTREAM;
    }
    bw_err e = relay(c, &m);
    bw_mcp_msg_cleanup(&m);
    return e;
}

/* The final event of a failed stream: a JSON-RPC error for the request's id (the client's
 * pending request ends with it instead of waiting for an answer that will not come). */
static void send_error_event(struct bw_mcp_call *c) {
    if (is_get(c) || c->msg.kind != BW_MCP_REQUEST || c->answered)
        return; /* a GET stream answers no request: it just ends (the SDK reconnects) */
    char *body = bw_mcp_rpc_error(c->msg.id, BW_MCP_RPC_UPSTREAM,
                                  "the MCP server's stream was ended by the gateway",
                                  c->fail_reason, c->receipt_id, NULL);
    if (body)
        send_event(c, body);
    free(body);
}

static void finish(struct bw_mcp_call *c) {
    if (c->xfer) {
        bw_upstream_cancel(c->xfer);
        c->xfer = NULL;
    }
    if (c->idle_ev)
        evtimer_del(c->idle_ev);
    if (c->tick_ev)
        evtimer_del(c->tick_ev);
    if (c->keep_ev)
        event_del(c->keep_ev);
    if (c->holds > 0) { /* a sampling receipt is on its way with c: it finishes the stream */
        c->finishing = 1;
        return;
    }
    if (c->fail_reason) {
        send_error_event(c);
        bw_reqlog_set_reason(c->req, c->fail_reason);
    }
    uint8_t sha[32];
    bw_sha256_stream_final(&c->relay_sha, sha);
    c->relay_sha_ready = 0;
    bw_sha256_stream_cleanup(&c->relay_sha);
    if (c->governed)
        bw_mcp_outcome(c, c->fail_reason ? c->fail_status : "ok",
                       c->fail_reason ? c->fail_http : 200, sha);
    bw_mcp_detach_close(c);
    bw_reqlog_end(c->req, c->client_gone ? 499 : 200);
    if (c->reply_started)
        evhttp_send_reply_end(c->req); /* frees req, also when detached */
    else
        evhttp_send_reply(c->req, 499, "Client Closed", NULL); /* detached: only frees req */
    bw_mcp_call_free(c);
}

static void on_idle(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_mcp_call *c = arg;
    if (!c->xfer || c->paused)
        return;
    set_fail(c, BW_R_UPSTREAM_TIMEOUT, "upstream_timeout", 504);
    finish(c);
}

/* While paused: resume once the client has taken half of its backlog; a client that reads
 * nothing for the idle bound would hold the upstream (and its server) forever: ended. */
static void on_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_mcp_call *c = arg;
    if (!c->xfer || !c->paused)
        return;
    if (client_backlog(c) + (c->held ? evbuffer_get_length(c->held) : 0) > BW_MCP_CLIENT_HIGH / 2) {
        if (bw_now_ms() - c->paused_ms > idle_ms(c)) {
            set_fail(c, BW_R_MCP_CLIENT_TOO_SLOW, "client_too_slow", 499);
            finish(c);
            return;
        }
        arm(c->tick_ev, TICK_MS);
        return;
    }
    c->paused = 0;
    arm(c->idle_ev, idle_ms(c));
    bw_upstream_resume(c->xfer); /* may run on_data (and on_event) before returning */
    if (c->xfer && !c->paused && (c->fail_reason || c->answered))
        finish(c); /* what resuming delivered ended the stream: do not wait for curl */
}

/* How often a quiet stream gets a keep-alive comment: well within limits.client_timeout_s,
 * after which the server's connection handling closes a connection nothing was written to. */
static long keep_ms(const struct bw_mcp_call *c) {
    long ms = (long)c->w->gw->cfg->client_timeout_s * 1000 / 3;
    return ms < 500 ? 500 : ms > 15000 ? 15000 : ms;
}

/* Nothing sent for a while (a slow tool, a quiet GET stream): an SSE comment (which clients
 * ignore, WHATWG) keeps the client's connection open until the stream's own bounds end it. */
static void on_keep(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_mcp_call *c = arg;
    if (c->client_gone || !c->reply_started || bw_now_ms() - c->last_sent_ms < keep_ms(c) ||
        client_backlog(c) > 0)
        return;
    struct evbuffer *b = evbuffer_new();
    if (b && evbuffer_add(b, ": keep-alive\n\n", 14) == 0)
        send_out(c, b); /* hashed too: the outcome proves every byte the client got */
    if (b)
        evbuffer_free(b);
}

/* The first bytes of a 200 text/event-stream answer: bind the session (initialize), start the
 * client's stream with the gateway's headers. 0, or -1 (the transfer stops; on_done fails the
 * request, which has not started). */
static int start(struct bw_mcp_call *c) {
    int status = 0;
    const char *reason = NULL;
    if (bw_mcp_bind_answer(c, &status, &reason) != 0) {
        c->stream_setup_failed = 1;
        c->fail_reason = reason;
        c->fail_status = "upstream_invalid";
        c->fail_http = status;
        return -1;
    }
    c->idle_ev = evtimer_new(c->w->base, on_idle, c);
    c->tick_ev = evtimer_new(c->w->base, on_tick, c);
    c->keep_ev = event_new(c->w->base, -1, EV_PERSIST, on_keep, c);
    if (!c->idle_ev || !c->tick_ev || !c->keep_ev ||
        bw_sha256_stream_init(&c->relay_sha) != BW_OK) {
        c->stream_setup_failed = 1;
        c->fail_reason = BW_R_INTERNAL;
        c->fail_status = "internal_error";
        c->fail_http = 503;
        return -1;
    }
    c->relay_sha_ready = 1;
    bw_sse_init(&c->sse, c->max_event);
    c->streaming = 1;
    bw_reqlog_set_upstream_status(c->req, 200);
    if (c->client_gone)
        return 0;
    bw_mcp_add_headers(c, "text/event-stream");
    evhttp_send_reply_start(c->req, 200, "OK");
    c->reply_started = 1;
    c->last_sent_ms = bw_now_ms();
    arm(c->keep_ev, keep_ms(c) / 2);
    return 0;
}

int bw_mcp_stream_data(struct bw_mcp_call *c, const char *p, size_t n) {
    if (!c->streaming && start(c) != 0)
        return -1;
    if (c->fail_reason || c->answered)
        return -1;
    if (client_backlog(c) + (c->held ? evbuffer_get_length(c->held) : 0) > BW_MCP_CLIENT_HIGH) {
        /* back-pressure: leave the bytes with curl (which stops reading the socket) */
        if (!c->paused) {
            c->paused = 1;
            c->paused_ms = bw_now_ms();
            evtimer_del(c->idle_ev);
            arm(c->tick_ev, TICK_MS);
        }
        return 1;
    }
    c->received += n;
    if (c->received > c->max_bytes) {
        set_fail(c, BW_R_MCP_RESULT_TOO_LARGE, "result_too_large", 502);
        return -1;
    }
    arm(c->idle_ev, idle_ms(c));
    bw_err e = bw_sse_feed(&c->sse, p, n, on_event, c);
    if (e == BW_E_TOO_LARGE)
        set_fail(c, BW_R_MCP_RESULT_TOO_LARGE, "result_too_large", 502); /* one event */
    else if (e != BW_OK)
        set_fail(c, BW_R_MCP_UPSTREAM_INVALID, "upstream_invalid", 502);
    return e != BW_OK || c->answered ? -1 : 0;
}

void bw_mcp_stream_done(struct bw_mcp_call *c, int result, long status) {
    (void)status;
    if (!c->fail_reason && !c->answered) {
        if (result == BW_UP_OK) {
            /* at the end of the bytes a trailing CR ends its line (WHATWG SSE) */
            if (bw_sse_end(&c->sse, on_event, c) != BW_OK || bw_sse_pending(&c->sse) != 0)
                set_fail(c, BW_R_MCP_UPSTREAM_INVALID, "upstream_invalid", 502);
        } else if (result == BW_UP_TIMEOUT) {
            set_fail(c, BW_R_UPSTREAM_TIMEOUT, "upstream_timeout", 504);
        } else {
            set_fail(c, BW_R_UPSTREAM_UNAVAILABLE, "upstream_error", 502);
        }
    }
    /* a request's stream that closed without its answer: the client would wait for ever */
    if (!c->fail_reason && !c->answered && !is_get(c) && c->msg.kind == BW_MCP_REQUEST)
        set_fail(c, BW_R_MCP_STREAM_INCOMPLETE, "upstream_error", 502);
    finish(c);
}

/* The client hung up. evhttp has detached req (ours to free by finishing it) and is inside
 * its connection teardown: the work is deferred to gone_ev. */
static void on_gone(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_mcp_call *c = arg;
    if (!c->xfer)
        return;                  /* not waiting on the upstream: whoever holds c sees client_gone */
    bw_upstream_cancel(c->xfer); /* the upstream transfer (and the tool's stream) stops */
    c->xfer = NULL;
    set_fail(c, BW_R_MCP_CLIENT_GONE, "client_disconnected", 499);
    if (c->streaming) {
        finish(c);
        return;
    }
    if (c->governed)
        bw_mcp_outcome(c, "client_disconnected", 499, NULL);
    bw_mcp_fail(c, 499, BW_MCP_RPC_UPSTREAM, BW_R_MCP_CLIENT_GONE, "the client hung up");
}

static void on_close(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    struct bw_mcp_call *c = arg;
    c->client_gone = 1;
    c->close_cb_set = 0; /* the connection is going away with its callback */
    event_active(c->gone_ev, EV_TIMEOUT, 0);
}

int bw_mcp_watch_client(struct bw_mcp_call *c) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    if (!evcon)
        return 0;
    if (!c->gone_ev)
        c->gone_ev = event_new(c->w->base, -1, 0, on_gone, c);
    if (!c->gone_ev)
        return -1;
    evhttp_connection_set_closecb(evcon, on_close, c);
    c->close_cb_set = 1;
    return 0;
}

void bw_mcp_detach_close(struct bw_mcp_call *c) {
    if (!c->close_cb_set || c->client_gone)
        return;
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    c->close_cb_set = 0;
}

int bw_mcp_stream_hold(struct bw_mcp_call *c) {
    if (!c->held)
        c->held = evbuffer_new();
    if (!c->held)
        return -1;
    c->holds++;
    return 0;
}

void bw_mcp_stream_release(struct bw_mcp_call *c, int ok) {
    c->holds--;
    if (!ok) { /* fail closed: the request (and what followed) never reaches the client */
        c->held_drop = 1;
        evbuffer_drain(c->held, evbuffer_get_length(c->held));
        set_fail(c, BW_R_LEDGER_UNAVAILABLE, "ledger_unavailable", 503);
    }
    if (c->holds > 0)
        return;
    if (!c->held_drop)
        send_out(c, c->held);
    c->held_drop = 0; /* the final error event may go out */
    if (c->finishing || (c->fail_reason && c->xfer)) {
        c->finishing = 0;
        finish(c);
    }
}

void bw_mcp_stream_cleanup(struct bw_mcp_call *c) {
    if (c->get_stream_counted)
        /* closing: -1 only when the session is already gone, and with it the count */
        BW_IGNORE(
            bw_mcp_session_stream(c->session, c->key.org_id, c->key.id, c->server.name, -1, 0));
    c->get_stream_counted = 0;
    if (c->held)
        evbuffer_free(c->held);
    c->held = NULL;
    if (c->gone_ev)
        event_free(c->gone_ev);
    if (c->idle_ev)
        event_free(c->idle_ev);
    if (c->tick_ev)
        event_free(c->tick_ev);
    if (c->keep_ev)
        event_free(c->keep_ev);
    c->gone_ev = c->idle_ev = c->tick_ev = c->keep_ev = NULL;
    if (c->streaming)
        bw_sse_cleanup(&c->sse);
    if (c->relay_sha_ready)
        bw_sha256_stream_cleanup(&c->relay_sha);
}
