/* Unit tests: the `metrics:` and `otel:` config sections (config_metrics.c). */
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

static void defaults_are_off(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("listen: 127.0.0.1:80\n", &c, err), BW_OK);
    assert_string_equal(c.metrics_listen_host, "");
    assert_string_equal(c.otel_endpoint, "");
    assert_int_equal(c.metrics_allow_remote, 0);
    bw_config_cleanup(&c);
}

static void metrics_section(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("metrics:\n  listen: 127.0.0.1:9464\n  refresh_ms: 1000\n", &c, err),
                     BW_OK);
    assert_string_equal(c.metrics_listen_host, "127.0.0.1");
    assert_int_equal(c.metrics_listen_port, 9464);
    assert_int_equal(c.metrics_refresh_ms, 1000);
    bw_config_cleanup(&c);
    assert_int_equal(parse("metrics:\n  listen: \"[::1]:9464\"\n  allow_remote: true\n", &c, err),
                     BW_OK);
    assert_string_equal(c.metrics_listen_host, "::1");
    assert_int_equal(c.metrics_allow_remote, 1);
    bw_config_cleanup(&c);
    static const char *const bad[] = {
        "metrics:\n  listen: 9464\n",
        "metrics:\n  listen: \":9464\"\n",
        "metrics:\n  listen: 127.0.0.1:65536\n",
        "metrics:\n  listen: 127.0.0.1:x\n",
        "metrics:\n  refresh_ms: 10\n",
        "metrics:\n  allow_remote: yes\n",
        "metrics:\n  path: /m\n",
        "metrics: 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &c, err), BW_E_INVALID);
        assert_non_null(strstr(err, "metrics"));
    }
}

static void otel_section(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("otel:\n  endpoint: http://127.0.0.1:4318/v1/traces\n"
                           "  service_name: gw-1\n  timeout_ms: 500\n  queue_max: 16\n"
                           "  headers_env: OTEL_HEADERS_1\n",
                           &c, err),
                     BW_OK);
    assert_string_equal(c.otel_endpoint, "http://127.0.0.1:4318/v1/traces");
    assert_string_equal(c.otel_service_name, "gw-1");
    assert_int_equal(c.otel_timeout_ms, 500);
    assert_int_equal(c.otel_queue_max, 16);
    assert_string_equal(c.otel_headers_env, "OTEL_HEADERS_1");
    bw_config_cleanup(&c);
    static const char *const bad[] = {
        "otel:\n  endpoint: file:///etc/passwd\n",
        "otel:\n  endpoint: http://u:secret@host/v1/traces\n",
        "otel:\n  service_name: \"two words\"\n",
        "otel:\n  timeout_ms: 0\n",
        "otel:\n  timeout_ms: 30001\n",
        "otel:\n  queue_max: 0\n",
        "otel:\n  queue_max: 65537\n",
        "otel:\n  headers: x\n",
        "otel:\n  headers_env: \"\"\n",
        "otel:\n  headers_env: A-B\n",
        "otel:\n  headers_env: \"A B\"\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &c, err), BW_E_INVALID);
        assert_non_null(strstr(err, "otel"));
        assert_null(strstr(err, "secret")); /* the URL's password is never echoed */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_off),
        cmocka_unit_test(metrics_section),
        cmocka_unit_test(otel_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
