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

#include "http/reply.h"
#include "http/reqlog.h"
#include "posture/health.h"
#include "proxy/proxy_internal.h"
#include "reason/reasons.h"
#include "util/json.h"
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
    c->answer.prompt_tokens = json_integer_value(p);
    c->answer.completion_tokens = json_is_integer(k) ? json_integer_value(k) : 0;
    c->answer.total_tokens = json_integer_value(t);
    c->answer.has_usage = 1;
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
    return c->admit.cap_tokens > 0 && c->answer.stream_units + units > c->admit.cap_tokens;
}

static int is_event_stream(const char *ct) {
    return ct && strncasecmp(ct, "text/event-stream", 17) == 0;
}

static void start_stream_reply(struct bw_call *c) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    bw_http_add_receipt_headers(c->req, c->record.receipt_id, "allow");
    evhttp_send_reply_start(c->req, 200, "OK");
    c->answer.reply_started = 1;
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
    if (!c->answer.reply_started)
        start_stream_reply(c);
    send_chunk(c, "data: [DONE]\n\n", 14);
}

void bw_forward_send_json_event(struct bw_call *c, const json_t *chunk) {
    char *text = json_dumps(chunk, JSON_COMPACT);
    if (!text)
        return;
    if (!c->answer.reply_started)
        start_stream_reply(c);
    send_chunk(c, "data: ", 6);
    send_chunk(c, text, strlen(text));
    send_chunk(c, "\n\n", 2);
    free(text);
}

/* The end of a governed stream ([DONE], or the upstream closing): calls still open are
 * dropped and listed (TOOL_CALL_INCOMPLETE). 0, or -1 if any was open. */
static int govern_end(struct bw_call *c) {
    if (c->answer.stream_done)
        return 0;
    c->answer.stream_done = 1;
    if (bw_call_govern_stream_end(c) == 0)
        return 0;
    c->answer.stream_fail = BW_R_TOOL_CALL_INCOMPLETE;
    return -1;
}

/* One complete SSE event from the upstream: check it, take usage, and release it to the client:
 * verbatim without a policy, through the tool-call governor with one (which re-encodes every
 * event it lets through: comments, event names and ids are not passed on). */
static bw_err on_event(void *arg, const char *raw, size_t raw_len, const char *data,
                       size_t data_len) {
    struct bw_call *c = arg;
    int governed = c->decide.policy && bw_route_is_chat(c->route);
    if (!data) { /* no data line (a keep-alive comment): nothing to dispatch (WHATWG SSE) */
        if (!governed && !c->answer.stream_done) {
            if (!c->answer.reply_started)
                start_stream_reply(c);
            send_chunk(c, raw, raw_len);
        }
        return BW_OK;
    }
    if (governed && c->answer.stream_done)
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
            c->answer.stream_fail = BW_R_BUDGET_EXHAUSTED;
            return BW_E_UPSTREAM;
        }
        c->answer.stream_units += units;
        c->answer.stream_bytes += bytes;
        take_usage(c, j);
        if (governed) {
            int bad = bw_call_govern_stream(c, j);
            json_decref(j);
            if (bad) {
                c->answer.stream_fail = bw_call_stream_fail_reason(c);
                return BW_E_UPSTREAM;
            }
            return BW_OK;
        }
        json_decref(j);
    }
    if (!c->answer.reply_started)
        start_stream_reply(c);
    send_chunk(c, raw, raw_len);
    return BW_OK;
}

static void arm_idle(struct bw_call *c) {
    if (!c->fwd.idle_ev)
        return;
    int ms = c->w->gw->cfg->timeout_ms;
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};
    evtimer_add(c->fwd.idle_ev, &tv);
}

static int on_data(void *arg, long status, const char *ct, const char *p, size_t n) {
    struct bw_call *c = arg;
    bw_reqlog_set_upstream_status(c->req, status);
    bw_sha256_stream_update(&c->answer.resp_sha, p, n);
    if (c->in.stream && status == 200 && is_event_stream(ct)) {
        c->answer.streaming = 1;
        arm_idle(c);
        return bw_sse_feed(&c->answer.sse, p, n, on_event, c) == BW_OK ? 0 : -1;
    }
    return bw_buf_append(&c->answer.resp, p, n) == BW_OK ? 0 : -1;
}

/* A stream already under way cannot change its status: tell the client in-band, then end. */
static void end_stream_with_error(struct bw_call *c, const char *code, const char *message,
                                  const char *status, int http_status) {
    char ev[512];
    int n = snprintf(ev, sizeof ev,
                     "data: {\"error\":{\"message\":\"%s\",\"type\":\"server_error\","
                     "\"code\":\"%s\",\"receipt_id\":\"%s\"}}\n\n",
                     message, code, c->record.receipt_id);
    if (n > 0 && (size_t)n < sizeof ev)
        send_chunk(c, ev, (size_t)n);
    c->answer.end_reason =
        code; /* the reason code the stream ended with, for bw_call_observe_end */
    bw_call_finish(c, status, http_status);
}

static void fail_forwarded(struct bw_call *c, int http_status, const char *code,
                           const char *message, const char *status) {
    if (c->answer.streaming && c->answer.toolstream && !c->answer.stream_done) {
        /* a stream cut short (timeout, bad event): its open calls are listed as dropped */
        c->answer.stream_done = 1;
        (void)bw_call_govern_stream_end(c);
    }
    if (c->answer.reply_started)
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
        if (id && bw_policy_model_allowed(c->w->gw->cfg, c->ident.key.org_name, id))
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

/* Sets how the call ends for a whole answer; WAIT only when a prepared call's hook waits. */
static enum bw_step_verdict finish_buffered(struct bw_call *c, long status) {
    json_t *j = NULL;
    char why[160];
    if (bw_json_parse((const char *)c->answer.resp.ptr, c->answer.resp.len, RESPONSE_JSON_DEPTH, &j,
                      why, sizeof why) != BW_OK) {
        bw_warn("proxy: upstream answered %ld with a body that is not a JSON object", status);
        fail_forwarded(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                       "the upstream answered with an invalid body", "upstream_bad_response");
        return BW_STEP_CONTINUE;
    }
    int ok = status >= 200 && status < 300;
    if (ok)
        take_usage(c, j);
    else
        c->answer.unproduced = 1; /* an error answer carries no completion: nothing to bill */
    if (ok && c->route == BW_ROUTE_MODELS) {
        char *filtered = filter_models(c, j);
        json_decref(j);
        if (!filtered) {
            fail_forwarded(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                           "the upstream's model list is malformed", "upstream_bad_response");
            return BW_STEP_CONTINUE;
        }
        bw_call_respond(c, 200, filtered, strlen(filtered), "ok");
        return BW_STEP_CONTINUE;
    }
    /* Every chat answer under a policy is governed, whatever its status: an error body is read
     * too (it may not carry a call; docs/POLICY.md "Answers"). Refused: the client gets a
     * gateway error instead, never the upstream's body. */
    int changed = 0;
    const char *refused = bw_call_govern_answer(c, j, !ok, &changed);
    if (refused) {
        json_decref(j);
        refuse_answer(c, refused);
        return BW_STEP_CONTINUE;
    }
    if (c->hooks) {
        /* A prepared call answers in its own shape (the widget): it ends the call. */
        enum bw_step_verdict v = c->hooks->on_answer(c, status, j);
        json_decref(j);
        return v;
    }
    if (changed) {
        /* Refused tool calls were removed: the client gets the governed answer. */
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text) {
            fail_forwarded(c, 500, BW_R_INTERNAL, "out of memory", "internal_error");
            return BW_STEP_CONTINUE;
        }
        bw_call_respond(c, 200, text, strlen(text), "ok_tool_calls_removed");
        return BW_STEP_CONTINUE;
    }
    json_decref(j);
    /* An upstream's own JSON error (4xx/5xx) is a real answer: pass it through unchanged. */
    bw_call_respond(c, ok ? 200 : (int)status, NULL, 0, ok ? "ok" : "upstream_error");
    return BW_STEP_CONTINUE;
}

/* What this transfer says about the upstream (posture/health.h). An org's own key that the
 * upstream refuses (BYOK) says nothing about the platform's upstream; a refusal by the
 * governance (ABORTED) says nothing either. */
static void report_upstream(const struct bw_call *c, enum bw_upstream_result r, long status) {
    int64_t lat = bw_mono_us() - c->fwd.forward_us;
    switch (r) {
    case BW_UP_OK:
        if (status >= 500)
            bw_health_report(BW_HEALTH_UPSTREAM, BW_HEALTH_DEGRADED, BW_HC_HTTP_5XX, lat);
        else if ((status == 401 || status == 403) && !c->fwd.byok_auth)
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
    c->fwd.xfer = NULL;
    report_upstream(c, r, status);
    c->fwd.upstream_end_us = bw_mono_us();
    c->fwd.upstream_status = status;
    bw_reqlog_set_upstream_status(c->req, status); /* 0 (none) when it was never reached */
    if (c->fwd.idle_ev)
        evtimer_del(c->fwd.idle_ev);
    int governed = c->decide.policy && bw_route_is_chat(c->route);
    /* at the end of the bytes a trailing CR ends its line (WHATWG SSE: CR is a line end) */
    if (r == BW_UP_OK && c->answer.streaming && bw_sse_end(&c->answer.sse, on_event, c) != BW_OK)
        r = BW_UP_ABORTED;
    /* a stream that stops (closed early, reset) while a tool call is open: the call is dropped
     * and that is what the client is told, whatever broke the connection */
    if ((r == BW_UP_OK || r == BW_UP_ERROR) && c->answer.streaming && governed &&
        !c->answer.stream_fail && govern_end(c) != 0) {
        /* the upstream closed without [DONE] while a tool call was still open: dropped */
        fail_forwarded(c, 502, BW_R_TOOL_CALL_INCOMPLETE,
                       "the upstream's stream ended while a tool call was incomplete; the call "
                       "was dropped",
                       "tool_call_incomplete");
        return;
    }
    if (r == BW_UP_OK && c->answer.streaming && bw_sse_pending(&c->answer.sse) == 0 &&
        c->answer.reply_started) {
        bw_call_finish(c, "ok", 200);
        return;
    }
    switch (r) {
    case BW_UP_OK:
        if (c->answer.streaming) {
            fail_forwarded(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                           "the upstream's stream ended mid-event", "upstream_bad_response");
            return;
        }
        c->answer.status = status;
        bw_call_step_done(c, BW_STEP_CONTINUE); /* the govern-answer step reads it */
        return;
    case BW_UP_TIMEOUT:
        fail_forwarded(c, 504, BW_R_UPSTREAM_TIMEOUT, "the upstream did not answer in time",
                       "upstream_timeout");
        return;
    case BW_UP_CONNECT:
        c->answer.unproduced = 1; /* the request never left: nothing to bill */
        fail_forwarded(c, 502, BW_R_UPSTREAM_UNAVAILABLE, "the upstream is unreachable",
                       "upstream_unavailable");
        return;
    case BW_UP_ABORTED:
        if (c->answer.stream_fail && strcmp(c->answer.stream_fail, BW_R_BUDGET_EXHAUSTED) == 0) {
            fail_forwarded(c, 429, BW_R_BUDGET_EXHAUSTED,
                           "the stream reached its budget reservation and was cut off; it is "
                           "billed for what was delivered",
                           "budget_cut_off");
            return;
        }
        if (c->answer.stream_fail &&
            strcmp(c->answer.stream_fail, BW_R_TOOL_CALL_INCOMPLETE) == 0) {
            fail_forwarded(c, 502, c->answer.stream_fail,
                           "the stream ended while a tool call was incomplete; the call was "
                           "dropped",
                           "tool_call_incomplete");
            return;
        }
        if (c->answer.stream_fail) {
            fail_forwarded(c, 502, c->answer.stream_fail,
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
    if (!c->fwd.xfer)
        return;
    bw_forward_cancel(c);
    fail_forwarded(c, 504, BW_R_UPSTREAM_TIMEOUT, "the upstream stopped sending",
                   "upstream_timeout");
}

static const struct bw_upstream_callbacks callbacks = {on_data, on_done, NULL};

/* Starts the upstream transfer: WAIT for its end (on_done, the idle timer, or the client going
 * away, each of which sets how the call ends), or FAIL. */
static enum bw_step_verdict forward_start(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    const struct bw_config *cfg = gw->cfg;
    /* BYOK: the org's own key replaces the platform key; unknown (store down, record that
     * does not open) denies rather than guess which key to send. */
    bw_err byok = gw->connect && c->ident.key.org_id[0]
                      ? bw_byok_authorization(c->w, c->ident.key.org_id, &c->fwd.byok_auth)
                      : BW_OK;
    if (byok != BW_OK)
        return bw_call_fail_with(c, 503,
                                 byok == BW_E_UNAVAILABLE ? BW_R_STORE_UNAVAILABLE
                                                          : BW_R_PROVIDER_KEY_UNAVAILABLE,
                                 "the org's provider key cannot be read", "upstream_unavailable");
    struct bw_upstream_request r = {
        .method = c->route == BW_ROUTE_MODELS ? "GET" : "POST",
        .url = bw_route_is_chat(c->route)        ? gw->url_chat
               : c->route == BW_ROUTE_EMBEDDINGS ? gw->url_embeddings
                                                 : gw->url_models,
        .body = c->decide.forward_body ? (const uint8_t *)c->decide.forward_body : c->in.body,
        .body_len = c->decide.forward_body ? c->decide.forward_len : c->in.body_len,
        .authorization = c->fwd.byok_auth ? c->fwd.byok_auth : gw->upstream_auth,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .timeout_ms = c->in.stream ? MAX_STREAM_MS : cfg->timeout_ms,
    };
    c->fwd.forward_us = bw_mono_us();
    if (c->in.stream) {
        /* Streams get an idle deadline instead of a total one: first byte, then each event. */
        c->fwd.idle_ev = evtimer_new(c->w->base, on_idle, c);
        arm_idle(c);
    }
    c->fwd.upstream_start_us = bw_mono_us();
    if (bw_upstream_start(c->w->up, &r, &callbacks, c, &c->fwd.xfer) != BW_OK) {
        c->fwd.xfer = NULL;
        return bw_call_fail_with(c, 502, BW_R_UPSTREAM_UNAVAILABLE,
                                 "cannot start the upstream request", "upstream_unavailable");
    }
    return BW_STEP_WAIT;
}

/* BYOK: the org's sealed record missed the worker's cache and was read in a store job. */
static enum bw_step_verdict byok_apply(struct bw_call *c, void *arg, bw_err err) {
    bw_err e = bw_byok_fetch_put(c->w, arg, err);
    if (e != BW_OK)
        return bw_call_fail_with(
            c, 503, e == BW_E_UNAVAILABLE ? BW_R_STORE_UNAVAILABLE : BW_R_PROVIDER_KEY_UNAVAILABLE,
            "the org's provider key cannot be read", "upstream_unavailable");
    return forward_start(c);
}

/* The forward step (DESIGN.md step 6): the decision allowed the call and its receipt is
 * durable. */
enum bw_step_verdict bw_step_forward(struct bw_call *c) {
    if (c->client_gone) {
        bw_call_finish(c, "client_disconnected", 499);
        return BW_STEP_CONTINUE;
    }
    if (bw_sha256_stream_init(&c->answer.resp_sha) != BW_OK)
        return bw_call_fail_with(c, 503, BW_R_INTERNAL, "out of memory", NULL);
    c->fwd.forwarded = 1;
    const char *org = c->ident.key.org_id;
    if (c->w->gw->connect && org[0] && !bw_byok_cached(c->w, org)) {
        struct bw_byok_fetch *f = bw_byok_fetch_new(c->w, org);
        if (!f)
            return bw_call_fail_with(c, 503, BW_R_INTERNAL, "out of memory",
                                     "upstream_unavailable");
        return bw_call_wait_job(c, bw_byok_fetch_run, byok_apply, f, bw_byok_fetch_free);
    }
    return forward_start(c);
}

/* The govern-answer step (DESIGN.md step 7) for a whole answer: parsed, governed, and how the
 * call ends set (a stream was governed event by event while the forward step waited). */
enum bw_step_verdict bw_step_govern_answer(struct bw_call *c) {
    return finish_buffered(c, c->answer.status);
}

void bw_forward_cancel(struct bw_call *c) {
    if (!c->fwd.xfer)
        return;
    bw_upstream_cancel(c->fwd.xfer);
    c->fwd.xfer = NULL;
    if (c->fwd.idle_ev)
        evtimer_del(c->fwd.idle_ev);
}
