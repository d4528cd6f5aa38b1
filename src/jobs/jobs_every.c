/* jobs_every.c: periodic jobs (bw_jobs_every), for the background writers that used to own a
 * thread each (metering, leases, the outbox). A periodic job is not queued: it lives on the
 * pool's list and a store thread runs it when it is due, kicked or stopping, so a full queue
 * never starves it, and one periodic job never runs on two threads at once. */
#include <stdlib.h>

#include "jobs/jobs_internal.h"

struct bw_jobs_every *bw_jobs_every_due(struct bw_jobs *j, int64_t now_ms, int64_t *wait_ms) {
    *wait_ms = -1;
    for (struct bw_jobs_every *p = j->every; p; p = p->next) {
        if (p->running || p->finished)
            continue;
        if (p->kicked || p->stopping || p->due_ms <= now_ms) {
            p->running = 1;
            return p;
        }
        int64_t w = p->due_ms - now_ms;
        if (*wait_ms < 0 || w < *wait_ms)
            *wait_ms = w;
    }
    return NULL;
}

void bw_jobs_every_run(struct bw_jobs *j, struct bw_jobs_every *p, struct bw_store *store) {
    int last = p->stopping;
    p->kicked = 0;
    pthread_mutex_unlock(&j->mu);
    p->tick(store, p->arg, last);
    pthread_mutex_lock(&j->mu);
    p->running = 0;
    p->due_ms = bw_jobs_mono_ms() + p->period_ms;
    if (last) {
        p->finished = 1;
        pthread_cond_broadcast(&j->idle);
        pthread_cond_broadcast(&j->cond); /* threads waiting for it to stop may exit now */
    }
}

void bw_jobs_every_stop_all(struct bw_jobs *j) {
    for (struct bw_jobs_every *p = j->every; p; p = p->next)
        p->stopping = 1;
}

int bw_jobs_every_pending(struct bw_jobs *j) {
    for (struct bw_jobs_every *p = j->every; p; p = p->next)
        if (!p->finished)
            return 1;
    return 0;
}

void bw_jobs_every_free_all(struct bw_jobs *j) {
    while (j->every) {
        struct bw_jobs_every *p = j->every;
        j->every = p->next;
        free(p);
    }
}

bw_err bw_jobs_every(struct bw_jobs *j, int64_t period_ms, bw_job_tick_fn tick, void *arg,
                     struct bw_jobs_every **out) {
    if (!j || !tick || !out || period_ms <= 0)
        return BW_E_INVALID;
    struct bw_jobs_every *p = calloc(1, sizeof *p);
    if (!p)
        return BW_E_NOMEM;
    p->j = j;
    p->period_ms = period_ms;
    p->tick = tick;
    p->arg = arg;
    pthread_mutex_lock(&j->mu);
    if (j->stopping) {
        pthread_mutex_unlock(&j->mu);
        free(p);
        return BW_E_INVALID;
    }
    p->due_ms = bw_jobs_mono_ms() + period_ms;
    p->next = j->every;
    j->every = p;
    pthread_cond_broadcast(&j->cond); /* a sleeping thread recomputes its wake-up */
    pthread_mutex_unlock(&j->mu);
    *out = p;
    return BW_OK;
}

void bw_jobs_every_kick(struct bw_jobs_every *p) {
    if (!p)
        return;
    struct bw_jobs *j = p->j;
    pthread_mutex_lock(&j->mu);
    p->kicked = 1;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->mu);
}

void bw_jobs_every_stop(struct bw_jobs_every *p) {
    if (!p)
        return;
    struct bw_jobs *j = p->j;
    pthread_mutex_lock(&j->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&j->cond);
    while (!p->finished)
        pthread_cond_wait(&j->idle, &j->mu);
    for (struct bw_jobs_every **pp = &j->every; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&j->mu);
    free(p);
}
