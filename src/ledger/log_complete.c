/* log_complete.c: bw_ledger_append and delivery of completions to each caller's event_base.
 *
 * Why a queue per base rather than one event per receipt: one batch of N receipts from the
 * same worker then costs one wake-up of that worker, not N allocations and N wake-ups. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/log_internal.h"
#include "util/log.h"
#include "util/time.h"

void bw_ledger_pending_free_all(struct bw_ledger_pending *list) {
    while (list) {
        struct bw_ledger_pending *next = list->next;
        free(list);
        list = next;
    }
}

static void baseq_destroy(struct bw_ledger_baseq *q) {
    bw_ledger_pending_free_all(q->head);
    bw_ledger_pending_free_all(q->free_list);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* Runs on the base's thread: detach the whole list, call the waiters unlocked (a callback may
 * append again), then recycle the nodes in one splice. */
static void baseq_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_ledger_baseq *q = arg;
    pthread_mutex_lock(&q->mu);
    struct bw_ledger_pending *list = q->head, *last = q->tail;
    q->head = q->tail = NULL;
    q->scheduled = 0;
    q->running = 1;
    pthread_mutex_unlock(&q->mu);
    for (struct bw_ledger_pending *p = list; p; p = p->next)
        p->fn(p->arg, p->err, p->index, p->leaf_hash);
    pthread_mutex_lock(&q->mu);
    if (list) {
        last->next = q->free_list;
        q->free_list = list;
    }
    q->running = 0;
    int last_use = q->orphaned && !q->scheduled;
    pthread_mutex_unlock(&q->mu);
    if (last_use)
        baseq_destroy(q);
}

/* Under l->mu. Linear search: there is one base per worker thread, a handful. */
static struct bw_ledger_baseq *baseq_get(struct bw_ledger *l, struct event_base *base) {
    for (size_t i = 0; i < l->nbaseqs; i++)
        if (l->baseqs[i]->base == base)
            return l->baseqs[i];
    if (l->nbaseqs == l->baseqs_cap) {
        size_t cap = l->baseqs_cap ? l->baseqs_cap * 2 : 8;
        struct bw_ledger_baseq **v = realloc(l->baseqs, cap * sizeof *v);
        if (!v)
            return NULL;
        l->baseqs = v;
        l->baseqs_cap = cap;
    }
    struct bw_ledger_baseq *q = calloc(1, sizeof *q);
    if (!q || pthread_mutex_init(&q->mu, NULL) != 0) {
        free(q);
        return NULL;
    }
    q->base = base;
    l->baseqs[l->nbaseqs++] = q;
    return q;
}

static void schedule(struct bw_ledger_baseq *q) {
    static const struct timeval now = {0, 0};
    if (event_base_once(q->base, -1, EV_TIMEOUT, baseq_cb, q, &now) == 0)
        return;
    /* Out of memory inside libevent: leave the entries queued; the next delivery retries. */
    pthread_mutex_lock(&q->mu);
    q->scheduled = 0;
    pthread_mutex_unlock(&q->mu);
    bw_error("ledger: cannot schedule completions on a worker (out of memory)");
}

void bw_ledger_deliver(struct bw_ledger_pending *list) {
    while (list) {
        struct bw_ledger_pending *p = list;
        list = p->next;
        p->next = NULL;
        struct bw_ledger_baseq *q = p->q;
        pthread_mutex_lock(&q->mu);
        if (q->tail)
            q->tail->next = p;
        else
            q->head = p;
        q->tail = p;
        int need = !q->scheduled;
        q->scheduled = 1;
        pthread_mutex_unlock(&q->mu);
        if (need)
            schedule(q);
    }
}

/* Under l->mu: a recycled node of q, or a new one. */
static struct bw_ledger_pending *node_get(struct bw_ledger_baseq *q) {
    pthread_mutex_lock(&q->mu);
    struct bw_ledger_pending *p = q->free_list;
    if (p)
        q->free_list = p->next;
    pthread_mutex_unlock(&q->mu);
    return p ? p : malloc(sizeof *p);
}

void bw_ledger_append(struct bw_ledger *l, const struct bw_receipt *r, struct event_base *base,
                      bw_ledger_done_fn fn, void *arg) {
    pthread_mutex_lock(&l->mu);
    struct bw_ledger_baseq *q = baseq_get(l, base);
    struct bw_ledger_pending *p = q ? node_get(q) : NULL;
    if (!p) {
        pthread_mutex_unlock(&l->mu);
        /* Out of memory: there is no way to reach the base's thread. Fail closed right here
         * (the only case where fn runs on the caller's thread, inside this call). */
        bw_error("ledger: out of memory queueing a receipt");
        fn(arg, BW_E_UNAVAILABLE, 0, (const uint8_t[32]){0});
        return;
    }
    p->next = NULL;
    p->q = q;
    p->fn = fn;
    p->arg = arg;
    p->err = BW_E_UNAVAILABLE;
    p->index = 0;
    p->enq_us = bw_mono_us();
    memset(p->leaf_hash, 0, sizeof p->leaf_hash);
    if (l->stopping || atomic_load(&l->frozen)) {
        pthread_mutex_unlock(&l->mu);
        bw_ledger_deliver(p);
        return;
    }
    p->receipt = *r;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    l->npending++;
    /* Only a waiting thread needs the signal: one gathering a batch wants it once the batch is
     * full, not once per receipt (each would be a context switch); a committing thread takes
     * the queue when it comes back. */
    if (l->idle || (l->gathering && l->npending >= l->opts.batch_max))
        pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);
}

/* At close, after the thread has stopped. A queue whose callback is still scheduled or running
 * is handed over to that callback (orphaned); the others are freed now. */
void bw_ledger_baseqs_free(struct bw_ledger *l) {
    for (size_t i = 0; i < l->nbaseqs; i++) {
        struct bw_ledger_baseq *q = l->baseqs[i];
        pthread_mutex_lock(&q->mu);
        int busy = q->scheduled || q->running;
        q->orphaned = busy;
        pthread_mutex_unlock(&q->mu);
        if (!busy)
            baseq_destroy(q);
    }
    free(l->baseqs);
    l->baseqs = NULL;
    l->nbaseqs = l->baseqs_cap = 0;
}
