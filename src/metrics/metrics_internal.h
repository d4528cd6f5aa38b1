/* metrics_internal.h: the registry shared by metrics.c (recording) and metrics_render.c
 * (exposition). Not a public contract. */
#ifndef BW_METRICS_METRICS_INTERNAL_H
#define BW_METRICS_METRICS_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include "util/err.h"

#include "metrics/metrics.h"

#define BW_METRICS_STATUS_MIN 100
#define BW_METRICS_STATUS_N 500 /* 100..599; anything else goes to status="other" */
#define BW_METRICS_HIST_MAX 16

/* A histogram with fixed upper bounds; b[i] counts observations in (bound[i-1], bound[i]],
 * b[nb] the rest (+Inf). Not cumulative: the renderer sums. */
struct bw_metrics_hist {
    atomic_uint_fast64_t b[BW_METRICS_HIST_MAX + 1];
    atomic_uint_fast64_t sum; /* in the unit of the bounds */
};

enum bw_metrics_upstream_kind {
    BW_METRICS_UP_TIMEOUT,
    BW_METRICS_UP_UNAVAILABLE,
    BW_METRICS_UP_BAD_RESPONSE,
    BW_METRICS_UP_STATUS_5XX,
    BW_METRICS_UP_N
};

enum bw_metrics_limit {
    BW_METRICS_LIMIT_RATE,
    BW_METRICS_LIMIT_CONCURRENCY,
    BW_METRICS_LIMIT_BUDGET,
    BW_METRICS_LIMIT_N
};

struct bw_metrics_reason {
    char name[48]; /* written once before the table's count is published (release) */
    atomic_uint_fast64_t n[BW_METRICS_ROUTE_N];
};

struct bw_metrics_registry {
    atomic_uint_fast64_t requests[BW_METRICS_ROUTE_N][BW_METRICS_DECISION_N][BW_METRICS_STATUS_N];
    atomic_uint_fast64_t requests_other_status[BW_METRICS_ROUTE_N][BW_METRICS_DECISION_N];
    struct bw_metrics_hist duration[BW_METRICS_ROUTE_N];
    struct bw_metrics_hist added[BW_METRICS_ROUTE_N];
    struct bw_metrics_reason reasons[BW_METRICS_MAX_REASONS]; /* [0] is "OTHER" */
    atomic_int n_reasons;
    atomic_uint_fast64_t limit_refusals[BW_METRICS_LIMIT_N];
    atomic_uint_fast64_t upstream_errors[BW_METRICS_ROUTE_N][BW_METRICS_UP_N];
    struct bw_metrics_hist ledger_append;
    struct bw_metrics_hist ledger_batch;
    atomic_uint_fast64_t ledger_batches[2]; /* [0] committed, [1] rejected */
    atomic_uint_fast64_t egress_blocks[BW_METRICS_EGRESS_N];
    atomic_uint_fast64_t outbox_attempts[BW_METRICS_OUTBOX_N];
    atomic_uint_fast64_t otel[BW_METRICS_OTEL_N];
    atomic_int_fast64_t outbox_pending, outbox_dead, review_pending;
    atomic_int gauges_ok;  /* the last refresh read the store */
    atomic_int gauges_set; /* a refresh has run at least once */
};

/* bulwark_http_requests_total (metrics_http.c). */
bw_err bw_metrics_render_http(struct bw_buf *o) BW_MUST_CHECK;

/* The registry (metrics.c). */
extern struct bw_metrics_registry bw_metrics_reg;

/* Histogram bounds: latency in microseconds, batch sizes in receipts. */
extern const int64_t bw_metrics_latency_bounds[];
extern const int bw_metrics_latency_nb;
extern const int64_t bw_metrics_batch_bounds[];
extern const int bw_metrics_batch_nb;

#endif
