/* evidence_proof.c: C2SP tlog-proof and hash-list text (proof.h). */
#include "evidence/proof.h"

#include <string.h>

#include "util/codec.h"

#define B64_HASH_LEN 44 /* base64 of 32 bytes, padded */

int bw_evidence_parse_u64(const char *s, size_t len, uint64_t *out) {
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

bw_err bw_evidence_hashes_encode(const uint8_t (*hashes)[32], size_t n, struct bw_buf *out) {
    char b64[B64_HASH_LEN + 1];
    for (size_t i = 0; i < n; i++) {
        BW_TRY(bw_b64_encode(hashes[i], 32, b64, sizeof b64));
        BW_TRY(bw_buf_append(out, b64, B64_HASH_LEN));
        BW_TRY(bw_buf_append(out, "\n", 1));
    }
    return BW_OK;
}

bw_err bw_evidence_proof_encode(uint64_t index, const uint8_t (*hashes)[32], size_t n,
                                const char *note, size_t note_len, struct bw_buf *out) {
    BW_TRY(
        bw_buf_appendf(out, BW_EVIDENCE_PROOF_MAGIC "\nindex %llu\n", (unsigned long long)index));
    BW_TRY(bw_evidence_hashes_encode(hashes, n, out));
    BW_TRY(bw_buf_append(out, "\n", 1));
    return bw_buf_append(out, note, note_len);
}

/* Cursor over '\n'-terminated lines: the next line (without its '\n') or 0 if none is left. */
struct lines {
    const char *p;
    size_t len, off;
};

static int next_line(struct lines *l, const char **line, size_t *n) {
    if (l->off >= l->len)
        return 0;
    const char *start = l->p + l->off;
    const char *nl = memchr(start, '\n', l->len - l->off);
    if (!nl)
        return 0;
    *line = start;
    *n = (size_t)(nl - start);
    l->off += *n + 1;
    return 1;
}

/* RFC 4648 4 alphabet: value + 1, 0 for bytes outside it. */
static const uint8_t b64_table[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int b64_val(char ch) {
    return (int)b64_table[(unsigned char)ch] - 1;
}

/* RFC 4648 4 base64 of exactly 32 bytes: 43 symbols and one '='; the last symbol's two unused
 * bits must be zero (canonical encoding). Hand-rolled because packs decode millions of these. */
static int decode_hash(const char *line, size_t n, uint8_t out[32]) {
    if (n != B64_HASH_LEN || line[43] != '=')
        return 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < 43; i++) {
        int v = b64_val(line[i]);
        if (v < 0)
            return 0;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return o == 32 && acc == 0;
}

bw_err bw_evidence_hashes_decode(const char *text, size_t len, uint8_t (*hashes)[32], size_t max,
                                 size_t *n) {
    struct lines l = {text, len, 0};
    const char *line;
    size_t ln, count = 0;
    while (next_line(&l, &line, &ln)) {
        BW_ENSURE(count < max && decode_hash(line, ln, hashes[count]), BW_E_INVALID);
        count++;
    }
    BW_ENSURE(l.off == len, BW_E_INVALID); /* no unterminated last line */
    *n = count;
    return BW_OK;
}

static int line_is(const char *line, size_t n, const char *want) {
    return n == strlen(want) && memcmp(line, want, n) == 0;
}

/* RFC 4648 4 base64 of at least one byte: groups of 4 symbols, '=' only as the last one or two.
 * (C2SP tlog-proof: the extra line carries base64 of opaque data.) */
static int is_b64(const char *s, size_t n) {
    if (n == 0 || n % 4 != 0)
        return 0;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < n - pad; i++)
        if (b64_val(s[i]) < 0)
            return 0;
    return 1;
}

/* The "index N" line, after an optional "extra <base64>" line (C2SP tlog-proof: directly after
 * the first line, at most one; unauthenticated, so read and ignored). */
static bw_err decode_head(struct lines *l, uint64_t *index) {
    const char *line;
    size_t n;
    BW_ENSURE(next_line(l, &line, &n) && line_is(line, n, BW_EVIDENCE_PROOF_MAGIC), BW_E_INVALID);
    BW_ENSURE(next_line(l, &line, &n), BW_E_INVALID);
    if (n >= 6 && memcmp(line, "extra ", 6) == 0) {
        BW_ENSURE(is_b64(line + 6, n - 6), BW_E_INVALID);
        BW_ENSURE(next_line(l, &line, &n), BW_E_INVALID);
    }
    BW_ENSURE(n > 6 && memcmp(line, "index ", 6) == 0, BW_E_INVALID);
    BW_ENSURE(bw_evidence_parse_u64(line + 6, n - 6, index), BW_E_INVALID);
    return BW_OK;
}

bw_err bw_evidence_proof_decode(const char *text, size_t len, struct bw_evidence_proof *out) {
    struct lines l = {text, len, 0};
    BW_TRY(decode_head(&l, &out->index));
    const char *line;
    size_t n;
    out->n = 0;
    for (;;) {
        BW_ENSURE(next_line(&l, &line, &n), BW_E_INVALID);
        if (n == 0)
            break; /* the empty line before the checkpoint */
        BW_ENSURE(out->n < BW_EVIDENCE_MAX_PROOF && decode_hash(line, n, out->hashes[out->n]),
                  BW_E_INVALID);
        out->n++;
    }
    BW_ENSURE(l.off < len, BW_E_INVALID);
    out->note = bw_slice_of(text + l.off, len - l.off);
    return BW_OK;
}
