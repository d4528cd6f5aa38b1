/* Unit tests: webhook/ (Stripe and Standard Webhooks signature verification). */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reason/reasons.h"
#include "webhook/webhook.h"

/* Made with stripe-node's generateTestHeaderString({payload:'{}', secret:'whsec_abc',
 * timestamp:1}). */
#define STRIPE_SIG "07301c55760783275ad3b893a15abe1d07b70c8e96b12a204061b23840f0b05b"
/* The Standard Webhooks reference vector (standard-webhooks/libraries tests). */
#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define STD_TS "1614265330"
#define STD_BODY "{\"test\": 2432232314}"
#define STD_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static struct bw_webhook_keys *keys(enum bw_webhook_scheme s, const char *text) {
    struct bw_webhook_keys *k = NULL;
    assert_int_equal(bw_webhook_keys_parse(s, text, strlen(text), &k), BW_OK);
    return k;
}

static void stripe_vector(void **state) {
    (void)state;
    struct bw_webhook_keys *k = keys(BW_WEBHOOK_STRIPE, "whsec_abc");
    const uint8_t *body = (const uint8_t *)"{}";
    const char *reason = NULL;
    assert_int_equal(bw_webhook_verify_stripe(k, "t=1,v1=" STRIPE_SIG, body, 2, 1, 300, &reason),
                     BW_OK);
    /* tolerance in both directions, inclusive */
    assert_int_equal(bw_webhook_verify_stripe(k, "t=1,v1=" STRIPE_SIG, body, 2, 301, 300, &reason),
                     BW_OK);
    assert_int_equal(bw_webhook_verify_stripe(k, "t=1,v1=" STRIPE_SIG, body, 2, 302, 300, &reason),
                     BW_E_UNAUTH);
    assert_string_equal(reason, BW_R_WEBHOOK_TIMESTAMP_OUT_OF_RANGE);
    /* rotation: a wrong v1 first, v0 ignored, the right one last; upper-case hex accepted */
    assert_int_equal(
        bw_webhook_verify_stripe(k, "t=1,v1=" STRIPE_SIG "00,v1=00", body, 2, 1, 300, &reason),
        BW_E_INVALID);
    assert_int_equal(bw_webhook_verify_stripe(
                         k,
                         "t=1,v1=0000000000000000000000000000000000000000000000000000000000000000,"
                         "v0=x,v1=" STRIPE_SIG,
                         body, 2, 1, 300, &reason),
                     BW_OK);
    /* tampered body, other timestamp, other secret */
    assert_int_equal(bw_webhook_verify_stripe(k, "t=1,v1=" STRIPE_SIG, (const uint8_t *)"{ }", 3, 1,
                                              300, &reason),
                     BW_E_UNAUTH);
    assert_string_equal(reason, BW_R_WEBHOOK_SIGNATURE_INVALID);
    assert_int_equal(bw_webhook_verify_stripe(k, "t=2,v1=" STRIPE_SIG, body, 2, 2, 300, &reason),
                     BW_E_UNAUTH);
    struct bw_webhook_keys *k2 = keys(BW_WEBHOOK_STRIPE, "whsec_other whsec_abc");
    assert_int_equal(bw_webhook_verify_stripe(k2, "t=1,v1=" STRIPE_SIG, body, 2, 1, 300, &reason),
                     BW_OK);
    struct bw_webhook_keys *k3 = keys(BW_WEBHOOK_STRIPE, "whsec_abd");
    assert_int_equal(bw_webhook_verify_stripe(k3, "t=1,v1=" STRIPE_SIG, body, 2, 1, 300, &reason),
                     BW_E_UNAUTH);
    /* a key of the wrong scheme is an internal error, never a pass */
    struct bw_webhook_keys *ks = keys(BW_WEBHOOK_STANDARD, STD_SECRET);
    assert_int_equal(bw_webhook_verify_stripe(ks, "t=1,v1=" STRIPE_SIG, body, 2, 1, 300, &reason),
                     BW_E_INTERNAL);
    bw_webhook_keys_free(k);
    bw_webhook_keys_free(k2);
    bw_webhook_keys_free(k3);
    bw_webhook_keys_free(ks);
}

static void stripe_header_negative(void **state) {
    (void)state;
    struct bw_webhook_stripe_sig s;
    const char *bad[] = {
        "",
        "t=1",
        "v1=" STRIPE_SIG,
        "t=,v1=" STRIPE_SIG,
        "t=-1,v1=" STRIPE_SIG,
        "t=1a,v1=" STRIPE_SIG,
        "t=1,t=1,v1=" STRIPE_SIG,
        "t=1,v1=" STRIPE_SIG ",",
        ",t=1,v1=" STRIPE_SIG,
        "t=1,,v1=" STRIPE_SIG,
        "t=1,v1=abc",
        "t=1,v1=" STRIPE_SIG "0",
        "t=1,=x,v1=" STRIPE_SIG,
        "t=1,V1=" STRIPE_SIG,
        "t=1 ,v1=" STRIPE_SIG,
        "t=1234567890123,v1=" STRIPE_SIG,
        "t=1,v1=gg00000000000000000000000000000000000000000000000000000000000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bw_webhook_stripe_parse(bad[i], strlen(bad[i]), &s), BW_E_INVALID);
    /* more than BW_WEBHOOK_MAX_SIGS v1 */
    char many[4096] = "t=1";
    for (int i = 0; i < BW_WEBHOOK_MAX_SIGS + 1; i++)
        strncat(many, ",v1=" STRIPE_SIG, sizeof many - strlen(many) - 1);
    assert_int_equal(bw_webhook_stripe_parse(many, strlen(many), &s), BW_E_INVALID);
    char big[BW_WEBHOOK_MAX_HEADER + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(bw_webhook_stripe_parse(big, strlen(big), &s), BW_E_INVALID);
    assert_int_equal(bw_webhook_stripe_parse("t=5,v1=" STRIPE_SIG, 71, &s), BW_OK);
    assert_int_equal(s.t, 5);
    assert_int_equal(s.n_v1, 1);
    const char *reason = NULL;
    struct bw_webhook_keys *k = keys(BW_WEBHOOK_STRIPE, "whsec_abc");
    assert_int_equal(bw_webhook_verify_stripe(k, NULL, (const uint8_t *)"", 0, 1, 300, &reason),
                     BW_E_INVALID);
    assert_string_equal(reason, BW_R_WEBHOOK_HEADER_MALFORMED);
    bw_webhook_keys_free(k);
}

static void standard_vector(void **state) {
    (void)state;
    struct bw_webhook_keys *k = keys(BW_WEBHOOK_STANDARD, STD_SECRET);
    const uint8_t *body = (const uint8_t *)STD_BODY;
    size_t n = strlen(STD_BODY);
    const char *reason = NULL;
    int64_t now = 1614265330;
    assert_int_equal(
        bw_webhook_verify_standard(k, STD_ID, STD_TS, STD_SIG, body, n, now, 300, &reason), BW_OK);
    assert_int_equal(bw_webhook_verify_standard(k, STD_ID, STD_TS, "v1a,xyz v2,abc " STD_SIG, body,
                                                n, now, 300, &reason),
                     BW_OK);
    assert_int_equal(
        bw_webhook_verify_standard(k, STD_ID, STD_TS, STD_SIG, body, n - 1, now, 300, &reason),
        BW_E_UNAUTH);
    assert_string_equal(reason, BW_R_WEBHOOK_SIGNATURE_INVALID);
    assert_int_equal(
        bw_webhook_verify_standard(k, "msg_other", STD_TS, STD_SIG, body, n, now, 300, &reason),
        BW_E_UNAUTH);
    assert_int_equal(
        bw_webhook_verify_standard(k, STD_ID, STD_TS, STD_SIG, body, n, now - 301, 300, &reason),
        BW_E_UNAUTH);
    assert_string_equal(reason, BW_R_WEBHOOK_TIMESTAMP_OUT_OF_RANGE);
    assert_int_equal(
        bw_webhook_verify_standard(k, STD_ID, STD_TS, STD_SIG, body, n, now + 301, 300, &reason),
        BW_E_UNAUTH);
    const char *bad_sigs[] = {"",
                              "v1",
                              "v1,",
                              "v1,abc",
                              "v1a,abc",
                              ",abc",
                              "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}; /* 31 bytes */
    for (size_t i = 0; i < sizeof bad_sigs / sizeof bad_sigs[0]; i++) {
        assert_int_equal(
            bw_webhook_verify_standard(k, STD_ID, STD_TS, bad_sigs[i], body, n, now, 300, &reason),
            BW_E_INVALID);
        assert_string_equal(reason, BW_R_WEBHOOK_HEADER_MALFORMED);
    }
    assert_int_equal(bw_webhook_verify_standard(k, "", STD_TS, STD_SIG, body, n, now, 300, &reason),
                     BW_E_INVALID);
    assert_int_equal(
        bw_webhook_verify_standard(k, "a b", STD_TS, STD_SIG, body, n, now, 300, &reason),
        BW_E_INVALID);
    assert_int_equal(
        bw_webhook_verify_standard(k, STD_ID, "+1614265330", STD_SIG, body, n, now, 300, &reason),
        BW_E_INVALID);
    assert_int_equal(
        bw_webhook_verify_standard(k, STD_ID, NULL, STD_SIG, body, n, now, 300, &reason),
        BW_E_INVALID);
    bw_webhook_keys_free(k);
    /* the whsec_ prefix is optional */
    k = keys(BW_WEBHOOK_STANDARD, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_int_equal(
        bw_webhook_verify_standard(k, STD_ID, STD_TS, STD_SIG, body, n, now, 300, &reason), BW_OK);
    bw_webhook_keys_free(k);
}

static void key_parsing(void **state) {
    (void)state;
    struct bw_webhook_keys *k = NULL;
    const char *bad_std[] = {"", "   ", "whsec_", "whsec_***", "whsec_QUJD", "a b c d e"};
    for (size_t i = 0; i < sizeof bad_std / sizeof bad_std[0]; i++)
        assert_int_equal(
            bw_webhook_keys_parse(BW_WEBHOOK_STANDARD, bad_std[i], strlen(bad_std[i]), &k),
            BW_E_INVALID);
    assert_int_equal(bw_webhook_keys_parse(BW_WEBHOOK_STRIPE, "a b c d e", 9, &k), BW_E_INVALID);
    assert_int_equal(bw_webhook_keys_parse(BW_WEBHOOK_STRIPE, "a\x01", 2, &k), BW_E_INVALID);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(bw_webhook_keys_parse(BW_WEBHOOK_STRIPE, big, strlen(big), &k), BW_E_INVALID);
    assert_int_equal(bw_webhook_keys_parse(BW_WEBHOOK_STRIPE, "a,b\nc", 5, &k), BW_OK);
    bw_webhook_keys_free(k);
    bw_webhook_keys_free(NULL);
    int64_t t;
    assert_int_equal(bw_webhook_parse_timestamp("0", 1, &t), BW_OK);
    assert_int_equal(bw_webhook_parse_timestamp("999999999999", 12, &t), BW_OK);
    assert_int_equal(bw_webhook_parse_timestamp("9999999999999", 13, &t), BW_E_INVALID);
    assert_int_equal(bw_webhook_parse_timestamp("", 0, &t), BW_E_INVALID);
    assert_int_equal(bw_webhook_parse_timestamp("1.5", 3, &t), BW_E_INVALID);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stripe_vector),
        cmocka_unit_test(stripe_header_negative),
        cmocka_unit_test(standard_vector),
        cmocka_unit_test(key_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
