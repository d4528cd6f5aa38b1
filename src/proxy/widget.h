/* widget.h: the public browser chat widget, POST /widget/v1/{public_key}/chat (docs/API.md,
 * "Widget"). A web page embeds an agent's public widget key; a browser posts one user message
 * and gets the agent's answer. The key names the agent (and so the org); it is not a secret
 * credential, only unguessable, so everything a browser can do with it is bounded here:
 *
 *   - the widget must be enabled for the agent (disabled by default); an unknown key and a
 *     disabled widget get the same 404 WIDGET_DISABLED;
 *   - CORS: only an Origin listed in the agent's widget_origins is answered (exact match, never
 *     `*`); a request without an Origin, or with another one, is refused 403 ORIGIN_NOT_ALLOWED;
 *   - the body is {"conversation_id"?: "cnv_<16 hex>", "message": "..."} and nothing else; the
 *     gateway builds the upstream request itself (the agent's model, a bounded history from the
 *     transcripts, max_tokens from the config), so a browser never picks the model, the tools,
 *     the system prompt or the sampling parameters;
 *   - the call runs through the same governed pipeline as /v1/chat/completions (proxy_call.c):
 *     admission (per widget and per agent rate limits, budget), policy decision with route
 *     "widget", durable decision receipt before forwarding, outcome receipt, metering;
 *   - both messages are stored as transcripts of the org (the user message before anything is
 *     forwarded, the answer before it is returned: what the org cannot review is not sent).
 *
 * Everything here runs on the request's worker thread. The parsers and CORS checks are pure
 * functions (unit-tested and fuzzable); the cache is per worker. */
#ifndef BW_PROXY_WIDGET_H
#define BW_PROXY_WIDGET_H

#include <stddef.h>
#include <stdint.h>

#include "store/identity.h"
#include "util/err.h"

#define BW_WIDGET_KEY_CHARS 47 /* "bwp_" + 43 base64url characters (32 random bytes) */
#define BW_WIDGET_CONVERSATION_PREFIX "cnv"
#define BW_WIDGET_MAX_ORIGIN 256 /* bytes of one Origin header value we consider */
#define BW_WIDGET_PRINCIPAL_PREFIX "widget:"

/* 1 if s (n bytes) has the shape of a widget key: "bwp_" + 43 base64url characters. Checked
 * before any store read, so malformed keys never reach the database. Not constant-time (the
 * key is public). */
int bw_widget_key_shape_ok(const char *s, size_t n) BW_MUST_CHECK;

/* Splits "/widget/v1/<key>/chat" into the key. On success copies the key (NUL-terminated) into
 * key[BW_WIDGET_KEY_SIZE] and returns 1; 0 if path is not of that form (any key shape: the
 * caller checks it with bw_widget_key_shape_ok so that a malformed key gets the same 404 as an
 * unknown one). */
int bw_widget_path_key(const char *path, char key[BW_WIDGET_KEY_SIZE]) BW_MUST_CHECK;

/* ---- request body ---- */

struct bw_widget_request {
    char conversation_id[BW_ID_SIZE]; /* "" = start a new conversation */
    char *message;                    /* heap, NUL-terminated, valid UTF-8 without NUL */
    size_t message_len;
};

/* Parses a widget body: one JSON object (duplicate keys rejected, depth at most 2) with exactly
 * the members "message" (a string of 1..max_message_bytes bytes of valid UTF-8, no NUL) and
 * optionally "conversation_id" ("cnv_" + 16 lowercase hex). On success *out is filled (the
 * caller frees with bw_widget_request_cleanup). On failure *reason is the reason code to answer
 * and why a fixed-text explanation (no input bytes echoed). Errors: BW_E_INVALID (INVALID_JSON:
 * syntax, bad UTF-8, duplicate key; INVALID_REQUEST: unknown member, wrong type, nesting, empty
 * message, malformed conversation id), BW_E_TOO_LARGE (BODY_TOO_LARGE: message over
 * max_message_bytes, or the body over bw_widget_max_body(max_message_bytes)), BW_E_NOMEM. */
bw_err bw_widget_request_parse(const uint8_t *body, size_t len, size_t max_message_bytes,
                               struct bw_widget_request *out, const char **reason, char *why,
                               size_t why_size) BW_MUST_CHECK;
void bw_widget_request_cleanup(struct bw_widget_request *r);

/* The largest body accepted for a message cap: every byte may be a 6-byte \uXXXX escape, plus
 * the member names and a conversation id. */
size_t bw_widget_max_body(size_t max_message_bytes);

/* 1 if s (n bytes) is valid UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). */
int bw_widget_utf8_ok(const char *s, size_t n) BW_MUST_CHECK;

/* ---- CORS ---- */

/* 1 if origin is listed in `allowed` (origins separated by spaces, compared exactly, byte for
 * byte: "https://shop.example" does not allow "https://shop.example:443" or
 * "http://shop.example"). NULL, empty, "null" (opaque origins) and values over
 * BW_WIDGET_MAX_ORIGIN bytes are never allowed. */
int bw_widget_origin_allowed(const char *allowed, const char *origin) BW_MUST_CHECK;

/* 1 if a preflight's Access-Control-Request-Method / -Headers ask for nothing but what the
 * widget needs: method POST, headers a comma-separated subset of {Content-Type} (any case,
 * optional whitespace; absent or empty = none). */
int bw_widget_preflight_ok(const char *method, const char *headers) BW_MUST_CHECK;

/* ---- per-worker cache of agents by widget key ----
 * Successful lookups (enabled or not: the caller checks) are reused for at most ttl_ms; every
 * entry is dropped at once when bw_auth_cache_invalidate_all() is called in this process (any
 * key or agent change). Not thread-safe: one per worker. */
struct bw_widget_cache;
bw_err bw_widget_cache_new(size_t slots, int64_t ttl_ms,
                           struct bw_widget_cache **out) BW_MUST_CHECK;
void bw_widget_cache_free(struct bw_widget_cache *c); /* NULL is a no-op */

/* The agent whose widget key is `key` (shape already checked), from the cache or the store.
 * Errors: BW_E_NOT_FOUND (no such key), BW_E_UNAVAILABLE (store failure: deny). */
bw_err bw_widget_lookup(struct bw_widget_cache *c, struct bw_store *s, const char *key,
                        int64_t now_ms, struct bw_agent_record *out) BW_MUST_CHECK;

/* bw_widget_lookup in two halves, for a caller that reads the store elsewhere (a store job):
 * bw_widget_cached answers 1 (*out) from a fresh entry, else 0; then, with the generation
 * (bw_auth_cache_generation) read BEFORE bw_store_agent_by_widget_key ran, bw_widget_fetched
 * checks that read's result (err, a), caches it on the cache's thread and answers as
 * bw_widget_lookup. */
int bw_widget_cached(struct bw_widget_cache *c, const char *key, int64_t now_ms,
                     struct bw_agent_record *out);
bw_err bw_widget_fetched(struct bw_widget_cache *c, const char *key, bw_err err,
                         const struct bw_agent_record *a, unsigned long generation, int64_t now_ms,
                         struct bw_agent_record *out) BW_MUST_CHECK;

/* ---- the endpoint ---- */

struct bw_gw_worker;
struct evhttp_request;

/* Handles a request whose path starts with "/widget/": OPTIONS (preflight) and POST on
 * /widget/v1/{key}/chat; every other path 404, other methods 405. Always replies (now or when
 * the governed call ends).
 * Frees req (it always replies, now or later). */
void bw_widget_handle(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);

#endif
