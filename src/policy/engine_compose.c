/* engine_compose.c: a platform policy composed with an org's own policy (engine.h,
 * docs/POLICY.md "Org policies"): what an org policy may not do (a global layer, a platform rule
 * id), and the regex limits in force for its rules (the org's, clamped to the platform's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/engine_internal.h"

/* The rule of layer l with this id, or NULL. Linear: composing happens once per org policy
 * version, not per call. */
static const struct bw_policy_rule *find_id(const struct bw_policy_layer *l, const char *id) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->rules[i].id, id) == 0)
            return &l->rules[i];
    return NULL;
}

bw_err bw_policy_compose_check(const struct bw_policy *platform, const struct bw_policy *org,
                               char *err, size_t err_size) {
    if (!org || org->overlay || (platform && platform->overlay)) {
        snprintf(err, err_size, "policy:1: not a plain policy");
        return BW_E_INVALID;
    }
    if (org->global.n) {
        snprintf(err, err_size,
                 "policy:%zu: an org policy has rules only: the global layer is "
                 "the platform's",
                 org->global.rules[0].line);
        return BW_E_INVALID;
    }
    for (size_t i = 0; platform && i < org->rules.n; i++) {
        const struct bw_policy_rule *r = &org->rules.rules[i];
        if (find_id(&platform->global, r->id) || find_id(&platform->rules, r->id)) {
            snprintf(err, err_size,
                     "policy:%zu: rule id '%s' is a rule of the platform policy "
                     "(receipts name rules by id: choose another)",
                     r->line, r->id);
            return BW_E_INVALID;
        }
    }
    return BW_OK;
}

static uint32_t min_u32(uint32_t a, uint32_t b) {
    return a < b ? a : b;
}

/* The composite's regex limits for the org's rules: the org's, clamped to the platform's (the
 * operator's ceiling; the built-in defaults without a platform policy). */
static bw_err compose_limits(struct bw_policy *p, const struct bw_policy *platform,
                             const struct bw_policy *org) {
    p->match_limit =
        min_u32(org->match_limit, platform ? platform->match_limit : BW_POLICY_DEFAULT_MATCH_LIMIT);
    p->depth_limit =
        min_u32(org->depth_limit, platform ? platform->depth_limit : BW_POLICY_DEFAULT_DEPTH_LIMIT);
    p->budget_ms =
        min_u32(org->budget_ms, platform ? platform->budget_ms : BW_POLICY_DEFAULT_BUDGET_MS);
    p->mctx = pcre2_match_context_copy(org->mctx);
    if (!p->mctx)
        return BW_E_NOMEM;
    pcre2_set_match_limit(p->mctx, p->match_limit);
    pcre2_set_depth_limit(p->mctx, p->depth_limit);
    return BW_OK;
}

bw_err bw_policy_compose(struct bw_policy *platform, struct bw_policy *org,
                         struct bw_policy **out) {
    char why[160];
    BW_TRY(bw_policy_compose_check(platform, org, why, sizeof why));
    struct bw_policy *p = calloc(1, sizeof *p);
    if (!p)
        return BW_E_NOMEM;
    atomic_init(&p->refs, 1);
    p->base = platform ? bw_policy_ref(platform) : NULL;
    p->overlay = bw_policy_ref(org);
    memcpy(p->sha256, bw_policy_sha256(p), 32);
    if (compose_limits(p, platform, org) != BW_OK) {
        bw_policy_unref(p); /* the last reference: frees it and drops both parts */
        return BW_E_NOMEM;
    }
    *out = p;
    return BW_OK;
}
