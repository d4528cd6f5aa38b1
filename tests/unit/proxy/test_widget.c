/* Unit tests: proxy/widget (key and path shape, body parser with its limits, UTF-8, CORS origin
 * and preflight checks, the per-worker agent cache and its invalidation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "http/origin.h"
#include "proxy/widget.h"
#include "reason/reasons.h"
#include "store/identity.h"

static const char KEY[] = "bwp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static void key_shape(void **state) {
    (void)state;
    assert_int_equal(strlen(KEY), BW_WIDGET_KEY_CHARS);
    assert_true(bw_widget_key_shape_ok(KEY, strlen(KEY)));
    assert_true(bw_widget_key_shape_ok("bwp_-_09azAZ-_09azAZ-_09azAZ-_09azAZ-_09azAZ-AB", 47));
    assert_false(bw_widget_key_shape_ok(KEY, strlen(KEY) - 1)); /* truncated */
    assert_false(bw_widget_key_shape_ok("bwk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 47));
    assert_false(bw_widget_key_shape_ok("bwp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", 47));
    assert_false(bw_widget_key_shape_ok("bwp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 47));
    assert_false(bw_widget_key_shape_ok("bwp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%", 47));
    assert_false(bw_widget_key_shape_ok("", 0));
}

static void path_key(void **state) {
    (void)state;
    char k[BW_WIDGET_KEY_SIZE];
    char path[128];
    snprintf(path, sizeof path, "/widget/v1/%s/chat", KEY);
    assert_true(bw_widget_path_key(path, k));
    assert_string_equal(k, KEY);
    assert_true(bw_widget_path_key("/widget/v1/x/chat", k)); /* shape is checked separately */
    assert_string_equal(k, "x");
    assert_false(bw_widget_path_key("/widget/v1//chat", k));
    assert_false(bw_widget_path_key("/widget/v1/x/chat/", k));
    assert_false(bw_widget_path_key("/widget/v1/x/y/chat", k));
    assert_false(bw_widget_path_key("/widget/v1/x", k));
    assert_false(bw_widget_path_key("/widget/v2/x/chat", k));
    assert_false(bw_widget_path_key("/v1/chat/completions", k));
    /* a key longer than any key cannot overflow the buffer */
    char longp[300];
    memset(longp, 'a', sizeof longp);
    memcpy(longp, "/widget/v1/", 11);
    memcpy(longp + 250, "/chat", 6);
    assert_false(bw_widget_path_key(longp, k));
}

static void utf8(void **state) {
    (void)state;
    assert_true(bw_widget_utf8_ok("", 0));
    assert_true(bw_widget_utf8_ok("plain", 5));
    assert_true(bw_widget_utf8_ok("\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80", 9)); /* é ✓ 😀 */
    assert_true(bw_widget_utf8_ok("\xf4\x8f\xbf\xbf", 4));                     /* U+10FFFF */
    assert_false(bw_widget_utf8_ok("\xff", 1));
    assert_false(bw_widget_utf8_ok("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(bw_widget_utf8_ok("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(bw_widget_utf8_ok("\xed\xa0\x80", 3));     /* surrogate D800 */
    assert_false(bw_widget_utf8_ok("\xf4\x90\x80\x80", 4)); /* over U+10FFFF */
    assert_false(bw_widget_utf8_ok("\xe2\x9c", 2));         /* truncated */
    assert_false(bw_widget_utf8_ok("\xc3", 1));
    assert_false(bw_widget_utf8_ok("\x80", 1)); /* lone continuation */
    assert_false(bw_widget_utf8_ok("\xe2\x28\xa1", 3));
}

static bw_err parse(const char *body, size_t max, struct bw_widget_request *r,
                    const char **why_code) {
    char why[200];
    const char *reason = "unset";
    bw_err e = bw_widget_request_parse((const uint8_t *)body, strlen(body), max, r, &reason, why,
                                       sizeof why);
    if (why_code)
        *why_code = reason;
    if (e != BW_OK) {
        assert_non_null(reason);
        assert_true(strlen(why) > 0);
    } else {
        assert_null(reason);
    }
    return e;
}

static void request_ok(void **state) {
    (void)state;
    struct bw_widget_request r;
    assert_int_equal(parse("{\"message\":\"hi \\u00e9\"}", 100, &r, NULL), BW_OK);
    assert_string_equal(r.message, "hi \xc3\xa9");
    assert_int_equal(r.message_len, 5);
    assert_string_equal(r.conversation_id, "");
    bw_widget_request_cleanup(&r);
    assert_int_equal(
        parse("{\"conversation_id\":\"cnv_0123456789abcdef\",\"message\":\"x\"}", 1, &r, NULL),
        BW_OK);
    assert_string_equal(r.conversation_id, "cnv_0123456789abcdef");
    bw_widget_request_cleanup(&r);
    bw_widget_request_cleanup(&r); /* twice is harmless */
    bw_widget_request_cleanup(NULL);
}

static void request_errors(void **state) {
    (void)state;
    struct bw_widget_request r;
    const char *code = NULL;
    const struct {
        const char *body;
        bw_err err;
        const char *code;
    } bad[] = {
        {"", BW_E_INVALID, BW_R_INVALID_JSON},
        {"{\"message\":\"x\"", BW_E_INVALID, BW_R_INVALID_JSON}, /* truncated */
        {"[\"message\"]", BW_E_INVALID, BW_R_INVALID_JSON},      /* not an object */
        {"{\"message\":\"a\",\"message\":\"b\"}", BW_E_INVALID, BW_R_INVALID_JSON},
        {"{\"message\":\"\xff\xfe\"}", BW_E_INVALID, BW_R_INVALID_JSON},  /* bad UTF-8 */
        {"{\"message\":\"\xc0\xaf\"}", BW_E_INVALID, BW_R_INVALID_JSON},  /* overlong */
        {"{\"message\":\"\\ud800\"}", BW_E_INVALID, BW_R_INVALID_JSON},   /* lone surrogate */
        {"{\"message\":\"a\\u0000b\"}", BW_E_INVALID, BW_R_INVALID_JSON}, /* NUL */
        {"{\"message\":\"x\"} x", BW_E_INVALID, BW_R_INVALID_JSON},       /* trailing */
        {"{}", BW_E_INVALID, BW_R_INVALID_REQUEST},
        {"{\"message\":\"\"}", BW_E_INVALID, BW_R_INVALID_REQUEST},
        {"{\"message\":5}", BW_E_INVALID, BW_R_INVALID_REQUEST},
        {"{\"message\":null}", BW_E_INVALID, BW_R_INVALID_REQUEST},
        {"{\"message\":[\"x\"]}", BW_E_INVALID, BW_R_INVALID_REQUEST},
        {"{\"message\":{\"a\":{\"b\":1}}}", BW_E_INVALID, BW_R_INVALID_REQUEST}, /* nested */
        {"{\"message\":\"x\",\"model\":\"gpt-4o\"}", BW_E_INVALID, BW_R_INVALID_REQUEST},
        {"{\"message\":\"x\",\"messages\":[]}", BW_E_INVALID, BW_R_INVALID_REQUEST},
        {"{\"message\":\"x\",\"conversation_id\":\"cnv_0123\"}", BW_E_INVALID,
         BW_R_INVALID_REQUEST},
        {"{\"message\":\"x\",\"conversation_id\":\"cnv_0123456789ABCDEF\"}", BW_E_INVALID,
         BW_R_INVALID_REQUEST},
        {"{\"message\":\"x\",\"conversation_id\":\"trn_0123456789abcdef\"}", BW_E_INVALID,
         BW_R_INVALID_REQUEST},
        {"{\"message\":\"x\",\"conversation_id\":\"cnv_0123456789abcdef0\"}", BW_E_INVALID,
         BW_R_INVALID_REQUEST},
        {"{\"message\":\"x\",\"conversation_id\":7}", BW_E_INVALID, BW_R_INVALID_REQUEST},
        {"{\"message\":\"0123456789a\"}", BW_E_TOO_LARGE, BW_R_BODY_TOO_LARGE}, /* 11 > 10 */
        {"{\"message\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}", BW_E_TOO_LARGE,
         BW_R_BODY_TOO_LARGE}, /* 12 bytes of UTF-8 once decoded */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&r, 0, sizeof r);
        bw_err e = parse(bad[i].body, 10, &r, &code);
        if (e != bad[i].err || strcmp(code, bad[i].code) != 0)
            fail_msg("case %zu (%s): got %d %s", i, bad[i].body, e, code);
        assert_null(r.message);
    }
    /* exactly at the cap is accepted */
    assert_int_equal(parse("{\"message\":\"0123456789\"}", 10, &r, NULL), BW_OK);
    bw_widget_request_cleanup(&r);
    /* a body over the bound is refused before it is parsed */
    size_t n = bw_widget_max_body(10) + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = 0;
    assert_int_equal(parse(big, 10, &r, &code), BW_E_TOO_LARGE);
    assert_string_equal(code, BW_R_BODY_TOO_LARGE);
    big[n - 2] = 0; /* one byte under: parsed (and refused for lacking a message) */
    big[n - 3] = '}';
    assert_int_equal(parse(big, 10, &r, &code), BW_E_INVALID);
    free(big);
}

static void origins(void **state) {
    (void)state;
    const char *list = "https://shop.example http://localhost:3000  https://b.example";
    assert_true(bw_widget_origin_allowed(list, "https://shop.example"));
    assert_true(bw_widget_origin_allowed(list, "http://localhost:3000"));
    assert_true(bw_widget_origin_allowed(list, "https://b.example"));
    assert_false(bw_widget_origin_allowed(list, "https://shop.example:443"));
    assert_false(bw_widget_origin_allowed(list, "http://shop.example"));
    assert_false(bw_widget_origin_allowed(list, "https://shop.exampl"));
    assert_false(bw_widget_origin_allowed(list, "https://shop.example.evil"));
    assert_false(bw_widget_origin_allowed(list, "https://evil.shop.example"));
    assert_false(bw_widget_origin_allowed(list, "https://SHOP.example"));
    assert_false(bw_widget_origin_allowed(list, "http://localhost"));
    assert_false(bw_widget_origin_allowed(list, "https://shop.example http://localhost:3000"));
    assert_false(bw_widget_origin_allowed(list, ""));
    assert_false(bw_widget_origin_allowed(list, NULL));
    assert_false(bw_widget_origin_allowed(list, "null"));
    assert_false(bw_widget_origin_allowed("null", "null"));
    assert_false(bw_widget_origin_allowed("*", "https://a.example"));
    assert_false(bw_widget_origin_allowed("", "https://a.example"));
    assert_false(bw_widget_origin_allowed(NULL, "https://a.example"));
    assert_false(bw_widget_origin_allowed("https://a.example\t", "https://a.example\t"));
    char longo[BW_WIDGET_MAX_ORIGIN + 2];
    memset(longo, 'a', sizeof longo - 1);
    longo[sizeof longo - 1] = 0;
    assert_false(bw_widget_origin_allowed(longo, longo));
}

static void preflight(void **state) {
    (void)state;
    assert_true(bw_widget_preflight_ok("POST", NULL));
    assert_true(bw_widget_preflight_ok("POST", ""));
    assert_true(bw_widget_preflight_ok("POST", "content-type"));
    assert_true(bw_widget_preflight_ok("POST", "Content-Type"));
    assert_true(bw_widget_preflight_ok("POST", " content-type ,\tCONTENT-TYPE"));
    assert_false(bw_widget_preflight_ok("post", "content-type"));
    assert_false(bw_widget_preflight_ok("GET", NULL));
    assert_false(bw_widget_preflight_ok("PUT", NULL));
    assert_false(bw_widget_preflight_ok(NULL, NULL));
    assert_false(bw_widget_preflight_ok("POST", "authorization"));
    assert_false(bw_widget_preflight_ok("POST", "content-type, authorization"));
    assert_false(bw_widget_preflight_ok("POST", "content-typex"));
    assert_false(bw_widget_preflight_ok("POST", "x-content-type"));
}

/* The cache against a real SQLite store: hits within the TTL, misses after invalidation. */
static void cache(void **state) {
    (void)state;
    char dir[] = "/tmp/bw-widget-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/bulwark.db", dir);
    struct bw_store *s = NULL;
    assert_int_equal(bw_store_open_sqlite(path, 1, &s), BW_OK);
    char org[BW_ID_SIZE];
    assert_int_equal(bw_store_org_create(s, "acme", org), BW_OK);
    struct bw_agent_record a;
    memset(&a, 0, sizeof a);
    bw_store_new_id("agt", a.id);
    snprintf(a.org_id, sizeof a.org_id, "%s", org);
    snprintf(a.name, sizeof a.name, "helper");
    a.created_ms = 1;
    assert_int_equal(bw_store_agent_insert(s, &a), BW_OK);
    a.widget_enabled = 1;
    snprintf(a.widget_key, sizeof a.widget_key, "%s", KEY);
    snprintf(a.widget_origins, sizeof a.widget_origins, "https://a.example");
    assert_int_equal(bw_store_agent_update(s, &a), BW_OK);

    struct bw_widget_cache *c = NULL;
    assert_int_equal(bw_widget_cache_new(0, 1000, &c), BW_E_INVALID);
    assert_int_equal(bw_widget_cache_new(64, 1000, &c), BW_OK);
    struct bw_agent_record got;
    assert_int_equal(bw_widget_lookup(c, s, KEY, 1000, &got), BW_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.org_name, "acme");
    assert_true(got.widget_enabled);
    assert_int_equal(
        bw_widget_lookup(c, s, "bwp_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 1000, &got),
        BW_E_NOT_FOUND);

    /* Disabled behind the cache's back: still the cached record within the TTL... */
    a.widget_enabled = 0;
    assert_int_equal(bw_store_agent_update(s, &a), BW_OK);
    assert_int_equal(bw_widget_lookup(c, s, KEY, 1500, &got), BW_OK);
    assert_true(got.widget_enabled);
    /* ...but at once after an invalidation in this process, */
    bw_auth_cache_invalidate_all();
    assert_int_equal(bw_widget_lookup(c, s, KEY, 1500, &got), BW_OK);
    assert_false(got.widget_enabled);
    /* and after the TTL in any case. */
    a.widget_enabled = 1;
    assert_int_equal(bw_store_agent_update(s, &a), BW_OK);
    assert_int_equal(bw_widget_lookup(c, s, KEY, 2499, &got), BW_OK);
    assert_false(got.widget_enabled);
    assert_int_equal(bw_widget_lookup(c, s, KEY, 2500, &got), BW_OK);
    assert_true(got.widget_enabled);
    /* A new key: the old one is gone at once after invalidation. */
    snprintf(a.widget_key, sizeof a.widget_key, "bwp_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC");
    assert_int_equal(bw_store_agent_update(s, &a), BW_OK);
    bw_auth_cache_invalidate_all();
    assert_int_equal(bw_widget_lookup(c, s, KEY, 2600, &got), BW_E_NOT_FOUND);
    assert_int_equal(bw_widget_lookup(NULL, s, a.widget_key, 2600, &got), BW_OK);

    bw_widget_cache_free(c);
    bw_widget_cache_free(NULL);
    bw_store_close(s);
    unlink(path);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);
}

static void origins_listed_strictly(void **state) {
    (void)state;
    const char *ok[] = {
        "https://shop.example",      "http://shop.example",     "https://a.b-c.example",
        "https://shop.example:8443", "http://shop.example:443", "https://xn--bcher-kva.example",
        "http://127.0.0.1:8080",     "http://10.0.0.1",         "http://[::1]:8080",
        "https://[2001:db8::1]",     "http://localhost:3000",   "https://1shop.example"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_true(bw_http_origin_valid(ok[i]));
    const char *bad[] = {"",
                         "shop.example",
                         "ftp://shop.example",
                         "HTTPS://shop.example",
                         "https://Shop.example",
                         "https://shop.example/",
                         "https://shop.example.",
                         "https://shop.example/path",
                         "https://shop.example?q",
                         "https://shop.example#f",
                         "https://user@shop.example",
                         "https://user:pw@shop.example",
                         "https://*.shop.example",
                         "https://*",
                         "https://shop.example:443",
                         "http://shop.example:80",
                         "https://shop.example:0",
                         "https://shop.example:08443",
                         "https://shop.example:65536",
                         "https://shop.example:",
                         "https://shop.example:12a",
                         "https://",
                         "https://:8443",
                         "https://sh op.example",
                         "https://b\303\274cher.example",
                         "https://-shop.example",
                         "https://shop-.example",
                         "https://shop..example",
                         "https://.shop.example",
                         "https://shop_x.example",
                         "http://1.2.3",
                         "http://256.1.1.1",
                         "http://01.2.3.4",
                         "http://0x7f.0.0.1",
                         "http://[::1",
                         "http://[0:0:0:0:0:0:0:1]",
                         "http://[::1]x",
                         "http://[::G]",
                         "null",
                         "https://shop.example:8443:1",
                         "https://shop.example\\evil"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (bw_http_origin_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    }
    char label[80];
    memset(label, 'a', 64);
    memcpy(label, "https://", 8);
    label[72] = 0;
    memset(label + 8, 'a', 64);
    assert_false(bw_http_origin_valid(label)); /* a 64-byte label */
    label[71] = 0;
    assert_true(bw_http_origin_valid(label)); /* 63 */
    assert_false(bw_http_origin_valid(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_shape),
        cmocka_unit_test(path_key),
        cmocka_unit_test(utf8),
        cmocka_unit_test(request_ok),
        cmocka_unit_test(request_errors),
        cmocka_unit_test(origins),
        cmocka_unit_test(origins_listed_strictly),
        cmocka_unit_test(preflight),
        cmocka_unit_test(cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
