/* Unit tests: config/ widget section (the public chat widget's bounds and rate). */
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

static void widget_defaults(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("workers: 1\n", &c, err), BW_OK);
    assert_string_equal(c.widget_model, "");
    assert_int_equal(c.widget_max_message_bytes, 4000);
    assert_int_equal(c.widget_max_tokens, 512);
    assert_int_equal(c.widget_history_messages, 20);
    assert_int_equal(c.widget_history_bytes, 32768);
    assert_int_equal(c.widget_max_conversation_messages, 200);
    /* a public endpoint is rate-limited by default */
    assert_int_equal(c.widget_requests.per_minute, 30);
    assert_int_equal(c.widget_requests.burst, 10);
    bw_config_cleanup(&c);
}

static void widget_section_loads(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    const char text[] = "widget:\n"
                        "  model: gpt-4o-mini\n"
                        "  max_message_bytes: 2000\n"
                        "  max_tokens: 256\n"
                        "  history_messages: 0\n"
                        "  history_bytes: 1024\n"
                        "  max_conversation_messages: 10\n"
                        "  requests_per_minute: 6\n"
                        "  requests_burst: 2\n";
    assert_int_equal(parse(text, &c, err), BW_OK);
    assert_string_equal(c.widget_model, "gpt-4o-mini");
    assert_int_equal(c.widget_max_message_bytes, 2000);
    assert_int_equal(c.widget_max_tokens, 256);
    assert_int_equal(c.widget_history_messages, 0);
    assert_int_equal(c.widget_history_bytes, 1024);
    assert_int_equal(c.widget_max_conversation_messages, 10);
    assert_int_equal(c.widget_requests.per_minute, 6);
    assert_int_equal(c.widget_requests.burst, 2);
    bw_config_cleanup(&c);
    /* the widget's own bucket can be turned off */
    assert_int_equal(parse("widget:\n  requests_per_minute: 0\n", &c, err), BW_OK);
    assert_int_equal(c.widget_requests.per_minute, 0);
    bw_config_cleanup(&c);
}

static void widget_errors(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    const char *bad[] = {
        "widget:\n  model: \"gpt 4o\"\n",
        "widget:\n  model: \"\"\n",
        "widget:\n  model: [a]\n",
        "widget:\n  max_message_bytes: 0\n",
        "widget:\n  max_message_bytes: 65537\n",
        "widget:\n  max_tokens: 0\n",
        "widget:\n  max_tokens: 100000001\n",
        "widget:\n  history_messages: -1\n",
        "widget:\n  history_messages: 201\n",
        "widget:\n  history_bytes: 1048577\n",
        "widget:\n  max_conversation_messages: 1\n",
        "widget:\n  max_conversation_messages: 1001\n",
        "widget:\n  requests_per_minute: -1\n",
        "widget:\n  requests_per_minute: 1000000001\n",
        "widget:\n  requests_burst: 0\n",
        "widget:\n  requests_burst: x\n",
        "widget:\n  origins: https://a.example\n", /* origins are per agent, not global */
        "widget:\n  max_tokens: 5\n  max_tokens: 6\n",
        "widget: true\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(parse(bad[i], &c, err), BW_E_INVALID);
        assert_non_null(strstr(err, "test.yaml:"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(widget_defaults),
        cmocka_unit_test(widget_section_loads),
        cmocka_unit_test(widget_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
