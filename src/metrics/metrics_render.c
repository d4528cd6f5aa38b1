/* metrics_render.c: the Prometheus text exposition (format 0.0.4): "# HELP", "# TYPE", then one
 * line per series. Label values are all from closed sets (metrics.h), so none needs escaping
 * beyond what the registry's formats already exclude; series at zero are omitted for the
 * label-heavy counters and kept for the small fixed ones, so dashboards see them from start. */
#include <inttypes.h>
#include <stdio.h>

#include "metrics/metrics_internal.h"

#define RELAXED memory_order_relaxed

static uint64_t ld(atomic_uint_fast64_t *a) {
    return (uint64_t)atomic_load_explicit(a, RELAXED);
}

static bw_err head(struct bw_buf *o, const char *name, const char *type, const char *help) {
    return bw_buf_appendf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes a bound as a Prometheus float ("0.0025", "1", "+Inf"); scale 1e6 for microseconds. */
static void fmt_bound(char *out, size_t n, int64_t v, int64_t scale) {
    if (scale == 1)
        snprintf(out, n, "%" PRId64, v);
    else
        snprintf(out, n, "%.6g", (double)v / (double)scale);
}

/* One histogram series: cumulative buckets, +Inf == _count (the sum of the buckets read). */
static bw_err hist(struct bw_buf *o, const char *name, const char *labels,
                   struct bw_metrics_hist *h, const int64_t *bounds, int nb, int64_t scale) {
    uint64_t cum = 0;
    char le[32];
    const char *sep = labels[0] ? "," : "";
    for (int i = 0; i < nb; i++) {
        cum += ld(&h->b[i]);
        fmt_bound(le, sizeof le, bounds[i], scale);
        BW_TRY(bw_buf_appendf(o, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, labels, sep, le,
                              cum));
    }
    cum += ld(&h->b[nb]);
    BW_TRY(bw_buf_appendf(o, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum));
    uint64_t sum = ld(&h->sum);
    if (scale == 1)
        BW_TRY(bw_buf_appendf(o, "%s_sum{%s} %" PRIu64 "\n", name, labels, sum));
    else
        BW_TRY(bw_buf_appendf(o, "%s_sum{%s} %.6f\n", name, labels, (double)sum / (double)scale));
    return bw_buf_appendf(o, "%s_count{%s} %" PRIu64 "\n", name, labels, cum);
}

static bw_err render_requests(struct bw_buf *o) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    BW_TRY(head(o, "bulwark_requests_total", "counter",
                "Governed calls by route, decision and HTTP status answered."));
    for (int r = 0; r < BW_METRICS_ROUTE_N; r++)
        for (int d = 0; d < BW_METRICS_DECISION_N; d++) {
            const char *rn = bw_metrics_route_name(r), *dn = bw_metrics_decision_name(d);
            for (int s = 0; s < BW_METRICS_STATUS_N; s++) {
                uint64_t v = ld(&g->requests[r][d][s]);
                if (v)
                    BW_TRY(bw_buf_appendf(o,
                                          "bulwark_requests_total{route=\"%s\",decision=\"%s\","
                                          "status=\"%d\"} %" PRIu64 "\n",
                                          rn, dn, s + BW_METRICS_STATUS_MIN, v));
            }
            uint64_t v = ld(&g->requests_other_status[r][d]);
            if (v)
                BW_TRY(bw_buf_appendf(o,
                                      "bulwark_requests_total{route=\"%s\",decision=\"%s\","
                                      "status=\"other\"} %" PRIu64 "\n",
                                      rn, dn, v));
        }
    return BW_OK;
}

static bw_err render_latency(struct bw_buf *o) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    char labels[64];
    BW_TRY(head(o, "bulwark_request_duration_seconds", "histogram",
                "Total time of a governed call, first byte handled to the end."));
    for (int r = 0; r < BW_METRICS_ROUTE_N; r++) {
        snprintf(labels, sizeof labels, "route=\"%s\"", bw_metrics_route_name(r));
        BW_TRY(hist(o, "bulwark_request_duration_seconds", labels, &g->duration[r],
                    bw_metrics_latency_bounds, bw_metrics_latency_nb, 1000000));
    }
    BW_TRY(head(o, "bulwark_gateway_added_seconds", "histogram",
                "Time of a governed call not spent waiting for the upstream."));
    for (int r = 0; r < BW_METRICS_ROUTE_N; r++) {
        snprintf(labels, sizeof labels, "route=\"%s\"", bw_metrics_route_name(r));
        BW_TRY(hist(o, "bulwark_gateway_added_seconds", labels, &g->added[r],
                    bw_metrics_latency_bounds, bw_metrics_latency_nb, 1000000));
    }
    return BW_OK;
}

static bw_err render_refusals(struct bw_buf *o) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    static const char *const limits[] = {"rate", "concurrency", "budget"};
    static const char *const up[] = {"timeout", "unavailable", "bad_response", "status_5xx"};
    BW_TRY(head(o, "bulwark_refusals_total", "counter",
                "Calls that ended with a reason code other than ALLOWED, by route and reason."));
    int n = atomic_load_explicit(&g->n_reasons, memory_order_acquire);
    for (int i = 0; i < (n > 0 ? n : 1); i++)
        for (int r = 0; r < BW_METRICS_ROUTE_N; r++) {
            uint64_t v = ld(&g->reasons[i].n[r]);
            if (v)
                BW_TRY(bw_buf_appendf(
                    o, "bulwark_refusals_total{route=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                    bw_metrics_route_name(r), i ? g->reasons[i].name : "OTHER", v));
        }
    BW_TRY(head(o, "bulwark_limit_refusals_total", "counter",
                "Calls refused by a rate, concurrency or budget limit."));
    for (int k = 0; k < BW_METRICS_LIMIT_N; k++)
        BW_TRY(bw_buf_appendf(o, "bulwark_limit_refusals_total{limit=\"%s\"} %" PRIu64 "\n",
                              limits[k], ld(&g->limit_refusals[k])));
    BW_TRY(head(o, "bulwark_upstream_errors_total", "counter",
                "Forwarded calls the upstream failed: timeout, unreachable, bad answer, 5xx."));
    for (int r = 0; r < BW_METRICS_ROUTE_N; r++)
        for (int k = 0; k < BW_METRICS_UP_N; k++)
            BW_TRY(bw_buf_appendf(
                o, "bulwark_upstream_errors_total{route=\"%s\",kind=\"%s\"} %" PRIu64 "\n",
                bw_metrics_route_name(r), up[k], ld(&g->upstream_errors[r][k])));
    return BW_OK;
}

static bw_err render_ledger(struct bw_buf *o) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    BW_TRY(head(o, "bulwark_ledger_append_seconds", "histogram",
                "Time from a receipt's append to its batch's durable commit."));
    BW_TRY(hist(o, "bulwark_ledger_append_seconds", "", &g->ledger_append,
                bw_metrics_latency_bounds, bw_metrics_latency_nb, 1000000));
    BW_TRY(head(o, "bulwark_ledger_batch_size", "histogram", "Receipts per ledger commit."));
    BW_TRY(hist(o, "bulwark_ledger_batch_size", "", &g->ledger_batch, bw_metrics_batch_bounds,
                bw_metrics_batch_nb, 1));
    BW_TRY(head(o, "bulwark_ledger_batches_total", "counter", "Ledger commits by result."));
    BW_TRY(bw_buf_appendf(o, "bulwark_ledger_batches_total{result=\"committed\"} %" PRIu64 "\n",
                          ld(&g->ledger_batches[0])));
    return bw_buf_appendf(o, "bulwark_ledger_batches_total{result=\"rejected\"} %" PRIu64 "\n",
                          ld(&g->ledger_batches[1]));
}

static bw_err render_outbound(struct bw_buf *o) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    static const char *const stages[] = {"url", "connect"};
    static const char *const results[] = {"delivered", "failed", "dead"};
    static const char *const otel[] = {"exported", "dropped_queue_full", "dropped_export_failed"};
    BW_TRY(head(o, "bulwark_egress_blocks_total", "counter",
                "Outbound destinations the egress guard refused, by stage."));
    for (int i = 0; i < BW_METRICS_EGRESS_N; i++)
        BW_TRY(bw_buf_appendf(o, "bulwark_egress_blocks_total{stage=\"%s\"} %" PRIu64 "\n",
                              stages[i], ld(&g->egress_blocks[i])));
    BW_TRY(head(o, "bulwark_outbox_attempts_total", "counter",
                "Outbox delivery attempts by result (failed: retried later; dead: given up)."));
    for (int i = 0; i < BW_METRICS_OUTBOX_N; i++)
        BW_TRY(bw_buf_appendf(o, "bulwark_outbox_attempts_total{result=\"%s\"} %" PRIu64 "\n",
                              results[i], ld(&g->outbox_attempts[i])));
    BW_TRY(head(o, "bulwark_otel_spans_total", "counter",
                "OpenTelemetry spans exported or dropped (the exporter never delays a call)."));
    for (int i = 0; i < BW_METRICS_OTEL_N; i++)
        BW_TRY(bw_buf_appendf(o, "bulwark_otel_spans_total{result=\"%s\"} %" PRIu64 "\n", otel[i],
                              ld(&g->otel[i])));
    return BW_OK;
}

static bw_err gauge(struct bw_buf *o, const char *name, const char *help, int64_t v) {
    BW_TRY(head(o, name, "gauge", help));
    return bw_buf_appendf(o, "%s %" PRId64 "\n", name, v);
}

static bw_err render_gauges(struct bw_buf *o, long in_flight) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    BW_TRY(gauge(o, "bulwark_in_flight", "Requests and receipts in flight.", in_flight));
    BW_TRY(gauge(o, "bulwark_gauges_ok",
                 "1 if the last background refresh of the store-backed gauges read the store.",
                 atomic_load_explicit(&g->gauges_ok, RELAXED)));
    if (!atomic_load_explicit(&g->gauges_set, RELAXED))
        return BW_OK; /* never read: no value rather than a false zero */
    BW_TRY(gauge(o, "bulwark_outbox_queue_depth",
                 "Outbox events waiting for delivery (pending or failed and retrying).",
                 atomic_load_explicit(&g->outbox_pending, RELAXED)));
    BW_TRY(gauge(o, "bulwark_outbox_dead", "Outbox events given up after max_attempts.",
                 atomic_load_explicit(&g->outbox_dead, RELAXED)));
    return gauge(o, "bulwark_review_items_pending", "Review items pending a decision.",
                 atomic_load_explicit(&g->review_pending, RELAXED));
}

bw_err bw_metrics_render(struct bw_buf *out, long in_flight) {
    BW_TRY(render_requests(out));
    BW_TRY(bw_metrics_render_http(out));
    BW_TRY(render_latency(out));
    BW_TRY(render_refusals(out));
    BW_TRY(render_ledger(out));
    BW_TRY(render_outbound(out));
    BW_TRY(bw_metrics_render_store(out));
    return render_gauges(out, in_flight);
}
