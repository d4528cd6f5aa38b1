/* api_agents.c: agents and their public widget under /api/v1/agents (docs/ACCESS.md).
 *
 *   POST  /api/v1/agents                {name, description?, model?}          admin
 *   GET   /api/v1/agents, /agents/{id}                                         people roles
 *   PATCH /api/v1/agents/{id}           {description?, model?}                admin
 *   POST  /api/v1/agents/{id}/widget    {enabled, origins?, rotate_key?}      admin
 *   POST  /api/v1/agents/{id}/delete    destructive: dry run, then confirm    admin
 *
 * The widget is disabled by default. Enabling it the first time (or with rotate_key) makes a
 * public key "bwp_..." (32 random bytes): public because it sits in a web page, unguessable so
 * nobody can talk to an agent whose key they were not given. Every change is an admin receipt. */
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gateway/gateway.h"
#include "http/origin.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "util/codec.h"
#include "util/text.h"
#include "util/time.h"

#define MAX_ORIGINS 16

static json_t *agent_json(const struct bw_agent_record *a) {
    json_t *origins = json_array();
    char copy[sizeof a->widget_origins];
    snprintf(copy, sizeof copy, "%s", a->widget_origins);
    char *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t && origins; t = strtok_r(NULL, " ", &save))
        json_array_append_new(origins, json_string(t));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:{s:b, s:s?, s:o}}", "id", a->id, "object",
                     "agent", "name", a->name, "description", a->description, "model", a->model,
                     "created_ms", (json_int_t)a->created_ms, "widget", "enabled",
                     a->widget_enabled, "public_key", a->widget_key[0] ? a->widget_key : NULL,
                     "origins", origins ? origins : json_array());
}

static int bad(struct evhttp_request *req, const char *msg) {
    bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
    return 0;
}

/* ---- a change waiting for its receipt ---- */

struct change {
    struct evhttp_request *req;
    struct bw_store *store;
    struct bw_agent_record agent;
    int insert; /* 1: create, 0: update */
    int delete;
};

static void change_apply(void *arg, bw_err err, const char *rid) {
    struct change *c = arg;
    bw_err e = err;
    if (err == BW_OK) {
        if (c->delete)
            e = bw_store_agent_delete(c->store, c->agent.org_id, c->agent.id, bw_now_ms());
        else if (c->insert)
            e = bw_store_agent_insert(c->store, &c->agent);
        else
            e = bw_store_agent_update(c->store, &c->agent);
    }
    if (err != BW_OK) {
        bw_api_reply_ledger_error(c->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(c->req, e, "agent");
    } else {
        bw_auth_cache_invalidate_all(); /* widget and key caches see the change at once */
        bw_http_add_receipt_headers(c->req, rid, NULL);
        json_t *o = c->delete ? json_pack("{s:s, s:b}", "id", c->agent.id, "deleted", 1)
                              : agent_json(&c->agent);
        if (o)
            json_object_set_new(o, "receipt_id", json_string(rid));
        bw_api_reply(c->req, c->insert ? 201 : 200, o);
    }
    free(c);
}

static void record_change(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                          const struct bw_key_record *caller, const struct bw_agent_record *a,
                          const char *action, int insert, int delete) {
    struct change *c = calloc(1, sizeof *c);
    if (!c) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    c->req = req;
    c->store = ctx->store;
    c->agent = *a;
    c->insert = insert;
    c->delete = delete;
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, action, a->id, BW_R_ADMIN_CHANGE, NULL, 0);
    snprintf(r.agent, sizeof r.agent, "%s", a->name);
    bw_api_record(ctx, &r, change_apply, c);
}

/* ---- create, list, get, update ---- */

static void create(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                   const struct bw_key_record *caller) {
    (void)rest;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct bw_agent_record a;
    memset(&a, 0, sizeof a);
    int ok =
        bw_api_text(req, body, "name", 63, 1, a.name, sizeof a.name) > 0 &&
        bw_api_text(req, body, "description", 255, 0, a.description, sizeof a.description) >= 0 &&
        bw_api_text(req, body, "model", 127, 0, a.model, sizeof a.model) >= 0;
    json_decref(body);
    if (!ok)
        return;
    if (!bw_text_agent_ok(a.name) || (a.model[0] && !bw_text_model_ok(a.model))) {
        bad(req, "name: letters, digits, '-', '_', '.'; model: printable ASCII without spaces");
        return;
    }
    bw_store_new_id("agt", a.id);
    snprintf(a.org_id, sizeof a.org_id, "%s", caller->org_id);
    a.created_ms = bw_now_ms();
    record_change(ctx, req, caller, &a, "agent.create", 1, 0);
}

static int add_agent(void *arg, const struct bw_agent_record *a) {
    return json_array_append_new(arg, agent_json(a));
}

static void list(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                 const struct bw_key_record *caller) {
    (void)rest;
    json_t *data = json_array();
    bw_err e = data ? bw_store_agent_list(ctx->store, caller->org_id, add_agent, data) : BW_E_NOMEM;
    bw_api_reply_list(req, e, data, "agent");
}

/* The agent named by rest's id, in the caller's org. 0 after replying (404 alike for a
 * malformed id, a missing one and another org's). */
static int load(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                const struct bw_key_record *caller, const char *rest, char action[32],
                struct bw_agent_record *a) {
    char id[BW_ID_SIZE];
    bw_err e = bw_api_split_rest(rest, id, action)
                   ? bw_store_agent_get(ctx->store, caller->org_id, id, a)
                   : BW_E_NOT_FOUND;
    return bw_api_store_ok(req, e, "agent");
}

/* load() for a path that must name the agent alone ("{id}", no action after it). */
static int load_item(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                     const struct bw_key_record *caller, const char *rest,
                     struct bw_agent_record *a) {
    char action[32];
    if (!load(ctx, req, caller, rest, action, a))
        return 0;
    if (action[0]) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return 0;
    }
    return 1;
}

static void get(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                const struct bw_key_record *caller) {
    struct bw_agent_record a;
    if (load_item(ctx, req, caller, rest, &a))
        bw_api_reply(req, 200, agent_json(&a));
}

static void update(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                   const struct bw_key_record *caller) {
    struct bw_agent_record a;
    if (!load_item(ctx, req, caller, rest, &a))
        return;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    int ok =
        bw_api_text(req, body, "description", 255, 0, a.description, sizeof a.description) >= 0 &&
        bw_api_text(req, body, "model", 127, 0, a.model, sizeof a.model) >= 0;
    json_decref(body);
    if (!ok)
        return;
    if (a.model[0] && !bw_text_model_ok(a.model)) {
        bad(req, "model: printable ASCII without spaces");
        return;
    }
    record_change(ctx, req, caller, &a, "agent.update", 0, 0);
}

/* ---- widget ---- */

/* origins: an array of "http(s)://host[:port]" (no path), joined by spaces into out. */
static int read_origins(struct evhttp_request *req, const json_t *v, char *out, size_t size) {
    if (!json_is_array(v) || json_array_size(v) > MAX_ORIGINS)
        return bad(req, "origins must be an array of at most 16 origins");
    size_t used = 0, i;
    json_t *o;
    out[0] = 0;
    json_array_foreach(v, i, o) {
        const char *t = json_string_value(o);
        size_t n = t ? strlen(t) : 0;
        if (!t || n > 200 || n != json_string_length(o) || !bw_http_origin_valid(t))
            return bad(req, "each origin is exactly as a browser sends it: http or https, "
                            "\"://\", a lowercase host (an IDN as its xn-- A-label), an "
                            "optional port 1-65535 that is not the scheme's default, and "
                            "nothing else (no path, trailing slash or dot, userinfo or "
                            "wildcard), e.g. https://shop.example");
        if (used + n + 2 > size)
            return bad(req, "origins are too long together");
        used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " " : "", t);
    }
    return 1;
}

static void widget(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                   const struct bw_key_record *caller, struct bw_agent_record *a) {
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    json_t *enabled = json_object_get(body, "enabled");
    json_t *origins = json_object_get(body, "origins");
    json_t *rotate = json_object_get(body, "rotate_key");
    int ok = json_is_boolean(enabled) && (!rotate || json_is_boolean(rotate));
    if (!ok)
        bad(req, "enabled (boolean) is required; rotate_key is a boolean");
    else if (origins)
        ok = read_origins(req, origins, a->widget_origins, sizeof a->widget_origins);
    if (ok) {
        a->widget_enabled = json_is_true(enabled);
        if (((a->widget_enabled && !a->widget_key[0]) || json_is_true(rotate)) &&
            bw_token_generate(BW_WIDGET_KEY_PREFIX, a->widget_key, sizeof a->widget_key) != BW_OK)
            bw_http_reply_error(req, 500, BW_R_INTERNAL, "cannot make a widget key", NULL, NULL);
        else
            record_change(ctx, req, caller, a, "agent.widget", 0, 0);
    }
    json_decref(body);
}

/* ---- delete (destructive) ---- */

/* Deleting an agent revokes the keys bound to it: a caller may do that only if it could revoke
 * each of them directly (api_keys.c: its role covers the key's role and, for another person's
 * key, that person's role), so an admin cannot revoke an owner's key this way. 0 after
 * replying. */
static int may_revoke_bound(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                            const struct bw_key_record *caller, const struct bw_agent_record *a) {
    static const char *const roles[] = {"owner", "admin", "reviewer", "member", "agent"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (bw_auth_role_covers(caller->role, roles[i]))
            continue;
        int64_t n = 0;
        bw_err e = bw_store_agent_bound_keys(ctx->store, caller->org_id, a->id, roles[i],
                                             caller->member_id, &n);
        if (!bw_api_store_ok(req, e, "agent"))
            return 0;
        if (n > 0) {
            bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                                "a key bound to this agent has a role, or belongs to a person, "
                                "this key may not revoke",
                                NULL, NULL);
            return 0;
        }
    }
    return 1;
}

static void delete_agent(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                         const struct bw_key_record *caller, const struct bw_agent_record *a) {
    if (!may_revoke_bound(ctx, req, caller, a))
        return;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    const char *token = NULL;
    enum bw_confirm_step step = bw_api_confirm_step(req, body, &token);
    int64_t transcripts = 0, keys = 0;
    bw_err e = bw_store_agent_counts(ctx->store, caller->org_id, a->id, &transcripts, &keys);
    json_t *plan = e == BW_OK ? json_pack("{s:s, s:s, s:I, s:I}", "agent_id", a->id, "name",
                                          a->name, "transcripts_deleted", (json_int_t)transcripts,
                                          "keys_revoked", (json_int_t)keys)
                              : NULL;
    if (!plan)
        bw_api_reply_store_error(req, e == BW_OK ? BW_E_UNAVAILABLE : e, "agent");
    else if (step == BW_CONFIRM_MISSING)
        bw_api_confirm_required(req);
    else if (step == BW_CONFIRM_DRY_RUN)
        bw_api_confirm_offer(ctx, req, caller, caller->org_id, "agent.delete", a->id,
                             json_incref(plan));
    else if (bw_api_confirm_check(ctx, req, caller->org_id, "agent.delete", a->id, token, plan))
        record_change(ctx, req, caller, a, "agent.delete", 0, 1);
    json_decref(plan);
    json_decref(body);
}

static void post_item(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                      const struct bw_key_record *caller) {
    char action[32];
    struct bw_agent_record a;
    if (!load(ctx, req, caller, rest, action, &a))
        return;
    if (strcmp(action, "widget") == 0)
        widget(ctx, req, caller, &a);
    else if (strcmp(action, "delete") == 0)
        delete_agent(ctx, req, caller, &a);
    else
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
}

const struct bw_api_route bw_api_routes_agents[] = {
    {EVHTTP_REQ_POST, "/api/v1/agents", BW_API_ADMIN, create},
    {EVHTTP_REQ_GET, "/api/v1/agents", BW_API_PEOPLE, list},
    {EVHTTP_REQ_GET, "/api/v1/agents/", BW_API_PEOPLE, get},
    {EVHTTP_REQ_PATCH, "/api/v1/agents/", BW_API_ADMIN, update},
    {EVHTTP_REQ_POST, "/api/v1/agents/", BW_API_ADMIN, post_item},
    {0, NULL, BW_API_PUBLIC, NULL},
};
