/* Unit tests: policy/ engine under concurrency. Policies are compiled on several threads at once
 * (event workers loading org policies, PUT /api/v1/policies, SIGHUP reload) and decided on every
 * worker. Each thread here compiles the same policies over and over and decides a fixed set of
 * inputs with each copy; every decision must equal the one a single thread made alone. Before
 * the loader kept its builders in its own struct, two threads doing this crashed or compiled
 * policies that allowed what the text denies. Run it under `make tsan` too. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h: it needs them */

#include "policy/engine.h"
#include "util/file.h"

#define THREADS 4
#define ROUNDS 150

/* tools.yaml has argument constraints (arg_build), a regex and a range; this one has bounds
 * (max_tokens, cost), content patterns and both layers. */
static const char bounds_policy[] =
    "version: 1\n"
    "global:\n"
    "  - id: no-secrets\n"
    "    match: {content: ['(?i)sk-[a-z0-9]{8}']}\n"
    "    effect: deny\n"
    "    reason: CONTENT_BLOCKED\n"
    "rules:\n"
    "  - id: big\n"
    "    match: {max_tokens: {min: 5000}}\n"
    "    effect: require_approval\n"
    "    approval: {reviewer_role: admin, quorum: 1, expires_in_s: 60}\n"
    "  - id: cheap\n"
    "    match: {max_tokens: {max: 4096}, cost: {max: 0.5}}\n"
    "    effect: allow\n"
    "  - id: pricey\n"
    "    match: {cost: {min: 0.5}}\n"
    "    effect: deny\n"
    "    reason: COST_OVER_LIMIT\n";

struct call_case {
    const char *name, *args;
};

/* Calls chosen so that a builder mixed up between threads decides differently: a range bound
 * or regex taken from another rule, or a constraint attached to the wrong rule. */
static const struct call_case calls[] = {
    {"read_file", "{\"path\":\"/data/a.txt\",\"max_bytes\":100,\"mode\":\"text\"}"},
    {"read_file", "{\"path\":\"/data/a.txt\",\"max_bytes\":99999999,\"mode\":\"text\"}"},
    {"read_file", "{\"path\":\"/data/a.txt\",\"max_bytes\":0,\"mode\":\"text\"}"},
    {"read_file", "{\"path\":\"/data/../etc/passwd\",\"max_bytes\":10,\"mode\":\"text\"}"},
    {"read_file", "{\"path\":\"/etc/passwd\",\"max_bytes\":10,\"mode\":\"lines\"}"},
    {"read_file", "{\"path\":\"/data/x\",\"max_bytes\":1048576,\"mode\":\"binary\"}"},
    {"read_file", "{\"path\":\"/data/x\",\"max_bytes\":1048577,\"mode\":\"lines\"}"},
    {"send_payment", "{\"amount_usd\":99}"},
    {"send_payment", "{\"amount_usd\":100}"},
    {"send_payment", "{\"amount_usd\":1e9}"},
    {"web_search", "{\"q\":\"x\"}"},
    {"other", "{}"},
};
#define N_CALLS (sizeof calls / sizeof calls[0])

struct eval_case {
    int64_t max_tokens;
    double cost;
    const char *text;
};

static const struct eval_case evals[] = {
    {100, 0.01, "hello"},  {4096, 0.49, "hello"},
    {4097, 0.01, "hello"}, {5000, 0.01, "hello"},
    {100, 0.5, "hello"},   {100, -1, "hello"},
    {-1, 0.01, "hello"},   {100, 0.01, "my key is SK-abcdefgh1"},
};
#define N_EVALS (sizeof evals / sizeof evals[0])
#define N_OUT (N_CALLS + N_EVALS)

struct verdict {
    enum bw_policy_effect effect;
    char reason[BW_POLICY_REASON_SIZE];
    char rule[BW_POLICY_ID_SIZE];
};

static char *tools_text;
static size_t tools_len;

static struct bw_policy_input context(void) {
    struct bw_policy_input in;
    memset(&in, 0, sizeof in);
    in.org = "acme";
    in.agent = "bot";
    in.role = "agent";
    in.route = "chat";
    in.model = "gpt-4o-mini";
    in.max_tokens = 100;
    in.estimated_cost = 0.01;
    in.now_s = 1700000000;
    return in;
}

static void keep(struct verdict *v, const struct bw_policy_decision *d) {
    v->effect = d->effect;
    snprintf(v->reason, sizeof v->reason, "%s", d->reason);
    snprintf(v->rule, sizeof v->rule, "%s", d->rule);
}

/* Compiles both policies and decides every case. Returns 0, or -1 if a policy did not compile. */
static int decide_all(struct verdict out[N_OUT]) {
    struct bw_policy *tools = NULL, *bounds = NULL;
    char err[256];
    if (bw_policy_parse(tools_text, tools_len, "tools.yaml", &tools, err, sizeof err) != BW_OK)
        return -1;
    if (bw_policy_parse(bounds_policy, sizeof bounds_policy - 1, "bounds.yaml", &bounds, err,
                        sizeof err) != BW_OK) {
        bw_policy_unref(tools);
        return -1;
    }
    struct bw_policy_input in = context();
    for (size_t i = 0; i < N_CALLS; i++) {
        struct bw_policy_call_verdict cv;
        bw_policy_decide_call(tools, &in, "call_1", calls[i].name, calls[i].args,
                              strlen(calls[i].args), &cv);
        keep(&out[i], &cv.decision);
    }
    for (size_t i = 0; i < N_EVALS; i++) {
        struct bw_policy_input e = context();
        struct bw_slice text = {(const uint8_t *)evals[i].text, strlen(evals[i].text)};
        e.max_tokens = evals[i].max_tokens;
        e.estimated_cost = evals[i].cost;
        e.texts = &text;
        e.n_texts = 1;
        struct bw_policy_decision d;
        BW_IGNORE(
            bw_policy_eval(bounds, &e, &d)); /* the test checks the decision (a deny on failure) */
        keep(&out[N_CALLS + i], &d);
    }
    bw_policy_unref(tools);
    bw_policy_unref(bounds);
    return 0;
}

static struct verdict reference[N_OUT];

struct worker {
    pthread_t th;
    size_t mismatches, failures;
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct verdict got[N_OUT];
    for (int r = 0; r < ROUNDS; r++) {
        if (decide_all(got) != 0) {
            w->failures++;
            continue;
        }
        for (size_t i = 0; i < N_OUT; i++)
            if (got[i].effect != reference[i].effect ||
                strcmp(got[i].reason, reference[i].reason) != 0 ||
                strcmp(got[i].rule, reference[i].rule) != 0)
                w->mismatches++;
    }
    return NULL;
}

static void same_decisions_on_every_thread(void **state) {
    (void)state;
    char err[256];
    assert_int_equal(bw_file_read_bounded("docs/policies/tools.yaml", BW_POLICY_MAX_BYTES,
                                          &tools_text, &tools_len, err, sizeof err),
                     BW_OK);
    assert_int_equal(decide_all(reference), 0);
    /* The reference itself is what the policies say (so a wrong reference cannot hide a race). */
    assert_int_equal(reference[0].effect, BW_POLICY_ALLOW);
    assert_int_equal(reference[1].effect, BW_POLICY_DENY);
    assert_int_equal(reference[3].effect, BW_POLICY_DENY);
    assert_int_equal(reference[8].effect, BW_POLICY_REQUIRE_APPROVAL);
    assert_int_equal(reference[N_CALLS + 0].effect, BW_POLICY_ALLOW);
    assert_int_equal(reference[N_CALLS + 3].effect, BW_POLICY_REQUIRE_APPROVAL);
    assert_int_equal(reference[N_CALLS + 7].effect, BW_POLICY_DENY);

    struct worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
    size_t mismatches = 0, failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].th, NULL);
        mismatches += w[i].mismatches;
        failures += w[i].failures;
    }
    free(tools_text);
    assert_int_equal(failures, 0);
    assert_int_equal(mismatches, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_decisions_on_every_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
