/* proxy_review.c: step 4's require_approval (DESIGN.md; docs/POLICY.md "require_approval").
 *
 * Without a bulwark-approval header, a require_approval decision is recorded as usual (decision
 * receipt durable first), then a `review` receipt naming the new item (its parent: the decision
 * receipt's leaf hash) is made durable, then the item is stored, then the caller gets 403
 * APPROVAL_REQUIRED with review_id. Every step that fails ends the call with 503 and nothing
 * pending.
 *
 * With the header, the item is read in the caller's org and checked against this exact call
 * (review.h, bw_review_check_use); if it may be spent, a `review` receipt of the use is made
 * durable, then the store spends it with a conditional UPDATE (approved -> used, at most once
 * even across replicas), and only then does the decision become allow (APPROVAL_GRANTED), whose
 * own receipt is made durable before forwarding as for every call. A concurrent use that won
 * the UPDATE turns this call into a deny (APPROVAL_USED): its use receipt then records an
 * attempt whose effect did not land, and the deny receipt that follows says why. */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/outbox.h"
#include "ledger/ledger.h"
#include "reason/reasons.h"
#include "proxy/proxy_internal.h"
#include "review/detail.h"
#include "review/review.h"
#include "store/review_store.h"
#include "util/log.h"
#include "util/time.h"

#define APPROVAL_HEADER "bulwark-approval"

static void deny_with(struct bw_call *c, const char *reason, int status) {
    struct bw_policy_decision *d = &c->decision;
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->http_status = status;
}

/* ---- creation: after the APPROVAL_REQUIRED decision receipt is durable ---- */

static void on_created_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_call *c = arg;
    if (err != BW_OK) {
        bw_error("proxy: review receipt not durable (%s): no review item", bw_err_str(err));
        bw_call_fail(c, 503, BW_R_LEDGER_UNAVAILABLE,
                     "the evidence ledger is unavailable; no review item was created", NULL);
        return;
    }
    /* What the reviewer will see (model, tools and their arguments): with the item, never in
     * a receipt (review/detail.h). Without it (out of memory) the item is not made. */
    char *detail = bw_review_detail_chat(c->body_json, c->model);
    bw_err e = detail ? bw_store_review_insert_detail(c->w->store, c->review, detail) : BW_E_NOMEM;
    free(detail);
    if (e != BW_OK) {
        bw_error("proxy: review item not stored: %s", bw_err_str(e));
        bw_call_fail(c, 503, BW_R_STORE_UNAVAILABLE,
                     "the store is unavailable; no review item was created", NULL);
        return;
    }
    snprintf(c->review_id, sizeof c->review_id, "%s", c->review->id);
    /* Reviewers hear of it through the org's connections (durable outbox). A notification
     * that cannot be queued does not undo the item: it is in the queue either way. */
    if (bw_outbox_emit_review(c->w->gw->outbox, c->w->store, c->review->org_id, c->review->id,
                              "pending", c->review->agent) != BW_OK)
        bw_warn("proxy: review %s created but its notification was not queued", c->review->id);
    bw_call_fail(c, c->decision.http_status ? c->decision.http_status : 403, c->decision.reason,
                 "the policy requires a reviewer's approval for this call: re-send it with the "
                 "header bulwark-approval: <review_id> once approved",
                 NULL);
}

void bw_call_review_create(struct bw_call *c) {
    struct bw_review_item *it = calloc(1, sizeof *it);
    if (!it) {
        bw_call_fail(c, 503, BW_R_INTERNAL, "out of memory", NULL);
        return;
    }
    c->review = it;
    bw_store_new_id("rev", it->id);
    snprintf(it->org_id, sizeof it->org_id, "%s", c->key.org_id);
    snprintf(it->agent, sizeof it->agent, "%s", c->key.agent);
    snprintf(it->requester_key, sizeof it->requester_key, "%s", c->key.id);
    snprintf(it->requester_member, sizeof it->requester_member, "%s", c->key.member_id);
    snprintf(it->route, sizeof it->route, "%s", bw_route_name(c->route));
    snprintf(it->model, sizeof it->model, "%s", c->model);
    snprintf(it->rule, sizeof it->rule, "%s", c->decision.rule);
    snprintf(it->reviewer_role, sizeof it->reviewer_role, "%s", c->decision.reviewer_role);
    memcpy(it->request_sha256, c->request_sha256, 32);
    it->quorum = c->decision.quorum ? c->decision.quorum : 1;
    it->status = BW_REVIEW_PENDING;
    it->created_ms = bw_now_ms();
    it->expires_ms = it->created_ms + (int64_t)c->decision.expiry_s * 1000;
    snprintf(it->decision_receipt, sizeof it->decision_receipt, "%s", c->receipt_id);

    struct bw_receipt r;
    bw_review_receipt(&r, it, bw_now_ms(), c->key.id, "create", BW_R_REVIEW_CREATED,
                      BW_REVIEW_PENDING);
    r.has_policy = 1;
    memcpy(r.policy_sha256, c->decision.policy_sha256, 32);
    r.has_parent = 1; /* the APPROVAL_REQUIRED decision this item answers */
    memcpy(r.parent_leaf_hash, c->decision_leaf, 32);
    bw_ledger_append(c->w->gw->ledger, &r, c->w->base, on_created_durable, c);
}

/* ---- use: a re-sent call presenting bulwark-approval ---- */

struct expire_job {
    struct bw_gateway *gw;
    struct bw_store *store; /* the worker's handle: the completion runs on the same thread */
    struct bw_review_item it;
};

static void on_expired_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct expire_job *j = arg;
    /* BW_E_EXISTS: another reader persisted it first. Either way the item denies. */
    bw_err e =
        err == BW_OK ? bw_store_review_expire(j->store, j->it.org_id, j->it.id, bw_now_ms()) : err;
    if (e != BW_OK && e != BW_E_EXISTS)
        bw_warn("review: expiry of %s not persisted: %s", j->it.id, bw_err_str(e));
    atomic_fetch_sub(&j->gw->inflight, 1);
    free(j);
}

/* Persists a lazily noticed expiry (receipt first). Best effort: the item already denies by
 * its expires_ms whether or not this lands. */
static void expire_later(struct bw_call *c, const struct bw_review_item *it) {
    struct expire_job *j = malloc(sizeof *j);
    if (!j)
        return;
    j->gw = c->w->gw;
    j->store = c->w->store;
    j->it = *it;
    struct bw_receipt r;
    bw_review_receipt(&r, it, bw_now_ms(), "", "expire", BW_R_REVIEW_EXPIRED, BW_REVIEW_EXPIRED);
    atomic_fetch_add(&j->gw->inflight, 1);
    bw_ledger_append(j->gw->ledger, &r, c->w->base, on_expired_durable, j);
}

static void on_use_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_call *c = arg;
    if (err != BW_OK) {
        bw_error("proxy: review use receipt not durable (%s): denying", bw_err_str(err));
        bw_call_fail(c, 503, BW_R_LEDGER_UNAVAILABLE,
                     "the evidence ledger is unavailable; nothing was forwarded", NULL);
        return;
    }
    bw_err e = bw_store_review_use(c->w->store, c->key.org_id, c->review->id, c->request_sha256,
                                   bw_now_ms());
    if (e == BW_OK) {
        c->decision.effect = BW_POLICY_ALLOW;
        snprintf(c->decision.reason, sizeof c->decision.reason, "%s", BW_R_APPROVAL_GRANTED);
        c->decision.http_status = 200;
        if (bw_call_policy_finalize(c) != 0)
            deny_with(c, BW_R_INTERNAL, 500);
    } else if (e == BW_E_EXISTS) {
        deny_with(c, BW_R_APPROVAL_USED, 403); /* a concurrent use won */
    } else {
        deny_with(c, BW_R_STORE_UNAVAILABLE, 503);
    }
    bw_call_record_decision(c);
}

static void use_approval(struct bw_call *c, const char *review_id) {
    struct bw_review_item *it = calloc(1, sizeof *it);
    if (!it) {
        deny_with(c, BW_R_INTERNAL, 503);
        bw_call_record_decision(c);
        return;
    }
    c->review = it;
    int64_t now = bw_now_ms();
    bw_err e = bw_store_review_get(c->w->store, c->key.org_id, review_id, it);
    if (e != BW_OK) {
        /* Unknown, malformed and another org's ids answer alike. */
        if (e == BW_E_NOT_FOUND)
            deny_with(c, BW_R_APPROVAL_NOT_FOUND, 403);
        else
            deny_with(c, BW_R_STORE_UNAVAILABLE, 503);
        bw_call_record_decision(c);
        return;
    }
    struct bw_review_use u = {
        .org_id = c->key.org_id,
        .agent = c->key.agent,
        .key_id = c->key.id,
        .route = bw_route_name(c->route),
        .model = c->model,
        .rule = c->decision.rule,
        .request_sha256 = c->request_sha256,
    };
    const char *why = bw_review_check_use(it, &u, now);
    if (why) {
        if (strcmp(why, BW_R_APPROVAL_EXPIRED) == 0 && it->status != BW_REVIEW_EXPIRED)
            expire_later(c, it);
        deny_with(c, why, 403);
        bw_call_record_decision(c);
        return;
    }
    struct bw_receipt r;
    bw_review_receipt(&r, it, bw_now_ms(), c->key.id, "use", BW_R_REVIEW_USED, BW_REVIEW_USED);
    bw_ledger_append(c->w->gw->ledger, &r, c->w->base, on_use_durable, c);
}

void bw_call_review_gate(struct bw_call *c) {
    const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(c->req), APPROVAL_HEADER);
    /* The header only matters where the policy asks for approval: elsewhere it is ignored,
     * never a way to loosen a deny. */
    if (c->decision.effect != BW_POLICY_REQUIRE_APPROVAL || !hdr) {
        c->review_create = c->decision.effect == BW_POLICY_REQUIRE_APPROVAL;
        bw_call_record_decision(c);
        return;
    }
    use_approval(c, hdr);
}
