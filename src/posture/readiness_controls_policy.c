/* readiness_controls_policy.c: the orgs' own policies for the policy control (docs/POLICY.md
 * "Default deny"). An org policy is read only when its hash is new to the refresher: the
 * metadata read is cheap, compiling is not. */
#include <stdlib.h>
#include <string.h>

#include "policy/engine.h"
#include "posture/readiness_internal.h"
#include "store/org_policy.h"

static long cached(const struct bw_ready_policy_cache *pc, const uint8_t sha[32]) {
    for (size_t i = 0; i < BW_READY_POLICY_CACHE; i++)
        if (pc->e[i].used && memcmp(pc->e[i].sha256, sha, 32) == 0)
            return (long)pc->e[i].allow_all;
    return -1;
}

static void remember(struct bw_ready_policy_cache *pc, const uint8_t sha[32], size_t allow_all) {
    size_t i = pc->next;
    pc->next = (pc->next + 1) % BW_READY_POLICY_CACHE;
    memcpy(pc->e[i].sha256, sha, 32);
    pc->e[i].allow_all = allow_all;
    pc->e[i].used = 1;
}

long bw_ready_org_policy_allow_all(const struct bw_ready_ctx *c, const char *org_id) {
    struct bw_org_policy_meta meta;
    bw_err e = bw_store_org_policy_meta(c->store, org_id, &meta);
    if (e == BW_E_NOT_FOUND)
        return 0; /* the org uses the platform's rules */
    if (e != BW_OK) {
        bw_ready_store_failed(c);
        return -1;
    }
    long hit = cached(c->policies, meta.sha256);
    if (hit >= 0)
        return hit;
    char *text = NULL;
    size_t len = 0;
    if (bw_store_org_policy_get(c->store, org_id, &text, &len, &meta) != BW_OK) {
        bw_ready_store_failed(c);
        return -1;
    }
    struct bw_policy *p = NULL;
    char err[256], first[BW_POLICY_ID_SIZE];
    e = bw_policy_parse(text, len, "org policy", &p, err, sizeof err);
    free(text);
    if (e != BW_OK)
        return -1; /* it was compiled when it was PUT: failing now is a failure */
    size_t n = bw_policy_allow_all_rules(p, first);
    bw_policy_unref(p);
    remember(c->policies, meta.sha256, n);
    return (long)n;
}
