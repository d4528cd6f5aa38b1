/* Unit tests: util/yaml_strict, the one strict YAML reader behind the config and the policy.
 * Each hostile document is given to BOTH users (bw_config_parse and bw_policy_parse), which must
 * refuse it the same way; then the reader's own bounds and typed accessors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h> /* after the headers it needs */

#include "config/config.h"
#include "policy/engine.h"
#include "util/yaml_strict.h"

static char err[512];

/* The config's verdict on text: BW_OK or the error (message in err). */
static bw_err config_says(const char *text, size_t len) {
    struct bw_config c;
    err[0] = 0;
    bw_err e = bw_config_parse(text, len, "t.yaml", &c, err, sizeof err);
    if (e == BW_OK)
        bw_config_cleanup(&c);
    return e;
}

static bw_err policy_says(const char *text, size_t len) {
    struct bw_policy *p = NULL;
    err[0] = 0;
    bw_err e = bw_policy_parse(text, len, "t.yaml", &p, err, sizeof err);
    if (p)
        bw_policy_unref(p);
    return e;
}

static bw_err cfg(const char *text) {
    return config_says(text, strlen(text));
}

static bw_err pol(const char *text) {
    return policy_says(text, strlen(text));
}

/* Both users refuse text with code, naming `where` (e.g. "t.yaml:3:9:") and `why`. */
static void both_refuse_n(const char *text, size_t len, bw_err code, const char *where,
                          const char *why) {
    bw_err (*users[])(const char *, size_t) = {config_says, policy_says};
    static const char *const names[] = {"config", "policy"};
    for (size_t i = 0; i < 2; i++) {
        bw_err e = users[i](text, len);
        if (e != code || !strstr(err, where) || !strstr(err, why))
            fail_msg("%s: got %d '%s', want %d '%s' '%s' for:\n%.200s", names[i], (int)e, err,
                     (int)code, where, why, text);
    }
}

static void both_refuse(const char *text, bw_err code, const char *where, const char *why) {
    both_refuse_n(text, strlen(text), code, where, why);
}

/* The classic billion laughs: nine levels of nine aliases, 10^9 strings once expanded. */
static void alias_bomb(void **state) {
    (void)state;
    char doc[2048];
    size_t off = (size_t)snprintf(doc, sizeof doc, "a0: &a0 [lol]\n");
    for (int i = 1; i <= 9; i++) {
        off += (size_t)snprintf(doc + off, sizeof doc - off, "a%d: &a%d [", i, i);
        for (int j = 0; j < 9; j++)
            off += (size_t)snprintf(doc + off, sizeof doc - off, "%s*a%d", j ? ", " : "", i - 1);
        off += (size_t)snprintf(doc + off, sizeof doc - off, "]\n");
    }
    clock_t t0 = clock();
    both_refuse(doc, BW_E_INVALID, "t.yaml:1:5:", "aliases and anchors");
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0); /* refused, never expanded */
    /* an alias alone (its anchor refused first, wherever it is) and an unused anchor */
    both_refuse("x: &m {org: acme}\ny: *m\n", BW_E_INVALID, "t.yaml:1:4:", "aliases");
    both_refuse("version: 1\nrules: []\nx: &unused 1\n", BW_E_INVALID, "t.yaml:3:4:", "anchors");
    /* merge keys need an alias to work, and are refused as keys too */
    both_refuse("base: &b {a: 1}\nx:\n  <<: *b\n", BW_E_INVALID, "t.yaml:1:7:", "aliases");
    both_refuse("x:\n  <<: {a: 1}\n", BW_E_INVALID, "t.yaml:2:3:", "merge keys (<<)");
}

static void deep_nesting(void **state) {
    (void)state;
    size_t depth = 100000; /* far past any bound; libyaml's own parser would take it */
    char *doc = malloc(2 * depth + 8);
    assert_non_null(doc);
    memcpy(doc, "x: ", 3);
    memset(doc + 3, '[', depth);
    memset(doc + 3 + depth, ']', depth);
    doc[3 + 2 * depth] = '\n';
    both_refuse_n(doc, 4 + 2 * depth, BW_E_TOO_LARGE, "t.yaml:1:", "nested deeper than 32");
    /* block style, one level per line */
    size_t off = 0;
    for (int i = 0; i < 40; i++)
        off += (size_t)snprintf(doc + off, 2 * depth + 8 - off, "%*sk%d:\n", 2 * i, "", i);
    both_refuse(doc, BW_E_TOO_LARGE, "t.yaml:33:", "nested deeper than 32");
    free(doc);
}

static void duplicate_keys(void **state) {
    (void)state;
    both_refuse("version: 1\nversion: 1\n", BW_E_INVALID, "t.yaml:2:1:", "duplicate key 'version'");
    /* nested, and spelled differently (a quoted and an escaped key are the same key) */
    both_refuse("x:\n  ab: 1\n  \"a\\x62\": 2\n", BW_E_INVALID,
                "t.yaml:3:3:", "duplicate key 'ab'");
    /* many keys: the check is n log n, so 20,000 distinct keys load (then fail on schema) */
    char *doc = malloc(20000 * 12 + 16);
    assert_non_null(doc);
    size_t off = (size_t)sprintf(doc, "x:\n");
    for (int i = 0; i < 20000; i++)
        off += (size_t)sprintf(doc + off, "  k%d: 1\n", i);
    off += (size_t)sprintf(doc + off, "  k7: 2\n");
    both_refuse(doc, BW_E_INVALID, "t.yaml:20002:3:", "duplicate key 'k7'");
    free(doc);
}

static void tags(void **state) {
    (void)state;
    both_refuse("x: !!python/object:os.system [ls]\n", BW_E_INVALID, "t.yaml:1:4:",
                "YAML tags (tag:yaml.org,2002:python/object:os.system) are not allowed");
    both_refuse("version: !!str 1\nrules: []\n", BW_E_INVALID, "t.yaml:1:10:", "YAML tags");
    both_refuse("x: !custom {a: 1}\n", BW_E_INVALID, "t.yaml:1:4:", "YAML tags");
    both_refuse("x: ! 1\n", BW_E_INVALID, "t.yaml:1:4:", "YAML tags");
    both_refuse("%TAG !e! tag:example.com,2000:\n---\nx: 1\n", BW_E_INVALID,
                "t.yaml:", "%TAG directives");
}

static void two_documents(void **state) {
    (void)state;
    both_refuse("version: 1\nrules: []\n---\nversion: 1\nrules: []\n", BW_E_INVALID,
                "t.yaml:3:1:", "more than one YAML document");
    both_refuse("x: 1\n...\n---\ny: 2\n", BW_E_INVALID, "t.yaml:3:1:", "more than one");
    /* one explicit document is fine (then the schema speaks) */
    assert_int_equal(pol("---\nversion: 1\nrules: []\n...\n"), BW_OK);
}

/* A quoted number or boolean is a string in YAML; where an integer or a boolean is wanted,
 * both users refuse it (the config used to take `workers: "2"`, the policy never did). */
static void quoted_scalars(void **state) {
    (void)state;
    assert_int_equal(cfg("listen: 127.0.0.1:0\nworkers: \"2\"\n"), BW_E_INVALID);
    assert_non_null(strstr(err, "t.yaml:2: workers: expected an integer"));
    assert_int_equal(cfg("listen: 127.0.0.1:0\nledger:\n  fsync: 'true'\n"), BW_E_INVALID);
    assert_non_null(strstr(err, "t.yaml:3: ledger.fsync: expected true or false"));
    assert_int_equal(pol("version: \"1\"\nrules: []\n"), BW_E_INVALID);
    assert_non_null(strstr(err, "t.yaml:1: version: expected an integer"));
    assert_int_equal(pol("version: 1\nlimits: {regex_budget_ms: '5'}\nrules: []\n"), BW_E_INVALID);
    assert_non_null(strstr(err, "t.yaml:2: limits.regex_budget_ms: expected an integer"));
    /* the plain spellings load */
    assert_int_equal(cfg("listen: 127.0.0.1:0\nworkers: 2\nledger:\n  fsync: true\n"), BW_OK);
    assert_int_equal(pol("version: 1\nrules: []\n"), BW_OK);
}

static void encoding_and_bytes(void **state) {
    (void)state;
    both_refuse_n("x: \xff\xfe\n", 6, BW_E_INVALID, "t.yaml:1:", "UTF-8");
    /* UTF-16 behind a byte-order mark: libyaml would decode it; we read UTF-8 only */
    static const char utf16[] = "\xff\xfex\0:\0 \0"
                                "1\0\n\0";
    both_refuse_n(utf16, sizeof utf16 - 1, BW_E_INVALID, "t.yaml:1:", "UTF-8");
    /* a UTF-8 byte-order mark is fine (some editors write one) */
    assert_int_equal(pol("\xef\xbb\xbfversion: 1\nrules: []\n"), BW_OK);
    assert_int_equal(cfg("\xef\xbb\xbflisten: 127.0.0.1:0\n"), BW_OK);
    both_refuse("x: \"a\\0b\"\n", BW_E_INVALID, "t.yaml:1:4:", "NUL");
    both_refuse("x: \"\\ud800\"\n", BW_E_INVALID, "t.yaml:1:", "Unicode");
    both_refuse("? [a, b]\n: 1\n", BW_E_INVALID, "t.yaml:1:3:", "keys must be strings");
    both_refuse("x: [1, 2\n", BW_E_INVALID, "t.yaml:", "");
}

static void sizes(void **state) {
    (void)state;
    char *big = malloc((4u << 20) + 2);
    assert_non_null(big);
    memset(big, '#', (4u << 20) + 1);
    assert_int_equal(config_says(big, (1u << 20) + 1), BW_E_TOO_LARGE);
    assert_non_null(strstr(err, "t.yaml:1:1: larger than 1048576 bytes"));
    assert_int_equal(policy_says(big, (4u << 20) + 1), BW_E_TOO_LARGE);
    assert_non_null(strstr(err, "t.yaml:1:1: larger than 4194304 bytes"));
    free(big);
    /* node count: counted while scanning, before any tree exists */
    struct bw_yaml y;
    const struct bw_yaml_limits lim = {1024, 8, 5};
    assert_int_equal(bw_yaml_load(&y, "a: [1, 2]\n", 10, "t.yaml", &lim, err, sizeof err), BW_OK);
    bw_yaml_cleanup(&y);
    assert_int_equal(bw_yaml_load(&y, "a: [1, 2, 3]\n", 13, "t.yaml", &lim, err, sizeof err),
                     BW_E_TOO_LARGE);
    assert_non_null(strstr(err, "t.yaml:1:11: more than 5 YAML nodes"));
    bw_yaml_cleanup(&y);
    both_refuse("", BW_E_INVALID, "t.yaml", "empty");
}

/* Documents that are otherwise valid configs or policies, so nothing but the reader refuses
 * them: before util/yaml_strict the config loaded all six and the policy all three. */
static void valid_but_hostile(void **state) {
    (void)state;
    static const char *const configs[] = {
        "listen: &l 127.0.0.1:0\norgs:\n  a: {allowed_models: &m [x]}\n  b: {allowed_models: *m}\n",
        "listen: !!python/object:os.system 127.0.0.1:0\n",
        "listen: 127.0.0.1:0\n---\nlisten: 0.0.0.0:1\n",
        "listen: 127.0.0.1:0\nworkers: \"2\"\n",
        "listen: 127.0.0.1:0\norgs:\n  a: {allowed_models: [~]}\n", /* the model "~" */
        "listen: 127.0.0.1:0\nupstream:\n  url: mock\n  api_key_env: ~\n",
    };
    static const char *const policies[] = {
        "version: !!python/object 1\nrules: []\n",
        "version: 1\nrules: []\n---\nrules: [{id: a, effect: allow}]\n",
        "version: 1\nrules: &r []\n",
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        if (cfg(configs[i]) != BW_E_INVALID)
            fail_msg("config accepted:\n%s", configs[i]);
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++)
        if (pol(policies[i]) != BW_E_INVALID)
            fail_msg("policy accepted:\n%s", policies[i]);
}

/* The typed accessors, on one document. */
static void accessors(void **state) {
    (void)state;
    static const char doc[] = "i: 42\nneg: -7\nqi: \"42\"\nplus: +5\nhex: 0x10\nfl: 1.5\n"
                              "inf: .inf\nnan: .nan\nhf: 0x1p3\nt: true\nqt: 'true'\nyes: yes\n"
                              "tt: True\nnul: ~\nnul2: null\nempty:\nqnul: \"null\"\ns: hello\n"
                              "big: 99999999999999999999\noct: 0600\nzero: 0\n";
    struct bw_yaml y;
    const struct bw_yaml_limits lim = {4096, 8, 100};
    assert_int_equal(bw_yaml_load(&y, doc, sizeof doc - 1, "a.yaml", &lim, err, sizeof err), BW_OK);
    const yaml_node_t *root = bw_yaml_root(&y);
    assert_non_null(root);
    const yaml_node_t *v[32];
    size_t n = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++)
        v[n++] = bw_yaml_value(&y, p);
    long long i;
    double d;
    int b;
    const char *s;
    assert_int_equal(bw_yaml_int(&y, v[0], "i", 0, 100, &i), BW_OK);
    assert_int_equal(i, 42);
    assert_int_equal(bw_yaml_int(&y, v[1], "neg", -10, 0, &i), BW_OK);
    assert_int_equal(i, -7);
    assert_int_equal(bw_yaml_int(&y, v[0], "i", 0, 10, &i), BW_E_INVALID);
    assert_non_null(strstr(err, "a.yaml:1: i: must be between 0 and 10"));
    for (size_t k = 2; k <= 5; k++) /* quoted, +5, hex, 1.5 */
        assert_int_equal(bw_yaml_int(&y, v[k], "x", -100, 100, &i), BW_E_INVALID);
    assert_int_equal(bw_yaml_int(&y, v[18], "big", 0, 100, &i), BW_E_INVALID);
    assert_int_equal(bw_yaml_int(&y, v[19], "oct", 0, 1000, &i), BW_E_INVALID);
    assert_int_equal(bw_yaml_int(&y, v[20], "zero", 0, 1000, &i), BW_OK);
    assert_int_equal(i, 0);
    assert_int_equal(bw_yaml_num(&y, v[5], "fl", 0, 2, &d), BW_OK);
    assert_true(d == 1.5);
    for (size_t k = 2; k <= 8; k++) /* quoted, +5 is fine as a number, so skip it below */
        if (k != 3 && k != 5)
            assert_int_equal(bw_yaml_num(&y, v[k], "x", -100, 100, &d), BW_E_INVALID);
    assert_int_equal(bw_yaml_bool(&y, v[9], "t", &b), BW_OK);
    assert_int_equal(b, 1);
    for (size_t k = 10; k <= 12; k++) /* 'true', yes, True */
        assert_int_equal(bw_yaml_bool(&y, v[k], "x", &b), BW_E_INVALID);
    for (size_t k = 13; k <= 15; k++) { /* ~, null, nothing: not a string */
        assert_int_equal(bw_yaml_str(&y, v[k], "x", 64, &s), BW_E_INVALID);
        assert_true(bw_yaml_is_null(v[k]));
    }
    assert_int_equal(bw_yaml_str(&y, v[16], "qnul", 64, &s), BW_OK); /* "null" quoted is text */
    assert_string_equal(s, "null");
    assert_int_equal(bw_yaml_str(&y, v[17], "s", 5, &s), BW_OK);
    assert_string_equal(s, "hello");
    assert_int_equal(bw_yaml_str(&y, v[17], "s", 4, &s), BW_E_INVALID);
    assert_non_null(strstr(err, "a.yaml:18: s: longer than 4 bytes"));
    assert_int_equal(bw_yaml_str(&y, root, "root", 64, &s), BW_E_INVALID);
    bw_yaml_cleanup(&y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alias_bomb),         cmocka_unit_test(deep_nesting),
        cmocka_unit_test(duplicate_keys),     cmocka_unit_test(tags),
        cmocka_unit_test(two_documents),      cmocka_unit_test(quoted_scalars),
        cmocka_unit_test(encoding_and_bytes), cmocka_unit_test(sizes),
        cmocka_unit_test(valid_but_hostile),  cmocka_unit_test(accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
