/* otel.c: the exporter: a bounded ring the event workers fill, and one thread that drains it in
 * batches to the collector (otel.h). */
#include "otel/otel.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "egress/egress.h"
#include "metrics/metrics.h"
#include "util/log.h"
#include "util/time.h"

#define DEFAULT_TIMEOUT_MS 2000L
#define DEFAULT_QUEUE 2048u
#define BATCH_MAX 256u
#define FLUSH_MS 1000L
#define BODY_MAX ((size_t)8 << 20)
#define WARN_EVERY_MS 60000

struct bw_otel {
    char endpoint[1024];
    char service[64];
    long timeout_ms;
    const struct bw_egress_policy *egress;
    pthread_mutex_t mu; /* guards ring, head, n, stopping */
    pthread_cond_t cond;
    struct bw_otel_span *ring;
    size_t cap, head, n;
    int stopping;
    atomic_int abort_export; /* set by bw_otel_free: the POST in progress gives up at once */
    pthread_t thread;
    struct bw_otel_span *batch; /* the thread's own copy of one batch */
    struct curl_slist *headers; /* Content-Type, Expect, then the configured ones (secret) */
    int64_t last_warn_ms;       /* the thread's: failures are logged at most once a minute */
};

void bw_otel_new_ids(uint8_t trace_id[16], uint8_t span_id[8]) {
    do
        randombytes_buf(trace_id, 16);
    while (sodium_is_zero(trace_id, 16)); /* W3C: all-zero ids are invalid */
    do
        randombytes_buf(span_id, 8);
    while (sodium_is_zero(span_id, 8));
}

void bw_otel_submit(struct bw_otel *o, const struct bw_otel_span *s) {
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    int full = o->n == o->cap;
    if (!full) {
        o->ring[(o->head + o->n) % o->cap] = *s;
        o->n++;
        if (o->n == BATCH_MAX) /* a full batch goes now; smaller ones at the flush tick */
            pthread_cond_signal(&o->cond);
    }
    pthread_mutex_unlock(&o->mu);
    if (full)
        bw_metrics_otel_spans(BW_METRICS_OTEL_DROPPED_QUEUE_FULL, 1);
}

static void warn_limited(struct bw_otel *o, const char *what) {
    int64_t now = bw_now_ms();
    if (now - o->last_warn_ms < WARN_EVERY_MS)
        return;
    o->last_warn_ms = now;
    bw_warn("otel: export failed (%s): spans dropped", what); /* no URL: it may carry a token */
}

/* libcurl's progress callback: non-zero aborts the transfer (a stop must not wait for a
 * hanging collector's timeout). */
static int check_abort(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct bw_otel *o = arg;
    return atomic_load(&o->abort_export);
}

/* One POST of body; 0 on a 2xx. Through the egress guard: the URL's rules and the address of
 * every connection (a collector name that resolves to a blocked address is refused). */
static int post(struct bw_otel *o, const struct bw_buf *body) {
    struct bw_egress_target target;
    struct bw_egress_conn conn;
    char why[BW_EGRESS_WHY_SIZE];
    if (bw_egress_check_url(o->egress, o->endpoint, &target, why, sizeof why) != BW_OK) {
        warn_limited(o, "the egress guard refused the endpoint");
        return -1;
    }
    CURL *easy = curl_easy_init();
    int rc = -1;
    long status = 0;
    struct bw_egress_limits lim = {o->timeout_ms, o->timeout_ms, 64 * 1024};
    if (!easy)
        goto out;
    if (bw_egress_curl_apply(easy, o->egress, &target, &lim, NULL, NULL, &conn) != BW_OK ||
        curl_easy_setopt(easy, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, (const char *)body->ptr) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, o->headers) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, check_abort) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, o) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L) != CURLE_OK)
        goto out;
    CURLcode cr = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (cr == CURLE_OK && status >= 200 && status <= 299)
        rc = 0;
    else
        warn_limited(o, conn.blocked     ? "the egress guard refused the address"
                        : cr != CURLE_OK ? curl_easy_strerror(cr)
                                         : "the collector answered an error status");
out:
    if (easy)
        curl_easy_cleanup(easy);
    return rc;
}

/* Under o->mu: waits until a batch is full, the flush tick passes with spans queued, or stop. */
static size_t take(struct bw_otel *o) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += FLUSH_MS / 1000;
    while (!o->stopping && o->n < BATCH_MAX) {
        if (pthread_cond_timedwait(&o->cond, &o->mu, &deadline) == ETIMEDOUT) {
            if (o->n)
                break;
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += FLUSH_MS / 1000;
        }
    }
    if (o->stopping)
        return 0;
    size_t k = o->n < BATCH_MAX ? o->n : BATCH_MAX;
    for (size_t i = 0; i < k; i++)
        o->batch[i] = o->ring[(o->head + i) % o->cap];
    o->head = (o->head + k) % o->cap;
    o->n -= k;
    return k;
}

static void *run(void *arg) {
    pthread_setname_np(pthread_self(), "bw-otel");
    struct bw_otel *o = arg;
    struct bw_buf body;
    bw_buf_init(&body, BODY_MAX);
    pthread_mutex_lock(&o->mu);
    for (;;) {
        size_t k = take(o);
        if (o->stopping)
            break;
        pthread_mutex_unlock(&o->mu); /* the POST runs with the ring free for submitters */
        bw_buf_reset(&body);
        int ok = bw_otel_encode(o->batch, k, o->service, &body) == BW_OK && post(o, &body) == 0;
        bw_metrics_otel_spans(ok ? BW_METRICS_OTEL_EXPORTED : BW_METRICS_OTEL_DROPPED_EXPORT_FAILED,
                              k);
        pthread_mutex_lock(&o->mu);
    }
    size_t left = o->n;
    pthread_mutex_unlock(&o->mu);
    if (left)
        bw_metrics_otel_spans(BW_METRICS_OTEL_DROPPED_EXPORT_FAILED, left);
    bw_buf_cleanup(&body);
    return NULL;
}

/* Frees a header list after wiping its strings (a collector token). */
static void headers_free(struct curl_slist *h) {
    for (struct curl_slist *p = h; p; p = p->next)
        sodium_memzero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

static int token_char(char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL); /* RFC 9110 5.6.2 tchar */
}

/* "Name=value,Name2=value2" -> "Name: value" lines appended to *list. Names are tokens, values
 * printable ASCII (no CR, LF or other control byte: no header injection); spaces around either
 * are trimmed. */
static bw_err headers_parse(const char *spec, struct curl_slist **list) {
    char line[4200];
    size_t n = strlen(spec), count = 0;
    BW_ENSURE(n <= 4096, BW_E_INVALID);
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        BW_ENSURE(eq && ++count <= 16, BW_E_INVALID);
        const char *name = p, *ne = eq;
        while (name < ne && *name == ' ')
            name++;
        while (ne > name && ne[-1] == ' ')
            ne--;
        BW_ENSURE(ne > name, BW_E_INVALID);
        for (const char *q = name; q < ne; q++)
            BW_ENSURE(token_char(*q), BW_E_INVALID);
        const char *v = eq + 1, *ve = p + len;
        while (v < ve && *v == ' ')
            v++;
        while (ve > v && ve[-1] == ' ')
            ve--;
        BW_ENSURE(ve > v, BW_E_INVALID);
        for (const char *q = v; q < ve; q++)
            BW_ENSURE(*q >= 0x20 && *q <= 0x7e, BW_E_INVALID);
        snprintf(line, sizeof line, "%.*s: %.*s", (int)(ne - name), name, (int)(ve - v), v);
        struct curl_slist *next = curl_slist_append(*list, line);
        sodium_memzero(line, sizeof line);
        BW_ENSURE(next, BW_E_NOMEM);
        *list = next;
        p = end ? end + 1 : p + len;
    }
    return BW_OK;
}

static bw_err headers_build(const char *spec, struct curl_slist **out) {
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
    if (!h2) {
        curl_slist_free_all(h);
        return BW_E_NOMEM;
    }
    bw_err e = spec ? headers_parse(spec, &h2) : BW_OK;
    if (e != BW_OK) {
        headers_free(h2);
        return e;
    }
    *out = h2;
    return BW_OK;
}

bw_err bw_otel_new(const struct bw_otel_opts *opts, struct bw_otel **out) {
    BW_ENSURE(opts && opts->endpoint && opts->egress, BW_E_INVALID);
    size_t n = strlen(opts->endpoint);
    BW_ENSURE(n < sizeof((struct bw_otel *)0)->endpoint, BW_E_INVALID);
    BW_ENSURE(strncmp(opts->endpoint, "http://", 7) == 0 ||
                  strncmp(opts->endpoint, "https://", 8) == 0,
              BW_E_INVALID);
    struct bw_otel *o = calloc(1, sizeof *o);
    BW_ENSURE(o, BW_E_NOMEM);
    memcpy(o->endpoint, opts->endpoint, n + 1);
    snprintf(o->service, sizeof o->service, "%s",
             opts->service_name && opts->service_name[0] ? opts->service_name : "bulwark");
    o->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    o->cap = opts->queue_max > 0 ? opts->queue_max : DEFAULT_QUEUE;
    o->egress = opts->egress;
    o->ring = calloc(o->cap, sizeof *o->ring);
    o->batch = calloc(BATCH_MAX, sizeof *o->batch);
    o->last_warn_ms = -WARN_EVERY_MS;
    bw_err he = o->ring && o->batch ? headers_build(opts->headers, &o->headers) : BW_E_NOMEM;
    if (he != BW_OK) {
        free(o->ring);
        free(o->batch);
        free(o);
        return he;
    }
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cond, NULL);
    if (pthread_create(&o->thread, NULL, run, o) != 0) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cond);
        headers_free(o->headers);
        free(o->ring);
        free(o->batch);
        free(o);
        return BW_E_INTERNAL;
    }
    *out = o;
    return BW_OK;
}

void bw_otel_free(struct bw_otel *o) {
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->stopping = 1;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->mu);
    atomic_store(&o->abort_export, 1);
    pthread_join(o->thread, NULL); /* the POST in progress aborts within libcurl's ~1 s tick */
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cond);
    headers_free(o->headers);
    free(o->ring);
    free(o->batch);
    free(o);
}
