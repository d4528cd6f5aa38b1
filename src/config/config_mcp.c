/* config_mcp.c: the `mcp:` section (docs/MCP.md "Gateway").
 *
 * TEMPORARY minimal reader: only `mcp: { servers: [{name, url}] }`. The full reader (oauth, pin,
 * limits, credentials) is written on another branch under this same file name; at the merge it
 * replaces this one and keeps filling c->mcp_servers / c->n_mcp_servers. */
#include <stdlib.h>
#include <string.h>

#include "config/config_walk.h"

#define MAX_MCP_SERVERS 256

static int name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > BW_MCP_SERVER_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static bw_err server_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_mcp_server_config *s = &w->c->mcp_servers[w->c->n_mcp_servers];
    if (strcmp(key, "name") == 0) {
        BW_TRY(bw_cfg_str(w, v, "mcp.servers[].name", s->name, sizeof s->name));
        if (!name_ok(s->name))
            return bw_cfg_fail(w, v, "mcp.servers[].name: 1..64 of [A-Za-z0-9_.-]");
        return BW_OK;
    }
    if (strcmp(key, "url") == 0) {
        BW_TRY(bw_cfg_str(w, v, "mcp.servers[].url", s->url, sizeof s->url));
        if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0)
            return bw_cfg_fail(w, v, "mcp.servers[].url: expected an http:// or https:// URL");
        const char *auth = s->url + (s->url[4] == 's' ? 8 : 7);
        size_t host_len = strcspn(auth, "/?#");
        if (memchr(auth, '@', host_len))
            return bw_cfg_fail(w, v, "mcp.servers[].url: credentials in the URL are refused");
        for (const char *p = s->url; *p; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                return bw_cfg_fail(w, v, "mcp.servers[].url: control bytes or spaces");
        return BW_OK;
    }
    return bw_cfg_fail(w, v, "mcp.servers[]: unknown key '%.64s'", key);
}

static bw_err servers_value(struct walk *w, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (v->type != YAML_SEQUENCE_NODE)
        return bw_cfg_fail(w, v, "mcp.servers: expected a list");
    if (c->mcp_servers)
        return bw_cfg_fail(w, v, "mcp.servers: given twice");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > MAX_MCP_SERVERS)
        return bw_cfg_fail(w, v, "mcp.servers: more than %d entries", MAX_MCP_SERVERS);
    c->mcp_servers = calloc(n ? n : 1, sizeof *c->mcp_servers);
    if (!c->mcp_servers)
        return BW_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
        BW_TRY(bw_cfg_each_pair(w, item, "mcp.servers[]", server_field));
        const struct bw_mcp_server_config *s = &c->mcp_servers[i];
        if (!s->name[0] || !s->url[0])
            return bw_cfg_fail(w, item, "mcp.servers[]: name and url are required");
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->mcp_servers[j].name, s->name) == 0)
                return bw_cfg_fail(w, item, "mcp.servers: duplicate name '%s'", s->name);
        c->n_mcp_servers = i + 1;
    }
    return BW_OK;
}

bw_err bw_cfg_mcp_field(struct walk *w, const char *key, const yaml_node_t *v) {
    if (strcmp(key, "servers") == 0)
        return servers_value(w, v);
    return bw_cfg_fail(w, v, "mcp: unknown key '%.64s'", key);
}
