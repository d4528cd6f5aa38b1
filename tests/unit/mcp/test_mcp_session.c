/* Unit tests: the MCP session table (mcp_session.c): ids bound to (org, principal, server),
 * found only by their own caller, in the bucket their id names; a nearly full table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/mcp.h"

static void bound_to_its_caller(void **state) {
    (void)state;
    char id[BW_MCP_SESSION_ID_LEN + 1], out[BW_MCP_UPSTREAM_SESSION_MAX + 1];
    assert_int_equal(bw_mcp_session_bind("org_a", "key_1", "srv", "up-1", 1000, id), BW_OK);
    assert_int_equal(strlen(id), BW_MCP_SESSION_ID_LEN);
    assert_int_equal(bw_mcp_session_lookup(id, "org_a", "key_1", "srv", 2000, out, sizeof out), 0);
    assert_string_equal(out, "up-1");
    /* another key, org or server: the same answer as an unknown id */
    assert_int_equal(bw_mcp_session_lookup(id, "org_a", "key_2", "srv", 2000, out, sizeof out), -1);
    assert_int_equal(bw_mcp_session_lookup(id, "org_b", "key_1", "srv", 2000, out, sizeof out), -1);
    assert_int_equal(bw_mcp_session_lookup(id, "org_a", "key_1", "other", 2000, out, sizeof out),
                     -1);
    /* a near miss: one digit changed, upper case, not hex */
    char near[BW_MCP_SESSION_ID_LEN + 1];
    memcpy(near, id, sizeof near);
    near[BW_MCP_SESSION_ID_LEN - 1] = near[BW_MCP_SESSION_ID_LEN - 1] == '0' ? '1' : '0';
    assert_int_equal(bw_mcp_session_lookup(near, "org_a", "key_1", "srv", 2000, out, sizeof out),
                     -1);
    memcpy(near, id, sizeof near);
    near[0] = 'G';
    assert_int_equal(bw_mcp_session_lookup(near, "org_a", "key_1", "srv", 2000, out, sizeof out),
                     -1);
    /* idle past the bound: gone */
    assert_int_equal(bw_mcp_session_lookup(id, "org_a", "key_1", "srv",
                                           2000 + BW_MCP_SESSION_IDLE_MS, out, sizeof out),
                     -1);
    assert_int_equal(bw_mcp_session_end(id, "org_a", "key_2", "srv"), -1);
    assert_int_equal(bw_mcp_session_end(id, "org_a", "key_1", "srv"), 0);
    assert_int_equal(bw_mcp_session_end(id, "org_a", "key_1", "srv"), -1);
}

/* Up to the table's size: binds succeed until the table is nearly full (a bind draws ids until
 * one names a bucket with room), every session stays findable, and a full table refuses. */
static void nearly_full_table(void **state) {
    (void)state;
    static char ids[BW_MCP_MAX_SESSIONS + 64][BW_MCP_SESSION_ID_LEN + 1];
    static size_t owner[BW_MCP_MAX_SESSIONS + 64]; /* the principal number of ids[k] */
    char principal[32], out[BW_MCP_UPSTREAM_SESSION_MAX + 1];
    size_t bound = 0;
    for (size_t i = 0; i < BW_MCP_MAX_SESSIONS + 64; i++) {
        snprintf(principal, sizeof principal, "key_%zu", i);
        if (bw_mcp_session_bind("org_f", principal, "srv", "up", 5000, ids[bound]) == BW_OK)
            owner[bound++] = i;
    }
    assert_true(bound >= BW_MCP_MAX_SESSIONS * 95 / 100);
    assert_true(bound <= BW_MCP_MAX_SESSIONS);
    for (size_t k = 0; k < bound; k++) {
        snprintf(principal, sizeof principal, "key_%zu", owner[k]);
        assert_int_equal(
            bw_mcp_session_lookup(ids[k], "org_f", principal, "srv", 5000, out, sizeof out), 0);
        assert_int_equal(
            bw_mcp_session_lookup(ids[k], "org_f", "key_x", "srv", 5000, out, sizeof out), -1);
    }
    /* expired sessions make room again */
    char id[BW_MCP_SESSION_ID_LEN + 1];
    assert_int_equal(
        bw_mcp_session_bind("org_f", "late", "srv", "up", 5000 + BW_MCP_SESSION_IDLE_MS, id),
        BW_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bound_to_its_caller),
        cmocka_unit_test(nearly_full_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
