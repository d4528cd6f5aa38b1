/* proxy_policy.c: step 4 (decide) and step 7 (inspect) of DESIGN.md with the rule engine.
 *
 * With a policy configured, every call is decided by it (docs/POLICY.md): the request, each
 * declared tool (a `strip` removes the tool from the forwarded body), each tool call in a plain
 * answer (refused calls are removed before the client sees the answer), and each tool call in a
 * stream (held back until complete, then released or dropped by the tool-stream assembler).
 * Without one, the config's per-org allowed_models decide, as before. */
#include <stdlib.h>
#include <string.h>

#include "policy/reasons.h"
#include "proxy/org_policies.h"
#include "proxy/proxy_internal.h"
#include "util/log.h"
#include "util/time.h"

void bw_gateway_policy_init(struct bw_gateway *gw) {
    pthread_mutex_init(&gw->policy_mu, NULL);
    gw->policy = NULL;
}

struct bw_policy *bw_gateway_policy_acquire(struct bw_gateway *gw) {
    pthread_mutex_lock(&gw->policy_mu);
    struct bw_policy *p = gw->policy ? bw_policy_ref(gw->policy) : NULL;
    pthread_mutex_unlock(&gw->policy_mu);
    return p;
}

void bw_gateway_policy_swap(struct bw_gateway *gw, struct bw_policy *p) {
    pthread_mutex_lock(&gw->policy_mu);
    struct bw_policy *old = gw->policy;
    gw->policy = p;
    pthread_mutex_unlock(&gw->policy_mu);
    bw_policy_unref(old); /* requests still holding it keep it alive */
}

const char *bw_call_decision_name(const struct bw_call *c) {
    return bw_policy_effect_name(c->decision.effect);
}

/* The first policy step: allowed_models from the config. */
static void decide_by_config(struct bw_call *c) {
    struct bw_policy_decision *d = &c->decision;
    memset(d, 0, sizeof *d);
    memcpy(d->policy_sha256, c->w->gw->cfg->sha256, 32);
    if (c->route == BW_ROUTE_MODELS) {
        d->effect = BW_POLICY_ALLOW;
        snprintf(d->reason, sizeof d->reason, "%s", BW_R_ALLOWED);
        snprintf(d->rule, sizeof d->rule, "models.list");
        d->http_status = 200;
        return;
    }
    struct bw_verdict v;
    bw_policy_decide_model(c->w->gw->cfg, c->key.org_name, c->model, &v);
    d->effect = v.decision == BW_DECISION_ALLOW ? BW_POLICY_ALLOW : BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", v.reason);
    snprintf(d->rule, sizeof d->rule, "%s", v.rule);
    d->http_status = v.http_status;
}

static void deny(struct bw_call *c, const char *reason, int status) {
    struct bw_policy_decision *d = &c->decision;
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->rule[0] = 0;
    d->http_status = status;
}

/* Removes the stripped tools from the request and serializes what will be forwarded. */
static int strip_tools(struct bw_call *c) {
    json_t *tools = json_object_get(c->body_json, "tools");
    if (!json_is_array(tools))
        return 0;
    int any = 0;
    for (size_t i = json_array_size(tools); i-- > 0;) {
        if (i < BW_POLICY_MAX_TOOLS && bw_policy_stripped(&c->decision, i)) {
            json_array_remove(tools, i);
            any = 1;
        }
    }
    if (!any)
        return 0;
    c->body_modified = 1;
    if (json_array_size(tools) == 0) {
        json_object_del(c->body_json, "tools");
        json_object_del(c->body_json, "tool_choice");
    }
    return 0;
}

/* Serializes the body to forward when admission or policy changed it. */
static int finalize_body(struct bw_call *c) {
    if (!c->body_modified || !c->body_json)
        return 0;
    c->forward_body = json_dumps(c->body_json, JSON_COMPACT);
    if (!c->forward_body)
        return -1;
    c->forward_len = strlen(c->forward_body);
    return 0;
}

static void fill_input(struct bw_call *c) {
    struct bw_policy_input *in = &c->input;
    memset(in, 0, sizeof *in);
    in->org = c->key.org_name;
    in->agent = c->key.agent[0] ? c->key.agent : NULL;
    in->role = c->key.role;
    in->route = bw_route_name(c->route);
    in->model = c->model[0] ? c->model : NULL;
    in->max_tokens = c->view.max_tokens;
    /* the worst case admission reserved, in currency units (the price table's micro-units
     * / 1e6); unknown price: -1, which a cost bound treats as unbounded (docs/POLICY.md) */
    in->estimated_cost = c->worst_cost_micros >= 0 ? (double)c->worst_cost_micros / 1e6 : -1;
    in->tools = c->view.tools;
    in->n_tools = c->view.n_tools;
    in->texts = c->view.texts;
    in->n_texts = c->view.n_texts;
    in->now_s = bw_now_ms() / 1000;
}

/* The policy in force for the caller's org: the platform's composed with the org's own (if
 * any). 0, or -1 after denying (the org's policy could not be read: fail closed). */
static int acquire_policy(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_policy *platform = bw_gateway_policy_acquire(gw);
    if (!gw->org_policies) {
        c->policy = platform;
        return 0;
    }
    bw_err e = bw_org_policies_acquire(gw->org_policies, c->w->store, c->key.org_id, platform,
                                       bw_now_ms(), &c->policy);
    bw_policy_unref(platform);
    if (e != BW_OK) {
        c->policy = NULL;
        memcpy(c->decision.policy_sha256, gw->cfg->sha256, 32);
        deny(c, BW_R_POLICY_UNAVAILABLE, 503);
        return -1;
    }
    return 0;
}

void bw_call_decide(struct bw_call *c) {
    if (acquire_policy(c) != 0)
        return;
    if (!c->policy) {
        decide_by_config(c);
        if (c->decision.effect == BW_POLICY_ALLOW && finalize_body(c) != 0)
            deny(c, BW_R_INTERNAL, 500);
        return;
    }
    c->view.max_tokens = -1;
    if (bw_route_is_chat(c->route) && c->body_json) {
        bw_err e = bw_policy_request_view_init(&c->view, c->body_json);
        if (e != BW_OK) {
            memcpy(c->decision.policy_sha256, bw_policy_sha256(c->policy), 32);
            deny(c, BW_R_INVALID_REQUEST, 400);
            return;
        }
    }
    fill_input(c);
    if (bw_policy_eval(c->policy, &c->input, &c->decision) != BW_OK &&
        c->decision.effect == BW_POLICY_ALLOW)
        deny(c, BW_R_INTERNAL, 500); /* eval always denies on failure; be sure */
    if (c->decision.effect == BW_POLICY_ALLOW && (strip_tools(c) != 0 || finalize_body(c) != 0))
        deny(c, BW_R_INTERNAL, 500);
}

int bw_call_policy_finalize(struct bw_call *c) {
    return strip_tools(c) != 0 || finalize_body(c) != 0 ? -1 : 0;
}

void bw_call_policy_cleanup(struct bw_call *c) {
    bw_toolstream_free(c->toolstream);
    bw_policy_request_view_cleanup(&c->view);
    json_decref(c->body_json);
    free(c->forward_body);
    bw_policy_unref(c->policy);
}
