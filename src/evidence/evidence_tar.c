/* evidence_tar.c: the strict ustar writer and reader (tar.h). Offsets and field widths are
 * those of POSIX.1-1988 ustar (pax(1) "ustar Interchange Format"). */
#include "evidence/tar.h"

#include <string.h>

#define OFF_NAME 0
#define OFF_MODE 100
#define OFF_UID 108
#define OFF_GID 116
#define OFF_SIZE 124
#define OFF_MTIME 136
#define OFF_CHKSUM 148
#define OFF_TYPE 156
#define OFF_MAGIC 257
#define OFF_VERSION 263
#define OFF_DEVMAJOR 329
#define OFF_DEVMINOR 337

static const uint8_t zero_block[BW_TAR_BLOCK];

int bw_evidence_tar_name_ok(const char *name) {
    size_t n = strnlen(name, BW_TAR_NAME_MAX + 1);
    if (n == 0 || n > BW_TAR_NAME_MAX || name[0] == '/' || name[0] == '.')
        return 0;
    size_t comp = 0; /* start of the current path component */
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        if (c == '/' || c == 0) {
            size_t len = i - comp;
            if (len == 0 || (len == 1 && name[comp] == '.') ||
                (len == 2 && name[comp] == '.' && name[comp + 1] == '.'))
                return 0;
            comp = i + 1;
            continue;
        }
        int ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

/* Octal field of `width` bytes: width - 1 zero-padded digits and a NUL. */
static void put_octal(uint8_t *field, size_t width, uint64_t v) {
    field[width - 1] = 0;
    for (size_t i = width - 1; i > 0; i--) {
        field[i - 1] = (uint8_t)('0' + (v & 7));
        v >>= 3;
    }
}

bw_err bw_evidence_tar_header(const char *name, uint64_t size, uint8_t out[BW_TAR_BLOCK]) {
    BW_ENSURE(bw_evidence_tar_name_ok(name), BW_E_INVALID);
    BW_ENSURE(size <= BW_TAR_SIZE_MAX, BW_E_TOO_LARGE);
    memset(out, 0, BW_TAR_BLOCK);
    memcpy(out + OFF_NAME, name, strlen(name));
    put_octal(out + OFF_MODE, 8, 0644);
    put_octal(out + OFF_UID, 8, 0);
    put_octal(out + OFF_GID, 8, 0);
    put_octal(out + OFF_SIZE, 12, size);
    put_octal(out + OFF_MTIME, 12, 0);
    out[OFF_TYPE] = '0';
    memcpy(out + OFF_MAGIC, "ustar", 6); /* "ustar" NUL */
    memcpy(out + OFF_VERSION, "00", 2);
    put_octal(out + OFF_DEVMAJOR, 8, 0);
    put_octal(out + OFF_DEVMINOR, 8, 0);
    /* ustar: the checksum is the byte sum of the header with the checksum field as 8 spaces,
     * written as 6 octal digits, NUL, space. */
    memset(out + OFF_CHKSUM, ' ', 8);
    uint32_t sum = 0;
    for (size_t i = 0; i < BW_TAR_BLOCK; i++)
        sum += out[i];
    put_octal(out + OFF_CHKSUM, 7, sum);
    out[OFF_CHKSUM + 7] = ' ';
    return BW_OK;
}

static bw_err sink_write(struct bw_evidence_sink *s, const void *p, size_t n) {
    if (n == 0)
        return BW_OK;
    BW_TRY(s->write(s->ctx, p, n));
    s->written += n;
    return BW_OK;
}

bw_err bw_evidence_tar_put(struct bw_evidence_sink *s, const char *name, const void *data,
                           size_t len) {
    uint8_t hdr[BW_TAR_BLOCK];
    BW_TRY(bw_evidence_tar_header(name, len, hdr));
    BW_TRY(sink_write(s, hdr, sizeof hdr));
    BW_TRY(sink_write(s, data, len));
    size_t pad = (BW_TAR_BLOCK - len % BW_TAR_BLOCK) % BW_TAR_BLOCK;
    return sink_write(s, zero_block, pad);
}

bw_err bw_evidence_tar_finish(struct bw_evidence_sink *s) {
    BW_TRY(sink_write(s, zero_block, BW_TAR_BLOCK));
    return sink_write(s, zero_block, BW_TAR_BLOCK);
}

void bw_evidence_tar_reader_init(struct bw_evidence_tar_reader *r, const uint8_t *buf, size_t len) {
    r->buf = buf;
    r->len = len;
    r->off = 0;
}

/* Parses an octal field of exactly width - 1 digits and a NUL (the writer's form only). */
static int get_octal(const uint8_t *field, size_t width, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < width; i++) {
        if (field[i] < '0' || field[i] > '7')
            return 0;
        v = v << 3 | (uint64_t)(field[i] - '0');
    }
    if (field[width - 1] != 0)
        return 0;
    *out = v;
    return 1;
}

/* libc's memcmp is vectorized; a byte loop here was a tenth of a million-receipt verify. */
static int all_zero(const uint8_t *p, size_t n) {
    for (; n > BW_TAR_BLOCK; p += BW_TAR_BLOCK, n -= BW_TAR_BLOCK)
        if (memcmp(p, zero_block, BW_TAR_BLOCK) != 0)
            return 0;
    return memcmp(p, zero_block, n) == 0;
}

/* The end: exactly two zero blocks and nothing after them. */
static bw_err at_end(struct bw_evidence_tar_reader *r) {
    BW_ENSURE(r->len - r->off == 2 * BW_TAR_BLOCK, BW_E_INVALID);
    BW_ENSURE(all_zero(r->buf + r->off, 2 * BW_TAR_BLOCK), BW_E_INVALID);
    return BW_E_NOT_FOUND;
}

bw_err bw_evidence_tar_next(struct bw_evidence_tar_reader *r, uint64_t max_size,
                            struct bw_evidence_tar_entry *out) {
    BW_ENSURE(r->off <= r->len && r->len - r->off >= BW_TAR_BLOCK, BW_E_INVALID);
    const uint8_t *h = r->buf + r->off;
    /* A header names a member (non-empty name), so only a block starting with NUL can be the
     * end; any other block starting with NUL fails the name check below. */
    if (h[0] == 0 && all_zero(h, BW_TAR_BLOCK))
        return at_end(r);
    char name[BW_TAR_NAME_MAX + 1];
    size_t nlen = strnlen((const char *)h, 100);
    BW_ENSURE(nlen <= BW_TAR_NAME_MAX, BW_E_INVALID);
    memcpy(name, h, nlen);
    name[nlen] = 0;
    uint64_t size = 0;
    BW_ENSURE(get_octal(h + OFF_SIZE, 12, &size), BW_E_INVALID);
    uint8_t want[BW_TAR_BLOCK];
    BW_ENSURE(bw_evidence_tar_header(name, size, want) == BW_OK, BW_E_INVALID);
    /* Canonical form: the header must be exactly what the writer emits. */
    BW_ENSURE(memcmp(want, h, BW_TAR_BLOCK) == 0, BW_E_INVALID);
    BW_ENSURE(size <= max_size, BW_E_TOO_LARGE);
    size_t avail = r->len - r->off - BW_TAR_BLOCK;
    uint64_t padded = (size + BW_TAR_BLOCK - 1) / BW_TAR_BLOCK * BW_TAR_BLOCK;
    BW_ENSURE(padded <= avail, BW_E_INVALID);
    const uint8_t *data = h + BW_TAR_BLOCK;
    BW_ENSURE(all_zero(data + size, (size_t)(padded - size)), BW_E_INVALID);
    out->name = (const char *)h; /* equal to `want`: NUL-terminated at nlen */
    out->data = bw_slice_of(data, (size_t)size);
    r->off += BW_TAR_BLOCK + (size_t)padded;
    return BW_OK;
}
