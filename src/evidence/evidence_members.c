/* evidence_members.c: walking a pack's members and enforcing the layout of pack.h (names,
 * order, per-member size limits, entry count). Everything here is the "pack-format" check. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/proof.h"
#include "evidence/verify_internal.h"
#include "ledger/dsse.h"
#include "ledger/receipt.h"

#define IDX_DIGITS 20

/* Exactly 20 decimal digits (zero-padded), value below 2^62. */
static int digits20(const char *p, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < IDX_DIGITS; i++) {
        if (p[i] < '0' || p[i] > '9' || v >= (UINT64_C(1) << 62) / 10)
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 1;
}

/* "<prefix><20 digits><suffix>": exact, so one name per number. */
static int parse_numbered(const char *name, const char *prefix, const char *suffix, uint64_t *out) {
    size_t p = strlen(prefix), s = strlen(suffix), n = strlen(name);
    return n == p + IDX_DIGITS + s && memcmp(name, prefix, p) == 0 &&
           memcmp(name + p + IDX_DIGITS, suffix, s) == 0 && digits20(name + p, out);
}

/* "consistency/<20 digits>-<20 digits>.proof" */
static int parse_pair(const char *name, uint64_t *a, uint64_t *b) {
    static const char prefix[] = "consistency/", suffix[] = ".proof";
    size_t p = sizeof prefix - 1, s = sizeof suffix - 1;
    return strlen(name) == p + 2 * IDX_DIGITS + 1 + s && memcmp(name, prefix, p) == 0 &&
           name[p + IDX_DIGITS] == '-' && memcmp(name + p + 2 * IDX_DIGITS + 1, suffix, s) == 0 &&
           digits20(name + p, a) && digits20(name + p + IDX_DIGITS + 1, b) && *a < *b;
}

int bw_evidence_policy_name_hash(const char *name, uint8_t hash[32]) {
    if (strlen(name) != 9 + 64 + 5 || memcmp(name, "policies/", 9) != 0 ||
        memcmp(name + 73, ".yaml", 5) != 0)
        return 0;
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (size_t j = 0; j < 2; j++) {
            char c = name[9 + 2 * i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return 0;
            v = v << 4 | d;
        }
        hash[i] = (uint8_t)v;
    }
    return 1;
}

/* Classifies a name; returns its size limit, or 0 for an unknown name. */
static uint64_t classify(struct member *m) {
    if (parse_numbered(m->name, "receipts/", ".json", &m->a)) {
        m->kind = M_RECEIPT;
        return BW_RECEIPT_MAX_BYTES;
    }
    if (parse_numbered(m->name, "proofs/", ".tlog-proof", &m->a)) {
        m->kind = M_PROOF;
        return BW_PACK_MAX_PROOF_BYTES;
    }
    if (parse_numbered(m->name, "envelopes/", ".dsse.json", &m->a)) {
        m->kind = M_ENVELOPE;
        return BW_DSSE_ENVELOPE_MAX;
    }
    if (parse_numbered(m->name, "checkpoints/", ".note", &m->a)) {
        m->kind = M_CHECKPOINT;
        return BW_NOTE_MAX_TEXT;
    }
    if (parse_pair(m->name, &m->a, &m->b)) {
        m->kind = M_CONSISTENCY;
        return BW_EVIDENCE_MAX_PROOF * 45;
    }
    uint8_t hash[32];
    if (bw_evidence_policy_name_hash(m->name, hash)) {
        m->kind = M_POLICY;
        return BW_PACK_MAX_POLICY_BYTES;
    }
    static const struct {
        const char *name;
        enum member_kind kind;
        uint64_t max;
    } fixed[] = {
        {"missing-policies.txt", M_MISSING, 65536},
        {"manifest.txt", M_MANIFEST, BW_PACK_MAX_MANIFEST_BYTES},
        {"manifest.sig", M_SIG, BW_NOTE_MAX_TEXT},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(m->name, fixed[i].name) == 0) {
            m->kind = fixed[i].kind;
            return fixed[i].max;
        }
    }
    return 0;
}

/* Order rules of pack.h. prev is the previous member (NULL for the first). */
static const char *order_error(const struct member *prev, const struct member *m) {
    if (!prev)
        return m->kind == M_RECEIPT || (m->kind == M_CHECKPOINT && m->a > 0)
                   ? NULL
                   : "pack must start with a receipt or a checkpoint of size > 0";
    if (prev->kind == M_RECEIPT)
        return m->kind == M_PROOF && m->a == prev->a ? NULL
                                                     : "a receipt must be followed by its proof";
    if (m->kind == M_PROOF)
        return "a proof without its receipt";
    if (m->kind == M_ENVELOPE)
        return prev->kind == M_PROOF && m->a == prev->a
                   ? NULL
                   : "an envelope without its receipt and proof";
    if (m->kind == M_RECEIPT)
        return (prev->kind == M_PROOF || prev->kind == M_ENVELOPE) && m->a > prev->a
                   ? NULL
                   : "receipts out of order";
    if (m->kind == M_CHECKPOINT && m->a == 0)
        return "checkpoint of size 0";
    if (m->kind < prev->kind)
        return "members out of order";
    if (m->kind == prev->kind) {
        if (m->kind >= M_MISSING)
            return "duplicate member";
        if (m->kind == M_POLICY)
            /* same length, lowercase hex: name order is hash byte order */
            return strcmp(m->name, prev->name) > 0 ? NULL : "policies out of order";
        if (m->kind == M_CONSISTENCY)
            return m->a > prev->a ? NULL : "consistency proofs out of order";
        return m->a > prev->a ? NULL : "sizes not strictly increasing";
    }
    return NULL;
}

static int grow(struct vstate *v) {
    if (v->nm < v->cap)
        return 1;
    size_t ncap = v->cap ? v->cap * 2 : 256;
    void *p = realloc(v->m, ncap * sizeof *v->m);
    if (!p)
        return 0;
    v->m = p;
    v->cap = ncap;
    return 1;
}

/* Records positions of each section once the order is known to be valid. */
static void index_sections(struct vstate *v) {
    v->missing = v->manifest = v->sig = -1;
    v->cp0 = v->cons0 = v->pol0 = v->nm;
    for (size_t i = v->nm; i-- > 0;) {
        switch (v->m[i].kind) {
        case M_RECEIPT:
            v->nrec++;
            break;
        case M_ENVELOPE:
            v->nenv++;
            break;
        case M_CHECKPOINT:
            v->cp0 = i;
            v->ncp++;
            break;
        case M_CONSISTENCY:
            v->cons0 = i;
            v->ncons++;
            break;
        case M_POLICY:
            v->pol0 = i;
            v->npol++;
            break;
        case M_MISSING:
            v->missing = (long)i;
            break;
        case M_MANIFEST:
            v->manifest = (long)i;
            break;
        case M_SIG:
            v->sig = (long)i;
            break;
        case M_PROOF:
        default:
            break;
        }
    }
}

static int walk(struct vstate *v, const uint8_t *pack, size_t len) {
    struct bw_evidence_tar_reader r;
    bw_evidence_tar_reader_init(&r, pack, len);
    for (;;) {
        struct bw_evidence_tar_entry e;
        bw_err err = bw_evidence_tar_next(&r, BW_PACK_MAX_MANIFEST_BYTES, &e);
        if (err == BW_E_NOT_FOUND)
            return 1;
        if (err != BW_OK) {
            bw_evidence_vfail(v, BW_CHECK_PACK_FORMAT, "%s after member %zu",
                              err == BW_E_TOO_LARGE ? "member too large"
                                                    : "malformed or truncated tar data",
                              v->nm);
            return 0;
        }
        if (v->nm >= BW_PACK_MAX_ENTRIES || !grow(v)) {
            bw_evidence_vfail(v, BW_CHECK_PACK_FORMAT, "too many members");
            return 0;
        }
        struct member *m = &v->m[v->nm];
        memset(m, 0, sizeof *m);
        m->name = e.name;
        m->data = e.data;
        uint64_t max = classify(m);
        const char *why = !max                ? "unexpected member name"
                          : m->data.len > max ? "member larger than its limit"
                                              : order_error(v->nm ? &v->m[v->nm - 1] : NULL, m);
        if (why) {
            bw_evidence_vfail(v, BW_CHECK_PACK_FORMAT, "%s: %s", m->name, why);
            return 0;
        }
        v->nm++;
    }
}

int bw_evidence_read_members(struct vstate *v, const uint8_t *pack, size_t len) {
    if (len > BW_PACK_MAX_BYTES) {
        bw_evidence_vfail(v, BW_CHECK_PACK_FORMAT, "pack larger than %llu bytes",
                          (unsigned long long)BW_PACK_MAX_BYTES);
        return 0;
    }
    if (!walk(v, pack, len))
        return 0;
    index_sections(v);
    if (v->manifest < 0 || v->sig < 0 || v->ncp == 0) {
        bw_evidence_vfail(v, BW_CHECK_PACK_FORMAT,
                          "missing manifest.txt, manifest.sig or any checkpoint");
        return 0;
    }
    if (v->m[v->nm - 1].kind != M_SIG || v->m[v->nm - 2].kind != M_MANIFEST) {
        bw_evidence_vfail(v, BW_CHECK_PACK_FORMAT, "manifest.txt and manifest.sig must come last");
        return 0;
    }
    bw_evidence_vpass(v, BW_CHECK_PACK_FORMAT);
    return 1;
}
