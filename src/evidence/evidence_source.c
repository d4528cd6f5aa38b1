/* evidence_source.c: offline, lock-free reading of a ledger log file (source.h). */
#include "evidence/source.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/log_frame.h"

static bw_err no_leaf(void *ctx, uint64_t index, uint64_t offset, const uint8_t leaf_hash[32]) {
    (void)ctx;
    (void)index;
    (void)offset;
    (void)leaf_hash;
    return BW_OK;
}

static bw_err map_file(const char *ledger_dir, struct bw_evidence_log *l) {
    char path[4200];
    BW_ENSURE(snprintf(path, sizeof path, "%s/log", ledger_dir) < (int)sizeof path, BW_E_INVALID);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    BW_ENSURE(fd >= 0, BW_E_IO);
    struct stat st;
    bw_err e = BW_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        e = BW_E_IO;
    else if (st.st_size == 0)
        e = BW_E_NOT_FOUND;
    if (e == BW_OK) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            e = BW_E_IO;
        else {
            l->map = m;
            l->map_len = (size_t)st.st_size;
        }
    }
    close(fd);
    return e;
}

/* Grows arrays for receipt `count` (doubling). */
static bw_err reserve_leaves(struct bw_evidence_log *l, uint64_t count, uint64_t *cap) {
    if (count < *cap)
        return BW_OK;
    uint64_t ncap = *cap ? *cap * 2 : 1024;
    void *a = realloc(l->leaf, (size_t)ncap * 32);
    if (a)
        l->leaf = a;
    void *b = a ? realloc(l->payload_off, (size_t)ncap * sizeof *l->payload_off) : NULL;
    if (b)
        l->payload_off = b;
    void *c = b ? realloc(l->payload_len, (size_t)ncap * sizeof *l->payload_len) : NULL;
    if (c)
        l->payload_len = c;
    void *d = c ? realloc(l->sig_off, (size_t)ncap * sizeof *l->sig_off) : NULL;
    BW_ENSURE(d, BW_E_NOMEM);
    l->sig_off = d;
    *cap = ncap;
    return BW_OK;
}

static bw_err add_checkpoint(struct bw_evidence_log *l, const struct bw_ledger_frame *f,
                             uint64_t size, size_t *cap) {
    /* A commit whose receipts all failed to encode re-signs the same (size, root): identical
     * bytes (Ed25519 is deterministic), so keep one per size. */
    if (l->ncps && l->cps[l->ncps - 1].size == size)
        return BW_OK;
    if (l->ncps == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        void *p = realloc(l->cps, ncap * sizeof *l->cps);
        BW_ENSURE(p, BW_E_NOMEM);
        l->cps = p;
        *cap = ncap;
    }
    struct bw_evidence_cp *cp = &l->cps[l->ncps++];
    cp->size = size;
    cp->off = f->offset + BW_FRAME_HEADER;
    cp->len = f->payload.len;
    return BW_OK;
}

/* Walks the accepted prefix [0, keep_len): every frame there parsed during the scan. */
static bw_err index_frames(struct bw_evidence_log *l, size_t keep_len) {
    uint64_t count = 0, cap = 0;
    size_t cps_cap = 0, off = 0;
    while (off < keep_len) {
        struct bw_ledger_frame f;
        BW_TRY(bw_ledger_frame_parse(l->map, keep_len, off, &f));
        if (f.type == BW_FRAME_RECEIPT) {
            BW_TRY(reserve_leaves(l, count, &cap));
            memcpy(l->leaf[count], f.sum, 32);
            l->payload_off[count] = f.offset + BW_FRAME_HEADER;
            l->payload_len[count] = (uint32_t)f.payload.len;
            l->sig_off[count] = 0;
            count++;
        } else if (f.type == BW_FRAME_SIGNATURE) {
            /* the scan accepted it, so it directly follows receipt count - 1 */
            BW_ENSURE(count > 0, BW_E_INVALID);
            l->sig_off[count - 1] = f.offset + BW_FRAME_HEADER;
        } else {
            BW_TRY(add_checkpoint(l, &f, count, &cps_cap));
        }
        off += f.total;
    }
    return BW_OK;
}

/* Keeps checkpoints up to the last one of size <= max_size; n becomes its size. */
static bw_err cap_size(struct bw_evidence_log *l, uint64_t max_size) {
    while (l->ncps && l->cps[l->ncps - 1].size > max_size)
        l->ncps--;
    BW_ENSURE(l->ncps > 0, BW_E_NOT_FOUND);
    l->n = l->cps[l->ncps - 1].size;
    return BW_OK;
}

bw_err bw_evidence_log_open(const char *ledger_dir, const char *origin,
                            const struct bw_note_verifier *v, uint64_t max_size,
                            struct bw_evidence_log *out) {
    memset(out, 0, sizeof *out);
    BW_TRY(map_file(ledger_dir, out));
    struct bw_ledger_scan sc;
    bw_err e = bw_ledger_scan(out->map, out->map_len, origin, v, no_leaf, NULL, &sc);
    if (e == BW_OK) {
        out->frozen = sc.frozen;
        e = sc.has_checkpoint ? index_frames(out, (size_t)sc.keep_len) : BW_E_NOT_FOUND;
    }
    if (e == BW_OK)
        e = cap_size(out, max_size);
    if (e != BW_OK)
        bw_evidence_log_close(out);
    return e;
}

void bw_evidence_log_close(struct bw_evidence_log *l) {
    if (l->map)
        munmap((void *)l->map, l->map_len);
    free(l->leaf);
    free(l->payload_off);
    free(l->payload_len);
    free(l->sig_off);
    free(l->cps);
    memset(l, 0, sizeof *l);
}
