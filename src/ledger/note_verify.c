/* note_verify.c: parsing and verification of C2SP signed notes, verifier keys and tlog
 * checkpoints. Every read goes through an explicit (pointer, length) cursor: the input is
 * untrusted (a checkpoint handed to `bulwark verify`, or a frame read back from disk). */
#include "ledger/note.h"

#include <sodium.h>
#include <string.h>

#include "util/codec.h"

#define SIG_PREFIX "\xE2\x80\x94 "
#define SIG_PREFIX_LEN 4
#define ALG_ED25519 0x01

struct cursor {
    const char *p;
    size_t len;
    size_t pos;
};

/* Takes the next '\n'-terminated line (without the '\n'). 0 if no complete line remains. */
static int next_line(struct cursor *c, const char **line, size_t *line_len) {
    if (c->pos >= c->len)
        return 0;
    const char *start = c->p + c->pos;
    const char *nl = memchr(start, '\n', c->len - c->pos);
    if (!nl)
        return 0;
    *line = start;
    *line_len = (size_t)(nl - start);
    c->pos += *line_len + 1;
    return 1;
}

/* Copies a counted key name into a NUL-terminated buffer if it is a valid name. */
static int copy_name(const char *p, size_t n, char out[BW_NOTE_NAME_MAX + 1]) {
    if (n == 0 || n > BW_NOTE_NAME_MAX || memchr(p, 0, n))
        return 0;
    memcpy(out, p, n);
    out[n] = 0;
    return bw_note_name_ok(out);
}

static int hex_nibble(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bw_err bw_note_verifier_parse(const char *vkey, size_t len, struct bw_note_verifier *out) {
    BW_ENSURE(vkey && len < BW_NOTE_VKEY_MAX, BW_E_INVALID);
    const char *plus1 = memchr(vkey, '+', len);
    BW_ENSURE(plus1, BW_E_INVALID);
    size_t name_len = (size_t)(plus1 - vkey);
    struct bw_note_verifier v;
    BW_ENSURE(copy_name(vkey, name_len, v.name), BW_E_INVALID);
    /* "+<8 lowercase hex>+" */
    BW_ENSURE(len - name_len >= 10 && vkey[name_len + 9] == '+', BW_E_INVALID);
    uint8_t id[BW_NOTE_KEY_ID_LEN];
    for (int i = 0; i < BW_NOTE_KEY_ID_LEN; i++) {
        int hi = hex_nibble(vkey[name_len + 1 + 2 * (size_t)i]);
        int lo = hex_nibble(vkey[name_len + 2 + 2 * (size_t)i]);
        BW_ENSURE(hi >= 0 && lo >= 0, BW_E_INVALID);
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    const char *b64 = vkey + name_len + 10;
    uint8_t key[1 + 32 + 1];
    size_t key_len = 0;
    BW_ENSURE(bw_b64_decode(b64, len - name_len - 10, key, sizeof key, &key_len) == BW_OK,
              BW_E_INVALID);
    BW_ENSURE(key_len == 33 && key[0] == ALG_ED25519, BW_E_INVALID);
    memcpy(v.public_key, key + 1, 32);
    bw_note_key_id(v.name, v.public_key, v.key_id);
    /* The key id is a hash of name and key: a mismatch means a corrupted or spliced string. */
    BW_ENSURE(memcmp(v.key_id, id, BW_NOTE_KEY_ID_LEN) == 0, BW_E_INVALID);
    *out = v;
    return BW_OK;
}

/* Position of the last "\n\n" (C2SP signed-note: the text ends at the last blank line). */
static int find_separator(const char *note, size_t len, size_t *at) {
    for (size_t i = len; i >= 2; i--)
        if (note[i - 2] == '\n' && note[i - 1] == '\n') {
            *at = i - 2;
            return 1;
        }
    return 0;
}

/* One signature line: "— <name> <base64>". Returns BW_E_INVALID if malformed, else BW_OK with
 * *verified set when it is v's signature and verifies, BW_E_CRYPTO when it is v's and fails. */
static bw_err check_sig_line(const struct bw_note_verifier *v, const char *line, size_t n,
                             const char *text, size_t text_len, int *verified) {
    BW_ENSURE(n > SIG_PREFIX_LEN && memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) == 0, BW_E_INVALID);
    line += SIG_PREFIX_LEN;
    n -= SIG_PREFIX_LEN;
    const char *sp = memchr(line, ' ', n);
    BW_ENSURE(sp, BW_E_INVALID);
    char name[BW_NOTE_NAME_MAX + 1];
    size_t name_len = (size_t)(sp - line);
    BW_ENSURE(copy_name(line, name_len, name), BW_E_INVALID);
    uint8_t sig[128];
    size_t sig_len = 0;
    BW_ENSURE(bw_b64_decode(sp + 1, n - name_len - 1, sig, sizeof sig, &sig_len) == BW_OK,
              BW_E_INVALID);
    BW_ENSURE(sig_len >= BW_NOTE_KEY_ID_LEN + 1, BW_E_INVALID);
    if (strcmp(name, v->name) != 0 || memcmp(sig, v->key_id, BW_NOTE_KEY_ID_LEN) != 0)
        return BW_OK; /* another key's signature: not ours to judge */
    BW_ENSURE(sig_len == BW_NOTE_KEY_ID_LEN + crypto_sign_BYTES, BW_E_CRYPTO);
    BW_ENSURE(crypto_sign_verify_detached(sig + BW_NOTE_KEY_ID_LEN, (const unsigned char *)text,
                                          text_len, v->public_key) == 0,
              BW_E_CRYPTO);
    *verified = 1;
    return BW_OK;
}

bw_err bw_note_verify(const struct bw_note_verifier *v, const char *note, size_t len,
                      size_t *text_len) {
    BW_ENSURE(note && len <= BW_NOTE_MAX_TEXT, BW_E_INVALID);
    size_t sep = 0;
    BW_ENSURE(find_separator(note, len, &sep), BW_E_INVALID);
    size_t tlen = sep + 1;
    BW_ENSURE(bw_note_text_ok(note, tlen), BW_E_INVALID);
    struct cursor c = {note, len, sep + 2};
    BW_ENSURE(c.pos < len && note[len - 1] == '\n', BW_E_INVALID);
    int verified = 0, count = 0;
    const char *line;
    size_t n;
    while (next_line(&c, &line, &n)) {
        BW_ENSURE(++count <= BW_NOTE_MAX_SIGS, BW_E_INVALID);
        BW_TRY(check_sig_line(v, line, n, note, tlen, &verified));
    }
    BW_ENSURE(verified, BW_E_CRYPTO);
    *text_len = tlen;
    return BW_OK;
}

/* C2SP tlog-checkpoint: the size is an ASCII decimal; we reject leading zeros and overflow. */
static int parse_u64(const char *p, size_t n, uint64_t *out) {
    if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

bw_err bw_note_checkpoint_parse(const char *text, size_t len, struct bw_checkpoint *out) {
    BW_ENSURE(text && len <= BW_NOTE_MAX_TEXT && bw_note_text_ok(text, len), BW_E_INVALID);
    struct cursor c = {text, len, 0};
    const char *line;
    size_t n;
    struct bw_checkpoint cp;
    BW_ENSURE(next_line(&c, &line, &n) && copy_name(line, n, cp.origin), BW_E_INVALID);
    BW_ENSURE(next_line(&c, &line, &n) && parse_u64(line, n, &cp.size), BW_E_INVALID);
    size_t root_len = 0;
    BW_ENSURE(next_line(&c, &line, &n) &&
                  bw_b64_decode(line, n, cp.root, sizeof cp.root, &root_len) == BW_OK &&
                  root_len == 32,
              BW_E_INVALID);
    /* Remaining lines are extensions: bw_note_text_ok already checked their shape. */
    *out = cp;
    return BW_OK;
}
