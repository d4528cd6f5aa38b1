/* mock_reply.c: building and sending the mock's answers (whole JSON bodies and SSE events). */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "mock/mock_internal.h"

/* Compact and in insertion order (jansson keeps it), so equal requests give equal bytes; 9
 * significant digits print every float32 embedding component exactly enough to round-trip. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

void bw_mock_reply_init(struct bw_mock_reply *r) {
    memset(r, 0, sizeof *r);
    r->status = 200;
    bw_buf_init(&r->body, BW_MOCK_MAX_REPLY);
}

void bw_mock_reply_cleanup(struct bw_mock_reply *r) {
    bw_buf_cleanup(&r->body);
    free(r->ends);
    r->ends = NULL;
    r->nevents = r->cap_events = 0;
}

static int dump_to_buf(const char *p, size_t n, void *arg) {
    return bw_buf_append(arg, p, n) == BW_OK ? 0 : -1;
}

bw_err bw_mock_reply_json(struct bw_mock_reply *r, int status, const json_t *v) {
    bw_buf_reset(&r->body);
    r->status = status;
    r->stream = 0;
    BW_ENSURE(json_dump_callback(v, dump_to_buf, &r->body, DUMP_FLAGS) == 0, BW_E_TOO_LARGE);
    return BW_OK;
}

static bw_err mark_event(struct bw_mock_reply *r) {
    if (r->nevents == r->cap_events) {
        size_t cap = r->cap_events ? r->cap_events * 2 : 32;
        size_t *ends = realloc(r->ends, cap * sizeof *ends);
        BW_ENSURE(ends, BW_E_NOMEM);
        r->ends = ends;
        r->cap_events = cap;
    }
    r->ends[r->nevents++] = r->body.len;
    r->stream = 1;
    return BW_OK;
}

bw_err bw_mock_reply_event(struct bw_mock_reply *r, const char *data, size_t n) {
    BW_TRY(bw_buf_append(&r->body, "data: ", 6));
    BW_TRY(bw_buf_append(&r->body, data, n));
    BW_TRY(bw_buf_append(&r->body, "\n\n", 2));
    return mark_event(r);
}

bw_err bw_mock_reply_event_json(struct bw_mock_reply *r, const json_t *v) {
    BW_TRY(bw_buf_append(&r->body, "data: ", 6));
    BW_ENSURE(json_dump_callback(v, dump_to_buf, &r->body, DUMP_FLAGS) == 0, BW_E_TOO_LARGE);
    BW_TRY(bw_buf_append(&r->body, "\n\n", 2));
    return mark_event(r);
}

static void send_stream(struct evhttp_request *req, const struct bw_mock_reply *r) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(req, r->status, NULL);
    struct evbuffer *chunk = evbuffer_new();
    size_t start = 0;
    for (size_t i = 0; chunk && i < r->nevents; i++) {
        /* evhttp_send_reply_chunk drains chunk, so one buffer serves every event. */
        evbuffer_add(chunk, r->body.ptr + start, r->ends[i] - start);
        evhttp_send_reply_chunk(req, chunk);
        start = r->ends[i];
    }
    evbuffer_free(chunk);
    evhttp_send_reply_end(req);
}

void bw_mock_reply_send(struct evhttp_request *req, const struct bw_mock_reply *r) {
    if (r->stream) {
        send_stream(req, r);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), r->body.ptr, r->body.len);
    evhttp_send_reply(req, r->status, NULL, NULL);
}

void bw_mock_send_error(struct evhttp_request *req, int status, const char *type, const char *code,
                        const char *message) {
    /* message may carry parser text; if it is not valid UTF-8 say something generic. */
    json_t *msg = json_stringn(message, strlen(message));
    if (!msg)
        msg = json_string("invalid request");
    json_t *err = json_pack("{s:{s:o,s:s,s:n,s:s?}}", "error", "message", msg, "type", type,
                            "param", "code", code);
    struct bw_mock_reply r;
    bw_mock_reply_init(&r);
    if (!err || bw_mock_reply_json(&r, status, err) != BW_OK) {
        bw_buf_reset(&r.body);
        if (bw_buf_append_str(&r.body, "{\"error\":{\"message\":\"mock internal error\","
                                       "\"type\":\"server_error\",\"param\":null,"
                                       "\"code\":null}}") != BW_OK)
            r.body.len = 0;
    }
    r.status = status;
    bw_mock_reply_send(req, &r);
    bw_mock_reply_cleanup(&r);
    json_decref(err);
}
