/* receipt_internal.h: the parsed form of one receipt, shared by the canonical parser
 * (evidence_receipt.c) and the profile check (evidence_verify_profile.c). Not a public contract.
 *
 * A receipt is at most BW_RECEIPT_MAX_BYTES, so offsets fit in 16 bits and the whole tree lives
 * in a fixed array on the caller's stack: no allocation per receipt (packs hold millions). */
#ifndef BW_EVIDENCE_RECEIPT_INTERNAL_H
#define BW_EVIDENCE_RECEIPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#include "ledger/receipt.h"

_Static_assert(BW_RECEIPT_MAX_BYTES < 65536, "receipt offsets are 16-bit");

/* More JSON values than any receipt of the profile holds (the largest has about 100): a
 * receipt with more is refused before its shape is even looked at. */
#define BW_JSON_MAX_NODES 512

enum bw_jtype { BW_J_OBJ = 1, BW_J_ARR, BW_J_STR, BW_J_INT, BW_J_TRUE, BW_J_FALSE, BW_J_NULL };

/* One JSON value, in document order (an object's members follow it; `end` skips its subtree). */
struct bw_jnode {
    int64_t num;        /* BW_J_INT: the value; BW_J_OBJ / BW_J_ARR: number of children */
    uint16_t key, klen; /* member key: raw bytes (escapes kept) at text + key */
    uint16_t off, len;  /* BW_J_STR: raw contents (escapes kept) at text + off */
    uint16_t end;       /* index of the first node after this value's subtree */
    uint8_t type;       /* enum bw_jtype */
    uint8_t member;     /* 1: this value is an object member (key, klen are set) */
    uint8_t kplain;     /* 1: the key has no escapes */
    uint8_t plain;      /* BW_J_STR: 1 if the contents have no escapes */
};

struct bw_jdoc {
    const char *text;
    struct bw_jnode node[BW_JSON_MAX_NODES];
    size_t n;
};

/* Index of obj's member named key (plain bytes), or 0 if absent (node 0 is the root, never a
 * member). obj must be an object node. */
size_t bw_jdoc_member(const struct bw_jdoc *d, size_t obj, const char *key);

/* 1 if node i is a string whose unescaped bytes are exactly s. */
int bw_jdoc_str_is(const struct bw_jdoc *d, size_t i, const char *s) BW_MUST_CHECK;

/* The whole documented receipt profile (docs/EVIDENCE.md 1.1) over a document that already
 * passed the canonical parse: NULL if it holds, else a reason; detail (size bytes) then names
 * the member, e.g. "predicate.usage.source: not one of the documented values". */
const char *bw_evidence_profile_check(const struct bw_jdoc *d, char *detail, size_t size);

/* For tests: 1 if every shape's rows are in strictly increasing key order (the profile check's
 * merge pass relies on it). */
int bw_evidence_profile_tables_sorted(void) BW_MUST_CHECK;

#endif
