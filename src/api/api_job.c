/* api_job.c: every management API request (/api/v1/..., /metrics) runs on a store thread of the
 * job pool (jobs/jobs.h), never on the event worker that received it (api.h; docs/INTERNALS.md
 * "Management API jobs").
 *
 * On the worker, bw_api_job_submit moves what a handler may read (headers, body, query, the
 * path's rest) into a private evhttp_request that no connection owns, and queues a job. On a
 * store thread the job identifies the caller and runs the handler against that thread's store
 * connection, with the thread's reply capture set (http/reply.h): every reply is recorded into
 * the job, nothing of libevent's connection is touched. The job's done callback, back on the
 * worker, sends the captured reply on the client's request, or 503 STORE_UNAVAILABLE when the
 * pool did not take the job in time: an API call never hangs on a slow store.
 *
 * Waiting inside a job. A change recorded with bw_api_record waits for its receipt on a private
 * event_base of the store thread (one per thread, made on first use): the ledger's group commit
 * is short and bounded, and apply then runs on the same thread with the same store connection.
 * A check that may take seconds (DNS, a peer's answer) must not hold a store thread: its
 * handler takes a hold (bw_api_hold), starts its own thread, and returns; the check resumes the
 * request with bw_api_resume, which queues a new job for it on the same worker. A handler that
 * streams (the audit export) asks for the client's request on the worker (bw_api_on_worker). */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "console/console.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "jobs/jobs.h"
#include "ledger/ledger.h"
#include "reason/reasons.h"
#include "util/log.h"

/* How long an API request may wait in the job queue before it is answered 503: long enough for
 * a burst of store work to pass, short enough that a client is never left hanging. */
#define API_QUEUE_MS 5000
/* API jobs queued or running at once, gateway-wide. The queue is shared with the call path's
 * store work: a flood of management requests (which need no valid key to be queued) must not
 * fill it. Beyond this, 503 at once. */
#define API_JOBS_MAX 64

struct bw_api_job {
    struct bw_gateway *gw;
    struct event_base *base;     /* the worker's: done, resume and on_worker run there */
    struct evhttp_request *req;  /* the client's: touched on that worker only */
    struct evhttp_request *priv; /* the handler's copy: on the job's current thread only */
    const struct bw_api_route *route;
    char *rest;  /* the path after the route's prefix (copied) */
    char *query; /* the raw query string (copied), or NULL */
    int method;  /* enum evhttp_cmd_type of the client's request */
    int tls;     /* it came over the TLS listener */
    struct bw_http_capture cap;
    /* Written by the store thread during a run, read by done on the worker: the queue's
     * hand-off orders them. */
    char org_id[BW_ID_SIZE], agent[64], key_id[BW_ID_SIZE]; /* the caller, once identified */
    int identified;
    int held;           /* bw_api_hold: a check thread will resume it */
    int ledger_pending; /* receipts awaited on the store thread's base */
    bw_api_worker_fn worker_fn;
    void *worker_arg;
    /* Written by the resuming thread before it schedules resume_cb on the worker. */
    bw_api_resume_fn resume_fn;
    void (*resume_cancel)(void *arg);
    void *resume_arg;
    /* The worker's only. */
    int in_run;       /* a job of it is queued or running */
    int resume_ready; /* resumed while a job was still in run: done submits the next one */
};

/* API jobs queued or running now, every worker together: atomic (submit and done). */
static atomic_int api_jobs;

/* The job the calling store thread is running (set and cleared by job_run on that thread; a
 * worker never has one). */
static _Thread_local struct bw_api_job *current;

/* Each store thread's private event_base for ledger completions awaited inside a job. Created
 * once (pthread_once); the values are per-thread, freed when the thread exits. */
static pthread_key_t base_key;
static pthread_once_t base_once = PTHREAD_ONCE_INIT;

static void base_free(void *b) {
    event_base_free(b);
}

static void base_key_make(void) {
    if (pthread_key_create(&base_key, base_free) != 0)
        bw_error("api: cannot make the store threads' event base key");
}

static struct event_base *thread_base(void) {
    pthread_once(&base_once, base_key_make);
    struct event_base *b = pthread_getspecific(base_key);
    if (!b && (b = event_base_new()) && pthread_setspecific(base_key, b) != 0) {
        event_base_free(b);
        b = NULL;
    }
    return b;
}

static void job_free(struct bw_api_job *j) {
    if (j->priv)
        evhttp_request_free(j->priv);
    if (j->cap.body)
        evbuffer_free(j->cap.body);
    free(j->rest);
    free(j->query);
    atomic_fetch_sub(&j->gw->inflight, 1);
    free(j);
}

/* ---- on the store thread ---- */

static void job_run(struct bw_store *store, void *arg) {
    struct bw_api_job *j = arg;
    struct bw_api_ctx ctx = {j->gw, thread_base(), store, NULL};
    current = j;
    bw_http_capture_set(&j->cap);
    bw_api_resume_fn resume = j->resume_fn;
    if (resume) {
        j->resume_fn = NULL;
        j->held = 0;
        resume(&ctx, j->resume_arg);
    } else {
        bw_api_run_route(&ctx, j->priv, j->route, j->rest);
    }
    /* Receipts the handler is waiting for: their completions (and the apply that replies) run
     * here, on this thread, with this store. The ledger completes every append exactly once. */
    while (j->ledger_pending > 0 && ctx.base)
        event_base_loop(ctx.base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
    bw_http_capture_set(NULL);
    current = NULL;
}

void bw_api_job_identified(const struct bw_key_record *caller) {
    struct bw_api_job *j = current;
    if (!j)
        return;
    snprintf(j->org_id, sizeof j->org_id, "%s", caller->org_id);
    snprintf(j->agent, sizeof j->agent, "%s", caller->agent);
    snprintf(j->key_id, sizeof j->key_id, "%s", caller->id);
    j->identified = 1;
}

const char *bw_api_query_string(struct evhttp_request *req) {
    if (current && req == current->priv)
        return current->query;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    return uri ? evhttp_uri_get_query(uri) : NULL;
}

int bw_api_request_method(struct evhttp_request *req) {
    if (current && req == current->priv)
        return current->method;
    return (int)evhttp_request_get_command(req);
}

int bw_api_request_tls(struct evhttp_request *req) {
    if (current && req == current->priv)
        return current->tls;
    return bw_console_request_tls(req);
}

struct ledger_wait {
    struct bw_api_job *job;
    bw_ledger_done_fn fn;
    void *arg;
};

static void ledger_waited(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    struct ledger_wait *w = arg;
    struct bw_api_job *j = w->job;
    w->fn(w->arg, err, index, leaf);
    j->ledger_pending--;
    free(w);
}

void bw_api_ledger_append(const struct bw_api_ctx *ctx, const struct bw_receipt *r,
                          bw_ledger_done_fn fn, void *arg) {
    struct bw_api_job *j = current;
    if (!j) { /* on a worker (no job): its own loop delivers the completion */
        bw_ledger_append(ctx->gw->ledger, r, ctx->base, fn, arg);
        return;
    }
    struct ledger_wait *w = ctx->base ? malloc(sizeof *w) : NULL;
    if (!w) {
        fn(arg, BW_E_UNAVAILABLE, 0, NULL);
        return;
    }
    *w = (struct ledger_wait){j, fn, arg};
    j->ledger_pending++;
    bw_ledger_append(ctx->gw->ledger, r, ctx->base, ledger_waited, w);
}

struct bw_api_job *bw_api_hold(void) {
    struct bw_api_job *j = current;
    if (j)
        j->held = 1;
    return j;
}

void bw_api_unhold(struct bw_api_job *h) {
    if (h)
        h->held = 0;
}

void bw_api_on_worker(bw_api_worker_fn fn, void *arg) {
    struct bw_api_job *j = current;
    if (!j)
        return;
    j->worker_fn = fn;
    j->worker_arg = arg;
}

/* ---- on the worker ---- */

static void job_done(void *arg, bw_err err);

static bw_err submit(struct bw_api_job *j) {
    struct bw_jobs *pool = j->gw->jobs;
    if (!pool || atomic_fetch_add(&api_jobs, 1) >= API_JOBS_MAX) {
        if (pool)
            atomic_fetch_sub(&api_jobs, 1);
        return BW_E_UNAVAILABLE;
    }
    bw_err e =
        bw_jobs_submit_bulk(pool, j->base, bw_jobs_deadline(API_QUEUE_MS), job_run, job_done, j);
    if (e != BW_OK) {
        atomic_fetch_sub(&api_jobs, 1);
        return e;
    }
    j->in_run = 1;
    return BW_OK;
}

static void reply_unavailable(struct evhttp_request *req) {
    bw_http_add_retry_headers(req, 1000);
    bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE,
                        "the store did not take the request in time; retry", NULL, NULL);
}

/* The worker's loop has been told to end (shutdown): bw_jobs_owner_gone runs the last dones
 * after the server freed its connections, so the client's request must not be touched. */
static int worker_gone(const struct bw_api_job *j) {
    return event_base_got_exit(j->base) || event_base_got_break(j->base);
}

/* The private request's reply headers onto the client's (a name set there replaces the one the
 * worker may have set, such as Content-Type or Cache-Control). */
static void copy_headers(struct evhttp_request *to, struct evhttp_request *from) {
    struct evkeyvalq *src = evhttp_request_get_output_headers(from);
    struct evkeyvalq *dst = evhttp_request_get_output_headers(to);
    for (struct evkeyval *h = src->tqh_first; h; h = h->next.tqe_next) {
        int first = 1;
        for (struct evkeyval *p = src->tqh_first; p != h; p = p->next.tqe_next)
            if (evutil_ascii_strcasecmp(p->key, h->key) == 0)
                first = 0;
        if (first)
            evhttp_remove_header(dst, h->key);
        evhttp_add_header(dst, h->key, h->value);
    }
}

/* The held request's next job: resume_fn runs on a store thread. */
static void resume_submit(struct bw_api_job *j) {
    j->resume_ready = 0;
    if (submit(j) == BW_OK)
        return;
    if (j->resume_cancel)
        j->resume_cancel(j->resume_arg);
    reply_unavailable(j->req);
    job_free(j);
}

static void job_done(void *arg, bw_err err) {
    struct bw_api_job *j = arg;
    j->in_run = 0;
    atomic_fetch_sub(&api_jobs, 1);
    if (worker_gone(j)) {
        if (j->held)
            return; /* its check thread still holds it: left to the process's exit */
        if (j->resume_fn && j->resume_cancel)
            j->resume_cancel(j->resume_arg);
        job_free(j);
        return;
    }
    if (err != BW_OK) { /* the pool refused it or the deadline passed: nothing ran */
        if (j->resume_fn && j->resume_cancel)
            j->resume_cancel(j->resume_arg);
        reply_unavailable(j->req);
        job_free(j);
        return;
    }
    if (j->identified)
        bw_reqlog_set_principal(j->req, j->org_id, j->agent, j->key_id);
    if (j->cap.status) {
        copy_headers(j->req, j->priv);
        bw_http_capture_send(j->req, &j->cap);
    } else if (j->worker_fn) {
        copy_headers(j->req, j->priv);
        j->worker_fn(j->req, j->base, j->worker_arg); /* it owns the client's request now */
    } else if (j->held) {
        if (j->resume_ready)
            resume_submit(j);
        return;
    } else {
        bw_error("api: a handler of %s returned without an answer", j->route->path);
        bw_http_reply_error(j->req, 500, BW_R_INTERNAL, "the request was not answered", NULL, NULL);
    }
    job_free(j);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_api_job *j = arg;
    j->resume_ready = 1;
    if (!j->in_run) /* else the first job's done submits it */
        resume_submit(j);
}

void bw_api_resume(struct bw_api_job *h, bw_api_resume_fn fn, void (*cancel)(void *arg),
                   void *arg) {
    h->resume_fn = fn;
    h->resume_cancel = cancel;
    h->resume_arg = arg;
    struct timeval now = {0, 0};
    if (event_base_once(h->base, -1, EV_TIMEOUT, resume_cb, h, &now) != 0)
        bw_error("api: cannot return a check to its worker"); /* leaks the request */
}

static int copy_request(struct bw_api_job *j, struct evhttp_request *req, const char *rest) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    j->rest = strdup(rest);
    j->query = q ? strdup(q) : NULL;
    j->priv = evhttp_request_new(NULL, NULL);
    j->method = (int)evhttp_request_get_command(req);
    j->tls = bw_console_request_tls(req);
    if (!j->rest || (q && !j->query) || !j->priv)
        return 0;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *to = evhttp_request_get_input_headers(j->priv);
    for (struct evkeyval *h = in->tqh_first; h; h = h->next.tqe_next)
        if (evhttp_add_header(to, h->key, h->value) != 0)
            return 0;
    /* moved, not copied: a credential in the body leaves no second copy behind */
    return evbuffer_add_buffer(evhttp_request_get_input_buffer(j->priv),
                               evhttp_request_get_input_buffer(req)) == 0;
}

void bw_api_job_submit(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                       const struct bw_api_route *route, const char *rest) {
    struct bw_api_job *j = calloc(1, sizeof *j);
    if (!j) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    j->gw = ctx->gw;
    j->base = ctx->base;
    j->req = req;
    j->route = route;
    atomic_fetch_add(&ctx->gw->inflight, 1); /* a graceful shutdown waits for the answer */
    if (!copy_request(j, req, rest)) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        job_free(j);
        return;
    }
    if (submit(j) != BW_OK) {
        reply_unavailable(req);
        job_free(j);
    }
}
