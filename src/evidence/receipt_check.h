/* receipt_check.h: parsing a receipt back, proving its bytes canonical and checking it against
 * the documented receipt profile.
 *
 * A receipt is read only if its bytes equal the canonical re-encoding of what they parse to
 * (docs/EVIDENCE.md section 1: RFC 8785 restricted to printable-ASCII strings and integers within
 * +-(2^53-1), members in byte order of their keys, no whitespace), it is an in-toto Statement v1
 * with Bulwark's predicate type, and the members read here are well typed. The verifier also
 * requires the whole profile (section 1.1: exact member set per kind, types, enums, non-empty
 * strings, ranges, one subject), which the single table in evidence_verify_profile.c states.
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
    uint64_t index;                    /* predicate.log.index */
    char origin[BW_NOTE_NAME_MAX + 1]; /* predicate.log.origin */
    char org_id[64];                   /* "" when absent */
    int64_t time_ms;
    int has_parent;
    uint8_t parent_leaf_hash[32];
    int has_policy;
    uint8_t policy_sha256[32];
    int has_org_policy; /* an org's own policy was in force (docs/POLICY.md) */
    uint8_t org_policy_sha256[32];
    char decision[24];          /* predicate.decision, "" when absent or not a short string */
    int has_request;            /* subject[0].digest.sha256 is 64 lowercase hex */
    uint8_t request_sha256[32]; /* the request the receipt is about */
    char detail[128];           /* bw_evidence_receipt_check's reason, naming the member */
};

/* Parses and checks receipt bytes (at most BW_RECEIPT_MAX_BYTES). On failure *why (if why is
 * not NULL) points to a static reason. Errors: BW_E_INVALID (not JSON, duplicate keys, shape),
 * BW_E_CRYPTO (valid JSON in the profile but not byte-identical to its canonical form),
 * BW_E_TOO_LARGE. */
bw_err bw_evidence_receipt_parse(const uint8_t *bytes, size_t len, struct bw_evidence_receipt *out,
                                 const char **why) BW_MUST_CHECK;

/* As bw_evidence_receipt_parse, and the receipt must also hold to the whole documented profile
 * of its kind (docs/EVIDENCE.md 1.1): the verifier's check. The exporter and the receipt API use
 * the parse above, so a receipt outside the profile is still exported and served, and the
 * verifier says why. On failure *why may point into out->detail. Errors as above. */
bw_err bw_evidence_receipt_check(const uint8_t *bytes, size_t len, struct bw_evidence_receipt *out,
                                 const char **why) BW_MUST_CHECK;

#endif
