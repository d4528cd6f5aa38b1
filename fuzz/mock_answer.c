/* mock_answer.c: libFuzzer target for the mock's request handling (chat completions, tool calls,
 * embeddings) on arbitrary request bodies. Checks that every answer it builds is valid JSON, or
 * SSE events whose data is JSON or [DONE]. Build: make fuzz; run: build/fuzz/mock_answer
 * fuzz/corpus/mock_answer */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mock/mock_internal.h"
#include "util/json.h"

static void check_json(const uint8_t *p, size_t n) {
    json_error_t e;
    json_t *v = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);
    if (!v)
        abort();
    json_decref(v);
}

static void check_reply(const struct bw_mock_reply *r) {
    if (!r->stream) {
        check_json(r->body.ptr, r->body.len);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < r->nevents; i++) {
        const uint8_t *ev = r->body.ptr + start;
        size_t n = r->ends[i] - start;
        if (n < 8 || memcmp(ev, "data: ", 6) != 0 || memcmp(ev + n - 2, "\n\n", 2) != 0)
            abort();
        if (!(n == 14 && memcmp(ev + 6, "[DONE]", 6) == 0))
            check_json(ev + 6, n - 8);
        start = r->ends[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *req = NULL;
    char why[256];
    if (size > BW_MOCK_MAX_BODY ||
        bw_json_parse((const char *)data, size, BW_MOCK_MAX_DEPTH, &req, why, sizeof why) != BW_OK)
        return 0;
    struct bw_mock_reply r;
    bw_mock_reply_init(&r);
    if (bw_mock_chat_answer(req, data, size, &r, why, sizeof why) == BW_OK)
        check_reply(&r);
    bw_mock_reply_cleanup(&r);
    bw_mock_reply_init(&r);
    if (bw_mock_embed_answer(req, &r, why, sizeof why) == BW_OK)
        check_reply(&r);
    bw_mock_reply_cleanup(&r);
    json_decref(req);
    return 0;
}
