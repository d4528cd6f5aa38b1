/* proxy_call.c: one governed call, steps 1 to 5 and 9 of DESIGN.md: bound, identify, decide,
 * record (durable before anything is forwarded), and the outcome receipt at the end. A caller
 * that identified the principal and built the request itself (the widget) enters at step 3
 * through bw_call_begin_prepared; everything after that is the same code. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "util/text.h"
#include "ledger/ledger.h"
#include "limits/meter.h"
#include "reason/reasons.h"
#include "posture/health.h"
#include <sodium.h>

#include "proxy/proxy_internal.h"
#include "util/codec.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

void bw_call_begin(struct bw_gw_worker *w, struct evhttp_request *req, enum bw_route route);

static void call_free(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    if (c->gone_ev)
        event_free(c->gone_ev);
    if (c->idle_ev)
        event_free(c->idle_ev);
    bw_call_release_admission(c); /* a call that never reached the upstream gives all back */
    bw_call_policy_cleanup(c);
    free(c->review);
    bw_buf_cleanup(&c->resp);
    bw_sse_cleanup(&c->sse);
    bw_sha256_stream_cleanup(&c->resp_sha);
    if (c->byok_auth)
        sodium_free(c->byok_auth); /* zeroes the org's key before releasing it */
    if (c->hooks && c->hooks->cleanup)
        c->hooks->cleanup(c->hook_arg);
    free(c->built_body);
    free(c);
    atomic_fetch_sub(&gw->inflight, 1);
}

/* The connection died (EOF, reset, timeout). evhttp has detached req from the connection
 * (it stays ours to free by finishing it) and is inside evhttp_connection_free: defer work. */
static void on_client_gone_deferred(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_call *c = arg;
    if (c->xfer) {
        bw_forward_cancel(c);
        bw_call_finish(c, "client_disconnected", 499);
    }
    /* else: waiting for the ledger; its completion sees client_gone and finishes. */
}

static void on_close(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    struct bw_call *c = arg;
    c->client_gone = 1;
    if (!c->gone_ev)
        c->gone_ev = event_new(c->w->base, -1, 0, on_client_gone_deferred, c);
    if (c->gone_ev)
        event_active(c->gone_ev, EV_TIMEOUT, 0);
}

static void detach_close_cb(struct bw_call *c) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
}

static void on_outcome_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_gateway *gw = arg;
    if (err != BW_OK)
        bw_error("proxy: outcome receipt not recorded: %s", bw_err_str(err));
    atomic_fetch_sub(&gw->inflight, 1);
}

/* The fields every receipt of a call carries: who, what, and the request's hash. */
static void receipt_for_call(const struct bw_call *c, enum bw_receipt_kind kind,
                             struct bw_receipt *r) {
    bw_receipt_init(r, kind);
    r->time_ms = bw_now_ms();
    snprintf(r->org_id, sizeof r->org_id, "%s", c->key.org_id);
    snprintf(r->principal, sizeof r->principal, "%s", c->key.id);
    snprintf(r->agent, sizeof r->agent, "%s", c->key.agent);
    snprintf(r->route, sizeof r->route, "%s", bw_route_name(c->route));
    snprintf(r->model, sizeof r->model, "%s", c->model);
    memcpy(r->request_sha256, c->request_sha256, 32);
}

static void append_outcome(struct bw_call *c, const char *status, int http_status) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_receipt r;
    receipt_for_call(c, BW_RECEIPT_OUTCOME, &r);
    snprintf(r.status, sizeof r.status, "%s", status);
    r.http_status = http_status;
    r.has_parent = 1;
    memcpy(r.parent_leaf_hash, c->decision_leaf, 32);
    if (c->forwarded) {
        bw_sha256_stream_final(&c->resp_sha, r.response_sha256);
        r.has_response = 1;
    }
    if (c->forwarded && c->route != BW_ROUTE_MODELS) {
        /* Step 8: settle the reservation with the real usage and meter the call. */
        struct bw_usage_record u;
        bw_call_settle(c, &u);
        snprintf(u.status, sizeof u.status, "%s", status);
        if (gw->meter)
            bw_meter_push(gw->meter, &u);
    }
    r.tool_calls = c->tool_calls;
    if (c->settled) { /* the bill is provable from the evidence: usage and cost */
        r.has_usage = 1;
        r.prompt_tokens = c->settled_prompt;
        r.completion_tokens = c->settled_completion;
        r.total_tokens = c->has_usage ? c->total_tokens : c->settled_prompt + c->settled_completion;
        r.usage_estimated = c->usage_estimated;
        r.has_cost = 1;
        r.cost_micros = c->cost_micros;
    } else if (c->has_usage) {
        r.has_usage = 1;
        r.prompt_tokens = c->prompt_tokens;
        r.completion_tokens = c->completion_tokens;
        r.total_tokens = c->total_tokens;
    }
    r.duration_ms = (bw_mono_us() - c->start_us) / 1000;
    atomic_fetch_add(&gw->inflight, 1);
    bw_ledger_append(gw->ledger, &r, c->w->base, on_outcome_durable, gw);
}

/* The call's fields for its request-log line; reason: the code to log, or NULL to leave it to
 * the error reply (which logs its own code). */
static void log_call(struct bw_call *c, const char *reason) {
    bw_reqlog_set_principal(c->req, c->key.org_id, c->key.agent, c->key.id);
    if (c->receipt_id[0])
        bw_reqlog_set_decision(c->req, bw_call_decision_name(c), reason, c->receipt_id);
}

/* Ends an allowed call whose response has been streamed (or whose client is gone): outcome
 * receipt, end of the chunked reply, free. */
void bw_call_finish(struct bw_call *c, const char *status, int http_status) {
    append_outcome(c, status, http_status);
    bw_call_observe_end(c, c->reply_started ? 200 : http_status, c->end_reason);
    log_call(c, c->end_reason ? c->end_reason : c->stream_fail ? c->stream_fail : c->decision.reason);
    /* what the client saw: a started stream is a 200 whatever ended it in-band; also for a
     * detached req, which evhttp never completes */
    bw_reqlog_end(c->req, c->reply_started ? 200 : http_status);
    if (!c->client_gone)
        detach_close_cb(c);
    if (c->reply_started)
        evhttp_send_reply_end(c->req); /* frees req, also when detached */
    else
        evhttp_send_reply(c->req, 499, "Client Closed", NULL); /* detached: only frees req */
    call_free(c);
}

/* Ends an allowed, forwarded call with a whole response body (copied). */
void bw_call_respond(struct bw_call *c, int http_status, const char *body, size_t len,
                     const char *status) {
    append_outcome(c, status, http_status);
    bw_call_observe_end(c, http_status, NULL);
    log_call(c, c->decision.reason);
    if (c->client_gone)
        bw_reqlog_end(c->req, 499); /* detached: the reply below only frees req */
    else
        detach_close_cb(c);
    bw_http_add_receipt_headers(c->req, c->receipt_id, "allow");
    bw_http_reply_json(c->req, http_status, body, len);
    call_free(c);
}

/* Ends a call with an error body; an outcome receipt is added when the call was forwarded
 * (outcome_status non-NULL). */
void bw_call_fail(struct bw_call *c, int http_status, const char *code, const char *message,
                  const char *outcome_status) {
    if (outcome_status)
        append_outcome(c, outcome_status, http_status);
    bw_call_observe_end(c, http_status, code);
    log_call(c, NULL);
    if (c->client_gone) {
        bw_reqlog_set_reason(c->req, code);
        bw_reqlog_end(c->req, 499); /* detached: the reply below only frees req */
    } else
        detach_close_cb(c);
    bw_http_reply_error_with(c->req, http_status, code, message,
                             c->receipt_id[0] ? c->receipt_id : NULL,
                             c->receipt_id[0] ? bw_call_decision_name(c) : NULL,
                             c->review_id[0] ? "review_id" : NULL, c->review_id);
    call_free(c);
}

static void on_decision_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    struct bw_call *c = arg;
    if (err != BW_OK) {
        bw_error("proxy: decision receipt not durable (%s): denying", bw_err_str(err));
        bw_call_fail(c, 503, BW_R_LEDGER_UNAVAILABLE,
                     "the evidence ledger is unavailable; nothing was forwarded", NULL);
        return;
    }
    bw_ledger_receipt_id(c->w->gw->ledger, index, c->receipt_id);
    memcpy(c->decision_leaf, leaf, 32);
    if (c->decision.effect == BW_POLICY_REQUIRE_APPROVAL && c->review_create) {
        bw_call_review_create(c); /* review receipt, item, then the 403 with its id */
        return;
    }
    if (c->decision.effect != BW_POLICY_ALLOW) {
        bw_call_add_retry_after(c);
        bw_call_fail(c, c->decision.http_status ? c->decision.http_status : 403, c->decision.reason,
                     c->refusal_message ? c->refusal_message
                     : c->decision.effect == BW_POLICY_REQUIRE_APPROVAL
                         ? "the policy requires a reviewer's approval for this call"
                         : "the policy does not allow this call",
                     NULL);
        return;
    }
    if (c->client_gone) {
        bw_call_finish(c, "client_disconnected", 499);
        return;
    }
    if (c->hooks && c->hooks->before_forward && c->hooks->before_forward(c) != 0)
        return; /* the hook ended the call */
    if (bw_sha256_stream_init(&c->resp_sha) != BW_OK) {
        bw_call_fail(c, 503, BW_R_INTERNAL, "out of memory", NULL);
        return;
    }
    c->forwarded = 1;
    bw_forward_start(c);
}

void bw_call_record_decision(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_receipt r;
    receipt_for_call(c, BW_RECEIPT_DECISION, &r);
    snprintf(r.decision, sizeof r.decision, "%s", bw_call_decision_name(c));
    snprintf(r.reason, sizeof r.reason, "%s", c->decision.reason);
    snprintf(r.rule, sizeof r.rule, "%s", c->decision.rule);
    snprintf(r.layer, sizeof r.layer, "%s", c->decision.layer ? c->decision.layer : "");
    r.has_policy = 1;
    memcpy(r.policy_sha256, c->decision.policy_sha256, 32);
    r.has_org_policy = c->decision.has_org_policy;
    memcpy(r.org_policy_sha256, c->decision.org_policy_sha256, 32);
    r.tool_calls = c->request_tools; /* the request's tools that were not simply allowed */
    bw_ledger_append(gw->ledger, &r, c->w->base, on_decision_durable, c);
}


/* Step 1 for POST bodies: content type, JSON (duplicates rejected, depth bounded), and the
 * fields this route needs. Replies and returns non-zero on failure. */
static int parse_body(struct bw_call *c) {
    const struct bw_config *cfg = c->w->gw->cfg;
    if (!bw_http_content_is_json(c->req)) {
        bw_call_fail(c, 415, BW_R_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json",
                     NULL);
        return -1;
    }
    json_t *j = NULL;
    char why[200];
    bw_err e =
        bw_json_parse((const char *)c->body, c->body_len, cfg->max_json_depth, &j, why, sizeof why);
    if (e != BW_OK) {
        bw_call_fail(c, 400, e == BW_E_TOO_LARGE ? BW_R_JSON_TOO_DEEP : BW_R_INVALID_JSON, why,
                     NULL);
        return -1;
    }
    const char *model = bw_json_str(j, "model");
    json_t *stream = json_object_get(j, "stream");
    const char *problem = NULL;
    if (!model || !bw_text_model_ok(model))
        problem = "\"model\" must be a non-empty printable ASCII string of at most 127 bytes";
    else if (stream && !json_is_boolean(stream))
        problem = "\"stream\" must be a boolean";
    else if (c->route == BW_ROUTE_CHAT && !json_is_array(json_object_get(j, "messages")))
        problem = "\"messages\" must be an array";
    else if (c->route == BW_ROUTE_EMBEDDINGS && !json_object_get(j, "input"))
        problem = "\"input\" is required";
    else if (c->route == BW_ROUTE_EMBEDDINGS && json_is_true(stream))
        problem = "embeddings cannot stream";
    else if (bw_route_is_chat(c->route) && bw_policy_request_caps(&c->view, j, &problem) != BW_OK)
        problem = problem ? problem : "the output caps are invalid"; /* read once: admission */
    if (!problem) {
        snprintf(c->model, sizeof c->model, "%s", model);
        c->stream = json_is_true(stream);
        c->body_json = j; /* kept for the policy's view of the request */
    } else {
        json_decref(j);
    }
    if (problem) {
        bw_call_fail(c, 400, BW_R_INVALID_REQUEST, problem, NULL);
        return -1;
    }
    return 0;
}

static int identify(struct bw_call *c) {
    struct bw_gw_worker *w = c->w;
    const char *authz =
        evhttp_find_header(evhttp_request_get_input_headers(c->req), "Authorization");
    bw_err e = bw_auth_identify(w->store, w->keys, w->gw->pepper, authz, bw_now_ms(), &c->key);
    if (e == BW_E_UNAUTH) {
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "WWW-Authenticate", "Bearer");
        bw_call_fail(c, 401, BW_R_UNAUTHENTICATED, "a valid API key is required", NULL);
        return -1;
    }
    if (e != BW_OK) {
        bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
        bw_call_fail(c, 503, BW_R_STORE_UNAVAILABLE, "the key store is unavailable", NULL);
        return -1;
    }
    if (!c->key.org_id[0]) { /* an operator key: outside every org, so no tenant to bill */
        bw_call_fail(c, 403, BW_R_ROLE_FORBIDDEN, "operator keys cannot call models", NULL);
        return -1;
    }
    return 0;
}

/* A new call for req (its input buffer pulled up as c->body), counted in flight; NULL after
 * replying 503 when out of memory. */
static struct bw_call *call_new(struct bw_gw_worker *w, struct evhttp_request *req,
                                enum bw_route route) {
    struct bw_call *c = calloc(1, sizeof *c);
    if (!c) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return NULL;
    }
    atomic_fetch_add(&w->gw->inflight, 1);
    c->w = w;
    c->req = req;
    c->route = route;
    c->start_us = bw_mono_us();
    c->start_ms = bw_now_ms();
    bw_buf_init(&c->resp, BW_MAX_UPSTREAM_BODY);
    bw_sse_init(&c->sse, BW_MAX_SSE_EVENT);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    c->body_len = evbuffer_get_length(in);
    c->body = c->body_len ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close, c);
    return c;
}

/* Steps 3 to 5: admit, decide, record; the decision's durability starts the forward. */
static void call_run(struct bw_call *c) {
    if (bw_call_admit(c) == 0)
        bw_call_decide(c);
    bw_call_review_gate(c); /* records the decision, after spending an approval if presented */
}

void bw_call_begin(struct bw_gw_worker *w, struct evhttp_request *req, enum bw_route route) {
    struct bw_call *c = call_new(w, req, route);
    if (!c)
        return;
    if (identify(c) != 0)
        return;
    if (route != BW_ROUTE_MODELS && parse_body(c) != 0)
        return;
    bw_sha256(c->body, c->body_len, c->request_sha256);
    call_run(c);
}

void bw_call_begin_prepared(struct bw_gw_worker *w, struct evhttp_request *req,
                            const struct bw_call_start *s) {
    struct bw_call *c = call_new(w, req, s->route);
    if (!c) {
        json_decref(s->body_json);
        if (s->hooks->cleanup)
            s->hooks->cleanup(s->hook_arg);
        return;
    }
    c->hooks = s->hooks; /* from here call_free releases what the caller handed over */
    c->hook_arg = s->hook_arg;
    c->body_json = s->body_json;
    c->key = *s->caller;
    snprintf(c->model, sizeof c->model, "%s", s->model);
    /* The receipt's subject is what the client sent, as for every other route. */
    bw_sha256(c->body, c->body_len, c->request_sha256);
    c->built_body = json_dumps(c->body_json, JSON_COMPACT);
    if (!c->built_body) {
        bw_call_fail(c, 503, BW_R_INTERNAL, "out of memory", NULL);
        return;
    }
    c->body = (const uint8_t *)c->built_body;
    c->body_len = strlen(c->built_body);
    const char *problem = NULL;
    if (bw_policy_request_caps(&c->view, c->body_json, &problem) != BW_OK) {
        bw_call_fail(c, 400, BW_R_INVALID_REQUEST, problem ? problem : "invalid output caps", NULL);
        return;
    }
    call_run(c);
}
