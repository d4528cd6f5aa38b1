/* Unit tests: http/ strict framing (framing.h) and the Bearer parser (bearer.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/bearer.h"
#include "http/framing.h"

#define HOST "Host: gw\r\n"

static enum bw_http_reject check(const char *head, struct bw_http_head_info *info) {
    struct bw_http_head_info scratch;
    return bw_http_head_check((const uint8_t *)head, strlen(head), 1000000, info ? info : &scratch);
}

static void accepts_plain_heads(void **state) {
    (void)state;
    struct bw_http_head_info info;
    assert_int_equal(check("GET /v1/models HTTP/1.1\r\n" HOST "\r\n", &info), BW_HTTP_OK);
    assert_int_equal(info.content_length, 0);
    assert_int_equal(info.chunked, 0);
    assert_int_equal(check("POST /v1/chat/completions?x=1&y=%2F HTTP/1.1\r\n" HOST
                           "Content-Length: 42\r\nAuthorization: Bearer k\r\nX-A:  b c \r\n\r\n",
                           &info),
                     BW_HTTP_OK);
    assert_int_equal(info.content_length, 42);
    assert_int_equal(check("POST / HTTP/1.1\r\n" HOST "transfer-encoding: ChUnKeD\r\n\r\n", &info),
                     BW_HTTP_OK);
    assert_int_equal(info.chunked, 1);
    assert_int_equal(check("GET / HTTP/1.0\r\n\r\n", NULL), BW_HTTP_OK); /* no Host in 1.0 */
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", NULL), BW_HTTP_OK);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost:\r\n\r\n", NULL), BW_HTTP_OK);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "X-Utf8: \xc3\xa9t\xc3\xa9\r\n\r\n", NULL),
                     BW_HTTP_OK);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "X-Tab: a\tb\r\n\r\n", NULL), BW_HTTP_OK);
    /* a repeated field that is not read as one value stays allowed */
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "Accept: a\r\nAccept: b\r\n\r\n", NULL),
                     BW_HTTP_OK);
}

static void refuses_framing_ambiguity(void **state) {
    (void)state;
    assert_int_equal(
        check("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", NULL),
        BW_HTTP_DUPLICATE_FIELD);
    assert_int_equal(
        check("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\ncontent-length: 5\r\n\r\n", NULL),
        BW_HTTP_DUPLICATE_FIELD);
    const char *bad_lengths[] = {"5, 5", "+5", "-1", "0x5", "5 5", "", "12345678901234567890"};
    for (size_t i = 0; i < sizeof bad_lengths / sizeof *bad_lengths; i++) {
        char h[256];
        snprintf(h, sizeof h, "POST / HTTP/1.1\r\n" HOST "Content-Length: %s\r\n\r\n",
                 bad_lengths[i]);
        assert_int_equal(check(h, NULL), BW_HTTP_BAD_CONTENT_LENGTH);
    }
    assert_int_equal(check("POST / HTTP/1.1\r\n" HOST "Content-Length: 1000001\r\n\r\n", NULL),
                     BW_HTTP_BODY_TOO_LARGE);
    assert_int_equal(check("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding : chunked\r\n\r\n", NULL),
                     BW_HTTP_SPACE_BEFORE_COLON);
    assert_int_equal(check("POST / HTTP/1.1\r\n" HOST "Content-Length\t: 5\r\n\r\n", NULL),
                     BW_HTTP_SPACE_BEFORE_COLON);
    const char *bad_te[] = {"gzip, chunked", "chunked, chunked", "identity", "chunked;q=1",
                            "xchunked"};
    for (size_t i = 0; i < sizeof bad_te / sizeof *bad_te; i++) {
        char h[256];
        snprintf(h, sizeof h, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: %s\r\n\r\n",
                 bad_te[i]);
        assert_int_equal(check(h, NULL), BW_HTTP_BAD_TRANSFER_ENCODING);
    }
    assert_int_equal(check("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\tchunked\r\n\r\n", NULL),
                     BW_HTTP_BAD_FIELD_VALUE);
    assert_int_equal(check("POST / HTTP/1.1\r\n" HOST
                           "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                           NULL),
                     BW_HTTP_LENGTH_AND_CHUNKED);
    assert_int_equal(check("POST / HTTP/1.1\r\n" HOST
                           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                           NULL),
                     BW_HTTP_DUPLICATE_FIELD);
    assert_int_equal(check("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", NULL),
                     BW_HTTP_BAD_TRANSFER_ENCODING);
    assert_int_equal(check("HEAD / HTTP/1.1\r\n" HOST "Content-Length: 5\r\n\r\n", NULL),
                     BW_HTTP_BAD_CONTENT_LENGTH);
}

static void refuses_malformed_lines(void **state) {
    (void)state;
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "X-A: a\r\n b\r\n\r\n", NULL),
                     BW_HTTP_OBS_FOLD);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "X-A: a\r\n\tb\r\n\r\n", NULL),
                     BW_HTTP_OBS_FOLD);
    assert_int_equal(check("GET / HTTP/1.1\n" HOST "\r\n", NULL), BW_HTTP_BAD_LINE_END);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: gw\n\r\n", NULL), BW_HTTP_BAD_LINE_END);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "X-A: a\rb\r\n\r\n", NULL),
                     BW_HTTP_BAD_LINE_END);
    static const uint8_t nul[] =
        "GET / HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer k\0junk\r\n\r\n";
    struct bw_http_head_info info;
    assert_int_equal(bw_http_head_check(nul, sizeof nul - 1, 100, &info), BW_HTTP_BAD_FIELD_VALUE);
    static const uint8_t nul_name[] = "GET / HTTP/1.1\r\nHost: gw\r\nX\0A: b\r\n\r\n";
    assert_int_equal(bw_http_head_check(nul_name, sizeof nul_name - 1, 100, &info),
                     BW_HTTP_BAD_FIELD_NAME);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "X-A: a\x01\r\n\r\n", NULL),
                     BW_HTTP_BAD_FIELD_VALUE);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "X-A: a\x7f\r\n\r\n", NULL),
                     BW_HTTP_BAD_FIELD_VALUE);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "X(A): a\r\n\r\n", NULL),
                     BW_HTTP_BAD_FIELD_NAME);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST ": a\r\n\r\n", NULL), BW_HTTP_BAD_FIELD_NAME);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "NoColon\r\n\r\n", NULL),
                     BW_HTTP_BAD_FIELD_NAME);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST "Bulwark Refused: 3\r\n\r\n", NULL),
                     BW_HTTP_SPACE_BEFORE_COLON);
}

static void refuses_duplicates_and_hosts(void **state) {
    (void)state;
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST HOST "\r\n", NULL), BW_HTTP_DUPLICATE_FIELD);
    assert_int_equal(check("GET / HTTP/1.1\r\n" HOST
                           "Authorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n",
                           NULL),
                     BW_HTTP_DUPLICATE_FIELD);
    assert_int_equal(check("GET / HTTP/1.1\r\n\r\n", NULL), BW_HTTP_BAD_HOST);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: user@gw\r\n\r\n", NULL), BW_HTTP_BAD_HOST);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: gw/x\r\n\r\n", NULL), BW_HTTP_BAD_HOST);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: gw:80x\r\n\r\n", NULL), BW_HTTP_BAD_HOST);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: gw gw\r\n\r\n", NULL), BW_HTTP_BAD_HOST);
}

static void refuses_request_lines(void **state) {
    (void)state;
    assert_int_equal(check("GET  / HTTP/1.1\r\n" HOST "\r\n", NULL), BW_HTTP_BAD_REQUEST_LINE);
    assert_int_equal(check("GET / HTTP/1.1 \r\n" HOST "\r\n", NULL), BW_HTTP_BAD_REQUEST_LINE);
    assert_int_equal(check("GET /\r\n" HOST "\r\n", NULL), BW_HTTP_BAD_REQUEST_LINE);
    assert_int_equal(check("\r\nGET / HTTP/1.1\r\n" HOST "\r\n", NULL), BW_HTTP_BAD_REQUEST_LINE);
    assert_int_equal(check("GET / HTTP/2.0\r\n" HOST "\r\n", NULL), BW_HTTP_BAD_VERSION);
    assert_int_equal(check("GET / http/1.1\r\n" HOST "\r\n", NULL), BW_HTTP_BAD_REQUEST_LINE);
    assert_int_equal(check("TRACE / HTTP/1.1\r\n" HOST "\r\n", NULL), BW_HTTP_BAD_METHOD);
    assert_int_equal(check("get / HTTP/1.1\r\n" HOST "\r\n", NULL), BW_HTTP_BAD_METHOD);
    assert_int_equal(check("CONNECT gw:443 HTTP/1.1\r\n" HOST "\r\n", NULL), BW_HTTP_BAD_METHOD);
    const char *targets[] = {"http://gw/v1/models",
                             "*",
                             "//evil/v1/models",
                             "/a#frag",
                             "/a b",
                             "/%zz",
                             "/a%2",
                             "/a\"b",
                             "/a<b>",
                             "/\xc3\xa9",
                             "v1/models"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        char h[256];
        snprintf(h, sizeof h, "GET %s HTTP/1.1\r\n" HOST "\r\n", targets[i]);
        enum bw_http_reject r = check(h, NULL);
        assert_true(r == BW_HTTP_BAD_TARGET || r == BW_HTTP_BAD_REQUEST_LINE);
    }
}

static enum bw_http_reject feed_all(const char *body, size_t *used, int *done) {
    struct bw_http_chunks c;
    bw_http_chunks_init(&c);
    return bw_http_chunks_feed(&c, (const uint8_t *)body, strlen(body), used, done);
}

static void chunks_are_strict(void **state) {
    (void)state;
    size_t used;
    int done;
    const char *ok = "5\r\nhello\r\n0a\r\n0123456789\r\n0\r\n\r\nGET / HTTP/1.1";
    assert_int_equal(feed_all(ok, &used, &done), BW_HTTP_OK);
    assert_int_equal(done, 1);
    assert_int_equal(used, strlen(ok) - strlen("GET / HTTP/1.1"));
    /* byte by byte gives the same end */
    struct bw_http_chunks c;
    bw_http_chunks_init(&c);
    size_t total = 0;
    done = 0;
    while (!done) {
        size_t u = 0;
        assert_int_equal(bw_http_chunks_feed(&c, (const uint8_t *)ok + total, 1, &u, &done),
                         BW_HTTP_OK);
        total += u;
    }
    assert_int_equal(total, used);
    const char *bad[] = {"0x5\r\nhello\r\n0\r\n\r\n",
                         " 5\r\nhello\r\n0\r\n\r\n",
                         "5 \r\nhello\r\n0\r\n\r\n",
                         "5;ext=1\r\nhello\r\n0\r\n\r\n",
                         "5\r\nhello0\r\n\r\n",
                         "5\r\nhello\r\n\r\n0\r\n\r\n",
                         "5\nhello\n0\n\n",
                         "\r\n",
                         "-1\r\n",
                         "11111111111111111\r\n",
                         "5\r\nhello\r\n0\r\n\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        enum bw_http_reject r = feed_all(bad[i], &used, &done);
        assert_true(r == BW_HTTP_BAD_CHUNK || r == BW_HTTP_TRAILER);
    }
    assert_int_equal(feed_all("0\r\nX-Trailer: 1\r\n\r\n", &used, &done), BW_HTTP_TRAILER);
}

static void statuses_are_fixed(void **state) {
    (void)state;
    assert_int_equal(bw_http_reject_status(BW_HTTP_DUPLICATE_FIELD), 400);
    assert_int_equal(bw_http_reject_status(BW_HTTP_HEAD_TOO_LARGE), 431);
    assert_int_equal(bw_http_reject_status(BW_HTTP_BODY_TOO_LARGE), 413);
    assert_int_equal(bw_http_reject_status(BW_HTTP_BAD_METHOD), 405);
    assert_int_equal(bw_http_reject_status((enum bw_http_reject)999), 400);
    assert_string_equal(bw_http_reject_code(BW_HTTP_OBS_FOLD), "INVALID_REQUEST");
}

static void bearer_is_exact(void **state) {
    (void)state;
    const char *t;
    size_t n;
    assert_int_equal(bw_http_bearer_parse("Bearer abc_-1", 47, &t, &n), BW_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(t, "abc_-1", 6);
    assert_int_equal(bw_http_bearer_parse("bEaReR abc", 47, &t, &n), BW_OK);
    assert_int_equal(bw_http_bearer_parse("Bearer ab+/c==", 47, &t, &n), BW_OK);
    const char *bad[] = {
        "Bearer abc garbage", "Bearer  abc", "Bearer abc ", "Bearer",     "Bearer ",
        "Basic abc",          "Bearerabc",   " Bearer abc", "Bearer a=b", "Bearer =",
        "Bearer abc\t",       "Bearer a,b",  "Token abc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(bw_http_bearer_parse(bad[i], 47, &t, &n), BW_E_UNAUTH);
    assert_int_equal(bw_http_bearer_parse(NULL, 47, &t, &n), BW_E_UNAUTH);
    assert_int_equal(bw_http_bearer_parse("Bearer abcd", 3, &t, &n), BW_E_UNAUTH);
    assert_int_equal(bw_http_bearer_parse("Bearer abc", 3, &t, &n), BW_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_plain_heads),     cmocka_unit_test(refuses_framing_ambiguity),
        cmocka_unit_test(refuses_malformed_lines), cmocka_unit_test(refuses_duplicates_and_hosts),
        cmocka_unit_test(refuses_request_lines),   cmocka_unit_test(chunks_are_strict),
        cmocka_unit_test(statuses_are_fixed),      cmocka_unit_test(bearer_is_exact),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
