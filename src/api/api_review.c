/* api_review.c: the review queue's API (docs/API.md "Reviews"; src/review/review.h) and the
 * signoff readiness check.
 *
 *   GET  /api/v1/reviews[?status=S]        the org's items, newest first (reviewer roles)
 *   GET  /api/v1/reviews/{id}              one item with its votes
 *   POST /api/v1/reviews/{id}/approve|deny {"comment": "..."}
 *   GET  /api/v1/signoff/readiness         any key of an org, or the operator (?org_id=)
 *
 * Another org's review id answers 404 like an unknown one (the store is tenant-scoped). A vote
 * is checked (role, four eyes, pending, unexpired, not yet voted), then its `review` receipt is
 * made durable, then the store applies it with a conditional UPDATE (bw_api_record: receipt
 * first, then the change). An expiry noticed on read is persisted the same way. */
#include "api/api.h"

#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/outbox.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "policy/engine.h"
#include "policy/org_policies.h"
#include "reason/reasons.h"
#include "review/review.h"
#include "store/identity.h"
#include "store/review_store.h"
#include "store/sql.h"
#include "util/codec.h"
#include "util/log.h"
#include "util/time.h"

#define LIST_LIMIT 200
#define QUEUE_BOUND 1000 /* more pending items than this: signoff is not keeping up */
#define MAX_ROLES 32

static json_t *item_json(const struct bw_review_item *it, int64_t now_ms) {
    char hex[65];
    if (bw_hex_encode(it->request_sha256, 32, hex, sizeof hex) != BW_OK)
        return NULL;
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "id",
                  it->id, "status", bw_review_status_name(bw_review_status_at(it, now_ms)), "agent",
                  it->agent, "requester_key_id", it->requester_key, "route", it->route, "model",
                  it->model, "rule", it->rule, "reviewer_role", it->reviewer_role, "request_sha256",
                  hex, "quorum", (json_int_t)it->quorum, "approvals", (json_int_t)it->approvals,
                  "created_ms", (json_int_t)it->created_ms, "expires_ms",
                  (json_int_t)it->expires_ms, "decision_receipt_id", it->decision_receipt);
    if (o && it->decided_ms)
        json_object_set_new(o, "decided_ms", json_integer(it->decided_ms));
    if (o && it->used_ms)
        json_object_set_new(o, "used_ms", json_integer(it->used_ms));
    return o;
}

/* ---- GET /api/v1/reviews ---- */

struct list_acc {
    json_t *items;
    int64_t now;
    int oom;
};

static int list_row(void *arg, const struct bw_review_item *it) {
    struct list_acc *a = arg;
    json_t *o = item_json(it, a->now);
    if (!o || json_array_append_new(a->items, o) != 0)
        a->oom = 1;
    return a->oom;
}

static void list_reviews(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                         const struct bw_key_record *caller) {
    (void)rest;
    char status[16];
    int has_status = bw_api_query(req, "status", status, sizeof status);
    enum bw_review_status st = BW_REVIEW_PENDING;
    if (has_status && bw_review_status_parse(status, &st) != 0) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "status must be pending, approved, denied, expired or used", NULL,
                            NULL);
        return;
    }
    struct list_acc a = {json_array(), bw_now_ms(), 0};
    if (!a.items) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    bw_err e = bw_store_review_list(ctx->store, caller->org_id, has_status, st, a.now, LIST_LIMIT,
                                    list_row, &a);
    if (e != BW_OK || a.oom) {
        json_decref(a.items);
        bw_api_reply_store_error(req, a.oom ? BW_E_NOMEM : e, "review");
        return;
    }
    bw_api_reply(req, 200, json_pack("{s:o}", "reviews", a.items));
}

/* ---- GET /api/v1/reviews/{id} ---- */

static int vote_row(void *arg, const struct bw_review_vote *v) {
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "key_id", v->key_id, "member_id", v->member_id,
                  "vote", v->approve ? "approve" : "deny", "comment", v->comment, "created_ms",
                  (json_int_t)v->created_ms, "receipt_id", v->receipt_id);
    return !o || json_array_append_new(arg, o) != 0;
}

static void history_add(json_t *h, const char *event, int64_t at_ms, const char *by,
                        const char *receipt_id) {
    json_t *o = json_pack("{s:s, s:I}", "event", event, "at_ms", (json_int_t)at_ms);
    if (o && by && by[0])
        json_object_set_new(o, "by", json_string(by));
    if (o && receipt_id && receipt_id[0])
        json_object_set_new(o, "receipt_id", json_string(receipt_id));
    json_array_append_new(h, o);
}

/* The item's status history for a reader (docs/API.md "Reviews"): created (with the receipt
 * of the decision that held the call), each vote (its receipt), the decision (the receipt of
 * the vote that made it), expiry, use. Each step is also a `review` receipt in the log. */
static json_t *history_json(const struct bw_review_item *it, json_t *votes, int64_t now) {
    json_t *h = json_array();
    if (!h)
        return NULL;
    history_add(h, "created", it->created_ms, it->requester_key, it->decision_receipt);
    size_t i;
    json_t *v;
    const char *last_receipt = NULL;
    json_array_foreach(votes, i, v) {
        const char *member = json_string_value(json_object_get(v, "member_id"));
        last_receipt = json_string_value(json_object_get(v, "receipt_id"));
        history_add(h, json_string_value(json_object_get(v, "vote")),
                    json_integer_value(json_object_get(v, "created_ms")),
                    member && member[0] ? member : json_string_value(json_object_get(v, "key_id")),
                    last_receipt);
    }
    enum bw_review_status st = bw_review_status_at(it, now);
    if (it->decided_ms && (it->status == BW_REVIEW_APPROVED || it->status == BW_REVIEW_USED))
        history_add(h, "approved", it->decided_ms, NULL, last_receipt);
    if (it->decided_ms && it->status == BW_REVIEW_DENIED)
        history_add(h, "denied", it->decided_ms, NULL, last_receipt);
    if (st == BW_REVIEW_EXPIRED)
        history_add(h, "expired", it->expires_ms, NULL, NULL);
    if (it->used_ms)
        history_add(h, "used", it->used_ms, it->requester_key, NULL);
    return h;
}

/* The item's stored detail (detail.h) as JSON, or null when none was stored. NULL: failure. */
static json_t *detail_json(struct bw_store *store, const struct bw_review_item *it) {
    char *text = NULL;
    if (bw_store_review_detail(store, it->org_id, it->id, &text) != BW_OK)
        return NULL;
    json_t *d = text[0] ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : json_null();
    free(text);
    return d;
}

/* The item with its votes, history and detail, status as of now. */
static void reply_item(struct evhttp_request *req, struct bw_store *store,
                       const struct bw_review_item *it, const char *receipt_id) {
    json_t *votes = json_array();
    int64_t now = bw_now_ms();
    json_t *o = item_json(it, now);
    json_t *detail = NULL;
    if (!votes || !o ||
        bw_store_review_votes(store, it->org_id, it->id, vote_row, votes) != BW_OK ||
        json_object_set_new(o, "history", history_json(it, votes, now)) != 0 ||
        json_object_set_new(o, "votes", votes) != 0 || !(detail = detail_json(store, it)) ||
        json_object_set_new(o, "detail", detail) != 0) {
        json_decref(o);
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return;
    }
    if (receipt_id)
        json_object_set_new(o, "receipt_id", json_string(receipt_id));
    bw_api_reply(req, 200, o);
}

/* A change waiting for its receipt; the completion runs on the same worker thread. */
struct pending {
    struct evhttp_request *req;
    struct bw_store *store;
    struct bw_outbox *outbox; /* decided reviews are announced (may be NULL) */
    struct bw_review_item seen;
    struct bw_review_vote vote;
    enum bw_review_status next;
    int expire_only; /* 1: persist an expiry, then answer with the item (GET) or 409 (vote) */
    int for_vote;
    char comment[BW_REVIEW_COMMENT_MAX + 1];
};

static void apply_expiry(void *arg, bw_err err, const char *receipt_id) {
    struct pending *p = arg;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(p->req);
    } else {
        bw_err e = bw_store_review_expire(p->store, p->seen.org_id, p->seen.id, bw_now_ms());
        if (e == BW_OK)
            p->seen.status = BW_REVIEW_EXPIRED;
        if (e != BW_OK && e != BW_E_EXISTS)
            bw_api_reply_store_error(p->req, e, "review");
        else if (p->for_vote)
            bw_http_reply_error(p->req, 409, BW_R_REVIEW_EXPIRED, "the review has expired",
                                receipt_id, NULL);
        else
            reply_item(p->req, p->store, &p->seen, NULL);
    }
    free(p);
}

/* Expiry is noticed on read: record it (receipt first), then persist, then answer. */
static void expire_then_reply(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                              const struct bw_review_item *it, int for_vote) {
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    p->req = req;
    p->store = ctx->store;
    p->outbox = ctx->gw->outbox;
    p->seen = *it;
    p->for_vote = for_vote;
    struct bw_receipt r;
    bw_review_receipt(&r, it, bw_now_ms(), "", "expire", BW_R_REVIEW_EXPIRED, BW_REVIEW_EXPIRED);
    bw_api_record(ctx, &r, apply_expiry, p);
}

static int needs_expiry(const struct bw_review_item *it, int64_t now) {
    return bw_review_status_at(it, now) == BW_REVIEW_EXPIRED && it->status != BW_REVIEW_EXPIRED;
}

static void get_review(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *id,
                       const struct bw_key_record *caller) {
    struct bw_review_item it;
    bw_err e = bw_store_review_get(ctx->store, caller->org_id, id, &it);
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "review");
        return;
    }
    if (needs_expiry(&it, bw_now_ms()))
        expire_then_reply(ctx, req, &it, 0);
    else
        reply_item(req, ctx->store, &it, NULL);
}

/* ---- POST /api/v1/reviews/{id}/approve|deny ---- */

struct voted {
    const char *key_id, *member_id;
    int hit;
};

static int voted_row(void *arg, const struct bw_review_vote *v) {
    struct voted *w = arg;
    if (strcmp(v->key_id, w->key_id) == 0 ||
        (w->member_id[0] && strcmp(v->member_id, w->member_id) == 0))
        w->hit = 1;
    return 0;
}

static void apply_vote(void *arg, bw_err err, const char *receipt_id) {
    struct pending *p = arg;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(p->req);
        free(p);
        return;
    }
    snprintf(p->vote.receipt_id, sizeof p->vote.receipt_id, "%s", receipt_id);
    p->vote.comment = p->comment;
    bw_err e = bw_store_review_vote(p->store, &p->vote, &p->seen, p->next);
    struct bw_review_item now;
    if (e == BW_OK && bw_store_review_get(p->store, p->seen.org_id, p->seen.id, &now) == BW_OK) {
        if (now.status != BW_REVIEW_PENDING &&
            bw_outbox_emit_review(p->outbox, p->store, now.org_id, now.id,
                                  bw_review_status_name(now.status), now.agent) != BW_OK)
            bw_warn("api: review %s decided but its notification was not queued", now.id);
        reply_item(p->req, p->store, &now, receipt_id);
    } else if (e == BW_OK) {
        bw_http_reply_error(p->req, 503, BW_R_STORE_UNAVAILABLE,
                            "the vote was recorded but the review could not be read back",
                            receipt_id, NULL);
    } else if (e == BW_E_EXISTS) {
        /* Another vote or use changed the item after it was read (or this key voted in
         * parallel): nothing was written; the receipt records an attempt that did not land. */
        bw_http_reply_error(p->req, 409, BW_R_REVIEW_NOT_PENDING,
                            "the review changed meanwhile: nothing was recorded; read it again",
                            receipt_id, NULL);
    } else {
        bw_http_reply_error(p->req, 503, BW_R_STORE_UNAVAILABLE,
                            "the store is unavailable: nothing was recorded", receipt_id, NULL);
    }
    free(p);
}

/* The comment: required, a string of 1..BW_REVIEW_COMMENT_MAX bytes (jansson has checked it
 * is UTF-8), no control characters; no other member. NULL if fine, else why. */
static const char *comment_problem(json_t *body, const char **out) {
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "comment") != 0)
            return "unknown member (only \"comment\" is accepted)";
    }
    v = json_object_get(body, "comment");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return "\"comment\" is required: a non-empty string";
    size_t n = json_string_length(v);
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    if (n > BW_REVIEW_COMMENT_MAX || strlen((const char *)s) != n)
        return "\"comment\" is over 1000 bytes or holds a NUL";
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 && s[i] != '\n' && s[i] != '\t')
            return "\"comment\" holds a control character";
    *out = (const char *)s;
    return NULL;
}

static const char *vote_refusal_message(const char *why) {
    if (strcmp(why, BW_R_REVIEW_SELF_APPROVAL) == 0)
        return "four eyes: the requester of a call cannot approve it";
    if (strcmp(why, BW_R_REVIEW_ROLE_MISMATCH) == 0)
        return "this key's role may not review items for this reviewer role";
    if (strcmp(why, BW_R_REVIEW_EXPIRED) == 0)
        return "the review has expired";
    if (strcmp(why, BW_R_REVIEW_ALREADY_VOTED) == 0)
        return "this key (or its member) has already voted on this review";
    return "the review is no longer pending";
}

static void vote_review(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *id,
                        int approve, const struct bw_key_record *caller) {
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return; /* replied */
    const char *comment = NULL;
    const char *problem = comment_problem(body, &comment);
    if (problem) {
        json_decref(body);
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, problem, NULL, NULL);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(body);
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    snprintf(p->comment, sizeof p->comment, "%s", comment);
    json_decref(body);
    p->req = req;
    p->store = ctx->store;
    p->outbox = ctx->gw->outbox;
    bw_err e = bw_store_review_get(ctx->store, caller->org_id, id, &p->seen);
    if (e != BW_OK) {
        free(p);
        bw_api_reply_store_error(req, e, "review");
        return;
    }
    int64_t now = bw_now_ms();
    struct bw_review_voter voter = {caller->id, caller->member_id, caller->role};
    int status = 0;
    const char *why = bw_review_check_vote(&p->seen, &voter, approve, now, &status);
    if (why && strcmp(why, BW_R_REVIEW_EXPIRED) == 0 && needs_expiry(&p->seen, now)) {
        expire_then_reply(ctx, req, &p->seen, 1);
        free(p);
        return;
    }
    struct voted w = {caller->id, caller->member_id, 0};
    if (!why && bw_store_review_votes(ctx->store, caller->org_id, id, voted_row, &w) != BW_OK) {
        free(p);
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return;
    }
    if (!why && w.hit) {
        why = BW_R_REVIEW_ALREADY_VOTED;
        status = 409;
    }
    if (why) {
        free(p);
        bw_http_reply_error(req, status, why, vote_refusal_message(why), NULL, NULL);
        return;
    }
    p->next = approve ? bw_review_after_approval(&p->seen) : BW_REVIEW_DENIED;
    snprintf(p->vote.org_id, sizeof p->vote.org_id, "%s", caller->org_id);
    snprintf(p->vote.review_id, sizeof p->vote.review_id, "%s", p->seen.id);
    snprintf(p->vote.key_id, sizeof p->vote.key_id, "%s", caller->id);
    snprintf(p->vote.member_id, sizeof p->vote.member_id, "%s", caller->member_id);
    p->vote.approve = approve;
    p->vote.created_ms = now;
    struct bw_receipt r;
    bw_review_receipt(&r, &p->seen, now, caller->id, approve ? "approve" : "deny",
                      approve ? BW_R_REVIEW_APPROVED : BW_R_REVIEW_DENIED, p->next);
    bw_api_record(ctx, &r, apply_vote, p);
}

static void review_get(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                       const struct bw_key_record *caller) {
    char id[BW_ID_SIZE], action[32];
    if (!bw_api_split_rest(rest, id, action) || action[0] || strchr(rest, '/')) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    get_review(ctx, req, id, caller);
}

static void review_post(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                        const struct bw_key_record *caller) {
    char id[BW_ID_SIZE], action[32];
    int approve = -1;
    if (bw_api_split_rest(rest, id, action))
        approve = strcmp(action, "approve") == 0 ? 1 : strcmp(action, "deny") == 0 ? 0 : -1;
    if (approve < 0) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    vote_review(ctx, req, id, approve, caller);
}

/* ---- GET /api/v1/signoff/readiness ---- */

struct role_need {
    char role[BW_REVIEW_ROLE_SIZE];
    uint32_t quorum; /* the largest quorum a rule asks of this role */
};

struct roles {
    struct role_need r[MAX_ROLES];
    size_t n;
    int overflow;
};

static void add_role(void *arg, const char *role, uint32_t quorum) {
    struct roles *rs = arg;
    for (size_t i = 0; i < rs->n; i++) {
        if (strcmp(rs->r[i].role, role) == 0) {
            if (quorum > rs->r[i].quorum)
                rs->r[i].quorum = quorum;
            return;
        }
    }
    if (rs->n == MAX_ROLES) {
        rs->overflow = 1;
        return;
    }
    snprintf(rs->r[rs->n].role, sizeof rs->r[rs->n].role, "%s", role);
    rs->r[rs->n++].quorum = quorum;
}

static void readiness(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                      const struct bw_key_record *caller) {
    (void)rest;
    char org[BW_ID_SIZE];
    snprintf(org, sizeof org, "%s", caller->org_id);
    unsigned detail = bw_api_role_bit(caller->role) & (BW_API_ADMIN | BW_API_OPERATOR);
    if (!org[0] && !bw_api_query(req, "org_id", org, sizeof org)) { /* the operator names it */
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, "org_id is required", NULL, NULL);
        return;
    }
    struct roles rs = {.n = 0};
    int64_t now = bw_now_ms(), pending = 0, oldest = 0;
    /* The roles the org's calls can ask for: the policy in force for it (the platform's
     * composed with the org's own, as the gateway decides its calls). */
    struct bw_policy *platform = bw_gateway_policy_acquire(ctx->gw), *pol = platform;
    bw_err e = BW_OK;
    if (ctx->gw->org_policies && bw_sql_id_ok(org)) {
        e = bw_org_policies_acquire(ctx->gw->org_policies, ctx->store, org, platform, now, &pol);
        bw_policy_unref(platform);
        if (e != BW_OK)
            pol = NULL;
    }
    if (pol)
        bw_policy_each_approval(pol, add_role, &rs);
    bw_policy_unref(pol);
    if (e == BW_OK)
        e = bw_store_review_pending_stats(ctx->store, org, now, &pending, &oldest);
    json_t *roles = json_array();
    int covered = !rs.overflow;
    for (size_t i = 0; e == BW_OK && i < rs.n; i++) {
        /* people, not keys: distinct principals holding a live key able to review */
        int64_t people = 0;
        e = bw_store_review_reviewers(ctx->store, org, rs.r[i].role, now, &people);
        int ok = people >= (int64_t)rs.r[i].quorum;
        covered &= ok;
        json_array_append_new(roles,
                              json_pack("{s:s, s:I, s:I, s:I, s:b}", "role", rs.r[i].role, "quorum",
                                        (json_int_t)rs.r[i].quorum, "people", (json_int_t)people,
                                        "keys", (json_int_t)people, "covered", ok));
    }
    if (e != BW_OK) {
        json_decref(roles);
        bw_api_reply_store_error(req, e, "org");
        return;
    }
    int64_t age_s = oldest ? (now - oldest) / 1000 : 0;
    json_t *o = json_pack("{s:b, s:I, s:I, s:b, s:b}", "ready", covered && pending <= QUEUE_BOUND,
                          "pending", (json_int_t)pending, "oldest_pending_age_s",
                          (json_int_t)(age_s < 0 ? 0 : age_s), "reviewers_available", covered,
                          "queue_within_bound", pending <= QUEUE_BOUND);
    if (o && detail) {
        json_object_set_new(o, "queue_bound", json_integer(QUEUE_BOUND));
        json_object_set(o, "roles", roles);
    }
    json_decref(roles);
    bw_api_reply(req, 200, o);
}

const struct bw_api_route bw_api_routes_review[] = {
    {EVHTTP_REQ_GET, "/api/v1/reviews", BW_API_REVIEW, list_reviews},
    {EVHTTP_REQ_GET, "/api/v1/reviews/", BW_API_REVIEW, review_get},
    {EVHTTP_REQ_POST, "/api/v1/reviews/", BW_API_REVIEW, review_post},
    {EVHTTP_REQ_GET, "/api/v1/signoff/readiness", BW_API_ANY_KEY | BW_API_OPERATOR, readiness},
    {0, NULL, 0, NULL},
};
