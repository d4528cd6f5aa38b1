/* config.h: the gateway's configuration file (YAML, libyaml) and its defaults.
 *
 * Loading is strict: unknown keys, wrong types and out-of-range values are errors that name the
 * file, line and key, so a typo never silently becomes a default. The file holds no secret:
 * the upstream key is named by an environment variable or a file path. Not thread-safe while
 * loading; read-only afterwards. */
#ifndef BW_CONFIG_CONFIG_H
#define BW_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BW_CONFIG_MAX_ORGS 256
#define BW_CONFIG_MAX_MODELS 256

struct bw_org_config {
    char *name;
    char **allowed_models; /* exact model names */
    size_t n_allowed_models;
};

/* A token bucket: per_minute 0 = off; burst 0 = per_minute. */
struct bw_rate_config {
    int64_t per_minute;
    int64_t burst;
};

/* Monthly budget limits; -1 = unlimited. */
struct bw_budget_limits {
    int64_t monthly_tokens;
    int64_t monthly_cost_micros;
};

struct bw_agent_budget_config {
    char *agent;
    struct bw_budget_limits limits;
};

/* budgets.<org>: the org's monthly budget when no billing plan is recorded for it, plus
 * optional per-agent budgets (which always apply on top of the org's). */
struct bw_budget_config {
    char *org;
    struct bw_budget_limits limits;
    struct bw_agent_budget_config *agents;
    size_t n_agents;
};

/* prices.<model>: micro-units of currency per 1M tokens. */
struct bw_price_config {
    char *model;
    int64_t prompt_per_1m_micros;
    int64_t completion_per_1m_micros;
};

/* plans.<name>: the budget a billing plan grants per month. */
struct bw_plan_config {
    char *name;
    struct bw_budget_limits limits;
};

#define BW_CONFIG_MAX_PLANS 64
#define BW_CONFIG_MAX_AGENTS 256

/* mcp.servers entries (config_mcp.c). */
#define BW_MCP_SERVERS_MAX 64
#define BW_MCP_URL_MAX 2048
#define BW_MCP_ORIGINS_MAX 32 /* mcp.allowed_origins entries */
#define BW_MCP_ORIGIN_MAX 256 /* one origin, with its NUL */
struct bw_mcp_server_config {
    char name[64];            /* ^[a-z0-9][a-z0-9_-]{0,62}$: the {server} path segment */
    char url[BW_MCP_URL_MAX]; /* http(s); checked by the egress guard at load (static) */
    char credential[256];     /* a reference as written (env:NAME, file:/PATH); "" = none */
    /* mcp-orgsrv: "Bearer <secret>" read from the reference by bw_config_mcp_load_credentials
     * at serve start (sodium_malloc'd, wiped by bw_config_cleanup); NULL = none or not loaded */
    char *credential_auth;
};

struct bw_config {
    char listen_host[256];
    int listen_port;
    int workers;         /* 0 = one per core */
    char database[1024]; /* postgres:// URL; empty = DIR/bulwark.db (SQLite) */
    char policy[1024];   /* rule-engine policy file (relative to the config's folder); empty =
                          * orgs.*.allowed_models decide */

    char upstream_url[1024]; /* base including /v1, or "mock" */
    char upstream_key_env[128];
    char upstream_key_file[1024];
    int connect_timeout_ms;
    int timeout_ms;

    size_t max_body_bytes;
    size_t max_json_depth;
    size_t max_header_bytes;
    int client_timeout_s;

    /* limits: admission (src/limits/, docs/SPEND.md) */
    struct bw_rate_config key_requests, key_tokens;     /* per API key */
    struct bw_rate_config agent_requests, agent_tokens; /* per (org, agent) */
    struct bw_rate_config org_requests, org_tokens;     /* per org (burst across its keys) */
    int64_t org_max_concurrent;                         /* in-flight calls per org; 0 = no cap */
    int64_t default_max_tokens; /* completion cap assumed when a request has none; -1 = none */
    int clamp_max_tokens;       /* 1: lower max_tokens to what the budget fits */

    /* billing: webhook secrets are named here (env var or 0600 file), never held here */
    char billing_stripe_secret_env[128];
    char billing_stripe_secret_file[1024];
    char billing_standard_secret_env[128];
    char billing_standard_secret_file[1024];
    int billing_tolerance_s;       /* accepted webhook timestamp skew, default 300 */
    size_t billing_max_body_bytes; /* default 1 MiB */
    char billing_free_plan[64];    /* plan after customer.subscription.deleted ("free") */

    struct bw_budget_config *budgets;
    size_t n_budgets;
    struct bw_price_config *prices;
    size_t n_prices;
    struct bw_plan_config *plans;
    size_t n_plans;

    /* widget: the public browser chat widget (proxy/widget.h, docs/API.md "Widget") */
    char widget_model[128];                /* for agents without a model; "" = none (503) */
    size_t widget_max_message_bytes;       /* one user message, bytes of UTF-8 (413 over it) */
    int64_t widget_max_tokens;             /* completion cap the gateway sends upstream */
    int widget_history_messages;           /* previous messages of the conversation sent along */
    size_t widget_history_bytes;           /* ... and at most this many bytes of them */
    int widget_max_conversation_messages;  /* a conversation ends here (409) */
    struct bw_rate_config widget_requests; /* per widget (public key); on by default */

    size_t ledger_batch_max;
    int ledger_batch_wait_us;
    int ledger_commit_interval_us; /* under load, at most one commit per interval */
    size_t ledger_preallocate;     /* zero-filled runway ahead of the log, bytes (0 = none) */
    int ledger_fsync;     /* 0 only for measuring the cost of durability: receipts may be lost */
    int ledger_sign_each; /* 1: a DSSE signature per receipt (docs/EVIDENCE.md section 11) */

    struct bw_org_config *orgs;
    size_t n_orgs;

    long key_rotation_grace_s; /* keys.rotation_grace_s: both keys work this long (default 1 day) */

    /* egress.allow: the operator allowlist of the egress guard (docs/EGRESS.md), each entry
     * "A.B.C.D/N", "IPV6/N", "HOST:PORT" or "[IPV6]:PORT"; empty by default */
    char **egress_allow;
    size_t n_egress_allow;

    /* connections: (docs/API.md "Connections") */
    int connections_allow_http;         /* 1: generic webhooks may use http:// (tests only) */
    char connections_github_api[256];   /* GitHub API base, default https://api.github.com */
    char connections_notion_api[256];   /* Notion API base, default https://api.notion.com */
    long connections_verify_timeout_ms; /* a live verification call, default 10000 */

    /* outbox: durable delivery (docs/API.md "Outbox") */
    long outbox_max_attempts;    /* then `dead`; default 10 */
    long outbox_backoff_base_ms; /* first retry after about this; default 1000 */
    long outbox_backoff_max_ms;  /* cap of one wait; default 3600000 */
    long outbox_poll_ms;         /* how often the queue is looked at; default 1000 */

    /* log: the process log and the request log (docs/CONFIG.md "log"); zero values = defaults */
    int log_level;       /* 0 = info (default), else 1 + enum bw_log_level */
    int log_text;        /* log.format: text (1) or json (0, default) request lines */
    int log_no_requests; /* log.requests: false (1); true (0, default) */
    char log_file[1024]; /* log.file as written (relative: to the config's folder); "" = stderr */
    /* listen_tls, allow_plain_http (config_tls.c): the TLS listener, which adds to the plain
     * `listen` one (`listen: off` turns that off). Paths are resolved against the config's
     * folder at load; empty tls_cert_file = no TLS listener. */
    char tls_host[64];
    int tls_port;
    char tls_cert_file[4096];
    char tls_key_file[4096];
    int allow_plain_http; /* a plain listener on a non-loopback address is refused without it */
    /* metrics: and otel: (config_metrics.c; docs/CONFIG.md "Metrics and OpenTelemetry"). 0 =
     * default */
    char metrics_listen_host[256]; /* "" = no separate listener (GET /metrics: operator key) */
    int metrics_listen_port;
    int metrics_allow_remote;   /* a non-loopback metrics listener is refused unless set */
    long metrics_refresh_ms;    /* store-backed gauges refresh; default 5000 */
    char otel_endpoint[1024];   /* OTLP/HTTP traces URL; "" = export off */
    char otel_service_name[64]; /* default "bulwark" */
    long otel_timeout_ms;       /* one export POST; default 2000 */
    long otel_queue_max;        /* spans waiting; default 2048 */
    char otel_headers_env[128]; /* env var with "Name=value,..." headers (a collector token) */

    /* mcp: (config_mcp.c; docs/CONFIG.md "mcp"). Defaults are filled after the walk. */
    struct bw_mcp_server_config *mcp_servers; /* mcp.servers, heap (n_mcp_servers entries) */
    size_t n_mcp_servers;
    int mcp_pin_approve;                     /* mcp.pin: approve (1) or auto (0, default) */
    long mcp_calls_per_minute;               /* per principal and tool; default 60 */
    long mcp_result_max_bytes;               /* one result; default 1 MiB */
    long mcp_call_timeout_ms;                /* one upstream call; default 60000 */
    long mcp_max_sessions_per_key;           /* concurrent sessions; default 16 */
    int mcp_oauth;                           /* 1: mcp.oauth is configured */
    char mcp_oauth_issuer[512];              /* exact `iss`; https (http: loopback only) */
    char mcp_oauth_public_url[512];          /* this gateway's public base URL (PRM `resource`) */
    char mcp_oauth_jwks_url[BW_MCP_URL_MAX]; /* fetched through the egress guard */
    char mcp_oauth_jwks_file[4096]; /* or a local JWKS (resolved against the config's folder) */
    char mcp_oauth_audience[512];   /* "" = per server: public_url + "/mcp/" + name (RFC 8707) */
    char mcp_oauth_scopes[512];     /* required scopes, space-separated ("" = none) */
    char mcp_oauth_org_claim[64];   /* default "org" */
    char mcp_oauth_principal_claim[64]; /* default "sub" */
    long mcp_oauth_leeway_s;            /* exp/nbf/iat clock skew; default 60 */
    long mcp_oauth_jwks_ttl_s;          /* JWKS cache lifetime; default 300 */
    long mcp_oauth_jwks_min_refetch_s;  /* unknown-kid refetch at most this often; default 30 */

    /* mcp.allowed_origins (mcp-oauth2; config_mcp.c): browser origins allowed on /mcp/ */
    char mcp_allowed_origins[BW_MCP_ORIGINS_MAX][BW_MCP_ORIGIN_MAX];
    size_t n_mcp_allowed_origins;

    /* sso: the console's single sign-on (config_sso.c; docs/CONSOLE.md) */
    char sso_public_url[512]; /* the gateway's origin for /console/sso/callback; "" = derive */

    uint8_t sha256[32]; /* SHA-256 of the exact file bytes: the policy in force, for receipts */
};

/* Fills c with defaults (no orgs). */
void bw_config_defaults(struct bw_config *c);

/* Loads path over the defaults. On error writes "<path>:<line>: <why>" into err and leaves c
 * with defaults only. Errors: BW_E_IO (unreadable), BW_E_INVALID. */
bw_err bw_config_load(const char *path, struct bw_config *c, char *err,
                      size_t err_size) BW_MUST_CHECK;

/* Parses YAML text (for tests and fuzzing); `name` is used in error messages. */
bw_err bw_config_parse(const char *text, size_t len, const char *name, struct bw_config *c,
                       char *err, size_t err_size) BW_MUST_CHECK;

void bw_config_cleanup(struct bw_config *c);
/* 1 if s is a valid MCP server name: ^[a-z0-9][a-z0-9_-]{0,62}$ (config_mcp.c). */
int bw_config_mcp_name_ok(const char *s) BW_MUST_CHECK;
/* 1 if s is an origin as a browser serializes it (RFC 6454 6.2): "http" or "https", "://", a
 * lowercase host (DNS name of [a-z0-9.-], or an IPv4 literal, or a bracketed IPv6 literal) and
 * an optional ":port" (1..65535, no leading zero, not the scheme's default); nothing else (no
 * path, not even "/", no userinfo, query or fragment). */
int bw_config_mcp_origin_ok(const char *s) BW_MUST_CHECK;
/* mcp-orgsrv (config_mcp_cred.c): 1 if s is a credential reference: env:NAME (NAME of
 * [A-Za-z_][A-Za-z0-9_]*) or file:/ABSOLUTE/PATH (printable, no spaces). Never the secret. */
int bw_config_mcp_credential_ref_ok(const char *s) BW_MUST_CHECK;
/* Reads every mcp.servers credential reference into credential_auth (an unset variable, an
 * unreadable file or one with group/other bits, an empty, over 1024-byte or non-printable
 * secret: an error naming the server, never the value). For serve, after bw_config_load. */
bw_err bw_config_mcp_load_credentials(struct bw_config *c, char *err,
                                      size_t err_size) BW_MUST_CHECK;
/* The mcp.servers entry named `name` (exact), or NULL. */
const struct bw_mcp_server_config *bw_config_mcp_server(const struct bw_config *c,
                                                        const char *name);

/* The org named `name`, or NULL. */
const struct bw_org_config *bw_config_org(const struct bw_config *c, const char *name);

/* Lookups (NULL if absent). */
const struct bw_budget_config *bw_config_budget(const struct bw_config *c, const char *org);
const struct bw_price_config *bw_config_price(const struct bw_config *c, const char *model);
const struct bw_plan_config *bw_config_plan(const struct bw_config *c, const char *name);
/* 1 if a webhook secret source is configured (billing.*_secret_env or _file). */
int bw_config_billing_enabled(const struct bw_config *c) BW_MUST_CHECK;

/* The default config text `bulwark init` writes. */
extern const char bw_config_default_text[];

#endif
