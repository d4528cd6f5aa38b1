/* mcp_orgsrv.c: where an MCP server comes from and how the gateway connects to it (docs/MCP.md
 * "Per-org servers"; mcp_internal.h).
 *
 * Lookup: the operator's servers (config) first, so an org can never shadow one; then the
 * caller's org's own (store, tenant-scoped: a name is per org, another org's server is simply
 * not found). The store answer, found or not, is cached per worker thread for 1 s keyed by
 * (org, name); the cache holds the sealed credential (ciphertext), opened per call into locked
 * memory. A change through the API bumps a generation that drops every thread's entries.
 *
 * Connect: every upstream transfer to an MCP server (operator's or org's) runs with the egress
 * guard: the URL's static rules now, and the connect-time hook on each address libcurl dials
 * (bw_egress_curl_apply, through bw_upstream_request.egress), so a name that resolved to a
 * public address when saved and to 127.0.0.1 now is refused (DNS rebinding). libcurl resolves
 * asynchronously in its resolver thread: the event worker never waits on DNS. */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/connect.h"
#include "egress/egress.h"
#include "http/bearer.h"
#include "mcp/mcp_internal.h"
#include "mcp/mcp_orgsrv.h"
#include "reason/reasons.h"
#include "store/mcp_servers.h"
#include "util/log.h"
#include "util/time.h"
#include "vault/keyring.h"

#define SLOTS 64
#define TTL_US 1000000
#define CRED_MAX 1024
#define SEALED_MAX BW_VAULT_SEALED_SIZE(CRED_MAX)

/* Bumped by every change through the API (bw_mcp_orgsrv_changed); read by every worker.
 * Shared by all threads; atomic. */
static atomic_long g_generation;

struct slot {
    char org[BW_ID_SIZE];
    char name[64];
    int64_t fetched_us;
    long generation;
    int found;
    struct bw_mcp_server_record rec;
    size_t len; /* of sealed; 0 = no credential */
    uint8_t sealed[SEALED_MAX];
};

struct cache {
    struct slot slots[SLOTS];
};

/* Each worker thread's cache lives behind this key (made once; the destructor frees a thread's
 * cache when it exits). Written once under pthread_once, then read-only. */
static pthread_key_t g_cache_key;
/* Guards g_cache_key's creation. */
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *p) {
    free(p);
}

static void cache_key_make(void) {
    if (pthread_key_create(&g_cache_key, cache_free) != 0)
        bw_error("mcp: cannot create the org server cache key (lookups go to the store)");
}

static struct cache *thread_cache(void) {
    pthread_once(&g_cache_once, cache_key_make);
    struct cache *c = pthread_getspecific(g_cache_key);
    if (!c && (c = calloc(1, sizeof *c)) && pthread_setspecific(g_cache_key, c) != 0) {
        free(c);
        c = NULL;
    }
    return c;
}

void bw_mcp_orgsrv_changed(void) {
    atomic_fetch_add(&g_generation, 1);
}

static uint32_t slot_hash(const char *org, const char *name) {
    uint32_t h = 2166136261u; /* FNV-1a: ids are random, names short; any spread will do */
    for (const char *p = org; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0) * 16777619u;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

/* The org's server named name, from the cache or the store (into *out: the thread's slot, or
 * tmp when there is no cache). */
static bw_err lookup(struct bw_gw_worker *w, const char *org, const char *name, struct slot *tmp,
                     struct slot **out) {
    struct cache *cache = thread_cache();
    struct slot *s = cache ? &cache->slots[slot_hash(org, name) % SLOTS] : tmp;
    int64_t now = bw_mono_us();
    long gen = atomic_load(&g_generation);
    if (cache && s->generation == gen && now - s->fetched_us < TTL_US && strcmp(s->org, org) == 0 &&
        strcmp(s->name, name) == 0) {
        *out = s;
        return BW_OK;
    }
    s->org[0] = 0; /* invalid until filled */
    size_t len = 0;
    bw_err e =
        bw_store_mcp_server_get(w->store, org, name, &s->rec, s->sealed, sizeof s->sealed, &len);
    if (e != BW_OK && e != BW_E_NOT_FOUND)
        return BW_E_UNAVAILABLE;
    snprintf(s->org, sizeof s->org, "%s", org);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->fetched_us = now;
    s->generation = gen;
    s->found = e == BW_OK;
    s->len = s->found && s->rec.has_credential ? len : 0;
    *out = s;
    return BW_OK;
}

/* "Bearer " + the opened credential, in sodium_malloc'd memory. */
static bw_err open_credential(struct bw_gw_worker *w, const struct slot *s, char **out) {
    const struct bw_connect_env *env = w->gw->connect;
    if (!env || !env->keys)
        return BW_E_UNAVAILABLE;
    struct bw_vault_secret *sec = NULL;
    BW_TRY(bw_keyring_open(env->keys, s->org, s->rec.id, s->sealed, s->len, &sec));
    bw_err e = bw_http_bearer_build(sec->bytes, sec->len, CRED_MAX, out);
    bw_vault_secret_free(sec);
    return e;
}

bw_err bw_mcp_server_resolve(struct bw_mcp_call *c, const char *name) {
    const struct bw_config *cfg = c->w->gw->cfg;
    const struct bw_mcp_server_config *op = cfg ? bw_config_mcp_server(cfg, name) : NULL;
    if (op) {
        c->server.name = op->name;
        c->server.url = op->url;
        c->org_server = 0;
        if (op->credential[0] && !op->credential_auth)
            return BW_E_UNAVAILABLE; /* configured but not loaded: never call without it */
        /* borrowed: loaded once at start, read-only while the gateway serves */
        c->auth_header = op->credential_auth;
        return BW_OK;
    }
    struct slot *tmp = malloc(sizeof *tmp), *s = NULL;
    if (!tmp)
        return BW_E_UNAVAILABLE;
    bw_err e = lookup(c->w, c->key.org_id, name, tmp, &s);
    if (e == BW_OK && !s->found)
        e = BW_E_NOT_FOUND;
    if (e == BW_OK && s->len && open_credential(c->w, s, &c->upstream_auth) != BW_OK) {
        bw_warn("mcp: the credential of an org's MCP server does not open (org %s)", s->org);
        e = BW_E_UNAVAILABLE;
    }
    if (e == BW_OK) {
        snprintf(c->srv_name, sizeof c->srv_name, "%s", s->rec.name);
        snprintf(c->srv_url, sizeof c->srv_url, "%s", s->rec.url);
        c->server.name = c->srv_name;
        c->server.url = c->srv_url;
        c->org_server = 1;
        c->auth_header = c->upstream_auth;
    }
    free(tmp);
    return e;
}

int bw_mcp_upstream_prepare(struct bw_mcp_call *c, struct bw_upstream_request *r) {
    const struct bw_connect_env *env = c->w->gw->connect;
    const struct bw_egress_policy *policy = env ? env->policy : NULL; /* NULL: empty allowlist */
    char why[BW_EGRESS_WHY_SIZE];
    if (!c->egress_target && !(c->egress_target = malloc(sizeof *c->egress_target))) {
        bw_mcp_fail(c, 503, BW_MCP_RPC_INTERNAL, BW_R_INTERNAL, "out of memory");
        return -1;
    }
    bw_err e = bw_egress_check_url_static(policy, c->server.url, c->egress_target, why, sizeof why);
    if (e != BW_OK) {
        /* the URL passed at load or save; the allowlist changed since (a config reload) */
        bw_warn("mcp: server %s refused by the egress guard: %s", c->server.name, why);
        if (c->governed)
            bw_mcp_outcome(c, "upstream_error", 502, NULL);
        bw_mcp_fail(c, 502, BW_MCP_RPC_UPSTREAM, BW_R_EGRESS_BLOCKED,
                    "the MCP server's address is refused by the egress guard");
        return -1;
    }
    r->url = c->egress_target->url;
    r->egress = policy;
    r->egress_target = c->egress_target;
    r->authorization = c->auth_header; /* the gateway's own credential, never the caller's */
    return 0;
}

void bw_mcp_orgsrv_free(struct bw_mcp_call *c) {
    free(c->egress_target);
    c->egress_target = NULL;
    if (c->upstream_auth)
        sodium_free(c->upstream_auth); /* wipes */
    c->upstream_auth = NULL;
    c->auth_header = NULL;
}

bw_err bw_mcp_upstream_copy(const struct bw_mcp_call *c, struct bw_mcp_upstream_copy *out) {
    memset(out, 0, sizeof *out);
    if (!c->egress_target)
        return BW_E_INVALID;
    const struct bw_connect_env *env = c->w->gw->connect;
    out->egress = env ? env->policy : NULL;
    out->target = malloc(sizeof *out->target);
    if (!out->target)
        return BW_E_NOMEM;
    memcpy(out->target, c->egress_target, sizeof *out->target);
    if (c->auth_header) {
        size_t n = strlen(c->auth_header) + 1;
        out->auth = sodium_malloc(n);
        if (!out->auth) {
            bw_mcp_upstream_copy_free(out);
            return BW_E_NOMEM;
        }
        memcpy(out->auth, c->auth_header, n);
    }
    return BW_OK;
}

void bw_mcp_upstream_apply(const struct bw_mcp_upstream_copy *cp, struct bw_upstream_request *r) {
    r->url = cp->target->url;
    r->egress = cp->egress;
    r->egress_target = cp->target;
    r->authorization = cp->auth;
}

void bw_mcp_upstream_copy_free(struct bw_mcp_upstream_copy *cp) {
    free(cp->target);
    if (cp->auth)
        sodium_free(cp->auth); /* wipes */
    memset(cp, 0, sizeof *cp);
}
