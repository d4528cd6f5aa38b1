/* api.c: the /api/v1/ routing table and access checks. */
#include "api/api.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "posture/health.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "util/log.h"
#include "util/time.h"

/* One table per surface (api_<surface>.c), each ending with a {0, NULL, 0, NULL} entry. */
static const struct bw_api_route *const tables[] = {
    bw_api_routes_ledger,      bw_api_routes_billing, bw_api_routes_keys,
    bw_api_routes_agents,      bw_api_routes_orgs,    bw_api_routes_connections,
    bw_api_routes_policies,    bw_api_routes_review,  bw_api_routes_platform,
    bw_api_routes_audit,       bw_api_routes_posture, bw_api_routes_mcp_pins,
    bw_api_routes_mcp_servers, bw_api_routes_sso, /* api_sso.c */
};

void bw_api_reply(struct evhttp_request *req, int status, void *json_value) {
    json_t *v = json_value;
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "cannot encode the response", NULL, NULL);
        return;
    }
    bw_http_reply_json(req, status, text, strlen(text));
    free(text);
}

static int route_matches(const struct bw_api_route *r, const char *path, const char **rest) {
    size_t n = strlen(r->path);
    if (r->path[n - 1] == '/') {
        if (strncmp(path, r->path, n) != 0 || path[n] == 0)
            return 0;
        *rest = path + n;
        return 1;
    }
    if (strcmp(path, r->path) != 0)
        return 0;
    *rest = "";
    return 1;
}

unsigned bw_api_role_bit(const char *role) {
    static const struct {
        const char *name;
        unsigned bit;
    } roles[] = {
        {"owner", BW_ROLE_OWNER},   {"admin", BW_ROLE_ADMIN}, {"reviewer", BW_ROLE_REVIEWER},
        {"member", BW_ROLE_MEMBER}, {"agent", BW_ROLE_AGENT}, {"operator", BW_ROLE_OPERATOR},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i].name) == 0)
            return roles[i].bit;
    return 0;
}

int bw_api_store_ok(struct evhttp_request *req, bw_err e, const char *what) {
    if (e == BW_OK)
        return 1;
    bw_api_reply_store_error(req, e, what);
    return 0;
}

void bw_api_reply_store_error(struct evhttp_request *req, bw_err e, const char *what) {
    char msg[96];
    switch (e) {
    case BW_E_NOT_FOUND:
        snprintf(msg, sizeof msg, "no such %s", what);
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, msg, NULL, NULL);
        break;
    case BW_E_EXISTS:
        snprintf(msg, sizeof msg, "this %s conflicts with an existing one or its state", what);
        bw_http_reply_error(req, 409, BW_R_CONFLICT, msg, NULL, NULL);
        break;
    case BW_E_INVALID:
        snprintf(msg, sizeof msg, "a field of this %s is out of range", what);
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
        break;
    default:
        if (e == BW_E_UNAVAILABLE) /* the services view (posture/health.h), not readiness */
            bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        break;
    }
}

/* Finds the route for (method, path). *path_known tells a 405 from a 404. */
static const struct bw_api_route *find_route(int method, const char *path, const char **rest,
                                             int *path_known) {
    *path_known = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (const struct bw_api_route *r = tables[t]; r->path; r++) {
            if (!route_matches(r, path, rest))
                continue;
            *path_known = 1;
            if (r->method == method)
                return r;
        }
    }
    return NULL;
}

/* The query of every /api/ request is read the same strict way before any handler sees it: one
 * that libevent cannot parse, that decodes to a NUL (which would cut a value short in C) or that
 * names a parameter twice (which one counts?) is refused, so no handler reads a guess. */
static int query_is_strict(struct evhttp_request *req) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!q)
        return 1;
    if (strstr(q, "%00"))
        return 0;
    struct evkeyvalq params = {0};
    if (evhttp_parse_query_str(q, &params) != 0)
        return 0;
    int ok = 1;
    for (struct evkeyval *a = params.tqh_first; a && ok; a = a->next.tqe_next)
        for (struct evkeyval *b = a->next.tqe_next; b; b = b->next.tqe_next)
            if (strcmp(a->key, b->key) == 0) {
                ok = 0;
                break;
            }
    evhttp_clear_headers(&params);
    return ok;
}

int bw_api_identify(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                    struct bw_key_record *caller) {
    const char *authz = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!authz) { /* a console session cookie instead of a key (console/console.h) */
        int by_session = bw_console_identify(ctx, req, caller);
        if (by_session >= 0)
            return by_session;
    }
    bw_err e = bw_auth_identify(ctx->store, ctx->keys, ctx->gw->pepper, authz, bw_now_ms(), caller);
    if (e == BW_E_UNAUTH) {
        bw_http_reply_error(req, 401, BW_R_UNAUTHENTICATED, "a valid API key is required", NULL,
                            NULL);
        return 0;
    }
    if (e != BW_OK) {
        bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the key store is unavailable", NULL,
                            NULL);
        return 0;
    }
    bw_reqlog_set_principal(req, caller->org_id, caller->agent, caller->id);
    bw_api_job_identified(caller); /* the worker logs it (api_job.c) */
    return 1;
}

void bw_api_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *path) {
    const char *rest = NULL;
    int path_known = 0;
    if (!query_is_strict(req)) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "the query string is malformed, holds a NUL or repeats a parameter",
                            NULL, NULL);
        return;
    }
    const struct bw_api_route *r =
        find_route((int)evhttp_request_get_command(req), path, &rest, &path_known);
    if (!r) {
        if (path_known)
            bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED,
                                "method not allowed on this path", NULL, NULL);
        else
            bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    bw_reqlog_set_route(req, r->path); /* the table's pattern, never the client's path */
    const struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    if (r->access != BW_API_PUBLIC && !evhttp_find_header(in, "Authorization") &&
        !evhttp_find_header(in, "Cookie")) {
        /* bw_api_identify's answer (no key, no console session), without queueing a job that
         * could only give it */
        bw_http_reply_error(req, 401, BW_R_UNAUTHENTICATED, "a valid API key is required", NULL,
                            NULL);
        return;
    }
    bw_api_job_submit(ctx, req, r, rest); /* everything else on a store thread */
}

void bw_api_run_route(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                      const struct bw_api_route *r, const char *rest) {
    if (r->access == BW_API_PUBLIC) {
        r->handler(ctx, req, rest, NULL);
        return;
    }
    struct bw_key_record caller;
    if (!bw_api_identify(ctx, req, &caller))
        return;
    if (!(r->access & bw_api_role_bit(caller.role))) {
        bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                            "this key's role may not use this endpoint (docs/ACCESS.md)", NULL,
                            NULL);
        return;
    }
    /* Management calls are rare: recording last use here costs one small write. Failure to
     * record it does not deny (it is bookkeeping, not a decision). */
    /* An SSO console session has no key to touch (console/session.h). */
    bw_err touched = strncmp(caller.id, "ses_", 4) == 0 ? BW_OK
                     : caller.org_id[0]
                         ? bw_store_key_touch(ctx->store, caller.org_id, caller.id, bw_now_ms())
                         : bw_store_operator_key_touch(ctx->store, caller.id, bw_now_ms());
    if (touched != BW_OK)
        bw_warn("api: could not record the last use of key %s", caller.id);
    r->handler(ctx, req, rest, &caller);
}

void bw_api_route(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    struct bw_api_ctx api = {w->gw, w->base, w->store, w->keys};
    bw_api_handle(&api, req, path);
}

void bw_api_route_metrics(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    (void)path;
    struct bw_api_ctx api = {w->gw, w->base, w->store, w->keys};
    bw_api_metrics_handle(&api, req);
}
