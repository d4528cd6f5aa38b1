/* widget_cache.c: a per-worker cache of agents by widget key (widget.h), so a busy widget does
 * not read the store on every message. Same rules as auth's key cache: successes only, a short
 * TTL (another process's change is seen within it), and the process-wide invalidation
 * generation (bw_auth_cache_invalidate_all) so disabling a widget in this process takes effect
 * at once. Unknown keys are not cached: they cost a store read, like unknown API keys. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "proxy/widget.h"

struct widget_entry {
    struct bw_agent_record agent; /* agent.widget_key is the cache key */
    int64_t fetched_ms;
    unsigned long generation;
    int used;
};

struct bw_widget_cache {
    struct widget_entry *slots;
    size_t n;
    int64_t ttl_ms;
};

bw_err bw_widget_cache_new(size_t slots, int64_t ttl_ms, struct bw_widget_cache **out) {
    BW_ENSURE(slots > 0, BW_E_INVALID);
    struct bw_widget_cache *c = calloc(1, sizeof *c);
    if (!c)
        return BW_E_NOMEM;
    c->slots = calloc(slots, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return BW_E_NOMEM;
    }
    c->n = slots;
    c->ttl_ms = ttl_ms;
    *out = c;
    return BW_OK;
}

void bw_widget_cache_free(struct bw_widget_cache *c) {
    if (!c)
        return;
    free(c->slots);
    free(c);
}

/* The key is chosen by whoever calls the endpoint: hash it (unkeyed BLAKE2b is enough, the
 * slot only spreads load) rather than use its bytes directly. */
static struct widget_entry *slot_for(struct bw_widget_cache *c, const char *key) {
    uint8_t h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)key, strlen(key), NULL, 0);
    uint64_t x;
    memcpy(&x, h, sizeof x);
    return &c->slots[x % c->n];
}

int bw_widget_cached(struct bw_widget_cache *c, const char *key, int64_t now_ms,
                     struct bw_agent_record *out) {
    struct widget_entry *e = c ? slot_for(c, key) : NULL;
    if (e && e->used && e->generation == bw_auth_cache_generation() && now_ms >= e->fetched_ms &&
        now_ms - e->fetched_ms < c->ttl_ms && strcmp(e->agent.widget_key, key) == 0) {
        *out = e->agent;
        return 1;
    }
    return 0;
}

bw_err bw_widget_fetched(struct bw_widget_cache *c, const char *key, bw_err err,
                         const struct bw_agent_record *a, unsigned long generation, int64_t now_ms,
                         struct bw_agent_record *out) {
    if (err == BW_E_NOT_FOUND || err == BW_E_INVALID)
        return BW_E_NOT_FOUND;
    if (err != BW_OK)
        return BW_E_UNAVAILABLE;
    if (strcmp(a->widget_key, key) != 0) /* the store's answer must be for this key */
        return BW_E_NOT_FOUND;
    struct widget_entry *e = c ? slot_for(c, key) : NULL;
    if (e) {
        e->agent = *a;
        e->fetched_ms = now_ms;
        e->generation = generation;
        e->used = 1;
    }
    *out = *a;
    return BW_OK;
}

bw_err bw_widget_lookup(struct bw_widget_cache *c, struct bw_store *s, const char *key,
                        int64_t now_ms, struct bw_agent_record *out) {
    if (bw_widget_cached(c, key, now_ms, out))
        return BW_OK;
    /* Read the generation before the store: an invalidation racing with this read makes the
     * entry stale at once rather than letting it live for a TTL. */
    unsigned long generation = bw_auth_cache_generation();
    struct bw_agent_record a;
    bw_err err = bw_store_agent_by_widget_key(s, key, &a);
    return bw_widget_fetched(c, key, err, &a, generation, now_ms, out);
}
