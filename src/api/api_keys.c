/* api_keys.c: API keys under /api/v1/keys (docs/ACCESS.md, docs/API.md).
 *
 *   POST /api/v1/keys                 create {role, agent?, name?, member_id?, expires_in_s?}
 *   GET  /api/v1/keys                 list (?include_revoked=1); never the secret or its hash
 *   GET  /api/v1/keys/{id}            one key
 *   POST /api/v1/keys/{id}/revoke     revoke now
 *   POST /api/v1/keys/{id}/rotate     a new key; the old one works for a grace period {grace_s?}
 *   POST /api/v1/keys/revoke-all      destructive: dry run, then confirm (owner)
 *   GET|POST /api/v1/operator/keys, GET /api/v1/operator/keys/{id}, POST .../{id}/revoke|rotate
 *                                     the operator's own keys (operator only; the last live
 *                                     one cannot be revoked here)
 *   POST /api/v1/orgs/{id}/keys       the operator issues a member's key (bw_api_keys_issue)
 *
 * A caller manages only keys whose role its own covers (bw_auth_role_covers: capability, not
 * rank): an admin cannot mint, revoke or rotate an owner key. A key belongs to one principal
 * (store.h member_id), fixed at creation: a new key belongs to the creating key's principal (it
 * can never be bound to another member), a successor to the rotated key's, and only a key of
 * that principal rotates it (a rotation hands out a secret of that person). Every change is an
 * `admin` receipt made durable before the change (bw_api_record). The secret of a new key
 * exists only in sodium_malloc'd memory until the reply is written, then is wiped. */
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "connect/outbox.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "util/log.h"
#include "util/time.h"

#define MAX_EXPIRES_S (10LL * 366 * 86400)
#define MAX_GRACE_S (30LL * 86400)

static int role_known(const char *role) {
    return strcmp(role, "owner") == 0 || strcmp(role, "admin") == 0 ||
           strcmp(role, "reviewer") == 0 || strcmp(role, "member") == 0 ||
           strcmp(role, "agent") == 0;
}

static const char *status_of(const struct bw_key_record *k, int64_t now) {
    if (k->revoked_ms)
        return "revoked";
    if (k->expires_ms && k->expires_ms <= now)
        return "expired";
    if (k->rotated_to[0])
        return "rotating"; /* still valid until expires_ms, the end of its grace period */
    return "active";
}

static json_t *key_json(const struct bw_key_record *k) {
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id",
                     k->id, "object", "api_key", "principal", k->member_id, "status",
                     status_of(k, bw_now_ms()), "role", k->role, "agent", k->agent, "name", k->name,
                     "member_id", k->member_id, "created_by", k->created_by, "rotated_to",
                     k->rotated_to, "created_ms", (json_int_t)k->created_ms, "expires_ms",
                     (json_int_t)k->expires_ms, "revoked_ms", (json_int_t)k->revoked_ms,
                     "last_used_ms", (json_int_t)k->last_used_ms);
}

int bw_api_principal_may_hold(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                              const struct bw_key_record *k) {
    if (strcmp(k->member_id, "operator") == 0)
        return 1; /* the operator's own org keys, made on the host (cli_key.c) */
    struct bw_member_record m;
    bw_err e = bw_store_member_get(ctx->store, k->org_id, k->member_id, &m);
    if (e == BW_E_NOT_FOUND) {
        bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                            "the key's person is not a member of this org", NULL, NULL);
        return 0;
    }
    if (!bw_api_store_ok(req, e, "member"))
        return 0;
    if (!bw_auth_role_covers(m.role, k->role)) {
        char msg[96];
        snprintf(msg, sizeof msg, "a person with role %s cannot hold a %s key", m.role, k->role);
        bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN, msg, NULL, NULL);
        return 0;
    }
    return 1;
}

/* ---- a change waiting for its receipt ---- */

struct change {
    struct evhttp_request *req;
    struct bw_store *store;
    struct bw_key_record caller;
    struct bw_key_record key; /* the new key (create, rotate) or the target (revoke) */
    char *secret;             /* sodium_malloc'd new key, or NULL */
    char old_id[BW_ID_SIZE];  /* rotate: the key being replaced */
    int64_t grace_until_ms;
    struct bw_outbox *outbox; /* key events go to the org's connections */
};

/* Queues the key event for the org's connections (connect/outbox.h): metadata only, never the
 * key. A failure to queue does not undo the change (its receipt is durable); it is logged. */
static void notify(struct change *c, const char *type) {
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "key_id", c->key.id, "role", c->key.role,
                             "agent", c->key.agent, "name", c->key.name, "by", c->caller.id);
    if (data && c->old_id[0])
        json_object_set_new(data, "replaces", json_string(c->old_id));
    char text[200];
    snprintf(text, sizeof text, "API key %s (%s) %s by %s", c->key.id, c->key.role,
             strcmp(type, "key.create") == 0   ? "created"
             : strcmp(type, "key.revoke") == 0 ? "revoked"
                                               : "rotated",
             c->caller.id);
    if (!data ||
        bw_outbox_emit(c->outbox, c->store, c->key.org_id, type, text, data, NULL) != BW_OK)
        bw_warn("keys: the %s event for key %s could not be queued", type, c->key.id);
    json_decref(data);
}

static struct change *change_new(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                                 const struct bw_key_record *caller, int with_secret) {
    struct change *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->req = req;
    c->store = ctx->store;
    c->caller = *caller;
    c->outbox = ctx->gw->outbox;
    if (with_secret) {
        c->secret = sodium_malloc(BW_KEY_SIZE);
        if (!c->secret) {
            free(c);
            return NULL;
        }
    }
    return c;
}

/* Reads the body and starts a change that will hand out a new secret. NULL after replying (bad
 * body, out of memory); else *body is the caller's to release. */
static struct change *begin_secret_change(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                                          const struct bw_key_record *caller, json_t **body) {
    *body = bw_api_body_object(ctx, req);
    if (!*body)
        return NULL;
    struct change *c = change_new(ctx, req, caller, 1);
    if (!c) {
        json_decref(*body);
        *body = NULL;
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
    }
    return c;
}

static void change_free(struct change *c) {
    if (c->secret) {
        sodium_memzero(c->secret, BW_KEY_SIZE);
        sodium_free(c->secret);
    }
    free(c);
}

/* Reply with the key's metadata, the receipt id, and the secret when one was made. */
static void reply_key(struct change *c, int status, const char *receipt_id) {
    json_t *o = key_json(&c->key);
    if (o && c->secret)
        json_object_set_new(o, "key", json_string(c->secret));
    if (o && c->old_id[0]) {
        json_object_set_new(o, "replaces", json_string(c->old_id));
        json_object_set_new(o, "grace_until_ms", json_integer(c->grace_until_ms));
    }
    if (o)
        json_object_set_new(o, "receipt_id", json_string(receipt_id));
    bw_http_add_receipt_headers(c->req, receipt_id, NULL);
    bw_api_reply(c->req, status, o); /* the JSON copy of the secret is freed by jansson */
}

static void fresh_key(struct change *c, const uint8_t pepper[32], int64_t now) {
    bw_store_new_id("key", c->key.id);
    bw_auth_key_generate(c->secret);
    bw_auth_key_hash(pepper, c->secret, strlen(c->secret), c->key.hash);
    snprintf(c->key.created_by, sizeof c->key.created_by, "%s", c->caller.id);
    c->key.created_ms = now;
    c->key.revoked_ms = 0;
    c->key.last_used_ms = 0;
    c->key.rotated_to[0] = 0;
}

/* ---- create ---- */

static void create_apply(void *arg, bw_err err, const char *rid) {
    struct change *c = arg;
    bw_err e = err == BW_OK ? bw_store_key_insert(c->store, &c->key) : err;
    if (err != BW_OK)
        bw_api_reply_ledger_error(c->req);
    else if (e != BW_OK)
        bw_api_reply_store_error(c->req, e, "key");
    else
        reply_key(c, 201, rid);
    if (err == BW_OK && e == BW_OK && c->key.org_id[0])
        notify(c, "key.create");
    change_free(c);
}

/* The optional agent must be an agent of the caller's org. The key belongs to the caller's
 * principal: a member_id naming anyone else is refused (one person could otherwise hold keys
 * of two "people" and approve their own requests), and the principal's own role must cover the
 * key's role (a `member` person cannot hold a `reviewer` key). 0 after replying. */
static int check_binding(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                         const struct bw_key_record *caller, struct bw_key_record *k) {
    if (k->agent[0]) {
        struct bw_agent_record a;
        bw_err e = bw_store_agent_by_name(ctx->store, caller->org_id, k->agent, &a);
        if (!bw_api_store_ok(req, e, "agent"))
            return 0;
    }
    if (k->member_id[0] && strcmp(k->member_id, caller->member_id) != 0) {
        bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                            "a key belongs to the person whose key creates it: it cannot be "
                            "bound to another member",
                            NULL, NULL);
        return 0;
    }
    snprintf(k->member_id, sizeof k->member_id, "%s", caller->member_id);
    return bw_api_principal_may_hold(ctx, req, k);
}

int64_t bw_api_key_expiry_bound(const struct bw_key_record *caller, int64_t expires_ms) {
    if (caller->expires_ms > 0 && (expires_ms == 0 || expires_ms > caller->expires_ms))
        return caller->expires_ms;
    return expires_ms;
}

static int forbid_rank(struct evhttp_request *req) {
    bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                        "a key may only manage keys whose role (and whose person's role) its own "
                        "role covers",
                        NULL, NULL);
    return 0;
}

/* Reads the create body into k. 0 after replying. */
static int read_create(struct evhttp_request *req, const json_t *body,
                       const struct bw_key_record *caller, struct bw_key_record *k) {
    int64_t expires_in = 0;
    if (bw_api_text(req, body, "role", 15, 1, k->role, sizeof k->role) < 0 ||
        bw_api_text(req, body, "agent", 63, 0, k->agent, sizeof k->agent) < 0 ||
        bw_api_text(req, body, "name", 63, 0, k->name, sizeof k->name) < 0 ||
        bw_api_text(req, body, "member_id", BW_ID_SIZE - 1, 0, k->member_id, sizeof k->member_id) <
            0 ||
        bw_api_int(req, body, "expires_in_s", 1, MAX_EXPIRES_S, &expires_in) < 0)
        return 0;
    if (!role_known(k->role)) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "role must be one of owner, admin, reviewer, member, agent", NULL,
                            NULL);
        return 0;
    }
    if (!bw_auth_role_covers(caller->role, k->role))
        return forbid_rank(req);
    snprintf(k->org_id, sizeof k->org_id, "%s", caller->org_id);
    k->expires_ms =
        bw_api_key_expiry_bound(caller, expires_in ? bw_now_ms() + expires_in * 1000 : 0);
    return 1;
}

static void create(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                   const struct bw_key_record *caller) {
    (void)rest;
    json_t *body;
    struct change *c = begin_secret_change(ctx, req, caller, &body);
    if (!c)
        return;
    int ok = read_create(req, body, caller, &c->key) && check_binding(ctx, req, caller, &c->key);
    json_decref(body);
    if (!ok) {
        change_free(c);
        return;
    }
    fresh_key(c, ctx->gw->pepper, bw_now_ms());
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, "key.create", c->key.id, BW_R_ADMIN_CHANGE,
                         NULL, 0);
    snprintf(r.status, sizeof r.status, "%s", c->key.role);
    snprintf(r.agent, sizeof r.agent, "%s", c->key.agent);
    bw_api_record(ctx, &r, create_apply, c);
}

/* ---- list and get ---- */

static int add_key(void *arg, const struct bw_key_record *k) {
    return json_array_append_new(arg, key_json(k));
}

static void list(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                 const struct bw_key_record *caller) {
    char flag[8];
    bw_api_query(req, "include_revoked", flag, sizeof flag);
    json_t *data = json_array();
    bw_err e =
        data ? bw_store_key_list(ctx->store, caller->org_id, strcmp(flag, "1") == 0, add_key, data)
             : BW_E_NOMEM;
    bw_api_reply_list(req, e, data, "key");
}

/* The target key, in the caller's org, of a role the caller's covers and, when it is another
 * person's key, of a person whose role the caller's covers too (an admin cannot revoke an
 * owner's key, whatever role that key has). 0 after replying. */
static int load_target(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                       const struct bw_key_record *caller, const char *id,
                       struct bw_key_record *out) {
    bw_err e = caller->org_id[0] ? bw_store_key_get(ctx->store, caller->org_id, id, out)
                                 : bw_store_operator_key_get(ctx->store, id, out);
    if (!bw_api_store_ok(req, e, "key"))
        return 0;
    if (!bw_auth_role_covers(caller->role, out->role))
        return forbid_rank(req);
    if (!caller->org_id[0] || strcmp(out->member_id, caller->member_id) == 0 ||
        strcmp(out->member_id, "operator") == 0)
        return 1;
    struct bw_member_record m;
    e = bw_store_member_get(ctx->store, caller->org_id, out->member_id, &m);
    if (e == BW_E_NOT_FOUND)
        return 1; /* a removed member's keys are already revoked */
    if (!bw_api_store_ok(req, e, "member"))
        return 0;
    return bw_auth_role_covers(caller->role, m.role) ? 1 : forbid_rank(req);
}

/* ---- revoke ---- */

static int last_operator_key(struct evhttp_request *req) {
    bw_http_reply_error(req, 409, BW_R_CONFLICT,
                        "this is the last live operator key: create or rotate to another first "
                        "(or revoke it with `bulwark key revoke --operator` on the host)",
                        NULL, NULL);
    return 0;
}

struct live_count {
    const char *except;
    int64_t now, n;
};

static int count_live(void *arg, const struct bw_key_record *k) {
    struct live_count *l = arg;
    if (strcmp(k->id, l->except) != 0 && k->revoked_ms == 0 &&
        (k->expires_ms == 0 || k->expires_ms > l->now))
        l->n++;
    return 0;
}

/* An operator cannot lock the platform out by accident: revoking the last live operator key
 * over the API is refused (the store re-checks atomically). 0 after replying. */
static int operator_keys_remain(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                                const char *id) {
    struct live_count l = {id, bw_now_ms(), 0};
    if (!bw_api_store_ok(req, bw_store_operator_key_list(ctx->store, 0, count_live, &l), "key"))
        return 0;
    return l.n > 0 ? 1 : last_operator_key(req);
}

static void revoke_apply(void *arg, bw_err err, const char *rid) {
    struct change *c = arg;
    int op = !c->key.org_id[0];
    int64_t now = bw_now_ms();
    bw_err e = err != BW_OK ? err
               : op         ? bw_store_operator_key_revoke(c->store, c->key.id, now, 1)
                            : bw_store_key_revoke(c->store, c->key.org_id, c->key.id, now);
    if (err != BW_OK) {
        bw_api_reply_ledger_error(c->req);
    } else if (op && e == BW_E_DENIED) {
        last_operator_key(c->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(c->req, e, "key");
    } else {
        /* before the reply: once the caller hears "revoked", no worker here accepts the key */
        bw_auth_cache_invalidate_all();
        bw_err g = op ? bw_store_operator_key_get(c->store, c->key.id, &c->key)
                      : bw_store_key_get(c->store, c->key.org_id, c->key.id, &c->key);
        if (g != BW_OK)
            c->key.revoked_ms = now;
        reply_key(c, 200, rid);
        if (!op)
            notify(c, "key.revoke");
    }
    change_free(c);
}

static void revoke(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                   const struct bw_key_record *caller, const char *id) {
    struct change *c = change_new(ctx, req, caller, 0);
    if (!c) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    if (!load_target(ctx, req, caller, id, &c->key)) {
        change_free(c);
        return;
    }
    if (c->key.revoked_ms) {
        change_free(c);
        bw_api_reply_store_error(req, BW_E_EXISTS, "key");
        return;
    }
    if (!caller->org_id[0] && !operator_keys_remain(ctx, req, id)) {
        change_free(c);
        return;
    }
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, "key.revoke", id, BW_R_ADMIN_CHANGE, NULL, 0);
    bw_api_record(ctx, &r, revoke_apply, c);
}

/* ---- rotate ---- */

static void rotate_apply(void *arg, bw_err err, const char *rid) {
    struct change *c = arg;
    int64_t now = bw_now_ms();
    bw_err e = err != BW_OK        ? err
               : !c->key.org_id[0] ? bw_store_operator_key_rotate(c->store, c->old_id, &c->key,
                                                                  c->grace_until_ms, now)
                                   : bw_store_key_rotate(c->store, c->key.org_id, c->old_id,
                                                         &c->key, c->grace_until_ms, now);
    if (err != BW_OK) {
        bw_api_reply_ledger_error(c->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(c->req, e == BW_E_NOT_FOUND ? BW_E_EXISTS : e, "key");
    } else {
        bw_auth_cache_invalidate_all();
        reply_key(c, 201, rid);
        if (c->key.org_id[0])
            notify(c, "key.rotate");
    }
    change_free(c);
}

static void rotate(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                   const struct bw_key_record *caller, const char *id) {
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    int64_t grace = ctx->gw->cfg->key_rotation_grace_s;
    int ok = bw_api_int(req, body, "grace_s", 0, MAX_GRACE_S, &grace) >= 0;
    json_decref(body);
    if (!ok)
        return;
    struct change *c = change_new(ctx, req, caller, 1);
    if (!c) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    if (!load_target(ctx, req, caller, id, &c->key)) {
        change_free(c);
        return;
    }
    if (!c->key.member_id[0] || strcmp(c->key.member_id, caller->member_id) != 0) {
        change_free(c);
        bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                            "only a key of the same person rotates a key (the successor keeps "
                            "its principal); revoke it instead",
                            NULL, NULL);
        return;
    }
    int64_t now = bw_now_ms();
    if (c->key.revoked_ms || c->key.rotated_to[0] ||
        (c->key.expires_ms && c->key.expires_ms <= now)) {
        change_free(c);
        bw_api_reply_store_error(req, BW_E_EXISTS, "key");
        return;
    }
    /* the successor inherits role, agent, name, member and the remaining lifetime */
    snprintf(c->old_id, sizeof c->old_id, "%s", id);
    c->grace_until_ms = now + grace * 1000;
    fresh_key(c, ctx->gw->pepper, now);
    struct bw_receipt r;
    char target[64];
    snprintf(target, sizeof target, "%s>%s", id, c->key.id);
    bw_api_admin_receipt(&r, caller, caller->org_id, "key.rotate", target, BW_R_ADMIN_CHANGE, NULL,
                         0);
    r.duration_ms = grace * 1000; /* the grace period, recorded */
    bw_api_record(ctx, &r, rotate_apply, c);
}

/* ---- revoke-all (destructive) ---- */

static void revoke_all_apply(void *arg, bw_err err, const char *rid) {
    struct change *c = arg;
    int64_t n = 0;
    bw_err e =
        err == BW_OK ? bw_store_key_revoke_all(c->store, c->caller.org_id, bw_now_ms(), &n) : err;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(c->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(c->req, e, "key");
    } else {
        bw_auth_cache_invalidate_all();
        bw_http_add_receipt_headers(c->req, rid, NULL);
        bw_api_reply(c->req, 200,
                     json_pack("{s:s, s:I, s:s}", "action", "keys.revoke_all", "revoked",
                               (json_int_t)n, "receipt_id", rid));
    }
    change_free(c);
}

static void revoke_all(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                       const struct bw_key_record *caller) {
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    const char *token = NULL;
    enum bw_confirm_step step = bw_api_confirm_step(req, body, &token);
    int64_t active = 0;
    bw_err e = bw_store_key_count_active(ctx->store, caller->org_id, bw_now_ms(), &active);
    json_t *plan = e == BW_OK ? json_pack("{s:I, s:b}", "active_keys", (json_int_t)active,
                                          "includes_this_key", 1)
                              : NULL;
    if (e != BW_OK || !plan) {
        json_decref(body);
        bw_api_reply_store_error(req, e == BW_OK ? BW_E_UNAVAILABLE : e, "key");
        return;
    }
    if (step == BW_CONFIRM_MISSING) {
        bw_api_confirm_required(req);
    } else if (step == BW_CONFIRM_DRY_RUN) {
        bw_api_confirm_offer(ctx, req, caller, caller->org_id, "keys.revoke_all", caller->org_id,
                             json_incref(plan));
    } else if (bw_api_confirm_check(ctx, req, caller->org_id, "keys.revoke_all", caller->org_id,
                                    token, plan)) {
        struct change *c = change_new(ctx, req, caller, 0);
        if (!c) {
            bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        } else {
            struct bw_receipt r;
            bw_api_admin_receipt(&r, caller, caller->org_id, "keys.revoke_all", caller->org_id,
                                 BW_R_ADMIN_CHANGE, NULL, 0);
            bw_api_record(ctx, &r, revoke_all_apply, c);
        }
    }
    json_decref(plan);
    json_decref(body);
}

/* ---- routing within /api/v1/keys/ ---- */

static void collection(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                       const struct bw_key_record *caller) {
    (void)rest;
    list(ctx, req, caller);
}

static void item_get(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                     const struct bw_key_record *caller) {
    char id[BW_ID_SIZE], action[32];
    struct bw_key_record k;
    if (!bw_api_split_rest(rest, id, action) || action[0]) {
        bw_api_reply_store_error(req, BW_E_NOT_FOUND, "key");
        return;
    }
    bw_err e = bw_store_key_get(ctx->store, caller->org_id, id, &k);
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "key");
        return;
    }
    bw_api_reply(req, 200, key_json(&k));
}

static void item_post(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                      const struct bw_key_record *caller) {
    if (strcmp(rest, "revoke-all") == 0) {
        if (strcmp(caller->role, "owner") != 0) {
            bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN, "revoking every key needs an owner",
                                NULL, NULL);
            return;
        }
        revoke_all(ctx, req, caller);
        return;
    }
    char id[BW_ID_SIZE], action[32];
    if (!bw_api_split_rest(rest, id, action)) {
        bw_api_reply_store_error(req, BW_E_NOT_FOUND, "key");
        return;
    }
    if (strcmp(action, "revoke") == 0)
        revoke(ctx, req, caller, id);
    else if (strcmp(action, "rotate") == 0)
        rotate(ctx, req, caller, id);
    else
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
}

/* ---- a member's key issued by the operator: POST /api/v1/orgs/{id}/keys ---- */

/* The one way a key comes to belong to a person other than its creator's: the operator (outside
 * every org) issues it, as it issues an org's first owner key. An org's owner or admin cannot:
 * otherwise one person could hold keys of two "people". {member_id, role, name?,
 * expires_in_s?}; role is a human role the member's own role covers. */
void bw_api_keys_issue(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                       const struct bw_key_record *caller, const char *org_id) {
    json_t *body;
    struct change *c = begin_secret_change(ctx, req, caller, &body);
    if (!c)
        return;
    struct bw_key_record *k = &c->key;
    int64_t expires_in = 0;
    int ok = bw_api_text(req, body, "role", 15, 1, k->role, sizeof k->role) > 0 &&
             bw_api_text(req, body, "member_id", BW_ID_SIZE - 1, 1, k->member_id,
                         sizeof k->member_id) > 0 &&
             bw_api_text(req, body, "name", 63, 0, k->name, sizeof k->name) >= 0 &&
             bw_api_int(req, body, "expires_in_s", 1, MAX_EXPIRES_S, &expires_in) >= 0;
    json_decref(body);
    if (ok && (!role_known(k->role) || strcmp(k->role, "agent") == 0)) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "role must be one of owner, admin, reviewer, member (a member makes "
                            "their own agent keys)",
                            NULL, NULL);
        ok = 0;
    }
    snprintf(k->org_id, sizeof k->org_id, "%s", org_id);
    if (!ok || !bw_api_principal_may_hold(ctx, req, k)) {
        change_free(c);
        return;
    }
    k->expires_ms =
        bw_api_key_expiry_bound(caller, expires_in ? bw_now_ms() + expires_in * 1000 : 0);
    fresh_key(c, ctx->gw->pepper, bw_now_ms());
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, org_id, "key.create", c->key.id, BW_R_ADMIN_CHANGE, NULL, 0);
    snprintf(r.status, sizeof r.status, "%s", c->key.role);
    bw_api_record(ctx, &r, create_apply, c);
}

/* ---- operator keys: /api/v1/operator/keys (operator only; docs/ACCESS.md) ---- */

static void op_create(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                      const struct bw_key_record *caller) {
    (void)rest;
    json_t *body;
    struct change *c = begin_secret_change(ctx, req, caller, &body);
    if (!c)
        return;
    int64_t expires_in = 0;
    /* a name is required: an operator key without a label is hard to tell apart in a list */
    int ok = bw_api_text(req, body, "name", 63, 1, c->key.name, sizeof c->key.name) > 0 &&
             bw_api_int(req, body, "expires_in_s", 1, MAX_EXPIRES_S, &expires_in) >= 0;
    json_decref(body);
    if (!ok) {
        change_free(c);
        return;
    }
    snprintf(c->key.role, sizeof c->key.role, "operator");
    snprintf(c->key.member_id, sizeof c->key.member_id, "operator");
    c->key.expires_ms =
        bw_api_key_expiry_bound(caller, expires_in ? bw_now_ms() + expires_in * 1000 : 0);
    fresh_key(c, ctx->gw->pepper, bw_now_ms());
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, "", "key.create", c->key.id, BW_R_ADMIN_CHANGE, NULL, 0);
    snprintf(r.status, sizeof r.status, "operator");
    bw_api_record(ctx, &r, create_apply, c);
}

static void op_list(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    (void)rest;
    (void)caller;
    char flag[8];
    bw_api_query(req, "include_revoked", flag, sizeof flag);
    json_t *data = json_array();
    bw_err e = data ? bw_store_operator_key_list(ctx->store, strcmp(flag, "1") == 0, add_key, data)
                    : BW_E_NOMEM;
    bw_api_reply_list(req, e, data, "key");
}

static void op_item_get(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                        const struct bw_key_record *caller) {
    (void)caller;
    char id[BW_ID_SIZE], action[32];
    struct bw_key_record k;
    bw_err e = bw_api_split_rest(rest, id, action) && !action[0]
                   ? bw_store_operator_key_get(ctx->store, id, &k)
                   : BW_E_NOT_FOUND;
    if (bw_api_store_ok(req, e, "key"))
        bw_api_reply(req, 200, key_json(&k));
}

static void op_item_post(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                         const struct bw_key_record *caller) {
    char id[BW_ID_SIZE], action[32];
    if (!bw_api_split_rest(rest, id, action))
        bw_api_reply_store_error(req, BW_E_NOT_FOUND, "key");
    else if (strcmp(action, "revoke") == 0)
        revoke(ctx, req, caller, id);
    else if (strcmp(action, "rotate") == 0)
        rotate(ctx, req, caller, id);
    else
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
}

const struct bw_api_route bw_api_routes_keys[] = {
    {EVHTTP_REQ_POST, "/api/v1/keys", BW_API_ADMIN, create},
    {EVHTTP_REQ_GET, "/api/v1/keys", BW_API_ADMIN, collection},
    {EVHTTP_REQ_GET, "/api/v1/keys/", BW_API_ADMIN, item_get},
    {EVHTTP_REQ_POST, "/api/v1/keys/", BW_API_ADMIN, item_post},
    {EVHTTP_REQ_GET, "/api/v1/operator/keys", BW_API_OPERATOR, op_list},
    {EVHTTP_REQ_POST, "/api/v1/operator/keys", BW_API_OPERATOR, op_create},
    {EVHTTP_REQ_GET, "/api/v1/operator/keys/", BW_API_OPERATOR, op_item_get},
    {EVHTTP_REQ_POST, "/api/v1/operator/keys/", BW_API_OPERATOR, op_item_post},
    {0, NULL, BW_API_PUBLIC, NULL},
};
