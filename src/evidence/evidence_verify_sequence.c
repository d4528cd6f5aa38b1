/* evidence_verify_sequence.c: the "sequence" check. The statement (manifest.sig) claims a range
 * of the log: scope, since, first, size, receipts. Each claim the pack's own members can
 * confirm is confirmed here, so a pack re-signed by someone holding the log key still cannot say
 * more than it shows (docs/EVIDENCE.md 9.2 "Selection", 9.3 `sequence`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/verify_internal.h"

static int hash_cmp(const void *a, const void *b) {
    return memcmp(a, b, 32);
}

/* Indices, count and first: scope all holds exactly the leaves [first, size); scope org is
 * strictly increasing (the member order already guarantees it) and below size: continuity of
 * one org's receipts cannot be shown without the other orgs' leaves. */
static int indices_ok(struct vstate *v) {
    const struct statement *st = &v->st;
    if (st->receipts != v->nrec) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE, "%zu receipts, the statement signs %llu", v->nrec,
                          (unsigned long long)st->receipts);
        return 0;
    }
    uint64_t first = v->nrec ? v->recs[0].index : st->size;
    if (first != st->first) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE, "first receipt %llu, the statement signs %llu",
                          (unsigned long long)first, (unsigned long long)st->first);
        return 0;
    }
    for (size_t k = 0; k < v->nrec; k++) {
        uint64_t want = st->first + k;
        if (v->recs[k].index >= st->size || (!st->org[0] && v->recs[k].index != want)) {
            bw_evidence_vfail(v, BW_CHECK_SEQUENCE, "%s: gap, duplicate or beyond size %llu",
                              v->m[v->recs[k].pos].name, (unsigned long long)st->size);
            return 0;
        }
    }
    if (!st->org[0] && st->first + v->nrec != st->size && v->nrec) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE, "receipts stop before the checkpoint size");
        return 0;
    }
    return 1;
}

/* The checkpoints the exporter includes (9.2 item 2): from the first whose tree holds leaf
 * `first` to the final one, thinned to at most BW_PACK_MAX_CHECKPOINTS plus the final one. With
 * no receipt, only the final checkpoint. */
static int checkpoints_ok(struct vstate *v) {
    if (v->ncp > BW_PACK_MAX_CHECKPOINTS + 1) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE, "%zu checkpoints: the exporter includes at most %d",
                          v->ncp, BW_PACK_MAX_CHECKPOINTS + 1);
        return 0;
    }
    if (v->nrec == 0 && v->ncp != 1) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE,
                          "a pack without receipts carries only the final checkpoint");
        return 0;
    }
    if (v->nrec && v->m[v->cp0].a <= v->st.first) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE, "%s does not contain the first exported leaf %llu",
                          v->m[v->cp0].name, (unsigned long long)v->st.first);
        return 0;
    }
    return 1;
}

/* 1 if receipt k may be in a pack cut at `since`: it is in the window
 * (time_ms >= since) or it is the decision receipt (parent_leaf_hash) of a receipt in the window,
 * which the exporter adds (parents: sorted parent hashes of in-window receipts). */
static int in_window(const struct vstate *v, size_t k, const uint8_t (*parents)[32], size_t np) {
    const struct rec *r = &v->recs[k];
    /* A receipt that could not be read fails receipt-canonical; its time is unknown here. */
    return !r->canonical || r->time_ms >= v->st.since ||
           bsearch(r->leaf, parents, np, 32, hash_cmp) != NULL;
}

/* since (9.2 "Selection"): scope all with since 0 exports every leaf, so it starts at leaf 0;
 * otherwise the first receipt (scope all: later leaves come along whatever their time) or every
 * receipt (scope org) is in the window or the decision of one that is. Which leaves before
 * `first` were in the window cannot be shown: they are not in the pack. */
static int since_ok(struct vstate *v) {
    const struct statement *st = &v->st;
    if (!st->org[0] && st->since == 0 && st->first != 0) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE,
                          "scope all since 0 must start at leaf 0, the statement signs first %llu",
                          (unsigned long long)st->first);
        return 0;
    }
    if (st->since == 0 || v->nrec == 0)
        return 1;
    uint8_t(*parents)[32] = malloc(v->nrec * 32);
    if (!parents) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE, "out of memory");
        return 0;
    }
    size_t np = 0;
    for (size_t k = 0; k < v->nrec; k++)
        if (v->recs[k].canonical && v->recs[k].has_parent && v->recs[k].time_ms >= st->since)
            memcpy(parents[np++], v->recs[k].parent, 32);
    qsort(parents, np, 32, hash_cmp);
    size_t n = st->org[0] ? v->nrec : 1, bad = n;
    for (size_t k = 0; k < n && bad == n; k++)
        if (!in_window(v, k, (const uint8_t(*)[32])parents, np))
            bad = k;
    free(parents);
    if (bad < n) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE,
                          "%s: before since %lld and not the decision of a receipt after it",
                          v->m[v->recs[bad].pos].name, (long long)st->since);
        return 0;
    }
    return 1;
}

void bw_evidence_check_sequence(struct vstate *v) {
    if (!v->st.trusted) {
        bw_evidence_vfail(v, BW_CHECK_SEQUENCE, "no trusted statement to check against");
        return;
    }
    if (indices_ok(v) && checkpoints_ok(v) && since_ok(v))
        bw_evidence_vpass(v, BW_CHECK_SEQUENCE);
}
