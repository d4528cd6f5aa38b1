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
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "policy/reasons.h"
#include "proxy/proxy.h"
#include "util/codec.h"
#include "util/json.h"
#include "util/time.h"

void *bw_api_body_object(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    const struct bw_config *cfg = ctx->gw->cfg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > cfg->max_body_bytes) {
        bw_http_reply_error(req, 413, BW_R_BODY_TOO_LARGE, "request body over max_body_bytes",
                            NULL, NULL);
        return NULL;
    }
    if (len == 0)
        return json_object();
    const char *body = (const char *)evbuffer_pullup(in, -1);
    json_t *root = NULL;
    char why[128];
    bw_err e = body ? bw_json_parse(body, len, cfg->max_json_depth, &root, why, sizeof why)
                    : BW_E_NOMEM;
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
    bw_ledger_append(ctx->gw->ledger, r, ctx->base, on_durable, p);
}
