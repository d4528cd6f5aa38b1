/* api_metrics.c: GET /metrics on the main listener, for the operator key only (docs/API.md
 * "Metrics"). The same access check as an /api/v1/ operator route: no key or a bad key 401, any
 * org key 403 (an org admin must not see platform-wide traffic and refusal rates). */
#include <event2/http.h>
#include <stdatomic.h>

#include "api/api.h"
#include "http/reply.h"
#include "metrics/metrics_service.h"
#include "reason/reasons.h"
#include "gateway/gateway.h"
#include "store/identity.h"
#include "util/log.h"
#include "util/time.h"

void bw_api_metrics_handle(const struct bw_api_ctx *ctx, struct evhttp_request *req) {
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED, "method not allowed on this path",
                            NULL, NULL);
        return;
    }
    struct bw_key_record caller;
    if (!bw_api_identify(ctx, req, &caller))
        return;
    if (!(bw_api_role_bit(caller.role) & BW_API_OPERATOR)) {
        bw_http_reply_error(req, 403, BW_R_ROLE_FORBIDDEN,
                            "this key's role may not use this endpoint (docs/ACCESS.md)", NULL,
                            NULL);
        return;
    }
    /* Last use recorded as for any operator route (readiness warns about unused keys); a
     * failure to record it does not deny. */
    if (bw_store_operator_key_touch(ctx->store, caller.id, bw_now_ms()) != BW_OK)
        bw_warn("metrics: could not record the last use of key %s", caller.id);
    bw_metrics_reply(req, atomic_load(&ctx->gw->inflight));
}
