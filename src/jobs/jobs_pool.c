/* jobs_pool.c: the store threads, the bounded queue, bw_jobs_submit and shutdown.
 *
 * One FIFO queue for all threads (Redis's bio.c keeps one per job type; ours are all "a few
 * store statements", so one queue keeps the order simple). Each thread owns its connection:
 * a struct bw_store is used by one thread at a time (store.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/jobs_internal.h"
#include "store/store.h"
#include "util/log.h"
#include "util/thread_role.h"
#include "util/time.h"

int64_t bw_jobs_mono_ms(void) {
    return bw_mono_us() / 1000;
}

int64_t bw_jobs_deadline(int64_t budget_ms) {
    return bw_jobs_mono_ms() + (budget_ms > 0 ? budget_ms : 0);
}

/* The slow-store fault hook, for tests only (docs/INTERNALS.md, "Store jobs"): honoured only
 * with BULWARK_TEST_HOOKS=1 as well, so a stray variable in production does nothing. */
static int64_t test_delay_ms(void) {
    const char *on = getenv("BULWARK_TEST_HOOKS");
    const char *ms = getenv("BULWARK_TEST_STORE_DELAY_MS");
    if (!on || strcmp(on, "1") != 0 || !ms || !ms[0])
        return 0;
    char *end = NULL;
    long long v = strtoll(ms, &end, 10);
    if (*end || v <= 0 || v > 60000)
        return 0;
    bw_warn("jobs: TEST HOOK: every store job sleeps %lld ms first (BULWARK_TEST_STORE_DELAY_MS)",
            v);
    return (int64_t)v;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void deadline_at(struct timespec *ts, int64_t wait_ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(wait_ms / 1000);
    ts->tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Under mu: may a store thread take a bulk job now? Bulk jobs never hold every thread, so a
 * request's job always finds one (a slow management query cannot starve the data plane). */
static int bulk_may_run(const struct bw_jobs *j) {
    size_t limit = j->nthreads > 1 ? j->nthreads - 1 : 1;
    return j->bhead && j->bulk_running < limit;
}

/* Under mu: runs one queued job of a lane (dropping mu around run and done). */
static void take_one(struct bw_jobs *j, struct bw_store *store, int bulk) {
    struct bw_job **head = bulk ? &j->bhead : &j->head, **tail = bulk ? &j->btail : &j->tail;
    struct bw_job *job = *head;
    *head = job->next;
    if (!*head)
        *tail = NULL;
    j->n--;
    if (bulk)
        j->bulk_running++;
    int expired = job->deadline_ms && bw_jobs_mono_ms() > job->deadline_ms;
    if (expired)
        j->stats.expired++;
    else
        j->stats.ran++;
    pthread_mutex_unlock(&j->mu);
    if (expired) {
        job->err = BW_E_UNAVAILABLE;
    } else {
        if (j->test_delay_ms)
            sleep_ms(j->test_delay_ms);
        job->run(store, job->arg);
        job->err = BW_OK;
    }
    bw_jobs_complete(job);
    pthread_mutex_lock(&j->mu);
    if (bulk)
        j->bulk_running--;
}

static void *store_thread(void *arg) {
    struct bw_jobs_thread *t = arg;
    struct bw_jobs *j = t->j;
    pthread_setname_np(pthread_self(), "bw-store");
    bw_thread_set_role(BW_THREAD_STORE);
    pthread_mutex_lock(&j->mu);
    for (;;) {
        int64_t wait_ms = -1;
        struct bw_jobs_every *p = bw_jobs_every_due(j, bw_jobs_mono_ms(), &wait_ms);
        if (p) {
            bw_jobs_every_run(j, p, t->store);
            continue;
        }
        if (j->head || bulk_may_run(j)) {
            take_one(j, t->store, !j->head);
            continue;
        }
        if (j->stopping && !bw_jobs_every_pending(j))
            break;
        if (wait_ms < 0) {
            pthread_cond_wait(&j->cond, &j->mu);
        } else {
            struct timespec ts;
            deadline_at(&ts, wait_ms);
            (void)pthread_cond_timedwait(&j->cond, &j->mu, &ts);
        }
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static bw_err init_sync(struct bw_jobs *j) {
    pthread_condattr_t ca;
    if (pthread_mutex_init(&j->mu, NULL) != 0)
        return BW_E_NOMEM;
    if (pthread_condattr_init(&ca) != 0)
        return BW_E_NOMEM;
    /* The store threads' timed waits are on the monotonic clock (periodic jobs). */
    int ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&j->cond, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok)
        return BW_E_NOMEM;
    return pthread_cond_init(&j->idle, NULL) == 0 ? BW_OK : BW_E_NOMEM;
}

bw_err bw_jobs_new(const char *db_path, int threads, size_t queue_cap, struct bw_jobs **out) {
    if (!db_path || !out || threads < 0 || threads > BW_JOBS_THREADS_MAX ||
        queue_cap > BW_JOBS_QUEUE_MAX)
        return BW_E_INVALID;
    struct bw_jobs *j = calloc(1, sizeof *j);
    if (!j)
        return BW_E_NOMEM;
    bw_err result = init_sync(j);
    if (result != BW_OK) {
        free(j); /* a half-initialised mutex/cond: init only fails without resources */
        return result;
    }
    j->cap = queue_cap ? queue_cap : BW_JOBS_QUEUE_DEFAULT;
    j->nthreads = (size_t)(threads ? threads : BW_JOBS_THREADS_DEFAULT);
    j->stats.threads = j->nthreads;
    j->test_delay_ms = test_delay_ms();
    j->threads = calloc(j->nthreads, sizeof *j->threads);
    BW_GOTO_IF(!j->threads, BW_E_NOMEM);
    for (size_t i = 0; i < j->nthreads; i++) {
        j->threads[i].j = j;
        BW_GOTO(bw_store_open(db_path, 0, &j->threads[i].store));
    }
    for (size_t i = 0; i < j->nthreads; i++) {
        BW_GOTO_IF(pthread_create(&j->threads[i].thread, NULL, store_thread, &j->threads[i]) != 0,
                   BW_E_NOMEM);
        j->threads[i].started = 1;
    }
    *out = j;
    return BW_OK;
out:
    bw_jobs_free(j);
    return result == BW_E_NOMEM || result == BW_E_INVALID ? result : BW_E_UNAVAILABLE;
}

/* Under mu: the verdict for a new job (BW_OK = queue it). */
static bw_err admit(struct bw_jobs *j) {
    if (j->stopping) {
        j->stats.stopped++;
        return BW_E_UNAVAILABLE;
    }
    if (j->n >= j->cap) {
        j->stats.full++;
        return BW_E_UNAVAILABLE;
    }
    return BW_OK;
}

static bw_err submit_lane(struct bw_jobs *j, struct event_base *owner, int64_t deadline_ms,
                          bw_job_run_fn run, bw_job_done_fn done, void *arg, int bulk) {
    if (!j || !run || !done)
        return BW_E_INVALID;
    struct bw_job *job = calloc(1, sizeof *job);
    if (!job)
        return BW_E_NOMEM;
    *job = (struct bw_job){NULL, run, done, arg, NULL, deadline_ms, BW_OK, bulk};
    pthread_mutex_lock(&j->mu);
    if (owner) {
        job->q = bw_jobs_baseq_get(j, owner);
        bw_err e = !job->q ? BW_E_NOMEM : job->q->gone ? BW_E_INVALID : BW_OK;
        if (e != BW_OK) {
            pthread_mutex_unlock(&j->mu);
            free(job);
            return e;
        }
        pthread_mutex_lock(&job->q->mu);
        job->q->outstanding++;
        pthread_mutex_unlock(&job->q->mu);
    }
    j->stats.submitted++;
    /* A local verdict: once queued, the job belongs to the store threads (it may be done and
     * freed before this function returns). */
    bw_err verdict = admit(j);
    job->err = verdict;
    if (verdict == BW_OK) {
        struct bw_job **head = bulk ? &j->bhead : &j->head, **tail = bulk ? &j->btail : &j->tail;
        if (*tail)
            (*tail)->next = job;
        else
            *head = job;
        *tail = job;
        j->n++;
        pthread_cond_signal(&j->cond);
    }
    pthread_mutex_unlock(&j->mu);
    if (verdict != BW_OK)
        bw_jobs_complete(job); /* owner NULL: done runs here (jobs.h) */
    return BW_OK;
}

bw_err bw_jobs_submit(struct bw_jobs *j, struct event_base *owner, int64_t deadline_ms,
                      bw_job_run_fn run, bw_job_done_fn done, void *arg) {
    return submit_lane(j, owner, deadline_ms, run, done, arg, 0);
}

bw_err bw_jobs_submit_bulk(struct bw_jobs *j, struct event_base *owner, int64_t deadline_ms,
                           bw_job_run_fn run, bw_job_done_fn done, void *arg) {
    return submit_lane(j, owner, deadline_ms, run, done, arg, 1);
}

void bw_jobs_stats(struct bw_jobs *j, struct bw_jobs_stats *out) {
    memset(out, 0, sizeof *out);
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    *out = j->stats;
    out->queued = j->n;
    pthread_mutex_unlock(&j->mu);
}

/* Refuses everything still queued (done with BW_E_UNAVAILABLE), outside mu. */
static void drain(struct bw_jobs *j) {
    pthread_mutex_lock(&j->mu);
    j->stopping = 1;
    struct bw_job *list = j->head;
    if (j->tail)
        j->tail->next = j->bhead; /* one list: the request lane, then the bulk lane */
    else
        list = j->bhead;
    j->stats.stopped += j->n;
    j->head = j->tail = NULL;
    j->bhead = j->btail = NULL;
    j->n = 0;
    bw_jobs_every_stop_all(j);
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->mu);
    while (list) {
        struct bw_job *next = list->next;
        list->err = BW_E_UNAVAILABLE;
        bw_jobs_complete(list);
        list = next;
    }
}

void bw_jobs_free(struct bw_jobs *j) {
    if (!j)
        return;
    drain(j);
    for (size_t i = 0; j->threads && i < j->nthreads; i++) {
        if (j->threads[i].started)
            pthread_join(j->threads[i].thread, NULL);
        bw_store_close(j->threads[i].store);
    }
    free(j->threads);
    bw_jobs_every_free_all(j);
    bw_jobs_baseqs_free(j);
    pthread_cond_destroy(&j->idle);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->mu);
    free(j);
}
