/* call_jobs.c: a step's store work as a store job (jobs/jobs.h), so no event worker waits on
 * SQLite or PostgreSQL (docs/INTERNALS.md "The call", "Store jobs"). The step hands run/apply
 * to bw_call_wait_job and returns its verdict (WAIT); run reads or writes the store on a store
 * thread, touching only its argument; apply then runs on the call's worker and returns the
 * step's verdict, which goes to the driver.
 *
 * Ownership: the job's argument is the job's, never the call's: if the call stops waiting (its
 * deadline passed) the call goes on and may end and be freed while run is still running on a
 * store thread; the job's done then finds no call and only frees the argument. So a run never
 * points into struct bw_call. */
#include <event2/event.h>
#include <stdlib.h>

#include "jobs/jobs.h"
#include "posture/health.h"
#include "proxy/proxy_internal.h"
#include "reason/reasons.h"
#include "util/log.h"

struct bw_call_job {
    struct bw_call *c;   /* NULL once the call stopped waiting: done only frees */
    struct event *timer; /* the call's deadline */
    bw_job_run_fn run;
    bw_call_job_apply_fn apply;
    void (*free_arg)(void *arg);
    void *arg;
};

static void job_free(struct bw_call_job *j) {
    if (j->timer)
        event_free(j->timer);
    if (j->free_arg)
        j->free_arg(j->arg);
    free(j);
}

static void job_run(struct bw_store *store, void *arg) {
    struct bw_call_job *j = arg;
    j->run(store, j->arg);
}

/* On the call's worker, exactly once (jobs.h THE RULE). */
static void job_done(void *arg, bw_err err) {
    struct bw_call_job *j = arg;
    struct bw_call *c = j->c;
    if (!c) { /* the call stopped waiting (deadline) and may be gone */
        job_free(j);
        return;
    }
    c->job = NULL;
    if (err != BW_OK)
        bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DEGRADED, BW_HC_UNAVAILABLE, -1);
    /* apply may start the step's next wait (a receipt); a completion inside it is taken here,
     * as the driver does for a step */
    c->driving = 1;
    c->woken = 0;
    enum bw_step_verdict v = j->apply(c, j->arg, err);
    c->driving = 0;
    if (v == BW_STEP_WAIT && c->woken)
        v = c->wake_verdict;
    c->woken = 0;
    job_free(j);
    bw_call_step_done(c, v); /* WAIT: the next completion continues it */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_call_job *j = arg;
    struct bw_call *c = j->c;
    j->c = NULL; /* the job's done frees j; the call goes on without it */
    c->job = NULL;
    bw_warn("proxy: a store job took longer than %d ms: the call is refused",
            BW_CALL_STORE_WAIT_MS);
    bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DEGRADED, BW_HC_TIMEOUT, -1);
    /* a forwarded call (a BYOK read before the transfer, the widget's answer transcript) gets
     * its outcome receipt; one whose transfer never started produced nothing to bill */
    if (c->fwd.forwarded && !c->fwd.upstream_start_us)
        c->answer.unproduced = 1;
    bw_call_step_done(c, bw_call_fail_with(c, 503, BW_R_STORE_UNAVAILABLE,
                                           "the store did not answer in time",
                                           c->fwd.forwarded ? "store_unavailable" : NULL));
}

enum bw_step_verdict bw_call_wait_job(struct bw_call *c, bw_job_run_fn run,
                                      bw_call_job_apply_fn apply, void *arg,
                                      void (*free_arg)(void *arg)) {
    struct bw_jobs *pool = c->w->gw->jobs;
    if (!pool) { /* no pool (a gateway built without one): the worker's own handle */
        run(c->w->store, arg);
        enum bw_step_verdict v = apply(c, arg, BW_OK);
        if (free_arg)
            free_arg(arg);
        return v;
    }
    struct bw_call_job *j = calloc(1, sizeof *j);
    if (j) {
        j->c = c;
        j->run = run;
        j->apply = apply;
        j->free_arg = free_arg;
        j->arg = arg;
        j->timer = evtimer_new(c->w->base, on_deadline, j);
    }
    struct timeval tv = {BW_CALL_STORE_WAIT_MS / 1000, (BW_CALL_STORE_WAIT_MS % 1000) * 1000};
    if (!j || !j->timer || evtimer_add(j->timer, &tv) != 0 ||
        bw_jobs_submit(pool, c->w->base, bw_jobs_deadline(BW_CALL_STORE_WAIT_MS), job_run, job_done,
                       j) != BW_OK) {
        if (j)
            job_free(j); /* never submitted: ours to free, with the argument */
        else if (free_arg)
            free_arg(arg);
        return bw_call_fail_with(c, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL);
    }
    c->job = j;
    return BW_STEP_WAIT;
}

void bw_call_job_detach(struct bw_call *c) {
    struct bw_call_job *j = c->job;
    if (!j)
        return;
    j->c = NULL; /* the job's done frees it */
    if (j->timer) {
        event_free(j->timer);
        j->timer = NULL;
    }
    c->job = NULL;
}
