/* proxy_forward.c: steps 6 to 8 of DESIGN.md: dispatch to the upstream, pass a stream through
 * event by event (nothing buffers the whole answer), validate what comes back, and take the
 * usage for the outcome receipt. An upstream that answers garbage never reaches the client as
 * if it were an answer. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/reqlog.h"
#include "http/reply.h"
#include "reason/reasons.h"
#include "posture/health.h"
#include "proxy/proxy_internal.h"
#include "util/json.h"
#include "util/time.h"
#include "util/log.h"
#include "util/time.h"

#define MAX_STREAM_MS (3600L * 1000) /* hard cap on one streamed answer */
#define RESPONSE_JSON_DEPTH 64

static void take_usage(struct bw_call *c, const json_t *root) {
    json_t *u = json_object_get(root, "usage");
    if (!json_is_object(u))
        return;
    json_t *p = json_object_get(u, "prompt_tokens");
    json_t *k = json_object_get(u, "completion_tokens");
    json_t *t = json_object_get(u, "total_tokens");
    if (!json_is_integer(p) || !json_is_integer(t))
        return;
    c->prompt_tokens = json_integer_value(p);
    c->completion_tokens = json_is_integer(k) ? json_integer_value(k) : 0;
    c->total_tokens = json_integer_value(t);
    c->has_usage = 1;
}

/* Counts what one streamed chunk produced: text and tool-call bytes of every choice's delta
 * (*bytes), and one unit when it carried any (*units; OpenAI-compatible upstreams send about
 * one token per content chunk). Used to bill a stream whose upstream reports no usage, and to
 * cut a stream off once it produced more than its reservation. */
static void count_stream(const json_t *chunk, int64_t *units, int64_t *bytes) {
    json_t *choices = json_object_get(chunk, "choices");
    size_t i, k;
    json_t *ch, *tc;
    *bytes = 0;
    json_array_foreach(choices, i, ch) {
        json_t *delta = json_object_get(ch, "delta");
        const char *text = bw_json_str(delta, "content");
        if (text)
            *bytes += (int64_t)strlen(text);
        json_array_foreach(json_object_get(delta, "tool_calls"), k, tc) {
            json_t *fn = json_object_get(tc, "function");
            const char *name = bw_json_str(fn, "name");
            const char *args = bw_json_str(fn, "arguments");
            *bytes += (int64_t)(name ? strlen(name) : 0) + (int64_t)(args ? strlen(args) : 0);
        }
    }
    *units = *bytes > 0 ? 1 : 0;
}

/* 1 when delivering `units` more would take the stream past the completion its reservation
 * holds: an upstream that ignores max_tokens would otherwise spend past the budget. Counted in
 * chunks (a low estimate of tokens), so a well-behaved upstream is never cut. The event that
 * would cross is not delivered, so it is not counted (nor billed) either. */
static int over_reservation(const struct bw_call *c, int64_t units) {
    return c->cap_tokens > 0 && c->stream_units + units > c->cap_tokens;
}

static int is_event_stream(const char *ct) {
    return ct && strncasecmp(ct, "text/event-stream", 17) == 0;
}

static void start_stream_reply(struct bw_call *c) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    bw_http_add_receipt_headers(c->req, c->receipt_id, "allow");
    evhttp_send_reply_start(c->req, 200, "OK");
    c->reply_started = 1;
}

static void send_chunk(struct bw_call *c, const char *p, size_t n) {
    if (c->client_gone)
        return;
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evbuffer_add(b, p, n);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
}

static void send_done(struct bw_call *c) {
    if (!c->reply_started)
        start_stream_reply(c);
    send_chunk(c, "data: [DONE]\n\n", 14);
}

void bw_forward_send_json_event(struct bw_call *c, const json_t *chunk) {
    char *text = json_dumps(chunk, JSON_COMPACT);
    if (!text)
        return;
    if (!c->reply_started)
        start_stream_reply(c);
    send_chunk(c, "data: ", 6);
    send_chunk(c, text, strlen(text));
    send_chunk(c, "\n\n", 2);
    free(text);
}

/* The end of a governed stream ([DONE], or the upstream closing): calls still open are
 * dropped and listed (TOOL_CALL_INCOMPLETE). 0, or -1 if any was open. */
static int govern_end(struct bw_call *c) {
    if (c->stream_done)
        return 0;
    c->stream_done = 1;
    if (bw_call_govern_stream_end(c) == 0)
        return 0;
    c->stream_fail = BW_R_TOOL_CALL_INCOMPLETE;
    return -1;
}

/* One complete SSE event from the upstream: check it, take usage, and release it to the client:
 * verbatim without a policy, through the tool-call governor with one (which re-encodes every
 * event it lets through: comments, event names and ids are not passed on). */
static bw_err on_event(void *arg, const char *raw, size_t raw_len, const char *data,
                       size_t data_len) {
    struct bw_call *c = arg;
    int governed = c->policy && bw_route_is_chat(c->route);
    if (!data) { /* no data line (a keep-alive comment): nothing to dispatch (WHATWG SSE) */
        if (!governed && !c->stream_done) {
            if (!c->reply_started)
                start_stream_reply(c);
            send_chunk(c, raw, raw_len);
        }
        return BW_OK;
    }
    if (governed && c->stream_done)
        return BW_OK; /* nothing is read after [DONE] */
    int done = data_len == 6 && memcmp(data, "[DONE]", 6) == 0;
    if (done && governed) {
        if (govern_end(c) != 0)
            return BW_E_UPSTREAM;
        send_done(c);
        return BW_OK;
    }
    if (!done) {
        json_t *j = NULL;
        char why[160];
        if (data_len == 0 ||
            bw_json_parse(data, data_len, RESPONSE_JSON_DEPTH, &j, why, sizeof why) != BW_OK)
            return BW_E_UPSTREAM;
        int64_t units, bytes;
        count_stream(j, &units, &bytes);
        if (over_reservation(c, units)) {
            json_decref(j);
            c->stream_fail = BW_R_BUDGET_EXHAUSTED;
            return BW_E_UPSTREAM;
        }
        c->stream_units += units;
        c->stream_bytes += bytes;
        take_usage(c, j);
        if (governed) {
            int bad = bw_call_govern_stream(c, j);
            json_decref(j);
            if (bad) {
                c->stream_fail = bw_call_stream_fail_reason(c);
                return BW_E_UPSTREAM;
            }
            return BW_OK;
        }
        json_decref(j);
    }
    if (!c->reply_started)
        start_stream_reply(c);
    send_chunk(c, raw, raw_len);
    return BW_OK;
}

static void arm_idle(struct bw_call *c) {
    if (!c->idle_ev)
        return;
    int ms = c->w->gw->cfg->timeout_ms;
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};
    evtimer_add(c->idle_ev, &tv);
}

static int on_data(void *arg, long status, const char *ct, const char *p, size_t n) {
    struct bw_call *c = arg;
    bw_reqlog_set_upstream_status(c->req, status);
    bw_sha256_stream_update(&c->resp_sha, p, n);
    if (c->stream && status == 200 && is_event_stream(ct)) {
        c->streaming = 1;
        arm_idle(c);
        return bw_sse_feed(&c->sse, p, n, on_event, c) == BW_OK ? 0 : -1;
    }
    return bw_buf_append(&c->resp, p, n) == BW_OK ? 0 : -1;
}

/* A stream already under way cannot change its status: tell the client in-band, then end. */
static void end_stream_with_error(struct bw_call *c, const char *code, const char *message,
                                  const char *status, int http_status) {
    char ev[512];
    int n = snprintf(ev, sizeof ev,
                     "data: {\"error\":{\"message\":\"%s\",\"type\":\"server_error\","
                     "\"code\":\"%s\",\"receipt_id\":\"%s\"}}\n\n",
                     message, code, c->receipt_id);
    if (n > 0 && (size_t)n < sizeof ev)
        send_chunk(c, ev, (size_t)n);
    c->end_reason = code; /* the reason code the stream ended with, for bw_call_observe_end */
    bw_call_finish(c, status, http_status);
}

static void fail_forwarded(struct bw_call *c, int http_status, const char *code,
                           const char *message, const char *status) {
    if (c->streaming && c->toolstream && !c->stream_done) {
        /* a stream cut short (timeout, bad event): its open calls are listed as dropped */
        c->stream_done = 1;
        (void)bw_call_govern_stream_end(c);
    }
    if (c->reply_started)
        end_stream_with_error(c, code, message, status, http_status);
    else
        bw_call_fail(c, http_status, code, message, status);
}

/* Keeps only the models this org may use in a /v1/models list. */
static char *filter_models(struct bw_call *c, json_t *root) {
    json_t *data = json_object_get(root, "data");
    if (!json_is_array(data))
        return NULL;
    json_t *kept = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(data, i, m) {
        const char *id = bw_json_str(m, "id");
        if (id && bw_policy_model_allowed(c->w->gw->cfg, c->key.org_name, id))
            json_array_append(kept, m);
    }
    json_object_set_new(root, "data", kept);
    return json_dumps(root, JSON_COMPACT);
}

static void refuse_answer(struct bw_call *c, const char *reason) {
    if (strcmp(reason, BW_R_INTERNAL) == 0) {
        fail_forwarded(c, 500, BW_R_INTERNAL, "out of memory", "internal_error");
        return;
    }
    bw_warn("proxy: upstream answer refused (%s)", reason);
    fail_forwarded(c, 502, reason,
                   "the upstream's answer could not be governed (a shape the gateway does not "
                   "read, too many tool calls, or a tool call in an error answer); it was not "
                   "forwarded",
                   "answer_refused");
}

static void finish_buffered(struct bw_call *c, long status) {
    json_t *j = NULL;
    char why[160];
    if (bw_json_parse((const char *)c->resp.ptr, c->resp.len, RESPONSE_JSON_DEPTH, &j, why,
                      sizeof why) != BW_OK) {
        bw_warn("proxy: upstream answered %ld with a body that is not a JSON object", status);
        fail_forwarded(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                       "the upstream answered with an invalid body", "upstream_bad_response");
        return;
    }
    int ok = status >= 200 && status < 300;
    if (ok)
        take_usage(c, j);
    else
        c->unproduced = 1; /* an error answer carries no completion: nothing to bill */
    if (ok && c->route == BW_ROUTE_MODELS) {
        char *filtered = filter_models(c, j);
        json_decref(j);
        if (!filtered) {
            fail_forwarded(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                           "the upstream's model list is malformed", "upstream_bad_response");
            return;
        }
        bw_call_respond(c, 200, filtered, strlen(filtered), "ok");
        free(filtered);
        return;
    }
    /* Every chat answer under a policy is governed, whatever its status: an error body is read
     * too (it may not carry a call; docs/POLICY.md "Answers"). Refused: the client gets a
     * gateway error instead, never the upstream's body. */
    int changed = 0;
    const char *refused = bw_call_govern_answer(c, j, !ok, &changed);
    if (refused) {
        json_decref(j);
        refuse_answer(c, refused);
        return;
    }
    if (c->hooks) {
        /* A prepared call answers in its own shape (the widget): it ends the call. */
        c->hooks->on_answer(c, status, j);
        json_decref(j);
        return;
    }
    if (changed) {
        /* Refused tool calls were removed: the client gets the governed answer. */
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text) {
            fail_forwarded(c, 500, BW_R_INTERNAL, "out of memory", "internal_error");
            return;
        }
        bw_call_respond(c, 200, text, strlen(text), "ok_tool_calls_removed");
        free(text);
        return;
    }
    json_decref(j);
    /* An upstream's own JSON error (4xx/5xx) is a real answer: pass it through unchanged. */
    bw_call_respond(c, ok ? 200 : (int)status, (const char *)c->resp.ptr, c->resp.len,
                    ok ? "ok" : "upstream_error");
}

/* What this transfer says about the upstream (posture/health.h). An org's own key that the
 * upstream refuses (BYOK) says nothing about the platform's upstream; a refusal by the
 * governance (ABORTED) says nothing either. */
static void report_upstream(const struct bw_call *c, enum bw_upstream_result r, long status) {
    int64_t lat = bw_mono_us() - c->forward_us;
    switch (r) {
    case BW_UP_OK:
        if (status >= 500)
            bw_health_report(BW_HEALTH_UPSTREAM, BW_HEALTH_DEGRADED, BW_HC_HTTP_5XX, lat);
        else if ((status == 401 || status == 403) && !c->byok_auth)
            bw_health_report(BW_HEALTH_UPSTREAM, BW_HEALTH_DEGRADED, BW_HC_AUTH, lat);
        else
            bw_health_report(BW_HEALTH_UPSTREAM, BW_HEALTH_UP, BW_HC_NONE, lat);
        break;
    case BW_UP_TIMEOUT:
        bw_health_report(BW_HEALTH_UPSTREAM, BW_HEALTH_DEGRADED, BW_HC_TIMEOUT, lat);
        break;
    case BW_UP_CONNECT:
        bw_health_report(BW_HEALTH_UPSTREAM, BW_HEALTH_DOWN, BW_HC_NETWORK, lat);
        break;
    case BW_UP_ERROR:
        bw_health_report(BW_HEALTH_UPSTREAM, BW_HEALTH_DEGRADED, BW_HC_NETWORK, lat);
        break;
    default:
        break;
    }
}

static void on_done(void *arg, enum bw_upstream_result r, long status, const char *ct) {
    (void)ct;
    struct bw_call *c = arg;
    c->xfer = NULL;
    report_upstream(c, r, status);
    c->upstream_end_us = bw_mono_us();
    c->upstream_status = status;
    bw_reqlog_set_upstream_status(c->req, status); /* 0 (none) when it was never reached */
    if (c->idle_ev)
        evtimer_del(c->idle_ev);
    int governed = c->policy && bw_route_is_chat(c->route);
    /* at the end of the bytes a trailing CR ends its line (WHATWG SSE: CR is a line end) */
    if (r == BW_UP_OK && c->streaming && bw_sse_end(&c->sse, on_event, c) != BW_OK)
        r = BW_UP_ABORTED;
    /* a stream that stops (closed early, reset) while a tool call is open: the call is dropped
     * and that is what the client is told, whatever broke the connection */
    if ((r == BW_UP_OK || r == BW_UP_ERROR) && c->streaming && governed && !c->stream_fail &&
        govern_end(c) != 0) {
        /* the upstream closed without [DONE] while a tool call was still open: dropped */
        fail_forwarded(c, 502, BW_R_TOOL_CALL_INCOMPLETE,
                       "the upstream's stream ended while a tool call was incomplete; the call "
                       "was dropped",
                       "tool_call_incomplete");
        return;
    }
    if (r == BW_UP_OK && c->streaming && bw_sse_pending(&c->sse) == 0 && c->reply_started) {
        bw_call_finish(c, "ok", 200);
        return;
    }
    switch (r) {
    case BW_UP_OK:
        if (c->streaming) {
            fail_forwarded(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                           "the upstream's stream ended mid-event", "upstream_bad_response");
            return;
        }
        finish_buffered(c, status);
        return;
    case BW_UP_TIMEOUT:
        fail_forwarded(c, 504, BW_R_UPSTREAM_TIMEOUT, "the upstream did not answer in time",
                       "upstream_timeout");
        return;
    case BW_UP_CONNECT:
        c->unproduced = 1; /* the request never left: nothing to bill */
        fail_forwarded(c, 502, BW_R_UPSTREAM_UNAVAILABLE, "the upstream is unreachable",
                       "upstream_unavailable");
        return;
    case BW_UP_ABORTED:
        if (c->stream_fail && strcmp(c->stream_fail, BW_R_BUDGET_EXHAUSTED) == 0) {
            fail_forwarded(c, 429, BW_R_BUDGET_EXHAUSTED,
                           "the stream reached its budget reservation and was cut off; it is "
                           "billed for what was delivered",
                           "budget_cut_off");
            return;
        }
        if (c->stream_fail && strcmp(c->stream_fail, BW_R_TOOL_CALL_INCOMPLETE) == 0) {
            fail_forwarded(c, 502, c->stream_fail,
                           "the stream ended while a tool call was incomplete; the call was "
                           "dropped",
                           "tool_call_incomplete");
            return;
        }
        if (c->stream_fail) {
            fail_forwarded(c, 502, c->stream_fail,
                           "the stream's tool calls could not be governed; it was ended",
                           "tool_call_refused");
            return;
        }
        fail_forwarded(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                       "the upstream answered with an invalid or oversized body",
                       "upstream_bad_response");
        return;
    default:
        fail_forwarded(c, 502, BW_R_UPSTREAM_BAD_RESPONSE, "the upstream connection failed",
                       "upstream_error");
        return;
    }
}

static void on_idle(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_call *c = arg;
    if (!c->xfer)
        return;
    bw_forward_cancel(c);
    fail_forwarded(c, 504, BW_R_UPSTREAM_TIMEOUT, "the upstream stopped sending",
                   "upstream_timeout");
}

static const struct bw_upstream_callbacks callbacks = {on_data, on_done, NULL};

void bw_forward_start(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    const struct bw_config *cfg = gw->cfg;
    /* BYOK: the org's own key replaces the platform key; unknown (store down, record that
     * does not open) denies rather than guess which key to send. */
    bw_err byok = gw->connect && c->key.org_id[0]
                      ? bw_byok_authorization(c->w, c->key.org_id, &c->byok_auth)
                      : BW_OK;
    if (byok != BW_OK) {
        bw_call_fail(c, 503,
                     byok == BW_E_UNAVAILABLE ? BW_R_STORE_UNAVAILABLE
                                              : BW_R_PROVIDER_KEY_UNAVAILABLE,
                     "the org's provider key cannot be read", "upstream_unavailable");
        return;
    }
    struct bw_upstream_request r = {
        .method = c->route == BW_ROUTE_MODELS ? "GET" : "POST",
        .url = bw_route_is_chat(c->route)        ? gw->url_chat
               : c->route == BW_ROUTE_EMBEDDINGS ? gw->url_embeddings
                                                 : gw->url_models,
        .body = c->forward_body ? (const uint8_t *)c->forward_body : c->body,
        .body_len = c->forward_body ? c->forward_len : c->body_len,
        .authorization = c->byok_auth ? c->byok_auth : gw->upstream_auth,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .timeout_ms = c->stream ? MAX_STREAM_MS : cfg->timeout_ms,
    };
    c->forward_us = bw_mono_us();
    if (c->stream) {
        /* Streams get an idle deadline instead of a total one: first byte, then each event. */
        c->idle_ev = evtimer_new(c->w->base, on_idle, c);
        arm_idle(c);
    }
    c->upstream_start_us = bw_mono_us();
    if (bw_upstream_start(c->w->up, &r, &callbacks, c, &c->xfer) != BW_OK) {
        c->xfer = NULL;
        bw_call_fail(c, 502, BW_R_UPSTREAM_UNAVAILABLE, "cannot start the upstream request",
                     "upstream_unavailable");
    }
}

void bw_forward_cancel(struct bw_call *c) {
    if (!c->xfer)
        return;
    bw_upstream_cancel(c->xfer);
    c->xfer = NULL;
    if (c->idle_ev)
        evtimer_del(c->idle_ev);
}
