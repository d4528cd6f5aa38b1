/* proxy_call.c: a governed call's start and its own steps (call_steps.c runs them): bound,
 * identify, parse (DESIGN.md step 1-2), and record (step 5: the decision receipt, durable before
 * anything is forwarded). A caller that identified the principal and built the request itself
 * (the widget) starts the prepared table through bw_call_begin_prepared; every step after its
 * first is the same code. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include "auth/auth.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "ledger/ledger.h"
#include "limits/meter.h"
#include "posture/health.h"
#include "reason/reasons.h"
#include "util/text.h"

#include "proxy/proxy_internal.h"
#include "util/codec.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

void bw_call_begin(struct bw_gw_worker *w, struct evhttp_request *req, enum bw_route route);

/* The connection died (EOF, reset, timeout). evhttp has detached req from the connection
 * (it stays ours to free by finishing it) and is inside evhttp_connection_free: defer work. */
static void on_client_gone_deferred(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_call *c = arg;
    if (c->fwd.xfer) {
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

/* The fields every receipt of a call carries: who, what, and the request's hash. */
void bw_call_receipt(const struct bw_call *c, enum bw_receipt_kind kind, struct bw_receipt *r) {
    bw_receipt_init(r, kind);
    r->time_ms = bw_now_ms();
    snprintf(r->org_id, sizeof r->org_id, "%s", c->ident.key.org_id);
    snprintf(r->principal, sizeof r->principal, "%s", c->ident.key.id);
    snprintf(r->agent, sizeof r->agent, "%s", c->ident.key.agent);
    snprintf(r->route, sizeof r->route, "%s", bw_route_name(c->route));
    snprintf(r->model, sizeof r->model, "%s", c->in.model);
    memcpy(r->request_sha256, c->in.request_sha256, 32);
}

/* ---- record: the decision receipt, durable before anything else happens ---- */

static void on_decision_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    struct bw_call *c = arg;
    if (err != BW_OK) {
        bw_error("proxy: decision receipt not durable (%s): denying", bw_err_str(err));
        bw_call_step_done(c, bw_call_fail_with(c, 503, BW_R_LEDGER_UNAVAILABLE,
                                               "the evidence ledger is unavailable; nothing was "
                                               "forwarded",
                                               NULL));
        return;
    }
    bw_ledger_receipt_id(c->w->gw->ledger, index, c->record.receipt_id);
    memcpy(c->record.decision_leaf, leaf, 32);
    enum bw_policy_effect effect = c->decide.decision.effect;
    if (effect == BW_POLICY_REQUIRE_APPROVAL && c->review.create) {
        bw_call_step_done(c, BW_STEP_CONTINUE); /* the review item step creates it */
        return;
    }
    if (effect != BW_POLICY_ALLOW) {
        bw_call_step_done(c, BW_STEP_DENY);
        return;
    }
    if (c->client_gone) {
        bw_call_finish(c, "client_disconnected", 499);
        return;
    }
    bw_call_step_done(c, BW_STEP_CONTINUE);
}

enum bw_step_verdict bw_step_record(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    const struct bw_policy_decision *d = &c->decide.decision;
    struct bw_receipt r;
    bw_call_receipt(c, BW_RECEIPT_DECISION, &r);
    snprintf(r.decision, sizeof r.decision, "%s", bw_call_decision_name(c));
    snprintf(r.reason, sizeof r.reason, "%s", d->reason);
    snprintf(r.rule, sizeof r.rule, "%s", d->rule);
    snprintf(r.layer, sizeof r.layer, "%s", d->layer ? d->layer : "");
    r.has_policy = 1;
    memcpy(r.policy_sha256, d->policy_sha256, 32);
    r.has_org_policy = d->has_org_policy;
    memcpy(r.org_policy_sha256, d->org_policy_sha256, 32);
    r.tool_calls = c->decide.request_tools; /* the request's tools that were not simply allowed */
    bw_ledger_append(gw->ledger, &r, c->w->base, on_decision_durable, c);
    return BW_STEP_WAIT;
}

/* ---- bound, identify, parse ---- */

/* Step 1's bound: the server has held the body and headers to their size limits
 * (http/server.h); the body is pulled up once here for the steps that read it. */
enum bw_step_verdict bw_step_bound(struct bw_call *c) {
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    c->in.body_len = evbuffer_get_length(in);
    c->in.body = c->in.body_len ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
    return BW_STEP_CONTINUE;
}

/* Step 1 for POST bodies: content type, JSON (duplicates rejected, depth bounded), and the
 * fields this route needs; then the request's hash, the receipts' subject. */
enum bw_step_verdict bw_step_parse(struct bw_call *c) {
    const struct bw_config *cfg = c->w->gw->cfg;
    if (c->route == BW_ROUTE_MODELS)
        goto hash;
    if (!bw_http_content_is_json(c->req))
        return bw_call_fail_with(c, 415, BW_R_UNSUPPORTED_MEDIA_TYPE,
                                 "Content-Type must be application/json", NULL);
    json_t *j = NULL;
    bw_err e = bw_json_parse((const char *)c->in.body, c->in.body_len, cfg->max_json_depth, &j,
                             c->end.why, sizeof c->end.why);
    if (e != BW_OK)
        return bw_call_fail_with(
            c, 400, e == BW_E_TOO_LARGE ? BW_R_JSON_TOO_DEEP : BW_R_INVALID_JSON, c->end.why, NULL);
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
    else if (bw_route_is_chat(c->route) &&
             bw_policy_request_caps(&c->decide.view, j, &problem) != BW_OK)
        problem = problem ? problem : "the output caps are invalid"; /* read once: admission */
    if (problem) {
        json_decref(j);
        return bw_call_fail_with(c, 400, BW_R_INVALID_REQUEST, problem, NULL);
    }
    snprintf(c->in.model, sizeof c->in.model, "%s", model);
    c->in.stream = json_is_true(stream);
    c->in.body_json = j; /* kept for the policy's view of the request */
hash:
    bw_sha256(c->in.body, c->in.body_len, c->in.request_sha256);
    return BW_STEP_CONTINUE;
}

/* What identify answers, from the cache or the store. */
static enum bw_step_verdict identified(struct bw_call *c, bw_err e) {
    if (e == BW_E_UNAUTH) {
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "WWW-Authenticate", "Bearer");
        return bw_call_fail_with(c, 401, BW_R_UNAUTHENTICATED, "a valid API key is required", NULL);
    }
    if (e != BW_OK) {
        bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
        return bw_call_fail_with(c, 503, BW_R_STORE_UNAVAILABLE, "the key store is unavailable",
                                 NULL);
    }
    if (!c->ident.key.org_id[0]) /* an operator key: outside every org, so no tenant to bill */
        return bw_call_fail_with(c, 403, BW_R_ROLE_FORBIDDEN, "operator keys cannot call models",
                                 NULL);
    return BW_STEP_CONTINUE;
}

/* A key-cache miss: the record is read by hash on a store thread (never the key itself). */
struct identify_job {
    uint8_t hash[32];
    bw_err lookup;
    struct bw_key_record rec;
};

static void identify_run(struct bw_store *s, void *arg) {
    struct identify_job *j = arg;
    j->lookup = bw_store_key_by_hash(s, j->hash, &j->rec);
}

static enum bw_step_verdict identify_apply(struct bw_call *c, void *arg, bw_err err) {
    struct identify_job *j = arg;
    bw_err e = bw_auth_identify_finish(c->w->keys, j->hash, err != BW_OK ? err : j->lookup, &j->rec,
                                       bw_now_ms(), &c->ident.key);
    return identified(c, e);
}

/* Step 2: the bearer key, from the worker's key cache or (a miss) a store job. */
enum bw_step_verdict bw_step_identify(struct bw_call *c) {
    struct bw_gw_worker *w = c->w;
    const char *authz =
        evhttp_find_header(evhttp_request_get_input_headers(c->req), "Authorization");
    uint8_t hash[32];
    bw_err e =
        bw_auth_identify_cached(w->keys, w->gw->pepper, authz, bw_now_ms(), hash, &c->ident.key);
    if (e != BW_E_NOT_FOUND)
        return identified(c, e);
    struct identify_job *j = calloc(1, sizeof *j);
    if (!j)
        return bw_call_fail_with(c, 503, BW_R_INTERNAL, "out of memory", NULL);
    memcpy(j->hash, hash, 32);
    return bw_call_wait_job(c, identify_run, identify_apply, j, free);
}

struct bw_call *bw_call_new(struct bw_gw_worker *w, struct evhttp_request *req,
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
    bw_buf_init(&c->answer.resp, BW_MAX_UPSTREAM_BODY);
    bw_sse_init(&c->answer.sse, BW_MAX_SSE_EVENT);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close, c);
    return c;
}

void bw_call_begin(struct bw_gw_worker *w, struct evhttp_request *req, enum bw_route route) {
    struct bw_call *c = bw_call_new(w, req, route);
    if (c)
        bw_call_run(c, BW_TABLE_CALL);
}

/* The prepared table's first step: the widget built the request (body_json) and identified the
 * caller; the upstream gets its JSON, the receipt's subject stays the client's bytes. */
enum bw_step_verdict bw_step_prepared(struct bw_call *c) {
    (void)bw_step_bound(c);
    /* The receipt's subject is what the client sent, as for every other route. */
    bw_sha256(c->in.body, c->in.body_len, c->in.request_sha256);
    c->in.built_body = json_dumps(c->in.body_json, JSON_COMPACT);
    if (!c->in.built_body)
        return bw_call_fail_with(c, 503, BW_R_INTERNAL, "out of memory", NULL);
    c->in.body = (const uint8_t *)c->in.built_body;
    c->in.body_len = strlen(c->in.built_body);
    const char *problem = NULL;
    if (bw_policy_request_caps(&c->decide.view, c->in.body_json, &problem) != BW_OK)
        return bw_call_fail_with(c, 400, BW_R_INVALID_REQUEST,
                                 problem ? problem : "invalid output caps", NULL);
    return BW_STEP_CONTINUE;
}

void bw_call_begin_prepared(struct bw_gw_worker *w, struct evhttp_request *req,
                            const struct bw_call_start *s) {
    struct bw_call *c = bw_call_new(w, req, s->route);
    if (!c) {
        json_decref(s->body_json);
        if (s->hooks->cleanup)
            s->hooks->cleanup(s->hook_arg);
        return;
    }
    c->hooks = s->hooks; /* from here the call's end releases what the caller handed over */
    c->hook_arg = s->hook_arg;
    c->in.body_json = s->body_json;
    c->ident.key = *s->caller;
    snprintf(c->in.model, sizeof c->in.model, "%s", s->model);
    bw_call_run(c, BW_TABLE_PREPARED);
}
