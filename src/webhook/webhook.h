/* webhook.h: signature verification of incoming billing webhooks.
 *
 * Two schemes:
 *  - Stripe: header `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]` (other elements such
 *    as v0 are ignored); signature = HMAC-SHA256(key = the endpoint secret string as given,
 *    e.g. "whsec_...", message = "<t>.<raw body>"). Several v1 appear while Stripe rotates the
 *    endpoint secret: any match is enough.
 *  - Standard Webhooks (standardwebhooks.com spec): headers `webhook-id`, `webhook-timestamp`
 *    (unix s), `webhook-signature: v1,<base64> [v1,<base64> ...]` (space-separated; other
 *    versions such as v1a are ignored); secret "whsec_<base64 key>" (the prefix is optional);
 *    signature = HMAC-SHA256(key, "<id>.<timestamp>.<raw body>").
 *
 * Order of checks: header syntax (BW_E_INVALID, WEBHOOK_HEADER_MALFORMED), then signature
 * (BW_E_UNAUTH, WEBHOOK_SIGNATURE_INVALID), then |now - t| <= tolerance in either direction
 * (BW_E_UNAUTH, WEBHOOK_TIMESTAMP_OUT_OF_RANGE), so a replayed old request with a valid
 * signature is named as such. Comparisons are constant-time (sodium_memcmp) per candidate.
 *
 * Secrets: a bw_webhook_keys holds up to BW_WEBHOOK_MAX_KEYS keys (rotation on our side) in
 * sodium_malloc'd memory, wiped on free. No function logs or returns secret material. All
 * functions are thread-safe on distinct objects; verify is read-only on keys. */
#ifndef BW_WEBHOOK_WEBHOOK_H
#define BW_WEBHOOK_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BW_WEBHOOK_MAX_KEYS 4
#define BW_WEBHOOK_MAX_KEY_BYTES 256
#define BW_WEBHOOK_MAX_SIGS 16     /* signatures in one header */
#define BW_WEBHOOK_MAX_HEADER 4096 /* bytes of one signature header */
#define BW_WEBHOOK_MAX_ID 255      /* bytes of a webhook-id */
#define BW_WEBHOOK_DEFAULT_TOLERANCE_S 300

enum bw_webhook_scheme { BW_WEBHOOK_STRIPE, BW_WEBHOOK_STANDARD };

struct bw_webhook_keys;

/* Parses secret text into keys: one or more secrets separated by spaces, commas or newlines.
 * STRIPE keys are the secret strings' bytes; STANDARD keys are the base64 after an optional
 * "whsec_". The caller wipes `text` itself. Errors: BW_E_INVALID (empty, too many, too long,
 * bad base64: the message never includes the text), BW_E_NOMEM. */
bw_err bw_webhook_keys_parse(enum bw_webhook_scheme scheme, const char *text, size_t len,
                             struct bw_webhook_keys **out) BW_MUST_CHECK;
void bw_webhook_keys_free(struct bw_webhook_keys *k); /* wipes; NULL is a no-op */

/* A parsed Stripe-Signature header (for verify and fuzzing). */
struct bw_webhook_stripe_sig {
    int64_t t;
    uint8_t v1[BW_WEBHOOK_MAX_SIGS][32];
    size_t n_v1;
};
/* Strict: elements "k=v" separated by ','; exactly one t (decimal, no sign, <= 12 digits); at
 * least one v1 (64 hex each, at most BW_WEBHOOK_MAX_SIGS); other keys ([a-z0-9]+) ignored. */
bw_err bw_webhook_stripe_parse(const char *header, size_t len,
                               struct bw_webhook_stripe_sig *out) BW_MUST_CHECK;

struct bw_webhook_standard_sig {
    uint8_t v1[BW_WEBHOOK_MAX_SIGS][32];
    size_t n_v1;
};
/* Space-separated "<version>,<base64>"; v1 entries must decode to 32 bytes; other versions are
 * ignored; at least one v1. */
bw_err bw_webhook_standard_parse(const char *header, size_t len,
                                 struct bw_webhook_standard_sig *out) BW_MUST_CHECK;

/* Parses a unix-seconds timestamp (decimal digits only, <= 12). */
bw_err bw_webhook_parse_timestamp(const char *s, size_t len, int64_t *out) BW_MUST_CHECK;

/* Verifies. On error *reason (if non-NULL) is set to a reason code (reason/reasons.h).
 * header may be NULL (malformed). tolerance_s > 0. */
bw_err bw_webhook_verify_stripe(const struct bw_webhook_keys *keys, const char *header,
                                const uint8_t *body, size_t body_len, int64_t now_s,
                                int tolerance_s, const char **reason) BW_MUST_CHECK;

bw_err bw_webhook_verify_standard(const struct bw_webhook_keys *keys, const char *msg_id,
                                  const char *timestamp, const char *signature, const uint8_t *body,
                                  size_t body_len, int64_t now_s, int tolerance_s,
                                  const char **reason) BW_MUST_CHECK;

#endif
