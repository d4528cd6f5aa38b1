/* test_note.c: C2SP signed-note / tlog-checkpoint signing and verification. The golden note and
 * verifier key were produced independently (Python `cryptography`, see docs/EVIDENCE.md), so
 * the known-answer test checks this code against the format, not against itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger/note.h"

#define GOLDEN_DIR "tests/unit/ledger/golden/"
#define NAME "example.com/bulwark/test-log"

static char golden_note[1024], golden_vkey[256];
static size_t golden_note_len;

static size_t read_file(const char *name, char *out, size_t size) {
    char path[256];
    snprintf(path, sizeof path, GOLDEN_DIR "%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    fclose(f);
    out[n] = 0;
    return n;
}

static int setup(void **state) {
    (void)state;
    golden_note_len = read_file("checkpoint.note", golden_note, sizeof golden_note);
    size_t n = read_file("checkpoint.vkey", golden_vkey, sizeof golden_vkey);
    if (n && golden_vkey[n - 1] == '\n')
        golden_vkey[n - 1] = 0;
    return 0;
}

static void seed_of(uint8_t seed[32], uint8_t start) {
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(start + i);
}

static const uint8_t root7[32] = {0xdd, 0xb8, 0x9b, 0xe4, 0x03, 0x80, 0x9e, 0x32, 0x57, 0x50, 0xd3,
                                  0xd2, 0x63, 0xcd, 0x78, 0x92, 0x9c, 0x29, 0x42, 0xb7, 0x94, 0x2a,
                                  0x34, 0xb7, 0x7e, 0x12, 0x2c, 0x95, 0x94, 0xa7, 0x4c, 0x8c};

static bw_err verify_with(const char *vkey, const char *note, size_t len, size_t *text_len) {
    struct bw_note_verifier v;
    assert_int_equal(bw_note_verifier_parse(vkey, strlen(vkey), &v), BW_OK);
    return bw_note_verify(&v, note, len, text_len);
}

static void test_known_answer(void **state) {
    (void)state;
    uint8_t seed[32];
    seed_of(seed, 0);
    struct bw_note_signer *s = NULL;
    assert_int_equal(bw_note_signer_new(NAME, seed, &s), BW_OK);
    char vkey[BW_NOTE_VKEY_MAX];
    assert_int_equal(bw_note_signer_vkey(s, vkey, sizeof vkey), BW_OK);
    assert_string_equal(vkey, golden_vkey);
    char small[20];
    assert_int_equal(bw_note_signer_vkey(s, small, sizeof small), BW_E_TOO_LARGE);

    struct bw_buf body, note;
    bw_buf_init(&body, 1024);
    bw_buf_init(&note, 1024);
    assert_int_equal(bw_note_checkpoint_body(NAME, 7, root7, &body), BW_OK);
    assert_int_equal(bw_note_sign(s, (const char *)body.ptr, body.len, &note), BW_OK);
    assert_int_equal(note.len, golden_note_len);
    assert_memory_equal(note.ptr, golden_note, golden_note_len);

    size_t text_len = 0;
    assert_int_equal(verify_with(vkey, golden_note, golden_note_len, &text_len), BW_OK);
    assert_int_equal(text_len, body.len);
    struct bw_checkpoint cp;
    assert_int_equal(bw_note_checkpoint_parse(golden_note, text_len, &cp), BW_OK);
    assert_string_equal(cp.origin, NAME);
    assert_int_equal(cp.size, 7);
    assert_memory_equal(cp.root, root7, 32);
    bw_buf_cleanup(&body);
    bw_buf_cleanup(&note);
    bw_note_signer_free(s);
    bw_note_signer_free(NULL);
}

static void test_tampered_note_fails(void **state) {
    (void)state;
    char buf[1024];
    size_t text_len = 0;
    for (size_t i = 0; i < golden_note_len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(buf, golden_note, golden_note_len);
            buf[i] = (char)(buf[i] ^ (1 << bit));
            if (verify_with(golden_vkey, buf, golden_note_len, &text_len) == BW_OK)
                fail_msg("flip of byte %zu bit %d still verifies", i, bit);
        }
    }
    /* Truncated anywhere. */
    for (size_t n = 0; n < golden_note_len; n++)
        assert_int_not_equal(verify_with(golden_vkey, golden_note, n, &text_len), BW_OK);
}

static void test_other_key_fails(void **state) {
    (void)state;
    uint8_t seed[32];
    seed_of(seed, 1);
    struct bw_note_signer *other = NULL;
    assert_int_equal(bw_note_signer_new(NAME, seed, &other), BW_OK);
    char vkey[BW_NOTE_VKEY_MAX];
    assert_int_equal(bw_note_signer_vkey(other, vkey, sizeof vkey), BW_OK);
    size_t text_len = 0;
    assert_int_equal(verify_with(vkey, golden_note, golden_note_len, &text_len), BW_E_CRYPTO);

    /* A note carrying both signatures verifies under either key. */
    struct bw_buf both;
    bw_buf_init(&both, 2048);
    assert_int_equal(bw_buf_append(&both, golden_note, golden_note_len), BW_OK);
    struct bw_buf tmp;
    bw_buf_init(&tmp, 2048);
    size_t body_len = 0;
    assert_int_equal(verify_with(golden_vkey, golden_note, golden_note_len, &body_len), BW_OK);
    assert_int_equal(bw_note_sign(other, golden_note, body_len, &tmp), BW_OK);
    assert_int_equal(bw_buf_append(&both, tmp.ptr + body_len + 1, tmp.len - body_len - 1), BW_OK);
    assert_int_equal(verify_with(vkey, (const char *)both.ptr, both.len, &text_len), BW_OK);
    assert_int_equal(verify_with(golden_vkey, (const char *)both.ptr, both.len, &text_len), BW_OK);

    /* Same name and key id but a different key: the vkey's id no longer matches. */
    char spliced[BW_NOTE_VKEY_MAX];
    memcpy(spliced, golden_vkey, strlen(NAME) + 10);
    snprintf(spliced + strlen(NAME) + 10, sizeof spliced - strlen(NAME) - 10, "%s",
             vkey + strlen(NAME) + 10);
    struct bw_note_verifier v;
    assert_int_equal(bw_note_verifier_parse(spliced, strlen(spliced), &v), BW_E_INVALID);
    bw_buf_cleanup(&both);
    bw_buf_cleanup(&tmp);
    bw_note_signer_free(other);
}

static void test_vkey_parse_rejects(void **state) {
    (void)state;
    static const char *bad[] = {
        "",
        "noplus",
        "+b89594bd+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        "example.com/bulwark/test-log+b89594bc+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        "example.com/bulwark/test-log+B89594BD+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        "example.com/bulwark/test-log+b89594bd+AgOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        "example.com/bulwark/test-log+b89594bd+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG",
        "example.com/bulwark/test-log+b89594bd+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4=",
        "example.com/bulwark/test-log+b89594bd",
        "example.com/bulwark/test-log+b89594bd+",
        "example.com/bulwark test-log+b89594bd+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    };
    struct bw_note_verifier v;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bw_note_verifier_parse(bad[i], strlen(bad[i]), &v), BW_E_INVALID);
    assert_int_equal(bw_note_verifier_parse(golden_vkey, strlen(golden_vkey), &v), BW_OK);
    /* An embedded NUL in the name is rejected, not truncated. */
    char nul[BW_NOTE_VKEY_MAX];
    size_t n = strlen(golden_vkey);
    memcpy(nul, golden_vkey, n);
    nul[3] = 0;
    assert_int_equal(bw_note_verifier_parse(nul, n, &v), BW_E_INVALID);
}

static void test_sign_rejects_bad_text(void **state) {
    (void)state;
    uint8_t seed[32];
    seed_of(seed, 0);
    struct bw_note_signer *s = NULL;
    assert_int_equal(bw_note_signer_new(NAME, seed, &s), BW_OK);
    static const char *bad[] = {"", "no newline", "a\n\nb\n", "\n", "tab\t\n", "caf\xc3\xa9\n"};
    struct bw_buf out;
    bw_buf_init(&out, 1024);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bw_note_sign(s, bad[i], strlen(bad[i]), &out), BW_E_INVALID);
    bw_buf_cleanup(&out);
    bw_buf_init(&out, 50);
    assert_int_equal(bw_note_sign(s, "hello\n", 6, &out), BW_E_TOO_LARGE);
    bw_buf_cleanup(&out);
    bw_note_signer_free(s);
    struct bw_note_signer *t = NULL;
    assert_int_equal(bw_note_signer_new("has space", seed, &t), BW_E_INVALID);
    assert_int_equal(bw_note_signer_new("a+b", seed, &t), BW_E_INVALID);
    assert_int_equal(bw_note_signer_new("", seed, &t), BW_E_INVALID);
    assert_null(t);
}

static void test_malformed_sig_section(void **state) {
    (void)state;
    size_t body_len = 0;
    assert_int_equal(verify_with(golden_vkey, golden_note, golden_note_len, &body_len), BW_OK);
    static char buf[16384];
    size_t text_len = 0;
    static const char *tails[] = {
        "garbage line\n",
        "\xE2\x80\x94 name\n",
        "\xE2\x80\x94 name !!!!\n",
        "\xE2\x80\x94 name AAAA\n", /* 3 bytes: shorter than a key id + 1 */
        "\xE2\x80\x94 a+b AAAAAAAA\n",
        "\xE2\x80\x94 name AAAAAAAA", /* no final newline */
    };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        memcpy(buf, golden_note, golden_note_len);
        size_t n = golden_note_len + strlen(tails[i]);
        memcpy(buf + golden_note_len, tails[i], strlen(tails[i]));
        assert_int_equal(verify_with(golden_vkey, buf, n, &text_len), BW_E_INVALID);
    }
    /* An unknown key's well-formed line is ignored. */
    memcpy(buf, golden_note, golden_note_len);
    static const char other[] = "\xE2\x80\x94 other.example AAAAAAAA\n";
    memcpy(buf + golden_note_len, other, sizeof other - 1);
    assert_int_equal(verify_with(golden_vkey, buf, golden_note_len + sizeof other - 1, &text_len),
                     BW_OK);
    /* More than BW_NOTE_MAX_SIGS signature lines. */
    size_t n = golden_note_len;
    memcpy(buf, golden_note, n);
    for (int i = 0; i < BW_NOTE_MAX_SIGS; i++) {
        memcpy(buf + n, other, sizeof other - 1);
        n += sizeof other - 1;
    }
    assert_int_equal(verify_with(golden_vkey, buf, n, &text_len), BW_E_INVALID);
    /* Over the size cap. */
    memset(buf, 'a', BW_NOTE_MAX_TEXT + 1);
    assert_int_equal(verify_with(golden_vkey, buf, BW_NOTE_MAX_TEXT + 1, &text_len), BW_E_INVALID);
}

static void test_checkpoint_parse_rejects(void **state) {
    (void)state;
    static const char *bad[] = {
        "",
        "origin\n",
        "origin\n7\n",
        "origin\n07\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\n",
        "origin\n-7\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\n",
        "origin\n18446744073709551616\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\n",
        "origin\n\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\n",
        "origin\n7\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTA==\n",
        "origin\n7\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw\n",
        "origin\n7\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=",
        "orig in\n7\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\n",
    };
    struct bw_checkpoint cp;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (bw_note_checkpoint_parse(bad[i], strlen(bad[i]), &cp) != BW_E_INVALID)
            fail_msg("accepted bad checkpoint %zu", i);
    static const char ok[] =
        "o\n18446744073709551615\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\next line\n";
    assert_int_equal(bw_note_checkpoint_parse(ok, sizeof ok - 1, &cp), BW_OK);
    assert_true(cp.size == UINT64_MAX);
    assert_int_equal(bw_note_checkpoint_body("bad origin", 1, root7, &(struct bw_buf){0}),
                     BW_E_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_tampered_note_fails),
        cmocka_unit_test(test_other_key_fails),
        cmocka_unit_test(test_vkey_parse_rejects),
        cmocka_unit_test(test_sign_rejects_bad_text),
        cmocka_unit_test(test_malformed_sig_section),
        cmocka_unit_test(test_checkpoint_parse_rejects),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
