/* proxy_admit.c: step 3 (admit) and step 8 (settle) of DESIGN.md: rate limits, the org's
 * in-flight cap, and the monthly budget reservation, before the decision receipt; settlement
 * with the real usage and metering when the answer ends (docs/SPEND.md).
 *
 * A refusal here is a decision like any other: it gets a deny receipt with its reason code
 * (RATE_LIMITED, CONCURRENCY_LIMITED, BUDGET_EXHAUSTED, ...) and nothing is forwarded. What a
 * call took (a reservation, an in-flight slot, tokens from the buckets) is given back exactly
 * once: settled when the upstream answered, cancelled and refunded otherwise.
 *
 * Several replicas on one PostgreSQL (gw->lease set): the same admission runs against what this
 * replica holds of the shared budgets and buckets (limits.h, leased mode). A call that finds the
 * holding short leases more on its worker's store handle and tries again; a database that cannot
 * be reached then denies it with LIMITS_UNAVAILABLE (fail closed: never admitted on credit). */
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/outbox.h"
#include "http/reply.h"
#include "limits/lease.h"
#include "limits/limits.h"
#include "proxy/proxy_internal.h"
#include "reason/reasons.h"
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
        snprintf(out, size, "%s:%s", kind, c->ident.key.id);
    else if (kind[1] == 'a')
        snprintf(out, size, "%s:%s/%s", kind, c->ident.key.org_id, c->ident.key.agent);
    else
        snprintf(out, size, "%s:%s", kind, c->ident.key.org_id);
}

/* What an admission refusal tells the client (fixed text: never request content). */
static const char *refusal_message(const char *reason, int64_t retry_after_ms) {
    static const struct {
        const char *reason, *message;
    } messages[] = {
        {BW_R_BUDGET_EXHAUSTED, "the call's worst case (estimated prompt + max_tokens x n) does "
                                "not fit this month's remaining budget; lower max_tokens or n"},
        {BW_R_BUDGET_UNBOUNDED, "a budget applies and the call's worst case is unbounded: it "
                                "has no max_tokens or max_completion_tokens (set one), or a "
                                "file part (whose prompt tokens the gateway cannot bound)"},
        {BW_R_PRICE_UNKNOWN, "a cost budget applies and the model has no price"},
        {BW_R_CONCURRENCY_LIMITED, "too many calls of this org are in flight; retry shortly"},
        {BW_R_LIMITS_UNAVAILABLE, "the limits are unavailable; nothing was forwarded"},
        {BW_R_INVALID_REQUEST, "the request's output caps could not be read"},
    };
    if (strcmp(reason, BW_R_RATE_LIMITED) == 0)
        return retry_after_ms < 0 ? "the call's worst case is larger than a token rate limit "
                                    "allows; lower max_tokens or n"
                                  : "a rate limit is exhausted; retry after Retry-After";
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
        if (strcmp(reason, messages[i].reason) == 0)
            return messages[i].message;
    return NULL;
}

static void refuse(struct bw_call *c, const char *reason, int status, int64_t retry_after_ms) {
    struct bw_policy_decision *d = &c->decide.decision;
    memset(d, 0, sizeof *d);
    /* the org's part of the config, not the config itself: the receipt goes into the org's
     * evidence pack, which must not carry the operator's config (policy.h) */
    bw_policy_models_sha256(c->w->gw->cfg, c->ident.key.org_name, d->policy_sha256);
    (void)bw_call_deny(c, reason, status, "limits");
    c->admit.retry_after_ms = retry_after_ms;
    c->admit.admission_refused = 1;
    c->decide.refusal_message = refusal_message(reason, retry_after_ms);
}

/* Takes n units from a bucket: in memory on one node; from this replica's leased holding with
 * several replicas, leasing more from the shared bucket when it is short (at most twice: a
 * holding drained by another worker in between is refused like an empty bucket). */
static bw_err take_bucket(struct bw_call *c, struct bw_limits *l, const char *key,
                          const struct bw_limits_rate *r, int64_t n, int64_t now_us,
                          int64_t *retry) {
    struct bw_lease *m = c->w->gw->lease;
    if (!m)
        return bw_limits_take(l, key, r, n, now_us, retry);
    if (n > r->burst) {
        *retry = -1;
        return BW_E_LIMIT;
    }
    for (int round = 0;; round++) {
        int64_t short_n = 0;
        bw_err e = bw_limits_take_held(l, key, n, now_us, &short_n, retry);
        if (e != BW_E_LIMIT || short_n == 0)
            return e;
        if (round == 2) {
            *retry = 1;
            return BW_E_LIMIT;
        }
        e = bw_lease_rate(m, c->w->store, c->ident.key.org_id, key, r, short_n, now_us, retry);
        if (e != BW_OK)
            return e == BW_E_LIMIT ? BW_E_LIMIT : BW_E_UNAVAILABLE;
    }
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
        if (!rate_on(kinds[i].rate) || (kinds[i].needs_agent && !c->ident.key.agent[0]))
            continue;
        char key[BW_LIMITS_KEY_MAX];
        bucket(key, sizeof key, kinds[i].kind, c);
        struct bw_limits_rate r = rate_of(kinds[i].rate);
        int64_t retry = 0;
        bw_err e = take_bucket(c, l, key, &r, 1, now_us, &retry);
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
        if (!(c->admit.tok_taken & bit) || n <= 0)
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
        if (!rate_on(token_rate(cfg, bit)) || (bit == TOK_AGENT && !c->ident.key.agent[0]))
            continue;
        char key[BW_LIMITS_KEY_MAX];
        bucket(key, sizeof key, token_kind(bit), c);
        struct bw_limits_rate r = rate_of(token_rate(cfg, bit));
        int64_t retry = 0;
        bw_err e = take_bucket(c, l, key, &r, worst, now_us, &retry);
        if (e != BW_OK) {
            /* retry is -1 when the worst case exceeds the bucket's size: it never fits. */
            if (e == BW_E_LIMIT)
                refuse(c, BW_R_RATE_LIMITED, 429, retry);
            else
                refuse(c, BW_R_LIMITS_UNAVAILABLE, 503, 0);
            return -1;
        }
        c->admit.tok_taken |= bit;
    }
    return 0;
}

/* The request's output caps, read once at step 1 (bw_policy_request_caps into c->decide.view): the
 * per-choice cap, the choices and the extra completion. Embeddings produce no completion. -1
 * if a chat call's caps were never read (refused: its worst case is unknown). */
static int request_caps(const struct bw_call *c, struct bw_limits_call *call) {
    if (c->route == BW_ROUTE_EMBEDDINGS) {
        call->max_tokens = 0;
        call->choices = 1;
        return 0;
    }
    if (c->decide.view.choices < 1)
        return -1;
    call->max_tokens = c->decide.view.max_tokens;
    call->choices = c->decide.view.choices;
    call->extra_completion = c->decide.view.extra_completion;
    return 0;
}

/* Embeddings may take their input as token ids (an array of integers, or of such arrays): each
 * integer is one token whatever its digits, so bytes / 4 would under-count (about 2 bytes per
 * token). The prompt estimate is then at least their number. */
static int64_t input_token_ids(const json_t *body) {
    const json_t *input = json_object_get(body, "input");
    int64_t n = 0;
    size_t i, k;
    json_t *x, *y;
    json_array_foreach(input, i, x) {
        if (json_is_integer(x))
            n++;
        json_array_foreach(x, k, y) n += json_is_integer(y) ? 1 : 0;
    }
    return n < BW_LIMITS_MAX_TOKENS ? n : BW_LIMITS_MAX_TOKENS;
}

/* The most prompt tokens one image part can cost: OpenAI bills gpt-4o-mini images at 2,833
 * tokens plus 5,667 per 512 px tile, up to 8 tiles (2048 x 768), the largest cost it documents
 * for any model. A URL of a few bytes is otherwise estimated at a few tokens (docs/SPEND.md). */
#define IMAGE_WORST_TOKENS 48169

/* Chat content parts whose prompt tokens the body's bytes do not bound: each image part counts
 * IMAGE_WORST_TOKENS; a file part (a file_id, or a document whose pages are billed as images)
 * has no bound at all (*unbounded = 1). */
static int64_t image_tokens(const json_t *body, int *unbounded) {
    const json_t *msgs = json_object_get(body, "messages");
    int64_t n = 0;
    size_t i, k;
    json_t *m, *part;
    *unbounded = 0;
    json_array_foreach(msgs, i, m) {
        json_array_foreach(json_object_get(m, "content"), k, part) {
            const char *type = json_string_value(json_object_get(part, "type"));
            if (type && strcmp(type, "image_url") == 0 && n < BW_LIMITS_MAX_TOKENS)
                n += IMAGE_WORST_TOKENS;
            else if (type && strcmp(type, "file") == 0)
                *unbounded = 1;
        }
    }
    return n < BW_LIMITS_MAX_TOKENS ? n : BW_LIMITS_MAX_TOKENS;
}

/* Holds the upstream to the per-choice cap m the reservation holds: a clamp lowers every cap
 * field the request carries (max_tokens, max_completion_tokens: which one an upstream honours
 * depends on the model); a request without any gets max_tokens = the default reserved (an
 * upstream that does not accept it refuses the call instead of producing without bound). */
static void send_cap(struct bw_call *c, int64_t m) {
    static const char *const keys[] = {"max_tokens", "max_completion_tokens"};
    int set = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *x = json_object_get(c->in.body_json, keys[i]);
        if (x && !json_is_null(x)) {
            json_object_set_new(c->in.body_json, keys[i], json_integer(m));
            set = 1;
        }
    }
    if (!set)
        json_object_set_new(c->in.body_json, "max_tokens", json_integer(m));
    c->decide.body_modified = 1;
}

/* Leases what the verdict says each short scope lacks. 0: granted or found empty (reserve
 * again: the verdict is then final); -1: the database failed (deny, fail closed). */
static int lease_budget(struct bw_call *c, const struct bw_limits_verdict *v, int allow_partial,
                        int64_t now_ms) {
    for (int i = 0; i < 2; i++) {
        if (!(v->lease_short & (1 << i)))
            continue;
        bw_err e = bw_lease_budget(c->w->gw->lease, c->w->store, c->ident.key.org_id,
                                   c->ident.key.org_name, i ? c->ident.key.agent : "",
                                   v->short_tokens[i], v->short_cost[i], allow_partial, now_ms);
        if (e != BW_OK && e != BW_E_LIMIT) {
            bw_error("admit: a budget lease failed (%s): denying", bw_err_str(e));
            return -1;
        }
    }
    return 0;
}

/* Budget events for the org's connections (connect/outbox.h): "budget.threshold" when a
 * settlement crosses 80 % or 100 % of the org's monthly tokens or cost, and "budget.exhausted"
 * when the org's budget refuses a call. Admission reserves the worst case, so spend rarely lands
 * on exactly 100 %: the refusal is the event that says the budget is used up. Event ids name
 * the month, metric and threshold, so each is queued once however many workers or replicas see
 * it. Queuing is one small insert, only then; a failure is logged, never fails the call. */
struct event_job {
    struct bw_outbox *outbox;
    char org_id[BW_ID_SIZE];
    char id[64];
    const char *type; /* static */
    char text[200];
    json_t *data; /* taken */
};

static void event_run(struct bw_store *s, void *arg) {
    struct event_job *j = arg;
    if (bw_outbox_emit_as(j->outbox, s, j->org_id, j->id, j->type, j->text, j->data) != BW_OK)
        bw_warn("spend: the budget event %s of org %s could not be queued", j->id, j->org_id);
}

static void event_done(void *arg, bw_err err) {
    struct event_job *j = arg;
    if (err != BW_OK)
        bw_warn("spend: the budget event %s of org %s could not be queued", j->id, j->org_id);
    json_decref(j->data);
    free(j);
}

/* Queued by a store job whose completion runs on the store thread (owner NULL): the call does
 * not wait for it. Without a pool, on the worker's handle. */
static void budget_event(struct bw_call *c, const char *id, const char *type, const char *text,
                         json_t *data) {
    struct event_job *j = data ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        bw_warn("spend: the budget event %s of org %s could not be queued", id,
                c->ident.key.org_id);
        json_decref(data);
        return;
    }
    j->outbox = c->w->gw->outbox;
    snprintf(j->org_id, sizeof j->org_id, "%s", c->ident.key.org_id);
    snprintf(j->id, sizeof j->id, "%s", id);
    j->type = type;
    snprintf(j->text, sizeof j->text, "%s", text);
    j->data = data;
    struct bw_jobs *pool = c->w->gw->jobs;
    if (!pool) {
        event_run(c->w->store, j);
        event_done(j, BW_OK);
    } else if (bw_jobs_submit(pool, NULL, 0, event_run, event_done, j) != BW_OK) {
        event_done(j, BW_E_UNAVAILABLE);
    }
}

static void budget_exhausted(struct bw_call *c, struct bw_limits *l,
                             const struct bw_limits_call *call) {
    struct bw_limits_budget_state org;
    if (!c->ident.key.org_id[0] ||
        bw_limits_budget_get(l, c->ident.key.org_id, "", bw_now_ms(), &org) != BW_OK ||
        org.max_tokens < 0)
        return;
    int64_t cap = call->max_tokens > 0           ? call->max_tokens
                  : call->default_max_tokens > 0 ? call->default_max_tokens
                                                 : 0;
    int64_t need = call->prompt_tokens + cap * (call->choices > 0 ? call->choices : 1) +
                   call->extra_completion;
    /* Several replicas: a final refusal means the org's holding was short and its pool empty,
     * so the holding is the line (this replica's spend alone never reaches the limit). */
    int64_t line = bw_limits_leased(l) ? org.held_tokens : org.max_tokens;
    if (org.spent_tokens + org.reserved_tokens + need <= line)
        return; /* the agent's own budget refused it, not the org's */
    char id[64], text[200], month[BW_MONTH_LABEL_SIZE];
    bw_month_label(org.month, month);
    snprintf(id, sizeof id, "budget_%s_tokens_exhausted", month);
    snprintf(text, sizeof text,
             "Budget: this month's tokens are used up (%lld of %lld); calls "
             "are refused",
             (long long)org.spent_tokens, (long long)org.max_tokens);
    budget_event(c, id, "budget.exhausted", text,
                 json_pack("{s:s, s:s, s:I, s:I, s:s}", "scope", "org", "metric", "tokens", "spent",
                           (json_int_t)org.spent_tokens, "limit", (json_int_t)org.max_tokens,
                           "month", month));
}

static void budget_events(struct bw_call *c, const struct bw_limits_budget_state *b,
                          const struct bw_limits_budget_state *a) {
    static const int pcts[] = {80, 100};
    for (int metric = 0; metric < 2; metric++) {
        int64_t max = metric ? a->max_cost_micros : a->max_tokens;
        int64_t after = metric ? a->spent_cost_micros : a->spent_tokens;
        int64_t before = a->month != b->month ? 0 : metric ? b->spent_cost_micros : b->spent_tokens;
        if (max <= 0)
            continue;
        for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
            __int128 line = (__int128)max * pcts[i];
            if (!((__int128)before * 100 < line && (__int128)after * 100 >= line))
                continue;
            const char *name = metric ? "cost_micros" : "tokens";
            char id[64], text[200], month[BW_MONTH_LABEL_SIZE];
            bw_month_label(a->month, month);
            snprintf(id, sizeof id, "budget_%s_%s_%d", month, name, pcts[i]);
            snprintf(text, sizeof text, "Budget: %d%% of this month's %s used (%lld of %lld)",
                     pcts[i], metric ? "cost" : "tokens", (long long)after, (long long)max);
            budget_event(c, id, "budget.threshold", text,
                         json_pack("{s:s, s:s, s:i, s:I, s:I, s:s}", "scope", "org", "metric", name,
                                   "percent", pcts[i], "spent", (json_int_t)after, "limit",
                                   (json_int_t)max, "month", month));
        }
    }
}

static int reserve_budget(struct bw_call *c, struct bw_limits *l) {
    const struct bw_config *cfg = c->w->gw->cfg;
    const struct bw_price_config *pc = bw_config_price(cfg, c->in.model);
    struct bw_limits_price price = {pc ? pc->prompt_per_1m_micros : 0,
                                    pc ? pc->completion_per_1m_micros : 0};
    /* The prompt estimate reads the whole request body: an over-estimate of its text, settled
     * to the real usage when the answer ends. */
    struct bw_limits_call call = {
        .org = c->ident.key.org_id,
        .agent = c->ident.key.agent,
        .prompt_tokens = bw_limits_estimate_prompt_tokens(c->in.body_len),
        .default_max_tokens = cfg->default_max_tokens,
        .price = pc ? &price : NULL,
        .allow_clamp = cfg->clamp_max_tokens,
    };
    if (request_caps(c, &call) != 0) {
        refuse(c, BW_R_INVALID_REQUEST, 400, 0);
        return -1;
    }
    if (c->route == BW_ROUTE_EMBEDDINGS) {
        int64_t ids = input_token_ids(c->in.body_json);
        call.prompt_tokens = ids > call.prompt_tokens ? ids : call.prompt_tokens;
    } else {
        int64_t images = image_tokens(c->in.body_json, &call.prompt_unbounded);
        call.prompt_tokens = call.prompt_tokens + images < BW_LIMITS_MAX_TOKENS
                                 ? call.prompt_tokens + images
                                 : BW_LIMITS_MAX_TOKENS;
    }
    struct bw_limits_verdict v;
    memset(&v, 0, sizeof v);
    int64_t now_ms = bw_now_ms();
    bw_err e = bw_limits_reserve(l, &call, now_ms, &c->admit.reservation, &v);
    /* Several replicas: the holding is short but the pool may have more. Each round either
     * grants (and the reservation is tried again) or marks the pool dry (and the next verdict
     * is final), so two rounds per scope suffice; four bounds it whatever happens. */
    for (int round = 0; e == BW_E_LIMIT && v.lease_short && round < 4; round++) {
        if (lease_budget(c, &v, cfg->clamp_max_tokens, now_ms) != 0) {
            c->admit.reservation = NULL;
            refuse(c, BW_R_LIMITS_UNAVAILABLE, 503, 0);
            return -1;
        }
        memset(&v, 0, sizeof v);
        e = bw_limits_reserve(l, &call, now_ms, &c->admit.reservation, &v);
    }
    if (e == BW_OK && v.lease_low && c->w->gw->lease) {
        if (v.lease_low & 1)
            bw_lease_prefetch(c->w->gw->lease, c->ident.key.org_id, c->ident.key.org_name, "");
        if (v.lease_low & 2)
            bw_lease_prefetch(c->w->gw->lease, c->ident.key.org_id, c->ident.key.org_name,
                              c->ident.key.agent);
    }
    if (e != BW_OK) {
        c->admit.reservation = NULL;
        int status = e == BW_E_LIMIT ? 429 : e == BW_E_DENIED ? 403 : e == BW_E_INVALID ? 400 : 503;
        if (e == BW_E_LIMIT && v.reason && strcmp(v.reason, BW_R_BUDGET_EXHAUSTED) == 0)
            budget_exhausted(c, l, &call);
        refuse(c, v.reason ? v.reason : BW_R_LIMITS_UNAVAILABLE, status, e == BW_E_LIMIT ? -1 : 0);
        return -1;
    }
    c->admit.worst_tokens = v.worst_tokens;
    c->admit.prompt_estimate = call.prompt_tokens;
    c->admit.worst_cost_micros = pc ? v.worst_cost_micros : -1;
    /* A stream is cut off past its reservation only when a finite budget is at stake (only a
     * stream needs to know: plain answers are settled whole). */
    struct bw_limits_budget_state org;
    if (c->in.stream &&
        bw_limits_budget_get(l, c->ident.key.org_id, "", bw_now_ms(), &org) == BW_OK &&
        (org.max_tokens >= 0 || org.max_cost_micros >= 0))
        c->admit.cap_tokens = v.worst_tokens - call.prompt_tokens;
    /* The budget fits less than asked, or the request has no cap and the default was reserved:
     * forward the cap the reservation holds, so it is the upstream's worst case too. */
    if (c->in.body_json && c->route != BW_ROUTE_EMBEDDINGS &&
        (v.clamped || (call.max_tokens < 0 && v.max_tokens > 0)))
        send_cap(c, v.max_tokens);
    return 0;
}

/* The admit step (DESIGN.md step 3): CONTINUE, or DENY (refused: the refusal is recorded). */
static int admit(struct bw_call *c) {
    struct bw_limits *l = c->w->gw->limits;
    c->admit.worst_cost_micros = -1;
    if (!l || c->route == BW_ROUTE_MODELS)
        return 0;
    int64_t now_us = bw_mono_us();
    if (take_requests(c, l, now_us) != 0)
        return -1;
    int64_t cap = c->w->gw->cfg->org_max_concurrent;
    if (cap > 0) {
        if (bw_limits_inflight_acquire(l, c->ident.key.org_id, cap) != BW_OK) {
            refuse(c, BW_R_CONCURRENCY_LIMITED, 429, 1000);
            return -1;
        }
        c->admit.inflight_held = 1;
    }
    if (reserve_budget(c, l) != 0 || take_tokens(c, l, c->admit.worst_tokens, now_us) != 0) {
        bw_call_release_admission(c);
        return -1;
    }
    return 0;
}

enum bw_step_verdict bw_step_admit(struct bw_call *c) {
    return admit(c) == 0 ? BW_STEP_CONTINUE : BW_STEP_DENY;
}

void bw_call_release_admission(struct bw_call *c) {
    struct bw_limits *l = c->w->gw->limits;
    if (!l)
        return;
    if (c->admit.reservation) {
        bw_limits_cancel(l, c->admit.reservation);
        c->admit.reservation = NULL;
    }
    refund_tokens(c, c->admit.worst_tokens);
    c->admit.tok_taken = 0;
    if (c->admit.inflight_held) {
        bw_limits_inflight_release(l, c->ident.key.org_id);
        c->admit.inflight_held = 0;
    }
}

/* What to charge when the upstream reported no usage (marked estimated). Nothing when nothing
 * was provably produced (the upstream was never reached, or answered an error). A stream: the
 * prompt estimate plus what it delivered (the larger of one token per delta event and bytes/4,
 * both estimates that tend high), at most the completion reserved (the upstream was sent that
 * cap). Anything else: the reservation, its completion part as completion (priced at the
 * completion price: where the split is unknown, the dearer one). */
static void estimate_usage(const struct bw_call *c, int64_t *prompt, int64_t *completion) {
    int64_t reserved = c->admit.worst_tokens - c->admit.prompt_estimate;
    if (c->answer.unproduced) {
        *prompt = *completion = 0;
    } else if (c->answer.streaming) {
        int64_t by_bytes = (c->answer.stream_bytes + 3) / 4;
        *prompt = c->admit.prompt_estimate;
        *completion = c->answer.stream_units > by_bytes ? c->answer.stream_units : by_bytes;
        if (reserved > 0 && *completion > reserved)
            *completion = reserved;
    } else {
        *prompt = c->admit.prompt_estimate;
        *completion = reserved > 0 ? reserved : 0;
    }
}

/* Settles a forwarded call: the real usage, or the estimate above, is charged; unused tokens go
 * back. The settled numbers are kept on c for the outcome receipt. */
int64_t bw_call_settle(struct bw_call *c, struct bw_usage_record *u) {
    struct bw_limits *l = c->w->gw->limits;
    int64_t prompt = c->answer.prompt_tokens, completion = c->answer.completion_tokens;
    if (!c->answer.has_usage)
        estimate_usage(c, &prompt, &completion);
    int64_t cost = 0;
    int32_t month = bw_limits_month_of(bw_now_ms());
    if (l && c->admit.reservation) {
        month = bw_limits_reservation_month(c->admit.reservation);
        struct bw_limits_budget_state before, after;
        int budget = c->ident.key.org_id[0] && bw_limits_budget_get(l, c->ident.key.org_id, "",
                                                                    bw_now_ms(), &before) == BW_OK;
        bw_limits_settle(l, c->admit.reservation, prompt, completion, &cost);
        if (budget &&
            bw_limits_budget_get(l, c->ident.key.org_id, "", bw_now_ms(), &after) == BW_OK)
            budget_events(c, &before, &after);
        c->admit.reservation = NULL;
        int64_t unused = c->admit.worst_tokens - (prompt + completion);
        refund_tokens(c, unused);
        c->admit.tok_taken = 0;
    }
    if (l && c->admit.inflight_held) {
        bw_limits_inflight_release(l, c->ident.key.org_id);
        c->admit.inflight_held = 0;
    }
    c->settle.settled = 1;
    c->settle.usage_estimated = !c->answer.has_usage;
    c->settle.settled_prompt = prompt;
    c->settle.settled_completion = completion;
    c->settle.cost_micros = cost;
    if (u) {
        memset(u, 0, sizeof *u);
        snprintf(u->org_id, sizeof u->org_id, "%s", c->ident.key.org_id);
        snprintf(u->agent, sizeof u->agent, "%s", c->ident.key.agent);
        snprintf(u->key_id, sizeof u->key_id, "%s", c->ident.key.id);
        snprintf(u->model, sizeof u->model, "%s", c->in.model);
        u->prompt_tokens = prompt;
        u->completion_tokens = completion;
        u->total_tokens = prompt + completion;
        u->cost_micros = cost;
        u->estimated = c->settle.usage_estimated;
        u->started_ms = c->start_ms;
        u->ended_ms = bw_now_ms();
        u->month = month;
        snprintf(u->receipt_id, sizeof u->receipt_id, "%s", c->record.receipt_id);
        /* Receipt ids are unique per log and logs per replica: no random id needed. */
        snprintf(u->id, sizeof u->id, "use_%s", c->record.receipt_id);
    }
    return cost;
}

void bw_call_add_retry_after(struct bw_call *c) {
    bw_http_add_retry_headers(c->req, c->admit.retry_after_ms);
}
