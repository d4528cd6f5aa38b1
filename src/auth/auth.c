#include "auth/auth.h"

#include "http/bearer.h"
#include "util/codec.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cache_entry {
    struct bw_key_record rec; /* rec.hash is the cache key */
    int64_t fetched_ms;
    unsigned long generation;
    int used;
};

struct bw_auth_cache {
    struct cache_entry *slots;
    size_t n;
    int64_t ttl_ms;
};

/* Process-wide: bumped by any thread (revocation), read by every worker; atomic. */
static atomic_ulong cache_generation = 1;

void bw_auth_cache_invalidate_all(void) {
    atomic_fetch_add(&cache_generation, 1);
}

unsigned long bw_auth_cache_generation(void) {
    return atomic_load(&cache_generation);
}

bw_err bw_auth_cache_new(size_t slots, int64_t ttl_ms, struct bw_auth_cache **out) {
    struct bw_auth_cache *c = calloc(1, sizeof *c);
    if (!c || slots == 0)
        goto fail;
    c->slots = calloc(slots, sizeof *c->slots);
    if (!c->slots)
        goto fail;
    c->n = slots;
    c->ttl_ms = ttl_ms;
    *out = c;
    return BW_OK;
fail:
    free(c);
    return BW_E_NOMEM;
}

void bw_auth_cache_free(struct bw_auth_cache *c) {
    if (!c)
        return;
    sodium_memzero(c->slots, c->n * sizeof *c->slots);
    free(c->slots);
    free(c);
}

/* Direct-mapped: the keyed hash is uniformly distributed, so its first bytes pick the slot. */
static struct cache_entry *slot_for(struct bw_auth_cache *c, const uint8_t h[32]) {
    uint64_t x;
    memcpy(&x, h, sizeof x);
    return &c->slots[x % c->n];
}

static int cache_get(struct bw_auth_cache *c, const uint8_t h[32], int64_t now_ms,
                     struct bw_key_record *out) {
    if (!c)
        return 0;
    struct cache_entry *e = slot_for(c, h);
    if (!e->used || e->generation != atomic_load(&cache_generation) ||
        now_ms - e->fetched_ms >= c->ttl_ms || now_ms < e->fetched_ms ||
        sodium_memcmp(e->rec.hash, h, 32) != 0)
        return 0;
    *out = e->rec;
    return 1;
}

static void cache_put(struct bw_auth_cache *c, const struct bw_key_record *rec, int64_t now_ms) {
    if (!c)
        return;
    struct cache_entry *e = slot_for(c, rec->hash);
    e->rec = *rec;
    e->fetched_ms = now_ms;
    e->generation = atomic_load(&cache_generation);
    e->used = 1;
}

void bw_auth_key_generate(char out[BW_KEY_SIZE]) {
    /* BW_KEY_SIZE == BW_TOKEN_SIZE, so this cannot fail; if it ever did, the key is empty and
     * matches nothing (its shape check fails). */
    if (bw_token_generate(BW_KEY_PREFIX, out, BW_KEY_SIZE) != BW_OK)
        out[0] = 0;
}

void bw_auth_key_hash(const uint8_t pepper[32], const char *key, size_t len, uint8_t out[32]) {
    crypto_generichash(out, 32, (const unsigned char *)key, len, pepper, 32);
}

/* Shape check before touching the store: exact length, prefix, base64url alphabet. */
static int key_shape_ok(const char *k, size_t n) {
    if (n != BW_KEY_CHARS || memcmp(k, BW_KEY_PREFIX, 4) != 0)
        return 0;
    for (size_t i = 4; i < n; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

bw_err bw_auth_identify_cached(struct bw_auth_cache *cache, const uint8_t pepper[32],
                               const char *authorization, int64_t now_ms, uint8_t hash[32],
                               struct bw_key_record *out) {
    const char *key = NULL;
    size_t n = 0;
    if (bw_http_bearer_parse(authorization, BW_KEY_CHARS, &key, &n) != BW_OK ||
        !key_shape_ok(key, n))
        return BW_E_UNAUTH;
    bw_auth_key_hash(pepper, key, n, hash);
    struct bw_key_record rec;
    if (!cache_get(cache, hash, now_ms, &rec))
        return BW_E_NOT_FOUND;
    if (rec.revoked_ms != 0 || (rec.expires_ms != 0 && rec.expires_ms <= now_ms))
        return BW_E_UNAUTH;
    *out = rec;
    return BW_OK;
}

bw_err bw_auth_identify_finish(struct bw_auth_cache *cache, const uint8_t hash[32], bw_err lookup,
                               const struct bw_key_record *rec, int64_t now_ms,
                               struct bw_key_record *out) {
    if (lookup == BW_E_NOT_FOUND)
        return BW_E_UNAUTH;
    if (lookup != BW_OK)
        return BW_E_UNAVAILABLE;
    if (sodium_memcmp(rec->hash, hash, 32) != 0)
        return BW_E_UNAUTH;
    cache_put(cache, rec, now_ms);
    if (rec->revoked_ms != 0 || (rec->expires_ms != 0 && rec->expires_ms <= now_ms))
        return BW_E_UNAUTH;
    *out = *rec;
    return BW_OK;
}

bw_err bw_auth_identify(struct bw_store *s, struct bw_auth_cache *cache, const uint8_t pepper[32],
                        const char *authorization, int64_t now_ms, struct bw_key_record *out) {
    uint8_t h[32];
    bw_err e = bw_auth_identify_cached(cache, pepper, authorization, now_ms, h, out);
    if (e != BW_E_NOT_FOUND)
        return e;
    struct bw_key_record rec;
    bw_err lookup = bw_store_key_by_hash(s, h, &rec);
    return bw_auth_identify_finish(cache, h, lookup, &rec, now_ms, out);
}

static unsigned role_caps(const char *role) {
    /* one bit per org role a holder covers */
    enum { OWNER = 1, ADMIN = 2, REVIEWER = 4, MEMBER = 8, AGENT = 16, OPERATOR = 32 };
    if (!role)
        return 0;
    if (strcmp(role, "owner") == 0)
        return OWNER | ADMIN | REVIEWER | MEMBER | AGENT;
    if (strcmp(role, "admin") == 0)
        return ADMIN | REVIEWER | MEMBER | AGENT;
    if (strcmp(role, "reviewer") == 0)
        return REVIEWER | MEMBER;
    if (strcmp(role, "member") == 0)
        return MEMBER;
    if (strcmp(role, "agent") == 0)
        return AGENT;
    if (strcmp(role, "operator") == 0)
        return OPERATOR;
    return 0;
}

/* The role's own bit: the lowest it covers (the table above lists each role's own first). */
static unsigned role_bit(const char *role) {
    unsigned c = role_caps(role);
    return c & (~c + 1u);
}

int bw_auth_role_covers(const char *holder_role, const char *key_role) {
    unsigned want = role_bit(key_role);
    return want != 0 && (role_caps(holder_role) & want) == want;
}
