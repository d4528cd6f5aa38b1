/* keyring.c: master keys by id (keyring.h). */
#include "vault/keyring.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bw_keyring {
    struct bw_master *current;
    struct bw_master *_Atomic next; /* published once (bw_keyring_load_next) */
    struct bw_master *prev;
    uint8_t current_id[BW_VAULT_MASTER_ID_BYTES];
    uint8_t next_id[BW_VAULT_MASTER_ID_BYTES]; /* written before next is published */
    uint8_t prev_id[BW_VAULT_MASTER_ID_BYTES];
};

static int same_id(const uint8_t *a, const uint8_t *b) {
    return memcmp(a, b, BW_VAULT_MASTER_ID_BYTES) == 0; /* ids are not secret */
}

bw_err bw_keyring_from(struct bw_master *current, struct bw_master *next, struct bw_master *prev,
                       struct bw_keyring **out) {
    bw_err result = BW_OK;
    struct bw_keyring *r = calloc(1, sizeof *r);
    BW_GOTO_IF(!r || !current, r ? BW_E_INVALID : BW_E_NOMEM);
    r->current = current;
    current = NULL;
    BW_GOTO(bw_vault_master_id(r->current, r->current_id));
    if (next) {
        BW_GOTO(bw_vault_master_id(next, r->next_id));
        if (!same_id(r->next_id, r->current_id)) {
            atomic_store(&r->next, next);
            next = NULL;
        }
    }
    if (prev) {
        BW_GOTO(bw_vault_master_id(prev, r->prev_id));
        if (!same_id(r->prev_id, r->current_id) &&
            !(atomic_load(&r->next) && same_id(r->prev_id, r->next_id))) {
            r->prev = prev;
            prev = NULL;
        }
    }
    *out = r;
    r = NULL;
out:
    bw_keyring_free(r);
    bw_master_free(current);
    bw_master_free(next);
    bw_master_free(prev);
    return result;
}

static bw_err load_optional(const char *dir, const char *name, struct bw_master **out) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return BW_E_INVALID;
    bw_err e = bw_master_load_file(path, out);
    if (e == BW_E_NOT_FOUND) {
        *out = NULL;
        return BW_OK;
    }
    return e;
}

bw_err bw_keyring_load(const char *dir, struct bw_keyring **out) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/" BW_KEYRING_FILE, dir) >= (int)sizeof path)
        return BW_E_INVALID;
    struct bw_master *cur = NULL, *next = NULL, *prev = NULL;
    BW_TRY(bw_master_load(path, &cur));
    bw_err e = load_optional(dir, BW_KEYRING_NEXT_FILE, &next);
    if (e == BW_OK)
        e = load_optional(dir, BW_KEYRING_PREV_FILE, &prev);
    if (e != BW_OK) {
        bw_master_free(cur);
        bw_master_free(next);
        return e;
    }
    return bw_keyring_from(cur, next, prev, out);
}

bw_err bw_keyring_load_next(struct bw_keyring *r, const char *dir, int *loaded) {
    *loaded = 0;
    struct bw_master *m = NULL;
    BW_TRY(load_optional(dir, BW_KEYRING_NEXT_FILE, &m));
    if (!m)
        return BW_OK;
    uint8_t id[BW_VAULT_MASTER_ID_BYTES];
    bw_err e = bw_vault_master_id(m, id);
    if (e == BW_OK && atomic_load(&r->next))
        e = same_id(id, r->next_id) ? BW_OK : BW_E_EXISTS;
    else if (e == BW_OK && !same_id(id, r->current_id)) {
        memcpy(r->next_id, id, sizeof id);
        atomic_store(&r->next, m); /* release: the id is visible before the pointer */
        m = NULL;
        *loaded = 1;
    }
    bw_master_free(m);
    return e;
}

void bw_keyring_free(struct bw_keyring *r) {
    if (!r)
        return;
    bw_master_free(r->current);
    bw_master_free(atomic_load(&r->next));
    bw_master_free(r->prev);
    free(r);
}

const struct bw_master *bw_keyring_current(const struct bw_keyring *r) {
    return r->current;
}

const struct bw_master *bw_keyring_sealer(const struct bw_keyring *r) {
    struct bw_master *next = atomic_load(&((struct bw_keyring *)r)->next);
    return next ? next : r->current;
}

void bw_keyring_current_id(const struct bw_keyring *r, uint8_t out[BW_VAULT_MASTER_ID_BYTES]) {
    memcpy(out, r->current_id, BW_VAULT_MASTER_ID_BYTES);
}

void bw_keyring_sealer_id(const struct bw_keyring *r, uint8_t out[BW_VAULT_MASTER_ID_BYTES]) {
    int has_next = atomic_load(&((struct bw_keyring *)r)->next) != NULL;
    memcpy(out, has_next ? r->next_id : r->current_id, BW_VAULT_MASTER_ID_BYTES);
}

const struct bw_master *bw_keyring_find(const struct bw_keyring *r,
                                        const uint8_t master_id[BW_VAULT_MASTER_ID_BYTES]) {
    if (same_id(master_id, r->current_id))
        return r->current;
    struct bw_master *next = atomic_load(&((struct bw_keyring *)r)->next);
    if (next && same_id(master_id, r->next_id))
        return next;
    if (r->prev && same_id(master_id, r->prev_id))
        return r->prev;
    return NULL;
}

bw_err bw_keyring_open(const struct bw_keyring *r, const char *org_id, const char *record_id,
                       const uint8_t *sealed, size_t sealed_len, struct bw_vault_secret **out) {
    BW_ENSURE(r && out, BW_E_INVALID);
    struct bw_vault_sealed s;
    BW_TRY(bw_vault_sealed_parse(sealed, sealed_len, &s));
    const struct bw_master *m = bw_keyring_find(r, s.master_id);
    BW_ENSURE(m, BW_E_NOT_FOUND);
    return bw_vault_open(m, org_id, record_id, sealed, sealed_len, out);
}

bw_err bw_keyring_seal(const struct bw_keyring *r, const char *org_id, const char *record_id,
                       const uint8_t *secret, size_t secret_len, uint8_t *out, size_t out_size,
                       size_t *out_len) {
    BW_ENSURE(r, BW_E_INVALID);
    return bw_vault_seal(bw_keyring_sealer(r), org_id, record_id, secret, secret_len, out, out_size,
                         out_len);
}
