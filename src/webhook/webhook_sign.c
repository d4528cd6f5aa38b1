/* webhook_sign.c: Standard Webhooks signatures for outgoing deliveries (webhook_sign.h). */
#include "webhook/webhook_sign.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util/codec.h"
#include "webhook/webhook_internal.h"

bw_err bw_webhook_sign_standard(const struct bw_webhook_keys *keys, const char *msg_id,
                                int64_t timestamp_s, const uint8_t *body, size_t body_len,
                                struct bw_webhook_signed *out) {
    BW_ENSURE(keys && keys->scheme == BW_WEBHOOK_STANDARD && keys->n > 0, BW_E_INTERNAL);
    BW_ENSURE(bw_webhook_id_ok(msg_id), BW_E_INVALID);
    BW_ENSURE(timestamp_s >= 0 && timestamp_s <= BW_WEBHOOK_MAX_TIMESTAMP, BW_E_INVALID);
    BW_ENSURE(body || body_len == 0, BW_E_INVALID);
    struct bw_webhook_signed s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "%s", msg_id); /* fits: checked by bw_webhook_id_ok */
    snprintf(s.timestamp, sizeof s.timestamp, "%lld", (long long)timestamp_s);
    /* The MAC covers the timestamp exactly as the header will carry it. */
    struct bw_slice parts[BW_WEBHOOK_STANDARD_PARTS];
    bw_webhook_standard_parts(s.id, s.timestamp, body ? body : (const uint8_t *)"", body_len,
                              parts);
    size_t used = 0;
    for (size_t k = 0; k < keys->n; k++) {
        uint8_t mac[32];
        char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
        bw_err e = bw_webhook_hmac_sha256(keys->key[k], keys->len[k], parts,
                                          BW_WEBHOOK_STANDARD_PARTS, mac);
        if (e == BW_OK)
            e = bw_b64_encode(mac, sizeof mac, b64, sizeof b64);
        sodium_memzero(mac, sizeof mac);
        BW_TRY(e);
        int n =
            snprintf(s.signature + used, sizeof s.signature - used, "%sv1,%s", k ? " " : "", b64);
        BW_ENSURE(n > 0 && (size_t)n < sizeof s.signature - used, BW_E_INTERNAL);
        used += (size_t)n;
    }
    *out = s;
    return BW_OK;
}

void bw_webhook_msg_id_new(char out[BW_WEBHOOK_MSG_ID_SIZE]) {
    uint8_t raw[16];
    randombytes_buf(raw, sizeof raw);
    memcpy(out, "msg_", 4);
    sodium_bin2base64(out + 4, BW_WEBHOOK_MSG_ID_SIZE - 4, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bw_err bw_webhook_secret_new(char *out, size_t out_size) {
    BW_ENSURE(out && out_size >= BW_WEBHOOK_SECRET_SIZE, BW_E_TOO_LARGE);
    uint8_t raw[BW_WEBHOOK_SECRET_BYTES];
    randombytes_buf(raw, sizeof raw);
    memcpy(out, "whsec_", 6);
    sodium_bin2base64(out + 6, out_size - 6, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(raw, sizeof raw);
    return BW_OK;
}
