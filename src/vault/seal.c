/* seal.c: envelope encryption of per-org secrets (seal.h has the format and the contract). */
#include "vault/seal.h"
#include "util/codec.h"
#include "util/text.h"

#include <sodium.h>
#include <stddef.h>
#include <string.h>

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES /* 24 */
#define KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES    /* 32 */
#define WRAPPED_BYTES (KEY_BYTES + BW_VAULT_TAG_BYTES)           /* 48 */

/* Field offsets of the version-1 layout (seal.h). */
#define OFF_MASTER_ID 1
#define OFF_WRAP_NONCE (OFF_MASTER_ID + BW_VAULT_MASTER_ID_BYTES)
#define OFF_WRAPPED (OFF_WRAP_NONCE + NONCE_BYTES)
#define OFF_NONCE (OFF_WRAPPED + WRAPPED_BYTES)
#define OFF_CT_LEN (OFF_NONCE + NONCE_BYTES)
#define OFF_CT (OFF_CT_LEN + 4)

_Static_assert(OFF_CT == BW_VAULT_HEADER_BYTES, "seal.h layout and offsets disagree");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == BW_VAULT_TAG_BYTES, "tag size");
_Static_assert(BW_VAULT_SEALED_MAX < UINT32_MAX, "length field is 32 bits");

/* crypto_kdf contexts (exactly 8 characters) and subkey ids for the vault's derived keys. */
static const char kek_context[8] = {'b', 'w', 'v', 'l', 't', 'k', 'e', 'k'};
static const char master_id_context[8] = {'b', 'w', 'v', 'l', 't', 'm', 'i', 'd'};
#define KEK_SUBKEY_ID 1
#define MASTER_ID_SUBKEY_ID 1

/* Purpose bytes that open each layer's associated data, so the two layers' AD never coincide. */
#define AD_WRAP 'K'
#define AD_SECRET 'S'
/* purpose, version, master id, and two length-prefixed ids */
#define AD_MAX (2 + BW_VAULT_MASTER_ID_BYTES + 2 * (1 + BW_VAULT_ID_MAX))

/* Key material for one operation: one sodium_malloc'd block (guard pages, mlock'd), wiped by
 * sodium_free. */
struct keys {
    uint8_t kek[KEY_BYTES];
    uint8_t data_key[KEY_BYTES];
};

static int id_ok(const char *id) {
    size_t n = id ? strnlen(id, BW_VAULT_ID_MAX + 1) : 0;
    if (n == 0 || n > BW_VAULT_ID_MAX)
        return 0;
    return bw_text_visible(id, n);
}

/* AD = purpose || version || [master id] || len(org) || org || len(id) || id. The lengths
 * keep ("ab", "c") and ("a", "bc") apart. The secret layer leaves the master id out: a rotation
 * changes the master id and must leave the secret's ciphertext valid as it is. */
static size_t build_ad(uint8_t ad[AD_MAX], uint8_t purpose, const uint8_t *master_id,
                       const char *org_id, const char *record_id) {
    size_t n = 0;
    ad[n++] = purpose;
    ad[n++] = BW_VAULT_VERSION;
    if (master_id) {
        memcpy(ad + n, master_id, BW_VAULT_MASTER_ID_BYTES);
        n += BW_VAULT_MASTER_ID_BYTES;
    }
    const char *ids[2] = {org_id, record_id};
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(ids[i]); /* <= BW_VAULT_ID_MAX: checked by id_ok */
        ad[n++] = (uint8_t)len;
        memcpy(ad + n, ids[i], len);
        n += len;
    }
    return n;
}

bw_err bw_vault_master_id(const struct bw_master *m, uint8_t out[BW_VAULT_MASTER_ID_BYTES]) {
    /* The id is the first 8 bytes of a subkey of its own context. A KDF output is
     * pseudorandom, so the id says nothing about the master key or about the KEK. */
    uint8_t sub[32];
    bw_err result = bw_master_derive(m, MASTER_ID_SUBKEY_ID, master_id_context, sub);
    if (result == BW_OK)
        memcpy(out, sub, BW_VAULT_MASTER_ID_BYTES);
    sodium_memzero(sub, sizeof sub);
    return result;
}

bw_err bw_vault_sealed_parse(const uint8_t *p, size_t len, struct bw_vault_sealed *out) {
    BW_ENSURE(p && len >= BW_VAULT_HEADER_BYTES, BW_E_INVALID);
    BW_ENSURE(p[0] == BW_VAULT_VERSION, BW_E_INVALID);
    uint32_t ct_len = bw_load_be32(p + OFF_CT_LEN);
    BW_ENSURE(ct_len > BW_VAULT_TAG_BYTES, BW_E_INVALID); /* an empty secret is never sealed */
    BW_ENSURE(ct_len <= BW_VAULT_SECRET_MAX + BW_VAULT_TAG_BYTES, BW_E_TOO_LARGE);
    BW_ENSURE(len - BW_VAULT_HEADER_BYTES == ct_len, BW_E_INVALID);
    struct bw_vault_sealed s = {
        .version = p[0],
        .master_id = p + OFF_MASTER_ID,
        .wrap_nonce = p + OFF_WRAP_NONCE,
        .wrapped_key = p + OFF_WRAPPED,
        .nonce = p + OFF_NONCE,
        .ciphertext = p + OFF_CT,
        .ciphertext_len = ct_len,
    };
    *out = s;
    return BW_OK;
}

static bw_err keys_new(const struct bw_master *m, struct keys **out) {
    struct keys *k = sodium_malloc(sizeof *k);
    BW_ENSURE(k, BW_E_NOMEM);
    if (bw_master_derive(m, KEK_SUBKEY_ID, kek_context, k->kek) != BW_OK) {
        sodium_free(k);
        return BW_E_CRYPTO;
    }
    *out = k;
    return BW_OK;
}

/* Wraps k->data_key under k->kek for (master_id, org, record) into
 * out[OFF_MASTER_ID..OFF_NONCE) with a fresh nonce. */
static bw_err wrap_key(const struct keys *k, const uint8_t master_id[BW_VAULT_MASTER_ID_BYTES],
                       const char *org_id, const char *record_id, uint8_t *out) {
    uint8_t ad[AD_MAX];
    size_t ad_len = build_ad(ad, AD_WRAP, master_id, org_id, record_id);
    memcpy(out + OFF_MASTER_ID, master_id, BW_VAULT_MASTER_ID_BYTES);
    randombytes_buf(out + OFF_WRAP_NONCE, NONCE_BYTES);
    unsigned long long clen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + OFF_WRAPPED, &clen, k->data_key, KEY_BYTES,
                                                   ad, ad_len, NULL, out + OFF_WRAP_NONCE,
                                                   k->kek) != 0 ||
        clen != WRAPPED_BYTES)
        return BW_E_CRYPTO;
    return BW_OK;
}

/* Unwraps s's data key into k->data_key (k->kek already derived). */
static bw_err unwrap_key(struct keys *k, const struct bw_vault_sealed *s, const char *org_id,
                         const char *record_id) {
    uint8_t ad[AD_MAX];
    size_t ad_len = build_ad(ad, AD_WRAP, s->master_id, org_id, record_id);
    unsigned long long klen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(k->data_key, &klen, NULL, s->wrapped_key,
                                                   WRAPPED_BYTES, ad, ad_len, s->wrap_nonce,
                                                   k->kek) != 0 ||
        klen != KEY_BYTES)
        return BW_E_CRYPTO;
    return BW_OK;
}

/* Decrypts s's secret with k->data_key into a new read-only bw_vault_secret. */
static bw_err open_secret(const struct keys *k, const struct bw_vault_sealed *s, const char *org_id,
                          const char *record_id, struct bw_vault_secret **out) {
    size_t len = s->ciphertext_len - BW_VAULT_TAG_BYTES;
    /* sodium_malloc puts the block at the very end of a page, so its address is only as
     * aligned as its size: round the size up to keep `len` (a size_t) aligned. */
    size_t alloc = (sizeof(struct bw_vault_secret) + len + 1 + _Alignof(max_align_t) - 1) &
                   ~(size_t)(_Alignof(max_align_t) - 1);
    struct bw_vault_secret *sec = sodium_malloc(alloc);
    BW_ENSURE(sec, BW_E_NOMEM);
    uint8_t ad[AD_MAX];
    size_t ad_len = build_ad(ad, AD_SECRET, NULL, org_id, record_id);
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(sec->bytes, &plen, NULL, s->ciphertext,
                                                   s->ciphertext_len, ad, ad_len, s->nonce,
                                                   k->data_key) != 0 ||
        plen != len) {
        sodium_free(sec); /* wipes whatever was written */
        return BW_E_CRYPTO;
    }
    sec->len = len;
    sec->bytes[len] = 0;
    sodium_mprotect_readonly(sec);
    *out = sec;
    return BW_OK;
}

void bw_vault_secret_free(struct bw_vault_secret *s) {
    sodium_free(s); /* makes the pages writable, wipes, unmaps; NULL is a no-op */
}

bw_err bw_vault_seal(const struct bw_master *m, const char *org_id, const char *record_id,
                     const uint8_t *secret, size_t secret_len, uint8_t *out, size_t out_size,
                     size_t *out_len) {
    BW_ENSURE(m && secret && out && out_len, BW_E_INVALID);
    BW_ENSURE(id_ok(org_id) && id_ok(record_id) && secret_len > 0, BW_E_INVALID);
    BW_ENSURE(secret_len <= BW_VAULT_SECRET_MAX, BW_E_TOO_LARGE);
    size_t total = BW_VAULT_SEALED_SIZE(secret_len);
    BW_ENSURE(out_size >= total, BW_E_TOO_LARGE);
    uint8_t master_id[BW_VAULT_MASTER_ID_BYTES];
    BW_TRY(bw_vault_master_id(m, master_id));
    struct keys *k = NULL;
    BW_TRY(keys_new(m, &k));
    bw_err result = BW_OK;
    crypto_aead_xchacha20poly1305_ietf_keygen(k->data_key);

    out[0] = BW_VAULT_VERSION;
    BW_GOTO(wrap_key(k, master_id, org_id, record_id, out));
    randombytes_buf(out + OFF_NONCE, NONCE_BYTES);
    size_t ct_len = secret_len + BW_VAULT_TAG_BYTES;
    bw_store_be32(out + OFF_CT_LEN, (uint32_t)ct_len);
    uint8_t ad[AD_MAX];
    size_t ad_len = build_ad(ad, AD_SECRET, NULL, org_id, record_id);
    unsigned long long clen = 0;
    BW_GOTO_IF(crypto_aead_xchacha20poly1305_ietf_encrypt(out + OFF_CT, &clen, secret, secret_len,
                                                          ad, ad_len, NULL, out + OFF_NONCE,
                                                          k->data_key) != 0 ||
                   clen != ct_len,
               BW_E_CRYPTO);
    *out_len = total;
out:
    if (result != BW_OK)
        sodium_memzero(out, total); /* no half-written record is left for a caller to store */
    sodium_free(k);
    return result;
}

/* Checks (m, ids, record) and leaves k with the unwrapped data key. */
static bw_err unwrap_with(const struct bw_master *m, const char *org_id, const char *record_id,
                          const struct bw_vault_sealed *s, struct keys **out) {
    uint8_t master_id[BW_VAULT_MASTER_ID_BYTES];
    BW_TRY(bw_vault_master_id(m, master_id));
    /* The id is not secret; a plain compare is fine, but the habit costs nothing. */
    BW_ENSURE(sodium_memcmp(master_id, s->master_id, sizeof master_id) == 0, BW_E_NOT_FOUND);
    struct keys *k = NULL;
    BW_TRY(keys_new(m, &k));
    bw_err result = unwrap_key(k, s, org_id, record_id);
    if (result != BW_OK) {
        sodium_free(k);
        return result;
    }
    *out = k;
    return BW_OK;
}

bw_err bw_vault_open(const struct bw_master *m, const char *org_id, const char *record_id,
                     const uint8_t *sealed, size_t sealed_len, struct bw_vault_secret **out) {
    BW_ENSURE(m && out, BW_E_INVALID);
    BW_ENSURE(id_ok(org_id) && id_ok(record_id), BW_E_INVALID);
    struct bw_vault_sealed s;
    BW_TRY(bw_vault_sealed_parse(sealed, sealed_len, &s));
    struct keys *k = NULL;
    BW_TRY(unwrap_with(m, org_id, record_id, &s, &k));
    bw_err result = open_secret(k, &s, org_id, record_id, out);
    sodium_free(k);
    return result;
}

bw_err bw_vault_rewrap(const struct bw_master *old_m, const struct bw_master *new_m,
                       const char *org_id, const char *record_id, const uint8_t *sealed,
                       size_t sealed_len, uint8_t *out, size_t out_size, size_t *out_len) {
    BW_ENSURE(old_m && new_m && out && out_len, BW_E_INVALID);
    BW_ENSURE(id_ok(org_id) && id_ok(record_id), BW_E_INVALID);
    struct bw_vault_sealed s;
    BW_TRY(bw_vault_sealed_parse(sealed, sealed_len, &s));
    BW_ENSURE(out_size >= sealed_len, BW_E_TOO_LARGE);
    uint8_t new_id[BW_VAULT_MASTER_ID_BYTES];
    BW_TRY(bw_vault_master_id(new_m, new_id));
    int already = sodium_memcmp(new_id, s.master_id, sizeof new_id) == 0;

    struct keys *k = NULL;
    struct keys *nk = NULL;
    struct bw_vault_secret *check = NULL;
    bw_err result = BW_OK;
    int wrote = 0;
    BW_GOTO(unwrap_with(already ? new_m : old_m, org_id, record_id, &s, &k));
    /* Authenticate the secret too: a rotation must not carry a corrupted record forward under a
     * fresh wrap as if it were sound. The plaintext only passes through sodium_malloc memory. */
    BW_GOTO(open_secret(k, &s, org_id, record_id, &check));
    memcpy(out, sealed, sealed_len);
    wrote = 1;
    if (!already) {
        BW_GOTO(keys_new(new_m, &nk));
        memcpy(nk->data_key, k->data_key, KEY_BYTES);
        BW_GOTO(wrap_key(nk, new_id, org_id, record_id, out));
    }
    *out_len = sealed_len;
out:
    if (result != BW_OK && wrote)
        sodium_memzero(out, sealed_len);
    bw_vault_secret_free(check);
    sodium_free(nk);
    sodium_free(k);
    return result;
}

void bw_vault_fingerprint(const uint8_t *secret, size_t len, char out[BW_VAULT_FINGERPRINT_SIZE]) {
    static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 in UTF-8 */
    memcpy(out, ellipsis, 3);
    out[3] = 0;
    if (!secret || len < BW_VAULT_FINGERPRINT_MIN_LEN)
        return;
    const uint8_t *tail = secret + len - 4;
    if (!bw_text_visible((const char *)tail, 4))
        return;
    memcpy(out + 3, tail, 4);
    out[7] = 0;
}
