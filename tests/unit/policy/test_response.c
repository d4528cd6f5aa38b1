/* Unit tests: policy/answer (engine_response.c): the normalized view of a plain answer. Calls
 * in tool_calls (function and custom) and in the legacy function_call, in every choice, are
 * decided and removed when refused; a shape outside the profile, an error body carrying a
 * call and an answer over the call cap are refused whole, with every call listed; an approved
 * re-send delivers the approved rule's require_approval calls only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h: it needs them */

#include "policy/answer.h"
#include "reason/reasons.h"

static const char policy_text[] = "version: 1\n"
                                  "rules:\n"
                                  "  - id: no-shell\n"
                                  "    match: {tool: shell}\n"
                                  "    effect: deny\n"
                                  "  - id: deploy-review\n"
                                  "    match: {tool: 'deploy*'}\n"
                                  "    effect: require_approval\n"
                                  "    approval: {reviewer_role: reviewer}\n"
                                  "  - id: publish-review\n"
                                  "    match: {tool: publish}\n"
                                  "    effect: require_approval\n"
                                  "    approval: {reviewer_role: reviewer}\n"
                                  "  - id: chat\n"
                                  "    effect: allow\n";

struct fixture {
    struct bw_policy *p;
    struct bw_policy_input in;
    struct bw_policy_tool declared[3];
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];
    assert_int_equal(
        bw_policy_parse(policy_text, strlen(policy_text), "t.yaml", &f->p, err, sizeof err), BW_OK);
    f->in.route = "chat";
    f->in.max_tokens = -1;
    f->in.estimated_cost = -1;
    f->declared[0].name = "deploy_prod";
    f->declared[1].name = "publish";
    f->declared[2].name = "calc";
    f->in.tools = f->declared;
    f->in.n_tools = 3;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    bw_policy_unref(f->p);
    free(f);
    return 0;
}

static json_t *parse(const char *text) {
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

static char *dump(const json_t *j) {
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

#define CALL(id, name, args)                                                                       \
    "{\"id\":\"" id "\",\"type\":\"function\",\"function\":{\"name\":\"" name                      \
    "\",\"arguments\":\"" args "\"}}"

/* The reproduction: a legacy message.function_call naming a denied tool. */
static void legacy_function_call_is_governed(void **state) {
    struct fixture *f = *state;
    json_t *r = parse("{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                      "\"finish_reason\":\"function_call\",\"message\":{\"role\":\"assistant\","
                      "\"content\":null,\"function_call\":{\"name\":\"shell\",\"arguments\":"
                      "\"{\\\"cmd\\\":\\\"rm -rf /\\\"}\"}}}]}");
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_null(a.refused);
    assert_true(a.changed);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.verdicts[0].name, "shell");
    assert_int_equal(a.verdicts[0].decision.effect, BW_POLICY_DENY);
    assert_string_equal(a.verdicts[0].decision.rule, "no-shell");
    assert_true(a.verdicts[0].has_args);
    char *out = dump(r);
    assert_null(strstr(out, "shell"));
    assert_null(strstr(out, "rm -rf"));
    assert_non_null(strstr(out, "\"finish_reason\":\"stop\""));
    free(out);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
    /* allowed: delivered as it came */
    r = parse("{\"choices\":[{\"index\":0,\"finish_reason\":\"function_call\",\"message\":{"
              "\"function_call\":{\"name\":\"calc\",\"arguments\":\"{}\"}}}]}");
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_int_equal(a.n, 1);
    assert_false(a.changed);
    assert_int_equal(a.verdicts[0].decision.effect, BW_POLICY_ALLOW);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

static void every_choice_is_governed(void **state) {
    struct fixture *f = *state;
    json_t *r = parse(
        "{\"choices\":["
        "{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{\"tool_calls\":[" CALL(
            "a", "calc",
            "{}") "]}},"
                  "{\"index\":1,\"finish_reason\":\"tool_calls\",\"message\":{\"tool_calls\":"
                  "[" CALL("b", "shell",
                           "{}") "]}},"
                                 "{\"index\":2,\"finish_reason\":\"function_call\",\"message\":{"
                                 "\"function_call\":{\"name\":\"shell\",\"arguments\":\"{}\"}}},"
                                 "{\"index\":3,\"finish_reason\":\"tool_calls\",\"message\":{"
                                 "\"tool_calls\":["
                                 "{\"id\":\"c\",\"type\":\"custom\",\"custom\":{\"name\":\"shell\","
                                 "\"input\":\"ls\"}}]}}]}");
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_null(a.refused);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.verdicts[0].decision.effect, BW_POLICY_ALLOW);
    for (size_t i = 1; i < 4; i++) {
        assert_string_equal(a.verdicts[i].name, "shell");
        assert_int_equal(a.verdicts[i].decision.effect, BW_POLICY_DENY);
    }
    char *out = dump(r);
    assert_null(strstr(out, "shell"));
    free(out);
    for (size_t i = 1; i < 4; i++) {
        json_t *ch = json_array_get(json_object_get(r, "choices"), i);
        assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "stop");
    }
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

/* What the view cannot hold is refused whole, and the call-like objects it held are listed. */
static void unknown_shapes_are_refused(void **state) {
    struct fixture *f = *state;
    static const char *const refused[] = {
        /* array content (one part a tool_use block) */
        "{\"choices\":[{\"index\":0,\"message\":{\"content\":[{\"type\":\"tool_use\","
        "\"function\":{\"name\":\"shell\",\"arguments\":\"{}\"}}]}}]}",
        /* an unknown message member carrying an object */
        "{\"choices\":[{\"index\":0,\"message\":{\"x_call\":{\"name\":\"shell\","
        "\"arguments\":\"{}\"}}}]}",
        /* a Responses-style output list next to choices */
        "{\"choices\":[],\"output\":[{\"type\":\"function_call\",\"name\":\"shell\","
        "\"arguments\":\"{}\"}]}",
        /* usage that is not a record */
        "{\"choices\":[],\"usage\":[{\"function\":{\"name\":\"shell\"}}]}",
        /* a delta in a plain answer, a call of an unknown type, a call without a name */
        "{\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"shell\"}}}]}",
        "{\"choices\":[{\"index\":0,\"message\":{\"tool_calls\":[{\"id\":\"a\",\"type\":\"mcp\","
        "\"function\":{\"name\":\"shell\",\"arguments\":\"{}\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"message\":{\"tool_calls\":[{\"id\":\"a\",\"function\":"
        "{\"arguments\":\"{}\"}}]}}]}",
        /* a function and a custom body in one call: one name would go unread */
        "{\"choices\":[{\"index\":0,\"message\":{\"tool_calls\":[{\"id\":\"a\",\"function\":"
        "{\"name\":\"calc\",\"arguments\":\"{}\"},\"custom\":{\"name\":\"shell\"}}]}}]}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        json_t *r = parse(refused[i]);
        struct bw_policy_answer a;
        assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
        if (!a.refused)
            fail_msg("not refused: %s", refused[i]);
        assert_string_equal(a.refused, BW_R_ANSWER_UNGOVERNABLE);
        for (size_t k = 0; k < a.n; k++) {
            assert_int_equal(a.verdicts[k].decision.effect, BW_POLICY_DENY);
            assert_string_equal(a.verdicts[k].decision.reason, BW_R_ANSWER_UNGOVERNABLE);
        }
        bw_policy_answer_cleanup(&a);
        json_decref(r);
    }
    /* the first one lists the call it carried, by name */
    json_t *r = parse(refused[0]);
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.verdicts[0].name, "shell");
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

/* Known inert members and unknown scalars pass; the answer is not changed. */
static void known_shapes_pass(void **state) {
    struct fixture *f = *state;
    const char *text =
        "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
        "\"system_fingerprint\":null,\"service_tier\":\"default\",\"x_vendor\":7,"
        "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{"
        "\"filtered\":false,\"severity\":\"safe\"},\"jailbreak\":{\"filtered\":false,"
        "\"detected\":false}}}],"
        "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3,"
        "\"prompt_tokens_details\":{\"cached_tokens\":0}},"
        "\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"content_filter_results\":{"
        "\"protected_material_code\":{\"filtered\":false,\"detected\":true,\"citation\":{"
        "\"URL\":\"https://x\",\"license\":\"MIT\"}}},\"logprobs\":{\"content\":[{"
        "\"token\":\"Hi\",\"logprob\":-0.1,\"bytes\":[72,105],\"top_logprobs\":[{\"token\":"
        "\"Hi\",\"logprob\":-0.1,\"bytes\":null}]}],\"refusal\":null},"
        "\"message\":{\"role\":\"assistant\",\"content\":\"Hi\",\"refusal\":null,"
        "\"annotations\":[{\"type\":\"url_citation\",\"url_citation\":{\"url\":\"https://a\","
        "\"start_index\":0,\"end_index\":1,\"title\":\"t\"}}],\"reasoning_content\":\"r\"}}]}";
    json_t *r = parse(text);
    char *before = dump(r);
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_null(a.refused);
    assert_int_equal(a.n, 0);
    char *after = dump(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

static void too_many_calls_refuse_the_answer(void **state) {
    struct fixture *f = *state;
    json_t *calls = json_array();
    for (size_t i = 0; i <= BW_ANSWER_MAX_CALLS; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%zu", i);
        json_array_append_new(calls,
                              json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function",
                                        "function", "name", "calc", "arguments", "{}"));
    }
    json_t *r =
        json_pack("{s:[{s:i,s:{s:o}}]}", "choices", "index", 0, "message", "tool_calls", calls);
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_non_null(a.refused);
    assert_string_equal(a.refused, BW_R_TOOL_CALLS_TOO_MANY);
    assert_int_equal(a.n, BW_ANSWER_MAX_CALLS);
    assert_string_equal(a.verdicts[0].decision.reason, BW_R_TOOL_CALLS_TOO_MANY);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
    /* at the cap: governed */
    calls = json_array();
    for (size_t i = 0; i < BW_ANSWER_MAX_CALLS; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%zu", i);
        json_array_append_new(calls, json_pack("{s:s,s:{s:s,s:s}}", "id", id, "function", "name",
                                               "calc", "arguments", "{}"));
    }
    r = json_pack("{s:[{s:i,s:{s:o}}]}", "choices", "index", 0, "message", "tool_calls", calls);
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_null(a.refused);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

static void error_answer_with_a_call_is_refused(void **state) {
    struct fixture *f = *state;
    json_t *r = parse("{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\","
                      "\"param\":null,\"code\":null},\"choices\":[{\"index\":0,\"message\":{"
                      "\"tool_calls\":[" CALL("a", "calc", "{}") "]}}]}");
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_error_answer(f->p, r, &a), BW_OK);
    assert_non_null(a.refused);
    assert_string_equal(a.refused, BW_R_ANSWER_UNGOVERNABLE);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.verdicts[0].name, "calc");
    bw_policy_answer_cleanup(&a);
    json_decref(r);
    r = parse("{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\",\"param\":null,"
              "\"code\":\"x\"}}");
    assert_int_equal(bw_policy_govern_error_answer(f->p, r, &a), BW_OK);
    assert_null(a.refused);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

/* An approved re-send: a call decided require_approval by the approved rule, to a declared
 * tool, is delivered; another rule's approval, an undeclared tool and a deny are not. */
static void approved_rule_delivers_its_calls(void **state) {
    struct fixture *f = *state;
    const char *text =
        "{\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{"
        "\"tool_calls\":[" CALL("a", "deploy_prod", "{}") "," CALL("b", "publish", "{}") "," CALL(
            "c", "deploy_dev", "{}") "," CALL("d", "shell", "{}") "]}}]}";
    json_t *r = parse(text);
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, "deploy-review", r, &a), BW_OK);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.verdicts[0].decision.effect, BW_POLICY_ALLOW);
    assert_string_equal(a.verdicts[0].decision.reason, BW_R_APPROVAL_GRANTED);
    assert_string_equal(a.verdicts[0].decision.rule, "deploy-review");
    assert_int_equal(a.verdicts[1].decision.effect, BW_POLICY_REQUIRE_APPROVAL); /* other rule */
    assert_int_equal(a.verdicts[2].decision.effect, BW_POLICY_REQUIRE_APPROVAL); /* undeclared */
    assert_int_equal(a.verdicts[3].decision.effect, BW_POLICY_DENY);
    char *out = dump(r);
    assert_non_null(strstr(out, "deploy_prod"));
    assert_null(strstr(out, "publish"));
    assert_null(strstr(out, "deploy_dev"));
    assert_null(strstr(out, "shell"));
    free(out);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
    /* without an approval the same call is dropped */
    r = parse(text);
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_int_equal(a.verdicts[0].decision.effect, BW_POLICY_REQUIRE_APPROVAL);
    out = dump(r);
    assert_null(strstr(out, "deploy_prod"));
    free(out);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

static void duplicate_ids_refuse(void **state) {
    struct fixture *f = *state;
    json_t *r = parse("{\"choices\":[{\"index\":0,\"message\":{\"tool_calls\":[" CALL(
        "a", "calc", "{}") "]}},{\"index\":1,\"message\":{\"tool_calls\":[" CALL("a", "shell",
                                                                                 "{}") "]}}]}");
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_non_null(a.refused);
    assert_string_equal(a.refused, BW_R_TOOL_CALL_DUPLICATE_ID);
    assert_int_equal(a.n, 2);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

/* A name is decided as delivered: bytes outside ^[A-Za-z0-9_.-]{1,64}$ (a NUL that would cut the
 * name short for the policy, a zero-width space after a denied name) refuse the call. */
static void names_outside_the_charset_are_refused(void **state) {
    struct fixture *f = *state;
    json_t *r = parse("{\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{"
                      "\"tool_calls\":[" CALL("a", "calc\\u0000shell", "{}") "," CALL(
                          "b", "shell\\u200b", "{}") "," CALL("c", "calc", "{}") "]}}]}");
    struct bw_policy_answer a;
    assert_int_equal(bw_policy_govern_answer(f->p, &f->in, NULL, r, &a), BW_OK);
    assert_null(a.refused);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.verdicts[0].decision.reason, BW_R_TOOL_NAME_INVALID);
    assert_string_equal(a.verdicts[1].decision.reason, BW_R_TOOL_NAME_INVALID);
    assert_int_equal(a.verdicts[2].decision.effect, BW_POLICY_ALLOW);
    char *out = dump(r);
    assert_null(strstr(out, "shell"));
    free(out);
    bw_policy_answer_cleanup(&a);
    json_decref(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(legacy_function_call_is_governed, setup, teardown),
        cmocka_unit_test_setup_teardown(every_choice_is_governed, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_shapes_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(known_shapes_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_calls_refuse_the_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(error_answer_with_a_call_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(approved_rule_delivers_its_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_ids_refuse, setup, teardown),
        cmocka_unit_test_setup_teardown(names_outside_the_charset_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests_name("policy_response", tests, NULL, NULL);
}
