/* health.c: the dependency-health registry (health.h): names, the traffic feeds and the views.
 * The prober thread is in health_probe.c and writes through bw_health_probed. */
#include "posture/health.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "posture/health_internal.h"
#include "util/time.h"

struct dep_state {
    /* the prober's last round (probed = 0: never) */
    int probed;
    enum bw_health_status p_status;
    enum bw_health_class p_class;
    int64_t p_checked_ms, p_latency_us;
    /* traffic: the last failure and the last success */
    int64_t fail_ms, ok_ms;
    enum bw_health_status f_status;
    enum bw_health_class f_class;
    int64_t f_latency_us, ok_latency_us;
    enum bw_health_class last_error; /* kept after recovery */
    /* the prober's check is the same work traffic does (the store: a statement on the same
     * server), so a later successful round ends a held failure at once */
    int probe_clears;
};

/* The process's registry. Owner: this file; every field is read and written under mu, held
 * only to copy a few words (never across I/O). One gateway per process (health.h). */
static struct {
    pthread_mutex_t mu;
    int monitored; /* a prober runs: unknown states are read as DOWN before this */
    struct dep_state deps[BW_HEALTH_N_DEPS];
    struct bw_health_conn conns[BW_HEALTH_MAX_CONNECTIONS];
    size_t n_conns;
} reg = {.mu = PTHREAD_MUTEX_INITIALIZER};

const char *bw_health_dep_name(enum bw_health_dep d) {
    switch (d) {
    case BW_HEALTH_STORE:
        return "store";
    case BW_HEALTH_LEDGER:
        return "ledger";
    case BW_HEALTH_UPSTREAM:
        return "upstream";
    case BW_HEALTH_OUTBOX:
        return "outbox";
    default:
        return "unknown";
    }
}

const char *bw_health_status_name(enum bw_health_status s) {
    switch (s) {
    case BW_HEALTH_UP:
        return "up";
    case BW_HEALTH_DEGRADED:
        return "degraded";
    default:
        return "down";
    }
}

static const char *const class_names[BW_HC_N] = {
    [BW_HC_NONE] = "",
    [BW_HC_TIMEOUT] = "timeout",
    [BW_HC_REFUSED] = "refused",
    [BW_HC_DNS] = "dns",
    [BW_HC_NETWORK] = "network",
    [BW_HC_TLS] = "tls",
    [BW_HC_HTTP_4XX] = "http_4xx",
    [BW_HC_HTTP_5XX] = "http_5xx",
    [BW_HC_AUTH] = "auth",
    [BW_HC_PROTOCOL] = "protocol",
    [BW_HC_UNAVAILABLE] = "unavailable",
    [BW_HC_DISK_FULL] = "disk_full",
    [BW_HC_UNWRITABLE] = "unwritable",
    [BW_HC_FROZEN] = "frozen",
    [BW_HC_EGRESS_BLOCKED] = "egress_blocked",
    [BW_HC_CREDENTIAL] = "credential",
    [BW_HC_FAILED] = "failed",
};

const char *bw_health_class_name(enum bw_health_class c) {
    return (unsigned)c < BW_HC_N ? class_names[c] : "failed";
}

enum bw_health_class bw_health_class_of_http(long status) {
    if (status == 401 || status == 403)
        return BW_HC_AUTH;
    if (status >= 500 && status <= 599)
        return BW_HC_HTTP_5XX;
    if (status >= 400 && status <= 499)
        return BW_HC_HTTP_4XX;
    return status == 0 ? BW_HC_NETWORK : BW_HC_PROTOCOL;
}

enum bw_health_class bw_health_class_of_reason(const char *reason) {
    if (!reason || !*reason)
        return BW_HC_NONE;
    if (strncmp(reason, "HTTP_", 5) == 0) {
        long status = 0;
        for (const char *p = reason + 5; *p >= '0' && *p <= '9' && status < 1000; p++)
            status = status * 10 + (*p - '0');
        return bw_health_class_of_http(status);
    }
    static const struct {
        const char *reason;
        enum bw_health_class c;
    } known[] = {
        {"NETWORK", BW_HC_NETWORK},
        {"EGRESS_BLOCKED", BW_HC_EGRESS_BLOCKED},
        {"CONNECTION_URL_REJECTED", BW_HC_EGRESS_BLOCKED},
        {"CONNECTION_CREDENTIAL", BW_HC_CREDENTIAL},
        {"CONNECTION_VERIFY_FAILED", BW_HC_FAILED},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(reason, known[i].reason) == 0)
            return known[i].c;
    return BW_HC_FAILED;
}

void bw_health_report(enum bw_health_dep d, enum bw_health_status st, enum bw_health_class c,
                      int64_t latency_us) {
    if ((unsigned)d >= BW_HEALTH_N_DEPS)
        return;
    int64_t now = bw_now_ms();
    pthread_mutex_lock(&reg.mu);
    struct dep_state *s = &reg.deps[d];
    if (st == BW_HEALTH_UP) {
        s->ok_ms = now;
        s->ok_latency_us = latency_us;
    } else {
        s->fail_ms = now;
        s->f_status = st;
        s->f_class = c == BW_HC_NONE ? BW_HC_FAILED : c;
        s->f_latency_us = latency_us;
        s->last_error = s->f_class;
    }
    pthread_mutex_unlock(&reg.mu);
}

void bw_health_probed(enum bw_health_dep d, enum bw_health_status st, enum bw_health_class c,
                      int64_t latency_us) {
    if ((unsigned)d >= BW_HEALTH_N_DEPS)
        return;
    int64_t now = bw_now_ms();
    pthread_mutex_lock(&reg.mu);
    struct dep_state *s = &reg.deps[d];
    s->probed = 1;
    s->probe_clears = d == BW_HEALTH_STORE;
    s->p_status = st;
    s->p_class = st == BW_HEALTH_UP ? BW_HC_NONE : (c == BW_HC_NONE ? BW_HC_FAILED : c);
    s->p_checked_ms = now;
    s->p_latency_us = latency_us;
    if (st != BW_HEALTH_UP)
        s->last_error = s->p_class;
    pthread_mutex_unlock(&reg.mu);
}

void bw_health_monitoring(int on) {
    pthread_mutex_lock(&reg.mu);
    reg.monitored = on;
    if (!on) {
        memset(reg.deps, 0, sizeof reg.deps);
        memset(reg.conns, 0, sizeof reg.conns);
        reg.n_conns = 0;
    }
    pthread_mutex_unlock(&reg.mu);
}

static int id_ok(const char *id) {
    size_t n = id ? strnlen(id, 40) : 40;
    return n > 0 && n < 40;
}

void bw_health_report_connection(const char *org_id, const char *conn_id, int ok,
                                 enum bw_health_class c, int64_t latency_us) {
    if (!id_ok(org_id) || !id_ok(conn_id))
        return;
    int64_t now = bw_now_ms();
    pthread_mutex_lock(&reg.mu);
    size_t i = 0;
    while (i < reg.n_conns && strcmp(reg.conns[i].conn_id, conn_id) != 0)
        i++;
    if (i == reg.n_conns) {
        if (reg.n_conns < BW_HEALTH_MAX_CONNECTIONS) {
            reg.n_conns++;
        } else { /* full: the entry checked longest ago makes room */
            i = 0;
            for (size_t k = 1; k < reg.n_conns; k++)
                if (reg.conns[k].e.checked_ms < reg.conns[i].e.checked_ms)
                    i = k;
        }
        memset(&reg.conns[i], 0, sizeof reg.conns[i]);
        snprintf(reg.conns[i].org_id, sizeof reg.conns[i].org_id, "%s", org_id);
        snprintf(reg.conns[i].conn_id, sizeof reg.conns[i].conn_id, "%s", conn_id);
    }
    struct bw_health_entry *e = &reg.conns[i].e;
    e->status = ok ? BW_HEALTH_UP : BW_HEALTH_DOWN;
    if (!ok)
        e->error = c == BW_HC_NONE ? BW_HC_FAILED : c;
    e->checked_ms = now;
    e->latency_us = latency_us;
    pthread_mutex_unlock(&reg.mu);
}

/* Under reg.mu: health.h's combination of the prober's view and traffic's. */
static void effective(const struct dep_state *s, int64_t now, struct bw_health_entry *out) {
    out->error = s->last_error;
    if (s->probed && s->p_status == BW_HEALTH_DOWN) {
        out->status = BW_HEALTH_DOWN;
        out->checked_ms = s->p_checked_ms;
        out->latency_us = s->p_latency_us;
    } else if (s->fail_ms && s->fail_ms >= s->ok_ms && now - s->fail_ms < BW_HEALTH_HOLD_MS &&
               !(s->probe_clears && s->probed && s->p_checked_ms > s->fail_ms)) {
        out->status = s->f_status;
        out->checked_ms = s->fail_ms;
        out->latency_us = s->f_latency_us;
    } else if (s->probed && s->p_checked_ms >= s->ok_ms) {
        out->status = s->p_status;
        out->checked_ms = s->p_checked_ms;
        out->latency_us = s->p_latency_us;
    } else if (s->ok_ms) {
        out->status = BW_HEALTH_UP;
        out->checked_ms = s->ok_ms;
        out->latency_us = s->ok_latency_us;
    } else { /* never checked: fail closed */
        out->status = BW_HEALTH_DOWN;
        out->error = BW_HC_UNAVAILABLE;
        out->checked_ms = 0;
        out->latency_us = -1;
    }
}

void bw_health_get(enum bw_health_dep d, struct bw_health_entry *out) {
    static const struct dep_state never; /* const: all zero */
    int64_t now = bw_now_ms();
    pthread_mutex_lock(&reg.mu);
    if ((unsigned)d < BW_HEALTH_N_DEPS && reg.monitored)
        effective(&reg.deps[d], now, out);
    else
        effective(&never, now, out);
    pthread_mutex_unlock(&reg.mu);
}

size_t bw_health_connections(const char *org_id, struct bw_health_conn *out, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&reg.mu);
    for (size_t i = 0; i < reg.n_conns && n < max; i++)
        if (!org_id || strcmp(reg.conns[i].org_id, org_id) == 0)
            out[n++] = reg.conns[i];
    pthread_mutex_unlock(&reg.mu);
    /* newest first: a small insertion sort (n <= BW_HEALTH_MAX_CONNECTIONS) */
    for (size_t i = 1; i < n; i++) {
        struct bw_health_conn t = out[i];
        size_t j = i;
        for (; j > 0 && out[j - 1].e.checked_ms < t.e.checked_ms; j--)
            out[j] = out[j - 1];
        out[j] = t;
    }
    return n;
}

/* Readiness reads the prober's verdict only. Traffic reports can be provoked by a caller (a
 * statement that fails on its input, an upstream answering 5xx to one request); letting them
 * flip /readyz would let any tenant take every replica out of rotation. */
static int probed_down(enum bw_health_dep d) {
    pthread_mutex_lock(&reg.mu);
    const struct dep_state *s = &reg.deps[d];
    int down = !reg.monitored || !s->probed || s->p_status == BW_HEALTH_DOWN;
    pthread_mutex_unlock(&reg.mu);
    return down;
}

int bw_health_readyz(int signer_ok, int policy_ok, int stopping, char *out, size_t size) {
    const char *failing[5];
    size_t n = 0;
    if (probed_down(BW_HEALTH_STORE))
        failing[n++] = "store";
    if (probed_down(BW_HEALTH_LEDGER))
        failing[n++] = "ledger";
    if (!signer_ok)
        failing[n++] = "signer";
    if (!policy_ok)
        failing[n++] = "policy";
    if (stopping)
        failing[n++] = "draining";
    if (n == 0) {
        snprintf(out, size, "{\"status\":\"ready\"}");
        return 200;
    }
    size_t len = (size_t)snprintf(out, size, "{\"status\":\"not_ready\",\"failing\":[");
    for (size_t i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s\"%s\"", i ? "," : "", failing[i]);
    if (len < size)
        snprintf(out + len, size - len, "]}");
    return 503;
}
