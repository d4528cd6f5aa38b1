/* Unit tests for console sessions (console/session.h) on SQLite, the cookie parser, and the
 * review item's detail (review/detail.h): a session authorizes exactly as its key and only
 * while the key lives; expiry (absolute, idle), CSRF in constant time, logout, agent and
 * operator principals refused, member sessions follow the member's current role; only the
 * token's keyed hash is stored. PostgreSQL runs the same code in tests/integration/console. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <cmocka.h>

#include "console/session.h"
#include "review/detail.h"
#include "review/review.h"
#include "store/identity.h"
#include "store/sql.h"

static char dir[64];
static struct bw_store *s;
static char org_a[BW_ID_SIZE], org_b[BW_ID_SIZE];
static const uint8_t pepper[32] = {7, 7, 7};
static struct bw_member_record ada;

static struct bw_key_record key_of(const char *org, const char *role, const char *member,
                                   uint8_t fill) {
    struct bw_key_record k;
    memset(&k, 0, sizeof k);
    bw_store_new_id("key", k.id);
    snprintf(k.org_id, sizeof k.org_id, "%s", org);
    snprintf(k.role, sizeof k.role, "%s", role);
    snprintf(k.member_id, sizeof k.member_id, "%s", member);
    memset(k.hash, fill, 32);
    k.created_ms = 1000;
    return k;
}

static int setup(void **state) {
    (void)state;
    if (sodium_init() < 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/bw-ses-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/db", dir);
    if (bw_store_open_sqlite(path, 1, &s) != BW_OK)
        return -1;
    if (bw_store_org_create(s, "a", org_a) != BW_OK || bw_store_org_create(s, "b", org_b) != BW_OK)
        return -1;
    memset(&ada, 0, sizeof ada);
    bw_store_new_id("mem", ada.id);
    snprintf(ada.org_id, sizeof ada.org_id, "%s", org_a);
    snprintf(ada.email, sizeof ada.email, "ada@a.example");
    snprintf(ada.role, sizeof ada.role, "reviewer");
    ada.created_ms = 1000;
    return bw_store_member_insert(s, &ada) == BW_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    bw_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void key_session_lifecycle(void **state) {
    (void)state;
    struct bw_key_record k = key_of(org_a, "reviewer", ada.id, 0x21);
    assert_int_equal(bw_store_key_insert(s, &k), BW_OK);
    struct bw_console_principal p = {k.id, org_a, ada.id, "key"};
    char token[BW_SESSION_TOKEN_SIZE], csrf[BW_CSRF_TOKEN_SIZE];
    struct bw_console_session sess;
    int64_t t0 = 10 * 1000 * 1000;
    assert_int_equal(bw_console_session_issue(s, pepper, &p, t0, token, csrf, &sess), BW_OK);
    assert_int_equal(strlen(token), BW_SESSION_TOKEN_CHARS);
    assert_memory_equal(token, "bws_", 4);
    assert_int_equal(strlen(csrf), BW_CSRF_TOKEN_CHARS);
    assert_int_equal(sess.expires_ms, t0 + BW_CONSOLE_SESSION_TTL_MS);

    struct bw_key_record caller;
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), NULL, t0 + 1, &caller, NULL),
        BW_OK);
    assert_string_equal(caller.id, k.id);
    assert_string_equal(caller.role, "reviewer");
    assert_string_equal(caller.member_id, ada.id);
    assert_string_equal(caller.org_id, org_a);

    /* CSRF: exact token only */
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), csrf, t0 + 2, &caller, NULL),
        BW_OK);
    char bad[BW_CSRF_TOKEN_SIZE];
    memcpy(bad, csrf, sizeof bad);
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), bad, t0 + 3, &caller, NULL),
        BW_E_DENIED);
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), "", t0 + 3, &caller, NULL),
        BW_E_DENIED);
    /* another pepper (another installation) or a changed token: no session */
    const uint8_t other[32] = {8};
    assert_int_equal(
        bw_console_session_identify(s, other, token, strlen(token), NULL, t0 + 4, &caller, NULL),
        BW_E_UNAUTH);
    char forged[BW_SESSION_TOKEN_SIZE];
    memcpy(forged, token, sizeof forged);
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    assert_int_equal(
        bw_console_session_identify(s, pepper, forged, strlen(forged), NULL, t0 + 4, &caller, NULL),
        BW_E_UNAUTH);
    assert_int_equal(bw_console_session_identify(s, pepper, token, 20, NULL, t0 + 4, &caller, NULL),
                     BW_E_UNAUTH);

    /* idle expiry, then absolute expiry (a fresh session each time) */
    assert_int_equal(bw_console_session_identify(s, pepper, token, strlen(token), NULL,
                                                 t0 + BW_CONSOLE_IDLE_MS + 5, &caller, NULL),
                     BW_E_UNAUTH);
    assert_int_equal(bw_console_session_issue(s, pepper, &p, t0, token, csrf, &sess), BW_OK);
    int64_t t = t0;
    for (; t < t0 + BW_CONSOLE_SESSION_TTL_MS - BW_CONSOLE_IDLE_MS; t += BW_CONSOLE_IDLE_MS / 2)
        assert_int_equal(
            bw_console_session_identify(s, pepper, token, strlen(token), NULL, t, &caller, NULL),
            BW_OK);
    assert_int_equal(bw_console_session_identify(s, pepper, token, strlen(token), NULL,
                                                 t0 + BW_CONSOLE_SESSION_TTL_MS, &caller, NULL),
                     BW_E_UNAUTH);

    /* revoking the key ends the session */
    assert_int_equal(bw_console_session_issue(s, pepper, &p, t0, token, csrf, &sess), BW_OK);
    assert_int_equal(bw_store_key_revoke(s, org_a, k.id, t0 + 10), BW_OK);
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), NULL, t0 + 20, &caller, NULL),
        BW_E_UNAUTH);
    /* and no new one is made from it */
    assert_int_equal(bw_console_session_issue(s, pepper, &p, t0 + 30, token, csrf, &sess),
                     BW_E_DENIED);
}

static void logout_and_refusals(void **state) {
    (void)state;
    struct bw_key_record k = key_of(org_a, "admin", ada.id, 0x22);
    assert_int_equal(bw_store_key_insert(s, &k), BW_OK);
    char token[BW_SESSION_TOKEN_SIZE], csrf[BW_CSRF_TOKEN_SIZE];
    struct bw_console_session sess;
    struct bw_console_principal p = {k.id, org_a, ada.id, "key"};
    int64_t t0 = 20 * 1000 * 1000;
    assert_int_equal(bw_console_session_issue(s, pepper, &p, t0, token, csrf, &sess), BW_OK);
    /* another org cannot end it */
    assert_int_equal(bw_console_session_end(s, org_b, sess.id), BW_E_NOT_FOUND);
    assert_int_equal(bw_console_session_end(s, org_a, sess.id), BW_OK);
    struct bw_key_record caller;
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), NULL, t0 + 1, &caller, NULL),
        BW_E_UNAUTH);
    assert_int_equal(bw_console_session_end(s, org_a, sess.id), BW_E_NOT_FOUND);

    /* agent keys, another member's key, a key named in the wrong org: refused */
    struct bw_key_record agent = key_of(org_a, "agent", ada.id, 0x23);
    assert_int_equal(bw_store_key_insert(s, &agent), BW_OK);
    struct bw_console_principal pa = {agent.id, org_a, ada.id, "key"};
    assert_int_equal(bw_console_session_issue(s, pepper, &pa, t0, token, csrf, NULL), BW_E_DENIED);
    struct bw_key_record op = key_of(org_a, "admin", "operator", 0x24);
    assert_int_equal(bw_store_key_insert(s, &op), BW_OK);
    struct bw_console_principal po = {op.id, org_a, "operator", "key"};
    assert_int_equal(bw_console_session_issue(s, pepper, &po, t0, token, csrf, NULL), BW_E_INVALID);
    struct bw_console_principal pb = {k.id, org_b, ada.id, "key"};
    assert_int_equal(bw_console_session_issue(s, pepper, &pb, t0, token, csrf, NULL), BW_E_DENIED);
    struct bw_console_principal mismatch = {k.id, org_a, ada.id, "sso"};
    assert_int_equal(bw_console_session_issue(s, pepper, &mismatch, t0, token, csrf, NULL),
                     BW_E_INVALID);
}

static void member_session_follows_the_member(void **state) {
    (void)state;
    struct bw_member_record bo = ada;
    bw_store_new_id("mem", bo.id);
    snprintf(bo.email, sizeof bo.email, "bo@a.example");
    snprintf(bo.role, sizeof bo.role, "admin");
    assert_int_equal(bw_store_member_insert(s, &bo), BW_OK);
    struct bw_console_principal p = {"", org_a, bo.id, "sso"};
    char token[BW_SESSION_TOKEN_SIZE], csrf[BW_CSRF_TOKEN_SIZE];
    struct bw_console_session sess;
    int64_t t0 = 30 * 1000 * 1000;
    assert_int_equal(bw_console_session_issue(s, pepper, &p, t0, token, csrf, &sess), BW_OK);
    struct bw_key_record caller;
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), NULL, t0 + 1, &caller, NULL),
        BW_OK);
    assert_string_equal(caller.id, sess.id); /* the session is the principal's handle */
    assert_string_equal(caller.role, "admin");
    assert_string_equal(caller.member_id, bo.id);
    /* the member removed: the session is gone */
    int64_t n = 0;
    assert_int_equal(bw_store_member_delete(s, org_a, bo.id, t0 + 1, &n), BW_OK);
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), NULL, t0 + 2, &caller, NULL),
        BW_E_UNAUTH);
    struct bw_console_principal ghost = {"", org_a, "mem_0000000000000000", "sso"};
    assert_int_equal(bw_console_session_issue(s, pepper, &ghost, t0, token, csrf, NULL),
                     BW_E_DENIED);
}

static void sessions_per_person_are_capped(void **state) {
    (void)state;
    struct bw_key_record k = key_of(org_a, "reviewer", ada.id, 0x25);
    assert_int_equal(bw_store_key_insert(s, &k), BW_OK);
    struct bw_console_principal p = {k.id, org_a, ada.id, "key"};
    char first[BW_SESSION_TOKEN_SIZE], token[BW_SESSION_TOKEN_SIZE], csrf[BW_CSRF_TOKEN_SIZE];
    int64_t t0 = 40 * 1000 * 1000;
    assert_int_equal(bw_console_session_issue(s, pepper, &p, t0, first, csrf, NULL), BW_OK);
    for (int i = 1; i < BW_CONSOLE_MAX_SESSIONS; i++)
        assert_int_equal(bw_console_session_issue(s, pepper, &p, t0 + i, token, csrf, NULL), BW_OK);
    struct bw_key_record caller;
    assert_int_equal(
        bw_console_session_identify(s, pepper, first, strlen(first), NULL, t0 + 100, &caller, NULL),
        BW_OK);
    /* one more: the oldest ends, the newest lives */
    assert_int_equal(bw_console_session_issue(s, pepper, &p, t0 + 200, token, csrf, NULL), BW_OK);
    assert_int_equal(
        bw_console_session_identify(s, pepper, first, strlen(first), NULL, t0 + 300, &caller, NULL),
        BW_E_UNAUTH);
    assert_int_equal(
        bw_console_session_identify(s, pepper, token, strlen(token), NULL, t0 + 300, &caller, NULL),
        BW_OK);
    int64_t n = 0;
    assert_int_equal(bw_console_session_end_member(s, org_a, ada.id, &n), BW_OK);
    assert_int_equal(n, BW_CONSOLE_MAX_SESSIONS);
}

static void cookie_parse(void **state) {
    (void)state;
    const char *tok = "bws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char h[512];
    const char *v;
    size_t n;
    snprintf(h, sizeof h, "a=1; bw_console=%s; b=2", tok);
    assert_true(bw_console_cookie_find(h, 0, &v, &n));
    assert_int_equal(n, strlen(tok));
    assert_memory_equal(v, tok, n);
    assert_false(bw_console_cookie_find(h, 1, &v, &n)); /* TLS reads only __Host- */
    snprintf(h, sizeof h, "__Host-bw_console=%s", tok);
    assert_true(bw_console_cookie_find(h, 1, &v, &n));
    assert_false(bw_console_cookie_find(h, 0, &v, &n));
    snprintf(h, sizeof h, "bw_console=%s; bw_console=%s", tok, tok); /* two: planted? refuse */
    assert_false(bw_console_cookie_find(h, 0, &v, &n));
    snprintf(h, sizeof h, "xbw_console=%s; bw_console_x=%s", tok, tok);
    assert_false(bw_console_cookie_find(h, 0, &v, &n));
    assert_false(bw_console_cookie_find("bw_console=bws_short", 0, &v, &n));
    assert_false(bw_console_cookie_find(
        "bw_console=bws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!", 0, &v, &n));
    assert_false(bw_console_cookie_find("bw_console=", 0, &v, &n));
    assert_false(bw_console_cookie_find("", 0, &v, &n));
    assert_false(bw_console_cookie_find(NULL, 0, &v, &n));
}

static void csrf_is_bound_to_the_token(void **state) {
    (void)state;
    char a[BW_CSRF_TOKEN_SIZE], b[BW_CSRF_TOKEN_SIZE], c[BW_CSRF_TOKEN_SIZE];
    const char *t1 = "bws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const char *t2 = "bws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB";
    bw_console_csrf_token(pepper, t1, strlen(t1), a);
    bw_console_csrf_token(pepper, t1, strlen(t1), b);
    bw_console_csrf_token(pepper, t2, strlen(t2), c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), BW_CSRF_TOKEN_CHARS);
}

static void review_detail(void **state) {
    (void)state;
    json_t *body = json_loads(
        "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"send\","
        "\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}}],\"functions\":[{\"name\":"
        "\"legacy\"}],\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{"
        "\"name\":\"send\",\"arguments\":\"{\\\"to\\\":\\\"<b>x</b>\\\"}\"}}]},{\"role\":"
        "\"assistant\",\"function_call\":{\"name\":\"old\",\"arguments\":\"not json\"}}]}",
        0, NULL);
    assert_non_null(body);
    char *d = bw_review_detail_chat(body, "m");
    assert_non_null(d);
    json_t *o = json_loads(d, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "model")), "m");
    json_t *tools = json_object_get(o, "tools");
    assert_int_equal(json_array_size(tools), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 0), "name")),
                        "send");
    json_t *calls = json_object_get(o, "tool_calls");
    assert_int_equal(json_array_size(calls), 2);
    json_t *args = json_object_get(json_array_get(calls, 0), "arguments");
    assert_string_equal(json_string_value(json_object_get(args, "to")), "<b>x</b>");
    assert_string_equal(json_string_value(json_object_get(json_array_get(calls, 1), "arguments")),
                        "not json");
    json_decref(o);
    free(d);
    json_decref(body);

    /* over the cap: names only, marked truncated, still under the cap */
    size_t big = BW_REVIEW_DETAIL_MAX + 10;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, 'x', big);
    huge[big] = 0;
    body = json_pack("{s:s, s:[{s:{s:s, s:s}}]}", "model", "m", "tools", "function", "name", "t",
                     "description", huge);
    free(huge);
    d = bw_review_detail_chat(body, "m");
    assert_non_null(d);
    assert_true(strlen(d) <= BW_REVIEW_DETAIL_MAX);
    o = json_loads(d, 0, NULL);
    assert_true(json_is_true(json_object_get(o, "truncated")));
    json_decref(o);
    free(d);
    json_decref(body);

    json_t *margs = json_pack("{s:i}", "n", 1);
    d = bw_review_detail_mcp("srv", "tool", margs);
    assert_string_equal(d, "{\"server\":\"srv\",\"tool\":\"tool\",\"arguments\":{\"n\":1}}");
    free(d);
    json_decref(margs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_session_lifecycle),
        cmocka_unit_test(logout_and_refusals),
        cmocka_unit_test(member_session_follows_the_member),
        cmocka_unit_test(sessions_per_person_are_capped),
        cmocka_unit_test(cookie_parse),
        cmocka_unit_test(csrf_is_bound_to_the_token),
        cmocka_unit_test(review_detail),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
