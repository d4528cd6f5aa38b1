/* libFuzzer: the SSE event splitter, fed the input in two pieces split at its first byte's
 * value, with a small event bound. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/sse.h"

static bw_err check(void *arg, const char *raw, size_t raw_len, const char *data, size_t data_len) {
    size_t *total = arg;
    *total += raw_len;
    /* data may hold NUL bytes from the stream (the JSON parser is given data_len, and rejects
     * them); it must still be NUL-terminated at data_len and never longer than the event. */
    if (!data) { /* an event without a data line: nothing to dispatch, no payload */
        if (data_len != 0)
            __builtin_trap();
        return BW_OK;
    }
    if (data_len > raw_len || data[data_len] != 0)
        __builtin_trap();
    (void)raw;
    return BW_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    size_t cut = data[0] % size;
    struct bw_sse sse;
    size_t total = 0;
    /* a BOM at the stream's start is skipped (WHATWG): its 3 bytes are in no event */
    size_t bom = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    bw_sse_init(&sse, 4096);
    if (bw_sse_feed(&sse, (const char *)data, cut, check, &total) == BW_OK &&
        bw_sse_feed(&sse, (const char *)data + cut, size - cut, check, &total) == BW_OK) {
        if (total + bw_sse_pending(&sse) + bom != size)
            __builtin_trap(); /* every byte is either in an event or still pending */
        /* the end may complete an event whose last line ended in a lone CR (plus its LF) */
        if (bw_sse_end(&sse, check, &total) == BW_OK &&
            total + bw_sse_pending(&sse) + bom != size + (size && data[size - 1] == '\r'))
            __builtin_trap();
    }
    bw_sse_cleanup(&sse);
    return 0;
}
