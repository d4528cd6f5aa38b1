/* api_billing.c: billing webhooks (Stripe and Standard Webhooks signatures), the caller's
 * budget, and usage export. docs/SPEND.md is the reference.
 *
 * POST /api/v1/webhooks/billing (public; authenticated by signature). Order, and why:
 *   1. bound, verify the signature and timestamp, parse the event;
 *   2. a recorded event id answers 200 "duplicate" (nothing twice), an event older than the
 *      org's state is recorded as "stale" (200, no effect, no receipt);
 *   3. the admin receipt is appended and made durable FIRST;
 *   4. only then one IMMEDIATE transaction re-checks the id, writes the new state and the
 *      event id together, and commits; then the reply (200 with the receipt id).
 * The ledger failing means nothing was committed (503, the sender retries). The store failing
 * after a durable receipt answers 503: the receipt then records a decision whose effect did not
 * land; the sender's retry applies it once and records a second receipt with the same event id
 * (receipts are evidence of decisions; the event id in `rule` ties them together). Holding a
 * SQLite write transaction across the asynchronous ledger wait would block every other writer
 * of the database for the whole group commit, so the order is receipt-then-commit. */
#include "api/api.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/ledger.h"
#include "limits/limits.h"
#include "reason/reasons.h"
#include "util/codec.h"
#include "util/json.h"
#include "util/log.h"
#include "util/text.h"
#include "util/time.h"
#include "webhook/billing.h"

#define WEBHOOK_JSON_DEPTH 64
#define MAX_EVENT_ID 63 /* fits the receipt's rule field */
#define INFLIGHT_SLOTS 64
#define USAGE_MAX_ROWS 10000

/* ---- event ids being processed (a parallel duplicate delivery gets 409 and is retried) ---- */

/* Shared by every event worker: inflight_ids is read and written only with inflight_mu held. */
static pthread_mutex_t inflight_mu = PTHREAD_MUTEX_INITIALIZER;
static char inflight_ids[INFLIGHT_SLOTS][MAX_EVENT_ID + 16];

/* 1: claimed; 0: already in flight; -1: table full */
static int inflight_claim(const char *id) {
    int free_slot = -1, result = 1;
    pthread_mutex_lock(&inflight_mu);
    for (int i = 0; i < INFLIGHT_SLOTS; i++) {
        if (inflight_ids[i][0] == 0) {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(inflight_ids[i], id) == 0) {
            result = 0;
        }
    }
    if (result == 1 && free_slot < 0)
        result = -1;
    if (result == 1)
        snprintf(inflight_ids[free_slot], sizeof inflight_ids[free_slot], "%s", id);
    pthread_mutex_unlock(&inflight_mu);
    return result;
}

static void inflight_release(const char *id) {
    pthread_mutex_lock(&inflight_mu);
    for (int i = 0; i < INFLIGHT_SLOTS; i++)
        if (strcmp(inflight_ids[i], id) == 0)
            inflight_ids[i][0] = 0;
    pthread_mutex_unlock(&inflight_mu);
}

/* ---- the event ---- */

struct event_info {
    char qualified_id[MAX_EVENT_ID + 16]; /* "stripe:<id>" / "standard:<id>" */
    char id[MAX_EVENT_ID + 1];
    char type[32];
    int64_t created;
    char org_name[64];
    char plan[32];
};

static int printable(const char *s, size_t max) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    return bw_text_visible_unquoted(s, n);
}

/* metadata.<key> of data.object, or of data.object.subscription_details (invoices). */
static const char *meta(const json_t *root, const char *key) {
    const json_t *obj = json_object_get(json_object_get(root, "data"), "object");
    const char *v = bw_json_str(json_object_get(obj, "metadata"), key);
    if (!v)
        v = bw_json_str(json_object_get(json_object_get(obj, "subscription_details"), "metadata"),
                        key);
    return v;
}

/* Extracts what Bulwark uses. BW_E_INVALID if the event itself is malformed. */
static bw_err parse_event(const json_t *root, enum bw_webhook_scheme scheme, const char *msg_id,
                          struct event_info *ev) {
    memset(ev, 0, sizeof *ev);
    const char *id = scheme == BW_WEBHOOK_STRIPE ? bw_json_str(root, "id") : msg_id;
    const char *type = bw_json_str(root, "type");
    const json_t *created = json_object_get(root, "created");
    if (!printable(id, MAX_EVENT_ID) || !printable(type, sizeof ev->type - 1) ||
        !json_is_integer(created) || json_integer_value(created) < 0 ||
        json_integer_value(created) > 99999999999LL)
        return BW_E_INVALID;
    snprintf(ev->id, sizeof ev->id, "%s", id);
    snprintf(ev->qualified_id, sizeof ev->qualified_id, "%s:%s",
             scheme == BW_WEBHOOK_STRIPE ? "stripe" : "standard", id);
    snprintf(ev->type, sizeof ev->type, "%s", type);
    ev->created = json_integer_value(created);
    const char *org = meta(root, "bulwark_org");
    const char *plan = meta(root, "bulwark_plan");
    if (org && printable(org, sizeof ev->org_name - 1))
        snprintf(ev->org_name, sizeof ev->org_name, "%s", org);
    if (plan && printable(plan, sizeof ev->plan - 1))
        snprintf(ev->plan, sizeof ev->plan, "%s", plan);
    return BW_OK;
}

/* ---- pending webhook (waiting for its receipt) ---- */

struct pending {
    struct evhttp_request *req;
    struct bw_gateway *gw;
    struct bw_store *store; /* the job's connection: the completion runs on the same thread */
    struct event_info ev;
    struct bw_billing_state state;
};

static void reply_status(struct evhttp_request *req, const char *status,
                         const struct event_info *ev, const char *receipt_id) {
    json_t *o =
        json_pack("{s:s, s:s, s:s}", "status", status, "event_id", ev->id, "type", ev->type);
    if (o && receipt_id && *receipt_id) {
        json_object_set_new(o, "receipt_id", json_string(receipt_id));
        bw_http_add_receipt_headers(req, receipt_id, NULL);
    }
    bw_api_reply(req, 200, o);
}

static void on_receipt_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)leaf;
    struct pending *p = arg;
    if (err != BW_OK) {
        bw_error("billing: admin receipt for an event not recorded: %s", bw_err_str(err));
        bw_http_reply_error(p->req, 503, BW_R_LEDGER_UNAVAILABLE,
                            "the receipt could not be made durable: nothing was applied", NULL,
                            NULL);
        goto out;
    }
    char rid[32];
    bw_ledger_receipt_id(p->gw->ledger, index, rid);
    struct bw_billing_event be = {p->ev.qualified_id, p->state.org_id, p->ev.type, p->ev.created,
                                  rid};
    enum bw_billing_outcome o;
    if (bw_store_billing_apply(p->store, &be, &p->state, &o) != BW_OK) {
        bw_error("billing: event %s: store write failed after receipt %s", p->ev.qualified_id, rid);
        bw_http_reply_error(p->req, 503, BW_R_STORE_UNAVAILABLE,
                            "the billing state could not be written; retry", rid, NULL);
        goto out;
    }
    if (o == BW_BILLING_APPLIED) {
        struct bw_limits *l = bw_billing_limits();
        if (l && bw_limits_budget_set(l, p->state.org_id, "", p->state.monthly_tokens,
                                      p->state.monthly_cost_micros) != BW_OK)
            bw_error("billing: event %s applied but the in-memory budget was not updated",
                     p->ev.qualified_id);
        bw_info("billing: event %s (%s) applied: org %s plan %s, receipt %s", p->ev.qualified_id,
                p->ev.type, p->state.org_id, p->state.plan, rid);
    }
    reply_status(p->req,
                 o == BW_BILLING_APPLIED     ? "applied"
                 : o == BW_BILLING_DUPLICATE ? "duplicate"
                                             : "stale",
                 &p->ev, rid);
out:
    inflight_release(p->ev.qualified_id);
    atomic_fetch_sub(&p->gw->inflight, 1);
    free(p);
}

/* Records an event that changes nothing (unknown type, org or plan; stale) and answers 200. */
static void record_only(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                        const struct event_info *ev, const char *org_id, const char *status) {
    struct bw_billing_event be = {ev->qualified_id, org_id, ev->type, ev->created, ""};
    enum bw_billing_outcome o;
    if (bw_store_billing_apply(ctx->store, &be, NULL, &o) != BW_OK) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return;
    }
    reply_status(req, o == BW_BILLING_DUPLICATE ? "duplicate" : status, ev, NULL);
}

static const char *header(struct evhttp_request *req, const char *name) {
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* Decides the new state for an event, or answers (ignored / stale / errors) and returns 0. */
static int plan_for_event(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                          const struct event_info *ev, struct bw_billing_state *st) {
    const struct bw_config *cfg = ctx->gw->cfg;
    int is_paid = strcmp(ev->type, "invoice.paid") == 0;
    int is_updated = strcmp(ev->type, "customer.subscription.updated") == 0 ||
                     strcmp(ev->type, "customer.subscription.created") == 0;
    int is_deleted = strcmp(ev->type, "customer.subscription.deleted") == 0;
    if (!is_paid && !is_updated && !is_deleted) {
        record_only(ctx, req, ev, "", "ignored");
        return 0;
    }
    memset(st, 0, sizeof *st);
    bw_err e = ev->org_name[0] ? bw_store_org_by_name(ctx->store, ev->org_name, st->org_id)
                               : BW_E_NOT_FOUND;
    if (e == BW_E_NOT_FOUND) {
        bw_warn("billing: event %s names no known org (metadata.bulwark_org): ignored",
                ev->qualified_id);
        record_only(ctx, req, ev, "", "ignored");
        return 0;
    }
    if (e != BW_OK) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return 0;
    }
    struct bw_billing_state cur;
    e = bw_store_billing_get(ctx->store, st->org_id, &cur);
    if (e != BW_OK && e != BW_E_NOT_FOUND) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return 0;
    }
    if (e == BW_OK && cur.event_created > ev->created) {
        record_only(ctx, req, ev, st->org_id, "stale");
        return 0;
    }
    const char *plan_name = is_deleted                ? cfg->billing_free_plan
                            : ev->plan[0]             ? ev->plan
                            : (is_paid && e == BW_OK) ? cur.plan
                                                      : NULL;
    const struct bw_plan_config *plan = plan_name ? bw_config_plan(cfg, plan_name) : NULL;
    if (!plan && !is_deleted) {
        bw_warn("billing: event %s names no configured plan (metadata.bulwark_plan): ignored",
                ev->qualified_id);
        record_only(ctx, req, ev, st->org_id, "ignored");
        return 0;
    }
    snprintf(st->plan, sizeof st->plan, "%.31s", plan_name);
    /* a deleted subscription with no free plan configured leaves no budget at all */
    st->monthly_tokens = plan ? plan->limits.monthly_tokens : 0;
    st->monthly_cost_micros = plan ? plan->limits.monthly_cost_micros : 0;
    st->event_created = ev->created;
    snprintf(st->event_id, sizeof st->event_id, "%s", ev->qualified_id);
    st->updated_ms = bw_now_ms();
    return 1;
}

static void webhook(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    (void)rest;
    (void)caller;
    const struct bw_config *cfg = ctx->gw->cfg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > cfg->billing_max_body_bytes) {
        bw_http_reply_error(req, 413, BW_R_WEBHOOK_BODY_TOO_LARGE,
                            "webhook body over billing.max_body_bytes", NULL, NULL);
        return;
    }
    const uint8_t *body = len ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
    if (!body) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    const char *stripe_sig = header(req, "Stripe-Signature");
    const char *std_sig = header(req, "webhook-signature");
    const char *std_id = header(req, "webhook-id");
    if ((stripe_sig != NULL) == (std_sig != NULL)) {
        bw_http_reply_error(req, 400, BW_R_WEBHOOK_HEADER_MALFORMED,
                            "expected exactly one of Stripe-Signature or webhook-signature", NULL,
                            NULL);
        return;
    }
    enum bw_webhook_scheme scheme = stripe_sig ? BW_WEBHOOK_STRIPE : BW_WEBHOOK_STANDARD;
    const char *reason = BW_R_WEBHOOK_SIGNATURE_INVALID;
    bw_err e = bw_billing_verify(cfg, scheme, stripe_sig, std_id, header(req, "webhook-timestamp"),
                                 std_sig, body, len, bw_now_ms() / 1000, &reason);
    if (e != BW_OK) {
        int status = e == BW_E_INVALID ? 400 : e == BW_E_UNAUTH ? 401 : 503;
        const char *msg = status == 400   ? "malformed webhook signature headers"
                          : status == 401 ? "webhook signature or timestamp rejected"
                                          : "billing webhooks are not configured";
        if (e != BW_E_INVALID && e != BW_E_UNAUTH && e != BW_E_UNAVAILABLE)
            reason = BW_R_INTERNAL;
        bw_http_reply_error(req, status, reason, msg, NULL, NULL);
        return;
    }
    json_t *root = NULL;
    char why[128];
    struct event_info ev;
    if (bw_json_parse((const char *)body, len, WEBHOOK_JSON_DEPTH, &root, why, sizeof why) !=
            BW_OK ||
        parse_event(root, scheme, std_id, &ev) != BW_OK) {
        json_decref(root);
        bw_http_reply_error(req, 400, BW_R_WEBHOOK_PAYLOAD_INVALID,
                            "the event needs id, type (string) and created (integer)", NULL, NULL);
        return;
    }
    json_decref(root);
    if (atomic_load(&ctx->gw->stopping)) {
        bw_http_reply_error(req, 503, BW_R_SHUTTING_DOWN, "gateway is shutting down", NULL, NULL);
        return;
    }
    char outcome[16];
    e = bw_store_billing_event_seen(ctx->store, ev.qualified_id, outcome);
    if (e == BW_OK) {
        reply_status(req, "duplicate", &ev, NULL);
        return;
    }
    if (e != BW_E_NOT_FOUND) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return;
    }
    int claim = inflight_claim(ev.qualified_id);
    if (claim <= 0) {
        bw_http_reply_error(req, claim == 0 ? 409 : 503,
                            claim == 0 ? BW_R_WEBHOOK_IN_PROGRESS : BW_R_INTERNAL,
                            "this event is being processed; retry", NULL, NULL);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        inflight_release(ev.qualified_id);
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    p->req = req;
    p->gw = ctx->gw;
    p->store = ctx->store;
    p->ev = ev;
    if (!plan_for_event(ctx, req, &ev, &p->state)) {
        inflight_release(ev.qualified_id);
        free(p);
        return;
    }
    struct bw_receipt r;
    bw_receipt_init(&r, BW_RECEIPT_ADMIN);
    r.time_ms = bw_now_ms();
    snprintf(r.org_id, sizeof r.org_id, "%s", p->state.org_id);
    snprintf(r.principal, sizeof r.principal, "webhook:%s",
             scheme == BW_WEBHOOK_STRIPE ? "stripe" : "standard");
    snprintf(r.route, sizeof r.route, "%s", ev.type);
    snprintf(r.decision, sizeof r.decision, "apply");
    snprintf(r.reason, sizeof r.reason, "%s", BW_R_BILLING_EVENT_APPLIED);
    snprintf(r.rule, sizeof r.rule, "%s", ev.id);
    snprintf(r.status, sizeof r.status, "%s", p->state.plan);
    bw_sha256(body, len, r.request_sha256);
    r.has_policy = 1;
    memcpy(r.policy_sha256, cfg->sha256, 32);
    atomic_fetch_add(&ctx->gw->inflight, 1);
    bw_api_ledger_append(ctx, &r, on_receipt_durable, p);
}

/* ---- GET /api/v1/budget ---- */

static void budget(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                   const struct bw_key_record *caller) {
    (void)rest;
    struct bw_budget_limits lim;
    char plan[32];
    const char *source = "none";
    int64_t now = bw_now_ms();
    int32_t month = bw_limits_month_of(now);
    int64_t tokens = 0, cost = 0;
    if (bw_billing_org_limits(ctx->gw->cfg, ctx->store, caller->org_id, caller->org_name, &lim,
                              plan, &source) != BW_OK ||
        bw_store_usage_month_org(ctx->store, caller->org_id, month, &tokens, &cost) != BW_OK) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return;
    }
    char month_text[BW_MONTH_LABEL_SIZE];
    bw_month_label(month, month_text);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "org_id", caller->org_id, "org",
        caller->org_name, "month", month_text, "plan", plan, "source", source, "monthly_tokens",
        (json_int_t)lim.monthly_tokens, "monthly_cost_micros", (json_int_t)lim.monthly_cost_micros,
        "spent_tokens", (json_int_t)tokens, "spent_cost_micros", (json_int_t)cost);
    struct bw_limits *l = bw_billing_limits();
    struct bw_limits_budget_state bs;
    if (o && l && bw_limits_budget_get(l, caller->org_id, "", now, &bs) == BW_OK) {
        json_object_set_new(o, "reserved_tokens", json_integer(bs.reserved_tokens));
        json_object_set_new(o, "reserved_cost_micros", json_integer(bs.reserved_cost_micros));
    }
    bw_api_reply(req, 200, o);
}

/* ---- GET /api/v1/usage ---- */

/* Unix ms, or YYYY-MM-DD (UTC midnight). */
static int parse_time(const char *s, int64_t *out) {
    size_t n = strlen(s);
    if (n == 10 && s[4] == '-' && s[7] == '-') {
        int64_t y = 0, m = 0, d = 0;
        for (size_t i = 0; i < 10; i++) {
            if (i == 4 || i == 7)
                continue;
            if (s[i] < '0' || s[i] > '9')
                return -1;
            int64_t *t = i < 4 ? &y : i < 7 ? &m : &d;
            *t = *t * 10 + (s[i] - '0');
        }
        if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
            return -1;
        struct tm tm = {0};
        tm.tm_year = (int)(y - 1900);
        tm.tm_mon = (int)(m - 1);
        tm.tm_mday = (int)d;
        time_t t = timegm(&tm);
        if (t == (time_t)-1)
            return -1;
        *out = (int64_t)t * 1000;
        return 0;
    }
    if (n == 0 || n > 15)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

struct usage_out {
    json_t *rows;         /* JSON */
    struct evbuffer *csv; /* CSV */
    enum bw_usage_group group;
};

/* CSV field: quoted, quotes doubled; a leading = + - @ gets a ' so spreadsheets do not run it */
static void csv_field(struct evbuffer *b, const char *s) {
    evbuffer_add(b, "\"", 1);
    if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')
        evbuffer_add(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            evbuffer_add(b, "\"\"", 2);
        else if ((unsigned char)*p >= 0x20)
            evbuffer_add(b, p, 1);
    }
    evbuffer_add(b, "\"", 1);
}

static int usage_row(void *arg, const struct bw_usage_row *row) {
    struct usage_out *u = arg;
    if (u->csv) {
        csv_field(u->csv, row->group);
        evbuffer_add_printf(u->csv, ",%lld,%lld,%lld,%lld,%lld\r\n", (long long)row->calls,
                            (long long)row->prompt_tokens, (long long)row->completion_tokens,
                            (long long)row->total_tokens, (long long)row->cost_micros);
        return 0;
    }
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I}", "calls", (json_int_t)row->calls, "prompt_tokens",
        (json_int_t)row->prompt_tokens, "completion_tokens", (json_int_t)row->completion_tokens,
        "total_tokens", (json_int_t)row->total_tokens, "cost_micros", (json_int_t)row->cost_micros);
    if (!o)
        return -1;
    if (u->group != BW_USAGE_BY_NONE)
        json_object_set_new(o, "group", json_string(row->group));
    return json_array_append_new(u->rows, o);
}

static void usage(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                  const struct bw_key_record *caller) {
    (void)rest;
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    const char *query = bw_api_query_string(req);
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, "malformed query string", NULL, NULL);
        return;
    }
    int64_t now = bw_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    int64_t from = (int64_t)timegm(&tm) * 1000, to = now + 1;
    enum bw_usage_group group = BW_USAGE_BY_NONE;
    int csv = 0, bad = 0;
    for (struct evkeyval *kv = q.tqh_first; kv && !bad; kv = kv->next.tqe_next) {
        if (strcmp(kv->key, "from") == 0)
            bad = parse_time(kv->value, &from) != 0;
        else if (strcmp(kv->key, "to") == 0)
            bad = parse_time(kv->value, &to) != 0;
        else if (strcmp(kv->key, "group_by") == 0) {
            if (strcmp(kv->value, "model") == 0)
                group = BW_USAGE_BY_MODEL;
            else if (strcmp(kv->value, "agent") == 0)
                group = BW_USAGE_BY_AGENT;
            else if (strcmp(kv->value, "day") == 0)
                group = BW_USAGE_BY_DAY;
            else if (strcmp(kv->value, "none") != 0)
                bad = 1;
        } else if (strcmp(kv->key, "format") == 0) {
            csv = strcmp(kv->value, "csv") == 0;
            bad = !csv && strcmp(kv->value, "json") != 0;
        } else {
            bad = 1;
        }
    }
    evhttp_clear_headers(&q);
    if (bad || from >= to) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "usage query: from, to (unix ms or YYYY-MM-DD), group_by "
                            "(model|agent|day|none), format (json|csv)",
                            NULL, NULL);
        return;
    }
    struct usage_out u = {NULL, NULL, group};
    if (csv) {
        u.csv = evbuffer_new();
        if (u.csv)
            evbuffer_add_printf(u.csv, "group,calls,prompt_tokens,completion_tokens,total_tokens,"
                                       "cost_micros\r\n");
    } else {
        u.rows = json_array();
    }
    bw_err e = (u.csv || u.rows) ? bw_store_usage_query(ctx->store, caller->org_id, from, to, group,
                                                        USAGE_MAX_ROWS, usage_row, &u)
                                 : BW_E_NOMEM;
    if (e != BW_OK) {
        json_decref(u.rows);
        if (u.csv)
            evbuffer_free(u.csv);
        bw_http_reply_error(req, e == BW_E_TOO_LARGE ? 400 : 503,
                            e == BW_E_TOO_LARGE ? BW_R_INVALID_REQUEST : BW_R_STORE_UNAVAILABLE,
                            e == BW_E_TOO_LARGE ? "too many rows: narrow the range"
                                                : "the store is unavailable",
                            NULL, NULL);
        return;
    }
    if (csv) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Content-Type", "text/csv; charset=utf-8");
        bw_http_send(req, 200, u.csv);
        evbuffer_free(u.csv);
        return;
    }
    const char *gname = group == BW_USAGE_BY_MODEL   ? "model"
                        : group == BW_USAGE_BY_AGENT ? "agent"
                        : group == BW_USAGE_BY_DAY   ? "day"
                                                     : "none";
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:s, s:o}", "org_id", caller->org_id, "from", (json_int_t)from,
                  "to", (json_int_t)to, "group_by", gname, "rows", u.rows);
    bw_api_reply(req, 200, o);
}

const struct bw_api_route bw_api_routes_billing[] = {
    {EVHTTP_REQ_POST, "/api/v1/webhooks/billing", BW_API_PUBLIC, webhook},
    {EVHTTP_REQ_GET, "/api/v1/budget", BW_API_ANY_KEY, budget},
    {EVHTTP_REQ_GET, "/api/v1/usage", BW_API_ADMIN, usage},
    {0, NULL, BW_API_PUBLIC, NULL},
};
