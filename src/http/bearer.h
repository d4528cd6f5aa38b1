/* bearer.h: the one parser of Bearer credentials (RFC 6750 2.1, RFC 9110 11.6.2).
 *
 *   credentials = "Bearer" SP token68      ; the scheme in any case, exactly one SP
 *   token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 *
 * Nothing may come before the scheme or after the token (evhttp has already removed the OWS
 * around the field value; the strict framing, framing.h, refused NUL and other controls). Every
 * reader of an Authorization: Bearer header goes through it, so "Bearer KEY junk",
 * "Bearer  KEY" or "Basic ..." are refused the same way everywhere.
 * Pure, thread-safe, constant work per byte; reads at most max_token + 8 bytes of value. */
#ifndef BW_HTTP_BEARER_H
#define BW_HTTP_BEARER_H

#include <stddef.h>

#include "util/err.h"

/* On success *token points into value (borrowed) and *token_len is its length (<= max_token).
 * Errors: BW_E_UNAUTH (NULL, wrong scheme, malformed, longer than max_token). */
bw_err bw_http_bearer_parse(const char *value, size_t max_token, const char **token,
                            size_t *token_len) BW_MUST_CHECK;

#endif
