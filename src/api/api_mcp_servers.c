/* api_mcp_servers.c: the orgs' own MCP servers under /api/v1/mcp/servers (docs/MCP.md
 * "Per-org servers", docs/API.md, docs/ACCESS.md).
 *
 *   POST   /api/v1/mcp/servers         {name, url, credential?}                      admin
 *   GET    /api/v1/mcp/servers         the operator's servers and the org's           any key
 *   DELETE /api/v1/mcp/servers/{name}  the org's server and its sealed credential     admin
 *
 * A name is per org and may not be one of the operator's (409: the operator's server must not be
 * shadowed; the gateway looks the operator's up first anyway). The URL is checked by the egress
 * guard with DNS (every address must be allowed) at save; that blocks, so it runs on a
 * short-lived thread (at most BW_API_MAX_CHECKS at once, counted in gw->verifying with the
 * connection checks), never on the event worker. The credential is write-only: copied into
 * locked memory and wiped from the request at once, sealed for (org, row id) on that thread,
 * stored after the admin receipt is durable, and never shown (only has_credential). */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "config/config.h"
#include "connect/connect.h"
#include "egress/egress.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "mcp/mcp_orgsrv.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "store/mcp_servers.h"
#include "util/log.h"
#include "util/time.h"
#include "vault/keyring.h"

#define CRED_MAX 1024
#define MAX_PER_ORG 64 /* an org's servers (the operator's config has the same cap) */

/* scheme://host[:port] of a URL the guard parsed: never its path or query, which may carry a
 * token. */
static void display_url(const char *url, char *out, size_t size) {
    const char *p = strstr(url, "://");
    const char *end = p ? strpbrk(p + 3, "/?#") : NULL;
    size_t n = end ? (size_t)(end - url) : strlen(url);
    snprintf(out, size, "%.*s", (int)n, url);
}

static json_t *server_json(const char *name, const char *url, const char *source, int has_cred,
                           int64_t created_ms) {
    char shown[300];
    display_url(url, shown, sizeof shown);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "object", "mcp_server", "name", name, "url",
                          shown, "source", source, "has_credential", has_cred);
    if (o && created_ms)
        json_object_set_new(o, "created_ms", json_integer(created_ms));
    return o;
}

static void bad(struct evhttp_request *req, const char *msg) {
    bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
}

/* ---- create ---- */

static int count_row(void *arg, const struct bw_mcp_server_record *r) {
    (void)r;
    ++*(int *)arg;
    return 0;
}

struct job {
    struct bw_api_ctx ctx; /* of the job running it now (api.h: a check resumes on another) */
    struct evhttp_request *req;
    struct bw_api_job *hold; /* the request, held while the check runs (bw_api_hold) */
    struct bw_key_record caller;
    struct bw_mcp_server_record rec;
    char *cred; /* sodium_malloc'd, NULL = none; freed (wiped) on the thread */
    size_t cred_len;
    uint8_t *sealed; /* the sealed credential, or NULL */
    struct bw_sealed_secret sec;
    bw_err result;
    const char *reason; /* a refusal's code */
    char why[BW_EGRESS_WHY_SIZE + 64];
};

static void job_free(struct job *j) {
    if (j->cred)
        sodium_free(j->cred);
    free(j->sealed);
    free(j);
}

static void job_done(const struct bw_api_ctx *ctx, void *arg);
static void job_cancel(void *arg);

/* The egress guard with DNS, then the seal: both off the event worker. */
static void *check_thread(void *arg) {
    struct job *j = arg;
    const struct bw_connect_env *env = j->ctx.gw->connect;
    struct bw_egress_target *t = malloc(sizeof *t);
    char why[BW_EGRESS_WHY_SIZE] = "";
    bw_err e = t ? bw_egress_check_url(env ? env->policy : NULL, j->rec.url, t, why, sizeof why)
                 : BW_E_NOMEM;
    if (e == BW_OK && strcmp(t->scheme, "https") != 0 && !(env && env->allow_http)) {
        e = BW_E_INVALID;
        j->reason = BW_R_INVALID_REQUEST;
        snprintf(j->why, sizeof j->why,
                 "url: https is required (a credential must not cross a "
                 "network in clear; connections.allow_http allows http)");
    } else if (e != BW_OK && e != BW_E_NOMEM) {
        j->reason = BW_R_EGRESS_BLOCKED;
        snprintf(j->why, sizeof j->why, "url: refused by the egress guard: %s", why);
        e = BW_E_DENIED;
    }
    if (e == BW_OK && strlen(t->url) >= sizeof j->rec.url) {
        e = BW_E_INVALID;
        j->reason = BW_R_INVALID_REQUEST;
        snprintf(j->why, sizeof j->why, "url: too long once normalised");
    } else if (e == BW_OK) { /* what libcurl will be given: the guard's own serialization */
        memcpy(j->rec.url, t->url, strlen(t->url) + 1);
    }
    free(t);
    if (e == BW_OK && j->cred) {
        j->sealed = env && env->keys ? malloc(BW_VAULT_SEALED_SIZE(CRED_MAX)) : NULL;
        e = j->sealed ? bw_keyring_seal(env->keys, j->rec.org_id, j->rec.id,
                                        (const uint8_t *)j->cred, j->cred_len, j->sealed,
                                        BW_VAULT_SEALED_SIZE(CRED_MAX), &j->sec.sealed_len)
                      : BW_E_UNAVAILABLE;
        if (e == BW_OK) {
            bw_keyring_sealer_id(env->keys, j->sec.master_id);
            bw_vault_fingerprint((const uint8_t *)j->cred, j->cred_len, j->sec.fingerprint);
            j->sec.sealed = j->sealed;
        }
    }
    if (j->cred)
        sodium_free(j->cred); /* the plaintext is not needed past this point */
    j->cred = NULL;
    j->result = e;
    bw_api_resume(j->hold, job_done, job_cancel, j); /* job_done on a store thread */
    return NULL;
}

static void job_start(struct job *j) {
    int busy = 0;
    j->hold = bw_api_hold();
    if (bw_api_check_start(j->ctx.gw, check_thread, j, &busy) != 0) {
        bw_api_unhold(j->hold);
        const char *why =
            busy ? "too many URL checks in flight: try again shortly" : "cannot start a URL check";
        bw_http_reply_error(j->req, 503, BW_R_CONNECTIONS_BUSY, why, NULL, NULL);
        job_free(j);
    }
}

/* The receipt is durable (or the ledger failed): store and reply. */
static void job_apply(void *arg, bw_err err, const char *rid) {
    struct job *j = arg;
    bw_err e = err == BW_OK
                   ? bw_store_mcp_server_create(j->ctx.store, &j->rec, j->sealed ? &j->sec : NULL)
                   : err;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(j->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(j->req, e, "MCP server");
    } else {
        bw_mcp_orgsrv_changed(); /* this process serves it at once */
        json_t *o =
            server_json(j->rec.name, j->rec.url, "org", j->sealed != NULL, j->rec.created_ms);
        if (o)
            json_object_set_new(o, "receipt_id", json_string(rid));
        bw_http_add_receipt_headers(j->req, rid, NULL);
        bw_api_reply(j->req, 201, o);
    }
    job_free(j);
}

/* The check's thread could not resume the request (the store pool refused it): undo. */
static void job_cancel(void *arg) {
    struct job *j = arg;
    bw_api_check_done(j->ctx.gw);
    job_free(j);
}

/* The check is done: on a store thread, in the held request's new job. */
static void job_done(const struct bw_api_ctx *ctx, void *arg) {
    struct job *j = arg;
    j->ctx = *ctx; /* this thread's store and base from now on */
    struct bw_gateway *gw = j->ctx.gw;
    bw_api_check_done(gw);
    if (j->result != BW_OK) { /* nothing saved, nothing changed: no receipt */
        if (j->reason)
            bw_http_reply_error(j->req, 400, j->reason, j->why, NULL, NULL);
        else
            bw_http_reply_error(j->req, 503, BW_R_INTERNAL, "the server could not be saved", NULL,
                                NULL);
        job_free(j);
        return;
    }
    struct bw_receipt r;
    /* No request body hash: the body holds the credential. */
    bw_api_admin_receipt(&r, &j->caller, j->rec.org_id, "mcp_server.create", j->rec.id,
                         BW_R_ADMIN_CHANGE, NULL, 0);
    bw_api_record(&j->ctx, &r, job_apply, j);
}

/* The credential member, copied into locked memory, then wiped in jansson's string and in the
 * raw request bytes (libevent frees its buffers without wiping). 0, or -1 (not a string,
 * empty, too long, or not printable ASCII without spaces). */
static int take_credential(struct evhttp_request *req, json_t *body, struct job *j) {
    int ok = 0;
    json_t *v = json_object_get(body, "credential");
    if (!v || json_is_null(v)) {
        ok = 1;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        ok = n > 0 && n <= CRED_MAX && n == strlen(s);
        for (size_t i = 0; ok && i < n; i++)
            ok = s[i] >= 0x21 && s[i] <= 0x7e;
        if (ok && (j->cred = sodium_malloc(n + 1))) {
            memcpy(j->cred, s, n + 1);
            j->cred_len = n;
        } else {
            ok = 0;
        }
        sodium_memzero((char *)s, n);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    unsigned char *p = len ? evbuffer_pullup(in, -1) : NULL;
    if (p)
        sodium_memzero(p, len);
    return ok ? 0 : -1;
}

static void create(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                   const struct bw_key_record *caller) {
    (void)rest;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(body);
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    int cred_ok = take_credential(req, body, j) == 0;
    const char *key;
    json_t *value;
    int unknown = 0;
    json_object_foreach(body, key, value) {
        if (strcmp(key, "name") != 0 && strcmp(key, "url") != 0 && strcmp(key, "credential") != 0)
            unknown = 1;
    }
    int ok = 0;
    if (unknown)
        bad(req, "unknown member: the body is {name, url, credential?}");
    else if (!cred_ok)
        bad(req, "credential: a string of 1..1024 printable ASCII characters without spaces");
    else if (bw_api_text(req, body, "name", 63, 1, j->rec.name, sizeof j->rec.name) > 0 &&
             bw_api_text(req, body, "url", BW_MCP_SERVER_URL_MAX - 1, 1, j->rec.url,
                         sizeof j->rec.url) > 0)
        ok = 1;
    json_decref(body);
    if (ok && !bw_config_mcp_name_ok(j->rec.name)) {
        bad(req, "name: expected ^[a-z0-9][a-z0-9_-]{0,62}$");
        ok = 0;
    } else if (ok && strchr(j->rec.url, '@')) {
        bad(req, "url: credentials in the URL are refused (use credential)");
        ok = 0;
    } else if (ok && bw_config_mcp_server(ctx->gw->cfg, j->rec.name)) {
        bw_http_reply_error(req, 409, BW_R_CONFLICT,
                            "name: the operator has an MCP server of this name", NULL, NULL);
        ok = 0;
    }
    struct bw_mcp_server_record old;
    bw_err e =
        ok ? bw_store_mcp_server_get(ctx->store, caller->org_id, j->rec.name, &old, NULL, 0, NULL)
           : BW_OK;
    if (ok && e != BW_E_NOT_FOUND) {
        bw_api_reply_store_error(req, e == BW_OK ? BW_E_EXISTS : e, "MCP server");
        ok = 0;
    }
    int n = 0; /* bounded: a hostile admin cannot grow the table (or the list) without end */
    e = ok ? bw_store_mcp_server_list(ctx->store, caller->org_id, count_row, &n) : BW_OK;
    if (ok && e != BW_OK) {
        bw_api_reply_store_error(req, e, "MCP server");
        ok = 0;
    } else if (ok && n >= MAX_PER_ORG) {
        bw_http_reply_error(req, 409, BW_R_CONFLICT, "the org has 64 MCP servers: delete one first",
                            NULL, NULL);
        ok = 0;
    }
    if (!ok) {
        job_free(j);
        return;
    }
    j->ctx = *ctx;
    j->req = req;
    j->caller = *caller;
    bw_store_new_id("mcs", j->rec.id);
    snprintf(j->rec.org_id, sizeof j->rec.org_id, "%s", caller->org_id);
    snprintf(j->rec.created_by, sizeof j->rec.created_by, "%s", caller->id);
    j->rec.created_ms = bw_now_ms();
    job_start(j);
}

/* ---- list ---- */

static int add_server(void *arg, const struct bw_mcp_server_record *r) {
    return json_array_append_new(
        arg, server_json(r->name, r->url, "org", r->has_credential, r->created_ms));
}

static void list(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                 const struct bw_key_record *caller) {
    (void)rest;
    json_t *data = json_array();
    const struct bw_config *cfg = ctx->gw->cfg;
    for (size_t i = 0; data && cfg && i < cfg->n_mcp_servers; i++)
        json_array_append_new(data,
                              server_json(cfg->mcp_servers[i].name, cfg->mcp_servers[i].url,
                                          "operator", cfg->mcp_servers[i].credential[0] != 0, 0));
    bw_err e =
        data ? bw_store_mcp_server_list(ctx->store, caller->org_id, add_server, data) : BW_E_NOMEM;
    bw_api_reply_list(req, e, data, "MCP server");
}

/* ---- delete ---- */

struct removal {
    struct evhttp_request *req;
    struct bw_store *store;
    struct bw_mcp_server_record rec;
};

static void delete_apply(void *arg, bw_err err, const char *rid) {
    struct removal *d = arg;
    bw_err e =
        err == BW_OK ? bw_store_mcp_server_delete(d->store, d->rec.org_id, d->rec.name) : err;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(d->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(d->req, e, "MCP server");
    } else {
        bw_mcp_orgsrv_changed();
        bw_http_add_receipt_headers(d->req, rid, NULL);
        bw_api_reply(d->req, 200,
                     json_pack("{s:s, s:s, s:b, s:s}", "object", "mcp_server", "name", d->rec.name,
                               "deleted", 1, "receipt_id", rid));
    }
    free(d);
}

static void delete_server(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                          const char *rest, const struct bw_key_record *caller) {
    struct bw_mcp_server_record rec;
    /* the operator's servers are not the org's: 404 like any name the org does not have */
    bw_err e = bw_config_mcp_name_ok(rest)
                   ? bw_store_mcp_server_get(ctx->store, caller->org_id, rest, &rec, NULL, 0, NULL)
                   : BW_E_NOT_FOUND;
    if (!bw_api_store_ok(req, e, "MCP server"))
        return;
    struct removal *d = calloc(1, sizeof *d);
    if (!d) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    d->req = req;
    d->store = ctx->store;
    d->rec = rec;
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, "mcp_server.delete", rec.id, BW_R_ADMIN_CHANGE,
                         NULL, 0);
    bw_api_record(ctx, &r, delete_apply, d);
}

const struct bw_api_route bw_api_routes_mcp_servers[] = {
    {EVHTTP_REQ_POST, "/api/v1/mcp/servers", BW_API_ADMIN, create},
    {EVHTTP_REQ_GET, "/api/v1/mcp/servers", BW_API_ANY_KEY, list},
    {EVHTTP_REQ_DELETE, "/api/v1/mcp/servers/", BW_API_ADMIN, delete_server},
    {0, NULL, BW_API_PUBLIC, NULL},
};
