/* Unit tests: the canonical form of MCP tool definitions (src/mcp/mcp_pin_canon.c), RFC 8785:
 * member order, string escapes, numbers (the RFC's own vectors among them), bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mcp/mcp_pin.h"
#include "util/codec.h"

/* The canonical text of the JSON text in (parsed with duplicates refused), as a malloc'd
 * string, or NULL when canonicalization fails. */
static char *canon(const char *in) {
    json_error_t err;
    json_t *v = json_loads(in, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    assert_non_null(v);
    struct bw_buf b;
    bw_buf_init(&b, 1 << 20);
    bw_err e = bw_mcp_pin_canon(v, &b);
    json_decref(v);
    char *out = NULL;
    if (e == BW_OK) {
        out = malloc(b.len + 1);
        assert_non_null(out);
        memcpy(out, b.ptr, b.len);
        out[b.len] = 0;
    }
    bw_buf_cleanup(&b);
    return out;
}

static void expect(const char *in, const char *want) {
    char *got = canon(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void key_order(void **state) {
    (void)state;
    expect("{\"b\": 1, \"a\": 2, \"aa\": [3, {\"z\": null, \"y\": true}], \"A\": false}",
           "{\"A\":false,\"a\":2,\"aa\":[3,{\"y\":true,\"z\":null}],\"b\":1}");
    expect("{}", "{}");
    expect("[]", "[]");
    /* RFC 8785 3.2.3: names compared as UTF-16 code units, so U+1F600 (D83D DE00) sorts before
     * U+FB33, unlike in UTF-8 byte order */
    expect("{\"\\u20ac\":1,\"\\r\":2,\"\\ufb33\":3,\"1\":4,\"\\ud83d\\ude00\":5,\"\\u0080\":6,"
           "\"\\u00f6\":7}",
           "{\"\\r\":2,\"1\":4,\"\xc2\x80\":6,\"\xc3\xb6\":7,\"\xe2\x82\xac\":1,"
           "\"\xf0\x9f\x98\x80\":5,\"\xef\xac\xb3\":3}");
    assert_true(bw_mcp_pin_key_cmp("a", 1, "aa", 2) < 0);
    assert_true(bw_mcp_pin_key_cmp("aa", 2, "a", 1) > 0);
    assert_int_equal(bw_mcp_pin_key_cmp("ab", 2, "ab", 2), 0);
    assert_true(bw_mcp_pin_key_cmp("\xf0\x9f\x98\x80", 4, "\xef\xac\xb3", 3) < 0);
}

static void strings(void **state) {
    (void)state;
    /* escapes only where ECMAScript writes them; \u escapes of printable characters and the
     * escaped solidus become the characters themselves */
    expect("\"\\u0041\\/\\\"\\\\\\b\\f\\n\\r\\t\\u001f\\u0000x\"",
           "\"A/\\\"\\\\\\b\\f\\n\\r\\t\\u001f\\u0000x\"");
    expect("\"\\u00e9 \xc3\xa9 \\u2028 \x7f\"", "\"\xc3\xa9 \xc3\xa9 \xe2\x80\xa8 \x7f\"");
    expect("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
}

static void numbers(void **state) {
    (void)state;
    /* RFC 8785 3.2.2.3 and appendix B vectors, and ECMAScript's notation boundaries */
    expect("[1.0, 4.50, 2e-3, 1E30, 0.000000000000000000000000001, 333333333.33333329]",
           "[1,4.5,0.002,1e+30,1e-27,333333333.3333333]");
    expect("[1e21, 1e20, 1e-7, 0.000001, 1.5e-7, -0.0, 0, -5, 0.1, 123e18]",
           "[1e+21,100000000000000000000,1e-7,0.000001,1.5e-7,0,0,-5,0.1,"
           "123000000000000000000]");
    expect("[5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 9007199254740992]",
           "[5e-324,1.7976931348623157e+308,-1.7976931348623157e+308,9007199254740992]");
    /* integers beyond 2^53 are written as the double they denote, as a JCS verifier in
     * JavaScript reads them */
    expect("[9007199254740993, 9223372036854775807, -9223372036854775808]",
           "[9007199254740992,9223372036854776000,-9223372036854776000]");
}

static void same_definition_same_hash(void **state) {
    (void)state;
    char *a = canon("{\"name\":\"mutable\",\"description\":\"Harmless.\","
                    "\"inputSchema\":{\"type\":\"object\",\"properties\":{}}}");
    char *b = canon("{ \"inputSchema\" : {\"properties\":{}, \"type\":\"object\"},\n"
                    "  \"description\":\"Harml\\u0065ss.\", \"name\":\"mutable\" }");
    char *c = canon("{\"name\":\"mutable\",\"description\":\"Harmless.\","
                    "\"inputSchema\":{\"type\":\"object\",\"properties\":{}},\"title\":\"x\"}");
    assert_string_equal(a, b);
    assert_string_not_equal(a, c); /* a new member is a change */
    uint8_t ha[32], hc[32];
    bw_sha256(a, strlen(a), ha);
    bw_sha256(c, strlen(c), hc);
    assert_memory_not_equal(ha, hc, 32);
    free(a);
    free(b);
    free(c);
}

static void bounds(void **state) {
    (void)state;
    /* nesting over 128 */
    char deep[2 * 140 + 1];
    for (int i = 0; i < 140; i++) {
        deep[i] = '[';
        deep[140 + i] = ']';
    }
    deep[280] = 0;
    json_t *v = json_loads(deep, 0, NULL);
    assert_non_null(v);
    struct bw_buf b;
    bw_buf_init(&b, 1 << 20);
    assert_int_equal(bw_mcp_pin_canon(v, &b), BW_E_INVALID);
    json_decref(v);
    /* the output cap */
    bw_buf_cleanup(&b);
    bw_buf_init(&b, 8);
    v = json_loads("{\"description\":\"longer than eight bytes\"}", 0, NULL);
    assert_int_equal(bw_mcp_pin_canon(v, &b), BW_E_TOO_LARGE);
    json_decref(v);
    bw_buf_cleanup(&b);
    assert_int_equal(bw_mcp_pin_canon(NULL, &b), BW_E_INVALID);
}

static void tool_names(void **state) {
    (void)state;
    char name[130];
    memset(name, 'a', sizeof name);
    assert_true(bw_mcp_pin_tool_name_ok(name, 128));
    assert_false(bw_mcp_pin_tool_name_ok(name, 129));
    assert_false(bw_mcp_pin_tool_name_ok("", 0));
    assert_true(bw_mcp_pin_tool_name_ok("get-env_2.x", 11));
    assert_false(bw_mcp_pin_tool_name_ok("a/b", 3));
    assert_false(bw_mcp_pin_tool_name_ok("a b", 3));
    assert_false(bw_mcp_pin_tool_name_ok("a%2F", 4));
    assert_false(bw_mcp_pin_tool_name_ok("\xc3\xa9", 2));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_order), cmocka_unit_test(strings),
        cmocka_unit_test(numbers),   cmocka_unit_test(same_definition_same_hash),
        cmocka_unit_test(bounds),    cmocka_unit_test(tool_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
