/* log_frame.h: the on-disk record framing of the ledger file and the pure recovery scan.
 *
 * Frame (docs/EVIDENCE.md "Record framing"):
 *   type (1 byte: 'R' receipt, 'C' checkpoint) | length (u32 big-endian) | payload | sum (32)
 *   R: payload = canonical receipt bytes (1..BW_RECEIPT_MAX_BYTES), sum = RFC 6962 leaf hash
 *      SHA-256(0x00 || payload), which doubles as the checksum
 *   C: payload = the signed note of the checkpoint for the size after the preceding R frames
 *      (1..BW_NOTE_MAX_TEXT), sum = SHA-256(payload)
 *   S: payload = the 64-byte Ed25519 DSSE signature (dsse.h) of the receipt in the R frame
 *      right before it (ledger.sign_each), sum = SHA-256(payload); anywhere else it is a bad
 *      frame
 * Each commit writes its R frames followed by exactly one C frame, so a recovered log always
 * ends with a C frame. Pure functions over memory: fuzzed by fuzz/ledger_log_reader.c. */
#ifndef BW_LEDGER_LOG_FRAME_H
#define BW_LEDGER_LOG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/merkle.h"
#include "ledger/note.h"
#include "util/buf.h"
#include "util/err.h"

#define BW_FRAME_RECEIPT 'R'
#define BW_FRAME_CHECKPOINT 'C'
#define BW_FRAME_SIGNATURE 'S'
#define BW_FRAME_HEADER 5
#define BW_FRAME_SUM 32
#define BW_FRAME_OVERHEAD (BW_FRAME_HEADER + BW_FRAME_SUM)

struct bw_ledger_frame {
    uint8_t type;
    size_t offset; /* of the type byte */
    size_t total;  /* header + payload + sum */
    struct bw_slice payload;
    const uint8_t *sum; /* 32 bytes inside the input */
};

/* Parses the frame at buf[off..len): complete, known type, length within the type's limit,
 * checksum matching. BW_E_INVALID otherwise (torn, corrupt or foreign bytes). */
bw_err bw_ledger_frame_parse(const uint8_t *buf, size_t len, size_t off,
                             struct bw_ledger_frame *out) BW_MUST_CHECK;

/* Appends a signature frame (64 bytes). */
bw_err bw_ledger_frame_append_signature(struct bw_buf *out, const uint8_t sig[64]) BW_MUST_CHECK;

/* Appends a checkpoint frame for the signed note text. */
bw_err bw_ledger_frame_append_checkpoint(struct bw_buf *out, const char *note,
                                         size_t len) BW_MUST_CHECK;

/* Called for each receipt frame of the scanned prefix, in order (index counts from 0). Frames
 * after the last checkpoint are reported too and then dropped by the caller: use
 * bw_ledger_scan.leaves, not the number of calls. Returning an error aborts the scan. */
typedef bw_err (*bw_ledger_scan_leaf_fn)(void *ctx, uint64_t index, uint64_t offset,
                                         const uint8_t leaf_hash[32]);

struct bw_ledger_scan {
    uint64_t keep_len;                  /* bytes of the file that form the durable log */
    uint64_t leaves;                    /* receipts covered by the last checkpoint */
    struct bw_merkle_frontier frontier; /* tree of those leaves */
    int has_checkpoint;
    size_t checkpoint_off; /* signed note text of the last checkpoint, inside the input */
    size_t checkpoint_len;
    int zero_tail;   /* 1: every byte after keep_len is zero (preallocated space, not damage) */
    int frozen;      /* 1: the log must not sign again (see why) */
    const char *why; /* static text for the log line when frozen or truncated */
};

/* Recovery scan (docs/EVIDENCE.md "Recovery"). Walks complete, checksum-valid frames from
 * offset 0. Every checkpoint frame must name `origin`, have the size of the receipts before it
 * and their root; the last one must also carry a valid signature by v. A violation freezes the
 * log. At the first bad frame the rest is a torn tail, unless a checkpoint frame signed by v
 * still follows it: then the damage is not a torn write and the log freezes. keep_len is the
 * end of the last good checkpoint (what to truncate to when not frozen). A tail of zero bytes
 * after it is preallocated space (zero_tail), neither torn nor damaged. Errors only from
 * on_leaf. */
bw_err bw_ledger_scan(const uint8_t *buf, size_t len, const char *origin,
                      const struct bw_note_verifier *v, bw_ledger_scan_leaf_fn on_leaf, void *ctx,
                      struct bw_ledger_scan *out) BW_MUST_CHECK;

#endif
