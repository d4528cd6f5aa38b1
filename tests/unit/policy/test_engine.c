/* Unit tests: policy/ engine (strict loading, first-match semantics, the global layer, every
 * matcher, tools, regex limits, bad input). */
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
#include "util/codec.h"
#include "util/json.h"

static char err[512];

static struct bw_policy *compile(const char *text) {
    struct bw_policy *p = NULL;
    err[0] = 0;
    bw_err e = bw_policy_parse(text, strlen(text), "t.yaml", &p, err, sizeof err);
    if (e != BW_OK)
        fail_msg("policy did not compile: %s", err);
    return p;
}

/* Expects a load error whose message contains "t.yaml:<line>:" and `why`. */
static void rejects(const char *text, int line, const char *why) {
    struct bw_policy *p = NULL;
    char want[32];
    err[0] = 0;
    bw_err e = bw_policy_parse(text, strlen(text), "t.yaml", &p, err, sizeof err);
    if (e == BW_OK)
        fail_msg("accepted a bad policy:\n%s", text);
    assert_null(p);
    snprintf(want, sizeof want, "t.yaml:%d:", line);
    if (!strstr(err, want) || !strstr(err, why))
        fail_msg("error '%s' lacks '%s' / '%s'", err, want, why);
}

static struct bw_policy_input base(void) {
    struct bw_policy_input in = {"acme", "bot",      "agent", "chat", "gpt-4o-mini",
                                 100,    0.01,       NULL,    0,      NULL,
                                 0,      1700000000, NULL,    NULL,   NULL};
    return in;
}

static void check(const struct bw_policy *p, const struct bw_policy_input *in,
                  enum bw_policy_effect eff, const char *reason, const char *rule) {
    struct bw_policy_decision d;
    BW_IGNORE(bw_policy_eval(p, in, &d)); /* the test checks the decision (a deny on failure) */
    if (d.effect != eff || strcmp(d.reason, reason) != 0 || strcmp(d.rule, rule) != 0)
        fail_msg("got %s/%s/%s, want %s/%s/%s", bw_policy_effect_name(d.effect), d.reason, d.rule,
                 bw_policy_effect_name(eff), reason, rule);
}

static void first_match_and_default_deny(void **state) {
    (void)state;
    const char *text = "version: 1\n"
                       "rules:\n"
                       "  - id: deny-big\n"
                       "    match: {org: acme, model: 'gpt-4o'}\n"
                       "    effect: deny\n"
                       "    reason: MODEL_NOT_ALLOWED\n"
                       "  - id: allow-acme\n"
                       "    match: {org: acme, model: 'gpt-4o*'}\n"
                       "    effect: allow\n";
    struct bw_policy *p = compile(text);
    struct bw_policy_input in = base();
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "allow-acme");
    in.model = "gpt-4o";
    check(p, &in, BW_POLICY_DENY, "MODEL_NOT_ALLOWED", "deny-big");
    in.org = "other";
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    in.org = NULL; /* a missing field matches no constraint on it */
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_eval(p, &in, &d), BW_OK);
    uint8_t h[32];
    bw_sha256(text, strlen(text), h);
    assert_memory_equal(d.policy_sha256, h, 32);
    assert_memory_equal(bw_policy_sha256(p), h, 32);
    assert_int_equal(d.http_status, 403);
    assert_int_equal(bw_policy_rule_count(p), 2);
    /* reference counting: the extra holder keeps it alive */
    struct bw_policy *held = bw_policy_ref(p);
    bw_policy_unref(p);
    check(held, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    bw_policy_unref(held);
    bw_policy_unref(NULL);
}

static void global_layer_cannot_be_loosened(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\n"
                                  "global:\n"
                                  "  - id: g-no-o1\n"
                                  "    match: {model: 'o1*'}\n"
                                  "    effect: deny\n"
                                  "  - id: g-review-big\n"
                                  "    match: {max_tokens: {min: 10000}}\n"
                                  "    effect: require_approval\n"
                                  "    approval: {reviewer_role: security, quorum: 2, "
                                  "expires_in_s: 600}\n"
                                  "  - id: g-ok-chat\n"
                                  "    match: {route: chat}\n"
                                  "    effect: allow\n"
                                  "rules:\n"
                                  "  - id: org-all\n"
                                  "    match: {org: acme}\n"
                                  "    effect: allow\n");
    struct bw_policy_input in = base();
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "org-all");
    in.model = "o1-preview";
    check(p, &in, BW_POLICY_DENY, BW_R_POLICY_DENIED, "g-no-o1");
    in.model = "gpt-4o";
    in.max_tokens = 20000;
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_eval(p, &in, &d), BW_OK);
    assert_int_equal(d.effect, BW_POLICY_REQUIRE_APPROVAL);
    assert_string_equal(d.reason, BW_R_APPROVAL_REQUIRED);
    assert_string_equal(d.reviewer_role, "security");
    assert_int_equal(d.quorum, 2);
    assert_int_equal(d.expiry_s, 600);
    assert_string_equal(d.layer, "global");
    in.max_tokens = -1; /* absent is unbounded: above any min */
    check(p, &in, BW_POLICY_REQUIRE_APPROVAL, BW_R_APPROVAL_REQUIRED, "g-review-big");
    /* a global allow is no objection, not a grant: the org layer still decides */
    in.max_tokens = 10;
    in.org = "stranger";
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    bw_policy_unref(p);
}

static void scalar_matchers(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\n"
                                  "rules:\n"
                                  "  - id: admins-any\n"
                                  "    match: {role: admin}\n"
                                  "    effect: allow\n"
                                  "  - id: embed\n"
                                  "    match: {route: [embeddings, models], agent: 'etl-*'}\n"
                                  "    effect: allow\n"
                                  "  - id: cheap\n"
                                  "    match: {cost: {max: 0.05}, max_tokens: {max: 512}}\n"
                                  "    effect: allow\n"
                                  "  - id: office\n"
                                  "    match:\n"
                                  "      time: {days: [mon, tue, wed, thu, fri], hours: "
                                  "'09:00-17:00', tz: '+02:00'}\n"
                                  "    effect: allow\n");
    struct bw_policy_input in = base();
    in.role = "admin";
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "admins-any");
    in.role = "agent";
    in.route = "embeddings";
    in.agent = "etl-7";
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "embed");
    in.route = "chat";
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "cheap");
    in.estimated_cost = -1; /* unknown cost is unbounded: no max holds */
    /* 1700000000 = Tue 2023-11-14 22:13 UTC = 00:13 Wed at +02:00: outside office hours */
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    in.now_s = 1700000000 - 12 * 3600; /* Tue 12:13 +02:00 */
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "office");
    in.now_s = 1700000000 + 4 * 86400 - 12 * 3600; /* Saturday */
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    bw_policy_unref(p);
}

static void time_window_wraps_midnight(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\nrules:\n"
                                  "  - id: night\n"
                                  "    match: {time: {hours: '22:00-06:00'}}\n"
                                  "    effect: deny\n"
                                  "    reason: OUTSIDE_TIME_WINDOW\n"
                                  "  - id: day\n    effect: allow\n");
    struct bw_policy_input in = base();
    in.now_s = 1700000000; /* 22:13 UTC */
    check(p, &in, BW_POLICY_DENY, "OUTSIDE_TIME_WINDOW", "night");
    in.now_s = 1700000000 + 8 * 3600; /* 06:13 */
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "day");
    in.now_s = -100; /* before 1970 still computes a sane local time */
    check(p, &in, BW_POLICY_DENY, "OUTSIDE_TIME_WINDOW", "night");
    bw_policy_unref(p);
}

static void content_patterns_and_invalid_utf8(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\nrules:\n"
                                  "  - id: secrets\n"
                                  "    match: {content: ['sk-[A-Za-z0-9]{20,}', '(?i)password']}\n"
                                  "    effect: deny\n"
                                  "    reason: CONTENT_BLOCKED\n"
                                  "  - id: all\n    effect: allow\n");
    struct bw_policy_input in = base();
    struct bw_slice texts[2] = {bw_slice_of("hello", 5), bw_slice_of("my PassWord is", 14)};
    in.texts = texts;
    in.n_texts = 1;
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "all");
    in.n_texts = 2;
    check(p, &in, BW_POLICY_DENY, "CONTENT_BLOCKED", "secrets");
    /* invalid UTF-8 around a match: still found, nothing read out of bounds */
    static const char bad[] = "\xff\xfe\xc3 password \xe2\x82";
    texts[1] = bw_slice_of(bad, sizeof bad - 1);
    check(p, &in, BW_POLICY_DENY, "CONTENT_BLOCKED", "secrets");
    static const char bad2[] = "\xff\xfe\xc3 \xe2\x82";
    texts[1] = bw_slice_of(bad2, sizeof bad2 - 1);
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "all");
    bw_policy_unref(p);
}

static void match_limit_fails_closed(void **state) {
    (void)state;
    /* The load-time probe uses the characters the pattern mentions; this one only explodes on
     * e-acute, which it names as \x{e9}: it loads, and must be stopped by the match limit. */
    struct bw_policy *p = compile("version: 1\nrules:\n"
                                  "  - id: slow\n"
                                  "    match: {content: '(\\x{e9}+)+$'}\n"
                                  "    effect: deny\n"
                                  "  - id: all\n    effect: allow\n");
    char text[200];
    size_t n = 0;
    for (int i = 0; i < 60; i++) {
        text[n++] = (char)0xc3;
        text[n++] = (char)0xa9;
    }
    text[n++] = '!';
    struct bw_policy_input in = base();
    struct bw_slice s = bw_slice_of(text, n);
    in.texts = &s;
    in.n_texts = 1;
    check(p, &in, BW_POLICY_DENY, BW_R_POLICY_MATCH_LIMIT, "");
    s = bw_slice_of("short", 5);
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "all");
    bw_policy_unref(p);
}

static const char tools_policy[] = "version: 1\n"
                                   "rules:\n"
                                   "  - id: no-shell\n"
                                   "    match: {tool: 'shell*'}\n"
                                   "    effect: deny\n"
                                   "  - id: strip-web\n"
                                   "    match: {tool: web_search}\n"
                                   "    effect: strip\n"
                                   "  - id: read-data\n"
                                   "    match:\n"
                                   "      tool: read_file\n"
                                   "      args:\n"
                                   "        - {path: $.path, prefix: /data/}\n"
                                   "        - {path: $.opts.limit, min: 1, max: 100}\n"
                                   "        - {path: $.mode, enum: [r, rb]}\n"
                                   "        - {path: '$.tags[0]', regex: '^[a-z]+$'}\n"
                                   "        - {path: $.follow, equals: false}\n"
                                   "    effect: allow\n"
                                   "  - id: read-deny\n"
                                   "    match: {tool: read_file}\n"
                                   "    effect: deny\n"
                                   "  - id: chat\n"
                                   "    match: {route: chat}\n"
                                   "    effect: allow\n";

static void declared_tools(void **state) {
    (void)state;
    struct bw_policy *p = compile(tools_policy);
    struct bw_policy_input in = base();
    struct bw_policy_tool tools[3] = {{"calc", NULL}, {"web_search", NULL}, {"read_file", NULL}};
    in.tools = tools;
    in.n_tools = 2;
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_eval(p, &in, &d), BW_OK);
    assert_int_equal(d.effect, BW_POLICY_ALLOW);
    assert_false(bw_policy_stripped(&d, 0));
    assert_true(bw_policy_stripped(&d, 1));
    /* a declared tool has no arguments: the constrained allow matches it (each call is
     * decided again with its arguments) */
    in.n_tools = 3;
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "chat");
    tools[0].name = "shell_exec";
    check(p, &in, BW_POLICY_DENY, BW_R_TOOL_DENIED, "no-shell");
    struct bw_policy_decision per[3];
    assert_int_equal(bw_policy_decide_tools(p, &in, tools, 3, per), BW_OK);
    assert_int_equal(per[0].effect, BW_POLICY_DENY);
    assert_int_equal(per[1].effect, BW_POLICY_STRIP);
    assert_string_equal(per[1].rule, "strip-web");
    assert_int_equal(per[2].effect, BW_POLICY_ALLOW);
    assert_string_equal(per[2].rule, "read-data");
    in.n_tools = BW_POLICY_MAX_TOOLS + 1;
    assert_int_equal(bw_policy_eval(p, &in, &d), BW_E_INVALID);
    assert_int_equal(d.effect, BW_POLICY_DENY);
    bw_policy_unref(p);
}

/* An allow matching one tool must not carry a request whose other tool is denied. */
static void each_tool_is_decided_alone(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\nrules:\n"
                                  "  - id: ok-read\n    match: {tool: read_file}\n"
                                  "    effect: allow\n"
                                  "  - id: no-calc\n    match: {tool: calc}\n"
                                  "    effect: deny\n    reason: NO_CALCULATORS\n"
                                  "  - id: chat\n    match: {route: chat}\n    effect: allow\n");
    struct bw_policy_input in = base();
    struct bw_policy_tool tools[2] = {{"read_file", NULL}, {"calc", NULL}};
    in.tools = tools;
    in.n_tools = 2;
    check(p, &in, BW_POLICY_DENY, "NO_CALCULATORS", "no-calc");
    in.n_tools = 1;
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "chat");
    bw_policy_unref(p);
    rejects("version: 1\nrules:\n  - id: a\n    effect: deny\n    reason: RATE_LIMITED\n", 5,
            "not a policy denial");
    /* mcp-oauth2: a policy cannot pass its refusal off as the MCP limiter's or OAuth's */
    rejects("version: 1\nrules:\n  - id: a\n    effect: deny\n    reason: MCP_RATE_LIMITED\n", 5,
            "not a policy denial");
    rejects("version: 1\nrules:\n  - id: a\n    effect: deny\n    reason: MCP_OAUTH_ORG_UNKNOWN\n",
            5, "not a policy denial");
}

static enum bw_policy_effect call(const struct bw_policy *p, const char *name,
                                  const char *args_json, char *rule) {
    json_t *args = NULL;
    assert_int_equal(bw_policy_parse_args(args_json, strlen(args_json), &args), BW_OK);
    struct bw_policy_tool t = {name, args};
    struct bw_policy_input in = base();
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_decide_tools(p, &in, &t, 1, &d), BW_OK);
    json_decref(args);
    snprintf(rule, BW_POLICY_ID_SIZE, "%s", d.rule);
    return d.effect;
}

static void tool_call_arguments(void **state) {
    (void)state;
    struct bw_policy *p = compile(tools_policy);
    char rule[BW_POLICY_ID_SIZE];
    const char *good = "{\"path\":\"/data/x\",\"opts\":{\"limit\":10},\"mode\":\"r\","
                       "\"tags\":[\"ab\"],\"follow\":false}";
    assert_int_equal(call(p, "read_file", good, rule), BW_POLICY_ALLOW);
    assert_string_equal(rule, "read-data");
    const char *bad[] = {
        "{\"path\":\"/etc/passwd\",\"opts\":{\"limit\":10},\"mode\":\"r\",\"tags\":[\"ab\"],"
        "\"follow\":false}",
        "{\"path\":\"/data/x\",\"opts\":{\"limit\":1000},\"mode\":\"r\",\"tags\":[\"ab\"],"
        "\"follow\":false}",
        "{\"path\":\"/data/x\",\"opts\":{\"limit\":10},\"mode\":\"w\",\"tags\":[\"ab\"],"
        "\"follow\":false}",
        "{\"path\":\"/data/x\",\"opts\":{\"limit\":10},\"mode\":\"r\",\"tags\":[\"A1\"],"
        "\"follow\":false}",
        "{\"path\":\"/data/x\",\"opts\":{\"limit\":10},\"mode\":\"r\",\"tags\":[\"ab\"],"
        "\"follow\":true}",
        "{\"path\":\"/data/x\",\"opts\":{\"limit\":\"10\"},\"mode\":\"r\",\"tags\":[\"ab\"],"
        "\"follow\":false}",
        "{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(call(p, "read_file", bad[i], rule), BW_POLICY_DENY);
        assert_string_equal(rule, "read-deny");
    }
    json_t *args = NULL;
    assert_int_equal(bw_policy_parse_args("{\"a\":1,\"a\":2}", 13, &args), BW_E_INVALID);
    assert_int_equal(bw_policy_parse_args("[1]", 3, &args), BW_E_INVALID);
    assert_int_equal(bw_policy_parse_args("{\"a\":", 5, &args), BW_E_INVALID);
    char *huge = malloc(BW_POLICY_MAX_ARGS_BYTES + 16);
    memset(huge, ' ', BW_POLICY_MAX_ARGS_BYTES + 16);
    assert_int_equal(bw_policy_parse_args(huge, BW_POLICY_MAX_ARGS_BYTES + 16, &args),
                     BW_E_TOO_LARGE);
    free(huge);
    char deep[300];
    memset(deep, '[', 150);
    memcpy(deep, "{\"a\":", 5);
    memset(deep + 150, ']', 145);
    memcpy(deep + 295, "}", 2);
    assert_int_not_equal(bw_policy_parse_args(deep, strlen(deep), &args), BW_OK);
    bw_policy_unref(p);
}

static void strict_loading(void **state) {
    (void)state;
    rejects("version: 1\nrules: []\nbogus: 1\n", 3, "unknown key 'bogus'");
    rejects("rules: []\n", 1, "version");
    rejects("version: 2\nrules: []\n", 1, "version");
    rejects("version: 1\n", 1, "'rules' is required");
    rejects("version: 1\nrules: {}\n", 2, "expected a list");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {orgg: x}\n", 5,
            "unknown key 'orgg'");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n  - id: a\n    effect: deny\n", 5,
            "duplicate rule id 'a'");
    rejects("version: 1\nglobal:\n  - id: a\n    effect: deny\nrules:\n  - id: a\n"
            "    effect: allow\n",
            6, "duplicate rule id");
    rejects("version: 1\nrules:\n  - id: a\n    effect: maybe\n", 4, "effect");
    rejects("version: 1\nrules:\n  - effect: allow\n", 3, "'id' is required");
    rejects("version: 1\nrules:\n  - id: a\n", 3, "'effect' is required");
    rejects("version: 1\nrules:\n  - id: 'bad id'\n    effect: allow\n", 3, "id:");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {model: 'gpt[4]'}\n", 5,
            "reserved");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {model: ''}\n", 5,
            "empty pattern");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {route: chatt}\n", 5,
            "unknown route");
    rejects("version: 1\nrules:\n  - id: a\n    effect: deny\n    match: {content: '(ab'}\n", 5,
            "bad regex");
    rejects("version: 1\nrules:\n  - id: a\n    effect: deny\n    match: {content: '(a+)+$'}\n", 5,
            "catastrophic");
    rejects("version: 1\nrules:\n  - id: a\n    effect: deny\n    match: {content: "
            "'(\\w+\\s?)+$'}\n",
            5, "catastrophic");
    rejects("version: 1\nrules:\n  - id: a\n    effect: deny\n    reason: lower\n", 5, "reason");
    rejects("version: 1\nrules:\n  - id: a\n    effect: deny\n    reason: UNAUTHENTICATED\n", 5,
            "not a policy denial");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    reason: POLICY_DENIED\n", 3,
            "only for effect deny");
    rejects("version: 1\nrules:\n  - id: a\n    effect: require_approval\n", 3, "approval");
    rejects("version: 1\nrules:\n  - id: a\n    effect: strip\n", 3, "needs a 'tool'");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {args: [{path: $.a, "
            "equals: 1}]}\n",
            3, "needs a 'tool'");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match:\n      tool: t\n"
            "      args: [{path: 'a.b', equals: 1}]\n",
            7, "starts with '$'");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match:\n      tool: t\n"
            "      args: [{path: '$.a', equals: 1, prefix: x}]\n",
            7, "one of");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {max_tokens: "
            "{min: 10, max: 5}}\n",
            5, "min is greater");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {max_tokens: lots}\n", 5,
            "expected a mapping");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {time: {hours: "
            "'9-17'}}\n",
            5, "HH:MM");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {time: {days: "
            "[funday]}}\n",
            5, "time.days");
    rejects("version: 1\nversion: 1\nrules: []\n", 2, "duplicate key");
    rejects("version: 1\nrules: [\n", 3, "");
    rejects("", 1, "empty policy");
    rejects("version: 1\nlimits: {regex_match_limit: 5}\nrules: []\n", 2, "regex_match_limit");
    /* YAML aliases are refused outright (the billion-laughs amplifier) */
    rejects("version: 1\nx: &a {org: acme}\nrules:\n  - id: a\n    effect: allow\n"
            "    match: *a\n",
            2, "");
    rejects("version: 1\nrules:\n  - id: a\n    effect: allow\n    match: &m {org: acme}\n"
            "  - id: b\n    effect: allow\n    match: *m\n",
            5, "aliases");
    struct bw_policy *p = NULL;
    char *big = malloc(BW_POLICY_MAX_BYTES + 2);
    memset(big, '#', BW_POLICY_MAX_BYTES + 1);
    assert_int_equal(bw_policy_parse(big, BW_POLICY_MAX_BYTES + 1, "t.yaml", &p, err, sizeof err),
                     BW_E_TOO_LARGE);
    free(big);
    assert_null(p);
    assert_int_equal(bw_policy_load("/nonexistent/p.yaml", &p, err, sizeof err), BW_E_IO);
}

static void empty_rules_deny_everything(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\nrules: []\n");
    struct bw_policy_input in = base();
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    bw_policy_unref(p);
    struct bw_policy_decision d;
    assert_int_equal(bw_policy_eval(NULL, &in, &d), BW_E_UNAVAILABLE);
    assert_int_equal(d.effect, BW_POLICY_DENY);
    assert_string_equal(d.reason, BW_R_POLICY_UNAVAILABLE);
}

static void request_view(void **state) {
    (void)state;
    const char *body = "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"max_completion_tokens\":70,"
                       "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"yo\"},"
                       "{\"type\":\"image_url\",\"image_url\":{}}]},"
                       "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\","
                       "\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]}]}";
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    struct bw_policy_request_view v;
    assert_int_equal(bw_policy_request_view_init(&v, j), BW_OK);
    assert_string_equal(v.model, "gpt-4o");
    assert_int_equal(v.max_tokens, 70);
    assert_int_equal(v.n_tools, 1);
    assert_string_equal(v.tools[0].name, "a");
    assert_int_equal(v.n_texts, 6); /* "a", "hi", "yo", "c", "a", "{}": test_request_view.c */
    bw_policy_request_view_cleanup(&v);
    json_decref(j);
    const char *bad[] = {"{\"model\":1}",        "{\"max_tokens\":-1}",
                         "{\"max_tokens\":1.5}", "{\"tools\":[{\"type\":\"function\"}]}",
                         "{\"messages\":{}}",    "{\"messages\":[{\"content\":5}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = json_loads(bad[i], 0, NULL);
        assert_int_equal(bw_policy_request_view_init(&v, j), BW_E_INVALID);
        bw_policy_request_view_cleanup(&v);
        json_decref(j);
    }
    json_t *tools = json_array();
    for (int i = 0; i <= BW_POLICY_MAX_TOOLS; i++) { /* 129 different names */
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        json_array_append_new(
            tools, json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", name));
    }
    j = json_pack("{s:o}", "tools", tools);
    assert_int_equal(bw_policy_request_view_init(&v, j), BW_E_TOO_LARGE);
    bw_policy_request_view_cleanup(&v);
    json_decref(j);
}

static json_t *response_with(const char *calls) {
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{\"role\":"
             "\"assistant\",\"content\":null,\"tool_calls\":[%s]}}]}",
             calls);
    json_t *j = json_loads(buf, 0, NULL);
    assert_non_null(j);
    return j;
}

static void response_tool_calls(void **state) {
    (void)state;
    struct bw_policy *p = compile(tools_policy);
    struct bw_policy_input in = base();
    json_t *r = response_with(
        "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"calc\",\"arguments\":"
        "\"{\\\"x\\\":1}\"}},"
        "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"shell\",\"arguments\":"
        "\"{\\\"cmd\\\":\\\"rm -rf /\\\"}\"}},"
        "{\"id\":\"c3\",\"type\":\"function\",\"function\":{\"name\":\"calc\",\"arguments\":"
        "\"{not json\"}}");
    struct bw_policy_call_verdict *v = NULL;
    size_t n = 0;
    assert_int_equal(bw_policy_enforce_response(p, &in, r, &v, &n), BW_OK);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].decision.effect, BW_POLICY_ALLOW);
    assert_int_equal(v[1].decision.effect, BW_POLICY_DENY);
    assert_string_equal(v[1].decision.rule, "no-shell");
    assert_string_equal(v[2].decision.reason, BW_R_TOOL_ARGS_INVALID);
    free(v);
    char *out = json_dumps(r, JSON_COMPACT);
    assert_null(strstr(out, "shell"));
    assert_null(strstr(out, "rm -rf"));
    assert_null(strstr(out, "c3"));
    assert_non_null(strstr(out, "c1"));
    free(out);
    json_decref(r);
    /* every call refused: no tool_calls left, finish_reason no longer claims them */
    r = response_with("{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"shell\","
                      "\"arguments\":\"{}\"}}");
    assert_int_equal(bw_policy_enforce_response(p, &in, r, &v, &n), BW_OK);
    free(v);
    json_t *ch = json_array_get(json_object_get(r, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "stop");
    assert_null(json_object_get(json_object_get(ch, "message"), "tool_calls"));
    json_decref(r);
    /* duplicate ids: the response cannot be governed call by call */
    r = response_with("{\"id\":\"c1\",\"function\":{\"name\":\"calc\",\"arguments\":\"{}\"}},"
                      "{\"id\":\"c1\",\"function\":{\"name\":\"calc\",\"arguments\":\"{}\"}}");
    assert_int_equal(bw_policy_enforce_response(p, &in, r, &v, &n), BW_E_INVALID);
    json_decref(r);
    r = response_with("{\"function\":{\"name\":\"calc\"}}");
    assert_int_equal(bw_policy_enforce_response(p, &in, r, &v, &n), BW_E_INVALID);
    json_decref(r);
    /* huge arguments: refused by size, never parsed */
    size_t big = BW_POLICY_MAX_ARGS_BYTES + 10;
    char *s = malloc(big + 1);
    memset(s, 'a', big);
    s[big] = 0;
    r = response_with("{\"id\":\"c1\",\"function\":{\"name\":\"calc\",\"arguments\":\"\"}}");
    json_t *fn = json_object_get(
        json_array_get(
            json_object_get(
                json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message"),
                "tool_calls"),
            0),
        "function");
    json_object_set_new(fn, "arguments", json_string(s));
    free(s);
    assert_int_equal(bw_policy_enforce_response(p, &in, r, &v, &n), BW_OK);
    assert_string_equal(v[0].decision.reason, BW_R_TOOL_ARGS_TOO_LARGE);
    free(v);
    json_decref(r);
    bw_policy_unref(p);
}

static void thousand_rules(void **state) {
    (void)state;
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "version: 1\nrules:\n");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "  - id: r%d\n    match: {org: org%d, model: 'gpt-*'}\n"
                                "    effect: allow\n",
                                i, i);
    struct bw_policy *p = compile(text);
    free(text);
    struct bw_policy_input in = base();
    in.org = "org999";
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "r999");
    in.org = "org1000";
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    bw_policy_unref(p);
}

/* MCP resources/read and prompts/get (docs/POLICY.md "MCP"): `resource` and `prompt` are
 * case-sensitive globs over the URI / prompt name; a rule with one never matches a request
 * without that field (a chat, a tools/call); a tool rule never matches a resource read. */
static void mcp_resource_prompt(void **state) {
    (void)state;
    const char *text =
        "version: 1\n"
        "rules:\n"
        "  - {id: no-secret, match: {resource: 'file:///secret/*'}, effect: deny}\n"
        "  - {id: docs, match: {route: mcp.resources_read,\n"
        "       resource: ['demo://resource/static/*', 'demo://x']}, effect: allow}\n"
        "  - {id: no-env-prompt, match: {prompt: env-*}, effect: deny,\n"
        "     reason: TOOL_DENIED}\n"
        "  - {id: prompts, match: {route: mcp.prompts_get, prompt: '*'},\n"
        "     effect: allow}\n"
        "  - {id: tools, match: {tool: '*'}, effect: allow}\n";
    struct bw_policy *p = compile(text);
    struct bw_policy_input in = base();
    in.model = NULL;
    in.route = "mcp.resources_read";
    in.resource = "demo://resource/static/document/a.md";
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "docs");
    in.resource = "demo://x";
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "docs");
    in.resource = "DEMO://resource/static/a"; /* case-sensitive, unlike tool names */
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    in.resource = "file:///secret/key";
    check(p, &in, BW_POLICY_DENY, BW_R_POLICY_DENIED, "no-secret");
    in.resource = NULL; /* no resource: the resource rules do not match, nor the tool rule */
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    in.route = "mcp.prompts_get";
    in.prompt = "args-prompt";
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "prompts");
    in.prompt = "env-dump";
    check(p, &in, BW_POLICY_DENY, BW_R_TOOL_DENIED, "no-env-prompt");
    in.route = "chat"; /* a prompt name on another route: only the route-less deny matches */
    in.prompt = "args-prompt";
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    bw_policy_unref(p);
    rejects("version: 1\nrules:\n  - {id: a, match: {resource: 'x[1]'}, effect: allow}\n", 3,
            "reserved");
    rejects("version: 1\nrules:\n  - {id: a, match: {prompt: []}, effect: allow}\n", 3,
            "non-empty list");
}

/* mcp.sampling (a server's sampling/createMessage, docs/POLICY.md "MCP") is a route name rules
 * may match, with the model hint and the messages' texts. */
static void mcp_sampling_route(void **state) {
    (void)state;
    struct bw_policy *p = compile("version: 1\nrules:\n"
                                  "  - id: no-secrets\n"
                                  "    match: {route: mcp.sampling, content: 'secret'}\n"
                                  "    effect: deny\n"
                                  "  - id: small-models\n"
                                  "    match: {route: mcp.sampling, model: 'small-*'}\n"
                                  "    effect: allow\n");
    struct bw_policy_input in = base();
    in.route = "mcp.sampling";
    in.model = "small-1";
    check(p, &in, BW_POLICY_ALLOW, "ALLOWED", "small-models");
    struct bw_slice t = bw_slice_of("tell me the secret", 18);
    in.texts = &t;
    in.n_texts = 1;
    check(p, &in, BW_POLICY_DENY, BW_R_POLICY_DENIED, "no-secrets");
    in.texts = NULL;
    in.n_texts = 0;
    in.model = NULL; /* no hint: a model matcher does not match */
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    in.route = "chat"; /* the rules are for sampling only */
    in.model = "small-1";
    check(p, &in, BW_POLICY_DENY, BW_R_NO_MATCHING_RULE, "");
    bw_policy_unref(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mcp_sampling_route),
        cmocka_unit_test(first_match_and_default_deny),
        cmocka_unit_test(global_layer_cannot_be_loosened),
        cmocka_unit_test(scalar_matchers),
        cmocka_unit_test(time_window_wraps_midnight),
        cmocka_unit_test(content_patterns_and_invalid_utf8),
        cmocka_unit_test(match_limit_fails_closed),
        cmocka_unit_test(declared_tools),
        cmocka_unit_test(each_tool_is_decided_alone),
        cmocka_unit_test(tool_call_arguments),
        cmocka_unit_test(strict_loading),
        cmocka_unit_test(empty_rules_deny_everything),
        cmocka_unit_test(request_view),
        cmocka_unit_test(response_tool_calls),
        cmocka_unit_test(thousand_rules),
        cmocka_unit_test(mcp_resource_prompt),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
