/* mcp_stream.c: the MCP mock's tool calls that answer later (slow, ask_sampling), over an SSE
 * stream on the POST that made the call (MCP 2025-11-25 basic/transports: the server may send
 * requests and notifications related to the client's request before its response, then ends
 * the stream).
 *
 * Ownership follows mock_hold.c: a stream owns a timer and the close callback of its request's
 * connection. libevent 2.1 detaches an unfinished request from its connection when the peer
 * goes away and then calls the close callback; the request is then ours to free. Finishing
 * clears the close callback before the last bytes; shutting down clears it and lets evhttp_free
 * free the request. Every stream is released exactly once. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock/mcp_internal.h"

enum stream_kind { STREAM_SLOW, STREAM_SAMPLING };
enum release_how { RELEASE_DONE, RELEASE_GONE, RELEASE_SHUTDOWN };

struct bw_mcp_stream {
    struct bw_mcp_mock *mock;
    struct bw_mcp_stream *prev, *next;
    struct evhttp_request *req;
    struct event *timer;
    enum stream_kind kind;
    int sse, started;
    json_t *id;    /* of the client's tools/call */
    json_t *token; /* progressToken, or NULL */
    unsigned step, steps;
    char session[BW_MCP_SESSION_HEX + 1];
    char sample_id[48]; /* id of our sampling/createMessage */
};

static void detach_closecb(struct bw_mcp_stream *st) {
    struct evhttp_connection *conn = evhttp_request_get_connection(st->req);
    if (conn)
        evhttp_connection_set_closecb(conn, NULL, NULL);
}

static void release(struct bw_mcp_stream *st, enum release_how how) {
    struct bw_mcp_mock *m = st->mock;
    if (st->prev)
        st->prev->next = st->next;
    else
        m->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    m->nstreams--;
    if (st->timer)
        event_free(st->timer);
    if (how == RELEASE_GONE && !evhttp_request_get_connection(st->req))
        evhttp_request_free(st->req);
    else if (how == RELEASE_SHUTDOWN)
        detach_closecb(st);
    json_decref(st->id);
    json_decref(st->token);
    free(st);
}

static void on_close(struct evhttp_connection *conn, void *arg) {
    (void)conn;
    release(arg, RELEASE_GONE);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static struct bw_mcp_stream *stream_new(struct bw_mcp_mock *m, struct evhttp_request *req,
                                        const struct bw_mcp_session *s, const json_t *id,
                                        enum stream_kind kind, int sse) {
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (!conn || m->nstreams >= BW_MCP_MAX_STREAMS)
        return NULL;
    struct bw_mcp_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->timer = evtimer_new(m->base, on_timer, st);
    if (!st->timer) {
        free(st);
        return NULL;
    }
    st->mock = m;
    st->req = req;
    st->kind = kind;
    st->sse = sse;
    st->id = json_deep_copy(id);
    snprintf(st->session, sizeof st->session, "%s", s->id);
    st->next = m->streams;
    if (m->streams)
        m->streams->prev = st;
    m->streams = st;
    m->nstreams++;
    evhttp_connection_set_closecb(conn, on_close, st);
    return st;
}

static void arm(struct bw_mcp_stream *st, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(st->timer, &tv);
}

/* One SSE event holding msg (taken); starts the stream on first use. */
static void send_event(struct bw_mcp_stream *st, json_t *msg_taken) {
    char *text = msg_taken ? json_dumps(msg_taken, JSON_COMPACT) : NULL;
    json_decref(msg_taken);
    if (!st->started) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(st->req);
        evhttp_add_header(h, "Content-Type", "text/event-stream");
        evhttp_add_header(h, "Cache-Control", "no-cache");
        evhttp_send_reply_start(st->req, 200, NULL);
        st->started = 1;
    }
    struct evbuffer *chunk = evbuffer_new();
    if (chunk && text) {
        evbuffer_add_printf(chunk, "event: message\ndata: %s\n\n", text);
        evhttp_send_reply_chunk(st->req, chunk);
    }
    evbuffer_free(chunk);
    free(text);
}

/* The final answer to the client's call (msg taken), then the stream ends. */
static void finish(struct bw_mcp_stream *st, json_t *msg_taken) {
    detach_closecb(st);
    if (st->sse) {
        send_event(st, msg_taken);
        evhttp_send_reply_end(st->req);
    } else {
        bw_mcp_send(st->req, 200, msg_taken);
    }
    release(st, RELEASE_DONE);
}

static void slow_tick(struct bw_mcp_stream *st) {
    char text[64];
    st->step++;
    if (st->token && st->sse) {
        snprintf(text, sizeof text, "step %u of %u", st->step, st->steps);
        send_event(st,
                   json_pack("{s:s,s:s,s:{s:O,s:i,s:i,s:s}}", "jsonrpc", "2.0", "method",
                             "notifications/progress", "params", "progressToken", st->token,
                             "progress", (int)st->step, "total", (int)st->steps, "message", text));
    }
    if (st->step < st->steps) {
        arm(st, BW_MCP_SLOW_TICK_MS);
        return;
    }
    snprintf(text, sizeof text, "slow done after %u steps", st->steps);
    finish(st, bw_mcp_result_msg(st->id, bw_mcp_text_result(text, 0)));
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_mcp_stream *st = arg;
    if (st->kind == STREAM_SLOW) {
        slow_tick(st);
        return;
    }
    /* The client never answered our sampling request: bounded, so fail the call. */
    finish(st, bw_mcp_result_msg(st->id, bw_mcp_text_result("sampling timed out", 1)));
}

static const json_t *tool_args(const json_t *params) {
    const json_t *a = json_object_get(params, "arguments");
    return a;
}

/* Only the named keys: the schemas say additionalProperties false. */
static int only_key(const json_t *args, const char *key) {
    return !args || json_object_size(args) == 0 ||
           (json_object_size(args) == 1 && json_object_get(args, key));
}

void bw_mcp_stream_slow(struct bw_mcp_mock *m, struct evhttp_request *req,
                        const struct bw_mcp_session *s, const json_t *id, const json_t *params,
                        int sse) {
    const json_t *args = tool_args(params);
    const json_t *steps = json_object_get(args, "steps");
    const json_t *token = json_object_get(json_object_get(params, "_meta"), "progressToken");
    json_int_t n = steps ? json_integer_value(steps) : 3;
    if ((args && !json_is_object(args)) || !only_key(args, "steps") ||
        (steps && !json_is_integer(steps)) || n < 1 || n > BW_MCP_SLOW_MAX_STEPS ||
        (token && !json_is_string(token) && !json_is_integer(token))) {
        bw_mcp_send(req, 200,
                    bw_mcp_error_msg(id, BW_MCP_INVALID_PARAMS, "slow wants {\"steps\": 1..50}"));
        return;
    }
    struct bw_mcp_stream *st = stream_new(m, req, s, id, STREAM_SLOW, sse);
    if (!st) {
        bw_mcp_send(req, 503, bw_mcp_error_msg(id, BW_MCP_INTERNAL_ERROR, "too many streams"));
        return;
    }
    st->steps = (unsigned)n;
    st->token = token ? json_deep_copy(token) : NULL;
    arm(st, BW_MCP_SLOW_TICK_MS);
}

void bw_mcp_stream_sampling(struct bw_mcp_mock *m, struct evhttp_request *req,
                            const struct bw_mcp_session *s, const json_t *id, const json_t *params,
                            int sse) {
    const json_t *args = tool_args(params);
    const json_t *prompt = json_object_get(args, "prompt");
    if (!json_is_object(args) || !only_key(args, "prompt") || !json_is_string(prompt) ||
        json_string_length(prompt) > BW_MCP_MAX_TEXT) {
        bw_mcp_send(
            req, 200,
            bw_mcp_error_msg(id, BW_MCP_INVALID_PARAMS, "ask_sampling wants {\"prompt\": string}"));
        return;
    }
    /* A request to the client needs a stream to ride on, and a client that said it samples. */
    if (!sse || !s->sampling) {
        bw_mcp_send(req, 200,
                    bw_mcp_result_msg(
                        id, bw_mcp_text_result(sse ? "the client does not offer sampling"
                                                   : "ask_sampling needs Accept: text/event-stream",
                                               1)));
        return;
    }
    struct bw_mcp_stream *st = stream_new(m, req, s, id, STREAM_SAMPLING, sse);
    if (!st) {
        bw_mcp_send(req, 503, bw_mcp_error_msg(id, BW_MCP_INTERNAL_ERROR, "too many streams"));
        return;
    }
    snprintf(st->sample_id, sizeof st->sample_id, "mock-sampling-%llu",
             (unsigned long long)++m->sampling_seq);
    send_event(st, json_pack("{s:s,s:s,s:s,s:{s:[{s:s,s:{s:s,s:O}}],s:i}}", "jsonrpc", "2.0", "id",
                             st->sample_id, "method", "sampling/createMessage", "params",
                             "messages", "role", "user", "content", "type", "text", "text", prompt,
                             "maxTokens", 100));
    arm(st, BW_MCP_SAMPLING_TIMEOUT_MS);
}

/* The text of a sampling result (client/sampling: content is one text item), or NULL. */
static const char *sampled_text(const json_t *result) {
    const json_t *content = json_object_get(result, "content");
    const char *type = json_string_value(json_object_get(content, "type"));
    if (!type || strcmp(type, "text") != 0)
        return NULL;
    return json_string_value(json_object_get(content, "text"));
}

void bw_mcp_stream_response(struct bw_mcp_mock *m, const struct bw_mcp_session *s,
                            const json_t *msg) {
    const char *id = json_string_value(json_object_get(msg, "id"));
    struct bw_mcp_stream *st = m->streams;
    /* Only the session the request went to may answer it. */
    while (st && !(id && st->kind == STREAM_SAMPLING && strcmp(st->sample_id, id) == 0 &&
                   strcmp(st->session, s->id) == 0))
        st = st->next;
    if (!st)
        return;
    const json_t *result = json_object_get(msg, "result");
    const char *text = result ? sampled_text(result) : NULL;
    json_t *answer;
    if (text)
        answer = bw_mcp_text_result(text, 0);
    else
        answer = bw_mcp_text_result(
            result ? "the client's sampling result has no text" : "the client refused sampling", 1);
    finish(st, bw_mcp_result_msg(st->id, answer));
}

void bw_mcp_stream_release_all(struct bw_mcp_mock *m) {
    while (m->streams)
        release(m->streams, RELEASE_SHUTDOWN);
}
