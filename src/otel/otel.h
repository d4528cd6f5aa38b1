/* otel.h: optional OpenTelemetry trace export (OTLP/HTTP, JSON encoding) of each governed call
 * as one span with the GenAI semantic conventions (docs/CONFIG.md "otel").
 *
 * Off unless configured. The event worker only copies a fixed-size span into a bounded ring
 * (bw_otel_submit: one short mutex hold, no allocation, no I/O); a full ring drops the span and
 * counts it. One background thread takes batches from the ring, encodes them and POSTs them to
 * the collector with libcurl through the egress guard (the endpoint is an outbound destination
 * like any other: a loopback collector needs an egress.allow entry), with short timeouts. A
 * dead, slow or hostile collector therefore costs dropped spans, never a slower or failed call.
 *
 * What a span carries: ids, times, the route's operation, the model the client asked for (span
 * attribute, never a metric label), token counts, the receipt id, decision, reason code and
 * HTTP status. Never prompt or answer text, keys, headers or secrets.
 *
 * Thread-safety: submit from any thread; new/free from one. bw_otel_free aborts the export in
 * progress (libcurl's progress callback, within about a second, not timeout_ms) and stops the
 * thread; spans still queued are dropped (counted). */
#ifndef BW_OTEL_OTEL_H
#define BW_OTEL_OTEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

struct bw_otel;
struct bw_egress_policy;

struct bw_otel_opts {
    const char *endpoint;                  /* http(s)://host:port/v1/traces */
    const char *service_name;              /* resource service.name */
    long timeout_ms;                       /* [2000] whole POST (connect included) */
    size_t queue_max;                      /* [2048] spans waiting; more are dropped */
    const struct bw_egress_policy *egress; /* borrowed; must outlive the exporter */
    const char *headers; /* NULL, or "Name=value,Name2=value2" (OTEL_EXPORTER_OTLP_HEADERS
                          * form, e.g. a collector's token): sent with every export, never logged.
                          * Names are HTTP tokens, values printable ASCII; at most 16 headers,
                          * 4096 bytes. Copied. */
};

struct bw_otel_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    int has_parent;
    int64_t start_unix_ns, end_unix_ns;
    char operation[16];      /* gen_ai.operation.name: chat, embeddings, models */
    char route[16];          /* bulwark.route */
    char request_model[128]; /* gen_ai.request.model ("" = omitted) */
    int has_usage;
    int64_t input_tokens, output_tokens;
    char receipt_id[32]; /* "" before a decision receipt */
    char decision[24];   /* allow, deny, require_approval, none */
    char reason[48];     /* "" = none */
    int http_status;
};

/* Starts the exporter thread. Errors: BW_E_INVALID (endpoint not http(s) or over 1000 bytes,
 * malformed headers), BW_E_NOMEM, BW_E_INTERNAL (thread). */
bw_err bw_otel_new(const struct bw_otel_opts *opts, struct bw_otel **out) BW_MUST_CHECK;
void bw_otel_free(struct bw_otel *o);

/* Queues a copy of s. Never blocks beyond a short mutex hold; a full queue drops s (counted in
 * bulwark_otel_spans_total{result="dropped_queue_full"}). o NULL: no-op. */
void bw_otel_submit(struct bw_otel *o, const struct bw_otel_span *s);

/* W3C Trace Context: parses a traceparent header ("00-<32 hex>-<16 hex>-<2 hex>", lower case,
 * ids not all zero; version ff refused; a higher version is read by its first four fields).
 * 1 and the ids on success, else 0 (the caller starts a new trace). */
int bw_otel_traceparent_parse(const char *h, uint8_t trace_id[16],
                              uint8_t parent_span_id[8]) BW_MUST_CHECK;

/* Fills fresh random ids (libsodium). */
void bw_otel_new_ids(uint8_t trace_id[16], uint8_t span_id[8]);

/* Encodes spans as an OTLP/JSON ExportTraceServiceRequest into out (appended). Strings that are
 * not valid UTF-8 are omitted. Errors: BW_E_NOMEM, BW_E_TOO_LARGE (out's cap). */
bw_err bw_otel_encode(const struct bw_otel_span *spans, size_t n, const char *service_name,
                      struct bw_buf *out) BW_MUST_CHECK;

#endif
