/* log_commit.c: the ledger thread and group commit.
 *
 * One commit = every receipt taken from the queue (up to batch_max) framed, plus one signed
 * checkpoint frame for the new size, written with one pwrite at the durable end of the file,
 * made durable with one fdatasync, and only then published and acknowledged. Write failures
 * (ENOSPC, EFBIG from RLIMIT_FSIZE, a short write) are undone by truncating back and failing
 * that batch only; an fdatasync failure freezes the log because the page cache state is then
 * unknown (see docs/EVIDENCE.md "Failures").
 *
 * Preallocation (ledger.preallocate_bytes): after a batch is acknowledged the thread keeps
 * zero-filled space ahead of the log, so a commit overwrites blocks the file already has.
 * Measured on this VM's ext4, an fdatasync that extends a file costs about twice one that does
 * not (it must also write the inode for the new size): ~100 vs ~50 us of CPU and ~250 vs
 * ~130 us of wall time per sync. The zero fill and its own sync delay only the next batch,
 * once per half the preallocation. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/dsse.h"
#include "ledger/log_frame.h"
#include "ledger/log_internal.h"
#include "metrics/metrics.h"
#include "util/codec.h"
#include "util/log.h"
#include "util/time.h"

/* A batch this full means receipts arrive faster than commits complete: the ledger is busy. */
#define BW_LEDGER_LOAD_BATCH 4

/* Under l->mu: keep the batch open for more receipts until it is full or
 *  - batch_wait_us after this wait began (a fixed extra wait, 0 by default), and
 *  - under load (the previous batch held at least BW_LEDGER_LOAD_BATCH receipts), until
 *    commit_interval_us after the previous commit began. Each commit costs a sync, a signature
 *    and a wake-up per worker whatever its size, so under load fewer, fuller batches leave the
 *    CPU to the calls themselves; a ledger that is not under load commits at once.
 * Appends wake this wait only when the batch is full (bw_ledger_append), not one by one. */
static void wait_for_more(struct bw_ledger *l) {
    int64_t now = bw_mono_us(), until = now + l->opts.batch_wait_us;
    if (l->last_batch >= BW_LEDGER_LOAD_BATCH) {
        int64_t next = l->last_commit_us + l->opts.commit_interval_us;
        if (next > until)
            until = next;
    }
    if (until <= now)
        return;
    /* bw_mono_us reads CLOCK_MONOTONIC, the clock l->cond waits on. */
    struct timespec deadline = {(time_t)(until / 1000000), (long)(until % 1000000) * 1000};
    l->gathering = 1;
    while (l->npending < l->opts.batch_max && !l->stopping)
        if (pthread_cond_timedwait(&l->cond, &l->mu, &deadline) == ETIMEDOUT)
            break;
    l->gathering = 0;
}

/* Under l->mu: detach up to batch_max entries in FIFO order; their count is l->last_batch. */
static struct bw_ledger_pending *take_batch(struct bw_ledger *l) {
    struct bw_ledger_pending *first = l->head, *last = l->head;
    size_t n = 1;
    while (n < l->opts.batch_max && last->next) {
        last = last->next;
        n++;
    }
    l->head = last->next;
    if (!l->head)
        l->tail = NULL;
    last->next = NULL;
    l->npending -= n;
    l->last_batch = n;
    return first;
}

/* Encodes p's receipt as leaf `index` straight into the write buffer as an R frame. On error
 * the buffer is rolled back to where it was. */
static bw_err frame_receipt(struct bw_ledger *l, struct bw_ledger_pending *p, uint64_t index) {
    struct bw_buf *w = &l->wbuf;
    size_t start = w->len;
    bw_err result = BW_OK;
    static const uint8_t hdr[BW_FRAME_HEADER] = {BW_FRAME_RECEIPT, 0, 0, 0, 0};
    BW_GOTO(bw_buf_append(w, hdr, sizeof hdr));
    BW_GOTO(bw_receipt_encode(&p->receipt, l->origin, index, w));
    size_t plen = w->len - start - BW_FRAME_HEADER;
    BW_GOTO_IF(plen > BW_RECEIPT_MAX_BYTES, BW_E_TOO_LARGE);
    bw_store_be32(w->ptr + start + 1, (uint32_t)plen);
    /* RFC 6962 leaf hash; doubles as the frame checksum. */
    bw_merkle_leaf_hash(w->ptr + start + BW_FRAME_HEADER, plen, p->leaf_hash);
    BW_GOTO(bw_buf_append(w, p->leaf_hash, 32));
    if (l->opts.sign_each) {
        /* DSSE over the exact receipt bytes, in an S frame right after its R frame. */
        uint8_t sig[BW_DSSE_SIG_LEN];
        BW_GOTO(bw_dsse_sign(l->signer, w->ptr + start + BW_FRAME_HEADER, plen, sig));
        BW_GOTO(bw_ledger_frame_append_signature(w, sig));
    }
    BW_GOTO(bw_ledger_index_set(l, index, l->file_end + start, p->leaf_hash));
    bw_ledger_frontier_push(l, index);
out:
    if (result != BW_OK) {
        w->len = start;
        if (w->ptr)
            w->ptr[start] = 0;
    }
    return result;
}

/* pwrite all n bytes at `at`. A short write is a failure (on a regular file it means the disk
 * or RLIMIT_FSIZE stopped us). */
static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t at) {
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        at += (uint64_t)w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes the commit at the durable end. */
static int write_all(struct bw_ledger *l) {
    if (atomic_exchange(&l->fail_next_write, 0)) {
        /* Test hook: leave a real partial write behind, as a full disk would. */
        ssize_t w = pwrite(l->fd, l->wbuf.ptr, l->wbuf.len / 2, (off_t)l->file_end);
        (void)w;
        errno = ENOSPC;
        return -1;
    }
    return pwrite_all(l->fd, l->wbuf.ptr, l->wbuf.len, l->file_end);
}

static void fail_batch(struct bw_ledger_pending *batch) {
    for (struct bw_ledger_pending *p = batch; p; p = p->next)
        p->err = BW_E_UNAVAILABLE;
}

/* Undo a failed write: the file and the tree go back to the last durable state. */
static void roll_back(struct bw_ledger *l, const struct bw_merkle_frontier *saved, int err) {
    bw_error("ledger: write failed (%s): batch rejected, log truncated back to %llu bytes",
             strerror(err), (unsigned long long)l->file_end);
    l->frontier = *saved;
    atomic_store(&l->write_failed_ms, bw_now_ms());
    /* Truncating also drops the runway (a partial write may have left frame bytes in it); the
     * next top-up restores it. */
    if (ftruncate(l->fd, (off_t)l->file_end) != 0)
        bw_ledger_freeze(l, "cannot truncate after a failed write");
    l->alloc_end = l->file_end;
}

static void publish(struct bw_ledger *l) {
    pthread_mutex_lock(&l->state_mu);
    memcpy(l->checkpoint, l->note.ptr, l->note.len);
    l->checkpoint[l->note.len] = 0;
    l->checkpoint_len = l->note.len;
    l->checkpoint_size = l->frontier.size;
    atomic_store_explicit(&l->durable_size, l->frontier.size, memory_order_release);
    pthread_mutex_unlock(&l->state_mu);
    atomic_store(&l->checkpoint_ms, bw_now_ms());
}

/* Frames the batch; returns how many receipts made it (invalid ones fail alone). */
static size_t frame_batch(struct bw_ledger *l, struct bw_ledger_pending *batch) {
    size_t n = 0;
    for (struct bw_ledger_pending *p = batch; p; p = p->next) {
        uint64_t index = l->frontier.size;
        bw_err e = frame_receipt(l, p, index);
        if (e != BW_OK) {
            bw_error("ledger: receipt rejected (%s)", bw_err_str(e));
            p->err = BW_E_UNAVAILABLE;
            continue;
        }
        p->index = index;
        p->err = BW_OK;
        n++;
    }
    return n;
}

#ifdef BW_BENCH_DISCARD_RECEIPTS
/* Benchmark builds only (bench/evidence_throughput.sh compiles a separate binary with
 * -DBW_BENCH_DISCARD_RECEIPTS to measure the gateway with evidence off): receipts are neither
 * encoded, hashed, signed, written nor synced, only numbered and acknowledged. A normal build
 * has no way to do this; bw_ledger_open logs a warning in such a build. */
static void discard_batch(struct bw_ledger_pending *batch) {
    static uint64_t next; /* only the ledger thread commits */
    for (struct bw_ledger_pending *p = batch; p; p = p->next) {
        p->index = next++;
        memset(p->leaf_hash, 0, sizeof p->leaf_hash);
        p->err = BW_OK;
    }
}
#endif

static void commit(struct bw_ledger *l, struct bw_ledger_pending *batch) {
#ifdef BW_BENCH_DISCARD_RECEIPTS
    discard_batch(batch);
    return;
#endif
    if (atomic_load(&l->frozen)) {
        fail_batch(batch);
        return;
    }
    struct bw_merkle_frontier saved = l->frontier;
    bw_buf_reset(&l->wbuf);
    if (frame_batch(l, batch) == 0)
        return;
    if (bw_ledger_sign_checkpoint(l, &l->frontier, &l->note) != BW_OK ||
        bw_ledger_frame_append_checkpoint(&l->wbuf, (const char *)l->note.ptr, l->note.len) !=
            BW_OK) {
        bw_error("ledger: cannot sign the checkpoint: batch rejected");
        l->frontier = saved;
        fail_batch(batch);
        return;
    }
    if (write_all(l) != 0) {
        int err = errno;
        atomic_store(&l->write_recovered, 0);
        atomic_store(&l->write_errno, err);
        atomic_store(&l->write_fail_ms, bw_now_ms());
        roll_back(l, &saved, err);
        fail_batch(batch);
        return;
    }
    if (!l->opts.no_sync && fdatasync(l->fd) != 0) {
        /* After a failed fsync the kernel may have dropped the dirty pages and cleared the
         * error: retrying could report success for data that is gone. Stop signing. */
        bw_error("ledger: fdatasync failed (%s)", strerror(errno));
        bw_ledger_freeze(l, "fdatasync failed");
        l->frontier = saved;
        fail_batch(batch);
        return;
    }
    atomic_store(&l->write_recovered, 1);
    l->file_end += l->wbuf.len;
    if (l->alloc_end < l->file_end)
        l->alloc_end = l->file_end;
    publish(l);
}

/* The batch's size, result and each receipt's wait from append to the end of its commit. */
static void observe_batch(const struct bw_ledger_pending *batch) {
    int64_t now = bw_mono_us();
    size_t n = 0;
    int ok = 0;
    for (const struct bw_ledger_pending *p = batch; p; p = p->next) {
        n++;
        ok |= p->err == BW_OK;
        bw_metrics_ledger_append_latency(now - p->enq_us);
    }
    bw_metrics_ledger_batch(n, ok);
}

/* pwrite zeros over [from, to). */
static int zero_fill(int fd, uint64_t from, uint64_t to) {
    static const uint8_t zeros[65536];
    for (; from < to; from += sizeof zeros) {
        size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        if (pwrite_all(fd, zeros, n, from) != 0)
            return -1;
    }
    return 0;
}

/* Keeps at least half of opts.preallocate zero-filled ahead of the log. A fill that fails
 * (disk full, RLIMIT_FSIZE) is undone and retried at most every 10 s: the log still grows by
 * plain appends, and a disk that is really full fails the batch that cannot be written. */
static void top_up(struct bw_ledger *l) {
    uint64_t want = l->opts.preallocate;
    if (want == 0 || l->alloc_end - l->file_end >= want / 2 || atomic_load(&l->frozen))
        return;
    int64_t now = bw_mono_us();
    if (now < l->prealloc_retry_us)
        return;
    uint64_t from = l->alloc_end, to = (l->file_end + want + 4095) & ~(uint64_t)4095;
    if (zero_fill(l->fd, from, to) != 0) {
        bw_warn("ledger: cannot preallocate %llu bytes (%s): the log grows by appends",
                (unsigned long long)(to - from), strerror(errno));
        l->prealloc_retry_us = now + 10 * 1000000;
        if (ftruncate(l->fd, (off_t)from) != 0)
            bw_ledger_freeze(l, "cannot truncate after a failed preallocation");
        return;
    }
    if (!l->opts.no_sync && fdatasync(l->fd) != 0) {
        bw_error("ledger: fdatasync failed (%s)", strerror(errno));
        bw_ledger_freeze(l, "fdatasync failed");
        return;
    }
    l->alloc_end = to;
}

void *bw_ledger_thread_main(void *arg) {
    pthread_setname_np(pthread_self(), "bw-ledger"); /* for top -H, perf, gdb */
    struct bw_ledger *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        l->idle = 1;
        while (!l->head && !l->stopping)
            pthread_cond_wait(&l->cond, &l->mu);
        l->idle = 0;
        if (!l->head)
            break; /* stopping and drained */
        wait_for_more(l);
        struct bw_ledger_pending *batch = take_batch(l);
        pthread_mutex_unlock(&l->mu);
        l->last_commit_us = bw_mono_us();
        commit(l, batch);
        observe_batch(batch); /* before delivery hands the nodes back to their workers */
        bw_ledger_deliver(batch);
        top_up(l);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}
