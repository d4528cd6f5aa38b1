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

#define STREAM_CALL_TIMEOUT_MS 30000

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

/* The first policy step: allowed_models from the config. Without a platform policy file this
 * is the operator's restriction for every call, an org's own policy or not. */
static void decide_by_config(struct bw_call *c) {
    struct bw_policy_decision *d = &c->decision;
    memset(d, 0, sizeof *d);
    /* not the config's own hash: a tenant's evidence pack must not carry the operator's config
     * (other orgs, upstream, billing); this org's part of it stands in (policy.h) */
    bw_policy_models_sha256(c->w->gw->cfg, c->key.org_name, d->policy_sha256);
    d->layer = "config";
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
    d->layer = NULL; /* not a policy layer's decision */
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
    /* One budget for every decision of this call: the request, its tools and every tool call
     * of its answer (docs/POLICY.md "Regex work budget"). */
    in->budget = &c->policy_budget;
}

/* The policy in force for the caller's org: the platform's composed with the org's own (if
 * any). 0, or -1 after denying (the org's policy could not be read: fail closed). */
static int acquire_policy(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_policy *platform = bw_gateway_policy_acquire(gw);
    c->no_platform_policy = platform == NULL;
    if (!gw->org_policies) {
        c->policy = platform;
        return 0;
    }
    bw_err e = bw_org_policies_acquire(gw->org_policies, c->w->store, c->key.org_id, platform,
                                       bw_now_ms(), &c->policy);
    bw_policy_unref(platform);
    if (e != BW_OK) {
        c->policy = NULL;
        bw_policy_models_sha256(gw->cfg, c->key.org_name, c->decision.policy_sha256);
        deny(c, BW_R_POLICY_UNAVAILABLE, 503);
        return -1;
    }
    return 0;
}

/* Without a platform policy file the config's allowed_models are the operator's layer: they
 * hold first, and an org's own policy only decides what they let through (it can tighten,
 * never loosen them). Returns 1 when that layer decided (deny) or there is nothing else. */
static int decide_platform_config(struct bw_call *c) {
    if (!c->no_platform_policy)
        return 0;
    decide_by_config(c);
    if (c->policy) {
        const uint8_t *org = bw_policy_org_sha256(c->policy);
        c->decision.has_org_policy = 1;
        memcpy(c->decision.org_policy_sha256, org ? org : bw_policy_sha256(c->policy), 32);
    }
    return !c->policy || c->decision.effect != BW_POLICY_ALLOW;
}

void bw_call_decide(struct bw_call *c) {
    if (acquire_policy(c) != 0)
        return;
    if (decide_platform_config(c) || !c->policy) {
        if (c->decision.effect == BW_POLICY_ALLOW && finalize_body(c) != 0)
            deny(c, BW_R_INTERNAL, 500);
        return;
    }
    c->view.max_tokens = -1;
    if (bw_route_is_chat(c->route) && c->body_json) {
        bw_err e = bw_policy_request_view_init(&c->view, c->body_json);
        if (e != BW_OK) {
            if (c->no_platform_policy)
                bw_policy_models_sha256(c->w->gw->cfg, c->key.org_name,
                                        c->decision.policy_sha256);
            else
                memcpy(c->decision.policy_sha256, bw_policy_sha256(c->policy), 32);
            deny(c, BW_R_INVALID_REQUEST, 400);
            return;
        }
    }
    fill_input(c);
    if (bw_policy_eval(c->policy, &c->input, &c->decision) != BW_OK &&
        c->decision.effect == BW_POLICY_ALLOW)
        deny(c, BW_R_INTERNAL, 500); /* eval always denies on failure; be sure */
    if (c->no_platform_policy) /* the config's text stood in for the platform policy */
        bw_policy_models_sha256(c->w->gw->cfg, c->key.org_name, c->decision.policy_sha256);
    if (c->decision.effect == BW_POLICY_ALLOW && (strip_tools(c) != 0 || finalize_body(c) != 0))
        deny(c, BW_R_INTERNAL, 500);
}

int bw_call_policy_finalize(struct bw_call *c) {
    return strip_tools(c) != 0 || finalize_body(c) != 0 ? -1 : 0;
}

void bw_call_policy_cleanup(struct bw_call *c) {
    bw_toolstream_free(c->toolstream);
    bw_policy_budget_cleanup(&c->policy_budget);
    bw_policy_request_view_cleanup(&c->view);
    json_decref(c->body_json);
    free(c->forward_body);
    bw_policy_unref(c->policy);
}

/* Step 9 lists every decided call in the outcome receipt: name, decision, argument hash. */
static void record_verdict(struct bw_call *c, const struct bw_policy_call_verdict *v) {
    bw_receipt_add_tool_call(&c->tool_calls, v->name[0] ? v->name : NULL,
                             bw_policy_effect_name(v->decision.effect), v->decision.reason,
                             v->has_args ? v->args_sha256 : NULL);
}

static void on_stream_verdict(void *arg, const struct bw_policy_call_verdict *v) {
    record_verdict(arg, v);
}

int bw_call_govern_response(struct bw_call *c, json_t *response, int *changed) {
    *changed = 0;
    if (!c->policy || !bw_route_is_chat(c->route))
        return 0;
    struct bw_policy_call_verdict *v = NULL;
    size_t n = 0;
    if (bw_policy_enforce_response(c->policy, &c->input, response, &v, &n) != BW_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i].decision.effect != BW_POLICY_ALLOW)
            *changed = 1;
        record_verdict(c, &v[i]);
        bw_info("proxy: tool call %zu: %s (%s, rule %s)", i,
                bw_policy_effect_name(v[i].decision.effect), v[i].decision.reason,
                v[i].decision.rule[0] ? v[i].decision.rule : "-");
    }
    free(v);
    return 0;
}

static bw_err emit_chunk(void *arg, const json_t *chunk) {
    bw_forward_send_json_event(arg, chunk);
    return BW_OK;
}

int bw_call_govern_stream(struct bw_call *c, json_t *chunk) {
    if (!c->toolstream) {
        struct bw_toolstream_config cfg = {
            .policy = c->policy,
            .ctx = &c->input,
            .call_timeout_ms = STREAM_CALL_TIMEOUT_MS,
            .emit = emit_chunk,
            .on_verdict = on_stream_verdict,
            .arg = c,
        };
        if (bw_toolstream_new(&cfg, &c->toolstream) != BW_OK)
            return -1;
    }
    int64_t now = bw_mono_us() / 1000;
    if (bw_toolstream_feed(c->toolstream, chunk, now) != BW_OK ||
        bw_toolstream_expire(c->toolstream, now) != BW_OK)
        return -1;
    return 0;
}

int bw_call_govern_stream_end(struct bw_call *c) {
    return c->toolstream && bw_toolstream_finish(c->toolstream) != BW_OK ? -1 : 0;
}
