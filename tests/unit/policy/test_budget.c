/* Unit tests: policy/ regex work budget and org layering (issue 12, item 6): pathological
 * patterns over a 256 KB request deny with POLICY_MATCH_LIMIT within the budget, an org policy
 * cannot raise the platform's regex limits, content verdicts are reached once per request, an
 * org policy cannot reuse a platform rule id, and decisions name the org's layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h: it needs them */

#include "policy/engine.h"
#include "reason/reasons.h"

#define BIG (256 * 1024)

static char err[512];

static struct bw_policy *compile(const char *text) {
    struct bw_policy *p = NULL;
    err[0] = 0;
    if (bw_policy_parse(text, strlen(text), "t.yaml", &p, err, sizeof err) != BW_OK)
        fail_msg("policy did not compile: %s", err);
    return p;
}

static int64_t cpu_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static struct bw_policy_input input(const struct bw_slice *texts, size_t n) {
    struct bw_policy_input in;
    memset(&in, 0, sizeof in);
    in.org = "acme";
    in.role = "agent";
    in.route = "chat";
    in.model = "gpt-4o-mini";
    in.max_tokens = 16;
    in.texts = texts;
    in.n_texts = n;
    in.now_s = 1700000000;
    return in;
}

/* An org policy that raises the per-call limits as far as the loader lets it. */
static const char *org_policy(const char *pattern, char *buf, size_t size) {
    snprintf(buf, size,
             "version: 1\n"
             "limits: {regex_match_limit: 10000000, regex_depth_limit: 1000000, "
             "regex_budget_ms: 10000}\n"
             "rules:\n"
             "  - id: block\n"
             "    match: {content: '%s'}\n"
             "    effect: deny\n"
             "  - id: rest\n"
             "    effect: allow\n",
             pattern);
    return buf;
}

/* Decides in, expecting POLICY_MATCH_LIMIT within 100 ms of CPU. */
static void denies_fast(const struct bw_policy *p, const struct bw_policy_input *in) {
    struct bw_policy_decision d;
    int64_t t0 = cpu_us();
    assert_int_equal(bw_policy_eval(p, in, &d), BW_OK);
    int64_t spent = cpu_us() - t0;
    if (d.effect != BW_POLICY_DENY || strcmp(d.reason, BW_R_POLICY_MATCH_LIMIT) != 0)
        fail_msg("got %s/%s (%zu texts, %zu bytes first), want deny/POLICY_MATCH_LIMIT",
                 bw_policy_effect_name(d.effect), d.reason, in->n_texts, in->texts[0].len);
    if (spent > 100000)
        fail_msg("the deny took %lld us of CPU", (long long)spent);
}

static void pathological_patterns_deny_fast(void **state) {
    (void)state;
    struct bw_policy *platform = compile("version: 1\nrules: []\n");
    char buf[1024];
    static const char *const patterns[] = {"[a-z]{1,40000}[0-9]", "x*x*x*x*x*y(?!$)"};
    char *text = malloc(BIG);
    assert_non_null(text);
    for (size_t k = 0; k < 2; k++) {
        struct bw_policy *org = compile(org_policy(patterns[k], buf, sizeof buf));
        struct bw_policy *comp = NULL;
        assert_int_equal(bw_policy_compose(platform, org, &comp), BW_OK);
        /* one 256 KB text: a run of letters (no digit), or runs of x each ending in y */
        struct bw_slice one = {(const uint8_t *)text, BIG};
        memset(text, k == 0 ? 'a' : 'x', BIG);
        text[BIG - 1] = k == 0 ? 'a' : 'y';
        struct bw_policy_input in = input(&one, 1);
        denies_fast(comp, &in);
        /* the same bytes as 4,096 texts of 64 bytes, each "z...zx...xy": every start
         * position of every text stays under the per-call match limit, the total does not */
        if (k == 1) {
            struct bw_slice many[4096];
            for (size_t i = 0; i < 4096; i++) {
                memset(text + i * 64, 'z', 32);
                memset(text + i * 64 + 32, 'x', 31);
                text[i * 64 + 63] = 'y';
                many[i] = (struct bw_slice){(const uint8_t *)text + i * 64, 64};
            }
            in = input(many, 4096);
            denies_fast(comp, &in);
        }
        bw_policy_unref(comp);
        bw_policy_unref(org);
    }
    free(text);
    bw_policy_unref(platform);
}

/* The platform's limits are a ceiling: a pattern that needs ~a second is stopped under the
 * composite even though the org's own limits would let it run. */
static void org_cannot_raise_the_ceiling(void **state) {
    (void)state;
    struct bw_policy *platform = compile("version: 1\nlimits: {regex_budget_ms: 5}\nrules: []\n");
    char buf[1024];
    struct bw_policy *org = compile(org_policy("[a-z]{1,40000}[0-9]", buf, sizeof buf));
    struct bw_policy *comp = NULL;
    assert_int_equal(bw_policy_compose(platform, org, &comp), BW_OK);
    char *text = malloc(16384);
    assert_non_null(text);
    memset(text, 'a', 16384);
    struct bw_slice s = {(const uint8_t *)text, 16384};
    struct bw_policy_input in = input(&s, 1);
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_eval(org, &in, &d), BW_OK);
    assert_int_equal(d.effect, BW_POLICY_ALLOW); /* alone, its own 10 s budget lets it finish */
    int64_t t0 = cpu_us();
    assert_int_equal(bw_policy_eval(comp, &in, &d), BW_OK);
    assert_string_equal(d.reason, BW_R_POLICY_MATCH_LIMIT);
    assert_true(cpu_us() - t0 < 50000);
    free(text);
    bw_policy_unref(comp);
    bw_policy_unref(org);
    bw_policy_unref(platform);
}

/* With a budget in the input, a content rule is decided once for the request: a later decision
 * (a tool call of the answer) reuses the verdict, and a spent budget stays spent. */
static void content_decided_once_per_request(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\nrules:\n"
                                  "  - id: no-secrets\n    match: {content: secret}\n"
                                  "    effect: deny\n"
                                  "  - id: rest\n    effect: allow\n");
    struct bw_slice s = {(const uint8_t *)"a secret", 8};
    struct bw_policy_budget b;
    bw_policy_budget_init(&b);
    struct bw_policy_input in = input(&s, 1);
    in.budget = &b;
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_eval(p, &in, &d), BW_OK);
    assert_string_equal(d.rule, "no-secrets");
    s = (struct bw_slice){(const uint8_t *)"harmless", 8}; /* not looked at again */
    struct bw_policy_tool t = {"calc", NULL};
    assert_int_equal(bw_policy_decide_tools(p, &in, &t, 1, &d), BW_OK);
    assert_string_equal(d.rule, "no-secrets");
    in.budget = NULL; /* without one, every decision reads the texts */
    assert_int_equal(bw_policy_decide_tools(p, &in, &t, 1, &d), BW_OK);
    assert_string_equal(d.rule, "rest");
    b.exhausted = 1;
    in.budget = &b;
    assert_int_equal(bw_policy_decide_tools(p, &in, &t, 1, &d), BW_OK);
    assert_string_equal(d.reason, BW_R_POLICY_MATCH_LIMIT);
    bw_policy_budget_cleanup(&b);
    bw_policy_unref(p);
}

static void org_rule_ids_and_layers(void **state) {
    (void)state;
    struct bw_policy *platform = compile("version: 1\n"
                                         "global:\n  - id: no-shell\n"
                                         "    match: {tool: 'shell*'}\n    effect: deny\n"
                                         "rules:\n  - id: chat\n    effect: allow\n");
    struct bw_policy *reuse_g = compile("version: 1\nrules:\n  - id: no-shell\n"
                                        "    effect: allow\n");
    struct bw_policy *reuse_r = compile("version: 1\nrules:\n  - id: x\n    effect: deny\n"
                                        "  - id: chat\n    effect: allow\n");
    struct bw_policy *own = compile("version: 1\nrules:\n  - id: mine\n    effect: allow\n");
    struct bw_policy *comp = NULL;
    assert_int_equal(bw_policy_compose_check(platform, reuse_g, err, sizeof err), BW_E_INVALID);
    assert_non_null(strstr(err, "no-shell"));
    assert_int_equal(bw_policy_compose(platform, reuse_g, &comp), BW_E_INVALID);
    assert_int_equal(bw_policy_compose_check(platform, reuse_r, err, sizeof err), BW_E_INVALID);
    if (!strstr(err, "policy:5:"))
        fail_msg("%s", err);
    assert_int_equal(bw_policy_compose_check(NULL, reuse_g, err, sizeof err), BW_OK);
    assert_int_equal(bw_policy_compose(platform, own, &comp), BW_OK);
    struct bw_policy_input in = input(NULL, 0);
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_eval(comp, &in, &d), BW_OK);
    assert_string_equal(d.rule, "mine");
    assert_string_equal(d.layer, "org");
    assert_int_equal(d.has_org_policy, 1);
    struct bw_policy_tool t = {"shell", NULL};
    assert_int_equal(bw_policy_decide_tools(comp, &in, &t, 1, &d), BW_OK);
    assert_string_equal(d.layer, "global");
    assert_int_equal(bw_policy_eval(platform, &in, &d), BW_OK);
    assert_string_equal(d.layer, "rules");
    bw_policy_unref(comp);
    bw_policy_unref(own);
    bw_policy_unref(reuse_r);
    bw_policy_unref(reuse_g);
    bw_policy_unref(platform);
}

/* Loading is bounded too: patterns just under the match limit on the load-time probe (here
 * with the org's raised limit) cost up to 49 x the limit each; all probes of one load share one
 * CPU budget, so a policy of many such patterns is refused in about a second, not minutes. */
static void load_probes_are_bounded(void **state) {
    (void)state;
    enum { RULES = 400 };
    size_t size = 256 + RULES * 96;
    char *text = malloc(size);
    assert_non_null(text);
    size_t off = (size_t)snprintf(text, size,
                                  "version: 1\n"
                                  "limits: {regex_match_limit: 10000000, regex_depth_limit: "
                                  "1000000}\n"
                                  "rules:\n");
    for (int i = 0; i < RULES; i++)
        off += (size_t)snprintf(text + off, size - off,
                                "  - id: r%d\n    match: {content: '(a?){14}a{14}$'}\n"
                                "    effect: deny\n",
                                i);
    struct bw_policy *p = NULL;
    err[0] = 0;
    int64_t t0 = cpu_us();
    bw_err e = bw_policy_parse(text, off, "t.yaml", &p, err, sizeof err);
    int64_t spent = cpu_us() - t0;
    free(text);
    assert_int_not_equal(e, BW_OK);
    assert_null(p);
    assert_non_null(strstr(err, "ms of CPU"));
    if (spent > 1800 * 1000)
        fail_msg("the load took %lld ms of CPU", (long long)(spent / 1000));
    /* one such pattern alone loads: the probe cost is within the budget */
    bw_policy_unref(compile("version: 1\nrules:\n  - id: r\n    match: {content: "
                            "'(a?){14}a{14}$'}\n    effect: deny\n"));
}

/* Tool globs are work too: many long globs against 128 declared tools (each glob compare up to
 * its length times the name's) must deny within the request's budget, not hold the thread for
 * the whole rules x tools product (about 0.85 s before globs were charged). */
static void tool_globs_are_budgeted(void **state) {
    (void)state;
    enum { RULES = 13000, TOOLS = 128 };
    char glob[254];
    for (size_t i = 0; i + 1 < sizeof glob; i += 2) {
        glob[i] = '*';
        glob[i + 1] = 'a';
    }
    glob[sizeof glob - 2] = 'b';
    glob[sizeof glob - 1] = 0;
    size_t size = 64 + (size_t)RULES * (sizeof glob + 64);
    char *text = malloc(size);
    assert_non_null(text);
    size_t off = (size_t)snprintf(text, size, "version: 1\nrules:\n");
    for (int i = 0; i < RULES; i++)
        off +=
            (size_t)snprintf(text + off, size - off,
                             "  - id: g%d\n    match: {tool: '%s'}\n    effect: deny\n", i, glob);
    off += (size_t)snprintf(text + off, size - off, "  - id: rest\n    effect: allow\n");
    struct bw_policy *p = NULL;
    err[0] = 0;
    if (bw_policy_parse(text, off, "t.yaml", &p, err, sizeof err) != BW_OK)
        fail_msg("policy did not compile: %s", err);
    free(text);
    static const char name[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    struct bw_policy_tool tools[TOOLS];
    for (int i = 0; i < TOOLS; i++) {
        tools[i].name = name;
        tools[i].args = NULL;
    }
    struct bw_policy_input in = input(NULL, 0);
    in.tools = tools;
    in.n_tools = TOOLS;
    struct bw_policy_decision d;
    int64_t t0 = cpu_us();
    assert_int_equal(bw_policy_eval(p, &in, &d), BW_OK);
    int64_t spent = cpu_us() - t0;
    if (d.effect != BW_POLICY_DENY || strcmp(d.reason, BW_R_POLICY_MATCH_LIMIT) != 0)
        fail_msg("got %s/%s after %lld us, want deny/POLICY_MATCH_LIMIT",
                 bw_policy_effect_name(d.effect), d.reason, (long long)spent);
    if (spent > 200000)
        fail_msg("the deny took %lld us of CPU", (long long)spent);
    bw_policy_unref(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pathological_patterns_deny_fast),
        cmocka_unit_test(org_cannot_raise_the_ceiling),
        cmocka_unit_test(content_decided_once_per_request),
        cmocka_unit_test(org_rule_ids_and_layers),
        cmocka_unit_test(load_probes_are_bounded),
        cmocka_unit_test(tool_globs_are_budgeted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
