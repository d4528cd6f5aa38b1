/* router.c: the gateway's per-worker state and request routing (gateway.h). The table of
 * routes comes from the composition root (cli/cli_routes.c); this file knows no module that
 * serves a route, only the order in which they are tried and the checks every route shares. */
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "jobs/jobs.h"
#include "policy/engine.h"
#include "posture/health.h"
#include "reason/reasons.h"
#include "store/store.h"
#include "upstream/upstream.h"
#include "util/log.h"

/* Verified key records are reused for up to a second: a key change in this process drops them
 * at once (bw_auth_cache_invalidate_all); another process's change is seen within the TTL. */
#define KEY_CACHE_SLOTS 4096
#define KEY_CACHE_TTL_MS 1000

static void worker_free(struct bw_gw_worker *w) {
    /* First: the store jobs this worker still waits for finish and their done callbacks run
     * here (the worker's loop has stopped), while the worker's state still exists. */
    bw_jobs_owner_gone(w->gw->jobs, w->base);
    if (w->gw->worker_fini)
        w->gw->worker_fini(w);
    bw_auth_cache_free(w->keys);
    bw_upstream_free(w->up);
    bw_store_close(w->store);
    free(w);
}

static void *worker_init(void *arg, struct event_base *base, int index) {
    struct bw_gateway *gw = arg;
    struct bw_gw_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->gw = gw;
    w->base = base;
    if (bw_store_open(gw->db_path, 0, &w->store) != BW_OK ||
        bw_upstream_new(base, &w->up) != BW_OK ||
        bw_auth_cache_new(KEY_CACHE_SLOTS, KEY_CACHE_TTL_MS, &w->keys) != BW_OK ||
        (gw->worker_init && gw->worker_init(w) != BW_OK)) {
        bw_error("gateway: worker %d: cannot open the store or the upstream client", index);
        worker_free(w);
        return NULL;
    }
    return w;
}

static void worker_fini(void *ctx) {
    worker_free(ctx);
}

static long inflight(void *arg) {
    struct bw_gateway *gw = arg;
    return atomic_load(&gw->inflight);
}

static int route_matches(const struct bw_gateway_route *r, const char *path) {
    size_t n = strlen(r->path);
    if (n > 0 && r->path[n - 1] == '/')
        return strncmp(path, r->path, n) == 0;
    return strcmp(path, r->path) == 0;
}

static void refuse_stopping(struct evhttp_request *req) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    bw_http_reply_error(req, 503, BW_R_SHUTTING_DOWN, "gateway is shutting down", NULL, NULL);
}

static void handle(void *ctx, struct evhttp_request *req) {
    struct bw_gw_worker *w = ctx;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    bw_reqlog_set_route(req, "unknown"); /* until a routing table names it */
    if (!path) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, "malformed request target", NULL, NULL);
        return;
    }
    for (const struct bw_gateway_route *r = w->gw->routes; r && r->path; r++) {
        if (!route_matches(r, path))
            continue;
        bw_reqlog_set_route(req, r->log_name);
        if (r->method != BW_GW_ROUTE_ANY_METHOD &&
            (int)evhttp_request_get_command(req) != r->method) {
            bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED,
                                "method not allowed on this path", NULL, NULL);
            return;
        }
        if ((r->flags & BW_GW_REFUSE_STOPPING) && atomic_load(&w->gw->stopping)) {
            refuse_stopping(req);
            return;
        }
        r->handle(w, req, path);
        return;
    }
    bw_reqlog_set_route(req, "unknown");
    bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
}

static void not_found(struct evhttp_request *req) {
    bw_reqlog_set_route(req, "unknown");
    bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
}

void bw_gateway_healthz(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    (void)w;
    (void)path;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        not_found(req);
        return;
    }
    static const char ok[] = "{\"status\":\"ok\"}";
    bw_http_reply_json(req, 200, ok, sizeof ok - 1);
}

/* GET /readyz (no authentication; names only: posture/health.h). The signer is the ledger's
 * key, loaded with it; a configured policy file must be in force. */
void bw_gateway_readyz(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    (void)path;
    struct bw_gateway *gw = w->gw;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        not_found(req);
        return;
    }
    char body[160];
    struct bw_policy *p = gw->cfg && gw->cfg->policy[0] ? bw_gateway_policy_acquire(gw) : NULL;
    int policy_ok = !(gw->cfg && gw->cfg->policy[0]) || p != NULL;
    bw_policy_unref(p);
    int status = bw_health_readyz(gw->ledger != NULL, policy_ok, atomic_load(&gw->stopping), body,
                                  sizeof body);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    bw_http_reply_json(req, status, body, strlen(body));
}

void bw_gateway_app(struct bw_gateway *gw, const struct bw_gateway_route *routes,
                    bw_err (*init)(struct bw_gw_worker *w), void (*fini)(struct bw_gw_worker *w),
                    struct bw_server_app *app) {
    gw->routes = routes;
    gw->worker_init = init;
    gw->worker_fini = fini;
    app->arg = gw;
    app->worker_init = worker_init;
    app->worker_fini = worker_fini;
    app->handle = handle;
    app->inflight = inflight;
}
