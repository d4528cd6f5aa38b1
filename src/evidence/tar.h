/* tar.h: the evidence pack container: a strict subset of POSIX ustar (IEEE 1003.1-1988).
 *
 * Writer: every member is a regular file with a fixed header (mode 0644, uid/gid 0, mtime 0,
 * empty user/group names, no prefix), contents zero-padded to 512 bytes, and the archive ends
 * with two zero blocks. docs/EVIDENCE.md "Evidence pack" gives every header byte.
 * Reader: accepts only archives this writer could have produced: each header must be
 * byte-identical to the one the writer would emit for its (name, size), padding must be zero,
 * and nothing may follow the end blocks. Names are 1..99 bytes of [a-z0-9._/-]. Pure functions
 * over memory (fuzzed by fuzz/evidence_pack.c). Not thread-safe per object. */
#ifndef BW_EVIDENCE_TAR_H
#define BW_EVIDENCE_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define BW_TAR_BLOCK 512
#define BW_TAR_NAME_MAX 99
/* ustar size field: 11 octal digits. */
#define BW_TAR_SIZE_MAX ((UINT64_C(1) << 33) - 1)

/* Where the writer's bytes go. write returns BW_OK or an error that aborts the archive. */
struct bw_evidence_sink {
    bw_err (*write)(void *ctx, const void *p, size_t n);
    void *ctx;
    uint64_t written; /* bytes passed to write so far */
};

/* Renders the 512-byte header for (name, size). BW_E_INVALID for a name outside the charset or
 * length, BW_E_TOO_LARGE for size > BW_TAR_SIZE_MAX. */
bw_err bw_evidence_tar_header(const char *name, uint64_t size,
                              uint8_t out[BW_TAR_BLOCK]) BW_MUST_CHECK;
/* Writes one member (header, data, zero padding). */
bw_err bw_evidence_tar_put(struct bw_evidence_sink *s, const char *name, const void *data,
                           size_t len) BW_MUST_CHECK;
/* Writes the two zero end blocks. */
bw_err bw_evidence_tar_finish(struct bw_evidence_sink *s) BW_MUST_CHECK;

/* A member inside the reader's buffer (borrowed): name is the header's own name field, which a
 * canonical header NUL-terminates (names are at most 99 of its 100 bytes). */
struct bw_evidence_tar_entry {
    const char *name;
    struct bw_slice data;
};

struct bw_evidence_tar_reader {
    const uint8_t *buf;
    size_t len;
    size_t off;
};

void bw_evidence_tar_reader_init(struct bw_evidence_tar_reader *r, const uint8_t *buf, size_t len);
/* Next member. BW_OK with *out filled; BW_E_NOT_FOUND at the (well-formed) end; BW_E_INVALID
 * for anything malformed (non-canonical header, truncation, bad name, trailing bytes);
 * BW_E_TOO_LARGE if the member is larger than max_size. */
bw_err bw_evidence_tar_next(struct bw_evidence_tar_reader *r, uint64_t max_size,
                            struct bw_evidence_tar_entry *out) BW_MUST_CHECK;

/* 1 if name is 1..BW_TAR_NAME_MAX bytes of [a-z0-9._/-], does not start with '/' or '.', and has
 * no empty, "." or ".." path component (no traversal, no absolute paths). */
int bw_evidence_tar_name_ok(const char *name) BW_MUST_CHECK;

#endif
