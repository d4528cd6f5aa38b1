/* webhook_sign.h: signing outgoing webhooks per the Standard Webhooks specification
 * (standardwebhooks.com), the counterpart of bw_webhook_verify_standard (webhook.h).
 *
 * A delivery carries three headers:
 *   webhook-id         the message id: stable across retries of one event, so receivers can
 *                      deduplicate ("msg_" + 22 base64url characters from bw_webhook_msg_id_new)
 *   webhook-timestamp  unix seconds of this attempt, decimal
 *   webhook-signature  "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>", one per key,
 *                      space-separated, in key order (several keys while a secret rotates)
 * Keys are the ones bw_webhook_keys_parse(BW_WEBHOOK_STANDARD, "whsec_<base64>") holds, so the
 * secret text is decoded by the same code on both sides.
 *
 * No function logs or returns secret material; a signature reveals nothing about its key.
 * Thread-safe (keys are only read). */
#ifndef BW_WEBHOOK_SIGN_H
#define BW_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "webhook/webhook.h"

#define BW_WEBHOOK_HDR_ID "webhook-id"
#define BW_WEBHOOK_HDR_TIMESTAMP "webhook-timestamp"
#define BW_WEBHOOK_HDR_SIGNATURE "webhook-signature"
#define BW_WEBHOOK_MAX_TIMESTAMP 999999999999LL /* 12 digits: what the verifier accepts */
/* "v1," + 44 base64 characters, and a space or NUL, per key */
#define BW_WEBHOOK_SIGNATURE_SIZE (BW_WEBHOOK_MAX_KEYS * 48)
#define BW_WEBHOOK_MSG_ID_SIZE 27 /* "msg_" + 22 + NUL */
/* "whsec_" + base64 of 32 bytes (44) + NUL; 32 bytes is within the spec's 24..64 */
#define BW_WEBHOOK_SECRET_BYTES 32
#define BW_WEBHOOK_SECRET_SIZE 51

/* The three header values of one signed delivery (NUL-terminated). */
struct bw_webhook_signed {
    char id[BW_WEBHOOK_MAX_ID + 1];
    char timestamp[16];
    char signature[BW_WEBHOOK_SIGNATURE_SIZE];
};

/* Signs body[0..body_len) as message msg_id at timestamp_s with every key of `keys` (which must
 * be BW_WEBHOOK_STANDARD keys). Errors: BW_E_INVALID (msg_id empty, over BW_WEBHOOK_MAX_ID
 * bytes or not printable ASCII without spaces; timestamp negative or over
 * BW_WEBHOOK_MAX_TIMESTAMP; body NULL with body_len > 0), BW_E_INTERNAL (keys NULL or of the
 * Stripe scheme), BW_E_CRYPTO. *out is written only on success. */
bw_err bw_webhook_sign_standard(const struct bw_webhook_keys *keys, const char *msg_id,
                                int64_t timestamp_s, const uint8_t *body, size_t body_len,
                                struct bw_webhook_signed *out) BW_MUST_CHECK;

/* A new random message id: "msg_" + base64url of 16 random bytes. */
void bw_webhook_msg_id_new(char out[BW_WEBHOOK_MSG_ID_SIZE]);

/* A new signing secret "whsec_" + base64 of BW_WEBHOOK_SECRET_BYTES random bytes, written to
 * out[0..out_size) (NUL-terminated). out should be sodium_malloc'd memory: it is a secret, to be
 * sealed in the vault and shown to the customer once. Errors: BW_E_TOO_LARGE (out_size below
 * BW_WEBHOOK_SECRET_SIZE). */
bw_err bw_webhook_secret_new(char *out, size_t out_size) BW_MUST_CHECK;

#endif
