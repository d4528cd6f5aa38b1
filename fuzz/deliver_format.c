/* deliver_format.c: libFuzzer target for the connection body formatter (src/deliver/) on
 * arbitrary event text, which agents can influence. Invariants: every accepted text gives one
 * JSON object; a Slack text carries no raw '<' or '>' (no <!channel>, no forged links); a
 * Discord content has at most 2000 code points and suppresses every mention.
 * Build: make fuzz; run: build/fuzz/deliver_format fuzz/corpus/deliver_format */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/deliver.h"

static size_t code_points(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > BW_DELIVER_TEXT_MAX + 16)
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    enum bw_deliver_kind kind = data[0] % 2 ? BW_DELIVER_SLACK : BW_DELIVER_DISCORD;
    struct bw_deliver_event ev = {"test.fuzz", text, NULL, 0};
    struct bw_buf out;
    bw_buf_init(&out, BW_DELIVER_BODY_MAX);
    if (bw_deliver_format(kind, &ev, &out) == BW_OK) {
        json_t *j = json_loadb((const char *)out.ptr, out.len, JSON_REJECT_DUPLICATES, NULL);
        if (!j || !json_is_object(j))
            abort();
        if (kind == BW_DELIVER_SLACK) {
            const char *t = json_string_value(json_object_get(j, "text"));
            if (!t || strchr(t, '<') || strchr(t, '>'))
                abort();
        } else {
            const char *c = json_string_value(json_object_get(j, "content"));
            json_t *parse = json_object_get(json_object_get(j, "allowed_mentions"), "parse");
            if (!c || code_points(c) > BW_DELIVER_DISCORD_CONTENT_MAX || !json_is_array(parse) ||
                json_array_size(parse) != 0)
                abort();
        }
        json_decref(j);
    }
    bw_buf_cleanup(&out);
    free(text);
    return 0;
}
