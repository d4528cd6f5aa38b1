/* jobs_deliver.c: completions back to each owner's event_base, and the owner-gone drain.
 *
 * Why a queue per base rather than one event_base_once per job (as src/ledger/log_complete.c):
 * a burst of N finished jobs for one worker then costs one wake-up of that worker, not N. */
#include <event2/event.h>
#include <stdlib.h>

#include "jobs/jobs_internal.h"
#include "util/log.h"

static void free_list(struct bw_job *list) {
    while (list) {
        struct bw_job *next = list->next;
        free(list);
        list = next;
    }
}

static void baseq_destroy(struct bw_jobs_baseq *q) {
    free_list(q->head); /* only after owner_gone ran them, or if a base never ran again */
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* Runs the done callbacks of a detached list, in order, then frees the nodes. */
static void run_dones(struct bw_job *list) {
    while (list) {
        struct bw_job *next = list->next;
        list->done(list->arg, list->err);
        free(list);
        list = next;
    }
}

/* On the owner's thread: detach the list, call done unlocked (a done may submit again). */
static void baseq_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_jobs_baseq *q = arg;
    pthread_mutex_lock(&q->mu);
    struct bw_job *list = q->head;
    q->head = q->tail = NULL;
    q->scheduled = 0;
    q->running = 1;
    pthread_mutex_unlock(&q->mu);
    run_dones(list);
    pthread_mutex_lock(&q->mu);
    q->running = 0;
    int last_use = q->orphaned && !q->scheduled;
    pthread_mutex_unlock(&q->mu);
    if (last_use)
        baseq_destroy(q);
}

static void schedule(struct bw_jobs_baseq *q) {
    static const struct timeval now = {0, 0};
    if (event_base_once(q->base, -1, EV_TIMEOUT, baseq_cb, q, &now) == 0)
        return;
    /* Out of memory inside libevent: leave the jobs queued; the next completion retries. */
    pthread_mutex_lock(&q->mu);
    q->scheduled = 0;
    pthread_mutex_unlock(&q->mu);
    bw_error("jobs: cannot schedule completions on a worker (out of memory)");
}

void bw_jobs_complete(struct bw_job *job) {
    struct bw_jobs_baseq *q = job->q;
    job->next = NULL;
    if (!q) {
        job->done(job->arg, job->err);
        free(job);
        return;
    }
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->outstanding--;
    int need = !q->scheduled && !q->gone;
    if (need)
        q->scheduled = 1;
    if (q->gone && q->outstanding == 0)
        pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
    if (need)
        schedule(q);
}

struct bw_jobs_baseq *bw_jobs_baseq_get(struct bw_jobs *j, struct event_base *base) {
    for (size_t i = 0; i < j->nbaseqs; i++)
        if (j->baseqs[i]->base == base)
            return j->baseqs[i];
    if (j->nbaseqs == j->baseqs_cap) {
        size_t cap = j->baseqs_cap ? j->baseqs_cap * 2 : 8;
        struct bw_jobs_baseq **v = realloc(j->baseqs, cap * sizeof *v);
        if (!v)
            return NULL;
        j->baseqs = v;
        j->baseqs_cap = cap;
    }
    struct bw_jobs_baseq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        free(q);
        return NULL;
    }
    if (pthread_cond_init(&q->cond, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        free(q);
        return NULL;
    }
    q->base = base;
    j->baseqs[j->nbaseqs++] = q;
    return q;
}

/* Under the pool's mu: unlinks owner q's jobs queued in one lane (head/tail) onto *tail_out,
 * refused. */
static void take_lane(struct bw_jobs *j, struct bw_jobs_baseq *q, struct bw_job **head,
                      struct bw_job **tail_ptr, struct bw_job ***tail_out) {
    struct bw_job **pp = head, *prev = NULL;
    while (*pp) {
        struct bw_job *job = *pp;
        if (job->q != q) {
            prev = job;
            pp = &job->next;
            continue;
        }
        *pp = job->next;
        if (*tail_ptr == job)
            *tail_ptr = prev;
        j->n--;
        j->stats.stopped++;
        job->err = BW_E_UNAVAILABLE;
        job->next = NULL;
        **tail_out = job;
        *tail_out = &job->next;
    }
}

/* Under the pool's mu: unlinks owner q's queued jobs, both lanes, into a list, refused. */
static struct bw_job *take_queued(struct bw_jobs *j, struct bw_jobs_baseq *q) {
    struct bw_job *out = NULL, **tail = &out;
    take_lane(j, q, &j->head, &j->tail, &tail);
    take_lane(j, q, &j->bhead, &j->btail, &tail);
    return out;
}

void bw_jobs_owner_gone(struct bw_jobs *j, struct event_base *owner) {
    if (!j || !owner)
        return;
    pthread_mutex_lock(&j->mu);
    struct bw_jobs_baseq *q = NULL;
    for (size_t i = 0; i < j->nbaseqs && !q; i++)
        if (j->baseqs[i]->base == owner)
            q = j->baseqs[i];
    if (!q) {
        pthread_mutex_unlock(&j->mu);
        return; /* it never submitted */
    }
    pthread_mutex_lock(&q->mu);
    q->gone = 1;
    pthread_mutex_unlock(&q->mu);
    struct bw_job *refused = take_queued(j, q);
    pthread_mutex_unlock(&j->mu);
    while (refused) {
        struct bw_job *next = refused->next;
        bw_jobs_complete(refused);
        refused = next;
    }
    pthread_mutex_lock(&q->mu);
    while (q->outstanding > 0)
        pthread_cond_wait(&q->cond, &q->mu);
    struct bw_job *list = q->head;
    q->head = q->tail = NULL;
    /* A callback scheduled before `gone` will never run (the loop has stopped for good and the
     * base's free drops it): without this the queue would be orphaned and never freed. */
    q->scheduled = 0;
    pthread_mutex_unlock(&q->mu);
    run_dones(list);
}

void bw_jobs_baseqs_free(struct bw_jobs *j) {
    for (size_t i = 0; i < j->nbaseqs; i++) {
        struct bw_jobs_baseq *q = j->baseqs[i];
        pthread_mutex_lock(&q->mu);
        int busy = q->scheduled || q->running;
        q->orphaned = busy;
        pthread_mutex_unlock(&q->mu);
        if (!busy)
            baseq_destroy(q);
    }
    free(j->baseqs);
    j->baseqs = NULL;
    j->nbaseqs = j->baseqs_cap = 0;
}
