/* seal.h: per-org secrets sealed at rest (envelope encryption under the master key).
 *
 * Every secret (an org's provider key, a connection token, a webhook URL or signing secret) is
 * sealed into one self-describing record:
 *   - a fresh random 32-byte data key encrypts the secret with XChaCha20-Poly1305 (IETF
 *     construction, libsodium crypto_aead_xchacha20poly1305_ietf, random 24-byte nonce);
 *   - the data key is wrapped (encrypted with the same AEAD) under a key-encryption key derived
 *     from the master key (crypto_kdf, context "bwvltkek");
 *   - the associated data of both layers binds the format version, the org id and the record
 *     id, so a record copied to another row or another org does not open; the wrap's also binds
 *     the master key id.
 * The record names the master key that wrapped it by an 8-byte id (a crypto_kdf output of the
 * master key, context "bwvltmid": it identifies the key without revealing anything about it), so
 * a rotation can tell which records it has already re-wrapped.
 *
 * Record layout (version 1; all fields fixed except the last; sizes in bytes):
 *     0   1  version (1)
 *     1   8  master key id
 *     9  24  wrap nonce
 *    33  48  wrapped data key (32 + 16 tag)
 *    81  24  secret nonce
 *   105   4  secret ciphertext length n, big-endian (= secret length + 16)
 *   109   n  secret ciphertext (secret + 16 tag)
 * A record is exactly 109 + n bytes: a decoder refuses anything shorter, longer or inconsistent.
 *
 * Plaintext: data keys, the key-encryption key and opened secrets only ever live in
 * sodium_malloc'd memory and are wiped (sodium_memzero / sodium_free) when released. No function
 * here logs, or puts into an error, any secret or key material; ids in errors are the caller's.
 *
 * Thread-safety: every function is thread-safe (no shared state; the master key is read-only).
 * None is constant-time with respect to lengths; all authentication is libsodium's. */
#ifndef BW_VAULT_SEAL_H
#define BW_VAULT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "vault/master.h"

#define BW_VAULT_VERSION 1
#define BW_VAULT_SECRET_MAX 8192 /* bytes of one secret: tokens, keys and URLs, not documents */
#define BW_VAULT_ID_MAX 64       /* bytes of an org id or record id (printable ASCII, >= 1) */
#define BW_VAULT_MASTER_ID_BYTES 8
#define BW_VAULT_HEADER_BYTES 109 /* everything before the secret ciphertext */
#define BW_VAULT_TAG_BYTES 16
/* Exact size of the record sealing a secret of n bytes. */
#define BW_VAULT_SEALED_SIZE(n) ((size_t)(n) + BW_VAULT_HEADER_BYTES + BW_VAULT_TAG_BYTES)
#define BW_VAULT_SEALED_MAX BW_VAULT_SEALED_SIZE(BW_VAULT_SECRET_MAX)

/* An opened secret: `len` bytes at `bytes`, followed by a NUL (not counted) so a token can be
 * used as a C string. The whole object is one sodium_malloc allocation (guard pages, locked),
 * read-only once filled. Release it with bw_vault_secret_free as soon as it has been used. */
struct bw_vault_secret {
    size_t len;
    uint8_t bytes[];
};

/* Wipes and releases (sodium_free). NULL is a no-op. */
void bw_vault_secret_free(struct bw_vault_secret *s);

/* A decoded record: pointers into the caller's bytes (borrowed, valid while they are). */
struct bw_vault_sealed {
    uint8_t version;
    const uint8_t *master_id;   /* BW_VAULT_MASTER_ID_BYTES */
    const uint8_t *wrap_nonce;  /* 24 */
    const uint8_t *wrapped_key; /* 48 */
    const uint8_t *nonce;       /* 24 */
    const uint8_t *ciphertext;  /* ciphertext_len, tag included */
    size_t ciphertext_len;
};

/* Decodes the layout above, without any key: checks the version and the exact length (the
 * secret must be 1..BW_VAULT_SECRET_MAX bytes). Authenticates nothing. Errors: BW_E_INVALID
 * (unknown version, truncated, trailing bytes, inconsistent length), BW_E_TOO_LARGE. */
bw_err bw_vault_sealed_parse(const uint8_t *p, size_t len,
                             struct bw_vault_sealed *out) BW_MUST_CHECK;

/* The id of a master key (what records wrapped by it carry). Errors: BW_E_CRYPTO. */
bw_err bw_vault_master_id(const struct bw_master *m,
                          uint8_t out[BW_VAULT_MASTER_ID_BYTES]) BW_MUST_CHECK;

/* Seals secret[0..secret_len) for (org_id, record_id) into out[0..out_size), writing the record
 * length (BW_VAULT_SEALED_SIZE(secret_len)) to *out_len. The secret is borrowed and not
 * modified; out must not overlap it. out holds ciphertext only, so it may be ordinary memory.
 * Errors: BW_E_INVALID (empty secret, ids empty, longer than BW_VAULT_ID_MAX or not printable
 * ASCII), BW_E_TOO_LARGE (secret over BW_VAULT_SECRET_MAX, or out_size too small), BW_E_NOMEM,
 * BW_E_CRYPTO. Out-parameters are written only on success. */
bw_err bw_vault_seal(const struct bw_master *m, const char *org_id, const char *record_id,
                     const uint8_t *secret, size_t secret_len, uint8_t *out, size_t out_size,
                     size_t *out_len) BW_MUST_CHECK;

/* Opens a record sealed for (org_id, record_id). On success *out owns a new secret (free with
 * bw_vault_secret_free). Errors: BW_E_INVALID (malformed record or ids), BW_E_NOT_FOUND (the
 * record was wrapped by another master key: its id differs), BW_E_CRYPTO (authentication
 * failed: the record was altered, or belongs to another record id or org), BW_E_NOMEM.
 * WARNING: BW_E_CRYPTO on a stored record means tampering or corruption: deny, never retry
 * with other ids. */
bw_err bw_vault_open(const struct bw_master *m, const char *org_id, const char *record_id,
                     const uint8_t *sealed, size_t sealed_len,
                     struct bw_vault_secret **out) BW_MUST_CHECK;

/* Re-wraps a record's data key from old_m to new_m (master key rotation): the data key is
 * unwrapped with old_m, the secret ciphertext is authenticated (so a rotation never blesses a
 * corrupted record), and the data key is wrapped again under new_m with a fresh nonce. The
 * secret's nonce and ciphertext are copied unchanged. A record already wrapped by new_m is
 * authenticated under new_m and copied unchanged, so a rotation interrupted half-way can simply
 * be run again. out receives exactly sealed_len bytes (*out_len) and must not overlap sealed;
 * the caller replaces the stored record only on BW_OK. Same errors as
 * bw_vault_open (BW_E_NOT_FOUND: wrapped by neither key), plus BW_E_TOO_LARGE (out_size). */
bw_err bw_vault_rewrap(const struct bw_master *old_m, const struct bw_master *new_m,
                       const char *org_id, const char *record_id, const uint8_t *sealed,
                       size_t sealed_len, uint8_t *out, size_t out_size,
                       size_t *out_len) BW_MUST_CHECK;

/* A display fingerprint for metadata: "…" (U+2026) followed by the secret's last 4 bytes. It
 * reveals at most 4 characters, and none at all (just "…") if the secret is shorter than
 * BW_VAULT_FINGERPRINT_MIN_LEN bytes (4 of 8 characters would be half a secret) or if any of
 * the last 4 bytes is not printable ASCII (binary keys). Always NUL-terminated. */
#define BW_VAULT_FINGERPRINT_SIZE 8 /* 3 bytes of "…", 4 characters, NUL */
#define BW_VAULT_FINGERPRINT_MIN_LEN 16
void bw_vault_fingerprint(const uint8_t *secret, size_t len, char out[BW_VAULT_FINGERPRINT_SIZE]);

#endif
