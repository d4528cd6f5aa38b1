/* Unit tests: proxy/sse (event framing across arbitrary splits, bounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h: it needs them */

#include "http/sse.h"

struct seen {
    char data[8][64];
    size_t raw_total;
    int n;
};

static bw_err collect(void *arg, const char *raw, size_t raw_len, const char *data,
                      size_t data_len) {
    (void)raw;
    struct seen *s = arg;
    if (s->n >= 8)
        return BW_E_TOO_LARGE;
    if (data)
        snprintf(s->data[s->n++], 64, "%.*s", (int)data_len, data);
    else
        snprintf(s->data[s->n++], 64, "<none>");
    s->raw_total += raw_len;
    return BW_OK;
}

static const char stream[] = "data: {\"a\":1}\n\n"
                             ": comment\ndata: x\ndata: y\n\n"
                             "event: e\r\ndata:{\"b\":2}\r\n\r\n"
                             "data: [DONE]\n\n";

static void every_split_gives_same_events(void **state) {
    (void)state;
    size_t n = strlen(stream);
    for (size_t cut = 0; cut <= n; cut++) {
        struct bw_sse sse;
        struct seen s;
        memset(&s, 0, sizeof s);
        bw_sse_init(&sse, 1024);
        assert_int_equal(bw_sse_feed(&sse, stream, cut, collect, &s), BW_OK);
        assert_int_equal(bw_sse_feed(&sse, stream + cut, n - cut, collect, &s), BW_OK);
        assert_int_equal(s.n, 4);
        assert_string_equal(s.data[0], "{\"a\":1}");
        assert_string_equal(s.data[1], "x\ny");
        assert_string_equal(s.data[2], "{\"b\":2}");
        assert_string_equal(s.data[3], "[DONE]");
        assert_int_equal(s.raw_total, n);
        assert_int_equal(bw_sse_pending(&sse), 0);
        bw_sse_cleanup(&sse);
    }
}

static void bytewise_feed(void **state) {
    (void)state;
    struct bw_sse sse;
    struct seen s;
    memset(&s, 0, sizeof s);
    bw_sse_init(&sse, 1024);
    for (size_t i = 0; i < strlen(stream); i++)
        assert_int_equal(bw_sse_feed(&sse, stream + i, 1, collect, &s), BW_OK);
    assert_int_equal(s.n, 4);
    bw_sse_cleanup(&sse);
}

static void oversized_event_is_refused(void **state) {
    (void)state;
    struct bw_sse sse;
    struct seen s;
    memset(&s, 0, sizeof s);
    bw_sse_init(&sse, 16);
    assert_int_equal(bw_sse_feed(&sse, "data: 0123456789abcdef", 22, collect, &s), BW_E_TOO_LARGE);
    bw_sse_cleanup(&sse);
}

static void unfinished_event_is_pending(void **state) {
    (void)state;
    struct bw_sse sse;
    struct seen s;
    memset(&s, 0, sizeof s);
    bw_sse_init(&sse, 64);
    assert_int_equal(bw_sse_feed(&sse, "data: 1\n\ndata: 2\n", 17, collect, &s), BW_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(bw_sse_pending(&sse), 8);
    bw_sse_cleanup(&sse);
}

/* WHATWG SSE: lines end at CRLF, LF or CR; comments, event:, id:, retry: and unknown fields
 * are allowed; an event with no data line dispatches nothing (data NULL here). */
static const char spec_stream[] = ": keep-alive\r\r"
                                  "id: 7\revent: message\rdata: {\"a\":1}\r\r"
                                  "retry: 10\nfoo\ndata\n\n"
                                  "data:x\r\ndata:  y\r\n\r\n"
                                  ":only a comment\n\n"
                                  "data: [DONE]\r\n\r\n";

static void spec_line_endings_and_fields(void **state) {
    (void)state;
    size_t n = strlen(spec_stream);
    for (size_t cut = 0; cut <= n; cut++) {
        struct bw_sse sse;
        struct seen s;
        memset(&s, 0, sizeof s);
        bw_sse_init(&sse, 1024);
        assert_int_equal(bw_sse_feed(&sse, spec_stream, cut, collect, &s), BW_OK);
        assert_int_equal(bw_sse_feed(&sse, spec_stream + cut, n - cut, collect, &s), BW_OK);
        assert_int_equal(s.n, 6);
        assert_string_equal(s.data[0], "<none>");
        assert_string_equal(s.data[1], "{\"a\":1}");
        assert_string_equal(s.data[2], ""); /* a bare "data" field: an empty value */
        assert_string_equal(s.data[3], "x\n y");
        assert_string_equal(s.data[4], "<none>");
        assert_string_equal(s.data[5], "[DONE]");
        assert_int_equal(s.raw_total, n);
        assert_int_equal(bw_sse_pending(&sse), 0);
        bw_sse_cleanup(&sse);
    }
}

/* A CR that ends one feed and the LF that starts the next are one line end, not two. */
static void cr_then_lf_across_feeds(void **state) {
    (void)state;
    struct bw_sse sse;
    struct seen s;
    memset(&s, 0, sizeof s);
    bw_sse_init(&sse, 64);
    assert_int_equal(bw_sse_feed(&sse, "data: 1\r", 8, collect, &s), BW_OK);
    assert_int_equal(bw_sse_feed(&sse, "\ndata: 2\r\n", 10, collect, &s), BW_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(bw_sse_feed(&sse, "\r\n", 2, collect, &s), BW_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.data[0], "1\n2");
    bw_sse_cleanup(&sse);
}

/* WHATWG: a leading BOM is skipped, however the bytes are split; only one, only at the start. */
static void leading_bom_is_skipped(void **state) {
    (void)state;
    static const char text[] = "\xEF\xBB\xBF"
                               "data: a\n\n\xEF\xBB\xBF"
                               "data: b\n\n";
    size_t n = strlen(text);
    for (size_t cut = 0; cut <= n; cut++) {
        struct bw_sse sse;
        struct seen s;
        memset(&s, 0, sizeof s);
        bw_sse_init(&sse, 1024);
        assert_int_equal(bw_sse_feed(&sse, text, cut, collect, &s), BW_OK);
        assert_int_equal(bw_sse_feed(&sse, text + cut, n - cut, collect, &s), BW_OK);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.data[0], "a");
        assert_string_equal(s.data[1], "<none>"); /* a second BOM is a field name's byte */
        bw_sse_cleanup(&sse);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_split_gives_same_events),
        cmocka_unit_test(bytewise_feed),
        cmocka_unit_test(oversized_event_is_refused),
        cmocka_unit_test(unfinished_event_is_pending),
        cmocka_unit_test(spec_line_endings_and_fields),
        cmocka_unit_test(cr_then_lf_across_feeds),
        cmocka_unit_test(leading_bom_is_skipped),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
