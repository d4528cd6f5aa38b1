/* Unit tests: limits/ (token buckets, in-flight caps, budgets with reservations). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "limits/limits.h"
#include "reason/reasons.h"

/* 2024-03-15T00:00:00Z and 2024-04-01T00:00:00Z */
#define MARCH_MS 1710460800000LL
#define APRIL_MS 1711929600000LL

static struct bw_limits *new_limits(size_t max_keys) {
    struct bw_limits_opts o = {max_keys};
    struct bw_limits *l = NULL;
    assert_int_equal(bw_limits_new(&o, &l), BW_OK);
    return l;
}

static void bucket_precision(void **state) {
    (void)state;
    struct bw_limits *l = new_limits(0);
    struct bw_limits_rate r = {60, 1}; /* one per second, burst one */
    int64_t retry = 0;
    int64_t t0 = 1000000;
    assert_int_equal(bw_limits_take(l, "k", &r, 1, t0, &retry), BW_OK);
    assert_int_equal(bw_limits_take(l, "k", &r, 1, t0, &retry), BW_E_LIMIT);
    assert_int_equal(retry, 1000);
    assert_int_equal(bw_limits_take(l, "k", &r, 1, t0 + 999999, &retry), BW_E_LIMIT);
    assert_int_equal(retry, 1); /* 1 us left, rounded up to 1 ms */
    assert_int_equal(bw_limits_take(l, "k", &r, 1, t0 + 1000000, &retry), BW_OK);
    /* a clock that goes back adds nothing */
    assert_int_equal(bw_limits_take(l, "k", &r, 1, t0, &retry), BW_E_LIMIT);

    /* burst 10 at 600/min (10/s): 10 at once, then one per 100 ms exactly */
    struct bw_limits_rate r2 = {600, 10};
    for (int i = 0; i < 10; i++)
        assert_int_equal(bw_limits_take(l, "b", &r2, 1, 0, &retry), BW_OK);
    assert_int_equal(bw_limits_take(l, "b", &r2, 1, 0, &retry), BW_E_LIMIT);
    assert_int_equal(retry, 100);
    assert_int_equal(bw_limits_take(l, "b", &r2, 1, 100000, &retry), BW_OK);
    assert_int_equal(bw_limits_take(l, "b", &r2, 1, 100000, &retry), BW_E_LIMIT);
    /* a long idle period never fills past the burst */
    assert_int_equal(bw_limits_take(l, "b", &r2, 10, 3600000000LL, &retry), BW_OK);
    assert_int_equal(bw_limits_take(l, "b", &r2, 1, 3600000000LL, &retry), BW_E_LIMIT);
    /* more than the burst can never be taken */
    assert_int_equal(bw_limits_take(l, "b", &r2, 11, 9000000000LL, &retry), BW_E_LIMIT);
    assert_int_equal(retry, -1);

    /* tokens per minute: 7 per minute, take 5, refund 3, take 5 */
    struct bw_limits_rate tpm = {7, 7};
    assert_int_equal(bw_limits_take(l, "t", &tpm, 5, 0, &retry), BW_OK);
    assert_int_equal(bw_limits_take(l, "t", &tpm, 5, 0, &retry), BW_E_LIMIT);
    /* 3 missing at 7/min: ceil(3 * 60e6 / 7) us = 25714286 us -> 25715 ms */
    assert_int_equal(retry, 25715);
    bw_limits_refund(l, "t", &tpm, 3, 0);
    assert_int_equal(bw_limits_take(l, "t", &tpm, 5, 0, &retry), BW_OK);
    /* the largest rate and burst do not overflow over a century */
    struct bw_limits_rate big = {BW_LIMITS_MAX_RATE, BW_LIMITS_MAX_RATE};
    assert_int_equal(bw_limits_take(l, "big", &big, BW_LIMITS_MAX_RATE, 0, &retry), BW_OK);
    assert_int_equal(bw_limits_take(l, "big", &big, BW_LIMITS_MAX_RATE, 3153600000000000LL, &retry),
                     BW_OK);

    /* invalid input */
    struct bw_limits_rate bad = {0, 1};
    assert_int_equal(bw_limits_take(l, "x", &bad, 1, 0, &retry), BW_E_INVALID);
    assert_int_equal(bw_limits_take(l, "", &r, 1, 0, &retry), BW_E_INVALID);
    assert_int_equal(bw_limits_take(l, "x", &r, 0, 0, &retry), BW_E_INVALID);
    char longkey[BW_LIMITS_KEY_MAX + 1];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    assert_int_equal(bw_limits_take(l, longkey, &r, 1, 0, &retry), BW_E_INVALID);
    bw_limits_free(l);
}

static void bucket_table_full_fails_closed(void **state) {
    (void)state;
    struct bw_limits *l = new_limits(64); /* one key per shard */
    struct bw_limits_rate r = {1, 1};
    int64_t retry = 0;
    char key[32];
    int refused = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        bw_err e = bw_limits_take(l, key, &r, 1, 0, &retry);
        assert_true(e == BW_OK || e == BW_E_UNAVAILABLE);
        refused += e == BW_E_UNAVAILABLE;
    }
    assert_true(refused > 0);
    /* once the buckets are full again (one minute later) they are evicted and keys fit */
    int fitted = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "n%d", i);
        bw_err e = bw_limits_take(l, key, &r, 1, 120000000LL + i, &retry);
        assert_true(e == BW_OK || e == BW_E_UNAVAILABLE);
        fitted += e == BW_OK;
    }
    assert_true(fitted >= 32); /* evicted idle buckets made room */
    bw_limits_free(l);
}

struct race {
    struct bw_limits *l;
    pthread_barrier_t *barrier;
    int admitted;
    int exhausted;
    struct bw_limits_reservation *res;
};

static const struct bw_limits_price race_price = {1000000, 2000000}; /* $1 / $2 per 1M */

static void *race_thread(void *arg) {
    struct race *r = arg;
    struct bw_limits_call call = {"org_race", "agent-a", 100, 100, -1, &race_price, 0, 1, 0, 0};
    struct bw_limits_verdict v;
    pthread_barrier_wait(r->barrier);
    bw_err e = bw_limits_reserve(r->l, &call, MARCH_MS, &r->res, &v);
    if (e == BW_OK)
        r->admitted = 1;
    else if (e == BW_E_LIMIT && strcmp(v.reason, BW_R_BUDGET_EXHAUSTED) == 0)
        r->exhausted = 1;
    return NULL;
}

/* 200 threads race for a budget of exactly 50 worst cases (200 tokens each): exactly 50 win. */
static void exact_under_concurrency(void **state) {
    (void)state;
    enum { N = 200 };
    struct bw_limits *l = new_limits(0);
    assert_int_equal(bw_limits_budget_set(l, "org_race", "", 50 * 200, BW_LIMITS_UNLIMITED), BW_OK);
    /* the agent scope's cost budget also fits exactly 50: 100*1 + 100*2 = 300 micro per call */
    assert_int_equal(bw_limits_budget_set(l, "org_race", "agent-a", BW_LIMITS_UNLIMITED, 50 * 300),
                     BW_OK);
    static struct race races[N];
    pthread_t th[N];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        races[i] = (struct race){l, &barrier, 0, 0, NULL};
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &races[i]), 0);
    }
    int admitted = 0, exhausted = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        admitted += races[i].admitted;
        exhausted += races[i].exhausted;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(admitted, 50);
    assert_int_equal(exhausted, N - 50);
    struct bw_limits_budget_state b;
    assert_int_equal(bw_limits_budget_get(l, "org_race", "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.reserved_tokens, 50 * 200);
    /* settle everything with half the completion: 150 tokens, 100 + 100 = 200 micro each */
    for (int i = 0; i < N; i++)
        if (races[i].res)
            bw_limits_settle(l, races[i].res, 100, 50, NULL);
    assert_int_equal(bw_limits_budget_get(l, "org_race", "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.reserved_tokens, 0);
    assert_int_equal(b.spent_tokens, 50 * 150);
    assert_int_equal(b.spent_cost_micros, 50 * 200);
    assert_int_equal(bw_limits_budget_get(l, "org_race", "agent-a", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.spent_cost_micros, 50 * 200);
    assert_int_equal(b.reserved_cost_micros, 0);
    bw_limits_free(l);
}

static void settle_cancel_arithmetic(void **state) {
    (void)state;
    struct bw_limits *l = new_limits(0);
    struct bw_limits_price p = {150000, 600000};   /* gpt-4o-mini: $0.15 / $0.60 per 1M */
    assert_int_equal(bw_limits_cost(&p, 1, 0), 1); /* 0.15 micro rounds up */
    assert_int_equal(bw_limits_cost(&p, 1000000, 1000000), 750000);
    assert_int_equal(bw_limits_cost(&p, 0, 0), 0);
    assert_int_equal(bw_limits_cost(NULL, 5, 5), 0);
    assert_int_equal(bw_limits_estimate_prompt_tokens(0), 1);
    assert_int_equal(bw_limits_estimate_prompt_tokens(4), 1);
    assert_int_equal(bw_limits_estimate_prompt_tokens(5), 2);
    assert_int_equal(bw_limits_estimate_prompt_tokens(400), 100);

    assert_int_equal(bw_limits_budget_set(l, "o", "", 1000, 100000), BW_OK);
    struct bw_limits_call call = {"o", NULL, 100, 400, -1, &p, 0, 1, 0, 0};
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r1 = NULL, *r2 = NULL, *r3 = NULL;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r1, &v), BW_OK);
    assert_int_equal(v.max_tokens, 400);
    assert_int_equal(v.clamped, 0);
    assert_int_equal(v.worst_tokens, 500);
    assert_int_equal(v.worst_cost_micros, bw_limits_cost(&p, 100, 400));
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r2, &v), BW_OK);
    /* 1000 reserved: a third does not fit; it would fit with max_tokens 0 only -> none */
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r3, &v), BW_E_LIMIT);
    assert_string_equal(v.reason, BW_R_BUDGET_EXHAUSTED);
    assert_int_equal(v.fit_max_tokens, 0);
    bw_limits_cancel(l, r2);
    struct bw_limits_budget_state b;
    assert_int_equal(bw_limits_budget_get(l, "o", "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.reserved_tokens, 500);
    assert_int_equal(b.spent_tokens, 0);
    int64_t cost = -1;
    bw_limits_settle(l, r1, 90, 10, &cost);
    assert_int_equal(cost, bw_limits_cost(&p, 90, 10));
    assert_int_equal(bw_limits_budget_get(l, "o", "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.reserved_tokens, 0);
    assert_int_equal(b.spent_tokens, 100);
    assert_int_equal(b.spent_cost_micros, cost);
    /* 900 left: worst case 500 fits; with max_tokens 850 it does not, 800 would */
    call.max_tokens = 850;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r3, &v), BW_E_LIMIT);
    assert_int_equal(v.fit_max_tokens, 800);
    call.allow_clamp = 1;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r3, &v), BW_OK);
    assert_int_equal(v.clamped, 1);
    assert_int_equal(v.max_tokens, 800);
    /* an overrun (upstream ignored max_tokens) is charged in full */
    bw_limits_settle(l, r3, 100, 2000, NULL);
    assert_int_equal(bw_limits_budget_get(l, "o", "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.spent_tokens, 2200);
    call.max_tokens = 1;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r3, &v), BW_E_LIMIT);

    /* cost clamp: only the cost limit binds */
    assert_int_equal(bw_limits_budget_set(l, "c", "", BW_LIMITS_UNLIMITED, 100), BW_OK);
    struct bw_limits_price pc = {1000000, 1000000}; /* 1 micro per token */
    struct bw_limits_call cc = {"c", NULL, 30, 100, -1, &pc, 0, 1, 0, 0};
    assert_int_equal(bw_limits_reserve(l, &cc, MARCH_MS, &r3, &v), BW_E_LIMIT);
    assert_int_equal(v.fit_max_tokens, 70);
    cc.max_tokens = 70;
    assert_int_equal(bw_limits_reserve(l, &cc, MARCH_MS, &r3, &v), BW_OK);
    bw_limits_cancel(l, r3);

    /* unbounded and unpriced */
    struct bw_limits_call nb = {"o", NULL, 10, -1, -1, &p, 0, 1, 0, 0};
    assert_int_equal(bw_limits_reserve(l, &nb, MARCH_MS, &r3, &v), BW_E_INVALID);
    assert_string_equal(v.reason, BW_R_BUDGET_UNBOUNDED);
    nb.default_max_tokens = 5;
    assert_int_equal(bw_limits_reserve(l, &nb, APRIL_MS, &r3, &v), BW_OK);
    assert_int_equal(v.max_tokens, 5);
    bw_limits_cancel(l, r3);
    /* a prompt the bytes cannot bound (a file part) is unbounded too, where a budget applies */
    nb.max_tokens = 5;
    nb.prompt_unbounded = 1;
    assert_int_equal(bw_limits_reserve(l, &nb, APRIL_MS, &r3, &v), BW_E_INVALID);
    assert_string_equal(v.reason, BW_R_BUDGET_UNBOUNDED);
    struct bw_limits_call np = {"c", NULL, 10, 10, -1, NULL, 0, 1, 0, 0};
    assert_int_equal(bw_limits_reserve(l, &np, MARCH_MS, &r3, &v), BW_E_DENIED);
    assert_string_equal(v.reason, BW_R_PRICE_UNKNOWN);
    /* an org with no budget set is unlimited, needs no bound, and still meters spend */
    struct bw_limits_call free_call = {"free", NULL, 10, -1, -1, NULL, 0, 1, 0, 1};
    assert_int_equal(bw_limits_reserve(l, &free_call, MARCH_MS, &r3, &v), BW_OK);
    bw_limits_settle(l, r3, 10, 20, NULL);
    assert_int_equal(bw_limits_budget_get(l, "free", "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.spent_tokens, 30);
    /* bad input */
    struct bw_limits_call bad = {"o", NULL, -1, 10, -1, &p, 0, 1, 0, 0};
    assert_int_equal(bw_limits_reserve(l, &bad, MARCH_MS, &r3, &v), BW_E_INVALID);
    bad.prompt_tokens = BW_LIMITS_MAX_TOKENS + 1;
    assert_int_equal(bw_limits_reserve(l, &bad, MARCH_MS, &r3, &v), BW_E_INVALID);
    assert_int_equal(bw_limits_budget_set(l, "o", "", -2, 0), BW_E_INVALID);
    assert_int_equal(bw_limits_budget_set(l, "", "", 1, 1), BW_E_INVALID);
    assert_int_equal(bw_limits_budget_get(l, "nobody", "", MARCH_MS, &b), BW_E_NOT_FOUND);
    bw_limits_free(l);
}

static void month_rollover(void **state) {
    (void)state;
    assert_int_equal(bw_limits_month_of(MARCH_MS), 2024 * 12 + 2);
    assert_int_equal(bw_limits_month_of(APRIL_MS), 2024 * 12 + 3);
    assert_int_equal(bw_limits_month_of(APRIL_MS - 1), 2024 * 12 + 2);
    struct bw_limits *l = new_limits(0);
    assert_int_equal(bw_limits_budget_set(l, "o", "", 1000, BW_LIMITS_UNLIMITED), BW_OK);
    struct bw_limits_call call = {"o", NULL, 100, 400, -1, NULL, 0, 1, 0, 0};
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r1 = NULL, *r2 = NULL, *r3 = NULL;
    assert_int_equal(bw_limits_reserve(l, &call, APRIL_MS - 2, &r1, &v), BW_OK);
    assert_int_equal(bw_limits_reserve(l, &call, APRIL_MS - 1, &r2, &v), BW_OK);
    assert_int_equal(bw_limits_reserve(l, &call, APRIL_MS - 1, &r3, &v), BW_E_LIMIT);
    assert_int_equal(bw_limits_reservation_month(r1), 2024 * 12 + 2);
    /* April starts from zero; March's reservations settle into nothing */
    assert_int_equal(bw_limits_reserve(l, &call, APRIL_MS, &r3, &v), BW_OK);
    bw_limits_settle(l, r1, 100, 400, NULL);
    bw_limits_cancel(l, r2);
    struct bw_limits_budget_state b;
    assert_int_equal(bw_limits_budget_get(l, "o", "", APRIL_MS, &b), BW_OK);
    assert_int_equal(b.reserved_tokens, 500);
    assert_int_equal(b.spent_tokens, 0);
    bw_limits_settle(l, r3, 1, 2, NULL);
    /* restored spend of an older month is ignored; of this month counts */
    assert_int_equal(bw_limits_budget_add_spent(l, "o", "", 2024 * 12 + 2, 900, 0), BW_OK);
    assert_int_equal(bw_limits_budget_add_spent(l, "o", "", 2024 * 12 + 3, 10, 0), BW_OK);
    assert_int_equal(bw_limits_budget_get(l, "o", "", APRIL_MS, &b), BW_OK);
    assert_int_equal(b.spent_tokens, 13);
    assert_int_equal(b.month, 2024 * 12 + 3);
    /* a clock that goes back to March reserves and releases within April */
    assert_int_equal(bw_limits_reserve(l, &call, APRIL_MS - 5, &r1, &v), BW_OK);
    assert_int_equal(bw_limits_reservation_month(r1), 2024 * 12 + 3);
    bw_limits_cancel(l, r1);
    assert_int_equal(bw_limits_budget_get(l, "o", "", APRIL_MS, &b), BW_OK);
    assert_int_equal(b.reserved_tokens, 0);
    /* a read in May shows a fresh month */
    assert_int_equal(bw_limits_budget_get(l, "o", "", APRIL_MS + 31LL * 86400000, &b), BW_OK);
    assert_int_equal(b.spent_tokens, 0);
    assert_int_equal(b.max_tokens, 1000);
    bw_limits_free(l);
}

struct inflight_race {
    struct bw_limits *l;
    pthread_barrier_t *barrier;
    int got;
};

static void *inflight_thread(void *arg) {
    struct inflight_race *r = arg;
    pthread_barrier_wait(r->barrier);
    r->got = bw_limits_inflight_acquire(r->l, "org_x", 7) == BW_OK;
    return NULL;
}

static void inflight_cap(void **state) {
    (void)state;
    enum { N = 64 };
    struct bw_limits *l = new_limits(0);
    static struct inflight_race rs[N];
    pthread_t th[N];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        rs[i] = (struct inflight_race){l, &barrier, 0};
        assert_int_equal(pthread_create(&th[i], NULL, inflight_thread, &rs[i]), 0);
    }
    int got = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        got += rs[i].got;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(got, 7);
    assert_int_equal(bw_limits_inflight_count(l, "org_x"), 7);
    bw_limits_inflight_release(l, "org_x");
    assert_int_equal(bw_limits_inflight_acquire(l, "org_x", 7), BW_OK);
    assert_int_equal(bw_limits_inflight_acquire(l, "org_x", 7), BW_E_LIMIT);
    for (int i = 0; i < 7; i++)
        bw_limits_inflight_release(l, "org_x");
    assert_int_equal(bw_limits_inflight_count(l, "org_x"), 0);
    bw_limits_inflight_release(l, "org_x"); /* an extra release does not go negative */
    assert_int_equal(bw_limits_inflight_count(l, "org_x"), 0);
    assert_int_equal(bw_limits_inflight_acquire(l, "org_x", 0), BW_E_INVALID);
    bw_limits_free(l);
}

struct bucket_race {
    struct bw_limits *l;
    pthread_barrier_t *barrier;
    int got;
};

static void *bucket_thread(void *arg) {
    struct bucket_race *r = arg;
    struct bw_limits_rate rate = {1, 25};
    int64_t retry;
    pthread_barrier_wait(r->barrier);
    for (int i = 0; i < 10; i++)
        r->got += bw_limits_take(r->l, "shared", &rate, 1, 5, &retry) == BW_OK;
    return NULL;
}

static void bucket_exact_under_concurrency(void **state) {
    (void)state;
    enum { N = 32 };
    struct bw_limits *l = new_limits(0);
    static struct bucket_race rs[N];
    pthread_t th[N];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        rs[i] = (struct bucket_race){l, &barrier, 0};
        assert_int_equal(pthread_create(&th[i], NULL, bucket_thread, &rs[i]), 0);
    }
    int got = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        got += rs[i].got;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(got, 25);
    bw_limits_free(l);
}

/* The completion worst case is cap x choices + extra; a clamp lowers the per-choice cap so
 * that the whole worst case fits (docs/SPEND.md "Worst case"). */
static void choices_and_extra(void **state) {
    (void)state;
    struct bw_limits *l = NULL;
    assert_int_equal(bw_limits_new(NULL, &l), BW_OK);
    assert_int_equal(bw_limits_budget_set(l, "o", "", 10000, BW_LIMITS_UNLIMITED), BW_OK);
    struct bw_limits_price p = {150000, 600000};
    struct bw_limits_call call = {"o", NULL, 100, 1000, -1, &p, 0, 8, 0, 0};
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r1 = NULL, *r2 = NULL;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r1, &v), BW_OK);
    assert_int_equal(v.worst_tokens, 100 + 8000);
    assert_int_equal(v.worst_cost_micros, bw_limits_cost(&p, 100, 8000));
    assert_int_equal(v.max_tokens, 1000);
    /* 1900 left: 8 choices of 1000 do not fit; 8 x 225 + 50 + 100 = 1950 > 1900, 8 x 218 fits */
    call.extra_completion = 50;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r2, &v), BW_E_LIMIT);
    assert_string_equal(v.reason, BW_R_BUDGET_EXHAUSTED);
    assert_int_equal(v.fit_max_tokens, (1900 - 100 - 50) / 8);
    call.allow_clamp = 1;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r2, &v), BW_OK);
    assert_int_equal(v.clamped, 1);
    assert_int_equal(v.max_tokens, 218);
    assert_int_equal(v.worst_tokens, 100 + 218 * 8 + 50);
    struct bw_limits_budget_state b;
    assert_int_equal(bw_limits_budget_get(l, "o", "", MARCH_MS, &b), BW_OK);
    assert_true(b.reserved_tokens <= b.max_tokens);
    bw_limits_cancel(l, r2);
    /* the extra alone does not fit a per-choice cap of 1: refused even with clamping */
    call.extra_completion = 1900;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r2, &v), BW_E_LIMIT);
    assert_int_equal(v.fit_max_tokens, 0);
    /* the largest call the bounds allow is representable; out of range is refused */
    bw_limits_cancel(l, r1);
    call.choices = BW_LIMITS_MAX_CHOICES + 1;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r2, &v), BW_E_INVALID);
    call.choices = -1;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r2, &v), BW_E_INVALID);
    call.choices = 1;
    call.extra_completion = BW_LIMITS_MAX_TOKENS + 1;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r2, &v), BW_E_INVALID);
    bw_limits_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_precision),
        cmocka_unit_test(bucket_table_full_fails_closed),
        cmocka_unit_test(exact_under_concurrency),
        cmocka_unit_test(settle_cancel_arithmetic),
        cmocka_unit_test(choices_and_extra),
        cmocka_unit_test(month_rollover),
        cmocka_unit_test(inflight_cap),
        cmocka_unit_test(bucket_exact_under_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
