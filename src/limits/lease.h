/* lease.h: budget and rate leases for several replicas sharing one PostgreSQL (docs/SPEND.md,
 * "Several replicas"). The glue between the in-memory limits (limits.h, leased mode) and the
 * shared pools in the store (store/leases.h).
 *
 * A replica admits against what it holds (bw_limits_reserve, bw_limits_take_held: in memory,
 * one lock per scope). When a call finds the holding short, its worker leases more on its own
 * store handle (bw_lease_budget / bw_lease_rate: one short transaction, the one wait on the
 * database in admission) and reserves again. When a reservation leaves a budget holding below
 * half its last grant, the worker queues the scope (bw_lease_prefetch, never blocks) and the
 * manager's periodic store job tops it up on its own handle, so in steady state no worker waits. A
 * pool found empty is not asked again for BW_LIMITS_DRY_MS (so a flood of refused calls does not
 * become a flood of database round trips). A database that cannot be reached denies the calls that
 * need a lease (BW_E_UNAVAILABLE → LIMITS_UNAVAILABLE); calls within what is held still pass.
 *
 * Identity: the replica's evidence-log key id (which prefixes its receipt ids) plus this
 * process's start time (its incarnation). At start, open leases of earlier incarnations are
 * marked lost (a crash: their unused part stays counted in the pools, never re-spent); at
 * graceful shutdown (bw_lease_free) unused holdings go back to the pools.
 *
 * Thread-safety: bw_lease_budget, bw_lease_rate and bw_lease_prefetch from any thread (each
 * with its own store handle); new and free from one thread, free after the workers stopped. */
#ifndef BW_LIMITS_LEASE_H
#define BW_LIMITS_LEASE_H

#include <stdint.h>

#include "limits/limits.h"
#include "store/store.h"
#include "util/err.h"

struct bw_lease;

/* The monthly limits in force for a scope (agent "" = the org), read from the billing state
 * and the config at the moment of the lease, so a plan change applies to the very next grant.
 * -1 = unlimited. */
typedef bw_err (*bw_lease_limits_fn)(void *arg, struct bw_store *s, const char *org_id,
                                     const char *org_name, const char *agent, int64_t *max_tokens,
                                     int64_t *max_cost);

/* Re-reads every org's limits into l (the periodic job calls it every refresh_ms, so a plan
 * recorded through another replica reaches scopes this replica never leased for). */
typedef bw_err (*bw_lease_refresh_fn)(void *arg, struct bw_store *s, struct bw_limits *l,
                                      int64_t now_ms);

struct bw_lease_opts {
    const char *where;   /* database URL: the manager opens its own handle */
    const char *replica; /* 1..64 bytes: the evidence log's key id */
    int64_t incarnation; /* this process's start time, Unix ms */
    bw_lease_limits_fn limits_fn;
    bw_lease_refresh_fn refresh_fn; /* may be NULL */
    void *arg;                      /* for both functions */
    int refresh_ms;                 /* default 5000 */
};

/* l must be in leased mode (bw_limits_set_leased). Opens the manager's store handle, marks
 * lost leases of earlier incarnations, registers its periodic job on the store job pool `jobs`
 * (jobs/jobs.h: prefetches as they come, a refresh every refresh_ms). l and jobs are borrowed
 * and must outlive m. Errors: BW_E_INVALID, BW_E_UNAVAILABLE (store), BW_E_NOMEM. */
struct bw_jobs;
bw_err bw_lease_new(struct bw_jobs *jobs, struct bw_limits *l, const struct bw_lease_opts *o,
                    struct bw_lease **out) BW_MUST_CHECK;

/* Stops the periodic job, gives every scope's unused holding back to its pool (spend beyond a
 * holding is charged), closes the store. Call after the workers stopped. NULL is a no-op. */
void bw_lease_free(struct bw_lease *m);

/* Leases at least (need_tokens, need_cost) for the scope on the caller's store handle s and
 * adds it to the holding. allow_partial: if the pool has less than need but something, take
 * what is left (for a caller that may clamp max_tokens). BW_OK: granted (the caller reserves
 * again). BW_E_LIMIT: the pool is empty for this need (the scope is marked dry).
 * BW_E_UNAVAILABLE: the database failed (deny: LIMITS_UNAVAILABLE). */
bw_err bw_lease_budget(struct bw_lease *m, struct bw_store *s, const char *org_id,
                       const char *org_name, const char *agent, int64_t need_tokens,
                       int64_t need_cost, int allow_partial, int64_t now_ms) BW_MUST_CHECK;

/* Leases at least need units of the shared bucket `key` (of org_id) on s and adds them to the
 * holding. BW_E_LIMIT: the shared bucket is short; *retry_after_ms says when (the key is
 * marked dry until then, at most 1 s). BW_E_UNAVAILABLE: the database failed. */
bw_err bw_lease_rate(struct bw_lease *m, struct bw_store *s, const char *org_id, const char *key,
                     const struct bw_limits_rate *rate, int64_t need, int64_t now_us,
                     int64_t *retry_after_ms) BW_MUST_CHECK;

/* Queues a top-up of the scope for the periodic job. Never blocks on I/O; a full queue drops
 * the request (the next call that finds the holding short leases itself). */
void bw_lease_prefetch(struct bw_lease *m, const char *org_id, const char *org_name,
                       const char *agent);

/* Counters for tests and logs. */
struct bw_lease_stats {
    int64_t budget_leases, budget_refused, rate_leases, rate_refused, prefetches, failures;
};
void bw_lease_stats(struct bw_lease *m, struct bw_lease_stats *out);

#endif
