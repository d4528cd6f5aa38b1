/* oauth_jwt.c: one JWT access token (RFC 7519) in compact JWS form (RFC 7515 7.1), checked the
 * way RFC 9068 4 asks, with the algorithm decided by our allow-list and the key, never by the
 * token alone (RFC 8725 3.1, 3.2). */
#include <math.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <string.h>
#include <strings.h>

#include "oauth/oauth_internal.h"
#include "util/json.h"
#include "util/text.h"

#define SEG_MAX (BW_OAUTH_TOKEN_MAX * 3 / 4 + 4)
#define AUD_MAX 32 /* elements of an `aud` array looked at */

enum jws_alg { ALG_RS256 = 1, ALG_PS256, ALG_ES256, ALG_EDDSA };

static enum jws_alg alg_of(const char *s) {
    if (strcmp(s, "RS256") == 0)
        return ALG_RS256;
    if (strcmp(s, "PS256") == 0)
        return ALG_PS256;
    if (strcmp(s, "ES256") == 0)
        return ALG_ES256;
    if (strcmp(s, "EdDSA") == 0)
        return ALG_EDDSA;
    return 0; /* none, HS*, RS384, ...: not on the list */
}

/* The JWK must be of the family the alg names, and its own alg (if any) must be the same. */
static int key_fits(const struct oauth_key *k, enum jws_alg a, const char *alg) {
    if (k->alg[0] && strcmp(k->alg, alg) != 0)
        return 0;
    switch (a) {
    case ALG_RS256:
    case ALG_PS256:
        return k->kty == KTY_RSA;
    case ALG_ES256:
        return k->kty == KTY_EC_P256;
    case ALG_EDDSA:
        return k->kty == KTY_ED25519;
    default:
        return 0;
    }
}

/* RFC 7518 3.4: ES256 signs as raw R || S (32 bytes each); OpenSSL verifies DER. */
static int es256_to_der(const uint8_t *sig, size_t len, uint8_t *der, size_t *der_len) {
    if (len != 64)
        return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    int ok = es && r && s && ECDSA_SIG_set0(es, r, s) == 1;
    if (ok)
        r = s = NULL; /* owned by es now */
    int n = ok ? i2d_ECDSA_SIG(es, NULL) : -1;
    ok = ok && n > 0 && (size_t)n <= *der_len;
    if (ok) {
        uint8_t *p = der;
        *der_len = (size_t)i2d_ECDSA_SIG(es, &p);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ok;
}

static int signature_ok(const struct oauth_key *k, enum jws_alg a, const uint8_t *msg,
                        size_t msg_len, const uint8_t *sig, size_t sig_len) {
    uint8_t der[80];
    size_t der_len = sizeof der;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = 0;
    if (!md)
        return 0;
    const EVP_MD *digest = a == ALG_EDDSA ? NULL : EVP_sha256();
    if (EVP_DigestVerifyInit(md, &pctx, digest, NULL, k->pkey) != 1)
        goto out;
    switch (a) {
    case ALG_RS256:
        if ((int)sig_len != EVP_PKEY_get_size(k->pkey) ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            goto out;
        break;
    case ALG_PS256: /* RFC 7518 3.5: MGF1 with SHA-256, salt as long as the hash */
        if ((int)sig_len != EVP_PKEY_get_size(k->pkey) ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
            goto out;
        break;
    case ALG_ES256:
        if (!es256_to_der(sig, sig_len, der, &der_len))
            goto out;
        sig = der;
        sig_len = der_len;
        break;
    case ALG_EDDSA:
        if (sig_len != 64)
            goto out;
        break;
    default:
        goto out;
    }
    ok = EVP_DigestVerify(md, sig, sig_len, msg, msg_len) == 1;
out:
    EVP_MD_CTX_free(md);
    return ok;
}

/* A segment's JSON object (duplicate keys refused by bw_json_parse). */
static enum bw_oauth_result segment_json(const char *seg, size_t len, uint8_t *scratch,
                                         json_t **out) {
    long n = bw_oauth_b64url_decode(seg, len, scratch, SEG_MAX);
    char why[96];
    if (n <= 0 || bw_json_parse((const char *)scratch, (size_t)n, 8, out, why, sizeof why) != BW_OK)
        return BW_OAUTH_MALFORMED;
    return BW_OAUTH_OK;
}

/* RFC 9068 2.1: typ "at+jwt"; plain "JWT" and none are common in the wild and the `aud` check
 * still keeps ID tokens (aud = client id) out. Anything else names another kind of JWT. */
static int typ_ok(const json_t *hdr) {
    json_t *t = json_object_get(hdr, "typ");
    if (!t)
        return 1;
    const char *s = json_string_value(t);
    return s && (strcasecmp(s, "at+jwt") == 0 || strcasecmp(s, "application/at+jwt") == 0 ||
                 strcasecmp(s, "JWT") == 0);
}

static enum bw_oauth_result pick_key(const struct bw_oauth_jwks *keys, const json_t *hdr,
                                     const struct oauth_key **out, int *unknown_kid) {
    json_t *kid = json_object_get(hdr, "kid");
    if (!keys || keys->n == 0)
        return BW_OAUTH_NO_KEYS;
    if (!kid) { /* only unambiguous with a single key */
        if (keys->n != 1)
            return BW_OAUTH_KID_UNKNOWN;
        *out = &keys->keys[0];
        return BW_OAUTH_OK;
    }
    const char *s = json_string_value(kid);
    if (!s || !*s || strlen(s) > 256)
        return BW_OAUTH_MALFORMED;
    for (size_t i = 0; i < keys->n; i++)
        if (strcmp(keys->keys[i].kid, s) == 0) {
            *out = &keys->keys[i];
            return BW_OAUTH_OK;
        }
    if (unknown_kid)
        *unknown_kid = 1;
    return BW_OAUTH_KID_UNKNOWN;
}

/* The protected header: JWS only, an allowed alg, a fitting key. */
static enum bw_oauth_result check_header(const struct bw_oauth_jwks *keys, const json_t *hdr,
                                         const struct oauth_key **key, enum jws_alg *alg,
                                         int *unknown_kid) {
    if (json_object_get(hdr, "enc"))
        return BW_OAUTH_JWE;
    /* RFC 7515 4.1.11: we understand no extension, so any `crit` must be refused. */
    if (json_object_get(hdr, "crit") || !typ_ok(hdr))
        return BW_OAUTH_MALFORMED;
    const char *alg_s = bw_json_str(hdr, "alg");
    if (!alg_s)
        return BW_OAUTH_MALFORMED;
    *alg = alg_of(alg_s);
    if (!*alg)
        return BW_OAUTH_ALG;
    enum bw_oauth_result r = pick_key(keys, hdr, key, unknown_kid);
    if (r != BW_OAUTH_OK)
        return r;
    return key_fits(*key, *alg, alg_s) ? BW_OAUTH_OK : BW_OAUTH_KEY_MISMATCH;
}

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

static enum bw_oauth_result check_times(const json_t *pl, time_t now, long leeway, int64_t *exp) {
    double e, t;
    if (!numeric_date(json_object_get(pl, "exp"), &e) || (double)now > e + (double)leeway)
        return BW_OAUTH_EXPIRED;
    json_t *nbf = json_object_get(pl, "nbf"), *iat = json_object_get(pl, "iat");
    if (nbf && (!numeric_date(nbf, &t) || t > (double)now + (double)leeway))
        return BW_OAUTH_NOT_YET_VALID;
    if (iat && (!numeric_date(iat, &t) || t > (double)now + (double)leeway))
        return BW_OAUTH_NOT_YET_VALID;
    /* A double past int64's range cannot be converted (undefined behaviour): clamp. */
    *exp = e >= 9.2e18 ? INT64_MAX : (int64_t)e;
    return BW_OAUTH_OK;
}

static int aud_ok(const json_t *aud, const char *want) {
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return 0;
    for (size_t i = 0; i < json_array_size(aud) && i < AUD_MAX; i++) {
        const char *s = json_string_value(json_array_get(aud, i));
        if (s && strcmp(s, want) == 0)
            return 1;
    }
    return 0;
}

/* An identifier claim: a string of 1..255 printable ASCII characters other than '"' and '\\'
 * (it lands in logs, receipts and store rows). */
static int id_claim(const json_t *pl, const char *name, char *out) {
    const char *s = bw_json_str(pl, name);
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n >= BW_OAUTH_ID_MAX || n != json_string_length(json_object_get(pl, name)))
        return 0;
    if (!bw_text_visible_unquoted(s, n))
        return 0;
    memcpy(out, s, n + 1);
    return 1;
}

/* Is `want` one of the space-separated tokens in `have`? */
static int in_scope_string(const char *have, const char *want, size_t want_len) {
    for (const char *p = have; *p;) {
        size_t n = strcspn(p, " ");
        if (n == want_len && memcmp(p, want, n) == 0)
            return 1;
        p += n;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static int has_scope(const json_t *pl, const char *want, size_t want_len) {
    const json_t *scope = json_object_get(pl, "scope");
    if (!scope)
        scope = json_object_get(pl, "scp");
    if (json_is_string(scope))
        return in_scope_string(json_string_value(scope), want, want_len);
    for (size_t i = 0; json_is_array(scope) && i < json_array_size(scope) && i < 256; i++) {
        const char *s = json_string_value(json_array_get(scope, i));
        if (s && strlen(s) == want_len && memcmp(s, want, want_len) == 0)
            return 1;
    }
    return 0;
}

static int scopes_ok(const json_t *pl, const char *required) {
    for (const char *p = required ? required : ""; *p;) {
        size_t n = strcspn(p, " ");
        if (n && !has_scope(pl, p, n))
            return 0;
        p += n;
        while (*p == ' ')
            p++;
    }
    return 1;
}

static enum bw_oauth_result check_claims(const json_t *pl, const struct bw_oauth_params *p,
                                         time_t now, struct bw_oauth_claims *c) {
    const char *iss = bw_json_str(pl, "iss");
    if (!iss || strcmp(iss, p->issuer) != 0)
        return BW_OAUTH_ISSUER;
    enum bw_oauth_result r = check_times(pl, now, p->leeway_s, &c->exp);
    if (r != BW_OAUTH_OK)
        return r;
    if (!aud_ok(json_object_get(pl, "aud"), p->audience))
        return BW_OAUTH_AUDIENCE;
    if (!id_claim(pl, p->org_claim, c->org) || !id_claim(pl, p->principal_claim, c->principal))
        return BW_OAUTH_CLAIM;
    return scopes_ok(pl, p->scopes) ? BW_OAUTH_OK : BW_OAUTH_INSUFFICIENT_SCOPE;
}

/* Splits into three segments; counts dots over the whole token so "a.b.c.d.e" is JWE. */
static enum bw_oauth_result split(const char *t, size_t len, size_t dot[2]) {
    size_t dots = 0;
    for (size_t i = 0; i < len; i++)
        if (t[i] == '.') {
            if (dots < 2)
                dot[dots] = i;
            dots++;
        }
    if (dots == 4)
        return BW_OAUTH_JWE;
    return dots == 2 ? BW_OAUTH_OK : BW_OAUTH_MALFORMED;
}

static enum bw_oauth_result verify(const struct bw_oauth_jwks *keys,
                                   const struct bw_oauth_params *p, const char *t, size_t len,
                                   time_t now, struct bw_oauth_claims *c, int *unknown_kid,
                                   uint8_t *scratch, json_t **hdr, json_t **pl) {
    size_t dot[2];
    const struct oauth_key *key = NULL;
    enum jws_alg alg = 0;
    enum bw_oauth_result r = split(t, len, dot);
    if (r != BW_OAUTH_OK)
        return r;
    if ((r = segment_json(t, dot[0], scratch, hdr)) != BW_OAUTH_OK)
        return r;
    if ((r = check_header(keys, *hdr, &key, &alg, unknown_kid)) != BW_OAUTH_OK)
        return r;
    /* Every segment is decoded strictly before the signature is checked, so an encoding trick
     * is reported as malformed, not as a bad signature (the JSON is bounded: 8 KiB, depth 8). */
    if ((r = segment_json(t + dot[0] + 1, dot[1] - dot[0] - 1, scratch, pl)) != BW_OAUTH_OK)
        return r;
    long sig_len = bw_oauth_b64url_decode(t + dot[1] + 1, len - dot[1] - 1, scratch, SEG_MAX);
    if (sig_len <= 0)
        return BW_OAUTH_MALFORMED;
    /* RFC 7515 5.2: the signing input is the ASCII of the first two segments as sent. */
    if (!signature_ok(key, alg, (const uint8_t *)t, dot[1], scratch, (size_t)sig_len))
        return BW_OAUTH_SIGNATURE;
    return check_claims(*pl, p, now, c);
}

enum bw_oauth_result bw_oauth_verify_jwt(const struct bw_oauth_jwks *keys,
                                         const struct bw_oauth_params *p, const char *token,
                                         size_t len, time_t now, struct bw_oauth_claims *out,
                                         int *unknown_kid) {
    if (len > BW_OAUTH_TOKEN_MAX)
        return BW_OAUTH_TOO_LARGE;
    if (!token || len == 0 || !p || !p->issuer || !p->audience || !p->org_claim ||
        !p->principal_claim)
        return BW_OAUTH_MALFORMED;
    uint8_t *scratch = malloc(SEG_MAX);
    if (!scratch)
        return BW_OAUTH_NO_KEYS; /* fail closed; a 503 is the honest answer to no memory */
    json_t *hdr = NULL, *pl = NULL;
    struct bw_oauth_claims c;
    memset(&c, 0, sizeof c);
    enum bw_oauth_result r = verify(keys, p, token, len, now, &c, unknown_kid, scratch, &hdr, &pl);
    if (r == BW_OAUTH_OK)
        *out = c;
    json_decref(hdr);
    json_decref(pl);
    free(scratch);
    return r;
}

/* The signature half of verify() without the access-token claims: for OpenID Connect ID tokens
 * (src/sso/), whose claims are checked by their own rules. */
enum bw_oauth_result bw_oauth_verify_jws(const struct bw_oauth_jwks *keys, const char *token,
                                         size_t len, void **payload, int *unknown_kid) {
    if (len > BW_OAUTH_TOKEN_MAX)
        return BW_OAUTH_TOO_LARGE;
    if (!token || len == 0 || !payload)
        return BW_OAUTH_MALFORMED;
    uint8_t *scratch = malloc(SEG_MAX);
    if (!scratch)
        return BW_OAUTH_NO_KEYS;
    json_t *hdr = NULL, *pl = NULL;
    size_t dot[2];
    const struct oauth_key *key = NULL;
    enum jws_alg alg = 0;
    long sig_len = 0;
    enum bw_oauth_result r = split(token, len, dot);
    if (r == BW_OAUTH_OK)
        r = segment_json(token, dot[0], scratch, &hdr);
    if (r == BW_OAUTH_OK)
        r = check_header(keys, hdr, &key, &alg, unknown_kid);
    if (r == BW_OAUTH_OK)
        r = segment_json(token + dot[0] + 1, dot[1] - dot[0] - 1, scratch, &pl);
    if (r == BW_OAUTH_OK) {
        sig_len = bw_oauth_b64url_decode(token + dot[1] + 1, len - dot[1] - 1, scratch, SEG_MAX);
        if (sig_len <= 0)
            r = BW_OAUTH_MALFORMED;
    }
    if (r == BW_OAUTH_OK &&
        !signature_ok(key, alg, (const uint8_t *)token, dot[1], scratch, (size_t)sig_len))
        r = BW_OAUTH_SIGNATURE;
    if (r == BW_OAUTH_OK) {
        *payload = pl;
        pl = NULL;
    }
    json_decref(hdr);
    json_decref(pl);
    free(scratch);
    return r;
}

const char *bw_oauth_result_name(enum bw_oauth_result r) {
    switch (r) {
    case BW_OAUTH_OK:
        return "ok";
    case BW_OAUTH_MALFORMED:
        return "malformed";
    case BW_OAUTH_TOO_LARGE:
        return "too_large";
    case BW_OAUTH_JWE:
        return "jwe";
    case BW_OAUTH_ALG:
        return "alg";
    case BW_OAUTH_KEY_MISMATCH:
        return "key_mismatch";
    case BW_OAUTH_KID_UNKNOWN:
        return "kid_unknown";
    case BW_OAUTH_NO_KEYS:
        return "no_keys";
    case BW_OAUTH_SIGNATURE:
        return "signature";
    case BW_OAUTH_ISSUER:
        return "issuer";
    case BW_OAUTH_EXPIRED:
        return "expired";
    case BW_OAUTH_NOT_YET_VALID:
        return "not_yet_valid";
    case BW_OAUTH_AUDIENCE:
        return "audience";
    case BW_OAUTH_CLAIM:
        return "claim";
    case BW_OAUTH_INSUFFICIENT_SCOPE:
        return "insufficient_scope";
    default:
        return "unknown";
    }
}

int bw_oauth_result_status(enum bw_oauth_result r) {
    switch (r) {
    case BW_OAUTH_OK:
        return 200;
    case BW_OAUTH_INSUFFICIENT_SCOPE:
        return 403;
    case BW_OAUTH_NO_KEYS:
        return 503;
    default:
        return 401;
    }
}
