#include "util/codec.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

bw_err bw_hex_encode(const uint8_t *in, size_t n, char *out, size_t out_size) {
    if (n > (SIZE_MAX - 1) / 2 || out_size < 2 * n + 1)
        return BW_E_TOO_LARGE;
    sodium_bin2hex(out, out_size, in, n);
    return BW_OK;
}

bw_err bw_b64_encode(const uint8_t *in, size_t n, char *out, size_t out_size) {
    if (out_size < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))
        return BW_E_TOO_LARGE;
    sodium_bin2base64(out, out_size, in, n, sodium_base64_VARIANT_ORIGINAL);
    return BW_OK;
}

bw_err bw_b64_decode(const char *in, size_t n, uint8_t *out, size_t out_size, size_t *out_len) {
    size_t len = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, out_size, in, n, NULL, &len, &end, sodium_base64_VARIANT_ORIGINAL) !=
        0)
        return BW_E_INVALID;
    if (end != in + n)
        return BW_E_INVALID;
    *out_len = len;
    return BW_OK;
}

bw_err bw_b64url_encode(const uint8_t *in, size_t n, char *out, size_t out_size) {
    if (out_size < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return BW_E_TOO_LARGE;
    sodium_bin2base64(out, out_size, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return BW_OK;
}

/* OpenSSL 3's one-shot SHA256() fetches the algorithm and allocates a context on every call,
 * which costs more than hashing a receipt. Fetch once per process, keep one context per
 * thread. */
/* Written once under sha256_once, immutable afterwards (pthread_once orders the write before
 * every reader); each thread's context lives under sha256_key. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha256_key; /* per-thread EVP_MD_CTX, freed at thread exit */

static void free_ctx(void *ctx) {
    EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void) {
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (pthread_key_create(&sha256_key, free_ctx) != 0)
        abort();
}

bw_err bw_token_generate(const char prefix[4], char *out, size_t out_size) {
    BW_ENSURE(out_size >= BW_TOKEN_SIZE, BW_E_TOO_LARGE);
    uint8_t r[32];
    randombytes_buf(r, sizeof r);
    memcpy(out, prefix, 4);
    sodium_bin2base64(out + 4, out_size - 4, r, sizeof r, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(r, sizeof r);
    return BW_OK;
}

void bw_sha256(const void *p, size_t n, uint8_t out[32]) {
    pthread_once(&sha256_once, sha256_fetch);
    EVP_MD_CTX *ctx = pthread_getspecific(sha256_key);
    if (!ctx) {
        ctx = EVP_MD_CTX_new();
        if (ctx && pthread_setspecific(sha256_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    }
    unsigned len = 32;
    if (!sha256_md || !ctx || EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, p, n) != 1 || EVP_DigestFinal_ex(ctx, out, &len) != 1)
        abort(); /* a failing SHA-256 means a broken libcrypto: no safe way to continue */
}

bw_err bw_sha256_stream_init(struct bw_sha256_stream *s) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        s->ctx = NULL;
        return BW_E_NOMEM;
    }
    s->ctx = ctx;
    return BW_OK;
}

void bw_sha256_stream_update(struct bw_sha256_stream *s, const void *p, size_t n) {
    if (s->ctx)
        EVP_DigestUpdate(s->ctx, p, n);
}

void bw_sha256_stream_final(struct bw_sha256_stream *s, uint8_t out[32]) {
    unsigned len = 32;
    if (!s->ctx || EVP_DigestFinal_ex(s->ctx, out, &len) != 1)
        memset(out, 0, 32);
    bw_sha256_stream_cleanup(s);
}

void bw_sha256_stream_cleanup(struct bw_sha256_stream *s) {
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
}
