/* api_sso.c: each org's OpenID Connect identity provider for the console (docs/API.md
 * "Single sign-on", docs/CONSOLE.md "Single sign-on (OpenID Connect)").
 *
 *   PUT    /api/v1/sso                      {issuer, client_id, client_secret, claim,
 *                                            allow_unknown?}                         owner
 *   GET    /api/v1/sso                      the configuration and the redirect URI   owner, admin
 *   DELETE /api/v1/sso                      sign-in by SSO stops at once             owner
 *   PUT    /api/v1/sso/subjects/{member}    {sub}: link an IdP subject (claim sub)   owner
 *   DELETE /api/v1/sso/subjects/{member}                                             owner
 *
 * Owner only for changes: whoever configures the identity provider decides who signs in as
 * every member, the owner included (an admin with their own IdP could assert the owner's
 * address), so it takes the role that may act as the owner already. The client secret is
 * write-only: copied into locked memory and wiped from the request at once, sealed for
 * (org, row id) in the vault, never returned, logged or put in a receipt (no body hash). */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "connect/connect.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "sso/sso.h"
#include "store/sso.h"
#include "util/text.h"
#include "util/time.h"
#include "vault/keyring.h"

#define SECRET_MAX 1024

static void bad(struct evhttp_request *req, const char *msg) {
    bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
}

static json_t *view(const struct bw_sso_record *r, struct evhttp_request *req,
                    const struct bw_config *cfg) {
    char redirect[600], start[128];
    int have = bw_sso_redirect_uri(cfg, req, redirect, sizeof redirect);
    snprintf(start, sizeof start, "/console/sso/start?org=%s", r->org_id);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:I}", "object", "sso", "issuer",
                  r->issuer, "client_id", r->client_id, "claim", r->claim, "allow_unknown",
                  r->allow_unknown, "has_client_secret", 1, "start_path", start, "updated_by",
                  r->updated_by, "updated_ms", (json_int_t)r->updated_ms);
    if (o)
        json_object_set_new(o, "redirect_uri", have ? json_string(redirect) : json_null());
    return o;
}

/* ---- PUT ---- */

struct put {
    struct bw_api_ctx ctx;
    struct evhttp_request *req;
    struct bw_sso_record rec;
    uint8_t *sealed;
    struct bw_sealed_secret sec;
};

static void put_free(struct put *p) {
    free(p->sealed);
    free(p);
}

static void put_apply(void *arg, bw_err err, const char *rid) {
    struct put *p = arg;
    bw_err e = err == BW_OK ? bw_store_sso_put(p->ctx.store, &p->rec, &p->sec) : err;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(p->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(p->req, e, "SSO configuration");
    } else {
        json_t *o = view(&p->rec, p->req, p->ctx.gw->cfg);
        if (o)
            json_object_set_new(o, "receipt_id", json_string(rid));
        bw_http_add_receipt_headers(p->req, rid, NULL);
        bw_api_reply(p->req, 200, o);
    }
    put_free(p);
}

/* The client_secret member, copied into locked memory, then wiped in jansson's string and in
 * the raw request bytes (libevent frees its buffers without wiping). NULL if absent or not
 * 1..1024 printable ASCII characters. */
static char *take_secret(struct evhttp_request *req, json_t *body, size_t *len) {
    char *out = NULL;
    json_t *v = json_object_get(body, "client_secret");
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        int ok = n > 0 && n <= SECRET_MAX && n == strlen(s) && bw_text_visible(s, n);
        if (ok && (out = sodium_malloc(n + 1))) {
            memcpy(out, s, n + 1);
            *len = n;
        }
        sodium_memzero((char *)s, n);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    unsigned char *p = blen ? evbuffer_pullup(in, -1) : NULL;
    if (p)
        sodium_memzero(p, blen);
    return out;
}

static int client_id_ok(const char *s) {
    return s[0] && bw_text_visible_unquoted(s, strlen(s));
}

/* Fills p->rec from the body; 1, or 0 after replying 400. */
static int read_fields(struct evhttp_request *req, json_t *body, struct put *p) {
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value) {
        if (strcmp(key, "issuer") != 0 && strcmp(key, "client_id") != 0 &&
            strcmp(key, "client_secret") != 0 && strcmp(key, "claim") != 0 &&
            strcmp(key, "allow_unknown") != 0) {
            bad(req, "unknown member: the body is {issuer, client_id, client_secret, claim, "
                     "allow_unknown?}");
            return 0;
        }
    }
    char why[160];
    if (bw_api_text(req, body, "issuer", BW_SSO_ISSUER_MAX - 1, 1, p->rec.issuer,
                    sizeof p->rec.issuer) < 0 ||
        bw_api_text(req, body, "client_id", BW_SSO_CLIENT_ID_MAX - 1, 1, p->rec.client_id,
                    sizeof p->rec.client_id) < 0 ||
        bw_api_text(req, body, "claim", 5, 1, p->rec.claim, sizeof p->rec.claim) < 0)
        return 0;
    json_t *au = json_object_get(body, "allow_unknown");
    if (au && !json_is_boolean(au)) {
        bad(req, "allow_unknown: a boolean (default false)");
        return 0;
    }
    p->rec.allow_unknown = json_is_true(au);
    if (!bw_sso_issuer_ok(p->rec.issuer, why, sizeof why)) {
        char msg[220];
        snprintf(msg, sizeof msg, "issuer: %s", why);
        bad(req, msg);
        return 0;
    }
    if (!client_id_ok(p->rec.client_id)) {
        bad(req, "client_id: printable ASCII without spaces, quotes or backslashes");
        return 0;
    }
    if (strcmp(p->rec.claim, "email") != 0 && strcmp(p->rec.claim, "sub") != 0) {
        bad(req, "claim: \"email\" or \"sub\"");
        return 0;
    }
    return 1;
}

static bw_err seal(const struct bw_api_ctx *ctx, struct put *p, const char *secret, size_t n) {
    const struct bw_connect_env *env = ctx->gw->connect;
    if (!env || !env->keys)
        return BW_E_UNAVAILABLE;
    p->sealed = malloc(BW_VAULT_SEALED_SIZE(SECRET_MAX));
    if (!p->sealed)
        return BW_E_NOMEM;
    BW_TRY(bw_keyring_seal(env->keys, p->rec.org_id, p->rec.id, (const uint8_t *)secret, n,
                           p->sealed, BW_VAULT_SEALED_SIZE(SECRET_MAX), &p->sec.sealed_len));
    bw_keyring_sealer_id(env->keys, p->sec.master_id);
    bw_vault_fingerprint((const uint8_t *)secret, n, p->sec.fingerprint);
    p->sec.sealed = p->sealed;
    return BW_OK;
}

static void put_sso(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    (void)rest;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct put *p = calloc(1, sizeof *p);
    size_t secret_len = 0;
    char *secret = take_secret(req, body, &secret_len); /* wipes the request either way */
    int ok = p && read_fields(req, body, p);
    json_decref(body);
    if (!p) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
    } else if (ok && !secret) {
        bad(req, "client_secret: a string of 1..1024 printable ASCII characters without spaces");
        ok = 0;
    }
    if (ok) {
        bw_store_new_id("sso", p->rec.id);
        snprintf(p->rec.org_id, sizeof p->rec.org_id, "%s", caller->org_id);
        snprintf(p->rec.updated_by, sizeof p->rec.updated_by, "%s", caller->id);
        p->rec.updated_ms = bw_now_ms();
        bw_err e = seal(ctx, p, secret, secret_len);
        if (e != BW_OK) {
            bw_http_reply_error(req, 503, BW_R_INTERNAL, "the client secret cannot be sealed", NULL,
                                NULL);
            ok = 0;
        }
    }
    if (secret)
        sodium_free(secret);
    if (!ok) {
        if (p)
            put_free(p);
        return;
    }
    p->ctx = *ctx;
    p->req = req;
    struct bw_receipt r;
    /* No request body hash: the body held the secret. */
    bw_api_admin_receipt(&r, caller, caller->org_id, "sso.put", p->rec.id, BW_R_ADMIN_CHANGE, NULL,
                         0);
    bw_api_record(ctx, &r, put_apply, p);
}

/* ---- GET ---- */

static void get_sso(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    (void)rest;
    struct bw_sso_record r;
    bw_err e = bw_store_sso_get(ctx->store, caller->org_id, &r, NULL, 0, NULL);
    if (e == BW_E_NOT_FOUND) {
        bw_http_reply_error(req, 404, BW_R_SSO_NOT_CONFIGURED, "no single sign-on for this org",
                            NULL, NULL);
        return;
    }
    if (!bw_api_store_ok(req, e, "SSO configuration"))
        return;
    bw_api_reply(req, 200, view(&r, req, ctx->gw->cfg));
}

/* ---- DELETE, and subject links: receipt first, then the change ---- */

struct change {
    struct bw_api_ctx ctx;
    struct evhttp_request *req;
    int what; /* 0 delete config, 1 link, 2 unlink */
    char org_id[BW_ID_SIZE];
    char member_id[BW_ID_SIZE];
    char subject[BW_SSO_SUBJECT_MAX];
};

static void change_apply(void *arg, bw_err err, const char *rid) {
    struct change *c = arg;
    bw_err e = err;
    if (err == BW_OK && c->what == 0)
        e = bw_store_sso_delete(c->ctx.store, c->org_id);
    else if (err == BW_OK && c->what == 1)
        e = bw_store_sso_link(c->ctx.store, c->org_id, c->member_id, c->subject, bw_now_ms());
    else if (err == BW_OK)
        e = bw_store_sso_unlink(c->ctx.store, c->org_id, c->member_id);
    if (err != BW_OK) {
        bw_api_reply_ledger_error(c->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(c->req, e, c->what ? "SSO subject link" : "SSO configuration");
    } else {
        bw_http_add_receipt_headers(c->req, rid, NULL);
        json_t *o =
            c->what == 0
                ? json_pack("{s:s, s:b, s:s}", "object", "sso", "deleted", 1, "receipt_id", rid)
                : json_pack("{s:s, s:s, s:b, s:s}", "object", "sso_subject", "member_id",
                            c->member_id, "linked", c->what == 1, "receipt_id", rid);
        bw_api_reply(c->req, 200, o);
    }
    free(c);
}

static void record_change(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                          const struct bw_key_record *caller, struct change *c, const char *action,
                          const char *target) {
    c->ctx = *ctx;
    c->req = req;
    snprintf(c->org_id, sizeof c->org_id, "%s", caller->org_id);
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, action, target, BW_R_ADMIN_CHANGE, NULL, 0);
    bw_api_record(ctx, &r, change_apply, c);
}

static void delete_sso(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                       const struct bw_key_record *caller) {
    (void)rest;
    struct bw_sso_record r;
    bw_err e = bw_store_sso_get(ctx->store, caller->org_id, &r, NULL, 0, NULL);
    if (!bw_api_store_ok(req, e, "SSO configuration"))
        return;
    struct change *c = calloc(1, sizeof *c);
    if (!c) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    record_change(ctx, req, caller, c, "sso.delete", r.id);
}

static void subject(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    char id[BW_ID_SIZE], action[32];
    struct bw_member_record m;
    if (!bw_api_split_rest(rest, id, action) || action[0]) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such member", NULL, NULL);
        return;
    }
    if (!bw_api_store_ok(req, bw_store_member_get(ctx->store, caller->org_id, id, &m), "member"))
        return;
    struct change *c = calloc(1, sizeof *c);
    if (!c) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    snprintf(c->member_id, sizeof c->member_id, "%s", m.id);
    c->what = evhttp_request_get_command(req) == EVHTTP_REQ_PUT ? 1 : 2;
    if (c->what == 1) {
        json_t *body = bw_api_body_object(ctx, req);
        int ok = body && json_object_size(body) == 1 &&
                 bw_api_text(req, body, "sub", BW_SSO_SUBJECT_MAX - 1, 1, c->subject,
                             sizeof c->subject) > 0;
        if (body && json_object_size(body) != 1)
            bad(req, "the body is {sub}");
        else if (ok && !client_id_ok(c->subject)) {
            bad(req, "sub: printable ASCII without spaces, quotes or backslashes");
            ok = 0;
        }
        json_decref(body);
        if (!ok) {
            free(c);
            return;
        }
    }
    record_change(ctx, req, caller, c, c->what == 1 ? "sso.link" : "sso.unlink", m.id);
}

const struct bw_api_route bw_api_routes_sso[] = {
    {EVHTTP_REQ_PUT, "/api/v1/sso", BW_ROLE_OWNER, put_sso},
    {EVHTTP_REQ_GET, "/api/v1/sso", BW_API_ADMIN, get_sso},
    {EVHTTP_REQ_DELETE, "/api/v1/sso", BW_ROLE_OWNER, delete_sso},
    {EVHTTP_REQ_PUT, "/api/v1/sso/subjects/", BW_ROLE_OWNER, subject},
    {EVHTTP_REQ_DELETE, "/api/v1/sso/subjects/", BW_ROLE_OWNER, subject},
    {0, NULL, BW_API_PUBLIC, NULL},
};
