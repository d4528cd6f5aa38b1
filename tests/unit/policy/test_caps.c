/* test_caps: bw_policy_request_caps, the output caps a reservation is built from
 * (docs/SPEND.md "Worst case"): the larger of the two caps, n and best_of as choices, the
 * prediction's bytes, and a clear refusal of every value that is not a valid cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/engine.h"

static void caps_of(const char *body, struct bw_policy_request_view *v) {
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    memset(v, 0, sizeof *v);
    const char *problem = NULL;
    assert_int_equal(bw_policy_request_caps(v, j, &problem), BW_OK);
    assert_null(problem);
    json_decref(j);
}

static void worst_cases(void **state) {
    (void)state;
    struct bw_policy_request_view v;
    caps_of("{}", &v);
    assert_int_equal(v.max_tokens, -1);
    assert_int_equal(v.choices, 1);
    assert_int_equal(v.output_cap, -1);
    caps_of("{\"max_tokens\":10,\"max_completion_tokens\":1000}", &v);
    assert_int_equal(v.max_tokens, 1000); /* the larger: the upstream may honour either */
    caps_of("{\"max_tokens\":1000,\"max_completion_tokens\":10}", &v);
    assert_int_equal(v.max_tokens, 1000);
    caps_of("{\"max_tokens\":1000,\"n\":8}", &v);
    assert_int_equal(v.choices, 8);
    assert_int_equal(v.output_cap, 8000);
    caps_of("{\"max_tokens\":100,\"n\":2,\"best_of\":5}", &v);
    assert_int_equal(v.choices, 5);
    assert_int_equal(v.output_cap, 500);
    caps_of("{\"max_tokens\":null,\"n\":null}", &v);
    assert_int_equal(v.max_tokens, -1);
    assert_int_equal(v.choices, 1);
    caps_of("{\"max_tokens\":10,\"prediction\":{\"type\":\"content\",\"content\":\"abcdef\"}}", &v);
    assert_int_equal(v.extra_completion, 6);
    assert_int_equal(v.output_cap, 16);
    caps_of("{\"max_tokens\":10,\"n\":2,\"prediction\":{\"type\":\"content\",\"content\":"
            "[{\"type\":\"text\",\"text\":\"abc\"},{\"type\":\"text\",\"text\":\"de\"}]}}",
            &v);
    assert_int_equal(v.extra_completion, 10);
    assert_int_equal(v.output_cap, 30);
    caps_of("{\"max_tokens\":100000000,\"n\":128}", &v);
    assert_int_equal(v.output_cap, 12800000000LL);
}

static void invalid_caps(void **state) {
    (void)state;
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"max_tokens\":-1}", "\"max_tokens\""},
        {"{\"max_tokens\":0}", "\"max_tokens\""},
        {"{\"max_tokens\":1.5}", "\"max_tokens\""},
        {"{\"max_tokens\":10.0}", "\"max_tokens\""},
        {"{\"max_tokens\":\"10\"}", "\"max_tokens\""},
        {"{\"max_tokens\":true}", "\"max_tokens\""},
        {"{\"max_tokens\":100000001}", "\"max_tokens\""},
        {"{\"max_tokens\":9223372036854775807}", "\"max_tokens\""},
        {"{\"max_completion_tokens\":-1}", "\"max_completion_tokens\""},
        {"{\"max_completion_tokens\":[1]}", "\"max_completion_tokens\""},
        {"{\"n\":0}", "\"n\""},
        {"{\"n\":-8}", "\"n\""},
        {"{\"n\":129}", "\"n\""},
        {"{\"n\":\"8\"}", "\"n\""},
        {"{\"n\":2.0}", "\"n\""},
        {"{\"best_of\":0}", "\"best_of\""},
        {"{\"best_of\":1000}", "\"best_of\""},
        {"{\"prediction\":\"text\"}", "\"prediction\""},
        {"{\"prediction\":{\"content\":5}}", "\"prediction\""},
        {"{\"prediction\":{\"content\":[{\"type\":\"text\"}]}}", "\"prediction\""},
        {"[]", "JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i].body, JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        struct bw_policy_request_view v;
        memset(&v, 0, sizeof v);
        v.max_tokens = 77;
        const char *problem = NULL;
        assert_int_equal(bw_policy_request_caps(&v, j, &problem), BW_E_INVALID);
        assert_non_null(problem);
        assert_non_null(strstr(problem, bad[i].field));
        assert_int_equal(v.max_tokens, 77); /* nothing written on error */
        json_decref(j);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(worst_cases),
        cmocka_unit_test(invalid_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
