/* cursor.h: a bounded reader over bytes, in the style of s2n-tls's stuffer and curl's strparse.
 * Every read checks what is left first; a read that does not fit fails, consumes nothing and
 * makes the cursor failed, so a parser can chain reads and check once at the end (later reads
 * on a failed cursor fail too). No read ever goes past the end: parsers of framed input
 * (ledger frames, headers, tokens) use it instead of pointer arithmetic.
 * Pure; a cursor is owned by one thread. */
#ifndef BW_UTIL_CURSOR_H
#define BW_UTIL_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#include "util/buf.h"

struct bw_cursor {
    const uint8_t *p; /* the next unread byte */
    size_t left;      /* bytes from p to the end */
    int failed;       /* a read did not fit */
};

static inline struct bw_cursor bw_cursor_of(const void *p, size_t n) {
    struct bw_cursor c = {(const uint8_t *)p, n, 0};
    return c;
}

/* 1 when every read so far fitted. */
static inline int bw_cursor_ok(const struct bw_cursor *c) {
    return !c->failed;
}

/* Each returns 1 and advances, or 0 (nothing consumed, the cursor failed). */
int bw_cursor_u8(struct bw_cursor *c, uint8_t *out) BW_MUST_CHECK;
int bw_cursor_be32(struct bw_cursor *c, uint32_t *out) BW_MUST_CHECK;
/* The next n bytes as a slice into the input (borrowed). */
int bw_cursor_take(struct bw_cursor *c, size_t n, struct bw_slice *out) BW_MUST_CHECK;
/* The input continues with the n bytes of lit: they are consumed (case-sensitive). */
int bw_cursor_literal(struct bw_cursor *c, const char *lit, size_t n) BW_MUST_CHECK;
/* The longest run (possibly empty) of bytes for which in_set is non-zero, as a slice. Never
 * fails. */
struct bw_slice bw_cursor_span(struct bw_cursor *c, int (*in_set)(uint8_t byte)) BW_MUST_CHECK;

#endif
