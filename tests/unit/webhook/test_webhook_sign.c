/* Unit tests: webhook/ signer (webhook_sign.h): known answers, multi-key signatures, argument
 * limits, and that the inbound verifier (bw_webhook_verify_standard) accepts what the signer
 * produces and refuses it after any change. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reason/reasons.h"
#include "webhook/webhook.h"
#include "webhook/webhook_sign.h"

/* The Standard Webhooks reference vector (standard-webhooks/libraries tests). */
#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define STD_TS 1614265330
#define STD_BODY "{\"test\": 2432232314}"
#define STD_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/* Computed independently with Node's crypto.createHmac('sha256', key) over "id.ts.body":
 * K1 is bytes 0..31, K2 is bytes 255..232 (24 bytes, the spec's minimum). */
#define K1 "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2 "whsec_//79/Pv6+fj39vX08/Lx8O/u7ezr6uno"
#define PING "{\"type\":\"ping\"}"
#define K1_PING "v1,Gn5q7SBZRS+mnKMZlQD2oABONeQLT9Kam71Z3NTwqls="
#define K2_PING "v1,bk31fxy+T/IQUh+MWDwieeiGA+nsaK2IZ8vFsBKvq5k="
#define K1_EMPTY "v1,rj/XH3Tm6G/SToL6tT4Lkb4ZUYp8+qMAMWu3q7fMFes="

static struct bw_webhook_keys *keys(enum bw_webhook_scheme s, const char *text) {
    struct bw_webhook_keys *k = NULL;
    assert_int_equal(bw_webhook_keys_parse(s, text, strlen(text), &k), BW_OK);
    return k;
}

static void known_answers(void **state) {
    (void)state;
    struct bw_webhook_signed h;
    struct bw_webhook_keys *k = keys(BW_WEBHOOK_STANDARD, STD_SECRET);
    assert_int_equal(bw_webhook_sign_standard(k, STD_ID, STD_TS, (const uint8_t *)STD_BODY,
                                              strlen(STD_BODY), &h),
                     BW_OK);
    assert_string_equal(h.id, STD_ID);
    assert_string_equal(h.timestamp, "1614265330");
    assert_string_equal(h.signature, STD_SIG);
    bw_webhook_keys_free(k);

    k = keys(BW_WEBHOOK_STANDARD, K1);
    assert_int_equal(
        bw_webhook_sign_standard(k, "msg_2", 1700000000, (const uint8_t *)PING, strlen(PING), &h),
        BW_OK);
    assert_string_equal(h.signature, K1_PING);
    /* an empty body, timestamp 0 */
    assert_int_equal(bw_webhook_sign_standard(k, "msg_empty", 0, NULL, 0, &h), BW_OK);
    assert_string_equal(h.timestamp, "0");
    assert_string_equal(h.signature, K1_EMPTY);
    bw_webhook_keys_free(k);

    /* two keys (rotation): one v1 per key, space-separated, in key order */
    k = keys(BW_WEBHOOK_STANDARD, K1 " " K2);
    assert_int_equal(
        bw_webhook_sign_standard(k, "msg_2", 1700000000, (const uint8_t *)PING, strlen(PING), &h),
        BW_OK);
    assert_string_equal(h.signature, K1_PING " " K2_PING);
    bw_webhook_keys_free(k);
    /* the "whsec_" prefix is optional, as for the verifier */
    k = keys(BW_WEBHOOK_STANDARD, &K1[6]);
    assert_int_equal(
        bw_webhook_sign_standard(k, "msg_2", 1700000000, (const uint8_t *)PING, strlen(PING), &h),
        BW_OK);
    assert_string_equal(h.signature, K1_PING);
    bw_webhook_keys_free(k);
}

static void verifier_accepts_signer(void **state) {
    (void)state;
    struct bw_webhook_keys *signer = keys(BW_WEBHOOK_STANDARD, K1 " " K2);
    struct bw_webhook_keys *v1 = keys(BW_WEBHOOK_STANDARD, K1);
    struct bw_webhook_keys *v2 = keys(BW_WEBHOOK_STANDARD, K2);
    struct bw_webhook_keys *other = keys(BW_WEBHOOK_STANDARD, STD_SECRET);
    char id[BW_WEBHOOK_MSG_ID_SIZE];
    const char *reason = NULL;
    for (int i = 0; i < 50; i++) {
        bw_webhook_msg_id_new(id);
        uint8_t body[200];
        size_t n = randombytes_uniform(sizeof body);
        randombytes_buf(body, n);
        int64_t ts = 1700000000 + i;
        struct bw_webhook_signed h;
        assert_int_equal(bw_webhook_sign_standard(signer, id, ts, body, n, &h), BW_OK);
        /* a receiver holding either key accepts */
        assert_int_equal(bw_webhook_verify_standard(v1, h.id, h.timestamp, h.signature, body, n, ts,
                                                    300, &reason),
                         BW_OK);
        assert_int_equal(bw_webhook_verify_standard(v2, h.id, h.timestamp, h.signature, body, n,
                                                    ts + 300, 300, &reason),
                         BW_OK);
        /* another key, another id, another timestamp, a changed body: refused */
        assert_int_equal(bw_webhook_verify_standard(other, h.id, h.timestamp, h.signature, body, n,
                                                    ts, 300, &reason),
                         BW_E_UNAUTH);
        assert_string_equal(reason, BW_R_WEBHOOK_SIGNATURE_INVALID);
        assert_int_equal(bw_webhook_verify_standard(v1, "msg_other", h.timestamp, h.signature, body,
                                                    n, ts, 300, &reason),
                         BW_E_UNAUTH);
        char ts2[16];
        snprintf(ts2, sizeof ts2, "%lld", (long long)ts + 1);
        assert_int_equal(
            bw_webhook_verify_standard(v1, h.id, ts2, h.signature, body, n, ts, 300, &reason),
            BW_E_UNAUTH);
        /* a replay outside the tolerance is named as such */
        assert_int_equal(bw_webhook_verify_standard(v1, h.id, h.timestamp, h.signature, body, n,
                                                    ts + 301, 300, &reason),
                         BW_E_UNAUTH);
        assert_string_equal(reason, BW_R_WEBHOOK_TIMESTAMP_OUT_OF_RANGE);
        if (n > 0) {
            body[randombytes_uniform((uint32_t)n)] ^= 0x01;
            assert_int_equal(bw_webhook_verify_standard(v1, h.id, h.timestamp, h.signature, body, n,
                                                        ts, 300, &reason),
                             BW_E_UNAUTH);
        }
    }
    bw_webhook_keys_free(signer);
    bw_webhook_keys_free(v1);
    bw_webhook_keys_free(v2);
    bw_webhook_keys_free(other);
}

static void limits(void **state) {
    (void)state;
    struct bw_webhook_keys *k = keys(BW_WEBHOOK_STANDARD, K1);
    struct bw_webhook_keys *stripe = keys(BW_WEBHOOK_STRIPE, "whsec_abc");
    struct bw_webhook_signed h;
    memset(&h, 0x5a, sizeof h);
    const uint8_t *b = (const uint8_t *)PING;
    char long_id[BW_WEBHOOK_MAX_ID + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    const char *bad_ids[] = {NULL, "", "msg 1", "msg\n1", "caf\xc3\xa9", long_id};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++)
        assert_int_equal(bw_webhook_sign_standard(k, bad_ids[i], 1, b, 3, &h), BW_E_INVALID);
    assert_int_equal(bw_webhook_sign_standard(k, "m", -1, b, 3, &h), BW_E_INVALID);
    assert_int_equal(bw_webhook_sign_standard(k, "m", BW_WEBHOOK_MAX_TIMESTAMP + 1, b, 3, &h),
                     BW_E_INVALID);
    assert_int_equal(bw_webhook_sign_standard(k, "m", 1, NULL, 3, &h), BW_E_INVALID);
    assert_int_equal(bw_webhook_sign_standard(NULL, "m", 1, b, 3, &h), BW_E_INTERNAL);
    assert_int_equal(bw_webhook_sign_standard(stripe, "m", 1, b, 3, &h), BW_E_INTERNAL);
    assert_int_equal(((const uint8_t *)&h)[0], 0x5a); /* untouched on failure */
    /* the largest id and timestamp still produce headers the verifier reads */
    long_id[BW_WEBHOOK_MAX_ID] = 0;
    assert_int_equal(bw_webhook_sign_standard(k, long_id, BW_WEBHOOK_MAX_TIMESTAMP, b, 3, &h),
                     BW_OK);
    const char *reason = NULL;
    assert_int_equal(bw_webhook_verify_standard(k, h.id, h.timestamp, h.signature, b, 3,
                                                BW_WEBHOOK_MAX_TIMESTAMP, 300, &reason),
                     BW_OK);
    /* four keys fill the signature header exactly within its size */
    struct bw_webhook_keys *four = keys(BW_WEBHOOK_STANDARD, K1 " " K2 " " K1 " " K2);
    assert_int_equal(bw_webhook_sign_standard(four, "m", 1, b, 3, &h), BW_OK);
    assert_int_equal(strlen(h.signature), 4 * 47 + 3);
    bw_webhook_keys_free(four);
    bw_webhook_keys_free(k);
    bw_webhook_keys_free(stripe);
}

static void generated_ids_and_secrets(void **state) {
    (void)state;
    char id[BW_WEBHOOK_MSG_ID_SIZE], id2[BW_WEBHOOK_MSG_ID_SIZE];
    bw_webhook_msg_id_new(id);
    bw_webhook_msg_id_new(id2);
    assert_int_equal(strlen(id), BW_WEBHOOK_MSG_ID_SIZE - 1);
    assert_memory_equal(id, "msg_", 4);
    assert_string_not_equal(id, id2);
    for (size_t i = 4; i < strlen(id); i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", id[i]));

    char *secret = sodium_malloc(BW_WEBHOOK_SECRET_SIZE);
    assert_non_null(secret);
    assert_int_equal(bw_webhook_secret_new(secret, BW_WEBHOOK_SECRET_SIZE - 1), BW_E_TOO_LARGE);
    assert_int_equal(bw_webhook_secret_new(secret, BW_WEBHOOK_SECRET_SIZE), BW_OK);
    assert_int_equal(strlen(secret), BW_WEBHOOK_SECRET_SIZE - 1);
    assert_memory_equal(secret, "whsec_", 6);
    /* a generated secret is one the key parser (both sides' decoder) accepts */
    struct bw_webhook_keys *k = keys(BW_WEBHOOK_STANDARD, secret);
    struct bw_webhook_signed h;
    assert_int_equal(bw_webhook_sign_standard(k, id, 5, (const uint8_t *)"{}", 2, &h), BW_OK);
    const char *reason = NULL;
    assert_int_equal(bw_webhook_verify_standard(k, h.id, h.timestamp, h.signature,
                                                (const uint8_t *)"{}", 2, 5, 300, &reason),
                     BW_OK);
    bw_webhook_keys_free(k);
    sodium_free(secret);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answers),
        cmocka_unit_test(verifier_accepts_signer),
        cmocka_unit_test(limits),
        cmocka_unit_test(generated_ids_and_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
