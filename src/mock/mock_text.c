/* mock_text.c: counting, cutting and hashing text for the mock's deterministic answers. */
#include <stdio.h>
#include <string.h>

#include "mock/mock_internal.h"
#include "util/codec.h"
#include "util/json.h"

/* UTF-8 continuation bytes are 10xxxxxx; every other byte starts a code point. jansson has
 * already rejected invalid UTF-8, so counting starts is exact. */
static int is_cont(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

size_t bw_mock_chars(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += !is_cont((unsigned char)s[i]);
    return count;
}

size_t bw_mock_tokens(size_t chars) {
    return chars / 4 + (chars % 4 != 0);
}

size_t bw_mock_prefix(const char *s, size_t n, size_t max_chars) {
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_cont((unsigned char)s[i])) {
            if (seen == max_chars)
                return i;
            seen++;
        }
    }
    return n;
}

static int is_text_part(const json_t *part) {
    const char *type = bw_json_str(part, "type");
    return type && strcmp(type, "text") == 0 && json_is_string(json_object_get(part, "text"));
}

size_t bw_mock_content_chars(const json_t *content) {
    if (json_is_string(content))
        return bw_mock_chars(json_string_value(content), json_string_length(content));
    size_t total = 0, i;
    const json_t *part;
    if (json_is_array(content)) {
        json_array_foreach(content, i, part) {
            if (is_text_part(part)) {
                const json_t *t = json_object_get(part, "text");
                total += bw_mock_chars(json_string_value(t), json_string_length(t));
            }
        }
    }
    return total;
}

bw_err bw_mock_content_text(const json_t *content, struct bw_buf *out) {
    if (json_is_string(content))
        return bw_buf_append(out, json_string_value(content), json_string_length(content));
    size_t i;
    const json_t *part;
    if (json_is_array(content)) {
        json_array_foreach(content, i, part) {
            if (is_text_part(part)) {
                const json_t *t = json_object_get(part, "text");
                BW_TRY(bw_buf_append(out, json_string_value(t), json_string_length(t)));
            }
        }
    }
    return BW_OK;
}

bw_err bw_mock_hash_id(const char *prefix, const char *salt, const void *body, size_t n,
                       size_t hex_digits, char *out, size_t out_size) {
    uint8_t digest[32];
    char hex[65];
    BW_ENSURE(hex_digits <= 64, BW_E_INVALID);
    struct bw_sha256_stream st;
    BW_TRY(bw_sha256_stream_init(&st));
    bw_sha256_stream_update(&st, salt, strlen(salt));
    bw_sha256_stream_update(&st, body, n);
    bw_sha256_stream_final(&st, digest);
    BW_TRY(bw_hex_encode(digest, sizeof digest, hex, sizeof hex));
    int w = snprintf(out, out_size, "%s%.*s", prefix, (int)hex_digits, hex);
    BW_ENSURE(w > 0 && (size_t)w < out_size, BW_E_TOO_LARGE);
    return BW_OK;
}

size_t bw_mock_next_word(const char *s, size_t n, size_t off) {
    size_t i = off;
    while (i < n && s[i] != ' ')
        i++;
    while (i < n && s[i] == ' ')
        i++;
    return i;
}
