/* ledger_bench.c: durable receipts per second through the ledger (group commit + fdatasync)
 * from 2 producer threads, each with its own event_base and a window of appends in flight.
 *
 * Build and run (from the repository root, after `make build/libbulwark.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/ledger_bench.c build/libbulwark.a \
 *      $(pkg-config --cflags --libs libevent libevent_pthreads libcurl libsodium openssl \
 *        jansson sqlite3 yaml-0.1 libpq) -lpthread -lm -o build/ledger_bench
 *   build/ledger_bench [receipts per producer, default 100000] [window, default 512] [nosync]
 *                      [sign]   (sign: ledger.sign_each, a DSSE signature per receipt)
 * The log is created in a fresh directory under $TMPDIR (default /tmp) and removed after. */
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "ledger/note.h"
#include "util/time.h"

struct producer {
    struct bw_ledger *l;
    struct event_base *base;
    long total, sent, done, failed;
    int window;
    struct bw_receipt r;
};

static void send_more(struct producer *p);

static void on_done(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct producer *p = arg;
    p->done++;
    if (err != BW_OK)
        p->failed++;
    if (p->done == p->total)
        event_base_loopbreak(p->base);
    else
        send_more(p);
}

static void send_more(struct producer *p) {
    while (p->sent < p->total && p->sent - p->done < p->window) {
        p->r.time_ms = bw_now_ms();
        p->r.request_sha256[0] = (uint8_t)p->sent;
        bw_ledger_append(p->l, &p->r, p->base, on_done, p);
        p->sent++;
    }
}

static void *producer_main(void *arg) {
    struct producer *p = arg;
    p->base = event_base_new();
    bw_receipt_init(&p->r, BW_RECEIPT_DECISION);
    snprintf(p->r.org_id, sizeof p->r.org_id, "org_bench");
    snprintf(p->r.principal, sizeof p->r.principal, "key_0123abcd");
    snprintf(p->r.route, sizeof p->r.route, "chat");
    snprintf(p->r.model, sizeof p->r.model, "gpt-4o-mini");
    snprintf(p->r.decision, sizeof p->r.decision, "allow");
    snprintf(p->r.reason, sizeof p->r.reason, "policy.allowed");
    p->r.has_policy = 1;
    send_more(p);
    /* Completions arrive from another thread: keep looping while nothing is pending yet. */
    event_base_loop(p->base, EVLOOP_NO_EXIT_ON_EMPTY);
    event_base_free(p->base);
    return NULL;
}

static void remove_dir(const char *dir) {
    static const char *names[] = {"signing.key", "origin", "log", "log.lock"};
    char path[512];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(int argc, char **argv) {
    long per = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    int window = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 512;
    int nosync = 0, sign = 0;
    for (int i = 3; i < argc; i++) {
        nosync |= strcmp(argv[i], "nosync") == 0;
        sign |= strcmp(argv[i], "sign") == 0;
    }
    evthread_use_pthreads();
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[256];
    snprintf(dir, sizeof dir, "%s/bw_ledger_bench.XXXXXX", tmp);
    char vkey[BW_NOTE_VKEY_MAX];
    struct bw_ledger *l = NULL;
    struct bw_ledger_opts opts = {.batch_max = 256, .no_sync = nosync, .sign_each = sign};
    if (!mkdtemp(dir) || bw_ledger_create(dir, "bench.bulwark.dev", vkey, sizeof vkey) != BW_OK ||
        bw_ledger_open(dir, &opts, &l) != BW_OK) {
        fprintf(stderr, "cannot set up a ledger in %s\n", dir);
        return 1;
    }
    struct producer p[2];
    pthread_t th[2];
    int64_t t0 = bw_mono_us();
    for (int i = 0; i < 2; i++) {
        memset(&p[i], 0, sizeof p[i]);
        p[i].l = l;
        p[i].total = per;
        p[i].window = window;
        pthread_create(&th[i], NULL, producer_main, &p[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(bw_mono_us() - t0) / 1e6;
    long failed = p[0].failed + p[1].failed;
    printf("%ld durable receipts in %.3f s: %.0f receipts/s (%s, window %d/producer, %ld "
           "failed)\n",
           2 * per, secs, (double)(2 * per) / secs, nosync ? "no fdatasync" : "fdatasync", window,
           failed);
    bw_ledger_close(l);
    remove_dir(dir);
    return failed ? 1 : 0;
}
