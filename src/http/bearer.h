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

/* ---- building our own credentials (to an upstream) ----
 * A secret goes out as "Bearer <secret>" in a header line: it must be 1..max bytes of visible
 * ASCII (0x21..0x7e), since anything else would break the line or inject another header. The
 * results live in sodium_malloc'd memory (guarded, wiped by sodium_free): the caller frees
 * them with sodium_free. */
#define BW_HTTP_BEARER_SECRET_MAX 1024 /* the longest secret the gateway sends */

/* *out = "Bearer " + secret[0..len). Errors: BW_E_INVALID (empty, over max, not visible
 * ASCII), BW_E_NOMEM. */
bw_err bw_http_bearer_build(const unsigned char *secret, size_t len, size_t max,
                            char **out) BW_MUST_CHECK;

/* The same from a secret reference, read once at start: the environment variable `name`, or
 * the file at `path` (a regular file, not a symlink, no group or other permission bits; one
 * trailing CR/LF is trimmed). On failure *why is a fixed text that names no secret.
 * Errors: BW_E_NOT_FOUND (variable unset or empty), BW_E_INVALID (file refused, secret
 * refused), BW_E_NOMEM. */
bw_err bw_http_bearer_from_env(const char *name, size_t max, char **out,
                               const char **why) BW_MUST_CHECK;
bw_err bw_http_bearer_from_file(const char *path, size_t max, char **out,
                                const char **why) BW_MUST_CHECK;

#endif
