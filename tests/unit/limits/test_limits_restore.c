/* Unit tests: budget persistence. Settled calls are metered in the usage table; a restart
 * (new limits instance, store reopened) restores the month's spend and the limits in force. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "limits/limits.h"
#include "store/store.h"
#include "store/store_migrations.h"
#include "webhook/billing.h"

#define MARCH_MS 1710460800000LL /* 2024-03-15 */
#define FEB_MS 1707955200000LL   /* 2024-02-15 */

static const char cfg_text[] = "budgets:\n"
                               "  acme:\n"
                               "    monthly_tokens: 1000\n"
                               "    agents:\n"
                               "      bot: {monthly_tokens: 300}\n"
                               "plans:\n"
                               "  pro: {monthly_tokens: 5000, monthly_cost_micros: 90}\n";

static void settle_and_meter(struct bw_limits *l, struct bw_store *s, const char *org,
                             const char *agent, int64_t now, int64_t p, int64_t c) {
    struct bw_limits_call call = {org, agent, p, c, -1, NULL, 0, 1, 0, 0};
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r = NULL;
    assert_int_equal(bw_limits_reserve(l, &call, now, &r, &v), BW_OK);
    struct bw_usage_record u;
    memset(&u, 0, sizeof u);
    snprintf(u.org_id, sizeof u.org_id, "%s", org);
    snprintf(u.agent, sizeof u.agent, "%s", agent);
    snprintf(u.model, sizeof u.model, "gpt-4o-mini");
    snprintf(u.status, sizeof u.status, "ok");
    u.month = bw_limits_reservation_month(r);
    int64_t cost = 0;
    bw_limits_settle(l, r, p, c, &cost);
    u.prompt_tokens = p;
    u.completion_tokens = c;
    u.total_tokens = p + c;
    u.cost_micros = cost;
    u.started_ms = u.ended_ms = now;
    assert_int_equal(bw_store_usage_insert(s, &u), BW_OK);
}

static void restart_keeps_month_spend(void **state) {
    (void)state;
    char dir[] = "/tmp/bw-limits-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/db", dir);
    struct bw_config cfg;
    char err[300];
    assert_int_equal(bw_config_parse(cfg_text, strlen(cfg_text), "t.yaml", &cfg, err, sizeof err),
                     BW_OK);

    struct bw_store *s = NULL;
    assert_int_equal(bw_store_open_sqlite(path, 1, &s), BW_OK);
    assert_int_equal(bw_store_schema_version(s),
                     bw_store_migrations[bw_store_n_migrations - 1].version);
    char acme[BW_ID_SIZE], other[BW_ID_SIZE];
    assert_int_equal(bw_store_org_create(s, "acme", acme), BW_OK);
    assert_int_equal(bw_store_org_create(s, "other", other), BW_OK);
    struct bw_limits *l = NULL;
    assert_int_equal(bw_limits_new(NULL, &l), BW_OK);
    assert_int_equal(bw_billing_restore(&cfg, s, l, MARCH_MS), BW_OK);
    settle_and_meter(l, s, acme, "bot", MARCH_MS, 100, 50);
    settle_and_meter(l, s, acme, "", MARCH_MS, 200, 0);
    settle_and_meter(l, s, other, "x", MARCH_MS, 7, 0);
    struct bw_usage_record feb; /* last month: not restored */
    memset(&feb, 0, sizeof feb);
    snprintf(feb.org_id, sizeof feb.org_id, "%s", acme);
    snprintf(feb.agent, sizeof feb.agent, "bot");
    snprintf(feb.model, sizeof feb.model, "m");
    feb.total_tokens = feb.prompt_tokens = 999;
    feb.started_ms = feb.ended_ms = FEB_MS;
    feb.month = bw_limits_month_of(FEB_MS);
    assert_int_equal(bw_store_usage_insert(s, &feb), BW_OK);
    bw_limits_free(l);
    bw_store_close(s);

    /* "restart" */
    assert_int_equal(bw_store_open_sqlite(path, 0, &s), BW_OK);
    assert_int_equal(bw_limits_new(NULL, &l), BW_OK);
    assert_int_equal(bw_billing_restore(&cfg, s, l, MARCH_MS), BW_OK);
    struct bw_limits_budget_state b;
    assert_int_equal(bw_limits_budget_get(l, acme, "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.max_tokens, 1000);
    assert_int_equal(b.spent_tokens, 350);
    assert_int_equal(bw_limits_budget_get(l, acme, "bot", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.max_tokens, 300);
    assert_int_equal(b.spent_tokens, 150);
    assert_int_equal(bw_limits_budget_get(l, other, "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.max_tokens, BW_LIMITS_UNLIMITED);
    assert_int_equal(b.spent_tokens, 7);
    assert_int_equal(bw_limits_budget_get(l, other, "x", MARCH_MS, &b), BW_E_NOT_FOUND);
    /* the bot has 150 left: a 200 worst case is refused, 150 fits */
    struct bw_limits_call call = {acme, "bot", 100, 100, -1, NULL, 0, 1, 0, 0};
    struct bw_limits_verdict v;
    struct bw_limits_reservation *r = NULL;
    assert_int_equal(bw_limits_reserve(l, &call, MARCH_MS, &r, &v), BW_E_LIMIT);
    assert_int_equal(v.fit_max_tokens, 50);

    /* a billing plan overrides the config budget (the plan's limits come from the config) */
    struct bw_billing_state st;
    memset(&st, 0, sizeof st);
    snprintf(st.org_id, sizeof st.org_id, "%s", acme);
    snprintf(st.plan, sizeof st.plan, "pro");
    st.monthly_tokens = 1;
    st.monthly_cost_micros = 1;
    st.event_created = 100;
    snprintf(st.event_id, sizeof st.event_id, "stripe:evt_1");
    struct bw_billing_event ev = {"stripe:evt_1", acme, "invoice.paid", 100, "abcd.1"};
    enum bw_billing_outcome o;
    assert_int_equal(bw_store_billing_apply(s, &ev, &st, &o), BW_OK);
    assert_int_equal(o, BW_BILLING_APPLIED);
    assert_int_equal(bw_store_billing_apply(s, &ev, &st, &o), BW_OK);
    assert_int_equal(o, BW_BILLING_DUPLICATE);
    struct bw_billing_event older = {"stripe:evt_0", acme, "customer.subscription.updated", 99, ""};
    st.event_created = 99;
    snprintf(st.plan, sizeof st.plan, "free");
    assert_int_equal(bw_store_billing_apply(s, &older, &st, &o), BW_OK);
    assert_int_equal(o, BW_BILLING_STALE);
    struct bw_billing_state got;
    assert_int_equal(bw_store_billing_get(s, acme, &got), BW_OK);
    assert_string_equal(got.plan, "pro");
    assert_int_equal(got.event_created, 100);
    char outcome[16];
    assert_int_equal(bw_store_billing_event_seen(s, "stripe:evt_0", outcome), BW_OK);
    assert_string_equal(outcome, "stale");
    assert_int_equal(bw_store_billing_event_seen(s, "stripe:evt_9", outcome), BW_E_NOT_FOUND);
    bw_limits_free(l);
    assert_int_equal(bw_limits_new(NULL, &l), BW_OK);
    assert_int_equal(bw_billing_restore(&cfg, s, l, MARCH_MS), BW_OK);
    assert_int_equal(bw_limits_budget_get(l, acme, "", MARCH_MS, &b), BW_OK);
    assert_int_equal(b.max_tokens, 5000);
    assert_int_equal(b.max_cost_micros, 90);
    assert_int_equal(b.spent_tokens, 350);

    /* usage rows are validated */
    struct bw_usage_record bad;
    memset(&bad, 0, sizeof bad);
    snprintf(bad.org_id, sizeof bad.org_id, "%s", acme);
    assert_int_equal(bw_store_usage_insert(s, &bad), BW_E_INVALID); /* no model */
    snprintf(bad.model, sizeof bad.model, "m");
    bad.prompt_tokens = -1;
    assert_int_equal(bw_store_usage_insert(s, &bad), BW_E_INVALID);

    bw_limits_free(l);
    bw_store_close(s);
    bw_config_cleanup(&cfg);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(restart_keeps_month_spend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
