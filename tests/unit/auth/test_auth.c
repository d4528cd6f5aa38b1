/* Unit tests: auth/ + store/ (key generation, keyed hashing, identify against SQLite). */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "store/store.h"
#include "store/store_migrations.h"

struct fixture {
    char dir[64];
    char db[128];
    struct bw_store *s;
    uint8_t pepper[32];
    char org[BW_ID_SIZE];
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/bw-auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
    assert_int_equal(sodium_init() >= 0, 1);
    randombytes_buf(f->pepper, 32);
    assert_int_equal(bw_store_open_sqlite(f->db, 1, &f->s), BW_OK);
    assert_int_equal(bw_store_org_create(f->s, "acme", f->org), BW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    bw_store_close(f->s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void insert_key(struct fixture *f, const char *key, int64_t expires, const char *role) {
    struct bw_key_record k;
    memset(&k, 0, sizeof k);
    bw_store_new_id("key", k.id);
    snprintf(k.org_id, sizeof k.org_id, "%s", f->org);
    snprintf(k.role, sizeof k.role, "%s", role);
    snprintf(k.member_id, sizeof k.member_id, "operator");
    k.created_ms = 1;
    k.expires_ms = expires;
    bw_auth_key_hash(f->pepper, key, strlen(key), k.hash);
    assert_int_equal(bw_store_key_insert(f->s, &k), BW_OK);
}

static void generated_keys_have_shape(void **state) {
    (void)state;
    char a[BW_KEY_SIZE], b[BW_KEY_SIZE];
    bw_auth_key_generate(a);
    bw_auth_key_generate(b);
    assert_int_equal(strlen(a), BW_KEY_CHARS);
    assert_memory_equal(a, "bwk_", 4);
    assert_string_not_equal(a, b);
}

static void identify_accepts_only_known_keys(void **state) {
    struct fixture *f = *state;
    char key[BW_KEY_SIZE], header[80];
    bw_auth_key_generate(key);
    insert_key(f, key, 0, "agent");
    struct bw_key_record rec;
    snprintf(header, sizeof header, "Bearer %s", key);
    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, header, 100, &rec), BW_OK);
    assert_string_equal(rec.org_id, f->org);
    assert_string_equal(rec.org_name, "acme");
    assert_string_equal(rec.role, "agent");
    snprintf(header, sizeof header, "bearer %s", key); /* scheme is case-insensitive */
    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, header, 100, &rec), BW_OK);

    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, NULL, 100, &rec), BW_E_UNAUTH);
    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, "Basic abc", 100, &rec), BW_E_UNAUTH);
    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, "Bearer ", 100, &rec), BW_E_UNAUTH);
    char other[BW_KEY_SIZE];
    bw_auth_key_generate(other);
    snprintf(header, sizeof header, "Bearer %s", other);
    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, header, 100, &rec), BW_E_UNAUTH);
    snprintf(header, sizeof header, "Bearer %s'--", key);
    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, header, 100, &rec), BW_E_UNAUTH);
    /* Another pepper (another master key) cannot use the same database. */
    uint8_t pepper2[32];
    memset(pepper2, 7, 32);
    snprintf(header, sizeof header, "Bearer %s", key);
    assert_int_equal(bw_auth_identify(f->s, NULL, pepper2, header, 100, &rec), BW_E_UNAUTH);
}

static void expired_keys_are_refused(void **state) {
    struct fixture *f = *state;
    char key[BW_KEY_SIZE], header[80];
    bw_auth_key_generate(key);
    insert_key(f, key, 50, "agent");
    snprintf(header, sizeof header, "Bearer %s", key);
    struct bw_key_record rec;
    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, header, 49, &rec), BW_OK);
    assert_int_equal(bw_auth_identify(f->s, NULL, f->pepper, header, 50, &rec), BW_E_UNAUTH);
}

static void store_refuses_duplicates_and_reopens(void **state) {
    struct fixture *f = *state;
    char id[BW_ID_SIZE];
    assert_int_equal(bw_store_org_create(f->s, "acme", id), BW_E_EXISTS);
    struct bw_store *again = NULL;
    assert_int_equal(bw_store_open_sqlite(f->db, 1, &again), BW_E_EXISTS);
    assert_int_equal(bw_store_open_sqlite(f->db, 0, &again), BW_OK);
    /* the newest migration's number (numbers may have gaps while branches are in flight) */
    assert_int_equal(bw_store_schema_version(again),
                     bw_store_migrations[bw_store_n_migrations - 1].version);
    bw_store_close(again);
    assert_int_equal(bw_store_open_sqlite("/nonexistent/x.db", 0, &again), BW_E_NOT_FOUND);
}

static void cache_serves_then_expires_and_invalidates(void **state) {
    struct fixture *f = *state;
    char key[BW_KEY_SIZE], header[80];
    bw_auth_key_generate(key);
    insert_key(f, key, 0, "agent");
    snprintf(header, sizeof header, "Bearer %s", key);
    struct bw_auth_cache *cache = NULL;
    assert_int_equal(bw_auth_cache_new(64, 1000, &cache), BW_OK);
    struct bw_key_record rec;
    assert_int_equal(bw_auth_identify(f->s, cache, f->pepper, header, 100, &rec), BW_OK);
    /* With the store closed, only the cache can answer. */
    struct bw_store *saved = f->s;
    char other_db[160];
    snprintf(other_db, sizeof other_db, "%s/empty.db", f->dir);
    assert_int_equal(bw_store_open_sqlite(other_db, 1, &f->s), BW_OK);
    assert_int_equal(bw_auth_identify(f->s, cache, f->pepper, header, 500, &rec), BW_OK);
    assert_string_equal(rec.org_name, "acme");
    /* Past the TTL the store is asked again (and this one does not know the key). */
    assert_int_equal(bw_auth_identify(f->s, cache, f->pepper, header, 1100, &rec), BW_E_UNAUTH);
    bw_store_close(f->s);
    f->s = saved;
    assert_int_equal(bw_auth_identify(f->s, cache, f->pepper, header, 2000, &rec), BW_OK);
    /* Invalidation drops cached entries at once. */
    bw_auth_cache_invalidate_all();
    assert_int_equal(bw_store_open_sqlite(other_db, 0, &f->s), BW_OK);
    assert_int_equal(bw_auth_identify(f->s, cache, f->pepper, header, 2001, &rec), BW_E_UNAUTH);
    bw_store_close(f->s);
    f->s = saved;
    bw_auth_cache_free(cache);
}

/* The two halves an event worker uses (the read in a store job): a miss says so without the
 * store and hands back the hash; the read's result is checked and cached by the second half;
 * a store failure or an unknown key answers as bw_auth_identify does. */
static void identify_in_two_halves(void **state) {
    struct fixture *f = *state;
    char key[BW_KEY_SIZE], header[80];
    bw_auth_key_generate(key);
    insert_key(f, key, 5000, "agent");
    snprintf(header, sizeof header, "Bearer %s", key);
    struct bw_auth_cache *cache = NULL;
    assert_int_equal(bw_auth_cache_new(64, 1000, &cache), BW_OK);
    struct bw_key_record rec, read;
    uint8_t hash[32];
    assert_int_equal(bw_auth_identify_cached(cache, f->pepper, "Bearer nope", 100, hash, &rec),
                     BW_E_UNAUTH);
    assert_int_equal(bw_auth_identify_cached(cache, f->pepper, header, 100, hash, &rec),
                     BW_E_NOT_FOUND);
    /* the store failed: unavailable, nothing cached */
    assert_int_equal(bw_auth_identify_finish(cache, hash, BW_E_UNAVAILABLE, &read, 100, &rec),
                     BW_E_UNAVAILABLE);
    assert_int_equal(bw_auth_identify_finish(cache, hash, BW_E_NOT_FOUND, &read, 100, &rec),
                     BW_E_UNAUTH);
    assert_int_equal(bw_auth_identify_cached(cache, f->pepper, header, 100, hash, &rec),
                     BW_E_NOT_FOUND);
    /* a record whose hash is not the presented key's is refused */
    assert_int_equal(bw_store_key_by_hash(f->s, hash, &read), BW_OK);
    struct bw_key_record other = read;
    other.hash[0] ^= 1;
    assert_int_equal(bw_auth_identify_finish(cache, hash, BW_OK, &other, 100, &rec), BW_E_UNAUTH);
    assert_int_equal(bw_auth_identify_finish(cache, hash, BW_OK, &read, 100, &rec), BW_OK);
    assert_string_equal(rec.org_name, "acme");
    /* now cached; its expiry is still checked on every use */
    memset(&rec, 0, sizeof rec);
    assert_int_equal(bw_auth_identify_cached(cache, f->pepper, header, 200, hash, &rec), BW_OK);
    assert_string_equal(rec.org_name, "acme");
    assert_int_equal(bw_auth_identify_cached(cache, f->pepper, header, 900, hash, &rec), BW_OK);
    assert_int_equal(bw_auth_identify_finish(cache, hash, BW_OK, &read, 5000, &rec), BW_E_UNAUTH);
    bw_auth_cache_free(cache);
}

/* Capability, not rank: reviewer and member were the same rank, but a member covers no review. */
static void roles_cover_by_capability(void **state) {
    (void)state;
    static const char *const roles[] = {"owner",  "admin", "reviewer",
                                        "member", "agent", "operator"};
    /* expected[holder][key] */
    static const int expected[6][6] = {
        {1, 1, 1, 1, 1, 0}, {0, 1, 1, 1, 1, 0}, {0, 0, 1, 1, 0, 0},
        {0, 0, 0, 1, 0, 0}, {0, 0, 0, 0, 1, 0}, {0, 0, 0, 0, 0, 1},
    };
    for (int h = 0; h < 6; h++)
        for (int k = 0; k < 6; k++)
            assert_int_equal(bw_auth_role_covers(roles[h], roles[k]), expected[h][k]);
    assert_false(bw_auth_role_covers(NULL, "member"));
    assert_false(bw_auth_role_covers("owner", NULL));
    assert_false(bw_auth_role_covers("owner", ""));
    assert_false(bw_auth_role_covers("owner", "root"));
    assert_false(bw_auth_role_covers("Owner", "member"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_keys_have_shape),
        cmocka_unit_test(roles_cover_by_capability),
        cmocka_unit_test_setup_teardown(identify_accepts_only_known_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_keys_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(store_refuses_duplicates_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_serves_then_expires_and_invalidates, setup, teardown),
        cmocka_unit_test_setup_teardown(identify_in_two_halves, setup, teardown),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
