/* Unit tests: limits/meter (the metering writer): rows pushed from several threads are all
 * written, in batches, by the time it is freed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "jobs/jobs.h"
#include "limits/meter.h"
#include "store/store.h"

#define THREADS 4
#define PER_THREAD 1500

struct pusher {
    struct bw_meter *m;
    const char *org;
    int t;
};

static void *push_rows(void *arg) {
    struct pusher *p = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        struct bw_usage_record u;
        memset(&u, 0, sizeof u);
        snprintf(u.id, sizeof u.id, "use_%d_%d", p->t, i);
        snprintf(u.org_id, sizeof u.org_id, "%s", p->org);
        snprintf(u.model, sizeof u.model, "gpt-4o-mini");
        snprintf(u.status, sizeof u.status, "ok");
        u.prompt_tokens = 3;
        u.completion_tokens = 4;
        u.total_tokens = 7;
        u.started_ms = u.ended_ms = 1000;
        bw_meter_push(p->m, &u);
    }
    return NULL;
}

static int sum_row(void *arg, const struct bw_usage_row *row) {
    int64_t *out = arg;
    out[0] += row->calls;
    out[1] += row->total_tokens;
    return 0;
}

static void every_pushed_row_is_written(void **state) {
    (void)state;
    char dir[] = "/tmp/bw-meter-XXXXXX", db[64];
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/t.db", dir);
    struct bw_store *s = NULL;
    char org[BW_ID_SIZE];
    assert_int_equal(bw_store_open_sqlite(db, 1, &s), BW_OK);
    assert_int_equal(bw_store_org_create(s, "acme", org), BW_OK);
    struct bw_meter *m = NULL;
    struct bw_jobs *jobs = NULL;
    assert_int_equal(bw_jobs_new(db, 2, 0, &jobs), BW_OK);
    struct bw_meter_opts o = {.batch_max = 100, .flush_ms = 20, .queue_max = 100000};
    assert_int_equal(bw_meter_new(jobs, db, &o, &m), BW_OK);
    pthread_t th[THREADS];
    struct pusher p[THREADS];
    for (int t = 0; t < THREADS; t++) {
        p[t] = (struct pusher){m, org, t};
        assert_int_equal(pthread_create(&th[t], NULL, push_rows, &p[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    bw_meter_free(m); /* writes what is still queued */
    bw_jobs_free(jobs);
    int64_t got[2] = {0, 0};
    assert_int_equal(bw_store_usage_query(s, org, 0, 2000, BW_USAGE_BY_NONE, 10, sum_row, got),
                     BW_OK);
    assert_int_equal(got[0], THREADS * PER_THREAD);
    assert_int_equal(got[1], 7 * THREADS * PER_THREAD);
    bw_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void a_bad_store_fails_to_start(void **state) {
    (void)state;
    struct bw_meter *m = NULL;
    char dir[] = "/tmp/bw-meter-XXXXXX", db[64];
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/t.db", dir);
    struct bw_store *s = NULL;
    assert_int_equal(bw_store_open_sqlite(db, 1, &s), BW_OK);
    bw_store_close(s);
    struct bw_jobs *jobs = NULL;
    assert_int_equal(bw_jobs_new(db, 1, 0, &jobs), BW_OK);
    assert_int_not_equal(bw_meter_new(jobs, "/nonexistent/dir/x.db", NULL, &m), BW_OK);
    assert_int_equal(bw_meter_new(NULL, db, NULL, &m), BW_E_INVALID);
    bw_jobs_free(jobs);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_pushed_row_is_written),
        cmocka_unit_test(a_bad_store_fails_to_start),
    };
    return cmocka_run_group_tests_name("meter", tests, NULL, NULL);
}
