/* webhook_verify.c: Stripe and Standard Webhooks signature checks (webhook.h). */
#include "webhook/webhook.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "reason/reasons.h"
#include "util/buf.h"
#include "util/codec.h"
#include "util/text.h"
#include "webhook/webhook_internal.h"

void bw_webhook_keys_free(struct bw_webhook_keys *k) {
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        sodium_free(k->key[i]); /* sodium_free wipes before releasing */
    sodium_memzero(k, sizeof *k);
    sodium_free(k);
}

static int is_sep(char c) {
    return c == ' ' || c == ',' || c == '\n' || c == '\r' || c == '\t';
}

bw_err bw_webhook_keys_parse(enum bw_webhook_scheme scheme, const char *text, size_t len,
                             struct bw_webhook_keys **out) {
    bw_err result = BW_OK;
    struct bw_webhook_keys *k = sodium_malloc(sizeof *k);
    if (!k)
        return BW_E_NOMEM;
    memset(k, 0, sizeof *k);
    k->scheme = scheme;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_sep(text[i]))
            i++;
        size_t start = i;
        while (i < len && !is_sep(text[i]))
            i++;
        if (i == start)
            break;
        const char *tok = text + start;
        size_t tlen = i - start;
        BW_GOTO_IF(k->n >= BW_WEBHOOK_MAX_KEYS, BW_E_INVALID);
        BW_GOTO_IF(!bw_text_visible(tok, tlen), BW_E_INVALID);
        uint8_t *key = sodium_malloc(BW_WEBHOOK_MAX_KEY_BYTES);
        BW_GOTO_IF(!key, BW_E_NOMEM);
        k->key[k->n] = key;
        if (scheme == BW_WEBHOOK_STRIPE) {
            /* Stripe keys the HMAC with the whole secret string, "whsec_" included */
            BW_GOTO_IF(tlen > BW_WEBHOOK_MAX_KEY_BYTES, BW_E_INVALID);
            memcpy(key, tok, tlen);
            k->len[k->n] = tlen;
        } else {
            if (tlen > 6 && memcmp(tok, "whsec_", 6) == 0) {
                tok += 6;
                tlen -= 6;
            }
            size_t klen = 0;
            BW_GOTO_IF(bw_b64_decode(tok, tlen, key, BW_WEBHOOK_MAX_KEY_BYTES, &klen) != BW_OK,
                       BW_E_INVALID);
            BW_GOTO_IF(klen < 16, BW_E_INVALID); /* the spec's keys are 24..64 bytes */
            k->len[k->n] = klen;
        }
        k->n++;
    }
    BW_GOTO_IF(k->n == 0, BW_E_INVALID);
    *out = k;
    return BW_OK;
out:
    /* the failed key (if allocated) is counted so it is freed too */
    if (k->n < BW_WEBHOOK_MAX_KEYS && k->key[k->n])
        k->n++;
    bw_webhook_keys_free(k);
    return result;
}

bw_err bw_webhook_parse_timestamp(const char *s, size_t len, int64_t *out) {
    BW_ENSURE(s && len >= 1 && len <= 12, BW_E_INVALID);
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        BW_ENSURE(s[i] >= '0' && s[i] <= '9', BW_E_INVALID);
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return BW_OK;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bw_err bw_webhook_stripe_parse(const char *header, size_t len, struct bw_webhook_stripe_sig *out) {
    BW_ENSURE(header && len > 0 && len <= BW_WEBHOOK_MAX_HEADER, BW_E_INVALID);
    struct bw_webhook_stripe_sig sig;
    memset(&sig, 0, sizeof sig);
    int have_t = 0;
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && header[i] != ',')
            i++;
        const char *el = header + start;
        size_t elen = i - start;
        const char *eq = memchr(el, '=', elen);
        BW_ENSURE(eq && eq > el, BW_E_INVALID);
        size_t klen = (size_t)(eq - el);
        const char *val = eq + 1;
        size_t vlen = elen - klen - 1;
        for (size_t j = 0; j < klen; j++)
            BW_ENSURE((el[j] >= 'a' && el[j] <= 'z') || (el[j] >= '0' && el[j] <= '9'),
                      BW_E_INVALID);
        if (klen == 1 && el[0] == 't') {
            BW_ENSURE(!have_t, BW_E_INVALID);
            BW_TRY(bw_webhook_parse_timestamp(val, vlen, &sig.t));
            have_t = 1;
        } else if (klen == 2 && el[0] == 'v' && el[1] == '1') {
            BW_ENSURE(vlen == 64 && sig.n_v1 < BW_WEBHOOK_MAX_SIGS, BW_E_INVALID);
            for (size_t j = 0; j < 32; j++) {
                int hi = hex_digit(val[2 * j]), lo = hex_digit(val[2 * j + 1]);
                BW_ENSURE(hi >= 0 && lo >= 0, BW_E_INVALID);
                sig.v1[sig.n_v1][j] = (uint8_t)(hi << 4 | lo);
            }
            sig.n_v1++;
        } else {
            BW_ENSURE(vlen <= BW_WEBHOOK_MAX_HEADER, BW_E_INVALID); /* other schemes: ignored */
        }
        if (i >= len)
            break;
        i++;                              /* the ',' */
        BW_ENSURE(i < len, BW_E_INVALID); /* trailing comma */
    }
    BW_ENSURE(have_t && sig.n_v1 > 0, BW_E_INVALID);
    *out = sig;
    return BW_OK;
}

bw_err bw_webhook_standard_parse(const char *header, size_t len,
                                 struct bw_webhook_standard_sig *out) {
    BW_ENSURE(header && len > 0 && len <= BW_WEBHOOK_MAX_HEADER, BW_E_INVALID);
    struct bw_webhook_standard_sig sig;
    memset(&sig, 0, sizeof sig);
    size_t i = 0;
    size_t n_entries = 0;
    while (i < len) {
        while (i < len && header[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && header[i] != ' ')
            i++;
        if (i == start)
            break;
        BW_ENSURE(++n_entries <= 4 * BW_WEBHOOK_MAX_SIGS, BW_E_INVALID);
        const char *el = header + start;
        size_t elen = i - start;
        const char *comma = memchr(el, ',', elen);
        BW_ENSURE(comma && comma > el, BW_E_INVALID);
        size_t vlen = (size_t)(comma - el);
        if (vlen == 2 && el[0] == 'v' && el[1] == '1') {
            BW_ENSURE(sig.n_v1 < BW_WEBHOOK_MAX_SIGS, BW_E_INVALID);
            uint8_t mac[64];
            size_t mlen = 0;
            BW_TRY(bw_b64_decode(comma + 1, elen - vlen - 1, mac, sizeof mac, &mlen));
            BW_ENSURE(mlen == 32, BW_E_INVALID);
            memcpy(sig.v1[sig.n_v1++], mac, 32);
        }
    }
    BW_ENSURE(sig.n_v1 > 0, BW_E_INVALID);
    *out = sig;
    return BW_OK;
}

/* 1 if any key's MAC over parts equals any candidate (each compared in constant time). */
static bw_err any_match(const struct bw_webhook_keys *keys, const struct bw_slice *parts,
                        size_t n_parts, const uint8_t (*cand)[32], size_t n_cand, int *match) {
    *match = 0;
    for (size_t k = 0; k < keys->n; k++) {
        uint8_t expect[32];
        BW_TRY(bw_webhook_hmac_sha256(keys->key[k], keys->len[k], parts, n_parts, expect));
        for (size_t c = 0; c < n_cand; c++)
            if (sodium_memcmp(expect, cand[c], 32) == 0)
                *match = 1;
        sodium_memzero(expect, sizeof expect);
    }
    return BW_OK;
}

static bw_err check_time(int64_t t, int64_t now_s, int tolerance_s, const char **reason) {
    int64_t d = now_s > t ? now_s - t : t - now_s;
    if (d > tolerance_s) {
        if (reason)
            *reason = BW_R_WEBHOOK_TIMESTAMP_OUT_OF_RANGE;
        return BW_E_UNAUTH;
    }
    return BW_OK;
}

bw_err bw_webhook_verify_stripe(const struct bw_webhook_keys *keys, const char *header,
                                const uint8_t *body, size_t body_len, int64_t now_s,
                                int tolerance_s, const char **reason) {
    struct bw_webhook_stripe_sig sig;
    if (!keys || keys->scheme != BW_WEBHOOK_STRIPE)
        return BW_E_INTERNAL;
    if (!header || bw_webhook_stripe_parse(header, strlen(header), &sig) != BW_OK) {
        if (reason)
            *reason = BW_R_WEBHOOK_HEADER_MALFORMED;
        return BW_E_INVALID;
    }
    char t[24];
    int tn = snprintf(t, sizeof t, "%lld.", (long long)sig.t);
    struct bw_slice parts[] = {{(const uint8_t *)t, (size_t)tn}, {body, body_len}};
    int match = 0;
    BW_TRY(any_match(keys, parts, 2, (const uint8_t(*)[32])sig.v1, sig.n_v1, &match));
    if (!match) {
        if (reason)
            *reason = BW_R_WEBHOOK_SIGNATURE_INVALID;
        return BW_E_UNAUTH;
    }
    return check_time(sig.t, now_s, tolerance_s, reason);
}

bw_err bw_webhook_verify_standard(const struct bw_webhook_keys *keys, const char *msg_id,
                                  const char *timestamp, const char *signature, const uint8_t *body,
                                  size_t body_len, int64_t now_s, int tolerance_s,
                                  const char **reason) {
    struct bw_webhook_standard_sig sig;
    int64_t t = 0;
    if (!keys || keys->scheme != BW_WEBHOOK_STANDARD)
        return BW_E_INTERNAL;
    if (!bw_webhook_id_ok(msg_id) || !timestamp ||
        bw_webhook_parse_timestamp(timestamp, strlen(timestamp), &t) != BW_OK || !signature ||
        bw_webhook_standard_parse(signature, strlen(signature), &sig) != BW_OK) {
        if (reason)
            *reason = BW_R_WEBHOOK_HEADER_MALFORMED;
        return BW_E_INVALID;
    }
    struct bw_slice parts[BW_WEBHOOK_STANDARD_PARTS];
    bw_webhook_standard_parts(msg_id, timestamp, body, body_len, parts);
    int match = 0;
    BW_TRY(any_match(keys, parts, BW_WEBHOOK_STANDARD_PARTS, (const uint8_t(*)[32])sig.v1, sig.n_v1,
                     &match));
    if (!match) {
        if (reason)
            *reason = BW_R_WEBHOOK_SIGNATURE_INVALID;
        return BW_E_UNAUTH;
    }
    return check_time(t, now_s, tolerance_s, reason);
}
