/* auth.h: API keys: generation, keyed hashing, and identifying the caller of a request.
 *
 * A key is "bwk_" + base64url(32 random bytes) (47 characters): high-entropy with a prefix
 * secret scanners can match. Only its keyed hash is stored: BLAKE2b-256 keyed with a pepper
 * kept sealed under the master key (bw_auth_pepper_load), so a stolen database cannot be
 * checked offline without the master key. Lookup is by hash; the stored and computed hashes are
 * then compared in constant time. Thread-safe given one store handle per thread. */
#ifndef BW_AUTH_AUTH_H
#define BW_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define BW_KEY_PREFIX "bwk_"
#define BW_KEY_CHARS 47
#define BW_KEY_SIZE 48 /* with NUL */
#define BW_PEPPER_KDF_CTX "bwkeyhsh"
#define BW_PEPPER_KDF_ID 1

struct bw_keyring;

/* The pepper: 32 bytes kept sealed in the vault as the platform secret "pepper" (store
 * connections.h, migration 7), so that a master key rotation does not change it. Opens it with
 * whichever key of r wrapped it (by id). If the record does not exist yet (the first start of
 * an installation made before migration 7, or `bulwark init`), creates it first: the pepper
 * is derived from r's current master key exactly as before (crypto_kdf, BW_PEPPER_KDF_CTX), so
 * every existing key hash stays valid, and sealed with bw_keyring_sealer(r); replicas racing to
 * create it all re-read the one that won. out must be sodium_malloc'd (32 bytes); written only
 * on success. Errors: BW_E_NOT_FOUND (the record is wrapped by a master key r does not hold),
 * BW_E_CRYPTO (the record does not authenticate: tampered), BW_E_INVALID (not 32 bytes),
 * BW_E_UNAVAILABLE (store), BW_E_NOMEM. */
bw_err bw_auth_pepper_load(struct bw_store *s, const struct bw_keyring *r,
                           uint8_t out[32]) BW_MUST_CHECK;

/* Writes a fresh key (NUL-terminated) into out. The caller shows it once and wipes it. */
void bw_auth_key_generate(char out[BW_KEY_SIZE]);

/* Keyed hash of a presented key. */
void bw_auth_key_hash(const uint8_t pepper[32], const char *key, size_t len, uint8_t out[32]);

/* A per-worker cache of recently verified key records, keyed by the keyed hash (never by the
 * key), so the store is not read on every call. Only successful lookups are cached, for at most
 * ttl_ms, and every entry is dropped when bw_auth_cache_invalidate_all() is called (any key
 * change in this process). Expiry and revocation are re-checked on every use. Not thread-safe:
 * one per worker. */
struct bw_auth_cache;
bw_err bw_auth_cache_new(size_t slots, int64_t ttl_ms, struct bw_auth_cache **out) BW_MUST_CHECK;
void bw_auth_cache_free(struct bw_auth_cache *c); /* NULL is a no-op */
void bw_auth_cache_invalidate_all(void);          /* thread-safe */
/* The current invalidation generation (thread-safe): a cache of anything derived from keys or
 * agents (the widget's agent cache, proxy/widget.h) drops entries fetched under an older one. */
unsigned long bw_auth_cache_generation(void);

/* Identifies the caller from an Authorization header value ("Bearer <key>", scheme
 * case-insensitive). cache may be NULL. Writes the key record on success. Errors: BW_E_UNAUTH
 * (missing, malformed, unknown, revoked or expired: one error so callers cannot tell which),
 * BW_E_UNAVAILABLE (store failure: the caller denies). Never logs the key. */
bw_err bw_auth_identify(struct bw_store *s, struct bw_auth_cache *cache, const uint8_t pepper[32],
                        const char *authorization, int64_t now_ms,
                        struct bw_key_record *out) BW_MUST_CHECK;

/* bw_auth_identify in two halves, for a caller that reads the store elsewhere (an event worker
 * hands the read to a store job, proxy/call_jobs.c). bw_auth_identify_cached parses and hashes
 * the presented key into hash and looks it up in cache (on the caller's thread): BW_OK (*out
 * written), BW_E_UNAUTH, or BW_E_NOT_FOUND: not cached; then read the record with
 * bw_store_key_by_hash(hash) anywhere and pass its result (lookup, rec) to
 * bw_auth_identify_finish on the cache's thread, which checks, caches and answers as
 * bw_auth_identify. */
bw_err bw_auth_identify_cached(struct bw_auth_cache *cache, const uint8_t pepper[32],
                               const char *authorization, int64_t now_ms, uint8_t hash[32],
                               struct bw_key_record *out) BW_MUST_CHECK;
bw_err bw_auth_identify_finish(struct bw_auth_cache *cache, const uint8_t hash[32], bw_err lookup,
                               const struct bw_key_record *rec, int64_t now_ms,
                               struct bw_key_record *out) BW_MUST_CHECK;

/* Capability, not rank (docs/ACCESS.md "Roles"): 1 if everything a key of role `key_role` may
 * do, a holder of role `holder_role` may do too. owner covers every org role; admin covers
 * admin, reviewer, member and agent; reviewer covers reviewer and member; member only member;
 * agent only agent; operator only operator. Used both for "a person of this role may hold a key
 * of that role" and "a key of this role may manage (create, revoke, rotate) a key of that role".
 * NULL or unknown roles cover nothing. */
int bw_auth_role_covers(const char *holder_role, const char *key_role) BW_MUST_CHECK;

#endif
