/* http_framing.c: libFuzzer target for the strict HTTP framing (http/framing.h) and the Bearer
 * parser (http/bearer.h) on arbitrary bytes. The first byte picks the target. For chunked
 * bodies the same bytes are also fed one at a time, and both ways must agree on the result and
 * on where the body ends (the guard feeds whatever arrives, split anywhere).
 * Build: make fuzz; run: build/fuzz/http_framing fuzz/corpus/http_framing */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/bearer.h"
#include "http/framing.h"

static void chunks(const uint8_t *p, size_t n) {
    struct bw_http_chunks whole, bytes;
    size_t used = 0, used_b = 0;
    int done = 0, done_b = 0;
    bw_http_chunks_init(&whole);
    enum bw_http_reject r = bw_http_chunks_feed(&whole, p, n, &used, &done);
    bw_http_chunks_init(&bytes);
    enum bw_http_reject rb = BW_HTTP_OK;
    for (size_t i = 0; i < n && !done_b && rb == BW_HTTP_OK; i++) {
        size_t u = 0;
        rb = bw_http_chunks_feed(&bytes, p + i, 1, &u, &done_b);
        used_b += u;
    }
    if (r != rb || (r == BW_HTTP_OK && (done != done_b || (done && used != used_b))))
        abort();
    if (r == BW_HTTP_OK && used > n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: {
        struct bw_http_head_info info;
        enum bw_http_reject r = bw_http_head_check(p, n, 1 << 20, &info);
        if (r == BW_HTTP_OK && info.chunked && info.content_length)
            abort();
        if (bw_http_reject_status(r) < 200 || !bw_http_reject_message(r))
            abort();
        break;
    }
    case 1:
        chunks(p, n);
        break;
    default: {
        char *text = malloc(n + 1);
        if (!text)
            return 0;
        memcpy(text, p, n);
        text[n] = 0;
        const char *tok = NULL;
        size_t len = 0;
        if (bw_http_bearer_parse(text, 64, &tok, &len) == BW_OK &&
            (len == 0 || len > 64 || tok < text || tok + len > text + n))
            abort();
        free(text);
        break;
    }
    }
    return 0;
}
