/* Unit tests: metrics/ (recording and the text exposition). The registry is process-wide, so
 * each test reads deltas or checks invariants rather than absolute values. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/metrics.h"

static char *render(void) {
    struct bw_buf b;
    bw_buf_init(&b, 8u << 20);
    assert_int_equal(bw_metrics_render(&b, 7), BW_OK);
    assert_int_equal(bw_buf_append(&b, "", 1), BW_OK);
    char *s = strdup((const char *)b.ptr);
    bw_buf_cleanup(&b);
    return s;
}

/* The value of the line starting with `series ` (exact), or -1. */
static double value_of(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static size_t lines(const char *text) {
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

static void request_counted(void **state) {
    (void)state;
    struct bw_metrics_request r = {BW_METRICS_ROUTE_EMBEDDINGS,
                                   BW_METRICS_DECISION_DENY,
                                   403,
                                   "MODEL_NOT_ALLOWED",
                                   2000,
                                   0,
                                   0,
                                   0};
    bw_metrics_request_end(&r);
    bw_metrics_request_end(&r);
    char *t = render();
    assert_true(value_of(t, "bulwark_requests_total{route=\"embeddings\",decision=\"deny\","
                            "status=\"403\"}") == 2);
    assert_true(value_of(t, "bulwark_refusals_total{route=\"embeddings\",reason=\"MODEL_NOT_"
                            "ALLOWED\"}") == 2);
    assert_true(value_of(t, "bulwark_request_duration_seconds_bucket{route=\"embeddings\","
                            "le=\"0.0025\"}") == 2);
    assert_true(value_of(t, "bulwark_request_duration_seconds_bucket{route=\"embeddings\","
                            "le=\"0.001\"}") == 0);
    assert_true(value_of(t, "bulwark_in_flight") == 7);
    assert_non_null(strstr(t, "# TYPE bulwark_requests_total counter\n"));
    free(t);
}

static void limits_and_upstream(void **state) {
    (void)state;
    struct bw_metrics_request r = {
        BW_METRICS_ROUTE_WIDGET, BW_METRICS_DECISION_DENY, 429, "RATE_LIMITED", 10, 0, 0, 0};
    bw_metrics_request_end(&r);
    r.reason = "BUDGET_EXHAUSTED";
    bw_metrics_request_end(&r);
    r.reason = "BUDGET_UNBOUNDED";
    bw_metrics_request_end(&r);
    r.reason = "CONCURRENCY_LIMITED";
    bw_metrics_request_end(&r);
    struct bw_metrics_request u = {
        BW_METRICS_ROUTE_MODELS, BW_METRICS_DECISION_ALLOW, 502, NULL, 10, 5, 1, 503};
    bw_metrics_request_end(&u);
    char *t = render();
    assert_true(value_of(t, "bulwark_limit_refusals_total{limit=\"rate\"}") >= 1);
    assert_true(value_of(t, "bulwark_limit_refusals_total{limit=\"budget\"}") == 2);
    assert_true(value_of(t, "bulwark_limit_refusals_total{limit=\"concurrency\"}") == 1);
    assert_true(
        value_of(t, "bulwark_upstream_errors_total{route=\"models\",kind=\"status_5xx\"}") == 1);
    free(t);
}

/* Reason codes outside the registry's format or past the table's end all land in OTHER; odd
 * statuses in "other"; a bad route is ignored: the exposition's size stays bounded. */
static void cardinality_bounded(void **state) {
    (void)state;
    char reason[64];
    struct bw_metrics_request r = {
        BW_METRICS_ROUTE_CHAT, BW_METRICS_DECISION_DENY, 403, reason, 1, 0, 0, 0};
    for (int i = 0; i < 1000; i++) {
        snprintf(reason, sizeof reason, "CUSTOM_%d", i);
        bw_metrics_request_end(&r);
    }
    snprintf(reason, sizeof reason, "bad\"label\nvalue");
    bw_metrics_request_end(&r);
    r.http_status = 99999;
    bw_metrics_request_end(&r);
    r.route = (enum bw_metrics_route)77;
    bw_metrics_request_end(&r);
    char *t = render();
    size_t n = lines(t);
    assert_null(strstr(t, "bad\""));
    assert_null(strstr(t, "CUSTOM_999\"")); /* past the table */
    assert_true(value_of(t, "bulwark_refusals_total{route=\"chat\",reason=\"OTHER\"}") >= 872);
    assert_true(value_of(t, "bulwark_requests_total{route=\"chat\",decision=\"deny\","
                            "status=\"other\"}") == 1);
    for (int i = 0; i < 1000; i++) {
        snprintf(reason, sizeof reason, "CUSTOM_%d", i + 5000);
        r.route = BW_METRICS_ROUTE_CHAT;
        bw_metrics_request_end(&r);
    }
    char *t2 = render();
    assert_int_equal(lines(t2), n); /* 1000 new codes: not one new series */
    free(t);
    free(t2);
}

static void *hammer(void *arg) {
    (void)arg;
    struct bw_metrics_request r = {
        BW_METRICS_ROUTE_CHAT, BW_METRICS_DECISION_ALLOW, 201, NULL, 300, 100, 1, 201};
    for (int i = 0; i < 100000; i++)
        bw_metrics_request_end(&r);
    return NULL;
}

/* Several threads at once lose no count (relaxed atomics, no lock). */
static void concurrent_exact(void **state) {
    (void)state;
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    char *t = render();
    assert_true(value_of(t, "bulwark_requests_total{route=\"chat\",decision=\"allow\","
                            "status=\"201\"}") == 400000);
    free(t);
}

static void gauges_only_after_refresh(void **state) {
    (void)state;
    char *t = render();
    assert_null(strstr(t, "bulwark_review_items_pending"));
    assert_true(value_of(t, "bulwark_gauges_ok") == 0);
    free(t);
    struct bw_metrics_gauges g = {3, 1, 2};
    bw_metrics_set_gauges(&g, 1);
    t = render();
    assert_true(value_of(t, "bulwark_outbox_queue_depth") == 3);
    assert_true(value_of(t, "bulwark_review_items_pending") == 2);
    free(t);
    bw_metrics_set_gauges(NULL, 0); /* stale: the last values stay, ok drops */
    t = render();
    assert_true(value_of(t, "bulwark_gauges_ok") == 0);
    assert_true(value_of(t, "bulwark_outbox_queue_depth") == 3);
    free(t);
}

static void render_cap(void **state) {
    (void)state;
    struct bw_buf b;
    bw_buf_init(&b, 100);
    assert_int_equal(bw_metrics_render(&b, 0), BW_E_TOO_LARGE);
    bw_buf_cleanup(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gauges_only_after_refresh), cmocka_unit_test(request_counted),
        cmocka_unit_test(limits_and_upstream),       cmocka_unit_test(cardinality_bounded),
        cmocka_unit_test(concurrent_exact),          cmocka_unit_test(render_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
