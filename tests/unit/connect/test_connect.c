/* Unit tests for connections without the network: credential shapes per kind, seal/open with
 * the record id and org bound (a moved record does not open), fingerprints, the kind rules and
 * the egress guard refusing before anything is dialled, the outbox backoff bounds, and the
 * store: sealed bytes never listed, an event queued once per connection, claims taken once,
 * tenant scoping, delete cascading to the queue. PostgreSQL runs the same store code in the
 * integration suites (connections_save, connections_canary). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>
#include <cmocka.h>

#include "connect/connect.h"
#include "connect/outbox.h"
#include "store/connections.h"
#include "store/identity.h"
#include "util/time.h"

static char dir[64];
static struct bw_keyring *keys;
static struct bw_store *s;
static char org_a[BW_ID_SIZE], org_b[BW_ID_SIZE];
static struct bw_connect_env env;

#define WHSEC "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static int setup(void **state) {
    (void)state;
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/bw-connect-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/master.key", dir);
    unsetenv(BW_MASTER_ENV);
    if (bw_master_create(path) != BW_OK || bw_keyring_load(dir, &keys) != BW_OK)
        return -1;
    snprintf(path, sizeof path, "%s/db", dir);
    if (bw_store_open_sqlite(path, 1, &s) != BW_OK)
        return -1;
    if (bw_store_org_create(s, "a", org_a) != BW_OK || bw_store_org_create(s, "b", org_b) != BW_OK)
        return -1;
    env = (struct bw_connect_env){keys, NULL, 0, "https://api.github.com", "https://api.notion.com",
                                  2000};
    return 0;
}

static int teardown(void **state) {
    (void)state;
    bw_store_close(s);
    bw_keyring_free(keys);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    curl_global_cleanup();
    return system(cmd) == 0 ? 0 : -1;
}

static void kinds(void **state) {
    (void)state;
    enum bw_connect_kind k;
    assert_true(bw_connect_kind_parse("slack", &k) && k == BW_CONNECT_SLACK);
    assert_true(bw_connect_kind_parse("notion", &k) && k == BW_CONNECT_NOTION);
    assert_false(bw_connect_kind_parse("Slack", &k));
    assert_false(bw_connect_kind_parse("", &k));
    assert_string_equal(bw_connect_kind_name(BW_CONNECT_WEBHOOK), "webhook");
    assert_true(bw_connect_kind_delivers(BW_CONNECT_DISCORD));
    assert_false(bw_connect_kind_delivers(BW_CONNECT_GITHUB));
}

static void cred_shapes(void **state) {
    (void)state;
    struct bw_connect_cred *c = NULL;
    char why[160];
    /* required and forbidden fields per kind */
    assert_int_equal(bw_connect_cred_new(BW_CONNECT_SLACK, NULL, NULL, &c, why, sizeof why),
                     BW_E_INVALID);
    assert_int_equal(bw_connect_cred_new(BW_CONNECT_SLACK, "https://hooks.slack.com/services/x",
                                         "tok", &c, why, sizeof why),
                     BW_E_INVALID);
    assert_int_equal(
        bw_connect_cred_new(BW_CONNECT_GITHUB, "https://x.example", "ghp_x", &c, why, sizeof why),
        BW_E_INVALID);
    assert_int_equal(
        bw_connect_cred_new(BW_CONNECT_WEBHOOK, "https://x.example/h", "nope", &c, why, sizeof why),
        BW_E_INVALID);
    assert_int_equal(bw_connect_cred_new(BW_CONNECT_GITHUB, NULL, "two words", &c, why, sizeof why),
                     BW_E_INVALID);
    assert_int_equal(bw_connect_cred_new(BW_CONNECT_GITHUB, NULL, "tab\there", &c, why, sizeof why),
                     BW_E_INVALID);
    char big[BW_CONNECT_TOKEN_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(bw_connect_cred_new(BW_CONNECT_NOTION, NULL, big, &c, why, sizeof why),
                     BW_E_INVALID);
    big[BW_CONNECT_TOKEN_MAX] = 0; /* exactly at the cap */
    assert_int_equal(bw_connect_cred_new(BW_CONNECT_NOTION, NULL, big, &c, why, sizeof why), BW_OK);
    bw_connect_cred_free(c);
    /* a webhook keeps both parts */
    assert_int_equal(
        bw_connect_cred_new(BW_CONNECT_WEBHOOK, "https://x.example/h", WHSEC, &c, why, sizeof why),
        BW_OK);
    assert_string_equal(c->url, "https://x.example/h");
    assert_string_equal(c->secret, WHSEC);
    bw_connect_cred_free(c);
    bw_connect_cred_free(NULL);
}

static void seal_open(void **state) {
    (void)state;
    struct bw_connect_cred *c = NULL, *o = NULL;
    char why[160];
    assert_int_equal(
        bw_connect_cred_new(BW_CONNECT_WEBHOOK, "https://x.example/h", WHSEC, &c, why, sizeof why),
        BW_OK);
    uint8_t sealed[BW_VAULT_SEALED_MAX], mid[BW_VAULT_MASTER_ID_BYTES];
    char fp[BW_VAULT_FINGERPRINT_SIZE];
    size_t n = 0;
    assert_int_equal(bw_connect_cred_seal(&env, c, org_a, "sec_0123456789abcdef", sealed,
                                          sizeof sealed, &n, mid, fp),
                     BW_OK);
    assert_int_equal(n, BW_VAULT_SEALED_SIZE(c->len));
    assert_string_equal(fp, "…LaSw");
    assert_null(memmem(sealed, n, "whsec_", 6)); /* ciphertext only */
    assert_int_equal(bw_connect_cred_open(&env, BW_CONNECT_WEBHOOK, org_a, "sec_0123456789abcdef",
                                          sealed, n, &o),
                     BW_OK);
    assert_string_equal(o->url, "https://x.example/h");
    assert_string_equal(o->secret, WHSEC);
    bw_connect_cred_free(o);
    /* moved to another record or org: does not open */
    assert_int_equal(bw_connect_cred_open(&env, BW_CONNECT_WEBHOOK, org_a, "sec_1123456789abcdef",
                                          sealed, n, &o),
                     BW_E_CRYPTO);
    assert_int_equal(bw_connect_cred_open(&env, BW_CONNECT_WEBHOOK, org_b, "sec_0123456789abcdef",
                                          sealed, n, &o),
                     BW_E_CRYPTO);
    /* opened as a kind whose shape it lacks: refused */
    assert_int_equal(
        bw_connect_cred_open(&env, BW_CONNECT_GITHUB, org_a, "sec_0123456789abcdef", sealed, n, &o),
        BW_E_INVALID);
    bw_connect_cred_free(c);
}

/* Refusals that happen before anything is resolved or dialled. */
static void verify_refusals(void **state) {
    (void)state;
    struct {
        enum bw_connect_kind kind;
        const char *url;
        const char *reason;
    } cases[] = {
        {BW_CONNECT_WEBHOOK, "http://10.0.0.1/hook", "EGRESS_BLOCKED"},
        {BW_CONNECT_WEBHOOK, "https://169.254.169.254/latest", "EGRESS_BLOCKED"},
        {BW_CONNECT_WEBHOOK, "https://[::1]/hook", "EGRESS_BLOCKED"},
        {BW_CONNECT_WEBHOOK, "https://metadata.google.internal/x", "EGRESS_BLOCKED"},
        {BW_CONNECT_WEBHOOK, "http://93.184.216.34/hook", "CONNECTION_URL_REJECTED"}, /* http */
        {BW_CONNECT_SLACK, "https://hooks.slack.com.evil.example/services/x",
         "CONNECTION_URL_REJECTED"},
        {BW_CONNECT_SLACK, "http://hooks.slack.com/services/x", "CONNECTION_URL_REJECTED"},
        {BW_CONNECT_SLACK, "https://hooks.slack.com/other/x", "CONNECTION_URL_REJECTED"},
        {BW_CONNECT_SLACK, "https://hooks.slack.com:8443/services/x", "CONNECTION_URL_REJECTED"},
        {BW_CONNECT_DISCORD, "https://discord.com/webhooks/1/x", "CONNECTION_URL_REJECTED"},
        {BW_CONNECT_DISCORD, "https://discord.example/api/webhooks/1/x", "CONNECTION_URL_REJECTED"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct bw_connect_cred *c = NULL;
        char why[160];
        const char *secret = cases[i].kind == BW_CONNECT_WEBHOOK ? WHSEC : NULL;
        assert_int_equal(
            bw_connect_cred_new(cases[i].kind, cases[i].url, secret, &c, why, sizeof why), BW_OK);
        struct bw_connect_result res;
        assert_int_equal(bw_connect_verify(&env, c, &res), BW_E_DENIED);
        assert_string_equal(res.reason, cases[i].reason);
        const char *path = strchr(strstr(cases[i].url, "://") + 3, '/');
        assert_null(strstr(res.why, path)); /* reasons never carry the URL's path */
        bw_connect_cred_free(c);
    }
}

static void backoff(void **state) {
    (void)state;
    struct bw_outbox_opts o = {10, 1000, 8000, 1000};
    for (int64_t a = 1; a <= 12; a++) {
        int64_t d = 1000;
        for (int64_t i = 1; i < a && d < 8000; i++)
            d *= 2;
        if (d > 8000)
            d = 8000;
        assert_int_equal(bw_outbox_backoff_ms(&o, a, 0), d / 2);
        assert_int_equal(bw_outbox_backoff_ms(&o, a, (uint32_t)(d / 2)), d);
        int64_t r = bw_outbox_backoff_ms(&o, a, 0xffffffffu);
        assert_true(r >= d / 2 && r <= d);
    }
}

static struct bw_connection_record make_conn(const char *org, const char *name,
                                             struct bw_sealed_secret *sec, uint8_t *buf,
                                             size_t size) {
    struct bw_connection_record c;
    memset(&c, 0, sizeof c);
    bw_store_new_id("con", c.id);
    bw_store_new_id("sec", c.secret_id);
    snprintf(c.org_id, sizeof c.org_id, "%s", org);
    snprintf(c.kind, sizeof c.kind, "webhook");
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.url, sizeof c.url, "https://x.example");
    c.created_ms = c.verified_ms = bw_now_ms();
    struct bw_connect_cred *cred = NULL;
    char why[160];
    assert_int_equal(bw_connect_cred_new(BW_CONNECT_WEBHOOK, "https://x.example/h", WHSEC, &cred,
                                         why, sizeof why),
                     BW_OK);
    assert_int_equal(bw_connect_cred_seal(&env, cred, org, c.secret_id, buf, size, &sec->sealed_len,
                                          sec->master_id, sec->fingerprint),
                     BW_OK);
    sec->sealed = buf;
    bw_connect_cred_free(cred);
    return c;
}

static int count_conn(void *arg, const struct bw_connection_record *c) {
    (void)c;
    (*(int *)arg)++;
    return 0;
}

static void store_connections_outbox(void **state) {
    (void)state;
    uint8_t buf[BW_VAULT_SEALED_MAX], back[BW_VAULT_SEALED_MAX];
    struct bw_sealed_secret sec;
    struct bw_connection_record c = make_conn(org_a, "hook", &sec, buf, sizeof buf);
    assert_int_equal(bw_store_connection_create(s, &c, &sec), BW_OK);
    /* the name is unique per org, not across orgs */
    struct bw_sealed_secret sec2;
    uint8_t buf2[BW_VAULT_SEALED_MAX];
    struct bw_connection_record dup = make_conn(org_a, "hook", &sec2, buf2, sizeof buf2);
    assert_int_equal(bw_store_connection_create(s, &dup, &sec2), BW_E_EXISTS);
    struct bw_connection_record other = make_conn(org_b, "hook", &sec2, buf2, sizeof buf2);
    assert_int_equal(bw_store_connection_create(s, &other, &sec2), BW_OK);
    /* tenant scoping */
    struct bw_connection_record got;
    assert_int_equal(bw_store_connection_get(s, org_b, c.id, &got), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_connection_get(s, org_a, c.id, &got), BW_OK);
    assert_string_equal(got.fingerprint, "…LaSw");
    int n = 0;
    assert_int_equal(bw_store_connection_list(s, org_a, count_conn, &n), BW_OK);
    assert_int_equal(n, 1);
    /* the sealed bytes come back intact, and open */
    size_t len = 0;
    assert_int_equal(bw_store_connection_sealed(s, org_a, c.id, 42, &got, back, sizeof back, &len),
                     BW_OK);
    assert_int_equal(len, sec.sealed_len);
    assert_memory_equal(back, buf, len);
    assert_int_equal(bw_store_connection_sealed(s, org_a, c.id, 42, &got, back, 10, &len),
                     BW_E_TOO_LARGE);
    assert_int_equal(bw_store_connection_sealed(s, org_b, c.id, 42, &got, back, sizeof back, &len),
                     BW_E_NOT_FOUND);
    /* an event is queued once per connection, however often it is enqueued */
    int64_t q = 0;
    assert_int_equal(bw_store_outbox_enqueue(s, org_a, "msg_1", "key.create", "t", "{}", 1, 1, &q),
                     BW_OK);
    assert_int_equal(q, 1);
    assert_int_equal(bw_store_outbox_enqueue(s, org_a, "msg_1", "key.create", "t", "{}", 1, 1, &q),
                     BW_OK);
    assert_int_equal(q, 0);
    /* due, claimed once, finished */
    struct bw_outbox_row rows[4];
    size_t nrows = 0;
    assert_int_equal(bw_store_outbox_due(s, org_a, 5, 4, rows, &nrows), BW_OK);
    assert_int_equal(nrows, 1);
    int claimed = 0;
    assert_int_equal(bw_store_outbox_claim(s, &rows[0], 1000, &claimed), BW_OK);
    assert_true(claimed);
    assert_int_equal(bw_store_outbox_claim(s, &rows[0], 1000, &claimed), BW_OK);
    assert_false(claimed); /* the row changed: a second claimer loses */
    size_t none = 0;
    assert_int_equal(bw_store_outbox_due(s, org_a, 500, 4, rows + 1, &none), BW_OK);
    assert_int_equal(none, 0); /* leased */
    assert_int_equal(bw_store_outbox_finish(s, &rows[0], "delivered", 0, "", 600), BW_OK);
    assert_int_equal(bw_store_outbox_finish(s, &rows[0], "failed", 700, "x", 700),
                     BW_E_NOT_FOUND); /* delivered is final */
    bw_outbox_rows_free(rows, nrows);
    struct bw_outbox_counts counts;
    assert_int_equal(bw_store_outbox_counts(s, org_a, c.id, &counts), BW_OK);
    assert_int_equal(counts.delivered, 1);
    assert_int_equal(bw_store_outbox_enqueue(s, org_a, "msg_2", "key.revoke", "t", "{}", 1, 1, &q),
                     BW_OK);
    /* status, then delete: the secret and queued rows go with it */
    assert_int_equal(bw_store_connection_status(s, org_a, c.id, 0, "HTTP_500", 9), BW_OK);
    assert_int_equal(bw_store_connection_get(s, org_a, c.id, &got), BW_OK);
    assert_string_equal(got.status, "unhealthy");
    assert_string_equal(got.status_reason, "HTTP_500");
    assert_int_equal(bw_store_connection_delete(s, org_b, c.id), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_connection_delete(s, org_a, c.id), BW_OK);
    assert_int_equal(bw_store_connection_get(s, org_a, c.id, &got), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_outbox_due(s, org_a, 1LL << 40, 4, rows, &nrows), BW_OK);
    assert_int_equal(nrows, 0);
    /* deleting an org takes its connections, secrets and queue with it */
    assert_int_equal(bw_store_outbox_enqueue(s, org_b, "msg_3", "key.create", "t", "{}", 1, 1, &q),
                     BW_OK);
    assert_int_equal(q, 1);
    assert_int_equal(bw_store_org_delete(s, org_b), BW_OK);
    assert_int_equal(bw_store_connection_get(s, org_b, other.id, &got), BW_E_NOT_FOUND);
    assert_int_equal(bw_store_outbox_due(s, org_b, 1LL << 40, 4, rows, &nrows), BW_OK);
    assert_int_equal(nrows, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kinds),     cmocka_unit_test(cred_shapes),
        cmocka_unit_test(seal_open), cmocka_unit_test(verify_refusals),
        cmocka_unit_test(backoff),   cmocka_unit_test(store_connections_outbox),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
