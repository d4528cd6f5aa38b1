/* webhook_internal.h: what the Standard Webhooks signer (webhook_sign.c) and the verifier
 * (webhook_verify.c) share, so the bytes one signs are by construction the bytes the other
 * checks. Not a public interface: only src/webhook/ includes it. */
#ifndef BW_WEBHOOK_INTERNAL_H
#define BW_WEBHOOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#include "util/buf.h"
#include "webhook/webhook.h"

/* The object behind bw_webhook_keys: itself and every key in sodium_malloc'd memory. */
struct bw_webhook_keys {
    enum bw_webhook_scheme scheme;
    size_t n;
    uint8_t *key[BW_WEBHOOK_MAX_KEYS]; /* sodium_malloc */
    size_t len[BW_WEBHOOK_MAX_KEYS];
};

/* HMAC-SHA256 over the concatenation of parts (OpenSSL 3 EVP_MAC). Errors: BW_E_CRYPTO. */
bw_err bw_webhook_hmac_sha256(const uint8_t *key, size_t key_len, const struct bw_slice *parts,
                              size_t n_parts, uint8_t out[32]) BW_MUST_CHECK;

/* The signed content of Standard Webhooks ("Verifying Webhooks"): "<msg_id>.<timestamp>.<body>",
 * timestamp being the exact text of the webhook-timestamp header, as BW_WEBHOOK_STANDARD_PARTS
 * slices borrowed from the arguments (for bw_webhook_hmac_sha256). */
#define BW_WEBHOOK_STANDARD_PARTS 5
void bw_webhook_standard_parts(const char *msg_id, const char *timestamp, const uint8_t *body,
                               size_t body_len, struct bw_slice parts[BW_WEBHOOK_STANDARD_PARTS]);

/* 1 if id is a usable webhook-id: 1..BW_WEBHOOK_MAX_ID bytes of printable ASCII, no spaces. */
int bw_webhook_id_ok(const char *id) BW_MUST_CHECK;

#endif
