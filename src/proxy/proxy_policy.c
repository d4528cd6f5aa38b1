/* proxy_policy.c: step 4 (decide) and step 7 (inspect) of DESIGN.md with the rule engine.
 *
 * With a policy configured, every call is decided by it (docs/POLICY.md): the request, each
 * declared tool (a `strip` removes the tool from the forwarded body), each tool call in a plain
 * answer (refused calls are removed before the client sees the answer), and each tool call in a
 * stream (held back until complete, then released or dropped by the tool-stream assembler).
 * Without one, the config's per-org allowed_models decide, as before. */
#include <stdlib.h>
#include <string.h>

#include "policy/org_policies.h"
#include "proxy/proxy_internal.h"
#include "reason/reasons.h"
#include "util/log.h"
#include "util/time.h"

const char *bw_call_decision_name(const struct bw_call *c) {
    return bw_policy_effect_name(c->decide.decision.effect);
}

/* The first policy step: allowed_models from the config. Without a platform policy file this
 * is the operator's restriction for every call, an org's own policy or not. */
static void decide_by_config(struct bw_call *c) {
    struct bw_policy_decision *d = &c->decide.decision;
    memset(d, 0, sizeof *d);
    /* not the config's own hash: a tenant's evidence pack must not carry the operator's config
     * (other orgs, upstream, billing); this org's part of it stands in (policy.h) */
    bw_policy_models_sha256(c->w->gw->cfg, c->ident.key.org_name, d->policy_sha256);
    d->layer = "config";
    if (c->route == BW_ROUTE_MODELS) {
        d->effect = BW_POLICY_ALLOW;
        snprintf(d->reason, sizeof d->reason, "%s", BW_R_ALLOWED);
        snprintf(d->rule, sizeof d->rule, "models.list");
        d->http_status = 200;
        return;
    }
    struct bw_verdict v;
    bw_policy_decide_model(c->w->gw->cfg, c->ident.key.org_name, c->in.model, &v);
    d->effect = v.decision == BW_DECISION_ALLOW ? BW_POLICY_ALLOW : BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", v.reason);
    snprintf(d->rule, sizeof d->rule, "%s", v.rule);
    d->http_status = v.http_status;
}

/* A refusal that is not a policy layer's rule (no rule, no layer). */
static void deny(struct bw_call *c, const char *reason, int status) {
    (void)bw_call_deny(c, reason, status, "");
}

static int is_declaration(enum bw_policy_tool_place place) {
    return place == BW_POLICY_PLACE_TOOLS || place == BW_POLICY_PLACE_FUNCTIONS;
}

/* A stripped tool must leave every place that names it. A declaration can go; a force
 * (tool_choice / function_call) or a call in the history cannot without changing what the
 * client asked for, so such a request is refused (fail closed): TOOL_STRIP_CONFLICT, with the
 * strip rule's id. 0, or -1 after denying. */
static int refuse_strip_conflicts(struct bw_call *c) {
    for (size_t i = 0; i < c->decide.view.n_refs; i++) {
        const struct bw_policy_tool_ref *r = &c->decide.view.refs[i];
        if (is_declaration(r->place) || !bw_policy_stripped(&c->decide.decision, r->tool))
            continue;
        struct bw_policy_decision strip;
        /* a failure writes a deny into strip: the call is refused below either way */
        BW_IGNORE(bw_policy_decide_tools(c->decide.policy, &c->decide.input,
                                         &c->decide.view.tools[r->tool], 1, &strip));
        deny(c, BW_R_TOOL_STRIP_CONFLICT, 403);
        snprintf(c->decide.decision.rule, sizeof c->decide.decision.rule, "%s", strip.rule);
        c->decide.decision.layer = strip.layer;
        memset(c->decide.decision.stripped, 0, sizeof c->decide.decision.stripped);
        c->decide.refusal_message =
            r->place == BW_POLICY_PLACE_HISTORY
                ? "the history has a call to a tool the policy strips"
                : "tool_choice or function_call names a tool the policy strips";
        return -1;
    }
    return 0;
}

/* Removes one declaration from the array it sits in; the view keeps it alive (its name and
 * texts point into it, and answers are decided with those texts). */
static int remove_node(struct bw_call *c, const char *array, const json_t *node) {
    json_t *a = json_object_get(c->in.body_json, array);
    size_t n = json_array_size(a);
    for (size_t j = 0; j < n; j++) {
        json_t *el = json_array_get(a, j);
        if (el != node)
            continue;
        if (bw_policy_request_view_retain(&c->decide.view, el) != BW_OK ||
            json_array_remove(a, j) != 0)
            return -1;
        return 0;
    }
    return 0; /* already removed (one node is referenced once) */
}

/* A list emptied by strip goes, with what only makes sense beside it. */
static void drop_if_empty(json_t *body, const char *array, const char *const *with) {
    json_t *a = json_object_get(body, array);
    if (!json_is_array(a) || json_array_size(a) != 0)
        return;
    json_object_del(body, array);
    for (; *with; with++)
        json_object_del(body, *with);
}

/* Removes every declaration of every stripped tool (tools[] and functions[]) and lists each
 * stripped tool in the outcome receipt (decision strip, TOOL_STRIPPED). Forces and history
 * calls naming one were refused before (refuse_strip_conflicts). 0, or -1 (out of memory). */
static int strip_tools(struct bw_call *c) {
    int any = 0;
    for (size_t i = 0; i < c->decide.view.n_refs; i++) {
        const struct bw_policy_tool_ref *r = &c->decide.view.refs[i];
        if (!is_declaration(r->place) || !bw_policy_stripped(&c->decide.decision, r->tool))
            continue;
        const char *array = r->place == BW_POLICY_PLACE_TOOLS ? "tools" : "functions";
        if (remove_node(c, array, r->node) != 0)
            return -1;
        any = 1;
    }
    if (!any)
        return 0;
    for (size_t i = 0; i < c->decide.view.n_tools; i++)
        if (bw_policy_stripped(&c->decide.decision, i))
            bw_receipt_add_tool_call(&c->answer.tool_calls, c->decide.view.tools[i].name, "strip",
                                     BW_R_TOOL_STRIPPED, NULL);
    memset(c->decide.decision.stripped, 0,
           sizeof c->decide.decision.stripped); /* done: never twice */
    c->decide.body_modified = 1;
    drop_if_empty(c->in.body_json, "tools",
                  (const char *const[]){"tool_choice", "parallel_tool_calls", NULL});
    drop_if_empty(c->in.body_json, "functions", (const char *const[]){"function_call", NULL});
    return 0;
}

/* Serializes the body to forward when admission or policy changed it. */
static int finalize_body(struct bw_call *c) {
    if (!c->decide.body_modified || !c->in.body_json)
        return 0;
    c->decide.forward_body = json_dumps(c->in.body_json, JSON_COMPACT);
    if (!c->decide.forward_body)
        return -1;
    c->decide.forward_len = strlen(c->decide.forward_body);
    return 0;
}

static void fill_input(struct bw_call *c) {
    struct bw_policy_input *in = &c->decide.input;
    memset(in, 0, sizeof *in);
    in->org = c->ident.key.org_name;
    in->agent = c->ident.key.agent[0] ? c->ident.key.agent : NULL;
    in->role = c->ident.key.role;
    in->route = bw_route_name(c->route);
    in->model = c->in.model[0] ? c->in.model : NULL;
    in->max_tokens = c->decide.view.max_tokens;
    /* the worst case admission reserved, in currency units (the price table's micro-units
     * / 1e6); unknown price: -1, which a cost bound treats as unbounded (docs/POLICY.md) */
    in->estimated_cost =
        c->admit.worst_cost_micros >= 0 ? (double)c->admit.worst_cost_micros / 1e6 : -1;
    in->tools = c->decide.view.tools;
    in->n_tools = c->decide.view.n_tools;
    in->texts = c->decide.view.texts;
    in->n_texts = c->decide.view.n_texts;
    in->now_s = bw_now_ms() / 1000;
    /* One budget for every decision of this call: the request, its tools and every tool call
     * of its answer (docs/POLICY.md "Regex work budget"). */
    in->budget = &c->decide.policy_budget;
}

/* The org's policy could not be read: fail closed. */
static void policy_unavailable(struct bw_call *c) {
    c->decide.policy = NULL;
    bw_policy_models_sha256(c->w->gw->cfg, c->ident.key.org_name, c->decide.decision.policy_sha256);
    deny(c, BW_R_POLICY_UNAVAILABLE, 503);
}

/* Without a platform policy file the config's allowed_models are the operator's layer: they
 * hold first, and an org's own policy only decides what they let through (it can tighten,
 * never loosen them). Returns 1 when that layer decided (deny) or there is nothing else. */
static int decide_platform_config(struct bw_call *c) {
    if (!c->decide.no_platform_policy)
        return 0;
    decide_by_config(c);
    if (c->decide.policy) {
        const uint8_t *org = bw_policy_org_sha256(c->decide.policy);
        c->decide.decision.has_org_policy = 1;
        memcpy(c->decide.decision.org_policy_sha256, org ? org : bw_policy_sha256(c->decide.policy),
               32);
    }
    return !c->decide.policy || c->decide.decision.effect != BW_POLICY_ALLOW;
}

/* The normalized view of the body (chat and widget bodies as chat, embeddings as embeddings):
 * what the policy decides. A body it cannot read whole is refused, never forwarded unread; one
 * it can is forwarded re-serialized from the parsed JSON that was decided (after strip), not
 * as the client's bytes. 0, or -1 after denying. */
static int build_view(struct bw_call *c) {
    enum bw_policy_body_kind kind;
    if (!c->in.body_json)
        return 0; /* models: no body */
    if (bw_route_is_chat(c->route))
        kind = BW_POLICY_BODY_CHAT;
    else if (c->route == BW_ROUTE_EMBEDDINGS)
        kind = BW_POLICY_BODY_EMBEDDINGS;
    else
        return 0;
    const char *reason = BW_R_INVALID_REQUEST;
    bw_err e = bw_policy_request_view_build(&c->decide.view, c->in.body_json, kind, &reason,
                                            c->decide.refusal_buf, sizeof c->decide.refusal_buf);
    if (e != BW_OK) {
        if (c->decide.no_platform_policy)
            bw_policy_models_sha256(c->w->gw->cfg, c->ident.key.org_name,
                                    c->decide.decision.policy_sha256);
        else
            memcpy(c->decide.decision.policy_sha256, bw_policy_sha256(c->decide.policy), 32);
        if (e == BW_E_NOMEM) {
            deny(c, BW_R_INTERNAL, 503);
            return -1;
        }
        deny(c, reason, 400);
        c->decide.refusal_message = c->decide.refusal_buf;
        if (strcmp(reason, BW_R_TOOL_NAME_INVALID) == 0) /* listed without its name */
            bw_receipt_add_tool_call(&c->decide.request_tools, NULL, "deny", reason, NULL);
        return -1;
    }
    c->decide.body_modified = 1;
    return 0;
}

/* The decision receipt lists the request's tools whose own decision was not allow: stripped
 * ones (TOOL_STRIPPED), and, when the request was refused or waits for approval, the tools that
 * refused it or ask for review, each with its reason. Each tool is decided again only on that
 * path (a refusal), so an allowed call pays nothing for it. */
static void list_request_tools(struct bw_call *c) {
    size_t n = c->decide.view.n_tools;
    if (c->decide.decision.effect == BW_POLICY_ALLOW) {
        for (size_t i = 0; i < n; i++)
            if (bw_policy_stripped(&c->decide.decision, i))
                bw_receipt_add_tool_call(&c->decide.request_tools, c->decide.view.tools[i].name,
                                         "strip", BW_R_TOOL_STRIPPED, NULL);
        return;
    }
    struct bw_policy_decision *d = n ? calloc(n, sizeof *d) : NULL;
    if (!d)
        return; /* no tools, or out of memory: the receipt still has the reason and rule */
    /* A tool is listed when a rule of its own decided it: the request's own outcome (no
     * tools; e.g. a content deny) would otherwise be repeated for every tool. */
    struct bw_policy_input alone = c->decide.input;
    alone.tools = NULL;
    alone.n_tools = 0;
    struct bw_policy_decision req;
    /* both always write their decisions (a deny on failure), which is all that is read here */
    BW_IGNORE(bw_policy_eval(c->decide.policy, &alone, &req));
    /* as above: a failure writes a deny into each of d */
    BW_IGNORE(
        bw_policy_decide_tools(c->decide.policy, &c->decide.input, c->decide.view.tools, n, d));
    for (size_t i = 0; i < n; i++)
        if (d[i].effect != BW_POLICY_ALLOW &&
            (d[i].effect != req.effect || strcmp(d[i].rule, req.rule) != 0))
            bw_receipt_add_tool_call(
                &c->decide.request_tools, c->decide.view.tools[i].name,
                bw_policy_effect_name(d[i].effect),
                d[i].effect == BW_POLICY_STRIP ? BW_R_TOOL_STRIPPED : d[i].reason, NULL);
    free(d);
}

/* The decision, once c->decide.policy holds the policy in force (or none). */
static void decide(struct bw_call *c) {
    if (decide_platform_config(c) || !c->decide.policy) {
        if (c->decide.decision.effect == BW_POLICY_ALLOW && finalize_body(c) != 0)
            deny(c, BW_R_INTERNAL, 500);
        return;
    }
    c->decide.view.max_tokens = -1;
    if (build_view(c) != 0)
        return;
    fill_input(c);
    if (bw_policy_eval(c->decide.policy, &c->decide.input, &c->decide.decision) != BW_OK &&
        c->decide.decision.effect == BW_POLICY_ALLOW)
        deny(c, BW_R_INTERNAL, 500);  /* eval always denies on failure; be sure */
    if (c->decide.no_platform_policy) /* the config's text stood in for the platform policy */
        bw_policy_models_sha256(c->w->gw->cfg, c->ident.key.org_name,
                                c->decide.decision.policy_sha256);
    if (c->decide.decision.effect != BW_POLICY_DENY)
        (void)refuse_strip_conflicts(c);
    list_request_tools(c);
    if (c->decide.decision.effect == BW_POLICY_ALLOW &&
        (strip_tools(c) != 0 || finalize_body(c) != 0))
        deny(c, BW_R_INTERNAL, 500);
}

static enum bw_step_verdict decided(struct bw_call *c) {
    decide(c);
    return c->decide.decision.effect == BW_POLICY_DENY ? BW_STEP_DENY : BW_STEP_CONTINUE;
}

/* An org's policy not fresh in the cache is checked (its hash) and, when changed, read and
 * compiled on a store thread (policy/org_policies.h); the cache is shared and locked. */
struct org_policy_job {
    struct bw_org_policies *cache;
    char org_id[BW_ID_SIZE];
    struct bw_policy *platform; /* a reference, held for the job */
    int64_t now_ms;
    bw_err e;
    struct bw_policy *out; /* a reference, or NULL */
};

static void org_policy_run(struct bw_store *s, void *arg) {
    struct org_policy_job *j = arg;
    j->e = bw_org_policies_acquire(j->cache, s, j->org_id, j->platform, j->now_ms, &j->out);
}

static void org_policy_job_free(void *arg) {
    struct org_policy_job *j = arg;
    bw_policy_unref(j->out);
    bw_policy_unref(j->platform);
    free(j);
}

static enum bw_step_verdict org_policy_apply(struct bw_call *c, void *arg, bw_err err) {
    struct org_policy_job *j = arg;
    if (err != BW_OK || j->e != BW_OK) {
        policy_unavailable(c);
        return BW_STEP_DENY;
    }
    c->decide.policy = j->out; /* the job's reference is the call's now */
    j->out = NULL;
    return decided(c);
}

/* The decide step (DESIGN.md step 4): the policy in force for the caller's org (the platform's
 * composed with the org's own, if any; a store job when the org's entry is not fresh), then the
 * decision: DENY when it is a refusal, else CONTINUE (a require_approval goes on to the review
 * gate). */
enum bw_step_verdict bw_step_decide(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_policy *platform = bw_gateway_policy_acquire(gw);
    c->decide.no_platform_policy = platform == NULL;
    if (!gw->org_policies) {
        c->decide.policy = platform;
        return decided(c);
    }
    if (bw_org_policies_cached(gw->org_policies, c->ident.key.org_id, platform, bw_now_ms(),
                               &c->decide.policy)) {
        bw_policy_unref(platform);
        return decided(c);
    }
    struct org_policy_job *j = calloc(1, sizeof *j);
    if (!j) {
        bw_policy_unref(platform);
        policy_unavailable(c);
        return BW_STEP_DENY;
    }
    j->cache = gw->org_policies;
    snprintf(j->org_id, sizeof j->org_id, "%s", c->ident.key.org_id);
    j->platform = platform;
    j->now_ms = bw_now_ms();
    return bw_call_wait_job(c, org_policy_run, org_policy_apply, j, org_policy_job_free);
}

int bw_call_policy_finalize(struct bw_call *c) {
    return strip_tools(c) != 0 || finalize_body(c) != 0 ? -1 : 0;
}

void bw_call_policy_cleanup(struct bw_call *c) {
    bw_toolstream_free(c->answer.toolstream);
    bw_policy_budget_cleanup(&c->decide.policy_budget);
    bw_policy_request_view_cleanup(&c->decide.view);
    json_decref(c->in.body_json);
    free(c->decide.forward_body);
    bw_policy_unref(c->decide.policy);
}
