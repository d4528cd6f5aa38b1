/* Unit tests: budget pools, lease rows and shared rate buckets in the store (store/leases.h),
 * and the lease manager (limits/lease.h) on top of them. The statements are the ones PostgreSQL
 * runs (tests/integration/pg_leases.test.mjs runs them there, across two replicas); here on
 * SQLite, with one handle per thread standing in for one replica each. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <cmocka.h>

#include "jobs/jobs.h"
#include "limits/lease.h"
#include "limits/limits.h"
#include "store/leases.h"
#include "store/store.h"

#define MARCH_MS 1710460800000LL /* 2024-03-15 */

struct fixture {
    char dir[64];
    char path[128];
    struct bw_store *s;
    char org[BW_ID_SIZE];
    int32_t month;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/bw-leases-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/db", f->dir);
    assert_int_equal(bw_store_open_sqlite(f->path, 1, &f->s), BW_OK);
    assert_int_equal(bw_store_org_create(f->s, "acme", f->org), BW_OK);
    f->month = bw_limits_month_of(MARCH_MS);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    bw_store_close(f->s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static const struct bw_lease_holder H1 = {"aaaa1111", 1}, H2 = {"bbbb2222", 1};

static struct bw_budget_ask ask(int64_t limit, int64_t want, int64_t need) {
    struct bw_budget_ask a = {limit, -1, want, 0, need, 0, 0};
    return a;
}

static void grants_never_pass_the_limit(void **state) {
    struct fixture *f = *state;
    struct bw_lease_scope sc = {f->org, "", f->month};
    struct bw_budget_grant g;
    struct bw_budget_ask a = ask(1000, 400, 100);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 400);
    assert_int_equal(g.left_tokens, 600);
    assert_int_equal(g.cost, 0);
    assert_int_equal(g.left_cost, -1);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H2, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 400);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 200); /* min(want, what is left) */
    assert_int_equal(g.left_tokens, 0);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H2, &a, MARCH_MS, &g), BW_E_LIMIT);
    assert_int_equal(g.tokens, 0);
    assert_int_equal(g.left_tokens, 0);
    int64_t t = 0, c = 0;
    assert_int_equal(bw_store_budget_pool_get(f->s, &sc, &t, &c), BW_OK);
    assert_int_equal(t, 1000);
    /* a lower limit (a plan downgrade) refuses at once; a higher one grants again */
    a = ask(800, 50, 1);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_E_LIMIT);
    a = ask(1100, 400, 100);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 100);
    /* returns: unused back to the pool; a negative return (an overrun) is charged */
    assert_int_equal(bw_store_budget_return(f->s, &sc, &H1, 300, 0, MARCH_MS), BW_OK);
    assert_int_equal(bw_store_budget_pool_get(f->s, &sc, &t, &c), BW_OK);
    assert_int_equal(t, 800);
    assert_int_equal(bw_store_budget_return(f->s, &sc, &H2, -50, 0, MARCH_MS), BW_OK);
    assert_int_equal(bw_store_budget_pool_get(f->s, &sc, &t, &c), BW_OK);
    assert_int_equal(t, 850);
    assert_int_equal(bw_store_budget_return(f->s, &sc, &H2, 5000, 0, MARCH_MS), BW_OK);
    assert_int_equal(bw_store_budget_pool_get(f->s, &sc, &t, &c), BW_OK);
    assert_int_equal(t, 0); /* clamped: never below zero */
}

/* With a divisor the grant is a fraction of what the pool has now, so a replica that comes
 * late (or a pool another replica drained) gets a small lease, and the tail goes one need at a
 * time. */
static void grants_shrink_with_the_pool(void **state) {
    struct fixture *f = *state;
    struct bw_lease_scope sc = {f->org, "", f->month};
    struct bw_budget_grant g;
    struct bw_budget_ask a = {8000, -1, 1000, 0, 10, 0, 8};
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 1000); /* 8000 / 8 */
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 875); /* 7000 / 8 */
    struct bw_budget_ask drain = {8000, -1, 5965, 0, 1, 0, 1};
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &drain, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.left_tokens, 160);
    /* a second replica's first lease, asking for its usual cap: an eighth of what is left */
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H2, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 20);
    int64_t total = 0;
    while (bw_store_budget_lease(f->s, &sc, &H2, &a, MARCH_MS, &g) == BW_OK) {
        assert_true(g.tokens >= 10 && g.tokens <= 140);
        total += g.tokens;
    }
    assert_int_equal(g.left_tokens, 140 - total);
    assert_true(g.left_tokens < 10); /* only less than one need is left */
    a.divisor = -1;
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H2, &a, MARCH_MS, &g), BW_E_INVALID);
}

static void cost_dimension_and_bad_input(void **state) {
    struct fixture *f = *state;
    struct bw_lease_scope sc = {f->org, "bot", f->month};
    struct bw_budget_ask a = {-1, 5000, 0, 2000, 0, 1500, 0};
    struct bw_budget_grant g;
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 0); /* unlimited tokens: nothing counted */
    assert_int_equal(g.cost, 2000);
    assert_int_equal(g.left_tokens, -1);
    assert_int_equal(g.left_cost, 3000);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_OK);
    a.need_cost = 1001;
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &a, MARCH_MS, &g), BW_E_LIMIT);
    assert_int_equal(g.left_cost, 1000);
    /* want below need, negative amounts, limits below -1, bad ids, no holder */
    struct bw_budget_ask bad = ask(100, 1, 2);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &bad, MARCH_MS, &g), BW_E_INVALID);
    bad = ask(-2, 1, 1);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &bad, MARCH_MS, &g), BW_E_INVALID);
    bad = ask(100, -1, -1);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &bad, MARCH_MS, &g), BW_E_INVALID);
    bad = ask(100, BW_LIMITS_MAX_BUDGET + 1, 1);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H1, &bad, MARCH_MS, &g), BW_E_INVALID);
    struct bw_lease_scope forged = {"org_'; DROP TABLE x; --", "", f->month};
    a = ask(100, 1, 1);
    assert_int_equal(bw_store_budget_lease(f->s, &forged, &H1, &a, MARCH_MS, &g), BW_E_INVALID);
    struct bw_lease_holder nobody = {"", 1};
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &nobody, &a, MARCH_MS, &g), BW_E_INVALID);
    assert_int_equal(bw_store_budget_return(f->s, &sc, &H1, -BW_LIMITS_MAX_BUDGET - 1, 0, 0),
                     BW_E_INVALID);
}

static void a_new_pool_counts_the_months_usage(void **state) {
    struct fixture *f = *state;
    struct bw_usage_record u;
    memset(&u, 0, sizeof u);
    snprintf(u.org_id, sizeof u.org_id, "%s", f->org);
    snprintf(u.agent, sizeof u.agent, "bot");
    snprintf(u.model, sizeof u.model, "m");
    snprintf(u.status, sizeof u.status, "ok");
    u.total_tokens = u.prompt_tokens = 300;
    u.cost_micros = 7;
    u.month = f->month;
    u.started_ms = u.ended_ms = MARCH_MS;
    assert_int_equal(bw_store_usage_insert(f->s, &u), BW_OK);
    snprintf(u.agent, sizeof u.agent, "other");
    u.total_tokens = u.prompt_tokens = 200;
    assert_int_equal(bw_store_usage_insert(f->s, &u), BW_OK);
    struct bw_budget_grant g;
    struct bw_budget_ask a = ask(1000, 1000, 1);
    struct bw_lease_scope org = {f->org, "", f->month}, bot = {f->org, "bot", f->month};
    assert_int_equal(bw_store_budget_lease(f->s, &org, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 500); /* 1000 - (300 + 200) already spent this month */
    assert_int_equal(bw_store_budget_lease(f->s, &bot, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 700); /* the agent's own usage only */
    struct bw_lease_scope april = {f->org, "", f->month + 1};
    assert_int_equal(bw_store_budget_lease(f->s, &april, &H1, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(g.tokens, 1000); /* a new month starts from zero */
}

static void crashed_incarnations_are_marked_lost(void **state) {
    struct fixture *f = *state;
    struct bw_lease_scope sc = {f->org, "", f->month};
    struct bw_budget_grant g;
    struct bw_budget_ask a = ask(1000, 100, 1);
    struct bw_lease_holder first = {"aaaa1111", 100}, second = {"aaaa1111", 200};
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &first, &a, MARCH_MS, &g), BW_OK);
    assert_int_equal(bw_store_budget_lease(f->s, &sc, &H2, &a, MARCH_MS, &g), BW_OK);
    int64_t n = -1;
    assert_int_equal(bw_store_budget_leases_lost(f->s, f->org, &second, MARCH_MS, &n), BW_OK);
    assert_int_equal(n, 1); /* only the same replica's earlier incarnation */
    assert_int_equal(bw_store_budget_leases_lost(f->s, f->org, &second, MARCH_MS, &n), BW_OK);
    assert_int_equal(n, 0);
    int64_t t = 0, c = 0;
    assert_int_equal(bw_store_budget_pool_get(f->s, &sc, &t, &c), BW_OK);
    assert_int_equal(t, 200); /* the lost lease stays counted */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT state FROM budget_leases WHERE replica = "
                                        "'aaaa1111' AND incarnation = 100",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "lost");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void shared_rate_bucket(void **state) {
    struct fixture *f = *state;
    struct bw_rate_ask q = {f->org, "rk:key_0123456789abcdef", 60, 10, 4, 1};
    int64_t got = 0, retry = 0, t0 = MARCH_MS;
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0, &got, &retry), BW_OK);
    assert_int_equal(got, 4); /* a new bucket is full */
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0, &got, &retry), BW_OK);
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0, &got, &retry), BW_OK);
    assert_int_equal(got, 2); /* what is left */
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0, &got, &retry), BW_E_LIMIT);
    assert_int_equal(retry, 1000); /* 60 per minute: one per second */
    /* a clock that goes back adds nothing */
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0 - 60000, &got, &retry), BW_E_LIMIT);
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0 + 999, &got, &retry), BW_E_LIMIT);
    assert_int_equal(retry, 1);
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0 + 1000, &got, &retry), BW_OK);
    assert_int_equal(got, 1);
    /* a long pause refills to the burst, not past it */
    q.want = 100;
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0 + 3600000, &got, &retry), BW_OK);
    assert_int_equal(got, 10);
    /* a need above the burst never fits */
    q.need = q.want = 11;
    assert_int_equal(bw_store_rate_lease(f->s, &q, t0 + 7200000, &got, &retry), BW_E_LIMIT);
    assert_int_equal(retry, -1);
    /* a lowered burst caps the level at once */
    struct bw_rate_ask low = {f->org, "rk:key_0123456789abcdef", 60, 3, 10, 1};
    low.want = 3;
    assert_int_equal(bw_store_rate_lease(f->s, &low, t0 + 7300000, &got, &retry), BW_OK);
    assert_int_equal(got, 3);
    /* bad input */
    struct bw_rate_ask bad = {f->org, "", 60, 10, 1, 1};
    assert_int_equal(bw_store_rate_lease(f->s, &bad, t0, &got, &retry), BW_E_INVALID);
    bad.bucket = "x";
    bad.rate_per_min = 0;
    assert_int_equal(bw_store_rate_lease(f->s, &bad, t0, &got, &retry), BW_E_INVALID);
    bad.rate_per_min = 60;
    bad.need = 0;
    assert_int_equal(bw_store_rate_lease(f->s, &bad, t0, &got, &retry), BW_E_INVALID);
    bad.need = 1;
    bad.burst = BW_LIMITS_MAX_RATE + 1;
    assert_int_equal(bw_store_rate_lease(f->s, &bad, t0, &got, &retry), BW_E_INVALID);
}

/* Eight "replicas" (threads, each its own handle) lease from one pool at once: the grants add
 * up to the limit, never more. */
struct racer {
    const char *path, *org;
    int32_t month;
    int64_t got;
    int errors;
};

static void *racer(void *arg) {
    struct racer *r = arg;
    struct bw_store *s = NULL;
    if (bw_store_open_sqlite(r->path, 0, &s) != BW_OK) {
        r->errors++;
        return NULL;
    }
    char id[16];
    snprintf(id, sizeof id, "r%p", (void *)r);
    struct bw_lease_holder h = {id, 1};
    struct bw_lease_scope sc = {r->org, "", r->month};
    for (int i = 0; i < 40; i++) {
        struct bw_budget_ask a = {100003, -1, 997 + i * 31, 0, 500, 0, 8};
        struct bw_budget_grant g;
        bw_err e = bw_store_budget_lease(s, &sc, &h, &a, MARCH_MS, &g);
        if (e == BW_OK)
            r->got += g.tokens;
        else if (e != BW_E_LIMIT)
            r->errors++;
    }
    bw_store_close(s);
    return NULL;
}

static void replicas_together_never_pass_the_limit(void **state) {
    struct fixture *f = *state;
    enum { N = 8 };
    struct racer rs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        rs[i] = (struct racer){f->path, f->org, f->month, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, racer, &rs[i]), 0);
    }
    int64_t total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].errors, 0);
        total += rs[i].got;
    }
    assert_true(total <= 100003);
    assert_true(total > 100003 - 500); /* the pool runs dry only below one need */
    struct bw_lease_scope sc = {f->org, "", f->month};
    int64_t t = 0, c = 0;
    assert_int_equal(bw_store_budget_pool_get(f->s, &sc, &t, &c), BW_OK);
    assert_int_equal(t, total);
}

/* ---- the lease manager, on SQLite ---- */

static int64_t limit_tokens = 8000;

static bw_err fixed_limits(void *arg, struct bw_store *s, const char *org_id, const char *org_name,
                           const char *agent, int64_t *max_tokens, int64_t *max_cost) {
    (void)arg;
    (void)s;
    (void)org_id;
    (void)org_name;
    *max_tokens = agent[0] ? -1 : limit_tokens;
    *max_cost = -1;
    return BW_OK;
}

static void manager_leases_prefetches_and_returns(void **state) {
    struct fixture *f = *state;
    struct bw_limits *l = NULL;
    assert_int_equal(bw_limits_new(NULL, &l), BW_OK);
    struct bw_lease_opts o = {f->path, "cccc3333", 1, fixed_limits, NULL, NULL, 0};
    struct bw_lease *m = NULL;
    struct bw_jobs *jobs = NULL;
    assert_int_equal(bw_jobs_new(f->path, 1, 0, &jobs), BW_OK);
    assert_int_equal(bw_lease_new(jobs, l, &o, &m), BW_E_INVALID); /* l is not leased */
    bw_limits_set_leased(l);
    assert_int_equal(bw_lease_new(NULL, l, &o, &m), BW_E_INVALID); /* no job pool */
    assert_int_equal(bw_lease_new(jobs, l, &o, &m), BW_OK);
    /* the lease thread works in real time: so does this test */
    int64_t now = (int64_t)time(NULL) * 1000;
    struct bw_limits_call c = {f->org, "", 100, 400, -1, NULL, 0, 1, 0, 0};
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r = NULL;
    assert_int_equal(bw_limits_reserve(l, &c, now, &r, &v), BW_OK); /* no limit known yet */
    bw_limits_cancel(l, r);
    /* the demand path: the first lease also loads the limit */
    assert_int_equal(bw_lease_budget(m, f->s, f->org, "acme", "", 500, 0, 0, now), BW_OK);
    struct bw_limits_budget_state b;
    assert_int_equal(bw_limits_budget_get(l, f->org, "", now, &b), BW_OK);
    assert_int_equal(b.max_tokens, 8000);
    assert_int_equal(b.held_tokens, 1000); /* an eighth of the pool */
    struct bw_limits_reservation *open[4];
    assert_int_equal(bw_limits_reserve(l, &c, now, &open[0], &v), BW_OK);
    assert_int_equal(v.lease_low, 1); /* 500 left of a 1000 grant: below half */
    assert_int_equal(bw_limits_reserve(l, &c, now, &open[1], &v), BW_OK);
    assert_int_equal(v.lease_low, 0); /* asked once */
    bw_lease_prefetch(m, f->org, "acme", "");
    int64_t held = 1000;
    for (int i = 0; i < 100 && held == 1000; i++) {
        usleep(10000);
        assert_int_equal(bw_limits_budget_get(l, f->org, "", now, &b), BW_OK);
        held = b.held_tokens;
    }
    assert_int_equal(held, 1000 + 875); /* an eighth of the 7000 left */
    struct bw_lease_stats st;
    bw_lease_stats(m, &st);
    assert_int_equal(st.budget_leases, 2);
    assert_int_equal(st.prefetches, 1);
    /* an empty pool: BW_E_LIMIT and the scope is dry */
    limit_tokens = 1875;
    assert_int_equal(bw_lease_budget(m, f->s, f->org, "acme", "", 1, 0, 0, now), BW_E_LIMIT);
    assert_int_equal(bw_limits_reserve(l, &c, now, &open[2], &v), BW_OK); /* within the holding */
    assert_int_equal(bw_limits_reserve(l, &c, now, &r, &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 0); /* dry: final, no database */
    /* partial: a caller that may clamp takes what is left */
    limit_tokens = 1900;
    assert_int_equal(bw_lease_budget(m, f->s, f->org, "acme", "", 500, 0, 1, now), BW_OK);
    assert_int_equal(bw_limits_budget_get(l, f->org, "", now, &b), BW_OK);
    assert_int_equal(b.held_tokens, 1900);
    /* graceful stop: the unused holding (1900 - 1500 reserved: open reservations count as
     * spent) goes back to the pool */
    bw_lease_free(m);
    bw_jobs_free(jobs);
    struct bw_lease_scope sc = {f->org, "", bw_limits_month_of(now)};
    int64_t t = 0, cost = 0;
    assert_int_equal(bw_store_budget_pool_get(f->s, &sc, &t, &cost), BW_OK);
    assert_int_equal(t, 1500);
    for (int i = 0; i < 3; i++)
        bw_limits_cancel(l, open[i]);
    bw_limits_free(l);
    limit_tokens = 8000;
}

static void manager_fails_closed_when_the_store_fails(void **state) {
    struct fixture *f = *state;
    struct bw_limits *l = NULL;
    assert_int_equal(bw_limits_new(NULL, &l), BW_OK);
    bw_limits_set_leased(l);
    struct bw_lease_opts o = {f->path, "dddd4444", 1, fixed_limits, NULL, NULL, 0};
    struct bw_lease *m = NULL;
    struct bw_jobs *jobs = NULL;
    assert_int_equal(bw_jobs_new(f->path, 1, 0, &jobs), BW_OK);
    assert_int_equal(bw_lease_new(jobs, l, &o, &m), BW_OK);
    /* the pools go away under the gateway: every lease is a store failure */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "DROP TABLE budget_pools; DROP TABLE rate_buckets", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct bw_store *s = NULL;
    assert_int_equal(bw_store_open_sqlite(f->path, 0, &s), BW_OK);
    assert_int_equal(bw_lease_budget(m, s, f->org, "acme", "", 100, 0, 0, MARCH_MS),
                     BW_E_UNAVAILABLE);
    struct bw_limits_rate rate = {60, 10};
    int64_t retry = 0;
    assert_int_equal(bw_lease_rate(m, s, f->org, "rk:x", &rate, 1, 1000, &retry), BW_E_UNAVAILABLE);
    struct bw_limits_call c = {f->org, "", 100, 400, -1, NULL, 0, 1, 0, 0};
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r = NULL;
    assert_int_equal(bw_limits_reserve(l, &c, MARCH_MS, &r, &v), BW_E_LIMIT);
    assert_int_equal(v.lease_short, 1); /* still short: the caller must deny, never admit */
    struct bw_lease_stats st;
    bw_lease_stats(m, &st);
    assert_int_equal(st.failures, 2);
    bw_store_close(s);
    bw_lease_free(m);
    bw_jobs_free(jobs);
    bw_limits_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(grants_never_pass_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(grants_shrink_with_the_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(cost_dimension_and_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(a_new_pool_counts_the_months_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(crashed_incarnations_are_marked_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(shared_rate_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(replicas_together_never_pass_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(manager_leases_prefetches_and_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(manager_fails_closed_when_the_store_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
