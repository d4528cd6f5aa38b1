/* merkle.h: RFC 6962 / RFC 9162 Merkle tree hashing, frontier, and proofs.
 *
 * Hashes (RFC 9162 2.1.1): leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right),
 * MTH({}) = SHA-256(""). The tree over n leaves splits at k, the largest power of two < n.
 *
 * Leaves are supplied to root/proof generation by a callback returning a pointer to the 32-byte
 * leaf hash at an index < size (the caller guarantees the pointer stays valid for the call).
 * Generation costs O(size) hash operations (every subtree hash is recomputed from leaves);
 * verification costs O(log size). Proof lengths are exact: a verifier rejects a proof that is
 * one hash short or long. All functions are pure and thread-safe; none is constant-time (every
 * input is public). */
#ifndef BW_LEDGER_MERKLE_H
#define BW_LEDGER_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BW_MERKLE_HASH_LEN 32
/* Frontier depth: one slot per bit of the 64-bit size. */
#define BW_MERKLE_MAX_DEPTH 64
/* Upper bound for any proof this module produces or accepts (inclusion <= 64, consistency
 * <= 2 * 64). */
#define BW_MERKLE_MAX_PROOF 128

/* Returns the leaf hash at index (index < the size being hashed). */
typedef const uint8_t *(*bw_merkle_leaf_fn)(void *ctx, uint64_t index);

/* RFC 9162 2.1.1 leaf hash of entry bytes. */
void bw_merkle_leaf_hash(const void *entry, size_t len, uint8_t out[32]);
/* RFC 9162 2.1.1 interior node hash. out may alias left or right. */
void bw_merkle_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);
/* MTH of the empty tree: SHA-256 of the empty string. */
void bw_merkle_empty_root(uint8_t out[32]);

/* Frontier: the roots of the perfect subtrees that make up a tree of `size` leaves (slot k holds
 * the subtree of 2^k leaves when bit k of size is set). Append is O(log n), root O(log n). A
 * plain value: copy it to snapshot, assign it to restore. */
struct bw_merkle_frontier {
    uint64_t size;
    uint8_t nodes[BW_MERKLE_MAX_DEPTH][BW_MERKLE_HASH_LEN];
};

void bw_merkle_frontier_init(struct bw_merkle_frontier *f);
/* Adds a leaf hash. BW_E_TOO_LARGE at 2^63 leaves (never reached in practice). */
bw_err bw_merkle_frontier_append(struct bw_merkle_frontier *f,
                                 const uint8_t leaf_hash[32]) BW_MUST_CHECK;
/* Root of the tree of f->size leaves (the empty root when size is 0). */
void bw_merkle_frontier_root(const struct bw_merkle_frontier *f, uint8_t out[32]);

/* MTH(D[0:size]) from the leaf source. */
void bw_merkle_root(bw_merkle_leaf_fn leaf, void *ctx, uint64_t size, uint8_t out[32]);

/* Exact number of hashes in an inclusion proof for index in a tree of size (index < size), and
 * in a consistency proof from old_size to new_size (0 < old_size <= new_size). 0 for invalid
 * arguments. */
size_t bw_merkle_inclusion_len(uint64_t index, uint64_t size);
size_t bw_merkle_consistency_len(uint64_t old_size, uint64_t new_size);

/* RFC 9162 2.1.3.1 PATH(index, D[size]). Writes bw_merkle_inclusion_len hashes to proof and the
 * count to *len. Errors: BW_E_INVALID if index >= size; BW_E_TOO_LARGE if max is too small. */
bw_err bw_merkle_inclusion_proof(bw_merkle_leaf_fn leaf, void *ctx, uint64_t index, uint64_t size,
                                 uint8_t (*proof)[32], size_t max, size_t *len) BW_MUST_CHECK;

/* RFC 9162 2.1.4.1 PROOF(old_size, D[new_size]). Errors: BW_E_INVALID unless
 * 0 < old_size <= new_size; BW_E_TOO_LARGE if max is too small. */
bw_err bw_merkle_consistency_proof(bw_merkle_leaf_fn leaf, void *ctx, uint64_t old_size,
                                   uint64_t new_size, uint8_t (*proof)[32], size_t max,
                                   size_t *len) BW_MUST_CHECK;

/* RFC 9162 2.1.3.2. BW_OK if leaf_hash is at index in the tree with root; BW_E_INVALID if the
 * shape is wrong (index >= size, wrong proof length); BW_E_CRYPTO if the hashes do not match. */
bw_err bw_merkle_verify_inclusion(const uint8_t leaf_hash[32], uint64_t index, uint64_t size,
                                  const uint8_t (*proof)[32], size_t len,
                                  const uint8_t root[32]) BW_MUST_CHECK;

/* RFC 9162 2.1.4.2. old_size == new_size needs an empty proof and equal roots. BW_E_INVALID for
 * a wrong shape (old_size 0 or > new_size, wrong length), BW_E_CRYPTO on a hash mismatch. */
bw_err bw_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                                    const uint8_t old_root[32], const uint8_t new_root[32],
                                    const uint8_t (*proof)[32], size_t len) BW_MUST_CHECK;

/* ---- Proofs from stored perfect subtrees: O(log n) lookups, O(log^2 n) hashes at most. ----
 * RFC 9162 subtrees are perfect and aligned (level k, slot lo >> k: MTH of leaves
 * [slot*2^k, (slot+1)*2^k)) except on the tree's right edge, which is recomputed from them. The
 * node function returns the stored hash of a perfect subtree inside the tree being proven (level
 * 0 = leaf hashes); the pointer must stay valid for the call. Same proofs and errors as
 * bw_merkle_inclusion_proof / bw_merkle_consistency_proof. */
typedef const uint8_t *(*bw_merkle_node_fn)(void *ctx, unsigned level, uint64_t slot);
bw_err bw_merkle_inclusion_proof_nodes(bw_merkle_node_fn node, void *ctx, uint64_t index,
                                       uint64_t size, uint8_t (*proof)[32], size_t max,
                                       size_t *len) BW_MUST_CHECK;
bw_err bw_merkle_consistency_proof_nodes(bw_merkle_node_fn node, void *ctx, uint64_t old_size,
                                         uint64_t new_size, uint8_t (*proof)[32], size_t max,
                                         size_t *len) BW_MUST_CHECK;

/* ---- Level cache: O(log^2 n) proofs over a fixed set of leaves (evidence packs). ----
 * Holds every complete, aligned perfect subtree hash (level k, slot i = MTH of leaves
 * [i*2^k, (i+1)*2^k)): about 2 * n hashes (64 MiB per million leaves). RFC 9162 subtrees are
 * always aligned this way, so PATH and PROOF need only O(log n) lookups plus O(log n) hashes
 * for the ragged right edge. Immutable after build: thread-safe for reads. */
struct bw_merkle_cache;

/* Builds the cache over n leaf hashes (copied). Errors: BW_E_NOMEM, BW_E_TOO_LARGE (n > 2^40). */
bw_err bw_merkle_cache_new(const uint8_t (*leaves)[32], uint64_t n,
                           struct bw_merkle_cache **out) BW_MUST_CHECK;
void bw_merkle_cache_free(struct bw_merkle_cache *c);
uint64_t bw_merkle_cache_size(const struct bw_merkle_cache *c);
/* MTH(D[0:size]) for size <= the cache's n (the empty root for 0). BW_E_INVALID otherwise. */
bw_err bw_merkle_cache_root(const struct bw_merkle_cache *c, uint64_t size,
                            uint8_t out[32]) BW_MUST_CHECK;
/* Same proofs and errors as bw_merkle_inclusion_proof / bw_merkle_consistency_proof, for
 * size <= the cache's n. */
bw_err bw_merkle_cache_inclusion(const struct bw_merkle_cache *c, uint64_t index, uint64_t size,
                                 uint8_t (*proof)[32], size_t max, size_t *len) BW_MUST_CHECK;
bw_err bw_merkle_cache_consistency(const struct bw_merkle_cache *c, uint64_t old_size,
                                   uint64_t new_size, uint8_t (*proof)[32], size_t max,
                                   size_t *len) BW_MUST_CHECK;

#endif
