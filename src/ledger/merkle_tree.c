/* merkle_tree.c: RFC 9162 2.1.1 hashing, the in-memory frontier, and tree roots. */
#include "ledger/merkle.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"

/* Receipts are at most a few KiB: hash them from one stack copy (one SHA-256 call) and fall
 * back to the streaming API only for larger entries. */
#define LEAF_STACK_MAX 8192

void bw_merkle_leaf_hash(const void *entry, size_t len, uint8_t out[32]) {
    if (len <= LEAF_STACK_MAX) {
        uint8_t tmp[LEAF_STACK_MAX + 1];
        tmp[0] = 0x00; /* RFC 9162 2.1.1: leaf domain separator */
        if (len)
            memcpy(tmp + 1, entry, len);
        bw_sha256(tmp, len + 1, out);
        return;
    }
    static const uint8_t prefix = 0x00;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, &prefix, 1) != 1 || EVP_DigestUpdate(ctx, entry, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, NULL) != 1)
        abort(); /* a failing SHA-256 means a broken libcrypto: no safe way to continue */
    EVP_MD_CTX_free(ctx);
}

void bw_merkle_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]) {
    uint8_t tmp[1 + 2 * BW_MERKLE_HASH_LEN];
    tmp[0] = 0x01; /* RFC 9162 2.1.1: interior node domain separator */
    memcpy(tmp + 1, left, 32);
    memcpy(tmp + 33, right, 32);
    bw_sha256(tmp, sizeof tmp, out);
}

void bw_merkle_empty_root(uint8_t out[32]) {
    bw_sha256("", 0, out);
}

void bw_merkle_frontier_init(struct bw_merkle_frontier *f) {
    memset(f, 0, sizeof *f);
}

bw_err bw_merkle_frontier_append(struct bw_merkle_frontier *f, const uint8_t leaf_hash[32]) {
    BW_ENSURE(f->size < (UINT64_C(1) << 63), BW_E_TOO_LARGE);
    uint8_t carry[32];
    memcpy(carry, leaf_hash, 32);
    /* Adding one to the size carries through the set low bits: each carry merges two perfect
     * subtrees of 2^level leaves into one of 2^(level+1). */
    unsigned level = 0;
    while (f->size & (UINT64_C(1) << level)) {
        bw_merkle_node_hash(f->nodes[level], carry, carry);
        level++;
    }
    memcpy(f->nodes[level], carry, 32);
    f->size++;
    return BW_OK;
}

void bw_merkle_frontier_root(const struct bw_merkle_frontier *f, uint8_t out[32]) {
    if (f->size == 0) {
        bw_merkle_empty_root(out);
        return;
    }
    /* RFC 9162 2.1.1: the right subtree is the smaller one, so fold from the lowest set bit
     * (rightmost perfect subtree) towards the highest (leftmost). */
    unsigned level = 0;
    while (!(f->size & (UINT64_C(1) << level)))
        level++;
    uint8_t acc[32];
    memcpy(acc, f->nodes[level], 32);
    for (level++; level < BW_MERKLE_MAX_DEPTH; level++)
        if (f->size & (UINT64_C(1) << level))
            bw_merkle_node_hash(f->nodes[level], acc, acc);
    memcpy(out, acc, 32);
}

void bw_merkle_root(bw_merkle_leaf_fn leaf, void *ctx, uint64_t size, uint8_t out[32]) {
    struct bw_merkle_frontier f;
    bw_merkle_frontier_init(&f);
    for (uint64_t i = 0; i < size; i++)
        if (bw_merkle_frontier_append(&f, leaf(ctx, i)) != BW_OK)
            abort(); /* unreachable: size < 2^63 for any in-memory leaf source */
    bw_merkle_frontier_root(&f, out);
}
