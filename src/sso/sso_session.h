/* sso_session.h: the last step of a sign-in (src/sso/ only): the verified person mapped to a
 * member of the org, then a console session for that member (console/session.h). */
#ifndef BW_SSO_SSO_SESSION_H
#define BW_SSO_SSO_SESSION_H

#include "sso/sso.h"
#include "store/sso.h"

struct bw_api_ctx;
struct evhttp_request;

/* On the worker: looks the member up by rec->claim (email ignoring ASCII case, or the linked
 * subject); an unknown person is refused 403 SSO_UNKNOWN_USER unless rec->allow_unknown, when
 * a member of role `member` is created first (admin receipt "member.create_sso", durable
 * before the row). Then records the sign-in (admin receipt "console.login_sso", principal the
 * member, target the SSO configuration; durable first), issues the session, sets its cookie and
 * redirects to /console/.
 * Always replies. */
void sso_session_finish(const struct bw_api_ctx *ctx, struct evhttp_request *req,
                        const struct bw_sso_record *rec, const struct bw_sso_identity *id);

#endif
