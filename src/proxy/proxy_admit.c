/* proxy_admit.c: step 3 (admit) and step 8 (settle) of DESIGN.md: rate limits, the org's
 * in-flight cap, and the monthly budget reservation, before the decision receipt; settlement
 * with the real usage and metering when the answer ends (docs/SPEND.md).
 *
 * A refusal here is a decision like any other: it gets a deny receipt with its reason code
 * (RATE_LIMITED, CONCURRENCY_LIMITED, BUDGET_EXHAUSTED, ...) and nothing is forwarded. What a
 * call took (a reservation, an in-flight slot, tokens from the buckets) is given back exactly
 * once: settled when the upstream answered, cancelled and refunded otherwise. */
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits/limits.h"
#include "policy/reasons.h"
#include "proxy/proxy_internal.h"
#include "util/log.h"
#include "util/time.h"

#define TOK_KEY 1
#define TOK_AGENT 2
#define TOK_ORG 4

static int rate_on(const struct bw_rate_config *r) {
    return r->per_minute > 0;
}

static struct bw_limits_rate rate_of(const struct bw_rate_config *r) {
    struct bw_limits_rate x = {r->per_minute, r->burst > 0 ? r->burst : r->per_minute};
    return x;
}

/* Bucket names per docs/SPEND.md: distinct prefixes per kind of limit. */
static void bucket(char *out, size_t size, const char *kind, const struct bw_call *c) {
    if (kind[1] == 'k')
        snprintf(out, size, "%s:%s", kind, c->key.id);
    else if (kind[1] == 'a')
        snprintf(out, size, "%s:%s/%s", kind, c->key.org_id, c->key.agent);
    else
        snprintf(out, size, "%s:%s", kind, c->key.org_id);
}

static void refuse(struct bw_call *c, const char *reason, int status, int64_t retry_after_ms) {
    struct bw_policy_decision *d = &c->decision;
    memset(d, 0, sizeof *d);
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    snprintf(d->rule, sizeof d->rule, "limits");
    d->http_status = status;
    memcpy(d->policy_sha256, c->w->gw->cfg->sha256, 32);
    c->retry_after_ms = retry_after_ms;
    c->admission_refused = 1;
}

/* Takes one unit from each configured request bucket; a miss refuses with Retry-After. A
 * widget call's principal is its widget ("widget:<agent id>"): its per-key bucket has the
 * widget's own, public-facing rate (widget.requests_*), and the agent and org buckets apply as
 * to every call of the agent. */
static int take_requests(struct bw_call *c, struct bw_limits *l, int64_t now_us) {
    const struct bw_config *cfg = c->w->gw->cfg;
    const struct {
        const char *kind;
        const struct bw_rate_config *rate;
        int needs_agent;
    } kinds[] = {
        {"rk", c->route == BW_ROUTE_WIDGET ? &cfg->widget_requests : &cfg->key_requests, 0},
        {"ra", &cfg->agent_requests, 1},
        {"ro", &cfg->org_requests, 0}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (!rate_on(kinds[i].rate) || (kinds[i].needs_agent && !c->key.agent[0]))
            continue;
        char key[BW_LIMITS_KEY_MAX];
        bucket(key, sizeof key, kinds[i].kind, c);
        struct bw_limits_rate r = rate_of(kinds[i].rate);
        int64_t retry = 0;
        bw_err e = bw_limits_take(l, key, &r, 1, now_us, &retry);
        if (e == BW_E_LIMIT) {
            refuse(c, BW_R_RATE_LIMITED, 429, retry);
            return -1;
        }
        if (e != BW_OK) {
            refuse(c, BW_R_LIMITS_UNAVAILABLE, 503, 0);
            return -1;
        }
    }
    return 0;
}

static const struct bw_rate_config *token_rate(const struct bw_config *cfg, int bit) {
    return bit == TOK_KEY     ? &cfg->key_tokens
           : bit == TOK_AGENT ? &cfg->agent_tokens
                              : &cfg->org_tokens;
}

static const char *token_kind(int bit) {
    return bit == TOK_KEY ? "tk" : bit == TOK_AGENT ? "ta" : "to";
}

static void refund_tokens(struct bw_call *c, int64_t n) {
    struct bw_limits *l = c->w->gw->limits;
    for (int bit = TOK_KEY; bit <= TOK_ORG; bit <<= 1) {
        if (!(c->tok_taken & bit) || n <= 0)
            continue;
        char key[BW_LIMITS_KEY_MAX];
        bucket(key, sizeof key, token_kind(bit), c);
        struct bw_limits_rate r = rate_of(token_rate(c->w->gw->cfg, bit));
        bw_limits_refund(l, key, &r, n, bw_mono_us());
    }
}

/* Takes the worst case from each configured token bucket. */
static int take_tokens(struct bw_call *c, struct bw_limits *l, int64_t worst, int64_t now_us) {
    const struct bw_config *cfg = c->w->gw->cfg;
    for (int bit = TOK_KEY; bit <= TOK_ORG; bit <<= 1) {
        if (!rate_on(token_rate(cfg, bit)) || (bit == TOK_AGENT && !c->key.agent[0]))
            continue;
        char key[BW_LIMITS_KEY_MAX];
        bucket(key, sizeof key, token_kind(bit), c);
        struct bw_limits_rate r = rate_of(token_rate(cfg, bit));
        int64_t retry = 0;
        bw_err e = bw_limits_take(l, key, &r, worst, now_us, &retry);
        if (e != BW_OK) {
            /* retry is -1 when the worst case exceeds the bucket's size: it never fits. */
            if (e == BW_E_LIMIT)
                refuse(c, BW_R_RATE_LIMITED, 429, retry);
            else
                refuse(c, BW_R_LIMITS_UNAVAILABLE, 503, 0);
            return -1;
        }
        c->tok_taken |= bit;
    }
    return 0;
}

static int64_t request_max_tokens(const json_t *body) {
    json_t *m = json_object_get(body, "max_tokens");
    if (!json_is_integer(m))
        m = json_object_get(body, "max_completion_tokens");
    return json_is_integer(m) && json_integer_value(m) >= 0 ? json_integer_value(m) : -1;
}

static int reserve_budget(struct bw_call *c, struct bw_limits *l) {
    const struct bw_config *cfg = c->w->gw->cfg;
    const struct bw_price_config *pc = bw_config_price(cfg, c->model);
    struct bw_limits_price price = {pc ? pc->prompt_per_1m_micros : 0,
                                    pc ? pc->completion_per_1m_micros : 0};
    /* The prompt estimate reads the whole request body: an over-estimate of its text, settled
     * to the real usage when the answer ends. */
    struct bw_limits_call call = {
        .org = c->key.org_id,
        .agent = c->key.agent,
        .prompt_tokens = bw_limits_estimate_prompt_tokens(c->body_len),
        .max_tokens = c->route == BW_ROUTE_EMBEDDINGS ? 0 : request_max_tokens(c->body_json),
        .default_max_tokens = cfg->default_max_tokens,
        .price = pc ? &price : NULL,
        .allow_clamp = cfg->clamp_max_tokens,
    };
    struct bw_limits_verdict v;
    memset(&v, 0, sizeof v);
    bw_err e = bw_limits_reserve(l, &call, bw_now_ms(), &c->reservation, &v);
    if (e != BW_OK) {
        c->reservation = NULL;
        int status = e == BW_E_LIMIT ? 429 : e == BW_E_DENIED ? 403 : e == BW_E_INVALID ? 400 : 503;
        refuse(c, v.reason ? v.reason : BW_R_LIMITS_UNAVAILABLE, status, e == BW_E_LIMIT ? -1 : 0);
        return -1;
    }
    c->worst_tokens = v.worst_tokens;
    c->prompt_estimate = call.prompt_tokens;
    c->worst_cost_micros = pc ? v.worst_cost_micros : -1;
    /* A stream is cut off past its reservation only when a finite budget is at stake. */
    struct bw_limits_budget_state org;
    if (bw_limits_budget_get(l, c->key.org_id, "", bw_now_ms(), &org) == BW_OK &&
        (org.max_tokens >= 0 || org.max_cost_micros >= 0))
        c->cap_tokens = v.worst_tokens - call.prompt_tokens;
    if (v.clamped && c->body_json) {
        /* The budget fits less than asked: forward the cap the reservation holds. */
        json_object_set_new(c->body_json, "max_tokens", json_integer(v.max_tokens));
        json_object_del(c->body_json, "max_completion_tokens");
        c->body_modified = 1;
    }
    return 0;
}

int bw_call_admit(struct bw_call *c) {
    struct bw_limits *l = c->w->gw->limits;
    c->worst_cost_micros = -1;
    if (!l || c->route == BW_ROUTE_MODELS)
        return 0;
    int64_t now_us = bw_mono_us();
    if (take_requests(c, l, now_us) != 0)
        return -1;
    int64_t cap = c->w->gw->cfg->org_max_concurrent;
    if (cap > 0) {
        if (bw_limits_inflight_acquire(l, c->key.org_id, cap) != BW_OK) {
            refuse(c, BW_R_CONCURRENCY_LIMITED, 429, 1000);
            return -1;
        }
        c->inflight_held = 1;
    }
    if (reserve_budget(c, l) != 0 || take_tokens(c, l, c->worst_tokens, now_us) != 0) {
        bw_call_release_admission(c);
        return -1;
    }
    return 0;
}

void bw_call_release_admission(struct bw_call *c) {
    struct bw_limits *l = c->w->gw->limits;
    if (!l)
        return;
    if (c->reservation) {
        bw_limits_cancel(l, c->reservation);
        c->reservation = NULL;
    }
    refund_tokens(c, c->worst_tokens);
    c->tok_taken = 0;
    if (c->inflight_held) {
        bw_limits_inflight_release(l, c->key.org_id);
        c->inflight_held = 0;
    }
}

/* What to charge when the upstream reported no usage (marked estimated): for a stream, the
 * prompt estimate plus what it produced (the larger of one token per delta event and bytes/4,
 * both estimates that tend high); for anything else the worst case reserved, never less than
 * what may have been produced. */
static void estimate_usage(const struct bw_call *c, int64_t *prompt, int64_t *completion) {
    if (c->streaming) {
        int64_t by_bytes = (c->stream_bytes + 3) / 4;
        *prompt = c->prompt_estimate;
        *completion = c->stream_units > by_bytes ? c->stream_units : by_bytes;
    } else {
        *prompt = c->worst_tokens;
        *completion = 0;
    }
}

/* Settles a forwarded call: the real usage, or the estimate above, is charged; unused tokens go
 * back. The settled numbers are kept on c for the outcome receipt. */
int64_t bw_call_settle(struct bw_call *c, struct bw_usage_record *u) {
    struct bw_limits *l = c->w->gw->limits;
    int64_t prompt = c->prompt_tokens, completion = c->completion_tokens;
    if (!c->has_usage)
        estimate_usage(c, &prompt, &completion);
    int64_t cost = 0;
    int32_t month = bw_limits_month_of(bw_now_ms());
    if (l && c->reservation) {
        month = bw_limits_reservation_month(c->reservation);
        bw_limits_settle(l, c->reservation, prompt, completion, &cost);
        c->reservation = NULL;
        int64_t unused = c->worst_tokens - (prompt + completion);
        refund_tokens(c, unused);
        c->tok_taken = 0;
    }
    if (l && c->inflight_held) {
        bw_limits_inflight_release(l, c->key.org_id);
        c->inflight_held = 0;
    }
    c->settled = 1;
    c->usage_estimated = !c->has_usage;
    c->settled_prompt = prompt;
    c->settled_completion = completion;
    c->cost_micros = cost;
    if (u) {
        memset(u, 0, sizeof *u);
        snprintf(u->org_id, sizeof u->org_id, "%s", c->key.org_id);
        snprintf(u->agent, sizeof u->agent, "%s", c->key.agent);
        snprintf(u->key_id, sizeof u->key_id, "%s", c->key.id);
        snprintf(u->model, sizeof u->model, "%s", c->model);
        u->prompt_tokens = prompt;
        u->completion_tokens = completion;
        u->total_tokens = prompt + completion;
        u->cost_micros = cost;
        u->estimated = c->usage_estimated;
        u->started_ms = c->start_ms;
        u->ended_ms = bw_now_ms();
        u->month = month;
        snprintf(u->receipt_id, sizeof u->receipt_id, "%s", c->receipt_id);
        /* Receipt ids are unique per log and logs per replica: no random id needed. */
        snprintf(u->id, sizeof u->id, "use_%s", c->receipt_id);
    }
    return cost;
}

void bw_call_add_retry_after(struct bw_call *c) {
    if (c->retry_after_ms == 0)
        return;
    char v[32];
    int64_t s = c->retry_after_ms < 0 ? 60 : (c->retry_after_ms + 999) / 1000;
    snprintf(v, sizeof v, "%lld", (long long)(s > 0 ? s : 1));
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", v);
}
