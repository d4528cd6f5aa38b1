/* oauth_jwks.c: a JWK Set (RFC 7517) into OpenSSL public keys (RFC 7518 6: RSA, EC; RFC 8037:
 * OKP Ed25519). Only what verification needs is kept; anything unusual is refused or skipped. */
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/oauth_internal.h"
#include "util/json.h"

#define JWK_MEMBER_MAX 1024 /* bytes of one decoded member: RSA up to 8192 bits */

static void set_why(char *why, size_t size, size_t i, const char *msg) {
    snprintf(why, size, "JWKS key %zu: %s", i, msg);
}

/* A base64url member into out; returns its length or -1 (missing, not a string, bad). */
static long member_bytes(const json_t *jwk, const char *name, uint8_t *out, size_t out_size) {
    const char *s = bw_json_str(jwk, name);
    if (!s)
        return -1;
    return bw_oauth_b64url_decode(s, strlen(s), out, out_size);
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
            pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *rsa_key(const json_t *jwk, const char **err) {
    uint8_t n[JWK_MEMBER_MAX], e[16];
    long nl = member_bytes(jwk, "n", n, sizeof n), el = member_bytes(jwk, "e", e, sizeof e);
    /* RFC 7518 6.3.1: minimal encodings; 2048 bits is the floor (RFC 7518 3.3). */
    if (nl < 256 || el < 1 || n[0] == 0 || e[0] == 0) {
        *err = "RSA n/e missing, malformed or under 2048 bits";
        return NULL;
    }
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn_n = BN_bin2bn(n, (int)nl, NULL), *bn_e = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
        pkey = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    if (!pkey)
        *err = "RSA key refused by OpenSSL";
    return pkey;
}

static EVP_PKEY *ec_key(const json_t *jwk, const char **err) {
    const char *crv = bw_json_str(jwk, "crv");
    uint8_t pub[65], x[48], y[48];
    if (!crv || strcmp(crv, "P-256") != 0) {
        *err = "EC curve is not P-256";
        return NULL;
    }
    /* RFC 7518 6.2.1.2: x and y are exactly the field size (32 bytes for P-256). */
    if (member_bytes(jwk, "x", x, sizeof x) != 32 || member_bytes(jwk, "y", y, sizeof y) != 32) {
        *err = "EC x/y missing or not 32 bytes";
        return NULL;
    }
    pub[0] = 0x04;
    memcpy(pub + 1, x, 32);
    memcpy(pub + 33, y, 32);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) == 1)
        pkey = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    /* The point must be on the curve (an invalid-curve point is an attack on ECDH, and a
     * malformed key has no business verifying anything). */
    EVP_PKEY_CTX *chk = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    if (pkey && (!chk || EVP_PKEY_public_check(chk) != 1)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(chk);
    if (!pkey)
        *err = "EC point refused by OpenSSL";
    return pkey;
}

static EVP_PKEY *okp_key(const json_t *jwk, const char **err) {
    const char *crv = bw_json_str(jwk, "crv");
    uint8_t x[48];
    if (!crv || strcmp(crv, "Ed25519") != 0) {
        *err = "OKP curve is not Ed25519";
        return NULL;
    }
    if (member_bytes(jwk, "x", x, sizeof x) != 32) {
        *err = "OKP x missing or not 32 bytes";
        return NULL;
    }
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
    if (!pkey)
        *err = "Ed25519 key refused by OpenSSL";
    return pkey;
}

/* Private members of RSA, EC and OKP keys (RFC 7518 6.2.2, 6.3.2; RFC 8037 2), and the
 * symmetric "k". */
static int has_private_member(const json_t *jwk) {
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
        if (json_object_get(jwk, priv[i]))
            return 1;
    return 0;
}

/* One JWK: 1 kept (k filled), 0 skipped, -1 invalid (why set). */
static int one_key(const json_t *jwk, size_t i, struct oauth_key *k, char *why, size_t why_size) {
    const char *err = NULL;
    if (!json_is_object(jwk)) {
        set_why(why, why_size, i, "not an object");
        return -1;
    }
    if (has_private_member(jwk)) {
        set_why(why, why_size, i, "private or symmetric key material in a public key set");
        return -1;
    }
    const char *kty = bw_json_str(jwk, "kty"), *use = bw_json_str(jwk, "use");
    const char *kid = bw_json_str(jwk, "kid"), *alg = bw_json_str(jwk, "alg");
    if (!kty || (json_object_get(jwk, "use") && (!use || strcmp(use, "sig") != 0)))
        return 0; /* an encryption key, or no kty: not ours */
    if ((json_object_get(jwk, "kid") && (!kid || strlen(kid) >= sizeof k->kid)) ||
        (json_object_get(jwk, "alg") && (!alg || strlen(alg) >= sizeof k->alg))) {
        set_why(why, why_size, i, "kid or alg is not a short string");
        return -1;
    }
    if (strcmp(kty, "RSA") == 0) {
        k->kty = KTY_RSA;
        k->pkey = rsa_key(jwk, &err);
    } else if (strcmp(kty, "EC") == 0) {
        k->kty = KTY_EC_P256;
        k->pkey = ec_key(jwk, &err);
    } else if (strcmp(kty, "OKP") == 0) {
        k->kty = KTY_ED25519;
        k->pkey = okp_key(jwk, &err);
    } else {
        return 0; /* oct and unknown types are never used for verification */
    }
    if (!k->pkey) {
        set_why(why, why_size, i, err ? err : "unusable key");
        return -1;
    }
    snprintf(k->kid, sizeof k->kid, "%s", kid ? kid : "");
    snprintf(k->alg, sizeof k->alg, "%s", alg ? alg : "");
    return 1;
}

static void jwks_free(struct bw_oauth_jwks *s) {
    for (size_t i = 0; i < s->n; i++)
        EVP_PKEY_free(s->keys[i].pkey);
    free(s);
}

static bw_err parse_keys(const json_t *keys, struct bw_oauth_jwks *s, char *why, size_t why_size) {
    if (!json_is_array(keys)) {
        snprintf(why, why_size, "JWKS: `keys` is not an array");
        return BW_E_INVALID;
    }
    for (size_t i = 0; i < json_array_size(keys); i++) {
        if (s->n == BW_OAUTH_JWKS_KEYS_MAX) {
            snprintf(why, why_size, "JWKS: more than %d usable keys", BW_OAUTH_JWKS_KEYS_MAX);
            return BW_E_TOO_LARGE;
        }
        struct oauth_key *k = &s->keys[s->n];
        int r = one_key(json_array_get(keys, i), i, k, why, why_size);
        if (r < 0)
            return BW_E_INVALID;
        if (r == 0)
            continue;
        /* Two keys with one kid would make the choice of key ambiguous. */
        for (size_t j = 0; j < s->n; j++)
            if (k->kid[0] && strcmp(s->keys[j].kid, k->kid) == 0) {
                EVP_PKEY_free(k->pkey);
                set_why(why, why_size, i, "duplicate kid");
                return BW_E_INVALID;
            }
        s->n++;
    }
    return BW_OK;
}

bw_err bw_oauth_jwks_parse(const char *json, size_t len, struct bw_oauth_jwks **out, char *why,
                           size_t why_size) {
    if (len > BW_OAUTH_JWKS_MAX_BYTES) {
        snprintf(why, why_size, "JWKS: larger than %d bytes", BW_OAUTH_JWKS_MAX_BYTES);
        return BW_E_TOO_LARGE;
    }
    json_t *doc = NULL;
    char jwhy[128];
    if (bw_json_parse(json, len, 8, &doc, jwhy, sizeof jwhy) != BW_OK) {
        snprintf(why, why_size, "JWKS: not a JSON object: %s", jwhy);
        return BW_E_INVALID;
    }
    struct bw_oauth_jwks *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(doc);
        return BW_E_NOMEM;
    }
    atomic_init(&s->refs, 1);
    bw_err result = parse_keys(json_object_get(doc, "keys"), s, why, why_size);
    json_decref(doc);
    if (result != BW_OK) {
        jwks_free(s);
        return result;
    }
    *out = s;
    return BW_OK;
}

size_t bw_oauth_jwks_count(const struct bw_oauth_jwks *s) {
    return s ? s->n : 0;
}

int bw_oauth_jwks_has_kid(const struct bw_oauth_jwks *s, const char *kid) {
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->keys[i].kid, kid) == 0)
            return 1;
    return 0;
}

void bw_oauth_jwks_ref(struct bw_oauth_jwks *s) {
    atomic_fetch_add(&s->refs, 1);
}

void bw_oauth_jwks_unref(struct bw_oauth_jwks *s) {
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        jwks_free(s);
}
