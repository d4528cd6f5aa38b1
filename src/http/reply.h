/* reply.h: JSON responses and errors in OpenAI's error shape plus Bulwark's reason code:
 *   {"error":{"message":..,"type":..,"code":"<REASON_CODE>","receipt_id":..}}
 * Messages are fixed text chosen by Bulwark, never an echo of secrets or request content.
 * Run on the request's worker thread, or on a store thread while a capture is set (below). */
#ifndef BW_HTTP_REPLY_H
#define BW_HTTP_REPLY_H

#include <stddef.h>
#include "util/err.h"

struct evhttp_request;
struct evbuffer;

/* The OpenAI error "type" for an HTTP status (invalid_request_error, authentication_error,
 * permission_error, not_found_error, rate_limit_error, server_error, ...). */
const char *bw_http_error_type(int status);

/* Sends an error reply. receipt_id and decision may be NULL (then the headers are omitted).
 * Frees req (evhttp semantics). */
void bw_http_reply_error(struct evhttp_request *req, int status, const char *code,
                         const char *message, const char *receipt_id, const char *decision);

/* As bw_http_reply_error, plus one more string member in the error object when extra_key is
 * not NULL (e.g. "review_id").
 * Frees req. */
void bw_http_reply_error_with(struct evhttp_request *req, int status, const char *code,
                              const char *message, const char *receipt_id, const char *decision,
                              const char *extra_key, const char *extra_value);

/* Sends a JSON body (copied) with the given status. Frees req. */
void bw_http_reply_json(struct evhttp_request *req, int status, const char *body, size_t len);

/* Adds bulwark-receipt-id / bulwark-decision headers to the response (NULLs skipped). */
void bw_http_add_receipt_headers(struct evhttp_request *req, const char *receipt_id,
                                 const char *decision);

/* Tells a client whether and when to retry a refusal (429/503). retry_after_ms > 0: retrying
 * can help after that long: Retry-After (seconds, rounded up) and retry-after-ms (OpenAI's SDKs
 * read both). < 0: retrying cannot help (a budget used up, a call larger than a bucket):
 * x-should-retry: false, which OpenAI's SDKs obey, and no Retry-After. 0: nothing is added. */
void bw_http_add_retry_headers(struct evhttp_request *req, long long retry_after_ms);

/* 1 if the request's Content-Type is application/json (parameters allowed). */
int bw_http_content_is_json(struct evhttp_request *req) BW_MUST_CHECK;

/* Sends status with the bytes of body (drained; NULL: no body) and ends the request's log line.
 * For a reply that is not JSON; it may be captured like the others. Frees req. */
void bw_http_send(struct evhttp_request *req, int status, struct evbuffer *body);

/* A reply captured instead of sent. A management API handler runs on a store thread (api/
 * api_job.c), where no connection, evhttp request or event base of a worker may be touched: it
 * is given a private copy of the request, and while a capture is set on the calling thread every
 * reply function above records into it instead of sending: the status and body here, the
 * headers on the (private) request, and nothing is freed. The worker later sends it
 * (bw_http_capture_send). Only the first reply counts; a later one is dropped (and logged). */
struct bw_http_capture {
    int status;                                    /* 0 until a reply */
    struct evbuffer *body;                         /* the reply's body, or NULL */
    char decision[32], reason[64], receipt_id[64]; /* for the request log ("" = none) */
};
/* Sets the calling thread's capture (NULL: none; replies are sent again). */
void bw_http_capture_set(struct bw_http_capture *c);
/* On the request's worker: sends what c captured on req (the client's request, whose output
 * headers the caller has filled from the private copy) and frees c's body. Frees req. */
void bw_http_capture_send(struct evhttp_request *req, struct bw_http_capture *c);

#endif
