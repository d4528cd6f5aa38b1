/* metrics_service.c: the /metrics reply, the gauge refresher and the separate listener. */
#include "metrics/metrics_service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/reply.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "store/connections.h"
#include "store/review_store.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/time.h"

#define RENDER_MAX ((size_t)8 << 20)
#define DEFAULT_REFRESH_MS 5000L
#define MAX_ORGS 100000 /* a refresh reads at most this many orgs (bounded work) */

struct bw_metrics_service {
    struct bw_metrics_service_opts opts;
    pthread_mutex_t mu; /* guards stopping */
    pthread_cond_t cond;
    int stopping;
    int refresher_started;
    pthread_t refresher;
    struct bw_server *server; /* the separate listener, or NULL */
};

void bw_metrics_reply(struct evhttp_request *req, long in_flight) {
    struct bw_buf text;
    bw_buf_init(&text, RENDER_MAX);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evbuffer_new();
    int ok = out && bw_metrics_render(&text, in_flight) == BW_OK &&
             evbuffer_add(out, text.ptr, text.len) == 0;
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", ok ? BW_METRICS_CONTENT_TYPE : "text/plain");
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (!ok && out)
        evbuffer_drain(out, evbuffer_get_length(out));
    bw_http_send(req, ok ? 200 : 500, out); /* captured when it runs as an API job */
    if (out)
        evbuffer_free(out);
    bw_buf_cleanup(&text);
}

int bw_metrics_host_is_loopback(const char *host) {
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0; /* a name other than localhost may resolve anywhere: not loopback */
}

/* Sums the gauges over every org, each read tenant-scoped like any other read. */
struct sums {
    struct bw_store *store;
    struct bw_metrics_gauges g;
    int64_t now_ms;
    int orgs;
    int failed;
};

static int sum_org(void *arg, const char *id, const char *name) {
    (void)name;
    struct sums *s = arg;
    struct bw_outbox_counts oc;
    int64_t pending = 0, oldest = 0;
    if (++s->orgs > MAX_ORGS)
        return 1;
    if (bw_store_outbox_org_counts(s->store, id, &oc) != BW_OK ||
        bw_store_review_pending_stats(s->store, id, s->now_ms, &pending, &oldest) != BW_OK) {
        s->failed = 1;
        return 1;
    }
    s->g.outbox_pending += oc.pending + oc.failed;
    s->g.outbox_dead += oc.dead;
    s->g.review_pending += pending;
    return 0;
}

static void refresh(struct bw_metrics_service *m, struct bw_store **store) {
    if (!*store && bw_store_open(m->opts.db_path, 0, store) != BW_OK) {
        *store = NULL;
        bw_metrics_set_gauges(NULL, 0);
        return;
    }
    struct sums s;
    memset(&s, 0, sizeof s);
    s.store = *store;
    s.now_ms = bw_now_ms();
    bw_err e = bw_store_orgs_each(*store, sum_org, &s);
    int ok = !s.failed && (e == BW_OK || s.orgs > MAX_ORGS);
    bw_metrics_set_gauges(ok ? &s.g : NULL, ok);
    if (!ok) { /* reopen next time: the connection may be what broke */
        bw_store_close(*store);
        *store = NULL;
    }
}

static void *refresher(void *arg) {
    pthread_setname_np(pthread_self(), "bw-metrics");
    struct bw_metrics_service *m = arg;
    struct bw_store *store = NULL;
    long every = m->opts.refresh_ms > 0 ? m->opts.refresh_ms : DEFAULT_REFRESH_MS;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        pthread_mutex_unlock(&m->mu);
        refresh(m, &store);
        pthread_mutex_lock(&m->mu);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        long ns = deadline.tv_nsec + (every % 1000) * 1000000L;
        deadline.tv_sec += every / 1000 + ns / 1000000000L;
        deadline.tv_nsec = ns % 1000000000L;
        while (!m->stopping && pthread_cond_timedwait(&m->cond, &m->mu, &deadline) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&m->mu);
    bw_store_close(store);
    return NULL;
}

/* The separate listener: GET /metrics only, no credential (see the header). */
static void *listener_init(void *arg, struct event_base *base, int index) {
    (void)base;
    (void)index;
    return arg;
}

static void listener_fini(void *ctx) {
    (void)ctx;
}

static long listener_inflight(void *arg) {
    (void)arg;
    return 0;
}

static void listener_handle(void *ctx, struct evhttp_request *req) {
    struct bw_metrics_service *m = ctx;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (!path || strcmp(path, "/metrics") != 0) {
        evhttp_add_header(h, "Content-Type", "text/plain");
        evhttp_send_reply(req, 404, "Not Found", NULL);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_add_header(h, "Allow", "GET");
        evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
        return;
    }
    bw_metrics_reply(req, m->opts.in_flight ? m->opts.in_flight(m->opts.in_flight_arg) : 0);
}

static bw_err start_listener(struct bw_metrics_service *m, int *bound_port) {
    const struct bw_metrics_service_opts *o = &m->opts;
    if (!o->allow_remote && !bw_metrics_host_is_loopback(o->listen_host))
        return BW_E_INVALID; /* the caller says why: no authentication on that listener */
    struct bw_server_opts so = {o->listen_host, o->listen_port, 1, 1024, 8192, 10, NULL, NULL, 0};
    struct bw_server_app app = {m, listener_init, listener_fini, listener_handle,
                                listener_inflight};
    return bw_server_start(&so, &app, &m->server, bound_port);
}

bw_err bw_metrics_service_start(const struct bw_metrics_service_opts *opts,
                                struct bw_metrics_service **out, int *bound_port) {
    BW_ENSURE(opts && opts->db_path, BW_E_INVALID);
    struct bw_metrics_service *m = calloc(1, sizeof *m);
    BW_ENSURE(m, BW_E_NOMEM);
    m->opts = *opts;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    *bound_port = 0;
    bw_err e = BW_OK;
    if (opts->listen_host && opts->listen_host[0])
        e = start_listener(m, bound_port);
    if (e == BW_OK) {
        if (pthread_create(&m->refresher, NULL, refresher, m) == 0)
            m->refresher_started = 1;
        else
            e = BW_E_UNAVAILABLE;
    }
    if (e != BW_OK) {
        bw_metrics_service_stop(m);
        return e;
    }
    *out = m;
    return BW_OK;
}

void bw_metrics_service_stop(struct bw_metrics_service *m) {
    if (!m)
        return;
    if (m->server)
        (void)bw_server_stop(m->server, 0);
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->mu);
    if (m->refresher_started)
        pthread_join(m->refresher, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    free(m);
}
