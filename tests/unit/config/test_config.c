/* Unit tests: config/ (strict YAML loading with file:line errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "policy/policy.h"
#include "reason/reasons.h"

static bw_err parse(const char *text, struct bw_config *c, char *err) {
    return bw_config_parse(text, strlen(text), "test.yaml", c, err, 300);
}

static void default_text_loads(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse(bw_config_default_text, &c, err), BW_OK);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.upstream_url, "mock");
    assert_int_equal(c.max_body_bytes, 4u << 20);
    const struct bw_org_config *o = bw_config_org(&c, "default");
    assert_non_null(o);
    assert_int_equal(o->n_allowed_models, 3);
    assert_int_equal(c.ledger_preallocate, 1u << 20);
    assert_int_equal(c.ledger_commit_interval_us, 500);
    bw_config_cleanup(&c);
}

/* The ledger's group-commit and preallocation knobs, with their bounds. */
static void ledger_knobs(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("ledger:\n  commit_interval_us: 0\n  preallocate_bytes: 0\n", &c, err),
                     BW_OK);
    assert_int_equal(c.ledger_commit_interval_us, 0);
    assert_int_equal(c.ledger_preallocate, 0);
    bw_config_cleanup(&c);
    assert_int_equal(parse("ledger:\n  preallocate_bytes: 4194304\n", &c, err), BW_OK);
    assert_int_equal(c.ledger_preallocate, 4u << 20);
    bw_config_cleanup(&c);
    assert_int_equal(parse("ledger:\n  commit_interval_us: 1000001\n", &c, err), BW_E_INVALID);
    assert_non_null(strstr(err, "commit_interval_us"));
    assert_int_equal(parse("ledger:\n  preallocate_bytes: -1\n", &c, err), BW_E_INVALID);
    assert_int_equal(parse("ledger:\n  preallocate_bytes: 2147483648\n", &c, err), BW_E_INVALID);
    assert_non_null(strstr(err, "preallocate_bytes"));
}

static void errors_name_line_and_key(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("listen: 127.0.0.1:80\nbogus: 1\n", &c, err), BW_E_INVALID);
    assert_non_null(strstr(err, "test.yaml:2:"));
    assert_non_null(strstr(err, "bogus"));
    assert_int_equal(parse("limits:\n  max_body_bytes: lots\n", &c, err), BW_E_INVALID);
    assert_non_null(strstr(err, "max_body_bytes"));
    assert_int_equal(parse("limits:\n  max_body_bytes: 10\n", &c, err), BW_E_INVALID);
    assert_int_equal(parse("listen: nope\n", &c, err), BW_E_INVALID);
    assert_int_equal(parse("workers: 1\nworkers: 2\n", &c, err), BW_E_INVALID);
    assert_non_null(strstr(err, "duplicate"));
    assert_int_equal(parse("orgs:\n  a:\n    allowed_models: [\"bad model\"]\n", &c, err),
                     BW_E_INVALID);
    assert_int_equal(
        parse("orgs:\n  a:\n    allowed_models: [x]\n    allowed_models: [y]\n", &c, err),
        BW_E_INVALID);
    assert_int_equal(parse("listen: [unclosed\n", &c, err), BW_E_INVALID);
    assert_non_null(strstr(err, "test.yaml:"));
    assert_int_equal(parse("", &c, err), BW_E_INVALID);
}

static void policy_allows_only_listed_models(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("orgs:\n  acme:\n    allowed_models: [gpt-4o-mini]\n", &c, err), BW_OK);
    struct bw_verdict v;
    bw_policy_decide_model(&c, "acme", "gpt-4o-mini", &v);
    assert_int_equal(v.decision, BW_DECISION_ALLOW);
    bw_policy_decide_model(&c, "acme", "gpt-4o", &v);
    assert_int_equal(v.decision, BW_DECISION_DENY);
    assert_string_equal(v.reason, BW_R_MODEL_NOT_ALLOWED);
    assert_int_equal(v.http_status, 403);
    bw_policy_decide_model(&c, "other", "gpt-4o-mini", &v);
    assert_int_equal(v.decision, BW_DECISION_DENY);
    assert_string_equal(v.reason, BW_R_ORG_NOT_CONFIGURED);
    bw_config_cleanup(&c);
}

/* egress.allow, connections and outbox: strict, with the guard's own allowlist parser. */
static void egress_connections_outbox(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("listen: 127.0.0.1:80\n", &c, err), BW_OK);
    assert_int_equal(c.n_egress_allow, 0); /* empty by default */
    assert_false(c.connections_allow_http);
    assert_string_equal(c.connections_github_api, "https://api.github.com");
    assert_int_equal(c.outbox_max_attempts, 10);
    bw_config_cleanup(&c);
    assert_int_equal(parse("egress:\n  allow: [\"127.0.0.1/32\", \"hooks.example:8443\", "
                           "\"[::1]:9000\"]\nconnections:\n  allow_http: true\n"
                           "  github_api_url: http://127.0.0.1:9/gh\noutbox:\n  max_attempts: 3\n"
                           "  backoff_base_ms: 50\n  backoff_max_ms: 400\n  poll_ms: 20\n",
                           &c, err),
                     BW_OK);
    assert_int_equal(c.n_egress_allow, 3);
    assert_string_equal(c.egress_allow[1], "hooks.example:8443");
    assert_true(c.connections_allow_http);
    assert_int_equal(c.outbox_backoff_max_ms, 400);
    bw_config_cleanup(&c);
    const char *bad[] = {
        "egress:\n  allow: [\"10.0.0.1/8\"]\n", /* host bits set */
        "egress:\n  allow: [\"127.0.0.1\"]\n",  /* bare address: how much does it open? */
        "egress:\n  allow: \"127.0.0.1/32\"\n", /* not a list */
        "egress:\n  deny: []\n",
        "egress:\n  allow: [\"\"]\n",
        "connections:\n  allow_http: yes\n",
        "connections:\n  github_api_url: ftp://x\n",
        "connections:\n  notion_api_url: https://api.notion.com/\n",
        "connections:\n  verify_timeout_ms: 0\n",
        "outbox:\n  max_attempts: 0\n",
        "outbox:\n  backoff_base_ms: 5000\n  backoff_max_ms: 1000\n",
        "outbox:\n  bogus: 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &c, err), BW_E_INVALID);
        assert_non_null(strstr(err, "test.yaml:"));
        assert_int_equal(c.n_egress_allow, 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_text_loads),
        cmocka_unit_test(ledger_knobs),
        cmocka_unit_test(errors_name_line_and_key),
        cmocka_unit_test(policy_allows_only_listed_models),
        cmocka_unit_test(egress_connections_outbox),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
