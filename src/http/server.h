/* server.h: the listener: N event-loop threads, each with its own event_base and evhttp bound
 * to one SO_REUSEPORT socket, so the kernel spreads connections and no lock is shared on the hot
 * path. Bounds every connection: header bytes, body bytes, an idle timeout, and a deadline for
 * receiving a whole request (slowloris), and strict HTTP/1.1 framing checked on the raw bytes
 * before evhttp parses them (server_guard.h, framing.h).
 *
 * Graceful stop: bw_server_stop closes the listeners, waits until the app reports no in-flight
 * work (app.inflight) or drain_ms passes, then stops the loops.
 *
 * Threading: callbacks run on their worker's thread. bw_server_stop from the main thread. */
#ifndef BW_HTTP_SERVER_H
#define BW_HTTP_SERVER_H

#include <stddef.h>

#include "util/err.h"

struct event_base;
struct evhttp_request;
struct bw_server;
struct bw_tls;

struct bw_server_opts {
    const char *host;
    int port; /* 0 = ephemeral (all workers share the port the first one got) */
    int workers;
    size_t max_body_bytes;
    size_t max_header_bytes;
    int client_timeout_s;
    /* TLS listener (tls.h), beside the plain one; tls NULL = none. host NULL or "" above = no
     * plain listener. Each worker then runs one evhttp per listener on its event_base. */
    struct bw_tls *tls;
    const char *tls_host;
    int tls_port; /* 0 = ephemeral, as port */
};

struct bw_server_app {
    void *arg;
    /* Per-worker setup on that worker's thread, before it accepts: returns the worker's context,
     * or NULL to fail startup. */
    void *(*worker_init)(void *arg, struct event_base *base, int index);
    void (*worker_fini)(void *worker_ctx);
    /* Every request. The handler owns req until it replies. */
    void (*handle)(void *worker_ctx, struct evhttp_request *req);
    /* In-flight work the app still has (requests, receipts not yet durable); any thread. */
    long (*inflight)(void *arg);
};

/* Binds, starts the threads and returns once all workers are accepting. *bound_port gets the
 * plain listener's port (0 when there is none). Errors: BW_E_IO (bind), BW_E_UNAVAILABLE (a
 * worker_init failed). */
bw_err bw_server_start(const struct bw_server_opts *opts, const struct bw_server_app *app,
                       struct bw_server **out, int *bound_port) BW_MUST_CHECK;

/* The TLS listener's bound port (0 when there is none). */
int bw_server_tls_port(const struct bw_server *s) BW_MUST_CHECK;

/* Stops accepting, drains (up to drain_ms), stops and joins the workers (calling worker_fini),
 * frees the server. Returns the in-flight count left when drain gave up (0 = clean). */
long bw_server_stop(struct bw_server *s, int drain_ms);

#endif
