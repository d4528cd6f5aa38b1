#include "limits/meter.h"

#include "store/identity.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

struct bw_meter {
    struct bw_meter_opts opts;
    struct bw_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct bw_usage_record *queue; /* rows waiting, in order */
    size_t n;
    struct bw_usage_record *batch; /* the thread's private copy being written */
    size_t written;
    size_t dropped;
    int stopping;
};

/* Each key's last use, once per batch: the latest end among its rows (a batch holds many rows
 * of few keys; one UPDATE per key, not per row). Under the batch's transaction. */
static bw_err touch_keys(struct bw_meter *m, size_t n) {
    bw_err e = BW_OK;
    for (size_t i = 0; e == BW_OK && i < n; i++) {
        const struct bw_usage_record *u = &m->batch[i];
        if (!u->key_id[0])
            continue;
        int64_t last = u->ended_ms;
        int later = 0;
        for (size_t j = i + 1; j < n && !later; j++)
            later = strcmp(m->batch[j].key_id, u->key_id) == 0;
        if (later)
            continue; /* its last row in the batch touches it */
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->batch[j].key_id, u->key_id) == 0 && m->batch[j].ended_ms > last)
                last = m->batch[j].ended_ms;
        e = bw_store_key_touch(m->store, u->org_id, u->key_id, last);
        if (e == BW_E_NOT_FOUND)
            e = BW_OK; /* not one of our key ids (a widget principal): nothing to record */
    }
    return e;
}

static void write_batch(struct bw_meter *m, size_t n) {
    bw_err e = bw_store_tx_begin(m->store);
    if (e == BW_OK)
        e = bw_store_usage_insert_many(m->store, m->batch, n);
    if (e == BW_OK)
        e = touch_keys(m, n);
    if (e == BW_OK)
        e = bw_store_tx_commit(m->store);
    if (e != BW_OK) {
        bw_store_tx_rollback(m->store);
        bw_error("metering: %zu usage rows not written (%s); the outcome receipts hold them", n,
                 bw_err_str(e));
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->written += n;
    pthread_mutex_unlock(&m->mu);
}

/* Under m->mu: waits until a batch is due (full, flush_ms passed since the first row) or stop. */
static void wait_for_batch(struct bw_meter *m) {
    while (m->n == 0 && !m->stopping)
        pthread_cond_wait(&m->cond, &m->mu);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    long ns = deadline.tv_nsec + (long)m->opts.flush_ms * 1000000L;
    deadline.tv_sec += ns / 1000000000L;
    deadline.tv_nsec = ns % 1000000000L;
    while (m->n < m->opts.batch_max && !m->stopping)
        if (pthread_cond_timedwait(&m->cond, &m->mu, &deadline) == ETIMEDOUT)
            break;
}

static void *run(void *arg) {
    pthread_setname_np(pthread_self(), "bw-meter"); /* for top -H, perf, gdb */
    struct bw_meter *m = arg;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        wait_for_batch(m);
        if (m->n == 0 && m->stopping)
            break;
        size_t n = m->n < m->opts.batch_max ? m->n : m->opts.batch_max;
        memcpy(m->batch, m->queue, n * sizeof *m->queue);
        memmove(m->queue, m->queue + n, (m->n - n) * sizeof *m->queue);
        m->n -= n;
        pthread_mutex_unlock(&m->mu);
        write_batch(m, n);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

bw_err bw_meter_new(const char *where, const struct bw_meter_opts *opts, struct bw_meter **out) {
    struct bw_meter *m = calloc(1, sizeof *m);
    if (!m)
        return BW_E_NOMEM;
    m->opts.batch_max = opts && opts->batch_max ? opts->batch_max : 512;
    m->opts.flush_ms = opts && opts->flush_ms ? opts->flush_ms : 100;
    m->opts.queue_max = opts && opts->queue_max ? opts->queue_max : 65536;
    m->queue = calloc(m->opts.queue_max, sizeof *m->queue);
    m->batch = calloc(m->opts.batch_max, sizeof *m->batch);
    bw_err e = m->queue && m->batch ? bw_store_open(where, 0, &m->store) : BW_E_NOMEM;
    if (e == BW_OK) {
        bw_store_relax_durability(m->store); /* rows are recoverable from the receipts */
        pthread_mutex_init(&m->mu, NULL);
        pthread_cond_init(&m->cond, NULL);
        if (pthread_create(&m->thread, NULL, run, m) != 0) {
            pthread_mutex_destroy(&m->mu);
            pthread_cond_destroy(&m->cond);
            e = BW_E_NOMEM;
        }
    }
    if (e != BW_OK) {
        bw_store_close(m->store);
        free(m->queue);
        free(m->batch);
        free(m);
        return e;
    }
    *out = m;
    return BW_OK;
}

void bw_meter_push(struct bw_meter *m, const struct bw_usage_record *u) {
    pthread_mutex_lock(&m->mu);
    int full = m->n == m->opts.queue_max;
    if (!full) {
        m->queue[m->n++] = *u;
        if (m->n == 1 || m->n == m->opts.batch_max)
            pthread_cond_signal(&m->cond);
    } else {
        m->dropped++;
    }
    pthread_mutex_unlock(&m->mu);
    if (full)
        bw_error("metering: queue full, a usage row was dropped (its outcome receipt has it)");
}

size_t bw_meter_written(struct bw_meter *m) {
    pthread_mutex_lock(&m->mu);
    size_t w = m->written;
    pthread_mutex_unlock(&m->mu);
    return w;
}

void bw_meter_free(struct bw_meter *m) {
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    bw_store_close(m->store);
    free(m->queue);
    free(m->batch);
    free(m);
}
