/* sso.h: OpenID Connect single sign-on to the console, one identity provider per org
 * (docs/CONSOLE.md "Single sign-on (OpenID Connect)"; docs/API.md "/api/v1/sso").
 *
 *   GET /console/sso/start?org=ORG   discovery (through the egress guard, on a check thread),
 *                                    then 302 to the IdP's authorization endpoint: code flow,
 *                                    PKCE S256, a fresh `state` and `nonce` bound to a
 *                                    browser cookie (single use, short expiry).
 *   GET /console/sso/callback        state taken once and checked against the cookie; on a check
 *                                    thread: the client secret opened from the vault, the code
 *                                    exchanged at the token endpoint, the JWKS fetched (both
 *                                    through the egress guard) and the ID token verified
 *                                    (bw_sso_idtoken_check); back on the worker: the person
 *                                    mapped to a member by the org's claim, a console session
 *                                    issued for that member, 302 to /console/.
 * Every refusal is an error page (or JSON) with a reason code; no token, code, secret or
 * cookie value is ever logged or shown. */
#ifndef BW_SSO_SSO_H
#define BW_SSO_SSO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "oauth/oauth.h"
#include "util/err.h"

struct bw_api_ctx;
struct bw_config;
struct evhttp_request;

#define BW_SSO_VALUE_MAX 256     /* sub / email / nonce, with NUL */
#define BW_SSO_LEEWAY_S 60       /* clock skew allowed on exp, iat, nbf */
#define BW_SSO_IAT_MAX_AGE_S 600 /* an ID token issued longer ago than this is refused */

/* ---- ID token checks (sso_idtoken.c): pure, no I/O, thread-safe ---- */

enum bw_sso_check {
    BW_SSO_OK = 0,
    BW_SSO_TOKEN_INVALID,   /* malformed, JWE, alg none/HS* or not allowed, key mismatch, bad
                               signature, unknown kid */
    BW_SSO_NO_KEYS,         /* the JWKS had no usable key */
    BW_SSO_ISSUER,          /* iss missing or not exactly the configured issuer */
    BW_SSO_AUDIENCE,        /* aud does not contain client_id, or azp is another client */
    BW_SSO_EXPIRED,         /* exp missing or past; iat missing or too old */
    BW_SSO_NOT_YET_VALID,   /* iat or nbf in the future */
    BW_SSO_NONCE,           /* nonce missing or not the one this sign-in sent */
    BW_SSO_CLAIM,           /* sub (or email for claim email) missing, not a string, bad chars */
    BW_SSO_EMAIL_UNVERIFIED /* claim email and email_verified is not JSON true */
};

enum bw_sso_claim { BW_SSO_BY_EMAIL = 1, BW_SSO_BY_SUB };

/* What the ID token must satisfy (OpenID Connect Core 1.0, 3.1.3.7). Strings borrowed. */
struct bw_sso_expect {
    const char *issuer;    /* exact match of `iss` */
    const char *client_id; /* must be in `aud`; `azp`, when present, must equal it */
    const char *nonce;     /* exact match of `nonce` (compared in constant time) */
    enum bw_sso_claim claim;
    long leeway_s;
};

/* Who the token names. `value` is what the member is looked up by: the email (claim email) or
 * the subject (claim sub). All printable ASCII without '"' or '\\', 1..255 bytes. */
struct bw_sso_identity {
    char sub[BW_SSO_VALUE_MAX];
    char email[BW_SSO_VALUE_MAX]; /* "" when absent (claim sub) */
    char value[BW_SSO_VALUE_MAX];
};

/* Verifies one compact-JWS ID token of len bytes against keys (signature through
 * bw_oauth_verify_jws: RS256, PS256, ES256, EdDSA; none and HS* refused) and x, at time now.
 * On BW_SSO_OK fills *out; untouched otherwise. */
enum bw_sso_check bw_sso_idtoken_check(const struct bw_oauth_jwks *keys,
                                       const struct bw_sso_expect *x, const char *token, size_t len,
                                       time_t now, struct bw_sso_identity *out) BW_MUST_CHECK;
/* A stable lowercase name ("audience", "nonce", ...) for logs and error details. */
const char *bw_sso_check_name(enum bw_sso_check r);
/* The reason code (reason/reasons.h) a refusal is answered with. */
const char *bw_sso_check_reason(enum bw_sso_check r);

/* ---- URLs (sso_url.c) ---- */

/* 1 if url is an acceptable issuer identifier: https, or http only for a loopback host
 * literal (127.0.0.0/8, [::1]); no userinfo, query or fragment; at most 511 bytes. Else 0
 * with why (never echoing the URL's path). */
int bw_sso_issuer_ok(const char *url, char *why, size_t why_size);

/* The redirect URI: ORIGIN "/console/sso/callback", where ORIGIN is sso.public_url, else
 * mcp.oauth.public_url, else (for a gateway reached on loopback only) derived from the
 * request's Host header when it names a loopback address (scheme https under TLS). 1 and out
 * filled, or 0 when no origin can be had safely (configure sso.public_url). */
int bw_sso_redirect_uri(const struct bw_config *c, struct evhttp_request *req, char *out,
                        size_t size);

/* ---- the browser flow (sso_flow.c) ---- */

/* Handles a request whose path starts with /console/sso/ (start, callback). Always replies. */
void bw_sso_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *path);
/* The same as a gateway route (gateway.h bw_gateway_handler; cli/cli_routes.c). */
struct bw_gw_worker;
void bw_sso_route(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);

#endif
