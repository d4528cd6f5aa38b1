/* proxy.h: the governed data plane. For every call on /v1/chat/completions, /v1/embeddings and
 * /v1/models: bound the input, identify the caller (auth/), decide (policy/), make the decision
 * receipt durable (ledger/), and only then forward to the upstream (upstream.h), stream the
 * answer back, and record an outcome receipt. Any failure before forwarding denies.
 *
 * struct bw_gateway is shared read-only by all workers once serving starts (plus an atomic
 * in-flight counter). Secrets it holds (pepper, upstream authorization) live in sodium_malloc'd
 * memory owned by the caller of bw_gateway_app. */
#ifndef BW_PROXY_PROXY_H
#define BW_PROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config/config.h"
#include "http/server.h"
#include "ledger/ledger.h"

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
    struct bw_limits *limits;  /* admission state (rates, in-flight, budgets); NULL = none */
    struct bw_meter *meter;    /* metering writer; NULL: no usage table on this backend */
    struct bw_lease *lease;    /* budget and rate leases (several replicas); NULL: one node */
    atomic_int stopping;       /* set on SIGTERM: new requests get 503 */
    const struct bw_connect_env *connect; /* vault and egress for connections; NULL = none */
    struct bw_outbox *outbox;  /* durable delivery of events (connect/outbox.h); may be NULL */
    atomic_int verifying;      /* connection checks in flight (api_connections.c) */
    atomic_long byok_generation; /* bumped when a provider key changes (proxy_byok.c) */
    struct bw_otel *otel; /* OpenTelemetry span exporter (otel/otel.h); NULL = off */
    struct bw_readiness *readiness; /* security readiness (posture/readiness.h); NULL = none */
    struct bw_oauth *oauth; /* MCP OAuth resource server (oauth/oauth.h); NULL = mcp.oauth off */
    struct bw_jobs *jobs; /* store threads (jobs/jobs.h): the management API runs there */
};

/* Fills gw's URLs from base (e.g. "http://127.0.0.1:9000/v1"). BW_E_INVALID if too long or not
 * http(s). */
bw_err bw_gateway_set_upstream(struct bw_gateway *gw, const char *base) BW_MUST_CHECK;

struct bw_policy;
struct bw_otel;
struct bw_connect_env;
struct bw_outbox;
struct bw_org_policies;
struct bw_readiness;
struct bw_oauth;
struct bw_jobs;

/* Initialises the policy holder (no policy: the config's allowed_models decide). */
void bw_gateway_policy_init(struct bw_gateway *gw);
/* A reference to the policy in force, or NULL; the caller unrefs it. Any thread. */
struct bw_policy *bw_gateway_policy_acquire(struct bw_gateway *gw);
/* Publishes p (taking the caller's reference) and drops the old one once its last request
 * ends. NULL clears. Any thread. */
void bw_gateway_policy_swap(struct bw_gateway *gw, struct bw_policy *p);

/* The server callbacks for this gateway (app.arg = gw). */
void bw_gateway_app(struct bw_gateway *gw, struct bw_server_app *app);

#endif
