/* reqlog.c: the request log's records (reqlog.h). */
#include "http/reqlog.h"
#include "metrics/metrics.h"

#include <event2/http.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/time.h"

struct rec {
    struct evhttp_request *req;
    int64_t start_us;
    char request_id[17];
    const char *method; /* static */
    const char *route;  /* static, from a routing table */
    char org_id[40], agent[64], key_id[64], decision[24], reason[64], receipt_id[32];
    long upstream_status;
};

/* Set once by the main thread before any event worker starts; read-only afterwards. Records are
 * kept once configured (`on`), whether or not lines are written (opts.enabled), so that other
 * per-request consumers of bw_reqlog_end (metrics) see every request. */
static struct bw_reqlog_opts opts;
static int on;

/* Each event worker's own records by request pointer (open addressing, linear probing). Owner:
 * the thread itself (_Thread_local); a request is only ever touched by its worker. */
static _Thread_local struct rec **slots;
static _Thread_local size_t n_slots, n_used;

#define ID_POOL 256
/* Each event worker's store of random bytes for request ids, refilled from the OS generator
 * (randombytes_buf: one getrandom(2) per call) once per ID_POOL / 8 requests instead of once
 * per request. Owner: the thread itself (_Thread_local). */
static _Thread_local uint8_t id_pool[ID_POOL];
static _Thread_local size_t id_pool_left;

/* 8 fresh random bytes; each pool byte is handed out once, then wiped. */
static void request_id_bytes(uint8_t out[8]) {
    if (id_pool_left < 8) {
        randombytes_buf(id_pool, sizeof id_pool);
        id_pool_left = sizeof id_pool;
    }
    uint8_t *p = id_pool + (sizeof id_pool - id_pool_left);
    memcpy(out, p, 8);
    sodium_memzero(p, 8);
    id_pool_left -= 8;
}

void bw_reqlog_configure(const struct bw_reqlog_opts *o) {
    opts = *o;
    on = 1;
}

static size_t slot_of(const struct evhttp_request *req) {
    uintptr_t h = (uintptr_t)req >> 4;
    h *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (n_slots - 1);
}

static struct rec **find(const struct evhttp_request *req) {
    if (!n_slots || !req)
        return NULL;
    for (size_t i = slot_of(req);; i = (i + 1) & (n_slots - 1)) {
        if (!slots[i])
            return NULL;
        if (slots[i]->req == req)
            return &slots[i];
    }
}

static int insert(struct rec *r) {
    if ((n_used + 1) * 2 > n_slots) { /* keep the table at most half full */
        size_t cap = n_slots ? n_slots * 2 : 64;
        struct rec **old = slots;
        size_t old_n = n_slots;
        struct rec **grown = calloc(cap, sizeof *grown);
        if (!grown)
            return -1;
        slots = grown;
        n_slots = cap;
        for (size_t i = 0; i < old_n; i++)
            if (old[i]) {
                size_t j = slot_of(old[i]->req);
                while (slots[j])
                    j = (j + 1) & (n_slots - 1);
                slots[j] = old[i];
            }
        free(old);
    }
    size_t j = slot_of(r->req);
    while (slots[j])
        j = (j + 1) & (n_slots - 1);
    slots[j] = r;
    n_used++;
    return 0;
}

/* Removes the entry at *at, shifting later members of its probe chain back (no tombstones). */
static void erase(struct rec **at) {
    size_t i = (size_t)(at - slots);
    slots[i] = NULL;
    n_used--;
    for (size_t j = (i + 1) & (n_slots - 1); slots[j]; j = (j + 1) & (n_slots - 1)) {
        size_t home = slot_of(slots[j]->req);
        /* slots[j] may move to i if its home is not in the cyclic range (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        slots[i] = slots[j];
        slots[j] = NULL;
        i = j;
    }
}

static const char *method_name(enum evhttp_cmd_type m) {
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    default:
        return "OTHER";
    }
}

static void on_complete(struct evhttp_request *req, void *arg) {
    (void)arg;
    bw_reqlog_end(req, evhttp_request_get_response_code(req));
}

void bw_reqlog_begin(struct evhttp_request *req) {
    if (!on)
        return;
    struct rec **old = find(req);
    if (old) { /* a request freed without an end (should not happen): its address is reused */
        struct rec *r = *old;
        erase(old);
        free(r);
    }
    struct rec *r = calloc(1, sizeof *r);
    if (!r)
        return; /* out of memory: this request goes unlogged rather than unanswered */
    r->req = req;
    r->start_us = bw_mono_us();
    uint8_t id[8];
    request_id_bytes(id);
    sodium_bin2hex(r->request_id, sizeof r->request_id, id, sizeof id);
    r->method = method_name(evhttp_request_get_command(req));
    if (insert(r) != 0) {
        free(r);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "x-request-id", r->request_id);
    evhttp_request_set_on_complete_cb(req, on_complete, NULL);
}

/* The narrow character sets of the typed fields: anything else is not what the field holds. */
enum field_kind { F_ID, F_CODE, F_WORD, F_RECEIPT, F_ROUTE };

static int char_ok(enum field_kind k, char c) {
    int lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z', digit = c >= '0' && c <= '9';
    switch (k) {
    case F_ID:
        return lower || upper || digit || c == '_' || c == '-' || c == '.' || c == ':' || c == '@';
    case F_CODE:
        return upper || digit || c == '_';
    case F_WORD:
        return lower || c == '_';
    case F_RECEIPT:
        return digit || (c >= 'a' && c <= 'f') || c == '.';
    case F_ROUTE:
        return lower || digit || c == '_' || c == '-' || c == '/' || c == '.';
    default:
        return 0;
    }
}

/* 1 if s fits the kind and max bytes and the log's redaction would leave it unchanged (an agent
 * named like a key is not logged). */
static int field_ok(enum field_kind k, const char *s, size_t max) {
    if (!s || !*s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || !char_ok(k, s[n]))
            return 0;
    char red[128];
    return n < sizeof red && bw_log_redact(s, red, sizeof red) == n && memcmp(red, s, n) == 0;
}

static void set_field(char *dst, size_t size, enum field_kind k, const char *v) {
    if (field_ok(k, v, size - 1))
        snprintf(dst, size, "%s", v);
    else
        dst[0] = 0;
}

static struct rec *rec_of(struct evhttp_request *req) {
    if (!on)
        return NULL;
    struct rec **at = find(req);
    return at ? *at : NULL;
}

void bw_reqlog_set_route(struct evhttp_request *req, const char *route) {
    struct rec *r = rec_of(req);
    if (r && route)
        r->route = route;
}

void bw_reqlog_set_principal(struct evhttp_request *req, const char *org_id, const char *agent,
                             const char *key_id) {
    struct rec *r = rec_of(req);
    if (!r)
        return;
    if (org_id)
        set_field(r->org_id, sizeof r->org_id, F_ID, org_id);
    if (agent)
        set_field(r->agent, sizeof r->agent, F_ID, agent);
    if (key_id)
        set_field(r->key_id, sizeof r->key_id, F_ID, key_id);
}

void bw_reqlog_set_reason(struct evhttp_request *req, const char *reason) {
    struct rec *r = rec_of(req);
    if (r && reason && !r->reason[0])
        set_field(r->reason, sizeof r->reason, F_CODE, reason);
}

void bw_reqlog_set_decision(struct evhttp_request *req, const char *decision, const char *reason,
                            const char *receipt_id) {
    struct rec *r = rec_of(req);
    if (!r)
        return;
    if (decision)
        set_field(r->decision, sizeof r->decision, F_WORD, decision);
    if (receipt_id)
        set_field(r->receipt_id, sizeof r->receipt_id, F_RECEIPT, receipt_id);
    bw_reqlog_set_reason(req, reason);
}

void bw_reqlog_set_upstream_status(struct evhttp_request *req, long status) {
    struct rec *r = rec_of(req);
    if (r && status > 0 && status < 1000)
        r->upstream_status = status;
}

static const char *checked(enum field_kind k, const char *s, size_t max);
static size_t format_checked(const struct bw_reqlog_fields *f, const char *const v[], int text,
                             char *out, size_t out_size);

void bw_reqlog_end(struct evhttp_request *req, int http_status) {
    if (!on)
        return;
    struct rec **at = find(req);
    if (!at)
        return;
    struct rec *r = *at;
    erase(at);
    bw_metrics_http_end(r->route, http_status);
    if (!opts.enabled) {
        free(r);
        return;
    }
    if (!r->receipt_id[0]) { /* an admin change's receipt, named only in its reply's headers */
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        set_field(r->receipt_id, sizeof r->receipt_id, F_RECEIPT,
                  evhttp_find_header(h, "bulwark-receipt-id"));
        if (!r->decision[0])
            set_field(r->decision, sizeof r->decision, F_WORD,
                      evhttp_find_header(h, "bulwark-decision"));
    }
    struct bw_reqlog_fields f = {
        .time_ms = bw_now_ms(),
        .latency_us = bw_mono_us() - r->start_us,
        .request_id = r->request_id,
        .method = r->method,
        .route = r->route,
        .org_id = r->org_id,
        .agent = r->agent,
        .key_id = r->key_id,
        .decision = r->decision,
        .reason = r->reason,
        .receipt_id = r->receipt_id,
        .http_status = http_status,
        .upstream_status = r->upstream_status,
    };
    /* The six fields of the record passed, when set, the very check bw_reqlog_format repeats
     * (set_field: same kind, same bound), or are empty: only the others are checked again. */
    const char *v[] = {
        checked(F_RECEIPT, f.request_id, 16),    checked(F_CODE, f.method, 8),
        checked(F_ROUTE, f.route, 64),           r->org_id[0] ? r->org_id : NULL,
        r->agent[0] ? r->agent : NULL,           r->key_id[0] ? r->key_id : NULL,
        r->decision[0] ? r->decision : NULL,     r->reason[0] ? r->reason : NULL,
        r->receipt_id[0] ? r->receipt_id : NULL,
    };
    char line[BW_LOG_MAX_LINE];
    size_t n = format_checked(&f, v, opts.text, line, sizeof line);
    if (n)
        bw_log_sink_line(line, n);
    free(r);
}

void bw_reqlog_thread_exit(void) {
    for (size_t i = 0; i < n_slots; i++)
        free(slots[i]);
    free(slots);
    slots = NULL;
    n_slots = n_used = 0;
    sodium_memzero(id_pool, sizeof id_pool);
    id_pool_left = 0;
}

/* ---- formatting ---- */

static void iso_time(int64_t ms, char out[64]) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* The checked value, or NULL (null in the line). */
static const char *checked(enum field_kind k, const char *s, size_t max) {
    return field_ok(k, s, max) ? s : NULL;
}

/* Appends to out at *at; 0, or -1 when it does not fit (the line is then not written). */
static int put(char *out, size_t out_size, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int put(char *out, size_t out_size, size_t *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *at, out_size - *at, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= out_size - *at)
        return -1;
    *at += (size_t)n;
    return 0;
}

/* Appends s (n bytes) like put, without a format to interpret. */
static int put_str(char *out, size_t out_size, size_t *at, const char *s, size_t n) {
    if (n >= out_size - *at)
        return -1;
    memcpy(out + *at, s, n);
    *at += n;
    out[*at] = 0;
    return 0;
}

/* put_str of a string literal (its length without the NUL). */
#define PUT_LIT(out, size, at, lit) put_str(out, size, at, lit, sizeof(lit) - 1)

/* ,"name":"value" or ,"name":null */
static int put_field(char *out, size_t out_size, size_t *at, const char *name, const char *v) {
    if (PUT_LIT(out, out_size, at, ",\"") != 0 ||
        put_str(out, out_size, at, name, strlen(name)) != 0)
        return -1;
    if (!v)
        return PUT_LIT(out, out_size, at, "\":null");
    if (PUT_LIT(out, out_size, at, "\":\"") != 0 || put_str(out, out_size, at, v, strlen(v)) != 0)
        return -1;
    return PUT_LIT(out, out_size, at, "\"");
}

/* Written directly, not through a JSON library: every string value passed field_ok's narrow
 * character set (no quote, backslash or control character), so none needs escaping, and a
 * request's line costs no allocation. */
static size_t format_json(const struct bw_reqlog_fields *f, const char *const v[], char *time,
                          char *out, size_t out_size) {
    static const char *const names[] = {"request_id", "method",      "route",
                                        "org",        "agent",       "key_id",
                                        "decision",   "reason_code", "receipt_id"};
    size_t at = 0;
    if (put(out, out_size, &at, "{\"time\":\"%s\",\"type\":\"request\"", time) != 0)
        return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (put_field(out, out_size, &at, names[i], v[i]) != 0)
            return 0;
    if (put(out, out_size, &at, ",\"status\":%d", f->http_status) != 0 ||
        (f->upstream_status
             ? put(out, out_size, &at, ",\"upstream_status\":%ld", f->upstream_status)
             : put(out, out_size, &at, ",\"upstream_status\":null")) != 0 ||
        /* NOLINTNEXTLINE(bugprone-integer-division): truncated to 0.1 ms on purpose */
        put(out, out_size, &at, ",\"latency_ms\":%.1f}", (double)(f->latency_us / 100) / 10.0) != 0)
        return 0;
    return at;
}

/* f's line from its string values v (each checked, or NULL), in the order of format_json's
 * names. */
static size_t format_checked(const struct bw_reqlog_fields *f, const char *const v[], int text,
                             char *out, size_t out_size) {
    char time[64];
    iso_time(f->time_ms, time);
    if (!text)
        return format_json(f, v, time, out, out_size);
    int n = snprintf(out, out_size,
                     "%s request request_id=%s method=%s route=%s org=%s agent=%s key_id=%s "
                     "decision=%s reason_code=%s receipt_id=%s status=%d upstream_status=%ld "
                     "latency_ms=%.1f",
                     time, v[0] ? v[0] : "-", v[1] ? v[1] : "-", v[2] ? v[2] : "-",
                     v[3] ? v[3] : "-", v[4] ? v[4] : "-", v[5] ? v[5] : "-", v[6] ? v[6] : "-",
                     v[7] ? v[7] : "-", v[8] ? v[8] : "-", f->http_status, f->upstream_status,
                     /* NOLINTNEXTLINE(bugprone-integer-division): truncated to 0.1 ms */
                     (double)(f->latency_us / 100) / 10.0);
    return n > 0 && (size_t)n < out_size ? (size_t)n : 0;
}

size_t bw_reqlog_format(const struct bw_reqlog_fields *f, int text, char *out, size_t out_size) {
    const char *v[] = {
        checked(F_RECEIPT, f->request_id, 16), checked(F_CODE, f->method, 8),
        checked(F_ROUTE, f->route, 64),        checked(F_ID, f->org_id, 39),
        checked(F_ID, f->agent, 63),           checked(F_ID, f->key_id, 63),
        checked(F_WORD, f->decision, 23),      checked(F_CODE, f->reason, 63),
        checked(F_RECEIPT, f->receipt_id, 31),
    };
    return format_checked(f, v, text, out, out_size);
}
