/* merkle_cache.c: perfect-subtree level cache for fast RFC 9162 proofs over many leaves.
 *
 * Every subtree the RFC 9162 2.1.3.1 / 2.1.4.1 recursions name is D[lo:lo+n] where lo is a
 * multiple of the largest power of two <= n; a perfect one (n = 2^k) is level k, slot lo >> k.
 * A ragged one (the right edge of the tree) is split at its largest power of two below n. */
#include "ledger/merkle.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_MAX_LEAVES (UINT64_C(1) << 40)

struct bw_merkle_cache {
    uint64_t n;
    int levels; /* number of levels in use (level 0 = leaves) */
    uint8_t (*level[BW_MERKLE_MAX_DEPTH])[32];
};

static uint64_t split_point(uint64_t n) {
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

void bw_merkle_cache_free(struct bw_merkle_cache *c) {
    if (!c)
        return;
    for (int k = 0; k < c->levels; k++)
        free(c->level[k]);
    free(c);
}

bw_err bw_merkle_cache_new(const uint8_t (*leaves)[32], uint64_t n, struct bw_merkle_cache **out) {
    BW_ENSURE(n <= CACHE_MAX_LEAVES, BW_E_TOO_LARGE);
    struct bw_merkle_cache *c = calloc(1, sizeof *c);
    BW_ENSURE(c, BW_E_NOMEM);
    c->n = n;
    uint64_t count = n;
    for (int k = 0; count > 0; k++, count >>= 1) {
        c->level[k] = malloc((size_t)count * 32);
        c->levels = k + 1;
        if (!c->level[k]) {
            bw_merkle_cache_free(c);
            return BW_E_NOMEM;
        }
        if (k == 0) {
            memcpy(c->level[0], leaves, (size_t)n * 32);
            continue;
        }
        for (uint64_t i = 0; i < count; i++)
            bw_merkle_node_hash(c->level[k - 1][2 * i], c->level[k - 1][2 * i + 1], c->level[k][i]);
    }
    *out = c;
    return BW_OK;
}

uint64_t bw_merkle_cache_size(const struct bw_merkle_cache *c) {
    return c->n;
}

/* Perfect subtree hashes come from a node source: the cache's levels, or the ledger's. */
struct src {
    bw_merkle_node_fn node;
    void *ctx;
};

/* MTH(D[lo:lo+n]), n >= 1, lo aligned as described at the top. */
static void mth(const struct src *c, uint64_t lo, uint64_t n, uint8_t out[32]) {
    if ((n & (n - 1)) == 0) {
        unsigned k = (unsigned)__builtin_ctzll(n);
        memcpy(out, c->node(c->ctx, k, lo >> k), 32);
        return;
    }
    uint64_t k = split_point(n);
    uint8_t left[32], right[32];
    mth(c, lo, k, left);
    mth(c, lo + k, n - k, right);
    bw_merkle_node_hash(left, right, out);
}

static const uint8_t *cache_node(void *ctx, unsigned level, uint64_t slot) {
    const struct bw_merkle_cache *c = ctx;
    return c->level[level][slot];
}

bw_err bw_merkle_cache_root(const struct bw_merkle_cache *c, uint64_t size, uint8_t out[32]) {
    BW_ENSURE(size <= c->n, BW_E_INVALID);
    struct src s = {cache_node, (void *)c};
    if (size == 0)
        bw_merkle_empty_root(out);
    else
        mth(&s, 0, size, out);
    return BW_OK;
}

/* RFC 9162 2.1.3.1 PATH(m, D[lo:lo+n]). */
static void path(const struct src *c, uint64_t m, uint64_t lo, uint64_t n, uint8_t (*proof)[32],
                 size_t *pos) {
    if (n <= 1)
        return;
    uint64_t k = split_point(n);
    if (m < k) {
        path(c, m, lo, k, proof, pos);
        mth(c, lo + k, n - k, proof[(*pos)++]);
    } else {
        path(c, m - k, lo + k, n - k, proof, pos);
        mth(c, lo, k, proof[(*pos)++]);
    }
}

bw_err bw_merkle_inclusion_proof_nodes(bw_merkle_node_fn node, void *ctx, uint64_t index,
                                       uint64_t size, uint8_t (*proof)[32], size_t max,
                                       size_t *len) {
    BW_ENSURE(index < size, BW_E_INVALID);
    BW_ENSURE(bw_merkle_inclusion_len(index, size) <= max, BW_E_TOO_LARGE);
    struct src s = {node, ctx};
    size_t pos = 0;
    path(&s, index, 0, size, proof, &pos);
    *len = pos;
    return BW_OK;
}

bw_err bw_merkle_cache_inclusion(const struct bw_merkle_cache *c, uint64_t index, uint64_t size,
                                 uint8_t (*proof)[32], size_t max, size_t *len) {
    BW_ENSURE(size <= c->n && index < size, BW_E_INVALID);
    return bw_merkle_inclusion_proof_nodes(cache_node, (void *)c, index, size, proof, max, len);
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[lo:lo+n], b). */
static void subproof(const struct src *c, uint64_t m, uint64_t lo, uint64_t n, int b,
                     uint8_t (*proof)[32], size_t *pos) {
    if (m == n) {
        if (!b)
            mth(c, lo, n, proof[(*pos)++]);
        return;
    }
    uint64_t k = split_point(n);
    if (m <= k) {
        subproof(c, m, lo, k, b, proof, pos);
        mth(c, lo + k, n - k, proof[(*pos)++]);
    } else {
        subproof(c, m - k, lo + k, n - k, 0, proof, pos);
        mth(c, lo, k, proof[(*pos)++]);
    }
}

bw_err bw_merkle_consistency_proof_nodes(bw_merkle_node_fn node, void *ctx, uint64_t old_size,
                                         uint64_t new_size, uint8_t (*proof)[32], size_t max,
                                         size_t *len) {
    BW_ENSURE(old_size > 0 && old_size <= new_size, BW_E_INVALID);
    BW_ENSURE(bw_merkle_consistency_len(old_size, new_size) <= max, BW_E_TOO_LARGE);
    struct src s = {node, ctx};
    size_t pos = 0;
    subproof(&s, old_size, 0, new_size, 1, proof, &pos);
    *len = pos;
    return BW_OK;
}

bw_err bw_merkle_cache_consistency(const struct bw_merkle_cache *c, uint64_t old_size,
                                   uint64_t new_size, uint8_t (*proof)[32], size_t max,
                                   size_t *len) {
    BW_ENSURE(old_size > 0 && old_size <= new_size && new_size <= c->n, BW_E_INVALID);
    return bw_merkle_consistency_proof_nodes(cache_node, (void *)c, old_size, new_size, proof, max,
                                             len);
}
