/* console_api.c: console sign-in and the session cookie (console.h, session.h).
 *
 *   POST /console/api/login    {"key": "bwk_..."}: a person's key -> session cookie
 *   GET  /console/api/session  the signed-in principal and the CSRF token
 *   POST /console/api/logout   ends the session (CSRF token required)
 *
 * Login is a change recorded like any other (admin receipt `console.login`, principal the key,
 * durable first); the session then exists. Agent and operator keys are refused: the console is
 * for the people of an org. Login takes only application/json, so a cross-site form cannot post
 * it (a JSON POST from another origin needs a CORS preflight, which nothing here grants), and an
 * Origin, when sent, must be this host's. */
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "console/console_internal.h"
#include "console/session.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "ledger/receipt.h"
#include "posture/health.h"
#include "reason/reasons.h"
#include "util/time.h"

static int person_role(const char *role) {
    return strcmp(role, "owner") == 0 || strcmp(role, "admin") == 0 ||
           strcmp(role, "reviewer") == 0 || strcmp(role, "member") == 0;
}

/* An Origin, when present, must be this request's own scheme://Host. */
static int same_origin(struct evhttp_request *req) {
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *origin = evhttp_find_header(h, "Origin");
    const char *host = evhttp_find_header(h, "Host");
    if (!origin)
        return 1;
    if (!host || !host[0])
        return 0;
    const char *scheme = bw_api_request_tls(req) ? "https://" : "http://";
    size_t sl = strlen(scheme);
    return strncmp(origin, scheme, sl) == 0 && strcmp(origin + sl, host) == 0;
}

void bw_console_set_cookie(struct evhttp_request *req, const char *token, long long max_age_s) {
    char v[256];
    int tls = bw_api_request_tls(req);
    snprintf(v, sizeof v, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s",
             tls ? BW_CONSOLE_COOKIE_TLS : BW_CONSOLE_COOKIE, token, max_age_s,
             tls ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", v);
    sodium_memzero(v, sizeof v);
}

static json_t *session_json(const struct bw_key_record *caller,
                            const struct bw_console_session *sess, const char *csrf) {
    return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
                     "signed_in", 1, "session_id", sess->id, "via", sess->via, "org_id",
                     caller->org_id, "org_name", caller->org_name, "role", caller->role,
                     "member_id", caller->member_id, "key_id", sess->key_id, "email", sess->email,
                     "name", caller->name, "created_ms", (json_int_t)sess->created_ms, "expires_ms",
                     (json_int_t)sess->expires_ms, "idle_timeout_ms",
                     (json_int_t)BW_CONSOLE_IDLE_MS, "csrf_token", csrf);
}

/* ---- login ---- */

struct login_job {
    struct evhttp_request *req;
    struct bw_store *store;
    const uint8_t *pepper;
    struct bw_key_record key;
};

static void apply_login(void *arg, bw_err err, const char *receipt_id) {
    struct login_job *j = arg;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(j->req);
        free(j);
        return;
    }
    char token[BW_SESSION_TOKEN_SIZE], csrf[BW_CSRF_TOKEN_SIZE];
    struct bw_console_session sess;
    struct bw_console_principal p = {j->key.id, j->key.org_id, j->key.member_id, "key"};
    int64_t now = bw_now_ms();
    bw_err e = bw_console_session_issue(j->store, j->pepper, &p, now, token, csrf, &sess);
    if (e == BW_E_DENIED || e == BW_E_INVALID) {
        bw_http_reply_error(j->req, 401, BW_R_UNAUTHENTICATED, "a valid API key is required",
                            receipt_id, NULL);
    } else if (e != BW_OK) {
        bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
        bw_http_reply_error(j->req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable",
                            receipt_id, NULL);
    } else {
        bw_console_set_cookie(j->req, token, (sess.expires_ms - now) / 1000);
        json_t *o = session_json(&j->key, &sess, csrf);
        if (o)
            json_object_set_new(o, "receipt_id", json_string(receipt_id));
        bw_http_add_receipt_headers(j->req, receipt_id, NULL);
        bw_api_reply(j->req, 200, o);
    }
    sodium_memzero(token, sizeof token);
    sodium_memzero(csrf, sizeof csrf);
    free(j);
}

/* The key from {"key": "..."}: exactly that member, a string. NULL after replying 400. */
static const char *login_key(struct evhttp_request *req, json_t *body) {
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "key") != 0) {
            bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                                "unknown member (only \"key\" is accepted)", NULL, NULL);
            return NULL;
        }
    }
    v = json_object_get(body, "key");
    if (!json_is_string(v)) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, "\"key\" is required: a string", NULL,
                            NULL);
        return NULL;
    }
    return json_string_value(v);
}

static void login(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    if (!same_origin(req)) {
        bw_http_reply_error(req, 403, BW_R_ORIGIN_NOT_ALLOWED,
                            "sign in from the console's own origin", NULL, NULL);
        return;
    }
    if (!bw_http_content_is_json(req)) {
        bw_http_reply_error(req, 415, BW_R_INVALID_REQUEST, "Content-Type must be application/json",
                            NULL, NULL);
        return;
    }
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return; /* replied */
    const char *key = login_key(req, body);
    if (!key) {
        json_decref(body);
        return;
    }
    /* Through the one key parser (auth.h): shape, keyed hash, constant-time compare, revoked,
     * expired. The header form is built in locked memory and wiped. */
    char *authz = sodium_malloc(80);
    struct bw_key_record k;
    bw_err e = BW_E_NOMEM;
    if (authz && strlen(key) <= 64) {
        snprintf(authz, 80, "Bearer %s", key);
        e = bw_auth_identify(ctx->store, ctx->keys, ctx->gw->pepper, authz, bw_now_ms(), &k);
    } else if (authz) {
        e = BW_E_UNAUTH;
    }
    if (authz)
        sodium_free(authz);
    json_decref(body);
    if (e == BW_E_UNAUTH) {
        bw_http_reply_error(req, 401, BW_R_UNAUTHENTICATED, "a valid API key is required", NULL,
                            NULL);
        return;
    }
    if (e != BW_OK) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the key store is unavailable", NULL,
                            NULL);
        return;
    }
    bw_reqlog_set_principal(req, k.org_id, k.agent, k.id);
    if (!k.org_id[0] || !person_role(k.role) || strcmp(k.member_id, "operator") == 0) {
        bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                            "the console signs in people: a key of role owner, admin, reviewer or "
                            "member (agent and operator keys are refused)",
                            NULL, NULL);
        return;
    }
    struct login_job *j = calloc(1, sizeof *j);
    if (!j) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    j->req = req;
    j->store = ctx->store;
    j->pepper = ctx->gw->pepper;
    j->key = k;
    struct bw_receipt r;
    bw_api_admin_receipt(&r, &k, k.org_id, "console.login", k.id, BW_R_ADMIN_CHANGE, NULL, 0);
    bw_api_record(ctx, &r, apply_login, j);
}

/* ---- session and logout ---- */

/* The session of the request's cookie. 1 with *caller and *sess; else replied, 0. csrf: check
 * the X-CSRF-Token header. */
static int cookie_session(const struct bw_api_ctx *ctx, struct evhttp_request *req, int csrf,
                          struct bw_key_record *caller, struct bw_console_session *sess,
                          char csrf_out[BW_CSRF_TOKEN_SIZE], int ask) {
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *value = NULL;
    size_t len = 0;
    if (!bw_console_cookie_find(evhttp_find_header(h, "Cookie"), bw_api_request_tls(req), &value,
                                &len)) {
        bw_http_reply_error(req, 401, BW_R_UNAUTHENTICATED, "not signed in", NULL, NULL);
        return 0;
    }
    const char *token_csrf = NULL;
    if (csrf) {
        token_csrf = evhttp_find_header(h, BW_CONSOLE_CSRF_HEADER);
        if (!token_csrf)
            token_csrf = "";
    }
    bw_err e = bw_console_session_identify(ctx->store, ctx->gw->pepper, value, len, token_csrf,
                                           bw_now_ms(), caller, sess);
    if (e == BW_E_UNAUTH && ask) { /* GET /console/api/session: an answer, and the stale
                                    * cookie is dropped */
        bw_console_set_cookie(req, "", 0);
        bw_api_reply(req, 200, json_pack("{s:b}", "signed_in", 0));
        return 0;
    }
    if (e == BW_E_UNAUTH) {
        bw_http_reply_error(req, 401, BW_R_UNAUTHENTICATED, "not signed in (or the session ended)",
                            NULL, NULL);
        return 0;
    }
    if (e == BW_E_DENIED) {
        bw_http_reply_error(req, 403, BW_R_CSRF_INVALID,
                            "this call needs the session's CSRF token in X-CSRF-Token", NULL, NULL);
        return 0;
    }
    if (e != BW_OK) {
        bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return 0;
    }
    if (csrf_out)
        bw_console_csrf_token(ctx->gw->pepper, value, len, csrf_out);
    bw_reqlog_set_principal(req, caller->org_id, caller->agent, caller->id);
    return 1;
}

/* A page asks whether it is signed in: "no" is an answer (200 {"signed_in": false}), not an
 * error, so a fresh page logs no failed request. */
static void session(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    struct bw_key_record caller;
    struct bw_console_session sess;
    char csrf[BW_CSRF_TOKEN_SIZE];
    const char *value = NULL;
    size_t len = 0;
    if (!bw_console_cookie_find(evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie"),
                                bw_api_request_tls(req), &value, &len)) {
        bw_api_reply(req, 200, json_pack("{s:b}", "signed_in", 0));
        return;
    }
    if (!cookie_session(ctx, req, 0, &caller, &sess, csrf, 1))
        return;
    bw_api_reply(req, 200, session_json(&caller, &sess, csrf));
    sodium_memzero(csrf, sizeof csrf);
}

static void logout(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    struct bw_key_record caller;
    struct bw_console_session sess;
    if (!cookie_session(ctx, req, 1, &caller, &sess, NULL, 0))
        return;
    bw_err e = bw_console_session_end(ctx->store, sess.org_id, sess.id);
    if (e != BW_OK && e != BW_E_NOT_FOUND) {
        bw_api_reply_store_error(req, e, "session");
        return;
    }
    bw_console_set_cookie(req, "", 0);
    bw_api_reply(req, 200, json_pack("{s:b}", "signed_out", 1));
}

void bw_console_api(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest) {
    enum evhttp_cmd_type m = (enum evhttp_cmd_type)bw_api_request_method(req);
    int want_post = strcmp(rest, "login") == 0 || strcmp(rest, "logout") == 0;
    int want_get = strcmp(rest, "session") == 0;
    bw_reqlog_set_route(req, "console");
    if (!want_post && !want_get) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    if ((want_post && m != EVHTTP_REQ_POST) || (want_get && m != EVHTTP_REQ_GET)) {
        bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED, "method not allowed on this path",
                            NULL, NULL);
        return;
    }
    if (strcmp(rest, "login") == 0)
        login(ctx, req);
    else if (strcmp(rest, "logout") == 0)
        logout(ctx, req);
    else
        session(ctx, req);
}

int bw_console_identify(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                        struct bw_key_record *caller) {
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *value = NULL;
    size_t len = 0;
    if (!bw_console_cookie_find(evhttp_find_header(h, "Cookie"), bw_api_request_tls(req), &value,
                                &len))
        return -1;
    enum evhttp_cmd_type m = (enum evhttp_cmd_type)bw_api_request_method(req);
    int safe = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD || m == EVHTTP_REQ_OPTIONS;
    struct bw_console_session sess;
    return cookie_session(ctx, req, !safe, caller, &sess, NULL, 0);
}

int bw_console_has_cookie(struct evhttp_request *req) {
    const char *value = NULL;
    size_t len = 0;
    return bw_console_cookie_find(
        evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie"),
        bw_api_request_tls(req), &value, &len);
}
