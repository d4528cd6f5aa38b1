/* Unit tests: the `sso:` config section (config_sso.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"

static bw_err parse(const char *text, struct bw_config *c, char *err) {
    return bw_config_parse(text, strlen(text), "test.yaml", c, err, 300);
}

static void default_is_unset(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("listen: 127.0.0.1:80\n", &c, err), BW_OK);
    assert_string_equal(c.sso_public_url, "");
    bw_config_cleanup(&c);
}

static void public_url(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("sso:\n  public_url: https://gw.example.com\n", &c, err), BW_OK);
    assert_string_equal(c.sso_public_url, "https://gw.example.com");
    bw_config_cleanup(&c);
    assert_int_equal(parse("sso:\n  public_url: https://gw.example.com:8443/\n", &c, err), BW_OK);
    bw_config_cleanup(&c);
    assert_int_equal(parse("sso:\n  public_url: http://127.0.0.1:8080\n", &c, err), BW_OK);
    bw_config_cleanup(&c);
    static const char *const bad[] = {
        "sso:\n  public_url: http://gw.example.com\n",       /* http off loopback */
        "sso:\n  public_url: https://gw.example.com/base\n", /* a path */
        "sso:\n  public_url: https://u:p@gw.example.com\n",  /* userinfo */
        "sso:\n  public_url: https://gw.example.com/?x=1\n", /* query */
        "sso:\n  public_url: ftp://gw.example.com\n",
        "sso:\n  public_url: ''\n",
        "sso:\n  other: 1\n",
        "sso:\n  public_url: [a]\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_not_equal(parse(bad[i], &c, err), BW_OK);
        assert_non_null(strstr(err, "sso"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_is_unset),
        cmocka_unit_test(public_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
