/* Unit tests: leased mode of the in-memory limits (several replicas; docs/SPEND.md "Several
 * replicas") and the lease arithmetic. No database: grants are made by hand, as the lease
 * manager makes them. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "limits/limits.h"
#include "reason/reasons.h"

#define MARCH_MS 1710460800000LL /* 2024-03-15 */
#define APRIL_MS 1712188800000LL /* 2024-04-04 */

static struct bw_limits *leased(void) {
    struct bw_limits *l = NULL;
    assert_int_equal(bw_limits_new(NULL, &l), BW_OK);
    bw_limits_set_leased(l);
    assert_true(bw_limits_leased(l));
    return l;
}

static void lease_want_arithmetic(void **state) {
    (void)state;
    assert_int_equal(bw_limits_lease_want(-1, -2, 500), 0);      /* unlimited: nothing to lease */
    assert_int_equal(bw_limits_lease_want(8000, -2, 10), 1000);  /* first: an eighth of the limit */
    assert_int_equal(bw_limits_lease_want(8000, 4000, 10), 500); /* an eighth of what is left */
    assert_int_equal(bw_limits_lease_want(8000, 40, 10), 10);    /* the tail: one call's worth */
    assert_int_equal(bw_limits_lease_want(8000, 0, 300), 300);
    assert_int_equal(bw_limits_lease_want(8000, 9000, 1), 1000); /* a stale view above the limit */
    assert_int_equal(bw_limits_lease_want(8000, -2, 5000), 5000);
    assert_int_equal(bw_limits_lease_want(100, -2, 500),
                     500); /* more than the limit: refused by the pool */
    assert_int_equal(bw_limits_lease_want(0, -2, 1), 1);
    assert_int_equal(bw_limits_lease_want(BW_LIMITS_MAX_BUDGET, -2, 1), BW_LIMITS_MAX_BUDGET / 8);
    /* the sizes shrink geometrically as the pool empties: 1/8 of the rest each time */
    int64_t left = 80000, total = 0;
    for (int i = 0; i < 200 && left > 0; i++) {
        int64_t g = bw_limits_lease_want(80000, left, 100);
        if (g > left)
            g = left; /* what the pool's min(want, left) gives */
        if (left < 100)
            break;
        total += g;
        left -= g;
    }
    assert_true(total <= 80000 && left < 100);
}

static void rate_lease_want_arithmetic(void **state) {
    (void)state;
    struct bw_limits_rate r = {12, 12};
    assert_int_equal(bw_limits_rate_lease_want(&r, 1), 1); /* a slow rate: one at a time */
    struct bw_limits_rate fast = {600000, 600000};
    assert_int_equal(bw_limits_rate_lease_want(&fast, 1), 10000); /* one second of refill */
    assert_int_equal(bw_limits_rate_lease_want(&fast, 25000), 25000);
    struct bw_limits_rate small_burst = {600000, 40};
    assert_int_equal(bw_limits_rate_lease_want(&small_burst, 1), 10); /* a quarter of the burst */
    struct bw_limits_rate tiny = {60, 2};
    assert_int_equal(bw_limits_rate_lease_want(&tiny, 1), 1);
    assert_int_equal(bw_limits_rate_lease_want(&tiny, 2), 2);
    struct bw_limits_rate tokens = {100000, 100000};
    assert_int_equal(bw_limits_rate_lease_want(&tokens, 90000), 90000); /* a call's worst case */
    assert_int_equal(bw_limits_rate_lease_want(&tokens, 100000), 100000);
}

static struct bw_limits_call call_of(const char *org, const char *agent, int64_t prompt,
                                     int64_t max_tokens, int clamp) {
    struct bw_limits_call c = {org, agent, prompt, max_tokens, -1, NULL, clamp, 1, 0, 0};
    return c;
}

static void budget_admits_against_the_holding(void **state) {
    (void)state;
    struct bw_limits *l = leased();
    int32_t m = bw_limits_month_of(MARCH_MS);
    assert_int_equal(bw_limits_budget_set(l, "acme", "", 1000, -1), BW_OK);
    struct bw_limits_call c = call_of("acme", "", 20, 80, 0);
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r = NULL;
    /* nothing held: short by the whole worst case, although the limit has room */
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_E_LIMIT);
    assert_string_equal(v.reason, BW_R_BUDGET_EXHAUSTED);
    assert_int_equal(v.lease_short, 1);
    assert_int_equal(v.short_tokens[0], 100);
    assert_int_equal(v.short_cost[0], 0);
    assert_int_equal(bw_limits_budget_grant(l, "acme", "", m, 250, 0, 750, -1), BW_OK);
    struct bw_limits_reservation *rs[3];
    for (int i = 0; i < 2; i++)
        assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &rs[i], &v), BW_OK);
    /* 50 left of 250 < half the grant: a prefetch is asked for, once */
    assert_int_equal(v.lease_low, 1);
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &rs[2], &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 1);
    assert_int_equal(v.short_tokens[0], 50);
    /* settle below the worst case: the unused part is back in the holding */
    bw_limits_settle(l, rs[0], 20, 30, NULL);
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &rs[0], &v), BW_OK);
    assert_int_equal(v.lease_low, 0); /* still pending: not asked twice */
    struct bw_limits_budget_state b;
    assert_int_equal(bw_limits_budget_get(l, "acme", "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.held_tokens, 250);
    assert_int_equal(b.spent_tokens, 50);
    assert_int_equal(b.reserved_tokens, 200);
    int64_t lt = 0, lc = 0;
    bw_limits_budget_left_seen(l, "acme", "", &lt, &lc);
    assert_int_equal(lt, 750);
    assert_int_equal(lc, -1);
    bw_limits_cancel(l, rs[0]);
    bw_limits_cancel(l, rs[1]);
    bw_limits_free(l);
}

static void dry_pool_is_final_and_clamps_to_the_holding(void **state) {
    (void)state;
    struct bw_limits *l = leased();
    int32_t m = bw_limits_month_of(MARCH_MS);
    assert_int_equal(bw_limits_budget_set(l, "acme", "", 1000, -1), BW_OK);
    assert_int_equal(bw_limits_budget_grant(l, "acme", "", m, 60, 0, 0, -1), BW_OK);
    bw_limits_budget_dry(l, "acme", "", MARCH_MS);
    struct bw_limits_call c = call_of("acme", "", 20, 80, 0);
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r = NULL;
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 0); /* the pool is empty: final, no database round trip */
    assert_int_equal(v.fit_max_tokens, 40);
    c.allow_clamp = 1;
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_OK);
    assert_true(v.clamped);
    assert_int_equal(v.max_tokens, 40);
    bw_limits_cancel(l, r);
    /* after BW_LIMITS_DRY_MS the pool may be asked again */
    c.allow_clamp = 0;
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS + BW_LIMITS_DRY_MS + 1, &r, &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 1);
    /* a changed limit clears the mark at once (a plan upgrade) */
    bw_limits_budget_dry(l, "acme", "", MARCH_MS);
    assert_int_equal(bw_limits_budget_set(l, "acme", "", 5000, -1), BW_OK);
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 1);
    bw_limits_free(l);
}

static void agent_and_cost_scopes_report_their_own_shortfall(void **state) {
    (void)state;
    struct bw_limits *l = leased();
    int32_t m = bw_limits_month_of(MARCH_MS);
    assert_int_equal(bw_limits_budget_set(l, "acme", "", -1, 1000000), BW_OK);
    assert_int_equal(bw_limits_budget_set(l, "acme", "bot", 500, -1), BW_OK);
    struct bw_limits_price price = {1000000, 2000000}; /* $1 / $2 per 1M tokens */
    struct bw_limits_call c = {"acme", "bot", 100, 100, -1, &price, 0, 1, 0, 0};
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r = NULL;
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 3);
    assert_int_equal(v.short_tokens[0], 0);   /* org tokens unlimited */
    assert_int_equal(v.short_cost[0], 300);   /* 100 * 1 + 100 * 2 micro-units */
    assert_int_equal(v.short_tokens[1], 200); /* agent: tokens only */
    assert_int_equal(v.short_cost[1], 0);
    assert_int_equal(bw_limits_budget_grant(l, "acme", "", m, 0, 300, -1, 999700), BW_OK);
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 2);
    assert_int_equal(bw_limits_budget_grant(l, "acme", "bot", m, 200, 0, 300, -1), BW_OK);
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_OK);
    /* an overrun (upstream ignored max_tokens) is charged: the holding goes negative and the
     * debt is what take_unused hands back (to be charged to the pool) */
    bw_limits_settle(l, r, 100, 300, NULL);
    int32_t month = 0;
    int64_t t = 0, cost = 0;
    assert_int_equal(bw_limits_budget_take_unused(l, "acme", "bot", &month, &t, &cost), BW_OK);
    assert_int_equal(month, m);
    assert_int_equal(t, -200);
    assert_int_equal(bw_limits_budget_take_unused(l, "acme", "", &month, &t, &cost), BW_OK);
    assert_int_equal(cost, 300 - 700);
    assert_int_equal(bw_limits_budget_take_unused(l, "nobody", "", &month, &t, &cost),
                     BW_E_NOT_FOUND);
    bw_limits_free(l);
}

static void holdings_are_per_month_and_returned_once(void **state) {
    (void)state;
    struct bw_limits *l = leased();
    int32_t march = bw_limits_month_of(MARCH_MS), april = bw_limits_month_of(APRIL_MS);
    assert_int_equal(bw_limits_budget_set(l, "acme", "", 1000, -1), BW_OK);
    assert_int_equal(bw_limits_budget_grant(l, "acme", "", march, 300, 0, 700, -1), BW_OK);
    struct bw_limits_call c = call_of("acme", "", 10, 90, 0);
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r = NULL;
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_OK);
    /* the first call in April starts with nothing held; March's reservation settles into
     * nothing */
    struct bw_limits_reservation *r2 = NULL;
    assert_int_equal(bw_limits_reserve(l, &c, APRIL_MS, &r2, &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 1);
    bw_limits_settle(l, r, 10, 90, NULL);
    /* a late grant for March is ignored */
    assert_int_equal(bw_limits_budget_grant(l, "acme", "", march, 300, 0, 400, -1), BW_OK);
    struct bw_limits_budget_state b;
    assert_int_equal(bw_limits_budget_get(l, "acme", "", APRIL_MS, &b), BW_OK);
    assert_int_equal(b.held_tokens, 0);
    assert_int_equal(bw_limits_budget_grant(l, "acme", "", april, 120, 0, 880, -1), BW_OK);
    assert_int_equal(bw_limits_reserve(l, &c, APRIL_MS, &r2, &v), BW_OK);
    int32_t month = 0;
    int64_t t = 0, cost = 0;
    assert_int_equal(bw_limits_budget_take_unused(l, "acme", "", &month, &t, &cost), BW_OK);
    assert_int_equal(month, april);
    assert_int_equal(t, 20); /* held 120 - reserved 100 (an open reservation counts as spent) */
    assert_int_equal(bw_limits_budget_take_unused(l, "acme", "", &month, &t, &cost), BW_OK);
    assert_int_equal(t, 0); /* given back once */
    bw_limits_cancel(l, r2);
    bw_limits_free(l);
}

static int count_scope(void *arg, const char *org, const char *agent,
                       const struct bw_limits_budget_state *st) {
    int *n = arg;
    if (strcmp(org, "acme") == 0 && strcmp(agent, "bot") == 0)
        assert_int_equal(st->held_tokens, 7);
    (*n)++;
    return 0;
}

static void each_lists_every_scope(void **state) {
    (void)state;
    struct bw_limits *l = leased();
    assert_int_equal(bw_limits_budget_set(l, "acme", "", 1000, -1), BW_OK);
    assert_int_equal(bw_limits_budget_set(l, "acme", "bot", 100, -1), BW_OK);
    assert_int_equal(bw_limits_budget_set(l, "other", "", 1, -1), BW_OK);
    assert_int_equal(
        bw_limits_budget_grant(l, "acme", "bot", bw_limits_month_of(MARCH_MS), 7, 0, 93, -1),
        BW_OK);
    int n = 0;
    assert_int_equal(bw_limits_budget_each(l, count_scope, &n), BW_OK);
    assert_int_equal(n, 3);
    bw_limits_free(l);
}

static void leased_buckets(void **state) {
    (void)state;
    struct bw_limits *l = leased();
    struct bw_limits_rate r = {60, 10};
    int64_t short_n = 0, retry = 0;
    int64_t t0 = 5000000;
    assert_int_equal(bw_limits_take_held(l, "rk:a", 3, t0, &short_n, &retry), BW_E_LIMIT);
    assert_int_equal(short_n, 3);
    assert_int_equal(bw_limits_bucket_grant(l, "rk:a", &r, 4, t0), BW_OK);
    assert_int_equal(bw_limits_take_held(l, "rk:a", 3, t0, &short_n, &retry), BW_OK);
    assert_int_equal(bw_limits_take_held(l, "rk:a", 3, t0, &short_n, &retry), BW_E_LIMIT);
    assert_int_equal(short_n, 2); /* one held */
    /* held units never refill by themselves, and expire */
    assert_int_equal(bw_limits_take_held(l, "rk:a", 1, t0 + 900000, &short_n, &retry), BW_OK);
    assert_int_equal(bw_limits_bucket_grant(l, "rk:a", &r, 2, t0), BW_OK);
    assert_int_equal(
        bw_limits_take_held(l, "rk:a", 1, t0 + BW_LIMITS_RATE_LEASE_US + 1, &short_n, &retry),
        BW_E_LIMIT);
    assert_int_equal(short_n, 1);
    /* a refund goes back into a valid holding, capped at the burst */
    assert_int_equal(bw_limits_bucket_grant(l, "rk:a", &r, 9, t0), BW_OK);
    bw_limits_refund(l, "rk:a", &r, 5, t0);
    assert_int_equal(bw_limits_take_held(l, "rk:a", 10, t0, &short_n, &retry), BW_OK);
    assert_int_equal(bw_limits_take_held(l, "rk:a", 1, t0, &short_n, &retry), BW_E_LIMIT);
    /* the shared bucket said no: refused locally with its Retry-After, no lease asked */
    bw_limits_bucket_dry(l, "rk:a", t0, 700);
    assert_int_equal(bw_limits_take_held(l, "rk:a", 1, t0 + 1000, &short_n, &retry), BW_E_LIMIT);
    assert_int_equal(short_n, 0);
    assert_int_equal(retry, 700);
    assert_int_equal(bw_limits_take_held(l, "rk:a", 1, t0 + 700001, &short_n, &retry), BW_E_LIMIT);
    assert_int_equal(short_n, 1);
    /* bad input; and not in leased mode */
    assert_int_equal(bw_limits_take_held(l, "", 1, t0, &short_n, &retry), BW_E_INVALID);
    assert_int_equal(bw_limits_take_held(l, "rk:a", 0, t0, &short_n, &retry), BW_E_INVALID);
    assert_int_equal(bw_limits_bucket_grant(l, "rk:a", &r, -1, t0), BW_E_INVALID);
    struct bw_limits *plain = NULL;
    assert_int_equal(bw_limits_new(NULL, &plain), BW_OK);
    assert_int_equal(bw_limits_take_held(plain, "rk:a", 1, t0, &short_n, &retry), BW_E_INVALID);
    bw_limits_free(plain);
    bw_limits_free(l);
}

/* 32 threads race for a holding of exactly K worst cases: exactly K pass. */
struct race {
    struct bw_limits *l;
    pthread_barrier_t *barrier;
    int got;
    struct bw_limits_reservation *held[10];
};

static void *race_thread(void *arg) {
    struct race *x = arg;
    pthread_barrier_wait(x->barrier);
    for (int i = 0; i < 10; i++) {
        struct bw_limits_call c = {"acme", "", 10, 90, -1, NULL, 0, 1, 0, 0};
        struct bw_limits_verdict v;
        struct bw_limits_reservation *r = NULL;
        if (bw_limits_reserve(x->l, &c, MARCH_MS, &r, &v) == BW_OK)
            x->held[x->got++] = r;
    }
    return NULL;
}

static void holding_exact_under_concurrency(void **state) {
    (void)state;
    enum { N = 32, K = 37 };
    struct bw_limits *l = leased();
    assert_int_equal(bw_limits_budget_set(l, "acme", "", 1000000, -1), BW_OK);
    assert_int_equal(
        bw_limits_budget_grant(l, "acme", "", bw_limits_month_of(MARCH_MS), K * 100 + 99, 0, 0, -1),
        BW_OK);
    static struct race rs[N];
    pthread_t th[N];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        memset(&rs[i], 0, sizeof rs[i]);
        rs[i].l = l;
        rs[i].barrier = &barrier;
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &rs[i]), 0);
    }
    int got = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        got += rs[i].got;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(got, K);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < rs[i].got; j++)
            bw_limits_cancel(l, rs[i].held[j]);
    bw_limits_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lease_want_arithmetic),
        cmocka_unit_test(rate_lease_want_arithmetic),
        cmocka_unit_test(budget_admits_against_the_holding),
        cmocka_unit_test(dry_pool_is_final_and_clamps_to_the_holding),
        cmocka_unit_test(agent_and_cost_scopes_report_their_own_shortfall),
        cmocka_unit_test(holdings_are_per_month_and_returned_once),
        cmocka_unit_test(each_lists_every_scope),
        cmocka_unit_test(leased_buckets),
        cmocka_unit_test(holding_exact_under_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
