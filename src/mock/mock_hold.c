/* mock_hold.c: requests the mock answers later (--latency-ms, mock-hang, mock-slow-stream).
 *
 * A hold owns a timer and sets the close callback of the request's connection. libevent 2.1
 * (http.c, evhttp_connection_incoming_fail) detaches a request the user has not finished from
 * its connection when the peer goes away, and then frees the connection, calling the close
 * callback; from then on the request is ours to free. So:
 *   - finishing: clear the close callback, then send the last bytes (evhttp owns req again);
 *   - client gone: free req if it was detached (evhttp frees it otherwise);
 *   - mock freed: clear the close callback; evhttp_free, which runs next, frees req.
 * evhttp does not read a connection while its request is unanswered, so a mock-hang hold also
 * watches the socket for EOF (on_readable) and then frees the connection itself. In every case
 * the timer and watch are freed and the hold unlinked, exactly once. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mock/mock_internal.h"

enum hold_kind { HOLD_HANG, HOLD_REPLY, HOLD_SLOW };
enum release_how { RELEASE_DONE, RELEASE_GONE, RELEASE_SHUTDOWN };

struct bw_mock_hold {
    struct bw_mock *mock;
    struct bw_mock_hold *prev, *next;
    struct evhttp_request *req;
    struct event *timer;
    struct event *watch; /* HOLD_HANG: readable socket, to notice the client leaving */
    enum hold_kind kind;
    struct bw_mock_reply reply; /* HOLD_REPLY */
    unsigned ticks;             /* HOLD_SLOW: content chunks sent */
    int started, include_usage;
    char id[64];
    char model[BW_MOCK_MAX_MODEL + 1];
};

static void detach_closecb(struct bw_mock_hold *h) {
    struct evhttp_connection *conn = evhttp_request_get_connection(h->req);
    if (conn)
        evhttp_connection_set_closecb(conn, NULL, NULL);
}

static void release(struct bw_mock_hold *h, enum release_how how) {
    struct bw_mock *m = h->mock;
    if (h->prev)
        h->prev->next = h->next;
    else
        m->holds = h->next;
    if (h->next)
        h->next->prev = h->prev;
    m->nholds--;
    if (h->timer)
        event_free(h->timer);
    if (h->watch)
        event_free(h->watch);
    if (how == RELEASE_GONE && !evhttp_request_get_connection(h->req))
        evhttp_request_free(h->req);
    else if (how == RELEASE_SHUTDOWN)
        detach_closecb(h);
    bw_mock_reply_cleanup(&h->reply);
    free(h);
}

static void on_close(struct evhttp_connection *conn, void *arg) {
    (void)conn;
    release(arg, RELEASE_GONE);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

/* evhttp stops reading a connection once it has a whole request, so a client that gives up
 * on a request we never answer goes unnoticed. Watch the socket: EOF or an error means the
 * client left, and the connection (with the request) is freed. Bytes instead (a pipelined
 * request) end the watch; bw_mock_free still releases the hold. */
static void on_readable(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    struct bw_mock_hold *h = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n > 0) {
        event_del(h->watch);
        return;
    }
    struct evhttp_connection *conn = evhttp_request_get_connection(h->req);
    release(h, RELEASE_SHUTDOWN);
    if (conn)
        evhttp_connection_free(conn);
}

static bw_err watch_new(struct bw_mock *m, struct evhttp_connection *conn, struct bw_mock_hold *h) {
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(conn));
    BW_ENSURE(fd >= 0, BW_E_IO);
    h->watch = event_new(m->base, fd, EV_READ | EV_PERSIST, on_readable, h);
    BW_ENSURE(h->watch && event_add(h->watch, NULL) == 0, BW_E_NOMEM);
    return BW_OK;
}

static bw_err hold_new(struct bw_mock *m, struct evhttp_request *req, enum hold_kind kind,
                       struct bw_mock_hold **out) {
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    BW_ENSURE(conn, BW_E_IO);
    struct bw_mock_hold *h = calloc(1, sizeof *h);
    BW_ENSURE(h, BW_E_NOMEM);
    bw_mock_reply_init(&h->reply);
    if ((kind != HOLD_HANG && !(h->timer = evtimer_new(m->base, on_timer, h))) ||
        (kind == HOLD_HANG && watch_new(m, conn, h) != BW_OK)) {
        if (h->watch)
            event_free(h->watch);
        free(h);
        return BW_E_NOMEM;
    }
    h->mock = m;
    h->req = req;
    h->kind = kind;
    h->next = m->holds;
    if (m->holds)
        m->holds->prev = h;
    m->holds = h;
    m->nholds++;
    evhttp_connection_set_closecb(conn, on_close, h);
    *out = h;
    return BW_OK;
}

static void arm(struct bw_mock_hold *h, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(h->timer, &tv);
}

static void send_events(struct bw_mock_hold *h, const struct bw_mock_reply *r) {
    struct evbuffer *chunk = evbuffer_new();
    if (!chunk)
        return;
    evbuffer_add(chunk, r->body.ptr, r->body.len);
    evhttp_send_reply_chunk(h->req, chunk);
    evbuffer_free(chunk);
}

/* One slow-stream event: the role chunk first, then "chunk N. " pieces, then the finish. */
static bw_err slow_event(struct bw_mock_hold *h, struct bw_mock_reply *r) {
    json_t *delta;
    const char *finish = NULL;
    char piece[32];
    if (!h->started) {
        delta = json_pack("{s:s,s:s,s:n}", "role", "assistant", "content", "", "refusal");
    } else if (h->ticks < BW_MOCK_SLOW_TICKS) {
        snprintf(piece, sizeof piece, "chunk %u. ", h->ticks + 1);
        delta = json_pack("{s:s}", "content", piece);
    } else {
        delta = json_object();
        finish = "stop";
    }
    BW_ENSURE(delta, BW_E_NOMEM);
    bw_err result = bw_mock_chat_chunk(r, h->id, h->model, delta, finish, h->include_usage);
    json_decref(delta);
    return result;
}

static bw_err slow_tail(struct bw_mock_hold *h, struct bw_mock_reply *r) {
    if (h->include_usage) {
        /* prompt: "go"-sized; completion: about one token per "chunk N. " piece. */
        json_t *v = json_pack("{s:s,s:s,s:i,s:s,s:s,s:[],s:{s:i,s:i,s:i}}", "id", h->id, "object",
                              "chat.completion.chunk", "created", BW_MOCK_CREATED, "model",
                              h->model, "system_fingerprint", "fp_mock", "choices", "usage",
                              "prompt_tokens", 5, "completion_tokens", 3 * BW_MOCK_SLOW_TICKS,
                              "total_tokens", 5 + 3 * BW_MOCK_SLOW_TICKS);
        BW_ENSURE(v, BW_E_NOMEM);
        bw_err result = bw_mock_reply_event_json(r, v);
        json_decref(v);
        BW_TRY(result);
    }
    return bw_mock_reply_event(r, "[DONE]", 6);
}

static void slow_step(struct bw_mock_hold *h) {
    struct bw_mock_reply r;
    bw_mock_reply_init(&r);
    int last = h->started && h->ticks >= BW_MOCK_SLOW_TICKS;
    bw_err e = slow_event(h, &r);
    if (e == BW_OK && last)
        e = slow_tail(h, &r);
    if (!h->started) {
        struct evkeyvalq *hdr = evhttp_request_get_output_headers(h->req);
        evhttp_add_header(hdr, "Content-Type", "text/event-stream");
        evhttp_add_header(hdr, "Cache-Control", "no-cache");
        evhttp_send_reply_start(h->req, 200, NULL);
        h->started = 1;
    } else if (!last) {
        h->ticks++;
    }
    if (e == BW_OK)
        send_events(h, &r);
    bw_mock_reply_cleanup(&r);
    if (last || e != BW_OK) {
        detach_closecb(h);
        evhttp_send_reply_end(h->req);
        release(h, RELEASE_DONE);
        return;
    }
    arm(h, BW_MOCK_SLOW_TICK_MS);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct bw_mock_hold *h = arg;
    if (h->kind == HOLD_SLOW) {
        slow_step(h);
        return;
    }
    detach_closecb(h);
    bw_mock_reply_send(h->req, &h->reply);
    release(h, RELEASE_DONE);
}

bw_err bw_mock_hold_reply(struct bw_mock *m, struct evhttp_request *req,
                          struct bw_mock_reply *reply_taken, int delay_ms) {
    struct bw_mock_hold *h;
    BW_TRY(hold_new(m, req, HOLD_REPLY, &h));
    bw_mock_reply_cleanup(&h->reply);
    h->reply = *reply_taken;
    bw_mock_reply_init(reply_taken);
    arm(h, delay_ms);
    return BW_OK;
}

bw_err bw_mock_hold_hang(struct bw_mock *m, struct evhttp_request *req) {
    struct bw_mock_hold *h;
    return hold_new(m, req, HOLD_HANG, &h);
}

bw_err bw_mock_hold_slow(struct bw_mock *m, struct evhttp_request *req, const char *id,
                         const char *model, int include_usage, int delay_ms) {
    BW_ENSURE(strlen(id) < sizeof((struct bw_mock_hold *)0)->id, BW_E_TOO_LARGE);
    BW_ENSURE(strlen(model) <= BW_MOCK_MAX_MODEL, BW_E_TOO_LARGE);
    struct bw_mock_hold *h;
    BW_TRY(hold_new(m, req, HOLD_SLOW, &h));
    snprintf(h->id, sizeof h->id, "%s", id);
    snprintf(h->model, sizeof h->model, "%s", model);
    h->include_usage = include_usage;
    arm(h, delay_ms);
    return BW_OK;
}

void bw_mock_hold_release_all(struct bw_mock *m) {
    while (m->holds)
        release(m->holds, RELEASE_SHUTDOWN);
}
