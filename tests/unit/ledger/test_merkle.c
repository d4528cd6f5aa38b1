/* test_merkle.c: RFC 6962/9162 tree hashing, frontier and proofs against a naive recursive
 * recomputation and the RFC 6962 reference vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ledger/merkle.h"

#define MAX_LEAVES 130
#define PROOF_PAIRS_MAX 72

static uint8_t leaves[MAX_LEAVES][32];

static const uint8_t *leaf_at(void *ctx, uint64_t i) {
    return ((const uint8_t(*)[32])ctx)[i];
}

/* RFC 9162 2.1.1 straight from the definition. */
static void naive_mth(uint64_t lo, uint64_t hi, uint8_t out[32]) {
    uint64_t n = hi - lo;
    if (n == 0) {
        bw_merkle_empty_root(out);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[lo], 32);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[32], r[32];
    naive_mth(lo, lo + k, l);
    naive_mth(lo + k, hi, r);
    bw_merkle_node_hash(l, r, out);
}

static int setup_leaves(void **state) {
    (void)state;
    for (int i = 0; i < MAX_LEAVES; i++) {
        uint8_t entry[8];
        for (int j = 0; j < 8; j++)
            entry[j] = (uint8_t)(i * 8 + j);
        bw_merkle_leaf_hash(entry, (size_t)(i % 9), leaves[i]);
        leaves[i][31] ^= (uint8_t)i; /* distinct even where the entries repeat */
    }
    return 0;
}

static void hex_to_bin(const char *hex, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + (size_t)j];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
}

/* The certificate-transparency reference vectors (RFC 6962 test data). */
static void test_rfc6962_vectors(void **state) {
    (void)state;
    static const uint8_t e3[] = {0x20, 0x21}, e4[] = {0x30, 0x31}, e5[] = {0x40, 0x41, 0x42, 0x43};
    static const uint8_t e6[] = {0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57};
    static const uint8_t e1[] = {0x00}, e2[] = {0x10};
    uint8_t e7[16];
    for (int i = 0; i < 16; i++)
        e7[i] = (uint8_t)(0x60 + i);
    const struct {
        const uint8_t *p;
        size_t n;
    } entries[8] = {
        {(const uint8_t *)"", 0}, {e1, 1}, {e2, 1}, {e3, 2}, {e4, 2}, {e5, 4}, {e6, 8}, {e7, 16}};
    static const char *roots[8] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    struct bw_merkle_frontier f;
    bw_merkle_frontier_init(&f);
    uint8_t root[32], want[32];
    bw_merkle_frontier_root(&f, root);
    hex_to_bin("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
    assert_memory_equal(root, want, 32);
    for (int i = 0; i < 8; i++) {
        uint8_t lh[32];
        bw_merkle_leaf_hash(entries[i].p, entries[i].n, lh);
        assert_int_equal(bw_merkle_frontier_append(&f, lh), BW_OK);
        bw_merkle_frontier_root(&f, root);
        hex_to_bin(roots[i], want, 32);
        assert_memory_equal(root, want, 32);
    }
}

static void test_large_leaf(void **state) {
    (void)state;
    static uint8_t big[20000];
    memset(big, 'x', sizeof big);
    uint8_t a[32], b[32];
    bw_merkle_leaf_hash(big, sizeof big, a);
    bw_merkle_leaf_hash(big, 8192, b);
    assert_memory_not_equal(a, b, 32);
    static uint8_t pre[20001];
    pre[0] = 0;
    memcpy(pre + 1, big, sizeof big);
    bw_merkle_leaf_hash(pre + 1, 8192, a); /* the stack path and the EVP path agree */
    assert_memory_equal(a, b, 32);
}

static void test_roots_all_sizes(void **state) {
    (void)state;
    struct bw_merkle_frontier f;
    bw_merkle_frontier_init(&f);
    for (uint64_t n = 1; n <= MAX_LEAVES; n++) {
        assert_int_equal(bw_merkle_frontier_append(&f, leaves[n - 1]), BW_OK);
        uint8_t a[32], b[32], c[32];
        bw_merkle_frontier_root(&f, a);
        naive_mth(0, n, b);
        bw_merkle_root(leaf_at, leaves, n, c);
        assert_memory_equal(a, b, 32);
        assert_memory_equal(c, b, 32);
    }
}

static void check_inclusion_tamper(uint64_t m, uint64_t n, uint8_t (*proof)[32], size_t len,
                                   const uint8_t root[32]) {
    const uint8_t(*cp)[32] = (const uint8_t(*)[32])proof;
    for (size_t i = 0; i < len; i++) {
        proof[i][i % 32] ^= 0x01;
        assert_int_not_equal(bw_merkle_verify_inclusion(leaves[m], m, n, cp, len, root), BW_OK);
        proof[i][i % 32] ^= 0x01;
    }
    if (len > 0)
        assert_int_equal(bw_merkle_verify_inclusion(leaves[m], m, n, cp, len - 1, root),
                         BW_E_INVALID);
    memset(proof[len], 0, 32);
    assert_int_equal(bw_merkle_verify_inclusion(leaves[m], m, n, cp, len + 1, root), BW_E_INVALID);
    if (m + 1 < n)
        assert_int_not_equal(bw_merkle_verify_inclusion(leaves[m], m + 1, n, cp, len, root), BW_OK);
    if (m > 0)
        assert_int_not_equal(bw_merkle_verify_inclusion(leaves[m], m - 1, n, cp, len, root), BW_OK);
    assert_int_equal(bw_merkle_verify_inclusion(leaves[m], n, n, cp, len, root), BW_E_INVALID);
    assert_int_equal(bw_merkle_verify_inclusion(leaves[m], n + 5, n, cp, len, root), BW_E_INVALID);
    uint8_t bad_root[32];
    memcpy(bad_root, root, 32);
    bad_root[0] ^= 0x80;
    assert_int_equal(bw_merkle_verify_inclusion(leaves[m], m, n, cp, len, bad_root), BW_E_CRYPTO);
}

static void test_inclusion_all_pairs(void **state) {
    (void)state;
    uint8_t proof[BW_MERKLE_MAX_PROOF + 1][32];
    for (uint64_t n = 1; n <= MAX_LEAVES; n++) {
        uint8_t root[32];
        naive_mth(0, n, root);
        for (uint64_t m = 0; m < n; m++) {
            size_t len = 0;
            assert_int_equal(
                bw_merkle_inclusion_proof(leaf_at, leaves, m, n, proof, BW_MERKLE_MAX_PROOF, &len),
                BW_OK);
            assert_int_equal(len, bw_merkle_inclusion_len(m, n));
            assert_int_equal(
                bw_merkle_verify_inclusion(leaves[m], m, n, (const uint8_t(*)[32])proof, len, root),
                BW_OK);
            if (n <= PROOF_PAIRS_MAX)
                check_inclusion_tamper(m, n, proof, len, root);
        }
    }
    size_t len = 0;
    assert_int_equal(bw_merkle_inclusion_proof(leaf_at, leaves, 5, 5, proof, 64, &len),
                     BW_E_INVALID);
    assert_int_equal(bw_merkle_inclusion_proof(leaf_at, leaves, 0, 100, proof, 3, &len),
                     BW_E_TOO_LARGE);
    assert_int_equal(bw_merkle_inclusion_len(0, UINT64_C(1) << 40), 40);
}

static void check_consistency_tamper(uint64_t m, uint64_t n, uint8_t (*proof)[32], size_t len,
                                     const uint8_t r1[32], const uint8_t r2[32]) {
    const uint8_t(*cp)[32] = (const uint8_t(*)[32])proof;
    for (size_t i = 0; i < len; i++) {
        proof[i][(i * 7) % 32] ^= 0x40;
        assert_int_not_equal(bw_merkle_verify_consistency(m, n, r1, r2, cp, len), BW_OK);
        proof[i][(i * 7) % 32] ^= 0x40;
    }
    if (len > 0)
        assert_int_equal(bw_merkle_verify_consistency(m, n, r1, r2, cp, len - 1), BW_E_INVALID);
    memset(proof[len], 0, 32);
    assert_int_equal(bw_merkle_verify_consistency(m, n, r1, r2, cp, len + 1), BW_E_INVALID);
    if (m != n) {
        assert_int_not_equal(bw_merkle_verify_consistency(m, n, r2, r1, cp, len), BW_OK);
        if (m > 1)
            assert_int_not_equal(bw_merkle_verify_consistency(m - 1, n, r1, r2, cp, len), BW_OK);
    }
    assert_int_equal(bw_merkle_verify_consistency(n + 1, n, r1, r2, cp, len), BW_E_INVALID);
    assert_int_equal(bw_merkle_verify_consistency(0, n, r1, r2, cp, len), BW_E_INVALID);
}

static void test_consistency_all_pairs(void **state) {
    (void)state;
    uint8_t proof[BW_MERKLE_MAX_PROOF + 1][32];
    for (uint64_t n = 1; n <= PROOF_PAIRS_MAX; n++) {
        uint8_t r2[32];
        naive_mth(0, n, r2);
        for (uint64_t m = 1; m <= n; m++) {
            uint8_t r1[32];
            naive_mth(0, m, r1);
            size_t len = 0;
            assert_int_equal(bw_merkle_consistency_proof(leaf_at, leaves, m, n, proof,
                                                         BW_MERKLE_MAX_PROOF, &len),
                             BW_OK);
            assert_int_equal(len, bw_merkle_consistency_len(m, n));
            assert_int_equal(
                bw_merkle_verify_consistency(m, n, r1, r2, (const uint8_t(*)[32])proof, len),
                BW_OK);
            check_consistency_tamper(m, n, proof, len, r1, r2);
        }
    }
    size_t len = 0;
    assert_int_equal(bw_merkle_consistency_proof(leaf_at, leaves, 0, 5, proof, 64, &len),
                     BW_E_INVALID);
    assert_int_equal(bw_merkle_consistency_proof(leaf_at, leaves, 6, 5, proof, 64, &len),
                     BW_E_INVALID);
    assert_int_equal(bw_merkle_consistency_proof(leaf_at, leaves, 3, 100, proof, 2, &len),
                     BW_E_TOO_LARGE);
}

/* A frontier snapshot restores the exact state (the ledger relies on this after a failed
 * write). */
static void test_frontier_snapshot(void **state) {
    (void)state;
    struct bw_merkle_frontier f, saved;
    bw_merkle_frontier_init(&f);
    for (int i = 0; i < 37; i++)
        assert_int_equal(bw_merkle_frontier_append(&f, leaves[i]), BW_OK);
    saved = f;
    for (int i = 37; i < 64; i++)
        assert_int_equal(bw_merkle_frontier_append(&f, leaves[i]), BW_OK);
    f = saved;
    uint8_t a[32], b[32];
    bw_merkle_frontier_root(&f, a);
    naive_mth(0, 37, b);
    assert_memory_equal(a, b, 32);
    f.size = UINT64_C(1) << 63;
    assert_int_equal(bw_merkle_frontier_append(&f, leaves[0]), BW_E_TOO_LARGE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6962_vectors),       cmocka_unit_test(test_large_leaf),
        cmocka_unit_test(test_roots_all_sizes),       cmocka_unit_test(test_inclusion_all_pairs),
        cmocka_unit_test(test_consistency_all_pairs), cmocka_unit_test(test_frontier_snapshot),
    };
    return cmocka_run_group_tests(tests, setup_leaves, NULL);
}
