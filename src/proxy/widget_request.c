/* widget_request.c: the widget's input parsers (widget.h): the key in the path, the key's shape,
 * and the request body. Pure functions: no I/O, no global state. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/widget.h"
#include "reason/reasons.h"
#include "store/sql.h"
#include "util/json.h"

#define WIDGET_BODY_DEPTH 2 /* the object and its scalar members: nothing nested is accepted */

int bw_widget_key_shape_ok(const char *s, size_t n) {
    if (n != BW_WIDGET_KEY_CHARS || memcmp(s, BW_WIDGET_KEY_PREFIX, 4) != 0)
        return 0;
    for (size_t i = 4; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

int bw_widget_path_key(const char *path, char key[BW_WIDGET_KEY_SIZE]) {
    static const char prefix[] = "/widget/v1/";
    static const char suffix[] = "/chat";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return 0;
    const char *k = path + sizeof prefix - 1;
    const char *slash = strchr(k, '/');
    if (!slash || slash == k || strcmp(slash, suffix) != 0)
        return 0;
    size_t n = (size_t)(slash - k);
    if (n >= BW_WIDGET_KEY_SIZE)
        return 0;
    memcpy(key, k, n);
    key[n] = 0;
    return 1;
}

/* RFC 3629 section 4: the well-formed byte sequences. */
int bw_widget_utf8_ok(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* no overlongs */
            else if (c == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F; /* at most U+10FFFF */
        } else {
            return 0;
        }
        if (n - i <= need)
            return 0;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= need; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return 0;
        i += need + 1;
    }
    return 1;
}

size_t bw_widget_max_body(size_t max_message_bytes) {
    /* {"conversation_id":"cnv_...","message":"..."} with generous whitespace */
    return max_message_bytes * 6 + 1024;
}

static int conversation_id_ok(const char *id) {
    return strncmp(id, BW_WIDGET_CONVERSATION_PREFIX "_", 4) == 0 && bw_sql_id_ok(id);
}

static bw_err reject(char *why, size_t why_size, bw_err e, const char *text) {
    snprintf(why, why_size, "%s", text);
    return e;
}

bw_err bw_widget_request_parse(const uint8_t *body, size_t len, size_t max_message_bytes,
                               struct bw_widget_request *out, const char **reason, char *why,
                               size_t why_size) {
    *reason = BW_R_BODY_TOO_LARGE;
    if (len > bw_widget_max_body(max_message_bytes))
        return reject(why, why_size, BW_E_TOO_LARGE, "the request body is too large");
    json_t *j = NULL;
    bw_err e = bw_json_parse((const char *)body, len, WIDGET_BODY_DEPTH, &j, why, why_size);
    if (e == BW_E_TOO_LARGE) {
        *reason = BW_R_INVALID_REQUEST; /* nesting: nothing here may be an object or array */
        return reject(why, why_size, BW_E_INVALID, "members must be strings");
    }
    if (e != BW_OK) {
        *reason = BW_R_INVALID_JSON;
        return e;
    }
    *reason = BW_R_INVALID_REQUEST;
    bw_err result = BW_OK;
    const char *k;
    json_t *v;
    const char *message = NULL;
    size_t message_len = 0;
    const char *conversation = NULL;
    json_object_foreach(j, k, v) {
        if (strcmp(k, "message") == 0) {
            if (!json_is_string(v)) {
                result = reject(why, why_size, BW_E_INVALID, "\"message\" must be a string");
                goto out;
            }
            message = json_string_value(v);
            message_len = json_string_length(v);
        } else if (strcmp(k, "conversation_id") == 0) {
            if (!json_is_string(v) || !conversation_id_ok(json_string_value(v))) {
                result = reject(why, why_size, BW_E_INVALID,
                                "\"conversation_id\" must be \"cnv_\" and 16 lowercase hex digits");
                goto out;
            }
            conversation = json_string_value(v);
        } else {
            result =
                reject(why, why_size, BW_E_INVALID,
                       "unknown member: only \"message\" and \"conversation_id\" are accepted");
            goto out;
        }
    }
    if (!message) {
        result = reject(why, why_size, BW_E_INVALID, "\"message\" is required");
        goto out;
    }
    if (message_len > max_message_bytes) {
        *reason = BW_R_BODY_TOO_LARGE;
        result = reject(why, why_size, BW_E_TOO_LARGE, "\"message\" is too long");
        goto out;
    }
    /* jansson already refuses invalid UTF-8 and \u0000 in its input; checked again here because
     * the message is stored and sent upstream, and this function must not depend on a parser
     * flag somebody might change. */
    if (message_len == 0 || memchr(message, 0, message_len) ||
        !bw_widget_utf8_ok(message, message_len)) {
        result = reject(why, why_size, BW_E_INVALID,
                        "\"message\" must be non-empty valid UTF-8 without NUL");
        goto out;
    }
    char *copy = malloc(message_len + 1);
    if (!copy) {
        *reason = BW_R_INTERNAL;
        result = reject(why, why_size, BW_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(copy, message, message_len);
    copy[message_len] = 0;
    memset(out, 0, sizeof *out);
    out->message = copy;
    out->message_len = message_len;
    if (conversation)
        snprintf(out->conversation_id, sizeof out->conversation_id, "%s", conversation);
    *reason = NULL;
out:
    json_decref(j);
    return result;
}

void bw_widget_request_cleanup(struct bw_widget_request *r) {
    if (!r)
        return;
    free(r->message);
    r->message = NULL;
    r->message_len = 0;
}
