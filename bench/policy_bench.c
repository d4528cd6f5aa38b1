/* policy_bench.c: decisions per second and microseconds per decision with a 1,000-rule policy.
 *
 * The policy: 1,000 rules, each constraining org (exact), route, model (glob), max_tokens and
 * a tool glob on every 10th rule; the benchmark request matches only the last rule, so every
 * decision walks all 1,000 (the worst case for first-match-wins). A second run adds one
 * content regex rule in the global layer, over a 2 KiB message.
 *
 * Build and run (from the repository root, after `make build/libbulwark.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/policy_bench.c build/libbulwark.a \
 *      $(pkg-config --cflags --libs libevent libevent_pthreads libcurl libsodium openssl \
 *        jansson sqlite3 yaml-0.1 libpq libpcre2-8) -lpthread -lm -o build/policy_bench
 *   build/policy_bench [decisions, default 200000] [rules, default 1000] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/engine.h"
#include "util/time.h"

static char *make_policy(int rules, int with_regex, size_t *len) {
    size_t cap = (size_t)rules * 256 + 1024, n = 0;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    n += (size_t)snprintf(t + n, cap - n, "version: 1\n");
    if (with_regex)
        n += (size_t)snprintf(t + n, cap - n,
                              "global:\n  - id: secrets\n    match: {content: "
                              "'sk-[A-Za-z0-9]{20,}'}\n    effect: deny\n");
    n += (size_t)snprintf(t + n, cap - n, "rules:\n");
    for (int i = 0; i < rules; i++) {
        n += (size_t)snprintf(t + n, cap - n,
                              "  - id: r%d\n    match: {org: org%d, route: [chat, embeddings], "
                              "model: 'gpt-4o*', max_tokens: {max: 4096}%s}\n    effect: %s\n",
                              i, i, i % 10 == 5 ? ", tool: 'shell*'" : "",
                              i % 10 == 5 ? "deny" : "allow");
    }
    *len = n;
    return t;
}

static int run(int rules, int with_regex, long iters) {
    size_t len = 0;
    char *text = make_policy(rules, with_regex, &len);
    struct bw_policy *p = NULL;
    char err[512];
    int64_t t0 = bw_mono_us();
    if (!text || bw_policy_parse(text, len, "bench.yaml", &p, err, sizeof err) != BW_OK) {
        fprintf(stderr, "policy_bench: %s\n", err);
        free(text);
        return 1;
    }
    int64_t load_us = bw_mono_us() - t0;
    char org[32];
    snprintf(org, sizeof org, "org%d", rules - 1); /* only the last rule matches */
    char msg[2048];
    memset(msg, 'a', sizeof msg);
    struct bw_slice text_slice = bw_slice_of(msg, sizeof msg);
    struct bw_policy_tool tools[2] = {{"calc", NULL}, {"search", NULL}};
    struct bw_policy_input in = {org,   "bot", "agent",     "chat", "gpt-4o-mini", 256, 0.01,
                                 tools, 2,     &text_slice, 1,      1700000000, NULL};
    struct bw_policy_decision d;
    long allowed = 0;
    t0 = bw_mono_us();
    for (long i = 0; i < iters; i++) {
        (void)bw_policy_eval(p, &in, &d);
        allowed += d.effect == BW_POLICY_ALLOW;
    }
    double us = (double)(bw_mono_us() - t0);
    printf("rules=%d regex=%s tools=2 load=%.1fms decisions=%ld allowed=%ld  %.0f decisions/s"
           "  %.2f us/decision  (%s by %s)\n",
           rules, with_regex ? "yes" : "no", load_us / 1000.0, iters, allowed, iters / (us / 1e6),
           us / iters, bw_policy_effect_name(d.effect), d.rule);
    bw_policy_unref(p);
    free(text);
    return allowed == iters ? 0 : 1;
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    int rules = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 1000;
    if (iters <= 0 || rules <= 0 || rules > 19000) {
        fprintf(stderr, "usage: policy_bench [decisions] [rules <= 19000]\n");
        return 2;
    }
    return run(rules, 0, iters) | run(rules, 1, iters);
}
