/* proxy_byok.c: bring-your-own-key (proxy_internal.h, bw_byok_authorization). The cache holds
 * ciphertext only (the sealed record, as stored); the key is opened per call into
 * sodium_malloc'd memory that the call frees (sodium_free zeroes it). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/connect.h"
#include "http/bearer.h"
#include "proxy/proxy_internal.h"
#include "store/connections.h"
#include "util/time.h"

#define SLOTS 64
#define TTL_US 1000000
#define SEALED_MAX BW_VAULT_SEALED_SIZE(BW_CONNECT_TOKEN_MAX)

struct slot {
    char org[BW_ID_SIZE];
    int64_t fetched_us;
    long generation;
    int has;
    char secret_id[BW_ID_SIZE];
    size_t len;
    uint8_t sealed[SEALED_MAX];
};

struct bw_byok_cache {
    struct slot slots[SLOTS];
};

bw_err bw_byok_cache_new(struct bw_byok_cache **out) {
    struct bw_byok_cache *c = calloc(1, sizeof *c);
    if (!c)
        return BW_E_NOMEM;
    *out = c;
    return BW_OK;
}

void bw_byok_cache_free(struct bw_byok_cache *c) {
    free(c);
}

static struct slot *slot_of(struct bw_byok_cache *c, const char *org) {
    uint32_t h = 2166136261u; /* FNV-1a: ids are random, any spread will do */
    for (const char *p = org; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &c->slots[h % SLOTS];
}

static int fresh(const struct slot *s, const char *org_id, long gen, int64_t now) {
    return strcmp(s->org, org_id) == 0 && s->generation == gen && now - s->fetched_us < TTL_US;
}

int bw_byok_cached(struct bw_gw_worker *w, const char *org_id) {
    return fresh(slot_of(w->byok, org_id), org_id, atomic_load(&w->gw->byok_generation),
                 bw_mono_us());
}

/* A read of one org's sealed record, on any thread (a store job), put into the worker's cache
 * afterwards on the worker. The generation is taken before the read: a change through the API
 * during it leaves the entry stale, never a newer-looking old record. */
struct bw_byok_fetch {
    char org[BW_ID_SIZE];
    long generation;
    int64_t started_us;
    bw_err e;
    struct bw_provider_key_record rec;
    size_t len;
    uint8_t sealed[SEALED_MAX];
};

struct bw_byok_fetch *bw_byok_fetch_new(struct bw_gw_worker *w, const char *org_id) {
    struct bw_byok_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    snprintf(f->org, sizeof f->org, "%s", org_id);
    f->generation = atomic_load(&w->gw->byok_generation);
    f->started_us = bw_mono_us();
    f->e = BW_E_UNAVAILABLE;
    return f;
}

void bw_byok_fetch_free(void *f) {
    if (f)
        sodium_memzero(f, sizeof(struct bw_byok_fetch)); /* ciphertext, but no need to keep it */
    free(f);
}

void bw_byok_fetch_run(struct bw_store *store, void *arg) {
    struct bw_byok_fetch *f = arg;
    f->e = bw_store_provider_key_get(store, f->org, &f->rec, f->sealed, sizeof f->sealed, &f->len);
}

bw_err bw_byok_fetch_put(struct bw_gw_worker *w, struct bw_byok_fetch *f, bw_err err) {
    struct slot *s = slot_of(w->byok, f->org);
    bw_err e = err != BW_OK ? err : f->e;
    if (e != BW_OK && e != BW_E_NOT_FOUND) {
        s->org[0] = 0;
        return e == BW_E_TOO_LARGE ? BW_E_INVALID : BW_E_UNAVAILABLE;
    }
    snprintf(s->org, sizeof s->org, "%s", f->org);
    s->fetched_us = f->started_us;
    s->generation = f->generation;
    s->has = e == BW_OK;
    s->len = s->has ? f->len : 0;
    if (s->has)
        memcpy(s->sealed, f->sealed, f->len);
    snprintf(s->secret_id, sizeof s->secret_id, "%s", s->has ? f->rec.secret_id : "");
    return BW_OK;
}

/* The cached (or freshly read) sealed record of the org, or s->has = 0. A miss reads the store
 * here, on the caller's handle: the proxy reads it in a store job first (bw_byok_fetch_*). */
static bw_err lookup(struct bw_gw_worker *w, const char *org_id, struct slot **out) {
    struct slot *s = slot_of(w->byok, org_id);
    if (!bw_byok_cached(w, org_id)) {
        struct bw_byok_fetch *f = bw_byok_fetch_new(w, org_id);
        if (!f)
            return BW_E_NOMEM;
        bw_byok_fetch_run(w->store, f);
        bw_err e = bw_byok_fetch_put(w, f, BW_OK);
        bw_byok_fetch_free(f);
        BW_TRY(e);
    }
    *out = s;
    return BW_OK;
}

bw_err bw_byok_authorization(struct bw_gw_worker *w, const char *org_id, char **out) {
    *out = NULL;
    struct slot *s = NULL;
    BW_TRY(lookup(w, org_id, &s));
    if (!s->has)
        return BW_OK;
    struct bw_vault_secret *key = NULL;
    BW_TRY(bw_keyring_open(w->gw->connect->keys, org_id, s->secret_id, s->sealed, s->len, &key));
    /* the API stored at most 1024 visible bytes; a record that says otherwise is refused */
    bw_err e = bw_http_bearer_build(key->bytes, key->len, BW_HTTP_BEARER_SECRET_MAX, out);
    bw_vault_secret_free(key);
    return e;
}
