/* mcp_mock.h: `bulwark mock-mcp`, a small MCP server (Streamable HTTP) for tests and demos.
 *
 * Speaks MCP 2025-11-25 and accepts the older versions the official TypeScript SDK negotiates
 * (2025-06-18, 2025-03-26). Endpoints:
 *   POST   /mcp             one JSON-RPC 2.0 message per request (batches are refused, as MCP
 *                           2025-06-18 removed them). Requests get a JSON answer, or an SSE stream
 *                           for the tools `slow` and `ask_sampling` when Accept allows
 *                           text/event-stream; notifications and responses get 202.
 *   GET    /mcp             405 (no server-initiated stream is offered; the spec allows this)
 *   DELETE /mcp             ends the session named by Mcp-Session-Id
 *   POST   /control/mutate  changes the `mutable` tool's definition (a "rug pull")
 *   POST   /control/reset   back to the first definition; zeroes the stats
 *   GET    /control/stats   counters for tests (requests, calls per tool, sessions, last
 *                           Authorization seen on /mcp)
 * `initialize` issues an Mcp-Session-Id; every later request must carry it (400 without, 404
 * for an unknown or ended one). Tools: echo, delete_everything (destructiveHint), mutable,
 * slow (notifications/progress over SSE), ask_sampling (sampling/createMessage to the client).
 * One resource (mock://readme) and one prompt (greet). Bodies are bounded (1 MiB), JSON is
 * parsed strictly (duplicate keys, depth).
 *
 * Not thread-safe: one mock per event base, driven by that base's thread. */
#ifndef BW_MOCK_MCP_MOCK_H
#define BW_MOCK_MCP_MOCK_H

#include "util/err.h"

struct event_base;
struct bw_mcp_mock;

/* Binds host:port (port 0 = ephemeral; the bound port goes to *bound_port) and serves on base.
 * Errors: BW_E_INVALID (bad host/port), BW_E_IO (cannot bind), BW_E_NOMEM. */
bw_err bw_mcp_mock_start(struct event_base *base, const char *host, int port,
                         struct bw_mcp_mock **out, int *bound_port) BW_MUST_CHECK;
/* Ends every open stream and frees the listener. Call on the base's thread, or with the loop
 * stopped. NULL is a no-op. */
void bw_mcp_mock_free(struct bw_mcp_mock *m);

#endif
