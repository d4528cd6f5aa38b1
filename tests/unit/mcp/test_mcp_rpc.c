/* Unit tests: MCP JSON-RPC parsing, header agreement, versions and sessions (src/mcp). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mcp/mcp.h"
#include "reason/reasons.h"

static bw_err parse(const char *s, struct bw_mcp_msg *m, int *code, const char **reason) {
    const char *why = NULL;
    return bw_mcp_msg_parse(s, strlen(s), 32, m, code, reason, &why);
}

static void accepted(void **state) {
    (void)state;
    struct bw_mcp_msg m;
    int code;
    const char *reason;
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\","
                           "\"params\":{\"name\":\"echo\",\"arguments\":{\"x\":1}}}",
                           &m, &code, &reason),
                     BW_OK);
    assert_int_equal(m.kind, BW_MCP_REQUEST);
    assert_string_equal(m.name, "echo");
    assert_non_null(m.arguments);
    assert_int_equal(bw_mcp_headers_agree(&m, "tools/call", "echo"), 0);
    assert_int_equal(bw_mcp_headers_agree(&m, NULL, NULL), 0);
    assert_int_equal(bw_mcp_headers_agree(&m, "tools/list", NULL), -1);
    assert_int_equal(bw_mcp_headers_agree(&m, NULL, "Echo"), -1);
    bw_mcp_msg_cleanup(&m);
    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m, &code, &reason),
        BW_OK);
    assert_int_equal(m.kind, BW_MCP_NOTIFICATION);
    assert_int_equal(bw_mcp_headers_agree(&m, NULL, "x"), -1); /* names nothing */
    bw_mcp_msg_cleanup(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}", &m, &code, &reason),
                     BW_OK);
    assert_int_equal(m.kind, BW_MCP_RESPONSE);
    bw_mcp_msg_cleanup(&m);
}

static void refused(void **state) {
    (void)state;
    static const char *const bad[] = {
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
        " \n[]",
        "{\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"extra\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}",
        "{\"jsonrpc\":\"2.0\",\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a b\"}}",
        ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\","
         "\"arguments\":[1]}}"),
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"method\":\"tools/call\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}",
        "not json",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct bw_mcp_msg m;
        int code = 0;
        const char *reason = NULL;
        assert_int_equal(parse(bad[i], &m, &code, &reason), BW_E_INVALID);
        assert_null(m.msg);
        assert_true(code == BW_MCP_RPC_INVALID_REQUEST || code == BW_MCP_RPC_PARSE_ERROR);
        assert_non_null(reason);
    }
    struct bw_mcp_msg m;
    int code;
    const char *reason;
    assert_int_equal(parse("[1]", &m, &code, &reason), BW_E_INVALID);
    assert_string_equal(reason, BW_R_MCP_BATCH_REFUSED);
}

static void versions(void **state) {
    (void)state;
    assert_true(bw_mcp_version_ok("2025-11-25"));
    assert_true(bw_mcp_version_ok("2024-11-05"));
    assert_false(bw_mcp_version_ok("2025-11-26"));
    assert_false(bw_mcp_version_ok(""));
    assert_false(bw_mcp_version_ok(NULL));
}

static void error_body(void **state) {
    (void)state;
    json_t *id = json_integer(3);
    char *s = bw_mcp_rpc_error(id, -32001, "no", "TOOL_DENIED", "0011aabb.4", "rev_00");
    assert_non_null(strstr(s, "\"review_id\":\"rev_00\""));
    assert_non_null(s);
    assert_non_null(strstr(s, "\"receipt_id\":\"0011aabb.4\""));
    assert_non_null(strstr(s, "\"code\":-32001"));
    free(s);
    s = bw_mcp_rpc_error(NULL, -32600, "bad", "MCP_BATCH_REFUSED", NULL, "");
    assert_null(strstr(s, "review_id"));
    assert_non_null(strstr(s, "\"id\":null"));
    assert_null(strstr(s, "receipt_id"));
    free(s);
    json_decref(id);
}

static void sessions(void **state) {
    (void)state;
    char id[BW_MCP_SESSION_ID_LEN + 1], up[200];
    assert_int_equal(bw_mcp_session_bind("org_a", "key_1", "s", "up-1", 1000, id), BW_OK);
    assert_int_equal(strlen(id), BW_MCP_SESSION_ID_LEN);
    assert_int_equal(bw_mcp_session_lookup(id, "org_a", "key_1", "s", 2000, up, sizeof up), 0);
    assert_string_equal(up, "up-1");
    assert_int_equal(bw_mcp_session_lookup(id, "org_a", "key_2", "s", 2000, up, sizeof up), -1);
    assert_int_equal(bw_mcp_session_lookup(id, "org_b", "key_1", "s", 2000, up, sizeof up), -1);
    assert_int_equal(bw_mcp_session_lookup(id, "org_a", "key_1", "t", 2000, up, sizeof up), -1);
    /* idle expiry */
    assert_int_equal(bw_mcp_session_lookup(id, "org_a", "key_1", "s", 2000 + BW_MCP_SESSION_IDLE_MS,
                                           up, sizeof up),
                     -1);
    assert_int_equal(bw_mcp_session_bind("org_a", "key_1", "s", "bad id", 1000, id), BW_E_INVALID);
    assert_int_equal(bw_mcp_session_bind("org_a", "key_1", "s", "", 1000, id), BW_E_INVALID);
    /* per-key cap; another key is unaffected; ending frees a place */
    char ids[BW_MCP_MAX_SESSIONS_PER_KEY][BW_MCP_SESSION_ID_LEN + 1];
    for (int i = 0; i < BW_MCP_MAX_SESSIONS_PER_KEY; i++)
        assert_int_equal(bw_mcp_session_bind("org_c", "key_9", "s", "u", 5000, ids[i]), BW_OK);
    assert_int_equal(bw_mcp_session_bind("org_c", "key_9", "s", "u", 5000, id), BW_E_LIMIT);
    assert_int_equal(bw_mcp_session_bind("org_c", "key_8", "s", "u", 5000, id), BW_OK);
    assert_int_equal(bw_mcp_session_end(ids[0], "org_c", "key_8", "s"), -1);
    assert_int_equal(bw_mcp_session_end(ids[0], "org_c", "key_9", "s"), 0);
    assert_int_equal(bw_mcp_session_bind("org_c", "key_9", "s", "u", 5000, id), BW_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted),   cmocka_unit_test(refused),  cmocka_unit_test(versions),
        cmocka_unit_test(error_body), cmocka_unit_test(sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
