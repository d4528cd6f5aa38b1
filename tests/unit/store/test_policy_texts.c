/* Unit tests for the policy texts kept for evidence (store/org_policy.h, migration 8) on
 * SQLite: content-addressed and idempotent, an org sees its own texts and the platform's but
 * never another org's, an org policy PUT keeps its text, and a kept text survives the org's
 * policy being replaced and the org being deleted. PostgreSQL (RLS) runs the same code in
 * tests/integration/tenant_evidence.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/identity.h"
#include "store/org_policy.h"
#include "util/codec.h"

static char dir[64];
static struct bw_store *s;
static char org_a[BW_ID_SIZE], org_b[BW_ID_SIZE];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/bw-ptext-XXXXXX");
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

struct seen {
    char texts[16][64];
    size_t n;
};

static int collect(void *arg, const char *text, size_t len) {
    struct seen *x = arg;
    if (x->n < 16 && len < 64)
        memcpy(x->texts[x->n++], text, len + 1);
    return 0;
}

static int has(const struct seen *x, const char *text) {
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->texts[i], text) == 0)
            return 1;
    return 0;
}

static struct seen visible(const char *org) {
    struct seen x;
    memset(&x, 0, sizeof x);
    assert_int_equal(bw_store_policy_texts_each(s, org, 100, collect, &x), BW_OK);
    return x;
}

static void scoped_and_kept(void **state) {
    (void)state;
    assert_int_equal(bw_store_policy_text_put(s, NULL, "platform", 8, 1), BW_OK);
    assert_int_equal(bw_store_policy_text_put(s, "", "platform", 8, 2), BW_OK); /* idempotent */
    assert_int_equal(bw_store_policy_text_put(s, org_a, "a-own", 5, 3), BW_OK);
    assert_int_equal(bw_store_policy_text_put(s, org_b, "b-own", 5, 3), BW_OK);
    assert_int_equal(bw_store_policy_text_put(s, "nope", "x", 1, 3), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_policy_text_put(s, org_a, "a\0b", 3, 3), BW_E_INVALID);
    uint8_t h[32];
    const char *v1 = "version: 1\nrules: []\n";
    bw_sha256(v1, strlen(v1), h);
    assert_int_equal(bw_store_org_policy_put(s, org_a, v1, strlen(v1), h, 4, "key_a"), BW_OK);
    const char *v2 = "version: 1\nrules: [ ]\n";
    bw_sha256(v2, strlen(v2), h);
    assert_int_equal(bw_store_org_policy_put(s, org_a, v2, strlen(v2), h, 5, "key_a"), BW_OK);
    assert_int_equal(bw_store_org_policy_delete(s, org_a), BW_OK);
    struct seen a = visible(org_a);
    assert_int_equal(a.n, 4);
    assert_true(has(&a, "platform") && has(&a, "a-own") && has(&a, v1) && has(&a, v2));
    assert_false(has(&a, "b-own"));
    struct seen b = visible(org_b);
    assert_int_equal(b.n, 2);
    assert_true(has(&b, "platform") && has(&b, "b-own"));
    assert_int_equal(visible(NULL).n, 5); /* SQLite without a tenant: every kept text */
    /* the org goes; its texts stay for the evidence of its receipts */
    assert_int_equal(bw_store_org_delete(s, org_a), BW_OK);
    assert_int_equal(visible(org_a).n, 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(scoped_and_kept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
