/* cli_mock_upstream.c: `bulwark mock-upstream`, the deterministic fake model on its own port,
 * for demos, integration tests and benchmarks. Runs until SIGTERM or SIGINT. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mock/mock.h"

#define MAX_THREADS 64
#define MAX_LATENCY_MS 600000

struct mock_args {
    char host[256];
    int port;
    int latency_ms;
    int threads;
};

struct mock_worker {
    struct event_base *base;
    struct bw_mock *mock;
    pthread_t thread;
    int running;
};

/* Decimal integer in [lo, hi]; 0 on success. */
static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct mock_args *a) {
    const struct bw_cmd *cmd = &bw_cmd_mock_upstream;
    snprintf(a->host, sizeof a->host, "127.0.0.1");
    a->port = 9000;
    a->latency_ms = 0;
    a->threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--listen") != 0 && strcmp(opt, "--latency-ms") != 0 &&
            strcmp(opt, "--threads") != 0)
            return bw_cli_usage_error(cmd, "unknown argument '%.64s'", opt);
        if (i + 1 >= argc)
            return bw_cli_usage_error(cmd, "%s needs a value", opt);
        const char *val = argv[++i];
        if (strcmp(opt, "--listen") == 0) {
            if (bw_cli_parse_hostport(val, a->host, sizeof a->host, &a->port, 1) != 0)
                return bw_cli_usage_error(cmd, "--listen wants HOST:PORT, not '%.64s'", val);
        } else if (strcmp(opt, "--latency-ms") == 0) {
            if (parse_int(val, 0, MAX_LATENCY_MS, &a->latency_ms) != 0)
                return bw_cli_usage_error(cmd, "--latency-ms wants 0..%d", MAX_LATENCY_MS);
        } else if (parse_int(val, 1, MAX_THREADS, &a->threads) != 0) {
            return bw_cli_usage_error(cmd, "--threads wants 1..%d", MAX_THREADS);
        }
    }
    return 0;
}

static void *worker_loop(void *arg) {
    struct mock_worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

/* Worker 0 runs on the calling thread; the others get a thread each, all on one port. */
static int start_workers(const struct mock_args *a, struct mock_worker *w, int *port) {
    *port = a->port;
    for (int i = 0; i < a->threads; i++) {
        struct bw_mock_opts o = {.host = a->host,
                                 .port = *port,
                                 .latency_ms = a->latency_ms,
                                 .reuse_port = a->threads > 1};
        w[i].base = event_base_new();
        if (!w[i].base || bw_mock_start_opts(w[i].base, &o, &w[i].mock, port) != BW_OK)
            return bw_cli_fail(&bw_cmd_mock_upstream, "cannot listen on %s:%d", a->host, *port);
        if (i > 0 && pthread_create(&w[i].thread, NULL, worker_loop, &w[i]) != 0)
            return bw_cli_fail(&bw_cmd_mock_upstream, "cannot start a thread");
        w[i].running = i > 0;
    }
    return 0;
}

static void stop_workers(struct mock_worker *w, int n) {
    for (int i = 0; i < n; i++) {
        if (w[i].running) {
            event_base_loopbreak(w[i].base);
            pthread_join(w[i].thread, NULL);
        }
        bw_mock_free(w[i].mock);
        if (w[i].base)
            event_base_free(w[i].base);
    }
}

static int serve(const struct mock_args *a, struct mock_worker *w) {
    int port = 0;
    int rc = start_workers(a, w, &port);
    if (rc)
        return rc;
    struct event *term = evsignal_new(w[0].base, SIGTERM, on_signal, w[0].base);
    struct event *intr = evsignal_new(w[0].base, SIGINT, on_signal, w[0].base);
    if (!term || !intr || evsignal_add(term, NULL) != 0 || evsignal_add(intr, NULL) != 0) {
        rc = bw_cli_fail(&bw_cmd_mock_upstream, "cannot install signal handlers");
    } else {
        fprintf(stderr, "mock-upstream listening on %s:%d\n", a->host, port);
        (void)fflush(stderr); /* a test mock's log: nowhere else to report */
        if (event_base_dispatch(w[0].base) < 0)
            rc = bw_cli_fail(&bw_cmd_mock_upstream, "event loop failed");
    }
    if (term)
        event_free(term);
    if (intr)
        event_free(intr);
    return rc;
}

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_mock_upstream, argc, argv))
        return 0;
    struct mock_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    if (evthread_use_pthreads() != 0)
        return bw_cli_fail(&bw_cmd_mock_upstream, "cannot enable libevent threading");
    (void)signal(SIGPIPE, SIG_IGN); /* SIG_ERR only for an invalid signal number */
    struct mock_worker w[MAX_THREADS];
    memset(w, 0, sizeof w);
    rc = serve(&a, w);
    stop_workers(w, a.threads);
    return rc;
}

const struct bw_cmd bw_cmd_mock_upstream = {
    .name = "mock-upstream",
    .summary = "run the deterministic OpenAI-compatible mock model",
    .usage = "usage: bulwark mock-upstream [--listen HOST:PORT] [--latency-ms N] [--threads N]\n"
             "\n"
             "Serves a deterministic fake OpenAI API (/v1/models, /v1/chat/completions,\n"
             "/v1/embeddings) and /__mock/stats, /__mock/reset until SIGTERM or SIGINT.\n"
             "Models mock-hang, mock-garbage, mock-error and mock-slow-stream misbehave on\n"
             "purpose, for failure tests.\n"
             "\n"
             "  --listen H:P      address to listen on (default 127.0.0.1:9000; port 0 picks one)\n"
             "  --latency-ms N    delay every answer, and the first chunk of a stream, by N ms\n"
             "  --threads N       event-loop threads sharing the port via SO_REUSEPORT "
             "(default 1)\n",
    .run = run,
};
