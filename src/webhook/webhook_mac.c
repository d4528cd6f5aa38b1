/* webhook_mac.c: the MAC and the message-id rule shared by the signer and the verifier
 * (webhook_internal.h). */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#include "util/text.h"
#include "webhook/webhook_internal.h"

bw_err bw_webhook_hmac_sha256(const uint8_t *key, size_t key_len, const struct bw_slice *parts,
                              size_t n_parts, uint8_t out[32]) {
    bw_err result = BW_E_CRYPTO;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t len = 0;
    if (!ctx || !EVP_MAC_init(ctx, key, key_len, params))
        goto out;
    for (size_t i = 0; i < n_parts; i++)
        if (parts[i].len && !EVP_MAC_update(ctx, parts[i].ptr, parts[i].len))
            goto out;
    if (!EVP_MAC_final(ctx, out, &len, 32) || len != 32)
        goto out;
    result = BW_OK;
out:
    EVP_MAC_CTX_free(ctx); /* frees (and OpenSSL cleanses) the keyed state */
    EVP_MAC_free(mac);
    return result;
}

void bw_webhook_standard_parts(const char *msg_id, const char *timestamp, const uint8_t *body,
                               size_t body_len, struct bw_slice parts[BW_WEBHOOK_STANDARD_PARTS]) {
    parts[0] = bw_slice_of(msg_id, strlen(msg_id));
    parts[1] = bw_slice_of(".", 1);
    parts[2] = bw_slice_of(timestamp, strlen(timestamp));
    parts[3] = bw_slice_of(".", 1);
    parts[4] = bw_slice_of(body, body_len);
}

int bw_webhook_id_ok(const char *id) {
    size_t n = id ? strnlen(id, BW_WEBHOOK_MAX_ID + 1) : 0;
    if (n == 0 || n > BW_WEBHOOK_MAX_ID)
        return 0;
    return bw_text_visible(id, n);
}
