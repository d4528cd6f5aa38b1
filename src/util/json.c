#include "util/json.h"

#include <stdio.h>
#include <string.h>

size_t bw_json_depth(const json_t *v, size_t limit) {
    size_t deepest = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child) {
            (void)k;
            size_t d = limit ? bw_json_depth(child, limit - 1) : 1;
            if (d > deepest)
                deepest = d;
            if (deepest > limit)
                break;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            size_t d = limit ? bw_json_depth(child, limit - 1) : 1;
            if (d > deepest)
                deepest = d;
            if (deepest > limit)
                break;
        }
        return deepest + 1;
    }
    return 0;
}

bw_err bw_json_parse(const char *p, size_t len, size_t max_depth, json_t **out, char *why,
                     size_t why_size) {
    json_error_t e;
    json_t *v = json_loadb(p, len, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        /* jansson's text names the problem (e.g. "duplicate object key") without echoing
         * more than a short token; keep the position so clients can find it. */
        snprintf(why, why_size, "invalid JSON at line %d column %d: %s", e.line, e.column,
                 e.text);
        return BW_E_INVALID;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(why, why_size, "request body must be a JSON object");
        return BW_E_INVALID;
    }
    if (bw_json_depth(v, max_depth) > max_depth) {
        json_decref(v);
        snprintf(why, why_size, "JSON nested deeper than %zu levels", max_depth);
        return BW_E_TOO_LARGE;
    }
    *out = v;
    return BW_OK;
}

const char *bw_json_str(const json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}
