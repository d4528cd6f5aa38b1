/* evidence_gen.h: writes a synthetic, valid ledger directory without the ledger thread (for the
 * evidence unit tests and bench/evidence_bench.c). Receipts come in (decision, outcome) pairs,
 * every fifth a (require_approval decision, review create) pair;
 * pair k belongs to org_b when k % 3 == 2, else org_a; every decision references policy_hash.
 * The receipts hold to the documented profile (docs/EVIDENCE.md 1.1), as the gateway's do.
 * A checkpoint frame follows every `batch` receipts and the last one, exactly as a group
 * commit writes them (docs/EVIDENCE.md section 5). Aborts on any failure (test/bench code). */
#ifndef BW_TESTS_EVIDENCE_GEN_H
#define BW_TESTS_EVIDENCE_GEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/dsse.h"
#include "ledger/ledger.h"
#include "ledger/log_frame.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/receipt.h"
#include "util/codec.h"

/* Non-NULL: every receipt belongs to this org (benchmarks over HTTP need the caller's org). */
static const char *gen_org;
/* 1: also write an S frame (DSSE signature, ledger.sign_each) after every R frame. */
static int gen_sign_each;
/* Non-NULL: builds receipt i instead of gen_receipt; leaves holds the leaf hashes of receipts
 * 0..i-1 (for parent links). */
static void (*gen_fill)(uint64_t i, const uint8_t policy_hash[32], const uint8_t (*leaves)[32],
                        struct bw_receipt *r);
/* Non-NULL: may rewrite receipt i's bytes after encoding, before they are hashed, framed and
 * signed into the checkpoints: what an insider holding the log key can produce. */
static void (*gen_mutate)(uint64_t i, struct bw_buf *enc);

static void gen_die(const char *what) {
    fprintf(stderr, "evidence_gen: %s\n", what);
    abort();
}

/* Pair k: a decision, then what the gateway writes after it: the call's outcome, or, every
 * fifth pair, a require_approval decision and the review item it opened. */
static void gen_receipt(uint64_t i, const uint8_t policy_hash[32], const uint8_t prev_leaf[32],
                        struct bw_receipt *r) {
    uint64_t pair = i / 2;
    int review = pair % 5 == 4;
    bw_receipt_init(r, i % 2 == 0 ? BW_RECEIPT_DECISION
                       : review   ? BW_RECEIPT_REVIEW
                                  : BW_RECEIPT_OUTCOME);
    r->time_ms = 1700000000000 + (int64_t)i;
    snprintf(r->org_id, sizeof r->org_id, "%s",
             gen_org         ? gen_org
             : pair % 3 == 2 ? "org_b"
                             : "org_a");
    snprintf(r->principal, sizeof r->principal, "key_%llu", (unsigned long long)(pair % 7));
    snprintf(r->route, sizeof r->route, "chat");
    snprintf(r->model, sizeof r->model, "gpt-4o-mini");
    memset(r->request_sha256, (int)(pair & 0xff), 32); /* both receipts: one request */
    if (i % 2 == 0) {
        r->has_policy = 1;
        memcpy(r->policy_sha256, policy_hash, 32);
        snprintf(r->decision, sizeof r->decision, review ? "require_approval" : "allow");
        snprintf(r->reason, sizeof r->reason, review ? "APPROVAL_REQUIRED" : "ALLOWED");
    } else if (review) { /* proxy_review.c: the item opened for that decision */
        r->has_policy = 1;
        memcpy(r->policy_sha256, policy_hash, 32);
        snprintf(r->decision, sizeof r->decision, "create");
        snprintf(r->reason, sizeof r->reason, "REVIEW_CREATED");
        snprintf(r->rule, sizeof r->rule, "rev_%016llu", (unsigned long long)pair);
        snprintf(r->status, sizeof r->status, "pending");
        r->has_parent = 1;
        memcpy(r->parent_leaf_hash, prev_leaf, 32);
    } else {
        snprintf(r->status, sizeof r->status, "ok");
        r->http_status = 200;
        r->duration_ms = 12;
        r->has_parent = 1;
        memcpy(r->parent_leaf_hash, prev_leaf, 32);
    }
}

static void gen_frame(FILE *f, uint8_t type, const void *p, size_t n, const uint8_t sum[32]) {
    uint8_t hdr[5] = {type, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    if (fwrite(hdr, 1, 5, f) != 5 || fwrite(p, 1, n, f) != n || fwrite(sum, 1, 32, f) != 32)
        gen_die("write");
}

static void gen_checkpoint(FILE *f, const struct bw_note_signer *s,
                           const struct bw_merkle_frontier *fr) {
    uint8_t root[32], sum[32];
    struct bw_buf body, note;
    bw_buf_init(&body, BW_NOTE_MAX_TEXT);
    bw_buf_init(&note, BW_NOTE_MAX_TEXT);
    bw_merkle_frontier_root(fr, root);
    if (bw_note_checkpoint_body(bw_note_signer_name(s), fr->size, root, &body) != BW_OK ||
        bw_note_sign(s, (const char *)body.ptr, body.len, &note) != BW_OK)
        gen_die("sign");
    bw_sha256(note.ptr, note.len, sum);
    gen_frame(f, 'C', note.ptr, note.len, sum);
    bw_buf_cleanup(&body);
    bw_buf_cleanup(&note);
}

/* dir must exist and be empty; vkey gets the log's verifier key. */
static void gen_log(const char *dir, uint64_t n, uint64_t batch, const uint8_t policy_hash[32],
                    char vkey[BW_NOTE_VKEY_MAX]) {
    struct bw_note_signer *s = NULL;
    char path[4200];
    if (bw_ledger_create(dir, "gen.bulwark.dev", vkey, BW_NOTE_VKEY_MAX) != BW_OK ||
        bw_ledger_load_signer(dir, &s) != BW_OK)
        gen_die("create");
    snprintf(path, sizeof path, "%s/log", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        gen_die("open log");
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    struct bw_merkle_frontier fr;
    bw_merkle_frontier_init(&fr);
    struct bw_buf enc;
    bw_buf_init(&enc, BW_RECEIPT_MAX_BYTES);
    uint8_t leaf[32] = {0};
    uint8_t(*leaves)[32] = gen_fill ? malloc((size_t)(n ? n : 1) * 32) : NULL;
    if (gen_fill && !leaves)
        gen_die("malloc");
    for (uint64_t i = 0; i < n; i++) {
        struct bw_receipt r;
        if (gen_fill)
            gen_fill(i, policy_hash, (const uint8_t(*)[32])leaves, &r);
        else
            gen_receipt(i, policy_hash, leaf, &r);
        bw_buf_reset(&enc);
        if (bw_receipt_encode(&r, bw_note_signer_name(s), i, &enc) != BW_OK)
            gen_die("encode");
        if (gen_mutate)
            gen_mutate(i, &enc);
        bw_merkle_leaf_hash(enc.ptr, enc.len, leaf);
        if (leaves)
            memcpy(leaves[i], leaf, 32);
        gen_frame(f, 'R', enc.ptr, enc.len, leaf);
        if (gen_sign_each) {
            uint8_t sig[BW_DSSE_SIG_LEN], sum[32];
            if (bw_dsse_sign(s, enc.ptr, enc.len, sig) != BW_OK)
                gen_die("dsse");
            bw_sha256(sig, sizeof sig, sum);
            gen_frame(f, 'S', sig, sizeof sig, sum);
        }
        if (bw_merkle_frontier_append(&fr, leaf) != BW_OK)
            gen_die("frontier");
        if ((i + 1) % batch == 0 || i + 1 == n)
            gen_checkpoint(f, s, &fr);
    }
    free(leaves);
    if (fclose(f) != 0)
        gen_die("close");
    bw_buf_cleanup(&enc);
    bw_note_signer_free(s);
}

#endif
