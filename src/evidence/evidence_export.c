/* evidence_export.c: building an evidence pack from a ledger log file (pack.h). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evidence/pack.h"
#include "evidence/proof.h"
#include "evidence/receipt_check.h"
#include "evidence/source.h"
#include "ledger/dsse.h"
#include "util/codec.h"

#define MAX_POLICIES 256

struct policy {
    uint8_t hash[32];
    uint8_t *bytes; /* NULL: missing */
    size_t len;
};

struct exporter {
    const struct bw_evidence_export_opts *o;
    struct bw_evidence_log log;
    uint8_t *sel;   /* sel[i] = 1: receipt i is exported */
    uint64_t first; /* smallest exported index (log.n when none) */
    uint64_t count;
    struct policy pol[MAX_POLICIES];
    size_t npol;
    struct bw_merkle_cache *cache;
    struct bw_evidence_cp *cps; /* included checkpoints (subset of log.cps) */
    size_t ncps;
    struct bw_buf manifest;
    struct bw_buf scratch;
    struct bw_evidence_sink *sink;
    char *why;
    size_t why_size;
};

static bw_err fail(struct exporter *x, bw_err e, const char *msg) {
    snprintf(x->why, x->why_size, "%s", msg);
    return e;
}

static int hash_cmp(const void *a, const void *b) {
    return memcmp(a, b, 32);
}

static bw_err note_policy(struct exporter *x, const uint8_t h[32]) {
    for (size_t i = 0; i < x->npol; i++)
        if (memcmp(x->pol[i].hash, h, 32) == 0)
            return BW_OK;
    if (x->npol == MAX_POLICIES)
        return fail(x, BW_E_TOO_LARGE, "more than 256 distinct policies referenced");
    memcpy(x->pol[x->npol++].hash, h, 32);
    return BW_OK;
}

/* The policies a receipt references: the platform's and, if any, the org's own. */
static bw_err note_policies(struct exporter *x, const struct bw_evidence_receipt *r) {
    if (r->has_policy)
        BW_TRY(note_policy(x, r->policy_sha256));
    if (r->has_org_policy)
        BW_TRY(note_policy(x, r->org_policy_sha256));
    return BW_OK;
}

static bw_err parse_at(struct exporter *x, uint64_t i, struct bw_evidence_receipt *r) {
    const char *why = NULL;
    bw_err e = bw_evidence_receipt_parse(x->log.map + x->log.payload_off[i], x->log.payload_len[i],
                                         r, &why);
    if (e != BW_OK) {
        snprintf(x->why, x->why_size, "receipt %llu in the log: %s", (unsigned long long)i, why);
        return BW_E_INVALID;
    }
    return BW_OK;
}

static int matches(const struct bw_evidence_export_opts *o, const struct bw_evidence_receipt *r) {
    if (o->org_id && strcmp(o->org_id, r->org_id) != 0)
        return 0;
    return r->time_ms >= o->since_ms;
}

/* Sorted (leaf hash, index) pairs, to find an outcome's decision receipt. */
struct leaf_ref {
    uint8_t hash[32];
    uint64_t index;
};

static int leaf_ref_cmp(const void *a, const void *b) {
    return memcmp(a, b, 32);
}

static bw_err build_leaf_refs(struct exporter *x, struct leaf_ref **out) {
    struct leaf_ref *refs = malloc((size_t)(x->log.n ? x->log.n : 1) * sizeof *refs);
    BW_ENSURE(refs, BW_E_NOMEM);
    for (uint64_t i = 0; i < x->log.n; i++) {
        memcpy(refs[i].hash, x->log.leaf[i], 32);
        refs[i].index = i;
    }
    qsort(refs, (size_t)x->log.n, sizeof *refs, leaf_ref_cmp);
    *out = refs;
    return BW_OK;
}

/* An exported outcome's decision receipt is exported too (the verifier checks the link inside
 * the pack); with --since it may predate the window. Parents precede children in the log. */
static bw_err add_parents(struct exporter *x, const uint8_t *has_parent, uint8_t (*parent)[32]) {
    struct leaf_ref *refs = NULL;
    BW_TRY(build_leaf_refs(x, &refs));
    bw_err e = BW_OK;
    for (uint64_t i = x->log.n; i-- > 0 && e == BW_OK;) {
        if (!x->sel[i] || !has_parent[i])
            continue;
        struct leaf_ref key = {0}; /* the comparator reads only hash */
        memcpy(key.hash, parent[i], 32);
        struct leaf_ref *hit = bsearch(&key, refs, (size_t)x->log.n, sizeof *refs, leaf_ref_cmp);
        if (hit && hit->index < i && !x->sel[hit->index]) {
            struct bw_evidence_receipt r;
            e = parse_at(x, hit->index, &r);
            x->sel[hit->index] = 1;
            if (e == BW_OK && r.has_policy)
                e = note_policies(x, &r);
        }
    }
    free(refs);
    return e;
}

static bw_err select_receipts(struct exporter *x) {
    uint64_t n = x->log.n;
    x->sel = calloc((size_t)(n ? n : 1), 1);
    uint8_t *has_parent = calloc((size_t)(n ? n : 1), 1);
    uint8_t(*parent)[32] = malloc((size_t)(n ? n : 1) * 32);
    bw_err e = x->sel && has_parent && parent ? BW_OK : BW_E_NOMEM;
    for (uint64_t i = 0; i < n && e == BW_OK; i++) {
        struct bw_evidence_receipt r;
        e = parse_at(x, i, &r);
        if (e != BW_OK || !matches(x->o, &r))
            continue;
        x->sel[i] = 1;
        has_parent[i] = (uint8_t)r.has_parent;
        memcpy(parent[i], r.parent_leaf_hash, 32);
        e = note_policies(x, &r);
    }
    if (e == BW_OK)
        e = add_parents(x, has_parent, parent);
    free(has_parent);
    free(parent);
    BW_TRY(e);
    x->first = n;
    for (uint64_t i = 0; i < n && x->first == n; i++)
        if (x->sel[i])
            x->first = i;
    /* Scope all: one contiguous range, so the verifier can prove there is no gap. */
    for (uint64_t i = x->first; i < n && !x->o->org_id; i++) {
        if (!x->sel[i]) {
            struct bw_evidence_receipt r;
            BW_TRY(parse_at(x, i, &r));
            BW_TRY(note_policies(x, &r));
        }
        x->sel[i] = 1;
    }
    for (uint64_t i = 0; i < n; i++)
        x->count += x->sel[i];
    qsort(x->pol, x->npol, sizeof x->pol[0], hash_cmp);
    return BW_OK;
}

/* The checkpoints that cover the exported receipts: from the first one whose tree contains the
 * first exported leaf up to the final one; thinned to every stride-th plus the final one when
 * there are more than BW_PACK_MAX_CHECKPOINTS. Size 0 is never included. */
static bw_err select_checkpoints(struct exporter *x) {
    BW_ENSURE(x->log.ncps > 0, BW_E_NOT_FOUND); /* log_open refuses a log without one; kept local */
    size_t start = x->log.ncps - 1;
    while (start > 0 && x->log.cps[start - 1].size > x->first && x->log.cps[start - 1].size > 0)
        start--;
    size_t avail = x->log.ncps - start;
    size_t stride = (avail + BW_PACK_MAX_CHECKPOINTS - 1) / BW_PACK_MAX_CHECKPOINTS;
    x->cps = malloc((avail + 1) * sizeof *x->cps);
    BW_ENSURE(x->cps, BW_E_NOMEM);
    for (size_t j = 0; j < avail; j++)
        if (j % stride == 0 || j == avail - 1)
            x->cps[x->ncps++] = x->log.cps[start + j];
    BW_ENSURE(x->cps[x->ncps - 1].size > 0, BW_E_NOT_FOUND);
    return BW_OK;
}

/* Reads a candidate policy file (at most BW_PACK_MAX_POLICY_BYTES); 0 if unreadable. */
static int read_policy(const char *path, uint8_t **bytes, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
             (uint64_t)st.st_size <= BW_PACK_MAX_POLICY_BYTES;
    uint8_t *p = ok ? malloc((size_t)st.st_size + 1) : NULL;
    ok = p && read(fd, p, (size_t)st.st_size + 1) == st.st_size;
    close(fd);
    if (!ok) {
        free(p);
        return 0;
    }
    *bytes = p;
    *len = (size_t)st.st_size;
    return 1;
}

/* Takes bytes (malloc'd) if they are a referenced policy not yet found, else frees them. */
static void offer_policy(struct exporter *x, uint8_t *bytes, size_t len) {
    uint8_t h[32];
    bw_sha256(bytes, len, h);
    struct policy *hit = bsearch(h, x->pol, x->npol, sizeof x->pol[0], hash_cmp);
    if (hit && !hit->bytes) {
        hit->bytes = bytes;
        hit->len = len;
    } else {
        free(bytes);
    }
}

static void find_policies(struct exporter *x) {
    for (size_t c = 0; c < x->o->n_policy_blobs; c++) {
        const struct bw_evidence_blob *b = &x->o->policy_blobs[c];
        uint8_t *copy = malloc(b->len ? b->len : 1);
        if (copy) {
            memcpy(copy, b->bytes, b->len);
            offer_policy(x, copy, b->len);
        }
    }
    for (size_t c = 0; c < x->o->n_policy_paths; c++) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        if (read_policy(x->o->policy_paths[c], &bytes, &len))
            offer_policy(x, bytes, len);
    }
}

/* One member: written to the sink and listed in the manifest. */
static bw_err put_member(struct exporter *x, const char *name, const void *data, size_t len) {
    uint8_t h[32];
    char hex[65];
    bw_sha256(data, len, h);
    BW_TRY(bw_hex_encode(h, 32, hex, sizeof hex));
    BW_TRY(bw_buf_appendf(&x->manifest, "%s  %s\n", hex, name));
    return bw_evidence_tar_put(x->sink, name, data, len);
}

static bw_err put_receipts(struct exporter *x) {
    const struct bw_evidence_cp *fin = &x->cps[x->ncps - 1];
    const char *note = (const char *)x->log.map + fin->off;
    uint8_t proof[BW_MERKLE_MAX_PROOF][32];
    char name[64];
    for (uint64_t i = 0; i < x->log.n; i++) {
        if (!x->sel[i])
            continue;
        snprintf(name, sizeof name, "receipts/%020llu.json", (unsigned long long)i);
        BW_TRY(put_member(x, name, x->log.map + x->log.payload_off[i], x->log.payload_len[i]));
        size_t plen = 0;
        BW_TRY(
            bw_merkle_cache_inclusion(x->cache, i, fin->size, proof, BW_MERKLE_MAX_PROOF, &plen));
        bw_buf_reset(&x->scratch);
        BW_TRY(bw_evidence_proof_encode(i, (const uint8_t(*)[32])proof, plen, note, fin->len,
                                        &x->scratch));
        snprintf(name, sizeof name, "proofs/%020llu.tlog-proof", (unsigned long long)i);
        BW_TRY(put_member(x, name, x->scratch.ptr, x->scratch.len));
        if (!x->log.sig_off[i])
            continue;
        bw_buf_reset(&x->scratch);
        BW_TRY(bw_dsse_envelope_encode(x->log.map + x->log.payload_off[i], x->log.payload_len[i],
                                       x->o->verifier->key_id, x->log.map + x->log.sig_off[i],
                                       &x->scratch));
        snprintf(name, sizeof name, "envelopes/%020llu.dsse.json", (unsigned long long)i);
        BW_TRY(put_member(x, name, x->scratch.ptr, x->scratch.len));
    }
    return BW_OK;
}

static bw_err put_checkpoints(struct exporter *x) {
    char name[80];
    for (size_t j = 0; j < x->ncps; j++) {
        snprintf(name, sizeof name, "checkpoints/%020llu.note", (unsigned long long)x->cps[j].size);
        BW_TRY(put_member(x, name, x->log.map + x->cps[j].off, x->cps[j].len));
    }
    uint8_t proof[BW_MERKLE_MAX_PROOF][32];
    for (size_t j = 1; j < x->ncps; j++) {
        uint64_t a = x->cps[j - 1].size, b = x->cps[j].size;
        size_t plen = 0;
        BW_TRY(bw_merkle_cache_consistency(x->cache, a, b, proof, BW_MERKLE_MAX_PROOF, &plen));
        bw_buf_reset(&x->scratch);
        BW_TRY(bw_evidence_hashes_encode((const uint8_t(*)[32])proof, plen, &x->scratch));
        snprintf(name, sizeof name, "consistency/%020llu-%020llu.proof", (unsigned long long)a,
                 (unsigned long long)b);
        BW_TRY(put_member(x, name, x->scratch.ptr, x->scratch.len));
    }
    return BW_OK;
}

static bw_err put_policies(struct exporter *x) {
    char name[96], hex[65];
    bw_buf_reset(&x->scratch);
    for (size_t i = 0; i < x->npol; i++) {
        BW_TRY(bw_hex_encode(x->pol[i].hash, 32, hex, sizeof hex));
        if (!x->pol[i].bytes) {
            BW_TRY(bw_buf_appendf(&x->scratch, "%s\n", hex));
            continue;
        }
        snprintf(name, sizeof name, "policies/%s.yaml", hex);
        BW_TRY(put_member(x, name, x->pol[i].bytes, x->pol[i].len));
    }
    if (x->scratch.len == 0)
        return BW_OK;
    struct bw_buf missing = x->scratch; /* put_member does not touch scratch */
    return put_member(x, "missing-policies.txt", missing.ptr, missing.len);
}

static bw_err put_manifest(struct exporter *x) {
    uint8_t h[32];
    char hex[65];
    bw_sha256(x->manifest.ptr, x->manifest.len, h);
    BW_TRY(bw_hex_encode(h, 32, hex, sizeof hex));
    BW_TRY(bw_evidence_tar_put(x->sink, "manifest.txt", x->manifest.ptr, x->manifest.len));
    struct bw_buf text, note;
    bw_buf_init(&text, BW_NOTE_MAX_TEXT);
    bw_buf_init(&note, BW_NOTE_MAX_TEXT);
    bw_err e = bw_buf_appendf(
        &text,
        BW_PACK_STATEMENT_MAGIC "\norigin %s\nscope %s%s\nsince %lld\n"
                                "first %llu\nsize %llu\nreceipts %llu\nmanifest %s\n",
        x->o->origin, x->o->org_id ? "org " : "all", x->o->org_id ? x->o->org_id : "",
        (long long)x->o->since_ms, (unsigned long long)x->first,
        (unsigned long long)x->cps[x->ncps - 1].size, (unsigned long long)x->count, hex);
    if (e == BW_OK)
        e = x->o->sign(x->o->sign_ctx, (const char *)text.ptr, text.len, &note);
    if (e == BW_OK)
        e = bw_evidence_tar_put(x->sink, "manifest.sig", note.ptr, note.len);
    bw_buf_cleanup(&text);
    bw_buf_cleanup(&note);
    BW_TRY(e);
    return bw_evidence_tar_finish(x->sink);
}

static int org_ok(const char *org) {
    size_t n = strlen(org);
    if (n == 0 || n > BW_PACK_ORG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = org[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static bw_err run_export(struct exporter *x) {
    const struct bw_evidence_export_opts *o = x->o;
    bw_err e = bw_evidence_log_open(o->ledger_dir, o->origin, o->verifier, o->max_size, &x->log);
    if (e != BW_OK)
        return fail(x, e,
                    e == BW_E_NOT_FOUND ? "the log has no signed checkpoint yet"
                                        : "cannot read the ledger log file");
    BW_TRY(select_receipts(x));
    BW_TRY(select_checkpoints(x));
    find_policies(x);
    if (bw_merkle_cache_new((const uint8_t(*)[32])x->log.leaf, x->log.n, &x->cache) != BW_OK)
        return fail(x, BW_E_NOMEM, "out of memory for the Merkle cache");
    BW_TRY(put_receipts(x));
    BW_TRY(put_checkpoints(x));
    BW_TRY(put_policies(x));
    return put_manifest(x);
}

bw_err bw_evidence_export(const struct bw_evidence_export_opts *o, struct bw_evidence_sink *sink,
                          char *why, size_t why_size) {
    BW_ENSURE(o && sink && why && why_size && o->sign && o->origin, BW_E_INVALID);
    struct exporter *x = calloc(1, sizeof *x);
    BW_ENSURE(x, BW_E_NOMEM);
    x->o = o;
    x->sink = sink;
    x->why = why;
    x->why_size = why_size;
    why[0] = 0;
    bw_buf_init(&x->manifest, BW_PACK_MAX_MANIFEST_BYTES);
    bw_buf_init(&x->scratch, 65536);
    bw_err e = BW_OK;
    if (o->org_id && !org_ok(o->org_id))
        e = fail(x, BW_E_INVALID, "org id must be 1..47 bytes of [A-Za-z0-9._-]");
    else if (o->since_ms < 0)
        e = fail(x, BW_E_INVALID, "since must not be negative");
    if (e == BW_OK)
        e = run_export(x);
    if (e != BW_OK && !why[0])
        snprintf(why, why_size, "export failed: %s", bw_err_str(e));
    bw_merkle_cache_free(x->cache);
    bw_evidence_log_close(&x->log);
    for (size_t i = 0; i < x->npol; i++)
        free(x->pol[i].bytes);
    free(x->sel);
    free(x->cps);
    bw_buf_cleanup(&x->manifest);
    bw_buf_cleanup(&x->scratch);
    free(x);
    return e;
}

static int is_yaml(const char *name) {
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

size_t bw_evidence_policy_candidates(const char *data_dir, char (*paths)[BW_PACK_PATH_MAX],
                                     size_t max) {
    size_t n = 0;
    DIR *d = opendir(data_dir);
    struct dirent *de;
    while (d && n < max && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !is_yaml(de->d_name))
            continue;
        if (snprintf(paths[n], BW_PACK_PATH_MAX, "%s/%s", data_dir, de->d_name) < BW_PACK_PATH_MAX)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}
