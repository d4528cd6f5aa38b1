/* sso_flow.c: GET /console/sso/start and /console/sso/callback (sso.h). The network steps run
 * on a check thread (api_jobs.c: bounded, counted in gw->inflight so a graceful shutdown waits
 * for them); the store steps run on the request's worker. */
#include <event2/event.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "connect/connect.h"
#include "gateway/gateway.h"
#include "jobs/jobs.h"
#include "reason/reasons.h"
#include "sso/sso_flow.h"
#include "sso/sso_session.h"
#include "util/log.h"
#include "util/time.h"
#include "vault/keyring.h"

#define SECRET_MAX 1024
#define CODE_MAX 2048

struct flow {
    struct bw_api_ctx ctx;
    struct evhttp_request *req;
    int callback; /* 0: start (discovery), 1: callback (code exchange) */
    struct sso_pending pend;
    struct bw_sso_record rec;
    bw_err load; /* the store job's answer */
    uint8_t *sealed;
    size_t sealed_len;
    char code[CODE_MAX];
    char iss[BW_SSO_ISSUER_MAX]; /* the callback's `iss` parameter (RFC 9207), "" if absent */
    struct sso_meta meta;
    struct bw_sso_identity id;
    enum bw_sso_check check;
    bw_err result;
    char why[256];
};

static void flow_free(struct flow *f) {
    if (!f)
        return;
    free(f->sealed);
    sodium_memzero(f, sizeof *f); /* code, verifier, nonce */
    free(f);
}

static struct sso_net network(struct bw_gateway *gw) {
    struct sso_net n = {gw->connect ? gw->connect->policy : NULL, &gw->stopping};
    return n;
}

/* The client secret, opened from the vault into locked memory as a C string (NULL on failure;
 * the caller sodium_free()s it). */
static char *open_secret(struct flow *f) {
    const struct bw_connect_env *env = f->ctx.gw->connect;
    struct bw_vault_secret *v = NULL;
    char *secret = NULL;
    if (env && env->keys &&
        bw_keyring_open(env->keys, f->rec.org_id, f->rec.id, f->sealed, f->sealed_len, &v) ==
            BW_OK &&
        v->len > 0 && v->len <= SECRET_MAX && (secret = sodium_malloc(v->len + 1))) {
        memcpy(secret, v->bytes, v->len);
        secret[v->len] = 0;
    }
    bw_vault_secret_free(v);
    if (!secret)
        snprintf(f->why, sizeof f->why, "the client secret cannot be opened from the vault");
    return secret;
}

static void flow_done(evutil_socket_t fd, short what, void *arg);

static void *flow_thread(void *arg) {
    struct flow *f = arg;
    struct sso_net net = network(f->ctx.gw);
    const struct sso_net *p = &net;
    f->result = sso_discover(p, f->rec.issuer, &f->meta, f->why, sizeof f->why);
    /* RFC 9207 2.4: the authorization response names its issuer; one that names another, or
     * leaves it out when the IdP says it sends it, came from somewhere else (mix-up). */
    if (f->result == BW_OK && f->callback &&
        (f->iss[0] ? strcmp(f->iss, f->rec.issuer) != 0 : f->meta.iss_param)) {
        snprintf(f->why, sizeof f->why,
                 "the authorization response's iss is not this org's issuer (RFC 9207)");
        f->result = BW_E_DENIED;
    }
    if (f->result == BW_OK && f->callback) {
        char *secret = open_secret(f);
        if (!secret) {
            f->result = BW_E_INTERNAL;
        } else {
            struct sso_exchange x = {
                f->rec.issuer,
                f->rec.client_id,
                secret,
                f->code,
                f->pend.verifier,
                f->pend.redirect_uri,
                f->pend.nonce,
                strcmp(f->rec.claim, "sub") == 0 ? BW_SSO_BY_SUB : BW_SSO_BY_EMAIL};
            f->result = sso_redeem(p, &f->meta, &x, &f->id, &f->check, f->why, sizeof f->why);
            sodium_free(secret);
        }
    }
    sodium_memzero(f->code, sizeof f->code); /* a code is single-use, but not ours to keep */
    struct timeval now = {0, 0};
    if (event_base_once(f->ctx.base, -1, EV_TIMEOUT, flow_done, f, &now) != 0)
        bw_error("sso: cannot return a sign-in to its worker"); /* leaks the flow */
    return NULL;
}

static void flow_start_thread(struct flow *f) {
    int busy = 0;
    if (bw_api_check_start(f->ctx.gw, flow_thread, f, &busy) != 0) {
        sso_fail(f->req, 503, BW_R_SSO_BUSY,
                 busy ? "too many sign-ins in flight: try again shortly"
                      : "cannot start the sign-in");
        flow_free(f);
    }
}

/* ---- the org's configuration, read on a store job (jobs/jobs.h), never on the worker: both
 * routes are public, and a slow store must not stall the worker's other calls ---- */

#define STORE_BUDGET_MS 2000 /* time a read may wait in the job queue */

static void load_run(struct bw_store *store, void *arg) {
    struct flow *f = arg;
    if (!f->callback) {
        f->load = bw_store_sso_get(store, f->pend.org_id, &f->rec, NULL, 0, NULL);
        return;
    }
    f->sealed = malloc(BW_VAULT_SEALED_SIZE(SECRET_MAX));
    f->load = f->sealed ? bw_store_sso_get(store, f->pend.org_id, &f->rec, f->sealed,
                                           BW_VAULT_SEALED_SIZE(SECRET_MAX), &f->sealed_len)
                        : BW_E_NOMEM;
}

static void load_done(void *arg, bw_err err) {
    struct flow *f = arg;
    bw_err e = err != BW_OK ? err : f->load;
    if (e == BW_OK && atomic_load(&f->ctx.gw->stopping)) {
        /* the worker's loop may be gone (jobs.h: done can run on the main thread at shutdown):
         * no check thread that would post back to it */
        sso_fail(f->req, 503, BW_R_SHUTTING_DOWN, "gateway is shutting down");
    } else if (e == BW_E_NOT_FOUND) { /* an unknown org and an org without SSO answer alike */
        sso_fail(f->req, 404, BW_R_SSO_NOT_CONFIGURED, "no single sign-on for this org");
    } else if (e != BW_OK) {
        sso_fail(f->req, 503, BW_R_STORE_UNAVAILABLE, "the store cannot be read");
    } else {
        flow_start_thread(f);
        return;
    }
    flow_free(f);
}

static void load_config(struct flow *f) {
    struct bw_jobs *jobs = f->ctx.gw->jobs;
    if (!jobs || bw_jobs_submit(jobs, f->ctx.base, bw_jobs_deadline(STORE_BUDGET_MS), load_run,
                                load_done, f) != BW_OK) {
        sso_fail(f->req, 503, BW_R_STORE_UNAVAILABLE, "the store cannot be read");
        flow_free(f);
    }
}

/* ---- start ---- */

static int append(char *out, size_t size, size_t *o, const char *name, const char *value) {
    size_t k = strlen(name);
    if (*o + k >= size)
        return 0;
    memcpy(out + *o, name, k);
    *o += k;
    long w = sso_form_escape(value, out + *o, size - *o);
    if (w < 0)
        return 0;
    *o += (size_t)w;
    return 1;
}

/* OIDC Core 3.1.2.1 with PKCE (RFC 7636 4.3). */
static int authorize_url(const struct flow *f, char *out, size_t size) {
    char challenge[SSO_TOKEN_SIZE];
    sso_pkce_challenge(f->pend.verifier, challenge);
    const char *ep = f->meta.authorization_endpoint;
    size_t o = strlen(ep);
    if (o >= size)
        return 0;
    memcpy(out, ep, o + 1);
    return append(out, size, &o, strchr(ep, '?') ? "&response_type=" : "?response_type=", "code") &&
           append(out, size, &o, "&client_id=", f->rec.client_id) &&
           append(out, size, &o, "&redirect_uri=", f->pend.redirect_uri) &&
           append(out, size, &o, "&scope=", f->rec.claim[0] == 'e' ? "openid email" : "openid") &&
           append(out, size, &o, "&state=", f->pend.state) &&
           append(out, size, &o, "&nonce=", f->pend.nonce) &&
           append(out, size, &o, "&code_challenge=", challenge) &&
           append(out, size, &o, "&code_challenge_method=", "S256");
}

static void start_done(struct flow *f) {
    char *url = malloc(SSO_URL_MAX + 1024);
    if (f->result != BW_OK) {
        bw_log(BW_LOG_WARN, "sso: org %s: discovery failed: %s", f->rec.org_id, f->why);
        sso_fail(f->req, 502, BW_R_SSO_IDP_UNAVAILABLE, f->why);
    } else if (!url || !authorize_url(f, url, SSO_URL_MAX + 1024)) {
        sso_fail(f->req, 502, BW_R_SSO_IDP_UNAVAILABLE, "the authorization URL is too long");
    } else if (sso_state_put(&f->pend) != BW_OK) {
        sso_fail(f->req, 503, BW_R_INTERNAL, "out of memory");
    } else {
        /* SameSite=Lax: the IdP brings the browser back with a cross-site top-level GET, which
         * Strict would send without the cookie. Path-scoped to the callback's folder. */
        char cookie[200];
        snprintf(cookie, sizeof cookie,
                 SSO_COOKIE "=%s; Path=/console/sso/; Max-Age=%d; HttpOnly; SameSite=Lax%s",
                 f->pend.browser, SSO_STATE_TTL_MS / 1000,
                 sso_request_tls(f->req) ? "; Secure" : "");
        evhttp_add_header(evhttp_request_get_output_headers(f->req), "Set-Cookie", cookie);
        sso_redirect(f->req, url);
    }
    free(url);
    flow_free(f);
}

static void start(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    char org[BW_ID_SIZE];
    if (sso_param(req, "org", org, sizeof org) != 1) {
        sso_fail(req, 400, BW_R_INVALID_REQUEST, "org: the org id is required (?org=org_...)");
        return;
    }
    struct flow *f = calloc(1, sizeof *f);
    if (!f) {
        sso_fail(req, 503, BW_R_INTERNAL, "out of memory");
        return;
    }
    f->ctx = *ctx;
    f->req = req;
    if (!bw_sso_redirect_uri(ctx->gw->cfg, req, f->pend.redirect_uri,
                             sizeof f->pend.redirect_uri)) {
        sso_fail(req, 503, BW_R_SSO_NO_PUBLIC_URL,
                 "the gateway's public origin is unknown: set sso.public_url");
        flow_free(f);
        return;
    }
    sso_random_token(f->pend.state);
    sso_random_token(f->pend.browser);
    sso_random_token(f->pend.nonce);
    sso_random_token(f->pend.verifier);
    snprintf(f->pend.org_id, sizeof f->pend.org_id, "%s", org);
    f->pend.expires_ms = bw_now_ms() + SSO_STATE_TTL_MS;
    load_config(f);
}

/* ---- callback ---- */

static void callback_done(struct flow *f) {
    int status = 502;
    const char *reason = BW_R_SSO_IDP_UNAVAILABLE;
    switch (f->result) {
    case BW_OK:
        sso_session_finish(&f->ctx, f->req, &f->rec, &f->id); /* replies */
        flow_free(f);
        return;
    case BW_E_DENIED: /* the IdP refused the code */
        status = 401;
        reason = BW_R_SSO_IDP_ERROR;
        break;
    case BW_E_INVALID: /* the ID token failed a check */
        status = f->check == BW_SSO_EMAIL_UNVERIFIED ? 403 : 401;
        reason = bw_sso_check_reason(f->check);
        break;
    case BW_E_INTERNAL:
        status = 503;
        reason = BW_R_INTERNAL;
        break;
    default:
        break;
    }
    bw_log(BW_LOG_WARN, "sso: org %s: sign-in refused (%s): %s", f->rec.org_id, reason, f->why);
    sso_fail(f->req, status, reason, f->why);
    flow_free(f);
}

static void flow_done(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct flow *f = arg;
    bw_api_check_done(f->ctx.gw);
    if (f->callback)
        callback_done(f);
    else
        start_done(f);
}

/* The IdP's own refusal (RFC 6749 4.1.2.1): its error code is shown if it is a plain token;
 * error_description is not (free text chosen by whoever crafted the redirect). */
static void idp_error(struct evhttp_request *req, const char *err) {
    char detail[96];
    int plain = strlen(err) < 40 && strspn(err, "abcdefghijklmnopqrstuvwxyz_") == strlen(err);
    snprintf(detail, sizeof detail, "the identity provider answered %s", plain ? err : "an error");
    sso_fail(req, 401, BW_R_SSO_IDP_ERROR, detail);
}

static void callback(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    char state[SSO_TOKEN_SIZE + 1], browser[SSO_TOKEN_SIZE + 1], err[64];
    struct flow *f = calloc(1, sizeof *f);
    sso_clear_state_cookie(req); /* whatever happens, this state is spent */
    if (!f) {
        sso_fail(req, 503, BW_R_INTERNAL, "out of memory");
        return;
    }
    f->ctx = *ctx;
    f->req = req;
    f->callback = 1;
    int have_state = sso_param(req, "state", state, sizeof state) == 1;
    int have_cookie = sso_cookie(req, SSO_COOKIE, browser, sizeof browser);
    /* The state is taken (removed) before anything else is looked at: one use only, even when
     * the rest of this request is refused. */
    if (!have_state ||
        sso_state_take(state, have_cookie ? browser : NULL, bw_now_ms(), &f->pend) != BW_OK) {
        sso_fail(req, 400, BW_R_SSO_STATE_INVALID,
                 "this sign-in is unknown, used, expired or was started in another browser: "
                 "start again");
    } else if (sso_param(req, "error", err, sizeof err) != 0) {
        idp_error(req, err);
    } else if (sso_param(req, "code", f->code, sizeof f->code) != 1) {
        sso_fail(req, 400, BW_R_INVALID_REQUEST, "code: missing or malformed");
    } else if (sso_param(req, "iss", f->iss, sizeof f->iss) < 0) {
        sso_fail(req, 400, BW_R_INVALID_REQUEST, "iss: repeated or malformed");
    } else {
        load_config(f);
        return;
    }
    flow_free(f);
}

void bw_sso_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *path) {
    int get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
    int is_start = strcmp(path, "/console/sso/start") == 0;
    int is_callback = strcmp(path, "/console/sso/callback") == 0;
    if (!is_start && !is_callback) {
        sso_fail(req, 404, BW_R_NOT_FOUND, "no such endpoint");
    } else if (!get) {
        sso_fail(req, 405, BW_R_METHOD_NOT_ALLOWED, "method not allowed on this path");
    } else if (atomic_load(&ctx->gw->stopping)) {
        sso_fail(req, 503, BW_R_SHUTTING_DOWN, "gateway is shutting down");
    } else if (is_start) {
        start(ctx, req);
    } else {
        callback(ctx, req);
    }
}

void bw_sso_route(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    struct bw_api_ctx api = {w->gw, w->base, w->store, w->keys};
    bw_sso_handle(&api, req, path);
}
