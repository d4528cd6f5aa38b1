/* audit.h: the audit export's pure parts (GET /api/v1/audit/export, api_audit.c; the line
 * format is docs/EVIDENCE.md "Audit export"): parsing its query values, the cursor, and turning
 * one receipt of the log into one JSON line.
 *
 * Everything here is pure and thread-safe: no I/O, no clock. The route streams; these decide. */
#ifndef BW_API_AUDIT_H
#define BW_API_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define BW_AUDIT_LIMIT_DEFAULT 1000
#define BW_AUDIT_LIMIT_MAX 10000
#define BW_AUDIT_CURSOR_SIZE 40 /* "c1.<8 hex>.<up to 20 digits>" and the NUL */
#define BW_AUDIT_MAX_TIME_MS INT64_C(9007199254740991) /* 2^53-1, as receipts */

/* A time bound: unix milliseconds (1..16 decimal digits, no sign, <= 2^53-1) or RFC 3339
 * "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" (uppercase T and Z; fraction 1..9 digits,
 * truncated to ms; years 1970..9999; real calendar days; no leap second). Anything else,
 * including leading or trailing bytes, is refused: BW_E_INVALID. *out written on success. */
bw_err bw_audit_parse_time(const char *s, int64_t *out) BW_MUST_CHECK;

/* RFC 3339 UTC with milliseconds ("2026-12-03T13:12:37.123Z"); ms in 0..253402300799999. */
bw_err bw_audit_format_time(int64_t ms, char out[32]) BW_MUST_CHECK;

/* The cursor that continues after leaf `next - 1` of the log whose key id is key_hex (8 lowercase
 * hex): "c1.<key_hex>.<next>". Opaque to clients. It carries no scope: the route applies the
 * caller's org to every leaf whatever the cursor says, so a forged cursor can only skip. */
void bw_audit_cursor_encode(const char key_hex[9], uint64_t next, char out[BW_AUDIT_CURSOR_SIZE]);

/* Reads a cursor of this log (key_hex) into *next. BW_E_INVALID if malformed or of another log
 * (another key: a new epoch, whose indices mean other receipts). The caller checks the bound. */
bw_err bw_audit_cursor_parse(const char *s, const char key_hex[9], uint64_t *next) BW_MUST_CHECK;

/* What one export selects. org_id "" = every org (the operator without ?org_id=); otherwise only
 * receipts whose predicate org_id equals it (a receipt without one is the operator's own). */
struct bw_audit_filter {
    const char *org_id;
    int64_t from_ms; /* inclusive */
    int64_t to_ms;   /* exclusive; INT64_MAX = none */
};

/* Where each line's inclusion proof points: the export's checkpoint (tree_size leaves, its root
 * as base64) and the log's key id (receipt ids). */
struct bw_audit_proof_ref {
    const char *key_hex;
    uint64_t tree_size;
    const char *root_b64;
};

/* Decides whether the receipt `bytes` (leaf `index`, exact log bytes) is exported under f: kind
 * admin or review, in scope, time in [from, to). Returns 1 and sets *line to a new JSON object
 * (json_t *, the caller decrefs) that still needs its proof (bw_audit_line_set_proof); 0 if
 * not selected; -1 if the receipt cannot be read (BW_E_INVALID: the route fails the stream
 * rather than skip it). */
int bw_audit_select(const uint8_t *bytes, size_t len, uint64_t index, const uint8_t leaf[32],
                    const struct bw_audit_filter *f, const struct bw_audit_proof_ref *ref,
                    void **line) BW_MUST_CHECK;

/* Adds "proof" (log_index, tree_size, root_hash, hashes: base64 RFC 9162 PATH) and "cursor" to
 * a line from bw_audit_select, then appends it, compact, with a final '\n', to out. Consumes
 * line (decref'd in every case). */
bw_err bw_audit_line_finish(void *line, uint64_t index, const struct bw_audit_proof_ref *ref,
                            const uint8_t (*path)[32], size_t n, struct bw_buf *out) BW_MUST_CHECK;

#endif
