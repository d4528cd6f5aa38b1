/* outbox.c: the outbox dispatcher (a periodic store job, jobs/jobs.h), its delivery threads and
 * event emission (outbox.h). */
#include "connect/outbox.h"
#include "metrics/metrics.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/jobs.h"
#include "posture/health.h"
#include "store/connections.h"
#include "util/log.h"
#include "util/text.h"
#include "util/time.h"
#include "webhook/webhook_sign.h"

#define BATCH_ROWS 32
/* Deliveries in flight at once, and how many of them one org may hold. A delivery waits at
 * most the delivery timeout (connections.verify_timeout_ms) for a receiver, so a receiver that
 * never answers occupies its org's slot and nothing else: the other orgs' rows go to the other
 * workers. Orgs are visited from a rotating start, so when more orgs than workers have rows
 * due, a freed worker goes to the next org in turn rather than back to the first. */
#define OUTBOX_WORKERS 4
#define OUTBOX_PER_ORG 1
#define ORGS_INITIAL 64

struct bw_outbox;

/* One delivery thread: its own store handle and sealed-record buffer, and the row it holds. */
struct outbox_worker {
    struct bw_outbox *o;
    pthread_t thread;
    int started;
    struct bw_store *store;
    uint8_t *sealed;
    int has_job;              /* under o->mu */
    struct bw_outbox_row row; /* the job; row.payload is the worker's while has_job */
};

struct bw_outbox {
    struct bw_outbox_opts opts;
    const struct bw_connect_env *env;
    struct bw_store *store;      /* the dispatcher's: due orgs and rows */
    struct bw_jobs_every *every; /* the dispatcher: every poll_ms, kicked by wake-ups */
    pthread_mutex_t mu;
    pthread_cond_t work_cond; /* workers wait here for a job */
    int stopping; /* set before the dispatcher is stopped: no kick after it (under mu) */
    atomic_long delivered;
    struct bw_outbox_row *rows;
    char (*orgs)[BW_ID_SIZE]; /* the due orgs of one pass */
    size_t n_orgs, cap_orgs;
    size_t rotate; /* where the next pass starts in the list of due orgs */
    struct outbox_worker workers[OUTBOX_WORKERS];
};

int64_t bw_outbox_backoff_ms(const struct bw_outbox_opts *o, int64_t attempts, uint32_t random) {
    int64_t d = o->backoff_base_ms > 0 ? o->backoff_base_ms : 1;
    for (int64_t i = 1; i < attempts && d < o->backoff_max_ms; i++)
        d *= 2;
    if (d > o->backoff_max_ms)
        d = o->backoff_max_ms;
    int64_t half = d / 2;
    return half + (int64_t)(random % (uint64_t)(half + 1));
}

long bw_outbox_delivered(struct bw_outbox *o) {
    return o ? atomic_load(&o->delivered) : 0;
}

/* The failure's class for last_error and the connection's status reason: no URL, no body. */
static void failure_class(const struct bw_connect_result *res, char *out, size_t size) {
    if (strcmp(res->reason, "EGRESS_BLOCKED") == 0 ||
        strcmp(res->reason, "CONNECTION_URL_REJECTED") == 0)
        snprintf(out, size, "%s", res->reason);
    else if (res->status > 0)
        snprintf(out, size, "HTTP_%ld", res->status);
    else if (res->retryable)
        snprintf(out, size, "NETWORK");
    else
        snprintf(out, size, "%s", res->reason[0] ? res->reason : "FAILED");
}

static void set_status(struct bw_store *store, const struct bw_outbox_row *r,
                       const struct bw_connection_record *c, int healthy, const char *reason,
                       int64_t now) {
    int was_healthy = strcmp(c->status, "healthy") == 0;
    if (was_healthy == healthy && (healthy || strcmp(c->status_reason, reason) == 0))
        return;
    if (bw_store_connection_status(store, r->org_id, r->connection_id, healthy, reason, now) !=
        BW_OK)
        bw_warn("outbox: could not record the status of connection %s", r->connection_id);
    else if (!healthy)
        bw_warn("outbox: connection %s of org %s is unhealthy: %s", r->connection_id, r->org_id,
                reason);
}

static void attempt(struct outbox_worker *w, const struct bw_outbox_row *r) {
    struct bw_outbox *o = w->o;
    const struct bw_connect_env *env = o->env;
    int64_t now = bw_now_ms();
    long timeout = env->timeout_ms > 0 ? env->timeout_ms : 10000;
    int claimed = 0;
    if (bw_store_outbox_claim(w->store, r, now + timeout + 1000, &claimed) != BW_OK || !claimed)
        return; /* another replica has it, or the store is down: it stays due */
    int64_t attempts = r->attempts + 1;
    struct bw_connection_record c;
    size_t sealed_len = 0;
    bw_err e = bw_store_connection_sealed(w->store, r->org_id, r->connection_id, now, &c, w->sealed,
                                          BW_VAULT_SEALED_MAX, &sealed_len);
    if (e != BW_OK)
        return; /* deleted meanwhile (its rows went with it), or the store is down: lease ends */
    struct bw_connect_result res;
    memset(&res, 0, sizeof res);
    enum bw_connect_kind kind;
    struct bw_connect_cred *cred = NULL;
    if (!bw_connect_kind_parse(c.kind, &kind) ||
        bw_connect_cred_open(env, kind, r->org_id, c.secret_id, w->sealed, sealed_len, &cred) !=
            BW_OK) {
        snprintf(res.reason, sizeof res.reason, "CONNECTION_CREDENTIAL");
        e = BW_E_CRYPTO;
    } else {
        struct bw_connect_event ev = {r->event_id, r->event_type, r->text, r->payload, r->event_ms};
        e = bw_connect_deliver(env, cred, &ev, &res);
    }
    bw_connect_cred_free(cred);
    int64_t latency_us = (bw_now_ms() - now) * 1000;
    now = bw_now_ms();
    if (e == BW_OK) {
        bw_metrics_outbox_attempt(BW_METRICS_OUTBOX_DELIVERED);
        if (bw_store_outbox_finish(w->store, r, "delivered", 0, "", now) == BW_OK)
            atomic_fetch_add(&o->delivered, 1);
        else
            bw_warn("outbox: event %s was delivered but not marked: it will be sent again with "
                    "the same webhook-id",
                    r->event_id);
        set_status(w->store, r, &c, 1, "", now);
        bw_health_report_connection(r->org_id, r->connection_id, 1, BW_HC_NONE, latency_us);
        return;
    }
    char cls[64];
    failure_class(&res, cls, sizeof cls);
    bw_health_report_connection(r->org_id, r->connection_id, 0, bw_health_class_of_reason(cls),
                                latency_us);
    int dead = attempts >= o->opts.max_attempts;
    bw_metrics_outbox_attempt(dead ? BW_METRICS_OUTBOX_DEAD : BW_METRICS_OUTBOX_FAILED);
    int64_t next = dead ? 0 : now + bw_outbox_backoff_ms(&o->opts, attempts, randombytes_random());
    if (bw_store_outbox_finish(w->store, r, dead ? "dead" : "failed", next, cls, now) != BW_OK)
        bw_warn("outbox: could not record attempt %lld of event %s", (long long)attempts,
                r->event_id);
    bw_info("outbox: event %s to connection %s: attempt %lld failed (%s)%s", r->event_id,
            r->connection_id, (long long)attempts, cls, dead ? ", dead" : "");
    set_status(w->store, r, &c, 0, cls, now);
}

static void *work(void *arg) {
    struct outbox_worker *w = arg;
    struct bw_outbox *o = w->o;
    pthread_setname_np(pthread_self(), "bw-outbox-send");
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!w->has_job && !o->stopping)
            pthread_cond_wait(&o->work_cond, &o->mu);
        if (!w->has_job)
            break; /* stopping, nothing held */
        pthread_mutex_unlock(&o->mu);
        attempt(w, &w->row);
        bw_outbox_rows_free(&w->row, 1);
        pthread_mutex_lock(&o->mu);
        w->has_job = 0;
        /* A slot is free: look again at once. Under mu and not stopping, so the dispatcher
         * is not freed while we kick it (teardown). */
        if (!o->stopping)
            bw_jobs_every_kick(o->every);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

static int collect_org(void *arg, const char *org_id) {
    struct bw_outbox *o = arg;
    if (o->n_orgs == o->cap_orgs) {
        /* every org with due rows is visited each pass (a cut-off list would starve the rest) */
        size_t cap = o->cap_orgs * 2;
        char(*grown)[BW_ID_SIZE] = realloc(o->orgs, cap * sizeof *o->orgs);
        if (!grown)
            return 0; /* the orgs listed so far are served; the others on a later pass */
        o->orgs = grown;
        o->cap_orgs = cap;
    }
    snprintf(o->orgs[o->n_orgs++], BW_ID_SIZE, "%s", org_id);
    return 0;
}

/* Under o->mu: the org's rows in flight, and whether row r is one of them. */
static int org_in_flight(const struct bw_outbox *o, const char *org_id) {
    int n = 0;
    for (int i = 0; i < OUTBOX_WORKERS; i++)
        n += o->workers[i].has_job && strcmp(o->workers[i].row.org_id, org_id) == 0;
    return n;
}

static int row_in_flight(const struct bw_outbox *o, const struct bw_outbox_row *r) {
    for (int i = 0; i < OUTBOX_WORKERS; i++) {
        const struct bw_outbox_row *h = &o->workers[i].row;
        if (o->workers[i].has_job && strcmp(h->event_id, r->event_id) == 0 &&
            strcmp(h->connection_id, r->connection_id) == 0)
            return 1;
    }
    return 0;
}

static struct outbox_worker *idle_worker(struct bw_outbox *o) {
    for (int i = 0; i < OUTBOX_WORKERS; i++)
        if (!o->workers[i].has_job)
            return &o->workers[i];
    return NULL;
}

/* Hands the org's due rows to idle workers, up to its share. Returns 0 once no worker is idle. */
static int dispatch_org(struct bw_outbox *o, const char *org_id) {
    pthread_mutex_lock(&o->mu);
    int room = OUTBOX_PER_ORG - org_in_flight(o, org_id);
    int idle = idle_worker(o) != NULL;
    pthread_mutex_unlock(&o->mu);
    if (!idle)
        return 0;
    size_t n = 0;
    if (room <= 0 ||
        bw_store_outbox_due(o->store, org_id, bw_now_ms(), BATCH_ROWS, o->rows, &n) != BW_OK)
        return 1;
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < n && room > 0 && !o->stopping; i++) {
        struct outbox_worker *w = idle_worker(o);
        if (!w)
            break;
        if (row_in_flight(o, &o->rows[i]))
            continue;
        w->row = o->rows[i]; /* takes the payload */
        o->rows[i].payload = NULL;
        w->has_job = 1;
        room--;
    }
    pthread_cond_broadcast(&o->work_cond);
    idle = idle_worker(o) != NULL;
    pthread_mutex_unlock(&o->mu);
    bw_outbox_rows_free(o->rows, n);
    return idle;
}

static void dispatch(struct bw_outbox *o) {
    o->n_orgs = 0;
    int64_t t0 = bw_mono_us();
    if (bw_store_outbox_due_orgs(o->store, bw_now_ms(), collect_org, o) != BW_OK) {
        bw_health_report(BW_HEALTH_OUTBOX, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, bw_mono_us() - t0);
        bw_warn("outbox: the store is unavailable; retrying");
        return;
    }
    bw_health_report(BW_HEALTH_OUTBOX, BW_HEALTH_UP, BW_HC_NONE, bw_mono_us() - t0);
    if (o->n_orgs == 0)
        return;
    size_t start = o->rotate++ % o->n_orgs;
    for (size_t k = 0; k < o->n_orgs; k++)
        if (!dispatch_org(o, o->orgs[(start + k) % o->n_orgs]))
            break;
}

/* The dispatcher's tick, on a store thread; the outbox's own handle (o->store) does the reads.
 * Deliveries never run here: they wait on receivers, which must not hold a store thread. */
static void dispatch_tick(struct bw_store *pool_store, void *arg, int stopping) {
    (void)pool_store;
    if (!stopping)
        dispatch(arg);
}

/* Stops the dispatcher and joins every delivery thread that was started, closes the stores,
 * frees o. */
static void teardown(struct bw_outbox *o) {
    pthread_mutex_lock(&o->mu);
    o->stopping = 1;
    pthread_cond_broadcast(&o->work_cond);
    pthread_mutex_unlock(&o->mu);
    bw_jobs_every_stop(o->every); /* after stopping: nobody kicks it any more */
    for (int i = 0; i < OUTBOX_WORKERS; i++) {
        struct outbox_worker *w = &o->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL); /* after the attempt in progress */
        bw_store_close(w->store);
        free(w->sealed);
    }
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->work_cond);
    bw_store_close(o->store);
    free(o->rows);
    free(o->orgs);
    free(o);
}

static bw_err start_workers(struct bw_outbox *o, const char *where) {
    for (int i = 0; i < OUTBOX_WORKERS; i++) {
        struct outbox_worker *w = &o->workers[i];
        w->o = o;
        w->sealed = malloc(BW_VAULT_SEALED_MAX);
        BW_ENSURE(w->sealed, BW_E_NOMEM);
        BW_TRY(bw_store_open(where, 0, &w->store));
        BW_ENSURE(pthread_create(&w->thread, NULL, work, w) == 0, BW_E_NOMEM);
        w->started = 1;
    }
    return BW_OK;
}

bw_err bw_outbox_new(struct bw_jobs *jobs, const char *where, const struct bw_connect_env *env,
                     const struct bw_outbox_opts *opts, struct bw_outbox **out) {
    BW_ENSURE(jobs && where && out, BW_E_INVALID);
    struct bw_outbox *o = calloc(1, sizeof *o);
    if (!o)
        return BW_E_NOMEM;
    o->env = env;
    o->opts.max_attempts = opts && opts->max_attempts > 0 ? opts->max_attempts : 10;
    o->opts.backoff_base_ms = opts && opts->backoff_base_ms > 0 ? opts->backoff_base_ms : 1000;
    o->opts.backoff_max_ms = opts && opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 3600000;
    o->opts.poll_ms = opts && opts->poll_ms > 0 ? opts->poll_ms : 1000;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->work_cond, NULL);
    o->rows = calloc(BATCH_ROWS, sizeof *o->rows);
    o->orgs = calloc(ORGS_INITIAL, sizeof *o->orgs);
    o->cap_orgs = ORGS_INITIAL;
    bw_err e = o->rows && o->orgs ? bw_store_open(where, 0, &o->store) : BW_E_NOMEM;
    if (e == BW_OK)
        e = start_workers(o, where);
    if (e == BW_OK) {
        e = bw_jobs_every(jobs, o->opts.poll_ms, dispatch_tick, o, &o->every);
        if (e == BW_OK)
            bw_jobs_every_kick(o->every); /* a first pass at once, as the thread did */
    }
    if (e != BW_OK) {
        teardown(o);
        return e;
    }
    *out = o;
    return BW_OK;
}

void bw_outbox_wake(struct bw_outbox *o) {
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    if (!o->stopping)
        bw_jobs_every_kick(o->every);
    pthread_mutex_unlock(&o->mu);
}

void bw_outbox_free(struct bw_outbox *o) {
    if (!o)
        return;
    teardown(o);
}

static int type_ok(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > 63)
        return 0;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '.' || *t == '_' ||
              *t == '-'))
            return 0;
    return 1;
}

static int event_id_ok(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > 63)
        return 0;
    return bw_text_visible(id, n);
}

bw_err bw_outbox_emit_as(struct bw_outbox *o, struct bw_store *s, const char *org_id,
                         const char *event_id, const char *type, const char *text,
                         const json_t *data) {
    BW_ENSURE(event_id_ok(event_id) && type_ok(type) && text && strlen(text) <= 4000, BW_E_INVALID);
    BW_ENSURE(!data || json_is_object(data), BW_E_INVALID);
    char *payload = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    if (!payload)
        return BW_E_NOMEM;
    int64_t now = bw_now_ms(), queued = 0;
    bw_err e = bw_store_outbox_enqueue(s, org_id, event_id, type, text, payload, now, now, &queued);
    free(payload);
    BW_TRY(e);
    if (queued > 0)
        bw_outbox_wake(o);
    return BW_OK;
}

bw_err bw_outbox_emit(struct bw_outbox *o, struct bw_store *s, const char *org_id, const char *type,
                      const char *text, const json_t *data, char *event_id) {
    char id[BW_WEBHOOK_MSG_ID_SIZE];
    bw_webhook_msg_id_new(id);
    BW_TRY(bw_outbox_emit_as(o, s, org_id, id, type, text, data));
    if (event_id)
        snprintf(event_id, 64, "%s", id);
    return BW_OK;
}

bw_err bw_outbox_emit_review(struct bw_outbox *o, struct bw_store *s, const char *org_id,
                             const char *review_id, const char *state, const char *agent) {
    int created = strcmp(state, "pending") == 0;
    json_t *data = json_pack("{s:s, s:s, s:s}", "review_id", review_id, "state", state, "agent",
                             agent ? agent : "");
    if (!data)
        return BW_E_NOMEM;
    char text[256];
    snprintf(text, sizeof text, "Review %.40s %s%s%.64s", review_id,
             created ? "waits for a decision" : state, agent && *agent ? " (agent " : "",
             agent && *agent ? agent : "");
    if (agent && *agent)
        snprintf(text + strlen(text), sizeof text - strlen(text), ")");
    bw_err e = bw_outbox_emit(o, s, org_id, created ? "review.created" : "review.decided", text,
                              data, NULL);
    json_decref(data);
    return e;
}
