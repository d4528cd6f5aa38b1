/* api_platform.c: GET /api/v1/platform/services (docs/API.md "Readiness and services"): the
 * dependency-health registry (posture/health.h) as seen by its reader.
 *   - the operator: every dependency (store, ledger, upstream, outbox) and every connection
 *     this process has delivered to (at most BW_HEALTH_MAX_CONNECTIONS);
 *   - an org's owner or admin: only its own org's connections (from the store, so every one
 *     of them, with this process's last delivery merged in), never a platform dependency;
 *   - anyone else: 403 (the router).
 * Every value is a name, an enum string or an integer: the registry holds no message, URL,
 * host, path or secret, and the connection's display URL is not shown here. */
#include <event2/http.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "posture/health.h"
#include "store/connections.h"

static json_t *entry_json(const char *key, const char *name, const struct bw_health_entry *e) {
    const char *err = bw_health_class_name(e->error);
    return json_pack("{s:s, s:s, s:I, s:o, s:o}", key, name, "status",
                     bw_health_status_name(e->status), "last_check_ms", (json_int_t)e->checked_ms,
                     "latency_us",
                     e->latency_us >= 0 ? json_integer((json_int_t)e->latency_us) : json_null(),
                     "last_error", err[0] ? json_string(err) : json_null());
}

static enum bw_health_status worse(enum bw_health_status a, enum bw_health_status b) {
    return a > b ? a : b;
}

static void operator_view(struct evhttp_request *req) {
    json_t *out = json_object(), *deps = json_array(), *conns = json_array();
    enum bw_health_status worst = BW_HEALTH_UP;
    for (int d = 0; d < BW_HEALTH_N_DEPS; d++) {
        struct bw_health_entry e;
        bw_health_get((enum bw_health_dep)d, &e);
        worst = worse(worst, e.status);
        json_array_append_new(deps,
                              entry_json("name", bw_health_dep_name((enum bw_health_dep)d), &e));
    }
    static const size_t max = BW_HEALTH_MAX_CONNECTIONS;
    struct bw_health_conn *c = calloc(max, sizeof *c);
    size_t n = c ? bw_health_connections(NULL, c, max) : 0;
    for (size_t i = 0; i < n; i++) {
        json_t *j = entry_json("id", c[i].conn_id, &c[i].e);
        json_object_set_new(j, "org_id", json_string(c[i].org_id));
        json_array_append_new(conns, j);
    }
    free(c);
    json_object_set_new(out, "object", json_string("platform.services"));
    json_object_set_new(out, "status", json_string(bw_health_status_name(worst)));
    json_object_set_new(out, "services", deps);
    json_object_set_new(out, "connections", conns);
    bw_api_reply(req, 200, out);
}

struct org_view {
    json_t *conns;
    const struct bw_health_conn *seen; /* this process's deliveries for the org */
    size_t n_seen;
};

/* One connection: its recorded status, or this process's last delivery if that is newer. */
static int add_connection(void *arg, const struct bw_connection_record *c) {
    struct org_view *v = arg;
    struct bw_health_entry e = {
        .status = strcmp(c->status, "healthy") == 0 ? BW_HEALTH_UP : BW_HEALTH_DOWN,
        .error = bw_health_class_of_reason(c->status_reason),
        .checked_ms = c->verified_ms,
        .latency_us = -1,
    };
    for (size_t i = 0; i < v->n_seen; i++) {
        const struct bw_health_conn *s = &v->seen[i];
        if (strcmp(s->conn_id, c->id) != 0 || s->e.checked_ms < e.checked_ms)
            continue;
        e.status = s->e.status;
        e.checked_ms = s->e.checked_ms;
        e.latency_us = s->e.latency_us;
        if (s->e.error != BW_HC_NONE)
            e.error = s->e.error;
    }
    json_t *j = entry_json("id", c->id, &e);
    json_object_set_new(j, "name", json_string(c->name));
    json_object_set_new(j, "kind", json_string(c->kind));
    json_array_append_new(v->conns, j);
    return 0;
}

static void org_view(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                     const struct bw_key_record *caller) {
    static const size_t max = BW_HEALTH_MAX_CONNECTIONS;
    struct bw_health_conn *seen = calloc(max, sizeof *seen);
    struct org_view v = {json_array(), seen,
                         seen ? bw_health_connections(caller->org_id, seen, max) : 0};
    bw_err e = seen && v.conns
                   ? bw_store_connection_list(ctx->store, caller->org_id, add_connection, &v)
                   : BW_E_NOMEM;
    free(seen);
    if (e != BW_OK) {
        json_decref(v.conns);
        bw_api_reply_store_error(req, e, "connection");
        return;
    }
    bw_api_reply(req, 200,
                 json_pack("{s:s, s:s, s:o}", "object", "platform.services", "org_id",
                           caller->org_id, "connections", v.conns));
}

static void get_services(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                         const struct bw_key_record *caller) {
    (void)rest;
    if (bw_api_role_bit(caller->role) == BW_ROLE_OPERATOR && !caller->org_id[0])
        operator_view(req);
    else
        org_view(ctx, req, caller);
}

const struct bw_api_route bw_api_routes_platform[] = {
    {EVHTTP_REQ_GET, "/api/v1/platform/services", BW_API_OPERATOR | BW_API_ADMIN, get_services},
    {0, NULL, 0, NULL},
};
