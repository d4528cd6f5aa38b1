/* api.h: the management API under /api/v1/: the routing table and the helpers its handlers
 * share (caller identification by role, JSON replies). Handlers live one file per surface
 * (api_<surface>.c) and register in api.c's table.
 *
 * Every handler runs on its worker's thread. Reads are tenant-scoped: an object of another org
 * is answered 404 (existence is not revealed). */
#ifndef BW_API_API_H
#define BW_API_API_H

#include "auth/auth.h"
#include "store/store.h"

struct evhttp_request;
struct event_base;
struct bw_gateway;

struct bw_api_ctx {
    struct bw_gateway *gw;
    struct event_base *base;
    struct bw_store *store;
    struct bw_auth_cache *keys;
};

/* Who may call an endpoint. */
enum bw_api_access {
    BW_API_PUBLIC,  /* no credential */
    BW_API_ANY_KEY, /* any valid key of an org (agents included) */
    BW_API_ADMIN,   /* a key with role owner or admin */
};

/* A handler: `rest` is the path after the route's prefix (for "/api/v1/receipts/" it is the
 * id), caller is NULL for public routes. It must reply (and so free req). */
typedef void (*bw_api_handler)(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                               const char *rest, const struct bw_key_record *caller);

struct bw_api_route {
    int method;       /* enum evhttp_cmd_type */
    const char *path; /* exact path, or a prefix when it ends with '/' */
    enum bw_api_access access;
    bw_api_handler handler;
};

/* The surfaces' route tables (api_<surface>.c). */
extern const struct bw_api_route bw_api_routes_ledger[];
extern const struct bw_api_route bw_api_routes_billing[];

/* Dispatches a request whose path starts with /api/. Always replies: 404 NOT_FOUND for an
 * unknown path, 405 for a known path with another method, 401/403 by access. */
void bw_api_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *path);

/* Sends a JSON value (stolen reference) with status 200. */
void bw_api_reply(struct evhttp_request *req, int status, void *json_value);

#endif
