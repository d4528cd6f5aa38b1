/* api_orgs.c: the caller, its org, members, transcripts, and the operator's view of orgs
 * (docs/ACCESS.md).
 *
 *   GET    /api/v1/me                         any key (operator too): who am I
 *   GET    /api/v1/org                        people roles: my org
 *   POST   /api/v1/org/delete                 owner, destructive (dry run, confirm)
 *   GET    /api/v1/members                    admin        POST /api/v1/members {email, role}
 *   DELETE /api/v1/members/{id}               admin: removes the member, revokes their keys
 *   GET    /api/v1/transcripts                owner, admin, reviewer (?agent_id, conversation,
 *                                             before_ms, limit)
 *   POST   /api/v1/transcripts/purge          admin, destructive {before_ms?, agent_id?}
 *   GET    /api/v1/orgs                       operator: every org (ids, names)
 *   POST   /api/v1/orgs {name}                operator: a new org and its first owner key
 *   POST   /api/v1/orgs/{id}/delete           operator, destructive */
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "util/time.h"

/* ---- a change waiting for its receipt ---- */

enum op { OP_ORG_DELETE, OP_MEMBER_ADD, OP_MEMBER_DELETE, OP_PURGE, OP_ORG_CREATE };

struct change {
    enum op op;
    struct evhttp_request *req;
    struct bw_store *store;
    char org_id[BW_ID_SIZE];
    char target[BW_ID_SIZE];
    struct bw_member_record member;
    int64_t before_ms;
    struct bw_key_record owner; /* OP_ORG_CREATE: the first owner key */
    char *secret;               /* OP_ORG_CREATE: sodium_malloc'd */
    char org_name[64];
};

static void change_free(struct change *c) {
    if (c->secret) {
        sodium_memzero(c->secret, BW_KEY_SIZE);
        sodium_free(c->secret);
    }
    free(c);
}

/* The org, its first owner member and that member's first owner key (the key's principal:
 * docs/ACCESS.md "Principals"). */
static bw_err org_create(struct change *c) {
    char id[BW_ID_SIZE];
    BW_TRY(bw_store_org_create(c->store, c->org_name, id));
    snprintf(c->owner.org_id, sizeof c->owner.org_id, "%s", id);
    snprintf(c->org_id, sizeof c->org_id, "%s", id);
    snprintf(c->member.org_id, sizeof c->member.org_id, "%s", id);
    BW_TRY(bw_store_member_insert(c->store, &c->member));
    return bw_store_key_insert(c->store, &c->owner);
}

static json_t *apply_op(struct change *c, bw_err *e) {
    int64_t n = 0;
    switch (c->op) {
    case OP_ORG_DELETE:
        *e = bw_store_org_delete(c->store, c->org_id);
        return json_pack("{s:s, s:b}", "id", c->org_id, "deleted", 1);
    case OP_MEMBER_ADD:
        *e = bw_store_member_insert(c->store, &c->member);
        return json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", c->member.id, "object", "member",
                         "email", c->member.email, "role", c->member.role, "created_ms",
                         (json_int_t)c->member.created_ms);
    case OP_MEMBER_DELETE:
        *e = bw_store_member_delete(c->store, c->org_id, c->target, bw_now_ms(), &n);
        return json_pack("{s:s, s:b, s:I}", "id", c->target, "deleted", 1, "keys_revoked",
                         (json_int_t)n);
    case OP_PURGE:
        *e = bw_store_transcript_purge(c->store, c->org_id, c->target, c->before_ms, 0, &n);
        return json_pack("{s:s, s:I}", "action", "transcripts.purge", "deleted", (json_int_t)n);
    case OP_ORG_CREATE:
        *e = org_create(c);
        return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "id", c->org_id, "name", c->org_name,
                         "owner_member_id", c->member.id, "owner_key", "id", c->owner.id, "role",
                         "owner", "key", c->secret);
    default:
        *e = BW_E_INTERNAL;
        return NULL;
    }
}

static void change_apply(void *arg, bw_err err, const char *rid) {
    struct change *c = arg;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(c->req);
        change_free(c);
        return;
    }
    bw_err e = BW_OK;
    json_t *o = apply_op(c, &e);
    if (e != BW_OK) {
        json_decref(o);
        bw_api_reply_store_error(c->req, e, c->op == OP_PURGE ? "transcript" : "object");
    } else {
        bw_auth_cache_invalidate_all(); /* deleted orgs and members' revoked keys: at once */
        if (o)
            json_object_set_new(o, "receipt_id", json_string(rid));
        bw_http_add_receipt_headers(c->req, rid, NULL);
        bw_api_reply(c->req, c->op == OP_MEMBER_ADD || c->op == OP_ORG_CREATE ? 201 : 200, o);
    }
    change_free(c);
}

static struct change *change_new(struct evhttp_request *req, const struct bw_api_ctx *ctx,
                                 enum op op, const char *org_id, const char *target) {
    struct change *c = calloc(1, sizeof *c);
    if (!c) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return NULL;
    }
    c->op = op;
    c->req = req;
    c->store = ctx->store;
    snprintf(c->org_id, sizeof c->org_id, "%s", org_id);
    snprintf(c->target, sizeof c->target, "%s", target);
    return c;
}

static void record(const struct bw_api_ctx *ctx, const struct bw_key_record *caller,
                   struct change *c, const char *action) {
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, c->org_id, action, c->target[0] ? c->target : c->org_id,
                         BW_R_ADMIN_CHANGE, NULL, 0);
    bw_api_record(ctx, &r, change_apply, c);
}

/* Dry run or confirm for a destructive op whose plan is `plan` (stolen). Records the change
 * (c, taken) only when confirmed. */
static void destructive(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                        const struct bw_key_record *caller, const json_t *body, json_t *plan,
                        struct change *c, const char *action) {
    const char *token = NULL;
    enum bw_confirm_step step = bw_api_confirm_step(req, body, &token);
    const char *target = c->target[0] ? c->target : c->org_id;
    if (step == BW_CONFIRM_MISSING) {
        bw_api_confirm_required(req);
    } else if (step == BW_CONFIRM_DRY_RUN) {
        bw_api_confirm_offer(ctx, req, caller, c->org_id, action, target, json_incref(plan));
    } else if (bw_api_confirm_check(ctx, req, c->org_id, action, target, token, plan)) {
        record(ctx, caller, c, action);
        c = NULL;
    }
    if (c)
        change_free(c);
    json_decref(plan);
}

/* ---- me, org ---- */

static void me(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
               const struct bw_key_record *caller) {
    (void)ctx;
    (void)rest;
    bw_api_reply(req, 200,
                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "key_id", caller->id,
                           "org_id", caller->org_id, "org", caller->org_name, "role", caller->role,
                           "agent", caller->agent, "name", caller->name, "principal",
                           caller->member_id, "expires_ms", (json_int_t)caller->expires_ms));
}

static void org_get(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    (void)rest;
    struct bw_org_record o;
    bw_err e = bw_store_org_get(ctx->store, caller->org_id, &o);
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "org");
        return;
    }
    bw_api_reply(req, 200,
                 json_pack("{s:s, s:s, s:s, s:I}", "id", o.id, "object", "org", "name", o.name,
                           "created_ms", (json_int_t)o.created_ms));
}

static json_t *org_plan(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                        const char *org_id) {
    struct bw_org_counts n;
    bw_err e = bw_store_org_counts(ctx->store, org_id, &n);
    json_t *plan = e == BW_OK
                       ? json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "org_id", org_id, "keys",
                                   (json_int_t)n.keys, "members", (json_int_t)n.members, "agents",
                                   (json_int_t)n.agents, "transcripts", (json_int_t)n.transcripts,
                                   "usage_rows", (json_int_t)n.usage)
                       : NULL;
    if (!plan)
        bw_api_reply_store_error(req, e == BW_OK ? BW_E_UNAVAILABLE : e, "org");
    return plan;
}

static void org_delete_as(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                          const struct bw_key_record *caller, const char *org_id) {
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    json_t *plan = org_plan(ctx, req, org_id);
    struct change *c = plan ? change_new(req, ctx, OP_ORG_DELETE, org_id, "") : NULL;
    if (c)
        destructive(ctx, req, caller, body, plan, c, "org.delete");
    else
        json_decref(plan);
    json_decref(body);
}

static void org_post(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                     const struct bw_key_record *caller) {
    if (strcmp(rest, "delete") != 0) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    org_delete_as(ctx, req, caller, caller->org_id);
}

/* ---- members ---- */

static int add_member(void *arg, const struct bw_member_record *m) {
    return json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", m->id, "object",
                                                "member", "email", m->email, "role", m->role,
                                                "created_ms", (json_int_t)m->created_ms));
}

static void members_list(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                         const struct bw_key_record *caller) {
    (void)rest;
    json_t *data = json_array();
    bw_err e =
        data ? bw_store_member_list(ctx->store, caller->org_id, add_member, data) : BW_E_NOMEM;
    bw_api_reply_list(req, e, data, "member");
}

static int role_allowed_for(const char *caller_role, const char *role) {
    if (strcmp(role, "owner") == 0)
        return strcmp(caller_role, "owner") == 0; /* only an owner makes an owner */
    return strcmp(role, "admin") == 0 || strcmp(role, "reviewer") == 0 ||
           strcmp(role, "member") == 0;
}

static void members_add(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                        const struct bw_key_record *caller) {
    (void)rest;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct change *c = change_new(req, ctx, OP_MEMBER_ADD, caller->org_id, "");
    struct bw_member_record *m = c ? &c->member : NULL;
    int ok = c && bw_api_text(req, body, "email", 254, 1, m->email, sizeof m->email) > 0 &&
             bw_api_text(req, body, "role", 15, 1, m->role, sizeof m->role) > 0;
    json_decref(body);
    if (!ok) {
        if (c)
            change_free(c);
        return;
    }
    if (!strchr(m->email, '@') || !role_allowed_for(caller->role, m->role)) {
        change_free(c);
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "email must contain '@'; role: admin, reviewer, member (owner only "
                            "by an owner)",
                            NULL, NULL);
        return;
    }
    bw_store_new_id("mem", m->id);
    snprintf(m->org_id, sizeof m->org_id, "%s", caller->org_id);
    m->created_ms = bw_now_ms();
    snprintf(c->target, sizeof c->target, "%s", m->id);
    record(ctx, caller, c, "member.add");
}

static void members_delete(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                           const char *rest, const struct bw_key_record *caller) {
    char id[BW_ID_SIZE], action[32];
    struct bw_member_record m;
    bw_err e = bw_api_split_rest(rest, id, action) && !action[0]
                   ? bw_store_member_get(ctx->store, caller->org_id, id, &m)
                   : BW_E_NOT_FOUND;
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "member");
        return;
    }
    if (strcmp(m.role, "owner") == 0 && strcmp(caller->role, "owner") != 0) {
        bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN, "only an owner removes an owner", NULL,
                            NULL);
        return;
    }
    struct change *c = change_new(req, ctx, OP_MEMBER_DELETE, caller->org_id, id);
    if (c)
        record(ctx, caller, c, "member.delete");
}

/* ---- transcripts ---- */

static int add_message(void *arg, const struct bw_transcript_record *t) {
    return json_array_append_new(
        arg, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id", t->id, "agent_id", t->agent_id,
                       "conversation_id", t->conversation, "role", t->role, "content", t->content,
                       "receipt_id", t->receipt_id, "created_ms", (json_int_t)t->created_ms));
}

static void transcripts_list(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                             const char *rest, const struct bw_key_record *caller) {
    (void)rest;
    char agent[BW_ID_SIZE], conv[BW_ID_SIZE], before[24], limit[8];
    bw_api_query(req, "agent_id", agent, sizeof agent);
    bw_api_query(req, "conversation_id", conv, sizeof conv);
    bw_api_query(req, "before_ms", before, sizeof before);
    bw_api_query(req, "limit", limit, sizeof limit);
    json_t *data = json_array();
    bw_err e = data ? bw_store_transcript_list(ctx->store, caller->org_id, agent, conv,
                                               strtoll(before, NULL, 10),
                                               (size_t)strtoul(limit, NULL, 10), add_message, data)
                    : BW_E_NOMEM;
    bw_api_reply_list(req, e, data, "transcript");
}

static void transcripts_purge(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                              const char *rest, const struct bw_key_record *caller) {
    if (strcmp(rest, "purge") != 0) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct change *c = change_new(req, ctx, OP_PURGE, caller->org_id, "");
    int ok =
        c &&
        bw_api_text(req, body, "agent_id", BW_ID_SIZE - 1, 0, c->target, sizeof c->target) >= 0 &&
        bw_api_int(req, body, "before_ms", 1, INT64_MAX, &c->before_ms) >= 0;
    int64_t n = 0;
    bw_err e =
        ok ? bw_store_transcript_purge(ctx->store, caller->org_id, c->target, c->before_ms, 1, &n)
           : BW_OK;
    json_t *plan = ok && e == BW_OK
                       ? json_pack("{s:s, s:I, s:I}", "agent_id", c->target, "before_ms",
                                   (json_int_t)c->before_ms, "messages_deleted", (json_int_t)n)
                       : NULL;
    if (ok && !plan)
        bw_api_reply_store_error(req, e == BW_OK ? BW_E_UNAVAILABLE : e, "transcript");
    if (plan)
        destructive(ctx, req, caller, body, plan, c, "transcripts.purge");
    else if (c)
        change_free(c);
    json_decref(body);
}

/* ---- operator ---- */

static int add_org(void *arg, const char *id, const char *name) {
    return json_array_append_new(
        arg, json_pack("{s:s, s:s, s:s}", "id", id, "object", "org", "name", name));
}

static void orgs_list(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                      const struct bw_key_record *caller) {
    (void)rest;
    (void)caller;
    json_t *data = json_array();
    bw_err e = data ? bw_store_orgs_each(ctx->store, add_org, data) : BW_E_NOMEM;
    bw_api_reply_list(req, e, data, "org");
}

static void orgs_create(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                        const struct bw_key_record *caller) {
    (void)rest;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct change *c = change_new(req, ctx, OP_ORG_CREATE, "", "");
    int ok =
        c && bw_api_text(req, body, "name", 63, 1, c->org_name, sizeof c->org_name) > 0 &&
        bw_api_text(req, body, "owner_email", 254, 0, c->member.email, sizeof c->member.email) >= 0;
    json_decref(body);
    if (ok && !c->member.email[0])
        snprintf(c->member.email, sizeof c->member.email, "owner@org.invalid");
    if (ok && !strchr(c->member.email, '@')) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, "owner_email must contain '@'", NULL,
                            NULL);
        ok = 0;
    }
    if (ok && !(c->secret = sodium_malloc(BW_KEY_SIZE))) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        ok = 0;
    }
    if (!ok) {
        if (c)
            change_free(c);
        return;
    }
    bw_store_new_id("mem", c->member.id);
    snprintf(c->member.role, sizeof c->member.role, "owner");
    c->member.created_ms = bw_now_ms();
    struct bw_key_record *k = &c->owner;
    bw_store_new_id("key", k->id);
    snprintf(k->member_id, sizeof k->member_id, "%s", c->member.id);
    snprintf(k->role, sizeof k->role, "owner");
    snprintf(k->name, sizeof k->name, "first owner");
    snprintf(k->created_by, sizeof k->created_by, "%s", caller->id);
    k->created_ms = bw_now_ms();
    k->expires_ms = bw_api_key_expiry_bound(caller, 0);
    bw_auth_key_generate(c->secret);
    bw_auth_key_hash(ctx->gw->pepper, c->secret, strlen(c->secret), k->hash);
    snprintf(c->target, sizeof c->target, "%s", k->id);
    record(ctx, caller, c, "org.create");
}

static void orgs_post_item(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                           const char *rest, const struct bw_key_record *caller) {
    char id[BW_ID_SIZE], action[32];
    struct bw_org_record o;
    bw_err e = bw_api_split_rest(rest, id, action) &&
                       (strcmp(action, "delete") == 0 || strcmp(action, "keys") == 0)
                   ? bw_store_org_get(ctx->store, id, &o)
                   : BW_E_NOT_FOUND;
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "org");
        return;
    }
    if (strcmp(action, "keys") == 0)
        bw_api_keys_issue(ctx, req, caller, id);
    else
        org_delete_as(ctx, req, caller, id);
}

const struct bw_api_route bw_api_routes_orgs[] = {
    {EVHTTP_REQ_GET, "/api/v1/me", BW_API_ANY_KEY | BW_API_OPERATOR, me},
    {EVHTTP_REQ_GET, "/api/v1/org", BW_API_PEOPLE, org_get},
    {EVHTTP_REQ_POST, "/api/v1/org/", BW_ROLE_OWNER, org_post},
    {EVHTTP_REQ_GET, "/api/v1/members", BW_API_ADMIN, members_list},
    {EVHTTP_REQ_POST, "/api/v1/members", BW_API_ADMIN, members_add},
    {EVHTTP_REQ_DELETE, "/api/v1/members/", BW_API_ADMIN, members_delete},
    {EVHTTP_REQ_GET, "/api/v1/transcripts", BW_API_REVIEW, transcripts_list},
    {EVHTTP_REQ_POST, "/api/v1/transcripts/", BW_API_ADMIN, transcripts_purge},
    {EVHTTP_REQ_GET, "/api/v1/orgs", BW_API_OPERATOR, orgs_list},
    {EVHTTP_REQ_POST, "/api/v1/orgs", BW_API_OPERATOR, orgs_create},
    {EVHTTP_REQ_POST, "/api/v1/orgs/", BW_API_OPERATOR, orgs_post_item},
    {0, NULL, BW_API_PUBLIC, NULL},
};
