/* oauth_prm.c: RFC 9728 Protected Resource Metadata and the RFC 6750 section 3 challenge for
 * the MCP routes. Built from configuration only: never from a request's Host header, which a
 * client chooses. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/oauth.h"

bw_err bw_oauth_resource_url(const struct bw_config *c, const char *server, char *out,
                             size_t out_size) {
    if (!c->mcp_oauth)
        return BW_E_INVALID;
    int n = snprintf(out, out_size, "%s/mcp/%s", c->mcp_oauth_public_url, server);
    return n < 0 || (size_t)n >= out_size ? BW_E_TOO_LARGE : BW_OK;
}

/* mcp.oauth.scopes (space-separated) as a JSON array. */
static json_t *scopes_array(const char *s) {
    json_t *a = json_array();
    while (a && *s) {
        size_t n = strcspn(s, " ");
        if (n && json_array_append_new(a, json_stringn(s, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        s += n;
        while (*s == ' ')
            s++;
    }
    return a;
}

bw_err bw_oauth_prm_json(const struct bw_config *c, const char *server, char **out,
                         size_t *out_len) {
    char resource[1024];
    BW_TRY(bw_oauth_resource_url(c, server, resource, sizeof resource));
    json_t *doc = json_object(), *as = json_array(), *bearer = json_array();
    json_t *scopes = scopes_array(c->mcp_oauth_scopes);
    bw_err result = BW_E_NOMEM;
    if (!doc || !as || !bearer || !scopes ||
        json_array_append_new(as, json_string(c->mcp_oauth_issuer)) != 0 ||
        json_array_append_new(bearer, json_string("header")) != 0 ||
        json_object_set_new(doc, "resource", json_string(resource)) != 0)
        goto out;
    /* RFC 9728 2: bearer_methods_supported ["header"]: tokens in a query or a form body are
     * refused (RFC 6750 2.2/2.3 are not offered). */
    if (json_object_set(doc, "authorization_servers", as) != 0 ||
        json_object_set(doc, "bearer_methods_supported", bearer) != 0 ||
        json_object_set(doc, "scopes_supported", scopes) != 0)
        goto out;
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        goto out;
    *out = text;
    *out_len = strlen(text);
    result = BW_OK;
out:
    json_decref(doc);
    json_decref(as);
    json_decref(bearer);
    json_decref(scopes);
    return result;
}

bw_err bw_oauth_www_authenticate(const struct bw_config *c, const char *server,
                                 enum bw_oauth_result r, char *out, size_t out_size) {
    char resource[1024];
    BW_TRY(bw_oauth_resource_url(c, server, resource, sizeof resource));
    /* RFC 9728 3.1: the metadata URL inserts the well-known segment before the resource path. */
    const char *path = strstr(resource + strlen(c->mcp_oauth_public_url), "/mcp/");
    int n;
    const char *error = r == BW_OAUTH_OK                   ? NULL
                        : r == BW_OAUTH_INSUFFICIENT_SCOPE ? "insufficient_scope"
                                                           : "invalid_token";
    /* Config-checked values only: public_url, server names and scope tokens contain no '"' or
     * '\\', so quoting needs no escaping. */
    n = snprintf(out, out_size,
                 "Bearer %s%s%sresource_metadata=\"%s/.well-known/oauth-protected-resource%s\"",
                 error ? "error=\"" : "", error ? error : "", error ? "\", " : "",
                 c->mcp_oauth_public_url, path ? path : "");
    if (n >= 0 && (size_t)n < out_size && c->mcp_oauth_scopes[0])
        n += snprintf(out + n, out_size - (size_t)n, ", scope=\"%s\"", c->mcp_oauth_scopes);
    return n < 0 || (size_t)n >= out_size ? BW_E_TOO_LARGE : BW_OK;
}
