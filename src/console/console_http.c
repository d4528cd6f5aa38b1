/* console_http.c: serving /console/ (console.h): the embedded assets, the security headers
 * every console answer carries, and the dispatch to /console/api/ (console_api.c). */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <string.h>

#include "console/console.h"
#include "console/console_internal.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "reason/reasons.h"

/* No inline script or style, no eval, nothing from another origin, never framed. img-src allows
 * data: only for the SVG the page itself builds; connect-src 'self' is the API. */
static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

void bw_console_security_headers(struct evhttp_request *req) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Security-Policy", csp);
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
    evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
    evhttp_add_header(h, "Cache-Control", "no-store");
}

int bw_console_request_tls(struct evhttp_request *req) {
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    return bev && bufferevent_openssl_get_ssl(bev) != NULL;
}

static const char *content_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    return "application/octet-stream";
}

static const struct bw_console_asset *asset_find(const char *name) {
    for (size_t i = 0; i < bw_console_n_assets; i++)
        if (strcmp(bw_console_assets[i].name, name) == 0)
            return &bw_console_assets[i];
    return NULL;
}

static void serve_asset(struct evhttp_request *req, const char *name) {
    const struct bw_console_asset *a = asset_find(name);
    if (!a) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such console file", NULL, NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add_reference(b, a->data, a->len, NULL, NULL) != 0) {
        if (b)
            evbuffer_free(b);
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      content_type(a->name));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

void bw_console_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *path) {
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    bw_console_security_headers(req);
    if (strncmp(path, "/console/api/", 13) == 0) {
        bw_console_api(ctx, req, path + 13);
        return;
    }
    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED, "method not allowed on this path",
                            NULL, NULL);
        return;
    }
    if (strcmp(path, "/console") == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", "/console/");
        evhttp_send_reply(req, 308, "Permanent Redirect", NULL);
        return;
    }
    const char *name = path + 9; /* after "/console/" */
    if (strncmp(path, "/console/", 9) != 0) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    /* One flat directory: a name with a slash (or a dot segment) names nothing. Pages are hash
     * routes (#/reviews), so every page is index.html. */
    if (!name[0])
        name = "index.html";
    if (strchr(name, '/') || name[0] == '.') {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such console file", NULL, NULL);
        return;
    }
    serve_asset(req, name);
}

void bw_console_route(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    struct bw_api_ctx api = {w->gw, w->base, w->store, w->keys};
    bw_console_handle(&api, req, path);
}
