/* cli_mock_mcp.c: `bulwark mock-mcp`, a small MCP server (Streamable HTTP) on its own port,
 * for integration tests and demos. Runs until SIGTERM or SIGINT. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "mock/mcp_mock.h"

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static int serve(struct event_base *base, const char *host, int port) {
    struct bw_mcp_mock *mock = NULL;
    int bound = 0;
    if (bw_mcp_mock_start(base, host, port, &mock, &bound) != BW_OK)
        return bw_cli_fail(&bw_cmd_mock_mcp, "cannot listen on %s:%d", host, port);
    int rc = 0;
    struct event *term = evsignal_new(base, SIGTERM, on_signal, base);
    struct event *intr = evsignal_new(base, SIGINT, on_signal, base);
    if (!term || !intr || evsignal_add(term, NULL) != 0 || evsignal_add(intr, NULL) != 0) {
        rc = bw_cli_fail(&bw_cmd_mock_mcp, "cannot install signal handlers");
    } else {
        fprintf(stderr, "mock-mcp listening on %s:%d\n", host, bound);
        (void)fflush(stderr); /* a test mock's log: nowhere else to report */
        if (event_base_dispatch(base) < 0)
            rc = bw_cli_fail(&bw_cmd_mock_mcp, "event loop failed");
    }
    if (term)
        event_free(term);
    if (intr)
        event_free(intr);
    bw_mcp_mock_free(mock);
    return rc;
}

static int run(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_mock_mcp;
    if (bw_cli_wants_help(cmd, argc, argv))
        return 0;
    char host[256] = "127.0.0.1";
    int port = 9100;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") != 0)
            return bw_cli_usage_error(cmd, "unknown argument '%.64s'", argv[i]);
        if (i + 1 >= argc)
            return bw_cli_usage_error(cmd, "--listen needs a value");
        if (bw_cli_parse_hostport(argv[++i], host, sizeof host, &port, 1) != 0)
            return bw_cli_usage_error(cmd, "--listen wants HOST:PORT, not '%.64s'", argv[i]);
    }
    (void)signal(SIGPIPE, SIG_IGN); /* SIG_ERR only for an invalid signal number */
    struct event_base *base = event_base_new();
    if (!base)
        return bw_cli_fail(cmd, "cannot create the event loop");
    int rc = serve(base, host, port);
    event_base_free(base);
    return rc;
}

const struct bw_cmd bw_cmd_mock_mcp = {
    .name = "mock-mcp",
    .summary = "run a small MCP server (Streamable HTTP) for tests",
    .usage =
        "usage: bulwark mock-mcp [--listen HOST:PORT]\n"
        "\n"
        "Serves MCP (Streamable HTTP, protocol 2025-11-25, 2025-06-18, 2025-03-26) at /mcp\n"
        "until SIGTERM or SIGINT. Tools: echo, delete_everything (destructive), mutable\n"
        "(its definition changes on POST /control/mutate), slow (progress notifications),\n"
        "ask_sampling (asks the client to sample). GET /control/stats counts calls;\n"
        "POST /control/reset restores the first definitions. See docs/MCP.md.\n"
        "\n"
        "  --listen H:P      address to listen on (default 127.0.0.1:9100; port 0 picks one)\n",
    .run = run,
};
