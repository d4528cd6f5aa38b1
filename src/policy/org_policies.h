/* org_policies.h: the gateway's cache of per-org policies (docs/POLICY.md "Org policies").
 *
 * For a call of org O the policy in force is the platform policy (config `policy:`) composed
 * with O's own policy when O has one (stored in the database by PUT /api/v1/policies): the
 * platform's global layer first, then O's rules. Entries are checked against the database at
 * most once per second per org (a cheap metadata read: the stored SHA-256), so a change made
 * through another replica applies within a second; a change made here is applied at once
 * (bw_org_policies_invalidate). A database failure, or a stored policy that no longer
 * compiles, denies that org's calls (fail closed): the answer would otherwise ignore rules the
 * org set. Thread-safe (one mutex; the database is read outside it). */
#ifndef BW_POLICY_ORG_POLICIES_H
#define BW_POLICY_ORG_POLICIES_H

#include <stdint.h>

#include "policy/engine.h"
#include "store/store.h"

#define BW_ORG_POLICY_TTL_MS 1000
#define BW_ORG_POLICY_SLOTS 4096 /* orgs cached at once; others are read on every call */

struct bw_org_policies;

bw_err bw_org_policies_new(struct bw_org_policies **out) BW_MUST_CHECK;
void bw_org_policies_free(struct bw_org_policies *c);

/* The policy for org_id's calls: a new reference in *out to the composite (org has a policy),
 * or to platform (it has none; NULL if platform is NULL). platform is borrowed (the caller
 * holds a reference). Errors: BW_E_UNAVAILABLE (store failure or an uncompilable stored
 * policy: deny). */
bw_err bw_org_policies_acquire(struct bw_org_policies *c, struct bw_store *s, const char *org_id,
                               struct bw_policy *platform, int64_t now_ms,
                               struct bw_policy **out) BW_MUST_CHECK;

/* The cache alone (no store): 1 and a new reference in *out when org_id's entry is fresh (as
 * bw_org_policies_acquire would answer without reading), else 0: call bw_org_policies_acquire,
 * which may read the store (an event worker calls it from a store job). */
int bw_org_policies_cached(struct bw_org_policies *c, const char *org_id,
                           struct bw_policy *platform, int64_t now_ms, struct bw_policy **out);

/* Forgets org_id's entry (after a change in this process). NULL org_id: every entry (after a
 * platform policy reload). */
void bw_org_policies_invalidate(struct bw_org_policies *c, const char *org_id);

#endif
