/* log_open.c: creating, opening (with recovery) and closing a ledger directory.
 *
 * Files (docs/EVIDENCE.md "Files"): signing.key (32-byte Ed25519 seed, 0600, created with
 * O_EXCL), origin ("<origin>\n"), log (frames), log.lock (flock: one writer per log). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/dsse.h"
#include "ledger/log_frame.h"
#include "ledger/log_internal.h"
#include "util/codec.h"
#include "util/log.h"
#include "util/time.h"

#define SEED_LEN 32
#define DEFAULT_BATCH_MAX 256
#define LIMIT_BATCH_MAX 65536
#define ORIGIN_SUFFIX_LEN 9 /* "/" + 8 hex */

static const char *const ledger_files[] = {"signing.key", "origin", "log"};

static bw_err write_new_file(int dfd, const char *name, const void *p, size_t n, mode_t mode) {
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return errno == EEXIST ? BW_E_EXISTS : BW_E_IO;
    ssize_t w = n ? write(fd, p, n) : 0;
    int ok = w == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    return ok ? BW_OK : BW_E_IO;
}

/* Reads a whole small file (at most size - 1 bytes) and NUL-terminates it. */
static bw_err read_small(int dfd, const char *name, uint8_t *buf, size_t size, size_t *len) {
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    BW_ENSURE(fd >= 0, BW_E_IO);
    ssize_t n = read(fd, buf, size);
    close(fd);
    BW_ENSURE(n >= 0 && (size_t)n < size, BW_E_IO);
    buf[n] = 0;
    *len = (size_t)n;
    return BW_OK;
}

static bw_err check_absent(int dfd) {
    struct stat st;
    for (size_t i = 0; i < sizeof ledger_files / sizeof ledger_files[0]; i++) {
        if (fstatat(dfd, ledger_files[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
            return BW_E_EXISTS;
        if (errno != ENOENT)
            return BW_E_IO;
    }
    return BW_OK;
}

static bw_err make_origin(const char *prefix, char origin[BW_NOTE_NAME_MAX + 1]) {
    uint8_t rnd[4];
    char hex[9];
    randombytes_buf(rnd, sizeof rnd);
    BW_TRY(bw_hex_encode(rnd, sizeof rnd, hex, sizeof hex));
    size_t n = strlen(prefix);
    memcpy(origin, prefix, n);
    origin[n] = '/';
    memcpy(origin + n + 1, hex, sizeof hex);
    return BW_OK;
}

static bw_err create_in(int dfd, const char *prefix, char *vkey, size_t vkey_size) {
    bw_err result = BW_OK;
    struct bw_note_signer *signer = NULL;
    char origin[BW_NOTE_NAME_MAX + 2];
    uint8_t *seed = sodium_malloc(SEED_LEN);
    BW_GOTO_IF(!seed, BW_E_NOMEM);
    BW_GOTO(check_absent(dfd));
    randombytes_buf(seed, SEED_LEN);
    BW_GOTO(make_origin(prefix, origin));
    BW_GOTO(bw_note_signer_new(origin, seed, &signer));
    BW_GOTO(bw_note_signer_vkey(signer, vkey, vkey_size));
    BW_GOTO(write_new_file(dfd, "signing.key", seed, SEED_LEN, 0600));
    size_t n = strlen(origin);
    origin[n] = '\n';
    BW_GOTO(write_new_file(dfd, "origin", origin, n + 1, 0644));
    BW_GOTO(write_new_file(dfd, "log", "", 0, 0600));
    BW_GOTO_IF(fsync(dfd) != 0, BW_E_IO); /* make the new names durable */
out:
    if (seed) {
        sodium_memzero(seed, SEED_LEN);
        sodium_free(seed);
    }
    bw_note_signer_free(signer);
    return result;
}

bw_err bw_ledger_create(const char *dir, const char *origin_prefix, char *vkey, size_t vkey_size) {
    BW_ENSURE(dir && vkey && bw_note_name_ok(origin_prefix), BW_E_INVALID);
    size_t plen = strlen(origin_prefix);
    BW_ENSURE(plen + ORIGIN_SUFFIX_LEN <= BW_NOTE_NAME_MAX, BW_E_INVALID);
    BW_ENSURE(vkey_size >= plen + ORIGIN_SUFFIX_LEN + 1 + 8 + 1 + 44 + 1, BW_E_TOO_LARGE);
    BW_ENSURE(sodium_init() >= 0, BW_E_CRYPTO);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    BW_ENSURE(dfd >= 0, BW_E_IO);
    bw_err e = create_in(dfd, origin_prefix, vkey, vkey_size);
    close(dfd);
    return e;
}

void bw_ledger_freeze(struct bw_ledger *l, const char *why) {
    atomic_store(&l->frozen, 1);
    bw_error("ledger %s: frozen, refusing to sign: %s", l->origin, why);
}

/* Chunk pointers for level k: enough for a log of the maximum size. */
static uint64_t node_chunks(unsigned k) {
    uint64_t slots = (BW_LEDGER_MAX_CHUNKS * BW_LEDGER_CHUNK) >> k;
    return (slots + BW_LEDGER_NODE_CHUNK - 1) >> BW_LEDGER_NODE_CHUNK_BITS;
}

bw_err bw_ledger_index_set(struct bw_ledger *l, uint64_t index, uint64_t offset,
                           const uint8_t leaf_hash[32]) {
    uint64_t c = index >> BW_LEDGER_CHUNK_BITS;
    BW_ENSURE(c < BW_LEDGER_MAX_CHUNKS, BW_E_TOO_LARGE);
    if (!l->chunks[c]) {
        l->chunks[c] = malloc(sizeof *l->chunks[c]);
        BW_ENSURE(l->chunks[c], BW_E_NOMEM);
    }
    uint64_t i = index & (BW_LEDGER_CHUNK - 1);
    memcpy(l->chunks[c]->leaf_hash[i], leaf_hash, 32);
    l->chunks[c]->offset[i] = offset;
    /* Leaf `index` completes the perfect subtree of level k ending at it for every k with the
     * low k bits of index + 1 all zero (RFC 9162 2.1.1 node hashes of the two halves). */
    for (unsigned k = 1; k < BW_LEDGER_NODE_LEVELS && ((index + 1) & ((UINT64_C(1) << k) - 1)) == 0;
         k++) {
        uint64_t s = ((index + 1) >> k) - 1;
        uint64_t nc = s >> BW_LEDGER_NODE_CHUNK_BITS;
        if (!l->nodes[k][nc]) {
            l->nodes[k][nc] = malloc(BW_LEDGER_NODE_CHUNK * 32);
            BW_ENSURE(l->nodes[k][nc], BW_E_NOMEM);
        }
        bw_merkle_node_hash(bw_ledger_node_at(l, k - 1, 2 * s),
                            bw_ledger_node_at(l, k - 1, 2 * s + 1),
                            l->nodes[k][nc][s & (BW_LEDGER_NODE_CHUNK - 1)]);
    }
    return BW_OK;
}

void bw_ledger_frontier_push(struct bw_ledger *l, uint64_t index) {
    struct bw_merkle_frontier *f = &l->frontier;
    /* Appending leaf `index` (= f->size) merges the perfect subtrees of every set low bit of the
     * size into one of 2^level leaves ending at it: the node bw_ledger_index_set just stored, so
     * no hash is computed twice. */
    unsigned level = 0;
    while (f->size & (UINT64_C(1) << level))
        level++;
    memcpy(f->nodes[level], bw_ledger_node_at(l, level, ((index + 1) >> level) - 1), 32);
    f->size++;
}

bw_err bw_ledger_sign_checkpoint(struct bw_ledger *l, const struct bw_merkle_frontier *f,
                                 struct bw_buf *note) {
    uint8_t root[32];
    bw_merkle_frontier_root(f, root);
    struct bw_buf body;
    bw_buf_init(&body, BW_NOTE_MAX_TEXT);
    bw_buf_reset(note);
    bw_err e = bw_note_checkpoint_body(l->origin, f->size, root, &body);
    if (e == BW_OK)
        e = bw_note_sign(l->signer, (const char *)body.ptr, body.len, note);
    bw_buf_cleanup(&body);
    return e;
}

bw_err bw_ledger_load_origin_at(int dfd, char origin[BW_NOTE_NAME_MAX + 1]) {
    uint8_t buf[BW_NOTE_NAME_MAX + 3];
    size_t n = 0;
    BW_TRY(read_small(dfd, "origin", buf, sizeof buf, &n));
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = 0;
    BW_ENSURE(n > 0 && n <= BW_NOTE_NAME_MAX && strlen((char *)buf) == n, BW_E_INVALID);
    BW_ENSURE(bw_note_name_ok((const char *)buf), BW_E_INVALID);
    memcpy(origin, buf, n + 1);
    return BW_OK;
}

/* The key file must be exactly a seed and private to the owner: a group- or world-readable
 * signing key has to be treated as leaked, so refuse to use it. */
bw_err bw_ledger_load_signer_at(int dfd, const char *origin, struct bw_note_signer **out) {
    bw_err result = BW_OK;
    uint8_t *seed = sodium_malloc(SEED_LEN + 1);
    BW_ENSURE(seed, BW_E_NOMEM);
    int fd = openat(dfd, "signing.key", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    BW_GOTO_IF(fd < 0 || fstat(fd, &st) != 0, BW_E_IO);
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_size != SEED_LEN) {
        bw_error("ledger: signing.key must be a 32-byte file with mode 0600");
        BW_GOTO(BW_E_IO);
    }
    BW_GOTO_IF(read(fd, seed, SEED_LEN + 1) != SEED_LEN, BW_E_IO);
    BW_GOTO(bw_note_signer_new(origin, seed, out));
out:
    if (fd >= 0)
        close(fd);
    sodium_memzero(seed, SEED_LEN + 1);
    sodium_free(seed);
    return result;
}

static bw_err on_scanned_leaf(void *ctx, uint64_t index, uint64_t offset,
                              const uint8_t leaf_hash[32]) {
    return bw_ledger_index_set(ctx, index, offset, leaf_hash);
}

/* Applies a finished scan: truncate a torn tail (or freeze), adopt the tree and checkpoint. */
static bw_err adopt_scan(struct bw_ledger *l, const uint8_t *map, uint64_t size,
                         const struct bw_ledger_scan *sc) {
    if (sc->frozen) {
        /* Keep every byte for inspection: nothing is truncated once tampering is suspected. */
        bw_ledger_freeze(l, sc->why);
    } else if (sc->keep_len < size && !sc->zero_tail) {
        bw_warn("ledger %s: %s: %llu bytes dropped after the last checkpoint", l->origin,
                sc->why ? sc->why : "tail", (unsigned long long)(size - sc->keep_len));
        BW_ENSURE(ftruncate(l->fd, (off_t)sc->keep_len) == 0 && fdatasync(l->fd) == 0, BW_E_IO);
        size = sc->keep_len;
    }
    l->frontier = sc->frontier;
    l->file_end = sc->keep_len;
    l->alloc_end = size; /* a zero tail stays: it is the runway the next appends overwrite */
    atomic_store(&l->durable_size, sc->leaves);
    l->checkpoint_size = sc->leaves;
    if (sc->has_checkpoint) {
        memcpy(l->checkpoint, map + sc->checkpoint_off, sc->checkpoint_len);
        l->checkpoint[sc->checkpoint_len] = 0;
        l->checkpoint_len = sc->checkpoint_len;
    } else if (!sc->frozen) {
        /* The empty tree: its root is fixed, so this signature can never conflict. */
        BW_TRY(bw_ledger_sign_checkpoint(l, &l->frontier, &l->note));
        memcpy(l->checkpoint, l->note.ptr, l->note.len + 1);
        l->checkpoint_len = l->note.len;
    }
    return BW_OK;
}

static bw_err recover(struct bw_ledger *l) {
    struct stat st;
    BW_ENSURE(fstat(l->fd, &st) == 0 && S_ISREG(st.st_mode), BW_E_IO);
    uint64_t size = (uint64_t)st.st_size;
    const uint8_t *map = NULL;
    if (size > 0) {
        void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, l->fd, 0);
        BW_ENSURE(m != MAP_FAILED, BW_E_IO);
        map = m;
    }
    struct bw_ledger_scan sc;
    bw_err e = bw_ledger_scan(map, (size_t)size, l->origin, &l->verifier, on_scanned_leaf, l, &sc);
    if (e == BW_OK)
        e = adopt_scan(l, map, size, &sc);
    if (map)
        munmap((void *)map, (size_t)size);
    return e;
}

static bw_err init_sync(struct bw_ledger *l) {
    pthread_condattr_t ca;
    BW_ENSURE(pthread_condattr_init(&ca) == 0, BW_E_INTERNAL);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int ok = pthread_cond_init(&l->cond, &ca) == 0;
    pthread_condattr_destroy(&ca);
    BW_ENSURE(ok, BW_E_INTERNAL);
    BW_ENSURE(pthread_mutex_init(&l->mu, NULL) == 0, BW_E_INTERNAL);
    BW_ENSURE(pthread_mutex_init(&l->state_mu, NULL) == 0, BW_E_INTERNAL);
    return BW_OK;
}

static void set_opts(struct bw_ledger *l, const struct bw_ledger_opts *opts) {
    if (opts)
        l->opts = *opts;
    if (l->opts.batch_max == 0)
        l->opts.batch_max = DEFAULT_BATCH_MAX;
    if (l->opts.batch_max > LIMIT_BATCH_MAX)
        l->opts.batch_max = LIMIT_BATCH_MAX;
    if (l->opts.batch_wait_us < 0)
        l->opts.batch_wait_us = 0;
    if (l->opts.batch_wait_us > 1000000)
        l->opts.batch_wait_us = 1000000;
    if (l->opts.commit_interval_us < 0)
        l->opts.commit_interval_us = 0;
    if (l->opts.commit_interval_us > 1000000)
        l->opts.commit_interval_us = 1000000;
    size_t frame_max =
        BW_FRAME_OVERHEAD + BW_RECEIPT_MAX_BYTES + BW_FRAME_OVERHEAD + BW_DSSE_SIG_LEN;
    bw_buf_init(&l->wbuf, l->opts.batch_max * frame_max + BW_FRAME_OVERHEAD + BW_NOTE_MAX_TEXT);
    bw_buf_init(&l->note, BW_NOTE_MAX_TEXT);
}

/* Lock, identity and key; then the log file. */
static bw_err open_files(struct bw_ledger *l, int dfd) {
    l->lock_fd = openat(dfd, "log.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    BW_ENSURE(l->lock_fd >= 0, BW_E_IO);
    if (flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? BW_E_UNAVAILABLE : BW_E_IO;
    BW_TRY(bw_ledger_load_origin_at(dfd, l->origin));
    BW_TRY(bw_ledger_load_signer_at(dfd, l->origin, &l->signer));
    BW_TRY(bw_note_signer_vkey(l->signer, l->vkey, sizeof l->vkey));
    BW_TRY(bw_note_verifier_parse(l->vkey, strlen(l->vkey), &l->verifier));
    BW_TRY(bw_hex_encode(bw_note_signer_key_id(l->signer), 4, l->key_id_hex, sizeof l->key_id_hex));
    /* No O_CREAT: a missing log must not silently become a new, empty one. */
    l->fd = openat(dfd, "log", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    BW_ENSURE(l->fd >= 0, BW_E_IO);
    return BW_OK;
}

bw_err bw_ledger_open(const char *dir, const struct bw_ledger_opts *opts, struct bw_ledger **out) {
    BW_ENSURE(dir && out, BW_E_INVALID);
    BW_ENSURE(sodium_init() >= 0, BW_E_CRYPTO);
    bw_err result = BW_OK;
    int dfd = -1;
    struct bw_ledger *l = calloc(1, sizeof *l);
    BW_ENSURE(l, BW_E_NOMEM);
    l->fd = l->lock_fd = -1;
    set_opts(l, opts);
    if (init_sync(l) != BW_OK) {
        bw_buf_cleanup(&l->wbuf);
        bw_buf_cleanup(&l->note);
        free(l);
        return BW_E_INTERNAL;
    }
    l->chunks = calloc(BW_LEDGER_MAX_CHUNKS, sizeof *l->chunks);
    BW_GOTO_IF(!l->chunks, BW_E_NOMEM);
    for (unsigned k = 1; k < BW_LEDGER_NODE_LEVELS; k++) {
        l->nodes[k] = calloc((size_t)node_chunks(k), sizeof *l->nodes[k]);
        BW_GOTO_IF(!l->nodes[k], BW_E_NOMEM);
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    BW_GOTO_IF(dfd < 0, BW_E_IO);
    BW_GOTO_IF(strlen(dir) >= sizeof l->dir, BW_E_INVALID);
    memcpy(l->dir, dir, strlen(dir) + 1);
    BW_GOTO(open_files(l, dfd));
    BW_GOTO(recover(l));
    atomic_store(&l->checkpoint_ms, bw_now_ms()); /* the open checked the last checkpoint */
    BW_GOTO_IF(pthread_create(&l->thread, NULL, bw_ledger_thread_main, l) != 0, BW_E_INTERNAL);
    l->thread_started = 1;
#ifdef BW_BENCH_DISCARD_RECEIPTS
    bw_error("ledger: BENCHMARK BUILD (BW_BENCH_DISCARD_RECEIPTS): receipts are acknowledged "
             "and discarded, nothing is recorded");
#endif
    bw_info("ledger %s: opened at size %llu%s", l->origin,
            (unsigned long long)atomic_load(&l->durable_size),
            atomic_load(&l->frozen) ? " (frozen)" : "");
out:
    if (dfd >= 0)
        close(dfd);
    if (result != BW_OK) {
        bw_ledger_close(l);
        return result;
    }
    *out = l;
    return BW_OK;
}

void bw_ledger_close(struct bw_ledger *l) {
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->stopping = 1;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    bw_ledger_baseqs_free(l);
    bw_ledger_pending_free_all(l->head);
    if (l->chunks)
        for (uint64_t c = 0; c < BW_LEDGER_MAX_CHUNKS && l->chunks[c]; c++)
            free(l->chunks[c]);
    free(l->chunks);
    for (unsigned k = 1; k < BW_LEDGER_NODE_LEVELS; k++) {
        /* chunks are allocated in slot order: the first NULL ends the level */
        for (uint64_t c = 0; l->nodes[k] && c < node_chunks(k) && l->nodes[k][c]; c++)
            free(l->nodes[k][c]);
        free(l->nodes[k]);
    }
    bw_note_signer_free(l->signer);
    bw_buf_cleanup(&l->wbuf);
    bw_buf_cleanup(&l->note);
    if (l->fd >= 0)
        close(l->fd);
    if (l->lock_fd >= 0)
        close(l->lock_fd); /* releases the flock */
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->state_mu);
    free(l);
}
