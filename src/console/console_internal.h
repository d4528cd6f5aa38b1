/* console_internal.h: what the console's files share (not a contract outside src/console/). */
#ifndef BW_CONSOLE_INTERNAL_H
#define BW_CONSOLE_INTERNAL_H

#include "api/api.h"

struct evhttp_request;

/* /console/api/<rest> (console_api.c): login, session, logout. Replies. */
void bw_console_api(const struct bw_api_ctx *ctx, struct evhttp_request *req, const char *rest);

#endif
