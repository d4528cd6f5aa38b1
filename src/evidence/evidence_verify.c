/* evidence_verify.c: the offline pack verifier (pack.h). Trusts only the verifier key it is
 * given: every checkpoint and the manifest statement must be signed by it, and every other
 * member is bound to them by SHA-256 (manifest) or Merkle proofs (RFC 9162 2.1.3.2, 2.1.4.2). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evidence/proof.h"
#include "evidence/receipt_check.h"
#include "evidence/verify_internal.h"
#include "util/codec.h"

static const char *const check_names[BW_CHECK_COUNT] = {
    "pack-format",  "manifest-signature", "file-hashes",        "checkpoint-signatures",
    "consistency",  "receipt-canonical",  "inclusion-proofs",   "sequence",
    "parent-links", "policies",           "receipt-signatures",
};

const char *bw_evidence_check_name(enum bw_evidence_check c) {
    return (unsigned)c < BW_CHECK_COUNT ? check_names[c] : "unknown";
}

const char *bw_evidence_status_name(enum bw_evidence_status s) {
    switch (s) {
    case BW_STATUS_PASS:
        return "pass";
    case BW_STATUS_FAIL:
        return "fail";
    case BW_STATUS_WARN:
        return "warn";
    case BW_STATUS_SKIP:
    default:
        return "skip";
    }
}

void bw_evidence_vfail(struct vstate *v, enum bw_evidence_check c, const char *fmt, ...) {
    if (v->rep->status[c] == BW_STATUS_FAIL)
        return;
    v->rep->status[c] = BW_STATUS_FAIL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->rep->detail[c], sizeof v->rep->detail[c], fmt, ap);
    va_end(ap);
}

void bw_evidence_vpass(struct vstate *v, enum bw_evidence_check c) {
    if (v->rep->status[c] == BW_STATUS_SKIP)
        v->rep->status[c] = BW_STATUS_PASS;
}

struct par_job {
    void (*fn)(void *ctx, size_t lo, size_t hi);
    void *ctx;
    size_t lo, hi;
};

static void *par_main(void *arg) {
    struct par_job *j = arg;
    j->fn(j->ctx, j->lo, j->hi);
    return NULL;
}

/* Hashing and proof checks are independent per member: spread them over the cores. */
void bw_evidence_parallel(size_t n, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cores < 1 ? 1 : cores > 16 ? 16 : (size_t)cores;
    if (n < 4096)
        nt = 1;
    struct par_job jobs[16];
    pthread_t th[16];
    size_t started = 0;
    for (size_t t = 0; t < nt; t++) {
        jobs[t] = (struct par_job){fn, ctx, n * t / nt, n * (t + 1) / nt};
        if (t > 0 && pthread_create(&th[t], NULL, par_main, &jobs[t]) == 0)
            started |= (size_t)1 << t;
        else if (t > 0)
            par_main(&jobs[t]); /* no thread: do it here */
    }
    par_main(&jobs[0]);
    for (size_t t = 1; t < nt; t++)
        if (started & ((size_t)1 << t))
            pthread_join(th[t], NULL);
}

/* ---- manifest-signature ---- */

/* Reads "<key> <value>" as the next line; value is NUL-terminated into out. */
static int stmt_field(const char **p, const char *end, const char *key, char *out, size_t size) {
    size_t k = strlen(key);
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl || (size_t)(nl - *p) <= k + 1 || memcmp(*p, key, k) != 0 || (*p)[k] != ' ')
        return 0;
    size_t n = (size_t)(nl - *p) - k - 1;
    if (n >= size)
        return 0;
    memcpy(out, *p + k + 1, n);
    out[n] = 0;
    *p = nl + 1;
    return 1;
}

static int u64_field(const char **p, const char *end, const char *key, uint64_t *out) {
    char buf[24];
    return stmt_field(p, end, key, buf, sizeof buf) && bw_evidence_parse_u64(buf, strlen(buf), out);
}

static int parse_scope(const char *scope, struct statement *st) {
    if (strcmp(scope, "all") == 0)
        return 1;
    size_t n = strlen(scope);
    if (n <= 4 || n - 4 > BW_PACK_ORG_MAX || memcmp(scope, "org ", 4) != 0)
        return 0;
    /* the exporter's org ids: 1..47 bytes of [A-Za-z0-9._-] */
    for (size_t i = 4; i < n; i++) {
        char c = scope[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    memcpy(st->org, scope + 4, n - 3);
    return 1;
}

static const char *parse_statement(struct vstate *v, const char *text, size_t len) {
    const char *p = text, *end = text + len;
    char buf[BW_NOTE_NAME_MAX + 1], hex[80];
    struct statement *st = &v->st;
    size_t m = strlen(BW_PACK_STATEMENT_MAGIC);
    uint64_t since = 0;
    if (len <= m || memcmp(p, BW_PACK_STATEMENT_MAGIC "\n", m + 1) != 0)
        return "not a Bulwark evidence-pack statement";
    p += m + 1;
    if (!stmt_field(&p, end, "origin", buf, sizeof buf) || strcmp(buf, v->trust->name) != 0)
        return "statement origin is not the trusted log";
    if (!stmt_field(&p, end, "scope", buf, sizeof buf) || !parse_scope(buf, st))
        return "bad scope line";
    if (!u64_field(&p, end, "since", &since) || !u64_field(&p, end, "first", &st->first) ||
        !u64_field(&p, end, "size", &st->size) || !u64_field(&p, end, "receipts", &st->receipts))
        return "bad since/first/size/receipts line";
    if (since > UINT64_C(9007199254740991))
        return "since beyond 2^53-1 (receipt times are within it)";
    if (!stmt_field(&p, end, "manifest", hex, sizeof hex) || strlen(hex) != 64 || p != end)
        return "bad manifest line";
    for (size_t i = 0; i < 32; i++) {
        unsigned hi = 0, lo = 0;
        const char *digits = "0123456789abcdef";
        const char *h = strchr(digits, hex[2 * i]), *l = strchr(digits, hex[2 * i + 1]);
        if (!h || !l || !hex[2 * i] || !hex[2 * i + 1])
            return "bad manifest hash";
        hi = (unsigned)(h - digits);
        lo = (unsigned)(l - digits);
        st->manifest[i] = (uint8_t)(hi << 4 | lo);
    }
    st->since = (int64_t)since;
    return NULL;
}

void bw_evidence_check_statement(struct vstate *v) {
    const struct member *sig = &v->m[v->sig], *man = &v->m[v->manifest];
    size_t text_len = 0;
    bw_err e = bw_note_verify(v->trust, (const char *)sig->data.ptr, sig->data.len, &text_len);
    if (e != BW_OK) {
        bw_evidence_vfail(v, BW_CHECK_MANIFEST_SIGNATURE, "manifest.sig: %s",
                          e == BW_E_CRYPTO ? "no valid signature by the trusted key"
                                           : "malformed signed note");
        return;
    }
    const char *why = parse_statement(v, (const char *)sig->data.ptr, text_len);
    if (why) {
        bw_evidence_vfail(v, BW_CHECK_MANIFEST_SIGNATURE, "manifest.sig: %s", why);
        return;
    }
    uint8_t h[32];
    bw_sha256(man->data.ptr, man->data.len, h);
    if (memcmp(h, v->st.manifest, 32) != 0) {
        bw_evidence_vfail(v, BW_CHECK_MANIFEST_SIGNATURE,
                          "manifest.txt does not hash to the signed manifest hash");
        return;
    }
    v->st.trusted = 1;
    bw_evidence_vpass(v, BW_CHECK_MANIFEST_SIGNATURE);
}

/* ---- file-hashes ---- */

struct hash_job {
    struct vstate *v;
    size_t *line_off; /* expected offset of each member's manifest line */
    size_t bad;       /* smallest failing member (nm if none) */
    pthread_mutex_t mu;
};

static void hash_range(void *ctx, size_t lo, size_t hi) {
    struct hash_job *j = ctx;
    const struct member *man = &j->v->m[j->v->manifest];
    for (size_t i = lo; i < hi; i++) {
        const struct member *m = &j->v->m[i];
        static const char hexd[] = "0123456789abcdef";
        uint8_t h[32];
        char line[64 + 2 + BW_TAR_NAME_MAX + 2];
        bw_sha256(m->data.ptr, m->data.len, h);
        for (size_t b = 0; b < 32; b++) {
            line[2 * b] = hexd[h[b] >> 4];
            line[2 * b + 1] = hexd[h[b] & 15];
        }
        size_t nl = strlen(m->name);
        line[64] = line[65] = ' ';
        memcpy(line + 66, m->name, nl);
        line[66 + nl] = '\n';
        size_t n = 66 + nl + 1;
        size_t off = j->line_off[i];
        if (off + n > man->data.len || memcmp(man->data.ptr + off, line, n) != 0) {
            pthread_mutex_lock(&j->mu);
            if (i < j->bad)
                j->bad = i;
            pthread_mutex_unlock(&j->mu);
            return;
        }
    }
}

void bw_evidence_check_hashes(struct vstate *v) {
    size_t n = v->nm - 2; /* every member but manifest.txt and manifest.sig */
    struct hash_job j = {v, malloc((n + 1) * sizeof(size_t)), n, PTHREAD_MUTEX_INITIALIZER};
    if (!j.line_off) {
        bw_evidence_vfail(v, BW_CHECK_FILE_HASHES, "out of memory");
        return;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        j.line_off[i] = off;
        off += 64 + 2 + strlen(v->m[i].name) + 1;
    }
    bw_evidence_parallel(n, hash_range, &j);
    if (j.bad < n)
        bw_evidence_vfail(v, BW_CHECK_FILE_HASHES, "%s: SHA-256 or manifest line mismatch",
                          v->m[j.bad].name);
    else if (off != v->m[v->manifest].data.len)
        bw_evidence_vfail(v, BW_CHECK_FILE_HASHES, "manifest.txt lists members not in the pack");
    else
        bw_evidence_vpass(v, BW_CHECK_FILE_HASHES);
    free(j.line_off);
}

/* ---- checkpoint-signatures and consistency ---- */

void bw_evidence_check_checkpoints(struct vstate *v) {
    for (size_t k = 0; k < v->ncp; k++) {
        const struct member *m = &v->m[v->cp0 + k];
        size_t text_len = 0;
        struct bw_checkpoint cp;
        if (bw_note_verify(v->trust, (const char *)m->data.ptr, m->data.len, &text_len) != BW_OK) {
            bw_evidence_vfail(v, BW_CHECK_CHECKPOINT_SIGNATURES,
                              "%s: no valid signature by the trusted key", m->name);
            return;
        }
        if (bw_note_checkpoint_parse((const char *)m->data.ptr, text_len, &cp) != BW_OK ||
            strcmp(cp.origin, v->trust->name) != 0 || cp.size != m->a) {
            bw_evidence_vfail(v, BW_CHECK_CHECKPOINT_SIGNATURES,
                              "%s: origin or size does not match", m->name);
            return;
        }
        memcpy(v->cp_root[k], cp.root, 32);
    }
    uint64_t final = v->m[v->cp0 + v->ncp - 1].a;
    if (v->st.trusted && v->st.size != final) {
        bw_evidence_vfail(v, BW_CHECK_CHECKPOINT_SIGNATURES,
                          "final checkpoint size %llu is not the signed statement's %llu",
                          (unsigned long long) final, (unsigned long long)v->st.size);
        return;
    }
    bw_evidence_vpass(v, BW_CHECK_CHECKPOINT_SIGNATURES);
}

void bw_evidence_check_consistency(struct vstate *v) {
    if (v->ncons != v->ncp - 1) {
        bw_evidence_vfail(v, BW_CHECK_CONSISTENCY,
                          "%zu consistency proofs for %zu checkpoints (need one per pair)",
                          v->ncons, v->ncp);
        return;
    }
    uint8_t(*proof)[32] = malloc(BW_EVIDENCE_MAX_PROOF * 32);
    for (size_t k = 0; proof && k < v->ncons; k++) {
        const struct member *m = &v->m[v->cons0 + k];
        uint64_t a = v->m[v->cp0 + k].a, b = v->m[v->cp0 + k + 1].a;
        size_t n = 0;
        if (m->a != a || m->b != b) {
            bw_evidence_vfail(v, BW_CHECK_CONSISTENCY, "%s: not between consecutive checkpoints",
                              m->name);
            break;
        }
        if (bw_evidence_hashes_decode((const char *)m->data.ptr, m->data.len, proof,
                                      BW_EVIDENCE_MAX_PROOF, &n) != BW_OK ||
            bw_merkle_verify_consistency(a, b, v->cp_root[k], v->cp_root[k + 1],
                                         (const uint8_t(*)[32])proof, n) != BW_OK) {
            bw_evidence_vfail(v, BW_CHECK_CONSISTENCY,
                              "%s: does not prove checkpoint %llu extends to %llu", m->name,
                              (unsigned long long)a, (unsigned long long)b);
            break;
        }
    }
    if (!proof)
        bw_evidence_vfail(v, BW_CHECK_CONSISTENCY, "out of memory");
    free(proof);
    bw_evidence_vpass(v, BW_CHECK_CONSISTENCY);
}
