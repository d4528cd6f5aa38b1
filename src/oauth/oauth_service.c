/* oauth_service.c: the configured verifier and its JWKS refresher thread.
 *
 * The event workers only read the current key set (a reference taken under `mu`); all network
 * I/O happens on the refresher, which fetches through the egress guard. A token naming an
 * unknown kid sets `want_refetch` and wakes the refresher, which honours it only when
 * jwks_min_refetch_s has passed since its last fetch: a flood of random kids costs the IdP at
 * most one request per interval. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress/egress.h"
#include "oauth/oauth_internal.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"

#define FETCH_TIMEOUT_MS 10000
#define FETCH_CONNECT_MS 5000

struct bw_oauth {
    char issuer[512];
    char public_url[512];
    char audience[512];
    char scopes[512];
    char org_claim[64];
    char principal_claim[64];
    long leeway_s;
    char jwks_url[BW_MCP_URL_MAX];
    long ttl_s;
    long min_refetch_s;
    struct bw_egress_policy *policy; /* owned; immutable */

    /* mu protects keys, want_refetch, stopping; cond wakes the refresher. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct bw_oauth_jwks *keys; /* current set, one reference held here; NULL until loaded */
    int want_refetch;
    int stopping;
    int thread_started;
    pthread_t thread;
    _Atomic uint64_t fetches;
    atomic_int abort_fetch; /* set by bw_oauth_free: the fetch in progress gives up */
};

static bw_err load_file(struct bw_oauth *o, const char *path, char *why, size_t why_size) {
    char *text = NULL;
    size_t n = 0;
    bw_err e = bw_file_read_bounded(path, BW_OAUTH_JWKS_MAX_BYTES, &text, &n, why, why_size);
    if (e != BW_OK)
        return e;
    if (n > BW_OAUTH_JWKS_MAX_BYTES) {
        free(text);
        snprintf(why, why_size, "mcp.oauth.jwks_file: larger than %d bytes",
                 BW_OAUTH_JWKS_MAX_BYTES);
        return BW_E_TOO_LARGE;
    }
    e = bw_oauth_jwks_parse(text, n, &o->keys, why, why_size);
    free(text);
    return e;
}

bw_err bw_oauth_new(const struct bw_config *c, struct bw_oauth **out, char *why, size_t why_size) {
    if (!c->mcp_oauth) {
        snprintf(why, why_size, "mcp.oauth is not configured");
        return BW_E_INVALID;
    }
    struct bw_oauth *o = calloc(1, sizeof *o);
    if (!o)
        return BW_E_NOMEM;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cond, NULL);
    snprintf(o->issuer, sizeof o->issuer, "%s", c->mcp_oauth_issuer);
    snprintf(o->public_url, sizeof o->public_url, "%s", c->mcp_oauth_public_url);
    snprintf(o->audience, sizeof o->audience, "%s", c->mcp_oauth_audience);
    snprintf(o->scopes, sizeof o->scopes, "%s", c->mcp_oauth_scopes);
    snprintf(o->org_claim, sizeof o->org_claim, "%s", c->mcp_oauth_org_claim);
    snprintf(o->principal_claim, sizeof o->principal_claim, "%s", c->mcp_oauth_principal_claim);
    snprintf(o->jwks_url, sizeof o->jwks_url, "%s", c->mcp_oauth_jwks_url);
    o->leeway_s = c->mcp_oauth_leeway_s;
    o->ttl_s = c->mcp_oauth_jwks_ttl_s > 0 ? c->mcp_oauth_jwks_ttl_s : 300;
    o->min_refetch_s = c->mcp_oauth_jwks_min_refetch_s > 0 ? c->mcp_oauth_jwks_min_refetch_s : 30;
    bw_err e = bw_egress_policy_new((const char *const *)c->egress_allow, c->n_egress_allow,
                                    &o->policy, why, why_size);
    if (e == BW_OK && c->mcp_oauth_jwks_file[0])
        e = load_file(o, c->mcp_oauth_jwks_file, why, why_size);
    if (e == BW_OK && o->jwks_url[0]) {
        struct bw_egress_target t;
        char ewhy[BW_EGRESS_WHY_SIZE];
        if (bw_egress_check_url_static(o->policy, o->jwks_url, &t, ewhy, sizeof ewhy) != BW_OK) {
            snprintf(why, why_size, "mcp.oauth.jwks_url: refused by the egress guard: %s", ewhy);
            e = BW_E_INVALID;
        }
    }
    if (e != BW_OK) {
        bw_oauth_free(o);
        return e;
    }
    *out = o;
    return BW_OK;
}

static int sink(void *ctx, const char *data, size_t len) {
    return bw_buf_append(ctx, data, len) == BW_OK ? 0 : 1;
}

/* libcurl progress callback: a non-zero return aborts the transfer, so SIGTERM does not wait
 * for a slow IdP up to the total timeout. */
static int fetch_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return atomic_load(&((struct bw_oauth *)arg)->abort_fetch);
}

/* One GET of the JWKS through the egress guard; on success swaps the key set in. */
static void fetch_once(struct bw_oauth *o) {
    struct bw_egress_target target;
    struct bw_egress_conn conn;
    struct bw_buf body;
    char why[BW_EGRESS_WHY_SIZE + 64] = "";
    long status = 0;
    struct bw_oauth_jwks *fresh = NULL;
    atomic_fetch_add(&o->fetches, 1);
    bw_buf_init(&body, BW_OAUTH_JWKS_MAX_BYTES);
    CURL *easy = curl_easy_init();
    struct bw_egress_limits lim = {FETCH_CONNECT_MS, FETCH_TIMEOUT_MS, BW_OAUTH_JWKS_MAX_BYTES};
    if (!easy ||
        bw_egress_check_url_static(o->policy, o->jwks_url, &target, why, sizeof why) != BW_OK ||
        bw_egress_curl_apply(easy, o->policy, &target, &lim, sink, &body, &conn) != BW_OK ||
        curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, fetch_progress) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, o) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L) != CURLE_OK) {
        bw_log(BW_LOG_WARN, "mcp.oauth: JWKS fetch refused: %s", why[0] ? why : "setup failed");
        goto out;
    }
    CURLcode cr = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (cr != CURLE_OK || status != 200) {
        bw_log(BW_LOG_WARN, "mcp.oauth: JWKS fetch failed: %s",
               conn.blocked     ? conn.why
               : conn.too_large ? "response over the size cap"
               : cr != CURLE_OK ? curl_easy_strerror(cr)
                                : "status not 200");
        goto out;
    }
    if (bw_oauth_jwks_parse((const char *)body.ptr, body.len, &fresh, why, sizeof why) != BW_OK) {
        bw_log(BW_LOG_WARN, "mcp.oauth: JWKS refused: %s", why);
        goto out;
    }
    pthread_mutex_lock(&o->mu);
    struct bw_oauth_jwks *old = o->keys;
    o->keys = fresh;
    pthread_mutex_unlock(&o->mu);
    bw_oauth_jwks_unref(old);
out:
    if (easy)
        curl_easy_cleanup(easy);
    bw_buf_cleanup(&body);
}

static void *refresher(void *arg) {
    struct bw_oauth *o = arg;
    struct timespec last = {0, 0};
    int first = 1;
    pthread_mutex_lock(&o->mu);
    while (!o->stopping) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long since = (long)(now.tv_sec - last.tv_sec);
        /* Fetch at start, when the TTL has run out, after a failed load, or on an unknown kid,
         * but never twice within min_refetch_s. */
        int due = first || since >= o->ttl_s ||
                  ((o->want_refetch || !o->keys) && since >= o->min_refetch_s);
        if (due) {
            first = 0;
            o->want_refetch = 0;
            last = now;
            pthread_mutex_unlock(&o->mu);
            fetch_once(o);
            pthread_mutex_lock(&o->mu);
            continue;
        }
        long wait_s = o->want_refetch || !o->keys ? o->min_refetch_s - since : o->ttl_s - since;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait_s > 0 ? wait_s : 1;
        pthread_cond_timedwait(&o->cond, &o->mu, &until);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

bw_err bw_oauth_start(struct bw_oauth *o) {
    if (!o->jwks_url[0])
        return BW_OK;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&o->cond);
    pthread_cond_init(&o->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&o->thread, NULL, refresher, o) != 0)
        return BW_E_INTERNAL;
    o->thread_started = 1;
    return BW_OK;
}

void bw_oauth_free(struct bw_oauth *o) {
    if (!o)
        return;
    if (o->thread_started) {
        atomic_store(&o->abort_fetch, 1);
        pthread_mutex_lock(&o->mu);
        o->stopping = 1;
        pthread_cond_signal(&o->cond);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->thread, NULL);
    }
    bw_oauth_jwks_unref(o->keys);
    bw_egress_policy_free(o->policy);
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

enum bw_oauth_result bw_oauth_verify(struct bw_oauth *o, const char *server, const char *token,
                                     size_t len, struct bw_oauth_claims *out) {
    char audience[1024];
    if (o->audience[0])
        snprintf(audience, sizeof audience, "%s", o->audience);
    else if (snprintf(audience, sizeof audience, "%s/mcp/%s", o->public_url, server) >=
             (int)sizeof audience)
        return BW_OAUTH_AUDIENCE;
    struct bw_oauth_params p = {o->issuer,    audience,           o->scopes,
                                o->org_claim, o->principal_claim, o->leeway_s};
    pthread_mutex_lock(&o->mu);
    struct bw_oauth_jwks *keys = o->keys;
    if (keys)
        bw_oauth_jwks_ref(keys);
    pthread_mutex_unlock(&o->mu);
    int unknown_kid = 0;
    enum bw_oauth_result r =
        bw_oauth_verify_jwt(keys, &p, token, len, time(NULL), out, &unknown_kid);
    bw_oauth_jwks_unref(keys);
    if ((unknown_kid || r == BW_OAUTH_NO_KEYS) && o->thread_started) {
        pthread_mutex_lock(&o->mu); /* a flag and a signal: never waits on the fetch */
        o->want_refetch = 1;
        pthread_cond_signal(&o->cond);
        pthread_mutex_unlock(&o->mu);
    }
    return r;
}

uint64_t bw_oauth_fetch_count(struct bw_oauth *o) {
    return atomic_load(&o->fetches);
}
