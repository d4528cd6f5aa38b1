/* Unit tests for the shared SQL path (store/sql.h) and the identity store on SQLite: id shape
 * checks, $N placeholders, error mapping, scope rules, tenant scoping of every identity read,
 * rotation and plans taken once. PostgreSQL runs the same code in the integration suites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/identity.h"
#include "store/sql.h"

static char dir[64];
static struct bw_store *s;
static char org_a[BW_ID_SIZE], org_b[BW_ID_SIZE];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/bw-sql-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/db", dir);
    if (bw_store_open_sqlite(path, 1, &s) != BW_OK)
        return -1;
    if (bw_store_org_create(s, "a", org_a) != BW_OK || bw_store_org_create(s, "b", org_b) != BW_OK)
        return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    bw_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void id_shapes(void **state) {
    (void)state;
    assert_true(bw_sql_id_ok("key_0123456789abcdef"));
    assert_true(bw_sql_id_ok("org_0123456789abcdef"));
    assert_false(bw_sql_id_ok("key_0123456789abcde"));        /* short */
    assert_false(bw_sql_id_ok("key_0123456789abcdef0"));      /* long */
    assert_false(bw_sql_id_ok("key_0123456789ABCDEF"));       /* upper case */
    assert_false(bw_sql_id_ok("_0123456789abcdef"));          /* no prefix */
    assert_false(bw_sql_id_ok("abcdefghi_0123456789abcdef")); /* prefix over 8 */
    assert_false(bw_sql_id_ok("key_' OR 1=1 --abcd"));
    assert_false(bw_sql_id_ok(""));
}

static int one_text(void *arg, const struct bw_sql_row *r) {
    bw_sql_copy(r, 0, arg, 64);
    return 0;
}

static void placeholders_and_literals(void **state) {
    (void)state;
    char out[64] = "";
    struct bw_sql_arg a[2] = {BW_SQL_T("x"), BW_SQL_T("y")};
    /* $2 before $1, a '$1' inside a literal stays text */
    assert_int_equal(bw_sql_once(s, NULL, 0, "SELECT $2 || '$1' || $1", a, 2, one_text, out, NULL),
                     BW_OK);
    assert_string_equal(out, "y$1x");
}

static void scope_rules(void **state) {
    (void)state;
    struct bw_sql_arg a = BW_SQL_I(1);
    assert_int_equal(bw_sql_run(s, "SELECT $1", &a, 1, NULL, NULL, NULL), BW_E_INTERNAL);
    assert_int_equal(bw_sql_begin(s, "not-an-org", 0), BW_E_INVALID);
    assert_int_equal(bw_sql_begin(s, org_a, 0), BW_OK);
    assert_int_equal(bw_sql_begin(s, org_a, 0), BW_E_INTERNAL); /* no nesting */
    assert_int_equal(bw_sql_tenant(s, "bad"), BW_E_INVALID);
    bw_sql_rollback(s);
    struct bw_sql_arg many[BW_SQL_MAX_ARGS + 1];
    for (int i = 0; i <= BW_SQL_MAX_ARGS; i++)
        many[i] = BW_SQL_I(i);
    assert_int_equal(
        bw_sql_once(s, NULL, 0, "SELECT 1", many, BW_SQL_MAX_ARGS + 1, NULL, NULL, NULL),
        BW_E_INTERNAL);
}

static struct bw_key_record key_in(const char *org, const char *role, uint8_t fill) {
    struct bw_key_record k;
    memset(&k, 0, sizeof k);
    bw_store_new_id("key", k.id);
    snprintf(k.org_id, sizeof k.org_id, "%s", org);
    snprintf(k.role, sizeof k.role, "%s", role);
    snprintf(k.member_id, sizeof k.member_id, "operator");
    memset(k.hash, fill, 32);
    k.created_ms = 1000;
    return k;
}

static void errors_map_alike(void **state) {
    (void)state;
    struct bw_key_record k = key_in(org_a, "member", 0x11);
    assert_int_equal(bw_store_key_insert(s, &k), BW_OK);
    struct bw_key_record dup = key_in(org_a, "member", 0x11); /* same hash */
    assert_int_equal(bw_store_key_insert(s, &dup), BW_E_EXISTS);
    struct bw_key_record bad = key_in(org_a, "root", 0x12); /* CHECK */
    assert_int_equal(bw_store_key_insert(s, &bad), BW_E_INVALID);
    struct bw_key_record orphan = key_in("org_0000000000000000", "member", 0x13); /* FK */
    assert_int_equal(bw_store_key_insert(s, &orphan), BW_E_NOT_FOUND);
    char taken[BW_ID_SIZE];
    assert_int_equal(bw_store_org_create(s, "a", taken), BW_E_EXISTS);
}

static void reads_are_tenant_scoped(void **state) {
    (void)state;
    struct bw_key_record k = key_in(org_a, "agent", 0x21);
    assert_int_equal(bw_store_key_insert(s, &k), BW_OK);
    struct bw_key_record out;
    assert_int_equal(bw_store_key_get(s, org_a, k.id, &out), BW_OK);
    assert_int_equal(bw_store_key_get(s, org_b, k.id, &out), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_key_revoke(s, org_b, k.id, 5), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_key_get(s, org_a, k.id, &out), BW_OK);
    assert_int_equal(out.revoked_ms, 0);
    struct bw_agent_record ag;
    memset(&ag, 0, sizeof ag);
    bw_store_new_id("agt", ag.id);
    snprintf(ag.org_id, sizeof ag.org_id, "%s", org_a);
    snprintf(ag.name, sizeof ag.name, "bot");
    assert_int_equal(bw_store_agent_insert(s, &ag), BW_OK);
    struct bw_agent_record got;
    assert_int_equal(bw_store_agent_get(s, org_b, ag.id, &got), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_agent_delete(s, org_b, ag.id, 5), BW_E_NOT_FOUND);
    /* a transcript can never point at another org's agent (composite foreign key) */
    struct bw_transcript_record t;
    memset(&t, 0, sizeof t);
    bw_store_new_id("msg", t.id);
    snprintf(t.org_id, sizeof t.org_id, "%s", org_b);
    snprintf(t.agent_id, sizeof t.agent_id, "%s", ag.id);
    snprintf(t.conversation, sizeof t.conversation, "cnv_0123456789abcdef");
    snprintf(t.role, sizeof t.role, "user");
    t.content = "hi";
    assert_int_equal(bw_store_transcript_insert(s, &t), BW_E_NOT_FOUND);
    snprintf(t.org_id, sizeof t.org_id, "%s", org_a);
    assert_int_equal(bw_store_transcript_insert(s, &t), BW_OK);
}

static void rotation_once_and_plans_taken_once(void **state) {
    (void)state;
    struct bw_key_record old = key_in(org_a, "member", 0x31);
    assert_int_equal(bw_store_key_insert(s, &old), BW_OK);
    struct bw_key_record fresh = key_in(org_a, "member", 0x32);
    assert_int_equal(bw_store_key_rotate(s, org_a, old.id, &fresh, 9000, 2000), BW_OK);
    struct bw_key_record again = key_in(org_a, "member", 0x33);
    assert_int_equal(bw_store_key_rotate(s, org_a, old.id, &again, 9000, 2000), BW_E_NOT_FOUND);
    /* a successor keeps its predecessor's principal: another one is refused */
    struct bw_key_record other = key_in(org_a, "member", 0x34),
                         moved = key_in(org_a, "member", 0x35);
    assert_int_equal(bw_store_key_insert(s, &other), BW_OK);
    snprintf(moved.member_id, sizeof moved.member_id, "mem_0123456789abcdef");
    assert_int_equal(bw_store_key_rotate(s, org_a, other.id, &moved, 9000, 2000), BW_E_NOT_FOUND);
    /* and every org key has a principal */
    struct bw_key_record nobody = key_in(org_a, "member", 0x36);
    nobody.member_id[0] = 0;
    assert_int_equal(bw_store_key_insert(s, &nobody), BW_E_INVALID);
    struct bw_key_record out;
    assert_int_equal(bw_store_key_get(s, org_a, old.id, &out), BW_OK);
    assert_int_equal(out.expires_ms, 9000);
    assert_string_equal(out.rotated_to, fresh.id);

    struct bw_plan_record p;
    memset(&p, 0, sizeof p);
    bw_store_new_id("pln", p.id);
    snprintf(p.org_id, sizeof p.org_id, "%s", org_a);
    snprintf(p.action, sizeof p.action, "keys.revoke_all");
    snprintf(p.target, sizeof p.target, "%s", org_a);
    memset(p.token_hash, 0x44, 32);
    p.created_ms = 1000;
    p.expires_ms = 5000;
    assert_int_equal(bw_store_plan_insert(s, &p), BW_OK);
    struct bw_plan_record got;
    assert_int_equal(bw_store_plan_take(s, org_b, p.token_hash, 2000, &got), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_plan_take(s, org_a, p.token_hash, 6000, &got), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_plan_take(s, org_a, p.token_hash, 2000, &got), BW_OK);
    assert_string_equal(got.action, "keys.revoke_all");
    assert_int_equal(bw_store_plan_take(s, org_a, p.token_hash, 2000, &got), BW_E_NOT_FOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(id_shapes),
        cmocka_unit_test(placeholders_and_literals),
        cmocka_unit_test(scope_rules),
        cmocka_unit_test(errors_map_alike),
        cmocka_unit_test(reads_are_tenant_scoped),
        cmocka_unit_test(rotation_once_and_plans_taken_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
