/* billing.c: webhook secrets, verification under one lock, and budget restore (billing.h). */
#include "webhook/billing.h"

#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limits/limits.h"
#include "reason/reasons.h"
#include "store/store.h"
#include "util/log.h"

#define MAX_SECRET_TEXT 4096

/* File-scope state: the loaded webhook secrets and the limits to restore are shared by every
 * event worker; all four below are read and written only with `mu` held. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct bw_webhook_keys *stripe_keys, *standard_keys;
static struct bw_limits *attached_limits;
static int load_attempted;

/* Reads one secret source into sodium memory. *text = NULL when nothing is configured. */
static bw_err read_source(const char *what, const char *env, const char *file, char **text,
                          size_t *len, char *err, size_t err_size) {
    *text = NULL;
    *len = 0;
    if (!env[0] && !file[0])
        return BW_OK;
    char *buf = sodium_malloc(MAX_SECRET_TEXT + 1);
    if (!buf)
        return BW_E_NOMEM;
    size_t n = 0;
    if (env[0]) {
        const char *v = getenv(env);
        if (!v || !*v) {
            sodium_free(buf);
            snprintf(err, err_size, "billing.%s_secret_env names %.64s, which is not set", what,
                     env);
            return BW_E_INVALID;
        }
        n = strnlen(v, MAX_SECRET_TEXT + 1);
        if (n > MAX_SECRET_TEXT) {
            sodium_free(buf);
            snprintf(err, err_size, "billing.%s_secret_env: the secret is too long", what);
            return BW_E_INVALID;
        }
        memcpy(buf, v, n);
    } else {
        int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
            if (fd >= 0)
                close(fd);
            sodium_free(buf);
            snprintf(err, err_size, "billing.%s_secret_file is unreadable or not mode 0600", what);
            return BW_E_IO;
        }
        ssize_t r = read(fd, buf, MAX_SECRET_TEXT + 1);
        close(fd);
        if (r <= 0 || r > MAX_SECRET_TEXT) {
            sodium_free(buf);
            snprintf(err, err_size, "billing.%s_secret_file is empty or too long", what);
            return BW_E_INVALID;
        }
        n = (size_t)r;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return BW_OK;
}

static bw_err load_one(enum bw_webhook_scheme scheme, const char *what, const char *env,
                       const char *file, struct bw_webhook_keys **out, char *err, size_t err_size) {
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    BW_TRY(read_source(what, env, file, &text, &len, err, err_size));
    if (!text)
        return BW_OK;
    bw_err e = bw_webhook_keys_parse(scheme, text, len, out);
    sodium_free(text); /* wipes */
    if (e != BW_OK)
        snprintf(err, err_size, "billing: the %s webhook secret is malformed", what);
    return e;
}

bw_err bw_billing_load_secrets(const struct bw_config *cfg, char *err, size_t err_size) {
    struct bw_webhook_keys *s = NULL, *w = NULL;
    BW_TRY(load_one(BW_WEBHOOK_STRIPE, "stripe", cfg->billing_stripe_secret_env,
                    cfg->billing_stripe_secret_file, &s, err, err_size));
    bw_err e = load_one(BW_WEBHOOK_STANDARD, "standard", cfg->billing_standard_secret_env,
                        cfg->billing_standard_secret_file, &w, err, err_size);
    if (e != BW_OK) {
        bw_webhook_keys_free(s);
        return e;
    }
    pthread_mutex_lock(&mu);
    bw_webhook_keys_free(stripe_keys);
    bw_webhook_keys_free(standard_keys);
    stripe_keys = s;
    standard_keys = w;
    load_attempted = 1;
    pthread_mutex_unlock(&mu);
    return BW_OK;
}

void bw_billing_unload(void) {
    pthread_mutex_lock(&mu);
    bw_webhook_keys_free(stripe_keys);
    bw_webhook_keys_free(standard_keys);
    stripe_keys = standard_keys = NULL;
    attached_limits = NULL;
    load_attempted = 0;
    pthread_mutex_unlock(&mu);
}

void bw_billing_attach_limits(struct bw_limits *l) {
    pthread_mutex_lock(&mu);
    attached_limits = l;
    pthread_mutex_unlock(&mu);
}

struct bw_limits *bw_billing_limits(void) {
    pthread_mutex_lock(&mu);
    struct bw_limits *l = attached_limits;
    pthread_mutex_unlock(&mu);
    return l;
}

bw_err bw_billing_verify(const struct bw_config *cfg, enum bw_webhook_scheme scheme,
                         const char *stripe_header, const char *msg_id, const char *timestamp,
                         const char *signature, const uint8_t *body, size_t body_len, int64_t now_s,
                         const char **reason) {
    int attempt = 0;
    pthread_mutex_lock(&mu);
    attempt = !load_attempted && cfg && bw_config_billing_enabled(cfg);
    load_attempted = 1;
    pthread_mutex_unlock(&mu);
    if (attempt) {
        char err[300];
        if (bw_billing_load_secrets(cfg, err, sizeof err) != BW_OK)
            bw_error("billing: %s; the webhook endpoint stays closed", err);
    }
    int tolerance = cfg ? cfg->billing_tolerance_s : BW_WEBHOOK_DEFAULT_TOLERANCE_S;
    bw_err e;
    pthread_mutex_lock(&mu);
    const struct bw_webhook_keys *k = scheme == BW_WEBHOOK_STRIPE ? stripe_keys : standard_keys;
    if (!k) {
        *reason = BW_R_WEBHOOK_NOT_CONFIGURED;
        e = BW_E_UNAVAILABLE;
    } else if (scheme == BW_WEBHOOK_STRIPE) {
        e = bw_webhook_verify_stripe(k, stripe_header, body, body_len, now_s, tolerance, reason);
    } else {
        e = bw_webhook_verify_standard(k, msg_id, timestamp, signature, body, body_len, now_s,
                                       tolerance, reason);
    }
    pthread_mutex_unlock(&mu);
    return e;
}

bw_err bw_billing_org_limits(const struct bw_config *cfg, struct bw_store *s, const char *org_id,
                             const char *org_name, struct bw_budget_limits *out, char plan[32],
                             const char **source) {
    struct bw_billing_state st;
    bw_err e = bw_store_billing_get(s, org_id, &st);
    if (e == BW_OK) {
        const struct bw_plan_config *p = bw_config_plan(cfg, st.plan);
        if (p) {
            *out = p->limits;
        } else {
            out->monthly_tokens = st.monthly_tokens;
            out->monthly_cost_micros = st.monthly_cost_micros;
        }
        snprintf(plan, 32, "%s", st.plan);
        *source = "plan";
        return BW_OK;
    }
    if (e != BW_E_NOT_FOUND)
        return e;
    plan[0] = 0;
    const struct bw_budget_config *b = bw_config_budget(cfg, org_name);
    if (b) {
        *out = b->limits;
        *source = "config";
    } else {
        out->monthly_tokens = -1;
        out->monthly_cost_micros = -1;
        *source = "none";
    }
    return BW_OK;
}

struct restore {
    const struct bw_config *cfg;
    struct bw_store *s;
    struct bw_limits *l;
    int32_t month;
    bw_err err;
};

static int restore_org(void *arg, const char *id, const char *name) {
    struct restore *r = arg;
    struct bw_budget_limits lim;
    char plan[32];
    const char *source;
    r->err = bw_billing_org_limits(r->cfg, r->s, id, name, &lim, plan, &source);
    if (r->err == BW_OK)
        r->err = bw_limits_budget_set(r->l, id, "", lim.monthly_tokens, lim.monthly_cost_micros);
    const struct bw_budget_config *b = bw_config_budget(r->cfg, name);
    for (size_t i = 0; r->err == BW_OK && b && i < b->n_agents; i++)
        r->err =
            bw_limits_budget_set(r->l, id, b->agents[i].agent, b->agents[i].limits.monthly_tokens,
                                 b->agents[i].limits.monthly_cost_micros);
    return r->err != BW_OK;
}

static int restore_spent(void *arg, const char *org_id, const char *agent, int64_t tokens,
                         int64_t cost) {
    struct restore *r = arg;
    /* agent rows only count where an agent budget exists; the org row always */
    struct bw_limits_budget_state st;
    if (agent[0] && bw_limits_budget_get(r->l, org_id, agent, 0, &st) == BW_E_NOT_FOUND)
        return 0;
    r->err = bw_limits_budget_add_spent(r->l, org_id, agent, r->month, tokens, cost);
    return r->err != BW_OK;
}

bw_err bw_billing_scope_limits(const struct bw_config *cfg, struct bw_store *s, const char *org_id,
                               const char *org_name, const char *agent, int64_t *max_tokens,
                               int64_t *max_cost) {
    if (agent && agent[0]) {
        const struct bw_budget_config *b = bw_config_budget(cfg, org_name);
        for (size_t i = 0; b && i < b->n_agents; i++) {
            if (strcmp(b->agents[i].agent, agent) == 0) {
                *max_tokens = b->agents[i].limits.monthly_tokens;
                *max_cost = b->agents[i].limits.monthly_cost_micros;
                return BW_OK;
            }
        }
        *max_tokens = *max_cost = -1;
        return BW_OK;
    }
    struct bw_budget_limits lim;
    char plan[32];
    const char *source;
    BW_TRY(bw_billing_org_limits(cfg, s, org_id, org_name, &lim, plan, &source));
    *max_tokens = lim.monthly_tokens;
    *max_cost = lim.monthly_cost_micros;
    return BW_OK;
}

bw_err bw_billing_restore(const struct bw_config *cfg, struct bw_store *s, struct bw_limits *l,
                          int64_t now_ms) {
    struct restore r = {cfg, s, l, bw_limits_month_of(now_ms), BW_OK};
    bw_err e = bw_store_orgs_each(s, restore_org, &r);
    if (e != BW_OK)
        return r.err != BW_OK ? r.err : e;
    /* Leased mode (several replicas): this replica's counters hold only its own leases; the
     * month's spend so far is counted in the shared pools (a pool starts from the usage
     * table), so adding it here would count it twice. */
    if (bw_limits_leased(l))
        return BW_OK;
    e = bw_store_usage_month_totals(s, r.month, restore_spent, &r);
    if (e != BW_OK)
        return r.err != BW_OK ? r.err : e;
    return BW_OK;
}
