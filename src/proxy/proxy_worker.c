/* proxy_worker.c: per-worker state and request routing. */
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "jobs/jobs.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "mcp/mcp.h"
#include "policy/reasons.h"
#include "posture/health.h"
#include "proxy/proxy_internal.h"
#include "proxy/widget.h"
#include "util/log.h"

/* Verified key records are reused for up to a second: a key change in this process drops them
 * at once (bw_auth_cache_invalidate_all); another process's change is seen within the TTL. */
#define KEY_CACHE_SLOTS 4096
#define KEY_CACHE_TTL_MS 1000
#define WIDGET_CACHE_SLOTS 1024

void bw_call_begin(struct bw_gw_worker *w, struct evhttp_request *req, enum bw_route route);
void bw_mcp_prm_handle(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);

bw_err bw_gateway_set_upstream(struct bw_gateway *gw, const char *base) {
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n > 1000 || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0))
        return BW_E_INVALID;
    snprintf(gw->url_chat, sizeof gw->url_chat, "%.*s/chat/completions", (int)n, base);
    snprintf(gw->url_embeddings, sizeof gw->url_embeddings, "%.*s/embeddings", (int)n, base);
    snprintf(gw->url_models, sizeof gw->url_models, "%.*s/models", (int)n, base);
    return BW_OK;
}

static void *worker_init(void *arg, struct event_base *base, int index) {
    (void)index;
    struct bw_gateway *gw = arg;
    struct bw_gw_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->gw = gw;
    w->base = base;
    if (bw_store_open(gw->db_path, 0, &w->store) != BW_OK ||
        bw_upstream_new(base, &w->up) != BW_OK ||
        bw_auth_cache_new(KEY_CACHE_SLOTS, KEY_CACHE_TTL_MS, &w->keys) != BW_OK ||
        bw_byok_cache_new(&w->byok) != BW_OK ||
        bw_widget_cache_new(WIDGET_CACHE_SLOTS, KEY_CACHE_TTL_MS, &w->widgets) != BW_OK) {
        bw_error("proxy: worker %d: cannot open the store or the upstream client", index);
        bw_byok_cache_free(w->byok);
        bw_auth_cache_free(w->keys);
        bw_upstream_free(w->up);
        bw_store_close(w->store);
        free(w);
        return NULL;
    }
    return w;
}

static void worker_fini(void *ctx) {
    struct bw_gw_worker *w = ctx;
    bw_jobs_owner_gone(w->gw->jobs, w->base); /* the last API answers owed to this worker */
    bw_widget_cache_free(w->widgets);
    bw_auth_cache_free(w->keys);
    bw_byok_cache_free(w->byok);
    bw_upstream_free(w->up);
    bw_store_close(w->store);
    free(w);
}

static long inflight(void *arg) {
    struct bw_gateway *gw = arg;
    return atomic_load(&gw->inflight);
}

struct route_entry {
    const char *path;
    enum evhttp_cmd_type method;
    enum bw_route route;
};

static const struct route_entry routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, BW_ROUTE_CHAT},
    {"/v1/embeddings", EVHTTP_REQ_POST, BW_ROUTE_EMBEDDINGS},
    {"/v1/models", EVHTTP_REQ_GET, BW_ROUTE_MODELS},
};

const char *bw_route_name(enum bw_route r) {
    switch (r) {
    case BW_ROUTE_CHAT:
        return "chat";
    case BW_ROUTE_EMBEDDINGS:
        return "embeddings";
    case BW_ROUTE_MODELS:
        return "models";
    case BW_ROUTE_WIDGET:
        return "widget";
    default:
        return "unknown";
    }
}

/* GET /readyz (no authentication; names only: posture/health.h). The signer is the ledger's
 * key, loaded with it; a configured policy file must be in force. */
static void readyz(struct bw_gateway *gw, struct evhttp_request *req) {
    char body[160];
    struct bw_policy *p = gw->cfg && gw->cfg->policy[0] ? bw_gateway_policy_acquire(gw) : NULL;
    int policy_ok = !(gw->cfg && gw->cfg->policy[0]) || p != NULL;
    bw_policy_unref(p);
    int status = bw_health_readyz(gw->ledger != NULL, policy_ok, atomic_load(&gw->stopping), body,
                                  sizeof body);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    bw_http_reply_json(req, status, body, strlen(body));
}

static void handle(void *ctx, struct evhttp_request *req) {
    struct bw_gw_worker *w = ctx;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    bw_reqlog_set_route(req, "unknown"); /* until a routing table names it */
    if (!path) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, "malformed request target", NULL, NULL);
        return;
    }
    if (strncmp(path, "/api/", 5) == 0) {
        bw_reqlog_set_route(req, "api");
        struct bw_api_ctx api = {w->gw, w->base, w->store, w->keys};
        bw_api_handle(&api, req, path);
        return;
    }
    if (strncmp(path, "/widget/", 8) == 0) {
        /* The public browser widget: its own identification and CORS (proxy_widget.c), then
         * the same governed call as below. */
        bw_reqlog_set_route(req, "widget");
        if (atomic_load(&w->gw->stopping)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
            bw_http_reply_error(req, 503, BW_R_SHUTTING_DOWN, "gateway is shutting down", NULL,
                                NULL);
            return;
        }
        bw_widget_handle(w, req, path);
        return;
    }
    if (strncmp(path, "/mcp/", 5) == 0) { /* MCP gateway (src/mcp/mcp.h) */
        bw_reqlog_set_route(req, "mcp");
        if (atomic_load(&w->gw->stopping)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
            bw_http_reply_error(req, 503, BW_R_SHUTTING_DOWN, "gateway is shutting down", NULL,
                                NULL);
            return;
        }
        bw_mcp_handle(w, req, path);
        return;
    }
    if (strcmp(path, "/metrics") == 0) { /* operator key; api_metrics.c */
        bw_reqlog_set_route(req, "metrics");
        struct bw_api_ctx api = {w->gw, w->base, w->store, w->keys};
        bw_api_metrics_handle(&api, req);
        return;
    }
    if (strcmp(path, "/healthz") == 0 && method == EVHTTP_REQ_GET) {
        bw_reqlog_set_route(req, "healthz");
        static const char ok[] = "{\"status\":\"ok\"}";
        bw_http_reply_json(req, 200, ok, sizeof ok - 1);
        return;
    }
    if (strncmp(path, "/.well-known/oauth-protected-resource/", 38) == 0) { /* proxy_prm.c */
        bw_reqlog_set_route(req, "mcp_prm");
        bw_mcp_prm_handle(w, req, path);
        return;
    }
    if (strcmp(path, "/readyz") == 0 && method == EVHTTP_REQ_GET) {
        bw_reqlog_set_route(req, "readyz");
        readyz(w->gw, req);
        return;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(path, routes[i].path) != 0)
            continue;
        bw_reqlog_set_route(req, bw_route_name(routes[i].route));
        if (method != routes[i].method) {
            bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED,
                                "method not allowed on this path", NULL, NULL);
            return;
        }
        if (atomic_load(&w->gw->stopping)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
            bw_http_reply_error(req, 503, BW_R_SHUTTING_DOWN, "gateway is shutting down", NULL,
                                NULL);
            return;
        }
        bw_call_begin(w, req, routes[i].route);
        return;
    }
    bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
}

void bw_gateway_app(struct bw_gateway *gw, struct bw_server_app *app) {
    app->arg = gw;
    app->worker_init = worker_init;
    app->worker_fini = worker_fini;
    app->handle = handle;
    app->inflight = inflight;
}
