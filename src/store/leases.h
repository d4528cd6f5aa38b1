/* leases.h: budget and rate leases in the store (migration 5; docs/SPEND.md, "Several
 * replicas"). Written once for both backends on top of sql.h; only the PostgreSQL deployment
 * (several replicas on one database) uses them, SQLite runs the same statements in unit tests.
 *
 * A budget pool is one row per (org, agent, month): how much of the scope's monthly budget all
 * replicas together have been granted. A grant is ONE conditional UPDATE whose WHERE clause
 * refuses any grant that would take the pool past the limit the caller passes in (from the
 * billing state and config, so a plan change applies to the very next grant); concurrent
 * grants serialise on the row lock, so replicas together can never be granted more than the
 * limit. A rate bucket is one row per (org, bucket name), refilled in SQL from the caller's
 * clock and leased in chunks.
 *
 * Every function is tenant-scoped: it binds org_id in its SQL and runs in a transaction whose
 * tenant is org_id (row-level security on PostgreSQL). Errors: BW_E_INVALID (malformed ids or
 * amounts), BW_E_LIMIT (the pool or bucket cannot give what is needed; nothing written),
 * BW_E_UNAVAILABLE (store failure: the caller denies). Not thread-safe per handle (sql.h). */
#ifndef BW_STORE_LEASES_H
#define BW_STORE_LEASES_H

#include <stdint.h>

#include "store/store.h"

/* Who holds a lease: the replica's stable identity (its evidence log's key id, 8 hex, the
 * prefix of its receipt ids) and this process's incarnation (its start time in ms). */
struct bw_lease_holder {
    const char *replica;
    int64_t incarnation;
};

/* A budget scope's month: agent "" is the org's own budget. */
struct bw_lease_scope {
    const char *org_id;
    const char *agent;
    int32_t month;
};

/* Per dimension (tokens, cost micro-units): limit -1 = unlimited (nothing is counted; the
 * grant is 0). 0 <= need <= want. With rem = limit - granted (the pool's remainder at the
 * moment of the grant), the grant is min(rem, max(need, min(want, rem / divisor))), refused
 * when rem < need: a fraction of what is left, at least what the call needs, at most want.
 * divisor 0 or 1: min(want, rem). */
struct bw_budget_ask {
    int64_t limit_tokens, limit_cost;
    int64_t want_tokens, want_cost;
    int64_t need_tokens, need_cost;
    int64_t divisor;
};

struct bw_budget_grant {
    int64_t tokens, cost;           /* granted now (0 on BW_E_LIMIT) */
    int64_t left_tokens, left_cost; /* the pool's remainder after this call; -1 unlimited */
};

/* Takes a lease from the scope's pool for holder, creating the pool on first use with the
 * month's usage already metered for the scope (spend from before leases existed counts).
 * In the same transaction the holder's lease row records the grant. BW_OK: *out filled.
 * BW_E_LIMIT: the pool cannot give need (out->left_* tell what is left). */
bw_err bw_store_budget_lease(struct bw_store *s, const struct bw_lease_scope *sc,
                             const struct bw_lease_holder *h, const struct bw_budget_ask *ask,
                             int64_t now_ms, struct bw_budget_grant *out) BW_MUST_CHECK;

/* Gives unused budget back to the pool (graceful shutdown) and marks the holder's lease row
 * 'returned'. A negative amount is spend beyond what was granted (an upstream that ignored
 * max_tokens): it is charged to the pool unconditionally, never forgiven. The pool never goes
 * below zero: a return larger than the pool's count is clamped. */
bw_err bw_store_budget_return(struct bw_store *s, const struct bw_lease_scope *sc,
                              const struct bw_lease_holder *h, int64_t tokens, int64_t cost,
                              int64_t now_ms) BW_MUST_CHECK;

/* At start: marks the open lease rows of earlier incarnations of h->replica in org_id as
 * 'lost' (a crash ended them without a return). Their grants stay counted in the pools: lost
 * budget is the safe direction. *n (may be NULL) gets the number of rows marked. */
bw_err bw_store_budget_leases_lost(struct bw_store *s, const char *org_id,
                                   const struct bw_lease_holder *h, int64_t now_ms,
                                   int64_t *n) BW_MUST_CHECK;

/* Reads a pool (for tests and GET endpoints): granted so far. BW_E_NOT_FOUND if none. */
bw_err bw_store_budget_pool_get(struct bw_store *s, const struct bw_lease_scope *sc,
                                int64_t *granted_tokens, int64_t *granted_cost) BW_MUST_CHECK;

/* A shared token bucket: rate_per_min and burst in 1..1e9 (a new bucket is full). */
struct bw_rate_ask {
    const char *org_id;
    const char *bucket; /* the limits key, e.g. "rk:<key id>"; at most 255 bytes */
    int64_t rate_per_min, burst;
    int64_t want, need; /* 1 <= need <= want */
};

/* Refills the bucket to now_ms (the caller's wall clock; a time before the bucket's last
 * update adds nothing) and takes min(want, level) if level >= need. BW_OK: *granted set.
 * BW_E_LIMIT: *retry_after_ms is when need will be there (-1 if need > burst: never). */
bw_err bw_store_rate_lease(struct bw_store *s, const struct bw_rate_ask *a, int64_t now_ms,
                           int64_t *granted, int64_t *retry_after_ms) BW_MUST_CHECK;

#endif
