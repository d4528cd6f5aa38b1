#include "limits/meter.h"

#include "store/identity.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"
#include "util/log.h"

struct bw_meter {
    struct bw_meter_opts opts;
    struct bw_store *store;      /* its own handle, relaxed durability */
    struct bw_jobs_every *every; /* the periodic store job that writes the batches */
    pthread_mutex_t mu;
    struct bw_usage_record *queue; /* rows waiting, in order */
    size_t n;
    struct bw_usage_record *batch; /* the thread's private copy being written */
    size_t written;
    size_t dropped;
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

/* Under m->mu: moves up to batch_max rows from the queue into the private batch. */
static size_t take_batch(struct bw_meter *m) {
    size_t n = m->n < m->opts.batch_max ? m->n : m->opts.batch_max;
    memcpy(m->batch, m->queue, n * sizeof *m->queue);
    memmove(m->queue, m->queue + n, (m->n - n) * sizeof *m->queue);
    m->n -= n;
    return n;
}

/* A periodic store job (jobs.h): every flush_ms, or at once when a batch is full (kicked). It
 * writes on the meter's own handle, not the pool thread's: relaxed durability must not reach
 * the connections that write reviews and keys. Full batches are written back to back; the last
 * tick (stopping) writes everything queued. */
static void tick(struct bw_store *pool_store, void *arg, int stopping) {
    (void)pool_store;
    struct bw_meter *m = arg;
    size_t n;
    do {
        pthread_mutex_lock(&m->mu);
        n = take_batch(m);
        pthread_mutex_unlock(&m->mu);
        if (n)
            write_batch(m, n);
    } while (n == m->opts.batch_max || (stopping && n > 0));
}

bw_err bw_meter_new(struct bw_jobs *jobs, const char *where, const struct bw_meter_opts *opts,
                    struct bw_meter **out) {
    BW_ENSURE(jobs && where && out, BW_E_INVALID);
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
        e = bw_jobs_every(jobs, m->opts.flush_ms, tick, m, &m->every);
        if (e != BW_OK)
            pthread_mutex_destroy(&m->mu);
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
    int kick = 0;
    if (!full) {
        m->queue[m->n++] = *u;
        kick = m->n == m->opts.batch_max; /* a full batch is written now, not at the tick */
    } else {
        m->dropped++;
    }
    pthread_mutex_unlock(&m->mu);
    if (kick)
        bw_jobs_every_kick(m->every);
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
    bw_jobs_every_stop(m->every); /* its last tick writes every queued row */
    pthread_mutex_destroy(&m->mu);
    bw_store_close(m->store);
    free(m->queue);
    free(m->batch);
    free(m);
}
