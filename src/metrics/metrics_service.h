/* metrics_service.h: what serving metrics needs besides the registry (metrics.h): the reply to
 * GET /metrics, the background refresher of the store-backed gauges, and the optional separate
 * listener (config `metrics.listen`), which serves GET /metrics WITHOUT authentication: anyone
 * who can reach that address reads the counters (no secret, no tenant data, but traffic volume
 * and refusal rates). It is therefore refused on a non-loopback address unless the config says
 * `metrics.allow_remote: true` (docs/CONFIG.md). */
#ifndef BW_METRICS_METRICS_SERVICE_H
#define BW_METRICS_METRICS_SERVICE_H

#include "util/err.h"

struct evhttp_request;
struct bw_metrics_service;

/* Replies 200 with the exposition (text/plain; version=0.0.4), or 500 if it cannot be built.
 * Frees req (evhttp). Never touches the store. */
void bw_metrics_reply(struct evhttp_request *req, long in_flight);

struct bw_metrics_service_opts {
    const char *db_path;     /* the store the refresher opens its own handle on */
    long refresh_ms;         /* [5000] */
    const char *listen_host; /* "" or NULL = no separate listener */
    int listen_port;
    int allow_remote;             /* allow a non-loopback listen_host */
    long (*in_flight)(void *arg); /* the gateway's in-flight count, any thread */
    void *in_flight_arg;
};

/* 1 if host is a loopback address or "localhost". */
int bw_metrics_host_is_loopback(const char *host) BW_MUST_CHECK;

/* Starts the refresher thread and, if configured, the listener. Errors: BW_E_INVALID (a
 * non-loopback listener without allow_remote), BW_E_IO (cannot bind), BW_E_UNAVAILABLE,
 * BW_E_NOMEM. *bound_port gets the listener's port (0 if none). */
bw_err bw_metrics_service_start(const struct bw_metrics_service_opts *opts,
                                struct bw_metrics_service **out, int *bound_port) BW_MUST_CHECK;
/* Stops the listener and the refresher (at most one refresh in progress). NULL: no-op. */
void bw_metrics_service_stop(struct bw_metrics_service *s);

#endif
