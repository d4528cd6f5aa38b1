/* Unit tests: sign-ins in flight (src/sso/sso_state.c: single use, expiry, bound to the
 * browser's cookie, bounded), PKCE S256 and form escaping (src/sso/sso_fetch.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sso/sso_internal.h"

static struct sso_pending pending(int64_t now) {
    struct sso_pending p;
    memset(&p, 0, sizeof p);
    sso_random_token(p.state);
    sso_random_token(p.browser);
    sso_random_token(p.nonce);
    sso_random_token(p.verifier);
    snprintf(p.org_id, sizeof p.org_id, "org_0123456789abcdef");
    snprintf(p.redirect_uri, sizeof p.redirect_uri, "https://gw.example/console/sso/callback");
    p.expires_ms = now + SSO_STATE_TTL_MS;
    return p;
}

static void single_use(void **state) {
    (void)state;
    struct sso_pending p = pending(1000), out;
    assert_int_equal(sso_state_put(&p), BW_OK);
    assert_int_equal(sso_state_take(p.state, p.browser, 2000, &out), BW_OK);
    assert_string_equal(out.nonce, p.nonce);
    assert_string_equal(out.verifier, p.verifier);
    assert_int_equal(sso_state_take(p.state, p.browser, 2000, &out), BW_E_NOT_FOUND);
}

static void bound_to_browser(void **state) {
    (void)state;
    struct sso_pending p = pending(1000), q = pending(1000), out;
    assert_int_equal(sso_state_put(&p), BW_OK);
    /* another browser's cookie, no cookie: refused, and the state is spent either way */
    assert_int_equal(sso_state_take(p.state, q.browser, 2000, &out), BW_E_NOT_FOUND);
    assert_int_equal(sso_state_take(p.state, p.browser, 2000, &out), BW_E_NOT_FOUND);
    assert_int_equal(sso_state_put(&q), BW_OK);
    assert_int_equal(sso_state_take(q.state, NULL, 2000, &out), BW_E_NOT_FOUND);
    assert_int_equal(sso_state_take(q.state, q.browser, 2000, &out), BW_E_NOT_FOUND);
}

static void expires(void **state) {
    (void)state;
    struct sso_pending p = pending(1000), out;
    assert_int_equal(sso_state_put(&p), BW_OK);
    assert_int_equal(sso_state_take(p.state, p.browser, 1000 + SSO_STATE_TTL_MS, &out),
                     BW_E_NOT_FOUND);
}

static void malformed_state(void **state) {
    (void)state;
    struct sso_pending out;
    assert_int_equal(sso_state_take(NULL, "x", 0, &out), BW_E_NOT_FOUND);
    assert_int_equal(sso_state_take("", "x", 0, &out), BW_E_NOT_FOUND);
    assert_int_equal(sso_state_take("short", "x", 0, &out), BW_E_NOT_FOUND);
}

/* A flood of starts evicts the oldest entries; memory stays bounded and the newest work. */
static void bounded(void **state) {
    (void)state;
    struct sso_pending first = pending(5000), last, out;
    assert_int_equal(sso_state_put(&first), BW_OK);
    for (int i = 0; i < SSO_STATE_MAX + 10; i++) {
        last = pending(5001 + i);
        assert_int_equal(sso_state_put(&last), BW_OK);
    }
    assert_int_equal(sso_state_take(first.state, first.browser, 6000, &out), BW_E_NOT_FOUND);
    assert_int_equal(sso_state_take(last.state, last.browser, 6000, &out), BW_OK);
}

static void pkce_vector(void **state) {
    (void)state;
    /* RFC 7636 Appendix B */
    char c[SSO_TOKEN_SIZE];
    sso_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c);
    assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    char a[SSO_TOKEN_SIZE], b[SSO_TOKEN_SIZE];
    sso_random_token(a);
    sso_random_token(b);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
}

static void form_escape(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(sso_form_escape("a-b_c.d~e", out, sizeof out), 9);
    assert_string_equal(out, "a-b_c.d~e");
    assert_int_equal(sso_form_escape("a b&c=d/+%", out, sizeof out), 22);
    assert_string_equal(out, "a%20b%26c%3Dd%2F%2B%25");
    assert_int_equal(sso_form_escape("abc", out, 3), -1); /* no room for the NUL */
    assert_int_equal(sso_form_escape("a&", out, 4), -1);  /* an escape cut short */
    assert_int_equal(sso_form_escape("", out, 1), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_use),  cmocka_unit_test(bound_to_browser),
        cmocka_unit_test(expires),     cmocka_unit_test(malformed_state),
        cmocka_unit_test(bounded),     cmocka_unit_test(pkce_vector),
        cmocka_unit_test(form_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
