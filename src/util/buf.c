#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bw_buf_init(struct bw_buf *b, size_t max) {
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void bw_buf_cleanup(struct bw_buf *b) {
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

void bw_buf_reset(struct bw_buf *b) {
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = 0;
}

static bw_err reserve(struct bw_buf *b, size_t extra) {
    if (extra > b->max - b->len || b->len > b->max)
        return BW_E_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return BW_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->ptr, cap);
    if (!p)
        return BW_E_NOMEM;
    b->ptr = p;
    b->cap = cap;
    return BW_OK;
}

bw_err bw_buf_append(struct bw_buf *b, const void *p, size_t n) {
    BW_TRY(reserve(b, n));
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = 0;
    return BW_OK;
}

bw_err bw_buf_reserve(struct bw_buf *b, size_t n, uint8_t **tail) {
    BW_TRY(reserve(b, n));
    *tail = b->ptr + b->len;
    return BW_OK;
}

void bw_buf_commit(struct bw_buf *b, size_t n) {
    /* reserve() left room for the NUL after what was reserved, so len + n < cap. */
    if (!b->ptr || n >= b->cap - b->len || n > b->max - b->len)
        abort();
    b->len += n;
    b->ptr[b->len] = 0;
}

bw_err bw_buf_append_str(struct bw_buf *b, const char *s) {
    return bw_buf_append(b, s, strlen(s));
}

bw_err bw_buf_appendf(struct bw_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return BW_E_INVALID;
    BW_TRY(reserve(b, (size_t)n));
    va_start(ap, fmt);
    vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return BW_OK;
}

void bw_buf_consume(struct bw_buf *b, size_t n) {
    if (n >= b->len) {
        bw_buf_reset(b);
        return;
    }
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    b->ptr[b->len] = 0;
}
