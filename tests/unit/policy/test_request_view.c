/* Unit tests: policy/request_view.c, the normalized view of a request (every form of tool
 * declaration and call, every place text can hide, refused names, decoy names, unknown
 * members) and tool-name matching (ASCII case-insensitive globs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h: it needs them */

#include "policy/engine.h"
#include "reason/reasons.h"

static json_t *load(const char *text) {
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        fail_msg("bad test JSON (%s): %s", e.text, text);
    return j;
}

/* Builds a chat view of text; returns the error and the reason code. */
static bw_err view_of(const char *text, struct bw_policy_request_view *v, const char **reason) {
    json_t *j = load(text);
    char why[200];
    bw_err e = bw_policy_request_view_build(v, j, BW_POLICY_BODY_CHAT, reason, why, sizeof why);
    /* the view borrows from j: keep j alive in the view's retained list for the test */
    if (e == BW_OK)
        assert_int_equal(bw_policy_request_view_retain(v, j), BW_OK);
    json_decref(j);
    return e;
}

static int has_text(const struct bw_policy_request_view *v, const char *needle) {
    for (size_t i = 0; i < v->n_texts; i++)
        if (memmem(v->texts[i].ptr, v->texts[i].len, needle, strlen(needle)))
            return 1;
    return 0;
}

static size_t places(const struct bw_policy_request_view *v, enum bw_policy_tool_place p) {
    size_t n = 0;
    for (size_t i = 0; i < v->n_refs; i++)
        n += v->refs[i].place == p;
    return n;
}

static void every_form_of_tool(void **state) {
    (void)state;
    const char *body =
        "{\"model\":\"m\",\"tools\":["
        "{\"type\":\"function\",\"function\":{\"name\":\"calc\",\"description\":\"d\","
        "\"parameters\":{\"type\":\"object\"},\"strict\":true}},"
        "{\"type\":\"custom\",\"custom\":{\"name\":\"grep\",\"description\":\"d\","
        "\"format\":{\"type\":\"text\"}}}],"
        "\"functions\":[{\"name\":\"legacy_fn\",\"parameters\":{}},{\"name\":\"CALC\"}],"
        "\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"auto\","
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"calc\"}},"
        "{\"type\":\"custom\",\"custom\":{\"name\":\"forced_c\"}}]}},"
        "\"function_call\":{\"name\":\"legacy_fn\"},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"1\",\"type\":\"function\",\"function\":{\"name\":\"hist_a\",\"arguments\":\"{}"
        "\"}},"
        "{\"id\":\"2\",\"function\":{\"name\":\"hist_b\",\"arguments\":\"{}\"}},"
        "{\"id\":\"3\",\"type\":\"custom\",\"custom\":{\"name\":\"hist_c\",\"input\":\"x\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"1\",\"content\":\"r\"},"
        "{\"role\":\"assistant\",\"function_call\":{\"name\":\"hist_d\",\"arguments\":\"{}\"}},"
        "{\"role\":\"function\",\"name\":\"hist_e\",\"content\":\"r\"}]}";
    struct bw_policy_request_view v;
    const char *reason = NULL;
    assert_int_equal(view_of(body, &v, &reason), BW_OK);
    const char *want[] = {"calc",   "grep",   "legacy_fn", "forced_c", "hist_a",
                          "hist_b", "hist_c", "hist_d",    "hist_e"};
    assert_int_equal(v.n_tools, sizeof want / sizeof want[0]); /* CALC is calc: one name */
    for (size_t i = 0; i < v.n_tools; i++) {
        assert_string_equal(v.tools[i].name, want[i]);
        assert_null(v.tools[i].args);
    }
    assert_int_equal(places(&v, BW_POLICY_PLACE_TOOLS), 2);
    assert_int_equal(places(&v, BW_POLICY_PLACE_FUNCTIONS), 2);
    assert_int_equal(places(&v, BW_POLICY_PLACE_TOOL_CHOICE), 2);
    assert_int_equal(places(&v, BW_POLICY_PLACE_FUNCTION_CALL), 1);
    assert_int_equal(places(&v, BW_POLICY_PLACE_HISTORY), 5);
    /* a forced function tool_choice names its tool too */
    bw_policy_request_view_cleanup(&v);
    assert_int_equal(view_of("{\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":"
                             "\"only\"}}}",
                             &v, &reason),
                     BW_OK);
    assert_int_equal(v.n_tools, 1);
    assert_string_equal(v.tools[0].name, "only");
    assert_int_equal(v.refs[0].place, BW_POLICY_PLACE_TOOL_CHOICE);
    bw_policy_request_view_cleanup(&v);
}

/* Each body hides XYZZY in one place the upstream receives. */
static void every_text_place(void **state) {
    (void)state;
    const char *bodies[] = {
        /* tool description, parameter description, parameter name */
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"description\":"
        "\"XYZZY\"}}]}",
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\",\"description\":"
        "\"XYZZY\"}}}}}]}",
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"XYZZY\":{\"type\":\"string\"}}}}}]}",
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"p\":{\"enum\":[\"XYZZY\"]}}}}}]}",
        "{\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"a\",\"format\":{\"type\":"
        "\"grammar\",\"grammar\":{\"definition\":\"XYZZY\",\"syntax\":\"lark\"}}}}]}",
        "{\"functions\":[{\"name\":\"a\",\"description\":\"XYZZY\"}]}",
        /* messages: name, legacy function_call arguments, tool call arguments and id, custom
         * call input, refusal, parts of every type */
        "{\"messages\":[{\"role\":\"user\",\"name\":\"XYZZY\",\"content\":\"hi\"}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"function_call\":{\"name\":\"a\","
        "\"arguments\":\"{\\\"c\\\":\\\"XYZZY\\\"}\"}}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"XYZZY\",\"type\":"
        "\"function\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"1\",\"type\":"
        "\"custom\",\"custom\":{\"name\":\"a\",\"input\":\"XYZZY\"}}]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"refusal\":\"XYZZY\"}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"refusal\",\"refusal\":"
        "\"XYZZY\"}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{"
        "\"file_data\":\"XYZZY\",\"filename\":\"f\"}}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
        "\"input_audio\":{\"data\":\"XYZZY\",\"format\":\"wav\"}}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{"
        "\"url\":\"data:XYZZY\"}}]}]}",
        "{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"1\",\"content\":[{\"type\":\"text\","
        "\"text\":\"XYZZY\"}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\",\"unknown_member\":\"XYZZY\"}]}",
        /* top-level text-bearing members */
        "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\","
        "\"schema\":{\"type\":\"object\",\"properties\":{\"k\":{\"description\":\"XYZZY\"}}}}}}",
        "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\","
        "\"description\":\"XYZZY\"}}}",
        "{\"metadata\":{\"k\":\"XYZZY\"}}",
        "{\"metadata\":{\"XYZZY\":\"v\"}}",
        "{\"prediction\":{\"type\":\"content\",\"content\":\"XYZZY\"}}",
        "{\"prediction\":{\"type\":\"content\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"XYZZY\"}]}}",
        "{\"stop\":[\"XYZZY\"]}",
        "{\"user\":\"XYZZY\"}",
        "{\"safety_identifier\":\"XYZZY\"}",
        "{\"prompt_cache_key\":\"XYZZY\"}",
        "{\"web_search_options\":{\"user_location\":{\"type\":\"approximate\",\"approximate\":{"
        "\"city\":\"XYZZY\"}}}}",
        "{\"audio\":{\"voice\":\"XYZZY\",\"format\":\"wav\"}}",
        "{\"logit_bias\":{\"XYZZY\":1}}",
        /* an enum member with a value outside its enum is a text */
        "{\"messages\":[{\"role\":\"XYZZY\",\"content\":\"a\"}]}",
        "{\"reasoning_effort\":\"XYZZY\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct bw_policy_request_view v;
        const char *reason = NULL;
        if (view_of(bodies[i], &v, &reason) != BW_OK)
            fail_msg("refused body %zu: %s", i, bodies[i]);
        if (!has_text(&v, "XYZZY"))
            fail_msg("body %zu: XYZZY is not a text: %s", i, bodies[i]);
        bw_policy_request_view_cleanup(&v);
    }
    /* structural words and the model are not texts */
    struct bw_policy_request_view v;
    const char *reason = NULL;
    assert_int_equal(
        view_of("{\"model\":\"gpt-4o\",\"tool_choice\":\"auto\",\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"t\"}]}]}",
                &v, &reason),
        BW_OK);
    assert_int_equal(v.n_texts, 1);
    assert_memory_equal(v.texts[0].ptr, "t", 1);
    bw_policy_request_view_cleanup(&v);
    /* embeddings: input strings, at any depth */
    json_t *j = load("{\"model\":\"e\",\"input\":[\"XYZZY\"],\"encoding_format\":\"float\"}");
    assert_int_equal(
        bw_policy_request_view_build(&v, j, BW_POLICY_BODY_EMBEDDINGS, &reason, NULL, 0), BW_OK);
    assert_int_equal(v.n_texts, 1);
    assert_true(has_text(&v, "XYZZY"));
    bw_policy_request_view_cleanup(&v);
    json_decref(j);
}

static void expect_refused(const char *body, const char *code) {
    struct bw_policy_request_view v;
    const char *reason = NULL;
    bw_err e = view_of(body, &v, &reason);
    if (e == BW_OK)
        fail_msg("accepted: %s", body);
    if (strcmp(reason, code) != 0)
        fail_msg("reason %s, want %s: %s", reason, code, body);
    assert_int_equal(v.n_tools, 0); /* left empty */
    bw_policy_request_view_cleanup(&v);
}

static void refused_names(void **state) {
    (void)state;
    const char *bad[] = {"shell\\u200b",
                         "Sh\\u0435ll",
                         "she ll",
                         "",
                         "a/b",
                         "a:b",
                         "a\\tb",
                         "x\\u00e9",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    char body[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* in every place a name can be */
        const char *forms[] = {
            "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"%s\"}}]}",
            "{\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"%s\"}}]}",
            "{\"functions\":[{\"name\":\"%s\"}]}",
            "{\"function_call\":{\"name\":\"%s\"}}",
            "{\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"%s\"}}}",
            ("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"1\",\"type\":"
             "\"function\",\"function\":{\"name\":\"%s\",\"arguments\":\"{}\"}}]}]}"),
            "{\"messages\":[{\"role\":\"assistant\",\"function_call\":{\"name\":\"%s\"}}]}",
            "{\"messages\":[{\"role\":\"function\",\"name\":\"%s\",\"content\":\"r\"}]}",
        };
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            const char *at = strstr(forms[f], "%s"); /* the name goes there */
            snprintf(body, sizeof body, "%.*s%s%s", (int)(at - forms[f]), forms[f], bad[i], at + 2);
            expect_refused(body, BW_R_TOOL_NAME_INVALID);
        }
    }
    /* 64 bytes of the alphabet is fine */
    struct bw_policy_request_view v;
    const char *reason = NULL;
    assert_int_equal(
        view_of("{\"functions\":[{\"name\":"
                "\"a.b-c_D012345678901234567890123456789012345678901234567890123456\"}]}",
                &v, &reason),
        BW_OK);
    bw_policy_request_view_cleanup(&v);
    /* a NUL inside a name (a body built in memory: the HTTP parser refuses \u0000) */
    json_t *j = json_pack("{s:[{s:s,s:{s:s%}}]}", "tools", "type", "function", "function", "name",
                          "ab\0c", (size_t)4);
    assert_non_null(j);
    assert_int_equal(bw_policy_request_view_build(&v, j, BW_POLICY_BODY_CHAT, &reason, NULL, 0),
                     BW_E_INVALID);
    assert_string_equal(reason, BW_R_TOOL_NAME_INVALID);
    json_decref(j);
    assert_true(bw_policy_tool_name_ok("Shell", 5));
    assert_false(bw_policy_tool_name_ok("ab\0c", 4));
    assert_false(bw_policy_tool_name_ok(NULL, 0));
}

static void decoys_and_unknown_members(void **state) {
    (void)state;
    const char *bad[] = {
        /* a custom tool carrying a decoy function or name */
        "{\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"shell\"},\"function\":{\"name\":"
        "\"calc\"}}]}",
        "{\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"shell\"},\"name\":\"calc\"}]}",
        "{\"tools\":[{\"type\":\"custom\",\"name\":\"calc\",\"custom\":{\"name\":\"shell\"}}]}",
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"calc\"},\"custom\":{\"name\":"
        "\"shell\"}}]}",
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"calc\",\"custom\":\"x\"}}]}",
        "{\"tools\":[{\"name\":\"calc\"}]}",
        "{\"tools\":[{\"type\":\"web_search\"}]}",
        "{\"tools\":[{\"type\":\"function\"}]}",
        "{\"tools\":{}}",
        "{\"functions\":[{\"name\":\"calc\",\"function\":{\"name\":\"shell\"}}]}",
        "{\"tool_choice\":{\"type\":\"custom\",\"custom\":{\"name\":\"a\"},\"function\":{\"name\":"
        "\"b\"}}}",
        "{\"tool_choice\":\"anything\"}",
        "{\"function_call\":{\"name\":\"a\",\"x\":1}}",
        "{\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"auto\","
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"},\"name\":\"b\"}]}}}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"1\",\"type\":\"custom\","
        "\"custom\":{\"name\":\"shell\",\"input\":\"\"},\"function\":{\"name\":\"calc\"}}]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"1\",\"function\":{"
        "\"name\":\"calc\"},\"name\":\"shell\"}]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"function_call\":{\"name\":\"a\",\"x\":\"y\"}}]}",
        "{\"messages\":[{\"content\":\"no role\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
        /* top-level members the view does not know */
        "{\"model\":\"m\",\"prompt\":\"x\"}",
        "{\"model\":\"m\",\"input\":\"x\"}",
        "{\"model\":\"m\",\"extra_body\":{\"x\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(bad[i], BW_R_INVALID_REQUEST);
    /* the real name of a custom tool is its custom.name */
    struct bw_policy_request_view v;
    const char *reason = NULL;
    assert_int_equal(
        view_of("{\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"shell\"}}]}", &v, &reason),
        BW_OK);
    assert_string_equal(v.tools[0].name, "shell");
    bw_policy_request_view_cleanup(&v);
    /* embeddings know their own members only */
    json_t *j = load("{\"model\":\"e\",\"input\":\"x\",\"messages\":[]}");
    assert_int_equal(
        bw_policy_request_view_build(&v, j, BW_POLICY_BODY_EMBEDDINGS, &reason, NULL, 0),
        BW_E_INVALID);
    json_decref(j);
    /* limits: different names and places */
    json_t *fns = json_array();
    for (int i = 0; i <= BW_POLICY_MAX_TOOL_REFS; i++)
        json_array_append_new(fns, json_pack("{s:s}", "name", "same"));
    j = json_pack("{s:o}", "functions", fns);
    assert_int_equal(bw_policy_request_view_build(&v, j, BW_POLICY_BODY_CHAT, &reason, NULL, 0),
                     BW_E_TOO_LARGE);
    json_decref(j);
}

static struct bw_policy *compile(const char *text) {
    struct bw_policy *p = NULL;
    char err[256];
    if (bw_policy_parse(text, strlen(text), "t.yaml", &p, err, sizeof err) != BW_OK)
        fail_msg("policy: %s", err);
    return p;
}

static struct bw_policy_decision decide(const struct bw_policy *p, const char *body) {
    struct bw_policy_request_view v;
    const char *reason = NULL;
    if (view_of(body, &v, &reason) != BW_OK)
        fail_msg("refused: %s", body);
    struct bw_policy_input in = {"acme",       "bot",      "agent", "chat",    v.model,
                                 v.max_tokens, 0.01,       v.tools, v.n_tools, v.texts,
                                 v.n_texts,    1700000000, NULL,    NULL,      NULL};
    struct bw_policy_decision d;
    BW_IGNORE(bw_policy_eval(p, &in, &d)); /* the test checks the decision (a deny on failure) */
    bw_policy_request_view_cleanup(&v);
    return d;
}

/* Names match ASCII case-insensitively; a custom tool is decided under custom.name; a history
 * call is decided like a declaration; content rules see every text. */
static void decisions_from_the_view(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\n"
                                  "global:\n"
                                  "  - id: no-shell\n"
                                  "    match: {tool: 'shell*'}\n"
                                  "    effect: deny\n"
                                  "  - id: no-exact\n"
                                  "    match: {tool: Exact_Tool}\n"
                                  "    effect: deny\n"
                                  "  - id: secret\n"
                                  "    match: {content: XYZZY}\n"
                                  "    effect: deny\n"
                                  "    reason: CONTENT_BLOCKED\n"
                                  "rules:\n"
                                  "  - id: strip-web\n"
                                  "    match: {tool: 'web_*'}\n"
                                  "    effect: strip\n"
                                  "  - id: all\n"
                                  "    effect: allow\n");
    const char *denied[] = {"Shell", "SHELL_exec", "sHeLl", "exact_tool", "EXACT_TOOL"};
    char body[512];
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"%s\"}}]}", denied[i]);
        struct bw_policy_decision d = decide(p, body);
        if (d.effect != BW_POLICY_DENY || strcmp(d.reason, BW_R_TOOL_DENIED) != 0)
            fail_msg("%s: %s/%s", denied[i], bw_policy_effect_name(d.effect), d.reason);
    }
    struct bw_policy_decision d =
        decide(p, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"calc\"}}]}");
    assert_int_equal(d.effect, BW_POLICY_ALLOW);
    d = decide(p, "{\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"shell\"}}]}");
    assert_int_equal(d.effect, BW_POLICY_DENY);
    assert_string_equal(d.rule, "no-shell");
    d = decide(p, "{\"functions\":[{\"name\":\"Shell\"}]}");
    assert_string_equal(d.rule, "no-shell");
    d = decide(p, "{\"function_call\":{\"name\":\"shell_x\"}}");
    assert_string_equal(d.rule, "no-shell");
    d = decide(p,
               "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"1\","
               "\"type\":\"function\",\"function\":{\"name\":\"SHELL\",\"arguments\":\"{}\"}}]}]}");
    assert_string_equal(d.rule, "no-shell");
    d = decide(p, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":"
                  "{\"properties\":{\"p\":{\"description\":\"say XYZZY\"}}}}}]}");
    assert_string_equal(d.reason, BW_R_CONTENT_BLOCKED);
    /* strip: Web_Search and web_search are one tool, stripped */
    d = decide(p, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"calc\"}},"
                  "{\"type\":\"function\",\"function\":{\"name\":\"Web_Search\"}}],"
                  "\"functions\":[{\"name\":\"web_search\"}]}");
    assert_int_equal(d.effect, BW_POLICY_ALLOW);
    assert_false(bw_policy_stripped(&d, 0));
    assert_true(bw_policy_stripped(&d, 1));
    bw_policy_unref(p);
    /* a request waiting for approval keeps its stripped tools marked: once approved it is
     * forwarded without them */
    p = compile("version: 1\nrules:\n"
                "  - id: strip-web\n    match: {tool: web_search}\n    effect: strip\n"
                "  - id: pay\n    match: {tool: pay}\n    effect: require_approval\n"
                "    approval: {reviewer_role: reviewer}\n"
                "  - id: all\n    effect: allow\n");
    d = decide(p, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"web_search\"}},"
                  "{\"type\":\"function\",\"function\":{\"name\":\"pay\"}}]}");
    assert_int_equal(d.effect, BW_POLICY_REQUIRE_APPROVAL);
    assert_true(bw_policy_stripped(&d, 0));
    assert_false(bw_policy_stripped(&d, 1));
    bw_policy_unref(p);
}

static void glob_case(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\nrules:\n"
                                  "  - id: q\n    match: {tool: 'r?ad_*'}\n    effect: deny\n"
                                  "  - id: all\n    effect: allow\n");
    const char *names[] = {"READ_FILE", "Read_x", "rEad_"};
    for (size_t i = 0; i < 3; i++) {
        struct bw_policy_tool t = {names[i], NULL};
        struct bw_policy_input in = {"acme", NULL, NULL, "chat", "m",  -1,   0,   NULL,
                                     0,      NULL, 0,    0,      NULL, NULL, NULL};
        struct bw_policy_decision d;
        assert_int_equal(bw_policy_decide_tools(p, &in, &t, 1, &d), BW_OK);
        assert_int_equal(d.effect, BW_POLICY_DENY);
    }
    struct bw_policy_tool t = {"ready", NULL};
    struct bw_policy_input in = {"acme", NULL, NULL, "chat", "m",  -1,   0,   NULL,
                                 0,      NULL, 0,    0,      NULL, NULL, NULL};
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_decide_tools(p, &in, &t, 1, &d), BW_OK);
    assert_int_equal(d.effect, BW_POLICY_ALLOW);
    bw_policy_unref(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_form_of_tool),      cmocka_unit_test(every_text_place),
        cmocka_unit_test(refused_names),           cmocka_unit_test(decoys_and_unknown_members),
        cmocka_unit_test(decisions_from_the_view), cmocka_unit_test(glob_case),
    };
    return cmocka_run_group_tests_name("policy_request_view", tests, NULL, NULL);
}
