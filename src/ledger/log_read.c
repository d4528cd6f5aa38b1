/* log_read.c: accessors, read-back of durable receipts, and proofs over the durable tree.
 *
 * Readers never take the queue lock: an index entry below the published durable size was
 * written before the release store that published it and is never written again. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ledger/log_frame.h"
#include "ledger/log_internal.h"

uint64_t bw_ledger_size(const struct bw_ledger *l) {
    return atomic_load_explicit(&((struct bw_ledger *)l)->durable_size, memory_order_acquire);
}

int bw_ledger_frozen(const struct bw_ledger *l) {
    return atomic_load(&((struct bw_ledger *)l)->frozen);
}

void bw_ledger_write_state(const struct bw_ledger *l, int64_t *fail_ms, int *err, int *recovered) {
    struct bw_ledger *m = (struct bw_ledger *)l; /* atomics: loads only */
    *recovered = atomic_load(&m->write_recovered);
    *fail_ms = atomic_load(&m->write_fail_ms);
    *err = atomic_load(&m->write_errno);
}

static const struct bw_ledger_chunk *chunk_of(const struct bw_ledger *l, uint64_t index) {
    return l->chunks[index >> BW_LEDGER_CHUNK_BITS];
}

static const uint8_t *leaf_at(void *ctx, uint64_t index) {
    const struct bw_ledger *l = ctx;
    return chunk_of(l, index)->leaf_hash[index & (BW_LEDGER_CHUNK - 1)];
}

const uint8_t *bw_ledger_node_at(const struct bw_ledger *l, unsigned level, uint64_t slot) {
    if (level == 0)
        return leaf_at((void *)l, slot);
    return l->nodes[level][slot >> BW_LEDGER_NODE_CHUNK_BITS][slot & (BW_LEDGER_NODE_CHUNK - 1)];
}

static const uint8_t *node_src(void *ctx, unsigned level, uint64_t slot) {
    return bw_ledger_node_at(ctx, level, slot);
}

bw_err bw_ledger_leaf_hash(const struct bw_ledger *l, uint64_t index, uint8_t out[32]) {
    BW_ENSURE(index < bw_ledger_size(l), BW_E_NOT_FOUND);
    memcpy(out, leaf_at((void *)l, index), 32);
    return BW_OK;
}

bw_err bw_ledger_read_receipt_sig(const struct bw_ledger *l, uint64_t index, struct bw_buf *out,
                                  uint8_t sig[64], int *has_sig) {
    BW_ENSURE(index < bw_ledger_size(l), BW_E_NOT_FOUND);
    const uint8_t *want = leaf_at((void *)l, index);
    uint64_t off = chunk_of(l, index)->offset[index & (BW_LEDGER_CHUNK - 1)];
    /* the R frame and, with ledger.sign_each, the S frame right after it */
    uint8_t frame[2 * BW_FRAME_OVERHEAD + BW_RECEIPT_MAX_BYTES + 64];
    ssize_t n = pread(l->fd, frame, sizeof frame, (off_t)off);
    BW_ENSURE(n >= BW_FRAME_OVERHEAD, BW_E_IO);
    struct bw_ledger_frame f, s;
    /* Re-parse: the checksum is the leaf hash, so this also proves the bytes are unchanged. */
    BW_ENSURE(bw_ledger_frame_parse(frame, (size_t)n, 0, &f) == BW_OK, BW_E_CRYPTO);
    BW_ENSURE(f.type == BW_FRAME_RECEIPT && memcmp(f.sum, want, 32) == 0, BW_E_CRYPTO);
    int found = (size_t)n > f.total && frame[f.total] == BW_FRAME_SIGNATURE &&
                bw_ledger_frame_parse(frame, (size_t)n, f.total, &s) == BW_OK;
    BW_TRY(bw_buf_append(out, f.payload.ptr, f.payload.len));
    if (found)
        memcpy(sig, s.payload.ptr, 64);
    *has_sig = found;
    return BW_OK;
}

bw_err bw_ledger_read_receipt(const struct bw_ledger *l, uint64_t index, struct bw_buf *out) {
    uint8_t sig[64];
    int has_sig = 0;
    return bw_ledger_read_receipt_sig(l, index, out, sig, &has_sig);
}

const uint8_t *bw_ledger_key_id(const struct bw_ledger *l) {
    return bw_note_signer_key_id(l->signer);
}

bw_err bw_ledger_inclusion_proof(const struct bw_ledger *l, uint64_t index, uint64_t size,
                                 uint8_t (*proof)[32], size_t max, size_t *len) {
    BW_ENSURE(size <= bw_ledger_size(l), BW_E_NOT_FOUND);
    return bw_merkle_inclusion_proof_nodes(node_src, (void *)l, index, size, proof, max, len);
}

bw_err bw_ledger_consistency_proof(const struct bw_ledger *l, uint64_t old_size, uint64_t new_size,
                                   uint8_t (*proof)[32], size_t max, size_t *len) {
    BW_ENSURE(new_size <= bw_ledger_size(l), BW_E_NOT_FOUND);
    return bw_merkle_consistency_proof_nodes(node_src, (void *)l, old_size, new_size, proof, max,
                                             len);
}

void bw_ledger_receipt_id(const struct bw_ledger *l, uint64_t index, char out[32]) {
    snprintf(out, 32, "%s.%llu", l->key_id_hex, (unsigned long long)index);
}

const char *bw_ledger_vkey(const struct bw_ledger *l) {
    return l->vkey;
}

const char *bw_ledger_origin(const struct bw_ledger *l) {
    return l->origin;
}

bw_err bw_ledger_checkpoint(struct bw_ledger *l, char *out, size_t out_size, uint64_t *size) {
    bw_err result = BW_OK;
    pthread_mutex_lock(&l->state_mu);
    if (l->checkpoint_len == 0)
        result = BW_E_UNAVAILABLE; /* frozen before any checkpoint could be trusted */
    else if (l->checkpoint_len + 1 > out_size)
        result = BW_E_TOO_LARGE;
    if (result == BW_OK) {
        memcpy(out, l->checkpoint, l->checkpoint_len + 1);
        *size = l->checkpoint_size;
    }
    pthread_mutex_unlock(&l->state_mu);
    return result;
}

void bw_ledger_fail_next_write(struct bw_ledger *l) {
    atomic_store(&l->fail_next_write, 1);
}

void bw_ledger_health(struct bw_ledger *l, struct bw_ledger_health *out) {
    memset(out, 0, sizeof *out);
    out->frozen = atomic_load(&l->frozen);
    out->size = bw_ledger_size(l);
    out->checkpoint_ms = atomic_load(&l->checkpoint_ms);
    out->write_failed_ms = atomic_load(&l->write_failed_ms);
    pthread_mutex_lock(&l->mu);
    out->pending = l->npending;
    pthread_mutex_unlock(&l->mu);
}
