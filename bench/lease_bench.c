/* lease_bench.c: what admission costs with budget and rate leases (several replicas on one
 * PostgreSQL) against the one-node in-memory path (docs/SPEND.md, "Several replicas").
 *
 * Per admission: one budget reservation + one request-bucket take + settlement, as
 * proxy_admit.c does them, on 2 threads.
 *   1. one node: bw_limits_reserve / bw_limits_take / bw_limits_settle (in memory);
 *   2. leased, holding ample: the same calls in leased mode (the common case on a replica);
 *   3. leased end to end on PostgreSQL: a budget of 480,000 worst cases (500 tokens), so the
 *      400,000 calls drain most of the pool and the leases shrink, and a rate of 6M/min: the
 *      workers lease when short (plus the prefetch thread); every database round trip on the
 *      admission path is included;
 *   4. one lease round trip alone (bw_store_budget_lease, bw_store_rate_lease), sequential.
 * 3 and 4 need a database URL (runtime role), e.g. from scripts/pg-test.sh.
 *
 * Build and run (from the repository root, after `make build/libbulwark.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/lease_bench.c build/libbulwark.a \
 *      $(pkg-config --cflags --libs libevent libevent_pthreads libcurl libsodium openssl \
 *        jansson sqlite3 yaml-0.1 libpq libpcre2-8 libidn2) -lpthread -lm -o build/lease_bench
 *   eval "$(scripts/pg-test.sh start /tmp/bw-bench-pg)"
 *   build/lease_bench "postgresql://bulwark_app@/bulwark?host=$PGHOST&port=$PGPORT" [calls]
 *   scripts/pg-test.sh stop /tmp/bw-bench-pg */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"
#include "limits/lease.h"
#include "limits/limits.h"
#include "store/leases.h"
#include "store/store.h"
#include "util/time.h"

#define THREADS 2
#define BENCH_BUDGET 240000000LL /* 480,000 worst cases of 500 tokens */

struct run {
    struct bw_limits *l;
    struct bw_lease *m;
    const char *url;
    const char *org;
    long calls;
    long admitted, refused, failed;
};

static const struct bw_limits_rate rate = {6000000, 6000000};

/* One admission as proxy_admit.c makes it (without the HTTP around it). */
static void *worker(void *arg) {
    struct run *r = arg;
    struct bw_store *s = NULL;
    if (r->m && bw_store_open(r->url, 0, &s) != BW_OK) {
        r->failed = r->calls;
        return NULL;
    }
    for (long i = 0; i < r->calls; i++) {
        int64_t now_us = bw_mono_us(), now_ms = bw_now_ms(), retry = 0;
        bw_err e;
        if (!r->m) {
            e = bw_limits_take(r->l, "rk:bench", &rate, 1, now_us, &retry);
        } else {
            int64_t short_n = 0;
            e = bw_limits_take_held(r->l, "rk:bench", 1, now_us, &short_n, &retry);
            if (e == BW_E_LIMIT && short_n > 0) {
                e = bw_lease_rate(r->m, s, r->org, "rk:bench", &rate, short_n, now_us, &retry);
                if (e == BW_OK)
                    e = bw_limits_take_held(r->l, "rk:bench", 1, now_us, &short_n, &retry);
            }
        }
        if (e != BW_OK) {
            r->refused++;
            continue;
        }
        struct bw_limits_call c = {r->org, "", 100, 400, -1, NULL, 0, 1, 0};
        struct bw_limits_verdict v;
        struct bw_limits_reservation *res = NULL;
        e = bw_limits_reserve(r->l, &c, now_ms, &res, &v);
        for (int round = 0; r->m && e == BW_E_LIMIT && v.lease_short && round < 4; round++) {
            if (bw_lease_budget(r->m, s, r->org, "bench", "", v.short_tokens[0], 0, 0, now_ms) ==
                BW_E_UNAVAILABLE) {
                r->failed++;
                break;
            }
            e = bw_limits_reserve(r->l, &c, now_ms, &res, &v);
        }
        if (e == BW_OK && v.lease_low && r->m)
            bw_lease_prefetch(r->m, r->org, "bench", "");
        if (e != BW_OK) {
            r->refused++;
            continue;
        }
        bw_limits_settle(r->l, res, 100, 300, NULL);
        r->admitted++;
    }
    bw_store_close(s);
    return NULL;
}

static double measure(struct bw_limits *l, struct bw_lease *m, const char *url, const char *org,
                      long calls, long *admitted) {
    struct run rs[THREADS];
    pthread_t th[THREADS];
    int64_t t0 = bw_mono_us();
    for (int i = 0; i < THREADS; i++) {
        rs[i] = (struct run){l, m, url, org, calls / THREADS, 0, 0, 0};
        pthread_create(&th[i], NULL, worker, &rs[i]);
    }
    *admitted = 0;
    long failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        *admitted += rs[i].admitted;
        failed += rs[i].failed;
    }
    if (failed)
        fprintf(stderr, "%ld lease failures\n", failed);
    return (double)(bw_mono_us() - t0) / (double)calls;
}

static bw_err bench_limits(void *arg, struct bw_store *s, const char *org_id, const char *org_name,
                           const char *agent, int64_t *max_tokens, int64_t *max_cost) {
    (void)arg;
    (void)s;
    (void)org_id;
    (void)org_name;
    *max_tokens = agent[0] ? -1 : BENCH_BUDGET;
    *max_cost = -1;
    return BW_OK;
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : NULL;
    long calls = argc > 2 ? atol(argv[2]) : 400000;
    struct bw_limits *l = NULL;
    long ok = 0;

    if (bw_limits_new(NULL, &l) != BW_OK || bw_limits_budget_set(l, "org_0000000000000001", "",
                                                                 1000000000000LL, -1) != BW_OK)
        return 1;
    double one = measure(l, NULL, NULL, "org_0000000000000001", calls, &ok);
    printf("one node (in memory):           %7.3f us per admission (%ld admitted)\n", one, ok);
    bw_limits_free(l);

    if (bw_limits_new(NULL, &l) != BW_OK)
        return 1;
    bw_limits_set_leased(l);
    if (bw_limits_budget_set(l, "org_0000000000000001", "", 1000000000000LL, -1) != BW_OK ||
        bw_limits_budget_grant(l, "org_0000000000000001", "", bw_limits_month_of(bw_now_ms()),
                               1000000000000LL, 0, 0, -1) != BW_OK)
        return 1;
    /* the holding of the request bucket is refreshed by a grant per second of the run */
    if (bw_limits_bucket_grant(l, "rk:bench", &rate, rate.burst, bw_mono_us()) != BW_OK)
        return 1;
    double held = measure(l, NULL, NULL, "org_0000000000000001", calls, &ok);
    printf("leased, holding ample:          %7.3f us per admission (%ld admitted)\n", held, ok);
    bw_limits_free(l);
    if (!url)
        return 0;

    struct bw_store *s = NULL;
    char org[BW_ID_SIZE], name[64];
    snprintf(name, sizeof name, "bench-%lld", (long long)bw_now_ms());
    if (bw_store_open(url, 0, &s) != BW_OK || bw_store_org_create(s, name, org) != BW_OK) {
        fprintf(stderr, "cannot open %s or create the bench org\n", url);
        return 1;
    }
    if (bw_limits_new(NULL, &l) != BW_OK)
        return 1;
    bw_limits_set_leased(l);
    if (bw_limits_budget_set(l, org, "", BENCH_BUDGET, -1) != BW_OK) /* as serve's restore */
        return 1;
    struct bw_lease_opts o = {url, "bench001", bw_now_ms(), bench_limits, NULL, NULL, 0};
    struct bw_lease *m = NULL;
    struct bw_jobs *jobs = NULL;
    if (bw_jobs_new(url, 1, 0, &jobs) != BW_OK || bw_lease_new(jobs, l, &o, &m) != BW_OK)
        return 1;
    double leased = measure(l, m, url, org, calls, &ok);
    struct bw_lease_stats st;
    bw_lease_stats(m, &st);
    printf("leased on PostgreSQL, end to end: %5.3f us per admission (%ld admitted; %lld budget "
           "leases, %lld rate leases, %lld prefetches)\n",
           leased, ok, (long long)st.budget_leases, (long long)st.rate_leases,
           (long long)st.prefetches);
    bw_lease_free(m);
    bw_jobs_free(jobs);
    bw_limits_free(l);

    /* one round trip alone */
    struct bw_lease_holder h = {"bench002", 1};
    struct bw_lease_scope sc = {org, "", bw_limits_month_of(bw_now_ms()) + 1};
    int n = 2000;
    int64_t t0 = bw_mono_us();
    for (int i = 0; i < n; i++) {
        struct bw_budget_ask a = {1000000000000LL, -1, 1000, 0, 1, 0, 8};
        struct bw_budget_grant g;
        if (bw_store_budget_lease(s, &sc, &h, &a, bw_now_ms(), &g) != BW_OK)
            return 1;
    }
    double budget_rt = (double)(bw_mono_us() - t0) / n;
    t0 = bw_mono_us();
    for (int i = 0; i < n; i++) {
        struct bw_rate_ask q = {org, "rk:roundtrip", 1000000000, 1000000000, 1000, 1};
        int64_t got = 0, retry = 0;
        if (bw_store_rate_lease(s, &q, bw_now_ms(), &got, &retry) != BW_OK)
            return 1;
    }
    double rate_rt = (double)(bw_mono_us() - t0) / n;
    printf("one budget lease round trip:    %7.1f us\n", budget_rt);
    printf("one rate lease round trip:      %7.1f us\n", rate_rt);
    bw_store_close(s);
    return 0;
}
