#include "http/reply.h"

#include "http/reqlog.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

/* The calling thread's capture (reply.h): set and cleared by the thread itself around one
 * management API handler on a store thread; never shared. */
static _Thread_local struct bw_http_capture *capture;

void bw_http_capture_set(struct bw_http_capture *c) {
    capture = c;
}

const char *bw_http_error_type(int status) {
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static const char *reason_phrase(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 431:
        return "Request Header Fields Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

void bw_http_add_receipt_headers(struct evhttp_request *req, const char *receipt_id,
                                 const char *decision) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (receipt_id && *receipt_id)
        evhttp_add_header(h, "bulwark-receipt-id", receipt_id);
    if (decision && *decision)
        evhttp_add_header(h, "bulwark-decision", decision);
}

void bw_http_reply_json(struct evhttp_request *req, int status, const char *body, size_t len) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", "application/json");
    struct evbuffer *out = evbuffer_new();
    if (out)
        evbuffer_add(out, body, len);
    bw_http_send(req, status, out); /* every JSON reply ends its request there */
    if (out)
        evbuffer_free(out);
}

void bw_http_send(struct evhttp_request *req, int status, struct evbuffer *body) {
    if (capture) {
        if (capture->status) {
            bw_error("http: a second reply to one captured request was dropped");
            return;
        }
        capture->status = status;
        if (body && evbuffer_get_length(body) > 0 && (capture->body = evbuffer_new()) &&
            evbuffer_add_buffer(capture->body, body) != 0)
            capture->status = 500; /* out of memory: never a partial body as a success */
        return;
    }
    bw_reqlog_end(req, status);
    evhttp_send_reply(req, status, reason_phrase(status), body);
}

static void copy_field(char *out, size_t size, const char *v) {
    if (v && !out[0])
        snprintf(out, size, "%s", v); /* the first refusal is the cause, as in the log */
}

void bw_http_capture_send(struct evhttp_request *req, struct bw_http_capture *c) {
    bw_reqlog_set_decision(req, c->decision[0] ? c->decision : NULL,
                           c->reason[0] ? c->reason : NULL,
                           c->receipt_id[0] ? c->receipt_id : NULL);
    bw_reqlog_end(req, c->status);
    evhttp_send_reply(req, c->status, reason_phrase(c->status), c->body);
    if (c->body)
        evbuffer_free(c->body);
    c->body = NULL;
}

void bw_http_reply_error(struct evhttp_request *req, int status, const char *code,
                         const char *message, const char *receipt_id, const char *decision) {
    bw_http_reply_error_with(req, status, code, message, receipt_id, decision, NULL, NULL);
}

void bw_http_reply_error_with(struct evhttp_request *req, int status, const char *code,
                              const char *message, const char *receipt_id, const char *decision,
                              const char *extra_key, const char *extra_value) {
    json_t *err = json_pack("{s:s, s:s, s:s}", "message", message, "type",
                            bw_http_error_type(status), "code", code);
    if (err && receipt_id && *receipt_id)
        json_object_set_new(err, "receipt_id", json_string(receipt_id));
    if (err && extra_key && extra_value)
        json_object_set_new(err, extra_key, json_string(extra_value));
    json_t *root = err ? json_pack("{s:o}", "error", err) : NULL;
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    bw_http_add_receipt_headers(req, receipt_id, decision);
    if (capture) {
        copy_field(capture->decision, sizeof capture->decision, decision);
        copy_field(capture->reason, sizeof capture->reason, code);
        copy_field(capture->receipt_id, sizeof capture->receipt_id, receipt_id);
    } else {
        bw_reqlog_set_decision(req, decision, code, receipt_id);
    }
    if (text) {
        bw_http_reply_json(req, status, text, strlen(text));
    } else {
        static const char fallback[] =
            "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\","
            "\"code\":\"INTERNAL\"}}";
        bw_http_reply_json(req, 500, fallback, sizeof fallback - 1);
    }
    free(text);
    json_decref(root);
}

void bw_http_add_retry_headers(struct evhttp_request *req, long long retry_after_ms) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (retry_after_ms < 0) {
        evhttp_add_header(h, "x-should-retry", "false");
        return;
    }
    if (retry_after_ms == 0)
        return;
    char v[32];
    snprintf(v, sizeof v, "%lld", (retry_after_ms + 999) / 1000);
    evhttp_add_header(h, "Retry-After", v);
    snprintf(v, sizeof v, "%lld", retry_after_ms);
    evhttp_add_header(h, "retry-after-ms", v);
}

int bw_http_content_is_json(struct evhttp_request *req) {
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t n = strlen("application/json");
    return ct && strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}
