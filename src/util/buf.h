/* buf.h: borrowed slices and capped growable buffers (after curl's dynbuf).
 *
 * A bw_buf is given a hard maximum at init; appending past it fails with BW_E_TOO_LARGE and
 * leaves the buffer unchanged. Not thread-safe; one owner. */
#ifndef BW_UTIL_BUF_H
#define BW_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Borrowed bytes: never freed through the slice. */
struct bw_slice {
    const uint8_t *ptr;
    size_t len;
};

struct bw_buf {
    uint8_t *ptr; /* NUL-terminated after every append (not counted in len) */
    size_t len;
    size_t cap; /* allocated bytes */
    size_t max; /* hard limit on len */
};

void bw_buf_init(struct bw_buf *b, size_t max);
/* Frees the storage; wipe=1 zeroes it first (for anything secret-adjacent). */
void bw_buf_cleanup(struct bw_buf *b);
void bw_buf_reset(struct bw_buf *b); /* len = 0, keeps storage */
bw_err bw_buf_append(struct bw_buf *b, const void *p, size_t n) BW_MUST_CHECK;
bw_err bw_buf_append_str(struct bw_buf *b, const char *s) BW_MUST_CHECK;
bw_err bw_buf_appendf(struct bw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) BW_MUST_CHECK;
/* Writing in place, for encoders that do their own bounds checks (receipt.c): makes room for
 * n more bytes after len, plus the NUL, and sets *tail to where they start. len is unchanged
 * until bw_buf_commit; the caller writes at most n bytes at *tail. Errors: BW_E_TOO_LARGE if
 * len + n would pass max (*tail untouched), BW_E_NOMEM. The storage may move: pointers into ptr
 * taken before the call are stale. */
bw_err bw_buf_reserve(struct bw_buf *b, size_t n, uint8_t **tail) BW_MUST_CHECK;
/* Counts n bytes written at the tail from bw_buf_reserve (n at most what was reserved; n past
 * the storage or past max aborts) and writes the NUL after them. n = 0 gives the reservation
 * up and restores the NUL. */
void bw_buf_commit(struct bw_buf *b, size_t n);
/* Removes the first n bytes (n <= len). */
void bw_buf_consume(struct bw_buf *b, size_t n);

static inline struct bw_slice bw_slice_of(const void *p, size_t n) {
    struct bw_slice s = {(const uint8_t *)p, n};
    return s;
}

#endif
