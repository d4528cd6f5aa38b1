/* jobs_internal.h: the pool object shared by jobs_pool.c, jobs_deliver.c and jobs_every.c.
 * Not a public contract: only src/jobs/ includes it. */
#ifndef BW_JOBS_INTERNAL_H
#define BW_JOBS_INTERNAL_H

#include <pthread.h>
#include "util/err.h"

#include "jobs/jobs.h"

struct bw_jobs_baseq;

/* One submitted job, from bw_jobs_submit until its done has run (then freed). */
struct bw_job {
    struct bw_job *next;
    bw_job_run_fn run;
    bw_job_done_fn done;
    void *arg;
    struct bw_jobs_baseq *q; /* the owner's delivery queue; NULL: owner NULL */
    int64_t deadline_ms;     /* monotonic; 0 = none */
    bw_err err;
    int bulk; /* the bulk lane (bw_jobs_submit_bulk) */
};

/* Completions for one owner event_base, as src/ledger/log_complete.c: store threads append,
 * one event_base_once per batch drains them on the owner's thread. Lock order: pool mu before
 * q mu. The callback touches only q, never the pool, so a queue still scheduled when the pool
 * is freed is marked orphaned and freed by its last callback. */
struct bw_jobs_baseq {
    struct event_base *base;
    pthread_mutex_t mu;
    pthread_cond_t cond;        /* outstanding reached 0 (bw_jobs_owner_gone waits) */
    struct bw_job *head, *tail; /* finished, done not yet called */
    size_t outstanding;         /* accepted, not yet in the list above (queued or running) */
    int scheduled, running, orphaned;
    int gone; /* bw_jobs_owner_gone: never schedule on base again (set under both locks) */
};

struct bw_jobs_every {
    struct bw_jobs_every *next; /* the pool's list, under the pool's mu */
    struct bw_jobs *j;
    int64_t period_ms, due_ms;
    bw_job_tick_fn tick;
    void *arg;
    int running;  /* a store thread is in tick */
    int kicked;   /* run the next tick now */
    int stopping; /* run the last tick (stopping = 1), then finished */
    int finished;
};

struct bw_jobs_thread {
    struct bw_jobs *j;
    pthread_t thread;
    struct bw_store *store;
    int started;
};

struct bw_jobs {
    pthread_mutex_t mu;
    pthread_cond_t cond;          /* store threads: a job, a kick, a stop */
    pthread_cond_t idle;          /* a periodic job finished its last tick */
    struct bw_job *head, *tail;   /* the request path's lane: taken first */
    struct bw_job *bhead, *btail; /* the bulk lane: never on every thread at once */
    size_t n, cap;                /* queued in both lanes, and the bound on it */
    size_t bulk_running;          /* bulk jobs in run now */
    struct bw_jobs_baseq **baseqs;
    size_t nbaseqs, baseqs_cap;
    struct bw_jobs_every *every;
    int stopping;
    int64_t test_delay_ms; /* BULWARK_TEST_STORE_DELAY_MS (test hook; 0 = off) */
    struct bw_jobs_stats stats;
    struct bw_jobs_thread *threads;
    size_t nthreads;
};

int64_t bw_jobs_mono_ms(void);

/* Hands a finished job (err set) to its owner: schedules done on the owner's base, or runs it
 * here for owner NULL. Never under the pool's mu. */
void bw_jobs_complete(struct bw_job *job);
/* Under the pool's mu: the delivery queue for base, created on first use; NULL if out of
 * memory. */
struct bw_jobs_baseq *bw_jobs_baseq_get(struct bw_jobs *j, struct event_base *base) BW_MUST_CHECK;
/* At free, after the threads stopped: frees the queues not scheduled, orphans the others. */
void bw_jobs_baseqs_free(struct bw_jobs *j);

/* Under the pool's mu, on a store thread: a periodic job due now (marked running), or NULL;
 * *wait_ms gets the time to the next due one (-1 if none). */
struct bw_jobs_every *bw_jobs_every_due(struct bw_jobs *j, int64_t now_ms,
                                        int64_t *wait_ms) BW_MUST_CHECK;
/* Called with the pool's mu held; drops it around the tick. */
void bw_jobs_every_run(struct bw_jobs *j, struct bw_jobs_every *p, struct bw_store *store);
/* Under the pool's mu: asks every periodic job for its last tick. */
void bw_jobs_every_stop_all(struct bw_jobs *j);
/* Under the pool's mu: 1 while a periodic job still owes its last tick. */
int bw_jobs_every_pending(struct bw_jobs *j) BW_MUST_CHECK;
void bw_jobs_every_free_all(struct bw_jobs *j);

#endif
