/* Unit tests: vault/ keyring (keyring.h): picking the master key by the id a record carries,
 * the next and previous keys of a rotation, the environment's meaning; the API-key pepper as a
 * sealed platform secret (auth.h bw_auth_pepper_load) and the store's rotation primitives
 * (connections.h: keyset pages, compare-and-swap) on SQLite. */
#include <fcntl.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "store/connections.h"
#include "store/identity.h"
#include "util/time.h"
#include "vault/keyring.h"

#define ORG "org_0123456789abcdef"
#define REC "sec_0123456789abcdef"

static char dir[64];

static void path_of(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s/%s", dir, name);
}

static void write_key(const char *name, const uint8_t key[32], mode_t mode) {
    char p[128];
    path_of(name, p, sizeof p);
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, key, 32), 32);
    close(fd);
    assert_int_equal(chmod(p, mode), 0);
}

static void remove_key(const char *name) {
    char p[128];
    path_of(name, p, sizeof p);
    unlink(p);
}

static int setup(void **state) {
    (void)state;
    if (sodium_init() < 0)
        return -1;
    unsetenv(BW_MASTER_ENV);
    snprintf(dir, sizeof dir, "/tmp/bw-keyring-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int clean(void **state) {
    (void)state;
    unsetenv(BW_MASTER_ENV);
    remove_key(BW_KEYRING_FILE);
    remove_key(BW_KEYRING_NEXT_FILE);
    remove_key(BW_KEYRING_PREV_FILE);
    return 0;
}

struct rec {
    uint8_t bytes[BW_VAULT_SEALED_SIZE(64)];
    size_t len;
};

static void seal(const struct bw_keyring *r, const char *secret, struct rec *out) {
    assert_int_equal(bw_keyring_seal(r, ORG, REC, (const uint8_t *)secret, strlen(secret),
                                     out->bytes, sizeof out->bytes, &out->len),
                     BW_OK);
}

static bw_err open_rec(const struct bw_keyring *r, const struct rec *in, const char *expect) {
    struct bw_vault_secret *s = NULL;
    bw_err e = bw_keyring_open(r, ORG, REC, in->bytes, in->len, &s);
    if (e == BW_OK) {
        assert_int_equal(s->len, strlen(expect));
        assert_memory_equal(s->bytes, expect, s->len);
        bw_vault_secret_free(s);
    } else {
        assert_null(s);
    }
    return e;
}

static void rec_id(const struct rec *in, uint8_t id[BW_VAULT_MASTER_ID_BYTES]) {
    struct bw_vault_sealed s;
    assert_int_equal(bw_vault_sealed_parse(in->bytes, in->len, &s), BW_OK);
    memcpy(id, s.master_id, BW_VAULT_MASTER_ID_BYTES);
}

static void test_current_only(void **state) {
    (void)state;
    uint8_t k1[32];
    randombytes_buf(k1, sizeof k1);
    struct bw_keyring *r = NULL;
    assert_int_equal(bw_keyring_load(dir, &r), BW_E_NOT_FOUND);
    write_key(BW_KEYRING_FILE, k1, 0600);
    assert_int_equal(bw_keyring_load(dir, &r), BW_OK);
    assert_ptr_equal(bw_keyring_current(r), bw_keyring_sealer(r));
    uint8_t cur[8], sealer[8], id[8];
    bw_keyring_current_id(r, cur);
    bw_keyring_sealer_id(r, sealer);
    assert_memory_equal(cur, sealer, 8);
    struct rec a;
    seal(r, "secret-one", &a);
    rec_id(&a, id);
    assert_memory_equal(id, cur, 8);
    assert_ptr_equal(bw_keyring_find(r, id), bw_keyring_current(r));
    assert_int_equal(open_rec(r, &a, "secret-one"), BW_OK);
    uint8_t other[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_null(bw_keyring_find(r, other));
    bw_keyring_free(r);
}

/* A rotation in progress: records of both generations open, each with the key its id names;
 * new records are sealed under the next key. */
static void test_next_and_prev(void **state) {
    (void)state;
    uint8_t k1[32], k2[32];
    randombytes_buf(k1, sizeof k1);
    randombytes_buf(k2, sizeof k2);
    write_key(BW_KEYRING_FILE, k1, 0600);
    struct bw_keyring *old = NULL, *both = NULL, *after = NULL, *only_new = NULL;
    assert_int_equal(bw_keyring_load(dir, &old), BW_OK);
    struct rec a, b, rewrapped;
    seal(old, "under-the-old-key", &a);

    write_key(BW_KEYRING_NEXT_FILE, k2, 0600);
    assert_int_equal(bw_keyring_load(dir, &both), BW_OK);
    assert_ptr_not_equal(bw_keyring_sealer(both), bw_keyring_current(both));
    seal(both, "under-the-new-key", &b);
    uint8_t ida[8], idb[8], cur[8];
    rec_id(&a, ida);
    rec_id(&b, idb);
    bw_keyring_current_id(both, cur);
    assert_memory_equal(ida, cur, 8);
    assert_memory_not_equal(idb, cur, 8);
    assert_int_equal(open_rec(both, &a, "under-the-old-key"), BW_OK);
    assert_int_equal(open_rec(both, &b, "under-the-new-key"), BW_OK);
    /* a gateway without the next key cannot open what was sealed under it: no trial decryption,
     * a plain "not held" */
    assert_int_equal(open_rec(old, &b, ""), BW_E_NOT_FOUND);

    /* re-wrap a to the new key; then switch the files: master.key = k2, prev = k1 */
    rewrapped.len = 0;
    assert_int_equal(bw_vault_rewrap(bw_keyring_current(both), bw_keyring_sealer(both), ORG, REC,
                                     a.bytes, a.len, rewrapped.bytes, sizeof rewrapped.bytes,
                                     &rewrapped.len),
                     BW_OK);
    write_key(BW_KEYRING_FILE, k2, 0600);
    write_key(BW_KEYRING_PREV_FILE, k1, 0600);
    remove_key(BW_KEYRING_NEXT_FILE);
    assert_int_equal(bw_keyring_load(dir, &after), BW_OK);
    assert_ptr_equal(bw_keyring_sealer(after), bw_keyring_current(after));
    assert_int_equal(open_rec(after, &rewrapped, "under-the-old-key"), BW_OK);
    assert_int_equal(open_rec(after, &a, "under-the-old-key"), BW_OK); /* prev: open only */
    struct rec c;
    seal(after, "after", &c);
    uint8_t idc[8];
    rec_id(&c, idc);
    assert_memory_equal(idc, idb, 8);

    /* the previous key deleted: only the new key; the old key alone opens no rotated record */
    remove_key(BW_KEYRING_PREV_FILE);
    assert_int_equal(bw_keyring_load(dir, &only_new), BW_OK);
    assert_int_equal(open_rec(only_new, &rewrapped, "under-the-old-key"), BW_OK);
    assert_int_equal(open_rec(only_new, &a, ""), BW_E_NOT_FOUND);
    assert_int_equal(open_rec(old, &rewrapped, ""), BW_E_NOT_FOUND);
    bw_keyring_free(old);
    bw_keyring_free(both);
    bw_keyring_free(after);
    bw_keyring_free(only_new);
}

/* The environment is the current key; the next key is a file even then. Bad files are errors,
 * never skipped; a next file holding the current key is ignored. */
static void test_env_and_files(void **state) {
    (void)state;
    uint8_t k1[32], k2[32], k3[32];
    randombytes_buf(k1, sizeof k1);
    randombytes_buf(k2, sizeof k2);
    randombytes_buf(k3, sizeof k3);
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, k1, 32, sodium_base64_VARIANT_ORIGINAL);
    write_key(BW_KEYRING_FILE, k3, 0600); /* ignored: the environment wins */
    write_key(BW_KEYRING_NEXT_FILE, k2, 0600);
    setenv(BW_MASTER_ENV, b64, 1);
    struct bw_keyring *r = NULL, *file_only = NULL;
    assert_int_equal(bw_keyring_load(dir, &r), BW_OK);
    unsetenv(BW_MASTER_ENV);
    assert_int_equal(bw_keyring_load(dir, &file_only), BW_OK);
    uint8_t env_cur[8], file_cur[8], env_seal[8], file_seal[8];
    bw_keyring_current_id(r, env_cur);
    bw_keyring_current_id(file_only, file_cur);
    bw_keyring_sealer_id(r, env_seal);
    bw_keyring_sealer_id(file_only, file_seal);
    assert_memory_not_equal(env_cur, file_cur, 8);
    assert_memory_equal(env_seal, file_seal, 8); /* k2 from the file in both */
    bw_keyring_free(r);
    bw_keyring_free(file_only);

    write_key(BW_KEYRING_NEXT_FILE, k2, 0644);
    assert_int_equal(bw_keyring_load(dir, &r), BW_E_DENIED);
    write_key(BW_KEYRING_NEXT_FILE, k3, 0600); /* the current key again: no next */
    assert_int_equal(bw_keyring_load(dir, &r), BW_OK);
    assert_ptr_equal(bw_keyring_sealer(r), bw_keyring_current(r));
    bw_keyring_free(r);
    write_key(BW_KEYRING_PREV_FILE, k1, 0640);
    assert_int_equal(bw_keyring_load(dir, &r), BW_E_DENIED);
}

/* SIGHUP: the next key is published once; another one needs a restart. */
static void test_load_next(void **state) {
    (void)state;
    uint8_t k1[32], k2[32], k3[32];
    randombytes_buf(k1, sizeof k1);
    randombytes_buf(k2, sizeof k2);
    randombytes_buf(k3, sizeof k3);
    write_key(BW_KEYRING_FILE, k1, 0600);
    struct bw_keyring *r = NULL;
    assert_int_equal(bw_keyring_load(dir, &r), BW_OK);
    int loaded = -1;
    assert_int_equal(bw_keyring_load_next(r, dir, &loaded), BW_OK);
    assert_int_equal(loaded, 0);
    write_key(BW_KEYRING_NEXT_FILE, k2, 0600);
    assert_int_equal(bw_keyring_load_next(r, dir, &loaded), BW_OK);
    assert_int_equal(loaded, 1);
    const struct bw_master *next = bw_keyring_sealer(r);
    assert_ptr_not_equal(next, bw_keyring_current(r));
    assert_int_equal(bw_keyring_load_next(r, dir, &loaded), BW_OK);
    assert_int_equal(loaded, 0);
    write_key(BW_KEYRING_NEXT_FILE, k3, 0600);
    assert_int_equal(bw_keyring_load_next(r, dir, &loaded), BW_E_EXISTS);
    assert_ptr_equal(bw_keyring_sealer(r), next);
    bw_keyring_free(r);
}

/* ---- the pepper record and the store's rotation primitives (SQLite) ---- */

static struct bw_store *open_store(const char *name) {
    char p[128];
    path_of(name, p, sizeof p);
    unlink(p);
    struct bw_store *s = NULL;
    assert_int_equal(bw_store_open_sqlite(p, 1, &s), BW_OK);
    return s;
}

static void test_pepper_record(void **state) {
    (void)state;
    uint8_t k1[32], k2[32];
    randombytes_buf(k1, sizeof k1);
    randombytes_buf(k2, sizeof k2);
    write_key(BW_KEYRING_FILE, k1, 0600);
    struct bw_keyring *old = NULL, *both = NULL, *only_new = NULL;
    assert_int_equal(bw_keyring_load(dir, &old), BW_OK);
    struct bw_store *s = open_store("pepper.db");
    struct bw_secret_blob *b = malloc(sizeof *b);
    assert_non_null(b);
    assert_int_equal(bw_store_platform_secret_get(s, BW_PLATFORM_PEPPER_ID, b), BW_E_NOT_FOUND);

    /* first load: derived exactly as before migration 7, then sealed */
    uint8_t *p1 = sodium_malloc(32), *p2 = sodium_malloc(32), *derived = sodium_malloc(32);
    assert_int_equal(
        bw_master_derive(bw_keyring_current(old), BW_PEPPER_KDF_ID, BW_PEPPER_KDF_CTX, derived),
        BW_OK);
    assert_int_equal(bw_auth_pepper_load(s, old, p1), BW_OK);
    assert_memory_equal(p1, derived, 32);
    assert_int_equal(bw_store_platform_secret_get(s, BW_PLATFORM_PEPPER_ID, b), BW_OK);
    uint8_t cur[8];
    bw_keyring_current_id(old, cur);
    assert_memory_equal(b->master_id, cur, 8);
    assert_true(memmem(b->sealed, b->len, derived, 32) == NULL); /* sealed, not stored */

    /* a second create loses to the first */
    struct bw_sealed_secret other = {b->sealed, b->len, {0}, ""};
    memcpy(other.master_id, b->master_id, 8);
    int created = -1;
    assert_int_equal(bw_store_platform_secret_create(s, BW_PLATFORM_PEPPER_ID, &other, 1, &created),
                     BW_OK);
    assert_int_equal(created, 0);

    /* re-wrap under k2 with compare-and-swap: a stale "old" does not swap */
    write_key(BW_KEYRING_NEXT_FILE, k2, 0600);
    assert_int_equal(bw_keyring_load(dir, &both), BW_OK);
    uint8_t *out = malloc(BW_VAULT_SEALED_MAX);
    size_t out_len = 0;
    assert_int_equal(bw_vault_rewrap(bw_keyring_current(both), bw_keyring_sealer(both),
                                     BW_PLATFORM_ORG, BW_PLATFORM_PEPPER_ID, b->sealed, b->len, out,
                                     BW_VAULT_SEALED_MAX, &out_len),
                     BW_OK);
    uint8_t new_id[8];
    bw_keyring_sealer_id(both, new_id);
    uint8_t stale[BW_VAULT_SEALED_MAX];
    memcpy(stale, b->sealed, b->len);
    stale[b->len - 1] ^= 1;
    struct bw_secret_swap sw = {BW_PLATFORM_PEPPER_ID, stale, b->len, out, out_len, new_id};
    int swapped = -1;
    assert_int_equal(bw_store_platform_secret_swap(s, &sw, 2, &swapped), BW_OK);
    assert_int_equal(swapped, 0);
    sw.old = b->sealed;
    assert_int_equal(bw_store_platform_secret_swap(s, &sw, 2, &swapped), BW_OK);
    assert_int_equal(swapped, 1);
    assert_int_equal(bw_store_platform_secret_swap(s, &sw, 2, &swapped), BW_OK);
    assert_int_equal(swapped, 0); /* a second swap from the same old bytes: nothing */

    /* the new key alone opens the same pepper; the old key alone does not (by id) */
    remove_key(BW_KEYRING_NEXT_FILE);
    write_key(BW_KEYRING_FILE, k2, 0600);
    assert_int_equal(bw_keyring_load(dir, &only_new), BW_OK);
    assert_int_equal(bw_auth_pepper_load(s, only_new, p2), BW_OK);
    assert_memory_equal(p1, p2, 32);
    assert_int_equal(bw_auth_pepper_load(s, old, p2), BW_E_NOT_FOUND);

    /* an altered record is refused, never re-derived */
    assert_int_equal(bw_store_platform_secret_get(s, BW_PLATFORM_PEPPER_ID, b), BW_OK);
    memcpy(stale, b->sealed, b->len);
    stale[b->len - 1] ^= 0x40;
    struct bw_secret_swap bad = {BW_PLATFORM_PEPPER_ID, b->sealed, b->len, stale, b->len, new_id};
    assert_int_equal(bw_store_platform_secret_swap(s, &bad, 3, &swapped), BW_OK);
    assert_int_equal(swapped, 1);
    assert_int_equal(bw_auth_pepper_load(s, only_new, p2), BW_E_CRYPTO);

    free(out);
    free(b);
    sodium_free(p1);
    sodium_free(p2);
    sodium_free(derived);
    bw_store_close(s);
    bw_keyring_free(old);
    bw_keyring_free(both);
    bw_keyring_free(only_new);
}

/* Keyset pages of the records not yet re-wrapped, and the batch compare-and-swap. */
static void test_secret_pages(void **state) {
    (void)state;
    uint8_t k1[32];
    randombytes_buf(k1, sizeof k1);
    write_key(BW_KEYRING_FILE, k1, 0600);
    struct bw_keyring *r = NULL;
    assert_int_equal(bw_keyring_load(dir, &r), BW_OK);
    struct bw_store *s = open_store("pages.db");
    char org[BW_ID_SIZE], org2[BW_ID_SIZE];
    assert_int_equal(bw_store_org_create(s, "a", org), BW_OK);
    assert_int_equal(bw_store_org_create(s, "b", org2), BW_OK);
    /* one provider key per org: two records in two orgs */
    const char *orgs[2] = {org, org2};
    for (int i = 0; i < 2; i++) {
        char sid[BW_ID_SIZE];
        bw_store_new_id("sec", sid);
        uint8_t buf[BW_VAULT_SEALED_SIZE(32)];
        struct bw_sealed_secret sec = {buf, 0, {0}, ""};
        assert_int_equal(bw_keyring_seal(r, orgs[i], sid, (const uint8_t *)"sk-0123456789abcdef",
                                         19, buf, sizeof buf, &sec.sealed_len),
                         BW_OK);
        bw_keyring_current_id(r, sec.master_id);
        assert_int_equal(bw_store_provider_key_put(s, orgs[i], sid, &sec, 1), BW_OK);
    }
    struct bw_secret_blob *rows = calloc(4, sizeof *rows);
    uint8_t cur[8], zero[8] = {0};
    bw_keyring_current_id(r, cur);
    size_t n = 9;
    assert_int_equal(bw_store_secrets_not_wrapped_by(s, org, cur, "", 4, rows, &n), BW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(bw_store_secrets_not_wrapped_by(s, org, zero, "", 4, rows, &n), BW_OK);
    assert_int_equal(n, 1); /* only this org's record: the tenant is bound */
    assert_int_equal(bw_store_secrets_not_wrapped_by(s, org, zero, rows[0].id, 4, rows, &n), BW_OK);
    assert_int_equal(n, 0); /* keyset: nothing after the last id */
    assert_int_equal(bw_store_secrets_not_wrapped_by(s, org, zero, "", 4, rows, &n), BW_OK);
    /* a swap names the org: another org's tenant does not reach the row */
    uint8_t newid[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    struct bw_secret_swap sw = {rows[0].id,     rows[0].sealed, rows[0].len,
                                rows[0].sealed, rows[0].len,    newid};
    size_t swapped = 9;
    assert_int_equal(bw_store_secrets_swap(s, org2, &sw, 1, &swapped), BW_OK);
    assert_int_equal(swapped, 0);
    assert_int_equal(bw_store_secrets_swap(s, org, &sw, 1, &swapped), BW_OK);
    assert_int_equal(swapped, 1);
    assert_int_equal(bw_store_secrets_not_wrapped_by(s, org, newid, "", 4, rows, &n), BW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(bw_store_secrets_not_wrapped_by(s, org, newid, "", 0, rows, &n), BW_E_INVALID);
    free(rows);
    bw_store_close(s);
    bw_keyring_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_current_only, clean),
        cmocka_unit_test_setup(test_next_and_prev, clean),
        cmocka_unit_test_setup(test_env_and_files, clean),
        cmocka_unit_test_setup(test_load_next, clean),
        cmocka_unit_test_setup(test_pepper_record, clean),
        cmocka_unit_test_setup(test_secret_pages, clean),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
