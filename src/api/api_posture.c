/* api_posture.c: GET /api/v1/security/readiness (posture/readiness.h; docs/API.md "Security
 * readiness").
 *
 * One route, three views chosen by the credential, never by a parameter:
 *   no Authorization header        public: status, and each control's id and status;
 *   a key of an org, role owner or admin
 *                                  its org's widgets and keys with detail and values;
 *   the operator's key             everything, with detail and values;
 *   any other valid key            the public view (it is not an admin of anything here).
 * A console session cookie (no Authorization) is read as the key or member it stands for.
 * A header that is present but not a valid key is 401, not a silent public view: a monitor
 * with a broken key should notice. The verdicts come from the refresher's snapshot: nothing
 * here reads the files, the store's tables or the catalog on the worker. */
#include <event2/http.h>
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "console/console.h"
#include "gateway/gateway.h"
#include "http/reply.h"
#include "posture/readiness.h"
#include "reason/reasons.h"
#include "util/time.h"

static void readiness(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest,
                      const struct bw_key_record *unused) {
    (void)rest;
    (void)unused;
    struct bw_readiness *r = ctx->gw->readiness;
    if (!r) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "readiness is not running", NULL, NULL);
        return;
    }
    enum bw_readiness_view view = BW_READINESS_PUBLIC;
    struct bw_key_record caller;
    memset(&caller, 0, sizeof caller);
    const char *authz = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (authz || bw_console_has_cookie(req)) { /* a console session reads as its key */
        if (!bw_api_identify(ctx, req, &caller))
            return;
        unsigned role = bw_api_role_bit(caller.role);
        if (role == BW_ROLE_OPERATOR && !caller.org_id[0])
            view = BW_READINESS_OPERATOR;
        else if ((role & BW_API_ADMIN) && caller.org_id[0])
            view = BW_READINESS_ORG_ADMIN;
    }
    json_t *body = bw_readiness_render(r, view, caller.org_id);
    if (!body) {
        bw_http_reply_error(req, 500, BW_R_INTERNAL, "cannot build the readiness view", NULL, NULL);
        return;
    }
    bw_api_reply(req, 200, body);
}

const struct bw_api_route bw_api_routes_posture[] = {
    {EVHTTP_REQ_GET, "/api/v1/security/readiness", BW_API_PUBLIC, readiness},
    {0, NULL, 0, NULL},
};
