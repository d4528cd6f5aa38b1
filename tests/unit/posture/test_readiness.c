/* Unit tests: posture/ readiness helpers: the config scan for inline secrets, passwords in
 * URLs, loopback listeners (the rules of docs/API.md "Security readiness"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h: it needs them */

#include "posture/readiness_internal.h"

static size_t shapes(const char *t) {
    return bw_ready_secret_shapes(t, strlen(t));
}

static void finds_secret_shapes(void **state) {
    (void)state;
    assert_int_equal(shapes("# old: sk-proj-0123456789abcdef0123\n"), 1);
    assert_int_equal(shapes("key: \"sk-0123456789abcdef\""), 1);
    assert_int_equal(shapes("whsec_abcdefgh1234 and ghp_0123456789abcdefXYZ"), 2);
    assert_int_equal(shapes("bwk_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"), 1);
    assert_int_equal(shapes("AKIAABCDEFGHIJKLMNOP"), 1);
    assert_int_equal(shapes("-----BEGIN PRIVATE KEY-----"), 1);
    assert_int_equal(shapes("x: sk_live_12345678"), 1);
    /* at the very end of the text, no newline */
    assert_int_equal(shapes("sk-abcdefghijklmnop"), 1);
}

static void ignores_config_words(void **state) {
    (void)state;
    const char *cfg = "upstream:\n  url: https://api.example/v1\n  api_key_env: OPENAI_KEY\n"
                      "billing:\n  stripe_secret_file: /run/stripe\n  standard_secret_env: X\n"
                      "policy: risk-policy.yaml\norgs:\n  task-force:\n    allowed_models: "
                      "[gpt-4o-mini]\n# sk- is the provider's prefix\n";
    assert_int_equal(shapes(cfg), 0);
    assert_int_equal(shapes("desk-0123456789abcdefghij"), 0); /* inside a word */
    assert_int_equal(shapes("sk-short"), 0);                  /* too short to be a key */
    assert_int_equal(shapes(""), 0);
    assert_int_equal(shapes("sk-"), 0);
}

static void passwords_in_urls(void **state) {
    (void)state;
    assert_true(bw_ready_url_has_password("postgres://app:s3cret@db.internal/bulwark"));
    assert_true(bw_ready_url_has_password("postgresql://app@/bulwark?host=/run&password=x"));
    assert_true(bw_ready_url_has_password("https://user:pw@api.example/v1"));
    assert_false(bw_ready_url_has_password("postgresql://bulwark_app@/bulwark?host=/tmp/x&port=5"));
    assert_false(bw_ready_url_has_password("postgres://db.internal:5432/bulwark"));
    assert_false(bw_ready_url_has_password("https://api.example/v1/a@b"));
    assert_false(bw_ready_url_has_password(""));
    assert_false(bw_ready_url_has_password("mock"));
}

static void loopback_listeners(void **state) {
    (void)state;
    assert_true(bw_ready_host_is_loopback("127.0.0.1"));
    assert_true(bw_ready_host_is_loopback("127.1.2.3"));
    assert_true(bw_ready_host_is_loopback("::1"));
    assert_true(bw_ready_host_is_loopback("localhost"));
    assert_false(bw_ready_host_is_loopback("0.0.0.0"));
    assert_false(bw_ready_host_is_loopback(""));
    assert_false(bw_ready_host_is_loopback("::"));
    assert_false(bw_ready_host_is_loopback("10.0.0.1"));
    assert_false(bw_ready_host_is_loopback("127.0.0.1.example"));
    assert_false(bw_ready_host_is_loopback("localhost.example"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_secret_shapes),
        cmocka_unit_test(ignores_config_words),
        cmocka_unit_test(passwords_in_urls),
        cmocka_unit_test(loopback_listeners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
