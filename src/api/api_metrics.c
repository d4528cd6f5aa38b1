/* api_metrics.c: GET /metrics on the main listener, for the operator key only (docs/API.md
 * "Metrics"). The same access check as an /api/v1/ operator route, on a store thread like
 * every API request (api_job.c): no key or a bad key 401, any org key 403 (an org admin must not
 * see platform-wide traffic and refusal rates). */
#include <event2/http.h>
#include <stdatomic.h>

#include "api/api.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "metrics/metrics_service.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "util/log.h"
#include "util/time.h"

/* On a store thread (api_job.c), after the operator key was identified and its last use
 * recorded like any operator route's (readiness warns about unused keys). */
static void metrics(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                    const struct bw_key_record *caller) {
    (void)rest;
    (void)caller;
    long inflight = atomic_load(&ctx->gw->inflight);
    bw_metrics_reply(req, inflight > 0 ? inflight - 1 : 0); /* not counting this request */
}

static const struct bw_api_route metrics_route = {EVHTTP_REQ_GET, "/metrics", BW_API_OPERATOR,
                                                  metrics};

void bw_api_metrics_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    if (bw_api_request_method(req) != EVHTTP_REQ_GET) {
        bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED, "method not allowed on this path",
                            NULL, NULL);
        return;
    }
    bw_api_job_submit(ctx, req, &metrics_route, "");
}
