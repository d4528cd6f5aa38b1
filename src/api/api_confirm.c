/* api_confirm.c: destructive actions are read first (api.h, bw_api_confirm_*).
 *
 * A dry run computes the plan (what would change: ids and counts, never secrets), stores the
 * SHA-256 of its canonical JSON with the SHA-256 of a fresh random confirm token, and returns
 * both the plan and the token. The confirm call presents the token; it is taken exactly once
 * (a conditional UPDATE) and accepted only if it was issued in this org for this action and
 * target, has not expired, and the plan computed now hashes to the stored one: if anything
 * changed in between, the caller must look again.
 *
 * The riskiest actions (an owner deleting the org, purging transcripts) also need a second
 * admin: their dry run opens a review item bound to the plan's hash (reviewer role admin, four
 * eyes: the requester's own key cannot approve it), and the confirm is accepted only once that
 * review is approved; it is then spent with the plan. Such plans live 24 hours. */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "connect/outbox.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "review/review.h"
#include "store/identity.h"
#include "store/review_store.h"
#include "util/codec.h"
#include "util/log.h"
#include "util/time.h"

#define CONFIRM_TTL_MS (10 * 60 * 1000)
#define REVIEWED_TTL_MS (24 * 3600 * 1000)
#define TOKEN_PREFIX "bwc_"
#define TOKEN_SIZE BW_TOKEN_SIZE

static int query_dry_run(struct evhttp_request *req) {
    const char *q = bw_api_query_string(req);
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

int bw_api_confirm_needs_review(const char *action, const struct bw_key_record *caller) {
    return (strcmp(action, "org.delete") == 0 && caller->org_id[0]) ||
           strcmp(action, "transcripts.purge") == 0;
}

static void reply_offer(struct evhttp_request *req, const struct bw_plan_record *p, json_t *plan,
                        const char *token) {
    json_t *o = json_pack("{s:b, s:s, s:s, s:o, s:s, s:I}", "dry_run", 1, "action", p->action,
                          "target", p->target, "plan", plan, "confirm_token", token, "expires_ms",
                          (json_int_t)p->expires_ms);
    if (o && p->review_id[0])
        json_object_set_new(o, "review_id", json_string(p->review_id));
    bw_api_reply(req, 200, o);
}

/* A reviewed dry run waiting for its review receipt. */
struct offer {
    struct evhttp_request *req;
    struct bw_store *store;
    struct bw_outbox *outbox;
    struct bw_plan_record plan;
    struct bw_review_item item;
    json_t *plan_json;
    char token[TOKEN_SIZE];
};

static void offer_apply(void *arg, bw_err err, const char *rid) {
    struct offer *o = arg;
    snprintf(o->item.decision_receipt, sizeof o->item.decision_receipt, "%s", rid ? rid : "");
    bw_err e = err;
    if (err == BW_OK)
        e = bw_store_review_insert(o->store, &o->item);
    if (e == BW_OK)
        e = bw_store_plan_insert(o->store, &o->plan);
    if (err != BW_OK) {
        bw_api_reply_ledger_error(o->req);
        json_decref(o->plan_json);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(o->req, e, "plan");
        json_decref(o->plan_json);
    } else {
        if (bw_outbox_emit_review(o->outbox, o->store, o->item.org_id, o->item.id, "pending", "") !=
            BW_OK)
            bw_warn("api: review %s opened but its notification was not queued", o->item.id);
        bw_http_add_receipt_headers(o->req, rid, NULL);
        reply_offer(o->req, &o->plan, o->plan_json, o->token);
    }
    sodium_memzero(o->token, sizeof o->token);
    free(o);
}

/* The second admin's review of a plan: bound to its hash, reviewer role admin. */
static void plan_review(const struct bw_key_record *caller, const struct bw_plan_record *p,
                        struct bw_review_item *it) {
    memset(it, 0, sizeof *it);
    snprintf(it->id, sizeof it->id, "%s", p->review_id);
    snprintf(it->org_id, sizeof it->org_id, "%s", p->org_id);
    snprintf(it->requester_key, sizeof it->requester_key, "%s", caller->id);
    snprintf(it->requester_member, sizeof it->requester_member, "%s", caller->member_id);
    snprintf(it->route, sizeof it->route, "admin");
    snprintf(it->rule, sizeof it->rule, "%s", p->action);
    snprintf(it->reviewer_role, sizeof it->reviewer_role, "admin");
    memcpy(it->request_sha256, p->plan_sha256, 32);
    it->quorum = 1;
    it->status = BW_REVIEW_PENDING;
    it->created_ms = p->created_ms;
    it->expires_ms = p->expires_ms;
}

static void offer_reviewed(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                           const struct bw_key_record *caller, struct bw_plan_record *p,
                           json_t *plan, const char *token) {
    struct offer *o = calloc(1, sizeof *o);
    if (!o) {
        json_decref(plan);
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    bw_store_new_id("rev", p->review_id);
    o->req = req;
    o->store = ctx->store;
    o->outbox = ctx->gw->outbox;
    o->plan = *p;
    o->plan_json = plan;
    snprintf(o->token, sizeof o->token, "%s", token);
    plan_review(caller, p, &o->item);
    struct bw_receipt r;
    bw_review_receipt(&r, &o->item, p->created_ms, caller->id, "create", BW_R_REVIEW_CREATED,
                      BW_REVIEW_PENDING);
    bw_api_record(ctx, &r, offer_apply, o);
}

void bw_api_confirm_offer(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                          const struct bw_key_record *caller, const char *org_id,
                          const char *action, const char *target, void *plan_json) {
    json_t *plan = plan_json;
    int reviewed = bw_api_confirm_needs_review(action, caller);
    struct bw_plan_record p;
    memset(&p, 0, sizeof p);
    bw_store_new_id("pln", p.id);
    snprintf(p.org_id, sizeof p.org_id, "%s", org_id);
    snprintf(p.action, sizeof p.action, "%s", action);
    snprintf(p.target, sizeof p.target, "%s", target);
    snprintf(p.created_by, sizeof p.created_by, "%s", caller->id);
    p.created_ms = bw_now_ms();
    p.expires_ms = p.created_ms + (reviewed ? REVIEWED_TTL_MS : CONFIRM_TTL_MS);
    plan_hash(plan, p.plan_sha256);
    char token[TOKEN_SIZE];
    bw_err e = bw_token_generate(TOKEN_PREFIX, token, sizeof token);
    bw_sha256(token, strlen(token), p.token_hash);
    if (e == BW_OK && reviewed) {
        offer_reviewed(ctx, req, caller, &p, plan, token);
        sodium_memzero(token, sizeof token);
        return;
    }
    if (e == BW_OK)
        e = bw_store_plan_insert(ctx->store, &p);
    if (e != BW_OK) {
        json_decref(plan);
        sodium_memzero(token, sizeof token);
        bw_api_reply_store_error(req, e, "plan");
        return;
    }
    reply_offer(req, &p, plan, token);
    sodium_memzero(token, sizeof token);
}

static void confirm_invalid(struct evhttp_request *req) {
    bw_http_reply_error(req, 409, BW_R_CONFIRM_INVALID,
                        "the confirm token is unknown, used, expired, for another action, or the "
                        "state changed since the dry run: run the dry run again",
                        NULL, NULL);
}

/* A plan that needs a second admin: 1 if its review is approved now, else replies 409 with the
 * review's state and returns 0. */
static int review_approved(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                           const struct bw_plan_record *p) {
    struct bw_review_item it;
    if (!bw_api_store_ok(req, bw_store_review_get(ctx->store, p->org_id, p->review_id, &it),
                         "review"))
        return 0;
    enum bw_review_status st = bw_review_status_at(&it, bw_now_ms());
    if (st == BW_REVIEW_APPROVED)
        return 1;
    const char *code = st == BW_REVIEW_PENDING  ? BW_R_APPROVAL_PENDING
                       : st == BW_REVIEW_DENIED ? BW_R_APPROVAL_DENIED
                       : st == BW_REVIEW_USED   ? BW_R_APPROVAL_USED
                                                : BW_R_APPROVAL_EXPIRED;
    bw_http_reply_error_with(req, 409, code,
                             "this action needs a second admin's approval of its review first",
                             NULL, NULL, "review_id", p->review_id);
    return 0;
}

int bw_api_confirm_check(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                         const char *org_id, const char *action, const char *target,
                         const char *token, const void *plan_json) {
    uint8_t th[32], now_hash[32];
    int64_t now = bw_now_ms();
    bw_sha256(token, strnlen(token, TOKEN_SIZE), th);
    struct bw_plan_record p;
    bw_err e = strlen(token) < TOKEN_SIZE && strncmp(token, TOKEN_PREFIX, 4) == 0
                   ? bw_store_plan_peek(ctx->store, org_id, th, now, &p)
                   : BW_E_NOT_FOUND;
    if (e != BW_OK && e != BW_E_NOT_FOUND) {
        bw_api_reply_store_error(req, e, "plan");
        return 0;
    }
    plan_hash(plan_json, now_hash);
    if (e == BW_E_NOT_FOUND || strcmp(p.action, action) != 0 || strcmp(p.target, target) != 0 ||
        sodium_memcmp(p.plan_sha256, now_hash, 32) != 0) {
        confirm_invalid(req);
        return 0;
    }
    if (p.review_id[0] && !review_approved(ctx, req, &p))
        return 0; /* the token stays valid: the caller confirms again once approved */
    /* Taken once (a concurrent confirm loses here), then the approval is spent with it. */
    if ((e = bw_store_plan_take(ctx->store, org_id, th, now, &p)) != BW_OK) {
        if (e == BW_E_NOT_FOUND)
            confirm_invalid(req);
        else
            bw_api_reply_store_error(req, e, "plan");
        return 0;
    }
    if (p.review_id[0] &&
        bw_store_review_use(ctx->store, org_id, p.review_id, p.plan_sha256, now) != BW_OK) {
        bw_http_reply_error_with(req, 409, BW_R_APPROVAL_USED,
                                 "the approval was spent or changed meanwhile", NULL, NULL,
                                 "review_id", p.review_id);
        return 0;
    }
    return 1;
}
