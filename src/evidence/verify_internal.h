/* verify_internal.h: state shared by the verifier's files (not a public contract). */
#ifndef BW_EVIDENCE_VERIFY_INTERNAL_H
#define BW_EVIDENCE_VERIFY_INTERNAL_H

#include <stdint.h>
#include "util/err.h"

#include "evidence/pack.h"
#include "util/buf.h"

enum member_kind {
    M_RECEIPT = 0,
    M_PROOF,
    M_ENVELOPE, /* optional DSSE envelope of the receipt before its proof */
    M_CHECKPOINT,
    M_CONSISTENCY,
    M_POLICY,
    M_MISSING,
    M_MANIFEST,
    M_SIG,
};

/* 48 bytes: packs hold millions of members. */
struct member {
    const char *name; /* NUL-terminated, inside the pack's header (borrowed) */
    struct bw_slice data;
    uint64_t a, b; /* index / size / consistency pair */
    enum member_kind kind;
};

/* One exported receipt, as the checks see it. */
struct rec {
    uint64_t index;
    size_t pos; /* member position of receipts/<index>.json; its proof is at pos + 1 */
    long env;   /* member position of envelopes/<index>.dsse.json, -1 if none */
    uint8_t leaf[32];
    uint8_t parent[32];
    uint8_t policy[32];
    uint8_t org_policy[32];
    uint8_t request[32]; /* the subject's digest: a receipt and its decision share it */
    int64_t time_ms;
    uint8_t kind, has_parent, has_policy, has_org_policy, canonical;
    uint8_t verdict; /* decision receipts: enum rec_verdict */
    uint8_t linked;  /* decision receipts: REC_HAS_* of the receipts that follow it */
};

enum rec_verdict { REC_OTHER = 0, REC_ALLOW, REC_DENY, REC_APPROVAL };
#define REC_HAS_OUTCOME 1
#define REC_HAS_REVIEW 2

struct statement {
    int trusted;                   /* signature verified and well formed */
    char org[BW_PACK_ORG_MAX + 1]; /* "" = scope all */
    int64_t since;
    uint64_t first, size, receipts;
    uint8_t manifest[32];
};

struct vstate {
    const struct bw_note_verifier *trust;
    const struct bw_evidence_verify_opts *opts;
    struct bw_evidence_report *rep;
    struct member *m;
    size_t nm, cap;
    size_t nrec, nenv, cp0, ncp, cons0, ncons, pol0, npol;
    long missing, manifest, sig; /* member positions, -1 if absent */
    struct rec *recs;
    struct statement st;
    uint8_t (*cp_root)[32];
};

/* Sets a check's status (the first FAIL detail wins). */
void bw_evidence_vfail(struct vstate *v, enum bw_evidence_check c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void bw_evidence_vpass(struct vstate *v, enum bw_evidence_check c);

/* evidence_members.c: the container walk (pack-format). 1 if the layout is valid. */
/* The hash a "policies/<64 hex>.yaml" name carries; 0 if name is not one. */
int bw_evidence_policy_name_hash(const char *name, uint8_t hash[32]) BW_MUST_CHECK;
int bw_evidence_read_members(struct vstate *v, const uint8_t *pack, size_t len) BW_MUST_CHECK;

/* evidence_verify.c: the container-level checks, in run order. */
void bw_evidence_check_statement(struct vstate *v);   /* manifest-signature */
void bw_evidence_check_hashes(struct vstate *v);      /* file-hashes */
void bw_evidence_check_checkpoints(struct vstate *v); /* checkpoint-signatures */
void bw_evidence_check_consistency(struct vstate *v); /* consistency */

/* evidence_verify_sequence.c: the statement's range claims against the receipts and
 * checkpoints (sequence). Runs after the receipts were read (recs[].canonical, time_ms...). */
void bw_evidence_check_sequence(struct vstate *v);

/* evidence_verify_tree.c: the tree of a contiguous pack [first, size), recomputed once. */
struct bw_evidence_tree;
/* Builds the levels from recs[0 .. size-first) (their leaf hashes), takes the perfect subtrees
 * left of `first` from first_proof (leaf first's proof, already verified; ignored when
 * first == 0), and checks the recomputed root against root. note is the final checkpoint
 * (borrowed, must outlive the tree). Errors: BW_E_CRYPTO (root differs), BW_E_INVALID (shape),
 * BW_E_NOMEM. */
bw_err bw_evidence_tree_new(const struct rec *recs, uint64_t first, uint64_t size,
                            const uint8_t (*first_proof)[32], size_t first_proof_len,
                            const uint8_t root[32], const uint8_t *note, size_t note_len,
                            struct bw_evidence_tree **out) BW_MUST_CHECK;
void bw_evidence_tree_free(struct bw_evidence_tree *t);
/* 1 if text is byte for byte the tlog-proof of leaf index against the final checkpoint (the
 * index line, PATH's hashes in base64, the empty line, the checkpoint). Thread-safe. */
int bw_evidence_tree_proof_matches(const struct bw_evidence_tree *t, uint64_t index,
                                   const uint8_t *text, size_t len) BW_MUST_CHECK;

/* Runs fn(ctx, lo, hi) over [0, n) split across threads; returns when all are done. */
void bw_evidence_parallel(size_t n, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx);

#endif
