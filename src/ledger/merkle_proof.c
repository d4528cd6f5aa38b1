/* merkle_proof.c: RFC 9162 2.1.3 inclusion and 2.1.4 consistency proofs. */
#include "ledger/merkle.h"

#include <stdlib.h>
#include <string.h>

/* RFC 9162 2.1.1: k is the largest power of two smaller than n (n >= 2). */
static uint64_t split_point(uint64_t n) {
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

/* MTH(D[lo:hi]) by streaming the leaves through a frontier: a sub-range of leaves hashes
 * exactly like a tree of its own. */
static void subtree_hash(bw_merkle_leaf_fn leaf, void *ctx, uint64_t lo, uint64_t hi,
                         uint8_t out[32]) {
    struct bw_merkle_frontier f;
    bw_merkle_frontier_init(&f);
    for (uint64_t i = lo; i < hi; i++)
        if (bw_merkle_frontier_append(&f, leaf(ctx, i)) != BW_OK)
            abort(); /* unreachable: hi - lo < 2^63 */
    bw_merkle_frontier_root(&f, out);
}

size_t bw_merkle_inclusion_len(uint64_t index, uint64_t size) {
    if (index >= size)
        return 0;
    size_t len = 0;
    /* Follow PATH's recursion: one hash per level above the leaf. */
    while (size > 1) {
        uint64_t k = split_point(size);
        if (index < k) {
            size = k;
        } else {
            index -= k;
            size -= k;
        }
        len++;
    }
    return len;
}

size_t bw_merkle_consistency_len(uint64_t old_size, uint64_t new_size) {
    if (old_size == 0 || old_size > new_size)
        return 0;
    size_t len = 0;
    int complete = 1; /* SUBPROOF's b: 1 while old_size is still a prefix the verifier knows */
    while (old_size != new_size) {
        uint64_t k = split_point(new_size);
        if (old_size <= k) {
            new_size = k;
        } else {
            old_size -= k;
            new_size -= k;
            complete = 0;
        }
        len++;
    }
    return len + (complete ? 0 : 1);
}

/* RFC 9162 2.1.3.1: PATH(m, D[lo:lo+n]) = PATH(m, left) : MTH(right) or
 * PATH(m - k, right) : MTH(left). Recursion depth <= 64. */
static void path(bw_merkle_leaf_fn leaf, void *ctx, uint64_t m, uint64_t lo, uint64_t n,
                 uint8_t (*proof)[32], size_t *pos) {
    if (n <= 1)
        return;
    uint64_t k = split_point(n);
    if (m < k) {
        path(leaf, ctx, m, lo, k, proof, pos);
        subtree_hash(leaf, ctx, lo + k, lo + n, proof[(*pos)++]);
    } else {
        path(leaf, ctx, m - k, lo + k, n - k, proof, pos);
        subtree_hash(leaf, ctx, lo, lo + k, proof[(*pos)++]);
    }
}

bw_err bw_merkle_inclusion_proof(bw_merkle_leaf_fn leaf, void *ctx, uint64_t index, uint64_t size,
                                 uint8_t (*proof)[32], size_t max, size_t *len) {
    BW_ENSURE(index < size, BW_E_INVALID);
    size_t need = bw_merkle_inclusion_len(index, size);
    BW_ENSURE(need <= max, BW_E_TOO_LARGE);
    size_t pos = 0;
    path(leaf, ctx, index, 0, size, proof, &pos);
    if (pos != need)
        abort(); /* broken invariant: generator and length disagree */
    *len = pos;
    return BW_OK;
}

/* RFC 9162 2.1.4.1: SUBPROOF(m, D[lo:lo+n], b). */
static void subproof(bw_merkle_leaf_fn leaf, void *ctx, uint64_t m, uint64_t lo, uint64_t n, int b,
                     uint8_t (*proof)[32], size_t *pos) {
    if (m == n) {
        if (!b)
            subtree_hash(leaf, ctx, lo, lo + n, proof[(*pos)++]);
        return;
    }
    uint64_t k = split_point(n);
    if (m <= k) {
        subproof(leaf, ctx, m, lo, k, b, proof, pos);
        subtree_hash(leaf, ctx, lo + k, lo + n, proof[(*pos)++]);
    } else {
        subproof(leaf, ctx, m - k, lo + k, n - k, 0, proof, pos);
        subtree_hash(leaf, ctx, lo, lo + k, proof[(*pos)++]);
    }
}

bw_err bw_merkle_consistency_proof(bw_merkle_leaf_fn leaf, void *ctx, uint64_t old_size,
                                   uint64_t new_size, uint8_t (*proof)[32], size_t max,
                                   size_t *len) {
    BW_ENSURE(old_size > 0 && old_size <= new_size, BW_E_INVALID);
    size_t need = bw_merkle_consistency_len(old_size, new_size);
    BW_ENSURE(need <= max, BW_E_TOO_LARGE);
    size_t pos = 0;
    subproof(leaf, ctx, old_size, 0, new_size, 1, proof, &pos);
    if (pos != need)
        abort(); /* broken invariant: generator and length disagree */
    *len = pos;
    return BW_OK;
}

bw_err bw_merkle_verify_inclusion(const uint8_t leaf_hash[32], uint64_t index, uint64_t size,
                                  const uint8_t (*proof)[32], size_t len, const uint8_t root[32]) {
    BW_ENSURE(index < size, BW_E_INVALID);
    /* Exact length first: the loop below would also catch a short or long proof, but an
     * explicit check gives the clearer error. */
    BW_ENSURE(len == bw_merkle_inclusion_len(index, size), BW_E_INVALID);
    uint64_t fn = index, sn = size - 1;
    uint8_t r[32];
    memcpy(r, leaf_hash, 32);
    for (size_t i = 0; i < len; i++) {
        BW_ENSURE(sn != 0, BW_E_INVALID);
        if ((fn & 1) || fn == sn) {
            bw_merkle_node_hash(proof[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            bw_merkle_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    BW_ENSURE(sn == 0, BW_E_INVALID);
    BW_ENSURE(memcmp(r, root, 32) == 0, BW_E_CRYPTO);
    return BW_OK;
}

bw_err bw_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                                    const uint8_t old_root[32], const uint8_t new_root[32],
                                    const uint8_t (*proof)[32], size_t len) {
    BW_ENSURE(old_size > 0 && old_size <= new_size, BW_E_INVALID);
    if (old_size == new_size) {
        BW_ENSURE(len == 0, BW_E_INVALID);
        BW_ENSURE(memcmp(old_root, new_root, 32) == 0, BW_E_CRYPTO);
        return BW_OK;
    }
    BW_ENSURE(len > 0 && len == bw_merkle_consistency_len(old_size, new_size), BW_E_INVALID);
    /* Step 2: when old_size is a power of two the old root is the first node of the path. */
    int pow2 = (old_size & (old_size - 1)) == 0;
    size_t total = len + (pow2 ? 1 : 0);
    uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) { /* step 4 */
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[32], sr[32];
    memcpy(fr, pow2 ? old_root : proof[0], 32);
    memcpy(sr, fr, 32);
    for (size_t i = 1; i < total; i++) {
        const uint8_t *c = proof[pow2 ? i - 1 : i];
        BW_ENSURE(sn != 0, BW_E_INVALID);
        if ((fn & 1) || fn == sn) {
            bw_merkle_node_hash(c, fr, fr);
            bw_merkle_node_hash(c, sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            bw_merkle_node_hash(sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    BW_ENSURE(sn == 0, BW_E_INVALID);
    BW_ENSURE(memcmp(fr, old_root, 32) == 0 && memcmp(sr, new_root, 32) == 0, BW_E_CRYPTO);
    return BW_OK;
}
