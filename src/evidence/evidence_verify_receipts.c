/* evidence_verify_receipts.c: the per-receipt checks (canonical form, inclusion), sequence,
 * decision/outcome links, policies, and the verifier's entry point. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/proof.h"
#include "evidence/receipt_check.h"
#include "evidence/verify_internal.h"
#include "ledger/dsse.h"
#include "util/codec.h"

/* First failure per check across threads: the lowest receipt position wins, so the report is
 * the same however the work was split. */
struct rec_job {
    struct vstate *v;
    const struct member *final;
    const uint8_t *final_root;
    struct bw_evidence_tree *tree; /* NULL: every proof gets the per-receipt check */
    pthread_mutex_t mu;
    size_t bad_canon, bad_incl;
    char why_canon[160], why_incl[160];
};

static void note_bad(struct rec_job *j, size_t k, size_t *bad, char *why, const char *msg) {
    pthread_mutex_lock(&j->mu);
    if (k < *bad) {
        *bad = k;
        snprintf(why, 160, "%s: %s", j->v->m[j->v->recs[k].pos].name, msg);
    }
    pthread_mutex_unlock(&j->mu);
}

/* The receipt's bytes: canonical and in the documented profile of its kind (receipt_check.h),
 * and where the pack puts it. info is scratch; the reason returned may point into it. */
static const char *canon_one(struct rec_job *j, struct rec *r, struct bw_evidence_receipt *info) {
    const struct member *m = &j->v->m[r->pos];
    const char *why = NULL;
    if (bw_evidence_receipt_check(m->data.ptr, m->data.len, info, &why) != BW_OK)
        return why;
    if (info->index != m->a)
        return "predicate.log.index differs from the member name";
    if (strcmp(info->origin, j->v->trust->name) != 0)
        return "predicate.log.origin is not the trusted log";
    if (j->v->st.trusted && j->v->st.org[0] && strcmp(info->org_id, j->v->st.org) != 0)
        return "receipt of another org in an org-scoped pack";
    r->kind = (uint8_t)info->kind;
    r->time_ms = info->time_ms;
    r->has_parent = (uint8_t)info->has_parent;
    r->has_policy = (uint8_t)info->has_policy;
    r->has_org_policy = (uint8_t)info->has_org_policy;
    memcpy(r->parent, info->parent_leaf_hash, 32);
    memcpy(r->policy, info->policy_sha256, 32);
    memcpy(r->org_policy, info->org_policy_sha256, 32);
    memcpy(r->request, info->request_sha256, 32);
    r->verdict = info->kind != BW_RECEIPT_DECISION                 ? REC_OTHER
                 : strcmp(info->decision, "allow") == 0            ? REC_ALLOW
                 : strcmp(info->decision, "require_approval") == 0 ? REC_APPROVAL
                                                                   : REC_DENY;
    r->canonical = 1;
    return NULL;
}

/* The per-receipt inclusion check (RFC 9162 2.1.3.2 on the decoded proof); p is scratch and
 * holds the decoded proof afterwards. */
static const char *incl_check(struct rec_job *j, const struct rec *r, struct bw_evidence_proof *p) {
    const struct member *m = &j->v->m[r->pos + 1];
    uint64_t size = j->final->a;
    if (bw_evidence_proof_decode((const char *)m->data.ptr, m->data.len, p) != BW_OK)
        return "not a C2SP tlog-proof";
    if (p->index != m->a)
        return "proof index differs from the member name";
    if (p->note.len != j->final->data.len ||
        memcmp(p->note.ptr, j->final->data.ptr, p->note.len) != 0)
        return "proof is not against the pack's final checkpoint";
    if (p->index >= size)
        return "index not below the checkpoint size";
    if (bw_merkle_verify_inclusion(r->leaf, r->index, size, (const uint8_t(*)[32])p->hashes, p->n,
                                   j->final_root) != BW_OK)
        return "inclusion proof does not verify (wrong hashes or length)";
    return NULL;
}

static const char *incl_one(struct rec_job *j, const struct rec *r) {
    const struct member *m = &j->v->m[r->pos + 1];
    /* Fast path: the proof is byte for byte the one the recomputed tree gives (see
     * evidence_verify_tree.c); anything else gets the full check and its reason. */
    if (j->tree && bw_evidence_tree_proof_matches(j->tree, m->a, m->data.ptr, m->data.len))
        return NULL;
    struct bw_evidence_proof *p = malloc(sizeof *p);
    if (!p)
        return "out of memory";
    const char *why = incl_check(j, r, p);
    free(p);
    return why;
}

/* Leaf hash and canonical form of each receipt. */
static void rec_range(void *ctx, size_t lo, size_t hi) {
    struct rec_job *j = ctx;
    for (size_t k = lo; k < hi; k++) {
        struct rec *r = &j->v->recs[k];
        const struct member *m = &j->v->m[r->pos];
        r->index = m->a;
        bw_merkle_leaf_hash(m->data.ptr, m->data.len, r->leaf);
        struct bw_evidence_receipt info;
        const char *why = canon_one(j, r, &info);
        if (why)
            note_bad(j, k, &j->bad_canon, j->why_canon, why);
    }
}

static void incl_range(void *ctx, size_t lo, size_t hi) {
    struct rec_job *j = ctx;
    for (size_t k = lo; k < hi; k++) {
        const char *why = incl_one(j, &j->v->recs[k]);
        if (why)
            note_bad(j, k, &j->bad_incl, j->why_incl, why);
    }
}

/* When the receipts are exactly the leaves [first, size) of the final checkpoint, the tree is
 * rebuilt once (NULL otherwise, or if it does not reproduce the final root: then every proof
 * gets the per-receipt check, which reports the failures). For first > 0 the subtrees left of
 * the pack come from leaf first's proof, after that proof passes the per-receipt check. */
static struct bw_evidence_tree *build_tree(struct rec_job *j) {
    struct vstate *v = j->v;
    uint64_t size = j->final->a;
    if (v->nrec == 0 || v->recs[0].index + v->nrec != size ||
        v->recs[v->nrec - 1].index != size - 1)
        return NULL; /* member order makes indices strictly increasing: this is contiguity */
    struct bw_evidence_proof *p = NULL;
    struct bw_evidence_tree *t = NULL;
    if (v->recs[0].index > 0) {
        p = malloc(sizeof *p);
        if (!p || incl_check(j, &v->recs[0], p) != NULL) {
            free(p);
            return NULL;
        }
    }
    if (bw_evidence_tree_new(v->recs, v->recs[0].index, size,
                             p ? (const uint8_t(*)[32])p->hashes : NULL, p ? p->n : 0,
                             j->final_root, j->final->data.ptr, j->final->data.len, &t) != BW_OK)
        t = NULL;
    free(p);
    return t;
}

static void check_receipts(struct vstate *v) {
    struct rec_job j;
    memset(&j, 0, sizeof j);
    pthread_mutex_init(&j.mu, NULL);
    j.v = v;
    j.final = &v->m[v->cp0 + v->ncp - 1];
    j.final_root = v->cp_root[v->ncp - 1];
    j.bad_canon = j.bad_incl = v->nrec;
    bw_evidence_parallel(v->nrec, rec_range, &j);
    j.tree = build_tree(&j);
    bw_evidence_parallel(v->nrec, incl_range, &j);
    bw_evidence_tree_free(j.tree);
    pthread_mutex_destroy(&j.mu);
    if (j.bad_canon < v->nrec)
        bw_evidence_vfail(v, BW_CHECK_RECEIPT_CANONICAL, "%s", j.why_canon);
    bw_evidence_vpass(v, BW_CHECK_RECEIPT_CANONICAL);
    if (v->rep->status[BW_CHECK_CHECKPOINT_SIGNATURES] != BW_STATUS_PASS)
        bw_evidence_vfail(v, BW_CHECK_INCLUSION, "the final checkpoint is not trusted");
    else if (j.bad_incl < v->nrec)
        bw_evidence_vfail(v, BW_CHECK_INCLUSION, "%s", j.why_incl);
    bw_evidence_vpass(v, BW_CHECK_INCLUSION);
}

/* Decision receipts by leaf hash: open addressing, slot = SipHash (random key) of the leaf, so
 * a pack crafted to collide cannot make the lookups quadratic. Holds k + 1 (0 = empty). */
struct leaf_table {
    size_t *slot;
    size_t mask;
    uint8_t key[crypto_shorthash_KEYBYTES];
};

static size_t leaf_slot(const struct leaf_table *t, const uint8_t leaf[32]) {
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t x;
    crypto_shorthash(h, leaf, 32, t->key);
    memcpy(&x, h, sizeof x);
    return (size_t)x & t->mask;
}

/* Why receipt k may not follow the decision receipt at position parent, or NULL. The gateway
 * writes an outcome only for an allowed call, once (src/proxy/proxy_call.c), and opens a review
 * item only for a require_approval decision, once (proxy_review.c); both carry the call's
 * request hash as their subject. */
static const char *link_error(struct vstate *v, size_t k, size_t parent) {
    const struct rec *r = &v->recs[k];
    struct rec *d = &v->recs[parent];
    int outcome = r->kind == BW_RECEIPT_OUTCOME;
    uint8_t bit = outcome ? REC_HAS_OUTCOME : REC_HAS_REVIEW;
    if (memcmp(d->request, r->request, 32) != 0)
        return "its subject is not its decision receipt's request";
    if (d->verdict != (outcome ? REC_ALLOW : REC_APPROVAL))
        return outcome ? "an outcome follows an allow decision only"
                       : "a review item follows a require_approval decision only";
    if (d->linked & bit)
        return "its decision receipt already has one";
    d->linked |= bit;
    return NULL;
}

/* An outcome's (and a review receipt's, when it has one) parent_leaf_hash must be the leaf hash
 * of a decision receipt earlier in the pack (the pack proves that leaf's inclusion too), as
 * link_error says. Leaf hashes of canonical receipts are distinct (each embeds its own index),
 * so the table holds one entry per decision. */
static void check_parents(struct vstate *v) {
    struct leaf_table t;
    size_t cap = 16;
    while (cap < 2 * v->nrec)
        cap *= 2;
    t.slot = calloc(cap, sizeof *t.slot);
    t.mask = cap - 1;
    if (!t.slot || sodium_init() < 0) { /* sodium_init: for randombytes_buf, idempotent */
        free(t.slot);
        bw_evidence_vfail(v, BW_CHECK_PARENT_LINKS, "out of memory");
        return;
    }
    randombytes_buf(t.key, sizeof t.key);
    for (size_t k = 0; k < v->nrec; k++) {
        const struct rec *r = &v->recs[k];
        if (!r->canonical || r->kind != BW_RECEIPT_DECISION)
            continue;
        size_t i = leaf_slot(&t, r->leaf);
        while (t.slot[i])
            i = (i + 1) & t.mask;
        t.slot[i] = k + 1;
    }
    for (size_t k = 0; k < v->nrec; k++) {
        const struct rec *r = &v->recs[k];
        /* every outcome has a parent (the profile requires it); a review receipt has one when
         * it opened an item for an APPROVAL_REQUIRED decision */
        if (!r->canonical || (r->kind != BW_RECEIPT_OUTCOME && !r->has_parent))
            continue;
        size_t hit = 0;
        if (r->has_parent)
            for (size_t i = leaf_slot(&t, r->parent); t.slot[i] && !hit; i = (i + 1) & t.mask)
                if (memcmp(v->recs[t.slot[i] - 1].leaf, r->parent, 32) == 0)
                    hit = t.slot[i];
        if (!hit || hit - 1 >= k) {
            bw_evidence_vfail(v, BW_CHECK_PARENT_LINKS,
                              "%s: parent_leaf_hash is not a decision receipt earlier in the pack",
                              v->m[v->recs[k].pos].name);
            break;
        }
        const char *why = link_error(v, k, hit - 1);
        if (why) {
            bw_evidence_vfail(v, BW_CHECK_PARENT_LINKS, "%s: %s", v->m[v->recs[k].pos].name, why);
            break;
        }
    }
    free(t.slot);
    bw_evidence_vpass(v, BW_CHECK_PARENT_LINKS);
}

static int hash_cmp(const void *a, const void *b) {
    return memcmp(a, b, 32);
}

/* The referenced policy hashes, sorted and unique. */
/* Every policy hash the receipts reference: the platform policy and, where an org had its own,
 * the org policy (out holds 2 per receipt at most). */
static size_t referenced(struct vstate *v, uint8_t (*out)[32]) {
    size_t n = 0;
    for (size_t k = 0; k < v->nrec; k++) {
        const struct rec *r = &v->recs[k];
        if (!r->canonical)
            continue;
        if (r->has_policy && (n == 0 || memcmp(out[n - 1], r->policy, 32) != 0)) /* runs */
            memcpy(out[n++], r->policy, 32);
        if (r->has_org_policy)
            memcpy(out[n++], r->org_policy, 32);
    }
    qsort(out, n, 32, hash_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || memcmp(out[u - 1], out[i], 32) != 0)
            memmove(out[u++], out[i], 32);
    return u;
}

static const struct member *policy_member(struct vstate *v, const uint8_t h[32]) {
    uint8_t named[32];
    for (size_t i = 0; i < v->npol; i++)
        if (bw_evidence_policy_name_hash(v->m[v->pol0 + i].name, named) &&
            memcmp(named, h, 32) == 0)
            return &v->m[v->pol0 + i];
    return NULL;
}

static int policy_files_ok(struct vstate *v) {
    for (size_t i = 0; i < v->npol; i++) {
        const struct member *m = &v->m[v->pol0 + i];
        uint8_t h[32], named[32];
        bw_sha256(m->data.ptr, m->data.len, h);
        if (!bw_evidence_policy_name_hash(m->name, named) || memcmp(h, named, 32) != 0) {
            bw_evidence_vfail(v, BW_CHECK_POLICIES, "%s: content does not hash to its name",
                              m->name);
            return 0;
        }
    }
    return 1;
}

/* A policy member no exported receipt references (9.2 item 4 carries referenced ones only). */
static const struct member *unreferenced_policy(struct vstate *v, const uint8_t (*refs)[32],
                                                size_t n) {
    uint8_t named[32];
    for (size_t i = 0; i < v->npol; i++)
        if (!bw_evidence_policy_name_hash(v->m[v->pol0 + i].name, named) ||
            !bsearch(named, refs, n, 32, hash_cmp))
            return &v->m[v->pol0 + i];
    return NULL;
}

static void check_policies(struct vstate *v) {
    if (!policy_files_ok(v))
        return;
    uint8_t(*refs)[32] = malloc((2 * v->nrec + 1) * 32);
    struct bw_buf missing;
    bw_buf_init(&missing, 1u << 24);
    size_t n = refs ? referenced(v, refs) : 0;
    bw_err e = refs ? BW_OK : BW_E_NOMEM;
    struct bw_evidence_report *rep = v->rep;
    for (size_t i = 0; i < n && e == BW_OK; i++) {
        if (policy_member(v, refs[i]))
            continue;
        char hex[65];
        e = bw_hex_encode(refs[i], 32, hex, sizeof hex);
        if (e == BW_OK)
            e = bw_buf_appendf(&missing, "%s\n", hex);
        if (e == BW_OK && rep->n_missing_policies < 16)
            memcpy(rep->missing_policies[rep->n_missing_policies], hex, 65);
        rep->n_missing_policies++;
    }
    const struct member *listed = v->missing >= 0 ? &v->m[v->missing] : NULL;
    size_t llen = listed ? listed->data.len : 0;
    const struct member *extra =
        refs ? unreferenced_policy(v, (const uint8_t(*)[32])refs, n) : NULL;
    if (e != BW_OK)
        bw_evidence_vfail(v, BW_CHECK_POLICIES, "out of memory");
    else if (extra)
        bw_evidence_vfail(v, BW_CHECK_POLICIES, "%s: no exported receipt references it",
                          extra->name);
    else if (llen != missing.len || (llen && memcmp(listed->data.ptr, missing.ptr, llen) != 0))
        bw_evidence_vfail(v, BW_CHECK_POLICIES,
                          "missing-policies.txt does not list exactly the "
                          "referenced policies absent from the pack");
    else if (rep->n_missing_policies && !v->opts->allow_missing_policies)
        bw_evidence_vfail(v, BW_CHECK_POLICIES,
                          "%zu referenced policy hash(es) not in the pack, "
                          "first %s",
                          rep->n_missing_policies, rep->missing_policies[0]);
    else if (rep->n_missing_policies) {
        rep->status[BW_CHECK_POLICIES] = BW_STATUS_WARN;
        snprintf(rep->detail[BW_CHECK_POLICIES], sizeof rep->detail[0],
                 "%zu referenced policy hash(es) not in the pack (allowed)",
                 rep->n_missing_policies);
    }
    bw_evidence_vpass(v, BW_CHECK_POLICIES);
    bw_buf_cleanup(&missing);
    free(refs);
}

/* ---- receipt-signatures ---- */

struct sig_job {
    struct vstate *v;
    pthread_mutex_t mu;
    size_t bad;
    const char *why;
};

static const char *envelope_one(struct vstate *v, const struct rec *r) {
    const struct member *e = &v->m[r->env], *m = &v->m[r->pos];
    struct bw_dsse_envelope *env = malloc(sizeof *env);
    const char *why = NULL;
    bw_err err;
    if (!env)
        return "out of memory";
    if (bw_dsse_envelope_parse(e->data.ptr, e->data.len, env) != BW_OK)
        why = "not a DSSE envelope in the documented form";
    else if (env->payload_len != m->data.len || memcmp(env->payload, m->data.ptr, m->data.len) != 0)
        why = "envelope payload is not the receipt's bytes";
    else if (memcmp(env->key_id, v->trust->key_id, BW_NOTE_KEY_ID_LEN) != 0)
        why = "envelope keyid is not the trusted key's";
    else if ((err = bw_dsse_verify(v->trust, env->payload, env->payload_len, env->sig)) != BW_OK)
        why = err == BW_E_CRYPTO ? "signature does not verify under the trusted key"
                                 : "payload is not a receipt";
    free(env);
    return why;
}

static void sig_range(void *ctx, size_t lo, size_t hi) {
    struct sig_job *j = ctx;
    for (size_t k = lo; k < hi; k++) {
        const struct rec *r = &j->v->recs[k];
        const char *why = r->env >= 0 ? envelope_one(j->v, r) : NULL;
        if (why) {
            pthread_mutex_lock(&j->mu);
            if (k < j->bad) {
                j->bad = k;
                j->why = why;
            }
            pthread_mutex_unlock(&j->mu);
        }
    }
}

/* Every envelope present (ledger.sign_each) must carry the receipt's exact bytes and verify
 * under the trusted key (DSSE PAE, Ed25519). Receipts without one are proven by the log alone. */
static void check_signatures(struct vstate *v) {
    if (v->nenv == 0) {
        snprintf(v->rep->detail[BW_CHECK_RECEIPT_SIGNATURES], sizeof v->rep->detail[0],
                 "no per-receipt signatures in this pack");
        return;
    }
    struct sig_job j = {v, PTHREAD_MUTEX_INITIALIZER, v->nrec, NULL};
    bw_evidence_parallel(v->nrec, sig_range, &j);
    if (j.why)
        bw_evidence_vfail(v, BW_CHECK_RECEIPT_SIGNATURES, "%s: %s", v->m[v->recs[j.bad].env].name,
                          j.why);
    else
        snprintf(v->rep->detail[BW_CHECK_RECEIPT_SIGNATURES], sizeof v->rep->detail[0],
                 "%zu of %zu receipts signed", v->nenv, v->nrec);
    bw_evidence_vpass(v, BW_CHECK_RECEIPT_SIGNATURES);
}

/* Member positions of each receipt, its proof and its envelope (the order is already valid). */
static void locate_receipts(struct vstate *v) {
    size_t k = 0;
    for (size_t i = 0; i < v->nm && k < v->nrec; i++) {
        if (v->m[i].kind == M_RECEIPT) {
            v->recs[k].pos = i;
            v->recs[k].env = -1;
            k++;
        } else if (v->m[i].kind == M_ENVELOPE && k > 0) {
            v->recs[k - 1].env = (long)i;
        }
    }
}

static void fill_summary(struct vstate *v) {
    struct bw_evidence_report *rep = v->rep;
    snprintf(rep->origin, sizeof rep->origin, "%s", v->trust->name);
    if (v->st.trusted)
        snprintf(rep->scope, sizeof rep->scope, "%s%s", v->st.org[0] ? "org " : "all", v->st.org);
    rep->receipts = v->nrec;
    rep->checkpoints = v->ncp;
    rep->size = v->ncp ? v->m[v->cp0 + v->ncp - 1].a : 0;
    rep->first = v->st.first;
    rep->ok = 1;
    for (int c = 0; c < BW_CHECK_COUNT; c++)
        if (rep->status[c] == BW_STATUS_FAIL)
            rep->ok = 0;
}

static void run_checks(struct vstate *v) {
    bw_evidence_check_statement(v);
    bw_evidence_check_hashes(v);
    bw_evidence_check_checkpoints(v);
    bw_evidence_check_consistency(v);
    check_receipts(v);
    bw_evidence_check_sequence(v);
    check_parents(v);
    check_policies(v);
    check_signatures(v);
}

bw_err bw_evidence_verify(const uint8_t *pack, size_t len, const struct bw_note_verifier *trust,
                          const struct bw_evidence_verify_opts *opts,
                          struct bw_evidence_report *report) {
    static const struct bw_evidence_verify_opts defaults;
    memset(report, 0, sizeof *report);
    for (int c = 0; c < BW_CHECK_COUNT; c++)
        report->status[c] = BW_STATUS_SKIP;
    struct vstate v;
    memset(&v, 0, sizeof v);
    v.trust = trust;
    v.opts = opts ? opts : &defaults;
    v.rep = report;
    bw_err e = BW_OK;
    if (bw_evidence_read_members(&v, pack, len)) {
        v.recs = calloc(v.nrec + 1, sizeof *v.recs);
        v.cp_root = calloc(v.ncp + 1, 32);
        if (v.recs && v.cp_root) {
            locate_receipts(&v);
            run_checks(&v);
        } else
            e = BW_E_NOMEM;
    }
    fill_summary(&v);
    free(v.recs);
    free(v.cp_root);
    free(v.m);
    if (e != BW_OK)
        return e;
    return report->ok ? BW_OK : BW_E_CRYPTO;
}
