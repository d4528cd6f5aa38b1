/* Unit tests: the temporary minimal `mcp:` config section (config_mcp.c). */
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

static void absent_is_empty(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("listen: 127.0.0.1:80\n", &c, err), BW_OK);
    assert_int_equal(c.n_mcp_servers, 0);
    bw_config_cleanup(&c);
}

static void servers(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("listen: 127.0.0.1:80\nmcp:\n  servers:\n"
                           "    - {name: everything, url: 'http://127.0.0.1:3001/mcp'}\n"
                           "    - name: b.2_x-y\n      url: https://mcp.example.com/\n",
                           &c, err),
                     BW_OK);
    assert_int_equal(c.n_mcp_servers, 2);
    assert_string_equal(c.mcp_servers[0].name, "everything");
    assert_string_equal(c.mcp_servers[0].url, "http://127.0.0.1:3001/mcp");
    assert_string_equal(c.mcp_servers[1].name, "b.2_x-y");
    bw_config_cleanup(&c);
}

static void refused(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    static const char *const bad[] = {
        "mcp:\n  servers: x\n",
        "mcp:\n  other: 1\n",
        "mcp:\n  servers:\n    - {name: a}\n",
        "mcp:\n  servers:\n    - {url: 'http://h/'}\n",
        "mcp:\n  servers:\n    - {name: 'a/b', url: 'http://h/'}\n",
        "mcp:\n  servers:\n    - {name: '', url: 'http://h/'}\n",
        "mcp:\n  servers:\n    - {name: a, url: 'ftp://h/'}\n",
        "mcp:\n  servers:\n    - {name: a, url: 'http://user:secret@h/'}\n",
        "mcp:\n  servers:\n    - {name: a, url: 'http://h/ x'}\n",
        "mcp:\n  servers:\n    - {name: a, url: 'http://h/', credential: x}\n",
        "mcp:\n  servers:\n    - {name: a, url: 'http://h/'}\n    - {name: a, url: 'http://i/'}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &c, err), BW_E_INVALID);
        assert_non_null(strstr(err, "mcp"));
        assert_null(strstr(err, "secret")); /* a URL's password is never echoed */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(absent_is_empty),
        cmocka_unit_test(servers),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
