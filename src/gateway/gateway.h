/* gateway.h: the composition root's shared objects. struct bw_gateway is what every worker
 * shares (config, policy holder, store path, ledger, limits, ...), struct bw_gw_worker what one
 * event worker owns, and the router maps a request's path to the module that serves it. api/,
 * proxy/ and mcp/ use this module; it uses none of them (the routing table is handed in by the
 * caller, cli_serve.c), so api/ and proxy/ are peers with no arrows between them.
 *
 * struct bw_gateway is shared read-only by all workers once serving starts (plus its atomic
 * counters and the mutex-guarded policy pointer). Secrets it holds (pepper, upstream
 * authorization) live in sodium_malloc'd memory owned by the caller of bw_gateway_app. */
#ifndef BW_GATEWAY_GATEWAY_H
#define BW_GATEWAY_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#include "config/config.h"
#include "http/server.h"
#include "ledger/ledger.h"

struct bw_policy;
struct bw_otel;
struct bw_connect_env;
struct bw_outbox;
struct bw_org_policies;
struct bw_readiness;
struct bw_oauth;
struct bw_limits;
struct bw_meter;
struct bw_lease;
struct bw_jobs;
struct bw_gateway_route;
struct bw_gw_worker;

struct bw_gateway {
    const struct bw_config *cfg;
    struct bw_ledger *ledger;
    const uint8_t *pepper;     /* 32 bytes, key-hash pepper */
    const char *upstream_auth; /* "Bearer ..." or NULL */
    char url_chat[1100];
    char url_embeddings[1100];
    char url_models[1100];
    char db_path[4096];        /* SQLite path or PostgreSQL URL */
    atomic_long inflight;      /* requests and receipts not yet done */
    pthread_mutex_t policy_mu; /* guards `policy` between a reader's ref and a swap */
    struct bw_policy *policy;  /* the rule engine's policy, or NULL: orgs.allowed_models */
    struct bw_org_policies *org_policies; /* per-org policies (org_policies.h); NULL = none */
    struct bw_limits *limits; /* admission state (rates, in-flight, budgets); NULL = none */
    struct bw_meter *meter;   /* metering writer; NULL: no usage table on this backend */
    struct bw_lease *lease;   /* budget and rate leases (several replicas); NULL: one node */
    atomic_int stopping;      /* set on SIGTERM: new requests get 503 */
    const struct bw_connect_env *connect; /* vault and egress for connections; NULL = none */
    struct bw_outbox *outbox;       /* durable delivery of events (connect/outbox.h); may be NULL */
    atomic_int verifying;           /* connection checks in flight (api_connections.c) */
    atomic_long byok_generation;    /* bumped when a provider key changes (proxy_byok.c) */
    struct bw_otel *otel;           /* OpenTelemetry span exporter (otel/otel.h); NULL = off */
    struct bw_readiness *readiness; /* security readiness (posture/readiness.h); NULL = none */
    struct bw_oauth *oauth; /* MCP OAuth resource server (oauth/oauth.h); NULL = mcp.oauth off */
    struct bw_jobs *jobs;   /* store job pool (jobs/jobs.h): store work off the workers */
    /* set by bw_gateway_app, read-only afterwards */
    const struct bw_gateway_route *routes;         /* the routing table, ended by a NULL path */
    bw_err (*worker_init)(struct bw_gw_worker *w); /* the modules' per-worker state, or NULL */
    void (*worker_fini)(struct bw_gw_worker *w);   /* undoes worker_init; NULL-safe fields */
};

struct event_base;
struct evhttp_request;
struct bw_store;
struct bw_upstream;
struct bw_auth_cache;
struct bw_byok_cache;
struct bw_widget_cache;

/* One event worker's own state (its thread only). The gateway creates the store connection,
 * the upstream client and the key cache; worker_init adds the rest (the proxy's caches). */
struct bw_gw_worker {
    struct bw_gateway *gw;
    struct event_base *base;
    struct bw_store *store;
    struct bw_upstream *up;
    struct bw_auth_cache *keys;
    struct bw_byok_cache *byok;      /* the orgs' sealed provider keys (proxy/proxy_byok.c) */
    struct bw_widget_cache *widgets; /* agents by widget key (proxy/widget.h) */
};

/* Fills gw's URLs from base (e.g. "http://127.0.0.1:9000/v1"). BW_E_INVALID if too long or not
 * http(s). */
bw_err bw_gateway_set_upstream(struct bw_gateway *gw, const char *base) BW_MUST_CHECK;

/* Initialises the policy holder (no policy: the config's allowed_models decide). */
void bw_gateway_policy_init(struct bw_gateway *gw);
/* A reference to the policy in force, or NULL; the caller unrefs it. Any thread. */
struct bw_policy *bw_gateway_policy_acquire(struct bw_gateway *gw) BW_MUST_CHECK;
/* Publishes p (taking the caller's reference) and drops the old one once its last request
 * ends. NULL clears. Any thread. */
void bw_gateway_policy_swap(struct bw_gateway *gw, struct bw_policy *p);

/* A route: the handler must reply (and so free req), now or later. */
typedef void (*bw_gateway_handler)(struct bw_gw_worker *w, struct evhttp_request *req,
                                   const char *path);

#define BW_GW_ROUTE_ANY_METHOD 0   /* the handler checks the method itself */
#define BW_GW_REFUSE_STOPPING (1u) /* 503 SHUTTING_DOWN once SIGTERM was received */

struct bw_gateway_route {
    const char *path;     /* exact path, or a prefix when it ends with '/'; NULL ends a table */
    int method;           /* enum evhttp_cmd_type, or BW_GW_ROUTE_ANY_METHOD; another: 405 */
    const char *log_name; /* the request log's route name */
    unsigned flags;       /* BW_GW_* */
    bw_gateway_handler handle;
};

/* The server callbacks for this gateway (app.arg = gw): per-worker state, then each request to
 * the first route of `routes` whose path matches (404 NOT_FOUND when none does). routes and
 * the hooks must outlive the server. */
void bw_gateway_app(struct bw_gateway *gw, const struct bw_gateway_route *routes,
                    bw_err (*worker_init)(struct bw_gw_worker *w),
                    void (*worker_fini)(struct bw_gw_worker *w), struct bw_server_app *app);

/* The gateway's own routes: GET /healthz (liveness) and GET /readyz (readiness, names only:
 * posture/health.h).
 * Frees req (it always replies). */
void bw_gateway_healthz(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);
/* Frees req (it always replies). */
void bw_gateway_readyz(struct bw_gw_worker *w, struct evhttp_request *req, const char *path);

#endif
