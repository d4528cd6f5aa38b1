/* deliver_post.c: the guarded POST with redirects followed by hand (deliver.h). */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "deliver/deliver.h"
#include "util/time.h"
#include "util/version.h"
#include "webhook/webhook_sign.h"

#define DEFAULT_REDIRECTS 3
#define DEFAULT_CONNECT_MS 5000L
#define DEFAULT_TOTAL_MS 15000L
#define DEFAULT_RESPONSE_BYTES ((curl_off_t)64 * 1024)

/* Everything that holds a copy of the URL (which for Slack and Discord is the credential):
 * one sodium_malloc'd block, wiped by sodium_free. Large, so never on the stack. */
struct hop_state {
    struct bw_egress_conn conn;
    struct bw_egress_target target;
    struct bw_egress_target next;
    char location[BW_EGRESS_URL_MAX];
    char why[BW_EGRESS_WHY_SIZE];
};

__attribute__((format(printf, 2, 3))) static void set_why(struct bw_deliver_result *res,
                                                          const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->why, sizeof res->why, fmt, ap);
    va_end(ap);
}

static int is_followed_redirect(long status) {
    return status == 301 || status == 302 || status == 307 || status == 308;
}

/* RFC 9110 15.5.9 (408), RFC 8470 5.2 (425), RFC 6585 4 (429), and 5xx: worth another try. */
static int status_retryable(long status) {
    return status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599);
}

static bw_err build_headers(const struct bw_deliver_target *t, const char *msg_id,
                            int64_t timestamp_s, const uint8_t *body, size_t body_len,
                            struct curl_slist **out) {
    struct curl_slist *h = NULL, *n;
    char line[sizeof(BW_WEBHOOK_HDR_SIGNATURE) + BW_WEBHOOK_SIGNATURE_SIZE + 4];
    const char *fixed[] = {
        "Content-Type: application/json", ("User-Agent: Bulwark/" BW_VERSION),
        "Expect:", /* no 100-continue round trip: the body is small and already in memory */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        n = curl_slist_append(h, fixed[i]);
        if (!n)
            goto nomem;
        h = n;
    }
    if (t->kind == BW_DELIVER_WEBHOOK) {
        struct bw_webhook_signed s;
        bw_err e = bw_webhook_sign_standard(t->keys, msg_id, timestamp_s, body, body_len, &s);
        if (e != BW_OK) {
            curl_slist_free_all(h);
            return e;
        }
        const char *names[] = {BW_WEBHOOK_HDR_ID, BW_WEBHOOK_HDR_TIMESTAMP,
                               BW_WEBHOOK_HDR_SIGNATURE};
        const char *values[] = {s.id, s.timestamp, s.signature};
        for (size_t i = 0; i < 3; i++) {
            snprintf(line, sizeof line, "%s: %s", names[i], values[i]);
            n = curl_slist_append(h, line);
            if (!n)
                goto nomem;
            h = n;
        }
    }
    *out = h;
    return BW_OK;
nomem:
    curl_slist_free_all(h);
    return BW_E_NOMEM;
}

/* One request to st->target. Returns the CURLcode; *status and st->location (if the response
 * is a redirect) are filled when a response arrived. */
static CURLcode post_once(struct hop_state *st, const struct bw_egress_policy *policy,
                          const struct bw_egress_limits *lim, struct curl_slist *headers,
                          const uint8_t *body, size_t body_len, long *status, bw_err *setup) {
    *status = 0;
    st->location[0] = 0;
    *setup = BW_OK;
    CURL *easy = curl_easy_init();
    if (!easy) {
        *setup = BW_E_NOMEM;
        return CURLE_FAILED_INIT;
    }
    CURLcode cr = CURLE_FAILED_INIT;
    /* The guard's options first; the request's own options below never touch them (egress.h). */
    if (bw_egress_curl_apply(easy, policy, &st->target, lim, NULL, NULL, &st->conn) != BW_OK ||
        curl_easy_setopt(easy, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, (const char *)body) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK) {
        *setup = BW_E_INTERNAL;
        goto out;
    }
    cr = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
    if (is_followed_redirect(*status)) {
        struct curl_header *h = NULL;
        if (curl_easy_header(easy, "Location", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
            strlen(h->value) < sizeof st->location)
            memcpy(st->location, h->value, strlen(h->value) + 1);
    }
out:
    curl_easy_cleanup(easy);
    return cr;
}

static bw_err check_args(const struct bw_deliver_options *o, const struct bw_deliver_target *t,
                         const char *msg_id, const uint8_t *body, size_t body_len) {
    BW_ENSURE(o && t && t->url && body && body_len > 0, BW_E_INVALID);
    BW_ENSURE(body_len <= BW_DELIVER_BODY_MAX, BW_E_INVALID);
    BW_ENSURE(o->max_redirects >= 0 && o->max_redirects <= BW_DELIVER_REDIRECTS_MAX, BW_E_INVALID);
    switch (t->kind) {
    case BW_DELIVER_WEBHOOK:
        BW_ENSURE(t->keys && msg_id, BW_E_INVALID);
        return BW_OK;
    case BW_DELIVER_SLACK:
    case BW_DELIVER_DISCORD:
        BW_ENSURE(!t->keys, BW_E_INVALID); /* a signing key has no business going to Slack */
        return BW_OK;
    default:
        return BW_E_INVALID;
    }
}

bw_err bw_deliver_post(const struct bw_deliver_options *o, const struct bw_deliver_target *t,
                       const char *msg_id, int64_t timestamp_s, const uint8_t *body,
                       size_t body_len, struct bw_deliver_result *res) {
    if (!res)
        return BW_E_INVALID;
    memset(res, 0, sizeof *res);
    bw_err result = check_args(o, t, msg_id, body, body_len);
    if (result != BW_OK) {
        set_why(res, "invalid delivery arguments");
        return result;
    }
    int max_redirects = o->max_redirects > 0 ? o->max_redirects : DEFAULT_REDIRECTS;
    long connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
    long total_ms = o->total_timeout_ms > 0 ? o->total_timeout_ms : DEFAULT_TOTAL_MS;
    curl_off_t max_bytes =
        o->max_response_bytes > 0 ? o->max_response_bytes : DEFAULT_RESPONSE_BYTES;

    struct curl_slist *headers = NULL;
    struct hop_state *st = sodium_malloc(sizeof *st);
    if (!st) {
        set_why(res, "out of memory");
        return BW_E_NOMEM;
    }
    memset(st, 0, sizeof *st);
    result = build_headers(t, msg_id, timestamp_s, body, body_len, &headers);
    if (result != BW_OK) {
        set_why(res, result == BW_E_NOMEM ? "out of memory" : "cannot sign the delivery");
        goto out;
    }
    /* Dispatch-time check: URL and name rules and literal addresses; the connect-time hook
     * judges what a name resolves to. */
    result = bw_egress_check_url_static(o->policy, t->url, &st->target, st->why, sizeof st->why);
    if (result != BW_OK) {
        res->blocked = result != BW_E_NOMEM;
        set_why(res, "blocked: %s", st->why);
        result = result == BW_E_NOMEM ? BW_E_NOMEM : BW_E_DENIED;
        goto out;
    }
    int64_t deadline_us = bw_mono_us() + (int64_t)total_ms * 1000;
    for (;;) {
        int64_t left_ms = (deadline_us - bw_mono_us()) / 1000;
        if (left_ms <= 0) {
            res->retryable = 1;
            set_why(res, "delivery took longer than %ld ms", total_ms);
            result = BW_E_TIMEOUT;
            goto out;
        }
        struct bw_egress_limits lim = {connect_ms < left_ms ? connect_ms : (long)left_ms,
                                       (long)left_ms, max_bytes};
        long status = 0;
        bw_err setup = BW_OK;
        CURLcode cr = post_once(st, o->policy, &lim, headers, body, body_len, &status, &setup);
        if (setup != BW_OK) {
            set_why(res, "cannot set up the transfer");
            result = setup;
            goto out;
        }
        res->hops++;
        res->status = status;
        if (cr != CURLE_OK && st->conn.blocked && cr == CURLE_COULDNT_CONNECT) {
            res->blocked = 1;
            set_why(res, "blocked: %s", st->conn.why);
            result = BW_E_DENIED;
            goto out;
        }
        /* A response whose body outgrew the cap still has a status: judge by it. */
        int capped = st->conn.too_large || cr == CURLE_FILESIZE_EXCEEDED;
        if (cr != CURLE_OK && !(capped && status > 0)) {
            res->retryable = 1;
            set_why(res, "transfer failed: %s", curl_easy_strerror(cr));
            result = cr == CURLE_OPERATION_TIMEDOUT ? BW_E_TIMEOUT : BW_E_UNAVAILABLE;
            goto out;
        }
        if (status >= 200 && status <= 299) {
            result = BW_OK;
            goto out;
        }
        if (!is_followed_redirect(status) || !st->location[0]) {
            res->retryable = status_retryable(status);
            if (status == 303)
                set_why(res, "HTTP 303: not followed (a POST would become a GET)");
            else if (is_followed_redirect(status))
                set_why(res, "HTTP %ld without a usable Location", status);
            else
                set_why(res, "HTTP %ld", status);
            result = BW_E_UPSTREAM;
            goto out;
        }
        if (res->hops > max_redirects) {
            set_why(res, "more than %d redirects", max_redirects);
            result = BW_E_UPSTREAM;
            goto out;
        }
        result = bw_egress_redirect(o->policy, st->target.url, st->location, &st->next, st->why,
                                    sizeof st->why);
        if (result != BW_OK) {
            res->blocked = result != BW_E_NOMEM;
            set_why(res, "redirect refused: %s", st->why);
            result = result == BW_E_NOMEM ? BW_E_NOMEM : BW_E_DENIED;
            goto out;
        }
        if (strcmp(st->target.scheme, "https") == 0 && strcmp(st->next.scheme, "https") != 0) {
            set_why(res, "redirect refused: https to http would send the payload in clear text");
            result = BW_E_UPSTREAM;
            goto out;
        }
        st->target = st->next;
    }
out:
    curl_slist_free_all(headers);
    sodium_free(st); /* wipes every copy of the URL and Location this module made */
    return result;
}
