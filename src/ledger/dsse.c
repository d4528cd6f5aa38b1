/* dsse.c: DSSE v1 envelopes over receipts (dsse.h). */
#include "ledger/dsse.h"

#include <sodium.h>
#include <string.h>

#include "util/codec.h"

#define PAE_MAX (64 + sizeof BW_DSSE_PAYLOAD_TYPE + BW_RECEIPT_MAX_BYTES)

static const char env_a[] = "{\"payload\":\"";
static const char env_b[] =
    "\",\"payloadType\":\"" BW_DSSE_PAYLOAD_TYPE "\",\"signatures\":[{\"keyid\":\"";
static const char env_c[] = "\",\"sig\":\"";
static const char env_d[] = "\"}]}";

bw_err bw_dsse_pae(const uint8_t *payload, size_t len, struct bw_buf *out) {
    /* DSSE protocol.md: PAE(type, body) = "DSSEv1" + SP + LEN(type) + SP + type + SP +
     * LEN(body) + SP + body, LEN in ASCII decimal. */
    BW_TRY(bw_buf_appendf(out, "DSSEv1 %zu %s %zu ", sizeof BW_DSSE_PAYLOAD_TYPE - 1,
                          BW_DSSE_PAYLOAD_TYPE, len));
    return bw_buf_append(out, payload, len);
}

/* A receipt is 1..4096 printable ASCII bytes (docs/EVIDENCE.md section 1). */
static int payload_ok(const uint8_t *p, size_t len) {
    if (len == 0 || len > BW_RECEIPT_MAX_BYTES)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7E)
            return 0;
    return 1;
}

bw_err bw_dsse_sign(const struct bw_note_signer *s, const uint8_t *payload, size_t len,
                    uint8_t sig[BW_DSSE_SIG_LEN]) {
    BW_ENSURE(payload_ok(payload, len), BW_E_INVALID);
    uint8_t pae[PAE_MAX];
    struct bw_buf b;
    bw_buf_init(&b, sizeof pae);
    bw_err result = bw_dsse_pae(payload, len, &b);
    if (result == BW_OK)
        result = bw_note_signer_sign_pae(s, b.ptr, b.len, sig);
    bw_buf_cleanup(&b);
    return result;
}

bw_err bw_dsse_verify(const struct bw_note_verifier *v, const uint8_t *payload, size_t len,
                      const uint8_t sig[BW_DSSE_SIG_LEN]) {
    BW_ENSURE(payload_ok(payload, len), BW_E_INVALID);
    struct bw_buf b;
    bw_buf_init(&b, PAE_MAX);
    bw_err result = bw_dsse_pae(payload, len, &b);
    if (result == BW_OK && crypto_sign_verify_detached(sig, b.ptr, b.len, v->public_key) != 0)
        result = BW_E_CRYPTO;
    bw_buf_cleanup(&b);
    return result;
}

bw_err bw_dsse_envelope_encode(const uint8_t *payload, size_t len,
                               const uint8_t key_id[BW_NOTE_KEY_ID_LEN],
                               const uint8_t sig[BW_DSSE_SIG_LEN], struct bw_buf *out) {
    BW_ENSURE(len <= BW_RECEIPT_MAX_BYTES, BW_E_INVALID);
    char b64[sodium_base64_ENCODED_LEN(BW_RECEIPT_MAX_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    char hex[2 * BW_NOTE_KEY_ID_LEN + 1];
    BW_TRY(bw_buf_append_str(out, env_a));
    BW_TRY(bw_b64_encode(payload, len, b64, sizeof b64));
    BW_TRY(bw_buf_append_str(out, b64));
    BW_TRY(bw_buf_append_str(out, env_b));
    BW_TRY(bw_hex_encode(key_id, BW_NOTE_KEY_ID_LEN, hex, sizeof hex));
    BW_TRY(bw_buf_append_str(out, hex));
    BW_TRY(bw_buf_append_str(out, env_c));
    BW_TRY(bw_b64_encode(sig, BW_DSSE_SIG_LEN, b64, sizeof b64));
    BW_TRY(bw_buf_append_str(out, b64));
    return bw_buf_append_str(out, env_d);
}

/* Expects the literal lit at *p. */
static int lit(const uint8_t **p, const uint8_t *end, const char *s) {
    size_t n = strlen(s);
    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* A run of standard base64 symbols and '=' up to the next '"'. */
static size_t b64_run(const uint8_t *p, const uint8_t *end) {
    size_t n = 0;
    while (p + n < end && p[n] != '"') {
        uint8_t c = p[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return 0;
        n++;
    }
    return p + n < end ? n : 0;
}

/* Decodes exactly one canonical base64 value (re-encoding must give the same text, so a
 * different spelling of the same bytes is refused). */
static int b64_exact(const uint8_t *text, size_t n, uint8_t *out, size_t max, size_t *out_len) {
    size_t got = 0;
    if (bw_b64_decode((const char *)text, n, out, max, &got) != BW_OK)
        return 0;
    char again[sodium_base64_ENCODED_LEN(BW_RECEIPT_MAX_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    if (got > BW_RECEIPT_MAX_BYTES || bw_b64_encode(out, got, again, sizeof again) != BW_OK ||
        strlen(again) != n || memcmp(again, text, n) != 0)
        return 0;
    *out_len = got;
    return 1;
}

bw_err bw_dsse_envelope_parse(const uint8_t *text, size_t len, struct bw_dsse_envelope *out) {
    BW_ENSURE(len <= BW_DSSE_ENVELOPE_MAX, BW_E_INVALID);
    const uint8_t *p = text, *end = text + len;
    size_t n = 0, got = 0;
    BW_ENSURE(lit(&p, end, env_a), BW_E_INVALID);
    n = b64_run(p, end);
    BW_ENSURE(n > 0 && b64_exact(p, n, out->payload, sizeof out->payload, &out->payload_len),
              BW_E_INVALID);
    BW_ENSURE(out->payload_len > 0, BW_E_INVALID);
    p += n;
    BW_ENSURE(lit(&p, end, env_b), BW_E_INVALID);
    BW_ENSURE((size_t)(end - p) >= 2 * BW_NOTE_KEY_ID_LEN, BW_E_INVALID);
    for (size_t i = 0; i < BW_NOTE_KEY_ID_LEN; i++) {
        int v = 0;
        for (size_t j = 0; j < 2; j++) {
            uint8_t c = p[2 * i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            BW_ENSURE(d >= 0, BW_E_INVALID);
            v = v << 4 | d;
        }
        out->key_id[i] = (uint8_t)v;
    }
    p += 2 * BW_NOTE_KEY_ID_LEN;
    BW_ENSURE(lit(&p, end, env_c), BW_E_INVALID);
    n = b64_run(p, end);
    uint8_t sig[BW_DSSE_SIG_LEN + 3];
    BW_ENSURE(n > 0 && b64_exact(p, n, sig, sizeof sig, &got) && got == BW_DSSE_SIG_LEN,
              BW_E_INVALID);
    memcpy(out->sig, sig, BW_DSSE_SIG_LEN);
    p += n;
    BW_ENSURE(lit(&p, end, env_d) && p == end, BW_E_INVALID);
    return BW_OK;
}
