/* Unit tests: config/ spend sections (limits rates, billing, budgets, prices, plans). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static bw_err parse(const char *text, struct bw_config *c, char *err) {
    return bw_config_parse(text, strlen(text), "test.yaml", c, err, 300);
}

static const char full[] =
    "limits:\n"
    "  max_body_bytes: 4096\n"
    "  key_requests_per_minute: 60\n"
    "  key_requests_burst: 10\n"
    "  org_tokens_per_minute: 100000\n"
    "  org_max_concurrent: 8\n"
    "  default_max_tokens: 1024\n"
    "  clamp_max_tokens: true\n"
    "billing:\n"
    "  stripe_secret_env: STRIPE_WHSEC\n"
    "  standard_secret_file: /etc/bulwark/whsec\n"
    "  tolerance_s: 120\n"
    "  free_plan: starter\n"
    "budgets:\n"
    "  acme:\n"
    "    monthly_tokens: 1000000\n"
    "    agents:\n"
    "      bot: {monthly_cost_micros: 5000000}\n"
    "prices:\n"
    "  gpt-4o-mini: {prompt_per_1m_micros: 150000, completion_per_1m_micros: 600000}\n"
    "plans:\n"
    "  starter: {monthly_tokens: 10000, monthly_cost_micros: 0}\n"
    "  pro: {monthly_tokens: 5000000}\n";

static void spend_sections_load(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse(full, &c, err), BW_OK);
    assert_int_equal(c.max_body_bytes, 4096); /* existing keys unchanged */
    assert_int_equal(c.key_requests.per_minute, 60);
    assert_int_equal(c.key_requests.burst, 10);
    assert_int_equal(c.org_tokens.per_minute, 100000);
    assert_int_equal(c.org_tokens.burst, 0);
    assert_int_equal(c.agent_requests.per_minute, 0);
    assert_int_equal(c.org_max_concurrent, 8);
    assert_int_equal(c.default_max_tokens, 1024);
    assert_int_equal(c.clamp_max_tokens, 1);
    assert_string_equal(c.billing_stripe_secret_env, "STRIPE_WHSEC");
    assert_string_equal(c.billing_standard_secret_file, "/etc/bulwark/whsec");
    assert_int_equal(c.billing_tolerance_s, 120);
    assert_string_equal(c.billing_free_plan, "starter");
    assert_int_equal(c.billing_max_body_bytes, 1u << 20);
    assert_true(bw_config_billing_enabled(&c));
    const struct bw_budget_config *b = bw_config_budget(&c, "acme");
    assert_non_null(b);
    assert_int_equal(b->limits.monthly_tokens, 1000000);
    assert_int_equal(b->limits.monthly_cost_micros, -1);
    assert_int_equal(b->n_agents, 1);
    assert_string_equal(b->agents[0].agent, "bot");
    assert_int_equal(b->agents[0].limits.monthly_tokens, -1);
    assert_int_equal(b->agents[0].limits.monthly_cost_micros, 5000000);
    const struct bw_price_config *p = bw_config_price(&c, "gpt-4o-mini");
    assert_non_null(p);
    assert_int_equal(p->completion_per_1m_micros, 600000);
    assert_null(bw_config_price(&c, "gpt-4o"));
    const struct bw_plan_config *pl = bw_config_plan(&c, "pro");
    assert_non_null(pl);
    assert_int_equal(pl->limits.monthly_tokens, 5000000);
    assert_int_equal(pl->limits.monthly_cost_micros, -1);
    assert_null(bw_config_plan(&c, "gold"));
    bw_config_cleanup(&c);
}

static void defaults_are_off(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse(bw_config_default_text, &c, err), BW_OK);
    assert_int_equal(c.key_requests.per_minute, 0);
    assert_int_equal(c.org_max_concurrent, 0);
    assert_int_equal(c.default_max_tokens, -1);
    assert_int_equal(c.billing_tolerance_s, 300);
    assert_string_equal(c.billing_free_plan, "free");
    assert_false(bw_config_billing_enabled(&c));
    assert_int_equal(c.n_budgets + c.n_prices + c.n_plans, 0);
    bw_config_cleanup(&c);
}

static void spend_errors(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    const char *bad[] = {
        "limits:\n  key_requests_per_minute: -1\n",
        "limits:\n  key_requests_per_minute: 1000000001\n",
        "limits:\n  key_requests_burst: 5\n",
        "limits:\n  key_request_per_minute: 5\n",
        "limits:\n  default_max_tokens: -2\n",
        "limits:\n  clamp_max_tokens: yes\n",
        "billing:\n  stripe_secret: whsec_inline\n",
        "billing:\n  stripe_secret_env: A\n  stripe_secret_file: /x\n",
        "billing:\n  tolerance_s: 0\n",
        "billing:\n  max_body_bytes: 10\n",
        "budgets:\n  acme:\n    monthly_tokens: -1\n",
        "budgets:\n  acme:\n    monthly_token: 1\n",
        "budgets:\n  acme:\n    agents:\n      bot: {monthly_tokens: x}\n",
        "budgets:\n  acme:\n    agents:\n      bot: {}\n      bot: {}\n",
        "prices:\n  m: {prompt_per_1m_micros: 1}\n",
        "prices:\n  m: {prompt_per_1m_micros: 1, completion_per_1m_micros: 10000000001}\n",
        "prices:\n  \"a b\": {prompt_per_1m_micros: 1, completion_per_1m_micros: 1}\n",
        "plans:\n  pro: {monthly_tokens: 1, extra: 2}\n",
        "plans:\n  this-plan-name-is-far-too-long-for-receipts: {}\n",
        "plans:\n  pro: {}\n  pro: {}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(parse(bad[i], &c, err), BW_E_INVALID);
        assert_non_null(strstr(err, "test.yaml:"));
    }
    assert_int_equal(parse("billing:\n  stripe_secret: whsec_inline\n", &c, err), BW_E_INVALID);
    assert_null(strstr(err, "whsec_inline")); /* the key is named, the value never */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spend_sections_load),
        cmocka_unit_test(defaults_are_off),
        cmocka_unit_test(spend_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
