/* oauth.h: the MCP gateway's OAuth 2.1 resource server (docs/MCP.md "OAuth").
 *
 * Three layers, each usable alone:
 *   keys      bw_oauth_jwks_parse: a JWK Set (RFC 7517) into immutable OpenSSL public keys.
 *   tokens    bw_oauth_verify_jwt: one compact-JWS access token (RFC 7515/7519, RFC 9068
 *             profile) checked against a key set and the configured claims. Pure: no I/O,
 *             no clock (the caller passes `now`), safe on an event worker.
 *   service   bw_oauth_new/start/verify/free: the configured verifier. It owns the current key
 *             set and, for jwks_url, a background refresher thread that fetches through the
 *             egress guard (bounded size and time, cache TTL, an unknown `kid` refetch at most
 *             once per jwks_min_refetch_s). bw_oauth_verify never does network I/O.
 *   metadata  bw_oauth_prm_json and bw_oauth_www_authenticate: RFC 9728 Protected Resource
 *             Metadata and the RFC 6750 section 3 challenge.
 *
 * Never accepted: `alg` none or HS* (a public key is no HMAC secret), JWE (5 parts), `crit`,
 * base64url with padding or whitespace, duplicate JSON keys, an `alg` that does not match the
 * selected JWK's kty/crv/alg, a kid-less token when the set has more than one key. Errors and
 * `why` strings never contain token bytes. */
#ifndef BW_OAUTH_OAUTH_H
#define BW_OAUTH_OAUTH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "util/err.h"

#define BW_OAUTH_TOKEN_MAX 8192              /* a longer bearer token is refused */
#define BW_OAUTH_JWKS_MAX_BYTES (256 * 1024) /* a JWK Set document (fetched or file) */
#define BW_OAUTH_JWKS_KEYS_MAX 32            /* usable keys kept from one set */
#define BW_OAUTH_ID_MAX 256                  /* org and principal claim values, with NUL */
#define BW_OAUTH_WHY_SIZE 160

/* The outcome of one verification. Each refusal has its own value so callers (and tests) can
 * tell the attacks apart; the HTTP mapping is bw_oauth_result_status. */
enum bw_oauth_result {
    BW_OAUTH_OK = 0,
    BW_OAUTH_MALFORMED,         /* not three base64url parts, bad JSON, duplicate keys, crit */
    BW_OAUTH_TOO_LARGE,         /* token over BW_OAUTH_TOKEN_MAX */
    BW_OAUTH_JWE,               /* five parts or `enc`: encrypted tokens are not accepted */
    BW_OAUTH_ALG,               /* alg not in {RS256, PS256, ES256, EdDSA} (none, HS256, ...) */
    BW_OAUTH_KEY_MISMATCH,      /* alg does not fit the JWK's kty/crv/alg */
    BW_OAUTH_KID_UNKNOWN,       /* no key with that kid (or no kid and not exactly one key) */
    BW_OAUTH_NO_KEYS,           /* no key set loaded yet (JWKS unreachable): 503 */
    BW_OAUTH_SIGNATURE,         /* the signature does not verify */
    BW_OAUTH_ISSUER,            /* iss missing or not exactly the configured issuer */
    BW_OAUTH_EXPIRED,           /* exp missing, or past (with leeway) */
    BW_OAUTH_NOT_YET_VALID,     /* nbf or iat in the future (with leeway) */
    BW_OAUTH_AUDIENCE,          /* aud does not contain the expected audience */
    BW_OAUTH_CLAIM,             /* org or principal claim missing, not a string, too long, bad
                                   characters */
    BW_OAUTH_INSUFFICIENT_SCOPE /* valid token without every required scope: 403 */
};

/* A stable lowercase name for logs and tests ("alg", "kid_unknown", ...). */
const char *bw_oauth_result_name(enum bw_oauth_result r);
/* 401 for token refusals, 403 for insufficient scope, 503 for no keys, 200 for OK. */
int bw_oauth_result_status(enum bw_oauth_result r) BW_MUST_CHECK;

/* An immutable set of public keys (RSA >= 2048 bits, EC P-256, OKP Ed25519). Keys of other
 * types (oct among them), or with `use` other than "sig", are skipped. Reference-counted so a
 * refresh can replace the set while verifications hold the old one. */
struct bw_oauth_jwks;

/* Parses a JWK Set (`{"keys":[...]}`, duplicate JSON keys refused). Private key members (d, p,
 * q, ...) make the whole set invalid: a key set with secrets in it is a configuration mistake.
 * On success *out owns a set with one reference (it may hold zero usable keys). Errors:
 * BW_E_INVALID (why says which key), BW_E_TOO_LARGE (over BW_OAUTH_JWKS_MAX_BYTES), BW_E_NOMEM. */
bw_err bw_oauth_jwks_parse(const char *json, size_t len, struct bw_oauth_jwks **out, char *why,
                           size_t why_size) BW_MUST_CHECK;
size_t bw_oauth_jwks_count(const struct bw_oauth_jwks *s);
/* 1 if the set has a key with this kid. */
int bw_oauth_jwks_has_kid(const struct bw_oauth_jwks *s, const char *kid) BW_MUST_CHECK;
void bw_oauth_jwks_ref(struct bw_oauth_jwks *s);
void bw_oauth_jwks_unref(struct bw_oauth_jwks *s); /* NULL is a no-op */

/* What a token must satisfy. All strings borrowed. */
struct bw_oauth_params {
    const char *issuer;          /* exact match of `iss` */
    const char *audience;        /* must be `aud` or one of its elements */
    const char *scopes;          /* required scopes, space-separated; "" or NULL = none */
    const char *org_claim;       /* claim naming the org */
    const char *principal_claim; /* claim naming the principal */
    long leeway_s;               /* clock skew allowed on exp, nbf, iat */
};

/* What a valid token says. */
struct bw_oauth_claims {
    char org[BW_OAUTH_ID_MAX];
    char principal[BW_OAUTH_ID_MAX];
    int64_t exp;
};

/* Verifies one compact JWS token of `len` bytes (not NUL-terminated necessarily). On
 * BW_OAUTH_OK fills *out; `out` is untouched otherwise. `unknown_kid`, if not NULL, is set to
 * 1 when the token named a kid the set does not have (the caller may ask for a refetch).
 * Scopes: the `scope` claim (RFC 9068 2.2.3, space-separated string); when it is absent, `scp`
 * (a string or an array of strings, as some IdPs send). Thread-safe. */
enum bw_oauth_result bw_oauth_verify_jwt(const struct bw_oauth_jwks *keys,
                                         const struct bw_oauth_params *p, const char *token,
                                         size_t len, time_t now, struct bw_oauth_claims *out,
                                         int *unknown_kid) BW_MUST_CHECK;

/* The signature half of bw_oauth_verify_jwt for other JWT profiles (OpenID Connect ID tokens,
 * src/sso/): the same header rules (alg allow-list, no none/HS*, no JWE or crit, kid against
 * the set, key/alg fit) and signature check, but no claim is looked at. On BW_OAUTH_OK
 * *payload is the verified claims object (a json_t *, duplicate keys refused; the caller
 * decrefs); untouched otherwise. Pure and thread-safe. */
enum bw_oauth_result bw_oauth_verify_jws(const struct bw_oauth_jwks *keys, const char *token,
                                         size_t len, void **payload,
                                         int *unknown_kid) BW_MUST_CHECK;

/* The configured service. */
struct bw_oauth;

/* Builds the verifier from c->mcp_oauth_* (c must have mcp_oauth set; borrowed only during the
 * call). jwks_file is read now (bounded); jwks_url is only checked here and fetched by the
 * refresher started with bw_oauth_start. Errors: BW_E_INVALID / BW_E_TOO_LARGE (why says),
 * BW_E_NOMEM. */
bw_err bw_oauth_new(const struct bw_config *c, struct bw_oauth **out, char *why,
                    size_t why_size) BW_MUST_CHECK;
/* Starts the refresher thread for jwks_url (no-op for jwks_file). The first fetch happens on
 * that thread; until it succeeds bw_oauth_verify answers BW_OAUTH_NO_KEYS. */
bw_err bw_oauth_start(struct bw_oauth *o) BW_MUST_CHECK;
/* Stops and joins the refresher (bounded by the fetch timeout), frees everything. NULL: no-op. */
void bw_oauth_free(struct bw_oauth *o);

/* Verifies a bearer token for MCP server `server` (the expected audience is mcp.oauth.audience
 * or, when unset, public_url + "/mcp/" + server). Never blocks on I/O: an unknown kid only
 * wakes the refresher (which refetches at most once per jwks_min_refetch_s). Thread-safe. */
enum bw_oauth_result bw_oauth_verify(struct bw_oauth *o, const char *server, const char *token,
                                     size_t len, struct bw_oauth_claims *out) BW_MUST_CHECK;

/* Number of JWKS fetches attempted so far (for tests and metrics). */
uint64_t bw_oauth_fetch_count(struct bw_oauth *o);

/* RFC 9728 section 3.2: the metadata document for MCP server `server` (which the caller has
 * checked is configured): {resource, authorization_servers:[issuer], scopes_supported,
 * bearer_methods_supported:["header"]}. *out is malloc'd, NUL-terminated; the caller frees.
 * Errors: BW_E_NOMEM, BW_E_INVALID (no mcp.oauth). */
bw_err bw_oauth_prm_json(const struct bw_config *c, const char *server, char **out,
                         size_t *out_len) BW_MUST_CHECK;

/* The value of the WWW-Authenticate header for a refusal on MCP server `server` (RFC 6750
 * section 3; RFC 9728 section 5.1): `Bearer resource_metadata="...", scope="..."`, with
 * `error="invalid_token"` for a token refusal and `error="insufficient_scope"` for that one
 * (r = BW_OAUTH_OK means "no credentials were sent": no error attribute). Errors:
 * BW_E_TOO_LARGE (out too small). */
bw_err bw_oauth_www_authenticate(const struct bw_config *c, const char *server,
                                 enum bw_oauth_result r, char *out, size_t out_size) BW_MUST_CHECK;

/* The canonical URL of MCP server `server`: public_url + "/mcp/" + server. */
bw_err bw_oauth_resource_url(const struct bw_config *c, const char *server, char *out,
                             size_t out_size) BW_MUST_CHECK;

#endif
