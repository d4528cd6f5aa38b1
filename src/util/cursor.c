/* cursor.c: the bounded reader (cursor.h). */
#include "util/cursor.h"

#include <string.h>

static int fits(struct bw_cursor *c, size_t n) {
    if (c->failed || c->left < n) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

int bw_cursor_u8(struct bw_cursor *c, uint8_t *out) {
    if (!fits(c, 1))
        return 0;
    *out = c->p[0];
    c->p++;
    c->left--;
    return 1;
}

int bw_cursor_be32(struct bw_cursor *c, uint32_t *out) {
    if (!fits(c, 4))
        return 0;
    *out = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 |
           (uint32_t)c->p[3];
    c->p += 4;
    c->left -= 4;
    return 1;
}

int bw_cursor_take(struct bw_cursor *c, size_t n, struct bw_slice *out) {
    if (!fits(c, n))
        return 0;
    *out = bw_slice_of(c->p, n);
    c->p += n;
    c->left -= n;
    return 1;
}

int bw_cursor_literal(struct bw_cursor *c, const char *lit, size_t n) {
    if (!fits(c, n))
        return 0;
    if (memcmp(c->p, lit, n) != 0) {
        c->failed = 1;
        return 0;
    }
    c->p += n;
    c->left -= n;
    return 1;
}

struct bw_slice bw_cursor_span(struct bw_cursor *c, int (*in_set)(uint8_t byte)) {
    size_t n = 0;
    if (!c->failed)
        while (n < c->left && in_set(c->p[n]))
            n++;
    struct bw_slice s = bw_slice_of(c->p, n);
    c->p += n;
    c->left -= n;
    return s;
}
