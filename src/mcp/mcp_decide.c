/* mcp_decide.c: the policy decisions and receipts of MCP messages (docs/POLICY.md "MCP"):
 * `tools/call` on route mcp.tools_call (tool = params.name, argument constraints over
 * params.arguments, content rules over every string and key of the arguments), decision
 * receipt durable before anything is forwarded, outcome receipt after; `tools/list` on route
 * mcp.tools_list before it is forwarded (its answer is filtered in mcp_forward.c). */
#include <stdlib.h>
#include <string.h>

#include "http/reqlog.h"
#include "ledger/ledger.h"
#include "mcp/mcp_internal.h"
#include "policy/org_policies.h"
#include "reason/reasons.h"
#include "util/log.h"
#include "util/time.h"

int bw_mcp_acquire_policy(struct bw_mcp_call *c, struct bw_policy **out) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_policy *platform = bw_gateway_policy_acquire(gw);
    *out = NULL;
    if (!gw->org_policies) {
        *out = platform;
        return 0;
    }
    bw_err e = bw_org_policies_acquire(gw->org_policies, c->w->store, c->key.org_id, platform,
                                       bw_now_ms(), out);
    bw_policy_unref(platform);
    return e == BW_OK ? 0 : -1;
}

void bw_mcp_fill_input(struct bw_mcp_call *c, const char *route) {
    struct bw_policy_input *in = &c->input;
    memset(in, 0, sizeof *in);
    in->org = c->key.org_name;
    in->agent = c->key.agent[0] ? c->key.agent : NULL;
    in->role = c->key.role;
    in->route = route;
    in->model = NULL; /* no model: a rule with a model matcher does not match MCP calls */
    in->max_tokens = -1;
    in->estimated_cost = -1;
    in->now_s = bw_now_ms() / 1000;
    in->budget = &c->budget;
}

static void set_deny(struct bw_policy_decision *d, const char *reason, int status) {
    memset(d, 0, sizeof *d);
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->layer = "default";
    d->http_status = status;
}

/* Every string and object key of the arguments, for content rules (bounded). */
static int collect_texts(struct bw_mcp_call *c, const json_t *v, size_t cap, int depth) {
    if (depth > 64)
        return -1;
    if (json_is_string(v)) {
        if (c->n_texts >= cap)
            return -1;
        c->texts[c->n_texts++] = bw_slice_of(json_string_value(v), json_string_length(v));
        return 0;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) if (collect_texts(c, e, cap, depth + 1) != 0) return -1;
        return 0;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            if (c->n_texts >= cap)
                return -1;
            c->texts[c->n_texts++] = bw_slice_of(k, strlen(k));
            if (collect_texts(c, e, cap, depth + 1) != 0)
                return -1;
        }
    }
    return 0;
}

/* The subject of a message's receipts and its approval: the canonical message (server, the
 * gateway session, params with sorted keys), not the body bytes: the client's re-send of an
 * approved call carries a new JSON-RPC id, and must match only on the same session. The tag
 * names the method, so one method's approval never matches another's. 0 or -1. */
int bw_mcp_canonical_hash(struct bw_mcp_call *c, const char *tag) {
    json_t *params = json_object_get(c->msg.msg, "params");
    json_t *empty = params ? NULL : json_object();
    char *canon = json_dumps(params ? params : empty, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(empty);
    if (!canon)
        return -1;
    struct bw_sha256_stream h;
    if (bw_sha256_stream_init(&h) != BW_OK) {
        free(canon);
        return -1;
    }
    bw_sha256_stream_update(&h, tag, strlen(tag));
    bw_sha256_stream_update(&h, c->server.name, strlen(c->server.name) + 1); /* NUL separates */
    bw_sha256_stream_update(&h, c->session, strlen(c->session) + 1);
    bw_sha256_stream_update(&h, canon, strlen(canon));
    bw_sha256_stream_final(&h, c->request_sha256);
    bw_sha256_stream_cleanup(&h);
    free(canon);
    return 0;
}

static int call_hash(struct bw_mcp_call *c) {
    return bw_mcp_canonical_hash(c, "bulwark-mcp-tools-call\n");
}

/* How many texts collect_texts takes from v, or cap + 1 when more than cap or nested deeper
 * than 64. c->texts is sized by it: zeroing BW_POLICY_MAX_TEXTS entries (1 MiB) for every call
 * was a sixth of the gateway's CPU under load (bench/mcp_overhead.sh, perf). */
static size_t count_texts(const json_t *v, size_t cap, int depth) {
    if (depth > 64)
        return cap + 1;
    if (json_is_string(v))
        return 1;
    size_t n = 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            n += count_texts(e, cap, depth + 1);
            if (n > cap)
                return cap + 1;
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            n += 1 + count_texts(e, cap, depth + 1);
            if (n > cap)
                return cap + 1;
        }
    }
    return n;
}

int bw_mcp_collect_texts(struct bw_mcp_call *c, const json_t *v, size_t cap) {
    size_t n = count_texts(v, cap, 0);
    if (n > cap)
        return -1;
    free(c->texts);
    c->n_texts = 0;
    c->texts = calloc(n ? n : 1, sizeof *c->texts);
    if (!c->texts)
        return -2;
    return collect_texts(c, v, n, 0) == 0 ? 0 : -1;
}

static void decide_call(struct bw_mcp_call *c) {
    struct bw_policy_decision *d = &c->decision;
    if (call_hash(c) != 0) {
        set_deny(d, BW_R_INTERNAL, 503);
        return;
    }
    json_t *empty = json_object();
    const json_t *args = c->msg.arguments ? c->msg.arguments : empty;
    char *args_text = json_dumps(args, JSON_COMPACT);
    if (!args_text || !empty) {
        set_deny(d, BW_R_INTERNAL, 503);
        goto out;
    }
    bw_sha256(args_text, strlen(args_text), c->args_sha256);
    if (strlen(args_text) > BW_POLICY_MAX_ARGS_BYTES) {
        set_deny(d, BW_R_TOOL_ARGS_TOO_LARGE, 400);
        goto out;
    }
    if (bw_mcp_acquire_policy(c, &c->policy) != 0) {
        set_deny(d, BW_R_POLICY_UNAVAILABLE, 503);
        goto out;
    }
    if (!c->policy) { /* no policy in force: nothing is allowed by default */
        set_deny(d, BW_R_NO_MATCHING_RULE, 403);
        goto out;
    }
    memcpy(d->policy_sha256, bw_policy_sha256(c->policy), 32);
    int texts = bw_mcp_collect_texts(c, args, BW_POLICY_MAX_TEXTS);
    if (texts != 0) {
        set_deny(d, texts == -1 ? BW_R_TOOL_ARGS_TOO_LARGE : BW_R_INTERNAL,
                 texts == -1 ? 400 : 503);
        goto out;
    }
    bw_mcp_fill_input(c, "mcp.tools_call");
    c->tool.name = c->msg.name;
    c->tool.args = args;
    c->input.tools = &c->tool;
    c->input.n_tools = 1;
    c->input.texts = c->texts;
    c->input.n_texts = c->n_texts;
    /* The tool is the whole call: its own decision (docs/POLICY.md "MCP"), so a rule naming
     * the tool decides it; a request-level decision first would need a rule without a tool
     * matcher, which then also allows every other tool. */
    if (bw_policy_decide_tools(c->policy, &c->input, &c->tool, 1, d) != BW_OK &&
        d->effect == BW_POLICY_ALLOW)
        set_deny(d, BW_R_INTERNAL, 500);
    if (d->effect == BW_POLICY_STRIP) {
        /* the one tool is the whole call: removing it leaves nothing to forward */
        d->effect = BW_POLICY_DENY;
        snprintf(d->reason, sizeof d->reason, "%s", BW_R_TOOL_STRIPPED);
        d->http_status = 403;
    }
    /* tool pinning (mcp_pin.c): changed or unapproved. -1 means it has made *d that deny */
    if (d->effect != BW_POLICY_DENY && bw_mcp_pin_check_call(c, d) != 0)
        d->effect = BW_POLICY_DENY; /* already so; kept so a pin refusal can never be lost */
    /* the engine never keeps a pointer to args; the parsed message outlives the decision */
out:
    free(args_text);
    json_decref(empty);
}

static void receipt_for(const struct bw_mcp_call *c, enum bw_receipt_kind kind,
                        struct bw_receipt *r) {
    bw_receipt_init(r, kind);
    r->time_ms = bw_now_ms();
    snprintf(r->org_id, sizeof r->org_id, "%s", c->key.org_id);
    snprintf(r->principal, sizeof r->principal, "%s", c->key.id);
    snprintf(r->agent, sizeof r->agent, "%s", c->key.agent);
    snprintf(r->route, sizeof r->route, "%s", bw_mcp_route(c));
    snprintf(r->model, sizeof r->model, "%s", c->server.name); /* the MCP server decided for */
    memcpy(r->request_sha256, c->request_sha256, 32);
}

static void on_outcome_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_gateway *gw = arg;
    if (err != BW_OK)
        bw_error("mcp: outcome receipt not recorded: %s", bw_err_str(err));
    atomic_fetch_sub(&gw->inflight, 1);
}

void bw_mcp_outcome(struct bw_mcp_call *c, const char *status, int http_status,
                    const uint8_t *response_sha256) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_receipt r;
    receipt_for(c, BW_RECEIPT_OUTCOME, &r);
    snprintf(r.status, sizeof r.status, "%s",
             strcmp(status, "ok") == 0 && c->tool_error ? "tool_error" : status);
    r.http_status = http_status;
    r.has_parent = 1;
    memcpy(r.parent_leaf_hash, c->decision_leaf, 32);
    if (response_sha256) {
        r.has_response = 1;
        memcpy(r.response_sha256, response_sha256, 32);
    }
    if (!c->no_tool_entry)
        bw_receipt_add_tool_call(&r.tool_calls, c->msg.name, "allow", BW_R_ALLOWED, c->args_sha256);
    r.duration_ms = (bw_mono_us() - c->start_us) / 1000;
    atomic_fetch_add(&gw->inflight, 1);
    bw_ledger_append(gw->ledger, &r, c->w->base, on_outcome_durable, gw);
}

static void on_decision_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    struct bw_mcp_call *c = arg;
    if (err != BW_OK) {
        bw_error("mcp: decision receipt not durable (%s): denying", bw_err_str(err));
        bw_mcp_fail(c, 503, BW_MCP_RPC_DENIED, BW_R_LEDGER_UNAVAILABLE,
                    "the evidence ledger is unavailable; nothing was forwarded");
        return;
    }
    bw_ledger_receipt_id(c->w->gw->ledger, index, c->receipt_id);
    memcpy(c->decision_leaf, leaf, 32);
    bw_reqlog_set_decision(c->req, bw_policy_effect_name(c->decision.effect), c->decision.reason,
                           c->receipt_id);
    if (c->decision.effect == BW_POLICY_REQUIRE_APPROVAL && c->review_create) {
        bw_mcp_review_create(c); /* review receipt, item, then the error with its id */
        return;
    }
    if (c->decision.effect != BW_POLICY_ALLOW) {
        int limited = c->decision.http_status == 429; /* mcp_rate.c */
        bw_mcp_fail(c, limited ? 429 : 200, BW_MCP_RPC_DENIED, c->decision.reason,
                    limited ? "too many calls of this tool per minute"
                            : "the policy does not allow this tool call");
        return;
    }
    c->governed = 1;
    bw_mcp_forward(c);
}

void bw_mcp_govern_call(struct bw_mcp_call *c) {
    decide_call(c);
    bw_mcp_rate_gate(c);   /* mcp_rate.c: calls per minute, before an approval is spent */
    bw_mcp_review_gate(c); /* records the decision, after spending an approval if presented */
}

void bw_mcp_record_decision(struct bw_mcp_call *c) {
    struct bw_receipt r;
    receipt_for(c, BW_RECEIPT_DECISION, &r);
    snprintf(r.decision, sizeof r.decision, "%s", bw_policy_effect_name(c->decision.effect));
    snprintf(r.reason, sizeof r.reason, "%s", c->decision.reason);
    snprintf(r.rule, sizeof r.rule, "%s", c->decision.rule);
    snprintf(r.layer, sizeof r.layer, "%s", c->decision.layer ? c->decision.layer : "");
    r.has_policy = 1;
    memcpy(r.policy_sha256, c->decision.policy_sha256, 32);
    r.has_org_policy = c->decision.has_org_policy;
    memcpy(r.org_policy_sha256, c->decision.org_policy_sha256, 32);
    if (!c->no_tool_entry)
        bw_receipt_add_tool_call(&r.tool_calls, c->msg.name,
                                 bw_policy_effect_name(c->decision.effect), c->decision.reason,
                                 c->args_sha256);
    bw_ledger_append(c->w->gw->ledger, &r, c->w->base, on_decision_durable, c);
}

int bw_mcp_govern_list(struct bw_mcp_call *c) {
    struct bw_policy_decision d;
    if (bw_mcp_acquire_policy(c, &c->policy) != 0)
        set_deny(&d, BW_R_POLICY_UNAVAILABLE, 503);
    else if (!c->policy)
        set_deny(&d, BW_R_NO_MATCHING_RULE, 403);
    else {
        bw_mcp_fill_input(c, "mcp.tools_list");
        if (bw_policy_eval(c->policy, &c->input, &d) != BW_OK && d.effect == BW_POLICY_ALLOW)
            set_deny(&d, BW_R_INTERNAL, 500);
    }
    if (d.effect == BW_POLICY_ALLOW || d.effect == BW_POLICY_REQUIRE_APPROVAL)
        return 0;              /* a listing needs no approval: the calls are decided one by one */
    bw_mcp_refuse_list(c, &d); /* with its decision receipt (mcp_decide_other.c) */
    return -1;
}
