/* mock.h: a deterministic OpenAI-compatible fake model, for demos, tests and benchmarks.
 *
 * Serves, on its own event base:
 *   GET  /v1/models              a fixed list (gpt-4o-mini, gpt-4o, text-embedding-3-small, and
 *                                the mock-* behaviour models below)
 *   POST /v1/chat/completions    plain JSON, or SSE when "stream": true (usage in a final chunk
 *                                when stream_options.include_usage is true); tool calls when the
 *                                request offers tools and the last user message asks for one
 *   POST /v1/embeddings          deterministic vectors from a hash of each input
 *   GET  /__mock/stats           {"requests":N,"last_authorization":"..."|null,
 *                                "last_path":"..."|null,"held":N} for tests: requests counts
 *                                POST /v1/... (any outcome); the last two are those of the last
 *                                such request; held counts requests not yet answered
 *   POST /__mock/reset           zeroes the stats
 * Token counts in `usage` are deterministic and realistic (about 4 characters per token).
 *
 * Behaviour models, for failure tests: "mock-hang" never answers; "mock-garbage" answers 200
 * with a body that is not JSON (also when streaming); "mock-error" answers 500 in OpenAI's
 * error shape; "mock-slow-stream" streams one chunk every 200 ms for 60 s. Any other model name
 * is answered normally (the mock is not a policy). Everything is bounded: 4 MiB bodies.
 *
 * Not thread-safe: one mock per event base, driven by that base's thread. */
#ifndef BW_MOCK_MOCK_H
#define BW_MOCK_MOCK_H

#include "util/err.h"

struct event_base;
struct bw_mock;

/* Binds host:port (port 0 = ephemeral; the bound port is written to *bound_port) and serves on
 * base. latency_ms delays every answer (and the first chunk of a stream). */
bw_err bw_mock_start(struct event_base *base, const char *host, int port, int latency_ms,
                     struct bw_mock **out, int *bound_port) BW_MUST_CHECK;
/* Releases every held request (mock-hang, slow streams, delayed answers) and the listener.
 * Call on the base's thread, or with the base's loop stopped. NULL is a no-op. */
void bw_mock_free(struct bw_mock *m);

/* bw_mock_start with more knobs. reuse_port sets SO_REUSEPORT so that several mocks, one per
 * thread and event base, can share one port (the kernel spreads connections); stats are then
 * per mock. Errors: BW_E_INVALID (bad host/port), BW_E_IO (cannot bind), BW_E_NOMEM. */
struct bw_mock_opts {
    const char *host;
    int port;
    int latency_ms;
    int reuse_port;
};
bw_err bw_mock_start_opts(struct event_base *base, const struct bw_mock_opts *o,
                          struct bw_mock **out, int *bound_port) BW_MUST_CHECK;

#endif
