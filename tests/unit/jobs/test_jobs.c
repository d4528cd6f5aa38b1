/* Unit tests: jobs (the store job facility, src/jobs/jobs.h): FIFO order, the bounded queue,
 * the queue deadline, the shutdown drain, an owner whose loop is gone, periodic jobs, the
 * slow-store test hook, and many submitters on several threads (run under TSan too). Every
 * test checks THE RULE: done runs exactly once, on the owner's thread. */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs/jobs.h"
#include "store/store.h"
#include "util/thread_role.h"
#include "util/time.h"

/* Owner: the test thread (set up once in main, read by every test). */
static char db_path[64], db_dir[32];

/* A gate a run can block on, to hold a store thread busy. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int open, entered;
};

static void gate_init(struct gate *g) {
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = g->entered = 0;
}

static void gate_open(struct gate *g) {
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(struct gate *g) {
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cond, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_cleanup(struct gate *g) {
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->mu);
}

static void run_gate(struct bw_store *s, void *arg) {
    (void)s;
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* One job's record: what ran, what done saw, on which thread. */
struct rec {
    int index;
    atomic_int ran;
    atomic_int dones;
    bw_err err;
    pthread_t done_thread;
    enum bw_thread_role run_role;
    bw_err ping; /* checked on the test thread: cmocka asserts only there */
    int *order;  /* shared run order (threads = 1 only) */
    atomic_int *next;
    atomic_int *finished;
};

static void run_rec(struct bw_store *s, void *arg) {
    struct rec *r = arg;
    /* a real store statement on the thread's own connection */
    r->ping = s ? bw_store_ping(s) : BW_E_INTERNAL;
    r->run_role = bw_thread_role();
    atomic_fetch_add(&r->ran, 1);
    if (r->order)
        r->order[atomic_fetch_add(r->next, 1)] = r->index;
}

static void done_rec(void *arg, bw_err err) {
    struct rec *r = arg;
    r->err = err;
    r->done_thread = pthread_self();
    atomic_fetch_add(&r->dones, 1);
    atomic_fetch_add(r->finished, 1);
}

static void gate_done(void *arg, bw_err err) {
    (void)arg;
    assert_int_equal(err, BW_OK);
}

/* Runs base until *finished reaches want (bounded: 10 s). */
static void loop_until(struct event_base *base, atomic_int *finished, int want) {
    int64_t end = bw_mono_us() + 10 * 1000000;
    while (atomic_load(finished) < want && bw_mono_us() < end)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(200);
    assert_int_equal(atomic_load(finished), want);
}

#define N_ORDER 200

static void jobs_run_in_fifo_order_and_done_runs_once_on_the_owner(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_new(db_path, 1, 0, &j), BW_OK);
    struct event_base *base = event_base_new();
    static struct rec recs[N_ORDER];
    int order[N_ORDER];
    atomic_int next = 0, finished = 0;
    for (int i = 0; i < N_ORDER; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i] = (struct rec){.index = i, .order = order, .next = &next, .finished = &finished};
        assert_int_equal(bw_jobs_submit(j, base, 0, run_rec, done_rec, &recs[i]), BW_OK);
    }
    loop_until(base, &finished, N_ORDER);
    for (int i = 0; i < N_ORDER; i++) {
        assert_int_equal(order[i], i);
        assert_int_equal(atomic_load(&recs[i].ran), 1);
        assert_int_equal(atomic_load(&recs[i].dones), 1);
        assert_int_equal(recs[i].err, BW_OK);
        assert_true(pthread_equal(recs[i].done_thread, pthread_self()));
        assert_int_equal(recs[i].run_role, BW_THREAD_STORE);
        assert_int_equal(recs[i].ping, BW_OK);
    }
    struct bw_jobs_stats st;
    bw_jobs_stats(j, &st);
    assert_int_equal(st.submitted, N_ORDER);
    assert_int_equal(st.ran, N_ORDER);
    assert_int_equal(st.queued, 0);
    bw_jobs_free(j);
    event_base_free(base);
}

static void a_full_queue_refuses_with_unavailable(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_new(db_path, 1, 2, &j), BW_OK);
    struct event_base *base = event_base_new();
    struct gate g;
    gate_init(&g);
    assert_int_equal(bw_jobs_submit(j, base, 0, run_gate, gate_done, &g), BW_OK);
    gate_wait_entered(&g); /* the one thread is busy: the next two wait, the third is refused */
    struct rec r[3];
    atomic_int finished = 0;
    for (int i = 0; i < 3; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].finished = &finished;
        assert_int_equal(bw_jobs_submit(j, base, 0, run_rec, done_rec, &r[i]), BW_OK);
    }
    /* The refusal is delivered on the base, never inside submit. */
    assert_int_equal(atomic_load(&r[2].dones), 0);
    loop_until(base, &finished, 1);
    assert_int_equal(r[2].err, BW_E_UNAVAILABLE);
    assert_int_equal(atomic_load(&r[2].ran), 0);
    gate_open(&g);
    loop_until(base, &finished, 3);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].err, BW_OK);
        assert_int_equal(atomic_load(&r[i].ran), 1);
    }
    struct bw_jobs_stats st;
    bw_jobs_stats(j, &st);
    assert_int_equal(st.full, 1);
    bw_jobs_free(j);
    event_base_free(base);
    gate_cleanup(&g);
}

static atomic_int bulk_dones; /* the bulk test's gate jobs delivered (test thread only reads) */

static void bulk_gate_done(void *arg, bw_err err) {
    (void)arg;
    assert_int_equal(err, BW_OK);
    atomic_fetch_add(&bulk_dones, 1);
}

/* Bulk jobs (the management API) never hold every store thread: with two threads and two
 * blocked bulk jobs, only one of them runs, and a request-path job submitted after both runs on
 * the other thread at once, ahead of the waiting bulk job. */
static void bulk_jobs_leave_a_thread_for_the_request_path(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_new(db_path, 2, 0, &j), BW_OK);
    struct event_base *base = event_base_new();
    struct gate g1, g2;
    gate_init(&g1);
    gate_init(&g2);
    atomic_store(&bulk_dones, 0);
    assert_int_equal(bw_jobs_submit_bulk(j, base, 0, run_gate, bulk_gate_done, &g1), BW_OK);
    assert_int_equal(bw_jobs_submit_bulk(j, base, 0, run_gate, bulk_gate_done, &g2), BW_OK);
    gate_wait_entered(&g1);
    struct rec r;
    atomic_int finished = 0;
    memset(&r, 0, sizeof r);
    r.finished = &finished;
    assert_int_equal(bw_jobs_submit(j, base, 0, run_rec, done_rec, &r), BW_OK);
    loop_until(base, &finished, 1); /* ran although both bulk jobs came first */
    assert_int_equal(r.err, BW_OK);
    pthread_mutex_lock(&g2.mu);
    int second_entered = g2.entered; /* the second bulk job still waits for a thread */
    pthread_mutex_unlock(&g2.mu);
    assert_int_equal(second_entered, 0);
    gate_open(&g1);
    gate_wait_entered(&g2);
    gate_open(&g2);
    loop_until(base, &bulk_dones, 2); /* every done delivered before the pool goes */
    bw_jobs_free(j);
    event_base_free(base);
    gate_cleanup(&g1);
    gate_cleanup(&g2);
}

static void a_job_past_its_deadline_in_the_queue_never_runs(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_new(db_path, 1, 0, &j), BW_OK);
    struct event_base *base = event_base_new();
    struct gate g;
    gate_init(&g);
    assert_int_equal(bw_jobs_submit(j, base, 0, run_gate, gate_done, &g), BW_OK);
    gate_wait_entered(&g);
    struct rec late, fine;
    atomic_int finished = 0;
    memset(&late, 0, sizeof late);
    memset(&fine, 0, sizeof fine);
    late.finished = fine.finished = &finished;
    assert_int_equal(bw_jobs_submit(j, base, bw_jobs_deadline(20), run_rec, done_rec, &late),
                     BW_OK);
    assert_int_equal(bw_jobs_submit(j, base, bw_jobs_deadline(60000), run_rec, done_rec, &fine),
                     BW_OK);
    usleep(60 * 1000);
    gate_open(&g);
    loop_until(base, &finished, 2);
    assert_int_equal(late.err, BW_E_UNAVAILABLE);
    assert_int_equal(atomic_load(&late.ran), 0);
    assert_int_equal(fine.err, BW_OK);
    assert_int_equal(atomic_load(&fine.ran), 1);
    struct bw_jobs_stats st;
    bw_jobs_stats(j, &st);
    assert_int_equal(st.expired, 1);
    bw_jobs_free(j);
    event_base_free(base);
    gate_cleanup(&g);
}

static void *open_later(void *arg) {
    usleep(50 * 1000);
    gate_open(arg);
    return NULL;
}

#define N_DRAIN 5

static void stopping_drains_the_queue_with_unavailable(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_new(db_path, 1, 0, &j), BW_OK);
    struct event_base *base = event_base_new();
    struct gate g;
    gate_init(&g);
    assert_int_equal(bw_jobs_submit(j, base, 0, run_gate, gate_done, &g), BW_OK);
    gate_wait_entered(&g);
    struct rec r[N_DRAIN], after;
    atomic_int finished = 0;
    for (int i = 0; i < N_DRAIN; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].finished = &finished;
        assert_int_equal(bw_jobs_submit(j, base, 0, run_rec, done_rec, &r[i]), BW_OK);
    }
    pthread_t opener;
    assert_int_equal(pthread_create(&opener, NULL, open_later, &g), 0);
    bw_jobs_free(j); /* the run in progress finishes; the queued ones are refused */
    pthread_join(opener, NULL);
    /* The base outlives the pool: its completions still arrive (an orphaned queue). */
    loop_until(base, &finished, N_DRAIN);
    for (int i = 0; i < N_DRAIN; i++) {
        assert_int_equal(r[i].err, BW_E_UNAVAILABLE);
        assert_int_equal(atomic_load(&r[i].ran), 0);
        assert_int_equal(atomic_load(&r[i].dones), 1);
    }
    (void)after;
    event_base_free(base);
    gate_cleanup(&g);
}

static void an_owner_gone_gets_its_dones_on_the_calling_thread(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_new(db_path, 2, 0, &j), BW_OK);
    struct event_base *base = event_base_new();
    struct rec r[20];
    atomic_int finished = 0;
    for (int i = 0; i < 20; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].finished = &finished;
        assert_int_equal(bw_jobs_submit(j, base, 0, run_rec, done_rec, &r[i]), BW_OK);
    }
    /* The base's loop never runs: owner_gone waits for the runs and calls every done here. */
    bw_jobs_owner_gone(j, base);
    assert_int_equal(atomic_load(&finished), 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(atomic_load(&r[i].dones), 1);
        assert_true(pthread_equal(r[i].done_thread, pthread_self()));
        assert_true(r[i].err == BW_OK || r[i].err == BW_E_UNAVAILABLE);
        assert_int_equal(atomic_load(&r[i].ran), r[i].err == BW_OK);
    }
    struct rec late;
    memset(&late, 0, sizeof late);
    late.finished = &finished;
    assert_int_equal(bw_jobs_submit(j, base, 0, run_rec, done_rec, &late), BW_E_INVALID);
    bw_jobs_free(j);
    event_base_free(base);
    assert_int_equal(atomic_load(&late.dones), 0);
}

static void *open_gate_later(void *arg) {
    usleep(3000 * 1000); /* only reached when owner_gone waits for a queued bulk job (the bug) */
    gate_open(arg);
    return NULL;
}

/* A bulk job still queued when its owner goes is refused (never run), as a request-path job
 * is: the one store thread is held by a job of no owner, so owner_gone must not wait. */
static void an_owner_gone_refuses_its_queued_bulk_jobs(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_new(db_path, 1, 0, &j), BW_OK);
    struct event_base *base = event_base_new();
    struct gate g;
    gate_init(&g);
    assert_int_equal(bw_jobs_submit(j, NULL, 0, run_gate, gate_done, &g), BW_OK);
    gate_wait_entered(&g);
    struct rec r;
    atomic_int finished = 0;
    memset(&r, 0, sizeof r);
    r.finished = &finished;
    assert_int_equal(bw_jobs_submit_bulk(j, base, 0, run_rec, done_rec, &r), BW_OK);
    pthread_t opener;
    assert_int_equal(pthread_create(&opener, NULL, open_gate_later, &g), 0);
    int64_t t0 = bw_mono_us();
    bw_jobs_owner_gone(j, base);
    int64_t waited_ms = (bw_mono_us() - t0) / 1000;
    assert_int_equal(atomic_load(&r.dones), 1);
    assert_int_equal(r.err, BW_E_UNAVAILABLE);
    assert_int_equal(atomic_load(&r.ran), 0);
    assert_true(waited_ms < 2500);
    pthread_join(opener, NULL);
    bw_jobs_free(j);
    event_base_free(base);
    gate_cleanup(&g);
}

static void submit_refuses_null_arguments(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_submit(NULL, NULL, 0, run_rec, done_rec, NULL), BW_E_INVALID);
    assert_int_equal(bw_jobs_new(db_path, -1, 0, &j), BW_E_INVALID);
    assert_int_equal(bw_jobs_new(db_path, BW_JOBS_THREADS_MAX + 1, 0, &j), BW_E_INVALID);
    assert_int_equal(bw_jobs_new(db_path, 1, BW_JOBS_QUEUE_MAX + 1, &j), BW_E_INVALID);
    assert_int_equal(bw_jobs_new("/nonexistent/dir/x.db", 1, 0, &j), BW_E_UNAVAILABLE);
    assert_int_equal(bw_jobs_new(db_path, 1, 0, &j), BW_OK);
    assert_int_equal(bw_jobs_submit(j, NULL, 0, NULL, done_rec, NULL), BW_E_INVALID);
    assert_int_equal(bw_jobs_submit(j, NULL, 0, run_rec, NULL, NULL), BW_E_INVALID);
    bw_jobs_free(j);
    bw_jobs_free(NULL);
}

struct ticker {
    atomic_int ticks, last, concurrent, max_concurrent, bad_ping;
};

static void tick(struct bw_store *s, void *arg, int stopping) {
    struct ticker *t = arg;
    if (bw_store_ping(s) != BW_OK)
        atomic_fetch_add(&t->bad_ping, 1);
    int c = atomic_fetch_add(&t->concurrent, 1) + 1;
    if (c > atomic_load(&t->max_concurrent))
        atomic_store(&t->max_concurrent, c);
    usleep(2000);
    atomic_fetch_add(&t->ticks, 1);
    if (stopping)
        atomic_fetch_add(&t->last, 1);
    atomic_fetch_sub(&t->concurrent, 1);
}

static void periodic_jobs_tick_kick_and_stop_with_a_last_tick(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    assert_int_equal(bw_jobs_new(db_path, 3, 0, &j), BW_OK);
    struct ticker t = {0}, t2 = {0};
    struct bw_jobs_every *p = NULL, *p2 = NULL;
    assert_int_equal(bw_jobs_every(j, 5, tick, &t, &p), BW_OK);
    assert_int_equal(bw_jobs_every(j, 60000, tick, &t2, &p2), BW_OK);
    assert_int_equal(bw_jobs_every(j, 0, tick, &t2, &p2), BW_E_INVALID);
    int64_t end = bw_mono_us() + 5 * 1000000;
    while (atomic_load(&t.ticks) < 5 && bw_mono_us() < end)
        usleep(1000);
    assert_true(atomic_load(&t.ticks) >= 5);
    assert_int_equal(atomic_load(&t.max_concurrent), 1); /* never on two threads at once */
    assert_int_equal(atomic_load(&t2.ticks), 0);         /* not due for a minute */
    bw_jobs_every_kick(p2);
    end = bw_mono_us() + 5 * 1000000;
    while (atomic_load(&t2.ticks) < 1 && bw_mono_us() < end)
        usleep(1000);
    assert_int_equal(atomic_load(&t2.ticks), 1);
    bw_jobs_every_stop(p);
    assert_int_equal(atomic_load(&t.last), 1);
    int after = atomic_load(&t.ticks);
    usleep(30 * 1000);
    assert_int_equal(atomic_load(&t.ticks), after); /* stopped: no tick after the last */
    bw_jobs_free(j); /* p2 still registered: its last tick runs at free */
    assert_int_equal(atomic_load(&t2.last), 1);
    assert_int_equal(atomic_load(&t2.ticks), 2);
    assert_int_equal(atomic_load(&t.bad_ping) + atomic_load(&t2.bad_ping), 0);
}

static void the_slow_store_hook_needs_both_variables(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    struct event_base *base = event_base_new();
    atomic_int finished = 0;
    struct rec r;
    setenv("BULWARK_TEST_STORE_DELAY_MS", "1000", 1);
    for (int hooks = 0; hooks < 2; hooks++) {
        if (hooks)
            setenv("BULWARK_TEST_HOOKS", "1", 1);
        assert_int_equal(bw_jobs_new(db_path, 1, 0, &j), BW_OK);
        memset(&r, 0, sizeof r);
        r.finished = &finished;
        int64_t t0 = bw_mono_us();
        assert_int_equal(bw_jobs_submit(j, base, 0, run_rec, done_rec, &r), BW_OK);
        loop_until(base, &finished, hooks + 1);
        int64_t took_ms = (bw_mono_us() - t0) / 1000;
        if (hooks)
            assert_true(took_ms >= 1000);
        else
            assert_true(took_ms < 1000); /* a loaded machine: far from the delay */
        bw_jobs_free(j);
    }
    unsetenv("BULWARK_TEST_HOOKS");
    unsetenv("BULWARK_TEST_STORE_DELAY_MS");
    event_base_free(base);
}

#define SUBMITTERS 4
#define PER_SUBMITTER 400

struct submitter {
    struct bw_jobs *j;
    struct rec recs[PER_SUBMITTER];
    atomic_int finished;
    int refused_inline;
};

/* Each submitter is an event worker of its own: its base, its loop, its dones. */
static void *submit_many(void *arg) {
    struct submitter *sub = arg;
    struct event_base *base = event_base_new();
    for (int i = 0; i < PER_SUBMITTER; i++) {
        sub->recs[i].finished = &sub->finished;
        if (bw_jobs_submit(sub->j, base, bw_jobs_deadline(30000), run_rec, done_rec,
                           &sub->recs[i]) != BW_OK)
            sub->refused_inline++;
        if (i % 50 == 0)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    int64_t end = bw_mono_us() + 20 * 1000000;
    while (atomic_load(&sub->finished) < PER_SUBMITTER && bw_mono_us() < end)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(200);
    for (int i = 0; i < PER_SUBMITTER; i++)
        if (!pthread_equal(sub->recs[i].done_thread, pthread_self()))
            sub->refused_inline = -1000;
    event_base_free(base);
    return NULL;
}

static void many_submitters_on_several_threads_each_get_every_done_once(void **state) {
    (void)state;
    struct bw_jobs *j = NULL;
    /* A queue smaller than the burst: some jobs are refused, every one still completes. */
    assert_int_equal(bw_jobs_new(db_path, 3, 256, &j), BW_OK);
    static struct submitter subs[SUBMITTERS];
    pthread_t th[SUBMITTERS];
    memset(subs, 0, sizeof subs);
    for (int t = 0; t < SUBMITTERS; t++) {
        subs[t].j = j;
        assert_int_equal(pthread_create(&th[t], NULL, submit_many, &subs[t]), 0);
    }
    uint64_t ran = 0, refused = 0;
    for (int t = 0; t < SUBMITTERS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(subs[t].refused_inline, 0);
        assert_int_equal(atomic_load(&subs[t].finished), PER_SUBMITTER);
        for (int i = 0; i < PER_SUBMITTER; i++) {
            struct rec *r = &subs[t].recs[i];
            assert_int_equal(atomic_load(&r->dones), 1);
            assert_int_equal(atomic_load(&r->ran), r->err == BW_OK);
            ran += r->err == BW_OK;
            refused += r->err == BW_E_UNAVAILABLE;
        }
    }
    struct bw_jobs_stats st;
    bw_jobs_stats(j, &st);
    assert_int_equal(st.submitted, SUBMITTERS * PER_SUBMITTER);
    assert_int_equal(st.ran, ran);
    assert_int_equal(st.full + st.expired, refused);
    assert_int_equal(ran + refused, SUBMITTERS * PER_SUBMITTER);
    bw_jobs_free(j);
}

static int setup_db(void) {
    snprintf(db_dir, sizeof db_dir, "/tmp/bw-jobs-XXXXXX");
    if (!mkdtemp(db_dir))
        return -1;
    snprintf(db_path, sizeof db_path, "%s/t.db", db_dir);
    struct bw_store *s = NULL;
    if (bw_store_open_sqlite(db_path, 1, &s) != BW_OK)
        return -1;
    bw_store_close(s);
    return 0;
}

int main(void) {
    if (evthread_use_pthreads() != 0 || setup_db() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jobs_run_in_fifo_order_and_done_runs_once_on_the_owner),
        cmocka_unit_test(a_full_queue_refuses_with_unavailable),
        cmocka_unit_test(a_job_past_its_deadline_in_the_queue_never_runs),
        cmocka_unit_test(bulk_jobs_leave_a_thread_for_the_request_path),
        cmocka_unit_test(stopping_drains_the_queue_with_unavailable),
        cmocka_unit_test(an_owner_gone_gets_its_dones_on_the_calling_thread),
        cmocka_unit_test(an_owner_gone_refuses_its_queued_bulk_jobs),
        cmocka_unit_test(submit_refuses_null_arguments),
        cmocka_unit_test(periodic_jobs_tick_kick_and_stop_with_a_last_tick),
        cmocka_unit_test(the_slow_store_hook_needs_both_variables),
        cmocka_unit_test(many_submitters_on_several_threads_each_get_every_done_once),
    };
    int rc = cmocka_run_group_tests_name("jobs", tests, NULL, NULL);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", db_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
