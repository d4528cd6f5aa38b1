#include "upstream/upstream.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>

#include "egress/egress.h"
#include "util/log.h"

#define POOL_MAX 64

struct bw_upstream_xfer {
    struct bw_upstream *u;
    CURL *easy;
    struct curl_slist *headers;
    struct bw_upstream_callbacks cb;
    void *arg;
    long status;
    const char *content_type;
    int aborted;
    struct bw_upstream_xfer *next_free;
    struct bw_egress_conn guard; /* a guarded transfer's hook state (fixed address) */
};

struct bw_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct bw_upstream_xfer *free_list;
    int n_free;
    struct bw_upstream *guarded; /* guarded transfers' own multi handle, made on first use */
};

struct sock_ctx {
    struct event ev; /* re-assigned in place when curl changes its interest: no allocation */
    int assigned;
};

const char *bw_upstream_result_name(enum bw_upstream_result r) {
    switch (r) {
    case BW_UP_OK:
        return "ok";
    case BW_UP_TIMEOUT:
        return "timeout";
    case BW_UP_CONNECT:
        return "connect";
    case BW_UP_ABORTED:
        return "aborted";
    case BW_UP_BLOCKED:
        return "blocked";
    default:
        return "error";
    }
}

static enum bw_upstream_result classify(CURLcode rc) {
    switch (rc) {
    case CURLE_OK:
        return BW_UP_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return BW_UP_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return BW_UP_CONNECT;
    case CURLE_WRITE_ERROR:
        return BW_UP_ABORTED;
    default:
        return BW_UP_ERROR;
    }
}

static void release(struct bw_upstream_xfer *x) {
    struct bw_upstream *u = x->u;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    if (u->n_free < POOL_MAX) {
        curl_easy_reset(x->easy); /* keeps the easy handle's buffers for the next transfer */
        x->next_free = u->free_list;
        u->free_list = x;
        u->n_free++;
        return;
    }
    curl_easy_cleanup(x->easy);
    free(x);
}

static void check_done(struct bw_upstream *u) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(u->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct bw_upstream_xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(u->multi, x->easy);
        enum bw_upstream_result r = x->aborted ? BW_UP_ABORTED : classify(rc);
        if (rc != CURLE_OK && x->guard.blocked)
            r = BW_UP_BLOCKED; /* the connect-time hook refused the address (egress.h) */
        curl_off_t sent_at = 0;
        /* A deadline that passed before the request went out (TCP connect or TLS handshake):
         * the upstream never received it, which billing must know (docs/SPEND.md). */
        if (r == BW_UP_TIMEOUT &&
            curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &sent_at) == CURLE_OK &&
            sent_at == 0)
            r = BW_UP_CONNECT;
        long status = 0;
        char *ct = NULL;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
        struct bw_upstream_callbacks cb = x->cb;
        void *arg = x->arg;
        /* The content type string belongs to the easy handle: hand it over before reuse. */
        cb.on_done(arg, r, status, ct);
        release(x);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg) {
    struct bw_upstream *u = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(u->multi, fd, flags, &running);
    check_done(u);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_upstream *u = arg;
    int running = 0;
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(u);
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in a socket onto a libevent event. */
static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)e;
    struct bw_upstream *u = userp;
    struct sock_ctx *sc = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            if (sc->assigned)
                event_del(&sc->ev);
            free(sc);
            curl_multi_assign(u->multi, s, NULL);
        }
        return 0;
    }
    if (!sc) {
        sc = calloc(1, sizeof *sc);
        if (!sc)
            return -1;
        curl_multi_assign(u->multi, s, sc);
    } else if (sc->assigned) {
        event_del(&sc->ev);
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
                         (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
    if (event_assign(&sc->ev, u->base, s, kind, on_socket_event, u) != 0)
        return -1;
    sc->assigned = 1;
    event_add(&sc->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
    (void)m;
    struct bw_upstream *u = userp;
    if (timeout_ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(u->timer, &tv);
    return 0;
}

bw_err bw_upstream_new(struct event_base *base, struct bw_upstream **out) {
    struct bw_upstream *u = calloc(1, sizeof *u);
    if (!u)
        return BW_E_NOMEM;
    u->base = base;
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, on_timer, u);
    if (!u->multi || !u->timer) {
        bw_upstream_free(u);
        return BW_E_NOMEM;
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 256L);
    *out = u;
    return BW_OK;
}

void bw_upstream_free(struct bw_upstream *u) {
    if (!u)
        return;
    while (u->free_list) {
        struct bw_upstream_xfer *x = u->free_list;
        u->free_list = x->next_free;
        curl_easy_cleanup(x->easy);
        free(x);
    }
    bw_upstream_free(u->guarded);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    if (u->timer)
        event_free(u->timer);
    free(u);
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg) {
    struct bw_upstream_xfer *x = arg;
    size_t len = size * n;
    if (x->status == 0) {
        char *ct = NULL;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
        x->content_type = ct;
    }
    int rc = x->cb.on_data(x->arg, x->status, x->content_type, p, len);
    if (rc == 1)
        return CURL_WRITEFUNC_PAUSE; /* curl keeps these bytes and re-delivers them on resume */
    if (rc != 0) {
        x->aborted = 1;
        return 0; /* CURLE_WRITE_ERROR */
    }
    return len;
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg) {
    struct bw_upstream_xfer *x = arg;
    size_t len = size * n;
    if (x->cb.on_header && x->cb.on_header(x->arg, p, len) != 0) {
        x->aborted = 1;
        return 0;
    }
    return len;
}

/* A guarded transfer: the guard's options (URL from the checked target, the connect-time
 * address hook, no proxies, no redirects), then ours that do not weaken them. The body cap is
 * the caller's (on_data): the guard's is set beyond reach and its write function replaced. */
static bw_err set_guard(struct bw_upstream_xfer *x, const struct bw_upstream_request *r) {
    struct bw_egress_limits lim = {r->connect_timeout_ms, r->timeout_ms > 0 ? r->timeout_ms : 0,
                                   (curl_off_t)1 << 60};
    if (bw_egress_curl_apply(x->easy, r->egress, r->egress_target, &lim, NULL, NULL, &x->guard) !=
        BW_OK)
        return BW_E_INTERNAL;
    /* our own write function again: the guard's only caps the size (on_data caps it here) and
     * could not pass on_data's pause (back-pressure, CURL_WRITEFUNC_PAUSE) */
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    /* 0 = no overall deadline (a stream): the guard's default would cut it at 60 s */
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    return BW_OK;
}

static struct bw_upstream_xfer *take_xfer(struct bw_upstream *u) {
    struct bw_upstream_xfer *x = u->free_list;
    if (x) {
        u->free_list = x->next_free;
        u->n_free--;
        CURL *easy = x->easy;
        memset(x, 0, sizeof *x);
        x->easy = easy;
    } else {
        x = calloc(1, sizeof *x);
        if (!x)
            return NULL;
        x->easy = curl_easy_init();
        if (!x->easy) {
            free(x);
            return NULL;
        }
    }
    x->u = u;
    return x;
}

static bw_err set_options(struct bw_upstream_xfer *x, const struct bw_upstream_request *r) {
    CURL *e = x->easy;
    x->headers = curl_slist_append(NULL, "Content-Type: application/json");
    x->headers = x->headers ? curl_slist_append(x->headers, "Expect:") : NULL;
    if (x->headers && r->authorization) {
        /* Built on the stack and freed with the list: the upstream key is never logged. */
        char line[1100];
        int n = snprintf(line, sizeof line, "Authorization: %s", r->authorization);
        struct curl_slist *h =
            n > 0 && (size_t)n < sizeof line ? curl_slist_append(x->headers, line) : NULL;
        memset(line, 0, sizeof line);
        if (!h) {
            curl_slist_free_all(x->headers);
            x->headers = NULL;
        } else {
            x->headers = h;
        }
    }
    for (const char *const *h = r->headers; x->headers && h && *h; h++) {
        struct curl_slist *l = curl_slist_append(x->headers, *h);
        if (!l) {
            curl_slist_free_all(x->headers);
            x->headers = NULL;
        } else {
            x->headers = l;
        }
    }
    if (!x->headers)
        return BW_E_NOMEM;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    if (x->cb.on_header) {
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* ignore *_proxy environment variables */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (r->egress && set_guard(x, r) != BW_OK) /* last: its options win */
        return BW_E_INTERNAL;
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    } else if (strcmp(r->method, "DELETE") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    return BW_OK;
}

bw_err bw_upstream_start(struct bw_upstream *u, const struct bw_upstream_request *r,
                         const struct bw_upstream_callbacks *cb, void *arg,
                         struct bw_upstream_xfer **out) {
    if (r->egress) {
        if (!r->egress_target)
            return BW_E_INVALID;
        if (!u->guarded)
            BW_TRY(bw_upstream_new(u->base, &u->guarded));
        u = u->guarded;
    }
    struct bw_upstream_xfer *x = take_xfer(u);
    if (!x)
        return BW_E_NOMEM;
    x->cb = *cb;
    x->arg = arg;
    bw_err e = set_options(x, r); /* reads x->cb.on_header */
    if (e == BW_OK && curl_multi_add_handle(u->multi, x->easy) != CURLM_OK)
        e = BW_E_INTERNAL;
    if (e != BW_OK) {
        release(x);
        return e;
    }
    *out = x;
    return BW_OK;
}

void bw_upstream_resume(struct bw_upstream_xfer *x) {
    /* may deliver the held bytes to on_data at once; curl then arms its timer to carry on */
    (void)curl_easy_pause(x->easy, CURLPAUSE_CONT);
}

void bw_upstream_cancel(struct bw_upstream_xfer *x) {
    curl_multi_remove_handle(x->u->multi, x->easy);
    release(x);
}
