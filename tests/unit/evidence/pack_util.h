/* pack_util.h: test helpers over evidence packs: unpack into members, edit, and repack with a
 * freshly signed manifest (what an insider holding the log key can do). cmocka asserts. */
#ifndef BW_TESTS_PACK_UTIL_H
#define BW_TESTS_PACK_UTIL_H

#include <string.h>

#include "evidence/pack.h"
#include "evidence/tar.h"
#include "ledger/ledger.h"
#include "util/codec.h"

static inline bw_err buf_write(void *ctx, const void *p, size_t n) {
    return bw_buf_append(ctx, p, n);
}

static inline bw_err sign_with(void *ctx, const char *text, size_t len, struct bw_buf *out) {
    return bw_ledger_sign_statement(ctx, text, len, out);
}

/* ---- repacking: rebuild a pack from edited members with a freshly signed manifest ---- */

struct mem {
    char name[128];
    struct bw_buf data;
};

static inline size_t unpack(const struct bw_buf *b, struct mem *m, size_t max) {
    struct bw_evidence_tar_reader r;
    struct bw_evidence_tar_entry e;
    size_t n = 0;
    bw_evidence_tar_reader_init(&r, b->ptr, b->len);
    while (bw_evidence_tar_next(&r, UINT64_MAX, &e) == BW_OK) {
        assert_true(n < max);
        snprintf(m[n].name, sizeof m[n].name, "%s", e.name);
        bw_buf_init(&m[n].data, 1u << 24);
        assert_int_equal(bw_buf_append(&m[n].data, e.data.ptr, e.data.len), BW_OK);
        n++;
    }
    return n;
}

static inline void free_mems(struct mem *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        bw_buf_cleanup(&m[i].data);
}

static inline void remove_mem(struct mem *m, size_t *n, size_t i) {
    bw_buf_cleanup(&m[i].data);
    memmove(&m[i], &m[i + 1], (*n - i - 1) * sizeof *m);
    (*n)--;
}

/* Writes the members (the last two, manifest.txt and manifest.sig, are regenerated; the
 * statement keeps every line of the original but the manifest hash, and `line` (e.g.
 * "since 0"), if not NULL, replaces the line that starts with the same word). */
static inline void repack_with(struct mem *m, size_t n, const struct bw_note_signer *s,
                               const char *line, struct bw_buf *out) {
    struct bw_buf man, text, note;
    bw_buf_init(&man, 1u << 24);
    bw_buf_init(&text, 8192);
    bw_buf_init(&note, 8192);
    bw_buf_init(out, 64u << 20);
    struct bw_evidence_sink sink = {buf_write, out, 0};
    char hex[65];
    uint8_t h[32];
    for (size_t i = 0; i + 2 < n; i++) {
        bw_sha256(m[i].data.ptr, m[i].data.len, h);
        assert_int_equal(bw_hex_encode(h, 32, hex, sizeof hex), BW_OK);
        assert_int_equal(bw_buf_appendf(&man, "%s  %s\n", hex, m[i].name), BW_OK);
        assert_int_equal(bw_evidence_tar_put(&sink, m[i].name, m[i].data.ptr, m[i].data.len),
                         BW_OK);
    }
    bw_sha256(man.ptr, man.len, h);
    assert_int_equal(bw_hex_encode(h, 32, hex, sizeof hex), BW_OK);
    const char *old = (const char *)m[n - 1].data.ptr;
    const char *ml = strstr(old, "manifest ");
    assert_non_null(ml);
    for (const char *p = old; p < ml;) {
        const char *nl = strchr(p, '\n');
        size_t word = line ? strcspn(line, " ") + 1 : 0;
        if (line && strncmp(p, line, word) == 0)
            assert_int_equal(bw_buf_appendf(&text, "%s\n", line), BW_OK);
        else
            assert_int_equal(bw_buf_append(&text, p, (size_t)(nl - p) + 1), BW_OK);
        p = nl + 1;
    }
    assert_int_equal(bw_buf_appendf(&text, "manifest %s\n", hex), BW_OK);
    assert_int_equal(bw_ledger_sign_statement(s, (const char *)text.ptr, text.len, &note), BW_OK);
    assert_int_equal(bw_evidence_tar_put(&sink, "manifest.txt", man.ptr, man.len), BW_OK);
    assert_int_equal(bw_evidence_tar_put(&sink, "manifest.sig", note.ptr, note.len), BW_OK);
    assert_int_equal(bw_evidence_tar_finish(&sink), BW_OK);
    bw_buf_cleanup(&man);
    bw_buf_cleanup(&text);
    bw_buf_cleanup(&note);
}

static inline size_t find_mem(struct mem *m, size_t n, const char *prefix) {
    for (size_t i = 0; i < n; i++)
        if (strncmp(m[i].name, prefix, strlen(prefix)) == 0)
            return i;
    fail_msg("no member %s", prefix);
    return 0;
}

#define repack(m, n, s, out) repack_with((m), (n), (s), NULL, (out))

#endif
