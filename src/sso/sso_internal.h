/* sso_internal.h: shared inside src/sso/ only. */
#ifndef BW_SSO_SSO_INTERNAL_H
#define BW_SSO_SSO_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "egress/egress.h"
#include "sso/sso.h"
#include "store/sso.h"
#include "util/buf.h"

#define SSO_URL_MAX 2048        /* an endpoint named by discovery, with its NUL */
#define SSO_DOC_MAX (64 * 1024) /* a discovery document or a token response */
#define SSO_FETCH_CONNECT_MS 5000
#define SSO_FETCH_TOTAL_MS 10000
#define SSO_TOKEN_SIZE 44 /* 32 random bytes in base64url (43) with its NUL */
#define SSO_STATE_TTL_MS (10 * 60 * 1000)
#define SSO_STATE_MAX 4096 /* sign-ins in flight, every org together */
#define SSO_COOKIE "bw_sso"

/* What discovery says (OpenID Connect Discovery 1.0, 3). */
struct sso_meta {
    char authorization_endpoint[SSO_URL_MAX];
    char token_endpoint[SSO_URL_MAX];
    char jwks_uri[SSO_URL_MAX];
    int auth_post; /* 1: client_secret_post (basic not offered); 0: client_secret_basic */
    int iss_param; /* RFC 9207: the IdP puts `iss` in its authorization responses */
};

/* ---- fetching through the egress guard (sso_fetch.c); BLOCKS: check threads only ---- */

/* Where a sign-in's requests go out: the operator's egress policy, and the gateway's stopping
 * flag (set on SIGTERM: a transfer in progress is aborted, none is started). Borrowed. */
struct sso_net {
    const struct bw_egress_policy *policy;
    const atomic_int *stop;
};

/* GET url (form NULL) or POST form (application/x-www-form-urlencoded) with an optional
 * Authorization header value `auth` (wiped from libcurl's copy after the transfer). The URL must
 * pass bw_sso_issuer_ok's scheme rule and the egress guard (DNS now, every address again at
 * connect time); no redirect is followed. On BW_OK *status is the HTTP status and body holds
 * at most SSO_DOC_MAX bytes. Errors: BW_E_DENIED (the guard refused; why says why, never the
 * URL's path), BW_E_UNAVAILABLE (network, timeout, over the cap). */
bw_err sso_fetch(const struct sso_net *p, const char *url, const char *form, size_t form_len,
                 const char *auth, struct bw_buf *body, long *status, char *why,
                 size_t why_size) BW_MUST_CHECK;

/* application/x-www-form-urlencoded escaping of in (RFC 3986 unreserved kept). Returns the
 * length written (NUL added), or -1 if out is too small. */
long sso_form_escape(const char *in, char *out, size_t size);

/* 32 random bytes as base64url (43 characters and NUL). */
void sso_random_token(char out[SSO_TOKEN_SIZE]);
/* PKCE S256 (RFC 7636 4.2): BASE64URL(SHA256(ASCII(verifier))). */
void sso_pkce_challenge(const char *verifier, char out[SSO_TOKEN_SIZE]);

/* ---- the identity provider (sso_idp.c); BLOCKS: check threads only ---- */

/* Discovery: GET ISSUER/.well-known/openid-configuration; its `issuer` must equal ours exactly
 * (Discovery 4.3) and every endpoint must pass the issuer URL rule. */
bw_err sso_discover(const struct sso_net *p, const char *issuer, struct sso_meta *out, char *why,
                    size_t why_size) BW_MUST_CHECK;

/* The code exchange (RFC 6749 4.1.3, RFC 7636 4.5) and the ID token's verification against the
 * JWKS fetched now. On BW_OK *id names the person. Errors: BW_E_DENIED (the IdP refused the
 * code: *check stays BW_SSO_OK), BW_E_INVALID (the ID token failed: *check says how),
 * BW_E_UNAVAILABLE (a fetch failed). */
struct sso_exchange {
    const char *issuer, *client_id, *secret, *code, *verifier, *redirect_uri, *nonce;
    enum bw_sso_claim claim;
};
bw_err sso_redeem(const struct sso_net *p, const struct sso_meta *m, const struct sso_exchange *x,
                  struct bw_sso_identity *id, enum bw_sso_check *check, char *why,
                  size_t why_size) BW_MUST_CHECK;

/* ---- sign-ins in flight (sso_state.c): thread-safe, process-local ---- */

struct sso_pending {
    char state[SSO_TOKEN_SIZE];
    char browser[SSO_TOKEN_SIZE]; /* the cookie value this state is bound to */
    char nonce[SSO_TOKEN_SIZE];
    char verifier[SSO_TOKEN_SIZE];
    char org_id[BW_ID_SIZE];
    char redirect_uri[600];
    int64_t expires_ms;
};

/* Remembers p (evicting expired entries, then the oldest when SSO_STATE_MAX are in flight). */
bw_err sso_state_put(const struct sso_pending *p) BW_MUST_CHECK;
/* Takes the entry for state: it is removed whatever the outcome (single use). BW_OK and *out
 * filled only if it exists, is unexpired at now_ms, and browser equals its cookie (constant
 * time); else BW_E_NOT_FOUND. */
bw_err sso_state_take(const char *state, const char *browser, int64_t now_ms,
                      struct sso_pending *out) BW_MUST_CHECK;

#endif
