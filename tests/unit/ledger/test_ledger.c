/* test_ledger.c: the durable log through real event_bases: group commit, completions, reopen
 * and recovery (torn tail, garbage, tampering), the writer lock, and fail-closed writes. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <cmocka.h>

#include "ledger/ledger.h"
#include "ledger/log_frame.h"
#include "ledger/merkle.h"
#include "ledger/note.h"

struct tdir {
    char path[64];
    char vkey[BW_NOTE_VKEY_MAX];
};

struct done {
    int count;
    int ok;
    int failed;
    uint64_t indices[4096];
    uint8_t leaves[4096][32];
    pthread_t thread;
    int wrong_thread;
};

/* --- helpers --- */

/* A fresh completion tally whose callbacks must run on this thread. */
static void done_init(struct done *d) {
    memset(d, 0, sizeof *d);
    d->thread = pthread_self();
}

static bw_err scan_leaf_ok(void *ctx, uint64_t index, uint64_t offset, const uint8_t h[32]) {
    (void)ctx;
    (void)index;
    (void)offset;
    (void)h;
    return BW_OK;
}

static void tdir_make(struct tdir *t) {
    snprintf(t->path, sizeof t->path, "/tmp/bw_ledger_test.XXXXXX");
    assert_non_null(mkdtemp(t->path));
    assert_int_equal(bw_ledger_create(t->path, "test.bulwark.dev/gw", t->vkey, sizeof t->vkey),
                     BW_OK);
}

static void tdir_path(const struct tdir *t, const char *name, char *out, size_t n) {
    snprintf(out, n, "%s/%s", t->path, name);
}

static void tdir_remove(struct tdir *t) {
    static const char *names[] = {"signing.key", "origin", "log", "log.lock"};
    char p[128];
    for (size_t i = 0; i < 4; i++) {
        tdir_path(t, names[i], p, sizeof p);
        unlink(p);
    }
    rmdir(t->path);
}

static off_t log_size(const struct tdir *t) {
    char p[128];
    tdir_path(t, "log", p, sizeof p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

static void log_truncate(const struct tdir *t, off_t len) {
    char p[128];
    tdir_path(t, "log", p, sizeof p);
    assert_int_equal(truncate(p, len), 0);
}

static void log_write_at(const struct tdir *t, off_t at, const void *buf, size_t n) {
    char p[128];
    tdir_path(t, "log", p, sizeof p);
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, n, at), (ssize_t)n);
    close(fd);
}

static void log_read_at(const struct tdir *t, off_t at, void *buf, size_t n) {
    char p[128];
    tdir_path(t, "log", p, sizeof p);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, n, at), (ssize_t)n);
    close(fd);
}

static void on_done(void *arg, bw_err err, uint64_t index, const uint8_t leaf_hash[32]) {
    struct done *d = arg;
    if (!pthread_equal(pthread_self(), d->thread))
        d->wrong_thread = 1;
    if (err == BW_OK) {
        d->indices[d->ok] = index;
        memcpy(d->leaves[d->ok], leaf_hash, 32);
        d->ok++;
    } else {
        assert_int_equal(err, BW_E_UNAVAILABLE);
        d->failed++;
    }
    d->count++;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    fail_msg("timed out waiting for ledger completions");
}

static void run_until(struct event_base *base, const int *count, int target) {
    struct timeval tv = {20, 0};
    struct event *t = evtimer_new(base, on_timeout, NULL);
    evtimer_add(t, &tv);
    while (*count < target)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
}

static void make_receipt(struct bw_receipt *r, int i) {
    bw_receipt_init(r, (i % 2) ? BW_RECEIPT_OUTCOME : BW_RECEIPT_DECISION);
    r->time_ms = 1767225600000 + i;
    snprintf(r->org_id, sizeof r->org_id, "org_%d", i % 7);
    snprintf(r->model, sizeof r->model, "model-%d", i);
    snprintf(r->decision, sizeof r->decision, "allow");
    r->request_sha256[0] = (uint8_t)i;
    r->request_sha256[1] = (uint8_t)(i >> 8);
}

/* batch_max > 1 also sets a 200 ms batch wait so that a burst of up to batch_max appends lands
 * in one commit: tests that count commits need deterministic batches. prealloc: bytes of
 * zero-filled runway (ledger.preallocate_bytes); open_ok has none. */
static struct bw_ledger *open_prealloc(const struct tdir *t, size_t batch_max, size_t prealloc) {
    struct bw_ledger_opts o = {.batch_max = batch_max,
                               .batch_wait_us = batch_max > 1 ? 200000 : 0,
                               .no_sync = 1,
                               .preallocate = prealloc};
    struct bw_ledger *l = NULL;
    assert_int_equal(bw_ledger_open(t->path, &o, &l), BW_OK);
    return l;
}

static struct bw_ledger *open_ok(const struct tdir *t, size_t batch_max) {
    return open_prealloc(t, batch_max, 0);
}

/* Appends n receipts (numbered from first) and waits for all completions. */
static void append_n(struct bw_ledger *l, struct event_base *base, struct done *d, int first,
                     int n) {
    int target = d->count + n;
    for (int i = first; i < first + n; i++) {
        struct bw_receipt r;
        make_receipt(&r, i);
        bw_ledger_append(l, &r, base, on_done, d);
    }
    run_until(base, &d->count, target);
    assert_false(d->wrong_thread);
}

static const uint8_t *leaf_of(void *ctx, uint64_t i) {
    static uint8_t h[32];
    assert_int_equal(bw_ledger_leaf_hash(ctx, i, h), BW_OK);
    return h;
}

/* Proofs from the stored subtree levels (log_read.c) equal the reference generator's, which
 * hashes every leaf, for sizes and indices around powers of two (also after reopen and after
 * rolled-back writes, whose levels were overwritten). */
static void check_stored_proofs(struct bw_ledger *l, uint64_t size) {
    uint8_t a[BW_MERKLE_MAX_PROOF][32], b[BW_MERKLE_MAX_PROOF][32];
    size_t la = 0, lb = 0;
    uint64_t sizes[] = {1, 2, 3, 7, 8, 9, 63, 64, 65, 100, 511, 512, 513, size - 1, size};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint64_t n = sizes[s];
        if (n == 0 || n > size)
            continue;
        for (uint64_t i = 0; i < n; i += 1 + n / 17) {
            assert_int_equal(bw_ledger_inclusion_proof(l, i, n, a, BW_MERKLE_MAX_PROOF, &la),
                             BW_OK);
            assert_int_equal(
                bw_merkle_inclusion_proof(leaf_of, l, i, n, b, BW_MERKLE_MAX_PROOF, &lb), BW_OK);
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la * 32);
            assert_int_equal(bw_ledger_consistency_proof(l, i + 1, n, a, BW_MERKLE_MAX_PROOF, &la),
                             BW_OK);
            assert_int_equal(
                bw_merkle_consistency_proof(leaf_of, l, i + 1, n, b, BW_MERKLE_MAX_PROOF, &lb),
                BW_OK);
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la * 32);
        }
    }
}

/* The published checkpoint verifies under the vkey and commits to exactly the leaves. */
static void check_checkpoint(struct bw_ledger *l, const char *vkey, uint64_t want_size) {
    char note[BW_NOTE_MAX_TEXT + 1];
    uint64_t size = 0;
    assert_int_equal(bw_ledger_checkpoint(l, note, sizeof note, &size), BW_OK);
    assert_int_equal(size, want_size);
    assert_int_equal(bw_ledger_size(l), want_size);
    struct bw_note_verifier v;
    assert_int_equal(bw_note_verifier_parse(vkey, strlen(vkey), &v), BW_OK);
    size_t text_len = 0;
    assert_int_equal(bw_note_verify(&v, note, strlen(note), &text_len), BW_OK);
    struct bw_checkpoint cp;
    assert_int_equal(bw_note_checkpoint_parse(note, text_len, &cp), BW_OK);
    assert_string_equal(cp.origin, bw_ledger_origin(l));
    assert_int_equal(cp.size, want_size);
    uint8_t root[32];
    bw_merkle_root(leaf_of, l, want_size, root);
    assert_memory_equal(root, cp.root, 32);
    check_stored_proofs(l, want_size);
}

static struct event_base *new_base(void) {
    struct event_base *b = event_base_new();
    assert_non_null(b);
    return b;
}

/* --- tests --- */

static void test_append_and_read_back(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct bw_ledger *l = open_ok(&t, 64);
    assert_string_equal(bw_ledger_vkey(l), t.vkey);
    assert_int_equal(strncmp(bw_ledger_origin(l), "test.bulwark.dev/gw/", 20), 0);
    assert_int_equal(strlen(bw_ledger_origin(l)), 28);
    check_checkpoint(l, t.vkey, 0);
    struct event_base *base = new_base();
    static struct done d;
    done_init(&d);
    append_n(l, base, &d, 0, 1000);
    assert_int_equal(d.ok, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(d.indices[i], i); /* one producer: FIFO order */
    check_checkpoint(l, t.vkey, 1000);

    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    for (int i = 0; i < 1000; i += 111) {
        bw_buf_reset(&b);
        assert_int_equal(bw_ledger_read_receipt(l, (uint64_t)i, &b), BW_OK);
        uint8_t h[32];
        bw_merkle_leaf_hash(b.ptr, b.len, h);
        assert_memory_equal(h, d.leaves[i], 32);
        char want[64];
        snprintf(want, sizeof want, "\"index\":%d,", i);
        assert_non_null(strstr((const char *)b.ptr, want));
        uint8_t proof[BW_MERKLE_MAX_PROOF][32], root[32];
        size_t len = 0;
        assert_int_equal(
            bw_ledger_inclusion_proof(l, (uint64_t)i, 1000, proof, BW_MERKLE_MAX_PROOF, &len),
            BW_OK);
        bw_merkle_root(leaf_of, l, 1000, root);
        assert_int_equal(bw_merkle_verify_inclusion(h, (uint64_t)i, 1000,
                                                    (const uint8_t(*)[32])proof, len, root),
                         BW_OK);
    }
    assert_int_equal(bw_ledger_read_receipt(l, 1000, &b), BW_E_NOT_FOUND);
    uint8_t proof[BW_MERKLE_MAX_PROOF][32];
    size_t len = 0;
    assert_int_equal(bw_ledger_consistency_proof(l, 10, 1000, proof, BW_MERKLE_MAX_PROOF, &len),
                     BW_OK);
    assert_int_equal(bw_ledger_consistency_proof(l, 10, 1001, proof, BW_MERKLE_MAX_PROOF, &len),
                     BW_E_NOT_FOUND);
    bw_buf_cleanup(&b);

    char id[32];
    bw_ledger_receipt_id(l, 42, id);
    char want_id[32];
    snprintf(want_id, sizeof want_id, "%.8s.42", bw_ledger_vkey(l) + 29);
    assert_string_equal(id, want_id);
    bw_ledger_receipt_id(l, UINT64_MAX, id);
    assert_int_equal(strlen(id), 29);

    bw_ledger_close(l);
    event_base_free(base);
    tdir_remove(&t);
}

static void test_reopen_recovers_state(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    static struct done d;
    done_init(&d);
    struct bw_ledger *l = open_ok(&t, 16);
    append_n(l, base, &d, 0, 100);
    char note1[BW_NOTE_MAX_TEXT + 1];
    uint64_t size1 = 0;
    assert_int_equal(bw_ledger_checkpoint(l, note1, sizeof note1, &size1), BW_OK);
    bw_ledger_close(l);
    off_t len1 = log_size(&t);

    l = open_ok(&t, 16);
    assert_int_equal(log_size(&t), len1);
    char note2[BW_NOTE_MAX_TEXT + 1];
    uint64_t size2 = 0;
    assert_int_equal(bw_ledger_checkpoint(l, note2, sizeof note2, &size2), BW_OK);
    assert_int_equal(size2, 100);
    assert_string_equal(note1, note2);
    append_n(l, base, &d, 100, 50);
    assert_int_equal(d.indices[149], 149);
    check_checkpoint(l, t.vkey, 150);
    bw_ledger_close(l);
    event_base_free(base);
    tdir_remove(&t);
}

/* Writes 3 batches; returns the file length after each one. */
static void three_batches(struct tdir *t, struct event_base *base, off_t len[3]) {
    static struct done d;
    done_init(&d);
    struct bw_ledger *l = open_ok(t, 10);
    for (int i = 0; i < 3; i++) {
        append_n(l, base, &d, i * 10, 10);
        len[i] = log_size(t);
    }
    bw_ledger_close(l);
}

static void expect_reopen(struct tdir *t, uint64_t size, off_t len, int frozen) {
    struct bw_ledger *l = open_ok(t, 256);
    assert_int_equal(bw_ledger_size(l), size);
    assert_int_equal(bw_ledger_frozen(l), frozen);
    assert_int_equal(log_size(t), len);
    if (!frozen)
        check_checkpoint(l, t->vkey, size);
    bw_ledger_close(l);
}

static void test_torn_tail_truncated(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    off_t len[3];
    three_batches(&t, base, len);
    /* A crash in the middle of the third write: its records were never acknowledged. */
    log_truncate(&t, len[2] - 40);
    expect_reopen(&t, 20, len[1], 0);
    /* Mid-record of the second batch's first receipt. */
    log_truncate(&t, len[0] + 20);
    expect_reopen(&t, 10, len[0], 0);
    /* Only the header of a frame. */
    log_write_at(&t, len[0], "R\0\0", 3);
    expect_reopen(&t, 10, len[0], 0);
    /* Garbage after the last checkpoint. */
    uint8_t junk[777];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 31 + 7);
    log_write_at(&t, len[0], junk, sizeof junk);
    expect_reopen(&t, 10, len[0], 0);
    /* Everything gone but a partial first frame: back to empty. */
    log_truncate(&t, 30);
    expect_reopen(&t, 0, 0, 0);
    event_base_free(base);
    tdir_remove(&t);
}

static void test_tampered_middle_freezes(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    off_t len[3];
    three_batches(&t, base, len);
    /* Flip one byte inside a receipt of the second batch: checksums fail there, but signed
     * checkpoints follow, so this is not a torn write. Freeze, keep every byte. */
    off_t at = len[0] + 60;
    uint8_t c;
    log_read_at(&t, at, &c, 1);
    c ^= 0x20;
    log_write_at(&t, at, &c, 1);
    struct bw_ledger *l = open_ok(&t, 256);
    assert_true(bw_ledger_frozen(l));
    assert_int_equal(bw_ledger_size(l), 10);
    assert_int_equal(log_size(&t), len[2]);
    struct event_base *b2 = new_base();
    static struct done d;
    done_init(&d);
    append_n(l, b2, &d, 0, 5);
    assert_int_equal(d.failed, 5);
    assert_int_equal(log_size(&t), len[2]);
    bw_ledger_close(l);
    event_base_free(b2);
    event_base_free(base);
    tdir_remove(&t);
}

/* A log file from another ledger (other key, other origin) is refused, never re-signed. */
static void test_foreign_log_freezes(void **state) {
    (void)state;
    struct tdir a, b;
    tdir_make(&a);
    tdir_make(&b);
    struct event_base *base = new_base();
    off_t len[3];
    three_batches(&a, base, len);
    char pa[128], pb[128];
    tdir_path(&a, "log", pa, sizeof pa);
    tdir_path(&b, "log", pb, sizeof pb);
    assert_int_equal(rename(pa, pb), 0);
    struct bw_ledger *l = open_ok(&b, 256);
    assert_true(bw_ledger_frozen(l));
    assert_int_equal(bw_ledger_size(l), 0);
    char note[BW_NOTE_MAX_TEXT + 1];
    uint64_t size = 0;
    assert_int_equal(bw_ledger_checkpoint(l, note, sizeof note, &size), BW_E_UNAVAILABLE);
    bw_ledger_close(l);
    assert_int_equal(log_size(&b), len[2]);
    event_base_free(base);
    /* a's log is gone: open must not silently start a new empty log. */
    struct bw_ledger *l2 = NULL;
    assert_int_equal(bw_ledger_open(a.path, NULL, &l2), BW_E_IO);
    assert_null(l2);
    tdir_remove(&a);
    tdir_remove(&b);
}

static void test_lock_and_create_errors(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct bw_ledger *l = open_ok(&t, 0);
    struct bw_ledger *l2 = NULL;
    assert_int_equal(bw_ledger_open(t.path, NULL, &l2), BW_E_UNAVAILABLE);
    assert_null(l2);
    bw_ledger_close(l);
    l = open_ok(&t, 0); /* the lock is released by close */
    bw_ledger_close(l);

    char vkey[BW_NOTE_VKEY_MAX];
    assert_int_equal(bw_ledger_create(t.path, "x", vkey, sizeof vkey), BW_E_EXISTS);
    assert_int_equal(bw_ledger_create(t.path, "bad prefix", vkey, sizeof vkey), BW_E_INVALID);
    assert_int_equal(bw_ledger_create(t.path, "a+b", vkey, sizeof vkey), BW_E_INVALID);
    assert_int_equal(bw_ledger_create(t.path, "x", vkey, 20), BW_E_TOO_LARGE);
    assert_int_equal(bw_ledger_create("/nonexistent/dir", "x", vkey, sizeof vkey), BW_E_IO);

    char p[128];
    tdir_path(&t, "signing.key", p, sizeof p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(bw_ledger_open(t.path, NULL, &l2), BW_E_IO);
    assert_int_equal(chmod(p, 0600), 0);
    tdir_remove(&t);
}

static void test_fail_next_write(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    static struct done d;
    done_init(&d);
    struct bw_ledger *l = open_ok(&t, 7);
    append_n(l, base, &d, 0, 20);
    off_t before = log_size(&t);
    int64_t fail_ms = -1;
    int err = -1, recovered = -1;
    bw_ledger_write_state(l, &fail_ms, &err, &recovered);
    assert_int_equal(fail_ms, 0); /* no write has failed */
    bw_ledger_fail_next_write(l);
    append_n(l, base, &d, 20, 7);
    assert_int_equal(d.failed, 7);
    bw_ledger_write_state(l, &fail_ms, &err, &recovered);
    assert_true(fail_ms > 0);
    assert_int_equal(err, ENOSPC);
    assert_int_equal(recovered, 0);
    assert_int_equal(log_size(&t), before);
    assert_int_equal(bw_ledger_size(l), 20);
    assert_false(bw_ledger_frozen(l));
    append_n(l, base, &d, 27, 5);
    assert_int_equal(d.ok, 25);
    bw_ledger_write_state(l, &fail_ms, &err, &recovered);
    assert_int_equal(recovered, 1);      /* a batch was made durable after the failure */
    assert_int_equal(d.indices[20], 20); /* no gap: the failed batch's indices are reused */
    check_checkpoint(l, t.vkey, 25);
    bw_ledger_close(l);
    expect_reopen(&t, 25, log_size(&t), 0);
    event_base_free(base);
    tdir_remove(&t);
}

/* A real EFBIG: RLIMIT_FSIZE below what the batch needs (SIGXFSZ ignored, as the gateway
 * does). The batch fails, the file is truncated back, and the log recovers once the limit is
 * lifted. */
static void test_efbig_rolls_back(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    static struct done d;
    done_init(&d);
    struct bw_ledger *l = open_ok(&t, 256);
    append_n(l, base, &d, 0, 3);
    off_t before = log_size(&t);
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &sa, &old_sa);
    struct rlimit old_rl, rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_rl), 0);
    rl = old_rl;
    rl.rlim_cur = (rlim_t)before + 100; /* less than any commit */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    append_n(l, base, &d, 3, 50);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_rl), 0);
    sigaction(SIGXFSZ, &old_sa, NULL);
    assert_int_equal(d.failed, 50);
    assert_int_equal(log_size(&t), before);
    append_n(l, base, &d, 53, 50);
    assert_int_equal(d.ok, 53);
    check_checkpoint(l, t.vkey, 53);
    bw_ledger_close(l);
    event_base_free(base);
    tdir_remove(&t);
}

static void test_invalid_receipt_fails_alone(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    static struct done d;
    done_init(&d);
    struct bw_ledger *l = open_ok(&t, 256);
    struct bw_receipt r;
    make_receipt(&r, 1);
    bw_ledger_append(l, &r, base, on_done, &d);
    snprintf(r.model, sizeof r.model, "bad\x01");
    bw_ledger_append(l, &r, base, on_done, &d);
    make_receipt(&r, 2);
    bw_ledger_append(l, &r, base, on_done, &d);
    run_until(base, &d.count, 3);
    assert_int_equal(d.ok, 2);
    assert_int_equal(d.failed, 1);
    int64_t fail_ms = -1;
    int err = -1, recovered = -1;
    bw_ledger_write_state(l, &fail_ms, &err, &recovered);
    assert_int_equal(fail_ms, 0); /* one receipt that does not encode is not a write failure */
    check_checkpoint(l, t.vkey, 2);
    bw_ledger_close(l);
    event_base_free(base);
    tdir_remove(&t);
}

struct producer {
    struct bw_ledger *l;
    struct done d;
    int first, n;
};

static void *producer_main(void *arg) {
    struct producer *p = arg;
    struct event_base *base = event_base_new();
    p->d.thread = pthread_self();
    append_n(p->l, base, &p->d, p->first, p->n);
    event_base_free(base);
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_two_producers(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct bw_ledger_opts o = {.batch_max = 32, .batch_wait_us = 200, .no_sync = 1};
    struct bw_ledger *l = NULL;
    assert_int_equal(bw_ledger_open(t.path, &o, &l), BW_OK);
    static struct producer p[2];
    memset(p, 0, sizeof p);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        p[i].l = l;
        p[i].first = i * 2000;
        p[i].n = 2000;
        assert_int_equal(pthread_create(&th[i], NULL, producer_main, &p[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    static uint64_t all[4000];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(p[i].d.ok, 2000);
        assert_false(p[i].d.wrong_thread);
        memcpy(all + i * 2000, p[i].d.indices, 2000 * sizeof all[0]);
    }
    qsort(all, 4000, sizeof all[0], cmp_u64);
    for (int i = 0; i < 4000; i++)
        assert_int_equal(all[i], i);
    check_checkpoint(l, t.vkey, 4000);
    bw_ledger_close(l);
    tdir_remove(&t);
}

/* close flushes what is queued; completions still scheduled on a base that was not running
 * run later when it does (after close), and the receipts are durable. */
static void test_close_flushes(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    static struct done d;
    memset(&d, 0, sizeof d);
    struct bw_ledger *l = open_ok(&t, 1);
    for (int i = 0; i < 100; i++) {
        struct bw_receipt r;
        make_receipt(&r, i);
        bw_ledger_append(l, &r, base, on_done, &d);
    }
    d.thread = pthread_self();
    bw_ledger_close(l);
    assert_int_equal(d.count, 0);
    run_until(base, &d.count, 100);
    assert_int_equal(d.ok, 100);
    assert_int_equal(d.indices[99], 99);
    expect_reopen(&t, 100, log_size(&t), 0);
    bw_ledger_close(NULL);
    event_base_free(base);
    tdir_remove(&t);
}

/* --- preallocation (ledger.preallocate_bytes) --- */

/* The recovery scan of the file as it is now (keep_len = end of the last checkpoint). */
static void scan_file(const struct tdir *t, struct bw_ledger_scan *sc) {
    off_t n = log_size(t);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    if (n > 0)
        log_read_at(t, 0, buf, (size_t)n);
    struct bw_note_verifier v;
    assert_int_equal(bw_note_verifier_parse(t->vkey, strlen(t->vkey), &v), BW_OK);
    char origin[BW_NOTE_NAME_MAX + 1];
    snprintf(origin, sizeof origin, "%.*s", (int)(strchr(t->vkey, '+') - t->vkey), t->vkey);
    assert_int_equal(bw_ledger_scan(buf, (size_t)n, origin, &v, scan_leaf_ok, NULL, sc), BW_OK);
    free(buf);
}

/* Commits leave a zero-filled runway behind the last checkpoint; reopening (with or without
 * preallocation) keeps it, appends overwrite it from the end of the data, and everything reads
 * back and verifies. */
static void test_preallocate_runway(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    static struct done d;
    done_init(&d);
    struct bw_ledger *l = open_prealloc(&t, 16, 65536);
    append_n(l, base, &d, 0, 40);
    struct bw_ledger_scan sc;
    scan_file(&t, &sc);
    off_t size = log_size(&t);
    assert_true(sc.zero_tail);
    assert_null(sc.why);
    assert_int_equal(sc.leaves, 40);
    assert_true((uint64_t)size >= sc.keep_len + 32768);
    assert_int_equal(size % 4096, 0);
    bw_ledger_close(l);

    l = open_ok(&t, 16); /* no preallocation: the runway is still kept, not truncated */
    assert_int_equal(log_size(&t), size);
    append_n(l, base, &d, 40, 10);
    check_checkpoint(l, t.vkey, 50);
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(bw_ledger_read_receipt(l, 45, &b), BW_OK);
    assert_non_null(strstr((const char *)b.ptr, "\"index\":45,"));
    bw_buf_cleanup(&b);
    bw_ledger_close(l);
    uint64_t data_end = sc.keep_len;
    scan_file(&t, &sc);
    assert_true(sc.zero_tail && sc.keep_len > data_end);
    assert_int_equal(log_size(&t), size);

    /* A torn write inside the runway: frame bytes, then zeros. Truncated to the data. */
    log_write_at(&t, (off_t)sc.keep_len, "R\0\0\1\0garbage", 12);
    expect_reopen(&t, 50, (off_t)sc.keep_len, 0);
    event_base_free(base);
    tdir_remove(&t);
}

/* RLIMIT_FSIZE pinned at the file size (runway included): batches that fit in the runway are
 * still written, the failed top-up is undone (the file never grows past the limit), and once
 * the runway is used up batches fail closed and roll back. Lifting the limit recovers. */
static void test_preallocate_efbig(void **state) {
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct event_base *base = new_base();
    static struct done d;
    done_init(&d);
    struct bw_ledger *l = open_prealloc(&t, 4, 16384);
    append_n(l, base, &d, 0, 4);
    /* The top-up runs after the batch is acknowledged: wait for it. */
    for (int i = 0; i < 2000 && log_size(&t) < 16384; i++)
        usleep(1000);
    off_t limit = log_size(&t);
    assert_true(limit >= 16384);
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &sa, &old_sa);
    struct rlimit old_rl, rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_rl), 0);
    rl = old_rl;
    rl.rlim_cur = (rlim_t)limit;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    for (int i = 0; i < 200 && d.failed == 0; i++)
        append_n(l, base, &d, 4 + 4 * i, 4);
    int ok_at_limit = d.ok;
    assert_true(d.failed > 0);
    assert_true(ok_at_limit > 4); /* the runway was used */
    assert_true(log_size(&t) <= limit);
    assert_false(bw_ledger_frozen(l));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_rl), 0);
    sigaction(SIGXFSZ, &old_sa, NULL);
    append_n(l, base, &d, 10000, 4);
    assert_int_equal(d.ok, ok_at_limit + 4);
    check_checkpoint(l, t.vkey, (uint64_t)d.ok);
    bw_ledger_close(l);
    expect_reopen(&t, (uint64_t)d.ok, log_size(&t), 0);
    event_base_free(base);
    tdir_remove(&t);
}

static int setup(void **state) {
    (void)state;
    return evthread_use_pthreads();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_read_back),
        cmocka_unit_test(test_reopen_recovers_state),
        cmocka_unit_test(test_torn_tail_truncated),
        cmocka_unit_test(test_tampered_middle_freezes),
        cmocka_unit_test(test_foreign_log_freezes),
        cmocka_unit_test(test_lock_and_create_errors),
        cmocka_unit_test(test_fail_next_write),
        cmocka_unit_test(test_efbig_rolls_back),
        cmocka_unit_test(test_invalid_receipt_fails_alone),
        cmocka_unit_test(test_two_producers),
        cmocka_unit_test(test_close_flushes),
        cmocka_unit_test(test_preallocate_runway),
        cmocka_unit_test(test_preallocate_efbig),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
