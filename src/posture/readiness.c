/* readiness.c: the refresher thread, the snapshot and the three views (readiness.h). */
#include "posture/readiness.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/gateway.h"
#include "posture/readiness_internal.h"
#include "store/isolation.h"
#include "store/store.h"
#include "util/log.h"
#include "util/time.h"

#define STORE_TIMEOUT_MS 3000

/* Shared state: `mu` protects snap (the published pointer), every snapshot's refs, kicked,
 * stopping and generation. The refresher thread owns `store` and `env` is read-only. A
 * snapshot is immutable once published: readers render it outside the lock while they hold a
 * reference. */
struct bw_readiness {
    struct bw_readiness_env env;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the refresher waits on it: a kick or stop */
    pthread_cond_t done; /* readers wait on it for a newer generation */
    struct bw_ready_snapshot *snap;
    uint64_t generation;
    int kicked;
    int stopping;
    pthread_t thread;
    int thread_started;
    struct bw_store *store; /* the refresher's own handle; reopened after a failure */
    struct bw_ready_policy_cache policies; /* the refresher's: org policy verdicts by hash */
};

static const char *const control_ids[BW_CTL_COUNT] = {
    "master_key",      "signing_key",    "ledger",
    "policy",          "config_secrets", "transport",
    "store_isolation", "egress_guard",   "upstream_credentials",
    "widgets",         "keys",
};

const char *bw_ready_control_id(int control) {
    return control >= 0 && control < BW_CTL_COUNT ? control_ids[control] : "unknown";
}

const char *bw_readiness_level_name(int level) {
    switch (level) {
    case BW_READY_PASS:
        return "pass";
    case BW_READY_WARN:
        return "warn";
    default:
        return "fail"; /* anything unknown is a failure */
    }
}

void bw_ready_set(struct bw_ready_result *r, int status, const char *fmt, ...) {
    r->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

json_t *bw_ready_values(struct bw_ready_result *r) {
    if (!r->values)
        r->values = json_object();
    return r->values;
}

void bw_ready_store_failed(const struct bw_ready_ctx *c) {
    *c->store_error = 1;
}

void bw_ready_result_cleanup(struct bw_ready_result *r) {
    json_decref(r->values);
    r->values = NULL;
}

static void snapshot_free(struct bw_ready_snapshot *s) {
    if (!s)
        return;
    for (int i = 0; i < BW_CTL_COUNT; i++)
        bw_ready_result_cleanup(&s->ctl[i]);
    for (size_t i = 0; i < s->n_orgs; i++) {
        bw_ready_result_cleanup(&s->orgs[i].widgets);
        bw_ready_result_cleanup(&s->orgs[i].keys);
    }
    free(s->orgs);
    free(s);
}

/* The refresher's store handle: opened on first use and after any failure (a dead database
 * comes back without a restart). NULL if it cannot be opened now. */
static struct bw_store *refresher_store(struct bw_readiness *r) {
    if (r->store)
        return r->store;
    if (bw_store_open(r->env.gw->db_path, 0, &r->store) != BW_OK) {
        r->store = NULL;
        return NULL;
    }
    /* Every read of a refresh is bounded: a table locked by a long transaction makes its
     * control fail after STORE_TIMEOUT_MS instead of holding the refresher. */
    if (bw_store_session_timeout(r->store, STORE_TIMEOUT_MS) != BW_OK) {
        bw_store_close(r->store);
        r->store = NULL;
    }
    return r->store;
}

/* One control that did not produce a verdict is a failure (fail closed): a control starts as
 * fail and must set its own verdict. */
static void run_control(const struct bw_ready_ctx *c, struct bw_ready_result *r,
                        void (*fn)(const struct bw_ready_ctx *, struct bw_ready_result *)) {
    bw_ready_set(r, BW_READY_FAIL, "the check did not complete");
    fn(c, r);
}

static struct bw_ready_snapshot *refresh(struct bw_readiness *r) {
    struct bw_ready_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->refs = 1;
    int store_error = 0;
    struct bw_ready_ctx c = {&r->env, refresher_store(r), bw_now_ms(), &r->policies, &store_error};
    static void (*const fns[])(const struct bw_ready_ctx *, struct bw_ready_result *) = {
        [BW_CTL_MASTER_KEY] = bw_ready_master_key,
        [BW_CTL_SIGNING_KEY] = bw_ready_signing_key,
        [BW_CTL_LEDGER] = bw_ready_ledger,
        [BW_CTL_POLICY] = bw_ready_policy,
        [BW_CTL_CONFIG_SECRETS] = bw_ready_config_secrets,
        [BW_CTL_TRANSPORT] = bw_ready_transport,
        [BW_CTL_STORE_ISOLATION] = bw_ready_store_isolation,
        [BW_CTL_EGRESS_GUARD] = bw_ready_egress_guard,
        [BW_CTL_UPSTREAM_CREDENTIALS] = bw_ready_upstream_credentials,
    };
    for (int i = 0; i < BW_CTL_WIDGETS; i++)
        run_control(&c, &s->ctl[i], fns[i]);
    bw_ready_set(&s->ctl[BW_CTL_WIDGETS], BW_READY_FAIL, "the check did not complete");
    bw_ready_set(&s->ctl[BW_CTL_KEYS], BW_READY_FAIL, "the check did not complete");
    bw_ready_tenants(&c, &s->ctl[BW_CTL_WIDGETS], &s->ctl[BW_CTL_KEYS], &s->ctl[BW_CTL_POLICY],
                     &s->orgs, &s->n_orgs);
    /* A store read that failed may have left the handle unusable: reopen it next time rather
     * than keep a broken connection (a verdict of fail alone, e.g. RLS off, keeps it). */
    if (store_error) {
        bw_store_close(r->store);
        r->store = NULL;
    }
    s->taken_ms = bw_now_ms();
    return s;
}

static void publish(struct bw_readiness *r, struct bw_ready_snapshot *s) {
    struct bw_ready_snapshot *old = NULL;
    pthread_mutex_lock(&r->mu);
    if (s) {
        old = r->snap;
        r->snap = s;
    }
    r->generation++; /* also without a snapshot: waiting readers stop waiting */
    if (old && --old->refs > 0)
        old = NULL;
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->mu);
    snapshot_free(old);
}

static void deadline_in(struct timespec *ts, long ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *refresher_main(void *arg) {
    struct bw_readiness *r = arg;
    pthread_setname_np(pthread_self(), "bw-readiness"); /* for top -H, perf, gdb */
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        struct timespec ts;
        deadline_in(&ts, BW_READINESS_REFRESH_MS);
        while (!r->stopping && !r->kicked)
            if (pthread_cond_timedwait(&r->wake, &r->mu, &ts) == ETIMEDOUT)
                break;
        if (r->stopping)
            break;
        r->kicked = 0;
        pthread_mutex_unlock(&r->mu);
        publish(r, refresh(r));
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int cond_init_monotonic(pthread_cond_t *c) {
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) || pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc ? -1 : 0;
}

bw_err bw_readiness_start(const struct bw_readiness_env *env, struct bw_readiness **out) {
    struct bw_readiness *r = calloc(1, sizeof *r);
    if (!r)
        return BW_E_NOMEM;
    r->env = *env;
    if (pthread_mutex_init(&r->mu, NULL) != 0 || cond_init_monotonic(&r->wake) != 0 ||
        cond_init_monotonic(&r->done) != 0) {
        free(r); /* a failed init leaves nothing to destroy on Linux */
        return BW_E_INTERNAL;
    }
    publish(r, refresh(r));
    if (pthread_create(&r->thread, NULL, refresher_main, r) != 0) {
        bw_readiness_stop(r);
        return BW_E_INTERNAL;
    }
    r->thread_started = 1;
    *out = r;
    return BW_OK;
}

void bw_readiness_stop(struct bw_readiness *r) {
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->mu);
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    snapshot_free(r->snap); /* no reader is left: the server has stopped */
    bw_store_close(r->store);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->done);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* A reference to the newest snapshot. One older than a second kicks the refresher; an
 * authenticated caller (wait = 1) whose snapshot is older than a refresh period (the refresher
 * is behind) also waits for the next one, at most BW_READINESS_WAIT_MS. The public view never
 * waits: an unauthenticated flood must not be able to hold the workers. */
static struct bw_ready_snapshot *acquire(struct bw_readiness *r, int wait) {
    pthread_mutex_lock(&r->mu);
    int64_t age = r->snap ? bw_now_ms() - r->snap->taken_ms : 0;
    if (r->snap && age > 1000 && !r->stopping) {
        uint64_t gen = r->generation;
        r->kicked = 1;
        pthread_cond_signal(&r->wake);
        struct timespec ts;
        deadline_in(&ts, BW_READINESS_WAIT_MS);
        while (wait && age > BW_READINESS_REFRESH_MS && r->generation == gen)
            if (pthread_cond_timedwait(&r->done, &r->mu, &ts) == ETIMEDOUT)
                break;
    }
    struct bw_ready_snapshot *s = r->snap;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&r->mu);
    return s;
}

static void release(struct bw_readiness *r, struct bw_ready_snapshot *s) {
    pthread_mutex_lock(&r->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last)
        snapshot_free(s);
}

static const struct bw_ready_org *find_org(const struct bw_ready_snapshot *s, const char *org_id) {
    for (size_t i = 0; org_id && i < s->n_orgs; i++)
        if (strcmp(s->orgs[i].org_id, org_id) == 0)
            return &s->orgs[i];
    return NULL;
}

/* One control of a view. detail: 1 to add detail and values. stale: render as fail. */
static int add_control(json_t *list, const char *id, const struct bw_ready_result *res, int detail,
                       int stale) {
    int status = stale ? BW_READY_FAIL : res->status;
    json_t *o = json_pack("{s:s, s:s}", "id", id, "status", bw_readiness_level_name(status));
    if (!o)
        return -1;
    if (detail) {
        json_object_set_new(o, "detail",
                            json_string(stale ? "the checks have not completed recently: "
                                                "every control is reported as failed"
                                              : res->detail));
        json_object_set_new(o, "values", res->values ? json_deep_copy(res->values) : json_object());
    }
    json_array_append_new(list, o);
    return status;
}

static json_t *render(const struct bw_ready_snapshot *s, enum bw_readiness_view view,
                      const char *org_id, int64_t now_ms) {
    json_t *list = json_array();
    json_t *top = json_object();
    if (!list || !top) {
        json_decref(list);
        json_decref(top);
        return NULL;
    }
    int stale = !s || now_ms - s->taken_ms > BW_READINESS_STALE_MS;
    const struct bw_ready_org *org =
        s && view == BW_READINESS_ORG_ADMIN ? find_org(s, org_id) : NULL;
    static const struct bw_ready_result missing = {BW_READY_FAIL, "not checked yet", NULL};
    int worst = BW_READY_PASS;
    for (int i = 0; i < BW_CTL_COUNT; i++) {
        const struct bw_ready_result *res = s ? &s->ctl[i] : &missing;
        int detail = view == BW_READINESS_OPERATOR;
        if (view == BW_READINESS_ORG_ADMIN && (i == BW_CTL_WIDGETS || i == BW_CTL_KEYS)) {
            /* the admin's own org; one the last refresh did not reach is not checked: fail */
            res = !org ? &missing : i == BW_CTL_WIDGETS ? &org->widgets : &org->keys;
            detail = 1;
        }
        int st = add_control(list, bw_ready_control_id(i), res, detail, stale);
        if (st < 0) {
            json_decref(list);
            json_decref(top);
            return NULL;
        }
        worst = st > worst ? st : worst;
    }
    json_object_set_new(top, "status", json_string(bw_readiness_level_name(worst)));
    json_object_set_new(top, "controls", list);
    return top;
}

void *bw_readiness_render(struct bw_readiness *r, enum bw_readiness_view view, const char *org_id) {
    struct bw_ready_snapshot *s = acquire(r, view != BW_READINESS_PUBLIC);
    json_t *out = render(s, view, org_id, bw_now_ms());
    if (s)
        release(r, s);
    return out;
}
