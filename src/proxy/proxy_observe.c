/* proxy_observe.c: the end of a governed call, observed once: counters and histograms
 * (metrics/metrics.h) and, when configured, an OpenTelemetry span (otel/otel.h). Both are
 * lock-free or bounded: nothing here can slow or fail the call. Other observers of a call's end
 * (a request log) belong here too, so there is one call site in proxy_call.c. */
#include <event2/http.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "otel/otel.h"
#include "proxy/proxy_internal.h"
#include "util/time.h"

static enum bw_metrics_route metrics_route(enum bw_route r) {
    switch (r) {
    case BW_ROUTE_CHAT:
        return BW_METRICS_ROUTE_CHAT;
    case BW_ROUTE_EMBEDDINGS:
        return BW_METRICS_ROUTE_EMBEDDINGS;
    case BW_ROUTE_MODELS:
        return BW_METRICS_ROUTE_MODELS;
    case BW_ROUTE_WIDGET:
        return BW_METRICS_ROUTE_WIDGET;
    default:
        return BW_METRICS_ROUTE_N; /* ignored by bw_metrics_request_end */
    }
}

/* The decision only exists once its receipt does (a call refused earlier has none). */
static enum bw_metrics_decision metrics_decision(const struct bw_call *c) {
    if (!c->record.receipt_id[0])
        return BW_METRICS_DECISION_NONE;
    switch (c->decide.decision.effect) {
    case BW_POLICY_ALLOW:
        return BW_METRICS_DECISION_ALLOW;
    case BW_POLICY_REQUIRE_APPROVAL:
        return BW_METRICS_DECISION_APPROVAL;
    case BW_POLICY_DENY:
    case BW_POLICY_STRIP:
    default:
        return BW_METRICS_DECISION_DENY;
    }
}

static const char *operation_name(enum bw_route r) {
    switch (r) {
    case BW_ROUTE_CHAT:
    case BW_ROUTE_WIDGET:
        return "chat";
    case BW_ROUTE_EMBEDDINGS:
        return "embeddings";
    case BW_ROUTE_MODELS:
        return "models";
    default:
        return "unknown";
    }
}

static void export_span(struct bw_call *c, const struct bw_metrics_request *m) {
    struct bw_otel_span s;
    memset(&s, 0, sizeof s);
    const char *tp = evhttp_find_header(evhttp_request_get_input_headers(c->req), "traceparent");
    bw_otel_new_ids(s.trace_id, s.span_id);
    if (tp && bw_otel_traceparent_parse(tp, s.trace_id, s.parent_span_id))
        s.has_parent = 1; /* the client's trace continues: new span id, its trace id */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s.end_unix_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    s.start_unix_ns = s.end_unix_ns - m->total_us * 1000;
    snprintf(s.operation, sizeof s.operation, "%s", operation_name(c->route));
    snprintf(s.route, sizeof s.route, "%s", bw_route_name(c->route));
    snprintf(s.request_model, sizeof s.request_model, "%s", c->in.model);
    if (c->settle.settled || c->answer.has_usage) {
        s.has_usage = 1;
        s.input_tokens = c->settle.settled ? c->settle.settled_prompt : c->answer.prompt_tokens;
        s.output_tokens =
            c->settle.settled ? c->settle.settled_completion : c->answer.completion_tokens;
    }
    snprintf(s.receipt_id, sizeof s.receipt_id, "%s", c->record.receipt_id);
    snprintf(s.decision, sizeof s.decision, "%s", bw_metrics_decision_name(m->decision));
    snprintf(s.reason, sizeof s.reason, "%s", m->reason ? m->reason : "");
    s.http_status = m->http_status;
    bw_otel_submit(c->w->gw->otel, &s);
}

void bw_call_observe_end(struct bw_call *c, int http_status, const char *reason) {
    if (c->observe.observed)
        return;
    c->observe.observed = 1;
    int64_t now = bw_mono_us();
    int64_t upstream = 0;
    if (c->fwd.upstream_start_us)
        upstream =
            (c->fwd.upstream_end_us ? c->fwd.upstream_end_us : now) - c->fwd.upstream_start_us;
    if (!reason && c->record.receipt_id[0] && c->decide.decision.effect != BW_POLICY_ALLOW)
        reason = c->decide.decision.reason;
    /* An org's own policy names its own reason codes (any ^[A-Z][A-Z0-9_]{2,47}$): a tenant
     * admin must not be able to fill the metrics' reason table and push the platform's codes
     * into OTHER, so its decisions are one label. The span keeps the real code. */
    const char *label = reason;
    if (reason && c->record.receipt_id[0] && c->decide.decision.layer &&
        strcmp(c->decide.decision.layer, "org") == 0 &&
        strcmp(reason, c->decide.decision.reason) == 0)
        label = "ORG_POLICY";
    struct bw_metrics_request m = {
        .route = metrics_route(c->route),
        .decision = metrics_decision(c),
        .http_status = http_status,
        .reason = label,
        .total_us = now - c->start_us,
        .upstream_us = upstream,
        .forwarded = c->fwd.forwarded,
        .upstream_status = c->fwd.upstream_status,
    };
    bw_metrics_request_end(&m);
    if (c->w->gw->otel) {
        m.reason = reason;
        export_span(c, &m);
    }
}
