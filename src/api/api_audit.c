/* api_audit.c: GET /api/v1/audit/export: admin and review receipts as JSON lines for a SIEM,
 * each checkable against an evidence pack (docs/API.md, docs/EVIDENCE.md "Audit export").
 *
 * Scope: an org owner or admin gets its own org's lines only, whatever the query or cursor says
 * (?org_id= naming another org is 403); the operator gets every org's, or one org's with
 * ?org_id=. The filter is applied to every leaf read, so no cursor can widen it.
 *
 * Bounded work and memory: the export reads the log up to the checkpoint it took at the start,
 * in slices of SLICE_LEAVES leaves, each one job on a store thread (jobs/jobs.h; a slice is ~256
 * preads of the page cache, JSON parses and a few indexed key reads), never on the event worker,
 * which only sends the chunks. Lines go out as chunks of at most about CHUNK_BYTES, and the next
 * slice is read only when the previous chunk has left the gateway's buffer
 * (evhttp_send_reply_chunk_with_cb), so a
 * client that stops reading stops the export: the gateway holds one chunk per export, whatever
 * the size of the log. The ledger is never locked (reads below the durable size are lock-free,
 * ledger.h); the store is read once per distinct acting key of an export (resolve_actor). The
 * request's checks run in an API job like every handler's (api_job.c); the stream itself is
 * started on the worker (bw_api_on_worker). */
#include "api/api.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "api/audit.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "jobs/jobs.h"
#include "ledger/ledger.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "util/codec.h"
#include "util/log.h"

#define SLICE_LEAVES 256
#define CHUNK_BYTES (64u << 10)
#define LINE_MAX_BYTES (32u << 10)
#define MAX_EXPORTS 8       /* streaming at once, gateway-wide: each scans the log */
#define ACTOR_MEMO 32       /* distinct (org, key) -> person answers an export remembers */
#define SLICE_QUEUE_MS 5000 /* a slice not taken by a store thread by then ends the export */

/* Exports streaming now, across every worker thread: atomic, taken in get_export and given back
 * in stream_free. */
static atomic_int active_exports;

struct audit_query {
    int64_t from_ms, to_ms;
    uint64_t limit;
    char org_id[BW_ID_SIZE];
    int has_cursor;
    char cursor[BW_AUDIT_CURSOR_SIZE];
};

/* A key's accountable person, as the store answered it for this export. */
struct actor_memo {
    char org_id[BW_ID_SIZE];
    char key_id[BW_ID_SIZE];
    char member[BW_ID_SIZE];
};

/* One export in progress. Owned by the worker thread that started it; freed by finish() or,
 * when the connection goes away first, by on_close() (or by slice_done when a slice was being
 * read then). While a slice job runs, only that job touches it. */
struct audit_stream {
    struct evhttp_request *req; /* the client's, from start_stream on */
    struct bw_gateway *gw;
    struct event_base *base; /* the worker's */
    struct bw_store *store;  /* the store thread's, during a slice only */
    struct event *step_ev;   /* the next slice */
    int slicing;             /* a slice job is out (worker's) */
    int gone;                /* the connection went away during it (worker's) */
    bw_err slice_err;        /* the slice's result (the job's) */
    struct evbuffer *chunk;
    struct bw_buf line;
    char org_id[BW_ID_SIZE];
    struct bw_audit_filter filter;
    struct bw_audit_proof_ref ref;
    char key_hex[9];
    char root_b64[48];
    char note[BW_NOTE_MAX_TEXT + 1]; /* the signed checkpoint of `end` leaves */
    uint64_t next, end, limit, lines;
    struct actor_memo memo[ACTOR_MEMO];
    size_t n_memo;
    int store_failed;
};

static void bad_request(struct evhttp_request *req, const char *msg) {
    bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
}

/* An org id as the store makes them: 1..47 bytes of [A-Za-z0-9._-]. */
static int org_id_shape(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= BW_ID_SIZE)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* limit: 1..BW_AUDIT_LIMIT_MAX, plain decimal. */
static int parse_limit(const char *s, uint64_t *out) {
    size_t n = strlen(s);
    if (n == 0 || n > 5 || s[0] == '0')
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > BW_AUDIT_LIMIT_MAX)
        return 0;
    *out = v;
    return 1;
}

/* One parameter; 0 with *why set if it is unknown or its value malformed. */
static int query_param(struct audit_query *q, const char *k, const char *v, unsigned *seen,
                       const char **why) {
    static const char *const names[] = {"from", "to", "cursor", "limit", "org_id"};
    size_t i = 0;
    while (i < 5 && strcmp(k, names[i]) != 0)
        i++;
    *why = "unknown query parameter (from, to, cursor, limit, org_id)";
    if (i == 5)
        return 0;
    *why = "a query parameter is repeated";
    if (*seen & (1u << i))
        return 0;
    *seen |= 1u << i;
    switch (i) {
    case 0:
        *why = "from: unix ms or RFC 3339 (e.g. 2026-01-31T00:00:00Z)";
        return bw_audit_parse_time(v, &q->from_ms) == BW_OK;
    case 1:
        *why = "to: unix ms or RFC 3339 (e.g. 2026-01-31T00:00:00Z)";
        return bw_audit_parse_time(v, &q->to_ms) == BW_OK;
    case 2:
        *why = "cursor: malformed";
        q->has_cursor = 1;
        return strlen(v) < sizeof q->cursor && snprintf(q->cursor, sizeof q->cursor, "%s", v) > 0;
    case 3:
        *why = "limit: 1..10000";
        return parse_limit(v, &q->limit);
    case 4:
        *why = "org_id: malformed";
        return org_id_shape(v) && snprintf(q->org_id, sizeof q->org_id, "%s", v) > 0;
    default:
        return 0;
    }
}

/* Strict: every parameter known, none repeated, every value well formed; to >= from. */
static int parse_query(struct evhttp_request *req, struct audit_query *q, const char **why) {
    *q = (struct audit_query){.from_ms = 0, .to_ms = INT64_MAX, .limit = BW_AUDIT_LIMIT_DEFAULT};
    const char *qs = bw_api_query_string(req);
    if (!qs)
        return 1;
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    *why = "malformed query string";
    /* %00 would decode to a NUL that cuts a value short, so "1%00junk" would read as "1" */
    if (strstr(qs, "%00") || evhttp_parse_query_str(qs, &params) != 0)
        return 0;
    unsigned seen = 0;
    int ok = 1;
    for (struct evkeyval *kv = params.tqh_first; kv && ok; kv = kv->next.tqe_next)
        ok = query_param(q, kv->key, kv->value, &seen, why);
    evhttp_clear_headers(&params);
    if (ok && q->to_ms < q->from_ms) {
        *why = "to is before from";
        ok = 0;
    }
    return ok;
}

/* The root hash line of a signed checkpoint note (third line of its body). */
static int note_root(const char *note, char out[48]) {
    const char *p = strchr(note, '\n');
    p = p ? strchr(p + 1, '\n') : NULL;
    const char *e = p ? strchr(p + 1, '\n') : NULL;
    if (!e || e - (p + 1) != 44)
        return 0;
    memcpy(out, p + 1, 44);
    out[44] = 0;
    return 1;
}

static void stream_free(struct audit_stream *st) {
    atomic_fetch_sub(&active_exports, 1);
    if (st->step_ev)
        event_free(st->step_ev);
    if (st->chunk)
        evbuffer_free(st->chunk);
    bw_buf_cleanup(&st->line);
    free(st);
}

static void detach_close_cb(struct audit_stream *st) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(st->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
}

/* The last line: where to continue, whether the export reached its checkpoint, and the signed
 * checkpoint every line's proof is against (docs/EVIDENCE.md "Audit export"). */
static void append_trailer(struct audit_stream *st, const char *error_code) {
    char cursor[BW_AUDIT_CURSOR_SIZE];
    bw_audit_cursor_encode(st->key_hex, st->next, cursor);
    json_t *t = json_pack("{s:s, s:b, s:I, s:I, s:s}", "next_cursor", cursor, "complete",
                          !error_code && st->next >= st->end, "lines", (json_int_t)st->lines,
                          "tree_size", (json_int_t)st->end, "checkpoint", st->note);
    if (t && error_code)
        json_object_set_new(t, "error", json_string(error_code));
    char *text = t ? json_dumps(t, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (text) {
        evbuffer_add(st->chunk, text, strlen(text));
        evbuffer_add(st->chunk, "\n", 1);
    }
    free(text);
    json_decref(t);
}

/* The last chunk, the end of the reply, and the export is freed. */
static void finish(struct audit_stream *st, const char *error_code) {
    append_trailer(st, error_code);
    detach_close_cb(st);
    evhttp_send_reply_chunk(st->req, st->chunk);
    evhttp_send_reply_end(st->req);
    stream_free(st);
}

/* "actor_member": the person accountable for the acting key (ACCESS.md "Principals"): the
 * key's member id when it is a key of the receipt's org, else "operator" (the operator's keys
 * are the only other keys that act, and an org's keys are never deleted while the org exists).
 * Absent when the principal is not a key (cli, webhook:...). One store read per distinct key and
 * org in an export, on the slice's store thread: an indexed lookup. */
static bw_err resolve_actor(struct audit_stream *st, json_t *line) {
    const char *key = json_string_value(json_object_get(line, "actor"));
    const char *org = json_string_value(json_object_get(line, "org_id"));
    if (!key || strncmp(key, "key_", 4) != 0 || strlen(key) >= BW_ID_SIZE)
        return BW_OK;
    org = org && strlen(org) < BW_ID_SIZE ? org : "";
    const char *member = NULL;
    for (size_t i = 0; i < st->n_memo && !member; i++)
        if (strcmp(st->memo[i].key_id, key) == 0 && strcmp(st->memo[i].org_id, org) == 0)
            member = st->memo[i].member;
    if (!member) {
        if (st->n_memo == ACTOR_MEMO)
            st->n_memo = 0; /* forget all: bounded, and a long export has few actors */
        struct actor_memo *m = &st->memo[st->n_memo];
        snprintf(m->member, sizeof m->member, "operator");
        struct bw_key_record k;
        bw_err e = org[0] ? bw_store_key_get(st->store, org, key, &k) : BW_E_NOT_FOUND;
        if (e != BW_OK && e != BW_E_NOT_FOUND) {
            st->store_failed = 1;
            return e;
        }
        if (e == BW_OK)
            snprintf(m->member, sizeof m->member, "%s", k.member_id);
        snprintf(m->org_id, sizeof m->org_id, "%s", org);
        snprintf(m->key_id, sizeof m->key_id, "%s", key);
        st->n_memo++;
        member = m->member;
    }
    if (member[0] && json_object_set_new(line, "actor_member", json_string(member)) != 0)
        return BW_E_NOMEM;
    return BW_OK;
}

/* One leaf: its line appended to st->chunk if the filter selects it. */
static bw_err export_leaf(struct audit_stream *st, struct bw_buf *bytes) {
    struct bw_ledger *l = st->gw->ledger;
    uint8_t leaf[32];
    uint8_t path[BW_MERKLE_MAX_PROOF][32];
    size_t n = 0;
    void *line = NULL;
    bw_buf_reset(bytes);
    BW_TRY(bw_ledger_read_receipt(l, st->next, bytes));
    BW_TRY(bw_ledger_leaf_hash(l, st->next, leaf));
    int r = bw_audit_select(bytes->ptr, bytes->len, st->next, leaf, &st->filter, &st->ref, &line);
    BW_ENSURE(r >= 0, BW_E_INVALID);
    if (r == 0)
        return BW_OK;
    bw_err e = resolve_actor(st, line);
    if (e == BW_OK)
        e = bw_ledger_inclusion_proof(l, st->next, st->end, path, BW_MERKLE_MAX_PROOF, &n);
    if (e != BW_OK) {
        json_decref(line);
        return e;
    }
    bw_buf_reset(&st->line);
    BW_TRY(
        bw_audit_line_finish(line, st->next, &st->ref, (const uint8_t(*)[32])path, n, &st->line));
    BW_ENSURE(evbuffer_add(st->chunk, st->line.ptr, st->line.len) == 0, BW_E_NOMEM);
    st->lines++;
    return BW_OK;
}

static void on_chunk_sent(struct evhttp_connection *evcon, void *arg);

/* One slice, on a store thread: up to SLICE_LEAVES leaves or one chunk of lines. */
static void slice_run(struct bw_store *store, void *arg) {
    struct audit_stream *st = arg;
    st->store = store;
    struct bw_buf bytes;
    bw_buf_init(&bytes, BW_RECEIPT_MAX_BYTES);
    bw_err e = BW_OK;
    for (size_t k = 0; k < SLICE_LEAVES && st->next < st->end && st->lines < st->limit &&
                       evbuffer_get_length(st->chunk) < CHUNK_BYTES;
         k++) {
        e = export_leaf(st, &bytes);
        if (e != BW_OK)
            break;
        st->next++;
    }
    bw_buf_cleanup(&bytes);
    st->store = NULL;
    st->slice_err = e;
}

/* Back on the worker: either the chunk goes out (and the next slice waits for it to leave) or
 * the loop gets a turn before the next slice. */
static void slice_done(void *arg, bw_err err) {
    struct audit_stream *st = arg;
    st->slicing = 0;
    if (st->gone || event_base_got_exit(st->base) || event_base_got_break(st->base)) {
        stream_free(st); /* the connection (and with it the request) is gone */
        return;
    }
    if (err != BW_OK) {
        finish(st, BW_R_STORE_UNAVAILABLE); /* the pool did not take the slice in time */
        return;
    }
    if (st->slice_err != BW_OK) {
        /* Never skip a leaf: the trailer says where the export stopped, and why. */
        bw_error("audit export: leaf %llu: %s", (unsigned long long)st->next,
                 bw_err_str(st->slice_err));
        finish(st, st->store_failed ? BW_R_STORE_UNAVAILABLE : BW_R_LEDGER_UNAVAILABLE);
        return;
    }
    if (st->next >= st->end || st->lines >= st->limit || atomic_load(&st->gw->stopping)) {
        finish(st, NULL);
        return;
    }
    if (evbuffer_get_length(st->chunk) > 0)
        evhttp_send_reply_chunk_with_cb(st->req, st->chunk, on_chunk_sent, st);
    else
        event_active(st->step_ev, EV_TIMEOUT, 0);
}

/* On the worker: the next slice goes to a store thread. */
static void step(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct audit_stream *st = arg;
    if (bw_jobs_submit_bulk(st->gw->jobs, st->base, bw_jobs_deadline(SLICE_QUEUE_MS), slice_run,
                            slice_done, st) != BW_OK) {
        finish(st, BW_R_STORE_UNAVAILABLE);
        return;
    }
    st->slicing = 1;
}

static void on_chunk_sent(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    struct audit_stream *st = arg;
    event_active(st->step_ev, EV_TIMEOUT, 0);
}

/* The connection is going away: the client left, a write failed or timed out (libevent has
 * detached our unfinished request from the connection: we own it and free it), or the server is
 * shutting down (the request is still on the connection, which frees it right after this). Either
 * way on_chunk_sent will not run again, so the export is freed here, at once: a cleanup deferred
 * to the loop would never run on a worker that is stopping. */
static void on_close(struct evhttp_connection *evcon, void *arg) {
    struct audit_stream *st = arg;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (!evhttp_request_get_connection(st->req))
        evhttp_send_reply_end(st->req); /* detached: this frees it */
    if (st->slicing) {
        st->gone = 1; /* its job may be running: slice_done frees it */
        return;
    }
    stream_free(st);
}

/* The caller's scope: its own org, or (operator) ?org_id= or every org. 0 after replying 403. */
static int scope_of(struct evhttp_request *req, const struct bw_key_record *caller,
                    const struct audit_query *q, char org[BW_ID_SIZE]) {
    if (caller->org_id[0]) {
        if (q->org_id[0] && strcmp(q->org_id, caller->org_id) != 0) {
            bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                                "an org key exports its own org only", NULL, NULL);
            return 0;
        }
        snprintf(org, BW_ID_SIZE, "%s", caller->org_id);
        return 1;
    }
    snprintf(org, BW_ID_SIZE, "%s", q->org_id);
    return 1;
}

/* A new export for a slot the caller took in active_exports (given back by stream_free, or here
 * if out of memory: NULL). */
static struct audit_stream *stream_new(struct bw_api_ctx const *ctx, struct evhttp_request *req) {
    struct audit_stream *st = calloc(1, sizeof *st);
    if (!st) {
        atomic_fetch_sub(&active_exports, 1);
        return NULL;
    }
    st->req = req;
    st->gw = ctx->gw;
    bw_buf_init(&st->line, LINE_MAX_BYTES);
    st->chunk = evbuffer_new();
    if (!st->chunk) {
        stream_free(st);
        return NULL;
    }
    return st;
}

/* The checkpoint the export is read against, and the start leaf. 0 after replying. */
static int snapshot(struct audit_stream *st, const struct audit_query *q) {
    struct bw_ledger *l = st->gw->ledger;
    uint64_t size = 0;
    if (bw_hex_encode(bw_ledger_key_id(l), 4, st->key_hex, sizeof st->key_hex) != BW_OK ||
        bw_ledger_checkpoint(l, st->note, sizeof st->note, &size) != BW_OK ||
        !note_root(st->note, st->root_b64)) {
        bw_http_reply_error(st->req, 503, BW_R_LEDGER_UNAVAILABLE, "the ledger is unavailable",
                            NULL, NULL);
        return 0;
    }
    st->end = size;
    st->next = 0;
    if (q->has_cursor &&
        (bw_audit_cursor_parse(q->cursor, st->key_hex, &st->next) != BW_OK || st->next > size)) {
        bad_request(st->req, "cursor: malformed, of another log, or past the log's end");
        return 0;
    }
    st->ref = (struct bw_audit_proof_ref){st->key_hex, size, st->root_b64};
    return 1;
}

/* On the worker, with the client's request (its headers were copied from the job's). */
static void start_stream(struct evhttp_request *req, struct event_base *base, void *arg) {
    struct audit_stream *st = arg;
    st->req = req;
    st->base = base;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    st->step_ev = evcon ? event_new(base, -1, 0, step, st) : NULL;
    if (!st->step_ev) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "cannot start the export", NULL, NULL);
        stream_free(st);
        return;
    }
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(evcon, on_close, st);
    event_active(st->step_ev, EV_TIMEOUT, 0);
}

static void get_export(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                       const struct bw_key_record *caller) {
    (void)rest;
    struct audit_query q;
    const char *why = NULL;
    if (!parse_query(req, &q, &why)) {
        bad_request(req, why);
        return;
    }
    char org[BW_ID_SIZE];
    if (!scope_of(req, caller, &q, org))
        return;
    if (atomic_load(&ctx->gw->stopping)) {
        bw_http_reply_error(req, 503, BW_R_SHUTTING_DOWN, "gateway is shutting down", NULL, NULL);
        return;
    }
    if (atomic_fetch_add(&active_exports, 1) >= MAX_EXPORTS) {
        atomic_fetch_sub(&active_exports, 1);
        bw_http_reply_error(req, 503, BW_R_EXPORTS_BUSY,
                            "too many audit exports in flight; retry shortly", NULL, NULL);
        return;
    }
    struct audit_stream *st = stream_new(ctx, req);
    if (!st) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    if (!snapshot(st, &q)) {
        stream_free(st);
        return;
    }
    snprintf(st->org_id, sizeof st->org_id, "%s", org);
    st->filter = (struct bw_audit_filter){st->org_id, q.from_ms, q.to_ms};
    st->limit = q.limit;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/x-ndjson");
    evhttp_add_header(h, "Cache-Control", "no-store");
    bw_api_on_worker(start_stream, st); /* the job ends; the worker streams */
}

const struct bw_api_route bw_api_routes_audit[] = {
    {EVHTTP_REQ_GET, "/api/v1/audit/export", BW_API_ADMIN | BW_ROLE_OPERATOR, get_export},
    {0, NULL, BW_API_PUBLIC, NULL},
};
