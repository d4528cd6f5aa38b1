/* codec.h: hex and base64 encodings (libsodium underneath), and SHA-256 (OpenSSL: SHA-NI).
 *
 * Output buffers are caller-supplied with their size; functions fail with BW_E_TOO_LARGE rather
 * than truncate. Thread-safe. */
#ifndef BW_UTIL_CODEC_H
#define BW_UTIL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Big-endian (network order) 32-bit fields of the formats we frame: the ledger's records, the
 * vault's sealed header, IPv4 addresses. */
static inline uint32_t bw_load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void bw_store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Lowercase hex; out must hold 2*n+1 bytes. */
bw_err bw_hex_encode(const uint8_t *in, size_t n, char *out, size_t out_size) BW_MUST_CHECK;
/* Standard base64 with padding (RFC 4648 section 4). */
bw_err bw_b64_encode(const uint8_t *in, size_t n, char *out, size_t out_size) BW_MUST_CHECK;
/* Decodes standard padded base64; *out_len is the decoded length. Rejects anything else. */
bw_err bw_b64_decode(const char *in, size_t n, uint8_t *out, size_t out_size,
                     size_t *out_len) BW_MUST_CHECK;
/* base64url without padding (RFC 4648 section 5), for tokens. */
bw_err bw_b64url_encode(const uint8_t *in, size_t n, char *out, size_t out_size) BW_MUST_CHECK;

/* A fresh bearer token: prefix (exactly 4 characters, e.g. "bwk_") + base64url of 32 random
 * bytes: 47 characters and a NUL, so out_size must be at least 48 (BW_E_TOO_LARGE otherwise).
 * The random bytes are wiped; the caller wipes the token when it holds a secret. */
#define BW_TOKEN_SIZE 48
bw_err bw_token_generate(const char prefix[4], char *out, size_t out_size) BW_MUST_CHECK;

void bw_sha256(const void *p, size_t n, uint8_t out[32]);

/* Incremental SHA-256 (OpenSSL EVP). init may fail with BW_E_NOMEM; final frees the state and
 * may be called once; cleanup frees without a digest (safe after final, or on a zeroed struct). */
struct bw_sha256_stream {
    void *ctx;
};
bw_err bw_sha256_stream_init(struct bw_sha256_stream *s) BW_MUST_CHECK;
void bw_sha256_stream_update(struct bw_sha256_stream *s, const void *p, size_t n);
void bw_sha256_stream_final(struct bw_sha256_stream *s, uint8_t out[32]);
void bw_sha256_stream_cleanup(struct bw_sha256_stream *s);

#endif
