/* mcp_prm.c: GET /.well-known/oauth-protected-resource/mcp/{server}, the RFC 9728 Protected
 * Resource Metadata of each configured MCP server (docs/MCP.md "OAuth"). Public: the document
 * names the issuer and scopes, which any client needs before it has a token. Built from the
 * configuration only (oauth/oauth.h), never from the request's Host header. */
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "http/sse.h"
#include "ledger/receipt.h"
#include "mcp/mcp.h"
#include "oauth/oauth.h"
#include "policy/engine.h"
#include "policy/policy.h"
#include "reason/reasons.h"
#include "store/store.h"
#include "upstream/upstream.h"
#include "util/buf.h"
#include "util/codec.h"

#define PRM_PREFIX "/.well-known/oauth-protected-resource/mcp/"

void bw_mcp_prm_handle(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    const struct bw_config *c = w->gw->cfg;
    size_t n = strlen(PRM_PREFIX);
    /* The path is compared exactly: the server name is checked against the configuration, so
     * no escaping, dot segment or trailing slash names anything. 404 when OAuth is off too: the
     * gateway then offers no authorization server to discover. */
    const struct bw_mcp_server_config *s =
        strncmp(path, PRM_PREFIX, n) == 0 ? bw_config_mcp_server(c, path + n) : NULL;
    if (!c->mcp_oauth || !s) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED, "method not allowed on this path",
                            NULL, NULL);
        return;
    }
    char *doc = NULL;
    size_t len = 0;
    if (bw_oauth_prm_json(c, s->name, &doc, &len) != BW_OK) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "cannot build the metadata", NULL, NULL);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Cache-Control", "max-age=300");
    /* Browser-based MCP clients discover the authorization server cross-origin; the document
     * is public and no credentials are involved, so any origin may read it. */
    evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    bw_http_reply_json(req, 200, doc, len);
    free(doc);
}
