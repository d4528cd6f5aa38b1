/* vault_sealed.c: libFuzzer target for the sealed-record decoder and the open/re-wrap paths
 * (src/vault/seal.c) on arbitrary bytes, under a fixed master key. The seeds in
 * fuzz/corpus/vault_sealed are real records sealed under that key for (ORG, REC), so mutations
 * start from records that authenticate. Invariants checked: a record that parses has exactly
 * the size its length field says; a record that opens re-wraps to a second key and opens there
 * to the same bytes; nothing else ever opens.
 * Build: make fuzz; run: build/fuzz/vault_sealed fuzz/corpus/vault_sealed */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vault/master.h"
#include "vault/seal.h"

#define ORG "org_fuzz"
#define REC "sec_fuzz"

static struct bw_master *load(const char *b64) {
    struct bw_master *m = NULL;
    if (setenv(BW_MASTER_ENV, b64, 1) != 0 || bw_master_load("/nonexistent", &m) != BW_OK)
        abort();
    unsetenv(BW_MASTER_ENV);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct bw_master *m, *m2;
    static uint8_t out[BW_VAULT_SEALED_MAX];
    if (!m) {
        if (sodium_init() < 0)
            abort();
        /* 32 bytes 0x00..0x1f and 0x20..0x3f: fixed so the seed corpus stays valid */
        m = load("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        m2 = load("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=");
    }
    struct bw_vault_sealed v;
    if (bw_vault_sealed_parse(data, size, &v) != BW_OK)
        return 0;
    if (size != BW_VAULT_HEADER_BYTES + v.ciphertext_len || v.ciphertext_len <= 16)
        abort();
    struct bw_vault_secret *s = NULL;
    if (bw_vault_open(m, ORG, REC, data, size, &s) != BW_OK)
        return 0;
    size_t out_len = 0;
    struct bw_vault_secret *s2 = NULL;
    if (bw_vault_rewrap(m, m2, ORG, REC, data, size, out, sizeof out, &out_len) != BW_OK ||
        out_len != size || bw_vault_open(m2, ORG, REC, out, out_len, &s2) != BW_OK ||
        s2->len != s->len || memcmp(s2->bytes, s->bytes, s->len) != 0)
        abort();
    bw_vault_secret_free(s2);
    bw_vault_secret_free(s);
    return 0;
}
