/* auth_pepper.c: the API-key hash pepper, sealed in the vault (auth.h bw_auth_pepper_load).
 *
 * Before migration 7 the pepper was derived from the master key on every start, so rotating
 * the master key would have changed it and broken every API key (a key hash cannot be
 * recomputed without the key itself). Now it is derived once, exactly as before, and kept
 * sealed as a platform secret; a rotation re-wraps that record like any other. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "store/connections.h"
#include "util/time.h"
#include "vault/keyring.h"

#define PEPPER_BYTES 32

static bw_err create_record(struct bw_store *s, const struct bw_keyring *r,
                            struct bw_secret_blob *buf) {
    uint8_t *pepper = sodium_malloc(PEPPER_BYTES);
    BW_ENSURE(pepper, BW_E_NOMEM);
    struct bw_sealed_secret sec = {.sealed = buf->sealed};
    bw_err result = BW_OK;
    BW_GOTO(bw_master_derive(bw_keyring_current(r), BW_PEPPER_KDF_ID, BW_PEPPER_KDF_CTX, pepper));
    BW_GOTO(bw_keyring_seal(r, BW_PLATFORM_ORG, BW_PLATFORM_PEPPER_ID, pepper, PEPPER_BYTES,
                            buf->sealed, sizeof buf->sealed, &sec.sealed_len));
    bw_keyring_sealer_id(r, sec.master_id);
    int created = 0;
    BW_GOTO(bw_store_platform_secret_create(s, BW_PLATFORM_PEPPER_ID, &sec, bw_now_ms(), &created));
out:
    sodium_free(pepper); /* wipes */
    return result;
}

bw_err bw_auth_pepper_load(struct bw_store *s, const struct bw_keyring *r, uint8_t out[32]) {
    struct bw_secret_blob *b = malloc(sizeof *b); /* ciphertext only */
    BW_ENSURE(b, BW_E_NOMEM);
    struct bw_vault_secret *p = NULL;
    bw_err result = bw_store_platform_secret_get(s, BW_PLATFORM_PEPPER_ID, b);
    if (result == BW_E_NOT_FOUND) {
        BW_GOTO(create_record(s, r, b));
        result = bw_store_platform_secret_get(s, BW_PLATFORM_PEPPER_ID, b);
    }
    BW_GOTO(result);
    BW_GOTO(bw_keyring_open(r, BW_PLATFORM_ORG, BW_PLATFORM_PEPPER_ID, b->sealed, b->len, &p));
    BW_GOTO_IF(p->len != PEPPER_BYTES, BW_E_INVALID);
    memcpy(out, p->bytes, PEPPER_BYTES);
out:
    bw_vault_secret_free(p);
    free(b);
    return result;
}
