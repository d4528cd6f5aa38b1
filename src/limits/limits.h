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
 * metered in the `usage` table and bw_billing_restore (billing.h) reloads the month's totals;
 * the PostgreSQL path for several replicas is a conditional UPDATE (docs/SPEND.md). */
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
};

/* Why a reservation was refused or changed. reason is a reason code (policy/reasons.h). */
struct bw_limits_verdict {
    const char *reason; /* NULL on plain success */
    int64_t max_tokens; /* the completion cap reserved (clamped if clamped = 1) */
    int clamped;
    int64_t fit_max_tokens; /* on BUDGET_EXHAUSTED: the largest max_tokens that fits (0 = none) */
    int64_t worst_tokens, worst_cost_micros;
};

/* Reserves the worst case of a call (prompt_tokens + max_tokens, and its cost) against the org
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

#endif
