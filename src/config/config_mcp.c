/* config_mcp.c: the `mcp:` section (docs/CONFIG.md "mcp"): upstream MCP servers, tool pinning,
 * limits, and the OAuth 2.1 resource server (docs/MCP.md "OAuth"). The walk reads syntax; the
 * check after it judges URLs against the egress guard (egress.allow may come later in the
 * file) and fills defaults. */
#include <stdlib.h>
#include <string.h>

#include "config/config_walk.h"
#include "egress/egress.h"
#include "util/text.h"

/* ^[a-z0-9][a-z0-9_-]{0,62}$: a URL path segment that needs no escaping. */
int bw_config_mcp_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '_' && ch != '-')))
            return 0;
    }
    return 1;
}

static int host_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
}

/* ":port" at p (or nothing): 1..65535, digits only, no leading zero, not default_port. */
static int origin_port_ok(const char *p, long default_port) {
    if (!*p)
        return 1;
    if (*p++ != ':' || *p < '1' || *p > '9' || strlen(p) > 5)
        return 0;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (*p - '0');
    }
    return v <= 65535 && v != default_port;
}

int bw_config_mcp_origin_ok(const char *s) {
    long default_port;
    if (strlen(s) >= BW_MCP_ORIGIN_MAX)
        return 0;
    if (strncmp(s, "https://", 8) == 0) {
        s += 8;
        default_port = 443;
    } else if (strncmp(s, "http://", 7) == 0) {
        s += 7;
        default_port = 80;
    } else {
        return 0;
    }
    const char *p = s;
    if (*p == '[') { /* an IPv6 literal: hex digits, ':' and '.', lowercase */
        for (p++; *p && *p != ']'; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == ':' || *p == '.'))
                return 0;
        if (*p != ']' || p == s + 1)
            return 0;
        p++;
    } else {
        for (; host_char(*p); p++)
            ;
        /* a DNS name: no empty label, no leading or trailing '.' or '-' */
        if (p == s || *s == '.' || *s == '-' || p[-1] == '.' || p[-1] == '-' ||
            memmem(s, (size_t)(p - s), "..", 2))
            return 0;
    }
    return origin_port_ok(p, default_port);
}

static bw_err origins_value(struct walk *w, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (v->type != YAML_SEQUENCE_NODE)
        return bw_cfg_fail(w, v, "mcp.allowed_origins: expected a list");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > BW_MCP_ORIGINS_MAX)
        return bw_cfg_fail(w, v, "mcp.allowed_origins: more than %d entries", BW_MCP_ORIGINS_MAX);
    c->n_mcp_allowed_origins = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
        char *out = c->mcp_allowed_origins[i];
        BW_TRY(bw_cfg_str(w, item, "mcp.allowed_origins", out, BW_MCP_ORIGIN_MAX));
        if (!bw_config_mcp_origin_ok(out))
            return bw_cfg_fail(w, item,
                               "mcp.allowed_origins: '%.80s' is not an origin as browsers send "
                               "it (scheme://host[:port], lowercase, no path, no default port)",
                               out);
        c->n_mcp_allowed_origins = i + 1;
    }
    return BW_OK;
}

/* Printable ASCII without spaces: a vault reference or a claim name. */
static int printable_token(const char *s) {
    return *s && bw_text_visible(s, strlen(s));
}

static bw_err server_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_mcp_server_config *s = &w->c->mcp_servers[w->c->n_mcp_servers];
    if (strcmp(key, "name") == 0) {
        BW_TRY(bw_cfg_str(w, v, "mcp.servers.name", s->name, sizeof s->name));
        if (!bw_config_mcp_name_ok(s->name))
            return bw_cfg_fail(w, v, "mcp.servers.name: expected ^[a-z0-9][a-z0-9_-]{0,62}$");
        return BW_OK;
    }
    if (strcmp(key, "url") == 0)
        return bw_cfg_str(w, v, "mcp.servers.url", s->url, sizeof s->url);
    if (strcmp(key, "credential") == 0) {
        BW_TRY(bw_cfg_str(w, v, "mcp.servers.credential", s->credential, sizeof s->credential));
        if (!bw_config_mcp_credential_ref_ok(s->credential))
            return bw_cfg_fail(w, v,
                               "mcp.servers.credential: a reference, env:NAME or "
                               "file:/PATH (never the secret itself)");
        return BW_OK;
    }
    return bw_cfg_fail(w, v, "mcp.servers: unknown key '%.64s'", key);
}

static bw_err servers_value(struct walk *w, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (v->type != YAML_SEQUENCE_NODE)
        return bw_cfg_fail(w, v, "mcp.servers: expected a list");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > BW_MCP_SERVERS_MAX)
        return bw_cfg_fail(w, v, "mcp.servers: more than %d entries", BW_MCP_SERVERS_MAX);
    c->mcp_servers = calloc(n ? n : 1, sizeof *c->mcp_servers);
    if (!c->mcp_servers)
        return BW_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
        BW_TRY(bw_cfg_each_pair(w, item, "mcp.servers", server_field));
        struct bw_mcp_server_config *s = &c->mcp_servers[i];
        if (!s->name[0] || !s->url[0])
            return bw_cfg_fail(w, item, "mcp.servers: each entry needs name and url");
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->mcp_servers[j].name, s->name) == 0)
                return bw_cfg_fail(w, item, "mcp.servers: name '%s' given twice", s->name);
        c->n_mcp_servers = i + 1;
    }
    return BW_OK;
}

/* A relative jwks_file is relative to the config file's folder, as for `policy`. */
static bw_err jwks_file_value(struct walk *w, const yaml_node_t *v) {
    char raw[4096];
    char *out = w->c->mcp_oauth_jwks_file;
    size_t size = sizeof w->c->mcp_oauth_jwks_file;
    BW_TRY(bw_cfg_str(w, v, "mcp.oauth.jwks_file", raw, sizeof raw));
    if (!raw[0])
        return bw_cfg_fail(w, v, "mcp.oauth.jwks_file: must not be empty");
    const char *slash = strrchr(w->name, '/');
    int n = (raw[0] == '/' || !slash)
                ? snprintf(out, size, "%s", raw)
                : snprintf(out, size, "%.*s/%s", (int)(slash - w->name), w->name, raw);
    if (n < 0 || (size_t)n >= size)
        return bw_cfg_fail(w, v, "mcp.oauth.jwks_file: path too long");
    return BW_OK;
}

/* scopes: a list of RFC 6749 3.3 scope-tokens, kept space-separated. */
static bw_err scopes_value(struct walk *w, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (v->type != YAML_SEQUENCE_NODE)
        return bw_cfg_fail(w, v, "mcp.oauth.scopes: expected a list");
    size_t used = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        const char *s = item ? bw_cfg_scalar(item) : NULL;
        if (!s || !*s)
            return bw_cfg_fail(w, v, "mcp.oauth.scopes: expected scope strings");
        if (!bw_text_visible_unquoted(s, strlen(s))) /* RFC 6749 3.3: %x21 / %x23-5B / %x5D-7E */
            return bw_cfg_fail(w, item, "mcp.oauth.scopes: '%.64s' is not a scope token", s);
        size_t n = strlen(s);
        if (used + n + 2 > sizeof c->mcp_oauth_scopes)
            return bw_cfg_fail(w, item, "mcp.oauth.scopes: too long");
        if (used)
            c->mcp_oauth_scopes[used++] = ' ';
        memcpy(c->mcp_oauth_scopes + used, s, n + 1);
        used += n;
    }
    return BW_OK;
}

static bw_err claim_value(struct walk *w, const yaml_node_t *v, const char *key, char *out,
                          size_t size) {
    BW_TRY(bw_cfg_str(w, v, key, out, size));
    if (!printable_token(out))
        return bw_cfg_fail(w, v, "%s: a claim name (printable, no spaces)", key);
    return BW_OK;
}

static bw_err oauth_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (strcmp(key, "issuer") == 0)
        return bw_cfg_str(w, v, "mcp.oauth.issuer", c->mcp_oauth_issuer,
                          sizeof c->mcp_oauth_issuer);
    if (strcmp(key, "public_url") == 0)
        return bw_cfg_str(w, v, "mcp.oauth.public_url", c->mcp_oauth_public_url,
                          sizeof c->mcp_oauth_public_url);
    if (strcmp(key, "jwks_url") == 0)
        return bw_cfg_str(w, v, "mcp.oauth.jwks_url", c->mcp_oauth_jwks_url,
                          sizeof c->mcp_oauth_jwks_url);
    if (strcmp(key, "jwks_file") == 0)
        return jwks_file_value(w, v);
    if (strcmp(key, "audience") == 0)
        return bw_cfg_str(w, v, "mcp.oauth.audience", c->mcp_oauth_audience,
                          sizeof c->mcp_oauth_audience);
    if (strcmp(key, "scopes") == 0)
        return scopes_value(w, v);
    if (strcmp(key, "org_claim") == 0)
        return claim_value(w, v, "mcp.oauth.org_claim", c->mcp_oauth_org_claim,
                           sizeof c->mcp_oauth_org_claim);
    if (strcmp(key, "principal_claim") == 0)
        return claim_value(w, v, "mcp.oauth.principal_claim", c->mcp_oauth_principal_claim,
                           sizeof c->mcp_oauth_principal_claim);
    if (strcmp(key, "leeway_s") == 0)
        return bw_cfg_int(w, v, "mcp.oauth.leeway_s", 1, 600, &c->mcp_oauth_leeway_s);
    if (strcmp(key, "jwks_ttl_s") == 0)
        return bw_cfg_int(w, v, "mcp.oauth.jwks_ttl_s", 10, 86400, &c->mcp_oauth_jwks_ttl_s);
    if (strcmp(key, "jwks_min_refetch_s") == 0)
        return bw_cfg_int(w, v, "mcp.oauth.jwks_min_refetch_s", 1, 3600,
                          &c->mcp_oauth_jwks_min_refetch_s);
    return bw_cfg_fail(w, v, "mcp.oauth: unknown key '%.64s'", key);
}

static bw_err mcp_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (strcmp(key, "servers") == 0)
        return servers_value(w, v);
    if (strcmp(key, "oauth") == 0) {
        c->mcp_oauth = 1;
        return bw_cfg_each_pair(w, v, "mcp.oauth", oauth_field);
    }
    if (strcmp(key, "allowed_origins") == 0)
        return origins_value(w, v);
    if (strcmp(key, "pin") == 0) {
        const char *s = bw_cfg_scalar(v);
        if (s && strcmp(s, "auto") == 0)
            c->mcp_pin_approve = 0;
        else if (s && strcmp(s, "approve") == 0)
            c->mcp_pin_approve = 1;
        else
            return bw_cfg_fail(w, v, "mcp.pin: expected auto or approve");
        return BW_OK;
    }
    if (strcmp(key, "calls_per_minute") == 0)
        return bw_cfg_int(w, v, "mcp.calls_per_minute", 1, 1000000, &c->mcp_calls_per_minute);
    if (strcmp(key, "result_max_bytes") == 0)
        return bw_cfg_int(w, v, "mcp.result_max_bytes", 1024, 64L << 20, &c->mcp_result_max_bytes);
    if (strcmp(key, "call_timeout_ms") == 0)
        return bw_cfg_int(w, v, "mcp.call_timeout_ms", 100, 3600000, &c->mcp_call_timeout_ms);
    if (strcmp(key, "max_sessions_per_key") == 0)
        return bw_cfg_int(w, v, "mcp.max_sessions_per_key", 1, 10000, &c->mcp_max_sessions_per_key);
    return bw_cfg_fail(w, v, "mcp: unknown key '%.64s'", key);
}

bw_err bw_cfg_mcp_section(struct walk *w, const yaml_node_t *v) {
    return bw_cfg_each_pair(w, v, "mcp", mcp_field);
}

/* The value node of `key` in mapping `map`, or NULL (the walk already refused duplicates). */
static yaml_node_t *find_key(struct walk *w, const yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        const char *s = k ? bw_cfg_scalar(k) : NULL;
        if (s && strcmp(s, key) == 0)
            return yaml_document_get_node(w->doc, p->value);
    }
    return NULL;
}

static int loopback_target(const struct bw_egress_target *t) {
    if (t->literal == 4)
        return t->addr[0] == 127;
    if (t->literal == 6) {
        static const uint8_t one[16] = {[15] = 1};
        return memcmp(t->addr, one, 16) == 0;
    }
    return strcmp(t->host, "localhost") == 0;
}

/* An identifier URL (issuer, public_url): https, or http on loopback; no userinfo, query or
 * fragment (RFC 8414 2: the issuer has none). Not fetched, so not an egress question. */
static bw_err ident_url(struct walk *w, const yaml_node_t *n, const char *key, const char *url) {
    struct bw_egress_target t;
    char why[BW_EGRESS_WHY_SIZE];
    /* Parsed with an allow-everything policy: the guard's URL parser, none of its address
     * rules (this URL names, it does not connect). */
    static const char *const any[] = {"0.0.0.0/0", "::/0"};
    struct bw_egress_policy *all = NULL;
    if (strchr(url, '?') || strchr(url, '#') || strchr(url, '@'))
        return bw_cfg_fail(w, n, "%s: no userinfo, query or fragment", key);
    if (bw_egress_policy_new(any, 2, &all, why, sizeof why) != BW_OK)
        return BW_E_NOMEM;
    bw_err e = bw_egress_check_url_static(all, url, &t, why, sizeof why);
    bw_egress_policy_free(all);
    if (e != BW_OK)
        return bw_cfg_fail(w, n, "%s: not an http(s) URL: %s", key, why);
    if (strcmp(t.scheme, "https") != 0 && !loopback_target(&t))
        return bw_cfg_fail(w, n, "%s: https required (http only for a loopback host)", key);
    return BW_OK;
}

/* A URL the gateway will fetch: the egress guard's static rules with the operator allowlist
 * (names are judged again at connect time by the guard's hook); plain http only for loopback
 * or an allowlisted target, since a bearer credential or a key set must not cross a network
 * in clear. */
static bw_err fetch_url(struct walk *w, const struct bw_egress_policy *p, const yaml_node_t *n,
                        const char *key, const char *url) {
    struct bw_egress_target t;
    char why[BW_EGRESS_WHY_SIZE];
    if (strchr(url, '@'))
        return bw_cfg_fail(w, n, "%s: credentials in the URL are refused", key);
    bw_err e = bw_egress_check_url_static(p, url, &t, why, sizeof why);
    if (e == BW_E_DENIED)
        return bw_cfg_fail(w, n, "%s: refused by the egress guard (%s); see egress.allow", key,
                           why);
    if (e != BW_OK)
        return bw_cfg_fail(w, n, "%s: not an http(s) URL: %s", key, why);
    if (strcmp(t.scheme, "http") == 0 && !loopback_target(&t) && !t.allowlisted && !t.literal)
        return bw_cfg_fail(w, n, "%s: https required (http only for loopback or allowlisted)", key);
    return BW_OK;
}

static bw_err check_oauth(struct walk *w, const struct bw_egress_policy *p, const yaml_node_t *o) {
    struct bw_config *c = w->c;
    if (!c->mcp_oauth_issuer[0] || !c->mcp_oauth_public_url[0])
        return bw_cfg_fail(w, o, "mcp.oauth: issuer and public_url are required");
    BW_TRY(ident_url(w, find_key(w, o, "issuer"), "mcp.oauth.issuer", c->mcp_oauth_issuer));
    BW_TRY(ident_url(w, find_key(w, o, "public_url"), "mcp.oauth.public_url",
                     c->mcp_oauth_public_url));
    size_t n = strlen(c->mcp_oauth_public_url);
    if (n && c->mcp_oauth_public_url[n - 1] == '/') /* joined with "/mcp/NAME" */
        c->mcp_oauth_public_url[n - 1] = 0;
    if (c->mcp_oauth_audience[0] && !printable_token(c->mcp_oauth_audience))
        return bw_cfg_fail(w, find_key(w, o, "audience"), "mcp.oauth.audience: no spaces");
    if (!!c->mcp_oauth_jwks_url[0] == !!c->mcp_oauth_jwks_file[0])
        return bw_cfg_fail(w, o, "mcp.oauth: set exactly one of jwks_url and jwks_file");
    if (c->mcp_oauth_jwks_url[0])
        BW_TRY(fetch_url(w, p, find_key(w, o, "jwks_url"), "mcp.oauth.jwks_url",
                         c->mcp_oauth_jwks_url));
    return BW_OK;
}

static void fill_defaults(struct bw_config *c) {
    if (!c->mcp_calls_per_minute)
        c->mcp_calls_per_minute = 60;
    if (!c->mcp_result_max_bytes)
        c->mcp_result_max_bytes = 1L << 20;
    if (!c->mcp_call_timeout_ms)
        c->mcp_call_timeout_ms = 60000;
    if (!c->mcp_max_sessions_per_key)
        c->mcp_max_sessions_per_key = 16;
    if (!c->mcp_oauth_org_claim[0])
        memcpy(c->mcp_oauth_org_claim, "org", 4);
    if (!c->mcp_oauth_principal_claim[0])
        memcpy(c->mcp_oauth_principal_claim, "sub", 4);
    if (!c->mcp_oauth_leeway_s)
        c->mcp_oauth_leeway_s = 60;
    if (!c->mcp_oauth_jwks_ttl_s)
        c->mcp_oauth_jwks_ttl_s = 300;
    if (!c->mcp_oauth_jwks_min_refetch_s)
        c->mcp_oauth_jwks_min_refetch_s = 30;
}

bw_err bw_cfg_mcp_check(struct walk *w, const yaml_node_t *root) {
    struct bw_config *c = w->c;
    struct bw_egress_policy *p = NULL;
    char why[BW_EGRESS_WHY_SIZE];
    bw_err result = BW_OK;
    yaml_node_t *mcp = find_key(w, root, "mcp");
    if (!mcp) {
        fill_defaults(c);
        return BW_OK;
    }
    if (bw_egress_policy_new((const char *const *)c->egress_allow, c->n_egress_allow, &p, why,
                             sizeof why) != BW_OK)
        return bw_cfg_fail(w, root, "egress.allow: %s", why);
    yaml_node_t *servers = find_key(w, mcp, "servers");
    for (size_t i = 0; i < c->n_mcp_servers && servers; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, servers->data.sequence.items.start[i]);
        BW_GOTO(
            fetch_url(w, p, find_key(w, item, "url"), "mcp.servers.url", c->mcp_servers[i].url));
    }
    if (c->mcp_oauth)
        BW_GOTO(check_oauth(w, p, find_key(w, mcp, "oauth")));
    fill_defaults(c);
out:
    bw_egress_policy_free(p);
    return result;
}

void bw_cfg_mcp_cleanup(struct bw_config *c) {
    for (size_t i = 0; c->mcp_servers && i < c->n_mcp_servers; i++)
        bw_config_mcp_credential_free(&c->mcp_servers[i]);
    free(c->mcp_servers);
    c->mcp_servers = NULL;
    c->n_mcp_servers = 0;
}

const struct bw_mcp_server_config *bw_config_mcp_server(const struct bw_config *c,
                                                        const char *name) {
    for (size_t i = 0; i < c->n_mcp_servers; i++)
        if (strcmp(c->mcp_servers[i].name, name) == 0)
            return &c->mcp_servers[i];
    return NULL;
}
