/* Unit tests: policy/ engine_audit.c: which rules "allow everything" (docs/POLICY.md "Default
 * deny"), the question the readiness policy control asks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h: it needs them */

#include "policy/engine.h"

static size_t allow_all(const char *rules, char first[BW_POLICY_ID_SIZE]) {
    char text[2048], err[512];
    snprintf(text, sizeof text, "version: 1\n%s", rules);
    struct bw_policy *p = NULL;
    if (bw_policy_parse(text, strlen(text), "t.yaml", &p, err, sizeof err) != BW_OK)
        fail_msg("policy did not compile: %s\n%s", err, text);
    size_t n = bw_policy_allow_all_rules(p, first);
    bw_policy_unref(p);
    return n;
}

static void counts_unconditional_allows(void **state) {
    (void)state;
    char first[BW_POLICY_ID_SIZE];
    assert_int_equal(allow_all("rules:\n  - {id: a, match: {}, effect: allow}\n", first), 1);
    assert_string_equal(first, "a");
    assert_int_equal(
        allow_all("rules:\n  - {id: a, match: {model: '*'}, effect: allow}\n"
                  "  - {id: b, match: {org: '*', route: [chat, '*']}, effect: allow}\n",
                  first),
        2);
    assert_string_equal(first, "a");
    /* bounds that bound nothing, and globs of stars only, accept everything too */
    assert_int_equal(allow_all("rules:\n  - {id: a, match: {model: '**', max_tokens: {min: 0}}, "
                               "effect: allow}\n  - {id: b, match: {time: {}}, effect: allow}\n"
                               "  - {id: c, match: {cost: {min: 0}}, effect: allow}\n",
                               first),
                     3);
}

static void narrowing_rules_are_not_allow_all(void **state) {
    (void)state;
    char first[BW_POLICY_ID_SIZE] = "x";
    const char *narrow[] = {
        "rules:\n  - {id: a, match: {model: 'gpt-*'}, effect: allow}\n",
        "rules:\n  - {id: a, match: {org: acme}, effect: allow}\n",
        "rules:\n  - {id: a, match: {tool: '*'}, effect: allow}\n",
        "rules:\n  - {id: a, match: {max_tokens: {max: 100}}, effect: allow}\n",
        "rules:\n  - {id: a, match: {max_tokens: {min: 1}}, effect: allow}\n",
        "rules:\n  - {id: a, match: {cost: {max: 1}}, effect: allow}\n",
        "rules:\n  - {id: a, match: {time: {days: [mon]}}, effect: allow}\n",
        "rules:\n  - {id: a, match: {content: 'x'}, effect: allow}\n",
        "rules:\n  - {id: a, match: {model: ['*x']}, effect: allow}\n",
        "rules:\n  - {id: a, match: {}, effect: deny}\n",
        "rules:\n  - {id: a, match: {}, effect: require_approval, approval: {reviewer_role: a}}\n",
        /* a global allow grants nothing by itself: the rules layer still decides */
        "global:\n  - {id: g, match: {}, effect: allow}\nrules: []\n",
    };
    for (size_t i = 0; i < sizeof narrow / sizeof narrow[0]; i++) {
        assert_int_equal(allow_all(narrow[i], first), 0);
        assert_string_equal(first, "");
    }
}

static void composite_uses_the_org_rules(void **state) {
    (void)state;
    char err[256], first[BW_POLICY_ID_SIZE];
    const char *platform = "version: 1\nrules:\n  - {id: p, match: {}, effect: allow}\n";
    const char *org = "version: 1\nrules:\n  - {id: o, match: {model: m}, effect: allow}\n";
    struct bw_policy *pp = NULL, *op = NULL, *c = NULL;
    assert_int_equal(bw_policy_parse(platform, strlen(platform), "p", &pp, err, sizeof err), BW_OK);
    assert_int_equal(bw_policy_parse(org, strlen(org), "o", &op, err, sizeof err), BW_OK);
    assert_int_equal(bw_policy_compose(pp, op, &c), BW_OK);
    assert_int_equal(bw_policy_allow_all_rules(pp, first), 1);
    assert_int_equal(bw_policy_allow_all_rules(c, first), 0); /* the org's rules decide */
    bw_policy_unref(c);
    bw_policy_unref(op);
    bw_policy_unref(pp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_unconditional_allows),
        cmocka_unit_test(narrowing_rules_are_not_allow_all),
        cmocka_unit_test(composite_uses_the_org_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
