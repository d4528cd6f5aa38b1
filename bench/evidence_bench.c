/* evidence_bench.c: evidence costs at scale (not a test).
 *
 *   evidence_bench gen DATA N [BATCH]  writes DATA/ledger with N synthetic receipts (a checkpoint
 *                                      every BATCH, default 1000) and DATA/bulwark.yaml, the policy
 *                                      they reference; then time `bulwark export` / `verify`.
 *                                      SIGN_EACH=1: each receipt also DSSE-signed (S frames);
 *                                      GEN_ORG=ID: every receipt in org ID (default org_a/org_b).
 *   evidence_bench latency DATA [K]    opens DATA/ledger and measures, at its current size: K
 *                                      single appends (each waited for: encode, write, fdatasync,
 *                                      sign), K HTTP-path inclusion proofs (bw_ledger_inclusion_proof,
 *                                      O(size)), and pack-path proofs (level cache build + K proofs).
 * Build: bench/evidence_bench.sh (which also runs the 10^3 / 10^6 measurements). */
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "evidence_gen.h"
#include "ledger/ledger.h"
#include "util/time.h"

static const char policy[] = "# bench policy\norgs:\n  default:\n    allowed_models: [gpt-4o-mini]\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int gen(const char *data, uint64_t n, uint64_t batch) {
    char path[4200], vkey[BW_NOTE_VKEY_MAX];
    uint8_t ph[32];
    bw_sha256(policy, sizeof policy - 1, ph);
    snprintf(path, sizeof path, "%s/bulwark.yaml", data);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(policy, 1, sizeof policy - 1, f) != sizeof policy - 1 || fclose(f) != 0)
        return 1;
    snprintf(path, sizeof path, "%s/ledger", data);
    if (mkdir(path, 0700) != 0)
        return 1;
    double t0 = now_s();
    const char *sign = getenv("SIGN_EACH");
    gen_sign_each = sign && strcmp(sign, "1") == 0;
    gen_org = getenv("GEN_ORG");
    gen_log(path, n, batch, ph, vkey);
    fprintf(stderr, "generated %llu receipts in %.2f s\n", (unsigned long long)n, now_s() - t0);
    printf("%s\n", vkey);
    return 0;
}

struct waiter {
    struct event_base *base;
    bw_err err;
};

static void on_done(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct waiter *w = arg;
    w->err = err;
    event_base_loopbreak(w->base);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int k) {
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    printf("%-34s p50 %9.3f ms  p99 %9.3f ms  (n=%d)\n", what, v[k / 2] * 1e3,
           v[k * 99 / 100] * 1e3, k);
}

static int appends(struct bw_ledger *l, int k, double *lat) {
    struct waiter w = {event_base_new(), BW_OK};
    struct bw_receipt r;
    uint8_t ph[32] = {0}, leaf[32] = {0};
    for (int i = 0; i < k; i++) {
        gen_receipt(0, ph, leaf, &r);
        double t0 = now_s();
        bw_ledger_append(l, &r, w.base, on_done, &w);
        event_base_loop(w.base, EVLOOP_NO_EXIT_ON_EMPTY);
        lat[i] = now_s() - t0;
        if (w.err != BW_OK)
            return 1;
    }
    event_base_free(w.base);
    return 0;
}

static int latency(const char *data, int k) {
    char path[4200];
    snprintf(path, sizeof path, "%s/ledger", data);
    struct bw_ledger *l = NULL;
    if (evthread_use_pthreads() != 0 || bw_ledger_open(path, NULL, &l) != BW_OK)
        return 1;
    uint64_t size = bw_ledger_size(l);
    printf("log size %llu\n", (unsigned long long)size);
    double *lat = calloc((size_t)k, sizeof *lat);
    uint8_t proof[BW_MERKLE_MAX_PROOF][32];
    size_t n = 0;
    if (appends(l, k, lat) != 0)
        return 1;
    report("append (durable, one at a time)", lat, k);
    size = bw_ledger_size(l);
    for (int i = 0; i < k; i++) {
        double t0 = now_s();
        if (bw_ledger_inclusion_proof(l, (uint64_t)rand() % size, size, proof,
                                      BW_MERKLE_MAX_PROOF, &n) != BW_OK)
            return 1;
        lat[i] = now_s() - t0;
    }
    report("inclusion proof (HTTP path)", lat, k);
    uint8_t(*leaves)[32] = malloc((size_t)size * 32);
    for (uint64_t i = 0; i < size; i++)
        if (bw_ledger_leaf_hash(l, i, leaves[i]) != BW_OK)
            return 1;
    struct bw_merkle_cache *c = NULL;
    double t0 = now_s();
    if (bw_merkle_cache_new((const uint8_t(*)[32])leaves, size, &c) != BW_OK)
        return 1;
    printf("%-34s %9.3f ms\n", "level cache build (pack path)", (now_s() - t0) * 1e3);
    for (int i = 0; i < k; i++) {
        t0 = now_s();
        if (bw_merkle_cache_inclusion(c, (uint64_t)rand() % size, size, proof,
                                      BW_MERKLE_MAX_PROOF, &n) != BW_OK)
            return 1;
        lat[i] = now_s() - t0;
    }
    report("inclusion proof (pack path, cached)", lat, k);
    bw_merkle_cache_free(c);
    free(leaves);
    free(lat);
    bw_ledger_close(l);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], strtoull(argv[3], NULL, 10),
                   argc > 4 ? strtoull(argv[4], NULL, 10) : 1000);
    if (argc >= 3 && strcmp(argv[1], "latency") == 0)
        return latency(argv[2], argc > 3 ? (int)strtol(argv[3], NULL, 10) : 200);
    fprintf(stderr, "usage: evidence_bench gen DATA N [BATCH] | latency DATA [K]\n");
    return 2;
}
