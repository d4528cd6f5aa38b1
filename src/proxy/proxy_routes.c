/* proxy_routes.c: the proxy's routes and per-worker state (proxy.h). */
#include <event2/http.h>
#include <stdlib.h>

#include "proxy/proxy_internal.h"
#include "proxy/widget.h"

#define WIDGET_CACHE_SLOTS 1024
#define WIDGET_CACHE_TTL_MS 1000 /* as the key cache's: a change elsewhere is seen within it */

void bw_call_begin(struct bw_gw_worker *w, struct evhttp_request *req, enum bw_route route);

bw_err bw_proxy_worker_init(struct bw_gw_worker *w) {
    if (bw_byok_cache_new(&w->byok) != BW_OK ||
        bw_widget_cache_new(WIDGET_CACHE_SLOTS, WIDGET_CACHE_TTL_MS, &w->widgets) != BW_OK) {
        bw_proxy_worker_fini(w);
        return BW_E_NOMEM;
    }
    return BW_OK;
}

void bw_proxy_worker_fini(struct bw_gw_worker *w) {
    bw_widget_cache_free(w->widgets);
    bw_byok_cache_free(w->byok);
    w->widgets = NULL;
    w->byok = NULL;
}

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

void bw_proxy_handle_chat(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    (void)path;
    bw_call_begin(w, req, BW_ROUTE_CHAT);
}

void bw_proxy_handle_embeddings(struct bw_gw_worker *w, struct evhttp_request *req,
                                const char *path) {
    (void)path;
    bw_call_begin(w, req, BW_ROUTE_EMBEDDINGS);
}

void bw_proxy_handle_models(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    (void)path;
    bw_call_begin(w, req, BW_ROUTE_MODELS);
}

/* The public browser widget: its own identification and CORS (proxy_widget.c), then the same
 * governed call. */
void bw_proxy_handle_widget(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    bw_widget_handle(w, req, path);
}
