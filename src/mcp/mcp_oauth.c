/* mcp_oauth.c: who is calling an MCP route (docs/MCP.md "OAuth callers"): a Bulwark key, as on
 * every route, or, when mcp.oauth is configured, an OAuth 2.1 access token (src/oauth/) for the
 * server the path names.
 *
 * A bearer token that starts with "bwk_" is a Bulwark key and only ever judged as one (a key
 * that fails is not retried as a JWT, nor the other way round). Any other bearer token goes to
 * the verifier; a valid one becomes a caller of the org its org claim names (an org id, looked
 * up in the store, cached a second per worker: unknown, deleted and malformed ids answer
 * alike) with role `agent` (the
 * least privileged role that may call MCP), no agent, no member, and a principal id derived
 * from (issuer, principal claim) that never equals a key id: sessions, approvals, rate limits,
 * receipts and the request log all key on it.
 *
 * With mcp.oauth configured every 401 carries the RFC 9728 challenge naming the server's
 * metadata, so an SDK client can discover the authorization server from any refusal. */
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "http/bearer.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "mcp/mcp_internal.h"
#include "oauth/oauth.h"
#include "posture/health.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "util/time.h"

static void reply(struct evhttp_request *req, int status, const char *code, const char *message) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    bw_http_reply_error(req, status, code, message, NULL, NULL);
}

/* WWW-Authenticate for a refusal on server `name`: the RFC 9728 / RFC 6750 challenge when
 * OAuth is configured and name is a well-formed server name (built from config only, never
 * from the request's Host), else the plain scheme. r = BW_OAUTH_OK: no credentials were sent. */
static void challenge(struct bw_mcp_call *c, const char *name, enum bw_oauth_result r) {
    const struct bw_config *cfg = c->w->gw->cfg;
    char v[2048];
    if (!c->w->gw->oauth || !bw_config_mcp_name_ok(name) ||
        bw_oauth_www_authenticate(cfg, name, r, v, sizeof v) != BW_OK)
        snprintf(v, sizeof v, "Bearer");
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "WWW-Authenticate", v);
}

static const char *reason_of(enum bw_oauth_result r) {
    switch (r) {
    case BW_OAUTH_ISSUER:
        return BW_R_MCP_OAUTH_ISSUER;
    case BW_OAUTH_EXPIRED:
    case BW_OAUTH_NOT_YET_VALID:
        return BW_R_MCP_OAUTH_EXPIRED;
    case BW_OAUTH_AUDIENCE:
        return BW_R_MCP_OAUTH_AUDIENCE;
    case BW_OAUTH_INSUFFICIENT_SCOPE:
        return BW_R_MCP_OAUTH_INSUFFICIENT_SCOPE;
    case BW_OAUTH_NO_KEYS:
        return BW_R_MCP_OAUTH_UNAVAILABLE;
    case BW_OAUTH_OK:
    case BW_OAUTH_MALFORMED:
    case BW_OAUTH_TOO_LARGE:
    case BW_OAUTH_JWE:
    case BW_OAUTH_ALG:
    case BW_OAUTH_KEY_MISMATCH:
    case BW_OAUTH_KID_UNKNOWN:
    case BW_OAUTH_SIGNATURE:
    case BW_OAUTH_CLAIM:
    default:
        return BW_R_MCP_OAUTH_TOKEN_INVALID;
    }
}

/* Orgs found recently, so a burst of token calls reads the store once a second per org and
 * worker, as keys do (the workers' key cache, 1 s). Only found orgs are kept; every entry is
 * dropped when the auth cache generation moves (an org deletion in this process bumps it), and
 * otherwise after ORG_CACHE_TTL_MS (a deletion on another replica). */
#define ORG_CACHE_SLOTS 64
#define ORG_CACHE_TTL_MS 1000
struct org_entry {
    struct bw_org_record org;
    int64_t at_ms;
    unsigned long gen;
};
/* Owned by the event worker thread that uses it (thread-local: never shared, no lock). */
static _Thread_local struct org_entry org_cache[ORG_CACHE_SLOTS];

static size_t org_slot(const char *id) {
    size_t h = 5381;
    for (; *id; id++)
        h = h * 33 + (unsigned char)*id;
    return h % ORG_CACHE_SLOTS;
}

/* The org named by id: the cache, else the store (then cached). As bw_store_org_get. */
static bw_err org_lookup(struct bw_mcp_call *c, const char *id, struct bw_org_record *out) {
    int64_t now = bw_now_ms();
    unsigned long gen = bw_auth_cache_generation();
    struct org_entry *e = &org_cache[org_slot(id)];
    if (e->org.id[0] && strcmp(e->org.id, id) == 0 && e->gen == gen && now >= e->at_ms &&
        now - e->at_ms < ORG_CACHE_TTL_MS) {
        *out = e->org;
        return BW_OK;
    }
    bw_err r = bw_store_org_get(c->w->store, id, out);
    if (r == BW_OK) {
        e->org = *out;
        e->at_ms = now;
        e->gen = gen;
    }
    return r;
}

/* A verified token's caller: its org must exist. 0, or -1 after replying. */
static int oauth_caller(struct bw_mcp_call *c, const struct bw_oauth_claims *cl) {
    struct bw_org_record org;
    bw_err e = org_lookup(c, cl->org, &org);
    if (e == BW_E_NOT_FOUND) {
        /* The IdP vouched for an org this gateway does not serve (never made, deleted, or not
         * an org id at all): refused like any other caller outside the org, one answer for
         * every case, naming nothing. */
        reply(c->req, 403, BW_R_MCP_OAUTH_ORG_UNKNOWN,
              "this access token's org may not call MCP servers here");
        return -1;
    }
    if (e != BW_OK) {
        bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
        reply(c->req, 503, BW_R_STORE_UNAVAILABLE, "the key store is unavailable");
        return -1;
    }
    struct bw_key_record *k = &c->key;
    memset(k, 0, sizeof *k);
    bw_mcp_oauth_principal(c->w->gw->cfg->mcp_oauth_issuer, cl->principal, k->id);
    snprintf(k->org_id, sizeof k->org_id, "%s", org.id);
    snprintf(k->org_name, sizeof k->org_name, "%s", org.name);
    snprintf(k->role, sizeof k->role, "agent");
    k->expires_ms = cl->exp > 0 ? cl->exp * 1000 : 0;
    return 0;
}

static int oauth_identify(struct bw_mcp_call *c, const char *name, const char *token, size_t len) {
    struct bw_oauth_claims cl;
    enum bw_oauth_result r = bw_oauth_verify(c->w->gw->oauth, name, token, len, &cl);
    if (r == BW_OAUTH_OK)
        return oauth_caller(c, &cl);
    int status = bw_oauth_result_status(r);
    bw_reqlog_set_reason(c->req, reason_of(r));
    if (status == 503) {
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", "5");
        reply(c->req, 503, BW_R_MCP_OAUTH_UNAVAILABLE,
              "the authorization server's keys are not loaded yet");
        return -1;
    }
    challenge(c, name, r);
    if (r == BW_OAUTH_INSUFFICIENT_SCOPE) {
        reply(c->req, 403, BW_R_MCP_OAUTH_INSUFFICIENT_SCOPE,
              "the access token lacks a required scope (see WWW-Authenticate)");
        return -1;
    }
    /* Which check failed is only distinguished after the signature verified: a forged token
     * learns nothing but MCP_OAUTH_TOKEN_INVALID. */
    reply(c->req, 401, reason_of(r), "the access token was refused");
    return -1;
}

int bw_mcp_identify(struct bw_mcp_call *c, const char *path) {
    struct bw_gw_worker *w = c->w;
    const char *name = path + 5; /* after "/mcp/" */
    const char *auth =
        evhttp_find_header(evhttp_request_get_input_headers(c->req), "Authorization");
    const char *token = NULL;
    size_t len = 0;
    if (w->gw->oauth && bw_http_bearer_parse(auth, BW_OAUTH_TOKEN_MAX, &token, &len) == BW_OK &&
        !(len >= 4 && memcmp(token, BW_KEY_PREFIX, 4) == 0)) {
        if (oauth_identify(c, name, token, len) != 0)
            return -1;
    } else {
        bw_err e = bw_auth_identify(w->store, w->keys, w->gw->pepper, auth, bw_now_ms(), &c->key);
        if (e == BW_E_UNAUTH) {
            challenge(c, name, auth ? BW_OAUTH_MALFORMED : BW_OAUTH_OK);
            reply(c->req, 401, BW_R_UNAUTHENTICATED,
                  w->gw->oauth ? "a valid API key or access token is required"
                               : "a valid API key is required");
            return -1;
        }
        if (e != BW_OK) {
            bw_health_report(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, -1);
            reply(c->req, 503, BW_R_STORE_UNAVAILABLE, "the key store is unavailable");
            return -1;
        }
        if (!c->key.org_id[0]) {
            reply(c->req, 403, BW_R_ROLE_FORBIDDEN, "operator keys cannot call MCP servers");
            return -1;
        }
    }
    bw_reqlog_set_principal(c->req, c->key.org_id, c->key.agent, c->key.id);
    return 0;
}
