/* ledger.h: the durable, append-only, signed evidence log.
 *
 * Receipts are leaves of an RFC 6962 / RFC 9162 Merkle tree (leaf = SHA-256(0x00 || bytes),
 * node = SHA-256(0x01 || l || r)); the leaf index is the receipt's sequence number. One ledger
 * thread owns the file and the signing key: it takes every pending append (group commit: up to
 * batch_max entries; under load at most one commit per commit_interval_us), encodes and frames
 * them, writes them plus a signed C2SP checkpoint for the new size, fdatasyncs once, then
 * completes the waiters, and keeps `preallocate` zero bytes ahead of the data. A completion with
 * BW_OK means the receipt is durable: nothing is forwarded before.
 *
 * Files under `dir` (created by bw_ledger_create): signing.key (0600, Ed25519 seed), origin
 * (the log's name), log (framed records), log.lock. Record framing, recovery and formats are in
 * docs/EVIDENCE.md.
 *
 * Thread-safety: bw_ledger_append may be called from any thread; completions run on the
 * event_base given to append, on that base's thread. open/close from one thread. */
#ifndef BW_LEDGER_LEDGER_H
#define BW_LEDGER_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/receipt.h"
#include "util/err.h"

struct event_base;
struct bw_ledger;

struct bw_ledger_opts {
    size_t batch_max;       /* flush at this many entries (default 256) */
    int batch_wait_us;      /* or after waiting this long for more (default 0: no added wait) */
    int commit_interval_us; /* under load, at most one commit per this interval (0 = none):
                               fewer, fuller batches (log_commit.c wait_for_more) */
    int no_sync;            /* 1 = skip fdatasync (benchmarks of the evidence cost only) */
    int sign_each;          /* 1 = also sign each receipt: a DSSE envelope (dsse.h), one Ed25519
                               signature per receipt on the ledger thread (~30k/s per core) */
    size_t preallocate;     /* bytes of zero-filled space kept ahead of the log (0 = none): an
                               fdatasync that overwrites blocks already in the file need not also
                               write the inode for a new size (docs/EVIDENCE.md "Files") */
};

/* Completion: err is BW_OK (durable) or BW_E_UNAVAILABLE (ledger failed or closing: the caller
 * must deny). On success `index` is the leaf index and `leaf_hash` its RFC 6962 leaf hash. */
typedef void (*bw_ledger_done_fn)(void *arg, bw_err err, uint64_t index,
                                  const uint8_t leaf_hash[32]);

/* Creates a new log in dir (which must exist and be empty of ledger files): a fresh Ed25519
 * key (file mode 0600, never printed) and origin "<origin_prefix>/<8 random hex>". Writes the
 * C2SP verifier key string ("name+hexkeyid+base64(0x01||pk)") into vkey. Errors: BW_E_EXISTS,
 * BW_E_IO. */
bw_err bw_ledger_create(const char *dir, const char *origin_prefix, char *vkey,
                        size_t vkey_size) BW_MUST_CHECK;

/* Opens the log: takes the writer lock (BW_E_UNAVAILABLE if another process holds it),
 * truncates a torn tail, rebuilds the frontier, checks the root against the last signed
 * checkpoint, and starts the ledger thread. */
bw_err bw_ledger_open(const char *dir, const struct bw_ledger_opts *opts,
                      struct bw_ledger **out) BW_MUST_CHECK;

/* Queues r (copied) for the log. fn runs later on `base`'s thread, exactly once, also when the
 * ledger is failed or closing (with BW_E_UNAVAILABLE). Never blocks on I/O (takes a mutex
 * briefly). evthread_use_pthreads() must have been called before `base` was created. A
 * receipt that fails bw_receipt_encode completes alone with BW_E_UNAVAILABLE. Only if memory
 * runs out does fn run inside this call, with BW_E_UNAVAILABLE. The completion is scheduled on
 * `base` from the ledger thread: keep the base alive and looping (a loop with nothing else
 * pending needs EVLOOP_NO_EXIT_ON_EMPTY) until it has run. */
void bw_ledger_append(struct bw_ledger *l, const struct bw_receipt *r, struct event_base *base,
                      bw_ledger_done_fn fn, void *arg);

/* Receipt id for a leaf: "<8 hex key id>.<index>" (fits in 32 bytes). */
void bw_ledger_receipt_id(const struct bw_ledger *l, uint64_t index, char out[32]);

/* The C2SP verifier key string of this log. */
const char *bw_ledger_vkey(const struct bw_ledger *l);
const char *bw_ledger_origin(const struct bw_ledger *l);

/* Durable size and the latest signed checkpoint text (signed-note format). Thread-safe; copies
 * into out (BW_E_TOO_LARGE if it does not fit). */
bw_err bw_ledger_checkpoint(struct bw_ledger *l, char *out, size_t out_size,
                            uint64_t *size) BW_MUST_CHECK;

/* Flushes pending appends (they are committed, or fail with BW_E_UNAVAILABLE), stops the
 * thread, releases the lock and frees the ledger. NULL is a no-op. Completions already decided
 * but not yet run on their base stay scheduled there and run if that base runs again (they do
 * not touch the closed ledger); if the base is freed without running them they are dropped and
 * their small per-base queue is leaked. For a clean shutdown: stop the workers' intake, run
 * their bases until completions are delivered, then close, then free the bases (either order of
 * the last two is memory-safe). */
void bw_ledger_close(struct bw_ledger *l);

/* What readiness reads (src/posture/): frozen, durable size, receipts queued and not yet
 * committed, wall time (ms) of the last published checkpoint (the open counts as one) and of
 * the last failed commit write (0 = none). Thread-safe; takes the queue mutex briefly. */
struct bw_ledger_health {
    int frozen;
    uint64_t size;
    size_t pending;
    int64_t checkpoint_ms;
    int64_t write_failed_ms;
};
void bw_ledger_health(struct bw_ledger *l, struct bw_ledger_health *out);

/* Test hook: the next write fails as if the disk were full (for fail-closed tests). */
void bw_ledger_fail_next_write(struct bw_ledger *l);

/* ---- Read-back and proofs (for GET /api/v1/receipts/{id} and evidence packs). ----
 * Thread-safe and lock-free against the ledger thread: they only touch leaves below the
 * published durable size, whose index entries never move or change. */

/* Number of durable receipts (the size of the latest published checkpoint). */
uint64_t bw_ledger_size(const struct bw_ledger *l);

/* Copies the RFC 6962 leaf hash of a durable receipt. BW_E_NOT_FOUND if index >= size. */
bw_err bw_ledger_leaf_hash(const struct bw_ledger *l, uint64_t index,
                           uint8_t out[32]) BW_MUST_CHECK;

/* Appends the canonical bytes of a durable receipt to out (read back from the log file) after
 * checking them against the in-memory leaf hash. Errors: BW_E_NOT_FOUND (index >= size),
 * BW_E_IO, BW_E_CRYPTO (the file no longer holds what was committed), BW_E_TOO_LARGE. */
bw_err bw_ledger_read_receipt(const struct bw_ledger *l, uint64_t index,
                              struct bw_buf *out) BW_MUST_CHECK;

/* Like bw_ledger_read_receipt, and also the receipt's DSSE signature (ledger.sign_each) if it
 * was signed: *has_sig = 1 and sig filled, else *has_sig = 0. */
bw_err bw_ledger_read_receipt_sig(const struct bw_ledger *l, uint64_t index, struct bw_buf *out,
                                  uint8_t sig[64], int *has_sig) BW_MUST_CHECK;

/* The log key's C2SP key id (4 bytes: also the receipt-id prefix and the DSSE keyid). */
const uint8_t *bw_ledger_key_id(const struct bw_ledger *l);

/* RFC 9162 inclusion proof of index in the tree of `size` leaves (size <= bw_ledger_size), and
 * consistency proof between two sizes, written to proof (max hashes; BW_MERKLE_MAX_PROOF always
 * fits). Cost O(size) hashes. Errors: BW_E_INVALID, BW_E_NOT_FOUND (size not durable),
 * BW_E_TOO_LARGE. */
bw_err bw_ledger_inclusion_proof(const struct bw_ledger *l, uint64_t index, uint64_t size,
                                 uint8_t (*proof)[32], size_t max, size_t *len) BW_MUST_CHECK;
bw_err bw_ledger_consistency_proof(const struct bw_ledger *l, uint64_t old_size, uint64_t new_size,
                                   uint8_t (*proof)[32], size_t max, size_t *len) BW_MUST_CHECK;

/* 1 if the log refuses to sign (recovery found a mismatch, or fdatasync failed): every append
 * completes with BW_E_UNAVAILABLE until an operator starts a new log. */
int bw_ledger_frozen(const struct bw_ledger *l) BW_MUST_CHECK;

/* Write health, for monitoring (src/posture/health.h): Unix ms of the last batch whose write
 * failed (0 = never), the errno of that failure (ENOSPC, EFBIG, EIO, ...), and whether a batch
 * was made durable after it (*recovered = 1). A receipt rejected alone (it does not encode) is
 * not a write failure. Thread-safe. */
void bw_ledger_write_state(const struct bw_ledger *l, int64_t *fail_ms, int *err, int *recovered);

/* ---- Evidence export helpers (src/evidence/). ---- */

/* The directory the ledger was opened from (for reading its log file offline). */
const char *bw_ledger_dir(const struct bw_ledger *l);

/* Loads the log key of the ledger directory `dir` without opening the log (no lock: export
 * works while the gateway runs), with the same checks as open (origin file; signing.key exactly
 * 32 bytes, mode 0600). The caller frees *out with bw_note_signer_free. Errors: BW_E_IO,
 * BW_E_INVALID, BW_E_NOMEM. */
struct bw_note_signer;
bw_err bw_ledger_load_signer(const char *dir, struct bw_note_signer **out) BW_MUST_CHECK;

/* Signs a statement that is not a checkpoint (an evidence-pack manifest) with the log key,
 * appending the signed note to out. Domain separation: text that parses as a C2SP checkpoint
 * body is refused (BW_E_INVALID), so the log key can never be made to sign a tree head outside
 * the commit path. Reentrant. */
bw_err bw_ledger_sign_statement(const struct bw_note_signer *s, const char *text, size_t len,
                                struct bw_buf *out) BW_MUST_CHECK;
/* The same with the open ledger's key. */
bw_err bw_ledger_sign_manifest(const struct bw_ledger *l, const char *text, size_t len,
                               struct bw_buf *out) BW_MUST_CHECK;

#endif
