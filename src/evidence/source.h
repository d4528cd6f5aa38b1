/* source.h: a ledger log file read offline for export (not a public contract).
 *
 * The file is append-only and written as (R* C)* (docs/EVIDENCE.md section 5), so a reader
 * without the writer lock can map its current length and trust only the prefix up to the last
 * complete checkpoint frame that the recovery scan accepts. */
#ifndef BW_EVIDENCE_SOURCE_H
#define BW_EVIDENCE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/note.h"
#include "util/err.h"

struct bw_evidence_cp {
    uint64_t size;
    size_t off, len; /* the signed note inside the map */
};

struct bw_evidence_log {
    const uint8_t *map;
    size_t map_len;
    uint64_t n;            /* receipts covered by the final checkpoint */
    uint8_t (*leaf)[32];   /* n leaf hashes */
    uint64_t *payload_off; /* receipt bytes: map + payload_off[i], payload_len[i] bytes */
    uint32_t *payload_len;
    uint64_t *sig_off;          /* DSSE signature (64 bytes) at map + sig_off[i]; 0: not signed */
    struct bw_evidence_cp *cps; /* distinct sizes, increasing; the last is the final one */
    size_t ncps;
    int frozen; /* the scan found damage: only the prefix before it is used */
};

/* Maps ledger_dir/log and indexes it up to the last checkpoint of size <= max_size.
 * Errors: BW_E_IO, BW_E_NOT_FOUND (no such checkpoint), BW_E_NOMEM, BW_E_TOO_LARGE. */
bw_err bw_evidence_log_open(const char *ledger_dir, const char *origin,
                            const struct bw_note_verifier *v, uint64_t max_size,
                            struct bw_evidence_log *out) BW_MUST_CHECK;
void bw_evidence_log_close(struct bw_evidence_log *l);

#endif
