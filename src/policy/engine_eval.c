/* engine_eval.c: deciding a request against a compiled policy (the semantics are in engine.h
 * and docs/POLICY.md). No allocation except, when a rule with a regex is actually reached, one
 * PCRE2 match block and the match contexts that carry the request's budget, and the request's
 * content verdict cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/engine_internal.h"
#include "reason/reasons.h"

struct eval {
    const struct bw_policy *gp;  /* whose global layer runs (the platform policy; may be NULL) */
    const struct bw_policy *rp;  /* whose rules layer runs (the org's policy, or the platform's) */
    const struct bw_policy *cur; /* the policy of the layer being walked: its regex limits */
    const char *rules_name;      /* "org" when rp is an org policy, else "rules" */
    /* Regex limits per layer: the global layer's are the platform's; the rules layer's are the
     * composite's (an org's clamped to the platform's ceiling) or the policy's own. */
    const pcre2_match_context *g_base, *r_base;
    pcre2_match_context *g_ctx, *r_ctx; /* per-decision copies with the callout, made lazily */
    struct bw_policy_rxrun run;
    struct bw_policy_budget own; /* used when the input brings no budget */
    const struct bw_policy_input *in;
    uint64_t h_org, h_agent, h_role, h_route, h_model;
    const struct bw_policy_tool *tool; /* the one tool being decided, or NULL */
    uint64_t h_tool;
    /* The request pass (no tool): index of the first matching rule per layer (n: none), and
     * whether a regex limit was hit. A tool pass reuses them: a rule without a tool matcher
     * matches the same with or without the tool, so only tool rules before that index need
     * looking at. This keeps a request with k tools close to one pass over the rules. */
    size_t g_idx, r_idx;
    int limit;
};

static uint64_t hash_or_zero(const char *s) {
    return s ? bw_policy_hash(s) : 0;
}

static int rx(struct eval *e, const struct bw_policy_rx *r, const uint8_t *s, size_t n) {
    int global = e->cur == e->gp && e->gp != e->rp;
    pcre2_match_context **ctx = global ? &e->g_ctx : &e->r_ctx;
    if (!*ctx)
        *ctx = bw_policy_rx_context(global ? e->g_base : e->r_base, &e->run);
    return bw_policy_rx_match(&e->run, *ctx, r, s, n);
}

/* ---- the request's content verdict cache (struct bw_policy_budget) ---- */

void bw_policy_budget_init(struct bw_policy_budget *b) {
    memset(b, 0, sizeof *b);
}

void bw_policy_budget_cleanup(struct bw_policy_budget *b) {
    free(b->keys);
    free(b->vals);
    memset(b, 0, sizeof *b);
}

static size_t slot(const struct bw_policy_budget *b, const void *key) {
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 20) & (b->cap - 1);
    while (b->keys[i] && b->keys[i] != key)
        i = (i + 1) & (b->cap - 1);
    return i;
}

/* 1 or 0 from the cache, or -1 when the rule was not decided yet. */
static int cache_get(const struct bw_policy_budget *b, const void *key) {
    if (!b->cap)
        return -1;
    size_t i = slot(b, key);
    return b->keys[i] ? b->vals[i] : -1;
}

/* Best effort: a verdict that cannot be stored (out of memory) is simply decided again. */
static void cache_put(struct bw_policy_budget *b, const void *key, int v) {
    if ((b->n + 1) * 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct bw_policy_budget grown = {b->spent_us,    b->exhausted, calloc(cap, sizeof *b->keys),
                                         calloc(cap, 1), cap,          0};
        if (!grown.keys || !grown.vals) {
            free(grown.keys);
            free(grown.vals);
            return;
        }
        for (size_t i = 0; i < b->cap; i++) {
            if (b->keys[i]) {
                size_t j = slot(&grown, b->keys[i]);
                grown.keys[j] = b->keys[i];
                grown.vals[j] = b->vals[i];
                grown.n++;
            }
        }
        free(b->keys);
        free(b->vals);
        *b = grown;
    }
    size_t i = slot(b, key);
    if (!b->keys[i])
        b->n++;
    b->keys[i] = key;
    b->vals[i] = (int8_t)v;
}

/* One argument constraint against a call's arguments: 1, 0, or -1 (regex limit). */
static int arg_ok(struct eval *e, const struct bw_policy_argc *c, const json_t *args) {
    const json_t *v = bw_policy_jpath_get(&c->path, args);
    if (!v)
        return 0;
    switch (c->op) {
    case BW_POLICY_ARG_EQUALS:
        return bw_policy_json_equal(v, c->values);
    case BW_POLICY_ARG_PREFIX: {
        size_t n = strlen(c->prefix);
        return json_is_string(v) && json_string_length(v) >= n &&
               memcmp(json_string_value(v), c->prefix, n) == 0;
    }
    case BW_POLICY_ARG_REGEX:
        return json_is_string(v)
                   ? rx(e, &c->rx, (const uint8_t *)json_string_value(v), json_string_length(v))
                   : 0;
    case BW_POLICY_ARG_RANGE:
        return json_is_number(v) && json_number_value(v) >= c->min &&
               json_number_value(v) <= c->max;
    case BW_POLICY_ARG_ENUM: {
        size_t i;
        json_t *x;
        json_array_foreach(c->values, i, x) if (bw_policy_json_equal(v, x)) return 1;
        return 0;
    }
    default:
        return 0;
    }
}

/* A declared tool has no arguments yet. A rule with argument constraints then matches only if
 * it allows (some call could be allowed; every call is decided again with its arguments), so a
 * deny on particular arguments does not refuse the declaration itself. */
static int tool_args_ok(struct eval *e, const struct bw_policy_rule *r, const json_t *args) {
    if (r->n_args == 0)
        return 1;
    if (!args)
        return r->effect == BW_POLICY_ALLOW;
    for (size_t i = 0; i < r->n_args; i++) {
        int m = arg_ok(e, &r->args[i], args);
        if (m != 1)
            return m;
    }
    return 1;
}

/* The tool being decided against the rule's tool matcher; no tool never matches. */
static int tool_match(struct eval *e, const struct bw_policy_rule *r) {
    if (!e->tool || !bw_policy_strset_match_ci(&r->tool, e->tool->name))
        return 0;
    return tool_args_ok(e, r, e->tool->args);
}

/* A content verdict depends on the rule and the request's texts only, not on the tool being
 * decided: it is reached once per request and reused by every later decision of it. */
static int content_match(struct eval *e, const struct bw_policy_rule *r) {
    struct bw_policy_budget *b = e->run.budget;
    if (b->exhausted)
        return -1;
    int cached = cache_get(b, r);
    if (cached >= 0)
        return cached;
    int m = 0;
    for (size_t i = 0; i < r->n_content && m == 0; i++)
        for (size_t j = 0; j < e->in->n_texts && m == 0; j++)
            m = rx(e, &r->content[i], e->in->texts[j].ptr, e->in->texts[j].len);
    if (m >= 0)
        cache_put(b, r, m);
    return m;
}

static int64_t floor_div(int64_t a, int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int time_match(const struct bw_policy_timewin *t, int64_t now_s) {
    int64_t local = now_s + (int64_t)t->tz_offset_min * 60;
    int64_t days = floor_div(local, 86400);
    int minute = (int)((local - days * 86400) / 60);
    int dow = (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday (4) */
    if (!(t->days & (1u << dow)))
        return 0;
    if (t->start_min < t->end_min)
        return minute >= t->start_min && minute < t->end_min;
    return minute >= t->start_min || minute < t->end_min;
}

/* Cheap scalar matchers first; tools and regexes (which read the request) last. */
static int scalars_match(const struct eval *e, const struct bw_policy_rule *r) {
    const struct bw_policy_input *in = e->in;
    unsigned f = r->fields;
    if ((f & BW_PF_ROUTE) && !bw_policy_strset_match(&r->route, in->route, e->h_route))
        return 0;
    if ((f & BW_PF_ORG) && !bw_policy_strset_match(&r->org, in->org, e->h_org))
        return 0;
    if ((f & BW_PF_ROLE) && !bw_policy_strset_match(&r->role, in->role, e->h_role))
        return 0;
    if ((f & BW_PF_AGENT) && !bw_policy_strset_match(&r->agent, in->agent, e->h_agent))
        return 0;
    if ((f & BW_PF_MODEL) && !bw_policy_strset_match(&r->model, in->model, e->h_model))
        return 0;
    if ((f & BW_PF_RESOURCE) &&
        !bw_policy_strset_match(&r->resource, in->resource, hash_or_zero(in->resource)))
        return 0;
    if ((f & BW_PF_PROMPT) &&
        !bw_policy_strset_match(&r->prompt, in->prompt, hash_or_zero(in->prompt)))
        return 0;
    if (f & BW_PF_TOKENS) { /* absent max_tokens is unbounded: above any max */
        int64_t t = in->max_tokens < 0 ? INT64_MAX : in->max_tokens;
        if (t < r->tokens_min || t > r->tokens_max)
            return 0;
    }
    if (f & BW_PF_COST) {
        double c =
            in->estimated_cost < 0 || isnan(in->estimated_cost) ? INFINITY : in->estimated_cost;
        if (c < r->cost_min || c > r->cost_max)
            return 0;
    }
    if ((f & BW_PF_TIME) && !time_match(&r->time, in->now_s))
        return 0;
    return 1;
}

static int rule_match(struct eval *e, const struct bw_policy_rule *r) {
    if (!scalars_match(e, r))
        return 0;
    if (r->fields & BW_PF_TOOL) {
        /* A tool glob costs up to its length times the name's, and a decision may try every
         * tool rule for each of 128 tools: that work is charged to the request's budget too,
         * so a tenant's many long globs cannot hold a worker (POLICY.md "Regex work budget"). */
        if (bw_policy_over_budget(&e->run))
            return -1;
        int m = tool_match(e, r);
        if (m <= 0)
            return m;
    }
    if (r->fields & BW_PF_CONTENT)
        return content_match(e, r);
    return 1;
}

/* Request pass over one layer: first match wins. Returns the index (l->n: none) or -1 for a
 * regex limit. */
static int hot_miss(const struct eval *e, const struct bw_policy_hot *h) {
    return h->org_single && h->org_hash != e->h_org;
}

static const struct bw_policy_layer no_rules = {NULL, NULL, 0};

static const struct bw_policy_layer *global_of(const struct eval *e) {
    return e->gp ? &e->gp->global : &no_rules;
}

static long request_layer(struct eval *e, const struct bw_policy *owner,
                          const struct bw_policy_layer *l) {
    e->cur = owner;
    for (size_t i = 0; i < l->n; i++) {
        if (hot_miss(e, &l->hot[i]))
            continue;
        int m = rule_match(e, &l->rules[i]);
        if (m)
            return m < 0 ? -1 : (long)i;
    }
    return (long)l->n;
}

/* Tool pass over one layer: the first tool rule before the request pass's hit that matches
 * with the tool, else that hit. NULL: no match; *limit on a regex limit. */
static const struct bw_policy_rule *tool_layer(struct eval *e, const struct bw_policy *owner,
                                               const struct bw_policy_layer *l, size_t request_idx,
                                               int *limit) {
    e->cur = owner;
    for (size_t i = 0; i < request_idx; i++) {
        if (!(l->hot[i].fields & BW_PF_TOOL) || hot_miss(e, &l->hot[i]))
            continue;
        const struct bw_policy_rule *r = &l->rules[i];
        int m = rule_match(e, r);
        if (m < 0)
            *limit = 1;
        if (m)
            return m < 0 ? NULL : r;
    }
    return request_idx < l->n ? &l->rules[request_idx] : NULL;
}

static void set_plain(struct bw_policy_decision *d, enum bw_policy_effect eff, const char *reason,
                      const char *rule, const char *layer, int status) {
    d->effect = eff;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    snprintf(d->rule, sizeof d->rule, "%s", rule);
    d->layer = layer;
    d->http_status = status;
}

static void from_rule(struct bw_policy_decision *d, const struct bw_policy_rule *r,
                      const char *layer) {
    set_plain(d, r->effect, r->reason, r->id, layer, r->http_status);
    if (r->effect == BW_POLICY_REQUIRE_APPROVAL) {
        snprintf(d->reviewer_role, sizeof d->reviewer_role, "%s", r->reviewer_role);
        d->quorum = r->quorum;
        d->expiry_s = r->expiry_s;
    }
}

/* comp: the composite being evaluated, or NULL for a plain policy. */
static void init_eval(struct eval *e, const struct bw_policy *comp, const struct bw_policy *gp,
                      const struct bw_policy *rp, const struct bw_policy_input *in) {
    memset(e, 0, sizeof *e);
    e->gp = gp;
    e->rp = rp;
    e->cur = rp;
    e->rules_name = comp ? "org" : "rules";
    e->g_base = gp ? gp->mctx : NULL;
    e->r_base = comp ? comp->mctx : rp->mctx;
    e->run.budget = in->budget ? in->budget : &e->own;
    e->run.limit_us = (int64_t)(comp ? comp->budget_ms : rp->budget_ms) * 1000;
    e->in = in;
    e->h_org = hash_or_zero(in->org);
    e->h_agent = hash_or_zero(in->agent);
    e->h_role = hash_or_zero(in->role);
    e->h_route = hash_or_zero(in->route);
    e->h_model = hash_or_zero(in->model);
    e->tool = NULL;
    e->h_tool = 0;
}

static void finish_eval(struct eval *e) {
    bw_policy_rx_finish(&e->run);
    pcre2_match_context_free(e->g_ctx);
    pcre2_match_context_free(e->r_ctx);
    if (e->run.budget == &e->own)
        bw_policy_budget_cleanup(&e->own);
}

/* Both layers are always passed: a tool pass may get past a global non-allow (an allowing
 * global tool rule before it) and then needs the rules layer's request-pass hit. */
static void request_pass(struct eval *e) {
    long g = request_layer(e, e->gp, global_of(e));
    long r = request_layer(e, e->rp, &e->rp->rules);
    e->limit = g < 0 || r < 0;
    e->g_idx = g < 0 ? 0 : (size_t)g;
    e->r_idx = r < 0 ? 0 : (size_t)r;
}

static const struct bw_policy_rule *layer_hit(struct eval *e, const struct bw_policy *owner,
                                              const struct bw_policy_layer *l, size_t request_idx,
                                              int *limit) {
    if (e->tool)
        return tool_layer(e, owner, l, request_idx, limit);
    return request_idx < l->n ? &l->rules[request_idx] : NULL;
}

/* Global first: anything but allow there stands; else the rules layer; else
 * NO_MATCHING_RULE. With e->tool NULL this is the request pass's own outcome. */
static void decide_one(struct eval *e, struct bw_policy_decision *out) {
    int limit = e->limit;
    const struct bw_policy_rule *g =
        limit ? NULL : layer_hit(e, e->gp, global_of(e), e->g_idx, &limit);
    if (!limit && g && g->effect != BW_POLICY_ALLOW) {
        from_rule(out, g, "global");
        return;
    }
    const struct bw_policy_rule *r =
        limit ? NULL : layer_hit(e, e->rp, &e->rp->rules, e->r_idx, &limit);
    if (limit)
        set_plain(out, BW_POLICY_DENY, BW_R_POLICY_MATCH_LIMIT, "", "default", 403);
    else if (r)
        from_rule(out, r, e->rules_name);
    else
        set_plain(out, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "", "default", 403);
}

/* The policies in force: the platform's hash, and the org's when it has its own. */
/* The policies in force: the platform's hash (all zero for an org policy composed without a
 * platform policy: the caller names what stood in for it, the config), and the org's when it
 * has its own. */
static void stamp_with(const struct bw_policy *gp, const struct bw_policy *rp, int is_org,
                       struct bw_policy_decision *d) {
    if (gp)
        memcpy(d->policy_sha256, gp->sha256, 32);
    else if (!is_org)
        memcpy(d->policy_sha256, rp->sha256, 32);
    else
        memset(d->policy_sha256, 0, 32);
    d->has_org_policy = is_org;
    if (is_org)
        memcpy(d->org_policy_sha256, rp->sha256, 32);
}

static void stamp(const struct eval *e, struct bw_policy_decision *d) {
    stamp_with(e->gp, e->rp, e->rules_name[0] == 'o', d);
}

static void decide_tool(struct eval *e, const struct bw_policy_tool *t,
                        struct bw_policy_decision *out) {
    e->tool = t;
    e->h_tool = hash_or_zero(t->name);
    stamp(e, out);
    decide_one(e, out);
    e->tool = NULL;
}

static int severity(enum bw_policy_effect eff) {
    return eff == BW_POLICY_DENY ? 2 : eff == BW_POLICY_REQUIRE_APPROVAL ? 1 : 0;
}

/* The request alone, then each tool alone; the first of the most severe outcome wins (deny
 * over require_approval over allow), and stripped tools are marked. */
static void decide_request(struct eval *e, struct bw_policy_decision *out) {
    request_pass(e);
    decide_one(e, out);
    for (size_t i = 0; i < e->in->n_tools && out->effect != BW_POLICY_DENY; i++) {
        struct bw_policy_decision t;
        memset(&t, 0, sizeof t);
        decide_tool(e, &e->in->tools[i], &t);
        if (t.effect == BW_POLICY_STRIP) {
            out->stripped[i / 64] |= 1ull << (i % 64);
        } else if (severity(t.effect) > severity(out->effect)) {
            memcpy(t.stripped, out->stripped, sizeof t.stripped); /* keep the marks so far */
            *out = t;
        }
    }
    /* An approved require_approval is forwarded later: it must still lose its stripped tools. */
    if (out->effect == BW_POLICY_DENY)
        memset(out->stripped, 0, sizeof out->stripped);
}

static bw_err check_input(const struct bw_policy *gp, const struct bw_policy *rp, int is_org,
                          const struct bw_policy_input *in, struct bw_policy_decision *out) {
    memset(out, 0, sizeof *out);
    if (!rp) {
        set_plain(out, BW_POLICY_DENY, BW_R_POLICY_UNAVAILABLE, "", "default", 503);
        return BW_E_UNAVAILABLE;
    }
    stamp_with(gp, rp, is_org, out);
    if (in->n_tools > BW_POLICY_MAX_TOOLS || (in->n_tools && !in->tools) ||
        (in->n_texts && !in->texts)) {
        set_plain(out, BW_POLICY_DENY, BW_R_INVALID_REQUEST, "", "default", 400);
        return BW_E_INVALID;
    }
    return BW_OK;
}

/* A composite's parts: (base, overlay); a plain policy is both layers itself. */
static void parts(const struct bw_policy *p, const struct bw_policy **platform,
                  const struct bw_policy **org) {
    *platform = p && p->overlay ? p->base : p;
    *org = p && p->overlay ? p->overlay : NULL;
}

bw_err bw_policy_eval(const struct bw_policy *p, const struct bw_policy_input *in,
                      struct bw_policy_decision *out) {
    const struct bw_policy *platform, *org;
    parts(p, &platform, &org);
    const struct bw_policy *rp = org ? org : platform;
    BW_TRY(check_input(platform, rp, org != NULL, in, out));
    struct eval e;
    init_eval(&e, org ? p : NULL, platform, rp, in);
    decide_request(&e, out);
    finish_eval(&e);
    return BW_OK;
}

bw_err bw_policy_decide_tools(const struct bw_policy *p, const struct bw_policy_input *ctx,
                              const struct bw_policy_tool *tools, size_t n,
                              struct bw_policy_decision *out) {
    const struct bw_policy *platform, *org;
    parts(p, &platform, &org);
    const struct bw_policy *rp = org ? org : platform;
    struct bw_policy_input base = *ctx;
    base.tools = NULL;
    base.n_tools = 0;
    struct bw_policy_decision first;
    bw_err err = check_input(platform, rp, org != NULL, &base, &first);
    for (size_t i = 0; i < n; i++)
        out[i] = first; /* a deny, if the check failed */
    if (err != BW_OK)
        return err;
    struct eval e;
    init_eval(&e, org ? p : NULL, platform, rp, &base);
    request_pass(&e);
    for (size_t i = 0; i < n; i++)
        decide_tool(&e, &tools[i], &out[i]);
    finish_eval(&e);
    return BW_OK;
}

int bw_policy_stripped(const struct bw_policy_decision *d, size_t i) {
    return i < BW_POLICY_MAX_TOOLS && ((d->stripped[i / 64] >> (i % 64)) & 1);
}

const char *bw_policy_effect_name(enum bw_policy_effect e) {
    switch (e) {
    case BW_POLICY_ALLOW:
        return "allow";
    case BW_POLICY_DENY:
        return "deny";
    case BW_POLICY_REQUIRE_APPROVAL:
        return "require_approval";
    case BW_POLICY_STRIP:
        return "strip";
    default:
        return "deny";
    }
}
