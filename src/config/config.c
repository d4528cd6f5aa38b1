#include "config/config.h"
#include "config/config_walk.h"
#include "util/text.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "egress/egress.h"
#include "util/codec.h"
#include "util/file.h"

#define MAX_CONFIG_BYTES (1u << 20)

const char bw_config_default_text[] =
    "# Bulwark gateway configuration. Holds no secret: the upstream key is read from the\n"
    "# environment variable named by upstream.api_key_env (or the 0600 file api_key_file).\n"
    "listen: 127.0.0.1:8080\n"
    "workers: 0                 # event-loop threads; 0 = one per core\n"
    "upstream:\n"
    "  url: mock                # built-in mock model; or e.g. https://api.openai.com/v1\n"
    "  # api_key_env: OPENAI_API_KEY\n"
    "  connect_timeout_ms: 2000\n"
    "  timeout_ms: 60000\n"
    "limits:\n"
    "  max_body_bytes: 4194304\n"
    "  max_json_depth: 32\n"
    "  max_header_bytes: 16384\n"
    "  client_timeout_s: 30\n"
    "ledger:\n"
    "  batch_max: 256\n"
    "  batch_wait_us: 0\n"
    "orgs:\n"
    "  default:\n"
    "    allowed_models: [gpt-4o-mini, gpt-4o, text-embedding-3-small]\n";

void bw_config_defaults(struct bw_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8080;
    snprintf(c->upstream_url, sizeof c->upstream_url, "mock");
    c->connect_timeout_ms = 2000;
    c->timeout_ms = 60000;
    c->max_body_bytes = 4u << 20;
    c->max_json_depth = 32;
    c->max_header_bytes = 16384;
    c->client_timeout_s = 30;
    c->ledger_batch_max = 256;
    c->ledger_preallocate = 1u << 20;
    c->ledger_commit_interval_us = 500;
    c->ledger_fsync = 1;
    c->default_max_tokens = -1;
    c->key_rotation_grace_s = 86400;
    c->billing_tolerance_s = 300;
    c->billing_max_body_bytes = 1u << 20;
    snprintf(c->billing_free_plan, sizeof c->billing_free_plan, "free");
    snprintf(c->connections_github_api, sizeof c->connections_github_api, "https://api.github.com");
    snprintf(c->connections_notion_api, sizeof c->connections_notion_api, "https://api.notion.com");
    c->connections_verify_timeout_ms = 10000;
    c->outbox_max_attempts = 10;
    c->outbox_backoff_base_ms = 1000;
    c->outbox_backoff_max_ms = 3600000;
    c->outbox_poll_ms = 1000;
    c->widget_max_message_bytes = 4000;
    c->widget_max_tokens = 512;
    c->widget_history_messages = 20;
    c->widget_history_bytes = 32768;
    c->widget_max_conversation_messages = 200;
    /* A public endpoint is rate-limited unless the operator says otherwise. */
    c->widget_requests.per_minute = 30;
    c->widget_requests.burst = 10;
}

void bw_config_cleanup(struct bw_config *c) {
    for (size_t i = 0; i < c->n_orgs; i++) {
        for (size_t j = 0; j < c->orgs[i].n_allowed_models; j++)
            free(c->orgs[i].allowed_models[j]);
        free(c->orgs[i].allowed_models);
        free(c->orgs[i].name);
    }
    free(c->orgs);
    c->orgs = NULL;
    c->n_orgs = 0;
    for (size_t i = 0; i < c->n_budgets; i++) {
        for (size_t j = 0; j < c->budgets[i].n_agents; j++)
            free(c->budgets[i].agents[j].agent);
        free(c->budgets[i].agents);
        free(c->budgets[i].org);
    }
    free(c->budgets);
    c->budgets = NULL;
    c->n_budgets = 0;
    for (size_t i = 0; i < c->n_prices; i++)
        free(c->prices[i].model);
    free(c->prices);
    c->prices = NULL;
    c->n_prices = 0;
    for (size_t i = 0; i < c->n_plans; i++)
        free(c->plans[i].name);
    free(c->plans);
    c->plans = NULL;
    c->n_plans = 0;
    for (size_t i = 0; i < c->n_egress_allow; i++)
        free(c->egress_allow[i]);
    free(c->egress_allow);
    c->egress_allow = NULL;
    c->n_egress_allow = 0;
    bw_cfg_mcp_cleanup(c);
}

const struct bw_budget_config *bw_config_budget(const struct bw_config *c, const char *org) {
    for (size_t i = 0; i < c->n_budgets; i++)
        if (strcmp(c->budgets[i].org, org) == 0)
            return &c->budgets[i];
    return NULL;
}

const struct bw_price_config *bw_config_price(const struct bw_config *c, const char *model) {
    for (size_t i = 0; i < c->n_prices; i++)
        if (strcmp(c->prices[i].model, model) == 0)
            return &c->prices[i];
    return NULL;
}

const struct bw_plan_config *bw_config_plan(const struct bw_config *c, const char *name) {
    for (size_t i = 0; i < c->n_plans; i++)
        if (strcmp(c->plans[i].name, name) == 0)
            return &c->plans[i];
    return NULL;
}

int bw_config_billing_enabled(const struct bw_config *c) {
    return c->billing_stripe_secret_env[0] || c->billing_stripe_secret_file[0] ||
           c->billing_standard_secret_env[0] || c->billing_standard_secret_file[0];
}

const struct bw_org_config *bw_config_org(const struct bw_config *c, const char *name) {
    for (size_t i = 0; i < c->n_orgs; i++)
        if (strcmp(c->orgs[i].name, name) == 0)
            return &c->orgs[i];
    return NULL;
}

/* ---- walking the libyaml document ---- */

static bw_err listen_field(struct walk *w, const yaml_node_t *v) {
    char hp[300];
    BW_TRY(bw_cfg_str(w, v, "listen", hp, sizeof hp));
    if (strcmp(hp, "off") == 0) { /* no plain listener (listen_tls must then be set) */
        w->c->listen_host[0] = 0;
        w->c->listen_port = 0;
        return BW_OK;
    }
    char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return bw_cfg_fail(w, v, "listen: expected HOST:PORT");
    *colon = 0;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == 0 || port < 0 || port > 65535)
        return bw_cfg_fail(w, v, "listen: port must be 0..65535");
    if (strlen(hp) >= sizeof w->c->listen_host)
        return bw_cfg_fail(w, v, "listen: host too long");
    memcpy(w->c->listen_host, hp, strlen(hp) + 1);
    w->c->listen_port = (int)port;
    return BW_OK;
}

static bw_err upstream_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    long n = 0;
    if (strcmp(key, "url") == 0)
        return bw_cfg_str(w, v, "upstream.url", c->upstream_url, sizeof c->upstream_url);
    if (strcmp(key, "api_key_env") == 0)
        return bw_cfg_str(w, v, "upstream.api_key_env", c->upstream_key_env,
                          sizeof c->upstream_key_env);
    if (strcmp(key, "api_key_file") == 0)
        return bw_cfg_str(w, v, "upstream.api_key_file", c->upstream_key_file,
                          sizeof c->upstream_key_file);
    if (strcmp(key, "connect_timeout_ms") == 0) {
        BW_TRY(bw_cfg_int(w, v, "upstream.connect_timeout_ms", 1, 600000, &n));
        c->connect_timeout_ms = (int)n;
        return BW_OK;
    }
    if (strcmp(key, "timeout_ms") == 0) {
        BW_TRY(bw_cfg_int(w, v, "upstream.timeout_ms", 1, 3600000, &n));
        c->timeout_ms = (int)n;
        return BW_OK;
    }
    return bw_cfg_fail(w, v, "upstream: unknown key '%.64s'", key);
}

/* Bounds shared with src/limits/limits.h (kept numeric here so config does not depend on it). */
#define RATE_MAX 1000000000L
#define TOKENS_MAX 100000000L
#define PRICE_MAX 10000000000L
#define BUDGET_MAX 4000000000000000000L

/* The rate settings of `limits:`: <scope>_<requests|tokens>_<per_minute|burst>. */
static int64_t *rate_key(struct bw_config *c, const char *key) {
    static const struct {
        const char *name;
        size_t off;
        int burst;
    } keys[] = {
        {"key_requests_per_minute", offsetof(struct bw_config, key_requests), 0},
        {"key_requests_burst", offsetof(struct bw_config, key_requests), 1},
        {"key_tokens_per_minute", offsetof(struct bw_config, key_tokens), 0},
        {"key_tokens_burst", offsetof(struct bw_config, key_tokens), 1},
        {"agent_requests_per_minute", offsetof(struct bw_config, agent_requests), 0},
        {"agent_requests_burst", offsetof(struct bw_config, agent_requests), 1},
        {"agent_tokens_per_minute", offsetof(struct bw_config, agent_tokens), 0},
        {"agent_tokens_burst", offsetof(struct bw_config, agent_tokens), 1},
        {"org_requests_per_minute", offsetof(struct bw_config, org_requests), 0},
        {"org_requests_burst", offsetof(struct bw_config, org_requests), 1},
        {"org_tokens_per_minute", offsetof(struct bw_config, org_tokens), 0},
        {"org_tokens_burst", offsetof(struct bw_config, org_tokens), 1},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(key, keys[i].name) != 0)
            continue;
        struct bw_rate_config *r = (struct bw_rate_config *)((char *)c + keys[i].off);
        return keys[i].burst ? &r->burst : &r->per_minute;
    }
    return NULL;
}

static bw_err limits_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    long n = 0;
    if (strcmp(key, "max_body_bytes") == 0) {
        BW_TRY(bw_cfg_int(w, v, "limits.max_body_bytes", 1024, 256L << 20, &n));
        c->max_body_bytes = (size_t)n;
    } else if (strcmp(key, "max_json_depth") == 0) {
        BW_TRY(bw_cfg_int(w, v, "limits.max_json_depth", 2, 512, &n));
        c->max_json_depth = (size_t)n;
    } else if (strcmp(key, "max_header_bytes") == 0) {
        BW_TRY(bw_cfg_int(w, v, "limits.max_header_bytes", 1024, 1L << 20, &n));
        c->max_header_bytes = (size_t)n;
    } else if (strcmp(key, "client_timeout_s") == 0) {
        BW_TRY(bw_cfg_int(w, v, "limits.client_timeout_s", 1, 3600, &n));
        c->client_timeout_s = (int)n;
    } else if (rate_key(c, key)) {
        char what[80];
        snprintf(what, sizeof what, "limits.%s", key);
        BW_TRY(bw_cfg_int(w, v, what, 0, RATE_MAX, &n));
        *rate_key(c, key) = n;
    } else if (strcmp(key, "org_max_concurrent") == 0) {
        BW_TRY(bw_cfg_int(w, v, "limits.org_max_concurrent", 0, 1000000, &n));
        c->org_max_concurrent = n;
    } else if (strcmp(key, "default_max_tokens") == 0) {
        BW_TRY(bw_cfg_int(w, v, "limits.default_max_tokens", -1, TOKENS_MAX, &n));
        c->default_max_tokens = n;
    } else if (strcmp(key, "clamp_max_tokens") == 0) {
        BW_TRY(bw_cfg_bool(w, v, "limits.clamp_max_tokens", &c->clamp_max_tokens));
    } else {
        return bw_cfg_fail(w, v, "limits: unknown key '%.64s'", key);
    }
    return BW_OK;
}

static bw_err widget_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    long n = 0;
    if (strcmp(key, "model") == 0) {
        BW_TRY(bw_cfg_str(w, v, "widget.model", c->widget_model, sizeof c->widget_model));
        if (!bw_text_model_ok(c->widget_model))
            return bw_cfg_fail(w, v, "widget.model: printable ASCII without spaces or quotes");
    } else if (strcmp(key, "max_message_bytes") == 0) {
        BW_TRY(bw_cfg_int(w, v, "widget.max_message_bytes", 1, 65536, &n));
        c->widget_max_message_bytes = (size_t)n;
    } else if (strcmp(key, "max_tokens") == 0) {
        BW_TRY(bw_cfg_int(w, v, "widget.max_tokens", 1, TOKENS_MAX, &n));
        c->widget_max_tokens = n;
    } else if (strcmp(key, "history_messages") == 0) {
        BW_TRY(bw_cfg_int(w, v, "widget.history_messages", 0, 200, &n));
        c->widget_history_messages = (int)n;
    } else if (strcmp(key, "history_bytes") == 0) {
        BW_TRY(bw_cfg_int(w, v, "widget.history_bytes", 0, 1L << 20, &n));
        c->widget_history_bytes = (size_t)n;
    } else if (strcmp(key, "max_conversation_messages") == 0) {
        BW_TRY(bw_cfg_int(w, v, "widget.max_conversation_messages", 2, 1000, &n));
        c->widget_max_conversation_messages = (int)n;
    } else if (strcmp(key, "requests_per_minute") == 0) {
        /* 0 turns the widget's own bucket off (the agent and org buckets still apply), and
         * its burst is then unused */
        BW_TRY(bw_cfg_int(w, v, "widget.requests_per_minute", 0, RATE_MAX, &n));
        c->widget_requests.per_minute = n;
    } else if (strcmp(key, "requests_burst") == 0) {
        BW_TRY(bw_cfg_int(w, v, "widget.requests_burst", 1, RATE_MAX, &n));
        c->widget_requests.burst = n;
    } else {
        return bw_cfg_fail(w, v, "widget: unknown key '%.64s'", key);
    }
    return BW_OK;
}

static bw_err ledger_field(struct walk *w, const char *key, const yaml_node_t *v) {
    long n = 0;
    if (strcmp(key, "batch_max") == 0) {
        BW_TRY(bw_cfg_int(w, v, "ledger.batch_max", 1, 65536, &n));
        w->c->ledger_batch_max = (size_t)n;
    } else if (strcmp(key, "fsync") == 0) {
        BW_TRY(bw_cfg_bool(w, v, "ledger.fsync", &w->c->ledger_fsync));
    } else if (strcmp(key, "sign_each") == 0) {
        BW_TRY(bw_cfg_bool(w, v, "ledger.sign_each", &w->c->ledger_sign_each));
    } else if (strcmp(key, "batch_wait_us") == 0) {
        BW_TRY(bw_cfg_int(w, v, "ledger.batch_wait_us", 0, 1000000, &n));
        w->c->ledger_batch_wait_us = (int)n;
    } else if (strcmp(key, "commit_interval_us") == 0) {
        BW_TRY(bw_cfg_int(w, v, "ledger.commit_interval_us", 0, 1000000, &n));
        w->c->ledger_commit_interval_us = (int)n;
    } else if (strcmp(key, "preallocate_bytes") == 0) {
        BW_TRY(bw_cfg_int(w, v, "ledger.preallocate_bytes", 0, 1L << 30, &n));
        w->c->ledger_preallocate = (size_t)n;
    } else {
        return bw_cfg_fail(w, v, "ledger: unknown key '%.64s'", key);
    }
    return BW_OK;
}

static bw_err keys_field(struct walk *w, const char *key, const yaml_node_t *v) {
    long n = 0;
    if (strcmp(key, "rotation_grace_s") == 0) {
        BW_TRY(bw_cfg_int(w, v, "keys.rotation_grace_s", 0, 30L * 86400, &n));
        w->c->key_rotation_grace_s = n;
    } else {
        return bw_cfg_fail(w, v, "keys: unknown key '%.64s'", key);
    }
    return BW_OK;
}

static bw_err org_field(struct walk *w, const char *key, const yaml_node_t *v) {
    if (strcmp(key, "allowed_models") != 0)
        return bw_cfg_fail(w, v, "orgs.%s: unknown key '%.64s'", w->org->name, key);
    if (v->type != YAML_SEQUENCE_NODE)
        return bw_cfg_fail(w, v, "allowed_models: expected a list");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > BW_CONFIG_MAX_MODELS)
        return bw_cfg_fail(w, v, "allowed_models: more than %d entries", BW_CONFIG_MAX_MODELS);
    w->org->allowed_models = calloc(n ? n : 1, sizeof(char *));
    if (!w->org->allowed_models)
        return BW_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
        const char *s = bw_cfg_scalar(item);
        if (!s || !bw_text_model_ok(s))
            return bw_cfg_fail(w, item, "allowed_models: invalid model name");
        w->org->allowed_models[i] = strdup(s);
        if (!w->org->allowed_models[i])
            return BW_E_NOMEM;
        w->org->n_allowed_models = i + 1;
    }
    return BW_OK;
}

static bw_err orgs_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (c->n_orgs >= BW_CONFIG_MAX_ORGS)
        return bw_cfg_fail(w, v, "orgs: more than %d orgs", BW_CONFIG_MAX_ORGS);
    if (strlen(key) == 0 || strlen(key) > 63 || !bw_text_model_ok(key))
        return bw_cfg_fail(w, v, "orgs: invalid org name");
    if (bw_config_org(c, key))
        return bw_cfg_fail(w, v, "orgs: '%.64s' listed twice", key);
    struct bw_org_config *orgs = realloc(c->orgs, (c->n_orgs + 1) * sizeof *orgs);
    if (!orgs)
        return BW_E_NOMEM;
    c->orgs = orgs;
    struct bw_org_config *o = &orgs[c->n_orgs++];
    memset(o, 0, sizeof *o);
    o->name = strdup(key);
    if (!o->name)
        return BW_E_NOMEM;
    w->org = o;
    return bw_cfg_each_pair(w, v, key, org_field);
}

static bw_err billing_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    long n;
    if (strcmp(key, "stripe_secret_env") == 0)
        return bw_cfg_str(w, v, "billing.stripe_secret_env", c->billing_stripe_secret_env,
                          sizeof c->billing_stripe_secret_env);
    if (strcmp(key, "stripe_secret_file") == 0)
        return bw_cfg_str(w, v, "billing.stripe_secret_file", c->billing_stripe_secret_file,
                          sizeof c->billing_stripe_secret_file);
    if (strcmp(key, "standard_secret_env") == 0)
        return bw_cfg_str(w, v, "billing.standard_secret_env", c->billing_standard_secret_env,
                          sizeof c->billing_standard_secret_env);
    if (strcmp(key, "standard_secret_file") == 0)
        return bw_cfg_str(w, v, "billing.standard_secret_file", c->billing_standard_secret_file,
                          sizeof c->billing_standard_secret_file);
    if (strcmp(key, "free_plan") == 0) {
        BW_TRY(bw_cfg_str(w, v, "billing.free_plan", c->billing_free_plan,
                          sizeof c->billing_free_plan));
        if (!bw_text_model_ok(c->billing_free_plan))
            return bw_cfg_fail(w, v, "billing.free_plan: invalid plan name");
        return BW_OK;
    }
    if (strcmp(key, "tolerance_s") == 0) {
        BW_TRY(bw_cfg_int(w, v, "billing.tolerance_s", 1, 3600, &n));
        c->billing_tolerance_s = (int)n;
        return BW_OK;
    }
    if (strcmp(key, "max_body_bytes") == 0) {
        BW_TRY(bw_cfg_int(w, v, "billing.max_body_bytes", 1024, 16L << 20, &n));
        c->billing_max_body_bytes = (size_t)n;
        return BW_OK;
    }
    return bw_cfg_fail(w, v, "billing: unknown key '%.64s'", key);
}

/* monthly_tokens / monthly_cost_micros of a budget or plan (absent = unlimited). */
static bw_err budget_limit_field(struct walk *w, const char *key, const yaml_node_t *v) {
    long n;
    char what[160];
    snprintf(what, sizeof what, "%s.%.64s", w->section, key);
    if (strcmp(key, "monthly_tokens") == 0) {
        BW_TRY(bw_cfg_int(w, v, what, 0, BUDGET_MAX, &n));
        w->limits->monthly_tokens = n;
    } else if (strcmp(key, "monthly_cost_micros") == 0) {
        BW_TRY(bw_cfg_int(w, v, what, 0, BUDGET_MAX, &n));
        w->limits->monthly_cost_micros = n;
    } else {
        return bw_cfg_fail(w, v, "%s: unknown key '%.64s'", w->section, key);
    }
    return BW_OK;
}

static bw_err agent_budget_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_budget_config *b = w->budget;
    if (b->n_agents >= BW_CONFIG_MAX_AGENTS)
        return bw_cfg_fail(w, v, "budgets.%s.agents: more than %d agents", b->org,
                           BW_CONFIG_MAX_AGENTS);
    if (!bw_text_model_ok(key) || strlen(key) > 63)
        return bw_cfg_fail(w, v, "budgets.%s.agents: invalid agent name", b->org);
    for (size_t i = 0; i < b->n_agents; i++)
        if (strcmp(b->agents[i].agent, key) == 0)
            return bw_cfg_fail(w, v, "budgets.%s.agents: '%.64s' listed twice", b->org, key);
    struct bw_agent_budget_config *a = realloc(b->agents, (b->n_agents + 1) * sizeof *a);
    if (!a)
        return BW_E_NOMEM;
    b->agents = a;
    struct bw_agent_budget_config *ab = &a[b->n_agents];
    ab->agent = strdup(key);
    if (!ab->agent)
        return BW_E_NOMEM;
    ab->limits.monthly_tokens = -1;
    ab->limits.monthly_cost_micros = -1;
    b->n_agents++;
    char section[160];
    snprintf(section, sizeof section, "budgets.%s.agents.%s", b->org, key);
    w->section = section;
    w->limits = &ab->limits;
    bw_err e = bw_cfg_each_pair(w, v, section, budget_limit_field);
    w->section = NULL;
    return e;
}

static bw_err budget_field(struct walk *w, const char *key, const yaml_node_t *v) {
    if (strcmp(key, "agents") == 0)
        return bw_cfg_each_pair(w, v, "agents", agent_budget_field);
    char section[160];
    snprintf(section, sizeof section, "budgets.%s", w->budget->org);
    w->section = section;
    w->limits = &w->budget->limits;
    bw_err e = budget_limit_field(w, key, v);
    w->section = NULL;
    return e;
}

static bw_err budgets_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (c->n_budgets >= BW_CONFIG_MAX_ORGS)
        return bw_cfg_fail(w, v, "budgets: more than %d orgs", BW_CONFIG_MAX_ORGS);
    if (strlen(key) > 63 || !bw_text_model_ok(key))
        return bw_cfg_fail(w, v, "budgets: invalid org name");
    if (bw_config_budget(c, key))
        return bw_cfg_fail(w, v, "budgets: '%.64s' listed twice", key);
    struct bw_budget_config *b = realloc(c->budgets, (c->n_budgets + 1) * sizeof *b);
    if (!b)
        return BW_E_NOMEM;
    c->budgets = b;
    struct bw_budget_config *nb = &b[c->n_budgets++];
    memset(nb, 0, sizeof *nb);
    nb->limits.monthly_tokens = -1;
    nb->limits.monthly_cost_micros = -1;
    nb->org = strdup(key);
    if (!nb->org)
        return BW_E_NOMEM;
    w->budget = nb;
    return bw_cfg_each_pair(w, v, key, budget_field);
}

static bw_err price_field(struct walk *w, const char *key, const yaml_node_t *v) {
    long n;
    char what[200];
    snprintf(what, sizeof what, "prices.%s.%.64s", w->price->model, key);
    if (strcmp(key, "prompt_per_1m_micros") == 0) {
        BW_TRY(bw_cfg_int(w, v, what, 0, PRICE_MAX, &n));
        w->price->prompt_per_1m_micros = n;
    } else if (strcmp(key, "completion_per_1m_micros") == 0) {
        BW_TRY(bw_cfg_int(w, v, what, 0, PRICE_MAX, &n));
        w->price->completion_per_1m_micros = n;
    } else {
        return bw_cfg_fail(w, v, "prices.%s: unknown key '%.64s'", w->price->model, key);
    }
    return BW_OK;
}

static bw_err prices_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (c->n_prices >= BW_CONFIG_MAX_MODELS)
        return bw_cfg_fail(w, v, "prices: more than %d models", BW_CONFIG_MAX_MODELS);
    if (!bw_text_model_ok(key))
        return bw_cfg_fail(w, v, "prices: invalid model name");
    if (bw_config_price(c, key))
        return bw_cfg_fail(w, v, "prices: '%.64s' listed twice", key);
    struct bw_price_config *p = realloc(c->prices, (c->n_prices + 1) * sizeof *p);
    if (!p)
        return BW_E_NOMEM;
    c->prices = p;
    struct bw_price_config *np = &p[c->n_prices++];
    memset(np, 0, sizeof *np);
    np->model = strdup(key);
    if (!np->model)
        return BW_E_NOMEM;
    w->price = np;
    /* both prices are required: a missing one must not silently price tokens at zero */
    if (v->type == YAML_MAPPING_NODE) {
        int seen = 0;
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
             q++) {
            const char *k = bw_cfg_scalar(yaml_document_get_node(w->doc, q->key));
            seen += k && (strcmp(k, "prompt_per_1m_micros") == 0 ||
                          strcmp(k, "completion_per_1m_micros") == 0);
        }
        if (seen != 2)
            return bw_cfg_fail(w, v,
                               "prices.%.64s: needs prompt_per_1m_micros and "
                               "completion_per_1m_micros",
                               key);
    }
    return bw_cfg_each_pair(w, v, key, price_field);
}

static bw_err plans_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (c->n_plans >= BW_CONFIG_MAX_PLANS)
        return bw_cfg_fail(w, v, "plans: more than %d plans", BW_CONFIG_MAX_PLANS);
    if (strlen(key) > 31 || !bw_text_model_ok(key))
        return bw_cfg_fail(w, v, "plans: invalid plan name (printable, up to 31 bytes)");
    if (bw_config_plan(c, key))
        return bw_cfg_fail(w, v, "plans: '%.64s' listed twice", key);
    struct bw_plan_config *p = realloc(c->plans, (c->n_plans + 1) * sizeof *p);
    if (!p)
        return BW_E_NOMEM;
    c->plans = p;
    struct bw_plan_config *np = &p[c->n_plans++];
    memset(np, 0, sizeof *np);
    np->limits.monthly_tokens = -1;
    np->limits.monthly_cost_micros = -1;
    np->name = strdup(key);
    if (!np->name)
        return BW_E_NOMEM;
    char section[80];
    snprintf(section, sizeof section, "plans.%s", key);
    w->section = section;
    w->limits = &np->limits;
    bw_err e = bw_cfg_each_pair(w, v, section, budget_limit_field);
    w->section = NULL;
    return e;
}

/* egress.allow: a list of allowlist entries, each checked by the guard's own parser so a
 * typo stops the server here rather than opening or closing something unexpected. */
static bw_err egress_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (strcmp(key, "allow") != 0)
        return bw_cfg_fail(w, v, "egress: unknown key '%.64s'", key);
    if (v->type != YAML_SEQUENCE_NODE)
        return bw_cfg_fail(w, v, "egress.allow: expected a list");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > BW_EGRESS_ALLOW_MAX)
        return bw_cfg_fail(w, v, "egress.allow: more than %d entries", BW_EGRESS_ALLOW_MAX);
    if (c->egress_allow)
        return bw_cfg_fail(w, v, "egress.allow: given twice");
    c->egress_allow = calloc(n ? n : 1, sizeof(char *));
    if (!c->egress_allow)
        return BW_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
        const char *s = bw_cfg_scalar(item);
        if (!s || !*s)
            return bw_cfg_fail(w, item, "egress.allow: expected CIDR or HOST:PORT strings");
        struct bw_egress_policy *p = NULL;
        char why[BW_EGRESS_WHY_SIZE];
        if (bw_egress_policy_new(&s, 1, &p, why, sizeof why) != BW_OK)
            return bw_cfg_fail(w, item, "egress.allow: '%.80s': %s", s, why);
        bw_egress_policy_free(p);
        c->egress_allow[i] = strdup(s);
        if (!c->egress_allow[i])
            return BW_E_NOMEM;
        c->n_egress_allow = i + 1;
    }
    return BW_OK;
}

/* An API base URL: https:// (or http:// for a local test server), no trailing slash. */
static bw_err api_base_field(struct walk *w, const yaml_node_t *v, const char *key, char *out,
                             size_t size) {
    BW_TRY(bw_cfg_str(w, v, key, out, size));
    size_t n = strlen(out);
    if ((strncmp(out, "https://", 8) != 0 && strncmp(out, "http://", 7) != 0) || n < 9 ||
        out[n - 1] == '/')
        return bw_cfg_fail(w, v, "%s: expected an http(s) URL without a trailing slash", key);
    return BW_OK;
}

static bw_err connections_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    long n = 0;
    if (strcmp(key, "allow_http") == 0)
        return bw_cfg_bool(w, v, "connections.allow_http", &c->connections_allow_http);
    if (strcmp(key, "github_api_url") == 0)
        return api_base_field(w, v, "connections.github_api_url", c->connections_github_api,
                              sizeof c->connections_github_api);
    if (strcmp(key, "notion_api_url") == 0)
        return api_base_field(w, v, "connections.notion_api_url", c->connections_notion_api,
                              sizeof c->connections_notion_api);
    if (strcmp(key, "verify_timeout_ms") == 0) {
        BW_TRY(bw_cfg_int(w, v, "connections.verify_timeout_ms", 100, 60000, &n));
        c->connections_verify_timeout_ms = n;
        return BW_OK;
    }
    return bw_cfg_fail(w, v, "connections: unknown key '%.64s'", key);
}

static bw_err outbox_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (strcmp(key, "max_attempts") == 0)
        return bw_cfg_int(w, v, "outbox.max_attempts", 1, 1000, &c->outbox_max_attempts);
    if (strcmp(key, "backoff_base_ms") == 0)
        return bw_cfg_int(w, v, "outbox.backoff_base_ms", 10, 3600000, &c->outbox_backoff_base_ms);
    if (strcmp(key, "backoff_max_ms") == 0)
        return bw_cfg_int(w, v, "outbox.backoff_max_ms", 10, 86400000, &c->outbox_backoff_max_ms);
    if (strcmp(key, "poll_ms") == 0)
        return bw_cfg_int(w, v, "outbox.poll_ms", 10, 60000, &c->outbox_poll_ms);
    return bw_cfg_fail(w, v, "outbox: unknown key '%.64s'", key);
}

static bw_err top_field(struct walk *w, const char *key, const yaml_node_t *v) {
    long n = 0;
    if (strcmp(key, "listen") == 0)
        return listen_field(w, v);
    if (strcmp(key, "workers") == 0) {
        BW_TRY(bw_cfg_int(w, v, "workers", 0, 256, &n));
        w->c->workers = (int)n;
        return BW_OK;
    }
    if (strcmp(key, "policy") == 0)
        return bw_cfg_str(w, v, "policy", w->c->policy, sizeof w->c->policy);
    if (strcmp(key, "database") == 0) {
        BW_TRY(bw_cfg_str(w, v, "database", w->c->database, sizeof w->c->database));
        if (strncmp(w->c->database, "postgres://", 11) != 0 &&
            strncmp(w->c->database, "postgresql://", 13) != 0)
            return bw_cfg_fail(w, v, "database: expected a postgres:// or postgresql:// URL");
        return BW_OK;
    }
    if (strcmp(key, "upstream") == 0)
        return bw_cfg_each_pair(w, v, "upstream", upstream_field);
    if (strcmp(key, "limits") == 0)
        return bw_cfg_each_pair(w, v, "limits", limits_field);
    if (strcmp(key, "ledger") == 0)
        return bw_cfg_each_pair(w, v, "ledger", ledger_field);
    if (strcmp(key, "widget") == 0)
        return bw_cfg_each_pair(w, v, "widget", widget_field);
    if (strcmp(key, "keys") == 0)
        return bw_cfg_each_pair(w, v, "keys", keys_field);
    if (strcmp(key, "orgs") == 0)
        return bw_cfg_each_pair(w, v, "orgs", orgs_field);
    if (strcmp(key, "billing") == 0)
        return bw_cfg_each_pair(w, v, "billing", billing_field);
    if (strcmp(key, "budgets") == 0)
        return bw_cfg_each_pair(w, v, "budgets", budgets_field);
    if (strcmp(key, "prices") == 0)
        return bw_cfg_each_pair(w, v, "prices", prices_field);
    if (strcmp(key, "plans") == 0)
        return bw_cfg_each_pair(w, v, "plans", plans_field);
    if (strcmp(key, "egress") == 0)
        return bw_cfg_each_pair(w, v, "egress", egress_field);
    if (strcmp(key, "connections") == 0)
        return bw_cfg_each_pair(w, v, "connections", connections_field);
    if (strcmp(key, "outbox") == 0)
        return bw_cfg_each_pair(w, v, "outbox", outbox_field);
    if (strcmp(key, "log") == 0)
        return bw_cfg_each_pair(w, v, "log", bw_config_log_field);
    if (strcmp(key, "listen_tls") == 0 || strcmp(key, "allow_plain_http") == 0)
        return bw_cfg_tls_field(w, key, v);
    if (strcmp(key, "metrics") == 0 || strcmp(key, "otel") == 0)
        return bw_cfg_metrics_section(w, key, v); /* config_metrics.c */
    if (strcmp(key, "mcp") == 0)
        return bw_cfg_mcp_section(w, v); /* config_mcp.c */
    if (strcmp(key, "sso") == 0)
        return bw_cfg_sso_section(w, v); /* config_sso.c */
    return bw_cfg_fail(w, v, "unknown key '%.64s'", key);
}

/* Cross-section checks: both secret sources of one scheme is ambiguous; a rate burst without
 * its rate does nothing (a typo). */
static bw_err check_spend(struct walk *w, const yaml_node_t *root) {
    struct bw_config *c = w->c;
    if (c->billing_stripe_secret_env[0] && c->billing_stripe_secret_file[0])
        return bw_cfg_fail(w, root,
                           "billing: set stripe_secret_env or stripe_secret_file, not both");
    if (c->billing_standard_secret_env[0] && c->billing_standard_secret_file[0])
        return bw_cfg_fail(w, root,
                           "billing: set standard_secret_env or standard_secret_file, not both");
    const struct bw_rate_config *rates[] = {&c->key_requests, &c->key_tokens,   &c->agent_requests,
                                            &c->agent_tokens, &c->org_requests, &c->org_tokens};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (rates[i]->burst && !rates[i]->per_minute)
            return bw_cfg_fail(w, root, "limits: a *_burst is set without its *_per_minute");
    if (c->outbox_backoff_base_ms > c->outbox_backoff_max_ms)
        return bw_cfg_fail(w, root, "outbox: backoff_base_ms is above backoff_max_ms");
    return BW_OK;
}

/* The strict reader's bounds for a config (docs/CONFIG.md "Strict YAML"). */
static const struct bw_yaml_limits config_yaml = {MAX_CONFIG_BYTES, 32, 1u << 18};

bw_err bw_config_parse(const char *text, size_t len, const char *name, struct bw_config *c,
                       char *err, size_t err_size) {
    bw_err result = BW_OK;
    struct bw_yaml y;
    struct walk w = {&y.doc, name, err, err_size, c, NULL, NULL, NULL, NULL, NULL, &y};

    bw_config_defaults(c);
    BW_GOTO(bw_yaml_load(&y, text, len, name, &config_yaml, err, err_size));
    const yaml_node_t *root = bw_yaml_root(&y);
    if (!root) {
        snprintf(err, err_size, "%s: empty configuration", name);
        result = BW_E_INVALID;
        goto out;
    }
    BW_GOTO(bw_cfg_each_pair(&w, root, "configuration", top_field));
    BW_GOTO(check_spend(&w, root));
    BW_GOTO(bw_cfg_tls_check(&w, root));
    BW_GOTO(bw_cfg_mcp_check(&w, root));
    bw_sha256(text, len, c->sha256);
out:
    bw_yaml_cleanup(&y);
    if (result != BW_OK) {
        bw_config_cleanup(c);
        bw_config_defaults(c);
    }
    return result;
}

bw_err bw_config_load(const char *path, struct bw_config *c, char *err, size_t err_size) {
    char *text = NULL;
    size_t n = 0;
    BW_TRY(bw_file_read_bounded(path, MAX_CONFIG_BYTES, &text, &n, err, err_size));
    bw_err result;
    if (n > MAX_CONFIG_BYTES) {
        snprintf(err, err_size, "%s: larger than %u bytes", path, MAX_CONFIG_BYTES);
        result = BW_E_INVALID;
    } else {
        result = bw_config_parse(text, n, path, c, err, err_size);
    }
    free(text);
    return result;
}
