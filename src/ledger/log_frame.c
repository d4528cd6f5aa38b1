/* log_frame.c: frame parsing and the recovery scan (docs/EVIDENCE.md "Recovery"). */
#include "ledger/log_frame.h"

#include <string.h>

#include "ledger/receipt.h"
#include "util/codec.h"
#include "util/cursor.h"

/* The largest payload of a frame type; 0 for a type that does not exist. */
static size_t payload_limit(uint8_t type) {
    switch (type) {
    case BW_FRAME_RECEIPT:
        return BW_RECEIPT_MAX_BYTES;
    case BW_FRAME_CHECKPOINT:
        return BW_NOTE_MAX_TEXT;
    case BW_FRAME_SIGNATURE:
        return 64;
    default:
        return 0;
    }
}

bw_err bw_ledger_frame_parse(const uint8_t *buf, size_t len, size_t off,
                             struct bw_ledger_frame *out) {
    BW_ENSURE(off <= len, BW_E_INVALID);
    struct bw_cursor cur = bw_cursor_of(buf + off, len - off);
    uint8_t type = 0;
    uint32_t plen = 0;
    struct bw_slice payload, sum;
    /* type, length, then exactly that payload and its 32-byte sum: each read is bounded by
     * what is left, so a length field that lies fails here and never reads past the file */
    BW_ENSURE(bw_cursor_u8(&cur, &type) && bw_cursor_be32(&cur, &plen), BW_E_INVALID);
    BW_ENSURE(plen >= 1 && plen <= payload_limit(type), BW_E_INVALID);
    BW_ENSURE(type != BW_FRAME_SIGNATURE || plen == 64, BW_E_INVALID);
    BW_ENSURE(bw_cursor_take(&cur, plen, &payload) && bw_cursor_take(&cur, 32, &sum), BW_E_INVALID);
    uint8_t want[32];
    if (type == BW_FRAME_RECEIPT)
        bw_merkle_leaf_hash(payload.ptr, payload.len, want);
    else
        bw_sha256(payload.ptr, payload.len, want);
    BW_ENSURE(memcmp(want, sum.ptr, 32) == 0, BW_E_INVALID);
    out->type = type;
    out->offset = off;
    out->total = BW_FRAME_OVERHEAD + plen;
    out->payload = payload;
    out->sum = sum.ptr;
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
    uint8_t hdr[BW_FRAME_HEADER] = {BW_FRAME_CHECKPOINT};
    bw_store_be32(hdr + 1, (uint32_t)len);
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
