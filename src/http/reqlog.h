/* reqlog.h: the request log: exactly one line per HTTP request the gateway answers, written
 * when the request ends (docs/CONFIG.md "log").
 *
 * Redaction by construction: a request's record is a fixed struct of typed fields (ids, codes,
 * numbers, and a route name taken from the routing tables, never the client's path). Every
 * string field is checked against a narrow character set and length when it is set and replaced
 * by null when it does not fit, so no header, body, query string or key can reach a line.
 *
 * Lifecycle: bw_reqlog_begin when a request reaches the server (http/server.c); the code that
 * handles it fills fields as it learns them (bw_reqlog_set_*), looking the record up by req;
 * bw_reqlog_end writes the line and forgets the record. Every JSON reply ends its request in
 * reply.c; a reply sent some other way is ended by evhttp's completion callback (registered by
 * begin); a request whose client went away must be ended explicitly (bw_reqlog_end with 499).
 * A later bw_reqlog_end of the same req is a no-op. This is also the hook for counting requests
 * (metrics): bw_reqlog_end is the one place every request ends.
 *
 * Threading: records live in a per-thread table; begin, set and end for a request must run on
 * the thread that owns its connection (the event worker), as every evhttp call already must. */
#ifndef BW_HTTP_REQLOG_H
#define BW_HTTP_REQLOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct evhttp_request;

struct bw_reqlog_opts {
    int enabled; /* 1: write a line per request (log.requests) */
    int text;    /* 1: key=value text lines instead of JSON */
};

/* Once, before the event workers start (main thread). Until it is called (a process that is not
 * `bulwark serve`, such as the mock upstream), begin, set and end do nothing. */
void bw_reqlog_configure(const struct bw_reqlog_opts *o);

/* A new record for req (start time, a fresh request id, sent back as `x-request-id`). */
void bw_reqlog_begin(struct evhttp_request *req);

/* Setters: each is a no-op when req has no record (logging off) or the value is NULL. */
/* route: a static name from a routing table (e.g. "chat", "/api/v1/keys/"); kept by pointer. */
void bw_reqlog_set_route(struct evhttp_request *req, const char *route);
void bw_reqlog_set_principal(struct evhttp_request *req, const char *org_id, const char *agent,
                             const char *key_id);
/* decision: allow | deny | require_approval ...; reason: a reason code (reason/reasons.h). A
 * reason already set is kept: the first refusal is the cause. */
void bw_reqlog_set_decision(struct evhttp_request *req, const char *decision, const char *reason,
                            const char *receipt_id);
void bw_reqlog_set_reason(struct evhttp_request *req, const char *reason);
void bw_reqlog_set_upstream_status(struct evhttp_request *req, long status);

/* Writes the request's line with this HTTP status and forgets its record. */
void bw_reqlog_end(struct evhttp_request *req, int http_status);

/* An event worker's loop has ended: frees the thread's table and the records of requests that
 * never ended (their connections are being torn down). On that worker's thread. */
void bw_reqlog_thread_exit(void);

/* The JSON line of a record, for the unit tests: fields as bw_reqlog_set_* would set them. */
struct bw_reqlog_fields {
    int64_t time_ms, latency_us;
    const char *request_id, *method, *route, *org_id, *agent, *key_id, *decision, *reason,
        *receipt_id;
    int http_status;
    long upstream_status; /* 0 = none */
};
/* Formats f (strings re-checked; a failing one becomes null) into out; returns the length, or
 * 0 when it does not fit. text: key=value instead of JSON. */
size_t bw_reqlog_format(const struct bw_reqlog_fields *f, int text, char *out, size_t out_size);

#endif
