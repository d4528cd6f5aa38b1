/* api_record.c: what every management handler shares: bounded JSON bodies, and "receipt first,
 * then the change" for admin and review actions (api.h, bw_api_record).
 *
 * Order, and why: the receipt is made durable before the store is written, so no change exists
 * without evidence. If the store then fails, the receipt records a decision whose effect did not
 * land (the reply says so, 503, with the receipt id); the caller's retry records a second
 * receipt. Holding a SQLite write transaction across the asynchronous ledger wait would block
 * every other writer for a whole group commit, so it is not done. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "store/sql.h"
#include "util/codec.h"
#include "util/json.h"
#include "util/time.h"

void *bw_api_body_object(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    const struct bw_config *cfg = ctx->gw->cfg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > cfg->max_body_bytes) {
        bw_http_reply_error(req, 413, BW_R_BODY_TOO_LARGE, "request body over max_body_bytes", NULL,
                            NULL);
        return NULL;
    }
    if (len == 0)
        return json_object();
    const char *body = (const char *)evbuffer_pullup(in, -1);
    json_t *root = NULL;
    char why[128];
    bw_err e =
        body ? bw_json_parse(body, len, cfg->max_json_depth, &root, why, sizeof why) : BW_E_NOMEM;
    if (e == BW_E_TOO_LARGE) {
        bw_http_reply_error(req, 400, BW_R_JSON_TOO_DEEP, "JSON nested too deeply", NULL, NULL);
        return NULL;
    }
    if (e != BW_OK) {
        bw_http_reply_error(req, 400, BW_R_INVALID_JSON,
                            "the body must be one JSON object (no duplicate keys)", NULL, NULL);
        return NULL;
    }
    return root;
}

void bw_api_reply_list(struct evhttp_request *req, bw_err e, void *data, const char *what) {
    if (e == BW_OK && !data)
        e = BW_E_NOMEM;
    if (e != BW_OK) {
        json_decref(data);
        bw_api_reply_store_error(req, e, what);
        return;
    }
    bw_api_reply(req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void bw_api_admin_receipt(struct bw_receipt *r, const struct bw_key_record *caller,
                          const char *org_id, const char *action, const char *target,
                          const char *reason, const void *body, size_t body_len) {
    bw_receipt_init(r, BW_RECEIPT_ADMIN);
    r->time_ms = bw_now_ms();
    snprintf(r->org_id, sizeof r->org_id, "%s", org_id);
    snprintf(r->principal, sizeof r->principal, "%s", caller ? caller->id : "cli");
    snprintf(r->route, sizeof r->route, "%s", action);
    snprintf(r->decision, sizeof r->decision, "apply");
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    snprintf(r->rule, sizeof r->rule, "%s", target);
    if (body && body_len) {
        bw_sha256(body, body_len, r->request_sha256);
    } else {
        char text[160];
        int n = snprintf(text, sizeof text, "%s %s", action, target);
        bw_sha256(text, (size_t)(n < 0 ? 0 : n), r->request_sha256);
    }
}

void bw_api_reply_ledger_error(struct evhttp_request *req) {
    bw_http_reply_error(req, 503, BW_R_LEDGER_UNAVAILABLE,
                        "the receipt could not be made durable: nothing was changed", NULL, NULL);
}

struct pending {
    struct bw_gateway *gw;
    bw_api_apply_fn apply;
    void *arg;
};

static void on_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)leaf;
    struct pending *p = arg;
    if (err != BW_OK) {
        p->apply(p->arg, err, NULL);
    } else {
        char rid[32];
        bw_ledger_receipt_id(p->gw->ledger, index, rid);
        p->apply(p->arg, BW_OK, rid);
    }
    atomic_fetch_sub(&p->gw->inflight, 1);
    free(p);
}

void bw_api_record(const struct bw_api_ctx *ctx, const struct bw_receipt *r, bw_api_apply_fn apply,
                   void *arg) {
    struct pending *p = malloc(sizeof *p);
    if (!p) {
        apply(arg, BW_E_NOMEM, NULL);
        return;
    }
    p->gw = ctx->gw;
    p->apply = apply;
    p->arg = arg;
    /* counted in flight so a graceful shutdown waits for the change to land */
    atomic_fetch_add(&ctx->gw->inflight, 1);
    bw_api_ledger_append(ctx, r, on_durable, p);
}

/* ---- request fields ---- */

static int bad_field(struct evhttp_request *req, const char *name, const char *why) {
    char msg[128];
    snprintf(msg, sizeof msg, "field '%.32s' %s", name, why);
    bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
    return -1;
}

int bw_api_text(struct evhttp_request *req, const void *body, const char *name, size_t max_len,
                int required, char *out, size_t size) {
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return required ? bad_field(req, name, "is required") : 0;
    if (!json_is_string(v))
        return bad_field(req, name, "must be a string");
    const char *t = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > max_len || n >= size)
        return bad_field(req, name, "is too long");
    if (required && n == 0)
        return bad_field(req, name, "must not be empty");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == 0x7f) /* also NUL: jansson allows \u0000 inside strings */
            return bad_field(req, name, "must not contain control characters");
    }
    memcpy(out, t, n + 1);
    return 1;
}

int bw_api_int(struct evhttp_request *req, const void *body, const char *name, int64_t min,
               int64_t max, int64_t *out) {
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return bad_field(req, name, "must be an integer");
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return bad_field(req, name, "is out of range");
    *out = (int64_t)n;
    return 1;
}

int bw_api_split_rest(const char *rest, char id[BW_ID_SIZE], char action[32]) {
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n == 0 || n >= BW_ID_SIZE)
        return 0;
    memcpy(id, rest, n);
    id[n] = 0;
    if (!bw_sql_id_ok(id))
        return 0;
    const char *a = slash ? slash + 1 : "";
    if (strlen(a) >= 32 || strchr(a, '/'))
        return 0;
    snprintf(action, 32, "%s", a);
    return 1;
}

int bw_api_query(struct evhttp_request *req, const char *name, char *out, size_t size) {
    out[0] = 0;
    const char *q = bw_api_query_string(req);
    struct evkeyvalq params;
    if (!q || evhttp_parse_query_str(q, &params) != 0)
        return 0;
    const char *v = evhttp_find_header(&params, name);
    if (v)
        snprintf(out, size, "%s", v);
    evhttp_clear_headers(&params);
    return v != NULL;
}
