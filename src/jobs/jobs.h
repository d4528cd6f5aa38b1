/* jobs.h: the background job facility that keeps store work off the event workers (issue 15).
 *
 * In the style of Redis's bio.c and src/ledger/'s completion queue: a small pool of store
 * threads, each with its own struct bw_store connection (SQLite or PostgreSQL, store/store.h),
 * taking jobs from one bounded FIFO queue. A job is a pair of callbacks:
 *   run(store, arg)  runs on a store thread, with that thread's connection;
 *   done(arg, err)   runs afterwards on the submitter's thread (the `owner` event_base's loop),
 *                    delivered with event_base_once (evthread_use_pthreads must be on).
 *
 * THE RULE: once bw_jobs_submit returned BW_OK, done runs EXACTLY ONCE, later, on owner's
 * thread, never inside bw_jobs_submit; run runs at most once, before done. So done is the one
 * place the caller frees arg. err is:
 *   BW_OK            run ran (its results are wherever run wrote them, usually inside arg);
 *   BW_E_UNAVAILABLE run never ran: the queue was full, the deadline passed before a store
 *                    thread took the job, or the pool is stopping (bw_jobs_free drains the
 *                    queue this way). Callers fail closed on it (STORE_UNAVAILABLE).
 *
 * WARNING: a caller that stops waiting before done (its client went away, its own wait timer
 * fired) must NOT free arg: run may be running on another thread right now. Mark arg cancelled
 * and let done free it. Likewise a run must touch only arg and its store, never the caller's
 * call, connection or event base (those belong to the worker thread).
 *
 * The deadline bounds the time in the QUEUE: a job a thread takes after deadline_ms is not run.
 * It does not interrupt a run that has started (the store bounds its own statements: SQLite's
 * busy timeout, libpq's tcp_user_timeout); a caller that must not wait past a deadline arms its
 * own timer on its event base and treats a late done as cancelled (above).
 *
 * Order: jobs are taken in submission order (FIFO). With threads > 1 two jobs may run at the
 * same time and finish in either order; a caller that needs one job's effect before another's
 * submits the second from the first's done. done callbacks for one owner run in the order their
 * runs finished.
 *
 * Thread safety: bw_jobs_submit and bw_jobs_stats may be called from any thread at once.
 * bw_jobs_new and bw_jobs_free by the owner of the pool (serve's main thread). */
#ifndef BW_JOBS_JOBS_H
#define BW_JOBS_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct bw_jobs;
struct bw_store;
struct event_base;

#define BW_JOBS_THREADS_DEFAULT 4
#define BW_JOBS_THREADS_MAX 32
#define BW_JOBS_QUEUE_DEFAULT 1024
#define BW_JOBS_QUEUE_MAX 1000000

/* Runs on a store thread. store is that thread's own connection: use it only inside run. */
typedef void (*bw_job_run_fn)(struct bw_store *store, void *arg);
/* Runs once on owner's thread (see THE RULE above). */
typedef void (*bw_job_done_fn)(void *arg, bw_err err);

/* Starts `threads` store threads (1..BW_JOBS_THREADS_MAX; 0 = BW_JOBS_THREADS_DEFAULT), each
 * opening its own connection to db_path with bw_store_open(db_path, 0, ..) (the database must
 * exist and be migrated: serve creates the pool after its migrating open). queue_cap bounds the
 * jobs waiting (1..BW_JOBS_QUEUE_MAX; 0 = BW_JOBS_QUEUE_DEFAULT). db_path is copied. Errors:
 * BW_E_INVALID (bad counts), BW_E_UNAVAILABLE (a connection failed: nothing is left running),
 * BW_E_NOMEM. */
bw_err bw_jobs_new(const char *db_path, int threads, size_t queue_cap,
                   struct bw_jobs **out) BW_MUST_CHECK;

/* The monotonic deadline `budget_ms` from now, for bw_jobs_submit (0 = none is also accepted
 * there). */
int64_t bw_jobs_deadline(int64_t budget_ms);

/* Queues run/done with arg (borrowed until done; see THE RULE). owner: the event_base whose
 * thread runs done; NULL for a caller without one (a background thread): done then runs on a
 * store thread right after run, or, when the job is refused, inside this call. deadline_ms: a
 * monotonic time from bw_jobs_deadline, 0 = none.
 * Returns BW_OK: done will run exactly once. Any other return (BW_E_INVALID: NULL j, run or
 * done; BW_E_NOMEM: nothing could be queued nor delivered): neither run nor done will ever run
 * and the caller still owns arg; fail closed right there. */
bw_err bw_jobs_submit(struct bw_jobs *j, struct event_base *owner, int64_t deadline_ms,
                      bw_job_run_fn run, bw_job_done_fn done, void *arg) BW_MUST_CHECK;
/* The same on the bulk lane, for work that may be slow and is not on a call's path (the
 * management API): request-path jobs (bw_jobs_submit) are always taken first, and bulk jobs
 * never occupy every store thread at once (at most threads - 1, or 1 with one thread), so a
 * flood of slow management queries cannot make a call wait past its deadline. Same rule,
 * same queue bound. */
bw_err bw_jobs_submit_bulk(struct bw_jobs *j, struct event_base *owner, int64_t deadline_ms,
                           bw_job_run_fn run, bw_job_done_fn done, void *arg) BW_MUST_CHECK;

/* A periodic job: every period_ms (monotonic) a store thread runs tick(store, arg), never two
 * ticks of one periodic job at once. A tick is not a queued job: the queue being full never
 * skips it. bw_jobs_every_stop(p) wakes the tick once more with stopping = 1 (so a writer can
 * flush), waits for it, and frees p; bw_jobs_free stops the ones still registered the same way.
 * bw_jobs_every_kick(p) runs the next tick as soon as a thread is free (for a producer that
 * filled a batch). Errors: BW_E_INVALID, BW_E_NOMEM. */
struct bw_jobs_every;
typedef void (*bw_job_tick_fn)(struct bw_store *store, void *arg, int stopping);
bw_err bw_jobs_every(struct bw_jobs *j, int64_t period_ms, bw_job_tick_fn tick, void *arg,
                     struct bw_jobs_every **out) BW_MUST_CHECK;
void bw_jobs_every_kick(struct bw_jobs_every *p);
void bw_jobs_every_stop(struct bw_jobs_every *p); /* NULL is a no-op */

/* For an owner whose loop has stopped for good (an event worker at shutdown): call it on the
 * thread that will free owner, after its loop returned and before event_base_free(owner).
 * Refuses owner's queued jobs, waits for its runs in progress (bounded by the store's own
 * timeouts) and runs every done still owed to owner HERE, on the calling thread (BW_OK or
 * BW_E_UNAVAILABLE as usual), so THE RULE holds without the loop. Later submits naming owner
 * return BW_E_INVALID. NULL j is a no-op. */
void bw_jobs_owner_gone(struct bw_jobs *j, struct event_base *owner);

/* Counters since bw_jobs_new (for /metrics). */
struct bw_jobs_stats {
    uint64_t submitted; /* accepted by bw_jobs_submit */
    uint64_t ran;       /* run called */
    uint64_t full;      /* refused: the queue was full */
    uint64_t expired;   /* refused: the deadline passed in the queue */
    uint64_t stopped;   /* refused: the pool was stopping */
    size_t queued;      /* waiting now */
    size_t threads;
};
void bw_jobs_stats(struct bw_jobs *j, struct bw_jobs_stats *out);

/* Stops the pool: no new job is accepted (done gets BW_E_UNAVAILABLE), the jobs still queued
 * complete with BW_E_UNAVAILABLE, the runs in progress finish, periodic jobs get their last tick,
 * the threads are joined and their connections closed. Every done still owed is delivered to its
 * owner as usual, so each owner must either still be running its loop (it runs them later) or
 * have been through bw_jobs_owner_gone. serve's order: bw_server_stop (its worker_fini calls
 * bw_jobs_owner_gone for each worker), then bw_jobs_free, then the store closes. NULL is a
 * no-op. */
void bw_jobs_free(struct bw_jobs *j);

#endif
