/* sso_session.c: from a verified ID token to a console session (sso_session.h). */
#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "console/session.h"
#include "gateway/gateway.h"
#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "sso/sso_flow.h"
#include "sso/sso_session.h"
#include "util/log.h"
#include "util/time.h"

static void issue(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                  const struct bw_member_record *m) {
    char token[BW_SESSION_TOKEN_SIZE], csrf[BW_CSRF_TOKEN_SIZE];
    struct bw_console_principal p = {"", m->org_id, m->id, "sso"};
    struct bw_console_session sess;
    bw_err e =
        bw_console_session_issue(ctx->store, ctx->gw->pepper, &p, bw_now_ms(), token, csrf, &sess);
    if (e != BW_OK) {
        sso_fail(req, e == BW_E_UNAVAILABLE ? 503 : 403,
                 e == BW_E_UNAVAILABLE ? BW_R_STORE_UNAVAILABLE : BW_R_SSO_UNKNOWN_USER,
                 "no console session could be issued for this member");
        return;
    }
    int tls = sso_request_tls(req);
    char cookie[256];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
             tls ? BW_CONSOLE_COOKIE_TLS : BW_CONSOLE_COOKIE, token,
             (long long)(BW_CONSOLE_SESSION_TTL_MS / 1000), tls ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
    sodium_memzero(token, sizeof token);
    sodium_memzero(csrf, sizeof csrf); /* the page asks GET /console/api/session for it */
    sodium_memzero(cookie, sizeof cookie);
    bw_log(BW_LOG_INFO, "sso: org %s: member %s signed in (session %s)", m->org_id, m->id, sess.id);
    sso_redirect(req, "/console/");
}

/* ---- the sign-in is recorded like the console's key login (admin receipt, durable first;
 * principal: the member, since the session does not exist yet), then the session exists ---- */

struct login {
    struct bw_api_ctx ctx;
    struct evhttp_request *req;
    struct bw_member_record m;
};

static void login_apply(void *arg, bw_err err, const char *rid) {
    struct login *l = arg;
    (void)rid;
    if (err != BW_OK)
        bw_api_reply_ledger_error(l->req);
    else
        issue(&l->ctx, l->req, &l->m);
    free(l);
}

static void login(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                  const struct bw_member_record *m, const char *sso_id) {
    struct login *l = calloc(1, sizeof *l);
    if (!l) {
        sso_fail(req, 503, BW_R_INTERNAL, "out of memory");
        return;
    }
    l->ctx = *ctx;
    l->req = req;
    l->m = *m;
    struct bw_key_record actor;
    memset(&actor, 0, sizeof actor);
    snprintf(actor.id, sizeof actor.id, "%s", m->id);
    struct bw_receipt r;
    bw_api_admin_receipt(&r, &actor, m->org_id, "console.login_sso", sso_id, BW_R_ADMIN_CHANGE,
                         NULL, 0);
    bw_api_record(ctx, &r, login_apply, l);
}

/* ---- an unknown person, when the org allows it: a member with no privileges ---- */

struct provision {
    struct bw_api_ctx ctx;
    struct evhttp_request *req;
    struct bw_member_record m;
    char subject[BW_SSO_VALUE_MAX]; /* "" unless mapping by sub */
    char sso_id[BW_ID_SIZE];
};

static void provision_apply(void *arg, bw_err err, const char *rid) {
    struct provision *p = arg;
    bw_err e = err == BW_OK ? bw_store_member_insert(p->ctx.store, &p->m) : err;
    if (e == BW_OK && p->subject[0])
        e = bw_store_sso_link(p->ctx.store, p->m.org_id, p->m.id, p->subject, bw_now_ms());
    if (err != BW_OK) {
        bw_api_reply_ledger_error(p->req);
    } else if (e == BW_E_EXISTS) { /* the address is another member's who is not linked */
        sso_fail(p->req, 403, BW_R_SSO_UNKNOWN_USER,
                 "this person is not linked to a member and their address is taken");
    } else if (e != BW_OK) {
        sso_fail(p->req, 503, BW_R_STORE_UNAVAILABLE, "the member cannot be created");
    } else {
        bw_log(BW_LOG_INFO, "sso: org %s: member %s created by single sign-on (receipt %s)",
               p->m.org_id, p->m.id, rid);
        login(&p->ctx, p->req, &p->m, p->sso_id);
    }
    free(p);
}

static void provision(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                      const struct bw_sso_record *rec, const struct bw_sso_identity *id) {
    struct provision *p = calloc(1, sizeof *p);
    if (!p) {
        sso_fail(req, 503, BW_R_INTERNAL, "out of memory");
        return;
    }
    p->ctx = *ctx;
    p->req = req;
    snprintf(p->sso_id, sizeof p->sso_id, "%s", rec->id);
    bw_store_new_id("mem", p->m.id);
    snprintf(p->m.org_id, sizeof p->m.org_id, "%s", rec->org_id);
    snprintf(p->m.role, sizeof p->m.role, "member");
    p->m.created_ms = bw_now_ms();
    if (strcmp(rec->claim, "sub") == 0) {
        snprintf(p->subject, sizeof p->subject, "%s", id->sub);
        /* members are named by an address; a subject-mapped person may have none we trust */
        snprintf(p->m.email, sizeof p->m.email, "sso-%s@sso.invalid", p->m.id);
    } else {
        snprintf(p->m.email, sizeof p->m.email, "%s", id->email);
    }
    /* The receipt's principal is the org's SSO configuration (its id), which made the change. */
    struct bw_key_record actor;
    memset(&actor, 0, sizeof actor);
    snprintf(actor.id, sizeof actor.id, "%s", rec->id);
    struct bw_receipt r;
    bw_api_admin_receipt(&r, &actor, rec->org_id, "member.create_sso", p->m.id, BW_R_ADMIN_CHANGE,
                         NULL, 0);
    bw_api_record(ctx, &r, provision_apply, p);
}

void sso_session_finish(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                        const struct bw_sso_record *rec, const struct bw_sso_identity *id) {
    struct bw_member_record m;
    int by_sub = strcmp(rec->claim, "sub") == 0;
    bw_err e = by_sub ? bw_store_sso_member_by_subject(ctx->store, rec->org_id, id->value, &m)
                      : bw_store_sso_member_by_email(ctx->store, rec->org_id, id->value, &m);
    if (e == BW_OK) {
        login(ctx, req, &m, rec->id);
    } else if (e == BW_E_NOT_FOUND && rec->allow_unknown) {
        provision(ctx, req, rec, id);
    } else if (e == BW_E_NOT_FOUND || e == BW_E_EXISTS) {
        bw_log(BW_LOG_INFO, "sso: org %s: sign-in by a person who is no member refused",
               rec->org_id);
        sso_fail(req, 403, BW_R_SSO_UNKNOWN_USER,
                 e == BW_E_EXISTS ? "two members match this address: ask an admin"
                                  : "you are not a member of this org: ask an admin");
    } else {
        sso_fail(req, 503, BW_R_STORE_UNAVAILABLE, "the store cannot be read");
    }
}
