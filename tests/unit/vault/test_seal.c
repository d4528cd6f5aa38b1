/* Unit tests: vault/ sealing (seal.h): round trips, binding to org and record id, tampering,
 * wrong master key, rotation (re-wrap), the record decoder's limits, fingerprints. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vault/master.h"
#include "vault/seal.h"

#define ORG "org_0123456789abcdef"
#define REC "sec_0123456789abcdef"
#define SECRET "sk-test-0123456789abcdefghijklmnopqrstuvwxyz-WXYZ"

/* Loads a master key from given bytes through the real loader (BULWARK_MASTER_KEY). */
static struct bw_master *master_from(const uint8_t key[BW_MASTER_KEY_BYTES]) {
    char b64[sodium_base64_ENCODED_LEN(BW_MASTER_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, key, BW_MASTER_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(setenv(BW_MASTER_ENV, b64, 1), 0);
    struct bw_master *m = NULL;
    assert_int_equal(bw_master_load("/nonexistent/master.key", &m), BW_OK);
    unsetenv(BW_MASTER_ENV);
    sodium_memzero(b64, sizeof b64);
    return m;
}

static struct bw_master *master_random(void) {
    uint8_t key[BW_MASTER_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    struct bw_master *m = master_from(key);
    sodium_memzero(key, sizeof key);
    return m;
}

struct sealed {
    uint8_t bytes[BW_VAULT_SEALED_MAX];
    size_t len;
};

static void seal_ok(const struct bw_master *m, const char *org, const char *rec, const void *s,
                    size_t n, struct sealed *out) {
    assert_int_equal(bw_vault_seal(m, org, rec, s, n, out->bytes, sizeof out->bytes, &out->len),
                     BW_OK);
    assert_int_equal(out->len, BW_VAULT_SEALED_SIZE(n));
}

static bw_err try_open(const struct bw_master *m, const char *org, const char *rec,
                       const struct sealed *s) {
    struct bw_vault_secret *sec = NULL;
    bw_err e = bw_vault_open(m, org, rec, s->bytes, s->len, &sec);
    if (e == BW_OK)
        bw_vault_secret_free(sec);
    else
        assert_null(sec); /* out-parameters are written only on success */
    return e;
}

static void round_trip(void **state) {
    (void)state;
    struct bw_master *m = master_random();
    static struct sealed a, b;
    seal_ok(m, ORG, REC, SECRET, strlen(SECRET), &a);
    seal_ok(m, ORG, REC, SECRET, strlen(SECRET), &b);
    /* fresh data key and nonces each time: equal secrets do not give equal records */
    assert_memory_not_equal(a.bytes, b.bytes, a.len);
    /* the secret does not appear in the record */
    assert_null(memmem(a.bytes, a.len, SECRET, strlen(SECRET)));
    assert_null(memmem(a.bytes, a.len, "WXYZ", 4));

    struct bw_vault_secret *s = NULL;
    assert_int_equal(bw_vault_open(m, ORG, REC, a.bytes, a.len, &s), BW_OK);
    assert_int_equal(s->len, strlen(SECRET));
    assert_memory_equal(s->bytes, SECRET, s->len);
    assert_int_equal(s->bytes[s->len], 0);
    assert_string_equal((const char *)s->bytes, SECRET);
    bw_vault_secret_free(s);
    bw_vault_secret_free(NULL);

    /* binary secrets with NULs, one byte, and the maximum */
    static const uint8_t bin[] = {0, 1, 2, 0, 255};
    seal_ok(m, ORG, REC, bin, sizeof bin, &a);
    assert_int_equal(bw_vault_open(m, ORG, REC, a.bytes, a.len, &s), BW_OK);
    assert_int_equal(s->len, sizeof bin);
    assert_memory_equal(s->bytes, bin, sizeof bin);
    bw_vault_secret_free(s);
    /* every length: the secret object is aligned (sodium_malloc places blocks at a page's end,
     * so an unpadded odd size would misalign `len`) */
    for (size_t n = 1; n <= 40; n++) {
        seal_ok(m, ORG, REC, SECRET, n, &a);
        assert_int_equal(bw_vault_open(m, ORG, REC, a.bytes, a.len, &s), BW_OK);
        assert_int_equal((uintptr_t)s % _Alignof(struct bw_vault_secret), 0);
        assert_int_equal(s->len, n);
        assert_memory_equal(s->bytes, SECRET, n);
        bw_vault_secret_free(s);
    }
    static uint8_t big[BW_VAULT_SECRET_MAX];
    randombytes_buf(big, sizeof big);
    seal_ok(m, ORG, REC, big, sizeof big, &a);
    assert_int_equal(a.len, BW_VAULT_SEALED_MAX);
    assert_int_equal(bw_vault_open(m, ORG, REC, a.bytes, a.len, &s), BW_OK);
    assert_memory_equal(s->bytes, big, sizeof big);
    bw_vault_secret_free(s);
    bw_master_free(m);
}

static void bound_to_org_and_record(void **state) {
    (void)state;
    struct bw_master *m = master_random();
    static struct sealed a, b, spliced;
    seal_ok(m, ORG, REC, SECRET, strlen(SECRET), &a);
    /* moved to another record id, or another org, it does not open */
    assert_int_equal(try_open(m, ORG, "sec_0123456789abcdee", &a), BW_E_CRYPTO);
    assert_int_equal(try_open(m, "org_0123456789abcdee", REC, &a), BW_E_CRYPTO);
    assert_int_equal(try_open(m, REC, ORG, &a), BW_E_CRYPTO); /* ids swapped */
    /* the ids are length-prefixed: moving a character from one id to the other is a change */
    seal_ok(m, "org_a", "bsec", SECRET, strlen(SECRET), &b);
    assert_int_equal(try_open(m, "org_a", "bsec", &b), BW_OK);
    assert_int_equal(try_open(m, "org_ab", "sec", &b), BW_E_CRYPTO);
    assert_int_equal(try_open(m, "org_", "absec", &b), BW_E_CRYPTO);

    /* splicing: record a's wrapped data key with record b's ciphertext (and the reverse), both
     * under the same org and id, fails: each ciphertext opens only under its own data key */
    seal_ok(m, ORG, REC, "another secret of the same org", 30, &b);
    memcpy(spliced.bytes, a.bytes, BW_VAULT_HEADER_BYTES - 28); /* a's wrap */
    memcpy(spliced.bytes + BW_VAULT_HEADER_BYTES - 28, b.bytes + BW_VAULT_HEADER_BYTES - 28,
           b.len - (BW_VAULT_HEADER_BYTES - 28)); /* b's nonce, length and ciphertext */
    spliced.len = b.len;
    assert_int_equal(try_open(m, ORG, REC, &spliced), BW_E_CRYPTO);
    /* a wrapped data key moved to another record's header does not unwrap there */
    seal_ok(m, ORG, "sec_other", SECRET, strlen(SECRET), &b);
    memcpy(b.bytes + 33, a.bytes + 33, 48);
    memcpy(b.bytes + 9, a.bytes + 9, 24);
    assert_int_equal(try_open(m, ORG, "sec_other", &b), BW_E_CRYPTO);
    bw_master_free(m);
}

static void every_flipped_bit_fails(void **state) {
    (void)state;
    struct bw_master *m = master_random();
    static struct sealed a, t;
    seal_ok(m, ORG, REC, SECRET, strlen(SECRET), &a);
    for (size_t i = 0; i < a.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            t = a;
            t.bytes[i] ^= (uint8_t)(1u << bit);
            bw_err e = try_open(m, ORG, REC, &t);
            if (i == 0) /* version: the decoder refuses */
                assert_int_equal(e, BW_E_INVALID);
            else if (i >= 105 && i < 109) /* length field: inconsistent or over the cap */
                assert_true(e == BW_E_INVALID || e == BW_E_TOO_LARGE);
            else if (i >= 1 && i < 9) /* master id: names another key */
                assert_int_equal(e, BW_E_NOT_FOUND);
            else
                assert_int_equal(e, BW_E_CRYPTO);
        }
    }
    bw_master_free(m);
}

static void wrong_master(void **state) {
    (void)state;
    struct bw_master *m = master_random(), *other = master_random();
    static struct sealed a;
    seal_ok(m, ORG, REC, SECRET, strlen(SECRET), &a);
    assert_int_equal(try_open(other, ORG, REC, &a), BW_E_NOT_FOUND);
    /* relabelled with the other key's id, it still does not open: the wrap is keyed by a KEK of
     * the master that made it, and its associated data holds the original id */
    uint8_t other_id[BW_VAULT_MASTER_ID_BYTES];
    assert_int_equal(bw_vault_master_id(other, other_id), BW_OK);
    memcpy(a.bytes + 1, other_id, sizeof other_id);
    assert_int_equal(try_open(other, ORG, REC, &a), BW_E_CRYPTO);
    assert_int_equal(try_open(m, ORG, REC, &a), BW_E_NOT_FOUND);

    /* the master id: stable for a key, different between keys, not the key's own bytes */
    uint8_t key[BW_MASTER_KEY_BYTES];
    memset(key, 0x42, sizeof key);
    struct bw_master *k1 = master_from(key), *k2 = master_from(key);
    uint8_t id1[BW_VAULT_MASTER_ID_BYTES], id2[BW_VAULT_MASTER_ID_BYTES];
    assert_int_equal(bw_vault_master_id(k1, id1), BW_OK);
    assert_int_equal(bw_vault_master_id(k2, id2), BW_OK);
    assert_memory_equal(id1, id2, sizeof id1);
    assert_memory_not_equal(id1, key, sizeof id1);
    assert_memory_not_equal(id1, other_id, sizeof id1);
    /* a record sealed under k1 opens under an equal key loaded separately */
    seal_ok(k1, ORG, REC, SECRET, strlen(SECRET), &a);
    assert_int_equal(try_open(k2, ORG, REC, &a), BW_OK);
    bw_master_free(k1);
    bw_master_free(k2);
    bw_master_free(m);
    bw_master_free(other);
}

static void rotate(void **state) {
    (void)state;
    struct bw_master *old_m = master_random(), *new_m = master_random(), *third = master_random();
    static struct sealed a, r, r2, t;
    seal_ok(old_m, ORG, REC, SECRET, strlen(SECRET), &a);
    assert_int_equal(
        bw_vault_rewrap(old_m, new_m, ORG, REC, a.bytes, a.len, r.bytes, sizeof r.bytes, &r.len),
        BW_OK);
    assert_int_equal(r.len, a.len);
    /* the secret's nonce, length and ciphertext are untouched; the wrap is new */
    assert_memory_equal(r.bytes + 81, a.bytes + 81, a.len - 81);
    assert_memory_not_equal(r.bytes + 1, a.bytes + 1, 8);
    assert_memory_not_equal(r.bytes + 9, a.bytes + 9, 24 + 48);
    uint8_t new_id[BW_VAULT_MASTER_ID_BYTES];
    assert_int_equal(bw_vault_master_id(new_m, new_id), BW_OK);
    assert_memory_equal(r.bytes + 1, new_id, sizeof new_id);
    struct bw_vault_secret *s = NULL;
    assert_int_equal(bw_vault_open(new_m, ORG, REC, r.bytes, r.len, &s), BW_OK);
    assert_string_equal((const char *)s->bytes, SECRET);
    bw_vault_secret_free(s);
    assert_int_equal(try_open(old_m, ORG, REC, &r), BW_E_NOT_FOUND);

    /* running the rotation again is harmless: the record is authenticated and copied as is */
    assert_int_equal(
        bw_vault_rewrap(old_m, new_m, ORG, REC, r.bytes, r.len, r2.bytes, sizeof r2.bytes, &r2.len),
        BW_OK);
    assert_int_equal(r2.len, r.len);
    assert_memory_equal(r2.bytes, r.bytes, r.len);

    /* a record wrapped by neither key */
    assert_int_equal(
        bw_vault_rewrap(third, new_m, ORG, REC, a.bytes, a.len, r2.bytes, sizeof r2.bytes, &r2.len),
        BW_E_NOT_FOUND);
    /* a record moved to another id is not re-wrapped (and so not laundered into the new id) */
    assert_int_equal(bw_vault_rewrap(old_m, new_m, ORG, "sec_moved", a.bytes, a.len, r2.bytes,
                                     sizeof r2.bytes, &r2.len),
                     BW_E_CRYPTO);
    /* a corrupted secret ciphertext is refused although its wrap is intact; out is wiped */
    t = a;
    t.bytes[t.len - 1] ^= 1;
    memset(r2.bytes, 0xAA, sizeof r2.bytes);
    size_t untouched = 12345;
    assert_int_equal(bw_vault_rewrap(old_m, new_m, ORG, REC, t.bytes, t.len, r2.bytes,
                                     sizeof r2.bytes, &untouched),
                     BW_E_CRYPTO);
    assert_int_equal(untouched, 12345);
    for (size_t i = 0; i < t.len; i++)
        assert_true(r2.bytes[i] == 0 || r2.bytes[i] == 0xAA);
    /* the output buffer must hold the whole record */
    assert_int_equal(
        bw_vault_rewrap(old_m, new_m, ORG, REC, a.bytes, a.len, r2.bytes, a.len - 1, &r2.len),
        BW_E_TOO_LARGE);
    bw_master_free(old_m);
    bw_master_free(new_m);
    bw_master_free(third);
}

static void decoder_limits(void **state) {
    (void)state;
    struct bw_master *m = master_random();
    static struct sealed a, t;
    struct bw_vault_sealed v;
    seal_ok(m, ORG, REC, SECRET, strlen(SECRET), &a);
    assert_int_equal(bw_vault_sealed_parse(a.bytes, a.len, &v), BW_OK);
    assert_int_equal(v.version, 1);
    assert_int_equal(v.ciphertext_len, strlen(SECRET) + 16);
    assert_ptr_equal(v.ciphertext, a.bytes + BW_VAULT_HEADER_BYTES);
    /* every truncation, and one trailing byte */
    for (size_t n = 0; n < a.len; n++)
        assert_int_equal(bw_vault_sealed_parse(a.bytes, n, &v), BW_E_INVALID);
    t = a;
    t.bytes[a.len] = 0;
    assert_int_equal(bw_vault_sealed_parse(t.bytes, a.len + 1, &v), BW_E_INVALID);
    assert_int_equal(bw_vault_sealed_parse(NULL, 0, &v), BW_E_INVALID);
    /* versions 0 and 2 are unknown */
    t.bytes[0] = 0;
    assert_int_equal(bw_vault_sealed_parse(t.bytes, a.len, &v), BW_E_INVALID);
    t.bytes[0] = 2;
    assert_int_equal(bw_vault_sealed_parse(t.bytes, a.len, &v), BW_E_INVALID);
    /* length field: empty secret (16), over the cap, overflowing values */
    static const uint32_t bad_len[] = {0,           15,         16, BW_VAULT_SECRET_MAX + 17,
                                       0x7fffffffu, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_len / sizeof *bad_len; i++) {
        t = a;
        t.bytes[105] = (uint8_t)(bad_len[i] >> 24);
        t.bytes[106] = (uint8_t)(bad_len[i] >> 16);
        t.bytes[107] = (uint8_t)(bad_len[i] >> 8);
        t.bytes[108] = (uint8_t)bad_len[i];
        assert_int_not_equal(bw_vault_sealed_parse(t.bytes, a.len, &v), BW_OK);
    }
    /* a header alone with a length of 17 but no ciphertext */
    t = a;
    t.bytes[105] = t.bytes[106] = t.bytes[107] = 0;
    t.bytes[108] = 17;
    assert_int_equal(bw_vault_sealed_parse(t.bytes, BW_VAULT_HEADER_BYTES, &v), BW_E_INVALID);
    assert_int_equal(bw_vault_sealed_parse(t.bytes, BW_VAULT_HEADER_BYTES + 17, &v), BW_OK);
    bw_master_free(m);
}

static void seal_limits(void **state) {
    (void)state;
    struct bw_master *m = master_random();
    static struct sealed a;
    static uint8_t big[BW_VAULT_SECRET_MAX + 1];
    size_t len = 999;
    assert_int_equal(bw_vault_seal(m, ORG, REC, big, 0, a.bytes, sizeof a.bytes, &len),
                     BW_E_INVALID);
    assert_int_equal(bw_vault_seal(m, ORG, REC, big, sizeof big, a.bytes, sizeof a.bytes, &len),
                     BW_E_TOO_LARGE);
    assert_int_equal(
        bw_vault_seal(m, ORG, REC, big, 10, a.bytes, BW_VAULT_SEALED_SIZE(10) - 1, &len),
        BW_E_TOO_LARGE);
    assert_int_equal(len, 999);
    assert_int_equal(bw_vault_seal(m, ORG, REC, big, 10, a.bytes, BW_VAULT_SEALED_SIZE(10), &len),
                     BW_OK);
    char long_id[BW_VAULT_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    const char *bad_ids[] = {NULL, "", "with space", "tab\t", "caf\xc3\xa9", long_id};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        assert_int_equal(bw_vault_seal(m, bad_ids[i], REC, big, 10, a.bytes, sizeof a.bytes, &len),
                         BW_E_INVALID);
        assert_int_equal(bw_vault_seal(m, ORG, bad_ids[i], big, 10, a.bytes, sizeof a.bytes, &len),
                         BW_E_INVALID);
    }
    long_id[BW_VAULT_ID_MAX] = 0; /* exactly the maximum is fine */
    seal_ok(m, long_id, long_id, "s", 1, &a);
    assert_int_equal(try_open(m, long_id, long_id, &a), BW_OK);
    struct bw_vault_secret *s = NULL;
    assert_int_equal(bw_vault_open(m, "", REC, a.bytes, a.len, &s), BW_E_INVALID);
    assert_int_equal(bw_vault_open(NULL, ORG, REC, a.bytes, a.len, &s), BW_E_INVALID);
    assert_null(s);
    bw_master_free(m);
}

static void fingerprint(void **state) {
    (void)state;
    char fp[BW_VAULT_FINGERPRINT_SIZE];
    bw_vault_fingerprint((const uint8_t *)SECRET, strlen(SECRET), fp);
    assert_string_equal(fp, "\xe2\x80\xa6WXYZ");
    /* below the minimum length nothing is revealed */
    bw_vault_fingerprint((const uint8_t *)"0123456789abcde", 15, fp);
    assert_string_equal(fp, "\xe2\x80\xa6");
    bw_vault_fingerprint((const uint8_t *)"0123456789abcdef", 16, fp);
    assert_string_equal(fp, "\xe2\x80\xa6"
                            "cdef");
    bw_vault_fingerprint(NULL, 0, fp);
    assert_string_equal(fp, "\xe2\x80\xa6");
    /* a tail that is not printable ASCII (binary key, UTF-8, spaces) is not shown */
    bw_vault_fingerprint((const uint8_t *)"0123456789abcd\xc3\xa9", 16, fp);
    assert_string_equal(fp, "\xe2\x80\xa6");
    bw_vault_fingerprint((const uint8_t *)"0123456789abc de", 16, fp);
    assert_string_equal(fp, "\xe2\x80\xa6");
    /* for any secret: at most 4 characters after the ellipsis, and they are its last 4 */
    for (int i = 0; i < 2000; i++) {
        uint8_t sec[64];
        size_t n = 1 + randombytes_uniform(sizeof sec);
        for (size_t j = 0; j < n; j++)
            sec[j] = (uint8_t)(0x20 + randombytes_uniform(0x60));
        bw_vault_fingerprint(sec, n, fp);
        size_t fl = strlen(fp);
        assert_true(fl == 3 || fl == 7);
        assert_memory_equal(fp, "\xe2\x80\xa6", 3);
        if (fl == 7)
            assert_memory_equal(fp + 3, sec + n - 4, 4);
    }
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(bound_to_org_and_record),
        cmocka_unit_test(every_flipped_bit_fails),
        cmocka_unit_test(wrong_master),
        cmocka_unit_test(rotate),
        cmocka_unit_test(decoder_limits),
        cmocka_unit_test(seal_limits),
        cmocka_unit_test(fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
