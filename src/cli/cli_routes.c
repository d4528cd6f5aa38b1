/* cli_routes.c: the composition root's routing table (gateway.h): which module serves which
 * path. Tried in order; the first match serves. The management API, the proxy and the MCP
 * gateway never call one another: this table is where they meet. */
#include <event2/http.h>
#include <stddef.h>

#include "api/api.h"
#include "cli/cli.h"
#include "console/console.h"
#include "gateway/gateway.h"
#include "mcp/mcp.h"
#include "proxy/proxy.h"
#include "sso/sso.h"

#define ANY BW_GW_ROUTE_ANY_METHOD
#define STOP BW_GW_REFUSE_STOPPING

static const struct bw_gateway_route routes[] = {
    {"/api/", ANY, "api", 0, bw_api_route},
    {"/console/sso/", ANY, "sso", 0, bw_sso_route},     /* OIDC sign-in (sso/sso.h) */
    {"/console/", ANY, "console", 0, bw_console_route}, /* the reviewers' console */
    {"/console", ANY, "console", 0, bw_console_route},
    {"/widget/", ANY, "widget", STOP, bw_proxy_handle_widget},
    {"/mcp/", ANY, "mcp", STOP, bw_mcp_handle},
    {"/metrics", ANY, "metrics", 0, bw_api_route_metrics},
    {"/healthz", ANY, "healthz", 0, bw_gateway_healthz},
    {"/.well-known/oauth-protected-resource/", ANY, "mcp_prm", 0, bw_mcp_prm_handle},
    {"/readyz", ANY, "readyz", 0, bw_gateway_readyz},
    {"/v1/chat/completions", EVHTTP_REQ_POST, "chat", STOP, bw_proxy_handle_chat},
    {"/v1/embeddings", EVHTTP_REQ_POST, "embeddings", STOP, bw_proxy_handle_embeddings},
    {"/v1/models", EVHTTP_REQ_GET, "models", STOP, bw_proxy_handle_models},
    {NULL, 0, NULL, 0, NULL},
};

void bw_cli_gateway_app(struct bw_gateway *gw, struct bw_server_app *app) {
    bw_gateway_app(gw, routes, bw_proxy_worker_init, bw_proxy_worker_fini, app);
}
