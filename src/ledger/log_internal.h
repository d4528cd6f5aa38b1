/* log_internal.h: the ledger object shared by log_open.c, log_commit.c and log_complete.c.
 * Not a public contract. */
#ifndef BW_LEDGER_LOG_INTERNAL_H
#define BW_LEDGER_LOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "ledger/ledger.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "util/buf.h"

struct event;
struct bw_ledger_baseq;

/* One queued append. Recycled through the ledger's free list: no allocation per receipt once
 * the list has grown to the peak number of appends in flight. */
struct bw_ledger_pending {
    struct bw_ledger_pending *next;
    struct bw_ledger_baseq *q;
    bw_ledger_done_fn fn;
    void *arg;
    bw_err err;
    uint64_t index;
    uint8_t leaf_hash[32];
    int64_t enq_us; /* bw_mono_us at bw_ledger_append: the append latency metric */
    struct bw_receipt receipt;
};

/* Completions for one event_base: filled by the ledger thread, drained on the base's thread by
 * one event_base_once per batch (evthread_use_pthreads makes that thread-safe). The base owns
 * the one-shot event, so freeing a base never leaves the ledger holding a dangling event.
 * Finished nodes are recycled per base (a worker appends and completes on the same thread).
 * Lock order: ledger mu before q mu. The callback touches only q, never the ledger, so it is
 * safe to run after bw_ledger_close: a queue still scheduled or running at close is marked
 * orphaned and freed by its last callback. */
struct bw_ledger_baseq {
    struct event_base *base;
    pthread_mutex_t mu;
    struct bw_ledger_pending *head, *tail; /* finished, waiting for the callback */
    struct bw_ledger_pending *free_list;   /* recycled nodes */
    int scheduled;                         /* an event_base_once is pending */
    int running;                           /* the callback is calling waiters */
    int orphaned;                          /* the ledger is closed: last callback frees q */
};

/* Leaf index: fixed chunks that never move, so entries below the published durable size are
 * readable without a lock (the release store of durable_size orders them). */
#define BW_LEDGER_CHUNK_BITS 16
#define BW_LEDGER_CHUNK ((uint64_t)1 << BW_LEDGER_CHUNK_BITS)
#define BW_LEDGER_MAX_CHUNKS ((uint64_t)1 << 16) /* 2^32 receipts per log */

struct bw_ledger_chunk {
    uint8_t leaf_hash[BW_LEDGER_CHUNK][32];
    uint64_t offset[BW_LEDGER_CHUNK]; /* file offset of the receipt's R frame */
};

/* Perfect subtree hashes above the leaves (level k >= 1, slot s = MTH of leaves
 * [s*2^k, (s+1)*2^k)), stored when their last leaf is indexed, in fixed chunks per level like
 * the leaf index (same publication rule): proofs over HTTP cost O(log n) lookups instead of
 * O(size) hashing. About 32 bytes per receipt. */
#define BW_LEDGER_NODE_LEVELS 33 /* levels 1..32 (2^32 leaves) */
#define BW_LEDGER_NODE_CHUNK_BITS 12
#define BW_LEDGER_NODE_CHUNK ((uint64_t)1 << BW_LEDGER_NODE_CHUNK_BITS)

#define BW_LEDGER_PATH_MAX 4096

struct bw_ledger {
    /* Immutable after open. */
    char origin[BW_NOTE_NAME_MAX + 1];
    char vkey[BW_NOTE_VKEY_MAX];
    char key_id_hex[9];
    char dir[BW_LEDGER_PATH_MAX];
    struct bw_note_signer *signer;
    struct bw_note_verifier verifier;
    struct bw_ledger_opts opts;
    int fd;
    int lock_fd;
    pthread_t thread;
    int thread_started;

    /* Queue, base queues and free list: under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC: batch_wait_us deadlines */
    struct bw_ledger_pending *head, *tail;
    size_t npending;
    int idle;      /* the thread waits for a first entry: an append must wake it */
    int gathering; /* the thread keeps a batch open: wake it only once the batch is full */
    struct bw_ledger_baseq **baseqs;
    size_t nbaseqs, baseqs_cap;
    int stopping;

    /* Published by the ledger thread. */
    pthread_mutex_t state_mu; /* guards the checkpoint text */
    char checkpoint[BW_NOTE_MAX_TEXT + 1];
    size_t checkpoint_len;
    uint64_t checkpoint_size;
    _Atomic uint64_t durable_size;
    atomic_int frozen;
    atomic_int fail_next_write;
    /* Write health (bw_ledger_write_state): Unix ms of the last batch write that failed, its
     * errno, and whether a batch was made durable after it. Written by the ledger thread, read
     * by any. */
    _Atomic int64_t write_fail_ms;
    atomic_int write_errno;
    atomic_int write_recovered;
    _Atomic int64_t checkpoint_ms;   /* wall time of the last published checkpoint (or open) */
    _Atomic int64_t write_failed_ms; /* wall time of the last failed commit write; 0 = none */

    /* Owned by the ledger thread (by open before it starts). */
    struct bw_ledger_chunk **chunks;              /* BW_LEDGER_MAX_CHUNKS slots */
    uint8_t (**nodes[BW_LEDGER_NODE_LEVELS])[32]; /* nodes[k][chunk]: level k >= 1 */
    struct bw_merkle_frontier frontier;
    size_t last_batch;         /* receipts taken by the previous commit */
    int64_t last_commit_us;    /* when it began (bw_mono_us) */
    uint64_t file_end;         /* durable length of the log (frames) */
    uint64_t alloc_end;        /* file size: [file_end, alloc_end) is zero-filled runway */
    int64_t prealloc_retry_us; /* after a failed zero fill, not again before this (bw_mono_us) */
    struct bw_buf wbuf;        /* one commit: R frames + C frame */
    struct bw_buf note;        /* checkpoint body and signed note */
};

/* log_open.c */
/* Reads dir's origin file / signing key with the checks of docs/EVIDENCE.md "Files". */
bw_err bw_ledger_load_origin_at(int dfd, char origin[BW_NOTE_NAME_MAX + 1]) BW_MUST_CHECK;
bw_err bw_ledger_load_signer_at(int dfd, const char *origin,
                                struct bw_note_signer **out) BW_MUST_CHECK;
bw_err bw_ledger_index_set(struct bw_ledger *l, uint64_t index, uint64_t offset,
                           const uint8_t leaf_hash[32]) BW_MUST_CHECK;
/* Appends leaf `index` (== frontier.size, already indexed by bw_ledger_index_set) to the
 * frontier from the stored subtree hashes: the same result as bw_merkle_frontier_append. */
void bw_ledger_frontier_push(struct bw_ledger *l, uint64_t index);
void bw_ledger_freeze(struct bw_ledger *l, const char *why);
/* log_read.c: the stored hash of perfect subtree (level, slot); level 0 = leaf hashes. Only for
 * subtrees whose leaves are all indexed. */
const uint8_t *bw_ledger_node_at(const struct bw_ledger *l, unsigned level, uint64_t slot);
/* Signs the checkpoint for the current frontier into l->note (body, then signed note). */
bw_err bw_ledger_sign_checkpoint(struct bw_ledger *l, const struct bw_merkle_frontier *f,
                                 struct bw_buf *note) BW_MUST_CHECK;

/* log_commit.c */
void *bw_ledger_thread_main(void *arg);

/* log_complete.c */
/* Hands finished entries (a list linked by next) to their bases' queues. */
void bw_ledger_deliver(struct bw_ledger_pending *list);
void bw_ledger_baseqs_free(struct bw_ledger *l);
void bw_ledger_pending_free_all(struct bw_ledger_pending *list);

#endif
