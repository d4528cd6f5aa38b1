/* mock_listen.h: the mocks' one listener set-up (the model mock and the MCP mock). */
#ifndef BW_MOCK_LISTEN_H
#define BW_MOCK_LISTEN_H

#include "util/err.h"

struct event_base;
struct evhttp;

/* Binds http to host:port (port 0: any free port) on base, with SO_REUSEADDR (and
 * SO_REUSEPORT when reuse_port), close-on-exec; *bound is the port bound. Errors: BW_E_INVALID
 * (port out of range, host does not resolve), BW_E_IO (bind or listen failed). */
bw_err bw_mock_listen(struct event_base *base, struct evhttp *http, const char *host, int port,
                      int reuse_port, int *bound) BW_MUST_CHECK;

#endif
