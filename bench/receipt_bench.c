/* receipt_bench.c: nanoseconds per bw_receipt_encode of a typical decision and outcome receipt,
 * as the ledger thread encodes them (into a reused buffer, reset before each receipt).
 *
 * Build and run (from the repository root, after `make build/libbulwark.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/receipt_bench.c build/libbulwark.a \
 *      $(pkg-config --cflags --libs libsodium openssl) -o build/receipt_bench
 *   build/receipt_bench [encodes per run, default 1000000]
 * Prints the best of 5 runs per receipt kind, and the encoded sizes. To compare two encoders,
 * link the same file against each build's libbulwark.a and alternate the runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger/receipt.h"

#define ORIGIN "bulwark.example/gw-1/0a1b2c3d"

static void fill(uint8_t *h, uint8_t start) {
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(start + 7 * i);
}

static void make_decision(struct bw_receipt *r) {
    bw_receipt_init(r, BW_RECEIPT_DECISION);
    r->time_ms = 1767225600123;
    snprintf(r->org_id, sizeof r->org_id, "org_2b7c91");
    snprintf(r->principal, sizeof r->principal, "key_0123abcd");
    snprintf(r->agent, sizeof r->agent, "billing-bot");
    snprintf(r->route, sizeof r->route, "chat");
    snprintf(r->model, sizeof r->model, "gpt-4o-mini");
    snprintf(r->decision, sizeof r->decision, "allow");
    snprintf(r->reason, sizeof r->reason, "ALLOWED");
    snprintf(r->rule, sizeof r->rule, "models/allow-small");
    fill(r->request_sha256, 0x01);
    r->has_policy = 1;
    fill(r->policy_sha256, 0x40);
}

static void make_outcome(struct bw_receipt *r) {
    bw_receipt_init(r, BW_RECEIPT_OUTCOME);
    r->time_ms = 1767225601999;
    snprintf(r->org_id, sizeof r->org_id, "org_2b7c91");
    snprintf(r->principal, sizeof r->principal, "key_0123abcd");
    snprintf(r->agent, sizeof r->agent, "billing-bot");
    snprintf(r->route, sizeof r->route, "chat");
    snprintf(r->model, sizeof r->model, "gpt-4o-mini");
    snprintf(r->status, sizeof r->status, "ok");
    r->http_status = 200;
    fill(r->request_sha256, 0x01);
    r->has_policy = 1;
    fill(r->policy_sha256, 0x40);
    r->has_response = 1;
    fill(r->response_sha256, 0x80);
    r->has_parent = 1;
    fill(r->parent_leaf_hash, 0xc0);
    r->has_usage = 1;
    r->prompt_tokens = 1200;
    r->completion_tokens = 345;
    r->total_tokens = 1545;
    r->has_cost = 1;
    r->cost_micros = 4210;
    r->duration_ms = 812;
    uint8_t args[32];
    fill(args, 0x20);
    bw_receipt_add_tool_call(&r->tool_calls, "read_file", "allow", "ALLOWED", args);
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Best of 5 runs of n encodes, in ns per encode; *size gets the encoded length. */
static double bench(struct bw_receipt *r, long n, size_t *size) {
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    double best = 0;
    for (int run = 0; run < 5; run++) {
        double t0 = now_ns();
        for (long i = 0; i < n; i++) {
            r->time_ms++; /* a different receipt each time, as in the ledger */
            bw_buf_reset(&b);
            if (bw_receipt_encode(r, ORIGIN, (uint64_t)i, &b) != BW_OK) {
                fprintf(stderr, "encode failed\n");
                exit(1);
            }
        }
        double ns = (now_ns() - t0) / (double)n;
        if (run == 0 || ns < best)
            best = ns;
    }
    *size = b.len;
    bw_buf_cleanup(&b);
    return best;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    if (n <= 0)
        return 2;
    struct bw_receipt decision, outcome;
    make_decision(&decision);
    make_outcome(&outcome);
    size_t dsize, osize;
    double d = bench(&decision, n, &dsize);
    double o = bench(&outcome, n, &osize);
    printf("decision: %.1f ns/encode (%zu bytes)\noutcome:  %.1f ns/encode (%zu bytes)\n", d,
           dsize, o, osize);
    return 0;
}
