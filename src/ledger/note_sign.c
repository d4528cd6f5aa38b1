/* note_sign.c: Ed25519 signed notes (C2SP signed-note) and checkpoint bodies (C2SP
 * tlog-checkpoint). The secret key lives only in sodium_malloc'd memory. */
#include "ledger/note.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"

/* C2SP signed-note: signature lines start with U+2014 EM DASH and a space. */
#define SIG_PREFIX "\xE2\x80\x94 "
/* C2SP signed-note "Signature types": 0x01 identifies Ed25519. */
#define ALG_ED25519 0x01

struct bw_note_signer {
    char name[BW_NOTE_NAME_MAX + 1];
    uint8_t key_id[BW_NOTE_KEY_ID_LEN];
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES];
    unsigned char *secret_key; /* sodium_malloc: crypto_sign_SECRETKEYBYTES */
};

int bw_note_name_ok(const char *name) {
    if (!name || !name[0])
        return 0;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p > 0x7E || *p == '+')
            return 0;
    return n <= BW_NOTE_NAME_MAX;
}

void bw_note_key_id(const char *name, const uint8_t public_key[32], uint8_t out[4]) {
    uint8_t buf[BW_NOTE_NAME_MAX + 2 + 32];
    size_t n = strnlen(name, BW_NOTE_NAME_MAX);
    memcpy(buf, name, n);
    buf[n] = 0x0A;
    buf[n + 1] = ALG_ED25519;
    memcpy(buf + n + 2, public_key, 32);
    uint8_t h[32];
    bw_sha256(buf, n + 2 + 32, h);
    memcpy(out, h, 4);
}

bw_err bw_note_signer_new(const char *name, const uint8_t seed[32], struct bw_note_signer **out) {
    BW_ENSURE(bw_note_name_ok(name), BW_E_INVALID);
    BW_ENSURE(sodium_init() >= 0, BW_E_CRYPTO);
    struct bw_note_signer *s = calloc(1, sizeof *s);
    BW_ENSURE(s, BW_E_NOMEM);
    s->secret_key = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!s->secret_key) {
        free(s);
        return BW_E_NOMEM;
    }
    if (crypto_sign_seed_keypair(s->public_key, s->secret_key, seed) != 0) {
        bw_note_signer_free(s);
        return BW_E_CRYPTO;
    }
    memcpy(s->name, name, strlen(name) + 1);
    bw_note_key_id(s->name, s->public_key, s->key_id);
    *out = s;
    return BW_OK;
}

void bw_note_signer_free(struct bw_note_signer *s) {
    if (!s)
        return;
    if (s->secret_key) {
        sodium_memzero(s->secret_key, crypto_sign_SECRETKEYBYTES);
        sodium_free(s->secret_key);
    }
    free(s);
}

const char *bw_note_signer_name(const struct bw_note_signer *s) {
    return s->name;
}

const uint8_t *bw_note_signer_key_id(const struct bw_note_signer *s) {
    return s->key_id;
}

const uint8_t *bw_note_signer_public_key(const struct bw_note_signer *s) {
    return s->public_key;
}

bw_err bw_note_signer_vkey(const struct bw_note_signer *s, char *out, size_t out_size) {
    uint8_t key[1 + 32];
    key[0] = ALG_ED25519;
    memcpy(key + 1, s->public_key, 32);
    char id_hex[9], key_b64[64];
    BW_TRY(bw_hex_encode(s->key_id, 4, id_hex, sizeof id_hex));
    BW_TRY(bw_b64_encode(key, sizeof key, key_b64, sizeof key_b64));
    size_t n = strlen(s->name) + 1 + 8 + 1 + strlen(key_b64);
    BW_ENSURE(n < out_size, BW_E_TOO_LARGE);
    size_t name_len = strlen(s->name);
    memcpy(out, s->name, name_len);
    out[name_len] = '+';
    memcpy(out + name_len + 1, id_hex, 8);
    out[name_len + 9] = '+';
    memcpy(out + name_len + 10, key_b64, strlen(key_b64) + 1);
    return BW_OK;
}

int bw_note_text_ok(const char *text, size_t len) {
    if (len == 0 || text[len - 1] != '\n' || text[0] == '\n')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            if (i + 1 < len && text[i + 1] == '\n')
                return 0;
        } else if (c < 0x20 || c > 0x7E) {
            return 0;
        }
    }
    return 1;
}

bw_err bw_note_sign(const struct bw_note_signer *s, const char *text, size_t len,
                    struct bw_buf *out) {
    BW_ENSURE(bw_note_text_ok(text, len), BW_E_INVALID);
    uint8_t sig[BW_NOTE_KEY_ID_LEN + crypto_sign_BYTES];
    memcpy(sig, s->key_id, BW_NOTE_KEY_ID_LEN);
    /* C2SP signed-note: the signature covers exactly the text bytes, final newline included. */
    if (crypto_sign_detached(sig + BW_NOTE_KEY_ID_LEN, NULL, (const unsigned char *)text, len,
                             s->secret_key) != 0)
        return BW_E_CRYPTO;
    char sig_b64[sodium_base64_ENCODED_LEN(sizeof sig, sodium_base64_VARIANT_ORIGINAL)];
    BW_TRY(bw_b64_encode(sig, sizeof sig, sig_b64, sizeof sig_b64));
    BW_TRY(bw_buf_append(out, text, len));
    BW_TRY(bw_buf_append_str(out, "\n" SIG_PREFIX));
    BW_TRY(bw_buf_append_str(out, s->name));
    BW_TRY(bw_buf_append_str(out, " "));
    BW_TRY(bw_buf_append_str(out, sig_b64));
    return bw_buf_append_str(out, "\n");
}

bw_err bw_note_signer_sign_pae(const struct bw_note_signer *s, const uint8_t *pae, size_t len,
                               uint8_t sig[64]) {
    static const char magic[] = "DSSEv1 ";
    BW_ENSURE(len >= sizeof magic - 1 && memcmp(pae, magic, sizeof magic - 1) == 0, BW_E_INVALID);
    BW_ENSURE(memchr(pae, '\n', len) == NULL, BW_E_INVALID);
    if (crypto_sign_detached(sig, NULL, pae, len, s->secret_key) != 0)
        return BW_E_CRYPTO;
    return BW_OK;
}

bw_err bw_note_checkpoint_body(const char *origin, uint64_t size, const uint8_t root[32],
                               struct bw_buf *out) {
    BW_ENSURE(bw_note_name_ok(origin), BW_E_INVALID);
    char root_b64[64];
    BW_TRY(bw_b64_encode(root, 32, root_b64, sizeof root_b64));
    /* C2SP tlog-checkpoint: origin, decimal tree size, base64 root hash, one per line. */
    return bw_buf_appendf(out, "%s\n%llu\n%s\n", origin, (unsigned long long)size, root_b64);
}
