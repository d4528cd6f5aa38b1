/* sso_idtoken.c: the ID token checks of OpenID Connect Core 1.0 section 3.1.3.7, on top of
 * src/oauth/'s JWS verification (the same alg allow-list, key handling and signature code as
 * the MCP resource server: one JWT verifier in the tree). */
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <string.h>

#include "reason/reasons.h"
#include "sso/sso.h"
#include "util/text.h"

#define AUD_MAX 32 /* elements of an `aud` array looked at */

/* A NumericDate (RFC 7519 2): a finite JSON number. */
static int numeric_date(const json_t *v, double *out) {
    if (!json_is_number(v))
        return 0;
    double d = json_number_value(v);
    if (!isfinite(d))
        return 0;
    *out = d;
    return 1;
}

/* 3.1.3.7 items 9 and 10: exp in the future; iat present, not in the future and recent (an
 * old token replayed from elsewhere is refused even within its exp). nbf honoured if present. */
static enum bw_sso_check check_times(const json_t *pl, time_t now, long leeway) {
    double e, t;
    double n = (double)now, l = (double)leeway;
    if (!numeric_date(json_object_get(pl, "exp"), &e) || n > e + l)
        return BW_SSO_EXPIRED;
    if (!numeric_date(json_object_get(pl, "iat"), &t))
        return BW_SSO_EXPIRED;
    if (t > n + l)
        return BW_SSO_NOT_YET_VALID;
    if (t < n - (double)BW_SSO_IAT_MAX_AGE_S - l)
        return BW_SSO_EXPIRED;
    json_t *nbf = json_object_get(pl, "nbf");
    if (nbf && (!numeric_date(nbf, &t) || t > n + l))
        return BW_SSO_NOT_YET_VALID;
    return BW_SSO_OK;
}

/* Items 3 and 4/5: aud contains client_id; with several audiences, azp must be present; azp,
 * when present, must be our client id. */
static enum bw_sso_check check_audience(const json_t *pl, const char *client_id) {
    const json_t *aud = json_object_get(pl, "aud");
    int found = 0;
    size_t n = 1;
    if (json_is_string(aud)) {
        found = strcmp(json_string_value(aud), client_id) == 0;
    } else if (json_is_array(aud)) {
        n = json_array_size(aud);
        for (size_t i = 0; i < n && i < AUD_MAX; i++) {
            const char *s = json_string_value(json_array_get(aud, i));
            if (s && strcmp(s, client_id) == 0)
                found = 1;
        }
    }
    if (!found)
        return BW_SSO_AUDIENCE;
    const json_t *azp = json_object_get(pl, "azp");
    if (azp && (!json_is_string(azp) || strcmp(json_string_value(azp), client_id) != 0))
        return BW_SSO_AUDIENCE;
    if (n > 1 && !azp)
        return BW_SSO_AUDIENCE;
    return BW_SSO_OK;
}

/* A claim used as an identifier: a string of 1..255 printable ASCII bytes other than '"' and
 * '\\' (it lands in logs, receipts and store rows), with no NUL inside. */
static int id_claim(const json_t *pl, const char *name, char out[BW_SSO_VALUE_MAX]) {
    const json_t *v = json_object_get(pl, name);
    const char *s = json_string_value(v);
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n >= BW_SSO_VALUE_MAX || n != json_string_length(v) ||
        !bw_text_visible_unquoted(s, n))
        return 0;
    memcpy(out, s, n + 1);
    return 1;
}

/* Item 11: the nonce is the one this sign-in sent (constant time over equal lengths). */
static int nonce_ok(const json_t *pl, const char *want) {
    const json_t *v = json_object_get(pl, "nonce");
    const char *s = json_string_value(v);
    size_t n = want ? strlen(want) : 0;
    if (!s || n == 0 || json_string_length(v) != n || strlen(s) != n)
        return 0;
    return sodium_memcmp(s, want, n) == 0;
}

static enum bw_sso_check check_claims(const json_t *pl, const struct bw_sso_expect *x, time_t now,
                                      struct bw_sso_identity *id) {
    const char *iss = json_string_value(json_object_get(pl, "iss"));
    if (!iss || strcmp(iss, x->issuer) != 0)
        return BW_SSO_ISSUER;
    enum bw_sso_check r = check_audience(pl, x->client_id);
    if (r != BW_SSO_OK)
        return r;
    if ((r = check_times(pl, now, x->leeway_s)) != BW_SSO_OK)
        return r;
    if (!nonce_ok(pl, x->nonce))
        return BW_SSO_NONCE;
    if (!id_claim(pl, "sub", id->sub))
        return BW_SSO_CLAIM;
    if (json_object_get(pl, "email") && !id_claim(pl, "email", id->email))
        id->email[0] = 0; /* an odd email is ignored unless it is the mapping claim */
    if (x->claim == BW_SSO_BY_SUB) {
        memcpy(id->value, id->sub, sizeof id->value);
        return BW_SSO_OK;
    }
    if (!id->email[0] || !strchr(id->email, '@'))
        return BW_SSO_CLAIM;
    /* OIDC Core 5.1: an unverified address proves nothing about who signed in. Only JSON true
     * counts (not "true", not 1). */
    if (!json_is_true(json_object_get(pl, "email_verified")))
        return BW_SSO_EMAIL_UNVERIFIED;
    memcpy(id->value, id->email, sizeof id->value);
    return BW_SSO_OK;
}

static enum bw_sso_check of_oauth(enum bw_oauth_result r) {
    switch (r) {
    case BW_OAUTH_OK:
        return BW_SSO_OK;
    case BW_OAUTH_NO_KEYS:
        return BW_SSO_NO_KEYS;
    default:
        return BW_SSO_TOKEN_INVALID;
    }
}

enum bw_sso_check bw_sso_idtoken_check(const struct bw_oauth_jwks *keys,
                                       const struct bw_sso_expect *x, const char *token, size_t len,
                                       time_t now, struct bw_sso_identity *out) {
    if (!x || !x->issuer || !x->client_id || !x->nonce || !x->nonce[0])
        return BW_SSO_TOKEN_INVALID;
    if (x->claim != BW_SSO_BY_EMAIL && x->claim != BW_SSO_BY_SUB)
        return BW_SSO_TOKEN_INVALID;
    void *payload = NULL;
    enum bw_sso_check r = of_oauth(bw_oauth_verify_jws(keys, token, len, &payload, NULL));
    if (r != BW_SSO_OK)
        return r;
    struct bw_sso_identity id;
    memset(&id, 0, sizeof id);
    r = json_is_object((json_t *)payload) ? check_claims(payload, x, now, &id)
                                          : BW_SSO_TOKEN_INVALID;
    json_decref(payload);
    if (r == BW_SSO_OK)
        *out = id;
    return r;
}

const char *bw_sso_check_name(enum bw_sso_check r) {
    switch (r) {
    case BW_SSO_OK:
        return "ok";
    case BW_SSO_TOKEN_INVALID:
        return "token_invalid";
    case BW_SSO_NO_KEYS:
        return "no_keys";
    case BW_SSO_ISSUER:
        return "issuer";
    case BW_SSO_AUDIENCE:
        return "audience";
    case BW_SSO_EXPIRED:
        return "expired";
    case BW_SSO_NOT_YET_VALID:
        return "not_yet_valid";
    case BW_SSO_NONCE:
        return "nonce";
    case BW_SSO_CLAIM:
        return "claim";
    case BW_SSO_EMAIL_UNVERIFIED:
        return "email_unverified";
    default:
        return "unknown";
    }
}

const char *bw_sso_check_reason(enum bw_sso_check r) {
    switch (r) {
    case BW_SSO_NO_KEYS:
        return BW_R_SSO_IDP_UNAVAILABLE;
    case BW_SSO_NONCE:
        return BW_R_SSO_NONCE_MISMATCH;
    case BW_SSO_EMAIL_UNVERIFIED:
        return BW_R_SSO_EMAIL_UNVERIFIED;
    case BW_SSO_OK:
    default:
        return BW_R_SSO_TOKEN_INVALID;
    }
}
