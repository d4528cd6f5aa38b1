#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/reqlog.h"
#include "http/server_guard.h"
#include "http/tls.h"
#include "util/log.h"
#include "util/thread_role.h"
#include "util/time.h"

struct worker {
    struct bw_server *server;
    struct event_base *base;
    struct evhttp *http; /* plain listener, or NULL */
    struct evhttp_bound_socket *bound;
    struct evhttp *https; /* TLS listener (same handler, TLS bufferevents), or NULL */
    struct evhttp_bound_socket *bound_tls;
    void *ctx;
    pthread_t thread;
    int started;
};

struct bw_server {
    struct bw_server_opts opts;
    struct bw_server_app app;
    struct worker *workers;
    int n_workers;
    int tls_port; /* bound */
};

/* ---- listeners and workers ---- */

static void on_request(struct evhttp_request *req, void *arg) {
    struct worker *w = arg;
    bw_reqlog_begin(req); /* every request that reaches the gateway gets one log line */
    if (bw_http_guard_answer_refused(req))
        return;
    w->server->app.handle(w->ctx, req);
}

/* SO_REUSEPORT lets every worker bind the port, but it would also let a second gateway (same
 * user) bind it silently and take half the traffic. Probe first with a plain socket: it fails
 * with EADDRINUSE if anything already listens there. */
static bw_err port_is_free(const struct sockaddr_in *sa) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return BW_E_IO;
    int rc = bind(fd, (const struct sockaddr *)sa, sizeof *sa);
    int err = errno;
    close(fd);
    if (rc != 0) {
        bw_error("server: cannot listen on port %d: %s", ntohs(sa->sin_port), strerror(err));
        return BW_E_IO;
    }
    return BW_OK;
}

static bw_err bind_one(struct evhttp *http, struct evhttp_bound_socket **bound,
                       struct event_base *base, const char *host, int first, int port,
                       int *bound_port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        bw_error("server: listen host must be an IPv4 address: %.64s", host);
        return BW_E_INVALID;
    }
    if (first && port != 0)
        BW_TRY(port_is_free(&sa));
    struct evconnlistener *l = evconnlistener_new_bind(
        base, NULL, NULL,
        LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        1024, (struct sockaddr *)&sa, sizeof sa);
    if (!l) {
        bw_error("server: cannot listen on %s:%d: %s", host, port, strerror(errno));
        return BW_E_IO;
    }
    *bound = evhttp_bind_listener(http, l);
    if (!*bound) {
        evconnlistener_free(l);
        return BW_E_IO;
    }
    struct sockaddr_in got = {0};
    socklen_t len = sizeof got;
    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&got, &len) != 0)
        return BW_E_IO;
    *bound_port = ntohs(got.sin_port);
    return BW_OK;
}

/* Binds w's listeners; later workers share the ports the first one got (*port, *tls_port). */
static bw_err bind_worker(struct bw_server *s, struct worker *w, int *port, int *tls_port) {
    int first = w == &s->workers[0];
    if (w->http)
        BW_TRY(bind_one(w->http, &w->bound, w->base, s->opts.host, first, *port, port));
    if (w->https)
        BW_TRY(bind_one(w->https, &w->bound_tls, w->base, s->opts.tls_host, first, *tls_port,
                        tls_port));
    return BW_OK;
}

/* One evhttp with the server's limits; the plain and TLS listeners differ only in the
 * bufferevents they make (evhttp_set_bevcb is per evhttp, so each gets its own). */
static struct evhttp *new_http(struct bw_server *s, struct worker *w) {
    struct evhttp *http = evhttp_new(w->base);
    if (!http)
        return NULL;
    evhttp_set_max_body_size(http, (ev_ssize_t)s->opts.max_body_bytes);
    evhttp_set_max_headers_size(http, (ev_ssize_t)s->opts.max_header_bytes);
    evhttp_set_timeout(http, s->opts.client_timeout_s);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH |
                                         EVHTTP_REQ_OPTIONS);
    evhttp_set_default_content_type(http, "application/json");
    evhttp_set_gencb(http, on_request, w);
    return http;
}

static bw_err init_worker(struct bw_server *s, struct worker *w, int index) {
    w->server = s;
    /* The changelist folds the many interest changes of one loop iteration (evhttp toggling
     * read/write, curl switching a socket from sending to receiving) into at most one
     * epoll_ctl per descriptor. Safe here: no descriptor is dup()ed.
     * Not under ThreadSanitizer: the changelist applies a closed connection's EPOLL_CTL_DEL
     * after close(), when another worker may already hold the same fd number. The DEL goes to
     * the closing worker's own epoll set (ENOENT, ignored), but TSan models an fd as a sync
     * object, and building that report trips an internal CHECK that kills the process. */
    struct event_config *ec = event_config_new();
    if (!ec)
        return BW_E_NOMEM;
#ifndef BW_TSAN
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
#endif
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!w->base)
        return BW_E_NOMEM;
    if (s->opts.host && s->opts.host[0]) {
        w->http = new_http(s, w);
        if (!w->http)
            return BW_E_NOMEM;
        evhttp_set_bevcb(w->http, bw_http_guard_bev, s);
    }
    if (s->opts.tls) {
        w->https = new_http(s, w);
        if (!w->https)
            return BW_E_NOMEM;
        evhttp_set_bevcb(w->https, bw_tls_bev, s->opts.tls);
    }
    w->ctx = s->app.worker_init(s->app.arg, w->base, index);
    return w->ctx ? BW_OK : BW_E_UNAVAILABLE;
}

static void *run_worker(void *arg) {
    pthread_setname_np(pthread_self(), "bw-worker"); /* for top -H, perf, gdb */
    bw_thread_set_role(BW_THREAD_WORKER); /* the store refuses this thread (thread_role.h) */
    struct worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY); /* stay up for ledger completions */
    bw_reqlog_thread_exit();
    return NULL;
}

static void free_workers(struct bw_server *s) {
    for (int i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        if (w->http)
            evhttp_free(w->http);
        if (w->https)
            evhttp_free(w->https);
        if (w->ctx)
            s->app.worker_fini(w->ctx);
        if (w->base)
            event_base_free(w->base);
    }
    free(s->workers);
    free(s);
}

bw_err bw_server_start(const struct bw_server_opts *opts, const struct bw_server_app *app,
                       struct bw_server **out, int *bound_port) {
    bw_err result = BW_OK;
    struct bw_server *s = calloc(1, sizeof *s);
    if (!s)
        return BW_E_NOMEM;
    s->opts = *opts;
    s->app = *app;
    s->n_workers = opts->workers > 0 ? opts->workers : 1;
    s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
    BW_GOTO_IF(!s->workers, BW_E_NOMEM);
    BW_GOTO(bw_http_guard_init(opts->client_timeout_s, opts->max_header_bytes,
                               (uint64_t)opts->max_body_bytes));
    BW_GOTO_IF(!(opts->host && opts->host[0]) && !opts->tls, BW_E_INVALID);
    int port = opts->port, tls_port = opts->tls_port;
    for (int i = 0; i < s->n_workers; i++) {
        BW_GOTO(init_worker(s, &s->workers[i], i));
        BW_GOTO(bind_worker(s, &s->workers[i], &port, &tls_port));
    }
    s->tls_port = opts->tls ? tls_port : 0;
    for (int i = 0; i < s->n_workers; i++) {
        BW_GOTO_IF(pthread_create(&s->workers[i].thread, NULL, run_worker, &s->workers[i]) != 0,
                   BW_E_NOMEM);
        s->workers[i].started = 1;
    }
    *bound_port = s->workers[0].http ? port : 0;
    *out = s;
    return BW_OK;
out:
    for (int i = 0; i < s->n_workers && s->workers; i++)
        if (s->workers[i].started) {
            event_base_loopbreak(s->workers[i].base);
            pthread_join(s->workers[i].thread, NULL);
        }
    if (s->workers)
        free_workers(s);
    else
        free(s);
    return result;
}

static void stop_accepting(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct worker *w = arg;
    if (w->bound) {
        evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
    }
    if (w->bound_tls) {
        evhttp_del_accept_socket(w->https, w->bound_tls);
        w->bound_tls = NULL;
    }
}

int bw_server_tls_port(const struct bw_server *s) {
    return s->tls_port;
}

long bw_server_stop(struct bw_server *s, int drain_ms) {
    for (int i = 0; i < s->n_workers; i++)
        event_base_once(s->workers[i].base, -1, EV_TIMEOUT, stop_accepting, &s->workers[i], NULL);
    int64_t deadline = bw_mono_us() + (int64_t)drain_ms * 1000;
    while (s->app.inflight(s->app.arg) > 0 && bw_mono_us() < deadline)
        usleep(10000);
    long left = s->app.inflight(s->app.arg);
    for (int i = 0; i < s->n_workers; i++) {
        event_base_loopexit(s->workers[i].base, NULL);
        pthread_join(s->workers[i].thread, NULL);
    }
    free_workers(s);
    return left;
}
