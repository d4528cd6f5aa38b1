/* mcp_review.c: require_approval for `tools/call` (docs/MCP.md "Approvals"), exactly as for
 * model calls (src/proxy/proxy_review.c, docs/POLICY.md "Approvals"):
 *
 * Without a bulwark-approval header: the require_approval decision receipt is made durable,
 * then a `review` receipt naming the new item, then the item is stored, then the client gets
 * the JSON-RPC error -32001 APPROVAL_REQUIRED with data.review_id. Nothing is forwarded.
 *
 * With the header: the item is read in the caller's org and checked against this exact call
 * (same org, agent, key, route mcp.tools_call, server as the item's model, rule, and request
 * hash: the canonical call on the same session, so the SDK's re-send with a new JSON-RPC id
 * matches; bw_review_check_use); a `use` review receipt is made durable, the store spends the
 * approval with its conditional update (once, even across replicas), and only then is the
 * decision allow (APPROVAL_GRANTED), recorded durable before forwarding as for every call. */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/outbox.h"
#include "ledger/ledger.h"
#include "mcp/mcp_internal.h"
#include "reason/reasons.h"
#include "review/detail.h"
#include "review/review.h"
#include "store/review_store.h"
#include "util/log.h"
#include "util/time.h"

#define APPROVAL_HEADER "bulwark-approval"

static void deny_with(struct bw_mcp_call *c, const char *reason, int status) {
    struct bw_policy_decision *d = &c->decision;
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->http_status = status;
}

static void on_created_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_mcp_call *c = arg;
    if (err != BW_OK) {
        bw_error("mcp: review receipt not durable (%s): no review item", bw_err_str(err));
        bw_mcp_fail(c, 503, BW_MCP_RPC_DENIED, BW_R_LEDGER_UNAVAILABLE,
                    "the evidence ledger is unavailable; no review item was created");
        return;
    }
    char *detail = bw_review_detail_mcp(c->server.name, c->msg.name, c->msg.arguments);
    bw_err e = detail ? bw_store_review_insert_detail(c->w->store, c->review, detail) : BW_E_NOMEM;
    free(detail);
    if (e != BW_OK) {
        bw_error("mcp: review item not stored: %s", bw_err_str(e));
        bw_mcp_fail(c, 503, BW_MCP_RPC_DENIED, BW_R_STORE_UNAVAILABLE,
                    "the store is unavailable; no review item was created");
        return;
    }
    snprintf(c->review_id, sizeof c->review_id, "%s", c->review->id);
    if (bw_outbox_emit_review(c->w->gw->outbox, c->w->store, c->review->org_id, c->review->id,
                              "pending", c->review->agent) != BW_OK)
        bw_warn("mcp: review %s created but its notification was not queued", c->review->id);
    bw_mcp_fail(c, 200, BW_MCP_RPC_DENIED, BW_R_APPROVAL_REQUIRED,
                "the policy requires a reviewer's approval for this tool call: re-send it on "
                "the same session with the header bulwark-approval: <review_id> once approved");
}

void bw_mcp_review_create(struct bw_mcp_call *c) {
    struct bw_review_item *it = calloc(1, sizeof *it);
    if (!it) {
        bw_mcp_fail(c, 503, BW_MCP_RPC_INTERNAL, BW_R_INTERNAL, "out of memory");
        return;
    }
    c->review = it;
    bw_store_new_id("rev", it->id);
    snprintf(it->org_id, sizeof it->org_id, "%s", c->key.org_id);
    snprintf(it->agent, sizeof it->agent, "%s", c->key.agent);
    snprintf(it->requester_key, sizeof it->requester_key, "%s", c->key.id);
    snprintf(it->requester_member, sizeof it->requester_member, "%s", c->key.member_id);
    snprintf(it->route, sizeof it->route, "%s", bw_mcp_route(c));
    snprintf(it->model, sizeof it->model, "%s", c->server.name);
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

static void on_use_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_mcp_call *c = arg;
    if (err != BW_OK) {
        bw_error("mcp: review use receipt not durable (%s): denying", bw_err_str(err));
        bw_mcp_fail(c, 503, BW_MCP_RPC_DENIED, BW_R_LEDGER_UNAVAILABLE,
                    "the evidence ledger is unavailable; nothing was forwarded");
        return;
    }
    bw_err e = bw_store_review_use(c->w->store, c->key.org_id, c->review->id, c->request_sha256,
                                   bw_now_ms());
    if (e == BW_OK) {
        c->decision.effect = BW_POLICY_ALLOW;
        snprintf(c->decision.reason, sizeof c->decision.reason, "%s", BW_R_APPROVAL_GRANTED);
        c->decision.http_status = 200;
    } else if (e == BW_E_EXISTS) {
        deny_with(c, BW_R_APPROVAL_USED, 403); /* a concurrent use won */
    } else {
        deny_with(c, BW_R_STORE_UNAVAILABLE, 503);
    }
    bw_mcp_record_decision(c);
}

static void use_approval(struct bw_mcp_call *c, const char *review_id) {
    struct bw_review_item *it = calloc(1, sizeof *it);
    if (!it) {
        deny_with(c, BW_R_INTERNAL, 503);
        bw_mcp_record_decision(c);
        return;
    }
    c->review = it;
    bw_err e = bw_store_review_get(c->w->store, c->key.org_id, review_id, it);
    if (e != BW_OK) { /* unknown, malformed and another org's ids answer alike */
        deny_with(c, e == BW_E_NOT_FOUND ? BW_R_APPROVAL_NOT_FOUND : BW_R_STORE_UNAVAILABLE,
                  e == BW_E_NOT_FOUND ? 403 : 503);
        bw_mcp_record_decision(c);
        return;
    }
    struct bw_review_use u = {
        .org_id = c->key.org_id,
        .agent = c->key.agent,
        .key_id = c->key.id,
        .route = bw_mcp_route(c),
        .model = c->server.name,
        .rule = c->decision.rule,
        .request_sha256 = c->request_sha256,
    };
    /* an expired item denies by its expiry; persisting the expiry is left to the model path
     * and the API, which notice it too */
    const char *why = bw_review_check_use(it, &u, bw_now_ms());
    if (why) {
        deny_with(c, why, 403);
        bw_mcp_record_decision(c);
        return;
    }
    struct bw_receipt r;
    bw_review_receipt(&r, it, bw_now_ms(), c->key.id, "use", BW_R_REVIEW_USED, BW_REVIEW_USED);
    bw_ledger_append(c->w->gw->ledger, &r, c->w->base, on_use_durable, c);
}

void bw_mcp_review_gate(struct bw_mcp_call *c) {
    const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(c->req), APPROVAL_HEADER);
    /* The header only matters where the policy asks for approval: elsewhere it is ignored,
     * never a way to loosen a deny. */
    if (c->decision.effect != BW_POLICY_REQUIRE_APPROVAL || !hdr) {
        c->review_create = c->decision.effect == BW_POLICY_REQUIRE_APPROVAL;
        bw_mcp_record_decision(c);
        return;
    }
    use_approval(c, hdr);
}
