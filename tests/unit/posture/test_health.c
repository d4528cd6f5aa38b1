/* Unit tests: posture/health (the registry's combination of prober and traffic, classes that
 * never echo their input, /readyz bodies, connection entries, the prober's URL split). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "posture/health.h"
#include "posture/health_internal.h"

static void tick(void) { /* the registry compares millisecond times: let one pass */
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
}

static int setup(void **state) {
    (void)state;
    bw_health_monitoring(0);
    bw_health_monitoring(1);
    return 0;
}

static void classes_are_fixed_names(void **state) {
    (void)state;
    assert_string_equal(bw_health_class_name(BW_HC_NONE), "");
    for (int c = 1; c < BW_HC_N; c++) {
        const char *n = bw_health_class_name((enum bw_health_class)c);
        assert_true(n[0] != 0);
        assert_true(strspn(n, "abcdefghijklmnopqrstuvwxyz_0123456789") == strlen(n));
    }
    assert_string_equal(bw_health_class_name((enum bw_health_class)999), "failed");
    assert_int_equal(bw_health_class_of_reason("HTTP_503"), BW_HC_HTTP_5XX);
    assert_int_equal(bw_health_class_of_reason("HTTP_401"), BW_HC_AUTH);
    assert_int_equal(bw_health_class_of_reason("HTTP_404"), BW_HC_HTTP_4XX);
    assert_int_equal(bw_health_class_of_reason("HTTP_99999999999"), BW_HC_PROTOCOL);
    assert_int_equal(bw_health_class_of_reason("NETWORK"), BW_HC_NETWORK);
    assert_int_equal(bw_health_class_of_reason("EGRESS_BLOCKED"), BW_HC_EGRESS_BLOCKED);
    assert_int_equal(bw_health_class_of_reason(""), BW_HC_NONE);
    assert_int_equal(bw_health_class_of_reason(NULL), BW_HC_NONE);
    /* anything else, e.g. a message with a URL and a secret, is only "failed" */
    assert_int_equal(bw_health_class_of_reason("https://user:sk-secret@10.0.0.1:5432/x"),
                     BW_HC_FAILED);
    assert_string_equal(bw_health_dep_name(BW_HEALTH_STORE), "store");
    assert_string_equal(bw_health_status_name(BW_HEALTH_DEGRADED), "degraded");
    assert_string_equal(bw_health_status_name((enum bw_health_status)7), "down");
}

static void unmonitored_is_down(void **state) {
    (void)state;
    bw_health_monitoring(0);
    struct bw_health_entry e;
    bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_UP, BW_HC_NONE, 5);
    bw_health_get(BW_HEALTH_STORE, &e);
    assert_int_equal(e.status, BW_HEALTH_DOWN); /* no prober: never claims up */
    assert_int_equal(e.error, BW_HC_UNAVAILABLE);
    bw_health_get((enum bw_health_dep)42, &e);
    assert_int_equal(e.status, BW_HEALTH_DOWN);
}

static void traffic_failure_is_held_until_success(void **state) {
    (void)state;
    struct bw_health_entry e;
    bw_health_probed(BW_HEALTH_LEDGER, BW_HEALTH_UP, BW_HC_NONE, 10);
    bw_health_get(BW_HEALTH_LEDGER, &e);
    assert_int_equal(e.status, BW_HEALTH_UP);
    assert_int_equal(e.latency_us, 10);
    assert_int_equal(e.error, BW_HC_NONE);
    tick();
    bw_health_report(BW_HEALTH_LEDGER, BW_HEALTH_DOWN, BW_HC_UNWRITABLE, -1);
    tick();
    /* the ledger's probe cannot see a refused write: its "up" does not end the hold */
    bw_health_probed(BW_HEALTH_LEDGER, BW_HEALTH_UP, BW_HC_NONE, 10);
    bw_health_get(BW_HEALTH_LEDGER, &e);
    assert_int_equal(e.status, BW_HEALTH_DOWN);
    assert_int_equal(e.error, BW_HC_UNWRITABLE);
    tick();
    bw_health_report(BW_HEALTH_LEDGER, BW_HEALTH_UP, BW_HC_NONE, -1);
    bw_health_get(BW_HEALTH_LEDGER, &e);
    assert_int_equal(e.status, BW_HEALTH_UP);
    assert_int_equal(e.error, BW_HC_UNWRITABLE); /* the last error stays visible */
    /* a probe that sees it down wins over traffic's success */
    tick();
    bw_health_probed(BW_HEALTH_LEDGER, BW_HEALTH_DOWN, BW_HC_DISK_FULL, 3);
    bw_health_get(BW_HEALTH_LEDGER, &e);
    assert_int_equal(e.status, BW_HEALTH_DOWN);
    assert_int_equal(e.error, BW_HC_DISK_FULL);
    /* a failure without a class still has one */
    bw_health_report(BW_HEALTH_UPSTREAM, BW_HEALTH_DEGRADED, BW_HC_NONE, -1);
    bw_health_get(BW_HEALTH_UPSTREAM, &e);
    assert_int_equal(e.status, BW_HEALTH_DEGRADED);
    assert_int_equal(e.error, BW_HC_FAILED);
}

static void store_probe_ends_a_held_failure(void **state) {
    (void)state;
    struct bw_health_entry e;
    bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_UP, BW_HC_NONE, 1);
    tick();
    bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
    bw_health_get(BW_HEALTH_STORE, &e);
    assert_int_equal(e.status, BW_HEALTH_DOWN);
    tick();
    bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_UP, BW_HC_NONE, 1);
    bw_health_get(BW_HEALTH_STORE, &e);
    assert_int_equal(e.status, BW_HEALTH_UP);
}

static void readyz_names_only(void **state) {
    (void)state;
    char body[160];
    bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_UP, BW_HC_NONE, 1);
    bw_health_probed(BW_HEALTH_LEDGER, BW_HEALTH_UP, BW_HC_NONE, 1);
    bw_health_probed(BW_HEALTH_UPSTREAM, BW_HEALTH_DOWN, BW_HC_REFUSED, 1);
    assert_int_equal(bw_health_readyz(1, 1, 0, body, sizeof body), 200);
    assert_string_equal(body, "{\"status\":\"ready\"}"); /* the upstream is not a call's need */
    bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, 1);
    assert_int_equal(bw_health_readyz(1, 1, 0, body, sizeof body), 503);
    assert_string_equal(body, "{\"status\":\"not_ready\",\"failing\":[\"store\"]}");
    bw_health_probed(BW_HEALTH_LEDGER, BW_HEALTH_DOWN, BW_HC_FROZEN, 1);
    assert_int_equal(bw_health_readyz(0, 0, 1, body, sizeof body), 503);
    assert_string_equal(body, "{\"status\":\"not_ready\",\"failing\":[\"store\",\"ledger\","
                              "\"signer\",\"policy\",\"draining\"]}");
    /* traffic alone never flips readiness: a caller can provoke a failing statement */
    bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_UP, BW_HC_NONE, 1);
    bw_health_probed(BW_HEALTH_LEDGER, BW_HEALTH_UP, BW_HC_NONE, 1);
    tick();
    bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
    bw_health_report(BW_HEALTH_LEDGER, BW_HEALTH_DOWN, BW_HC_UNWRITABLE, -1);
    assert_int_equal(bw_health_readyz(1, 1, 0, body, sizeof body), 200);
    struct bw_health_entry e;
    bw_health_get(BW_HEALTH_STORE, &e); /* the services view does show it */
    assert_int_equal(e.status, BW_HEALTH_DOWN);
    /* degraded is not failing */
    bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_DEGRADED, BW_HC_TIMEOUT, 1);
    bw_health_probed(BW_HEALTH_LEDGER, BW_HEALTH_UP, BW_HC_NONE, 1);
    assert_int_equal(bw_health_readyz(1, 1, 0, body, sizeof body), 200);
}

static void connections_by_org_and_bounded(void **state) {
    (void)state;
    static struct bw_health_conn out[BW_HEALTH_MAX_CONNECTIONS + 8]; /* test-only, one thread */
    bw_health_report_connection("org_a", "con_1", 1, BW_HC_NONE, 100);
    bw_health_report_connection("org_b", "con_2", 0, BW_HC_HTTP_5XX, 200);
    bw_health_report_connection("org_a", "con_1", 0, BW_HC_TIMEOUT, 300); /* updates */
    char long_id[64];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[63] = 0;
    bw_health_report_connection("org_a", long_id, 1, BW_HC_NONE, 1); /* ignored: too long */
    bw_health_report_connection(NULL, "con_9", 1, BW_HC_NONE, 1);    /* ignored */
    size_t n = bw_health_connections("org_a", out, 8);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].conn_id, "con_1");
    assert_int_equal(out[0].e.status, BW_HEALTH_DOWN);
    assert_int_equal(out[0].e.error, BW_HC_TIMEOUT);
    assert_int_equal(out[0].e.latency_us, 300);
    assert_int_equal(bw_health_connections("org_b", out, 8), 1);
    assert_int_equal(bw_health_connections("org_c", out, 8), 0);
    assert_int_equal(bw_health_connections(NULL, out, 8), 2);
    for (int i = 0; i < BW_HEALTH_MAX_CONNECTIONS + 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "con_m%d", i);
        bw_health_report_connection("org_m", id, 1, BW_HC_NONE, i);
    }
    n = bw_health_connections(NULL, out, BW_HEALTH_MAX_CONNECTIONS + 8);
    assert_int_equal(n, BW_HEALTH_MAX_CONNECTIONS);
}

static void upstream_url_split(void **state) {
    (void)state;
    char host[64], port[8];
    assert_int_equal(bw_health_split_url("http://127.0.0.1:9000/v1", host, sizeof host, port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(port, "9000");
    assert_int_equal(bw_health_split_url("https://api.example.com/v1", host, sizeof host, port), 0);
    assert_string_equal(host, "api.example.com");
    assert_string_equal(port, "443");
    assert_int_equal(bw_health_split_url("http://u:p@h.example:81", host, sizeof host, port), 0);
    assert_string_equal(host, "h.example");
    assert_string_equal(port, "81");
    assert_int_equal(bw_health_split_url("http://[::1]:8080/v1", host, sizeof host, port), 0);
    assert_string_equal(host, "::1");
    assert_string_equal(port, "8080");
    assert_int_equal(bw_health_split_url("http://[::1]/v1", host, sizeof host, port), 0);
    assert_string_equal(port, "80");
    assert_int_equal(bw_health_split_url("ftp://h/", host, sizeof host, port), -1);
    assert_int_equal(bw_health_split_url("http:///v1", host, sizeof host, port), -1);
    assert_int_equal(bw_health_split_url("http://h:/v1", host, sizeof host, port), -1);
    assert_int_equal(bw_health_split_url("http://h:123456/v1", host, sizeof host, port), -1);
    assert_int_equal(bw_health_split_url("http://h:12a/v1", host, sizeof host, port), -1);
    assert_int_equal(bw_health_split_url("http://[::1/v1", host, sizeof host, port), -1);
    char tiny[4];
    assert_int_equal(bw_health_split_url("http://longhost/", tiny, sizeof tiny, port), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classes_are_fixed_names),
        cmocka_unit_test(unmonitored_is_down),
        cmocka_unit_test_setup(traffic_failure_is_held_until_success, setup),
        cmocka_unit_test_setup(store_probe_ends_a_held_failure, setup),
        cmocka_unit_test_setup(readyz_names_only, setup),
        cmocka_unit_test_setup(connections_by_org_and_bounded, setup),
        cmocka_unit_test(upstream_url_split),
    };
    return cmocka_run_group_tests_name("posture_health", tests, NULL, NULL);
}
