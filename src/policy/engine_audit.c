/* engine_audit.c: static questions about a compiled policy that readiness asks
 * (src/posture/): does any rule allow everything? */
#include "policy/engine_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* 1 if the set accepts every value: a pattern made only of '*' ('*' matches any run of bytes,
 * also the empty one). An absent matcher (n == 0) is checked by the caller's fields. */
static int strset_accepts_all(const struct bw_policy_strset *set) {
    for (size_t i = 0; i < set->n; i++) {
        const char *t = set->v[i].text;
        if (t[0] == '*' && t[strspn(t, "*")] == 0)
            return 1;
    }
    return 0;
}

/* The numeric and time matchers accept everything when they bound nothing: max_tokens and
 * cost with no upper bound and a lower bound of at most 0 (an absent max_tokens or an unknown
 * cost count as unbounded, engine_eval.c), a time window of every day, all day. */
static int bounds_accept_all(const struct bw_policy_rule *r) {
    if ((r->fields & BW_PF_TOKENS) && (r->tokens_min > 0 || r->tokens_max != INT64_MAX))
        return 0;
    if ((r->fields & BW_PF_COST) && (r->cost_min > 0 || !isinf(r->cost_max)))
        return 0;
    if ((r->fields & BW_PF_TIME) &&
        (r->time.days != 0x7f || r->time.start_min != 0 || r->time.end_min != 24 * 60))
        return 0;
    return 1;
}

/* docs/POLICY.md "Default deny": an allow rule of the deciding (`rules`) layer whose every
 * matcher accepts every value. Tool, content and argument matchers always narrow (a tool
 * matcher cannot match a call without that tool), so their presence makes the rule not an
 * allow-all. */
static int rule_allows_all(const struct bw_policy_rule *r) {
    if (r->effect != BW_POLICY_ALLOW)
        return 0;
    if ((r->fields & (BW_PF_TOOL | BW_PF_CONTENT | BW_PF_RESOURCE | BW_PF_PROMPT)) || r->n_args ||
        !bounds_accept_all(r))
        return 0;
    const struct {
        unsigned bit;
        const struct bw_policy_strset *set;
    } strs[] = {{BW_PF_ORG, &r->org},
                {BW_PF_AGENT, &r->agent},
                {BW_PF_ROLE, &r->role},
                {BW_PF_ROUTE, &r->route},
                {BW_PF_MODEL, &r->model}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if ((r->fields & strs[i].bit) && !strset_accepts_all(strs[i].set))
            return 0;
    return 1;
}

size_t bw_policy_allow_all_rules(const struct bw_policy *p, char first_id[BW_POLICY_ID_SIZE]) {
    /* A composite decides with its overlay's rules layer. */
    const struct bw_policy_layer *rules = p->overlay ? &p->overlay->rules : &p->rules;
    size_t n = 0;
    first_id[0] = 0;
    for (size_t i = 0; i < rules->n; i++) {
        if (!rule_allows_all(&rules->rules[i]))
            continue;
        if (n++ == 0)
            memcpy(first_id, rules->rules[i].id, BW_POLICY_ID_SIZE);
    }
    return n;
}
