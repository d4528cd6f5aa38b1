/* limits.h: admission primitives (step 3 of the pipeline, docs/SPEND.md): token-bucket rate
 * limits, a per-org in-flight cap, and monthly budgets with reservations.
 *
 * Thread-safety: every function may be called from any thread at the same time (the gateway
 * has one event loop per core). State is split into shards, each guarded by its own mutex; an
 * operation holds exactly one shard lock, never blocks on I/O, and never calls back. Results
 * are exact under concurrency: N threads racing for a budget that fits K worst cases admit
 * exactly K.
 *
 * Arithmetic is integer only. Costs are micro-units of currency (1 USD = 1,000,000). Token
 * buckets count in units of 1/60,000,000 token, so a rate of R per minute refills exactly R per
 * 60 s with no rounding drift.
 *
 * Limits are in memory (one process). Spend survives a restart because settled calls are
 * metered in the `usage` table and bw_billing_restore (billing.h) reloads the month's totals.
 *
 * Leased mode (several replicas on one PostgreSQL; lease.h, docs/SPEND.md "Several
 * replicas"): the same calls admit against what this replica HOLDS, granted from shared pools
 * in the database, instead of against the whole limit. A budget scope admits while
 * spent + reserved + worst <= held (per limited dimension); a bucket admits from units leased
 * from the shared bucket, which expire BW_LIMITS_RATE_LEASE_US after their grant. When the
 * holding is short these functions say so (verdict lease_short, bw_limits_take_held's
 * *short_n) and the caller leases more; they never do I/O themselves. */
#ifndef BW_LIMITS_LIMITS_H
#define BW_LIMITS_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct bw_limits;
struct bw_limits_reservation;

/* Bounds on inputs: larger values are refused (BW_E_INVALID), so products never overflow. */
#define BW_LIMITS_MAX_RATE 1000000000LL            /* per minute */
#define BW_LIMITS_MAX_TOKENS 100000000LL           /* tokens in one call */
#define BW_LIMITS_MAX_PRICE 10000000000LL          /* micro-units per 1M tokens ($10,000) */
#define BW_LIMITS_MAX_BUDGET 4000000000000000000LL /* tokens or micro-units per month */
#define BW_LIMITS_UNLIMITED (-1)                   /* a budget limit of -1: no limit */
#define BW_LIMITS_KEY_MAX 128                      /* bytes of a bucket / org / agent key */
#define BW_LIMITS_MAX_CHOICES 128                  /* choices (n) of one call */

/* Maximum keys held (buckets, in-flight counters, budget scopes), each. 0 = 65536. Past it an
 * admission fails closed with BW_E_UNAVAILABLE (after evicting idle buckets). */
struct bw_limits_opts {
    size_t max_keys;
};

bw_err bw_limits_new(const struct bw_limits_opts *opts, struct bw_limits **out) BW_MUST_CHECK;
/* Frees everything, including reservations not yet settled (their handles become invalid). NULL
 * is a no-op. No other call may run concurrently. */
void bw_limits_free(struct bw_limits *l);

/* ---- Token buckets ----
 * A bucket is named by a string key chosen by the caller (e.g. "rk:<key id>", "ra:<org>/<agent>",
 * "to:<org>"); distinct kinds of limit must use distinct prefixes. A new bucket starts full.
 * rate_per_min in 1..BW_LIMITS_MAX_RATE, burst in 1..BW_LIMITS_MAX_RATE (the bucket's size). */
struct bw_limits_rate {
    int64_t rate_per_min;
    int64_t burst;
};

/* Takes n (>= 1) units at time now_us (monotonic microseconds, bw_mono_us()). BW_OK: taken.
 * BW_E_LIMIT: not enough; *retry_after_ms (rounded up, >= 1) says when n will be available, or
 * -1 if n > burst (never). Other errors: BW_E_INVALID (bad spec or key), BW_E_UNAVAILABLE (key
 * table full). A time earlier than the bucket's last update is treated as no elapsed time. */
bw_err bw_limits_take(struct bw_limits *l, const char *key, const struct bw_limits_rate *rate,
                      int64_t n, int64_t now_us, int64_t *retry_after_ms) BW_MUST_CHECK;

/* Gives back n units (e.g. tokens reserved at admission and not used), capped at the burst. A
 * missing bucket is a no-op (it is full). */
void bw_limits_refund(struct bw_limits *l, const char *key, const struct bw_limits_rate *rate,
                      int64_t n, int64_t now_us);

/* ---- Concurrency ----
 * acquire: BW_OK and the count for key goes up by one if it is below max (>= 1); BW_E_LIMIT at
 * max. Every BW_OK must be paired with exactly one release. */
bw_err bw_limits_inflight_acquire(struct bw_limits *l, const char *key, int64_t max) BW_MUST_CHECK;
void bw_limits_inflight_release(struct bw_limits *l, const char *key);
int64_t bw_limits_inflight_count(struct bw_limits *l, const char *key);

/* ---- Monthly budgets ----
 * A scope is an org ("" agent) or an (org, agent) pair. Months are calendar months in UTC,
 * numbered year*12 + (month-1) (bw_limits_month_of). Spend and reservations belong to the month
 * of the reservation: at the first operation in a new month a scope starts from zero, and a
 * reservation made in an earlier month is settled into nothing in memory (its usage row still
 * carries its start time, so restore charges it to its own month). */

/* The month index of a Unix-ms time (UTC). */
int32_t bw_limits_month_of(int64_t unix_ms);

/* Sets (creates) the limits of a scope; -1 = unlimited. Keeps its spend and reservations. A
 * scope that was never set is unlimited. Errors: BW_E_INVALID, BW_E_UNAVAILABLE (table full). */
bw_err bw_limits_budget_set(struct bw_limits *l, const char *org, const char *agent,
                            int64_t max_tokens, int64_t max_cost_micros) BW_MUST_CHECK;

/* Adds already-settled spend of `month` (restore after a restart). Ignored if the scope is in a
 * later month. */
bw_err bw_limits_budget_add_spent(struct bw_limits *l, const char *org, const char *agent,
                                  int32_t month, int64_t tokens, int64_t cost_micros) BW_MUST_CHECK;

struct bw_limits_budget_state {
    int32_t month;
    int64_t max_tokens, max_cost_micros; /* -1 = unlimited */
    int64_t spent_tokens, spent_cost_micros;
    int64_t reserved_tokens, reserved_cost_micros;
    int64_t held_tokens, held_cost_micros; /* leased mode: granted to this replica this month */
};
/* Reads a scope as of now_ms (a new month reads as zero spend). BW_E_NOT_FOUND if never set. */
bw_err bw_limits_budget_get(struct bw_limits *l, const char *org, const char *agent, int64_t now_ms,
                            struct bw_limits_budget_state *out) BW_MUST_CHECK;

/* Prices of a model in micro-units per 1M tokens. */
struct bw_limits_price {
    int64_t prompt_per_1m;
    int64_t completion_per_1m;
};

/* Cost of a call: ceil((prompt * prompt_per_1m + completion * completion_per_1m) / 1e6). */
int64_t bw_limits_cost(const struct bw_limits_price *p, int64_t prompt_tokens,
                       int64_t completion_tokens);

/* Estimated prompt tokens of `bytes` bytes of message text: ceil(bytes / 4), at least 1. An
 * over-estimate for English with OpenAI tokenizers (~4 bytes per token); docs/SPEND.md. */
int64_t bw_limits_estimate_prompt_tokens(size_t bytes);

struct bw_limits_call {
    const char *org;                     /* required */
    const char *agent;                   /* NULL or "" = no agent scope */
    int64_t prompt_tokens;               /* estimate, >= 0 */
    int64_t max_tokens;                  /* the request's max_tokens, or -1 if absent */
    int64_t default_max_tokens;          /* used when max_tokens is -1; -1 = none */
    const struct bw_limits_price *price; /* NULL = no price known for the model */
    int allow_clamp; /* 1: if the worst case does not fit, reserve the largest fit */
    /* The request's choices (n, best_of: 1..BW_LIMITS_MAX_CHOICES; 0 = 1): the upstream
     * produces up to max_tokens per choice, so the completion worst case is choices x cap. */
    int64_t choices;
    /* Completion tokens billed beyond the per-choice cap (rejected predicted-output tokens),
     * 0..BW_LIMITS_MAX_TOKENS: added to the completion worst case, never clamped. */
    int64_t extra_completion;
    /* 1: the request holds input whose prompt tokens its bytes cannot bound (a file part: a
     * file_id of any size, or pages billed as images); refused BUDGET_UNBOUNDED where a budget
     * applies, as a call without a completion cap is. */
    int prompt_unbounded;
};

/* Why a reservation was refused or changed. reason is a reason code (reason/reasons.h). */
struct bw_limits_verdict {
    const char *reason; /* NULL on plain success */
    int64_t max_tokens; /* the per-choice completion cap reserved (clamped if clamped = 1) */
    int clamped;
    int64_t fit_max_tokens; /* on BUDGET_EXHAUSTED: the largest per-choice max_tokens that
                             * fits (0 = none) */
    int64_t worst_tokens, worst_cost_micros;
    /* Leased mode. lease_short (with BW_E_LIMIT BUDGET_EXHAUSTED): bit 1 the org scope, bit 2
     * the agent scope holds too little for the worst case and its pool was not found empty in
     * the last BW_LIMITS_DRY_MS: lease short_*[0] (org) / [1] (agent) more, then reserve again.
     * lease_low (with BW_OK): the same bits for scopes whose unused holding fell below half
     * their last grant; each is reported once until bw_limits_budget_grant/_dry (prefetch). */
    int lease_short, lease_low;
    int64_t short_tokens[2], short_cost[2];
};

/* Reserves the worst case of a call (prompt_tokens + max_tokens x choices + extra_completion, and
 * its cost with the completion part at the completion price) against the org
 * scope and, if set, the (org, agent) scope, atomically (both or neither), as of now_ms.
 * BW_OK: *out is a reservation to settle or cancel exactly once; v->max_tokens is the cap the
 * caller must enforce (send upstream) when v->clamped.
 * Errors (v->reason set): BW_E_INVALID BUDGET_UNBOUNDED (no max_tokens and no default);
 * BW_E_DENIED PRICE_UNKNOWN (a cost limit applies and price is NULL); BW_E_LIMIT
 * BUDGET_EXHAUSTED (v->fit_max_tokens tells the caller what would fit); BW_E_INVALID for bad
 * input; BW_E_UNAVAILABLE / BW_E_NOMEM. */
bw_err bw_limits_reserve(struct bw_limits *l, const struct bw_limits_call *call, int64_t now_ms,
                         struct bw_limits_reservation **out,
                         struct bw_limits_verdict *v) BW_MUST_CHECK;

/* Settles with the real usage: the reservation is released and the real tokens and cost
 * (computed with the reservation's price) are charged, even if they exceed the reservation
 * (an upstream that ignores max_tokens; the overrun is charged, never forgiven). Frees r.
 * *cost_micros (may be NULL) receives the cost. */
void bw_limits_settle(struct bw_limits *l, struct bw_limits_reservation *r, int64_t prompt_tokens,
                      int64_t completion_tokens, int64_t *cost_micros);

/* Releases the reservation without charging (the call never reached the upstream). Frees r.
 * NULL is a no-op. */
void bw_limits_cancel(struct bw_limits *l, struct bw_limits_reservation *r);

/* The month a reservation was made in (for metering). */
int32_t bw_limits_reservation_month(const struct bw_limits_reservation *r);

/* ---- Leased mode (several replicas; see the top of this file) ---- */

#define BW_LIMITS_LEASE_DIV 8           /* a budget lease asks for 1/8 of the pool's remainder */
#define BW_LIMITS_DRY_MS 1000           /* a pool found empty is not asked again for this long */
#define BW_LIMITS_RATE_LEASE_US 1000000 /* leased bucket units expire after 1 s */

/* Switches l to leased mode. Call once, before any other use. */
void bw_limits_set_leased(struct bw_limits *l);
int bw_limits_leased(const struct bw_limits *l) BW_MUST_CHECK;

/* Lease arithmetic (pure). The most a budget lease asks for in one dimension (its cap): 0 if
 * limit is -1 (unlimited), else max(need, remainder / BW_LIMITS_LEASE_DIV) and at most the
 * limit, where remainder is the pool's remainder last seen (left_seen >= 0) or the whole limit.
 * The pool grants min(left, max(need, min(cap, left / BW_LIMITS_LEASE_DIV))) from what it has
 * at that moment (store/leases.h), so leases shrink as the pool empties and the last tokens go
 * one call's worth at a time instead of being stranded on one replica. */
int64_t bw_limits_lease_want(int64_t limit, int64_t left_seen, int64_t need);

/* How much a rate lease asks for: max(need, min(one second of refill (ceil(rate/60)), burst/4,
 * at least 1)), never more than burst. need must be 1..burst. */
int64_t bw_limits_rate_lease_want(const struct bw_limits_rate *rate, int64_t need);

/* Adds a grant from the shared pool to the scope's holding in `month` (creating the scope with
 * unlimited limits if it does not exist; ignored if the scope is in a later month) and records
 * the pool's remainder after it (-1 unlimited) for the next lease's size. Clears the scope's
 * dry mark and pending prefetch. Errors: BW_E_INVALID, BW_E_UNAVAILABLE (table full). */
bw_err bw_limits_budget_grant(struct bw_limits *l, const char *org, const char *agent,
                              int32_t month, int64_t tokens, int64_t cost_micros,
                              int64_t left_tokens, int64_t left_cost) BW_MUST_CHECK;

/* Marks the scope's pool empty until now_ms + BW_LIMITS_DRY_MS (reservations that need more
 * than the holding then fail at once, BUDGET_EXHAUSTED, without asking the database) and
 * clears a pending prefetch. bw_limits_budget_set and a grant clear the mark. */
void bw_limits_budget_dry(struct bw_limits *l, const char *org, const char *agent, int64_t now_ms);

/* The scope's prefetch is over (failed for another reason than an empty pool). */
void bw_limits_budget_prefetch_done(struct bw_limits *l, const char *org, const char *agent);

/* Reads the scope's last seen pool remainder (for the next lease's size): -2 if never seen. */
void bw_limits_budget_left_seen(struct bw_limits *l, const char *org, const char *agent,
                                int64_t *left_tokens, int64_t *left_cost);

/* Takes the scope's unused holding out of it, for giving back to the pool at shutdown:
 * *tokens = held - spent - reserved (reservations still open count as spent), and the same for
 * cost; the holding becomes spent + reserved. A negative result is spend beyond the holding
 * (charged to the pool by the caller). *month is the scope's month. BW_E_NOT_FOUND if none. */
bw_err bw_limits_budget_take_unused(struct bw_limits *l, const char *org, const char *agent,
                                    int32_t *month, int64_t *tokens,
                                    int64_t *cost_micros) BW_MUST_CHECK;

/* Calls fn for every budget scope (agent "" for an org) with a copy of its state, outside the
 * locks (the scopes are gathered first), so fn may call back into l. Stops when fn returns
 * non-zero. BW_E_NOMEM if the list cannot be built. */
typedef int (*bw_limits_scope_fn)(void *arg, const char *org, const char *agent,
                                  const struct bw_limits_budget_state *st);
bw_err bw_limits_budget_each(struct bw_limits *l, bw_limits_scope_fn fn, void *arg) BW_MUST_CHECK;

/* Takes n (1..BW_LIMITS_MAX_RATE) units from this replica's leased holding of bucket key.
 * BW_OK: taken. BW_E_LIMIT: either the holding is short by *short_n (> 0: lease that much more,
 * then call again), or the shared bucket refused within the last moments (*short_n = 0 and
 * *retry_after_ms its Retry-After). Leased mode only (BW_E_INVALID otherwise). */
bw_err bw_limits_take_held(struct bw_limits *l, const char *key, int64_t n, int64_t now_us,
                           int64_t *short_n, int64_t *retry_after_ms) BW_MUST_CHECK;

/* Adds n units leased from the shared bucket to key's holding, valid until
 * now_us + BW_LIMITS_RATE_LEASE_US (the whole holding takes the new expiry). The holding is
 * capped at the bucket's burst. Errors: BW_E_INVALID, BW_E_UNAVAILABLE (table full). */
bw_err bw_limits_bucket_grant(struct bw_limits *l, const char *key,
                              const struct bw_limits_rate *rate, int64_t n,
                              int64_t now_us) BW_MUST_CHECK;

/* The shared bucket refused: key answers BW_E_LIMIT with retry_after_ms from bw_limits_take_held
 * until now_us + retry_after_ms (at most 1 s), without asking the database. */
void bw_limits_bucket_dry(struct bw_limits *l, const char *key, int64_t now_us,
                          int64_t retry_after_ms);

#endif
