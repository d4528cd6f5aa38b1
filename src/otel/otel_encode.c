/* otel_encode.c: spans as OTLP/JSON (opentelemetry-proto ExportTraceServiceRequest, protobuf
 * JSON mapping as OTLP/HTTP specifies it: traceId/spanId as lower-case hex, not base64; 64-bit
 * integers and unix-nano times as decimal strings; enums as integers). Attributes follow the
 * GenAI semantic conventions (gen_ai.*) plus bulwark.* for the gateway's own facts. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otel/otel.h"

#define SPAN_KIND_CLIENT 3 /* GenAI semconv: an inference span is a CLIENT span */
#define STATUS_UNSET 0
#define STATUS_ERROR 2

static void hex(const uint8_t *p, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

/* Appends {key, value: {stringValue}}; an empty or non-UTF-8 value is left out. */
static int attr_str(json_t *attrs, const char *key, const char *value) {
    if (!value || !value[0])
        return 0;
    json_t *s = json_string(value); /* NULL for invalid UTF-8: omitted */
    if (!s)
        return 0;
    return json_array_append_new(
        attrs, json_pack("{s:s, s:{s:o}}", "key", key, "value", "stringValue", s));
}

static int attr_int(json_t *attrs, const char *key, int64_t v) {
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, v);
    return json_array_append_new(
        attrs, json_pack("{s:s, s:{s:s}}", "key", key, "value", "intValue", text));
}

static json_t *span_json(const struct bw_otel_span *s) {
    char trace[33], span[17], parent[17], start[24], end[24], name[160];
    hex(s->trace_id, 16, trace);
    hex(s->span_id, 8, span);
    hex(s->parent_span_id, 8, parent);
    snprintf(start, sizeof start, "%" PRId64, s->start_unix_ns);
    snprintf(end, sizeof end, "%" PRId64, s->end_unix_ns);
    /* semconv span name "{gen_ai.operation.name} {gen_ai.request.model}"; the model only if
     * it is valid UTF-8 (checked by attr_str's json_string below). */
    json_t *attrs = json_array();
    if (!attrs)
        return NULL;
    int bad = 0;
    bad |= attr_str(attrs, "gen_ai.operation.name", s->operation);
    bad |= attr_str(attrs, "gen_ai.provider.name", "openai");
    bad |= attr_str(attrs, "gen_ai.system", "openai");
    bad |= attr_str(attrs, "gen_ai.request.model", s->request_model);
    if (s->has_usage) {
        bad |= attr_int(attrs, "gen_ai.usage.input_tokens", s->input_tokens);
        bad |= attr_int(attrs, "gen_ai.usage.output_tokens", s->output_tokens);
    }
    bad |= attr_int(attrs, "http.response.status_code", s->http_status);
    bad |= attr_str(attrs, "bulwark.receipt_id", s->receipt_id);
    bad |= attr_str(attrs, "bulwark.decision", s->decision);
    bad |= attr_str(attrs, "bulwark.reason_code", s->reason);
    bad |= attr_str(attrs, "bulwark.route", s->route);
    if (s->http_status >= 400)
        bad |= attr_str(attrs, "error.type", s->reason[0] ? s->reason : "http_error");
    json_t *model = json_string(s->request_model);
    snprintf(name, sizeof name, "%s%s%s", s->operation, model && s->request_model[0] ? " " : "",
             model ? s->request_model : "");
    json_decref(model);
    json_t *status = s->http_status >= 500 || (s->http_status >= 400 && s->reason[0])
                         ? json_pack("{s:i, s:s}", "code", STATUS_ERROR, "message", s->reason)
                         : json_pack("{s:i}", "code", STATUS_UNSET);
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:o, s:o}", "traceId", trace, "spanId",
                          span, "name", name, "kind", SPAN_KIND_CLIENT, "startTimeUnixNano", start,
                          "endTimeUnixNano", end, "attributes", attrs, "status",
                          status ? status : json_object());
    if (j && s->has_parent && json_object_set_new(j, "parentSpanId", json_string(parent)) != 0)
        bad = 1;
    if (!j || bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

bw_err bw_otel_encode(const struct bw_otel_span *spans, size_t n, const char *service_name,
                      struct bw_buf *out) {
    bw_err result = BW_E_NOMEM;
    char *text = NULL;
    json_t *list = json_array();
    json_t *root = NULL;
    if (!list)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *s = span_json(&spans[i]);
        if (!s || json_array_append_new(list, s) != 0)
            goto out;
    }
    root = json_pack("{s:[{s:{s:[{s:s, s:{s:s}}]}, s:[{s:{s:s}, s:O}]}]}", "resourceSpans",
                     "resource", "attributes", "key", "service.name", "value", "stringValue",
                     service_name, "scopeSpans", "scope", "name", "bulwark", "spans", list);
    if (!root)
        goto out;
    text = json_dumps(root, JSON_COMPACT);
    if (!text)
        goto out;
    result = bw_buf_append(out, text, strlen(text));
out:
    free(text);
    json_decref(root);
    json_decref(list);
    return result;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1; /* W3C: lower case only */
}

static int hex_field(const char *p, size_t n, uint8_t *out) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
        nonzero |= out[i];
    }
    return nonzero != 0;
}

int bw_otel_traceparent_parse(const char *h, uint8_t trace_id[16], uint8_t parent_span_id[8]) {
    /* W3C Trace Context 3.2: version "-" trace-id "-" parent-id "-" trace-flags */
    uint8_t version[1], flags[1], t[16], p[8];
    size_t n = strlen(h);
    if (n < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-')
        return 0;
    if (hexval(h[0]) < 0 || hexval(h[1]) < 0 || (h[0] == 'f' && h[1] == 'f'))
        return 0;
    hex_field(h, 1, version);
    if (version[0] == 0 && n != 55)
        return 0; /* version 00 has exactly four fields */
    if (version[0] != 0 && n > 55 && h[55] != '-')
        return 0;
    if (!hex_field(h + 3, 16, t) || !hex_field(h + 36, 8, p))
        return 0;
    if (hexval(h[53]) < 0 || hexval(h[54]) < 0)
        return 0;
    (void)hex_field(h + 53, 1, flags);
    memcpy(trace_id, t, 16);
    memcpy(parent_span_id, p, 8);
    return 1;
}
