/* test_dsse.c: per-receipt DSSE signatures (ledger/dsse.h): PAE bytes, sign/verify, the strict
 * envelope form, domain separation of the raw signer, and the ledger with sign_each (S frames
 * written, read back, accepted by recovery only right after their receipt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <cmocka.h>

#include "ledger/dsse.h"
#include "ledger/ledger.h"
#include "ledger/log_frame.h"
#include "ledger/note.h"
#include "util/codec.h"

#define NAME "test.bulwark.dev/dsse"

static struct bw_note_signer *signer;
static struct bw_note_verifier verifier;
static const char receipt[] = "{\"_type\":\"https://in-toto.io/Statement/v1\",\"x\":1}";

static int setup(void **state) {
    (void)state;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    char vkey[BW_NOTE_VKEY_MAX];
    if (bw_note_signer_new(NAME, seed, &signer) != BW_OK ||
        bw_note_signer_vkey(signer, vkey, sizeof vkey) != BW_OK ||
        bw_note_verifier_parse(vkey, strlen(vkey), &verifier) != BW_OK)
        return -1;
    return evthread_use_pthreads();
}

static int teardown(void **state) {
    (void)state;
    bw_note_signer_free(signer);
    return 0;
}

static void test_pae(void **state) {
    (void)state;
    struct bw_buf b;
    bw_buf_init(&b, 1024);
    assert_int_equal(bw_dsse_pae((const uint8_t *)"{}", 2, &b), BW_OK);
    /* DSSE protocol.md: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body */
    assert_string_equal((const char *)b.ptr, "DSSEv1 36 application/vnd.bulwark.receipt+json 2 {}");
    bw_buf_cleanup(&b);
}

/* tmpl with "SIG" replaced by sig, or "SHORTSIG" by sig less its last 4 characters. */
static void with_sig(char *out, size_t size, const char *tmpl, const char *sig) {
    const char *at = strstr(tmpl, "SHORTSIG");
    size_t mark = 8, keep = strlen(sig) - 4;
    if (!at) {
        at = strstr(tmpl, "SIG");
        mark = 3;
        keep = strlen(sig);
    }
    assert_non_null(at);
    snprintf(out, size, "%.*s%.*s%s", (int)(at - tmpl), tmpl, (int)keep, sig, at + mark);
}

static void test_sign_verify_envelope(void **state) {
    (void)state;
    const uint8_t *p = (const uint8_t *)receipt;
    size_t n = sizeof receipt - 1;
    uint8_t sig[64];
    assert_int_equal(bw_dsse_sign(signer, p, n, sig), BW_OK);
    assert_int_equal(bw_dsse_verify(&verifier, p, n, sig), BW_OK);
    /* Ed25519 is deterministic: the same receipt always gets the same signature. */
    uint8_t again[64];
    assert_int_equal(bw_dsse_sign(signer, p, n, again), BW_OK);
    assert_memory_equal(sig, again, 64);
    sig[10] ^= 1;
    assert_int_equal(bw_dsse_verify(&verifier, p, n, sig), BW_E_CRYPTO);
    sig[10] ^= 1;
    char other[sizeof receipt];
    memcpy(other, receipt, sizeof receipt);
    other[n - 2] = '2';
    assert_int_equal(bw_dsse_verify(&verifier, (const uint8_t *)other, n, sig), BW_E_CRYPTO);
    /* not a receipt: empty, control byte, too large */
    assert_int_equal(bw_dsse_sign(signer, p, 0, sig), BW_E_INVALID);
    assert_int_equal(bw_dsse_sign(signer, (const uint8_t *)"a\nb", 3, sig), BW_E_INVALID);
    uint8_t *big = malloc(BW_RECEIPT_MAX_BYTES + 1);
    memset(big, 'a', BW_RECEIPT_MAX_BYTES + 1);
    assert_int_equal(bw_dsse_sign(signer, big, BW_RECEIPT_MAX_BYTES + 1, sig), BW_E_INVALID);
    assert_int_equal(bw_dsse_sign(signer, big, BW_RECEIPT_MAX_BYTES, sig), BW_OK);

    struct bw_buf env;
    bw_buf_init(&env, BW_DSSE_ENVELOPE_MAX);
    assert_int_equal(bw_dsse_envelope_encode(big, BW_RECEIPT_MAX_BYTES, verifier.key_id, sig, &env),
                     BW_OK);
    assert_true(env.len <= BW_DSSE_ENVELOPE_MAX);
    free(big);
    bw_buf_reset(&env);
    assert_int_equal(bw_dsse_sign(signer, p, n, sig), BW_OK);
    assert_int_equal(bw_dsse_envelope_encode(p, n, verifier.key_id, sig, &env), BW_OK);
    char want[512], b64[128], sigb64[128], hex[9];
    assert_int_equal(bw_b64_encode(p, n, b64, sizeof b64), BW_OK);
    assert_int_equal(bw_b64_encode(sig, 64, sigb64, sizeof sigb64), BW_OK);
    assert_int_equal(bw_hex_encode(verifier.key_id, 4, hex, sizeof hex), BW_OK);
    snprintf(want, sizeof want,
             "{\"payload\":\"%s\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
             "\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}",
             b64, hex, sigb64);
    assert_string_equal((const char *)env.ptr, want);

    struct bw_dsse_envelope *e = malloc(sizeof *e);
    assert_int_equal(bw_dsse_envelope_parse(env.ptr, env.len, e), BW_OK);
    assert_int_equal(e->payload_len, n);
    assert_memory_equal(e->payload, p, n);
    assert_memory_equal(e->key_id, verifier.key_id, 4);
    assert_memory_equal(e->sig, sig, 64);
    /* Every truncation, and every single-byte change outside the base64 values, is refused. */
    for (size_t cut = 0; cut < env.len; cut++)
        assert_int_equal(bw_dsse_envelope_parse(env.ptr, cut, e), BW_E_INVALID);
    const char *variants[] = {
        "{\"payload\": \"e30=\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
        "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SIG\"}]}",
        "{\"payloadType\":\"application/vnd.bulwark.receipt+json\",\"payload\":\"e30=\","
        "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SIG\"}]}",
        "{\"payload\":\"e30\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
        "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SIG\"}]}",
        "{\"payload\":\"e31=\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
        "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SIG\"}]}",
        "{\"payload\":\"e30=\",\"payloadType\":\"application/json\","
        "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SIG\"}]}",
        "{\"payload\":\"e30=\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
        "\"signatures\":[{\"keyid\":\"0000000A\",\"sig\":\"SIG\"}]}",
        "{\"payload\":\"e30=\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
        "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SIG\"}]} ",
        "{\"payload\":\"e30=\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
        "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SHORTSIG\"}]}",
        "{\"payload\":\"\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
        "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SIG\"}]}",
    };
    char text[600];
    with_sig(text, sizeof text,
             "{\"payload\":\"e30=\",\"payloadType\":\"application/vnd.bulwark.receipt+json\","
             "\"signatures\":[{\"keyid\":\"00000000\",\"sig\":\"SIG\"}]}",
             sigb64);
    assert_int_equal(bw_dsse_envelope_parse((const uint8_t *)text, strlen(text), e), BW_OK);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        with_sig(text, sizeof text, variants[i], sigb64);
        if (bw_dsse_envelope_parse((const uint8_t *)text, strlen(text), e) != BW_E_INVALID)
            fail_msg("variant %zu accepted", i);
    }
    free(e);
    bw_buf_cleanup(&env);
}

static void test_raw_signer_domain(void **state) {
    (void)state;
    uint8_t sig[64];
    const char *body = NAME "\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    assert_int_equal(bw_note_signer_sign_pae(signer, (const uint8_t *)body, strlen(body), sig),
                     BW_E_INVALID);
    const char *nl = "DSSEv1 1 x 3 a\nb";
    assert_int_equal(bw_note_signer_sign_pae(signer, (const uint8_t *)nl, strlen(nl), sig),
                     BW_E_INVALID);
    const char *ok = "DSSEv1 1 x 1 a";
    assert_int_equal(bw_note_signer_sign_pae(signer, (const uint8_t *)ok, strlen(ok), sig), BW_OK);
}

struct waiter {
    struct event_base *base;
    int left;
    bw_err err;
};

static void on_done(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct waiter *w = arg;
    if (err != BW_OK)
        w->err = err;
    if (--w->left == 0)
        event_base_loopbreak(w->base);
}

static void append_some(struct bw_ledger *l, int n) {
    struct waiter w = {event_base_new(), n, BW_OK};
    for (int i = 0; i < n; i++) {
        struct bw_receipt r;
        bw_receipt_init(&r, BW_RECEIPT_DECISION);
        r.time_ms = 1700000000000 + i;
        snprintf(r.org_id, sizeof r.org_id, "org_a");
        bw_ledger_append(l, &r, w.base, on_done, &w);
    }
    event_base_loop(w.base, EVLOOP_NO_EXIT_ON_EMPTY);
    assert_int_equal(w.err, BW_OK);
    event_base_free(w.base);
}

static void test_ledger_sign_each(void **state) {
    (void)state;
    char dir[] = "/tmp/bw_dsse_test.XXXXXX", vkey[BW_NOTE_VKEY_MAX], path[128];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(bw_ledger_create(dir, "test.bulwark.dev/dsse", vkey, sizeof vkey), BW_OK);
    struct bw_note_verifier v;
    assert_int_equal(bw_note_verifier_parse(vkey, strlen(vkey), &v), BW_OK);
    struct bw_ledger_opts o = {.batch_max = 4, .sign_each = 1};
    struct bw_ledger *l = NULL;
    assert_int_equal(bw_ledger_open(dir, &o, &l), BW_OK);
    append_some(l, 10);
    o.sign_each = 0;
    bw_ledger_close(l);
    /* Reopen without signing: recovery accepts the S frames; new receipts are unsigned. */
    assert_int_equal(bw_ledger_open(dir, &o, &l), BW_OK);
    assert_int_equal(bw_ledger_size(l), 10);
    assert_false(bw_ledger_frozen(l));
    append_some(l, 3);
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    for (uint64_t i = 0; i < 13; i++) {
        uint8_t sig[64];
        int has = -1;
        bw_buf_reset(&b);
        assert_int_equal(bw_ledger_read_receipt_sig(l, i, &b, sig, &has), BW_OK);
        assert_int_equal(has, i < 10);
        if (has)
            assert_int_equal(bw_dsse_verify(&v, b.ptr, b.len, sig), BW_OK);
    }
    assert_memory_equal(bw_ledger_key_id(l), v.key_id, 4);
    bw_ledger_close(l);
    bw_buf_cleanup(&b);

    const char *names[] = {"signing.key", "origin", "log", "log.lock"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static bw_err count_leaf(void *ctx, uint64_t index, uint64_t offset, const uint8_t leaf[32]) {
    (void)index;
    (void)offset;
    (void)leaf;
    (*(uint64_t *)ctx)++;
    return BW_OK;
}

static void test_scan_signature_frames(void **state) {
    (void)state;
    /* R S C is a clean log; C S (a signature not after a receipt) stops the walk there. */
    uint8_t root[32], sig[64];
    memset(sig, 7, sizeof sig);
    struct bw_buf log, body, note;
    bw_buf_init(&log, 1 << 16);
    bw_buf_init(&body, 8192);
    bw_buf_init(&note, 8192);
    const uint8_t *p = (const uint8_t *)receipt;
    size_t n = sizeof receipt - 1;
    uint8_t leaf[32];
    bw_merkle_leaf_hash(p, n, leaf);
    uint8_t hdr[5] = {'R', 0, 0, 0, (uint8_t)n};
    assert_int_equal(bw_buf_append(&log, hdr, 5), BW_OK);
    assert_int_equal(bw_buf_append(&log, p, n), BW_OK);
    assert_int_equal(bw_buf_append(&log, leaf, 32), BW_OK);
    assert_int_equal(bw_ledger_frame_append_signature(&log, sig), BW_OK);
    struct bw_merkle_frontier fr;
    bw_merkle_frontier_init(&fr);
    assert_int_equal(bw_merkle_frontier_append(&fr, leaf), BW_OK);
    bw_merkle_frontier_root(&fr, root);
    assert_int_equal(bw_note_checkpoint_body(NAME, 1, root, &body), BW_OK);
    assert_int_equal(bw_note_sign(signer, (const char *)body.ptr, body.len, &note), BW_OK);
    assert_int_equal(bw_ledger_frame_append_checkpoint(&log, (const char *)note.ptr, note.len),
                     BW_OK);
    size_t clean = log.len;
    uint64_t leaves = 0;
    struct bw_ledger_scan sc;
    assert_int_equal(bw_ledger_scan(log.ptr, log.len, NAME, &verifier, count_leaf, &leaves, &sc),
                     BW_OK);
    assert_false(sc.frozen);
    assert_int_equal(sc.keep_len, clean);
    assert_int_equal(sc.leaves, 1);
    assert_int_equal(bw_ledger_frame_append_signature(&log, sig), BW_OK);
    assert_int_equal(bw_ledger_scan(log.ptr, log.len, NAME, &verifier, count_leaf, &leaves, &sc),
                     BW_OK);
    assert_false(sc.frozen);
    assert_int_equal(sc.keep_len, clean); /* the stray S frame is a torn tail */
    /* an S frame of the wrong length does not parse */
    struct bw_ledger_frame f;
    log.ptr[clean + 4] = 63;
    assert_int_equal(bw_ledger_frame_parse(log.ptr, log.len, clean, &f), BW_E_INVALID);
    bw_buf_cleanup(&log);
    bw_buf_cleanup(&body);
    bw_buf_cleanup(&note);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pae),
        cmocka_unit_test(test_sign_verify_envelope),
        cmocka_unit_test(test_raw_signer_domain),
        cmocka_unit_test(test_ledger_sign_each),
        cmocka_unit_test(test_scan_signature_frames),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
