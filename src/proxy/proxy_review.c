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
#include "jobs/jobs.h"
#include "ledger/ledger.h"
#include "proxy/proxy_internal.h"
#include "reason/reasons.h"
#include "review/detail.h"
#include "review/review.h"
#include "store/review_store.h"
#include "util/log.h"
#include "util/time.h"

#define APPROVAL_HEADER "bulwark-approval"

/* A refusal of the approval: the require_approval rule that asked for it stays named. */
static enum bw_step_verdict deny_with(struct bw_call *c, const char *reason, int status) {
    return bw_call_deny(c, reason, status, NULL);
}

/* ---- creation: after the APPROVAL_REQUIRED decision receipt is durable ---- */

/* The item is stored (and its notification queued) on a store thread. */
struct create_job {
    struct bw_review_item it;
    char *detail; /* what the reviewer will see (review/detail.h): with the item, never in a
                   * receipt; built on the worker from the request */
    struct bw_outbox *outbox;
    bw_err e;
};

static void create_job_free(void *arg) {
    struct create_job *j = arg;
    free(j->detail);
    free(j);
}

static void create_run(struct bw_store *s, void *arg) {
    struct create_job *j = arg;
    j->e = bw_store_review_insert_detail(s, &j->it, j->detail);
    /* Reviewers hear of it through the org's connections (durable outbox). A notification
     * that cannot be queued does not undo the item: it is in the queue either way. */
    if (j->e == BW_OK && bw_outbox_emit_review(j->outbox, s, j->it.org_id, j->it.id, "pending",
                                               j->it.agent) != BW_OK)
        bw_warn("proxy: review %s created but its notification was not queued", j->it.id);
}

static enum bw_step_verdict create_apply(struct bw_call *c, void *arg, bw_err err) {
    struct create_job *j = arg;
    bw_err e = err != BW_OK ? err : j->e;
    if (e != BW_OK) {
        bw_error("proxy: review item not stored: %s", bw_err_str(e));
        return bw_call_fail_with(c, 503, BW_R_STORE_UNAVAILABLE,
                                 "the store is unavailable; no review item was created", NULL);
    }
    snprintf(c->review.id, sizeof c->review.id, "%s", c->review.item->id);
    c->decide.refusal_message = "the policy requires a reviewer's approval for this call: re-send "
                                "it with the header bulwark-approval: <review_id> once approved";
    return BW_STEP_DENY; /* the driver writes the 403 with review_id */
}

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
    struct create_job *j = calloc(1, sizeof *j);
    if (!j) {
        bw_call_fail(c, 503, BW_R_INTERNAL, "out of memory", NULL);
        return;
    }
    j->it = *c->review.item;
    j->outbox = c->w->gw->outbox;
    /* Without the detail (out of memory) the item is not made. */
    j->detail = bw_review_detail_chat(c->in.body_json, c->in.model);
    if (!j->detail) {
        create_job_free(j);
        bw_error("proxy: review item not stored: %s", bw_err_str(BW_E_NOMEM));
        bw_call_fail(c, 503, BW_R_STORE_UNAVAILABLE,
                     "the store is unavailable; no review item was created", NULL);
        return;
    }
    bw_call_step_done(c, bw_call_wait_job(c, create_run, create_apply, j, create_job_free));
}

/* The review item step: after the APPROVAL_REQUIRED decision receipt is durable, a review
 * receipt, the item, then the 403 with its id. Nothing to do for any other decision. */
enum bw_step_verdict bw_step_review_item(struct bw_call *c) {
    if (c->decide.decision.effect != BW_POLICY_REQUIRE_APPROVAL || !c->review.create)
        return BW_STEP_CONTINUE;
    struct bw_review_item *it = calloc(1, sizeof *it);
    if (!it)
        return bw_call_fail_with(c, 503, BW_R_INTERNAL, "out of memory", NULL);
    c->review.item = it;
    bw_store_new_id("rev", it->id);
    snprintf(it->org_id, sizeof it->org_id, "%s", c->ident.key.org_id);
    snprintf(it->agent, sizeof it->agent, "%s", c->ident.key.agent);
    snprintf(it->requester_key, sizeof it->requester_key, "%s", c->ident.key.id);
    snprintf(it->requester_member, sizeof it->requester_member, "%s", c->ident.key.member_id);
    snprintf(it->route, sizeof it->route, "%s", bw_route_name(c->route));
    snprintf(it->model, sizeof it->model, "%s", c->in.model);
    snprintf(it->rule, sizeof it->rule, "%s", c->decide.decision.rule);
    snprintf(it->reviewer_role, sizeof it->reviewer_role, "%s", c->decide.decision.reviewer_role);
    memcpy(it->request_sha256, c->in.request_sha256, 32);
    it->quorum = c->decide.decision.quorum ? c->decide.decision.quorum : 1;
    it->status = BW_REVIEW_PENDING;
    it->created_ms = bw_now_ms();
    it->expires_ms = it->created_ms + (int64_t)c->decide.decision.expiry_s * 1000;
    snprintf(it->decision_receipt, sizeof it->decision_receipt, "%s", c->record.receipt_id);

    struct bw_receipt r;
    bw_review_receipt(&r, it, bw_now_ms(), c->ident.key.id, "create", BW_R_REVIEW_CREATED,
                      BW_REVIEW_PENDING);
    r.has_policy = 1;
    memcpy(r.policy_sha256, c->decide.decision.policy_sha256, 32);
    r.has_parent = 1; /* the APPROVAL_REQUIRED decision this item answers */
    memcpy(r.parent_leaf_hash, c->record.decision_leaf, 32);
    bw_ledger_append(c->w->gw->ledger, &r, c->w->base, on_created_durable, c);
    return BW_STEP_WAIT;
}

/* ---- use: a re-sent call presenting bulwark-approval ---- */

struct expire_job {
    struct bw_gateway *gw;
    struct bw_store *store; /* the worker's handle, when there is no job pool */
    struct bw_review_item it;
};

static void expire_run(struct bw_store *s, void *arg) {
    struct expire_job *j = arg;
    /* BW_E_EXISTS: another reader persisted it first. Either way the item denies. */
    bw_err e = bw_store_review_expire(s, j->it.org_id, j->it.id, bw_now_ms());
    if (e != BW_OK && e != BW_E_EXISTS)
        bw_warn("review: expiry of %s not persisted: %s", j->it.id, bw_err_str(e));
}

static void expire_done(void *arg, bw_err err) {
    struct expire_job *j = arg;
    if (err != BW_OK)
        bw_warn("review: expiry of %s not persisted: %s", j->it.id, bw_err_str(err));
    atomic_fetch_sub(&j->gw->inflight, 1);
    free(j);
}

static void on_expired_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct expire_job *j = arg;
    if (err != BW_OK) {
        expire_done(j, err);
        return;
    }
    /* on a store thread (owner NULL: its done runs there too); without a pool, here */
    if (!j->gw->jobs) {
        expire_run(j->store, j);
        expire_done(j, BW_OK);
    } else if (bw_jobs_submit(j->gw->jobs, NULL, 0, expire_run, expire_done, j) != BW_OK) {
        expire_done(j, BW_E_UNAVAILABLE);
    }
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

/* The approval is spent on a store thread: approved -> used, at most once. */
struct use_job {
    char org_id[BW_ID_SIZE];
    char id[BW_ID_SIZE];
    uint8_t request_sha256[32];
    bw_err e;
};

static void use_run(struct bw_store *s, void *arg) {
    struct use_job *j = arg;
    j->e = bw_store_review_use(s, j->org_id, j->id, j->request_sha256, bw_now_ms());
}

static enum bw_step_verdict use_apply(struct bw_call *c, void *arg, bw_err err) {
    struct use_job *j = arg;
    bw_err e = err != BW_OK ? err : j->e;
    if (e == BW_OK) {
        c->decide.decision.effect = BW_POLICY_ALLOW;
        snprintf(c->decide.decision.reason, sizeof c->decide.decision.reason, "%s",
                 BW_R_APPROVAL_GRANTED);
        c->decide.decision.http_status = 200;
        if (bw_call_policy_finalize(c) != 0)
            return deny_with(c, BW_R_INTERNAL, 500);
        return BW_STEP_CONTINUE; /* the decision receipt is next */
    }
    if (e == BW_E_EXISTS)
        return deny_with(c, BW_R_APPROVAL_USED, 403); /* a concurrent use won */
    return deny_with(c, BW_R_STORE_UNAVAILABLE, 503);
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
    struct use_job *j = calloc(1, sizeof *j);
    if (!j) {
        bw_call_step_done(c, deny_with(c, BW_R_INTERNAL, 503));
        return;
    }
    snprintf(j->org_id, sizeof j->org_id, "%s", c->ident.key.org_id);
    snprintf(j->id, sizeof j->id, "%s", c->review.item->id);
    memcpy(j->request_sha256, c->in.request_sha256, 32);
    bw_call_step_done(c, bw_call_wait_job(c, use_run, use_apply, j, free));
}

/* The presented item is read on a store thread, in the caller's org. */
struct get_job {
    char org_id[BW_ID_SIZE];
    char id[BW_ID_SIZE];
    bw_err e;
    struct bw_review_item it;
};

static void get_run(struct bw_store *s, void *arg) {
    struct get_job *j = arg;
    j->e = bw_store_review_get(s, j->org_id, j->id, &j->it);
}

static enum bw_step_verdict get_apply(struct bw_call *c, void *arg, bw_err err) {
    struct get_job *j = arg;
    bw_err e = err != BW_OK ? err : j->e;
    if (e != BW_OK) /* unknown, malformed and another org's ids answer alike */
        return deny_with(c, e == BW_E_NOT_FOUND ? BW_R_APPROVAL_NOT_FOUND : BW_R_STORE_UNAVAILABLE,
                         e == BW_E_NOT_FOUND ? 403 : 503);
    struct bw_review_item *it = c->review.item;
    *it = j->it;
    struct bw_review_use u = {
        .org_id = c->ident.key.org_id,
        .agent = c->ident.key.agent,
        .key_id = c->ident.key.id,
        .route = bw_route_name(c->route),
        .model = c->in.model,
        .rule = c->decide.decision.rule,
        .request_sha256 = c->in.request_sha256,
    };
    const char *why = bw_review_check_use(it, &u, bw_now_ms());
    if (why) {
        if (strcmp(why, BW_R_APPROVAL_EXPIRED) == 0 && it->status != BW_REVIEW_EXPIRED)
            expire_later(c, it);
        return deny_with(c, why, 403);
    }
    struct bw_receipt r;
    bw_review_receipt(&r, it, bw_now_ms(), c->ident.key.id, "use", BW_R_REVIEW_USED,
                      BW_REVIEW_USED);
    bw_ledger_append(c->w->gw->ledger, &r, c->w->base, on_use_durable, c);
    return BW_STEP_WAIT;
}

static enum bw_step_verdict use_approval(struct bw_call *c, const char *review_id) {
    struct bw_review_item *it = calloc(1, sizeof *it);
    if (!it)
        return deny_with(c, BW_R_INTERNAL, 503);
    c->review.item = it;
    /* An id longer than any id is no id (never cut short into one that exists). */
    if (strlen(review_id) >= BW_ID_SIZE)
        return deny_with(c, BW_R_APPROVAL_NOT_FOUND, 403);
    struct get_job *j = calloc(1, sizeof *j);
    if (!j)
        return deny_with(c, BW_R_INTERNAL, 503);
    snprintf(j->org_id, sizeof j->org_id, "%s", c->ident.key.org_id);
    snprintf(j->id, sizeof j->id, "%s", review_id);
    return bw_call_wait_job(c, get_run, get_apply, j, free);
}

/* The review gate step: a require_approval decision with a bulwark-approval header spends the
 * approval (WAIT: its use receipt, then the store) and becomes allow, or a deny; without the
 * header the item is created after the decision receipt (the review item step). */
enum bw_step_verdict bw_step_review_gate(struct bw_call *c) {
    const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(c->req), APPROVAL_HEADER);
    /* The header only matters where the policy asks for approval: elsewhere it is ignored,
     * never a way to loosen a deny. */
    if (c->decide.decision.effect != BW_POLICY_REQUIRE_APPROVAL || !hdr) {
        c->review.create = c->decide.decision.effect == BW_POLICY_REQUIRE_APPROVAL;
        return BW_STEP_CONTINUE;
    }
    return use_approval(c, hdr);
}
