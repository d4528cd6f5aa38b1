/* reply.h: JSON responses and errors in OpenAI's error shape plus Bulwark's reason code:
 *   {"error":{"message":..,"type":..,"code":"<REASON_CODE>","receipt_id":..}}
 * Messages are fixed text chosen by Bulwark, never an echo of secrets or request content.
 * Run on the request's worker thread. */
#ifndef BW_HTTP_REPLY_H
#define BW_HTTP_REPLY_H

#include <stddef.h>
#include "util/err.h"

struct evhttp_request;

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

#endif
