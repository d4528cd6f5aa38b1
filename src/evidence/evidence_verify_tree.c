/* evidence_verify_tree.c: the pack's Merkle tree recomputed once, for packs whose receipts are
 * one contiguous range [first, size) of the log (every scope-all pack).
 *
 * Verifying each proof on its own costs about log2(size) node hashes per receipt (20 million
 * SHA-256 calls for a million receipts). Instead the verifier rebuilds the tree once from the
 * receipts it holds and then requires every proof file to be byte for byte the proof the tree
 * gives (RFC 9162 2.1.3.1 PATH, written as docs/EVIDENCE.md section 8). A proof equal to the
 * tree's own path verifies (RFC 9162 2.1.3.2) exactly when the tree's root is the checkpoint's
 * root, which is checked once here; any proof that differs is handed back to the per-receipt
 * check, so the verdict and its reason are those of that check.
 *
 * Nodes: every RFC 9162 subtree is either perfect and aligned (level k, slot lo >> k) or on the
 * tree's right edge. Perfect subtrees inside [first, size) come from the level arrays (with
 * their base64 text, so a proof line is one memcmp). The few others (right edge, ancestors of
 * leaf `first`, and the perfect subtrees left of `first`, taken from the already verified proof
 * of leaf `first`) are in a small sorted table. */
#include <stdlib.h>
#include <string.h>

#include "evidence/proof.h"
#include "evidence/verify_internal.h"

#define B64_HASH_LEN 44
#define MAX_EXTRA (3 * BW_MERKLE_MAX_DEPTH)

struct extra {
    uint64_t lo, n;
    uint8_t hash[32];
    char b64[B64_HASH_LEN];
};

struct bw_evidence_tree {
    uint64_t first, size;
    int levels;
    uint64_t base[BW_MERKLE_MAX_DEPTH];  /* global slot of level k's element 0 */
    uint64_t count[BW_MERKLE_MAX_DEPTH]; /* slots held at level k */
    uint8_t (*hash[BW_MERKLE_MAX_DEPTH])[32];
    char (*b64[BW_MERKLE_MAX_DEPTH])[B64_HASH_LEN];
    struct extra extra[MAX_EXTRA];
    size_t nextra;
    const uint8_t *note; /* the final checkpoint, verbatim */
    size_t note_len;
};

static uint64_t split_point(uint64_t n) {
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

/* RFC 4648 4 base64 of 32 bytes (43 symbols and one '='). */
static void b64_hash(const uint8_t h[32], char out[B64_HASH_LEN]) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= 32; i += 3) {
        uint32_t v = (uint32_t)h[i] << 16 | (uint32_t)h[i + 1] << 8 | h[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    uint32_t v = (uint32_t)h[30] << 16 | (uint32_t)h[31] << 8;
    out[o++] = a[v >> 18];
    out[o++] = a[(v >> 12) & 63];
    out[o++] = a[(v >> 6) & 63];
    out[o] = '=';
}

void bw_evidence_tree_free(struct bw_evidence_tree *t) {
    if (!t)
        return;
    for (int k = 0; k < t->levels; k++) {
        free(t->hash[k]);
        free(t->b64[k]);
    }
    free(t);
}

/* Level k's slot of subtree (lo, n) if it is perfect and inside [first, size), else NULL. */
static int level_slot(const struct bw_evidence_tree *t, uint64_t lo, uint64_t n, int *k,
                      uint64_t *slot) {
    if (n == 0 || (n & (n - 1)) != 0 || lo < t->first || lo + n > t->size)
        return 0;
    int lv = __builtin_ctzll(n);
    if (lv >= t->levels || (lo & (n - 1)) != 0)
        return 0;
    uint64_t s = lo >> lv;
    if (s < t->base[lv] || s - t->base[lv] >= t->count[lv])
        return 0;
    *k = lv;
    *slot = s - t->base[lv];
    return 1;
}

static const struct extra *find_extra(const struct bw_evidence_tree *t, uint64_t lo, uint64_t n) {
    size_t a = 0, b = t->nextra;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        const struct extra *e = &t->extra[mid];
        if (e->lo == lo && e->n == n)
            return e;
        if (e->lo < lo || (e->lo == lo && e->n < n))
            a = mid + 1;
        else
            b = mid;
    }
    return NULL;
}

/* Hash and base64 text of subtree (lo, n); 0 if the tree does not hold it. */
static int node(const struct bw_evidence_tree *t, uint64_t lo, uint64_t n, const uint8_t **hash,
                const char **b64) {
    int k;
    uint64_t s;
    if (level_slot(t, lo, n, &k, &s)) {
        *hash = t->hash[k][s];
        *b64 = t->b64[k][s];
        return 1;
    }
    const struct extra *e = find_extra(t, lo, n);
    if (!e)
        return 0;
    *hash = e->hash;
    *b64 = e->b64;
    return 1;
}

static int add_extra(struct bw_evidence_tree *t, uint64_t lo, uint64_t n, const uint8_t h[32]) {
    if (t->nextra == MAX_EXTRA)
        return 0;
    size_t i = t->nextra;
    while (i > 0 &&
           (t->extra[i - 1].lo > lo || (t->extra[i - 1].lo == lo && t->extra[i - 1].n > n))) {
        t->extra[i] = t->extra[i - 1];
        i--;
    }
    t->extra[i].lo = lo;
    t->extra[i].n = n;
    memcpy(t->extra[i].hash, h, 32);
    b64_hash(h, t->extra[i].b64);
    t->nextra++;
    return 1;
}

/* MTH(D[lo:lo+n]) from the levels and the table, adding what it computes to the table. Only
 * nodes on the right edge or above leaf `first` get here (depth <= 64). */
static int fill(struct bw_evidence_tree *t, uint64_t lo, uint64_t n, uint8_t out[32]) {
    const uint8_t *h;
    const char *b;
    if (node(t, lo, n, &h, &b)) {
        memcpy(out, h, 32);
        return 1;
    }
    if (n < 2 || lo + n <= t->first)
        return 0; /* left of the pack and not in the first proof */
    uint64_t k = split_point(n);
    uint8_t left[32], right[32];
    if (!fill(t, lo, k, left) || !fill(t, lo + k, n - k, right))
        return 0;
    bw_merkle_node_hash(left, right, out);
    return add_extra(t, lo, n, out);
}

struct level_job {
    struct bw_evidence_tree *t;
    int k;
    const struct rec *recs; /* level 0 only */
};

static void level_range(void *ctx, size_t lo, size_t hi) {
    struct level_job *j = ctx;
    struct bw_evidence_tree *t = j->t;
    int k = j->k;
    for (size_t i = lo; i < hi; i++) {
        if (k == 0) {
            memcpy(t->hash[0][i], j->recs[i].leaf, 32);
        } else {
            /* children of global slot base+i are global slots 2(base+i), 2(base+i)+1 */
            uint64_t c = 2 * (t->base[k] + i) - t->base[k - 1];
            bw_merkle_node_hash(t->hash[k - 1][c], t->hash[k - 1][c + 1], t->hash[k][i]);
        }
        b64_hash(t->hash[k][i], t->b64[k][i]);
    }
}

/* The sibling subtrees of leaf m's PATH in a tree of size leaves, leaf's sibling first. */
static size_t path_shape(uint64_t m, uint64_t size, uint64_t (*sib)[2]) {
    uint64_t lo = 0, n = size, top[BW_MERKLE_MAX_PROOF][2];
    size_t d = 0;
    while (n > 1) {
        uint64_t k = split_point(n);
        if (m < k) {
            top[d][0] = lo + k;
            top[d][1] = n - k;
            n = k;
        } else {
            top[d][0] = lo;
            top[d][1] = k;
            m -= k;
            lo += k;
            n -= k;
        }
        d++;
    }
    for (size_t i = 0; i < d; i++) {
        sib[i][0] = top[d - 1 - i][0];
        sib[i][1] = top[d - 1 - i][1];
    }
    return d;
}

bw_err bw_evidence_tree_new(const struct rec *recs, uint64_t first, uint64_t size,
                            const uint8_t (*first_proof)[32], size_t first_proof_len,
                            const uint8_t root[32], const uint8_t *note, size_t note_len,
                            struct bw_evidence_tree **out) {
    BW_ENSURE(first < size, BW_E_INVALID);
    struct bw_evidence_tree *t = calloc(1, sizeof *t);
    BW_ENSURE(t, BW_E_NOMEM);
    bw_err result = BW_OK;
    t->first = first;
    t->size = size;
    t->note = note;
    t->note_len = note_len;
    for (int k = 0; k < BW_MERKLE_MAX_DEPTH; k++) {
        uint64_t w = UINT64_C(1) << k;
        uint64_t base = (first + w - 1) >> k, end = size >> k;
        if (end <= base)
            break;
        t->base[k] = base;
        t->count[k] = end - base;
        t->hash[k] = malloc((size_t)t->count[k] * 32);
        t->b64[k] = malloc((size_t)t->count[k] * B64_HASH_LEN);
        t->levels = k + 1;
        BW_GOTO_IF(!t->hash[k] || !t->b64[k], BW_E_NOMEM);
        struct level_job j = {t, k, recs};
        bw_evidence_parallel((size_t)t->count[k], level_range, &j);
    }
    if (first > 0) {
        /* The perfect subtrees left of `first` are the left siblings in its (verified) proof. */
        uint64_t sib[BW_MERKLE_MAX_PROOF][2];
        size_t d = path_shape(first, size, sib);
        BW_GOTO_IF(d != first_proof_len, BW_E_INVALID);
        for (size_t i = 0; i < d; i++)
            if (sib[i][0] + sib[i][1] <= first)
                BW_GOTO_IF(!add_extra(t, sib[i][0], sib[i][1], first_proof[i]), BW_E_INVALID);
    }
    uint8_t got[32];
    BW_GOTO_IF(!fill(t, 0, size, got), BW_E_INVALID);
    BW_GOTO_IF(memcmp(got, root, 32) != 0, BW_E_CRYPTO);
    *out = t;
    return BW_OK;
out:
    bw_evidence_tree_free(t);
    return result;
}

/* 44 bytes equal: a proof has ~20 of these per receipt, too short for a memcmp call to pay. */
static int eq44(const uint8_t *a, const char *b) {
    uint64_t x[5], y[5];
    uint32_t u, w;
    memcpy(x, a, 40);
    memcpy(y, b, 40);
    memcpy(&u, a + 40, 4);
    memcpy(&w, b + 40, 4);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
            (u ^ w)) == 0;
}

/* "index <decimal>\n" */
static size_t put_index(char *p, uint64_t v) {
    char d[20];
    size_t n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(p, "index ", 6);
    for (size_t i = 0; i < n; i++)
        p[6 + i] = d[n - 1 - i];
    p[6 + n] = '\n';
    return 7 + n;
}

int bw_evidence_tree_proof_matches(const struct bw_evidence_tree *t, uint64_t index,
                                   const uint8_t *text, size_t len) {
    static const char magic[] = BW_EVIDENCE_PROOF_MAGIC "\n";
    char head[64];
    if (index < t->first || index >= t->size)
        return 0;
    size_t h = sizeof magic - 1;
    memcpy(head, magic, h);
    h += put_index(head + h, index);
    if (len < h || memcmp(text, head, h) != 0)
        return 0;
    size_t off = h;
    /* PATH, walked from the root: hashes are written leaf's sibling first, so line d of the
     * file holds the sibling at depth (path length - d). */
    size_t plen = bw_merkle_inclusion_len(index, t->size);
    if (len < off + plen * (B64_HASH_LEN + 1) + 1)
        return 0;
    uint64_t lo = 0, n = t->size, m = index;
    size_t line = plen;
    while (n > 1) {
        uint64_t k = split_point(n), slo, sn;
        if (m < k) {
            slo = lo + k;
            sn = n - k;
            n = k;
        } else {
            slo = lo;
            sn = k;
            m -= k;
            lo += k;
            n -= k;
        }
        const uint8_t *hash;
        const char *b64;
        line--;
        if (!node(t, slo, sn, &hash, &b64))
            return 0;
        const uint8_t *at = text + off + line * (B64_HASH_LEN + 1);
        if (!eq44(at, b64) || at[B64_HASH_LEN] != '\n')
            return 0;
    }
    off += plen * (B64_HASH_LEN + 1);
    return text[off] == '\n' && len - off - 1 == t->note_len &&
           memcmp(text + off + 1, t->note, t->note_len) == 0;
}
