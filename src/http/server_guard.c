/* server_guard.c: slowloris and strict-framing guards on each connection (server_guard.h). */
#include "http/server_guard.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "http/framing.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "util/time.h"

/* The stand-in's marker field. Its name holds a space, which framing refuses in any field name
 * a client sends, so a client cannot forge it. */
#define REFUSED_FIELD "Bulwark Refused"

enum { PH_HEAD, PH_BODY, PH_CHUNKS, PH_DEAD };

struct conn_guard {
    /* Hand-off between threads: an fd number, and so its entry, passes to another worker when
     * the connection closes and the kernel gives the number to a new connection there. The
     * kernel orders the close before that accept, but that order is not visible to the C11
     * memory model (nor to ThreadSanitizer), so every visit to an entry starts with an acquire
     * load of this counter (guard_for) and ends with a release increment (guard_done): the
     * last visit on the old connection then happens-before the first on the new one. */
    _Atomic uint32_t handoff;
    const void *bev;
    uint64_t cookie;
    uint64_t epoch; /* the visiting thread's attach_epoch when the cookie was last checked */
    /* slowloris */
    int64_t request_start_us;
    int receiving;
    /* framing; offsets count the bytes added to the input buffer since the connection began */
    uint8_t phase;
    uint8_t frozen;      /* the buffer's front is frozen: evhttp can read nothing */
    uint8_t busy;        /* our own edits of the buffer are under way (callbacks re-enter) */
    uint64_t stream_end; /* offset of the buffer's end */
    uint64_t cur;        /* framed up to here */
    uint64_t req_start;  /* where the current request's head begins */
    uint64_t scan_from;  /* PH_HEAD: the end of the head was looked for up to here */
    uint64_t body_left;  /* PH_BODY */
    struct bw_http_chunks chunks;
};

/* Set once by bw_http_guard_init before the workers start; read-only afterwards. An entry is
 * used only by the thread that owns the connection on its fd, and passes to the next owner
 * through conn_guard.handoff. */
static struct conn_guard *guards;
static size_t n_guards;
static int64_t guard_limit_us;
static size_t max_head;
static uint64_t max_body;

/* Source of attach epochs: every value handed out is new, so an epoch names one thread's
 * stretch between two attaches, process-wide. */
static _Atomic uint64_t epoch_source;
/* Owner: the calling thread (each worker its own). A new value from epoch_source at every
 * bw_http_guard_attach on this thread; 0 before the first. */
static _Thread_local uint64_t attach_epoch;

/* The entry for bev's connection, reset when the connection is not the one it was last used
 * for. A bufferevent's address may be reused by the next connection on the same fd, so the
 * socket's cookie (Linux: unique per socket until reboot) tells them apart. NULL when the
 * connection cannot be identified.
 * The cookie costs a system call, and the callbacks run a dozen times per request, so it is
 * checked again only when a new bufferevent may have taken bev's address: bufferevents that
 * reach here are made on this thread and attached by bw_http_guard_attach, which starts a new
 * epoch. Same entry owner, same bev and same epoch as at the last check: no bufferevent was
 * made on this thread since, so bev is still the object that was checked, on the same fd. */
static struct conn_guard *guard_for(struct bufferevent *bev) {
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0 || (size_t)fd >= n_guards)
        return NULL;
    struct conn_guard *g = &guards[fd];
    uint32_t handoff = atomic_load_explicit(&g->handoff, memory_order_acquire);
    if (attach_epoch != 0 && g->bev == bev && g->epoch == attach_epoch)
        return g;
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0 || len != sizeof cookie)
        return NULL;
    if (g->bev != bev || g->cookie != cookie) {
        memset(g, 0, sizeof *g);
        atomic_store_explicit(&g->handoff, handoff, memory_order_relaxed);
        g->bev = bev;
        g->cookie = cookie;
        g->phase = PH_HEAD;
    }
    g->epoch = attach_epoch;
    return g;
}

/* ---- slowloris ---- */

static void slowloris(struct conn_guard *g, struct bufferevent *bev) {
    int64_t now = bw_mono_us();
    if (!g->receiving) {
        g->receiving = 1;
        g->request_start_us = now;
    } else if (now - g->request_start_us > guard_limit_us) {
        shutdown(bufferevent_getfd(bev), SHUT_RDWR);
    }
}

/* ---- buffer edits ---- */

/* Keeps the first k bytes of buf and drops the rest. */
static void keep_front(struct evbuffer *buf, size_t k) {
    size_t len = evbuffer_get_length(buf);
    if (k >= len)
        return;
    struct evbuffer *front = k ? evbuffer_new() : NULL;
    if (k && (!front || evbuffer_remove_buffer(buf, front, k) != (int)k)) {
        /* cannot split: drop everything rather than pass unframed bytes on */
        evbuffer_free(front);
        front = NULL;
    }
    evbuffer_drain(buf, evbuffer_get_length(buf));
    if (front) {
        evbuffer_prepend_buffer(buf, front);
        evbuffer_free(front);
    }
}

static uint64_t buffer_start(const struct conn_guard *g, struct evbuffer *buf) {
    return g->stream_end - evbuffer_get_length(buf);
}

/* evhttp may read a head only once it is accepted: the front stays frozen while evhttp has
 * reached the start of a head that is not yet accepted. */
static void update_freeze(struct conn_guard *g, struct evbuffer *buf) {
    int want = g->phase == PH_HEAD && buffer_start(g, buf) == g->req_start;
    if (want && !g->frozen && evbuffer_freeze(buf, 1) == 0)
        g->frozen = 1;
    else if (!want && g->frozen && evbuffer_unfreeze(buf, 1) == 0)
        g->frozen = 0;
}

/* ---- framing ---- */

static void next_head(struct conn_guard *g, uint64_t at) {
    g->phase = PH_HEAD;
    g->req_start = g->scan_from = g->cur = at;
}

static int search(struct evbuffer *buf, uint64_t from_off, const char *what, size_t n,
                  uint64_t *at) {
    struct evbuffer_ptr start;
    if (evbuffer_ptr_set(buf, &start, (size_t)from_off, EVBUFFER_PTR_SET) != 0)
        return 0;
    struct evbuffer_ptr hit = evbuffer_search(buf, what, n, &start);
    if (hit.pos < 0)
        return 0;
    *at = (uint64_t)hit.pos;
    return 1;
}

static enum bw_http_reject check_head(struct conn_guard *g, struct evbuffer *buf, uint64_t b,
                                      uint64_t head_end) {
    size_t n = (size_t)(head_end - g->req_start);
    uint8_t *head = malloc(n);
    if (!head)
        return BW_HTTP_HEAD_TOO_LARGE; /* fail closed */
    struct evbuffer_ptr at;
    struct bw_http_head_info info;
    enum bw_http_reject r = BW_HTTP_BAD_LINE_END;
    if (evbuffer_ptr_set(buf, &at, (size_t)(g->req_start - b), EVBUFFER_PTR_SET) == 0 &&
        evbuffer_copyout_from(buf, &at, head, n) == (ev_ssize_t)n)
        r = bw_http_head_check(head, n, max_body, &info);
    free(head);
    if (r != BW_HTTP_OK)
        return r;
    g->cur = head_end;
    if (info.chunked) {
        g->phase = PH_CHUNKS;
        bw_http_chunks_init(&g->chunks);
    } else if (info.content_length > 0) {
        g->phase = PH_BODY;
        g->body_left = info.content_length;
    } else {
        next_head(g, head_end);
    }
    return BW_HTTP_OK;
}

static enum bw_http_reject frame_head(struct conn_guard *g, struct evbuffer *buf) {
    uint64_t b = buffer_start(g, buf), hit;
    if (search(buf, g->scan_from - b, "\r\n\r\n", 4, &hit)) {
        uint64_t head_end = b + hit + 4;
        if (head_end - g->req_start > max_head)
            return BW_HTTP_HEAD_TOO_LARGE;
        return check_head(g, buf, b, head_end);
    }
    if (g->stream_end - g->req_start > max_head)
        return BW_HTTP_HEAD_TOO_LARGE;
    /* Without CRLF CRLF, "\n\n" or "\n\r\n" can only end a head that uses a bare LF: evhttp
     * would take it as complete, so refuse it now rather than wait for the timeout. */
    if (search(buf, g->scan_from - b, "\n\n", 2, &hit) ||
        search(buf, g->scan_from - b, "\n\r\n", 3, &hit))
        return BW_HTTP_BAD_LINE_END;
    g->scan_from = g->stream_end - g->req_start >= 3 ? g->stream_end - 3 : g->req_start;
    g->cur = g->stream_end;
    return BW_HTTP_OK;
}

static enum bw_http_reject frame_chunks(struct conn_guard *g, struct evbuffer *buf) {
    uint64_t b = buffer_start(g, buf);
    struct evbuffer_ptr at;
    if (evbuffer_ptr_set(buf, &at, (size_t)(g->cur - b), EVBUFFER_PTR_SET) != 0)
        return BW_HTTP_BAD_CHUNK;
    struct evbuffer_iovec v[8];
    int n = evbuffer_peek(buf, (ev_ssize_t)(g->stream_end - g->cur), &at, v, 8);
    if (n > 8)
        n = 8; /* the rest is framed on the next pass of frame()'s loop */
    for (int i = 0; i < n; i++) {
        size_t len = v[i].iov_len, used = 0;
        if (len > g->stream_end - g->cur)
            len = (size_t)(g->stream_end - g->cur);
        int done = 0;
        enum bw_http_reject r = bw_http_chunks_feed(&g->chunks, v[i].iov_base, len, &used, &done);
        if (r != BW_HTTP_OK)
            return r;
        g->cur += used;
        if (done) {
            next_head(g, g->cur);
            break;
        }
    }
    return BW_HTTP_OK;
}

/* Frames every byte added since the last call. */
static enum bw_http_reject frame(struct conn_guard *g, struct evbuffer *buf) {
    while (g->cur < g->stream_end) {
        enum bw_http_reject r = BW_HTTP_OK;
        switch (g->phase) {
        case PH_HEAD:
            r = frame_head(g, buf);
            break;
        case PH_BODY: {
            uint64_t take = g->stream_end - g->cur;
            if (take > g->body_left)
                take = g->body_left;
            g->cur += take;
            g->body_left -= take;
            if (g->body_left == 0)
                next_head(g, g->cur);
            break;
        }
        case PH_CHUNKS:
            r = frame_chunks(g, buf);
            break;
        default:
            return BW_HTTP_BAD_REQUEST_LINE;
        }
        if (r != BW_HTTP_OK)
            return r;
    }
    return BW_HTTP_OK;
}

/* ---- refusals ---- */

/* The answer written straight to the connection when evhttp is already inside the request,
 * then the socket is shut down. Over TLS the bytes go through the session (SSL_write on the
 * bufferevent's SSL): evhttp only reads a body once the earlier replies on the connection are
 * sent, so no write of the bufferevent's is pending in the session. Best effort, like send()
 * with MSG_DONTWAIT: if the socket would block, the client just sees the connection end. */
static void reply_direct(struct bufferevent *bev, enum bw_http_reject r) {
    char body[256], msg[512];
    int blen = snprintf(body, sizeof body,
                        "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"code\":\"%s\"}}",
                        bw_http_reject_message(r), bw_http_error_type(bw_http_reject_status(r)),
                        bw_http_reject_code(r));
    if (blen < 0 || (size_t)blen >= sizeof body) {
        shutdown(bufferevent_getfd(bev), SHUT_RDWR);
        return;
    }
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d Bad Request\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                     bw_http_reject_status(r), blen, body);
    evutil_socket_t fd = bufferevent_getfd(bev);
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (n > 0 && (size_t)n < sizeof msg) {
        if (ssl) {
            (void)SSL_write(ssl, msg, n);
            ERR_clear_error();
        } else {
            (void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
    }
    shutdown(fd, SHUT_RDWR);
}

static void refuse(struct conn_guard *g, struct bufferevent *bev, struct evbuffer *buf,
                   enum bw_http_reject r) {
    uint64_t b = buffer_start(g, buf);
    g->phase = PH_DEAD;
    g->busy = 1;
    if (g->frozen && evbuffer_unfreeze(buf, 1) == 0)
        g->frozen = 0;
    if (b <= g->req_start) {
        /* evhttp has not begun this request: replace it and all after it by the stand-in */
        keep_front(buf, (size_t)(g->req_start - b));
        evbuffer_add_printf(buf,
                            "GET / HTTP/1.1\r\nHost: bulwark.invalid\r\n" REFUSED_FIELD
                            ": %d\r\nConnection: close\r\n\r\n",
                            (int)r);
    } else {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        reply_direct(bev, r);
    }
    g->busy = 0;
}

/* Ends a visit to g begun by guard_for (see `handoff`). */
static void guard_done(struct conn_guard *g) {
    atomic_fetch_add_explicit(&g->handoff, 1, memory_order_release);
}

static void input(struct conn_guard *g, struct bufferevent *bev, struct evbuffer *buf,
                  const struct evbuffer_cb_info *info) {
    if (g->busy)
        return;
    if (info->n_added) {
        slowloris(g, bev);
        g->stream_end += info->n_added;
        if (g->phase == PH_DEAD) {
            g->busy = 1;
            keep_front(buf, evbuffer_get_length(buf) - info->n_added);
            g->busy = 0;
            return;
        }
        /* copying out of a buffer needs its front unfrozen (evbuffer_copyout_from); evhttp
         * does not run until this callback returns, and update_freeze below freezes again */
        if (g->frozen && evbuffer_unfreeze(buf, 1) == 0)
            g->frozen = 0;
        enum bw_http_reject r = frame(g, buf);
        if (r != BW_HTTP_OK) {
            refuse(g, bev, buf, r);
            return;
        }
    }
    if (g->phase != PH_DEAD)
        update_freeze(g, buf);
}

static void guard_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
    struct bufferevent *bev = arg;
    struct conn_guard *g = guard_for(bev);
    if (!g) {
        /* no state for this connection: nothing it sends is framed, so none of it is read */
        if (info->n_added) {
            evbuffer_drain(buf, evbuffer_get_length(buf));
            shutdown(bufferevent_getfd(bev), SHUT_RDWR);
        }
        return;
    }
    input(g, bev, buf, info);
    guard_done(g);
}

static void guard_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
    (void)buf;
    if (info->n_added == 0)
        return;
    struct conn_guard *g = guard_for(arg);
    if (g) {
        g->receiving = 0; /* a reply is under way: the next bytes start a new request */
        guard_done(g);
    }
}

bw_err bw_http_guard_attach(struct bufferevent *bev) {
    /* bev may sit where a freed bufferevent was: entries checked before now are re-checked */
    attach_epoch = atomic_fetch_add_explicit(&epoch_source, 1, memory_order_relaxed) + 1;
    if (!evbuffer_add_cb(bufferevent_get_input(bev), guard_input, bev) ||
        !evbuffer_add_cb(bufferevent_get_output(bev), guard_output, bev))
        return BW_E_NOMEM;
    return BW_OK;
}

struct bufferevent *bw_http_guard_bev(struct event_base *base, void *arg) {
    (void)arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    if (bw_http_guard_attach(bev) != BW_OK) {
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

bw_err bw_http_guard_init(int client_timeout_s, size_t max_head_bytes, uint64_t max_body_bytes) {
    struct rlimit rl;
    size_t n = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        n = rl.rlim_cur < (1u << 20) ? (size_t)rl.rlim_cur : (1u << 20);
    if (!guards) {
        guards = calloc(n, sizeof *guards);
        if (!guards)
            return BW_E_NOMEM;
        n_guards = n;
    }
    guard_limit_us = (int64_t)client_timeout_s * 1000000;
    max_head = max_head_bytes;
    max_body = max_body_bytes;
    return BW_OK;
}

int bw_http_guard_answer_refused(struct evhttp_request *req) {
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), REFUSED_FIELD);
    if (!v)
        return 0;
    int r = 0;
    for (; *v >= '0' && *v <= '9' && r < BW_HTTP_REJECT_COUNT_; v++)
        r = r * 10 + (*v - '0');
    if (r <= 0 || r >= BW_HTTP_REJECT_COUNT_)
        r = BW_HTTP_BAD_REQUEST_LINE;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    bw_reqlog_set_route(req, "refused"); /* never the refused request's own target */
    bw_http_reply_error(req, bw_http_reject_status(r), bw_http_reject_code(r),
                        bw_http_reject_message(r), NULL, NULL);
    return 1;
}
