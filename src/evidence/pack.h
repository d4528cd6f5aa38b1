/* pack.h: evidence packs: a deterministic ustar archive (tar.h) of receipts, proofs, checkpoints,
 * policies and a signed manifest, and the offline verifier. docs/EVIDENCE.md "Evidence pack"
 * specifies every member and byte; this header is the C contract.
 *
 * Members, in this exact order (the verifier rejects any other order, name or extra member):
 *   for each exported receipt, by increasing leaf index i (20-digit zero-padded decimal):
 *     receipts/<i>.json            the exact receipt bytes
 *     proofs/<i>.tlog-proof        C2SP tlog-proof of leaf i against the final checkpoint
 *     envelopes/<i>.dsse.json      only if the log holds its DSSE signature (ledger/dsse.h)
 *   checkpoints/<s>.note           signed checkpoints by increasing size s (last = final)
 *   consistency/<a>-<b>.proof      hash list: RFC 9162 consistency a -> b, consecutive pairs
 *   policies/<64 hex>.yaml         policy files whose SHA-256 is the name, by increasing hex
 *   missing-policies.txt           referenced policy hashes not in the pack (only if any)
 *   manifest.txt                   "<sha256 hex>  <name>\n" for every member above, in order
 *   manifest.sig                   signed note (log key) over the pack statement below
 * Statement (the signed note's text):
 *   bulwark.dev/evidence-pack/v1 | origin <o> | scope all, or scope org <id> | since <ms> |
 *   first <index> | size <final checkpoint size> | receipts <count> | manifest <sha256 hex>
 *   (one per line). */
#ifndef BW_EVIDENCE_PACK_H
#define BW_EVIDENCE_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "evidence/tar.h"
#include "ledger/note.h"
#include "util/err.h"

#define BW_PACK_STATEMENT_MAGIC "bulwark.dev/evidence-pack/v1"
#define BW_PACK_MAX_BYTES (UINT64_C(64) << 30)  /* whole pack */
#define BW_PACK_MAX_ENTRIES (UINT64_C(1) << 23) /* ~4 million receipts */
#define BW_PACK_MAX_CHECKPOINTS 1024            /* exporter thins beyond this */
#define BW_PACK_MAX_POLICY_BYTES (UINT64_C(1) << 20)
#define BW_PACK_MAX_PROOF_BYTES 16384
#define BW_PACK_MAX_MANIFEST_BYTES (BW_PACK_MAX_ENTRIES * 128)
#define BW_PACK_ORG_MAX 47

/* Signs the statement text (appends the signed note to out): bw_ledger_sign_statement with the
 * log key, offline or through the open ledger. */
typedef bw_err (*bw_evidence_sign_fn)(void *ctx, const char *text, size_t len, struct bw_buf *out);

/* Bytes held by the caller (borrowed for the call). */
struct bw_evidence_blob {
    const void *bytes;
    size_t len;
};

struct bw_evidence_export_opts {
    const char *ledger_dir;                  /* the log directory (DATA/ledger) */
    const char *origin;                      /* the log's origin (key name) */
    const struct bw_note_verifier *verifier; /* the log key, for the recovery scan */
    const char *org_id; /* NULL: every receipt (scope all); else that org's receipts */
    int64_t since_ms;   /* receipts with time_ms >= since_ms (0: all) */
    uint64_t max_size;  /* only checkpoints of at most this size (UINT64_MAX: no cap) */
    const char *const *policy_paths; /* candidate policy files, included if referenced */
    size_t n_policy_paths;
    const struct bw_evidence_blob *policy_blobs; /* candidate policies held in memory (org */
    size_t n_policy_blobs;                       /* policies from the database); borrowed */
    bw_evidence_sign_fn sign;
    void *sign_ctx;
};

/* Reads the log file (no lock; only up to the last complete checkpoint), selects receipts and
 * writes the pack to sink. Deterministic: the same log and options give identical bytes. On
 * failure why gets a one-line reason. Errors: BW_E_IO, BW_E_INVALID, BW_E_NOT_FOUND (no
 * checkpoint), BW_E_TOO_LARGE, BW_E_NOMEM, BW_E_CRYPTO, or the sink's error. */
bw_err bw_evidence_export(const struct bw_evidence_export_opts *o, struct bw_evidence_sink *sink,
                          char *why, size_t why_size) BW_MUST_CHECK;

/* Candidate policy files of a data directory: its top-level regular NAME.yaml / NAME.yml files
 * (bulwark.yaml among them: the default config, whose SHA-256 is the receipts' policy hash), in
 * directory order, at most max. Writes paths (each BW_PACK_PATH_MAX bytes) and returns the
 * count; unreadable dir -> 0. */
#define BW_PACK_PATH_MAX 4096
size_t bw_evidence_policy_candidates(const char *data_dir, char (*paths)[BW_PACK_PATH_MAX],
                                     size_t max);

/* ---- Verification ---- */

enum bw_evidence_check {
    BW_CHECK_PACK_FORMAT = 0,
    BW_CHECK_MANIFEST_SIGNATURE,
    BW_CHECK_FILE_HASHES,
    BW_CHECK_CHECKPOINT_SIGNATURES,
    BW_CHECK_CONSISTENCY,
    BW_CHECK_RECEIPT_CANONICAL,
    BW_CHECK_INCLUSION,
    BW_CHECK_SEQUENCE,
    BW_CHECK_PARENT_LINKS,
    BW_CHECK_POLICIES,
    BW_CHECK_RECEIPT_SIGNATURES,
    BW_CHECK_COUNT,
};

enum bw_evidence_status {
    BW_STATUS_PASS = 0,
    BW_STATUS_FAIL,
    BW_STATUS_SKIP, /* not run: an earlier failure made it meaningless, or nothing to check */
    BW_STATUS_WARN, /* passed only because the caller allowed it (missing policies) */
};

struct bw_evidence_report {
    enum bw_evidence_status status[BW_CHECK_COUNT];
    char detail[BW_CHECK_COUNT][256]; /* first failure (or a note) per check */
    char origin[BW_NOTE_NAME_MAX + 1];
    char scope[64];
    uint64_t receipts, checkpoints, size, first;
    size_t n_missing_policies;
    char missing_policies[16][65]; /* the first 16 */
    int ok;                        /* every check PASS, WARN or SKIP-with-nothing-to-check */
};

struct bw_evidence_verify_opts {
    int allow_missing_policies;
};

/* The stable name of a check ("manifest-signature", ...). */
const char *bw_evidence_check_name(enum bw_evidence_check c);
const char *bw_evidence_status_name(enum bw_evidence_status s);

/* Verifies a pack in memory against the trusted key only. Fills report; returns BW_OK if the
 * pack verified (report->ok), BW_E_CRYPTO if any check failed, BW_E_NOMEM on allocation
 * failure (report incomplete). */
bw_err bw_evidence_verify(const uint8_t *pack, size_t len, const struct bw_note_verifier *trust,
                          const struct bw_evidence_verify_opts *opts,
                          struct bw_evidence_report *report) BW_MUST_CHECK;

#endif
