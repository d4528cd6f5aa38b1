/* Unit tests for MCP tool pins in the store (store/mcp_pins.h, migration 10) on SQLite: a first
 * sight is inserted once (auto: pinned; approve: pending); a new hash makes a pinned tool
 * changed and a pending one stays pending; a known hash writes nothing; approval takes exactly
 * the pending hash; one org never sees or approves another's. PostgreSQL (RLS) runs the same
 * code in tests/integration/mcp_pin.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/identity.h"
#include "store/mcp_pins.h"

static char dir[64];
static struct bw_store *s;
static char org_a[BW_ID_SIZE], org_b[BW_ID_SIZE];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/bw-pins-XXXXXX");
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

static int record(const char *org, int approve, const char *tool, uint8_t fill) {
    struct bw_mcp_pin_seen w = {.tool = tool, .def = "{\"name\":\"x\"}"};
    memset(w.sha256, fill, 32);
    assert_int_equal(bw_store_mcp_pins_record(s, org, "srv", approve, &w, 1, 1000), BW_OK);
    return w.recorded;
}

static struct bw_mcp_pin get(const char *org, const char *tool) {
    struct bw_mcp_pin p;
    assert_int_equal(bw_store_mcp_pin_get(s, org, "srv", tool, &p), BW_OK);
    return p;
}

static void hash_of(uint8_t out[32], uint8_t fill) {
    memset(out, fill, 32);
}

static void auto_mode(void **state) {
    (void)state;
    uint8_t h[32];
    assert_int_equal(record(org_a, 0, "t1", 1), 1); /* inserted, pinned */
    assert_int_equal(record(org_a, 0, "t1", 1), 0); /* known: nothing */
    struct bw_mcp_pin p = get(org_a, "t1");
    assert_int_equal(p.state, BW_PIN_PINNED);
    assert_true(p.has_pinned && !p.has_pending);
    assert_int_equal(record(org_a, 0, "t1", 2), 2); /* a new hash: changed */
    assert_int_equal(record(org_a, 0, "t1", 2), 0);
    assert_int_equal(record(org_a, 0, "t1", 1), 0); /* back to the pinned one: still changed */
    p = get(org_a, "t1");
    assert_int_equal(p.state, BW_PIN_CHANGED);
    hash_of(h, 2);
    assert_memory_equal(p.pending_sha256, h, 32);
    assert_int_equal(record(org_a, 0, "t1", 3), 2); /* yet another: it is now the pending one */
    /* approval: exactly the pending hash */
    assert_int_equal(bw_store_mcp_pin_approve(s, org_a, "srv", "t1", h, "key_1", 2000),
                     BW_E_EXISTS);
    hash_of(h, 3);
    assert_int_equal(bw_store_mcp_pin_approve(s, org_b, "srv", "t1", h, "key_1", 2000),
                     BW_E_NOT_FOUND); /* another org's */
    assert_int_equal(bw_store_mcp_pin_approve(s, org_a, "srv", "t1", h, "key_1", 2000), BW_OK);
    p = get(org_a, "t1");
    assert_int_equal(p.state, BW_PIN_PINNED);
    assert_memory_equal(p.pinned_sha256, h, 32);
    assert_false(p.has_pending);
    assert_int_equal(p.approved_ms, 2000);
    assert_string_equal(p.approved_by, "key_1");
    assert_int_equal(bw_store_mcp_pin_approve(s, org_a, "srv", "t1", h, "key_1", 2000),
                     BW_E_EXISTS);
    assert_int_equal(bw_store_mcp_pin_approve(s, org_a, "srv", "nope", h, "key_1", 2000),
                     BW_E_NOT_FOUND);
}

static void approve_mode(void **state) {
    (void)state;
    uint8_t h[32];
    assert_int_equal(record(org_b, 1, "t2", 7), 1);
    struct bw_mcp_pin p = get(org_b, "t2");
    assert_int_equal(p.state, BW_PIN_PENDING);
    assert_true(!p.has_pinned && p.has_pending);
    assert_int_equal(record(org_b, 1, "t2", 8), 2); /* pending stays pending, new hash */
    p = get(org_b, "t2");
    assert_int_equal(p.state, BW_PIN_PENDING);
    hash_of(h, 7);
    assert_int_equal(bw_store_mcp_pin_approve(s, org_b, "srv", "t2", h, "key_2", 3000),
                     BW_E_EXISTS);
    hash_of(h, 8);
    assert_int_equal(bw_store_mcp_pin_approve(s, org_b, "srv", "t2", h, "key_2", 3000), BW_OK);
    assert_int_equal(get(org_b, "t2").state, BW_PIN_PINNED);
}

struct count {
    size_t n;
    int with_defs_ok;
};

static int counted(void *arg, const struct bw_mcp_pin *p) {
    struct count *c = arg;
    c->n++;
    c->with_defs_ok = p->pinned_def && p->pending_def;
    return 0;
}

static void tenants_and_filters(void **state) {
    (void)state;
    struct count c = {0, 0};
    struct bw_mcp_pin_filter none = {NULL, NULL, NULL, NULL};
    assert_int_equal(bw_store_mcp_pins_each(s, org_a, &none, 1, 100, counted, &c), BW_OK);
    assert_int_equal(c.n, 1); /* org a's t1 only: never org b's t2 */
    assert_true(c.with_defs_ok);
    struct bw_mcp_pin p;
    assert_int_equal(bw_store_mcp_pin_get(s, org_a, "srv", "t2", &p), BW_E_NOT_FOUND);
    struct bw_mcp_pin_filter changed = {"srv", "changed", NULL, NULL};
    c.n = 0;
    assert_int_equal(bw_store_mcp_pins_each(s, org_a, &changed, 0, 100, counted, &c), BW_OK);
    assert_int_equal(c.n, 0);
    struct bw_mcp_pin_filter after = {"srv", NULL, NULL, "t1"};
    c.n = 0;
    assert_int_equal(bw_store_mcp_pins_each(s, org_a, &after, 0, 100, counted, &c), BW_OK);
    assert_int_equal(c.n, 0);
    /* a refresh writes only last_seen_ms */
    struct bw_mcp_pin_seen w = {.tool = "t1", .def = "", .refresh_only = 1};
    assert_int_equal(bw_store_mcp_pins_record(s, org_a, "srv", 0, &w, 1, 90000), BW_OK);
    assert_int_equal(w.recorded, 0);
    p.last_seen_ms = 0;
    assert_int_equal(bw_store_mcp_pin_get(s, org_a, "srv", "t1", &p), BW_OK);
    assert_int_equal(p.last_seen_ms, 90000);
    assert_int_equal(p.state, BW_PIN_PINNED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auto_mode),
        cmocka_unit_test(approve_mode),
        cmocka_unit_test(tenants_and_filters),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
