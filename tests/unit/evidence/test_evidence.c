/* test_evidence.c: evidence packs end to end over a synthetic ledger (evidence_gen.h): export
 * determinism, verification, and tampering — each alteration rejected by the named check — plus
 * the container, proof-text and canonical-receipt parsers' limits, and the Merkle level cache
 * against the reference proof generator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "evidence/pack.h"
#include "evidence/proof.h"
#include "evidence/receipt_check.h"
#include "evidence/tar.h"
#include "evidence_gen.h"
#include "pack_util.h"
#include "util/codec.h"

#define N_RECEIPTS 40
#define BATCH 7

static char dir[128], data_dir[64], policy_path[128];
static char vkey[BW_NOTE_VKEY_MAX];
static struct bw_note_verifier trust;
static struct bw_note_signer *signer;
static const char policy_text[] = "orgs:\n  default:\n    allowed_models: [gpt-4o-mini]\n";

static int setup(void **state) {
    (void)state;
    snprintf(data_dir, sizeof data_dir, "/tmp/bw_evidence_test.XXXXXX");
    if (!mkdtemp(data_dir))
        return -1;
    snprintf(dir, sizeof dir, "%s/ledger", data_dir);
    snprintf(policy_path, sizeof policy_path, "%s/bulwark.yaml", data_dir);
    FILE *f = fopen(policy_path, "wb");
    fwrite(policy_text, 1, sizeof policy_text - 1, f);
    fclose(f);
    uint8_t ph[32];
    bw_sha256(policy_text, sizeof policy_text - 1, ph);
    if (mkdir(dir, 0700) != 0)
        return -1;
    gen_log(dir, N_RECEIPTS, BATCH, ph, vkey);
    if (bw_note_verifier_parse(vkey, strlen(vkey), &trust) != BW_OK)
        return -1;
    return bw_ledger_load_signer(dir, &signer) == BW_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    bw_note_signer_free(signer);
    const char *names[] = {"signing.key", "origin", "log", "log.lock"};
    char p[160];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    unlink(policy_path);
    rmdir(data_dir);
    return 0;
}

static bw_err export_pack(const char *org, int64_t since, int with_policy, struct bw_buf *out) {
    const char *paths[1] = {policy_path};
    struct bw_evidence_export_opts o = {
        .ledger_dir = dir,
        .origin = trust.name,
        .verifier = &trust,
        .org_id = org,
        .since_ms = since,
        .max_size = UINT64_MAX,
        .policy_paths = paths,
        .n_policy_paths = with_policy ? 1 : 0,
        .sign = sign_with,
        .sign_ctx = signer,
    };
    struct bw_evidence_sink sink = {buf_write, out, 0};
    char why[256];
    bw_buf_init(out, 64u << 20);
    return bw_evidence_export(&o, &sink, why, sizeof why);
}

static int verify_buf(const struct bw_buf *b, int allow, struct bw_evidence_report *r) {
    struct bw_evidence_verify_opts o = {allow};
    bw_err e = bw_evidence_verify(b->ptr, b->len, &trust, &o, r);
    assert_true(e == BW_OK || e == BW_E_CRYPTO);
    if (getenv("EVIDENCE_DEBUG") && e != BW_OK)
        for (int i = 0; i < BW_CHECK_COUNT; i++)
            fprintf(stderr, "  %s %s %s\n", bw_evidence_check_name((enum bw_evidence_check)i),
                    bw_evidence_status_name(r->status[i]), r->detail[i]);
    return e == BW_OK;
}

static void assert_fails(const struct bw_buf *b, enum bw_evidence_check c) {
    struct bw_evidence_report r;
    assert_false(verify_buf(b, 0, &r));
    if (r.status[c] != BW_STATUS_FAIL) {
        for (int i = 0; i < BW_CHECK_COUNT; i++)
            fprintf(stderr, "  %s %s %s\n", bw_evidence_check_name((enum bw_evidence_check)i),
                    bw_evidence_status_name(r.status[i]), r.detail[i]);
        fail_msg("expected %s to fail", bw_evidence_check_name(c));
    }
}

/* ---- tests ---- */

static void test_export_verifies_and_is_deterministic(void **state) {
    (void)state;
    struct bw_buf a, b;
    assert_int_equal(export_pack(NULL, 0, 1, &a), BW_OK);
    assert_int_equal(export_pack(NULL, 0, 1, &b), BW_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    struct bw_evidence_report r;
    assert_true(verify_buf(&a, 0, &r));
    assert_int_equal(r.receipts, N_RECEIPTS);
    assert_int_equal(r.size, N_RECEIPTS);
    assert_int_equal(r.checkpoints, (N_RECEIPTS + BATCH - 1) / BATCH);
    for (int c = 0; c < BW_CHECK_RECEIPT_SIGNATURES; c++)
        assert_int_equal(r.status[c], BW_STATUS_PASS);
    bw_buf_cleanup(&a);
    bw_buf_cleanup(&b);
}

static void test_org_and_since(void **state) {
    (void)state;
    struct bw_buf a;
    struct bw_evidence_report r;
    assert_int_equal(export_pack("org_b", 0, 1, &a), BW_OK);
    assert_true(verify_buf(&a, 0, &r));
    assert_int_equal(r.receipts, 2 * (N_RECEIPTS / 2 / 3)); /* pairs 2, 5, 8, ... */
    assert_string_equal(r.scope, "org org_b");
    bw_buf_cleanup(&a);
    /* since cuts between a decision (index 20) and its outcome (21): the parent comes along. */
    assert_int_equal(export_pack(NULL, 1700000000000 + 21, 1, &a), BW_OK);
    assert_true(verify_buf(&a, 0, &r));
    assert_int_equal(r.receipts, N_RECEIPTS - 20);
    bw_buf_cleanup(&a);
    assert_int_equal(export_pack("nobody", 0, 1, &a), BW_OK);
    assert_true(verify_buf(&a, 0, &r));
    assert_int_equal(r.receipts, 0);
    bw_buf_cleanup(&a);
    assert_int_equal(export_pack("bad org!", 0, 1, &a), BW_E_INVALID);
    bw_buf_cleanup(&a);
}

static void test_flipped_bytes(void **state) {
    (void)state;
    struct bw_buf a;
    assert_int_equal(export_pack("org_a", 0, 1, &a), BW_OK);
    struct bw_evidence_report r;
    size_t step = a.len / 97 + 1;
    for (size_t off = 0; off < a.len; off += step) {
        a.ptr[off] ^= 0x01;
        if (verify_buf(&a, 0, &r))
            fail_msg("flipped byte at %zu of %zu accepted", off, a.len);
        a.ptr[off] ^= 0x01;
    }
    assert_true(verify_buf(&a, 0, &r));
    bw_buf_cleanup(&a);
}

static void test_removed_receipt(void **state) {
    (void)state;
    struct bw_buf a, b;
    struct mem m[200];
    assert_int_equal(export_pack(NULL, 0, 1, &a), BW_OK);
    size_t n = unpack(&a, m, 200);
    /* Without re-signing: the manifest no longer matches. */
    size_t i = find_mem(m, n, "receipts/00000000000000000010");
    remove_mem(m, &n, i);
    remove_mem(m, &n, i);
    repack(m, n, signer, &b);
    assert_fails(&b, BW_CHECK_SEQUENCE);
    bw_buf_cleanup(&b);
    free_mems(m, n);
    bw_buf_cleanup(&a);
}

static void test_reordered_pair(void **state) {
    (void)state;
    struct bw_buf a, b;
    struct mem m[200], t;
    assert_int_equal(export_pack(NULL, 0, 1, &a), BW_OK);
    size_t n = unpack(&a, m, 200);
    size_t i = find_mem(m, n, "receipts/00000000000000000004");
    t = m[i];
    m[i] = m[i + 2];
    m[i + 2] = t;
    t = m[i + 1];
    m[i + 1] = m[i + 3];
    m[i + 3] = t;
    repack(m, n, signer, &b);
    assert_fails(&b, BW_CHECK_PACK_FORMAT);
    bw_buf_cleanup(&b);
    /* Swapped contents under the original names: the receipt's own index disagrees. */
    free_mems(m, n);
    n = unpack(&a, m, 200);
    struct bw_buf tmp = m[i].data;
    m[i].data = m[i + 2].data;
    m[i + 2].data = tmp;
    repack(m, n, signer, &b);
    assert_fails(&b, BW_CHECK_RECEIPT_CANONICAL);
    assert_fails(&b, BW_CHECK_INCLUSION);
    bw_buf_cleanup(&b);
    free_mems(m, n);
    bw_buf_cleanup(&a);
}

static void test_foreign_and_forked_checkpoints(void **state) {
    (void)state;
    struct bw_buf a, b;
    struct mem m[200];
    assert_int_equal(export_pack(NULL, 0, 1, &a), BW_OK);
    size_t n = unpack(&a, m, 200);
    size_t c = find_mem(m, n, "checkpoints/00000000000000000007");
    /* The same body signed by another key with the same name. */
    uint8_t seed[32];
    memset(seed, 0x42, sizeof seed);
    struct bw_note_signer *other = NULL;
    assert_int_equal(bw_note_signer_new(trust.name, seed, &other), BW_OK);
    const char *note = (const char *)m[c].data.ptr;
    size_t body = (size_t)(strstr(note, "\n\n") - note) + 1;
    struct bw_buf saved = m[c].data;
    bw_buf_init(&m[c].data, 8192);
    assert_int_equal(bw_note_sign(other, note, body, &m[c].data), BW_OK);
    repack(m, n, signer, &b);
    assert_fails(&b, BW_CHECK_CHECKPOINT_SIGNATURES);
    bw_buf_cleanup(&b);
    /* A fork: size 7 with a different root, signed by the real key. */
    bw_buf_reset(&m[c].data);
    uint8_t root[32];
    memset(root, 0x5a, sizeof root);
    struct bw_buf fb;
    bw_buf_init(&fb, 8192);
    assert_int_equal(bw_note_checkpoint_body(trust.name, 7, root, &fb), BW_OK);
    assert_int_equal(bw_note_sign(signer, (const char *)fb.ptr, fb.len, &m[c].data), BW_OK);
    repack(m, n, signer, &b);
    assert_fails(&b, BW_CHECK_CONSISTENCY);
    bw_buf_cleanup(&b);
    bw_buf_cleanup(&fb);
    bw_buf_cleanup(&saved);
    bw_note_signer_free(other);
    /* The manifest signed by another key. */
    memset(seed, 0x17, sizeof seed);
    assert_int_equal(bw_note_signer_new(trust.name, seed, &other), BW_OK);
    free_mems(m, n);
    n = unpack(&a, m, 200);
    repack(m, n, other, &b);
    assert_fails(&b, BW_CHECK_MANIFEST_SIGNATURE);
    assert_fails(&b, BW_CHECK_SEQUENCE);
    bw_buf_cleanup(&b);
    bw_note_signer_free(other);
    free_mems(m, n);
    bw_buf_cleanup(&a);
}

/* Rewrites the proof of leaf 5 with one hash removed or one appended. */
static void test_proof_length(void **state) {
    (void)state;
    struct bw_buf a, b;
    struct mem m[200];
    assert_int_equal(export_pack(NULL, 0, 1, &a), BW_OK);
    for (int delta = -1; delta <= 1; delta += 2) {
        size_t n = unpack(&a, m, 200);
        size_t p = find_mem(m, n, "proofs/00000000000000000005");
        struct bw_evidence_proof *pr = malloc(sizeof *pr);
        assert_int_equal(bw_evidence_proof_decode((const char *)m[p].data.ptr, m[p].data.len, pr),
                         BW_OK);
        size_t len = delta < 0 ? pr->n - 1 : pr->n + 1;
        if (delta > 0)
            memcpy(pr->hashes[pr->n], pr->hashes[0], 32);
        struct bw_buf nb;
        bw_buf_init(&nb, 1u << 16);
        assert_int_equal(bw_evidence_proof_encode(pr->index, (const uint8_t(*)[32])pr->hashes, len,
                                                  (const char *)pr->note.ptr, pr->note.len, &nb),
                         BW_OK);
        bw_buf_cleanup(&m[p].data);
        m[p].data = nb;
        repack(m, n, signer, &b);
        assert_fails(&b, BW_CHECK_INCLUSION);
        bw_buf_cleanup(&b);
        free(pr);
        free_mems(m, n);
    }
    bw_buf_cleanup(&a);
}

/* The verifier rebuilds the tree once for contiguous packs and compares proof files byte for
 * byte (evidence_verify_tree.c); anything else falls back to the per-receipt check. Both must
 * give the same verdicts: a since-pack (first > 0, subtrees left of the pack taken from the
 * first proof) with a swapped hash in the first proof and in a later proof, and a proof with
 * the spec's optional "extra" line (not what the tree gives, still valid per RFC 9162). */
static void rewrite_proof(struct mem *m, size_t p, int swap, int extra) {
    struct bw_evidence_proof *pr = malloc(sizeof *pr);
    assert_int_equal(bw_evidence_proof_decode((const char *)m[p].data.ptr, m[p].data.len, pr),
                     BW_OK);
    if (swap) {
        assert_true(pr->n >= 2);
        uint8_t t[32];
        memcpy(t, pr->hashes[0], 32);
        memcpy(pr->hashes[0], pr->hashes[1], 32);
        memcpy(pr->hashes[1], t, 32);
    }
    struct bw_buf nb;
    bw_buf_init(&nb, 1u << 16);
    if (extra)
        assert_int_equal(bw_buf_append_str(&nb, BW_EVIDENCE_PROOF_MAGIC "\nextra AAAA\n"), BW_OK);
    struct bw_buf body;
    bw_buf_init(&body, 1u << 16);
    assert_int_equal(bw_evidence_proof_encode(pr->index, (const uint8_t(*)[32])pr->hashes, pr->n,
                                              (const char *)pr->note.ptr, pr->note.len, &body),
                     BW_OK);
    /* with extra: drop the encoder's magic line, keep the rest */
    size_t skip = extra ? strlen(BW_EVIDENCE_PROOF_MAGIC) + 1 : 0;
    assert_int_equal(bw_buf_append(&nb, body.ptr + skip, body.len - skip), BW_OK);
    bw_buf_cleanup(&body);
    bw_buf_cleanup(&m[p].data);
    m[p].data = nb;
    free(pr);
}

static void test_tree_fast_path(void **state) {
    (void)state;
    struct bw_buf a, b;
    struct mem m[200];
    struct bw_evidence_report r;
    const char *cases[] = {"proofs/00000000000000000020", "proofs/00000000000000000031"};
    assert_int_equal(export_pack(NULL, 1700000000000 + 21, 1, &a), BW_OK); /* first = 20 */
    assert_true(verify_buf(&a, 0, &r));
    for (size_t c = 0; c < 2; c++) {
        size_t n = unpack(&a, m, 200);
        rewrite_proof(m, find_mem(m, n, cases[c]), 1, 0);
        repack(m, n, signer, &b);
        assert_fails(&b, BW_CHECK_INCLUSION);
        bw_buf_cleanup(&b);
        free_mems(m, n);
    }
    for (int since = 0; since <= 1; since++) {
        bw_buf_cleanup(&a);
        assert_int_equal(export_pack(NULL, since ? 1700000000000 + 21 : 0, 1, &a), BW_OK);
        size_t n = unpack(&a, m, 200);
        rewrite_proof(m, find_mem(m, n, "proofs/00000000000000000033"), 0, 1);
        repack(m, n, signer, &b);
        assert_true(verify_buf(&b, 0, &r));
        bw_buf_cleanup(&b);
        free_mems(m, n);
    }
    bw_buf_cleanup(&a);
}

/* ledger.sign_each: the pack carries envelopes/<i>.dsse.json after each proof and the
 * receipt-signatures check verifies them; a changed signature, a payload that is not the
 * receipt, or an envelope out of place is rejected. */
static void test_signed_receipts(void **state) {
    (void)state;
    char sdir[96], sdata[64], svkey[BW_NOTE_VKEY_MAX];
    snprintf(sdata, sizeof sdata, "/tmp/bw_evidence_dsse.XXXXXX");
    assert_non_null(mkdtemp(sdata));
    snprintf(sdir, sizeof sdir, "%s/ledger", sdata);
    assert_int_equal(mkdir(sdir, 0700), 0);
    uint8_t ph[32];
    bw_sha256(policy_text, sizeof policy_text - 1, ph);
    gen_sign_each = 1;
    gen_log(sdir, 12, 5, ph, svkey);
    gen_sign_each = 0;
    struct bw_note_verifier st;
    struct bw_note_signer *ss = NULL;
    assert_int_equal(bw_note_verifier_parse(svkey, strlen(svkey), &st), BW_OK);
    assert_int_equal(bw_ledger_load_signer(sdir, &ss), BW_OK);
    const char *paths[1] = {policy_path};
    struct bw_evidence_export_opts o = {
        .ledger_dir = sdir,
        .origin = st.name,
        .verifier = &st,
        .since_ms = 0,
        .max_size = UINT64_MAX,
        .policy_paths = paths,
        .n_policy_paths = 1,
        .sign = sign_with,
        .sign_ctx = ss,
    };
    struct bw_buf a, b;
    bw_buf_init(&a, 64u << 20);
    struct bw_evidence_sink sink = {buf_write, &a, 0};
    char why[256];
    assert_int_equal(bw_evidence_export(&o, &sink, why, sizeof why), BW_OK);
    struct bw_evidence_report r;
    struct bw_evidence_verify_opts vo = {0};
    assert_int_equal(bw_evidence_verify(a.ptr, a.len, &st, &vo, &r), BW_OK);
    assert_int_equal(r.status[BW_CHECK_RECEIPT_SIGNATURES], BW_STATUS_PASS);
    assert_string_equal(r.detail[BW_CHECK_RECEIPT_SIGNATURES], "12 of 12 receipts signed");

    struct mem m[200];
    for (int c = 0; c < 3; c++) {
        size_t n = unpack(&a, m, 200);
        size_t e = find_mem(m, n, "envelopes/00000000000000000007");
        if (c == 0) { /* a signature byte changed (re-encoded, so the form stays valid) */
            struct bw_dsse_envelope *env = malloc(sizeof *env);
            assert_int_equal(bw_dsse_envelope_parse(m[e].data.ptr, m[e].data.len, env), BW_OK);
            env->sig[3] ^= 1;
            bw_buf_reset(&m[e].data);
            assert_int_equal(bw_dsse_envelope_encode(env->payload, env->payload_len, env->key_id,
                                                     env->sig, &m[e].data),
                             BW_OK);
            free(env);
        } else if (c == 1) { /* receipt 6's envelope under receipt 7's name */
            size_t e6 = find_mem(m, n, "envelopes/00000000000000000006");
            bw_buf_reset(&m[e].data);
            assert_int_equal(bw_buf_append(&m[e].data, m[e6].data.ptr, m[e6].data.len), BW_OK);
        } else { /* an envelope moved before its proof */
            struct mem t = m[e];
            m[e] = m[e - 1];
            m[e - 1] = t;
        }
        struct bw_buf tmp;
        repack(m, n, ss, &tmp);
        assert_int_equal(bw_evidence_verify(tmp.ptr, tmp.len, &st, &vo, &r), BW_E_CRYPTO);
        assert_int_equal(r.status[c == 2 ? BW_CHECK_PACK_FORMAT : BW_CHECK_RECEIPT_SIGNATURES],
                         BW_STATUS_FAIL);
        bw_buf_cleanup(&tmp);
        free_mems(m, n);
    }
    /* Unsigned packs: nothing to check. */
    assert_int_equal(export_pack(NULL, 0, 1, &b), BW_OK);
    assert_true(verify_buf(&b, 0, &r));
    assert_int_equal(r.status[BW_CHECK_RECEIPT_SIGNATURES], BW_STATUS_SKIP);
    bw_buf_cleanup(&b);
    bw_buf_cleanup(&a);
    bw_note_signer_free(ss);
    const char *names[] = {"signing.key", "origin", "log", "log.lock"};
    char pth[160];
    for (size_t i = 0; i < 4; i++) {
        snprintf(pth, sizeof pth, "%s/%s", sdir, names[i]);
        unlink(pth);
    }
    rmdir(sdir);
    rmdir(sdata);
}

static void test_truncated_and_hostile_container(void **state) {
    (void)state;
    struct bw_buf a, b;
    assert_int_equal(export_pack(NULL, 0, 1, &a), BW_OK);
    size_t full = a.len;
    size_t cuts[] = {full - 1, full - 512, full - 1024, full / 2, 600, 512, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        a.len = cuts[i];
        assert_fails(&a, BW_CHECK_PACK_FORMAT);
    }
    a.len = full;
    /* Path traversal, absolute, and unknown names. */
    const char *names[] = {"../etc/passwd", "/etc/passwd",     "receipts/../x",
                           "x/./y",         "Receipts/1.json", "receipts/1.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        uint8_t hdr[512];
        bw_buf_init(&b, 1u << 20);
        int ok = bw_evidence_tar_header(names[i], 3, hdr) == BW_OK;
        assert_int_equal(ok, i == sizeof names / sizeof names[0] - 1);
        memset(hdr, 0, sizeof hdr);
        /* Hand-made header: the reader must refuse the name itself. */
        memcpy(hdr, names[i], strlen(names[i]));
        assert_int_equal(bw_buf_append(&b, hdr, 512), BW_OK);
        assert_int_equal(bw_buf_append(&b, a.ptr, a.len), BW_OK);
        assert_fails(&b, BW_CHECK_PACK_FORMAT);
        bw_buf_cleanup(&b);
    }
    /* A receipt member over the 4096-byte limit (a valid header for a huge file). */
    bw_buf_init(&b, 1u << 20);
    struct bw_evidence_sink sink = {buf_write, &b, 0};
    uint8_t *big = calloc(1, 5000);
    assert_int_equal(bw_evidence_tar_put(&sink, "receipts/00000000000000000000.json", big, 5000),
                     BW_OK);
    assert_int_equal(bw_evidence_tar_finish(&sink), BW_OK);
    assert_fails(&b, BW_CHECK_PACK_FORMAT);
    struct bw_evidence_tar_reader r;
    struct bw_evidence_tar_entry e;
    bw_evidence_tar_reader_init(&r, b.ptr, b.len);
    assert_int_equal(bw_evidence_tar_next(&r, 4096, &e), BW_E_TOO_LARGE);
    free(big);
    bw_buf_cleanup(&b);
    bw_buf_cleanup(&a);
}

static void test_missing_policy(void **state) {
    (void)state;
    struct bw_buf a;
    struct bw_evidence_report r;
    assert_int_equal(export_pack(NULL, 0, 0, &a), BW_OK);
    assert_fails(&a, BW_CHECK_POLICIES);
    assert_true(verify_buf(&a, 0, &r) == 0);
    assert_int_equal(r.n_missing_policies, 1);
    assert_true(verify_buf(&a, 1, &r));
    assert_int_equal(r.status[BW_CHECK_POLICIES], BW_STATUS_WARN);
    bw_buf_cleanup(&a);
}

static void test_foreign_org_and_noncanonical_receipt(void **state) {
    (void)state;
    struct bw_buf a, b;
    struct mem m[200];
    assert_int_equal(export_pack("org_b", 0, 1, &a), BW_OK);
    size_t n = unpack(&a, m, 200);
    /* Turn an org_b receipt into org_a's by editing its bytes (same length). */
    size_t i = find_mem(m, n, "receipts/");
    char *org = strstr((char *)m[i].data.ptr, "\"org_b\"");
    assert_non_null(org);
    org[5] = 'a';
    repack(m, n, signer, &b);
    assert_fails(&b, BW_CHECK_RECEIPT_CANONICAL);
    bw_buf_cleanup(&b);
    free_mems(m, n);
    bw_buf_cleanup(&a);
}

static void test_receipt_profile(void **state) {
    (void)state;
    struct bw_evidence_receipt r;
    const char *why = NULL;
    const char *ok = "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"kind\":"
                     "\"decision\",\"log\":{\"index\":3,\"origin\":\"a/b\"},\"time_ms\":5},"
                     "\"predicateType\":\"https://bulwark.dev/receipt/v1\",\"subject\":[]}";
    assert_int_equal(bw_evidence_receipt_parse((const uint8_t *)ok, strlen(ok), &r, &why), BW_OK);
    assert_int_equal(r.index, 3);
    assert_int_equal(r.has_org_policy, 0);
    const char *with_org =
        "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"kind\":"
        "\"decision\",\"log\":{\"index\":3,\"origin\":\"a/b\"},\"org_policy_sha256\":\""
        "0101010101010101010101010101010101010101010101010101010101010101\",\"time_ms\":5},"
        "\"predicateType\":\"https://bulwark.dev/receipt/v1\",\"subject\":[]}";
    assert_int_equal(
        bw_evidence_receipt_parse((const uint8_t *)with_org, strlen(with_org), &r, &why), BW_OK);
    assert_int_equal(r.has_org_policy, 1);
    assert_int_equal(r.org_policy_sha256[31], 1);
    const char *bad[] = {
        "{\"b\":1,\"a\":2}",        /* member order */
        "{\"a\": 1}",               /* whitespace */
        "{\"a\":1.5}",              /* float */
        "{\"a\":9007199254740992}", /* beyond 2^53-1 */
        "{\"a\":\"\\u00e9\"}",      /* non-ASCII */
        "{\"a\":\"\\/\"}",          /* needless escape */
        "{\"a\":1,\"a\":1}",        /* duplicate key */
        "[1]",                      /* not an object */
        "{\"a\":1}",                /* canonical but not a receipt */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(
            bw_evidence_receipt_parse((const uint8_t *)bad[i], strlen(bad[i]), &r, &why), BW_OK);
}

static void test_proof_text(void **state) {
    (void)state;
    struct bw_evidence_proof *p = malloc(sizeof *p);
    const char *good = "c2sp.org/tlog-proof@v1\nextra AAAA\nindex 0\n\nnote\n";
    assert_int_equal(bw_evidence_proof_decode(good, strlen(good), p), BW_OK);
    assert_int_equal(p->n, 0);
    const char *bad[] = {
        "c2sp.org/tlog-proof@v2\nindex 0\n\nx",
        "c2sp.org/tlog-proof@v1\nindex 01\n\nx",
        "c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\nx",
        "c2sp.org/tlog-proof@v1\nindex 0\n\n",
        "c2sp.org/tlog-proof@v1\nindex 0\n",
        "c2sp.org/tlog-proof@v1\nindex -1\n\nx",
        "c2sp.org/tlog-proof@v1\nextra \nindex 0\n\nx", /* extra: base64 of 1+ bytes */
        "c2sp.org/tlog-proof@v1\nextra !!notbase64!!\nindex 0\n\nx",
        "c2sp.org/tlog-proof@v1\nextra AAA\nindex 0\n\nx",
        "c2sp.org/tlog-proof@v1\nextra A=AA\nindex 0\n\nx",
        "c2sp.org/tlog-proof@v1\nextra AAAA\nextra AAAA\nindex 0\n\nx", /* at most one */
        "c2sp.org/tlog-proof@v1\nindex 0\nextra AAAA\n\nx", /* after the first line only */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bw_evidence_proof_decode(bad[i], strlen(bad[i]), p), BW_E_INVALID);
    /* More hashes than any proof may have. */
    struct bw_buf b;
    bw_buf_init(&b, 1u << 16);
    assert_int_equal(bw_buf_append_str(&b, "c2sp.org/tlog-proof@v1\nindex 0\n"), BW_OK);
    for (int i = 0; i <= BW_EVIDENCE_MAX_PROOF; i++)
        assert_int_equal(bw_buf_append_str(&b, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
                         BW_OK);
    assert_int_equal(bw_buf_append_str(&b, "\nx"), BW_OK);
    assert_int_equal(bw_evidence_proof_decode((const char *)b.ptr, b.len, p), BW_E_INVALID);
    bw_buf_cleanup(&b);
    free(p);
}

static const uint8_t *test_leaf(void *ctx, uint64_t i) {
    return ((const uint8_t(*)[32])ctx)[i];
}

static void test_merkle_cache_matches_reference(void **state) {
    (void)state;
    enum { MAXN = 70 };
    static uint8_t leaves[MAXN][32];
    for (int i = 0; i < MAXN; i++)
        bw_merkle_leaf_hash(&i, sizeof i, leaves[i]);
    struct bw_merkle_cache *c = NULL;
    assert_int_equal(bw_merkle_cache_new((const uint8_t(*)[32])leaves, MAXN, &c), BW_OK);
    uint8_t a[BW_MERKLE_MAX_PROOF][32], b[BW_MERKLE_MAX_PROOF][32], ra[32], rb[32];
    for (uint64_t size = 0; size <= MAXN; size++) {
        assert_int_equal(bw_merkle_cache_root(c, size, ra), BW_OK);
        bw_merkle_root(test_leaf, leaves, size, rb);
        assert_memory_equal(ra, rb, 32);
        for (uint64_t i = 0; i < size; i++) {
            size_t la = 0, lb = 0;
            assert_int_equal(bw_merkle_cache_inclusion(c, i, size, a, BW_MERKLE_MAX_PROOF, &la),
                             BW_OK);
            assert_int_equal(
                bw_merkle_inclusion_proof(test_leaf, leaves, i, size, b, BW_MERKLE_MAX_PROOF, &lb),
                BW_OK);
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la * 32);
        }
        for (uint64_t old = 1; old <= size; old++) {
            size_t la = 0, lb = 0;
            assert_int_equal(bw_merkle_cache_consistency(c, old, size, a, BW_MERKLE_MAX_PROOF, &la),
                             BW_OK);
            assert_int_equal(bw_merkle_consistency_proof(test_leaf, leaves, old, size, b,
                                                         BW_MERKLE_MAX_PROOF, &lb),
                             BW_OK);
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la * 32);
        }
    }
    assert_int_equal(bw_merkle_cache_root(c, MAXN + 1, ra), BW_E_INVALID);
    bw_merkle_cache_free(c);
}

static void test_statement_domain_separation(void **state) {
    (void)state;
    struct bw_buf out;
    bw_buf_init(&out, 8192);
    const char *cp = "x/y\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    assert_int_equal(bw_ledger_sign_statement(signer, cp, strlen(cp), &out), BW_E_INVALID);
    bw_buf_cleanup(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_verifies_and_is_deterministic),
        cmocka_unit_test(test_org_and_since),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_removed_receipt),
        cmocka_unit_test(test_reordered_pair),
        cmocka_unit_test(test_foreign_and_forked_checkpoints),
        cmocka_unit_test(test_proof_length),
        cmocka_unit_test(test_tree_fast_path),
        cmocka_unit_test(test_signed_receipts),
        cmocka_unit_test(test_truncated_and_hostile_container),
        cmocka_unit_test(test_missing_policy),
        cmocka_unit_test(test_foreign_org_and_noncanonical_receipt),
        cmocka_unit_test(test_receipt_profile),
        cmocka_unit_test(test_proof_text),
        cmocka_unit_test(test_merkle_cache_matches_reference),
        cmocka_unit_test(test_statement_domain_separation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
