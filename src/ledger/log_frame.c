/* log_frame.c: frame parsing and the recovery scan (docs/EVIDENCE.md "Recovery"). */
#include "ledger/log_frame.h"

#include <string.h>

#include "ledger/receipt.h"
#include "util/codec.h"

bw_err bw_ledger_frame_parse(const uint8_t *buf, size_t len, size_t off,
                             struct bw_ledger_frame *out) {
    BW_ENSURE(off <= len && len - off >= BW_FRAME_OVERHEAD, BW_E_INVALID);
    const uint8_t *p = buf + off;
    uint32_t plen = bw_load_be32(p + 1);
    size_t limit = p[0] == BW_FRAME_RECEIPT      ? BW_RECEIPT_MAX_BYTES
                   : p[0] == BW_FRAME_CHECKPOINT ? BW_NOTE_MAX_TEXT
                   : p[0] == BW_FRAME_SIGNATURE  ? 64
                                                 : 0;
    BW_ENSURE(plen >= 1 && plen <= limit, BW_E_INVALID);
    BW_ENSURE(p[0] != BW_FRAME_SIGNATURE || plen == 64, BW_E_INVALID);
    BW_ENSURE(len - off - BW_FRAME_OVERHEAD >= plen, BW_E_INVALID);
    const uint8_t *payload = p + BW_FRAME_HEADER, *sum = payload + plen;
    uint8_t want[32];
    if (p[0] == BW_FRAME_RECEIPT)
        bw_merkle_leaf_hash(payload, plen, want);
    else
        bw_sha256(payload, plen, want);
    BW_ENSURE(memcmp(want, sum, 32) == 0, BW_E_INVALID);
    out->type = p[0];
    out->offset = off;
    out->total = BW_FRAME_OVERHEAD + plen;
    out->payload = bw_slice_of(payload, plen);
    out->sum = sum;
    return BW_OK;
}

bw_err bw_ledger_frame_append_signature(struct bw_buf *out, const uint8_t sig[64]) {
    uint8_t hdr[BW_FRAME_HEADER] = {BW_FRAME_SIGNATURE, 0, 0, 0, 64};
    uint8_t sum[32];
    bw_sha256(sig, 64, sum);
    BW_TRY(bw_buf_append(out, hdr, sizeof hdr));
    BW_TRY(bw_buf_append(out, sig, 64));
    return bw_buf_append(out, sum, sizeof sum);
}

bw_err bw_ledger_frame_append_checkpoint(struct bw_buf *out, const char *note, size_t len) {
    BW_ENSURE(len >= 1 && len <= BW_NOTE_MAX_TEXT, BW_E_INVALID);
    uint8_t hdr[BW_FRAME_HEADER] = {BW_FRAME_CHECKPOINT, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                                    (uint8_t)(len >> 8), (uint8_t)len};
    uint8_t sum[32];
    bw_sha256(note, len, sum);
    BW_TRY(bw_buf_append(out, hdr, sizeof hdr));
    BW_TRY(bw_buf_append(out, note, len));
    return bw_buf_append(out, sum, sizeof sum);
}

/* A checkpoint frame's note, parsed; with_sig also requires v's signature. */
static int checkpoint_ok(const struct bw_ledger_frame *f, const struct bw_note_verifier *v,
                         int with_sig, struct bw_checkpoint *cp) {
    const char *note = (const char *)f->payload.ptr;
    size_t text_len = 0;
    if (with_sig) {
        if (bw_note_verify(v, note, f->payload.len, &text_len) != BW_OK)
            return 0;
    } else {
        /* Cheap structural pass: the signed text ends at the last blank line. */
        const char *sep = NULL;
        for (size_t i = f->payload.len; i >= 2 && !sep; i--)
            if (note[i - 2] == '\n' && note[i - 1] == '\n')
                sep = note + i - 2;
        if (!sep)
            return 0;
        text_len = (size_t)(sep - note) + 1;
    }
    return bw_note_checkpoint_parse(note, text_len, cp) == BW_OK;
}

/* Is there a checkpoint signed by v anywhere in buf[from..len)? Brute force over offsets: only
 * run on the bytes after a damaged frame. */
static int signed_checkpoint_after(const uint8_t *buf, size_t len, size_t from,
                                   const struct bw_note_verifier *v) {
    for (size_t off = from; off < len; off++) {
        struct bw_ledger_frame f;
        struct bw_checkpoint cp;
        if (buf[off] == BW_FRAME_CHECKPOINT && bw_ledger_frame_parse(buf, len, off, &f) == BW_OK &&
            checkpoint_ok(&f, v, 1, &cp))
            return 1;
    }
    return 0;
}

/* Preallocated space is zero-filled; a torn write leaves at least one frame byte (no frame
 * type is 0). */
static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

struct scan_state {
    struct bw_merkle_frontier frontier; /* all receipt frames so far */
    uint64_t count;
    size_t last_off; /* offset of the last good checkpoint frame */
};

static void freeze(struct bw_ledger_scan *out, const char *why) {
    out->frozen = 1;
    out->why = why;
}

/* A checkpoint frame in sequence: it must describe exactly the receipts before it. */
static int accept_checkpoint(const struct bw_ledger_frame *f, const char *origin,
                             const struct bw_note_verifier *v, struct scan_state *st,
                             struct bw_ledger_scan *out) {
    struct bw_checkpoint cp;
    if (!checkpoint_ok(f, v, 0, &cp) || strcmp(cp.origin, origin) != 0) {
        freeze(out, "checkpoint frame with a foreign or malformed note");
        return 0;
    }
    uint8_t root[32];
    bw_merkle_frontier_root(&st->frontier, root);
    if (cp.size != st->count || memcmp(cp.root, root, 32) != 0) {
        freeze(out, "recomputed root differs from a signed checkpoint");
        return 0;
    }
    out->keep_len = f->offset + f->total;
    out->leaves = st->count;
    out->frontier = st->frontier;
    out->has_checkpoint = 1;
    out->checkpoint_off = f->offset + BW_FRAME_HEADER;
    out->checkpoint_len = f->payload.len;
    st->last_off = f->offset;
    return 1;
}

bw_err bw_ledger_scan(const uint8_t *buf, size_t len, const char *origin,
                      const struct bw_note_verifier *v, bw_ledger_scan_leaf_fn on_leaf, void *ctx,
                      struct bw_ledger_scan *out) {
    memset(out, 0, sizeof *out);
    bw_merkle_frontier_init(&out->frontier);
    struct scan_state st;
    memset(&st, 0, sizeof st);
    bw_merkle_frontier_init(&st.frontier);
    size_t off = 0;
    struct bw_ledger_frame f;
    uint8_t prev = 0;
    while (off < len && bw_ledger_frame_parse(buf, len, off, &f) == BW_OK) {
        if (f.type == BW_FRAME_SIGNATURE && prev != BW_FRAME_RECEIPT)
            break; /* a signature belongs right after its receipt: a bad frame here */
        prev = f.type;
        if (f.type == BW_FRAME_SIGNATURE) {
            /* covered by the R frame before it; checked offline (bulwark verify) */
        } else if (f.type == BW_FRAME_RECEIPT) {
            BW_TRY(on_leaf(ctx, st.count, off, f.sum));
            BW_TRY(bw_merkle_frontier_append(&st.frontier, f.sum));
            st.count++;
        } else if (!accept_checkpoint(&f, origin, v, &st, out)) {
            return BW_OK;
        }
        off += f.total;
    }
    if (out->has_checkpoint) {
        /* Only the last checkpoint's signature is checked here (one verify per open); the
         * earlier ones are bound to it by their roots and checked offline by bulwark verify. */
        struct bw_ledger_frame last;
        struct bw_checkpoint cp;
        if (bw_ledger_frame_parse(buf, len, st.last_off, &last) != BW_OK ||
            !checkpoint_ok(&last, v, 1, &cp)) {
            freeze(out, "last checkpoint is not signed by this log's key");
            return BW_OK;
        }
    }
    if (off < len && signed_checkpoint_after(buf, len, off + 1, v))
        freeze(out, "damaged record followed by signed checkpoints (not a torn tail)");
    else if (out->keep_len < len && all_zero(buf + out->keep_len, len - out->keep_len))
        out->zero_tail = 1;
    else if (out->keep_len < len)
        out->why = "torn tail truncated";
    return BW_OK;
}
