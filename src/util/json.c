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

static const char *json_problem(enum json_error_code code) {
    switch (code) {
    case json_error_duplicate_key:
        return "duplicate object key";
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "unexpected end of input";
    case json_error_end_of_input_expected:
        return "trailing data after the value";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL character";
    case json_error_numeric_overflow:
        return "number out of range";
    case json_error_out_of_memory:
        return "out of memory";
    default:
        return "syntax error";
    }
}

bw_err bw_json_parse(const char *p, size_t len, size_t max_depth, json_t **out, char *why,
                     size_t why_size) {
    json_error_t e;
    json_t *v = json_loadb(p, len, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        /* jansson's own text quotes the offending token ("near '...'"): never echo request
         * bytes, say only what kind of problem and where. */
        enum json_error_code code = json_error_code(&e);
        if (code == json_error_stack_overflow) {
            snprintf(why, why_size, "JSON nested deeper than %zu levels", max_depth);
            return BW_E_TOO_LARGE;
        }
        snprintf(why, why_size, "invalid JSON at line %d column %d: %s", e.line, e.column,
                 json_problem(code));
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
