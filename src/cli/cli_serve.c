/* bulwark serve: runs the gateway until SIGTERM/SIGINT, then drains and exits 0. */
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "config/config.h"
#include "connect/connect.h"
#include "connect/outbox.h"
#include "egress/egress.h"
#include "evidence/db_policies.h"
#include "gateway/gateway.h"
#include "http/bearer.h"
#include "http/reqlog.h"
#include "http/server.h"
#include "http/tls.h"
#include "jobs/jobs.h"
#include "ledger/ledger.h"
#include "limits/lease.h"
#include "limits/limits.h"
#include "limits/meter.h"
#include "metrics/metrics.h"
#include "metrics/metrics_service.h"
#include "mock/mock.h"
#include "oauth/oauth.h"
#include "otel/otel.h"
#include "policy/engine.h"
#include "policy/org_policies.h"
#include "posture/health.h"
#include "posture/readiness.h"
#include "store/store.h"
#include "util/codec.h"
#include "util/log.h"
#include "util/time.h"
#include "vault/keyring.h"
#include "webhook/billing.h"

#define DRAIN_MS 30000
#define MAX_UPSTREAM_KEY BW_HTTP_BEARER_SECRET_MAX
#define LOG_QUEUE_LINES 8192 /* about 8 MB at most; a full queue drops lines (counted) */

static const char usage[] =
    "usage: bulwark serve --data DIR [--config FILE] [--listen HOST:PORT] [--upstream URL|mock]\n"
    "                     [--workers N] [--database URL]\n"
    "\n"
    "Serves the governed OpenAI-compatible API until SIGTERM or SIGINT, then stops accepting,\n"
    "drains in-flight requests, flushes the ledger and exits 0.\n"
    "  --config FILE   configuration (default DIR/bulwark.yaml)\n"
    "  --listen H:P    listen address (default from config, 127.0.0.1:8080; port 0 = any free)\n"
    "  --upstream U    upstream base URL including /v1, or 'mock' for the built-in mock model\n"
    "  --workers N     event-loop threads (default from config; 0 = one per core)\n"
    "  --database URL  PostgreSQL shared by replicas (default from config, else DIR/bulwark.db)\n";

struct serve_args {
    const char *dir, *config, *listen, *upstream, *workers, *database;
};

struct mock_thread {
    struct event_base *base;
    struct bw_mock *mock;
    pthread_t thread;
    int running;
};

struct serve_state {
    struct bw_config cfg;
    char policy_path[4096]; /* resolved policy file, or "" */
    struct bw_keyring *keys;
    uint8_t *pepper;     /* sodium_malloc */
    char *upstream_auth; /* sodium_malloc, "Bearer <key>" */
    struct bw_ledger *ledger;
    struct mock_thread mock;
    struct bw_egress_policy *egress; /* the operator allowlist (egress.allow) */
    struct bw_connect_env connect;
    struct bw_gateway gw;
    struct bw_tls *tls;                 /* listen_tls's context (tls.h), or NULL */
    struct bw_metrics_service *metrics; /* gauge refresher, optional listener */
    char config_path[4096];             /* the config file loaded (readiness scans it) */
};

static int parse_args(int argc, char **argv, struct serve_args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--data") == 0)
            slot = &a->dir;
        else if (strcmp(argv[i], "--config") == 0)
            slot = &a->config;
        else if (strcmp(argv[i], "--listen") == 0)
            slot = &a->listen;
        else if (strcmp(argv[i], "--upstream") == 0)
            slot = &a->upstream;
        else if (strcmp(argv[i], "--workers") == 0)
            slot = &a->workers;
        else if (strcmp(argv[i], "--database") == 0)
            slot = &a->database;
        if (!slot || i + 1 >= argc)
            return bw_cli_usage_error(&bw_cmd_serve, "unexpected argument '%.64s'", argv[i]);
        *slot = argv[++i];
    }
    if (!a->dir)
        return bw_cli_usage_error(&bw_cmd_serve, "--data DIR is required");
    return 0;
}

static int apply_overrides(const struct serve_args *a, struct bw_config *c) {
    const struct bw_cmd *cmd = &bw_cmd_serve;
    if (a->listen && bw_cli_parse_hostport(a->listen, c->listen_host, sizeof c->listen_host,
                                           &c->listen_port, 1) != 0)
        return bw_cli_usage_error(cmd, "--listen must be HOST:PORT");
    if (a->upstream) {
        if (strlen(a->upstream) >= sizeof c->upstream_url)
            return bw_cli_usage_error(cmd, "--upstream is too long");
        snprintf(c->upstream_url, sizeof c->upstream_url, "%s", a->upstream);
    }
    if (a->database) {
        if (!bw_store_is_postgres(a->database) || strlen(a->database) >= sizeof c->database)
            return bw_cli_usage_error(cmd, "--database must be a postgres:// URL");
        snprintf(c->database, sizeof c->database, "%s", a->database);
    }
    if (a->workers) {
        char *end = NULL;
        long n = strtol(a->workers, &end, 10);
        if (*end || n < 0 || n > 256)
            return bw_cli_usage_error(cmd, "--workers must be 0..256");
        c->workers = (int)n;
    }
    if (c->workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = cores > 0 ? (int)cores : 1;
    }
    return 0;
}

/* Reads the upstream key from the environment variable or file the config names. A config that
 * names a source which is missing is an error: fail closed rather than call unauthenticated. */
static int load_upstream_key(const struct bw_config *c, char **out) {
    const struct bw_cmd *cmd = &bw_cmd_serve;
    const char *why = "";
    bw_err e;
    *out = NULL;
    if (c->upstream_key_env[0])
        e = bw_http_bearer_from_env(c->upstream_key_env, MAX_UPSTREAM_KEY, out, &why);
    else if (c->upstream_key_file[0])
        e = bw_http_bearer_from_file(c->upstream_key_file, MAX_UPSTREAM_KEY, out, &why);
    else
        return 0; /* none configured: e.g. the mock, or a local upstream */
    if (e == BW_E_NOMEM)
        return bw_cli_fail(cmd, "out of memory");
    if (e != BW_OK)
        return bw_cli_fail(cmd, "the upstream key (upstream.%s %.200s): %s",
                           c->upstream_key_env[0] ? "api_key_env" : "api_key_file",
                           c->upstream_key_env[0] ? c->upstream_key_env : c->upstream_key_file,
                           why);
    return 0;
}

static void *mock_loop(void *arg) {
    struct mock_thread *m = arg;
    event_base_loop(m->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int start_mock(struct mock_thread *m, char *url, size_t url_size) {
    int port = 0;
    m->base = event_base_new();
    if (!m->base || bw_mock_start(m->base, "127.0.0.1", 0, 0, &m->mock, &port) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot start the built-in mock upstream");
    if (pthread_create(&m->thread, NULL, mock_loop, m) != 0)
        return bw_cli_fail(&bw_cmd_serve, "cannot start the mock thread");
    m->running = 1;
    snprintf(url, url_size, "http://127.0.0.1:%d/v1", port);
    return 0;
}

static void stop_mock(struct mock_thread *m) {
    if (m->running) {
        event_base_loopexit(m->base, NULL);
        pthread_join(m->thread, NULL);
    }
    bw_mock_free(m->mock);
    if (m->base)
        event_base_free(m->base);
}

/* A relative policy path is relative to the config file's folder, as operators expect. */
static void resolve_policy_path(const char *config_path, const char *policy, char *out,
                                size_t size) {
    const char *slash = strrchr(config_path, '/');
    if (policy[0] == '/' || !slash)
        snprintf(out, size, "%s", policy);
    else
        snprintf(out, size, "%.*s/%s", (int)(slash - config_path), config_path, policy);
}

/* Keeps the platform's policy texts (the policy file's bytes, the config's per-org texts) in
 * the database for evidence packs (db_policies.h). db: a store path to open, or NULL with s. */
static bw_err keep_platform_texts_in(struct serve_state *st, struct bw_store *s,
                                     const uint8_t *sha) {
    return bw_db_policies_record_platform(s, &st->cfg, sha ? st->policy_path : NULL, sha);
}

static bw_err keep_platform_texts(struct serve_state *st, const char *db, const uint8_t *sha) {
    struct bw_store *s = NULL;
    BW_TRY(bw_store_open(db, 0, &s));
    bw_err e = keep_platform_texts_in(st, s, sha);
    bw_store_close(s);
    return e;
}

/* Loads and publishes the policy. A policy that fails never replaces the running one. */
static int load_policy(struct serve_state *st, int at_start) {
    struct bw_policy *p = NULL;
    char err[600];
    if (bw_policy_load(st->policy_path, &p, err, sizeof err) != BW_OK) {
        if (at_start)
            return bw_cli_fail(&bw_cmd_serve, "policy: %s", err);
        bw_error("policy reload refused, the running policy stays: %s", err);
        return 1;
    }
    /* A reload keeps the new text for evidence before any receipt can name it (at start the
     * store is not open yet: keep_platform_texts does it). */
    if (!at_start && keep_platform_texts(st, st->gw.db_path, bw_policy_sha256(p)) != BW_OK) {
        bw_error("policy reload refused, the running policy stays: its text could not be kept "
                 "for evidence (database)");
        bw_policy_unref(p);
        return 1;
    }
    char hex[65];
    if (bw_hex_encode(bw_policy_sha256(p), 32, hex, sizeof hex) != BW_OK)
        hex[0] = 0;
    size_t rules = bw_policy_rule_count(p);
    bw_gateway_policy_swap(&st->gw, p); /* first: whoever reads the log line sees it in force */
    bw_info("policy %s loaded: %zu rules, sha256 %s", st->policy_path, rules, hex);
    return 0;
}

/* Admission state: rate limits, in-flight caps and budgets, with this month's spend restored
 * from the usage table so a restart forgets nothing. */
static int setup_limits(struct serve_state *st, struct bw_store *s) {
    if (bw_limits_new(NULL, &st->gw.limits) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot create the admission state");
    /* Several replicas may share a PostgreSQL database: admit against leases from the shared
     * pools (docs/SPEND.md, "Several replicas"); the lease manager starts once the ledger
     * (the replica's identity) is open. */
    if (bw_store_is_postgres(st->gw.db_path))
        bw_limits_set_leased(st->gw.limits);
    /* Both backends meter usage and restore this month's spend. On PostgreSQL the usage rows
     * are shared by every replica; the in-memory budget counters are per replica between
     * restarts (docs/SPEND.md). */
    if (bw_meter_new(st->gw.jobs, st->gw.db_path, NULL, &st->gw.meter) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot start the metering writer");
    if (bw_billing_restore(&st->cfg, s, st->gw.limits, bw_now_ms()) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot restore this month's spend");
    bw_billing_attach_limits(st->gw.limits);
    return 0;
}

static bw_err lease_limits(void *arg, struct bw_store *s, const char *org_id, const char *org_name,
                           const char *agent, int64_t *max_tokens, int64_t *max_cost) {
    return bw_billing_scope_limits(arg, s, org_id, org_name, agent, max_tokens, max_cost);
}

static bw_err lease_refresh(void *arg, struct bw_store *s, struct bw_limits *l, int64_t now_ms) {
    return bw_billing_restore(arg, s, l, now_ms); /* leased mode: limits only */
}

/* The replica's identity is its evidence log's key id: the 8 hex digits before the dot of
 * every receipt id it issues. */
static int setup_leases(struct serve_state *st) {
    if (!bw_limits_leased(st->gw.limits))
        return 0;
    char rid[32];
    bw_ledger_receipt_id(st->ledger, 0, rid);
    char *dot = strchr(rid, '.');
    if (dot)
        *dot = 0;
    struct bw_lease_opts o = {
        .where = st->gw.db_path,
        .replica = rid,
        .incarnation = bw_now_ms(),
        .limits_fn = lease_limits,
        .refresh_fn = lease_refresh,
        .arg = &st->cfg,
    };
    bw_err e = bw_lease_new(st->gw.jobs, st->gw.limits, &o, &st->gw.lease);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot start the budget leases (%s)", bw_err_str(e));
    bw_info("limits: budgets and rate limits are leased from PostgreSQL (replica %s)", rid);
    return 0;
}

/* Connections: the egress allowlist, the vault (the master key) and the outbox thread, which
 * delivers what earlier runs left queued as soon as it starts. */
static int setup_connections(struct serve_state *st) {
    const struct bw_config *c = &st->cfg;
    char why[BW_EGRESS_WHY_SIZE];
    if (bw_egress_policy_new((const char *const *)c->egress_allow, c->n_egress_allow, &st->egress,
                             why, sizeof why) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "egress.allow: %s", why);
    st->connect = (struct bw_connect_env){st->keys,
                                          st->egress,
                                          c->connections_allow_http,
                                          c->connections_github_api,
                                          c->connections_notion_api,
                                          c->connections_verify_timeout_ms};
    struct bw_outbox_opts oo = {c->outbox_max_attempts, c->outbox_backoff_base_ms,
                                c->outbox_backoff_max_ms, c->outbox_poll_ms};
    if (bw_outbox_new(st->gw.jobs, st->gw.db_path, &st->connect, &oo, &st->gw.outbox) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot start the outbox");
    st->gw.connect = &st->connect;
    return 0;
}

/* The log: level, request log, and the sink (stderr or log.file) with its writer thread. */
static int start_log(const struct serve_state *st, const char *config_path) {
    const struct bw_config *c = &st->cfg;
    if (c->log_level)
        bw_log_set_level((enum bw_log_level)(c->log_level - 1));
    struct bw_reqlog_opts ro = {.enabled = !c->log_no_requests, .text = c->log_text};
    bw_reqlog_configure(&ro);
    char file[4096] = "stderr"; /* named in the error when no log.file is set */
    if (c->log_file[0])
        resolve_policy_path(config_path, c->log_file, file, sizeof file);
    if (bw_log_sink_start(c->log_file[0] ? file : NULL, LOG_QUEUE_LINES) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot open the log file %s", file);
    return 0;
}

/* Plain HTTP on a non-loopback address only with allow_plain_http; then the TLS context.
 * Before anything else starts, so a refused transport leaves nothing half-running. */
static int setup_transport(struct serve_state *st) {
    struct bw_transport t;
    bw_transport_of(&st->cfg, &t);
    if (!t.plain_loopback_only && !t.plain_allowed)
        return bw_cli_fail(&bw_cmd_serve,
                           "listen %s:%d is plain HTTP on a non-loopback address: configure "
                           "listen_tls (and `listen: off`, or a loopback listen), or set "
                           "allow_plain_http: true",
                           st->cfg.listen_host, st->cfg.listen_port);
    if (!t.tls_on)
        return 0;
    char err[600];
    bw_err e = bw_tls_new(st->cfg.tls_cert_file, st->cfg.tls_key_file,
                          (int)st->cfg.client_timeout_s, &st->tls, err, sizeof err);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "%s", e == BW_E_NOMEM ? "out of memory" : err);
    return 0;
}

/* mcp.oauth: the key set is loaded (jwks_file) or its refresher started (jwks_url) before the
 * gateway listens; a JWKS URL the egress guard refuses stops the start. */
static int start_mcp_oauth(struct serve_state *st) {
    char why[256];
    if (bw_oauth_new(&st->cfg, &st->gw.oauth, why, sizeof why) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "mcp.oauth: %s", why);
    if (bw_oauth_start(st->gw.oauth) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "mcp.oauth: cannot start the JWKS refresher");
    return 0;
}

static int setup(const struct serve_args *a, struct serve_state *st) {
    const struct bw_cmd *cmd = &bw_cmd_serve;
    char path[4096], err[600];
    if (a->config)
        snprintf(path, sizeof path, "%s", a->config);
    else
        snprintf(path, sizeof path, "%s/bulwark.yaml", a->dir);
    if (bw_config_load(path, &st->cfg, err, sizeof err) != BW_OK)
        return bw_cli_fail(cmd, "%s", err);
    snprintf(st->config_path, sizeof st->config_path, "%s", path);
    int rc = apply_overrides(a, &st->cfg);
    if (rc || (rc = start_log(st, path)) != 0 || (rc = setup_transport(st)) != 0)
        return rc;
    bw_gateway_policy_init(&st->gw);
    if (st->cfg.policy[0]) {
        resolve_policy_path(path, st->cfg.policy, st->policy_path, sizeof st->policy_path);
        if ((rc = load_policy(st, 1)) != 0)
            return rc;
    }
    if (bw_billing_load_secrets(&st->cfg, err, sizeof err) != BW_OK)
        return bw_cli_fail(cmd, "%s", err);
    if (bw_config_mcp_load_credentials(&st->cfg, err, sizeof err) != BW_OK) /* mcp-orgsrv */
        return bw_cli_fail(cmd, "%s", err);
    bw_err e = bw_keyring_load(a->dir, &st->keys);
    if (e != BW_OK)
        return bw_cli_fail(cmd, "cannot load the master keys in %s: %s", a->dir, bw_err_str(e));
    if ((rc = load_upstream_key(&st->cfg, &st->upstream_auth)) != 0)
        return rc;
    if (st->cfg.database[0])
        snprintf(st->gw.db_path, sizeof st->gw.db_path, "%s", st->cfg.database);
    else
        snprintf(st->gw.db_path, sizeof st->gw.db_path, "%s/bulwark.db", a->dir);
    struct bw_store *probe = NULL;
    if ((e = bw_store_open(st->gw.db_path, 0, &probe)) != BW_OK)
        return bw_cli_fail(cmd, "cannot open the database (%s)%s", bw_err_str(e),
                           st->cfg.database[0] ? "" : ": run `bulwark init` first?");
    /* The store job pool (jobs/jobs.h), once the open above has migrated the database. */
    if ((e = bw_jobs_new(st->gw.db_path, 0, 0, &st->gw.jobs)) != BW_OK) {
        bw_store_close(probe);
        return bw_cli_fail(cmd, "cannot start the store threads (%s)", bw_err_str(e));
    }
    bw_metrics_set_jobs(st->gw.jobs);
    st->pepper = sodium_malloc(32);
    e = st->pepper ? bw_auth_pepper_load(probe, st->keys, st->pepper) : BW_E_NOMEM;
    if (e != BW_OK) {
        bw_store_close(probe);
        return bw_cli_fail(cmd, "cannot open the key-hash pepper: %s%s", bw_err_str(e),
                           e == BW_E_NOT_FOUND
                               ? " (it is wrapped by a master key this gateway does not hold)"
                               : "");
    }
    struct bw_policy *platform = bw_gateway_policy_acquire(&st->gw);
    e = keep_platform_texts_in(st, probe, platform ? bw_policy_sha256(platform) : NULL);
    bw_policy_unref(platform);
    if (e != BW_OK) {
        bw_store_close(probe);
        return bw_cli_fail(cmd, "cannot keep the platform policy texts for evidence: %s",
                           bw_err_str(e));
    }
    rc = setup_limits(st, probe);
    bw_store_close(probe);
    if (rc || (rc = setup_connections(st)) != 0)
        return rc;
    char upstream[1100];
    snprintf(upstream, sizeof upstream, "%s", st->cfg.upstream_url);
    if (strcmp(upstream, "mock") == 0 && (rc = start_mock(&st->mock, upstream, sizeof upstream)))
        return rc;
    if (bw_gateway_set_upstream(&st->gw, upstream) != BW_OK)
        return bw_cli_fail(cmd, "upstream must be an http(s) URL or 'mock'");
    snprintf(path, sizeof path, "%s/ledger", a->dir);
    struct bw_ledger_opts lo = {.batch_max = st->cfg.ledger_batch_max,
                                .batch_wait_us = st->cfg.ledger_batch_wait_us,
                                .commit_interval_us = st->cfg.ledger_commit_interval_us,
                                .no_sync = !st->cfg.ledger_fsync,
                                .sign_each = st->cfg.ledger_sign_each,
                                .preallocate = st->cfg.ledger_preallocate};
    if ((e = bw_ledger_open(path, &lo, &st->ledger)) != BW_OK)
        return bw_cli_fail(cmd, "cannot open the ledger %s: %s", path, bw_err_str(e));
    if ((rc = setup_leases(st)) != 0)
        return rc;
    /* The dependency-health prober (posture/health.h): its first round runs now, so /readyz
     * answers from real checks as soon as the gateway listens. */
    struct bw_health_probe_opts ho = {st->gw.db_path, st->ledger, upstream, 1000, 1000};
    if ((e = bw_health_start(&ho)) != BW_OK)
        return bw_cli_fail(cmd, "cannot start the health prober (%s)", bw_err_str(e));
    if (bw_org_policies_new(&st->gw.org_policies) != BW_OK)
        return bw_cli_fail(cmd, "out of memory");
    st->gw.cfg = &st->cfg;
    st->gw.ledger = st->ledger;
    st->gw.pepper = st->pepper;
    st->gw.upstream_auth = st->upstream_auth;
    if (st->cfg.mcp_oauth && (rc = start_mcp_oauth(st)) != 0)
        return rc;
    return 0;
}

static void teardown(struct serve_state *st) {
    bw_health_stop();                     /* first: it borrows the ledger */
    bw_metrics_service_stop(st->metrics); /* the workers are stopped: no scrape in progress */
    bw_oauth_free(st->gw.oauth);          /* after the workers: joins the JWKS refresher */
    st->gw.oauth = NULL;
    bw_otel_free(st->gw.otel); /* after the workers: no submit in progress */
    st->gw.otel = NULL;
    bw_readiness_stop(st->gw.readiness); /* first: it reads the ledger and the policy */
    st->gw.readiness = NULL;
    bw_ledger_close(st->ledger);
    bw_gateway_policy_swap(&st->gw, NULL);
    bw_org_policies_free(st->gw.org_policies);
    st->gw.org_policies = NULL;
    bw_billing_attach_limits(NULL);
    bw_billing_unload();
    bw_lease_free(st->gw.lease);   /* after the workers: gives unused leases back */
    bw_meter_free(st->gw.meter);   /* after the workers: writes every queued row */
    bw_outbox_free(st->gw.outbox); /* after the workers: undelivered rows stay queued */
    bw_metrics_set_jobs(NULL);     /* the workers are stopped: no scrape reads the pool */
    bw_jobs_free(st->gw.jobs);     /* after the workers (each was through bw_jobs_owner_gone) */
    st->gw.jobs = NULL;
    bw_egress_policy_free(st->egress);
    bw_limits_free(st->gw.limits);
    stop_mock(&st->mock);
    sodium_free(st->upstream_auth);
    sodium_free(st->pepper);
    bw_keyring_free(st->keys);
    bw_tls_free(st->tls); /* after the server: no connection holds it any more */
    st->tls = NULL;
    bw_config_cleanup(&st->cfg);
}

/* SIGHUP during a master key rotation: picks up DIR/master.key.next, so this gateway opens
 * records of both generations and seals new ones under the next key (keyring.h). */
static void reload_next_key(struct serve_state *st, const char *dir) {
    int loaded = 0;
    bw_err e = bw_keyring_load_next(st->keys, dir, &loaded);
    uint8_t id[BW_VAULT_MASTER_ID_BYTES];
    char hex[2 * BW_VAULT_MASTER_ID_BYTES + 1];
    bw_keyring_sealer_id(st->keys, id);
    sodium_bin2hex(hex, sizeof hex, id, sizeof id);
    if (e == BW_E_EXISTS)
        bw_error("SIGHUP: " BW_KEYRING_NEXT_FILE " differs from the next master key already "
                 "loaded (%s): restart to change it",
                 hex);
    else if (e != BW_OK)
        bw_error("SIGHUP: cannot load " BW_KEYRING_NEXT_FILE ": %s", bw_err_str(e));
    else if (loaded)
        bw_info("SIGHUP: next master key %s loaded: new secrets are sealed under it", hex);
}

/* SIGHUP: a new certificate and key for new connections; open ones keep theirs. */
static void reload_tls(struct serve_state *st) {
    if (!st->tls)
        return;
    char err[600], what[256];
    if (bw_tls_reload(st->tls, err, sizeof err) != BW_OK) {
        bw_error("SIGHUP: TLS certificate reload refused, the running one stays: %s", err);
        return;
    }
    bw_tls_describe(st->tls, what, sizeof what);
    bw_info("SIGHUP: TLS certificate reloaded: %s", what);
}

/* Metrics (gauge refresher, the optional unauthenticated listener) and the OpenTelemetry
 * exporter, whose collector is an outbound destination under the egress guard. */
static int setup_observability(struct serve_state *st, const struct bw_server_app *app) {
    const struct bw_config *c = &st->cfg;
    struct bw_metrics_service_opts mo = {st->gw.db_path,
                                         c->metrics_refresh_ms,
                                         c->metrics_listen_host,
                                         c->metrics_listen_port,
                                         c->metrics_allow_remote,
                                         app->inflight,
                                         app->arg};
    int port = 0;
    bw_err e = bw_metrics_service_start(&mo, &st->metrics, &port);
    if (e == BW_E_INVALID)
        return bw_cli_fail(&bw_cmd_serve,
                           "metrics.listen %s is not loopback: its /metrics has "
                           "no authentication (set metrics.allow_remote: true)",
                           c->metrics_listen_host);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot serve metrics on %s:%d", c->metrics_listen_host,
                           c->metrics_listen_port);
    if (port)
        bw_info("metrics listening on %s:%d (GET /metrics, no authentication)",
                c->metrics_listen_host, port);
    if (!c->otel_endpoint[0])
        return 0;
    const char *headers = c->otel_headers_env[0] ? getenv(c->otel_headers_env) : NULL;
    if (c->otel_headers_env[0] && !headers) /* named but unset: a collector would refuse us */
        return bw_cli_fail(&bw_cmd_serve, "otel.headers_env: %s is not set", c->otel_headers_env);
    struct bw_otel_opts oo = {c->otel_endpoint,          c->otel_service_name, c->otel_timeout_ms,
                              (size_t)c->otel_queue_max, st->egress,           headers};
    bw_err oe = bw_otel_new(&oo, &st->gw.otel);
    if (oe == BW_E_INVALID) /* never the value: it holds a token */
        return bw_cli_fail(&bw_cmd_serve,
                           "otel.headers_env: %s is not Name=value,... with "
                           "printable values",
                           c->otel_headers_env);
    if (oe != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot start the OpenTelemetry exporter");
    bw_info("otel: exporting spans (OTLP/HTTP JSON)"); /* no URL: it may carry a token */
    return 0;
}

static int serve(const struct serve_args *a, struct serve_state *st) {
    int rc = setup(a, st);
    if (rc)
        return rc;
    struct bw_readiness_env re = {&st->cfg, a->dir, st->config_path, &st->gw};
    if (bw_readiness_start(&re, &st->gw.readiness) != BW_OK)
        return bw_cli_fail(&bw_cmd_serve, "cannot start the readiness checks");
    struct bw_server_opts so = {
        st->cfg.listen_host,      st->cfg.listen_port,      st->cfg.workers, st->cfg.max_body_bytes,
        st->cfg.max_header_bytes, st->cfg.client_timeout_s, st->tls,         st->cfg.tls_host,
        st->cfg.tls_port};
    struct bw_server_app app;
    bw_cli_gateway_app(&st->gw, &app);
    if ((rc = setup_observability(st, &app)) != 0)
        return rc;
    struct bw_server *server = NULL;
    int port = 0;
    if (bw_server_start(&so, &app, &server, &port) != BW_OK) {
        if (!so.host[0])
            return bw_cli_fail(&bw_cmd_serve, "cannot serve TLS on %s:%d", so.tls_host,
                               so.tls_port);
        return bw_cli_fail(&bw_cmd_serve, "cannot serve on %s:%d", so.host, so.port);
    }
    if (st->tls) {
        char what[256];
        bw_tls_describe(st->tls, what, sizeof what);
        bw_info("bulwark listening with TLS on %s:%d (%s)", so.tls_host, bw_server_tls_port(server),
                what);
    }
    if (so.host[0])
        bw_info("bulwark listening on %s:%d (workers=%d, ledger %s)", so.host, port, so.workers,
                bw_ledger_origin(st->ledger));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int sig = 0;
    for (;;) {
        sigwait(&set, &sig);
        if (sig != SIGHUP)
            break;
        bw_log_sink_reopen(); /* logrotate moved the file: write to a new one */
        if (st->policy_path[0])
            (void)load_policy(st, 0);
        else
            bw_info("SIGHUP: no policy file configured, nothing to reload");
        reload_next_key(st, a->dir);
        reload_tls(st);
    }
    bw_info("signal %d: draining", sig);
    atomic_store(&st->gw.stopping, 1);
    long left = bw_server_stop(server, DRAIN_MS);
    if (left)
        bw_warn("drain timed out with %ld in flight", left);
    bw_info("stopped");
    return 0;
}

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_serve, argc, argv))
        return 0;
    struct serve_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    /* Every thread inherits this mask, so only sigwait in the main thread sees these. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (sodium_init() < 0 || evthread_use_pthreads() != 0 ||
        curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return bw_cli_fail(&bw_cmd_serve, "library initialisation failed");
    static struct serve_state st; /* large; zero-initialised; serve runs once, on the main thread */
    rc = serve(&a, &st);
    teardown(&st);
    bw_log_sink_stop(); /* after every thread that logs has stopped: writes what is queued */
    curl_global_cleanup();
    return rc;
}

const struct bw_cmd bw_cmd_serve = {
    .name = "serve",
    .summary = "run the gateway",
    .usage = usage,
    .run = run,
};
