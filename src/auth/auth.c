#include "auth/auth.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

void bw_auth_key_generate(char out[BW_KEY_SIZE]) {
    uint8_t r[32];
    randombytes_buf(r, sizeof r);
    memcpy(out, BW_KEY_PREFIX, 4);
    sodium_bin2base64(out + 4, BW_KEY_SIZE - 4, r, sizeof r,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(r, sizeof r);
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

bw_err bw_auth_identify(struct bw_store *s, const uint8_t pepper[32], const char *authorization,
                        int64_t now_ms, struct bw_key_record *out) {
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return BW_E_UNAUTH;
    const char *key = authorization + 7;
    while (*key == ' ')
        key++;
    size_t n = strnlen(key, BW_KEY_CHARS + 1);
    while (n > 0 && key[n - 1] == ' ')
        n--;
    if (!key_shape_ok(key, n))
        return BW_E_UNAUTH;
    uint8_t h[32];
    bw_auth_key_hash(pepper, key, n, h);
    struct bw_key_record rec;
    bw_err e = bw_store_key_by_hash(s, h, &rec);
    if (e == BW_E_NOT_FOUND)
        return BW_E_UNAUTH;
    if (e != BW_OK)
        return BW_E_UNAVAILABLE;
    if (sodium_memcmp(rec.hash, h, 32) != 0)
        return BW_E_UNAUTH;
    if (rec.revoked_ms != 0 || (rec.expires_ms != 0 && rec.expires_ms <= now_ms))
        return BW_E_UNAUTH;
    *out = rec;
    return BW_OK;
}
