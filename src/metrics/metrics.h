/* metrics.h: the gateway's Prometheus metrics (docs/API.md "Metrics" lists every series).
 *
 * One process-wide registry of counters, histograms and gauges. Recording is a few relaxed
 * atomic adds on fixed arrays: no lock, no allocation, safe from any thread (event workers, the
 * ledger thread, outbox threads, the egress hook). Rendering (bw_metrics_render) reads the same
 * atomics without stopping writers, so a scrape sees each value at some instant; a histogram's
 * _count is the sum of the bucket counts it read, so +Inf == _count always holds.
 *
 * Cardinality is fixed by construction: every label value comes from a closed set the gateway
 * owns (the route enum, the decision effect, an HTTP status code 100..599, a reason code in the
 * registry's format, a fixed kind list). Nothing the client sends (model names, headers, org or
 * key names) ever becomes a label, so no request can create a series. Reason codes are kept in
 * a table of BW_METRICS_MAX_REASONS entries; a code not in [A-Z0-9_]{1,47} or past the table's
 * end is counted as "OTHER". The caller maps an org policy's own codes to "ORG_POLICY"
 * (proxy_observe.c), so a tenant admin cannot fill the table; the platform policy's custom codes
 * are the operator's own.
 *
 * Gauges that need the store (outbox queue depth, review items pending) are set by a background
 * refresher (metrics_service.c) and only read by a scrape: a scrape never touches the store. */
#ifndef BW_METRICS_METRICS_H
#define BW_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define BW_METRICS_MAX_REASONS 128

/* The governed routes (enum bw_route in proxy/ maps onto these one to one). */
enum bw_metrics_route {
    BW_METRICS_ROUTE_CHAT,
    BW_METRICS_ROUTE_EMBEDDINGS,
    BW_METRICS_ROUTE_MODELS,
    BW_METRICS_ROUTE_WIDGET,
    BW_METRICS_ROUTE_N
};

/* The call's decision: none when it ended before a decision (bad request, no key). */
enum bw_metrics_decision {
    BW_METRICS_DECISION_NONE,
    BW_METRICS_DECISION_ALLOW,
    BW_METRICS_DECISION_DENY,
    BW_METRICS_DECISION_APPROVAL,
    BW_METRICS_DECISION_N
};

/* Label values: "chat"..., and "allow", "deny", "require_approval", "none". */
const char *bw_metrics_route_name(enum bw_metrics_route r);
const char *bw_metrics_decision_name(enum bw_metrics_decision d);

/* What one governed call ended with. reason is a reason code (a static string), or NULL for a
 * call that ended normally. */
struct bw_metrics_request {
    enum bw_metrics_route route;
    enum bw_metrics_decision decision;
    int http_status;      /* what the client was answered (499: the client went away) */
    const char *reason;   /* the refusal's or failure's reason code, or NULL */
    int64_t total_us;     /* from the first byte handled to the end */
    int64_t upstream_us;  /* spent waiting for the upstream (0 if never forwarded) */
    int forwarded;        /* the upstream was called */
    long upstream_status; /* the upstream's HTTP status, 0 if none (unreached) */
};

/* The end of one governed call. Any thread; lock-free. */
void bw_metrics_request_end(const struct bw_metrics_request *r);

/* The end of any HTTP request (http/reqlog.c): route is a routing table's static name (never
 * client input), status what was answered. Any thread; lock-free. */
void bw_metrics_http_end(const char *route, int status);

/* The ledger thread committed a batch of n receipts (ok: durable, else rejected). */
void bw_metrics_ledger_batch(size_t n, int ok);
/* One receipt's time from bw_ledger_append to the end of its batch's commit. */
void bw_metrics_ledger_append_latency(int64_t us);

enum bw_metrics_egress_stage {
    BW_METRICS_EGRESS_URL,     /* URL or name rules, or a resolved address (before connecting) */
    BW_METRICS_EGRESS_CONNECT, /* the connect-time check of an address libcurl dialled */
    BW_METRICS_EGRESS_N
};
/* The egress guard refused an outbound destination. */
void bw_metrics_egress_block(enum bw_metrics_egress_stage stage);

/* One outbox delivery attempt: delivered, failed (retried later) or dead (gave up). */
enum bw_metrics_outbox_result {
    BW_METRICS_OUTBOX_DELIVERED,
    BW_METRICS_OUTBOX_FAILED,
    BW_METRICS_OUTBOX_DEAD,
    BW_METRICS_OUTBOX_N
};
void bw_metrics_outbox_attempt(enum bw_metrics_outbox_result r);

/* The OpenTelemetry exporter's span accounting (otel/otel.h). */
enum bw_metrics_otel {
    BW_METRICS_OTEL_EXPORTED,
    BW_METRICS_OTEL_DROPPED_QUEUE_FULL,
    BW_METRICS_OTEL_DROPPED_EXPORT_FAILED,
    BW_METRICS_OTEL_N
};
void bw_metrics_otel_spans(enum bw_metrics_otel what, uint64_t n);

/* The refresher's store-backed gauges; ok = 0 marks them stale (the store could not be read):
 * bulwark_gauges_ok goes to 0 and the last values stay. */
struct bw_metrics_gauges {
    int64_t outbox_pending; /* pending + failed (due now or later) */
    int64_t outbox_dead;
    int64_t review_pending;
};
void bw_metrics_set_gauges(const struct bw_metrics_gauges *g, int ok);

/* The store job pool whose counters the exposition shows (bulwark_store_jobs_total,
 * bulwark_store_jobs_queued; metrics_store.c); NULL before it exists and after it is freed
 * (serve sets it after bw_jobs_new and clears it before bw_jobs_free). */
struct bw_jobs;
void bw_metrics_set_jobs(struct bw_jobs *j);
bw_err bw_metrics_render_store(struct bw_buf *out) BW_MUST_CHECK;

/* Appends the whole exposition (Prometheus text format 0.0.4) to out. in_flight: the gateway's
 * in-flight count (a gauge the caller owns). Errors: BW_E_TOO_LARGE (out's cap). Thread-safe. */
bw_err bw_metrics_render(struct bw_buf *out, long in_flight) BW_MUST_CHECK;

/* The Content-Type of the exposition. */
#define BW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
