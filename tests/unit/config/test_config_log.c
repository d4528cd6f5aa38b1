/* Unit tests: config/ log section (level, format, file, requests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "util/log.h"

static bw_err parse(const char *text, struct bw_config *c, char *err) {
    return bw_config_parse(text, strlen(text), "test.yaml", c, err, 300);
}

static void log_defaults(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("workers: 1\n", &c, err), BW_OK);
    assert_int_equal(c.log_level, 0);       /* info */
    assert_int_equal(c.log_text, 0);        /* json request lines */
    assert_int_equal(c.log_no_requests, 0); /* one line per request */
    assert_string_equal(c.log_file, "");    /* stderr */
    bw_config_cleanup(&c);
}

static void log_section_loads(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    const char text[] = "log:\n"
                        "  level: warn\n"
                        "  format: text\n"
                        "  file: logs/gateway.log\n"
                        "  requests: false\n";
    assert_int_equal(parse(text, &c, err), BW_OK);
    assert_int_equal(c.log_level, 1 + BW_LOG_WARN);
    assert_int_equal(c.log_text, 1);
    assert_int_equal(c.log_no_requests, 1);
    assert_string_equal(c.log_file, "logs/gateway.log");
    bw_config_cleanup(&c);
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"debug", BW_LOG_DEBUG}, {"info", BW_LOG_INFO}, {"error", BW_LOG_ERROR}};
    for (size_t i = 0; i < 3; i++) {
        char t[64];
        snprintf(t, sizeof t, "log:\n  level: %s\n  format: json\n", levels[i].name);
        assert_int_equal(parse(t, &c, err), BW_OK);
        assert_int_equal(c.log_level, 1 + levels[i].level);
        assert_int_equal(c.log_text, 0);
        bw_config_cleanup(&c);
    }
}

static void log_section_rejects(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    const char *bad[] = {
        "log:\n  level: verbose\n", "log:\n  level: INFO\n", "log:\n  format: xml\n",
        "log:\n  requests: yes\n",  "log:\n  file: \"\"\n",  "log:\n  colour: true\n",
        "log:\n  level: [info]\n",  "log: stderr\n",         "log:\n  level: info\n  level: warn\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(parse(bad[i], &c, err), BW_E_INVALID);
        assert_non_null(strstr(err, "test.yaml:"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_defaults),
        cmocka_unit_test(log_section_loads),
        cmocka_unit_test(log_section_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
