/* api_connections.c: connections under /api/v1/connections (docs/API.md "Connections",
 * docs/ACCESS.md). Write-only secrets: no answer ever carries a credential, only metadata and
 * a fingerprint ("…" + at most the last 4 characters).
 *
 *   POST  /api/v1/connections             {kind, name, url?, secret?}                  admin
 *   GET   /api/v1/connections, /{id}      metadata (one: with outbox counts)           admin
 *   PATCH /api/v1/connections/{id}        {url?, secret?}: a new credential, verified  admin
 *   POST  /api/v1/connections/{id}/verify re-check now (status healthy / unhealthy)    admin
 *   POST  /api/v1/connections/{id}/delete the connection, its secret and queued events admin
 *
 * Saving (create, replace) checks the URL with the egress guard (with DNS) and makes a live
 * call (a test message, or an identity call with the token); only if it succeeds is the
 * credential sealed (record id and org as associated data) and, after its admin receipt is
 * durable, stored. Both checks block, so they run on a short-lived verification thread (at
 * most BW_API_MAX_CHECKS at once, each bounded by connections.verify_timeout_ms), never on the
 * event worker nor on a store thread; the request is held meanwhile and the answer resumes it in
 * a new store job (bw_api_hold, bw_api_resume).
 *
 * The request's copies of the credential (libevent's input buffer and jansson's string) are
 * wiped once it is copied into sodium_malloc'd memory; the sealed record is ciphertext. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "connect/connect.h"
#include "connect/outbox.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "store/connections.h"
#include "store/identity.h"
#include "util/log.h"
#include "util/time.h"

enum op { OP_CREATE, OP_REPLACE, OP_VERIFY };

static const char *const op_action[] = {"connection.create", "connection.update",
                                        "connection.verify"};

static json_t *conn_json(const struct bw_connection_record *c) {
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", c->id,
                     "object", "connection", "kind", c->kind, "name", c->name, "url", c->url,
                     "fingerprint", c->fingerprint, "status", c->status, "status_reason",
                     c->status_reason, "verified_ms", (json_int_t)c->verified_ms, "created_ms",
                     (json_int_t)c->created_ms, "secret_updated_ms",
                     (json_int_t)c->secret_updated_ms, "last_used_ms", (json_int_t)c->last_used_ms);
}

static int bad(struct evhttp_request *req, const char *msg) {
    bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST, msg, NULL, NULL);
    return 0;
}

static int name_ok(const char *s) {
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

/* ---- reading a credential out of a body, then wiping the body ---- */

/* The credential fields as sent, copied into sodium_malloc'd memory before anything else is
 * done with the request (so every later reply comes after the request's copies are wiped). */
struct raw_cred {
    char *url, *secret; /* NULL if absent */
    int bad;            /* a field was not a string */
};

static char *secure_dup(const char *s, size_t n) {
    char *p = sodium_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static void raw_free(struct raw_cred *r) {
    if (r->url)
        sodium_free(r->url);
    if (r->secret)
        sodium_free(r->secret);
    r->url = r->secret = NULL;
}

/* Copies the url and secret members, then wipes them in jansson's strings and the raw request
 * bytes (libevent frees its buffers without wiping them). */
static void take_cred(struct evhttp_request *req, json_t *body, struct raw_cred *out) {
    const char *fields[] = {"url", "secret"};
    char **slots[] = {&out->url, &out->secret};
    memset(out, 0, sizeof *out);
    for (size_t i = 0; body && i < 2; i++) {
        json_t *v = json_object_get(body, fields[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            out->bad = 1;
            continue;
        }
        size_t n = json_string_length(v);
        if (n != strlen(json_string_value(v)) || n > BW_EGRESS_URL_MAX)
            out->bad = 1;
        else if (!(*slots[i] = secure_dup(json_string_value(v), n)))
            out->bad = 1;
        sodium_memzero((char *)json_string_value(v), n);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    unsigned char *p = len ? evbuffer_pullup(in, -1) : NULL;
    if (p)
        sodium_memzero(p, len);
}

/* ---- a verification on its own thread ---- */

struct job {
    struct bw_api_ctx ctx; /* of the job running it now (api.h: a check resumes on another) */
    struct evhttp_request *req;
    struct bw_api_job *hold; /* the request, held while the check runs (bw_api_hold) */
    struct bw_key_record caller;
    enum op op;
    enum bw_connect_kind kind;
    struct bw_connection_record conn;
    struct bw_connect_cred *cred; /* create, replace: from the body (sodium_malloc) */
    uint8_t *sealed;              /* verify: the stored record; create, replace: the new one */
    size_t sealed_len;
    struct bw_sealed_secret sec;
    struct bw_connect_result res;
    bw_err result;
};

static void job_free(struct job *j) {
    bw_connect_cred_free(j->cred);
    free(j->sealed);
    free(j);
}

static void job_done(const struct bw_api_ctx *ctx, void *arg);
static void job_cancel(void *arg);

static void *verify_thread(void *arg) {
    struct job *j = arg;
    const struct bw_connect_env *env = j->ctx.gw->connect;
    bw_err e = BW_OK;
    if (j->op == OP_VERIFY) {
        e = bw_connect_cred_open(env, j->kind, j->conn.org_id, j->conn.secret_id, j->sealed,
                                 j->sealed_len, &j->cred);
        if (e != BW_OK) {
            snprintf(j->res.reason, sizeof j->res.reason, "%s", BW_R_CONNECTION_CREDENTIAL);
            snprintf(j->res.why, sizeof j->res.why,
                     "the stored credential does not open (altered, or another master key)");
        }
    }
    if (e == BW_OK)
        e = bw_connect_verify(env, j->cred, &j->res);
    if (e == BW_OK && j->op != OP_VERIFY) {
        j->sealed = malloc(BW_VAULT_SEALED_MAX);
        e = j->sealed ? bw_connect_cred_seal(env, j->cred, j->conn.org_id, j->conn.secret_id,
                                             j->sealed, BW_VAULT_SEALED_MAX, &j->sealed_len,
                                             j->sec.master_id, j->sec.fingerprint)
                      : BW_E_NOMEM;
        j->sec.sealed = j->sealed;
        j->sec.sealed_len = j->sealed_len;
        if (e != BW_OK)
            snprintf(j->res.reason, sizeof j->res.reason, "%s", BW_R_INTERNAL);
    }
    bw_connect_cred_free(j->cred); /* the plaintext is not needed past this point */
    j->cred = NULL;
    j->result = e;
    bw_api_resume(j->hold, job_done, job_cancel, j); /* job_done on a store thread */
    return NULL;
}

/* Starts the verification thread; replies itself (and frees j) if it cannot. */
static void job_start(struct job *j) {
    int busy = 0;
    j->hold = bw_api_hold();
    if (bw_api_check_start(j->ctx.gw, verify_thread, j, &busy) != 0) {
        bw_api_unhold(j->hold);
        const char *why = busy ? "too many connection checks in flight: try again shortly"
                               : "cannot start a connection check";
        bw_http_reply_error(j->req, 503, BW_R_CONNECTIONS_BUSY, why, NULL, NULL);
        job_free(j);
    }
}

static void reply_verify_failure(struct job *j) {
    char msg[BW_CONNECT_WHY_SIZE + 64];
    snprintf(msg, sizeof msg, "the connection was not saved: %s",
             j->res.why[0] ? j->res.why : "verification failed");
    const char *code = j->res.reason[0] ? j->res.reason : BW_R_CONNECTION_VERIFY_FAILED;
    bw_http_reply_error(j->req, strcmp(code, BW_R_INTERNAL) == 0 ? 500 : 422, code, msg, NULL,
                        NULL);
}

/* The receipt is durable (or the ledger failed): write the change and reply. */
static void job_apply(void *arg, bw_err err, const char *rid) {
    struct job *j = arg;
    struct bw_store *s = j->ctx.store;
    int64_t now = bw_now_ms();
    bw_err e = err;
    if (err == BW_OK) {
        switch (j->op) {
        case OP_CREATE:
            snprintf(j->conn.url, sizeof j->conn.url, "%s", j->res.display);
            snprintf(j->conn.fingerprint, sizeof j->conn.fingerprint, "%s", j->sec.fingerprint);
            e = bw_store_connection_create(s, &j->conn, &j->sec);
            break;
        case OP_REPLACE:
            e = bw_store_connection_replace(s, j->conn.org_id, j->conn.id, j->res.display, &j->sec,
                                            now);
            break;
        default:
            e = bw_store_connection_status(s, j->conn.org_id, j->conn.id, j->result == BW_OK,
                                           j->res.reason, now);
            break;
        }
    }
    if (err != BW_OK) {
        bw_api_reply_ledger_error(j->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(j->req, e, "connection");
    } else {
        struct bw_connection_record c;
        if (bw_store_connection_get(s, j->conn.org_id, j->conn.id, &c) != BW_OK)
            c = j->conn;
        json_t *o = conn_json(&c);
        if (o && j->op == OP_VERIFY)
            json_object_set_new(o, "verification",
                                json_pack("{s:b, s:s, s:s, s:I}", "ok", j->result == BW_OK,
                                          "reason", j->result == BW_OK ? "" : j->res.reason, "why",
                                          j->result == BW_OK ? "" : j->res.why, "status",
                                          (json_int_t)j->res.status));
        if (o)
            json_object_set_new(o, "receipt_id", json_string(rid));
        bw_http_add_receipt_headers(j->req, rid, NULL);
        bw_api_reply(j->req, j->op == OP_CREATE ? 201 : 200, o);
        if (j->op == OP_VERIFY && j->result == BW_OK)
            bw_outbox_wake(j->ctx.gw->outbox); /* its waiting events are due now */
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
    if (j->op != OP_VERIFY && j->result != BW_OK) {
        reply_verify_failure(j); /* nothing saved, nothing changed: no receipt */
        job_free(j);
        return;
    }
    struct bw_receipt r;
    const char *reason =
        j->op == OP_VERIFY && j->result != BW_OK ? j->res.reason : BW_R_ADMIN_CHANGE;
    /* No request body hash: the body holds the credential. */
    bw_api_admin_receipt(&r, &j->caller, j->conn.org_id, op_action[j->op], j->conn.id, reason, NULL,
                         0);
    bw_api_record(&j->ctx, &r, job_apply, j);
}

static struct job *job_new(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                           const struct bw_key_record *caller, enum op op) {
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return NULL;
    }
    j->ctx = *ctx;
    j->req = req;
    j->caller = *caller;
    j->op = op;
    return j;
}

/* Builds j->cred for j->kind from raw (then freed). 0 after replying. */
static int make_cred(struct evhttp_request *req, struct raw_cred *raw, struct job *j) {
    char why[160];
    int ok = 1;
    if (raw->bad)
        ok = bad(req, "url and secret must be strings without NUL, at most 4096 bytes");
    else if (bw_connect_cred_new(j->kind, raw->url, raw->secret, &j->cred, why, sizeof why) !=
             BW_OK)
        ok = bad(req, why);
    raw_free(raw);
    return ok;
}

static int name_taken_row(void *arg, const struct bw_connection_record *c) {
    const char **name = arg;
    if (*name && strcmp(c->name, *name) == 0)
        *name = NULL;
    return 0;
}

/* ---- create ---- */

static void create(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                   const struct bw_key_record *caller) {
    (void)rest;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct raw_cred raw;
    take_cred(req, body, &raw);
    struct job *j = job_new(ctx, req, caller, OP_CREATE);
    char kind[16] = "";
    int ok = j && bw_api_text(req, body, "kind", 15, 1, kind, sizeof kind) > 0 &&
             bw_api_text(req, body, "name", 63, 1, j->conn.name, sizeof j->conn.name) > 0;
    json_decref(body);
    if (ok && !bw_connect_kind_parse(kind, &j->kind))
        ok = bad(req, "kind must be one of slack, discord, webhook, github, notion");
    else if (ok && !name_ok(j->conn.name))
        ok = bad(req, "name: letters, digits, '-', '_', '.'");
    if (ok)
        ok = make_cred(req, &raw, j);
    raw_free(&raw);
    if (!ok) {
        if (j)
            job_free(j);
        return;
    }
    const char *name = j->conn.name;
    bw_err e = bw_store_connection_list(ctx->store, caller->org_id, name_taken_row, &name);
    if (e != BW_OK || !name) {
        bw_api_reply_store_error(req, e != BW_OK ? e : BW_E_EXISTS, "connection");
        job_free(j);
        return;
    }
    bw_store_new_id("con", j->conn.id);
    bw_store_new_id("sec", j->conn.secret_id);
    snprintf(j->conn.org_id, sizeof j->conn.org_id, "%s", caller->org_id);
    snprintf(j->conn.kind, sizeof j->conn.kind, "%s", kind);
    snprintf(j->conn.status, sizeof j->conn.status, "healthy");
    j->conn.created_ms = j->conn.verified_ms = bw_now_ms();
    job_start(j);
}

/* ---- list, get ---- */

static int add_conn(void *arg, const struct bw_connection_record *c) {
    return json_array_append_new(arg, conn_json(c));
}

static void list(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                 const struct bw_key_record *caller) {
    (void)rest;
    json_t *data = json_array();
    bw_err e =
        data ? bw_store_connection_list(ctx->store, caller->org_id, add_conn, data) : BW_E_NOMEM;
    bw_api_reply_list(req, e, data, "connection");
}

static int load(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                const struct bw_key_record *caller, const char *rest, char action[32],
                struct bw_connection_record *c) {
    char id[BW_ID_SIZE];
    bw_err e = bw_api_split_rest(rest, id, action)
                   ? bw_store_connection_get(ctx->store, caller->org_id, id, c)
                   : BW_E_NOT_FOUND;
    return bw_api_store_ok(req, e, "connection");
}

static void get(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                const struct bw_key_record *caller) {
    char action[32];
    struct bw_connection_record c;
    if (!load(ctx, req, caller, rest, action, &c))
        return;
    if (action[0]) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    struct bw_outbox_counts n;
    bw_err e = bw_store_outbox_counts(ctx->store, caller->org_id, c.id, &n);
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "connection");
        return;
    }
    json_t *o = conn_json(&c);
    if (o)
        json_object_set_new(o, "outbox",
                            json_pack("{s:I, s:I, s:I, s:I}", "pending", (json_int_t)n.pending,
                                      "failed", (json_int_t)n.failed, "delivered",
                                      (json_int_t)n.delivered, "dead", (json_int_t)n.dead));
    bw_api_reply(req, 200, o);
}

/* ---- replace, verify, delete ---- */

static void replace(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct raw_cred raw;
    take_cred(req, body, &raw);
    json_decref(body);
    char action[32];
    struct bw_connection_record c;
    struct job *j = NULL;
    if (!load(ctx, req, caller, rest, action, &c)) {
        raw_free(&raw);
        return;
    }
    if (action[0]) {
        raw_free(&raw);
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    if (!(j = job_new(ctx, req, caller, OP_REPLACE))) {
        raw_free(&raw);
        return;
    }
    j->conn = c;
    if (!bw_connect_kind_parse(c.kind, &j->kind)) {
        raw_free(&raw);
        bw_api_reply_store_error(req, BW_E_UNAVAILABLE, "connection");
        job_free(j);
        return;
    }
    if (!make_cred(req, &raw, j)) {
        job_free(j);
        return;
    }
    job_start(j);
}

static void verify(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                   const struct bw_key_record *caller, const struct bw_connection_record *c) {
    struct job *j = job_new(ctx, req, caller, OP_VERIFY);
    if (!j)
        return;
    j->conn = *c;
    j->sealed = malloc(BW_VAULT_SEALED_MAX);
    bw_err e =
        j->sealed && bw_connect_kind_parse(c->kind, &j->kind)
            ? bw_store_connection_sealed(ctx->store, caller->org_id, c->id, bw_now_ms(), &j->conn,
                                         j->sealed, BW_VAULT_SEALED_MAX, &j->sealed_len)
            : BW_E_NOMEM;
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "connection");
        job_free(j);
        return;
    }
    job_start(j);
}

struct removal {
    struct evhttp_request *req;
    struct bw_store *store;
    struct bw_connection_record conn;
};

static void delete_apply(void *arg, bw_err err, const char *rid) {
    struct removal *d = arg;
    bw_err e =
        err == BW_OK ? bw_store_connection_delete(d->store, d->conn.org_id, d->conn.id) : err;
    if (err != BW_OK) {
        bw_api_reply_ledger_error(d->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(d->req, e, "connection");
    } else {
        bw_http_add_receipt_headers(d->req, rid, NULL);
        bw_api_reply(
            d->req, 200,
            json_pack("{s:s, s:b, s:s}", "id", d->conn.id, "deleted", 1, "receipt_id", rid));
    }
    free(d);
}

static void delete_conn(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                        const struct bw_key_record *caller, const struct bw_connection_record *c) {
    struct removal *d = calloc(1, sizeof *d);
    if (!d) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    d->req = req;
    d->store = ctx->store;
    d->conn = *c;
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id, "connection.delete", c->id, BW_R_ADMIN_CHANGE,
                         NULL, 0);
    bw_api_record(ctx, &r, delete_apply, d);
}

static void post_item(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                      const struct bw_key_record *caller) {
    char action[32];
    struct bw_connection_record c;
    if (!load(ctx, req, caller, rest, action, &c))
        return;
    if (strcmp(action, "verify") == 0)
        verify(ctx, req, caller, &c);
    else if (strcmp(action, "delete") == 0)
        delete_conn(ctx, req, caller, &c);
    else
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
}

/* ---- BYOK: the org's own upstream provider key (/api/v1/provider-key) ----
 * Sealed like a connection's credential (kind `provider`, record id + org as associated data);
 * the gateway then sends it, instead of the platform key, on this org's upstream calls
 * (proxy_byok.c). Not verified live: an upstream call with a wrong key fails as the provider
 * answers it. */

static json_t *provider_json(const struct bw_provider_key_record *k) {
    return json_pack("{s:s, s:s, s:s, s:I, s:I}", "object", "provider_key", "id", k->secret_id,
                     "fingerprint", k->fingerprint, "created_ms", (json_int_t)k->created_ms,
                     "updated_ms", (json_int_t)k->updated_ms);
}

struct provider_change {
    struct evhttp_request *req;
    struct bw_gateway *gw;
    struct bw_store *store;
    char org_id[BW_ID_SIZE];
    char secret_id[BW_ID_SIZE];
    int delete;
    uint8_t *sealed;
    struct bw_sealed_secret sec;
};

static void provider_apply(void *arg, bw_err err, const char *rid) {
    struct provider_change *p = arg;
    bw_err e = err;
    if (err == BW_OK)
        e = p->delete ? bw_store_provider_key_delete(p->store, p->org_id)
                      : bw_store_provider_key_put(p->store, p->org_id, p->secret_id, &p->sec,
                                                  bw_now_ms());
    if (err != BW_OK) {
        bw_api_reply_ledger_error(p->req);
    } else if (e != BW_OK) {
        bw_api_reply_store_error(p->req, e, "provider key");
    } else {
        atomic_fetch_add(&p->gw->byok_generation, 1); /* every worker re-reads it now */
        struct bw_provider_key_record k;
        json_t *o = p->delete ? json_pack("{s:s, s:b}", "object", "provider_key", "deleted", 1)
                    : bw_store_provider_key_get(p->store, p->org_id, &k, NULL, 0, NULL) == BW_OK
                        ? provider_json(&k)
                        : json_pack("{s:s}", "object", "provider_key");
        if (o)
            json_object_set_new(o, "receipt_id", json_string(rid));
        bw_http_add_receipt_headers(p->req, rid, NULL);
        bw_api_reply(p->req, 200, o);
    }
    free(p->sealed);
    free(p);
}

static void provider_record(const struct bw_api_ctx *ctx, const struct bw_key_record *caller,
                            struct provider_change *p) {
    struct bw_receipt r;
    bw_api_admin_receipt(&r, caller, caller->org_id,
                         p->delete ? "provider_key.delete" : "provider_key.set", p->secret_id,
                         BW_R_ADMIN_CHANGE, NULL, 0);
    bw_api_record(ctx, &r, provider_apply, p);
}

static struct provider_change *provider_new(const struct bw_api_ctx *ctx,
                                            struct evhttp_request *req,
                                            const struct bw_key_record *caller) {
    struct provider_change *p = calloc(1, sizeof *p);
    if (!p) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return NULL;
    }
    p->req = req;
    p->gw = ctx->gw;
    p->store = ctx->store;
    snprintf(p->org_id, sizeof p->org_id, "%s", caller->org_id);
    return p;
}

static void provider_get(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                         const struct bw_key_record *caller) {
    (void)rest;
    struct bw_provider_key_record k;
    bw_err e = bw_store_provider_key_get(ctx->store, caller->org_id, &k, NULL, 0, NULL);
    if (e != BW_OK)
        bw_api_reply_store_error(req, e, "provider key");
    else
        bw_api_reply(req, 200, provider_json(&k));
}

static void provider_put(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                         const struct bw_key_record *caller) {
    (void)rest;
    json_t *body = bw_api_body_object(ctx, req);
    if (!body)
        return;
    struct raw_cred raw;
    take_cred(req, body, &raw);
    json_decref(body);
    struct bw_connect_cred *cred = NULL;
    char why[160];
    /* A provider key has a token's shape: printable ASCII without spaces, at most 1024 bytes. */
    bw_err e = raw.bad || raw.url ? BW_E_INVALID
                                  : bw_connect_cred_new(BW_CONNECT_GITHUB, NULL, raw.secret, &cred,
                                                        why, sizeof why);
    raw_free(&raw);
    if (e != BW_OK) {
        bad(req, "secret (the provider key) is required: printable ASCII without spaces, at "
                 "most 1024 bytes");
        return;
    }
    struct provider_change *p = provider_new(ctx, req, caller);
    struct bw_provider_key_record old;
    if (p) {
        e = bw_store_provider_key_get(ctx->store, caller->org_id, &old, NULL, 0, NULL);
        if (e == BW_OK)
            snprintf(p->secret_id, sizeof p->secret_id, "%s", old.secret_id);
        else if (e == BW_E_NOT_FOUND)
            bw_store_new_id("sec", p->secret_id);
        p->sealed = e == BW_OK || e == BW_E_NOT_FOUND ? malloc(BW_VAULT_SEALED_MAX) : NULL;
        if (p->sealed)
            e = bw_connect_cred_seal(ctx->gw->connect, cred, caller->org_id, p->secret_id,
                                     p->sealed, BW_VAULT_SEALED_MAX, &p->sec.sealed_len,
                                     p->sec.master_id, p->sec.fingerprint);
        else if (e == BW_OK || e == BW_E_NOT_FOUND)
            e = BW_E_NOMEM;
        p->sec.sealed = p->sealed;
    }
    bw_connect_cred_free(cred);
    if (!p)
        return;
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "provider key");
        free(p->sealed);
        free(p);
        return;
    }
    provider_record(ctx, caller, p);
}

static void provider_delete(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                            const char *rest, const struct bw_key_record *caller) {
    (void)rest;
    struct bw_provider_key_record old;
    bw_err e = bw_store_provider_key_get(ctx->store, caller->org_id, &old, NULL, 0, NULL);
    if (e != BW_OK) {
        bw_api_reply_store_error(req, e, "provider key");
        return;
    }
    struct provider_change *p = provider_new(ctx, req, caller);
    if (!p)
        return;
    p->delete = 1;
    snprintf(p->secret_id, sizeof p->secret_id, "%s", old.secret_id);
    provider_record(ctx, caller, p);
}

const struct bw_api_route bw_api_routes_connections[] = {
    {EVHTTP_REQ_GET, "/api/v1/provider-key", BW_API_ADMIN, provider_get},
    {EVHTTP_REQ_PUT, "/api/v1/provider-key", BW_API_ADMIN, provider_put},
    {EVHTTP_REQ_DELETE, "/api/v1/provider-key", BW_API_ADMIN, provider_delete},
    {EVHTTP_REQ_POST, "/api/v1/connections", BW_API_ADMIN, create},
    {EVHTTP_REQ_GET, "/api/v1/connections", BW_API_ADMIN, list},
    {EVHTTP_REQ_GET, "/api/v1/connections/", BW_API_ADMIN, get},
    {EVHTTP_REQ_PATCH, "/api/v1/connections/", BW_API_ADMIN, replace},
    {EVHTTP_REQ_POST, "/api/v1/connections/", BW_API_ADMIN, post_item},
    {0, NULL, BW_API_PUBLIC, NULL},
};
