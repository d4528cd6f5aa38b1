/* json.h: bounded JSON decoding on top of jansson.
 *
 * Every request body goes through bw_json_parse: duplicate keys are rejected
 * (JSON_REJECT_DUPLICATES), nesting deeper than max_depth is rejected, and the input must be a
 * single JSON object. Thread-safe (jansson is, for separate values). */
#ifndef BW_UTIL_JSON_H
#define BW_UTIL_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* Parses `len` bytes. On success *out owns a new reference to an object. On failure writes a
 * short reason (no input bytes echoed beyond jansson's position info) into why. Errors:
 * BW_E_INVALID (syntax, duplicates, not an object, invalid UTF-8), BW_E_TOO_LARGE (depth). */
bw_err bw_json_parse(const char *p, size_t len, size_t max_depth, json_t **out, char *why,
                     size_t why_size) BW_MUST_CHECK;

/* Depth of a decoded value: scalars 0, {} or [] 1, nested containers more. Stops early once
 * past `limit` and returns limit + 1. */
size_t bw_json_depth(const json_t *v, size_t limit);

/* Returns the string member `key` of object `o`, or NULL if missing or not a string. */
const char *bw_json_str(const json_t *o, const char *key);

#endif
