/* lease.c: budget and rate leases (lease.h): the demand path on the caller's store handle, a
 * periodic store job (jobs/jobs.h) for prefetches and refreshes on the manager's own handle, and
 * the return of unused holdings at shutdown. */
#include "limits/lease.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"
#include "store/leases.h"
#include "util/log.h"
#include "util/time.h"

#define QUEUE_MAX 1024
#define TICK_MS 100 /* how often the job looks for a due refresh (prefetches kick it) */
#define NAME_MAX_LEN 128

struct prefetch {
    char org_id[BW_ID_SIZE];
    char org_name[NAME_MAX_LEN];
    char agent[NAME_MAX_LEN];
};

struct bw_lease {
    struct bw_limits *limits;
    struct bw_lease_opts o;
    char replica[65];
    struct bw_store *store;      /* its own: the job's ticks, new and free, never two at once */
    struct bw_jobs_every *every; /* the periodic store job: prefetches and refreshes */
    int64_t next_refresh_ms;     /* monotonic; the job's alone */
    pthread_mutex_t mu;
    struct prefetch queue[QUEUE_MAX];
    size_t n;
    int stopping;
    struct bw_lease_stats stats;
};

static void count(struct bw_lease *m, int64_t *field) {
    pthread_mutex_lock(&m->mu);
    (*field)++;
    pthread_mutex_unlock(&m->mu);
}

static struct bw_lease_holder holder_of(const struct bw_lease *m) {
    struct bw_lease_holder h = {m->replica, m->o.incarnation};
    return h;
}

bw_err bw_lease_budget(struct bw_lease *m, struct bw_store *s, const char *org_id,
                       const char *org_name, const char *agent, int64_t need_tokens,
                       int64_t need_cost, int allow_partial, int64_t now_ms) {
    int64_t max_tokens = -1, max_cost = -1;
    bw_err e = m->o.limits_fn(m->o.arg, s, org_id, org_name, agent, &max_tokens, &max_cost);
    if (e != BW_OK) {
        count(m, &m->stats.failures);
        return BW_E_UNAVAILABLE;
    }
    /* the limits in force now, locally too (GET /api/v1/budget, the next reservations) */
    BW_TRY(bw_limits_budget_set(m->limits, org_id, agent, max_tokens, max_cost));
    if (max_tokens < 0)
        need_tokens = 0;
    if (max_cost < 0)
        need_cost = 0;
    if (need_tokens == 0 && need_cost == 0)
        return BW_OK; /* unlimited now: nothing to lease, the reservation will pass */
    int64_t left_t = -2, left_c = -2;
    bw_limits_budget_left_seen(m->limits, org_id, agent, &left_t, &left_c);
    struct bw_budget_ask ask = {
        .limit_tokens = max_tokens,
        .limit_cost = max_cost,
        .want_tokens = bw_limits_lease_want(max_tokens, left_t, need_tokens),
        .want_cost = bw_limits_lease_want(max_cost, left_c, need_cost),
        .need_tokens = need_tokens,
        .need_cost = need_cost,
        .divisor = BW_LIMITS_LEASE_DIV, /* of the pool's remainder now, in the same UPDATE */
    };
    struct bw_lease_scope sc = {org_id, agent ? agent : "", bw_limits_month_of(now_ms)};
    struct bw_lease_holder h = holder_of(m);
    struct bw_budget_grant g;
    memset(&g, 0, sizeof g);
    e = bw_store_budget_lease(s, &sc, &h, &ask, now_ms, &g);
    int partial = 0;
    if (e == BW_E_LIMIT && allow_partial && (g.left_tokens != 0 || ask.need_tokens == 0) &&
        (g.left_cost != 0 || ask.need_cost == 0)) {
        /* not the whole worst case, but something: take the rest so the caller can clamp */
        ask.need_tokens = ask.need_tokens ? 1 : 0;
        ask.need_cost = ask.need_cost ? 1 : 0;
        ask.want_tokens = g.left_tokens > 0 ? g.left_tokens : 0;
        ask.want_cost = g.left_cost > 0 ? g.left_cost : 0;
        ask.divisor = 1;
        e = bw_store_budget_lease(s, &sc, &h, &ask, now_ms, &g);
        partial = 1;
    }
    if (e == BW_OK) {
        BW_TRY(bw_limits_budget_grant(m->limits, org_id, agent, sc.month, g.tokens, g.cost,
                                      g.left_tokens, g.left_cost));
        if (partial)
            bw_limits_budget_dry(m->limits, org_id, agent, now_ms); /* the pool is spent */
        count(m, &m->stats.budget_leases);
        return BW_OK;
    }
    if (e == BW_E_LIMIT) {
        bw_limits_budget_dry(m->limits, org_id, agent, now_ms);
        count(m, &m->stats.budget_refused);
        return BW_E_LIMIT;
    }
    count(m, &m->stats.failures);
    return BW_E_UNAVAILABLE;
}

bw_err bw_lease_rate(struct bw_lease *m, struct bw_store *s, const char *org_id, const char *key,
                     const struct bw_limits_rate *rate, int64_t need, int64_t now_us,
                     int64_t *retry_after_ms) {
    struct bw_rate_ask q = {
        .org_id = org_id,
        .bucket = key,
        .rate_per_min = rate->rate_per_min,
        .burst = rate->burst,
        .want = bw_limits_rate_lease_want(rate, need),
        .need = need,
    };
    int64_t got = 0, retry = 0;
    /* the shared bucket runs on wall-clock time: the replicas' clocks are one timeline
     * (NTP-synchronised; docs/SPEND.md gives the bound) */
    bw_err e = bw_store_rate_lease(s, &q, bw_now_ms(), &got, &retry);
    if (e == BW_OK) {
        BW_TRY(bw_limits_bucket_grant(m->limits, key, rate, got, now_us));
        count(m, &m->stats.rate_leases);
        return BW_OK;
    }
    if (e == BW_E_LIMIT) {
        bw_limits_bucket_dry(m->limits, key, now_us, retry);
        *retry_after_ms = retry;
        count(m, &m->stats.rate_refused);
        return BW_E_LIMIT;
    }
    count(m, &m->stats.failures);
    return BW_E_UNAVAILABLE;
}

void bw_lease_prefetch(struct bw_lease *m, const char *org_id, const char *org_name,
                       const char *agent) {
    int kick = 0;
    pthread_mutex_lock(&m->mu);
    if (m->n < QUEUE_MAX && !m->stopping) {
        struct prefetch *p = &m->queue[m->n++];
        snprintf(p->org_id, sizeof p->org_id, "%s", org_id);
        snprintf(p->org_name, sizeof p->org_name, "%s", org_name ? org_name : "");
        snprintf(p->agent, sizeof p->agent, "%s", agent ? agent : "");
        m->stats.prefetches++;
        kick = 1;
    }
    pthread_mutex_unlock(&m->mu);
    if (kick)
        bw_jobs_every_kick(m->every);
}

/* The periodic job: the prefetches queued (it is kicked for each), then, when due, a refresh of
 * every org's limits. The last tick (stopping) does nothing: unused holdings go back in free. */
static void tick(struct bw_store *pool_store, void *arg, int stopping) {
    (void)pool_store; /* the manager's own handle: new and free use it too */
    struct bw_lease *m = arg;
    if (stopping)
        return;
    pthread_mutex_lock(&m->mu);
    while (m->n > 0 && !m->stopping) {
        struct prefetch p = m->queue[--m->n];
        pthread_mutex_unlock(&m->mu);
        /* need 1 of each limited dimension: the ask is a lease's worth (want); an empty pool
         * marks the scope dry, which also ends the pending prefetch */
        bw_err e =
            bw_lease_budget(m, m->store, p.org_id, p.org_name, p.agent, 1, 1, 0, bw_now_ms());
        if (e != BW_E_LIMIT)
            bw_limits_budget_prefetch_done(m->limits, p.org_id, p.agent);
        pthread_mutex_lock(&m->mu);
    }
    int stop = m->stopping;
    pthread_mutex_unlock(&m->mu);
    int64_t now = bw_mono_us() / 1000;
    if (stop || !m->o.refresh_fn || now < m->next_refresh_ms)
        return;
    m->next_refresh_ms = now + m->o.refresh_ms;
    if (m->o.refresh_fn(m->o.arg, m->store, m->limits, bw_now_ms()) != BW_OK)
        bw_warn("leases: cannot refresh the orgs' limits; the next leases re-read them");
}

struct lost_ctx {
    struct bw_lease *m;
    int64_t marked;
    bw_err err;
};

static int mark_lost(void *arg, const char *id, const char *name) {
    (void)name;
    struct lost_ctx *x = arg;
    struct bw_lease_holder h = holder_of(x->m);
    int64_t n = 0;
    x->err = bw_store_budget_leases_lost(x->m->store, id, &h, bw_now_ms(), &n);
    x->marked += n;
    return x->err != BW_OK;
}

bw_err bw_lease_new(struct bw_jobs *jobs, struct bw_limits *l, const struct bw_lease_opts *o,
                    struct bw_lease **out) {
    BW_ENSURE(jobs && l && bw_limits_leased(l) && o && o->where && o->replica && o->replica[0] &&
                  strlen(o->replica) <= 64 && o->limits_fn,
              BW_E_INVALID);
    struct bw_lease *m = calloc(1, sizeof *m);
    if (!m)
        return BW_E_NOMEM;
    m->limits = l;
    m->o = *o;
    if (m->o.refresh_ms <= 0)
        m->o.refresh_ms = 5000;
    snprintf(m->replica, sizeof m->replica, "%s", o->replica);
    m->o.replica = m->replica;
    m->o.where = NULL; /* borrowed only during new */
    bw_err e = bw_store_open(o->where, 0, &m->store);
    if (e != BW_OK) {
        free(m);
        return e;
    }
    struct lost_ctx x = {m, 0, BW_OK};
    e = bw_store_orgs_each(m->store, mark_lost, &x);
    if (e != BW_OK) {
        bw_store_close(m->store);
        free(m);
        return x.err != BW_OK ? x.err : e;
    }
    if (x.marked)
        bw_warn("leases: %lld budget lease(s) of an earlier run of replica %s ended without a "
                "return (a crash): their unused part stays spent",
                (long long)x.marked, m->replica);
    pthread_mutex_init(&m->mu, NULL);
    m->next_refresh_ms = bw_mono_us() / 1000 + m->o.refresh_ms;
    e = bw_jobs_every(jobs, TICK_MS, tick, m, &m->every);
    if (e != BW_OK) {
        pthread_mutex_destroy(&m->mu);
        bw_store_close(m->store);
        free(m);
        return e;
    }
    *out = m;
    return BW_OK;
}

static int give_back(void *arg, const char *org, const char *agent,
                     const struct bw_limits_budget_state *st) {
    struct bw_lease *m = arg;
    if (st->held_tokens == 0 && st->held_cost_micros == 0)
        return 0; /* never leased (unlimited scopes, or nothing granted) */
    int32_t month = 0;
    int64_t tokens = 0, cost = 0;
    if (bw_limits_budget_take_unused(m->limits, org, agent, &month, &tokens, &cost) != BW_OK)
        return 0;
    if (st->max_tokens < 0)
        tokens = 0;
    if (st->max_cost_micros < 0)
        cost = 0;
    struct bw_lease_scope sc = {org, agent, month};
    struct bw_lease_holder h = holder_of(m);
    bw_err e = bw_store_budget_return(m->store, &sc, &h, tokens, cost, bw_now_ms());
    if (e != BW_OK)
        bw_warn("leases: the unused lease of an org could not be returned (%s): it stays spent",
                bw_err_str(e));
    return 0;
}

void bw_lease_free(struct bw_lease *m) {
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = 1; /* a tick in progress stops after its current prefetch */
    pthread_mutex_unlock(&m->mu);
    bw_jobs_every_stop(m->every);
    if (bw_limits_budget_each(m->limits, give_back, m) != BW_OK)
        bw_warn("leases: out of memory listing the holdings: unused leases stay spent");
    pthread_mutex_destroy(&m->mu);
    bw_store_close(m->store);
    free(m);
}

void bw_lease_stats(struct bw_lease *m, struct bw_lease_stats *out) {
    pthread_mutex_lock(&m->mu);
    *out = m->stats;
    pthread_mutex_unlock(&m->mu);
}
