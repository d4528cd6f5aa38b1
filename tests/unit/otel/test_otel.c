/* Unit tests: otel/ (W3C traceparent parsing and the OTLP/JSON encoding). */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "otel/otel.h"

static void traceparent(void **state) {
    (void)state;
    uint8_t t[16], p[8];
    assert_int_equal(
        bw_otel_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t, p),
        1);
    assert_int_equal(t[0], 0x4b);
    assert_int_equal(t[15], 0x36);
    assert_int_equal(p[7], 0xb7);
    /* a future version may carry more fields after a '-' */
    assert_int_equal(bw_otel_traceparent_parse(
                         "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", t, p),
                     1);
    static const char *const bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",      /* no flags */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 has 4 fields */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bw_otel_traceparent_parse(bad[i], t, p), 0);
}

static const char *attr(json_t *span, const char *key, const char *kind) {
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(span, "attributes"), i, a) {
        if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
            return json_string_value(json_object_get(json_object_get(a, "value"), kind));
    }
    return NULL;
}

static void encode(void **state) {
    (void)state;
    struct bw_otel_span s[2];
    memset(s, 0, sizeof s);
    bw_otel_new_ids(s[0].trace_id, s[0].span_id);
    s[0].start_unix_ns = 1700000000000000000;
    s[0].end_unix_ns = 1700000000123456789;
    snprintf(s[0].operation, sizeof s[0].operation, "chat");
    snprintf(s[0].request_model, sizeof s[0].request_model, "gpt\"4o\n");
    s[0].has_usage = 1;
    s[0].input_tokens = 12;
    s[0].output_tokens = 3;
    snprintf(s[0].receipt_id, sizeof s[0].receipt_id, "0a1b2c3d.7");
    snprintf(s[0].decision, sizeof s[0].decision, "allow");
    s[0].http_status = 200;
    s[1] = s[0];
    s[1].has_parent = 1;
    memset(s[1].parent_span_id, 0xab, 8);
    snprintf(s[1].request_model, sizeof s[1].request_model, "bad\xff\xfeutf8");
    snprintf(s[1].reason, sizeof s[1].reason, "UPSTREAM_TIMEOUT");
    s[1].http_status = 504;
    struct bw_buf b;
    bw_buf_init(&b, 1 << 20);
    assert_int_equal(bw_otel_encode(s, 2, "svc", &b), BW_OK);
    json_error_t je;
    json_t *root = json_loadb((const char *)b.ptr, b.len, 0, &je);
    assert_non_null(root);
    json_t *rs = json_array_get(json_object_get(root, "resourceSpans"), 0);
    json_t *spans = json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
    assert_int_equal(json_array_size(spans), 2);
    json_t *a = json_array_get(spans, 0), *c = json_array_get(spans, 1);
    assert_int_equal(strlen(json_string_value(json_object_get(a, "traceId"))), 32);
    assert_int_equal(strlen(json_string_value(json_object_get(a, "spanId"))), 16);
    assert_string_equal(json_string_value(json_object_get(a, "endTimeUnixNano")),
                        "1700000000123456789");
    assert_string_equal(attr(a, "gen_ai.request.model", "stringValue"), "gpt\"4o\n");
    assert_string_equal(attr(a, "gen_ai.usage.input_tokens", "intValue"), "12");
    assert_string_equal(attr(a, "bulwark.receipt_id", "stringValue"), "0a1b2c3d.7");
    assert_null(json_object_get(a, "parentSpanId"));
    assert_string_equal(json_string_value(json_object_get(c, "parentSpanId")), "abababababababab");
    assert_null(attr(c, "gen_ai.request.model", "stringValue")); /* not UTF-8: left out */
    assert_string_equal(json_string_value(json_object_get(c, "name")), "chat");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "status"), "code")), 2);
    assert_string_equal(attr(c, "error.type", "stringValue"), "UPSTREAM_TIMEOUT");
    json_decref(root);
    bw_buf_reset(&b);
    b.max = 64;
    assert_int_equal(bw_otel_encode(s, 2, "svc", &b), BW_E_TOO_LARGE);
    bw_buf_cleanup(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(traceparent),
        cmocka_unit_test(encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
