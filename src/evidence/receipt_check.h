/* receipt_check.h: parsing a receipt back and proving its bytes canonical.
 *
 * A receipt is accepted only if its bytes equal the canonical re-encoding of what they parse to
 * (docs/EVIDENCE.md section 1: RFC 8785 restricted to printable-ASCII strings and integers within
 * +-(2^53-1), members in byte order of their keys, no whitespace), it is an in-toto Statement v1
 * with Bulwark's predicate type, and the predicate members the verifier relies on are well typed.
 * Pure; fuzzed by fuzz/evidence_receipt.c. Thread-safe. */
#ifndef BW_EVIDENCE_RECEIPT_CHECK_H
#define BW_EVIDENCE_RECEIPT_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/note.h"
#include "ledger/receipt.h"
#include "util/err.h"

struct bw_evidence_receipt {
    enum bw_receipt_kind kind;
    uint64_t index;                        /* predicate.log.index */
    char origin[BW_NOTE_NAME_MAX + 1];     /* predicate.log.origin */
    char org_id[64];                       /* "" when absent */
    int64_t time_ms;
    int has_parent;
    uint8_t parent_leaf_hash[32];
    int has_policy;
    uint8_t policy_sha256[32];
    int has_org_policy; /* an org's own policy was in force (docs/POLICY.md) */
    uint8_t org_policy_sha256[32];
};

/* Parses and checks receipt bytes (at most BW_RECEIPT_MAX_BYTES). On failure *why (if why is
 * not NULL) points to a static reason. Errors: BW_E_INVALID (not JSON, duplicate keys, shape),
 * BW_E_CRYPTO (valid JSON in the profile but not byte-identical to its canonical form),
 * BW_E_TOO_LARGE. */
bw_err bw_evidence_receipt_parse(const uint8_t *bytes, size_t len,
                                 struct bw_evidence_receipt *out, const char **why) BW_MUST_CHECK;

#endif
