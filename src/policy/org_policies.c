/* org_policies.c: the per-org policy cache (org_policies.h). */
#include "policy/org_policies.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/org_policy.h"
#include "util/log.h"

struct entry {
    char org_id[BW_ID_SIZE];          /* "" = free slot */
    int has_policy;                   /* the org has its own policy */
    uint8_t sha256[32];               /* of its bytes */
    struct bw_policy *org;            /* compiled org policy (a reference), when has_policy */
    struct bw_policy *composed;       /* composite with `platform` (a reference) */
    const struct bw_policy *platform; /* the platform policy composed with (identity only) */
    int64_t checked_ms;
};

struct bw_org_policies {
    pthread_mutex_t mu;
    struct entry slots[BW_ORG_POLICY_SLOTS];
};

bw_err bw_org_policies_new(struct bw_org_policies **out) {
    struct bw_org_policies *c = calloc(1, sizeof *c);
    if (!c)
        return BW_E_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return BW_OK;
}

static void entry_clear(struct entry *e) {
    bw_policy_unref(e->org);
    bw_policy_unref(e->composed);
    memset(e, 0, sizeof *e);
}

void bw_org_policies_free(struct bw_org_policies *c) {
    if (!c)
        return;
    for (size_t i = 0; i < BW_ORG_POLICY_SLOTS; i++)
        entry_clear(&c->slots[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static struct entry *slot_of(struct bw_org_policies *c, const char *org_id) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = org_id; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return &c->slots[h % BW_ORG_POLICY_SLOTS];
}

/* Under c->mu: a reference to what the fresh entry says, or 0 if it is stale or absent. */
static int cached(struct bw_org_policies *c, const char *org_id, struct bw_policy *platform,
                  int64_t now_ms, struct bw_policy **out) {
    struct entry *e = slot_of(c, org_id);
    if (strcmp(e->org_id, org_id) != 0 || now_ms - e->checked_ms >= BW_ORG_POLICY_TTL_MS ||
        now_ms < e->checked_ms || (e->has_policy && e->platform != platform))
        return 0;
    struct bw_policy *p = e->has_policy ? e->composed : platform;
    *out = p ? bw_policy_ref(p) : NULL;
    return 1;
}

/* Reads and compiles org_id's policy (outside the lock). *org NULL if it has none. */
static bw_err load(struct bw_store *s, const char *org_id, struct bw_policy **org,
                   uint8_t sha256[32]) {
    char *text = NULL;
    size_t len = 0;
    struct bw_org_policy_meta meta;
    bw_err e = bw_store_org_policy_get(s, org_id, &text, &len, &meta);
    *org = NULL;
    if (e == BW_E_NOT_FOUND)
        return BW_OK;
    if (e != BW_OK)
        return BW_E_UNAVAILABLE;
    char err[256];
    e = bw_policy_parse(text, len, "org policy", org, err, sizeof err);
    free(text);
    if (e != BW_OK) {
        bw_error("policy: the stored policy of org %s does not compile (%s): its calls are denied",
                 org_id, err);
        return BW_E_UNAVAILABLE;
    }
    memcpy(sha256, meta.sha256, 32);
    return BW_OK;
}

/* Composes org_id's policy with the platform's. A stored policy the platform now refuses (a
 * reload gave the platform a rule id the org's policy uses) denies that org's calls until it
 * is replaced: deciding it would make receipts whose rule id names two rules. */
static bw_err compose(const char *org_id, struct bw_policy *platform, struct bw_policy *org,
                      struct bw_policy **out) {
    char why[300];
    if (bw_policy_compose_check(platform, org, why, sizeof why) != BW_OK) {
        bw_error("policy: the stored policy of org %s does not compose with the platform "
                 "policy (%s): its calls are denied",
                 org_id, why);
        return BW_E_INVALID;
    }
    return bw_policy_compose(platform, org, out);
}

int bw_org_policies_cached(struct bw_org_policies *c, const char *org_id,
                           struct bw_policy *platform, int64_t now_ms, struct bw_policy **out) {
    pthread_mutex_lock(&c->mu);
    int hit = cached(c, org_id, platform, now_ms, out);
    pthread_mutex_unlock(&c->mu);
    return hit;
}

bw_err bw_org_policies_acquire(struct bw_org_policies *c, struct bw_store *s, const char *org_id,
                               struct bw_policy *platform, int64_t now_ms, struct bw_policy **out) {
    pthread_mutex_lock(&c->mu);
    int hit = cached(c, org_id, platform, now_ms, out);
    pthread_mutex_unlock(&c->mu);
    if (hit)
        return BW_OK;
    /* Cheap check first: an unchanged policy keeps its compiled form. */
    struct bw_org_policy_meta meta;
    bw_err e = bw_store_org_policy_meta(s, org_id, &meta);
    if (e != BW_OK && e != BW_E_NOT_FOUND)
        return BW_E_UNAVAILABLE;
    int has = e == BW_OK;
    pthread_mutex_lock(&c->mu);
    struct entry *en = slot_of(c, org_id);
    int same = has && strcmp(en->org_id, org_id) == 0 && en->has_policy &&
               memcmp(en->sha256, meta.sha256, 32) == 0 && en->platform == platform;
    if (same || (!has && strcmp(en->org_id, org_id) == 0 && !en->has_policy)) {
        en->checked_ms = now_ms;
        struct bw_policy *p = has ? en->composed : platform;
        *out = p ? bw_policy_ref(p) : NULL;
        pthread_mutex_unlock(&c->mu);
        return BW_OK;
    }
    pthread_mutex_unlock(&c->mu);
    struct bw_policy *org = NULL, *composed = NULL;
    uint8_t sha[32];
    if (has && (load(s, org_id, &org, sha) != BW_OK ||
                (org && compose(org_id, platform, org, &composed) != BW_OK))) {
        bw_policy_unref(org);
        return BW_E_UNAVAILABLE;
    }
    has = org != NULL; /* deleted between the two reads: none */
    pthread_mutex_lock(&c->mu);
    entry_clear(en);
    snprintf(en->org_id, sizeof en->org_id, "%s", org_id);
    en->has_policy = has;
    en->org = org;
    en->composed = composed;
    en->platform = platform;
    if (has)
        memcpy(en->sha256, sha, 32);
    en->checked_ms = now_ms;
    struct bw_policy *p = has ? composed : platform;
    *out = p ? bw_policy_ref(p) : NULL;
    pthread_mutex_unlock(&c->mu);
    return BW_OK;
}

void bw_org_policies_invalidate(struct bw_org_policies *c, const char *org_id) {
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < BW_ORG_POLICY_SLOTS; i++)
        if (c->slots[i].org_id[0] && (!org_id || strcmp(c->slots[i].org_id, org_id) == 0))
            entry_clear(&c->slots[i]);
    pthread_mutex_unlock(&c->mu);
}
