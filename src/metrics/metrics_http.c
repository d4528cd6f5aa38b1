/* metrics_http.c: every HTTP request the gateway answers, by route and status code
 * (bulwark_http_requests_total). bulwark_requests_total counts governed calls with their
 * decision; this counts everything else too: /api/ routes, health probes, /metrics, requests
 * refused at the door (route "refused") and unknown paths ("unknown").
 *
 * Route names come from the routing tables (static strings, http/reqlog.h), never from a client,
 * so the set is closed; a fixed table of BW_METRICS_HTTP_ROUTES slots interns them by content,
 * lock-free: a slot's name is published once with a compare-and-swap and never changes. Status
 * codes outside a fixed list count as "other". */
#include "metrics/metrics_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define BW_METRICS_HTTP_ROUTES 256

static const int codes[] = {200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 409,
                            410, 413, 415, 422, 429, 431, 499, 500, 501, 502, 503, 504, 505};
#define N_CODES (sizeof codes / sizeof codes[0])

struct http_route {
    _Atomic(const char *) name;          /* NULL = free; set once (CAS), then read-only */
    atomic_uint_fast64_t n[N_CODES + 1]; /* [N_CODES]: any other status */
};

/* Shared by every thread that ends a request and by the renderer: lock-free (names by CAS,
 * counts by relaxed adds), see the comment at the top. */
static struct http_route http_routes[BW_METRICS_HTTP_ROUTES];

/* A label value the exposition format needs no escaping for, of a sane length. */
static int name_ok(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= 80 || !(s[n] == '/' || s[n] == '_' || s[n] == '-' || s[n] == '.' || s[n] == '{' ||
                         s[n] == '}' || (s[n] >= 'a' && s[n] <= 'z') ||
                         (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9')))
            return 0;
    return n > 0;
}

static struct http_route *intern(const char *route) {
    if (!route || !name_ok(route))
        route = "other";
    uint32_t h = 2166136261u; /* FNV-1a: the same name always probes the same slots */
    for (const char *p = route; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (uint32_t i = 0; i < BW_METRICS_HTTP_ROUTES; i++) {
        struct http_route *r = &http_routes[(h + i) % BW_METRICS_HTTP_ROUTES];
        const char *cur = atomic_load_explicit(&r->name, memory_order_acquire);
        if (!cur) {
            const char *expect = NULL;
            if (atomic_compare_exchange_strong_explicit(&r->name, &expect, route,
                                                        memory_order_acq_rel, memory_order_acquire))
                return r;
            cur = expect; /* another thread took the slot: it may have taken it for this name */
        }
        if (strcmp(cur, route) == 0)
            return r;
    }
    return NULL; /* full: more distinct routes than slots (not reachable with today's tables) */
}

void bw_metrics_http_end(const char *route, int status) {
    struct http_route *r = intern(route);
    if (!r)
        return;
    size_t i = 0;
    while (i < N_CODES && codes[i] != status)
        i++;
    atomic_fetch_add_explicit(&r->n[i], 1, memory_order_relaxed);
}

bw_err bw_metrics_render_http(struct bw_buf *o) {
    BW_TRY(bw_buf_appendf(o, "# HELP bulwark_http_requests_total Every HTTP request answered, by "
                             "routing-table route and status code.\n"
                             "# TYPE bulwark_http_requests_total counter\n"));
    for (size_t s = 0; s < BW_METRICS_HTTP_ROUTES; s++) {
        const char *name = atomic_load_explicit(&http_routes[s].name, memory_order_acquire);
        if (!name)
            continue;
        for (size_t i = 0; i <= N_CODES; i++) {
            uint64_t v = atomic_load_explicit(&http_routes[s].n[i], memory_order_relaxed);
            if (!v)
                continue;
            char code[8];
            if (i < N_CODES)
                snprintf(code, sizeof code, "%d", codes[i]);
            else
                memcpy(code, "other", 6);
            BW_TRY(bw_buf_appendf(
                o, "bulwark_http_requests_total{route=\"%s\",code=\"%s\"} %" PRIu64 "\n", name,
                code, v));
        }
    }
    return BW_OK;
}
