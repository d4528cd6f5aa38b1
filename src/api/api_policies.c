/* api_policies.c: an org's own policy (docs/POLICY.md "Org policies").
 *
 *   GET    /api/v1/policies   admin: the platform policy's hash and rule count, and the org's
 *                             own policy (text, hash, who and when) if it has one
 *   PUT    /api/v1/policies   admin: body = the policy YAML (rules only). Compiled first: a
 *                             policy that fails to parse or validate never replaces the running
 *                             one (400 with line and why). Then the admin receipt (its subject
 *                             digest is the SHA-256 of the exact policy bytes), then the store;
 *                             this process applies it at once, other replicas within a second.
 *   DELETE /api/v1/policies   admin: back to the platform's rules
 *
 * The platform's `global` layer always runs first, so an org can tighten but never loosen it;
 * an org policy with a `global` section is refused. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "policy/engine.h"
#include "policy/org_policies.h"
#include "reason/reasons.h"
#include "store/org_policy.h"
#include "util/codec.h"
#include "util/time.h"

static json_t *hex_of(const uint8_t h[32]) {
    char hex[65];
    return bw_hex_encode(h, 32, hex, sizeof hex) == BW_OK ? json_string(hex) : json_null();
}

static void get(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                const struct bw_key_record *caller) {
    (void)rest;
    struct bw_policy *platform = bw_gateway_policy_acquire(ctx->gw);
    json_t *plat = platform ? json_pack("{s:o, s:I}", "sha256", hex_of(bw_policy_sha256(platform)),
                                        "rules", (json_int_t)bw_policy_rule_count(platform))
                            : json_null();
    bw_policy_unref(platform);
    char *text = NULL;
    size_t len = 0;
    struct bw_org_policy_meta m;
    bw_err e = bw_store_org_policy_get(ctx->store, caller->org_id, &text, &len, &m);
    if (e != BW_OK && e != BW_E_NOT_FOUND) {
        json_decref(plat);
        bw_api_reply_store_error(req, e, "policy");
        return;
    }
    json_t *org = e == BW_OK ? json_pack("{s:o, s:s%, s:I, s:s}", "sha256", hex_of(m.sha256),
                                         "text", text, len, "updated_ms", (json_int_t)m.updated_ms,
                                         "updated_by", m.updated_by)
                             : json_null();
    free(text);
    bw_api_reply(req, 200, json_pack("{s:o, s:o}", "platform", plat, "org", org));
}

/* ---- put and delete: receipt first ---- */

struct change {
    struct evhttp_request *req;
    struct bw_store *store;
    struct bw_org_policies *cache;
    char org_id[BW_ID_SIZE];
    char by[BW_ID_SIZE];
    char *text; /* NULL: delete */
    size_t len;
    uint8_t sha256[32];
    size_t rules;
};

static void apply(void *arg, bw_err err, const char *rid) {
    struct change *c = arg;
    bw_err e = err;
    if (err == BW_OK)
        e = c->text ? bw_store_org_policy_put(c->store, c->org_id, c->text, c->len, c->sha256,
                                              bw_now_ms(), c->by)
                    : bw_store_org_policy_delete(c->store, c->org_id);
    if (err != BW_OK) {
        bw_api_reply_ledger_error(c->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(c->req, e, "policy");
    } else {
        if (c->cache)
            bw_org_policies_invalidate(c->cache, c->org_id);
        bw_http_add_receipt_headers(c->req, rid, NULL);
        json_t *o = c->text ? json_pack("{s:o, s:I, s:s}", "sha256", hex_of(c->sha256), "rules",
                                        (json_int_t)c->rules, "receipt_id", rid)
                            : json_pack("{s:b, s:s}", "deleted", 1, "receipt_id", rid);
        bw_api_reply(c->req, 200, o);
    }
    free(c->text);
    free(c);
}

static struct change *change_new(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                                 const struct bw_key_record *caller) {
    struct change *c = calloc(1, sizeof *c);
    if (!c) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return NULL;
    }
    c->req = req;
    c->store = ctx->store;
    c->cache = ctx->gw->org_policies;
    snprintf(c->org_id, sizeof c->org_id, "%s", caller->org_id);
    snprintf(c->by, sizeof c->by, "%s", caller->id);
    return c;
}

/* Copies and compiles the body. 0 after replying. */
static int read_policy(const struct bw_api_ctx *ctx, struct evhttp_request *req, struct change *c) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > BW_POLICY_MAX_BYTES || len > ctx->gw->cfg->max_body_bytes) {
        bw_http_reply_error(req, 413, BW_R_BODY_TOO_LARGE, "policy over its size limit", NULL,
                            NULL);
        return 0;
    }
    c->text = malloc(len + 1);
    if (!c->text || evbuffer_copyout(in, c->text, len) != (ev_ssize_t)len) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return 0;
    }
    c->text[len] = 0;
    c->len = len;
    char err[300], msg[400];
    struct bw_policy *p = NULL;
    if (len == 0 || strlen(c->text) != len) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "the body must be the policy YAML (no NUL bytes)", NULL, NULL);
        return 0;
    }
    if (bw_policy_parse(c->text, len, "policy", &p, err, sizeof err) != BW_OK) {
        snprintf(msg, sizeof msg, "the policy was not applied: %s", err);
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
        return 0;
    }
    size_t global = bw_policy_global_count(p);
    c->rules = bw_policy_rule_count(p);
    memcpy(c->sha256, bw_policy_sha256(p), 32);
    /* What composing with the platform would refuse (a platform rule id reused) is refused
     * here, before anything is recorded. */
    struct bw_policy *platform = bw_gateway_policy_acquire(ctx->gw);
    bw_err ce = global ? BW_OK : bw_policy_compose_check(platform, p, err, sizeof err);
    bw_policy_unref(platform);
    bw_policy_unref(p);
    if (global) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "an org policy has rules only: the global layer is the platform's",
                            NULL, NULL);
        return 0;
    }
    if (ce != BW_OK) {
        snprintf(msg, sizeof msg, "the policy was not applied: %s", err);
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
        return 0;
    }
    return 1;
}

static void put(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                const struct bw_key_record *caller) {
    (void)rest;
    struct change *c = change_new(ctx, req, caller);
    if (!c)
        return;
    if (!read_policy(ctx, req, c)) {
        free(c->text);
        free(c);
        return;
    }
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, "policy.put", "org-policy", BW_R_ADMIN_CHANGE,
                         c->text, c->len);
    bw_api_record(ctx, &r, apply, c);
}

static void delete (const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    (void)rest;
    struct bw_org_policy_meta m;
    bw_err e = bw_store_org_policy_meta(ctx->store, caller->org_id, &m);
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "policy");
        return;
    }
    struct change *c = change_new(ctx, req, caller);
    if (!c)
        return;
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, "policy.delete", "org-policy",
                         BW_R_ADMIN_CHANGE, NULL, 0);
    bw_api_record(ctx, &r, apply, c);
}

const struct bw_api_route bw_api_routes_policies[] = {
    {EVHTTP_REQ_GET, "/api/v1/policies", BW_API_ADMIN, get},
    {EVHTTP_REQ_PUT, "/api/v1/policies", BW_API_ADMIN, put},
    {EVHTTP_REQ_DELETE, "/api/v1/policies", BW_API_ADMIN, delete},
    {0, NULL, BW_API_PUBLIC, NULL},
};
