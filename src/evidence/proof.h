/* proof.h: text encodings of Merkle proofs.
 *
 * C2SP tlog-proof (https://c2sp.org/tlog-proof), as written by Bulwark:
 *   "c2sp.org/tlog-proof@v1\n" "index <decimal, no leading zeros>\n"
 *   one line per inclusion-proof hash (base64, RFC 4648 4, of 32 bytes; leaf's sibling first)
 *   "\n" then the checkpoint signed note verbatim.
 * The decoder also accepts the optional "extra <base64>\n" line of the spec (ignored: it is not
 * authenticated). Hash list (consistency proofs in packs and over HTTP): zero or more lines
 * "<base64 of 32 bytes>\n". Pure, bounded by BW_EVIDENCE_MAX_PROOF hashes; fuzzed by
 * fuzz/evidence_proof.c. */
#ifndef BW_EVIDENCE_PROOF_H
#define BW_EVIDENCE_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/merkle.h"
#include "util/buf.h"
#include "util/err.h"

#define BW_EVIDENCE_PROOF_MAGIC "c2sp.org/tlog-proof@v1"
#define BW_EVIDENCE_MAX_PROOF BW_MERKLE_MAX_PROOF

/* Appends a tlog-proof. */
bw_err bw_evidence_proof_encode(uint64_t index, const uint8_t (*hashes)[32], size_t n,
                                const char *note, size_t note_len,
                                struct bw_buf *out) BW_MUST_CHECK;

struct bw_evidence_proof {
    uint64_t index;
    size_t n;
    uint8_t hashes[BW_EVIDENCE_MAX_PROOF][32];
    struct bw_slice note; /* inside the input */
};

/* Parses a tlog-proof. BW_E_INVALID for anything malformed (including more than
 * BW_EVIDENCE_MAX_PROOF hashes or an empty checkpoint). */
bw_err bw_evidence_proof_decode(const char *text, size_t len,
                                struct bw_evidence_proof *out) BW_MUST_CHECK;

/* Appends / parses a hash list. decode writes at most max hashes (BW_E_INVALID beyond). */
bw_err bw_evidence_hashes_encode(const uint8_t (*hashes)[32], size_t n,
                                 struct bw_buf *out) BW_MUST_CHECK;
bw_err bw_evidence_hashes_decode(const char *text, size_t len, uint8_t (*hashes)[32], size_t max,
                                 size_t *n) BW_MUST_CHECK;

/* Parses a decimal without sign or leading zeros ("0" allowed) of at most 19 digits (fits in
 * int64). Returns 1 on success. */
int bw_evidence_parse_u64(const char *s, size_t len, uint64_t *out) BW_MUST_CHECK;

#endif
