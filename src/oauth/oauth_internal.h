/* oauth_internal.h: shared inside src/oauth/ only. */
#ifndef BW_OAUTH_OAUTH_INTERNAL_H
#define BW_OAUTH_OAUTH_INTERNAL_H

#include <openssl/evp.h>
#include <stdatomic.h>
#include "util/err.h"

#include "oauth/oauth.h"

enum oauth_kty { KTY_RSA = 1, KTY_EC_P256, KTY_ED25519 };

struct oauth_key {
    char kid[257]; /* "" when the JWK had none */
    char alg[16];  /* the JWK's alg member, "" when absent */
    enum oauth_kty kty;
    EVP_PKEY *pkey;
};

struct bw_oauth_jwks {
    atomic_int refs;
    size_t n;
    struct oauth_key keys[BW_OAUTH_JWKS_KEYS_MAX];
};

/* Strict base64url (RFC 7515 2 / RFC 4648 5): alphabet only, no padding, no whitespace, unused
 * trailing bits zero (one encoding per value). Returns the decoded length, or -1. out_size must
 * be at least len * 3 / 4 + 1. */
long bw_oauth_b64url_decode(const char *in, size_t len, uint8_t *out,
                            size_t out_size) BW_MUST_CHECK;

#endif
