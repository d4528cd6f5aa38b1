/* Unit tests: policy/toolstream (streamed tool calls held back until complete and decided; a
 * refused call's name and arguments never appear in what is emitted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h: it needs them */

#include "policy/toolstream.h"
#include "reason/reasons.h"

static const char policy_text[] = "version: 1\n"
                                  "rules:\n"
                                  "  - id: no-shell\n"
                                  "    match: {tool: shell}\n"
                                  "    effect: deny\n"
                                  "  - id: calc-small\n"
                                  "    match:\n"
                                  "      tool: calc\n"
                                  "      args: [{path: $.x, max: 100}]\n"
                                  "    effect: allow\n"
                                  "  - id: calc-other\n"
                                  "    match: {tool: calc}\n"
                                  "    effect: deny\n"
                                  "  - id: chat\n"
                                  "    effect: allow\n";

struct sink {
    json_t *out; /* array of emitted chunks */
    struct bw_policy_call_verdict v[8];
    size_t n_v;
    bw_err fail_with;
};

static bw_err emit(void *arg, const json_t *chunk) {
    struct sink *k = arg;
    json_array_append_new(k->out, json_deep_copy(chunk));
    return k->fail_with;
}

static void on_verdict(void *arg, const struct bw_policy_call_verdict *v) {
    struct sink *k = arg;
    if (k->n_v < 8)
        k->v[k->n_v++] = *v;
}

struct fixture {
    struct bw_policy *p;
    struct bw_policy_input in;
    struct sink k;
    struct bw_toolstream *s;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];
    assert_int_equal(
        bw_policy_parse(policy_text, strlen(policy_text), "t.yaml", &f->p, err, sizeof err), BW_OK);
    f->in.route = "chat";
    f->in.max_tokens = -1;
    f->in.estimated_cost = -1;
    f->k.out = json_array();
    struct bw_toolstream_config cfg = {f->p, &f->in, 64, 1000, emit, on_verdict, &f->k, NULL};
    assert_int_equal(bw_toolstream_new(&cfg, &f->s), BW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    bw_toolstream_free(f->s);
    json_decref(f->k.out);
    bw_policy_unref(f->p);
    free(f);
    return 0;
}

static bw_err feed(struct fixture *f, const char *choice_json, int64_t now) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
             "\"model\":\"m\",\"choices\":[%s]}",
             choice_json);
    json_t *c = json_loads(buf, 0, NULL);
    if (!c)
        fail_msg("bad test JSON: %s", buf);
    bw_err e = bw_toolstream_feed(f->s, c, now);
    json_decref(c);
    return e;
}

static char *output(struct fixture *f) {
    return json_dumps(f->k.out, JSON_COMPACT);
}

#define CALL(ix, id, name, args)                                                                   \
    "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":" #ix id name                              \
    ",\"function\":{\"arguments\":" args "}}]},\"finish_reason\":null}"
#define FINISH(reason) "{\"index\":0,\"delta\":{},\"finish_reason\":\"" reason "\"}"

/* The name arrives in the first delta, with the call's id. */
#define NAMED(ix, id, name, args)                                                                  \
    "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":" #ix ",\"id\":\"" id                      \
    "\",\"type\":\"function\",\"function\":{\"name\":\"" name "\",\"arguments\":" args             \
    "}}]},\"finish_reason\":null}"

static void text_passes_and_allowed_call_is_reassembled(void **state) {
    struct fixture *f = *state;
    assert_int_equal(
        feed(f, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}", 0), BW_OK);
    assert_int_equal(json_array_size(f->k.out), 1); /* text goes out at once */
    assert_int_equal(feed(f, NAMED(0, "c1", "calc", "\"{\\\"x\\\"\""), 1), BW_OK);
    assert_int_equal(json_array_size(f->k.out), 1); /* the call is held */
    assert_int_equal(feed(f, CALL(0, "", "", "\":5}\""), 2), BW_OK);
    assert_int_equal(json_array_size(f->k.out), 1);
    assert_int_equal(feed(f, FINISH("tool_calls"), 3), BW_OK);
    assert_int_equal(json_array_size(f->k.out), 3); /* the whole call, then the finish */
    json_t *call = json_array_get(
        json_object_get(
            json_object_get(
                json_array_get(json_object_get(json_array_get(f->k.out, 1), "choices"), 0),
                "delta"),
            "tool_calls"),
        0);
    assert_string_equal(json_string_value(json_object_get(call, "id")), "c1");
    assert_int_equal(json_integer_value(json_object_get(call, "index")), 0);
    json_t *fn = json_object_get(call, "function");
    assert_string_equal(json_string_value(json_object_get(fn, "arguments")), "{\"x\":5}");
    json_t *fin = json_array_get(json_object_get(json_array_get(f->k.out, 2), "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(fin, "finish_reason")), "tool_calls");
    assert_int_equal(f->k.n_v, 1);
    assert_string_equal(f->k.v[0].decision.rule, "calc-small");
    assert_int_equal(bw_toolstream_finish(f->s), BW_OK);
}

static void denied_call_never_reaches_output(void **state) {
    struct fixture *f = *state;
    assert_int_equal(feed(f, NAMED(0, "c_sh", "shell", "\"{\\\"cmd\\\":\\\"rm -\""), 0), BW_OK);
    assert_int_equal(feed(f, CALL(0, "", "", "\"rf /\\\"}\""), 1), BW_OK);
    assert_int_equal(feed(f, NAMED(1, "c_ok", "calc", "\"{\\\"x\\\":1}\""), 2), BW_OK);
    assert_int_equal(feed(f, FINISH("tool_calls"), 3), BW_OK);
    char *out = output(f);
    assert_null(strstr(out, "shell"));
    assert_null(strstr(out, "rm -"));
    assert_null(strstr(out, "rf /"));
    assert_null(strstr(out, "c_sh"));
    assert_non_null(strstr(out, "c_ok"));
    /* the allowed call is renumbered to index 0: the client sees no gap */
    assert_non_null(strstr(out, "\"index\":0,\"id\":\"c_ok\""));
    assert_non_null(strstr(out, "\"finish_reason\":\"tool_calls\""));
    free(out);
    assert_int_equal(f->k.n_v, 2);
    assert_int_equal(f->k.v[0].decision.effect, BW_POLICY_DENY);
    assert_string_equal(f->k.v[0].decision.rule, "no-shell");
    assert_string_equal(f->k.v[0].id, "c_sh");
}

static void all_refused_finish_becomes_stop(void **state) {
    struct fixture *f = *state;
    assert_int_equal(feed(f, NAMED(0, "c1", "calc", "\"{\\\"x\\\":1000}\""), 0), BW_OK);
    assert_int_equal(feed(f, FINISH("tool_calls"), 1), BW_OK);
    char *out = output(f);
    assert_null(strstr(out, "calc"));
    assert_null(strstr(out, "1000"));
    assert_non_null(strstr(out, "\"finish_reason\":\"stop\""));
    free(out);
    assert_string_equal(f->k.v[0].decision.rule, "calc-other");
}

static void duplicate_ids_and_going_back_are_errors(void **state) {
    struct fixture *f = *state;
    assert_int_equal(feed(f, NAMED(0, "dup", "calc", "\"{}\""), 0), BW_OK);
    assert_int_equal(feed(f, NAMED(1, "dup", "calc", "\"{}\""), 1), BW_E_INVALID);
    assert_int_equal(feed(f, FINISH("stop"), 2), BW_E_INVALID); /* broken stays broken */
    assert_int_equal(bw_toolstream_finish(f->s), BW_E_INVALID);
    struct bw_toolstream *s2 = NULL;
    struct bw_toolstream_config cfg = {f->p, &f->in, 0, 0, emit, NULL, &f->k, NULL};
    assert_int_equal(bw_toolstream_new(&cfg, &s2), BW_OK);
    bw_toolstream_free(f->s);
    f->s = s2;
    assert_int_equal(feed(f, NAMED(1, "a", "calc", "\"{}\""), 0), BW_OK);
    assert_int_equal(feed(f, NAMED(0, "b", "calc", "\"{}\""), 1), BW_E_INVALID);
}

static void oversized_arguments_are_denied(void **state) {
    struct fixture *f = *state; /* max_args_bytes is 64 */
    assert_int_equal(feed(f, NAMED(0, "big", "calc", "\"{\\\"x\\\":1,\\\"pad\\\":\\\"\""), 0),
                     BW_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(feed(f, CALL(0, "", "", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\""), 1), BW_OK);
    assert_int_equal(feed(f, CALL(0, "", "", "\"\\\"}\""), 2), BW_OK);
    assert_int_equal(feed(f, FINISH("tool_calls"), 3), BW_OK);
    assert_string_equal(f->k.v[0].decision.reason, BW_R_TOOL_ARGS_TOO_LARGE);
    char *out = output(f);
    assert_null(strstr(out, "aaaa"));
    free(out);
}

static void incomplete_calls_time_out_or_fail_at_end(void **state) {
    struct fixture *f = *state; /* call_timeout_ms is 1000 */
    assert_int_equal(feed(f, NAMED(0, "slow", "calc", "\"{\\\"x\\\":\""), 100), BW_OK);
    assert_int_equal(bw_toolstream_expire(f->s, 1000), BW_OK);
    assert_int_equal(bw_toolstream_expire(f->s, 1101), BW_E_TIMEOUT);
    assert_string_equal(f->k.v[0].decision.reason, BW_R_TOOL_CALL_INCOMPLETE);
    char *out = output(f);
    assert_null(strstr(out, "slow"));
    free(out);
    struct bw_toolstream *s2 = NULL;
    struct bw_toolstream_config cfg = {f->p, &f->in, 0, 0, emit, on_verdict, &f->k, NULL};
    assert_int_equal(bw_toolstream_new(&cfg, &s2), BW_OK);
    bw_toolstream_free(f->s);
    f->s = s2;
    assert_int_equal(feed(f, NAMED(0, "open", "calc", "\"{\\\"x\\\":1}\""), 0), BW_OK);
    assert_int_equal(bw_toolstream_finish(f->s), BW_E_UPSTREAM);
    out = output(f);
    assert_null(strstr(out, "open"));
    free(out);
}

static void malformed_chunks(void **state) {
    struct fixture *f = *state;
    const char *bad[] = {
        "{\"index\":-1,\"delta\":{}}",
        "{\"index\":0,\"delta\":[]}",
        "{\"index\":0,\"delta\":{\"tool_calls\":{}}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":5}}]}}",
        "{\"index\":0,\"finish_reason\":7}",
        "{\"index\":99,\"delta\":{}}",
        "5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct bw_toolstream *s2 = NULL;
        struct bw_toolstream_config cfg = {f->p, &f->in, 0, 0, emit, NULL, &f->k, NULL};
        assert_int_equal(bw_toolstream_new(&cfg, &s2), BW_OK);
        bw_toolstream_free(f->s);
        f->s = s2;
        if (feed(f, bad[i], 0) == BW_OK)
            fail_msg("accepted %s", bad[i]);
    }
    json_t *notobj = json_array();
    assert_int_equal(bw_toolstream_feed(f->s, notobj, 0), BW_E_INVALID);
    json_decref(notobj);
    /* an emit failure stops the stream */
    struct bw_toolstream *s3 = NULL;
    struct bw_toolstream_config cfg = {f->p, &f->in, 0, 0, emit, NULL, &f->k, NULL};
    assert_int_equal(bw_toolstream_new(&cfg, &s3), BW_OK);
    bw_toolstream_free(f->s);
    f->s = s3;
    f->k.fail_with = BW_E_IO;
    assert_int_equal(feed(f, "{\"index\":0,\"delta\":{\"content\":\"x\"}}", 0), BW_E_IO);
}

/* A fresh stream on the fixture, with an approval (or NULL). */
static void restart(struct fixture *f, const char *approved_rule) {
    struct bw_toolstream *s2 = NULL;
    struct bw_toolstream_config cfg = {f->p, &f->in,     64,    1000,
                                       emit, on_verdict, &f->k, approved_rule};
    assert_int_equal(bw_toolstream_new(&cfg, &s2), BW_OK);
    bw_toolstream_free(f->s);
    f->s = s2;
}

/* The reproduction: delta.content as an array of objects, one carrying a denied tool.
 * It is refused (the stream breaks), never emitted, and the call it carried is listed. */
static void non_string_content_is_refused(void **state) {
    struct fixture *f = *state;
    assert_int_equal(feed(f, "{\"index\":0,\"delta\":{\"content\":\"Hi\"}}", 0), BW_OK);
    assert_int_equal(
        feed(f,
             "{\"index\":0,\"delta\":{\"content\":[{\"type\":\"tool_use\",\"function\":{\"name\":"
             "\"shell\",\"arguments\":\"{\\\"cmd\\\":\\\"id\\\"}\"}}]}}",
             1),
        BW_E_INVALID);
    char *out = output(f);
    assert_null(strstr(out, "shell"));
    free(out);
    assert_string_equal(bw_toolstream_fail_reason(f->s), BW_R_TOOL_STREAM_INVALID);
    assert_int_equal(f->k.n_v, 1);
    assert_string_equal(f->k.v[0].name, "shell");
    assert_int_equal(f->k.v[0].decision.effect, BW_POLICY_DENY);
    assert_string_equal(f->k.v[0].decision.reason, BW_R_TOOL_STREAM_INVALID);
}

/* Any member the governor does not know that carries a structure is refused, at every level. */
static void unknown_structures_are_refused(void **state) {
    struct fixture *f = *state;
    const char *bad[] = {
        "{\"index\":0,\"delta\":{\"x_call\":{\"name\":\"shell\",\"arguments\":\"{}\"}}}",
        "{\"index\":0,\"delta\":{\"refusal\":{\"name\":\"shell\"}}}",
        "{\"index\":0,\"delta\":{},\"x\":[{\"function\":{\"name\":\"shell\"}}]}",
        "{\"index\":0,\"message\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":"
        "\"shell\",\"arguments\":\"{}\"}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"type\":\"mcp\","
        "\"function\":{\"name\":\"shell\"}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{"
        "\"name\":\"calc\",\"x\":{\"name\":\"shell\"}}}]}}",
        "{\"index\":0,\"delta\":{\"audio\":{\"data\":{\"function\":{\"name\":\"shell\"}}}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        restart(f, NULL);
        if (feed(f, bad[i], 0) == BW_OK)
            fail_msg("accepted %s", bad[i]);
    }
    static const char *const whole[] = {
        "{\"id\":\"c\",\"choices\":[],\"usage\":[{\"function\":{\"name\":\"shell\"}}]}",
        "{\"id\":\"c\",\"choices\":[],\"output\":[{\"name\":\"shell\",\"arguments\":\"{}\"}]}",
        "{\"id\":{\"name\":\"shell\"},\"choices\":[]}",
    };
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        restart(f, NULL);
        json_t *c = json_loads(whole[i], 0, NULL);
        assert_non_null(c);
        assert_int_not_equal(bw_toolstream_feed(f->s, c, 0), BW_OK);
        json_decref(c);
    }
    char *out = output(f);
    assert_null(strstr(out, "shell"));
    free(out);
    /* unknown scalars are dropped, not refused; known inert members pass */
    restart(f, NULL);
    assert_int_equal(feed(f,
                          "{\"index\":0,\"x_score\":1,\"logprobs\":null,\"delta\":{\"content\":"
                          "\"ok\",\"x_note\":\"n\",\"reasoning_content\":\"r\"}}",
                          0),
                     BW_OK);
}

/* The legacy delta.function_call is assembled and decided like a tool call. */
static void legacy_function_call_is_governed(void **state) {
    struct fixture *f = *state;
    assert_int_equal(feed(f,
                          "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"function_call\":{"
                          "\"name\":\"shell\",\"arguments\":\"\"}}}",
                          0),
                     BW_OK);
    assert_int_equal(
        feed(f, "{\"index\":0,\"delta\":{\"function_call\":{\"arguments\":\"{\\\"c\\\":1}\"}}}", 1),
        BW_OK);
    assert_int_equal(feed(f, FINISH("function_call"), 2), BW_OK);
    char *out = output(f);
    assert_null(strstr(out, "shell"));
    assert_non_null(strstr(out, "\"finish_reason\":\"stop\""));
    free(out);
    assert_int_equal(f->k.n_v, 1);
    assert_string_equal(f->k.v[0].name, "shell");
    assert_int_equal(f->k.v[0].decision.effect, BW_POLICY_DENY);
    /* allowed: emitted whole, as a function_call */
    restart(f, NULL);
    json_array_clear(f->k.out);
    assert_int_equal(feed(f,
                          "{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"calc\","
                          "\"arguments\":\"{\\\"x\\\":2}\"}}}",
                          0),
                     BW_OK);
    assert_int_equal(feed(f, FINISH("function_call"), 1), BW_OK);
    out = output(f);
    assert_non_null(strstr(out, "\"function_call\":{\"name\":\"calc\""));
    assert_non_null(strstr(out, "\"finish_reason\":\"function_call\""));
    free(out);
    /* mixing it with tool_calls in one choice is refused */
    restart(f, NULL);
    assert_int_equal(feed(f, NAMED(0, "a", "calc", "\"{}\""), 0), BW_OK);
    assert_int_equal(feed(f, "{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"shell\"}}}", 1),
                     BW_E_INVALID);
}

/* A custom tool call is decided by custom.name and emitted back as a custom call. */
static void custom_calls_are_governed(void **state) {
    struct fixture *f = *state;
    assert_int_equal(
        feed(f,
             "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"k1\","
             "\"type\":\"custom\",\"custom\":{\"name\":\"shell\",\"input\":\"{}\"}}]}}",
             0),
        BW_OK);
    assert_int_equal(feed(f,
                          "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"k2\","
                          "\"type\":\"custom\",\"custom\":{\"name\":\"calc\",\"input\":"
                          "\"{\\\"x\\\":1}\"}}]}}",
                          1),
                     BW_OK);
    assert_int_equal(feed(f, FINISH("tool_calls"), 2), BW_OK);
    char *out = output(f);
    assert_null(strstr(out, "shell"));
    assert_non_null(strstr(out, "\"type\":\"custom\",\"custom\":{\"name\":\"calc\""));
    free(out);
    /* one call, one kind: a function fragment for a custom call is refused */
    restart(f, NULL);
    assert_int_equal(feed(f,
                          "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"k3\","
                          "\"custom\":{\"name\":\"calc\"}}]}}",
                          0),
                     BW_OK);
    assert_int_equal(feed(f,
                          "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
                          "\"name\":\"x\"}}]}}",
                          1),
                     BW_E_INVALID);
}

/* A stream that breaks drops and lists the call it was holding. */
static void open_call_is_listed_when_the_stream_breaks(void **state) {
    struct fixture *f = *state;
    assert_int_equal(feed(f, NAMED(0, "held", "calc", "\"{\\\"x\\\":1}\""), 0), BW_OK);
    assert_int_equal(feed(f, "{\"index\":0,\"delta\":{\"content\":[]}}", 1), BW_E_INVALID);
    assert_int_equal(f->k.n_v, 1);
    assert_string_equal(f->k.v[0].id, "held");
    assert_string_equal(f->k.v[0].decision.reason, BW_R_TOOL_STREAM_INVALID);
    char *out = output(f);
    assert_null(strstr(out, "held"));
    free(out);
    /* at the end of the stream: TOOL_CALL_INCOMPLETE, and the reason says so */
    restart(f, NULL);
    assert_int_equal(feed(f, NAMED(0, "open2", "calc", "\"{\""), 0), BW_OK);
    assert_int_equal(bw_toolstream_open_calls(f->s), 1);
    assert_int_equal(bw_toolstream_finish(f->s), BW_E_UPSTREAM);
    assert_string_equal(bw_toolstream_fail_reason(f->s), BW_R_TOOL_CALL_INCOMPLETE);
    assert_string_equal(f->k.v[f->k.n_v - 1].decision.reason, BW_R_TOOL_CALL_INCOMPLETE);
}

/* An approved re-send: the approved rule's require_approval call is delivered, once declared. */
static void approved_rule_delivers_its_call(void **state) {
    struct fixture *f = *state;
    static const char text[] = "version: 1\nrules:\n"
                               "  - id: deploy-review\n    match: {tool: deploy}\n"
                               "    effect: require_approval\n"
                               "    approval: {reviewer_role: reviewer}\n"
                               "  - id: chat\n    effect: allow\n";
    char err[256];
    struct bw_policy *p = NULL;
    assert_int_equal(bw_policy_parse(text, strlen(text), "a.yaml", &p, err, sizeof err), BW_OK);
    struct bw_policy_tool declared = {"deploy", NULL};
    f->in.tools = &declared;
    f->in.n_tools = 1;
    for (int approved = 0; approved < 2; approved++) {
        struct bw_toolstream *s2 = NULL;
        struct bw_toolstream_config cfg = {
            p, &f->in, 0, 0, emit, on_verdict, &f->k, approved ? "deploy-review" : NULL};
        assert_int_equal(bw_toolstream_new(&cfg, &s2), BW_OK);
        bw_toolstream_free(f->s);
        f->s = s2;
        json_array_clear(f->k.out);
        assert_int_equal(feed(f, NAMED(0, "d1", "deploy", "\"{}\""), 0), BW_OK);
        assert_int_equal(feed(f, FINISH("tool_calls"), 1), BW_OK);
        char *out = output(f);
        if (approved)
            assert_non_null(strstr(out, "\"name\":\"deploy\""));
        else
            assert_null(strstr(out, "deploy"));
        free(out);
        assert_string_equal(f->k.v[f->k.n_v - 1].decision.reason,
                            approved ? BW_R_APPROVAL_GRANTED : BW_R_APPROVAL_REQUIRED);
    }
    bw_policy_unref(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(text_passes_and_allowed_call_is_reassembled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(denied_call_never_reaches_output, setup, teardown),
        cmocka_unit_test_setup_teardown(all_refused_finish_becomes_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_ids_and_going_back_are_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_arguments_are_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(incomplete_calls_time_out_or_fail_at_end, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(non_string_content_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_structures_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(legacy_function_call_is_governed, setup, teardown),
        cmocka_unit_test_setup_teardown(open_call_is_listed_when_the_stream_breaks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(approved_rule_delivers_its_call, setup, teardown),
        cmocka_unit_test_setup_teardown(custom_calls_are_governed, setup, teardown),
    };
    return cmocka_run_group_tests_name("policy_toolstream", tests, NULL, NULL);
}
