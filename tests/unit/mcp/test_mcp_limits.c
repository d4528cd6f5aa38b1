/* Unit tests: the MCP gateway's configured limits, Origin allow-list, OAuth principal ids and
 * calls-per-minute limiter (mcp_limits.c, mcp_rate.c), and the per-principal session cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "mcp/mcp.h"
#include "store/store.h"

static void limits_from_config(void **state) {
    (void)state;
    struct bw_config c;
    memset(&c, 0, sizeof c);
    struct bw_mcp_limits l;
    bw_mcp_limits(&c, &l); /* unset: the documented defaults */
    assert_int_equal(l.result_max_bytes, 1 << 20);
    assert_int_equal(l.call_timeout_ms, 60000);
    assert_int_equal(l.sessions_per_key, BW_MCP_MAX_SESSIONS_PER_KEY);
    assert_int_equal(l.calls_per_minute, 60);
    c.mcp_result_max_bytes = 4096;
    c.mcp_call_timeout_ms = 800;
    c.mcp_max_sessions_per_key = 3;
    c.mcp_calls_per_minute = 7;
    bw_mcp_limits(&c, &l);
    assert_int_equal(l.result_max_bytes, 4096);
    assert_int_equal(l.call_timeout_ms, 800);
    assert_int_equal(l.sessions_per_key, 3);
    assert_int_equal(l.calls_per_minute, 7);
    /* past the ceilings: clamped */
    c.mcp_result_max_bytes = 1L << 40;
    c.mcp_call_timeout_ms = 1L << 40;
    c.mcp_max_sessions_per_key = 1L << 40;
    bw_mcp_limits(&c, &l);
    assert_int_equal(l.result_max_bytes, BW_MCP_MAX_RESULT);
    assert_int_equal(l.call_timeout_ms, BW_MCP_CALL_TIMEOUT_MS);
    assert_int_equal(l.sessions_per_key, BW_MCP_MAX_SESSIONS);
}

static void origins(void **state) {
    (void)state;
    static const char *const good[] = {
        "https://app.example.com", "http://localhost:8080", "https://a-b.example.com:8443",
        "http://127.0.0.1:3000",   "https://[::1]:8443",    "http://x",
    };
    static const char *const bad[] = {
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://APP.example.com",
        "HTTPS://app.example.com",
        "https://app.example.com:443",
        "http://app.example.com:80",
        "ftp://app.example.com",
        "https://",
        "https://user@app.example.com",
        "https://app.example.com?x",
        "https://app.example.com#x",
        "null",
        "https://app..example.com",
        "https://.example.com",
        "https://example.com.",
        "https://app.example.com:0",
        "https://app.example.com:65536",
        "https://app.example.com:080",
        "https://app.example.com:",
        "https://[::1",
        "https://[]",
        "https://app.example.com ",
        " https://app.example.com",
        "",
        "https://-app.example.com",
        "https://app.example.com:8a",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(bw_config_mcp_origin_ok(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (bw_config_mcp_origin_ok(bad[i]))
            fail_msg("accepted: '%s'", bad[i]);
    }
    char longest[BW_MCP_ORIGIN_MAX + 8];
    memcpy(longest, "https://", 8);
    memset(longest + 8, 'a', sizeof longest - 9);
    longest[sizeof longest - 1] = 0;
    assert_false(bw_config_mcp_origin_ok(longest));

    struct bw_config c;
    memset(&c, 0, sizeof c);
    assert_false(bw_mcp_origin_allowed(&c, "https://app.example.com")); /* none listed */
    snprintf(c.mcp_allowed_origins[0], BW_MCP_ORIGIN_MAX, "https://app.example.com");
    snprintf(c.mcp_allowed_origins[1], BW_MCP_ORIGIN_MAX, "http://localhost:8080");
    c.n_mcp_allowed_origins = 2;
    assert_true(bw_mcp_origin_allowed(&c, "https://app.example.com"));
    assert_true(bw_mcp_origin_allowed(&c, "http://localhost:8080"));
    assert_false(bw_mcp_origin_allowed(&c, "https://app.example.com/"));
    assert_false(bw_mcp_origin_allowed(&c, "https://app.example.co"));
    assert_false(bw_mcp_origin_allowed(&c, "https://app.example.com.evil.example"));
    assert_false(bw_mcp_origin_allowed(&c, "http://localhost:8081"));
    assert_false(bw_mcp_origin_allowed(&c, ""));
}

static void oauth_principal(void **state) {
    (void)state;
    char a[BW_MCP_OAUTH_PRINCIPAL_LEN + 1], b[BW_MCP_OAUTH_PRINCIPAL_LEN + 1];
    bw_mcp_oauth_principal("https://idp.example.com", "alice", a);
    /* the documented derivation, computed independently (python hashlib) */
    assert_string_equal(a, "oauth_63e12fe61b19e14095ea89cea7b19ed1");
    assert_int_equal(strlen(a), BW_MCP_OAUTH_PRINCIPAL_LEN);
    assert_true(strlen(a) < BW_ID_SIZE);
    bw_mcp_oauth_principal("https://idp.example.com", "alice", b);
    assert_string_equal(a, b); /* stable */
    bw_mcp_oauth_principal("https://idp.example.com", "bob", b);
    assert_string_not_equal(a, b);
    bw_mcp_oauth_principal("https://other.example.com", "alice", b);
    assert_string_not_equal(a, b); /* another issuer's alice is another principal */
    /* the NUL separator: ("x", "ab") and ("xa", "b") differ */
    bw_mcp_oauth_principal("x", "ab", a);
    bw_mcp_oauth_principal("xa", "b", b);
    assert_string_not_equal(a, b);
    /* a 255-byte sub (the verifier's longest) still gives a 38-character id */
    char sub[256];
    memset(sub, 's', 255);
    sub[255] = 0;
    bw_mcp_oauth_principal("https://idp.example.com", sub, a);
    assert_int_equal(strlen(a), BW_MCP_OAUTH_PRINCIPAL_LEN);
}

static void rate(void **state) {
    (void)state;
    int64_t retry = 0, t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(bw_mcp_rate_take("org_a", "key_1", "echo", 3, t, &retry), 0);
    assert_int_equal(bw_mcp_rate_take("org_a", "key_1", "echo", 3, t, &retry), 1);
    assert_true(retry >= 1 && retry <= 20000); /* one unit of 3/min: 20 s */
    /* another tool, another principal, another org: their own buckets */
    assert_int_equal(bw_mcp_rate_take("org_a", "key_1", "echo2", 3, t, &retry), 0);
    assert_int_equal(bw_mcp_rate_take("org_a", "key_2", "echo", 3, t, &retry), 0);
    assert_int_equal(bw_mcp_rate_take("org_b", "key_1", "echo", 3, t, &retry), 0);
    /* the triple is hashed with separators: ("org_a", "key_1e", "cho") is not ("org_a",
     * "key_1", "echo") */
    assert_int_equal(bw_mcp_rate_take("org_a", "key_1e", "cho", 3, t, &retry), 0);
    /* refills over the minute: 20 s later one more call */
    assert_int_equal(bw_mcp_rate_take("org_a", "key_1", "echo", 3, t + 20000000, &retry), 0);
    assert_int_equal(bw_mcp_rate_take("org_a", "key_1", "echo", 3, t + 20000000, &retry), 1);
    /* a bad limit fails closed */
    assert_int_equal(bw_mcp_rate_take("org_a", "key_1", "x", 0, t, &retry), -1);
    /* many tool names: the table stays bounded; a caller filling it within one refill
     * interval is refused (fail closed), and once buckets are full again they are evicted */
    char tool[32];
    int refused = 0;
    for (int i = 0; i < BW_MCP_RATE_KEYS + 4096; i++) {
        snprintf(tool, sizeof tool, "t%d", i);
        if (bw_mcp_rate_take("org_f", "key_f", tool, 1, t, &retry) == -1)
            refused++;
    }
    assert_true(refused > 0);
    /* a minute later every one of those buckets is full again: evicted on demand */
    assert_int_equal(bw_mcp_rate_take("org_g", "key_g", "new", 1, t + 61000000, &retry), 0);
}

static void session_cap(void **state) {
    (void)state;
    char id[BW_MCP_SESSION_ID_LEN + 1];
    for (int i = 0; i < 2; i++)
        assert_int_equal(bw_mcp_session_bind_max("org_s", "oauth_x", "s", "u", 1000, 2, id), BW_OK);
    assert_int_equal(bw_mcp_session_bind_max("org_s", "oauth_x", "s", "u", 1000, 2, id),
                     BW_E_LIMIT);
    assert_int_equal(bw_mcp_session_bind_max("org_s", "oauth_y", "s", "u", 1000, 2, id), BW_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits_from_config), cmocka_unit_test(origins),
        cmocka_unit_test(oauth_principal),    cmocka_unit_test(rate),
        cmocka_unit_test(session_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
