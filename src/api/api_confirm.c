/* api_confirm.c: destructive actions are read first (api.h, bw_api_confirm_*).
 *
 * A dry run computes the plan (what would change: ids and counts, never secrets), stores the
 * SHA-256 of its canonical JSON with the SHA-256 of a fresh random confirm token, and returns
 * both the plan and the token. The confirm call presents the token; it is taken exactly once
 * (a conditional UPDATE) and accepted only if it was issued in this org for this action and
 * target, has not expired, and the plan computed now hashes to the stored one: if anything
 * changed in between, the caller must look again. */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/reply.h"
#include "policy/reasons.h"
#include "store/identity.h"
#include "util/codec.h"
#include "util/time.h"

#define CONFIRM_TTL_MS (10 * 60 * 1000)
#define TOKEN_PREFIX "bwc_"
#define TOKEN_SIZE BW_TOKEN_SIZE

static int query_dry_run(struct evhttp_request *req) {
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq params;
    if (!q || evhttp_parse_query_str(q, &params) != 0)
        return 0;
    const char *v = evhttp_find_header(&params, "dry_run");
    int yes = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
    evhttp_clear_headers(&params);
    return yes;
}

enum bw_confirm_step bw_api_confirm_step(struct evhttp_request *req, const void *body,
                                         const char **token) {
    const json_t *o = body;
    json_t *dry = o ? json_object_get(o, "dry_run") : NULL;
    if (query_dry_run(req) || json_is_true(dry))
        return BW_CONFIRM_DRY_RUN;
    const char *t = o ? json_string_value(json_object_get(o, "confirm_token")) : NULL;
    if (t) {
        *token = t;
        return BW_CONFIRM_GO;
    }
    return BW_CONFIRM_MISSING;
}

void bw_api_confirm_required(struct evhttp_request *req) {
    bw_http_reply_error(req, 428, BW_R_CONFIRM_REQUIRED,
                        "destructive action: call it with dry_run first, then confirm with the "
                        "confirm_token it returns",
                        NULL, NULL);
}

static void plan_hash(const json_t *plan, uint8_t out[32]) {
    char *text = json_dumps(plan, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) { /* cannot describe the plan: a hash that no stored plan has */
        randombytes_buf(out, 32);
        return;
    }
    bw_sha256(text, strlen(text), out);
    free(text);
}

void bw_api_confirm_offer(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                          const struct bw_key_record *caller, const char *org_id,
                          const char *action, const char *target, void *plan_json) {
    json_t *plan = plan_json;
    struct bw_plan_record p;
    memset(&p, 0, sizeof p);
    bw_store_new_id("pln", p.id);
    snprintf(p.org_id, sizeof p.org_id, "%s", org_id);
    snprintf(p.action, sizeof p.action, "%s", action);
    snprintf(p.target, sizeof p.target, "%s", target);
    snprintf(p.created_by, sizeof p.created_by, "%s", caller->id);
    p.created_ms = bw_now_ms();
    p.expires_ms = p.created_ms + CONFIRM_TTL_MS;
    plan_hash(plan, p.plan_sha256);
    char token[TOKEN_SIZE];
    bw_err e = bw_token_generate(TOKEN_PREFIX, token, sizeof token);
    bw_sha256(token, strlen(token), p.token_hash);
    if (e == BW_OK)
        e = bw_store_plan_insert(ctx->store, &p);
    if (e != BW_OK) {
        json_decref(plan);
        sodium_memzero(token, sizeof token);
        bw_api_reply_store_error(req, e, "plan");
        return;
    }
    json_t *o = json_pack("{s:b, s:s, s:s, s:o, s:s, s:I}", "dry_run", 1, "action", action,
                          "target", target, "plan", plan, "confirm_token", token, "expires_ms",
                          (json_int_t)p.expires_ms);
    sodium_memzero(token, sizeof token);
    bw_api_reply(req, 200, o);
}

int bw_api_confirm_check(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                         const char *org_id, const char *action, const char *target,
                         const char *token, const void *plan_json) {
    uint8_t th[32], now_hash[32];
    bw_sha256(token, strnlen(token, TOKEN_SIZE), th);
    struct bw_plan_record p;
    bw_err e = strlen(token) < TOKEN_SIZE && strncmp(token, TOKEN_PREFIX, 4) == 0
                   ? bw_store_plan_take(ctx->store, org_id, th, bw_now_ms(), &p)
                   : BW_E_NOT_FOUND;
    if (e != BW_OK && e != BW_E_NOT_FOUND) {
        bw_api_reply_store_error(req, e, "plan");
        return 0;
    }
    plan_hash(plan_json, now_hash);
    if (e == BW_E_NOT_FOUND || strcmp(p.action, action) != 0 || strcmp(p.target, target) != 0 ||
        sodium_memcmp(p.plan_sha256, now_hash, 32) != 0) {
        bw_http_reply_error(req, 409, BW_R_CONFIRM_INVALID,
                            "the confirm token is unknown, used, expired, for another action, or "
                            "the state changed since the dry run: run the dry run again",
                            NULL, NULL);
        return 0;
    }
    return 1;
}
