/* webhook_headers.c: libFuzzer target for the webhook signature-header parsers and verifiers
 * (webhook_verify.c) on arbitrary bytes. The first byte picks the target; the rest is the header
 * (and, for verify, also the body), so a seed that verifies exercises the whole path.
 * Build: make fuzz; run: build/fuzz/webhook_headers fuzz/corpus/webhook_headers */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct bw_webhook_keys *stripe, *standard;
    if (!stripe) {
        if (sodium_init() < 0 ||
            bw_webhook_keys_parse(BW_WEBHOOK_STRIPE, "whsec_abc", 9, &stripe) != BW_OK ||
            bw_webhook_keys_parse(BW_WEBHOOK_STANDARD, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 38,
                                  &standard) != BW_OK)
            abort();
    }
    if (size < 1)
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0; /* headers are C strings: evhttp hands them over NUL-terminated */
    const char *reason = NULL;
    switch (data[0] % 4) {
    case 0: {
        struct bw_webhook_stripe_sig s;
        (void)bw_webhook_stripe_parse(text, size - 1, &s);
        break;
    }
    case 1: {
        struct bw_webhook_standard_sig s;
        (void)bw_webhook_standard_parse(text, size - 1, &s);
        break;
    }
    case 2:
        /* the header is up to the first newline; the body is the rest */
        {
            char *nl = memchr(text, '\n', size - 1);
            const uint8_t *body = (const uint8_t *)"{}";
            size_t blen = 2;
            if (nl) {
                *nl = 0;
                body = (const uint8_t *)nl + 1;
                blen = (size_t)(text + size - 1 - (nl + 1));
            }
            (void)bw_webhook_verify_stripe(stripe, text, body, blen, 1, 300, &reason);
        }
        break;
    default:
        (void)bw_webhook_verify_standard(standard, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                                         text, (const uint8_t *)"{\"test\": 2432232314}", 20,
                                         1614265330, 300, &reason);
        break;
    }
    free(text);
    return 0;
}
