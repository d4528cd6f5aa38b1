/* metrics.c: recording. Every function here is a few relaxed atomic adds on fixed arrays (no
 * lock, no allocation), except the first sight of a new reason code, which takes a mutex once
 * per code for the life of the process. */
#include <pthread.h>
#include <string.h>

#include "metrics/metrics_internal.h"
#include "reason/reasons.h"

/* Shared by every thread of the process: written only with relaxed atomic adds and stores (the
 * reason table's names with the release/acquire protocol below); zero-initialised. */
struct bw_metrics_registry bw_metrics_reg;
/* Serialises only the insertion of a new reason code (rare: at most BW_METRICS_MAX_REASONS). */
static pthread_mutex_t reasons_mu = PTHREAD_MUTEX_INITIALIZER;

#define RELAXED memory_order_relaxed

const int64_t bw_metrics_latency_bounds[] = {
    1000,   2500,    5000,    10000,   25000,    50000,    100000,   250000,
    500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 120000000,
};
const int bw_metrics_latency_nb = (int)(sizeof bw_metrics_latency_bounds / sizeof(int64_t));
const int64_t bw_metrics_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
const int bw_metrics_batch_nb = (int)(sizeof bw_metrics_batch_bounds / sizeof(int64_t));

const char *bw_metrics_route_name(enum bw_metrics_route r) {
    switch (r) {
    case BW_METRICS_ROUTE_CHAT:
        return "chat";
    case BW_METRICS_ROUTE_EMBEDDINGS:
        return "embeddings";
    case BW_METRICS_ROUTE_MODELS:
        return "models";
    case BW_METRICS_ROUTE_WIDGET:
        return "widget";
    default:
        return "unknown";
    }
}

const char *bw_metrics_decision_name(enum bw_metrics_decision d) {
    switch (d) {
    case BW_METRICS_DECISION_ALLOW:
        return "allow";
    case BW_METRICS_DECISION_DENY:
        return "deny";
    case BW_METRICS_DECISION_APPROVAL:
        return "require_approval";
    case BW_METRICS_DECISION_NONE:
    default:
        return "none";
    }
}

static void hist_observe(struct bw_metrics_hist *h, const int64_t *bounds, int nb, int64_t v) {
    if (v < 0)
        v = 0;
    int i = 0;
    while (i < nb && v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->b[i], 1, RELAXED);
    atomic_fetch_add_explicit(&h->sum, (uint_fast64_t)v, RELAXED);
}

/* The registry's own format for reason codes (docs/REASON_CODES.md): upper case, digits, '_'. */
static int reason_ok(const char *r) {
    size_t n = 0;
    for (; r[n]; n++) {
        char ch = r[n];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_') || n >= 47)
            return 0;
    }
    return n > 0;
}

/* The slot of reason r: lock-free lookup over the published prefix; a new code is added under
 * reasons_mu (name written, then the count released); a full table or a malformed code: 0. */
static int reason_slot(const char *r) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    if (!reason_ok(r))
        return 0;
    int n = atomic_load_explicit(&g->n_reasons, memory_order_acquire);
    for (int i = 1; i < n; i++)
        if (strcmp(g->reasons[i].name, r) == 0)
            return i;
    pthread_mutex_lock(&reasons_mu);
    n = atomic_load_explicit(&g->n_reasons, memory_order_acquire);
    if (n == 0) { /* first use: slot 0 is the overflow bucket */
        memcpy(g->reasons[0].name, "OTHER", 6);
        n = 1;
        atomic_store_explicit(&g->n_reasons, 1, memory_order_release);
    }
    int slot = 0;
    for (int i = 1; i < n && !slot; i++)
        if (strcmp(g->reasons[i].name, r) == 0)
            slot = i;
    if (!slot && n < BW_METRICS_MAX_REASONS) {
        memcpy(g->reasons[n].name, r, strlen(r) + 1);
        slot = n;
        atomic_store_explicit(&g->n_reasons, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&reasons_mu);
    return slot;
}

static void count_limit(const char *reason) {
    int k =
        strcmp(reason, BW_R_RATE_LIMITED) == 0          ? BW_METRICS_LIMIT_RATE
        : strcmp(reason, BW_R_CONCURRENCY_LIMITED) == 0 ? BW_METRICS_LIMIT_CONCURRENCY
        : strcmp(reason, BW_R_BUDGET_EXHAUSTED) == 0 || strcmp(reason, BW_R_BUDGET_UNBOUNDED) == 0
            ? BW_METRICS_LIMIT_BUDGET
            : -1;
    if (k >= 0)
        atomic_fetch_add_explicit(&bw_metrics_reg.limit_refusals[k], 1, RELAXED);
}

static void count_upstream(const struct bw_metrics_request *r) {
    int k = -1;
    if (r->reason && strcmp(r->reason, BW_R_UPSTREAM_TIMEOUT) == 0)
        k = BW_METRICS_UP_TIMEOUT;
    else if (r->reason && strcmp(r->reason, BW_R_UPSTREAM_UNAVAILABLE) == 0)
        k = BW_METRICS_UP_UNAVAILABLE;
    else if (r->reason && strcmp(r->reason, BW_R_UPSTREAM_BAD_RESPONSE) == 0)
        k = BW_METRICS_UP_BAD_RESPONSE;
    else if (r->forwarded && r->upstream_status >= 500 && r->upstream_status <= 599)
        k = BW_METRICS_UP_STATUS_5XX;
    if (k >= 0)
        atomic_fetch_add_explicit(&bw_metrics_reg.upstream_errors[r->route][k], 1, RELAXED);
}

void bw_metrics_request_end(const struct bw_metrics_request *r) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    if ((unsigned)r->route >= BW_METRICS_ROUTE_N || (unsigned)r->decision >= BW_METRICS_DECISION_N)
        return; /* a broken caller must not index out of bounds */
    int s = r->http_status - BW_METRICS_STATUS_MIN;
    if (s >= 0 && s < BW_METRICS_STATUS_N)
        atomic_fetch_add_explicit(&g->requests[r->route][r->decision][s], 1, RELAXED);
    else
        atomic_fetch_add_explicit(&g->requests_other_status[r->route][r->decision], 1, RELAXED);
    hist_observe(&g->duration[r->route], bw_metrics_latency_bounds, bw_metrics_latency_nb,
                 r->total_us);
    int64_t added = r->total_us - (r->upstream_us > 0 ? r->upstream_us : 0);
    hist_observe(&g->added[r->route], bw_metrics_latency_bounds, bw_metrics_latency_nb, added);
    if (r->reason && r->reason[0] && strcmp(r->reason, BW_R_ALLOWED) != 0) {
        atomic_fetch_add_explicit(&g->reasons[reason_slot(r->reason)].n[r->route], 1, RELAXED);
        count_limit(r->reason);
    }
    count_upstream(r);
}

void bw_metrics_ledger_batch(size_t n, int ok) {
    hist_observe(&bw_metrics_reg.ledger_batch, bw_metrics_batch_bounds, bw_metrics_batch_nb,
                 (int64_t)n);
    atomic_fetch_add_explicit(&bw_metrics_reg.ledger_batches[ok ? 0 : 1], 1, RELAXED);
}

void bw_metrics_ledger_append_latency(int64_t us) {
    hist_observe(&bw_metrics_reg.ledger_append, bw_metrics_latency_bounds, bw_metrics_latency_nb,
                 us);
}

void bw_metrics_egress_block(enum bw_metrics_egress_stage stage) {
    if ((unsigned)stage < BW_METRICS_EGRESS_N)
        atomic_fetch_add_explicit(&bw_metrics_reg.egress_blocks[stage], 1, RELAXED);
}

void bw_metrics_outbox_attempt(enum bw_metrics_outbox_result r) {
    if ((unsigned)r < BW_METRICS_OUTBOX_N)
        atomic_fetch_add_explicit(&bw_metrics_reg.outbox_attempts[r], 1, RELAXED);
}

void bw_metrics_otel_spans(enum bw_metrics_otel what, uint64_t n) {
    if ((unsigned)what < BW_METRICS_OTEL_N)
        atomic_fetch_add_explicit(&bw_metrics_reg.otel[what], n, RELAXED);
}

void bw_metrics_set_gauges(const struct bw_metrics_gauges *gv, int ok) {
    struct bw_metrics_registry *g = &bw_metrics_reg;
    if (ok) {
        atomic_store_explicit(&g->outbox_pending, gv->outbox_pending, RELAXED);
        atomic_store_explicit(&g->outbox_dead, gv->outbox_dead, RELAXED);
        atomic_store_explicit(&g->review_pending, gv->review_pending, RELAXED);
        atomic_store_explicit(&g->gauges_set, 1, RELAXED);
    }
    atomic_store_explicit(&g->gauges_ok, ok ? 1 : 0, RELAXED);
}
